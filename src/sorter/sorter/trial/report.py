"""Trial report: scored figures (achieved next to the ideal-separation bound), the cell's own
measurements (throughput, latency, misses), and plots a person would rather look at."""

from __future__ import annotations

import json
import math
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sorter.sim_world.scorer import Bin, Outcome, TrialScore, score
from sorter.trial.runner import TrialResult


@dataclass
class TrialSummary:
    score: TrialScore
    cell_figures: dict[str, Any]


def summarise(result: TrialResult) -> TrialSummary:
    rec = result.record
    outcomes = [
        Outcome(
            truth_id=o["truth_id"], is_ore=o["is_ore"], mass_kg=o["mass_kg"], grade=o["grade"],
            mineral_mass_kg=o["mineral_mass_kg"], bin=Bin(o["bin"]),
            scan_time_s=o["scan_time_s"],
        )
        for o in rec.outcomes
    ]
    trial_score = score(outcomes, result.cell["policy"]["eject"])
    latencies = np.array([c["latency_s"] for c in rec.commands], float)
    scan_times = [p["t"] for p in rec.particles]
    span = (max(scan_times) - min(scan_times)) if len(scan_times) > 1 else math.nan
    measured_mass = sum(p["mass_kg"] for p in rec.particles)
    status = rec.ejector_status
    last = rec.metrics[-1] if rec.metrics else {}
    truth_mass = trial_score.feed_mass_kg
    figures = {
        "particles_scanned": len(rec.scanned_ids),
        "particles_measured": len(rec.particles),
        "particles_in_bins_truth": trial_score.particles,
        "decisions": int(status.get("decisions", 0)),
        "ejections": int(status.get("ejections", 0)),
        "accepts": int(status.get("accepts", 0)),
        "missed_ejections": int(status.get("missed", 0)),
        "dropped_inputs": int(last.get("dropped", 0)),
        "late_valve_commands": rec.late_valve_commands,
        "valve_commands_received": rec.valve_commands_received,
        "measured_throughput_kg_h": measured_mass / span * 3600 if span > 0 else math.nan,
        "measured_mass_kg": measured_mass,
        "truth_mass_kg": truth_mass,
        "mass_estimate_error": (measured_mass - truth_mass) / truth_mass if truth_mass else None,
        "particles_per_s": len(rec.particles) / span if span > 0 else math.nan,
        "latency_p50_ms": float(np.percentile(latencies, 50) * 1e3) if latencies.size else None,
        "latency_p99_ms": float(np.percentile(latencies, 99) * 1e3) if latencies.size else None,
        "latency_budget_ms": budget_ms(result.cell),
        "feed_setpoint_kg_h": result.cell["feeder"]["feed_rate_kg_h"],
        "belt_speed_m_s": result.cell["belt"]["speed_m_s"],
        "duration_s": result.duration_s,
        "wall_s": result.wall_s,
    }
    return TrialSummary(trial_score, figures)


def budget_ms(cell: dict) -> float:
    """The decision budget, fixed by geometry: t_budget = d(scan -> nozzle) / v - valve lead."""
    v = cell["belt"]["speed_m_s"]
    return (cell["geometry"]["scan_to_nozzle_m"] / v - cell["valves"]["response_time_s"]) * 1e3


