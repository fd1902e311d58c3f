"""What the bench reports: the machine the numbers come from, the report (a JSON-ready dict)
built from the timings, and its printout."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.table import Table

from sorter.bench.stages import CORES_INSIDE, STAGES
from sorter.bench.timing import stats


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: they mean nothing without it."""
    import skimage

    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "host": platform.node(),
        "cpu": model,
        "cpus": os.cpu_count(),
        "cpus_usable": usable,
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": getattr(cv2, "__version__", "unknown"),
        "scikit_image": getattr(skimage, "__version__", "unknown"),
    }

def build_report(*, stamp: str, cell: dict, count: int, warm: int, period_s: float,
                 per_row: dict[str, list[float]], wall: list[float], pipeline: Any,
                 data: Any, load: tuple[float, float]) -> dict[str, Any]:
    """Everything part 1 measured, with the data and the machine it comes from. Each figure is
    also a ratio to the baseline (the simulator's world + render CPU per strip, measured in
    the same run on the same machine): comparable across machines where ms are not."""
    det, belt = cell["detector"], cell["belt"]
    kinds = dict(STAGES)
    stage_rows = [name for name, _ in STAGES]
    core_rows = [n for n in stage_rows if kinds[n] == "core"] + [n for n, _ in CORES_INSIDE]
    total = np.sum([per_row[n] for n in stage_rows], axis=0)
    cores = np.sum([per_row[n] for n in core_rows], axis=0)
    baseline_s = float(np.mean(data.render_s[warm:]))
    measured_particles = pipeline.particles - pipeline.warmup_particles

    def figures(values: Any) -> dict[str, float]:
        return stats(values, period_s, baseline_s)

    return {
        "kind": "sorter bench",
        "time": stamp,
        "machine": machine_info(),
        "data": {
            "cell": cell["cell"]["name"],
            "cell_file": cell.get("_source"),
            "seed": int(cell["feed"]["seed"]),
            "strips": count,
            "warmup_strips": warm,
            "lines_per_strip": det["lines_per_strip"],
            "pixels": det["pixels"],
            "belt_speed_m_s": belt["speed_m_s"],
            "feed_rate_kg_h": float(cell["feeder"]["feed_rate_kg_h"]),
            "mass_flow_kg_h": data.mass_flow_kg_h,
            "particles_fed": data.particles_fed,
            "particles_segmented": pipeline.particles,
            "particles_per_strip": pipeline.particles / len(data.messages),
            "decisions": dict(pipeline.decisions),
            "particles_rejected": pipeline.rejected,
            "load_avg_1m_before_after": [round(load[0], 2), round(load[1], 2)],
            "clock": "thread CPU time (time.thread_time), OpenCV on 1 thread",
        },
        "strip_period_s": period_s,
        "stages": {name: figures(per_row[name]) for name in stage_rows},
        "cores_inside": {name: figures(per_row[name]) for name, _ in CORES_INSIDE},
        "total": figures(total),
        "total_core": figures(cores),
        "total_msg": figures(total - cores),
        "total_wall": figures(wall),
        "renderer": figures(data.render_s[warm:]),
        # Per particle, to scale the per-strip figures to other feed rates.
        "per_particle_ms": {
            name: float(np.sum(per_row[name])) * 1e3 / max(measured_particles, 1)
            for name in stage_rows[4:-1] + [n for n, _ in CORES_INSIDE[1:]]
        },
        "margin_mean": period_s / float(np.mean(total)),
        "margin_p99": period_s / float(np.percentile(total, 99)),
    }


