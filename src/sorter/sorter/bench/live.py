"""Part 2 of the bench: the live cell. Every node its own process on an isolated localhost ROS
domain, the scan->command latency the ejector stamps on each valve command, and the CPU the
node processes took meanwhile."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from sorter.trial.runner import isolate_ros_domain, run_trial


class NodeCpu:
    """CPU each node process spends while the live cell sorts, read from /proc: the latency of
    a real cell is set as much by what the other processes leave it as by its own work, so
    the live numbers are only readable next to how busy the machine was."""

    def __init__(self, period_s: float = 0.25) -> None:
        self._period = period_s
        self._tick = os.sysconf("SC_CLK_TCK")
        self._lock = threading.Lock()
        self._first: dict[int, tuple[str, float]] = {}
        self._last: dict[int, tuple[str, float]] = {}
        self._machine: list[tuple[float, float]] = []  # (busy, total) jiffies at start, end
        self._window: tuple[float, float] | None = None
        self._t0 = self._t1 = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def mark(self, seconds: float) -> None:
        """The sorting period starts now and lasts `seconds`."""
        now = time.monotonic()
        with self._lock:
            self._window = (now, now + seconds)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)

    def _children(self) -> dict[int, tuple[str, float]]:
        me, found = os.getpid(), {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # exited meanwhile
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()
            pid = int(entry.name)
            if pid == me:  # this process: the trial's collector listens to the cell meanwhile
                comm = "bench+collector"
            elif int(fields[1]) != me:  # ppid: only the cell's node processes
                continue
            # utime and stime are fields 14 and 15 of /proc/<pid>/stat
            found[pid] = (comm, (int(fields[11]) + int(fields[12])) / self._tick)
        return found

    @staticmethod
    def _machine_jiffies() -> tuple[float, float]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return float(sum(values) - idle), float(sum(values))

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            with self._lock:
                window = self._window
            now = time.monotonic()
            if window is None or now < window[0]:
                continue
            sample = self._children()
            with self._lock:
                if not self._first:
                    self._first, self._machine = sample, [self._machine_jiffies()]
                    self._t0 = now
                elif now <= window[1]:
                    self._last, self._t1 = sample, now
                    self._machine[1:] = [self._machine_jiffies()]

    def shares(self) -> dict[str, Any]:
        """% of one core per node over the sorting period, and the machine's busy share."""
        with self._lock:
            if not self._last or len(self._machine) < 2:
                return {}
            span = self._t1 - self._t0
            nodes = {name: round(100.0 * (cpu - self._first[pid][1]) / span, 1)
                     for pid, (name, cpu) in self._last.items() if pid in self._first}
            (busy0, total0), (busy1, total1) = self._machine
        cell = sum(pct for name, pct in nodes.items() if name != "bench+collector")
        return {"window_s": round(span, 2), "node_cpu_pct_of_one_core": nodes,
                "nodes_total_pct": round(cell, 1),
                "machine_busy_pct": round(100.0 * (busy1 - busy0) / (total1 - total0), 1)}


def latency_run(cell: dict, seconds: float, run_dir: Path, log: Any) -> dict[str, Any]:
    """The live cell: scan->command latency as the ejector stamps it on each command, and the
    CPU the node processes took meanwhile."""
    domain = isolate_ros_domain()
    log(f"live run: {seconds:.0f} s of feed on ROS domain {domain} (localhost), logs in {run_dir}")
    cpu = NodeCpu()

    def on_log(text: str) -> None:
        if text.startswith("cell up"):  # run_trial's word that the sorting period begins
            cpu.mark(seconds)
        log(text)

    cpu.start()
    try:
        result = run_trial(cell, seconds, run_dir, progress=False, log=on_log)
    finally:
        cpu.stop()
    commands = result.record.commands
    latency = np.array([c["latency_s"] for c in commands], dtype=np.float64)
    margin = float(cell["valves"]["command_margin_s"])
    slack = np.array([c["open"] - margin - c["decided"] for c in commands], dtype=np.float64)
    speed = float(cell["belt"]["speed_m_s"])
    budget = float(cell["geometry"]["scan_to_nozzle_m"]) / speed \
        - float(cell["valves"]["response_time_s"])
    out: dict[str, Any] = {
        "duration_s": seconds, "wall_s": result.wall_s, "ros_domain": domain,
        "run_dir": str(run_dir), "belt_speed_m_s": speed, "commands": int(latency.size),
        "decision_budget_s": budget, "ejector_status": dict(result.record.ejector_status),
        "late_valve_commands": result.record.late_valve_commands, "cpu": cpu.shares(),
    }
    if latency.size:
        out.update({
            "latency_p50_s": float(np.percentile(latency, 50)),
            "latency_p99_s": float(np.percentile(latency, 99)),
            "latency_max_s": float(latency.max()),
            "min_slack_to_deadline_s": float(slack.min()),
        })
    return out
