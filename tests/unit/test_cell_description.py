"""The cell description is the single source: it loads, it is checked (required keys come
from the node schemas), overrides apply to one fact, and every node parameter it yields
passes that node's own schema."""

from __future__ import annotations

import pytest
import yaml

from sorter.cell.description import CellDescriptionError, load_cell, required_paths
from sorter.cell.parameters import (
    node_parameters,
    parameters_class,
    typed_parameters,
    write_params_file,
)
from sorter.launching.node_docs import main as node_docs_main
from sorter.launching.specs import ParameterSetError, cell_node_specs
from sorter.nodes import ALL_NODES, CELL_NODES


def test_every_node_parameter_passes_its_schema(cell: dict) -> None:
    params = node_parameters(cell)
    assert set(params) == {n.name for n in CELL_NODES}
    for name, values in params.items():
        assert parameters_class(name).problems(values) == [], name
    typed = typed_parameters(cell)
    assert typed["ejector"].scan_to_nozzle_m == cell["geometry"]["scan_to_nozzle_m"]
    assert typed["classification"].r_threshold_curve == [
        float(v) for point in cell["classification"]["r_threshold_curve"] for v in point]


def test_required_keys_come_from_the_schemas(cell: dict) -> None:
    """A fact a node parameter is derived from is required because the schema names it: no
    second list to keep in step."""
    required = required_paths()
    for info in ALL_NODES:
        for spec in parameters_class(info.name).specs():
            if spec.cell:
                section, _, key = spec.cell.partition(".")
                assert key in required[section], spec.cell
    body = {k: v for k, v in cell.items() if not k.startswith("_")}
    del body["classification"]["r_scale"]
    with pytest.raises(CellDescriptionError, match="classification.r_scale is missing"):
        load_cell(_write(body))


def _write(body: dict, tmp_dir=None):
    import tempfile
    from pathlib import Path

    folder = Path(tmp_dir or tempfile.mkdtemp())
    (folder / "cell.yaml").write_text(yaml.safe_dump(body))
    return folder / "cell.yaml"


def test_override_changes_one_fact() -> None:
    cell = load_cell(overrides={"belt.speed_m_s": 3.0})
    assert node_parameters(cell)["belt"]["speed_setpoint_m_s"] == 3.0
    with pytest.raises(CellDescriptionError, match="names no existing cell fact"):
        load_cell(overrides={"belt.sped_m_s": 3.0})


def test_value_a_node_would_refuse_is_refused_at_load() -> None:
    with pytest.raises(CellDescriptionError, match="ejector: eject must be one of"):
        load_cell(overrides={"policy.eject": "gold"})
    with pytest.raises(CellDescriptionError, match="r_threshold_curve"):
        load_cell(overrides={"classification.r_threshold_curve": [[0.1, 1.9], [0.2]]})


def test_inconsistent_cell_is_refused(tmp_path, cell: dict) -> None:
    body = {k: v for k, v in cell.items() if not k.startswith("_")}
    body["valves"]["count"] = 20  # 20 x 12.5 mm no longer spans the 0.4 m belt
    path = tmp_path / "cell.yaml"
    path.write_text(yaml.safe_dump(body))
    with pytest.raises(CellDescriptionError, match="valve bar covers 0.250 m"):
        load_cell(path)
    del body["detector"]
    path.write_text(yaml.safe_dump(body))
    with pytest.raises(CellDescriptionError, match="section 'detector' is missing"):
        load_cell(path)


def test_launch_specs_refuse_an_invalid_set_before_starting(cell: dict) -> None:
    with pytest.raises(ParameterSetError, match="driver must be one of"):
        cell_node_specs(cell, driver="bogus")
    specs = cell_node_specs(cell, driver="modbus")
    by_name = {s.name: s for s in specs}
    assert by_name["belt"].parameters["driver"] == "modbus"
    assert by_name["feeder"].parameters["driver"] == "modbus"
    assert "driver" not in by_name["ejector"].parameters  # sim only: its default applies
    assert [s.name for s in specs] == ["sim_world", *(n.name for n in CELL_NODES)]


def test_params_file_is_keyed_by_node_name(tmp_path, cell: dict) -> None:
    path = write_params_file(node_parameters(cell), tmp_path / "params.yaml")
    loaded = yaml.safe_load(path.read_text())
    assert loaded["ejector"]["ros__parameters"]["scan_to_nozzle_m"] == 0.6
    curve = cell["classification"]["r_threshold_curve"]
    flat = loaded["classification"]["ros__parameters"]["r_threshold_curve"]
    assert flat == [float(v) for point in curve for v in point]  # (a_H, R) pairs, in order
    assert loaded["belt"]["ros__parameters"]["modbus_port"] == cell["io"]["modbus_port"]


def test_node_reference_is_current() -> None:
    """docs/nodes.md is generated from the code; regenerate it when a node changes."""
    assert node_docs_main(["--check"]) == 0, \
        "run: python -m sorter.launching.node_docs --write"


def test_node_docs_check_says_stale_without_writing(tmp_path, capsys) -> None:
    stale = tmp_path / "nodes.md"
    stale.write_text("old\n")
    assert node_docs_main(["--check", "--path", str(stale)]) == 1
    assert stale.read_text() == "old\n"
    assert "stale" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        node_docs_main(["--help"])
    assert stale.read_text() == "old\n"
