"""The cell description is the single source: it loads, it is checked, overrides apply to one
fact, and every node parameter it yields passes that node's own parameter specs."""

from __future__ import annotations

import importlib

import pytest
import yaml

from sorter.cell.description import CellDescriptionError, load_cell
from sorter.cell.parameters import node_parameters, write_params_file
from sorter.common.params import validate_values
from sorter.launching.node_docs import NODE_MODULES, render
from sorter.launching.specs import CELL_NODES


def test_every_node_parameter_passes_its_spec(cell: dict) -> None:
    params = node_parameters(cell)
    assert set(params) == {name for name, _ in CELL_NODES}
    for name, values in params.items():
        specs = importlib.import_module(NODE_MODULES[name]).PARAMETERS
        assert validate_values(specs, values) == [], name


def test_override_changes_one_fact(tmp_path) -> None:
    cell = load_cell(overrides={"belt.speed_m_s": 3.0})
    assert node_parameters(cell)["belt"]["speed_setpoint_m_s"] == 3.0
    with pytest.raises(CellDescriptionError, match="names no existing cell fact"):
        load_cell(overrides={"belt.sped_m_s": 3.0})


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
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "nodes.md"
    assert doc.read_text() == render(), "run: python -m sorter.launching.node_docs"