def pct(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else (
        f"{100 * value:.2f} %"
    )


def write_report(result: TrialResult, summary: TrialSummary) -> Path:
    out = result.run_dir
    s, f = summary.score, summary.cell_figures
    machine = f"{platform.machine()}, {_cpu_count()} cores, {platform.python_version()}"
    body = {
        "cell": result.cell["cell"]["name"],
        "data": "simulated (sorter sim_world: polychromatic dual-energy model from spekpy "
        "and xraylib, synthetic particles); not comparable to the published real-ore trials "
        "(docs/references.md)",
        "machine": machine,
        "score": s.as_dict(),
        "cell_figures": f,
    }
    (out / "summary.json").write_text(json.dumps(body, indent=2, default=float))
    plots = make_plots(result, summary)
    lines = [
        f"# Sorting trial — {result.cell['cell']['name']}",
        "",
        f"Simulated data (sim_world), {result.duration_s:.0f} s of feed at "
        f"{f['feed_setpoint_kg_h']:.0f} kg/h set-point, belt {f['belt_speed_m_s']} m/s, "
        f"policy: eject {s.eject}. Machine: {machine}.",
        "These are figures on generated data, not the real-ore results of the published trials "
        "(docs/references.md).",
        "",
        "| figure | achieved | ideal separation (perfect information) |",
        "|---|---|---|",
        f"| feed grade | {pct(s.feed_grade)} | {pct(s.feed_grade)} |",
        f"| concentrate grade | {pct(s.concentrate_grade)} | {pct(s.ideal.concentrate_grade)} |",
        f"| recovery | {pct(s.recovery)} | {pct(s.ideal.recovery)} |",
        f"| waste rejection γ = m_rej/m_feed | {pct(s.waste_rejection)} | "
        f"{pct(s.ideal.waste_rejection)} |",
        f"| misplaced mass | {pct(s.misplaced_mass_fraction)} | 0.00 % |",
        "",
        "| cell figure | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in f.items()]
    lines += ["", *[f"![{p.stem}]({p.name})" for p in plots]]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 0


def make_plots(result: TrialResult, summary: TrialSummary) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rec, out, cell = result.record, result.run_dir, result.cell
    paths = []
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    # 1. feed loop
    ax = axes[0, 0]
    if rec.feeder:
        t0 = rec.feeder[0]["t"]
        t = [r["t"] - t0 for r in rec.feeder]
        ax.plot(t, [r["setpoint_kg_h"] for r in rec.feeder], "k--", label="set-point")
        ax.plot(t, [r["measured_kg_h"] for r in rec.feeder], label="measured on belt")
        ax2 = ax.twinx()
        ax2.plot(t, [r["drive"] for r in rec.feeder], color="tab:gray", alpha=0.5, label="drive")
        ax2.set_ylabel("drive [0..1]")
    ax.set(title="Feeder loop", xlabel="time [s]", ylabel="mass flow [kg/h]")
    ax.legend(loc="upper left")
    # 2. H-L plane
    ax = axes[0, 1]
    if rec.particles:
        a_h = np.array([p["mean_attenuation_high"] for p in rec.particles])
        r = np.array([p["ratio_r"] for p in rec.particles])
        ore = np.array([p["is_ore"] for p in rec.particles], bool)
        ax.scatter(a_h[~ore], r[~ore], s=8, label="classified waste")
        ax.scatter(a_h[ore], r[ore], s=8, label="classified ore")
        curve = np.array(cell["classification"]["r_threshold_curve"], float)
        ax.plot(curve[:, 0], curve[:, 1], "k-", label="threshold R(a_H)")
        ax.set_xlim(0, max(1.0, float(np.percentile(a_h, 99)) * 1.1))
    ax.set(title="Dual-energy H-L plane", xlabel="mean ln(I0/I) high", ylabel="R")
    ax.legend()
    # 3. latency
    ax = axes[1, 0]
    lat = np.array([c["latency_s"] for c in rec.commands]) * 1e3
    if lat.size:
        ax.hist(lat, bins=40)
    ax.axvline(budget_ms(cell), color="r", label=f"budget {budget_ms(cell):.0f} ms")
    ax.set(title="Scan -> valve command latency", xlabel="ms", ylabel="commands")
    ax.legend()
    # 4. separation
    ax = axes[1, 1]
    s = summary.score
    names = ["conc. grade", "recovery", "γ (rejected)"]
    achieved = [s.concentrate_grade, s.recovery, s.waste_rejection]
    ideal = [s.ideal.concentrate_grade, s.ideal.recovery, s.ideal.waste_rejection]
    x = np.arange(len(names))
    ax.bar(x - 0.2, [100 * _nan0(v) for v in achieved], 0.4, label="achieved (simulated)")
    ax.bar(x + 0.2, [100 * _nan0(v) for v in ideal], 0.4, label="ideal separation")
    ax.axhline(100 * _nan0(s.feed_grade), color="k", ls="--", label="feed grade")
    ax.set_xticks(x, names)
    ax.set(title="Separation (simulated feed)", ylabel="%")
    ax.legend()
    fig.suptitle(f"{cell['cell']['name']}: simulated trial, {result.duration_s:.0f} s")
    fig.tight_layout()
    path = out / "trial.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)
    return paths


def _nan0(value: float) -> float:
    return 0.0 if value is None or math.isnan(value) else value


def print_summary(summary: TrialSummary, report: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    s, f = summary.score, summary.cell_figures
    table = Table(title="Simulated sorting trial (generated data, not real ore)")
    table.add_column("figure")
    table.add_column("achieved", justify="right")
    table.add_column("ideal separation", justify="right")
    table.add_row("feed grade", pct(s.feed_grade), pct(s.feed_grade))
    table.add_row("concentrate grade", pct(s.concentrate_grade), pct(s.ideal.concentrate_grade))
    table.add_row("recovery", pct(s.recovery), pct(s.ideal.recovery))
    table.add_row("waste rejection γ", pct(s.waste_rejection), pct(s.ideal.waste_rejection))
    table.add_row("misplaced mass", pct(s.misplaced_mass_fraction), "0.00 %")
    table.add_row("throughput (measured)", f"{_fmt(f['measured_throughput_kg_h'])} kg/h", "")
    table.add_row("particles/s", _fmt(f["particles_per_s"]), "")
    table.add_row("latency p50 / p99", f"{_fmt(f['latency_p50_ms'])} / "
                  f"{_fmt(f['latency_p99_ms'])} ms", f"budget {f['latency_budget_ms']:.0f} ms")
    table.add_row("decisions / ejections / missed",
                  f"{f['decisions']} / {f['ejections']} / {f['missed_ejections']}", "")
    table.add_row("late valve commands / dropped inputs",
                  f"{f['late_valve_commands']} / {f['dropped_inputs']}", "")
    console = Console()
    console.print(table)
    console.print(f"report: {report}")
