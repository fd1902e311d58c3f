"""Bag-replay regression: per-particle outcomes, an offline run of the cores, and the diff.

Two ways to get outcomes from a golden bag (XRT strips + belt state):

* **offline** (:class:`OfflinePipeline`): the bag's messages in log-time order go straight
  through the stage cores with the same adapters and the same glue the nodes use
  (segmentation -> classification -> size_estimation -> ejector), each stage's output
  serialized and deserialized as the middleware would (float32 fields are rounded exactly as
  on the wire). The ejector decides at "now" = the strip's log time, with the latest belt
  state logged before it. No middleware, no timing: the result is exactly reproducible, and
  compared with zero tolerance.
* **online** (the integration test): the bag is played into the real node processes, which run
  on the bag's time (``/clock``, ``use_sim_time``); :func:`online_outcomes` turns what they
  published into the same records. Timing fields get a stated tolerance (see
  :data:`ONLINE`), decisions none.

A particle's decision is 'eject' (with valves and pulse times), 'accept' (policy lets it pass)
or 'missed' (should be blown but could not be, safely). Online, accepts and misses publish no
message: a particle the policy targets without a command is a miss.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sorter import topics
from sorter.bag.errors import BagError
from sorter.bag.reader import BagReader

STRIP_TOPIC = "/" + topics.XRT_STRIP.name  # bags hold absolute names
BELT_TOPIC = "/" + topics.BELT_STATE.name

# Fields compared exactly in both modes (identity, flags, the decision itself).
PARTICLE_INTS = ("strip_index", "mask_height", "mask_width")
PARTICLE_FLAGS = ("touching", "forced_out", "truncated", "is_ore")
DECISION_FIELDS = ("decision", "valve_first", "valve_last")
EXACT_FIELDS = PARTICLE_INTS + PARTICLE_FLAGS + DECISION_FIELDS
# Measurements: deterministic functions of the recorded bytes.
MEASURED_FIELDS = (
    "leading_edge_encoder_m", "trailing_edge_encoder_m", "centroid_encoder_m", "y_min_m",
    "y_max_m", "centroid_y_m", "scan_complete_s", "ratio_r", "mean_attenuation_high",
    "ore_probability", "area_m2", "equivalent_diameter_m", "feret_max_m", "feret_min_m",
    "rect_length_m", "rect_width_m", "areal_density_kg_m2", "mass_kg", "volume_m3",
)
# Pulse times: depend on which belt sample the ejector held when it decided.
TIMING_FIELDS = ("open_s", "close_s")
# Kept for the reader of the JSON, never compared (scan -> decision latency).
INFO_FIELDS = ("latency_s",)


@dataclass(frozen=True)
class Tolerances:
    """Allowed |golden - now| per field group: a changed decision or flag always fails."""

    measured_rel: float
    measured_abs: float
    timing_abs_s: float

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


OFFLINE = Tolerances(measured_rel=0.0, measured_abs=0.0, timing_abs_s=0.0)
# Online, the nodes run the same code on the same bytes, so measurements must agree to
# rounding; pulse times may use a belt sample a few ms newer than the offline run's (the
# ejector keeps the latest): at constant speed that moves them by encoder quantisation and
# speed-estimate noise, far below 2 ms (4 mm of belt at 2 m/s, the ejector's air margin).
ONLINE = Tolerances(measured_rel=1e-9, measured_abs=1e-12, timing_abs_s=0.002)


@dataclass(frozen=True)
class Difference:
    particle: int | None
    field: str
    golden: Any
    now: Any

    def text(self) -> str:
        who = "run" if self.particle is None else f"particle {self.particle}"
        return f"{who}: {self.field}: golden {self.golden!r} vs now {self.now!r}"


# -- records -----------------------------------------------------------------------------------
def particle_record(msg: Any) -> dict[str, Any]:
    """The compared fields of a measured Particle message (decision fields left empty)."""
    from sorter.common.timeutil import from_time_msg

    record: dict[str, Any] = {"id": int(msg.id)}
    record.update({name: int(getattr(msg, name)) for name in PARTICLE_INTS})
    record.update({name: bool(getattr(msg, name)) for name in PARTICLE_FLAGS})
    for name in MEASURED_FIELDS:
        record[name] = (from_time_msg(msg.scan_complete_stamp) if name == "scan_complete_s"
                        else float(getattr(msg, name)))
    record.update(decision=None, valve_first=None, valve_last=None, open_s=None, close_s=None,
                  latency_s=None)
    return record


# -- offline ----------------------------------------------------------------------------------
PIPELINE_NODES = ("segmentation", "classification", "size_estimation", "ejector")


def pipeline_parameters(cell: dict) -> dict[str, dict[str, Any]]:
    """The replayed nodes' parameters, as the cell description yields them."""
    from sorter.cell.parameters import node_parameters

    params = node_parameters(cell)
    return {name: params[name] for name in PIPELINE_NODES}


