"""`sorter bag golden`: small golden bags from the simulator, with their expected outcomes.

Why offline from the simulator cores rather than recording the live cell: a golden bag must be
regenerable on purpose and identical every time for the same code and cell (a live recording
depends on scheduling). The sim world core (belt, feeder, particles, line scan) is stepped on
the sim node's own grid; each raw strip is dark/flat corrected by the xrt core exactly as the
xrt_acquisition node does it, and each encoder latch goes through the belt core's speed
estimator exactly as the belt node does, so the bag holds what those nodes would publish on
``xrt/strip`` and ``belt/state``. Log times are the sim step at which each message became
available (zero transport latency).

Size: corrected strips are photon-noise limited and compress poorly (~1.3x with zstd), so the
golden cell is narrowed (:data:`GOLDEN_OVERRIDES`: 250 pixels, a 0.2 m belt and 16 valves; the
physics per pixel unchanged) and the run short (a few metres of belt). The expected outcomes
come from the offline pipeline (sorter.bag.regression) and are stored beside the bag as JSON,
with the parameters the replayed nodes must be given.

Layout of a golden folder::

    <name>/bag/metadata.yaml, bag_0.mcap   the bag
    <name>/params.yaml                     the replayed nodes' parameters (ROS params file)
    <name>/expected.json                   per-particle outcomes, summary, tolerances

The parameters are stored rather than re-derived from config/cell.yaml at test time, so that a
golden checks the *code* against a frozen input: editing the cell description (a new threshold
curve, a new detector model) does not invalidate the goldens; changing what a stage computes
does.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sorter.bag.definitions import message_definition, type_hash
from sorter.bag.errors import BagError
from sorter.bag.regression import (
    BELT_TOPIC,
    OFFLINE,
    ONLINE,
    STRIP_TOPIC,
    offline_outcomes,
    pipeline_parameters,
    summarize,
)
from sorter.bag.writer import BagWriter, TopicSpec, WriterOptions

REPO = Path(__file__).resolve().parents[4]
GOLDEN_DIR = REPO / "tests" / "golden"
# The detector, belt and valve bar narrowed to half the belt (250 px x 0.8 mm = 0.2 m =
# 16 valves x 12.5 mm): half the bytes per metre of belt, same physics per pixel. Three times
# the feed (open loop: still under 2 % belt occupancy) so a short bag holds enough particles,
# some of them touching.
GOLDEN_OVERRIDES: dict[str, Any] = {
    "detector.pixels": 250,
    "belt.width_m": 0.2,
    "valves.count": 16,
    "feeder.feed_rate_kg_h": 450.0,
}
REFERENCE_LINES = 256         # the xrt node's default dark/flat averaging
SPEED_WINDOW_S = 0.05         # the belt node's default speed_window_s
START_TIME_S = 1_700_000_000.0
PARAMS_FILE = "params.yaml"


@dataclass
class GoldenSpec:
    """One golden bag: which cell, how much belt."""

    name: str = "xrt-strips"
    overrides: dict[str, Any] = field(default_factory=lambda: dict(GOLDEN_OVERRIDES))
    strips: int = 44              # strips recorded after the warm-up
    tail_s: float = 0.6           # belt state after the last strip: sim-time timers fire
    seed: int | None = None       # default: the cell's feed.seed
    start_time_s: float = START_TIME_S


def _qos(profile: Any) -> tuple:
    """The profile as a recorder would see it offered (rmw resolves the system-default
    liveliness to automatic)."""
    from sorter.bag.recorder import qos_record

    record = qos_record(profile)
    if record.liveliness == "system_default":
        record = dataclasses.replace(record, liveliness="automatic")
    return (record,)


def write_golden_bag(cell: dict, bag_dir: Path, spec: GoldenSpec) -> dict[str, int]:
    """Simulate and write the bag; returns message counts per topic."""
    import numpy as np
    from rclpy.serialization import serialize_message

    from sorter.belt.adapters import belt_state_msg
    from sorter.belt.core import EncoderSpeedEstimator
    from sorter.common import qos
    from sorter.sim_world.line_scanner import ReferenceKind
    from sorter.sim_world.world import world_from_cell
    from sorter.xrt_acquisition.adapters import strip_to_msg
    from sorter.xrt_acquisition.core import FlatFieldCorrector, RawStrip, StripValidator

    det, belt, sim = cell["detector"], cell["belt"], cell["sim"]
    world = world_from_cell(cell, spec.seed, start_time_s=spec.start_time_s)

    def reference(kind: ReferenceKind) -> tuple[np.ndarray, np.ndarray]:
        low, high = world.detector.reference(kind, REFERENCE_LINES)
        return (np.asarray(low, np.float64).mean(axis=0),
                np.asarray(high, np.float64).mean(axis=0))

    dark, flat = reference(ReferenceKind.DARK), reference(ReferenceKind.FLAT)
    corrector = FlatFieldCorrector(dark[0], dark[1], flat[0], flat[1])
    validator = StripValidator(int(det["pixels"]), int(det["lines_per_strip"]))
    estimator = EncoderSpeedEstimator(SPEED_WINDOW_S)
    speed = float(belt["speed_m_s"])
    drive = min(1.0, cell["feeder"]["feed_rate_kg_h"] / cell["feeder"]["max_feed_rate_kg_h"])
    world.set_belt_speed(speed)
    world.render_strips = False  # warm-up (not recorded): the belt ramps to speed, no feed

    writer = BagWriter(bag_dir, WriterOptions(compression="zstd"))
    for topic, type_name, profile in ((STRIP_TOPIC, "sorter_interfaces/msg/XrtStrip",
                                       qos.STRIPS),
                                      (BELT_TOPIC, "sorter_interfaces/msg/BeltState",
                                       qos.STATE)):
        writer.add_topic(TopicSpec(topic, type_name, message_definition(type_name),
                                   _qos(profile), type_hash(type_name)))

    # Times on integer grids (no accumulated float error): step k at start + k * step.
    step_ns = round(float(sim["step_s"]) * 1e9)
    start_ns = round(spec.start_time_s * 1e9)
    latch_period = 1.0 / float(sim["encoder_rate_hz"])
    k, latch_index, strips, tail_end = 0, 1, 0, None
    recording = False
    t = spec.start_time_s
    while tail_end is None or t < tail_end:
        k += 1
        log_ns = start_ns + k * step_ns
        t = log_ns * 1e-9
        world.step(t)
        if not recording and world.speed_m_s >= speed:
            # Recording starts with the feeder: the bag opens on empty belt for as long as the
            # first particle takes to reach the scan line (tray lag + spawn distance, ~0.5 s).
            # A replay loses nothing that matters while the nodes' endpoints finish matching.
            recording, world.render_strips = True, True
            world.set_feeder_drive(drive)
        while spec.start_time_s + latch_index * latch_period <= t:
            sample = world.encoder_sample(spec.start_time_s + latch_index * latch_period)
            latch_index += 1
            estimate = estimator.update(sample.stamp_s, sample.position_m)
            if not recording:
                continue
            msg = belt_state_msg(sample.stamp_s, sample.position_m, estimate, speed)
            writer.write(BELT_TOPIC, log_ns, serialize_message(msg))
        for rendered in world.pop_strips():
            if tail_end is not None:
                continue
            raw = RawStrip(rendered.index, rendered.stamp_s, rendered.encoder_m,
                           rendered.line_pitch_m, rendered.line_period_s, rendered.low,
                           rendered.high)
            validator.check(raw)
            low, high = corrector.correct(raw)
            msg = strip_to_msg(raw, low, high, float(det["pixel_pitch_m"]), corrected=True)
            writer.write(STRIP_TOPIC, log_ns, serialize_message(msg))
            strips += 1
            if strips >= spec.strips:
                tail_end = t + spec.tail_s
                world.render_strips = False
    writer.set_custom_data("sorter.golden", json.dumps(
        {"generator": "sorter bag golden", "overrides": spec.overrides,
         "seed": spec.seed, "strips": spec.strips}, sort_keys=True))
    writer.close()
    return dict(writer.counts)


def generate(spec: GoldenSpec, out_dir: Path = GOLDEN_DIR, force: bool = False,
             log: Any = print) -> Path:
    """Write <out_dir>/<name>/{bag, params.yaml, expected.json}; returns the folder."""
    from sorter.cell.description import load_cell
    from sorter.cell.parameters import write_params_file

    folder = Path(out_dir) / spec.name
    if folder.exists():
        if not force:
            raise BagError(f"{folder} exists: pass --force to regenerate it")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    cell = load_cell(None, spec.overrides)
    counts = write_golden_bag(cell, folder / "bag", spec)
    params = pipeline_parameters(cell)
    write_params_file(params, folder / PARAMS_FILE)
    outcomes = offline_outcomes(params, folder / "bag")
    expected = {
        "format": 1,
        "generated_by": "sorter bag golden",
        "bag": "bag",
        "params": PARAMS_FILE,
        "cell": cell["cell"]["name"],
        "cell_overrides": spec.overrides,
        "messages": counts,
        "summary": summarize(outcomes),
        "tolerances": {"offline": OFFLINE.to_dict(), "online": ONLINE.to_dict()},
        "particles": outcomes,
    }
    (folder / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    log(f"golden {folder}: {counts}, {expected['summary']}, {size / 1e6:.2f} MB on disk")
    return folder


def load_expected(folder: str | Path) -> tuple[dict, dict[str, dict[str, Any]], Path]:
    """(expected.json, the replayed nodes' parameters, bag path) of a golden folder."""
    import yaml

    folder = Path(folder)
    try:
        expected = json.loads((folder / "expected.json").read_text())
        body = yaml.safe_load((folder / expected.get("params", PARAMS_FILE)).read_text())
        params = {name: dict(v["ros__parameters"]) for name, v in body.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError) as err:
        raise BagError(f"{folder} is not a golden folder ({type(err).__name__}: {err})") from None
    return expected, params, folder / expected.get("bag", "bag")
