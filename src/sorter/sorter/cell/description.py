"""The cell description: one YAML file, loaded and checked once. Everything else (node
parameters, launchers, simulator world, reports) is derived from it, never written again."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import yaml

REPO_CONFIG = Path(__file__).resolve().parents[4] / "config"


class CellDescriptionError(ValueError):
    """The cell description is incomplete or inconsistent; the text says where."""


# Cell facts no node parameter is derived from: what the simulator's world, the checks below
# and the reports read. The facts node parameters come from are named once, in each node's
# parameters class (`cell="section.key"`), and required from there (`required_paths`).
OTHER_REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "cell": ("name",),
    "belt": ("width_m", "acceleration_m_s2"),
    "detector": (
        "tube_kv", "tube_anode_angle_deg", "tube_target", "tube_current_a",
        "source_distance_m", "integration_time_s", "tube_filters", "belt", "front_layer",
        "filter_layer", "rear_layer", "flat_counts", "dark_counts", "read_noise_counts",
        "gain_spread",
    ),
    "feeder": ("tray_time_constant_s",),
    "feed": ("seed", "ore_number_fraction", "size_m", "flatness", "gangue", "pay_mineral",
             "assay", "ore_pay_volume_fraction", "waste_pay_volume_fraction"),
    "sim": ("step_s", "encoder_rate_hz"),
}


def required_paths() -> dict[str, tuple[str, ...]]:
    """Section -> keys every cell must give: those node parameters derive from, and the rest."""
    from sorter.cell.parameters import cell_paths

    keys: dict[str, set[str]] = {s: set(k) for s, k in OTHER_REQUIRED_KEYS.items()}
    for path in cell_paths():
        section, _, key = path.partition(".")
        keys.setdefault(section, set()).add(key)
    return {section: tuple(sorted(k)) for section, k in sorted(keys.items())}


# Top-level keys naming other files, relative to the cell file.
FILE_REFERENCES: tuple[str, ...] = ("materials",)


def default_cell_path() -> Path:
    """config/cell.yaml of the repository, or of the installed share/sorter on a plant."""
    if (REPO_CONFIG / "cell.yaml").exists():
        return REPO_CONFIG / "cell.yaml"
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory("sorter")) / "config" / "cell.yaml"


def load_cell(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> dict:
    """Parse and check a cell description. `overrides` ({"belt.speed_m_s": 3.0}) are how
    trials vary one fact without a second copy of the file."""
    path = Path(path) if path else default_cell_path()
    try:
        cell = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise CellDescriptionError(f"cannot read cell description {path}: {err}") from err
    if not isinstance(cell, dict):
        raise CellDescriptionError(f"{path}: top level must be a mapping")
    cell = copy.deepcopy(cell)
    for key in FILE_REFERENCES:  # absolute from here on, so a copy of the cell elsewhere works
        if isinstance(cell.get(key), str) and not Path(cell[key]).is_absolute():
            cell[key] = str((path.parent / cell[key]).resolve())
    for dotted, value in (overrides or {}).items():
        set_path(cell, dotted, value)
    check_cell(cell, str(path))
    cell.setdefault("_source", str(path))
    return cell


def set_path(cell: dict, dotted: str, value: Any) -> None:
    section, _, key = dotted.partition(".")
    if not key or section not in cell or key not in cell[section]:
        raise CellDescriptionError(f"override {dotted!r} names no existing cell fact")
    cell[section][key] = value


def check_cell(cell: dict, where: str = "cell") -> None:
    problems = []
    for section, keys in required_paths().items():
        body = cell.get(section)
        if not isinstance(body, dict):
            problems.append(f"section {section!r} is missing")
            continue
        problems += [f"{section}.{key} is missing" for key in keys if key not in body]
    if problems:
        raise CellDescriptionError(f"{where}: " + "; ".join(problems))
    det, valves, belt = cell["detector"], cell["valves"], cell["belt"]
    width_px = det["pixels"] * det["pixel_pitch_m"]
    if not math.isclose(width_px, belt["width_m"], rel_tol=0.02):
        problems.append(
            f"detector covers {width_px:.3f} m but the belt is {belt['width_m']} m wide"
        )
    bar = valves["count"] * valves["pitch_m"]
    if not math.isclose(bar, belt["width_m"], rel_tol=0.02):
        problems.append(f"valve bar covers {bar:.3f} m but the belt is {belt['width_m']} m wide")
    if belt["speed_m_s"] > belt["max_speed_m_s"]:
        problems.append("belt.speed_m_s exceeds belt.max_speed_m_s")
    if problems:
        raise CellDescriptionError(f"{where}: " + "; ".join(problems))
    from sorter.cell.parameters import node_parameters, validate_node_parameters

    try:
        problems = validate_node_parameters(node_parameters(cell))
    except (TypeError, ValueError) as err:  # a fact of the wrong shape (e.g. a curve)
        problems = [f"cannot derive node parameters: {err}"]
    if problems:
        raise CellDescriptionError(f"{where}: " + "; ".join(problems))
