"""A simulated sorting trial: the whole cell (simulator + every node, each its own process) runs
for a set time, the feed is stopped, the belt empties, and the truth is scored."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sorter.launching.launcher import CellLauncher, write_effective_cell
from sorter.launching.specs import cell_node_specs
from sorter.trial.collector import TrialCollector, TrialRecord


@dataclass
class TrialResult:
    cell: dict
    duration_s: float
    record: TrialRecord
    run_dir: Path
    wall_s: float


def isolate_ros_domain(domain_id: int | None = None) -> int:
    """Keep a trial's traffic on this machine and off any plant network."""
    if domain_id is None:
        domain_id = int(os.environ.get("ROS_DOMAIN_ID") or 100 + os.getpid() % 100)
    os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    return domain_id


def drain_time_s(cell: dict) -> float:
    """Time for the last fed particle to reach a bin after the feed stops: spawn distance
    upstream of the scan line, plus scan-to-nozzle, at the set speed, plus the truth period."""
    travel = 0.5 + cell["geometry"]["scan_to_nozzle_m"] + 0.2
    return travel / max(cell["belt"]["speed_m_s"], 0.1) + 1.5


def run_trial(
    cell: dict,
    duration_s: float,
    run_dir: Path,
    seed: int | None = None,
    log: Any = print,
    progress: bool = True,
) -> TrialResult:
    run_dir = Path(run_dir)
    cell = write_effective_cell(cell, run_dir)
    specs = cell_node_specs(cell, driver="sim", simulate=True, seed=seed)
    started = time.monotonic()
    collector = TrialCollector()
    launcher = CellLauncher(specs, run_dir, log=log)
    try:
        launcher.start()
        log(f"cell up in {time.monotonic() - started:.1f} s; running {duration_s:.0f} s")
        _supervise(launcher, duration_s, "sorting", progress)
        if not collector.stop_feed():
            log("warning: feeder did not acknowledge the stop; draining anyway")
        _supervise(launcher, drain_time_s(cell), "draining belt", progress)
    finally:
        launcher.stop()
        record = collector.snapshot()
        collector.close()
    return TrialResult(cell, duration_s, record, run_dir, time.monotonic() - started)


def _supervise(launcher: CellLauncher, seconds: float, label: str, progress: bool) -> None:
    if not progress:
        launcher.wait(seconds)
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(), transient=True
    ) as bar:
        task = bar.add_task(label, total=seconds)
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            launcher.wait(min(0.5, left))
            bar.update(task, completed=seconds - max(0.0, end - time.monotonic()))
