"""The bench's clock and its per-strip statistics."""

from __future__ import annotations

import time

import numpy as np

# Stages are timed in CPU time of this thread, not wall time: on a shared machine a wall clock
# also counts whoever else ran meanwhile. OpenCV is held to this one thread while timing, so
# the thread's CPU is all the CPU a stage costs; wall time per strip is reported alongside.
CLOCK = time.thread_time


def stats(values_s: list[float] | np.ndarray, period_s: float, baseline_s: float
          ) -> dict[str, float]:
    """Mean, p99 and max in ms, as shares of the strip period and as a ratio to the mean of
    the baseline measured in the same run."""
    ms = np.asarray(values_s, dtype=np.float64) * 1e3
    mean, p99 = float(ms.mean()), float(np.percentile(ms, 99))
    return {"mean_ms": mean, "p99_ms": p99, "max_ms": float(ms.max()),
            "mean_share": mean / (period_s * 1e3), "p99_share": p99 / (period_s * 1e3),
            "mean_vs_baseline": mean / (baseline_s * 1e3) if baseline_s > 0.0 else float("nan")}
