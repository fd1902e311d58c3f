"""The `sorter` command line: cell options on either side of the subcommand, closed choices,
help on every option, clean errors, the installed `sorter` command and the README's commands."""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sorter.cli import DRIVERS, build_parser, main, parse_args
from sorter.cli_options import parse_overrides

REPO = Path(__file__).resolve().parents[2]
LITHIUM = str(REPO / "config" / "cell_lithium.yaml")
COPPER = str(REPO / "config" / "cell.yaml")


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


# --- cell options before or after the subcommand --------------------------------------------


@pytest.mark.parametrize("argv", [
    ["--cell", LITHIUM, "params"],
    ["params", "--cell", LITHIUM],
    ["--cell", COPPER, "params", "--cell", LITHIUM],   # after the subcommand wins
    ["--cell", LITHIUM, "xray", "dataset", "--out", "x"],
    ["xray", "dataset", "--out", "x", "--cell", LITHIUM],
    ["--cell", COPPER, "xray", "rtable", "--cell", LITHIUM],
    ["bench", "--cell", LITHIUM],
    ["trial", "--cell", LITHIUM],
    ["launch", "--cell", LITHIUM],
])
def test_cell_option_either_side(argv: list[str]) -> None:
    assert parse_args(argv).cell == LITHIUM


def test_defaults_without_cell_options() -> None:
    args = parse_args(["params"])
    assert args.cell is None and args.set == [] and args.driver == "sim"


def test_set_items_from_both_sides_apply_the_later_winning() -> None:
    args = parse_args(["--set", "belt.speed_m_s=3", "--set", "feeder.kp=0.5",
                       "params", "--set", "belt.speed_m_s=2"])
    assert args.set == ["belt.speed_m_s=3", "feeder.kp=0.5", "belt.speed_m_s=2"]
    assert parse_overrides(args.set) == {"belt.speed_m_s": 2, "feeder.kp": 0.5}
    assert not hasattr(args, "set_before_command")


def test_set_after_subcommand_only() -> None:
    assert parse_args(["xray", "calibrate", "--set", "belt.speed_m_s=2"]).set == [
        "belt.speed_m_s=2"]


