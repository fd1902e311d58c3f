"""Air-jet valve scheduling: the ROS-free core of the ``ejector`` node.

Why this module exists
----------------------
A particle is located in belt coordinates when it is scanned (the encoder positions at which its
leading and trailing edges crossed the scan line). It reaches the nozzle line
``scan_to_nozzle_m`` of belt travel later. When that happens in *time* depends only on how the
belt moves, so the schedule is computed from the latest belt sample (stamp, encoder, speed),
never from when a message happened to arrive. Everything here is a pure function of its inputs,
so the node may call :meth:`EjectionScheduler.decide` as late as it likes with the freshest belt
sample.

Fail-closed: whenever the schedule cannot be trusted (no belt sample, stale sample, stopped
belt, particle off the bar, decision past its deadline, open time absurdly far ahead) the
decision is ``'missed'`` and carries no command. A missed ejection is counted upstream and never
fired late: a late pulse blows the wrong particle.

Timing model (all times absolute seconds, lengths m, speeds m/s)::

    encoder(t)   = belt.encoder_m + belt.speed_m_s * (t - belt.stamp_s)
    air on   at encoder = leading_edge  + scan_to_nozzle - margin
    air off  at encoder = trailing_edge + scan_to_nozzle + margin
    open_s  = t(air on)  - response_time_s          (electrical open command)
    close_s = t(air off) - close_response_time_s    (electrical close command)
    if close_s - open_s < min_open_s: widen symmetrically about the pulse centre
    deadline_s = open_s - command_margin_s

Assumptions worth stating in the README:

* the flight from the head pulley to the nozzle line is travelled at belt speed (no slip, no
  drag); ``scan_to_nozzle_m`` is belt travel plus the horizontal flight distance;
* the belt speed is constant from the belt sample to the nozzle (a speed ramp between decision
  and ejection is not predicted: decide late, or inhibit ejection while the belt ramps);
* the valve response time is the same for opening and closing unless
  ``close_response_time_s`` says otherwise.
"""


from __future__ import annotations

import math
from dataclasses import dataclass

from sorter.common.validation import is_int, require_finite
from sorter.ejector.config import EjectorConfig
from sorter.ejector.valve_timeline import ValveCommand

DECISION_KINDS: tuple[str, ...] = ("eject", "accept", "missed")
_BOUNDARY_EPS = 1e-9  # in valve pitches


@dataclass
class BeltSample:
    """One latched encoder reading: belt position ``encoder_m`` at ``stamp_s``, moving at
    ``speed_m_s`` (from BeltState)."""

    stamp_s: float
    encoder_m: float
    speed_m_s: float


@dataclass
class EjectionTarget:
    """What the ejector needs of one measured particle.

    ``leading_edge_encoder_m`` is the encoder reading when the particle's leading edge crossed
    the scan line, so it is the *smaller* of the two encoder values.
    """

    particle_id: int
    leading_edge_encoder_m: float
    trailing_edge_encoder_m: float
    y_min_m: float
    y_max_m: float
    ore_probability: float
    scan_complete_stamp_s: float

    def validate(self) -> None:
        """Raise ValueError if the target is malformed (the node counts it as a rejected input).

        Malformed input is an error, not a 'missed' ejection: it says a stage upstream is
        broken, which the monitor should report separately.
        """
        owner = type(self).__name__
        if not is_int(self.particle_id):
            raise ValueError(f"{owner}.particle_id must be an int, got {self.particle_id!r}")
        if self.particle_id < 0:
            raise ValueError(f"{owner}.particle_id must be >= 0, got {self.particle_id!r}")
        lead = require_finite(f"{owner}.leading_edge_encoder_m", self.leading_edge_encoder_m)
        trail = require_finite(f"{owner}.trailing_edge_encoder_m", self.trailing_edge_encoder_m)
        if trail < lead:
            raise ValueError(
                f"{owner}.trailing_edge_encoder_m ({trail!r}) must be >= "
                f"leading_edge_encoder_m ({lead!r})"
            )
        y_min = require_finite(f"{owner}.y_min_m", self.y_min_m)
        y_max = require_finite(f"{owner}.y_max_m", self.y_max_m)
        if y_max < y_min:
            raise ValueError(f"{owner}.y_max_m ({y_max!r}) must be >= y_min_m ({y_min!r})")
        probability = require_finite(f"{owner}.ore_probability", self.ore_probability)
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"{owner}.ore_probability must be in [0, 1], got {probability!r}")
        require_finite(f"{owner}.scan_complete_stamp_s", self.scan_complete_stamp_s)



