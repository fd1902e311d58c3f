"""Cell figures: the ROS-free core of ``cell_monitor``.

Rolling rates (throughput, particles per second) are computed over the last ``window_s``
seconds of *acquisition* time (event stamps), so a burst of late messages does not fake a
throughput spike. Totals count since start.

Latency percentiles are computed over a bounded ring of the most recent
``latency_capacity`` decisions (default 10,000), not over the whole run: a whole-run list grows
without bound (millions of entries in a shift) and sorting it at the publish rate would cost
more than the node's budget, and the recent tail is what an operator can act on. Every
decision kind counts ('missed' ones are the late tail and must be included).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from sorter.common.validation import require_finite

DECISION_KINDS: tuple[str, ...] = ("eject", "accept", "missed")


@dataclass
class MetricsSnapshot:
    """One CellMetrics message worth of figures (SI units; NaN where not yet known)."""

    stamp_s: float
    window_s: float
    throughput_kg_h: float
    particles_per_s: float
    particles_scanned: int
    particles_measured: int
    decisions: int
    ejections: int
    accepts: int
    missed_ejections: int
    dropped_inputs: int
    latency_p50_s: float
    latency_p99_s: float
    latency_samples: int
    belt_speed_m_s: float = math.nan
    feed_setpoint_kg_h: float = math.nan

    # Short aliases (read-only) used by the cell_monitor node.
    @property
    def scanned(self) -> int:
        return self.particles_scanned

    @property
    def measured(self) -> int:
        return self.particles_measured

    @property
    def dropped(self) -> int:
        return self.dropped_inputs

    @property
    def missed(self) -> int:
        return self.missed_ejections


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)


class CellMetricsCore:
    """Accumulates cell events and produces :class:`MetricsSnapshot`s.

    Invalid events raise ValueError and change nothing (the node counts them). Events may
    arrive slightly out of stamp order (several producer nodes); only events with
    ``now - window_s < stamp <= now`` count towards the rates.
    """

    def __init__(
        self,
        window_s: float,
        latency_capacity: int = 10_000,
        start_s: float | None = None,
    ) -> None:
        """``start_s``: when counting began; until a full window has elapsed since then, rates
        are divided by the elapsed time instead of ``window_s`` (otherwise the first window
        under-reports). None: always divide by ``window_s``."""
        window = require_finite("CellMetricsCore.window_s", window_s)
        if window <= 0.0:
            raise ValueError(f"CellMetricsCore.window_s must be > 0, got {window_s!r}")
        capacity = _count("CellMetricsCore.latency_capacity", latency_capacity)
        if capacity < 1:
            raise ValueError("CellMetricsCore.latency_capacity must be >= 1")
        self._window_s = window
        self._start_s = (
            None if start_s is None else require_finite("CellMetricsCore.start_s", start_s)
        )
        self._scans: deque[tuple[float, int]] = deque()
        self._masses: deque[tuple[float, float]] = deque()
        self._latencies: deque[float] = deque(maxlen=capacity)
        self._newest_stamp = -math.inf
        self._scanned = 0
        self._measured = 0
        self._decisions = {kind: 0 for kind in DECISION_KINDS}
        self._dropped_current: dict[str, int] = {}
        self._dropped_base: dict[str, int] = {}
        self._belt_speed = math.nan
        self._feed_setpoint = math.nan

    @property
    def window_s(self) -> float:
        return self._window_s

    def set_window(self, window_s: float) -> None:
        """A new rolling window, from the next snapshot on (ValueError if not > 0)."""
        window = require_finite("CellMetricsCore.window_s", window_s)
        if window <= 0.0:
            raise ValueError(f"CellMetricsCore.window_s must be > 0, got {window_s!r}")
        self._window_s = window

    # -- events ---------------------------------------------------------------------------
    def on_scanned(self, stamp_s: float, count: int) -> None:
        """``count`` particles completed by a strip acquired at ``stamp_s``."""
        stamp = require_finite("on_scanned.stamp_s", stamp_s)
        n = _count("on_scanned.count", count)
        self._scans.append((stamp, n))
        self._scanned += n
        self._note_stamp(stamp)

    def on_measured(self, stamp_s: float, mass_kg: float) -> None:
        """One particle measured with ``mass_kg`` [kg], acquired at ``stamp_s``."""
        stamp = require_finite("on_measured.stamp_s", stamp_s)
        mass = require_finite("on_measured.mass_kg", mass_kg)
        if mass < 0.0:
            raise ValueError(f"on_measured.mass_kg must be >= 0, got {mass_kg!r}")
        self._masses.append((stamp, mass))
        self._measured += 1
        self._note_stamp(stamp)

    def on_decision(self, stamp_s: float, kind: str, latency_s: float) -> None:
        """One ejector decision of ``kind`` ('eject' | 'accept' | 'missed')."""
        require_finite("on_decision.stamp_s", stamp_s)
        if kind not in self._decisions:
            raise ValueError(f"on_decision.kind must be one of {DECISION_KINDS}, got {kind!r}")
        latency = require_finite("on_decision.latency_s", latency_s)
        self._decisions[kind] += 1
        self._latencies.append(latency)

    def on_dropped(self, source: str, count_total: int) -> None:
        """A node reports its running total of dropped/rejected inputs.

        Totals are per source and the sum is reported. A total that goes *down* means the
        source restarted and its counter began again: what it had counted before is kept.
        """
        if not isinstance(source, str) or not source:
            raise ValueError(f"on_dropped.source must be a non-empty str, got {source!r}")
        total = _count("on_dropped.count_total", count_total)
        previous = self._dropped_current.get(source, 0)
        if total < previous:
            self._dropped_base[source] = self._dropped_base.get(source, 0) + previous
        self._dropped_current[source] = total

    def on_belt_speed(self, speed_m_s: float) -> None:
        """Latest measured belt speed [m/s] (reported as is)."""
        self._belt_speed = require_finite("on_belt_speed.speed_m_s", speed_m_s)

    def on_feed_setpoint(self, kg_h: float) -> None:
        """Latest feeder set-point [kg/h] (reported as is)."""
        self._feed_setpoint = require_finite("on_feed_setpoint.kg_h", kg_h)

    # -- figures --------------------------------------------------------------------------
    @property
    def dropped_inputs(self) -> int:
        return sum(self._dropped_base.values()) + sum(self._dropped_current.values())

    def latency_percentiles(self, percentiles: tuple[float, ...] = (50.0, 99.0)) -> list[float]:
        """Latency percentiles [s] over the retained decisions (numpy 'linear'); NaN if none."""
        if not self._latencies:
            return [math.nan for _ in percentiles]
        values = np.percentile(np.fromiter(self._latencies, dtype=float), percentiles)
        return [float(v) for v in np.atleast_1d(values)]

    def snapshot(self, now_s: float) -> MetricsSnapshot:
        """Figures at ``now_s``: rates over (now - window, now], totals since start."""
        now = require_finite("snapshot.now_s", now_s)
        low = now - self._window_s
        self._prune(low)
        span = self._window_s
        if self._start_s is not None:
            span = min(span, max(now - self._start_s, 0.0))
        mass = sum(m for t, m in self._masses if low < t <= now)
        count = sum(n for t, n in self._scans if low < t <= now)
        if span > 0.0:
            throughput = mass / span * 3600.0
            rate = count / span
        else:
            throughput = rate = 0.0
        p50, p99 = self.latency_percentiles((50.0, 99.0))
        return MetricsSnapshot(
            stamp_s=now,
            window_s=self._window_s,
            throughput_kg_h=throughput,
            particles_per_s=rate,
            particles_scanned=self._scanned,
            particles_measured=self._measured,
            decisions=sum(self._decisions.values()),
            ejections=self._decisions["eject"],
            accepts=self._decisions["accept"],
            missed_ejections=self._decisions["missed"],
            dropped_inputs=self.dropped_inputs,
            latency_p50_s=p50,
            latency_p99_s=p99,
            latency_samples=len(self._latencies),
            belt_speed_m_s=self._belt_speed,
            feed_setpoint_kg_h=self._feed_setpoint,
        )

    # -- housekeeping ---------------------------------------------------------------------
    def _note_stamp(self, stamp: float) -> None:
        # Bound memory even if snapshot() is never called: anything older than a window before
        # the newest event can never count again (snapshot times do not go back that far).
        if stamp > self._newest_stamp:
            self._newest_stamp = stamp
        if len(self._scans) + len(self._masses) > 1024:
            self._prune(self._newest_stamp - 2.0 * self._window_s)

    def _prune(self, low: float) -> None:
        for events in (self._scans, self._masses):
            while events and events[0][0] <= low:
                events.popleft()