class OfflinePipeline:
    """The four stages as the nodes run them, minus the middleware. `params` are the nodes'
    parameters ({node name: {parameter: value}}), as in a ROS params file."""

    def __init__(self, params: dict[str, dict[str, Any]]) -> None:
        from sorter.classification.adapters import classifier_from_params
        from sorter.ejector.adapters import scheduler_from_params
        from sorter.segmentation.adapters import StripStream
        from sorter.size_estimation.adapters import estimator_from_params

        missing = [n for n in PIPELINE_NODES if n not in params]
        if missing:
            raise BagError(f"parameters for {', '.join(missing)} are missing")
        from sorter.classification.parameters import ClassificationParameters
        from sorter.ejector.parameters import EjectorParameters
        from sorter.segmentation.parameters import SegmentationParameters
        from sorter.size_estimation.parameters import SizeEstimationParameters

        # The nodes' own typed parameters and builders: a set the nodes would refuse fails
        # here with the same reason.
        self.seg_params = SegmentationParameters.from_values(params["segmentation"])
        self.classifier = classifier_from_params(
            ClassificationParameters.from_values(params["classification"]))
        self.sizer = estimator_from_params(
            SizeEstimationParameters.from_values(params["size_estimation"]))
        self.scheduler = scheduler_from_params(EjectorParameters.from_values(params["ejector"]))
        self.stream = StripStream(self.seg_params)
        self.belt: Any = None
        self.rejected: dict[str, int] = {}

    # each method mirrors the node callback of the same stage
    def _segment(self, msg: Any) -> Any:
        return self.stream.push(msg)[0]

    def _classify(self, msg: Any) -> Any:
        from sorter.classification.adapters import classify_array

        return classify_array(msg, self.classifier, lambda _why: self._reject("classification"))

    def _measure(self, msg: Any) -> Any:
        from sorter.size_estimation.adapters import measure_array

        return measure_array(msg, self.sizer, lambda _why: self._reject("size_estimation"))

    def _on_belt(self, msg: Any) -> None:
        from sorter.ejector.adapters import belt_sample_from_msg

        try:
            self.belt = belt_sample_from_msg(msg, self.belt)
        except ValueError:
            self._reject("belt_state")

    def _decide(self, particle: Any, now_s: float) -> dict[str, Any] | None:
        from sorter.ejector.adapters import target_from_particle

        try:
            decision = self.scheduler.decide(target_from_particle(particle), self.belt, now_s)
        except ValueError:  # the node rejects the particle and goes on with the rest
            self._reject("particle")
            return None
        record = particle_record(particle)
        record["decision"] = decision.kind
        record["latency_s"] = decision.latency_s
        if decision.command is not None:
            c = decision.command
            record.update(valve_first=c.valve_first, valve_last=c.valve_last,
                          open_s=c.open_s, close_s=c.close_s)
        return record

    def _reject(self, kind: str) -> None:
        self.rejected[kind] = self.rejected.get(kind, 0) + 1

    def run(self, bag: str | Path) -> list[dict[str, Any]]:
        """Outcomes of every particle the bag's strips produce, in decision order."""
        from rclpy.serialization import deserialize_message, serialize_message

        from sorter_interfaces.msg import BeltState, ParticleArray, XrtStrip

        def wire(msg: Any) -> Any:  # what the next node receives
            return deserialize_message(serialize_message(msg), ParticleArray)

        reader = BagReader(bag)
        for topic in (STRIP_TOPIC, BELT_TOPIC):
            reader.select([topic])  # BagError naming the topic if the bag lacks it
        records = []
        for message in reader.messages([STRIP_TOPIC, BELT_TOPIC]):
            if message.topic == BELT_TOPIC:
                self._on_belt(deserialize_message(message.data, BeltState))
                continue
            strip = deserialize_message(message.data, XrtStrip)
            try:
                segmented = self._segment(strip)
            except ValueError:
                self._reject("segmentation")
                continue
            measured = wire(self._measure(wire(self._classify(wire(segmented)))))
            now_s = message.log_time_ns * 1e-9
            for particle in measured.particles:
                record = self._decide(particle, now_s)
                if record is not None:
                    records.append(record)
        return records


