"""`sorter bench` end to end: render the strips, time the stages, run the live cell, print the
report and write it to results/bench-<time>.json."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import cv2
from rich.console import Console

from sorter.bench.live import latency_run
from sorter.bench.stages import time_pipeline
from sorter.bench.strips import render_strips
from sorter.bench.summary import build_report, json_default, print_report
from sorter.cli_options import cell_from_args

WARMUP_STRIPS = 10      # pushed through the pipeline first (imports, caches), not counted


def main(args: argparse.Namespace) -> int:
    """`args`: the cell options (cell, set; see sorter.cli_options), strips, live_seconds."""
    # Piped to a file or CI log, rich would wrap the tables at 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=120)
    cell = cell_from_args(args)
    count = int(getattr(args, "strips", 200))
    live_s = float(getattr(args, "live_seconds", 15.0))
    if count < 10:
        console.print("[red]--strips must be at least 10[/red]")
        return 2
    stamp = time.strftime("%Y%m%d-%H%M%S")
    det, belt = cell["detector"], cell["belt"]
    period = det["lines_per_strip"] * det["pixel_pitch_m"] / belt["speed_m_s"]
    warm = min(WARMUP_STRIPS, count // 10)

    load_before = os.getloadavg()[0]
    console.print(f"rendering {count + warm} strips at {belt['speed_m_s']} m/s ...")
    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        data = render_strips(cell, count + warm)
        console.print("timing the pipeline, single-threaded ...")
        gc.collect()
        per_row, wall, pipeline = time_pipeline(cell, data, warm)
    finally:
        cv2.setNumThreads(cv_threads)
    report: dict[str, Any] = build_report(
        stamp=stamp, cell=cell, count=count, warm=warm, period_s=period, per_row=per_row,
        wall=wall, pipeline=pipeline, data=data, load=(load_before, os.getloadavg()[0]))
    del data  # the strips: ~0.25 MB each, not needed by the live run

    code = 0
    if live_s > 0:
        run_dir = Path("results") / f"bench-{stamp}-live"
        try:
            report["live"] = latency_run(cell, live_s, run_dir,
                                         lambda text: console.print(f"[dim]{text}[/dim]"))
        except Exception as err:  # noqa: BLE001 - part 1 still stands; say why part 2 did not
            report["live"] = {"error": f"{type(err).__name__}: {err}", "run_dir": str(run_dir)}
            code = 1
    print_report(console, report)
    out = Path("results") / f"bench-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=json_default))
    console.print(f"results written to {out}")
    return code
