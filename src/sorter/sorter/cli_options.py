"""What the `sorter` subcommands share: the cell options (`--cell`, `--set`), defined once and
accepted before or after the subcommand, and argument types that refuse bad values at parse
time (an argparse error, exit status 2) rather than deep in a handler.

`sorter --cell a.yaml params --cell b.yaml` uses b.yaml: a value given after the subcommand
wins. `--set` items from both sides all apply, those after the subcommand last (so they win for
the same cell fact).
"""

from __future__ import annotations

import argparse
from typing import Any

import yaml

from sorter.cell.description import CellDescriptionError, load_cell

# Namespace attributes: the --set items given before the subcommand (kept apart, since the
# subcommand's own parse replaces a same-named attribute), and the mark of a subcommand that
# reads the cell.
SET_BEFORE = "set_before_command"
TAKES_CELL = "takes_cell"


def override(text: str) -> str:
    """argparse type of --set: SECTION.KEY=VALUE with a YAML value; returned unchanged."""
    key, sep, value = text.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot or not section or not name:
        raise argparse.ArgumentTypeError(f"expected SECTION.KEY=VALUE, got {text!r}")
    try:
        yaml.safe_load(value)
    except yaml.YAMLError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: value is not YAML ({err})") from None
    return text


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """--set items -> {"section.key": value}; a later item wins for the same key."""
    overrides = {}
    for item in items:
        try:
            override(item)
        except argparse.ArgumentTypeError as err:
            raise CellDescriptionError(f"--set: {err}") from None
        key, _, value = item.partition("=")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def cell_from_args(args: argparse.Namespace,
                   base_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The cell a subcommand's cell options name: `args.cell` (None = the default) with
    `base_overrides` (a trial definition's), then `args.set`, applied. A value of the wrong
    type that the cell checks trip over is a CellDescriptionError too, not a traceback."""
    items = list(getattr(args, "set", None) or [])
    overrides = {**(base_overrides or {}), **parse_overrides(items)}
    try:
        return load_cell(getattr(args, "cell", None), overrides)
    except CellDescriptionError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        where = getattr(args, "cell", None) or "the default cell description"
        given = ", ".join(f"{key}={value!r}" for key, value in overrides.items())
        given = f" with {given}" if given else ""
        raise CellDescriptionError(f"{where}{given} is invalid: {type(err).__name__}: {err}") \
            from err


def one_line(err: BaseException) -> str:
    """An error's text on one line (YAML parser messages span several, with a caret line)."""
    lines = (line.strip() for line in str(err).splitlines())
    return "; ".join(line for line in lines if line and set(line) != {"^"})


def cell_options(before_command: bool = False) -> argparse.ArgumentParser:
    """The parent parser holding --cell and --set. Defaults are suppressed, so a subcommand
    that is not given them leaves what came before it in place. `before_command` builds the
    top-level copy, whose --set items are kept apart (SET_BEFORE) to be merged afterwards."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("cell options (before or after the subcommand)")
    group.add_argument("--cell", default=argparse.SUPPRESS, metavar="FILE",
                       help="cell description YAML (default: config/cell.yaml, on a plant "
                            "share/sorter/config/cell.yaml)")
    group.add_argument("--set", dest=SET_BEFORE if before_command else "set", action="append",
                       type=override, default=argparse.SUPPRESS, metavar="SECTION.KEY=VALUE",
                       help="override one cell fact for this run, e.g. belt.speed_m_s=3 "
                            "(repeatable; the value is YAML)")
    if not before_command:
        parent.set_defaults(**{TAKES_CELL: True})
    return parent


def finish_cell_options(parser: argparse.ArgumentParser, args: argparse.Namespace,
                        command: str) -> argparse.Namespace:
    """After parsing: give a cell-reading subcommand `args.cell` (None = default) and
    `args.set` (both sides, merged), and refuse cell options given to one that reads no cell."""
    before = getattr(args, SET_BEFORE, None) or []
    if hasattr(args, SET_BEFORE):
        delattr(args, SET_BEFORE)
    if not getattr(args, TAKES_CELL, False):
        if before or hasattr(args, "cell"):
            parser.error(f"--cell and --set do not apply to `sorter {command}`")
        return args
    args.cell = getattr(args, "cell", None)
    args.set = [*before, *getattr(args, "set", [])]
    return args


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not >= 1")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} is not >= 0")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    value = non_negative_float(text)
    if value == 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number > 0")
    return value


def fraction(text: str) -> float:
    """argparse type: a share from 0 to 1."""
    value = non_negative_float(text)
    if value > 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value