@dataclass
class Decision:
    """Outcome for one particle.

    ``kind``: 'eject' (``command`` set), 'accept' (policy lets it through, no command) or
    'missed' (it should or might have been blown but cannot be, safely; no command).
    ``deadline_s`` is the last moment a command could have been sent; NaN when no timing could
    be computed (no usable belt sample). ``latency_s`` = decision time - scan complete stamp.
    """

    kind: str
    command: ValveCommand | None
    latency_s: float
    deadline_s: float
    reason: str


@dataclass(frozen=True)
class PulseTiming:
    """Electrical open/close times and the command deadline of one pulse [s]."""

    open_s: float
    close_s: float
    deadline_s: float


class EjectionScheduler:
    """Turns measured particles into valve commands, or into reasons why not.

    Stateless apart from its configuration: the same inputs always give the same decision,
    which keeps it unit-testable and lets the node re-decide with a fresher belt sample.
    """

    def __init__(self, config: EjectorConfig) -> None:
        if not isinstance(config, EjectorConfig):
            raise TypeError(f"config must be an EjectorConfig, got {type(config).__name__}")
        self._config = config

    @property
    def config(self) -> EjectorConfig:
        return self._config

    # -- policy ---------------------------------------------------------------------------
    def is_target(self, ore_probability: float) -> bool:
        """True if the policy blows this particle: (P(ore) >= threshold) == (eject == 'ore')."""
        is_ore = ore_probability >= self._config.probability_threshold
        return is_ore == (self._config.eject == "ore")

    # -- geometry -------------------------------------------------------------------------
    def valve_range(self, y_min_m: float, y_max_m: float) -> tuple[int, int] | None:
        """Inclusive valve range covering a particle across the belt, or None if off the bar.

        Valve i covers y in [offset + i*pitch, offset + (i+1)*pitch). A valve is used when its
        span overlaps [y_min - lateral_margin, y_max + lateral_margin], clipped to the bar.

        Why widen by a quarter pitch (3.1 mm at 12.5 mm) by default: y comes from a 0.8 mm pixel
        grid and particles drift sideways a little in flight, so a particle whose edge comes
        within pitch/4 of a neighbouring valve also gets that valve; otherwise an edge of it
        would be hit by the fringe of one jet only and spun rather than deflected. A particle
        well inside one valve's span still uses only that valve, which keeps collateral
        (neighbouring accepts blown too) down. A starting value to tune in trials.
        """
        cfg = self._config
        pitch, lateral = cfg.valve_pitch_m, cfg.lateral_margin_m
        assert lateral is not None  # resolved by EjectorConfig.__post_init__
        low = (y_min_m - lateral - cfg.bar_offset_m) / pitch
        high = (y_max_m + lateral - cfg.bar_offset_m) / pitch
        # Overlap of [i, i+1) with [low, high] <=> i > low - 1 and i <= high. The tiny bias
        # makes values on a valve boundary land as written despite rounding ((0.0225 - 0.01) /
        # 0.0125 = 0.99999...); 1e-9 pitch is far below any mechanical tolerance.
        first = math.floor(low + _BOUNDARY_EPS)
        last = math.floor(high + _BOUNDARY_EPS)
        if last < 0 or first > cfg.valve_count - 1:
            return None
        return max(first, 0), min(last, cfg.valve_count - 1)

    # -- timing ---------------------------------------------------------------------------
    def belt_problem(self, belt: BeltSample | None, now_s: float) -> str | None:
        """Why this belt sample cannot be used for scheduling at ``now_s``, or None if it can."""
        cfg = self._config
        if belt is None:
            return "no belt sample yet"
        try:
            finite = all(
                math.isfinite(float(v)) for v in (belt.stamp_s, belt.encoder_m, belt.speed_m_s)
            )
        except (TypeError, ValueError):
            finite = False
        if not finite:
            return (
                f"belt sample not finite (stamp {belt.stamp_s!r}, encoder {belt.encoder_m!r}, "
                f"speed {belt.speed_m_s!r})"
            )
        age = now_s - belt.stamp_s
        if age > cfg.max_belt_age_s:
            return f"belt sample stale: {age:.3f} s old > {cfg.max_belt_age_s:.3f} s"
        if -age > cfg.max_belt_age_s:
            return (
                f"belt sample {-age:.3f} s in the future > {cfg.max_belt_age_s:.3f} s "
                "(clock mismatch)"
            )
        if belt.speed_m_s <= cfg.min_belt_speed_m_s:
            return f"belt stopped: speed {belt.speed_m_s:.4f} m/s <= {cfg.min_belt_speed_m_s} m/s"
        return None

    def time_at_encoder(self, belt: BeltSample, encoder_m: float) -> float:
        """Absolute time at which the belt reaches ``encoder_m``, extrapolated at constant
        speed from the belt sample."""
        return belt.stamp_s + (encoder_m - belt.encoder_m) / belt.speed_m_s

    def pulse_timing(self, target: EjectionTarget, belt: BeltSample) -> PulseTiming:
        """Electrical open/close times and deadline for ``target`` (no validity checks)."""
        cfg = self._config
        air_on = self.time_at_encoder(
            belt, target.leading_edge_encoder_m + cfg.scan_to_nozzle_m - cfg.margin_m
        )
        air_off = self.time_at_encoder(
            belt, target.trailing_edge_encoder_m + cfg.scan_to_nozzle_m + cfg.margin_m
        )
        assert cfg.close_response_time_s is not None  # resolved by EjectorConfig.__post_init__
        open_s = air_on - cfg.response_time_s
        close_s = air_off - cfg.close_response_time_s
        if close_s - open_s < cfg.min_open_s:
            # Widen about the centre: the pulse stays centred on the particle, so the extra air
            # falls equally on both gaps instead of all onto the next particle.
            centre = 0.5 * (open_s + close_s)
            open_s = centre - 0.5 * cfg.min_open_s
            close_s = open_s + cfg.min_open_s
        return PulseTiming(open_s=open_s, close_s=close_s, deadline_s=open_s - cfg.command_margin_s)

    # -- decision -------------------------------------------------------------------------
    def decide(self, target: EjectionTarget, belt: BeltSample | None, now_s: float) -> Decision:
        """Decide what to do with ``target`` at time ``now_s`` given the latest belt sample.

        Raises ValueError for a malformed target or a non-finite ``now_s`` (rejected input).
        Accepts need no timing, so they are returned whatever the belt state; every eject that
        cannot be timed safely becomes 'missed' with the reason.
        """
        target.validate()
        now_s = require_finite("decide.now_s", now_s)
        cfg = self._config
        latency_s = now_s - target.scan_complete_stamp_s
        is_ore = target.ore_probability >= cfg.probability_threshold
        relation = ">=" if is_ore else "<"
        verdict = (
            f"P(ore)={target.ore_probability:.3f} {relation} {cfg.probability_threshold:.3f}: "
            f"{'ore' if is_ore else 'waste'}"
        )
        problem = self.belt_problem(belt, now_s)
        timing = None if problem is not None or belt is None else self.pulse_timing(target, belt)
        deadline_s = math.nan if timing is None else timing.deadline_s

        if not self.is_target(target.ore_probability):
            return Decision("accept", None, latency_s, deadline_s, f"{verdict}, accepted")
        if problem is not None or timing is None:
            return Decision("missed", None, latency_s, deadline_s, f"{verdict}; {problem}")
        valves = self.valve_range(target.y_min_m, target.y_max_m)
        if valves is None:
            return Decision(
                "missed",
                None,
                latency_s,
                deadline_s,
                f"{verdict}; particle y [{target.y_min_m:.4f}, {target.y_max_m:.4f}] m is off "
                f"the valve bar [{cfg.bar_offset_m:.4f}, "
                f"{cfg.bar_offset_m + cfg.bar_width_m:.4f}] m",
            )
        if now_s > timing.deadline_s:
            return Decision(
                "missed",
                None,
                latency_s,
                deadline_s,
                f"{verdict}; past deadline by {1e3 * (now_s - timing.deadline_s):.2f} ms",
            )
        ahead = timing.open_s - now_s
        if ahead > cfg.max_schedule_ahead_s:
            return Decision(
                "missed",
                None,
                latency_s,
                deadline_s,
                f"{verdict}; open time {ahead:.2f} s ahead > {cfg.max_schedule_ahead_s:.2f} s "
                "(belt too slow to extrapolate)",
            )
        command = ValveCommand(
            particle_id=int(target.particle_id),
            valve_first=valves[0],
            valve_last=valves[1],
            open_s=timing.open_s,
            close_s=timing.close_s,
        )
        return Decision(
            "eject",
            command,
            latency_s,
            deadline_s,
            f"{verdict}, eject valves {valves[0]}..{valves[1]}, "
            f"slack {1e3 * (timing.deadline_s - now_s):.2f} ms",
        )

