"""Node parameters derived from the cell description: the only place that says which cell fact
feeds which node parameter. Both launchers call this, so they cannot disagree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def node_parameters(cell: dict, driver: str = "sim") -> dict[str, dict[str, Any]]:
    """Parameters per node name, as a ROS params file would hold them (`/**` omitted).
    `driver` selects the belt and feeder drivers (sim | modbus); the detector and the valve
    bar have simulated drivers only so far."""
    from sorter.common.modbus import io_parameters

    io = io_parameters(cell)
    device_driver = "sim"
    belt, det, valves = cell["belt"], cell["detector"], cell["valves"]
    feeder, seg, cls = cell["feeder"], cell["segmentation"], cell["classification"]
    size, policy, mon = cell["size_estimation"], cell["policy"], cell["monitor"]
    reference = {
        "reference_formula": size["reference_formula"],
        "reference_density_kg_m3": float(size["reference_density_kg_m3"]),
        "effective_energy_high_kev": float(det["effective_energy_high_kev"]),
    }
    return {
        "belt": {
            **io,
            "driver": driver,
            "speed_setpoint_m_s": float(belt["speed_m_s"]),
            "max_speed_m_s": float(belt["max_speed_m_s"]),
            "state_rate_hz": float(belt["state_rate_hz"]),
        },
        "feeder": {
            **io,
            "driver": driver,
            "feed_rate_kg_h": float(feeder["feed_rate_kg_h"]),
            "max_feed_rate_kg_h": float(feeder["max_feed_rate_kg_h"]),
            "occupancy_limit": float(feeder["occupancy_limit"]),
            "kp": float(feeder["kp"]),
            "ki": float(feeder["ki"]),
            "control_rate_hz": float(feeder["control_rate_hz"]),
        },
        "xrt_acquisition": {
            "driver": device_driver,
            "pixels": int(det["pixels"]),
            "pixel_pitch_m": float(det["pixel_pitch_m"]),
            "lines_per_strip": int(det["lines_per_strip"]),
        },
        "segmentation": {
            "attenuation_threshold": float(seg["attenuation_threshold"]),
            "min_area_px": int(seg["min_area_px"]),
            "split_min_distance_px": int(seg["split_min_distance_px"]),
            "max_carry_strips": int(seg["max_carry_strips"]),
            "reference_formula": reference["reference_formula"],
            "effective_energy_high_kev": reference["effective_energy_high_kev"],
        },
        "classification": {
            "r_threshold_curve": [float(v) for point in cls["r_threshold_curve"] for v in point],
            "r_scale": float(cls["r_scale"]),
            "core_erosion_px": int(cls["core_erosion_px"]),
        },
        "size_estimation": {
            **reference,
            "rectangle_area_factor": float(size["rectangle_area_factor"]),
        },
        "ejector": {
            "driver": device_driver,
            "scan_to_nozzle_m": float(cell["geometry"]["scan_to_nozzle_m"]),
            "valve_count": int(valves["count"]),
            "valve_pitch_m": float(valves["pitch_m"]),
            "response_time_s": float(valves["response_time_s"]),
            "min_open_s": float(valves["min_open_s"]),
            "margin_m": float(valves["margin_m"]),
            "command_margin_s": float(valves["command_margin_s"]),
            "eject": str(policy["eject"]),
            "probability_threshold": float(policy["probability_threshold"]),
        },
        "cell_monitor": {
            "window_s": float(mon["window_s"]),
            "publish_rate_hz": float(mon["publish_rate_hz"]),
        },
    }


def write_params_file(params: dict[str, dict[str, Any]], path: Path) -> Path:
    """A ROS 2 parameters file keyed by node name (the nav2 layout)."""
    body = {name: {"ros__parameters": values} for name, values in params.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path