@pytest.mark.parametrize("argv", [
    ["--cell", COPPER, "bag", "info", "x"],
    ["--set", "belt.speed_m_s=2", "bag", "record", "-a"],
    ["--cell", COPPER, "xray", "figure"],
    ["--cell", COPPER, "xray", "import-labelme", "a.json", "--out", "x"],
])
def test_cell_options_refused_where_no_cell_is_read(argv: list[str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert "do not apply to `sorter" in _usage_error(argv, capsys)


def test_cell_options_unknown_to_commands_reading_no_cell(
        capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage_error(["bag", "info", "x", "--cell", COPPER], capsys)
    assert "unrecognized arguments: --cell" in err
    # the figure names its own cells; --cell is taken as short for its --cells
    args = parse_args(["xray", "figure", "--cell", LITHIUM])
    assert args.cells == [LITHIUM] and not hasattr(args, "cell")


@pytest.mark.parametrize("item", ["belt", "belt=3", "speed=3", "belt.speed_m_s=[1,"])
def test_malformed_set_is_a_usage_error(item: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert "argument --set" in _usage_error(["params", "--set", item], capsys)


# --- closed choices and checked numbers --------------------------------------------------------


@pytest.mark.parametrize("command", ["params", "launch"])
def test_bogus_driver_refused(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage_error([command, "--driver", "bogus"], capsys)
    assert "argument --driver: invalid choice: 'bogus'" in err
    assert "'sim', 'modbus'" in err


def test_driver_choices_are_the_driver_tables() -> None:
    from sorter.belt.drivers import DRIVERS as BELT
    from sorter.feeder.drivers import DRIVERS as FEEDER

    assert set(DRIVERS) == set(BELT) == set(FEEDER)


@pytest.mark.parametrize("argv, message", [
    (["bench", "--strips", "0"], "argument --strips"),
    (["bench", "--live-seconds", "-1"], "argument --live-seconds"),
    (["trial", "--duration", "0"], "argument --duration"),
    (["xray", "dataset", "--out", "x", "--coverage", "1.5"], "argument --coverage"),
    (["xray", "dataset", "--out", "x", "--size-class", "15-10"], "argument --size-class"),
    (["xray", "dataset", "--out", "x", "--scenes", "many"], "argument --scenes"),
    (["bag", "record", "-a", "--compression", "gzip"], "argument --compression"),
])
def test_bad_values_are_usage_errors(argv: list[str], message: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert message in _usage_error(argv, capsys)


# --- help everywhere ---------------------------------------------------------------------------


def _walk(parser: argparse.ArgumentParser, path: str = "sorter"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, f"{path} {name}")


def test_every_option_of_every_subcommand_has_help() -> None:
    missing, parsers = [], 0
    for path, parser in _walk(build_parser()):
        parsers += 1
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                listed = {a.dest: a.help for a in action._choices_actions}
                missing += [f"{path} {name} (listing)" for name in action.choices
                            if not listed.get(name)]
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert parsers > 15
    assert not missing, "options without help: " + ", ".join(missing)


def test_every_driver_option_has_choices() -> None:
    for path, parser in _walk(build_parser()):
        for action in parser._actions:
            if "--driver" in action.option_strings:
                assert tuple(action.choices) == DRIVERS, path


def test_top_level_help_lists_commands_and_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("trial", "launch", "params", "bench", "bag", "xray"):
        assert re.search(rf"^\s+{command}\s+\S", out, re.M), command
    examples = out.split("examples:", 1)[1]
    lines = [line.split()[0] for line in examples.splitlines() if line.startswith("  ")]
    assert len(lines) >= 5 and set(lines) == {"sorter"}


def _command_lines(text: str):
    """`sorter ...` lines: each example line of the top-level help and of the README."""
    for line in text.splitlines():
        line = line.strip().strip("`")
        if line.startswith("sorter ") and not line.startswith("sorter COMMAND"):
            yield shlex.split(line.split("#", 1)[0].split("   ", 1)[0])[1:]


def test_help_and_readme_examples_parse() -> None:
    from sorter.cli import EPILOG

    readme = (REPO / "README.md").read_text()
    blocks = "\n".join(re.findall(r"```bash\n(.*?)```", readme, re.S))
    # inline references with options are whole commands (`sorter bag info` names a verb)
    inline = "\n".join(re.findall(r"`(sorter [^`]*--[^`]+)`", readme))
    examples = [*_command_lines(EPILOG), *_command_lines(blocks), *_command_lines(inline)]
    assert len(examples) > 20
    for argv in examples:
        if argv and argv[-1] == "--help" or "COMMAND" in argv:
            continue
        assert parse_args(argv).func, argv


# --- clean errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, message", [
    (["params", "--cell", "no/such/cell.yaml"], "cannot read cell description"),
    (["--cell", str(REPO / "README.md"), "params"], "cannot read cell description"),
    (["params", "--set", "belt.no_such_key=1"], "names no existing cell fact"),
    (["params", "--set", "belt.speed_m_s=fast"], "speed_m_s"),
    (["trial", "--trial", "no/such/trial.yaml"], "cannot read trial definition"),
])
def test_bad_input_is_one_error_line(argv: list[str], message: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert re.match(r"sorter (params|trial): error: ", err), err


def test_params_prints_the_lithium_cell(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "--driver", "modbus", "--cell", LITHIUM]) == 0
    body = yaml.safe_load(capsys.readouterr().out)
    assert body and all("ros__parameters" in node for node in body.values())


# --- the installed command ---------------------------------------------------------------------


def test_venv_sorter_command_runs() -> None:
    """tools/setup.sh links <venv>/bin/sorter to the console script in <venv>/lib/sorter (the
    ament layout `ros2 run sorter sorter` uses)."""
    venv = Path(sys.prefix)
    script, command = venv / "lib" / "sorter" / "sorter", venv / "bin" / "sorter"
    assert script.is_file(), f"{script} missing: run bash tools/setup.sh"
    assert command.exists(), f"{command} missing: run bash tools/setup.sh"
    assert command.resolve() == script.resolve()
    done = subprocess.run([str(command), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: sorter ") and "examples:" in done.stdout
    done = subprocess.run([str(command), "params", "--driver", "bogus"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "invalid choice: 'bogus'" in done.stderr