def print_report(console: Any, report: dict[str, Any]) -> None:
    m, d = report["machine"], report["data"]
    console.print(f"[bold]machine[/bold] {m['cpu']}, {m['cpus_usable']} usable of {m['cpus']} "
                  f"CPUs, load {m['load_avg_1m']}; Python {m['python']}, numpy {m['numpy']}, "
                  f"OpenCV {m['opencv']}, scikit-image {m['scikit_image']}")
    console.print(
        f"[bold]data[/bold] cell {d['cell']} ({d['cell_file']}), seed {d['seed']}: "
        f"{d['strips']} strips of {d['lines_per_strip']} x {d['pixels']} px "
        f"(+{d['warmup_strips']} warm-up) at {d['belt_speed_m_s']} m/s, feed "
        f"{d['mass_flow_kg_h']:.0f} kg/h (set {d['feed_rate_kg_h']:.0f}), "
        f"{d['particles_segmented']} particles segmented "
        f"({d['particles_per_strip']:.2f}/strip; {d['particles_fed']} fed), decisions "
        f"{d['decisions']}")
    period_ms = report["strip_period_s"] * 1e3
    load = d["load_avg_1m_before_after"]
    table = Table(title=f"CPU per strip on one core (thread CPU time; load {load[0]} -> "
                        f"{load[1]}); strip period {period_ms:.1f} ms = real-time budget",
                  title_justify="left")
    for col in ("stage", "kind", "mean ms", "p99 ms", "mean/period", "p99/period",
                "mean/baseline"):
        table.add_column(col, justify="left" if col in ("stage", "kind") else "right")

    def row(name: str, kind: str, s: dict[str, float], style: str | None = None) -> None:
        table.add_row(name, kind, f"{s['mean_ms']:.3f}", f"{s['p99_ms']:.3f}",
                      f"{s['mean_share']:.2%}", f"{s['p99_share']:.2%}",
                      f"{s['mean_vs_baseline']:.3f}", style=style)

    inside = {stage: name for name, stage in CORES_INSIDE}
    for name, kind in STAGES:
        row(name, kind, report["stages"][name])
        if name in inside:
            row(inside[name], "core", report["cores_inside"][inside[name]], style="dim")
    table.add_section()
    row("pipeline, cores only", "core", report["total_core"])
    row("pipeline, messages and glue only", "msg", report["total_msg"])
    row("pipeline total", "", report["total"], style="bold")
    row("pipeline total, wall clock (+ preemption)", "wall", report["total_wall"], style="dim")
    table.add_section()
    row("baseline: simulator world + render", "sim", report["renderer"], style="dim")
    console.print(table)
    t = report["total"]
    console.print(
        f"pipeline total {t['mean_ms']:.2f} ms mean / {t['p99_ms']:.2f} ms p99 per "
        f"{period_ms:.1f} ms strip: keeps up with [bold]{period_ms / t['mean_ms']:.1f}x[/bold] "
        f"margin on one core ({period_ms / t['p99_ms']:.1f}x at p99 over {d['strips']} "
        "strips)")
    console.print("per particle (ms): " + ", ".join(
        f"{name.strip()} {ms:.3f}" for name, ms in report["per_particle_ms"].items()))

    live = report.get("live")
    if not live:
        return
    if "error" in live:
        console.print(f"[red]live run failed: {live['error']}[/red]")
        return
    if not live["commands"]:
        console.print("[yellow]live run produced no valve commands: no latency to report[/yellow]")
        return
    lt = Table(title=f"scan->command latency, live cell, {live['duration_s']:.0f} s at "
                     f"{live['belt_speed_m_s']} m/s, {live['commands']} valve commands",
               title_justify="left")
    for col in ("", "ms", "share of decision budget"):
        lt.add_column(col, justify="left" if not col else "right")
    budget = live["decision_budget_s"]
    for key, label in (("latency_p50_s", "p50"), ("latency_p99_s", "p99"),
                       ("latency_max_s", "max")):
        lt.add_row(label, f"{live[key] * 1e3:.1f}", f"{live[key] / budget:.1%}")
    lt.add_row("decision budget (scan_to_nozzle/v - response)", f"{budget * 1e3:.1f}", "100%",
               style="dim")
    console.print(lt)
    console.print(
        f"tightest command reached its deadline (open - command_margin) with "
        f"{live['min_slack_to_deadline_s'] * 1e3:.1f} ms to spare; late at the valves: "
        f"{live['late_valve_commands']}; ejector {live['ejector_status']}")
    cpu = live.get("cpu")
    if cpu:
        nodes = ", ".join(f"{name} {pct:.0f}" for name, pct in
                          sorted(cpu["node_cpu_pct_of_one_core"].items(), key=lambda kv: -kv[1]))
        console.print(
            f"CPU while sorting ({cpu['window_s']:.0f} s, % of one core): {nodes}; nodes "
            f"{cpu['nodes_total_pct']:.0f}% in all, machine {cpu['machine_busy_pct']:.0f}% busy "
            f"({report['machine']['cpus_usable']} cores; other processes included)")


def json_default(value: Any) -> Any:
    return value.item() if isinstance(value, (np.integer, np.floating)) else str(value)

