"""Recorder throughput and loss at the cell's full rate.

Starts the simulated cell (config/cell.yaml, every node its own process), waits for steady
state, then records its data topics for a fixed window with `sorter bag record --max-duration`
once per variant (chunk compression, scheduling priority), and prints MB/s, messages/s, the
recorder process's CPU share (CPU seconds / wall seconds, 1.0 = one core) and the sequence-gap
count. The cell keeps running between variants, so they see the same load.

    .venv/bin/python tools/measure_bag_recorder.py [--seconds 15] [--out results/bag-recorder.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOPICS = ["sim/xrt/raw", "xrt/strip", "sim/belt/encoder", "belt/state", "belt/occupancy",
          "particles/segmented", "particles/classified", "particles/measured",
          "ejector/commands", "ejector/status", "feeder/status"]
VARIANTS = [("zstd", -10), ("none", -10), ("zstd", 0)]


def record(folder: Path, seconds: float, compression: str, nice: int) -> dict:
    bag, stats = folder / f"{compression}_nice{nice}", folder / f"{compression}_nice{nice}.json"
    cmd = [sys.executable, "-m", "sorter.cli", "bag", "record", "-o", str(bag), *TOPICS,
           "--compression", compression, "--nice", str(nice), "--max-duration", str(seconds),
           "--stats", str(stats)]
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL, timeout=seconds + 60)
    body = json.loads(stats.read_text())
    on_disk = sum(p.stat().st_size for p in bag.glob("*.mcap"))
    return {
        "compression": compression, "nice": nice, "wall_s": body["wall_s"],
        "mb_per_s": body["mb_per_s"], "messages_per_s": body["messages_per_s"],
        "cpu_share": body["cpu_share"], "messages": body["messages"],
        "gaps": sum(v["gaps"] for v in body["loss"].values()),
        "strips": body["topics"].get("/xrt/strip", 0),
        "disk_mb_per_s": round(on_disk / 1e6 / body["wall_s"], 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="recording window")
    parser.add_argument("--out", default="results/bag-recorder.json")
    args = parser.parse_args()
    os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

    from sorter.cell.description import load_cell
    from sorter.launching.launcher import CellLauncher
    from sorter.launching.specs import cell_node_specs

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with CellLauncher(cell_node_specs(load_cell()), folder / "run", log=lambda _m: None):
            time.sleep(3.0)  # belt to speed, feed on the belt
            for compression, nice in VARIANTS:
                rows.append(record(folder, args.seconds, compression, nice))
                row = rows[-1]
                print(f"{compression:>4} nice {nice:>3}: {row['mb_per_s']:.2f} MB/s in, "
                      f"{row['disk_mb_per_s']:.2f} MB/s to disk, {row['messages_per_s']:.0f} "
                      f"msg/s, recorder CPU {100 * row['cpu_share']:.1f} % of a core, "
                      f"{row['strips']} strips, {row['gaps']} lost", flush=True)
    out = REPO / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"seconds": args.seconds, "machine": f"{os.cpu_count()} cores",
                               "variants": rows}, indent=2))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