def offline_outcomes(params: dict[str, dict[str, Any]], bag: str | Path
                     ) -> list[dict[str, Any]]:
    return OfflinePipeline(params).run(bag)


# -- online -----------------------------------------------------------------------------------
def online_outcomes(measured: Iterable[Any], commands: Iterable[Any],
                    ejector_params: dict[str, Any]) -> list[dict[str, Any]]:
    """Outcomes from what the nodes published: particles/measured arrays and
    ejector/commands. A targeted particle without a command was missed."""
    from sorter.ejector.adapters import command_from_eject_msg, scheduler_from_params
    from sorter.ejector.parameters import EjectorParameters

    scheduler = scheduler_from_params(EjectorParameters.from_values(ejector_params))
    by_particle = {int(c.particle_id): c for c in commands}
    records = []
    for array in measured:
        for particle in array.particles:
            record = particle_record(particle)
            msg = by_particle.get(record["id"])
            if msg is not None:
                pulse = command_from_eject_msg(msg)
                record.update(decision="eject", valve_first=pulse.valve_first,
                              valve_last=pulse.valve_last, open_s=pulse.open_s,
                              close_s=pulse.close_s,
                              latency_s=float(msg.scan_to_command_latency_s))
            else:
                record["decision"] = ("missed" if scheduler.is_target(particle.ore_probability)
                                      else "accept")
            records.append(record)
    return records


# -- comparison -------------------------------------------------------------------------------
def _close(golden: Any, now: Any, rel: float, abs_: float) -> bool:
    if golden is None or now is None:
        return golden is None and now is None
    if rel == 0.0 and abs_ == 0.0:
        return golden == now
    return math.isclose(float(golden), float(now), rel_tol=rel, abs_tol=abs_)


def compare(golden: list[dict[str, Any]], now: list[dict[str, Any]], tol: Tolerances
            ) -> list[Difference]:
    """Every difference between two outcome lists, particle by particle (matched by id)."""
    diffs: list[Difference] = []
    want = {p["id"]: p for p in golden}
    got = {p["id"]: p for p in now}
    if len(want) != len(golden) or len(got) != len(now):
        diffs.append(Difference(None, "duplicate particle ids", len(golden) - len(want),
                                len(now) - len(got)))
    for pid in sorted(set(want) - set(got)):
        diffs.append(Difference(pid, "particle", "present", "missing"))
    for pid in sorted(set(got) - set(want)):
        diffs.append(Difference(pid, "particle", "absent", "new"))
    for pid in sorted(set(want) & set(got)):
        g, n = want[pid], got[pid]
        for name in EXACT_FIELDS:
            if g.get(name) != n.get(name):
                diffs.append(Difference(pid, name, g.get(name), n.get(name)))
        for name in MEASURED_FIELDS:
            if not _close(g.get(name), n.get(name), tol.measured_rel, tol.measured_abs):
                diffs.append(Difference(pid, name, g.get(name), n.get(name)))
        for name in TIMING_FIELDS:
            if not _close(g.get(name), n.get(name), 0.0, tol.timing_abs_s):
                diffs.append(Difference(pid, name, g.get(name), n.get(name)))
    return diffs


def summarize(outcomes: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"particles": len(outcomes), "eject": 0, "accept": 0, "missed": 0}
    for p in outcomes:
        counts[p["decision"]] = counts.get(p["decision"], 0) + 1
    return counts


def format_differences(diffs: list[Difference], limit: int = 40) -> str:
    """A readable report: one line per difference (particle, field, golden vs now)."""
    if not diffs:
        return "no differences"
    decisions = [d for d in diffs if d.field in ("decision", "particle")]
    lines = [f"{len(diffs)} difference(s), {len(decisions)} in decisions or particles:"]
    ordered = decisions + [d for d in diffs if d not in decisions]
    lines += ["  " + d.text() for d in ordered[:limit]]
    if len(diffs) > limit:
        lines.append(f"  ... and {len(diffs) - limit} more")
    return "\n".join(lines)


def max_timing_error(golden: list[dict[str, Any]], now: list[dict[str, Any]]) -> float:
    """Largest |golden - now| over the pulse times of particles ejected in both."""
    want = {p["id"]: p for p in golden}
    worst = 0.0
    for p in now:
        g = want.get(p["id"])
        if g is None:
            continue
        for name in TIMING_FIELDS:
            if g.get(name) is not None and p.get(name) is not None:
                worst = max(worst, abs(g[name] - p[name]))
    return worst

