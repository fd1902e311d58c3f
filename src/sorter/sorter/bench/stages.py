"""Part 1 of the bench: the pipeline the nodes run, stage by stage, timed per strip.

Nothing here re-implements a stage: each one is the node's own callback body, built the way
the node builds it (typed parameters from the cell, the stage's builder) and fed the message
the node would receive. A node stage's core is timed inside it by a transparent proxy, which
splits the stage into the core's work and the message handling around it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from rclpy.serialization import deserialize_message, serialize_message

from sorter.belt.adapters import belt_state_msg
from sorter.bench.strips import Rendered, flat_field
from sorter.bench.timing import CLOCK
from sorter.cell.parameters import typed_parameters
from sorter.classification.adapters import classifier_from_params, classify_array
from sorter.ejector.adapters import (
    belt_sample_from_msg,
    scheduler_from_params,
    target_from_particle,
)
from sorter.segmentation.adapters import StripStream
from sorter.size_estimation.adapters import estimator_from_params, measure_array
from sorter.xrt_acquisition.adapters import raw_strip_from_msg, strip_to_msg
from sorter.xrt_acquisition.core import StripValidator
from sorter_interfaces.msg import ParticleArray, XrtStrip

# (stage, kind), in pipeline order; together they are the pipeline. kind "core": processing,
# "msg": conversion to/from ROS messages, "node": a node's whole callback (core + messages).
STAGES: tuple[tuple[str, str], ...] = (
    ("xrt: raw_strip_from_msg (sim driver)", "msg"),
    ("xrt: validate + flat-field correct", "core"),
    ("xrt: strip_to_msg", "msg"),
    ("seg: StripStream.push", "node"),
    ("cls: classify_array", "node"),
    ("size: measure_array", "node"),
    ("ejector: adapters (belt state, target)", "msg"),
    ("ejector: EjectionScheduler.decide", "core"),
    ("rclpy serialize+deserialize (5 hops)", "msg"),
)
# The core inside each "node" stage: (row, stage it is part of). Not added to the totals twice.
CORES_INSIDE: tuple[tuple[str, str], ...] = (
    ("  of which StripSegmenter.push", "seg: StripStream.push"),
    ("  of which DualEnergyClassifier.classify", "cls: classify_array"),
    ("  of which SizeEstimator.measure", "size: measure_array"),
)
(RAW, CORRECT, TO_MSG, SEG, CLS, SIZE, EJ_MSG, DECIDE, WIRE) = (name for name, _ in STAGES)
(SEG_CORE, CLS_CORE, SIZE_CORE) = (name for name, _ in CORES_INSIDE)


class Timed:
    """Stands in for a core object: calls of `method` are timed into `spent[row]`, everything
    else is the object's own."""

    def __init__(self, target: Any, method: str, spent: dict[str, float], row: str) -> None:
        self._target, self._spent, self._row = target, spent, row
        inner: Callable[..., Any] = getattr(target, method)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = CLOCK()
            try:
                return inner(*args, **kwargs)
            finally:
                self._spent[self._row] += CLOCK() - started

        setattr(self, method, timed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class Pipeline:
    """The nodes' stages, built from the parameters the nodes are given."""

    def __init__(self, cell: dict, data: Rendered) -> None:
        params = typed_parameters(cell)
        x = params["xrt_acquisition"]
        self.corrector = flat_field(data.world, x.reference_lines)
        self.validator = StripValidator(x.pixels, x.lines_per_strip)
        self.pixel_pitch_m = x.pixel_pitch_m
        self.spent: dict[str, float] = defaultdict(float)
        self.stream = StripStream(params["segmentation"])
        self.classifier: Any = Timed(classifier_from_params(params["classification"]), "classify",
                                self.spent, CLS_CORE)
        self.estimator: Any = Timed(estimator_from_params(params["size_estimation"]), "measure",
                               self.spent, SIZE_CORE)
        self.scheduler = scheduler_from_params(params["ejector"])
        self.speed_m_s = float(cell["belt"]["speed_m_s"])
        self.belt: Any = None
        self.decisions: dict[str, int] = defaultdict(int)
        self.rejected = 0
        self.particles = 0
        self.warmup_particles = 0   # of `particles`, those from unmeasured warm-up strips

    def _reject(self, _why: str) -> None:
        self.rejected += 1

    def _time_segmenter(self) -> None:
        """The stream keeps its segmenter while the pixel pitch stays: put the timing proxy in
        its place once it exists (after the first strip, a warm-up one)."""
        segmenter = self.stream.segmenter
        if segmenter is not None and not isinstance(segmenter, Timed):
            proxy = Timed(segmenter, "push", self.spent, SEG_CORE)
            setattr(self.stream, "segmenter", proxy)  # noqa: B010 - a stand-in, not its type

    def _wire(self, msg: Any, kind: type) -> Any:
        """One hop between processes: what the next node receives."""
        started = CLOCK()
        out = deserialize_message(serialize_message(msg), kind)
        self.spent[WIRE] += CLOCK() - started
        return out

    def run(self, raw_msg: Any) -> dict[str, float]:
        """One strip through every stage, as sim_world publishes it; returns CPU s per row."""
        clock, spent = CLOCK, self.spent
        spent.clear()
        self._time_segmenter()

        # xrt_acquisition: its sim driver's conversion, then on_raw_strip
        raw_msg = self._wire(raw_msg, XrtStrip)
        t0 = clock()
        raw = raw_strip_from_msg(raw_msg)
        t1 = clock()
        self.validator.check(raw)
        low16, high16 = self.corrector.correct(raw)
        t2 = clock()
        msg = strip_to_msg(raw, low16, high16, self.pixel_pitch_m, corrected=True)
        t3 = clock()
        spent[RAW] += t1 - t0
        spent[CORRECT] += t2 - t1
        spent[TO_MSG] += t3 - t2

        # segmentation.on_strip
        msg = self._wire(msg, XrtStrip)
        t0 = clock()
        segmented, strip, _result = self.stream.push(msg)
        spent[SEG] += clock() - t0

        # classification.on_particles, size_estimation.on_particles
        segmented = self._wire(segmented, ParticleArray)
        t0 = clock()
        classified = classify_array(segmented, self.classifier, self._reject)
        spent[CLS] += clock() - t0
        classified = self._wire(classified, ParticleArray)
        t0 = clock()
        measured = measure_array(classified, self.estimator, self._reject)
        spent[SIZE] += clock() - t0
        measured = self._wire(measured, ParticleArray)

        # ejector: a belt state latched as the strip's last line is read out, then decide
        lines = strip.high.shape[0]
        now = strip.stamp_s + lines * strip.line_period_s
        state = belt_state_msg(now, strip.encoder_m + lines * strip.line_pitch_m,
                               self.speed_m_s, self.speed_m_s)
        t0 = clock()
        self.belt = belt_sample_from_msg(state, self.belt)
        spent[EJ_MSG] += clock() - t0
        for particle in measured.particles:
            t0 = clock()
            target = target_from_particle(particle)
            t1 = clock()
            decision = self.scheduler.decide(target, self.belt, now)
            t2 = clock()
            spent[EJ_MSG] += t1 - t0
            spent[DECIDE] += t2 - t1
            self.decisions[decision.kind] += 1
        self.particles += len(measured.particles)
        return dict(spent)


def time_pipeline(cell: dict, data: Rendered, warm: int
                  ) -> tuple[dict[str, list[float]], list[float], Pipeline]:
    """CPU seconds per row (STAGES and CORES_INSIDE) and wall seconds per strip; the first
    `warm` strips go through unmeasured (imports, allocator and cache warm-up), keeping the
    segmenter's stream continuous."""
    pipeline = Pipeline(cell, data)
    rows = [name for name, _ in STAGES] + [name for name, _ in CORES_INSIDE]
    per_row: dict[str, list[float]] = {name: [] for name in rows}
    wall: list[float] = []
    for i, raw_msg in enumerate(data.messages):
        started = time.perf_counter()
        spent = pipeline.run(raw_msg)
        elapsed = time.perf_counter() - started
        if i < warm:
            pipeline.warmup_particles = pipeline.particles
            continue
        wall.append(elapsed)
        for name in per_row:
            per_row[name].append(spent.get(name, 0.0))
    return per_row, wall, pipeline
