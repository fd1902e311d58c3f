"""`sim_world`: the simulator process (as Gazebo would be). It owns the world and bridges it
over topics, the seams the sim drivers of the other nodes use (listed, with the truth stream
only the scorer reads, in sorter.nodes and docs/nodes.md).

The world runs in real time on the node's clock: every callback first steps the world to
"now", so a command applies from the moment it arrives and a valve command's lateness is
judged against its arrival time. The encoder message carries position only (speed_m_s = 0):
the belt node estimates speed from positions, as it must with a real encoder.
"""

from __future__ import annotations

import math
import traceback
from typing import Any

from rclpy.node import Node
from std_msgs.msg import Empty, Float64

from sorter import topics
from sorter.belt.adapters import belt_state_msg
from sorter.cell.description import default_cell_path, load_cell
from sorter.common import qos
from sorter.common.diagnostics import NodeDiagnostics
from sorter.common.node_utils import guarded, run_node
from sorter.common.ros_parameters import bind_parameters
from sorter.common.timeutil import to_time_msg
from sorter.ejector.adapters import command_from_eject_msg
from sorter.sim_world.line_scanner import ReferenceKind
from sorter.sim_world.nozzle_line import CommandStatus
from sorter.sim_world.parameters import SimWorldParameters
from sorter.sim_world.strip_render import RenderedStrip
from sorter.sim_world.world import World, world_from_cell
from sorter.xrt_acquisition.adapters import strip_to_msg
from sorter.xrt_acquisition.core import RawStrip
from sorter_interfaces.msg import (
    BeltState,
    EjectCommand,
    ParticleOutcome,
    ParticleOutcomeArray,
    XrtStrip,
)
from sorter_interfaces.srv import AcquireReference

FRAME = "belt"
OUTCOME_RATE_HZ = 2.0
MAX_REFERENCE_LINES = 65535
MAX_LATCH_BACKLOG_S = 0.5    # older unpublished encoder latches are skipped, not flooded
# Bins are settled this long after a crossing: valve commands that arrived in time but were
# processed late by this (busy) process still count; the truth stream lags by as much.
BIN_DECISION_LAG_S = 0.3


def _default_cell() -> str:
    """The parameter's default; empty (refused at start) where no cell description is found."""
    try:
        return str(default_cell_path())
    except LookupError:  # neither the repository's config/ nor an installed share/sorter
        return ""


class SimWorldNode(Node):
    """Thin bridge: parameters, QoS, conversions; all behaviour lives in sorter.sim_world.world."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(SimWorldParameters.NODE, **kwargs)
        self.params = bind_parameters(self, SimWorldParameters)
        cell_file, seed = self.params.cell_file or _default_cell(), self.params.seed
        if not cell_file:
            raise ValueError("no cell_file given and no config/cell.yaml found")
        self.cell = load_cell(cell_file)  # CellDescriptionError (a ValueError) says what is wrong
        sim = self.cell["sim"]
        step_s, encoder_rate = float(sim["step_s"]), float(sim["encoder_rate_hz"])
        if not (0.0 < step_s <= 0.1 and 0.0 < encoder_rate <= 10_000.0):
            raise ValueError(f"sim.step_s {step_s} or sim.encoder_rate_hz {encoder_rate} "
                             "out of range")
        self.max_speed = float(self.cell["belt"]["max_speed_m_s"])
        self.world: World = world_from_cell(self.cell, None if seed < 0 else int(seed),
                                            start_time_s=self._now(),
                                            bin_decision_lag_s=BIN_DECISION_LAG_S)
        self.diag = NodeDiagnostics(self, "sim_world")

        self.pub_encoder = self.create_publisher(BeltState, topics.SIM_BELT_ENCODER.name, qos.STATE)
        self.pub_strip = self.create_publisher(XrtStrip, topics.SIM_XRT_RAW.name, qos.STRIPS)
        self.pub_outcomes = self.create_publisher(ParticleOutcomeArray,
                                                  topics.SIM_TRUTH_OUTCOMES.name, qos.PARTICLES)
        self.create_subscription(Float64, topics.SIM_BELT_SPEED_COMMAND.name,
                                 self._on_speed, qos.LATCHED)
        self.create_subscription(Float64, topics.SIM_FEEDER_DRIVE.name, self._on_drive,
                                 qos.LATCHED)
        self.create_subscription(EjectCommand, topics.SIM_VALVES_COMMAND.name, self._on_valve,
                                 qos.COMMANDS)
        self.create_subscription(Empty, topics.SIM_VALVES_CANCEL.name,
                                 self._on_cancel, qos.COMMANDS)
        self.create_service(AcquireReference, topics.SIM_XRT_ACQUIRE_REFERENCE.name,
                            self._on_reference)
        # One timer drives everything at step_s: encoder latches fall on their own exact
        # grid (start + k / rate) and are published from the step that passes them, so the
        # stamps are regular even when a strip render delays a tick, and the executor wakes
        # 250 times a second instead of 450.
        self._latch_period = 1.0 / encoder_rate
        self._latch_origin = self.world.time_s
        self._latch_index = 1
        self.encoder_skipped = 0
        self.create_timer(step_s, self._on_step)
        self.create_timer(1.0 / OUTCOME_RATE_HZ, self._on_outcomes)
        self.get_logger().info(
            f"world from {cell_file} (seed {seed}), step {step_s * 1e3:.1f} ms, "
            f"encoder {encoder_rate:.0f} Hz")

    # -- helpers ----------------------------------------------------------------------------
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _advance(self) -> float:
        """Step the world to now and publish the strips that became due."""
        now = self._now()
        self.world.step(now)
        for strip in self.world.pop_strips():
            self.pub_strip.publish(self._strip_msg(strip))
        return now

    def _strip_msg(self, strip: RenderedStrip) -> XrtStrip:
        return strip_to_msg(strip, strip.low, strip.high,
                            self.world.config.detector.pixel_pitch_m, corrected=False,
                            frame_ids=(FRAME, FRAME))

    @staticmethod
    def _setpoint(value: float, low: float, high: float, name: str) -> float:
        """A command outside its range is refused (ValueError: counted by `guarded`)."""
        value = float(value)
        if not (math.isfinite(value) and low <= value <= high):
            raise ValueError(f"{name} {value} outside {low}..{high}: ignored")
        return value

    def _publish_diagnostics_values(self) -> None:
        counters = self.world.counters
        for key in ("spawned", "strips", "outcomes", "valve_commands", "late_valve_commands",
                    "invalid_valve_commands", "clock_regressions"):
            self.diag.set_value(key, getattr(counters, key))
        self.diag.set_value("encoder_latches_skipped", self.encoder_skipped)

    # -- callbacks --------------------------------------------------------------------------
    @guarded("step")
    def _on_step(self) -> None:
        now = self._advance()
        next_latch = self._latch_origin + self._latch_index * self._latch_period
        if now - next_latch > MAX_LATCH_BACKLOG_S:  # stalled process: do not flood
            behind = int((now - next_latch) / self._latch_period)
            self.encoder_skipped += behind
            self._latch_index += behind
            next_latch = self._latch_origin + self._latch_index * self._latch_period
        while next_latch <= now:
            self._publish_encoder(next_latch)
            self._latch_index += 1
            next_latch = self._latch_origin + self._latch_index * self._latch_period

    @guarded("belt_speed_command")
    def _on_speed(self, msg: Float64) -> None:
        speed = self._setpoint(msg.data, 0.0, self.max_speed, "belt speed command [m/s]")
        self._advance()
        self.world.set_belt_speed(speed)

    @guarded("feeder_drive")
    def _on_drive(self, msg: Float64) -> None:
        drive = self._setpoint(msg.data, 0.0, 1.0, "feeder drive")
        self._advance()
        self.world.set_feeder_drive(drive)

    @guarded("valve_command")
    def _on_valve(self, msg: EjectCommand, info: dict[str, Any]) -> None:
        """A real valve controller judges a command by when it arrived, not by when this
        process got round to it: use the middleware's reception stamp (system clock)."""
        now = self._advance()
        received = info.get("received_timestamp", 0) * 1e-9
        if not now - 1.0 <= received <= now + 0.01:  # missing or implausible stamp
            received = now
        command = command_from_eject_msg(msg)
        status = self.world.command_valves(command, received_s=received)
        if status is CommandStatus.LATE:
            self.get_logger().warning(
                f"valve command for particle {command.particle_id} arrived "
                f"{(received - command.open_s) * 1e3:.1f} ms after its open time: dropped",
                throttle_duration_sec=1.0)
        elif status is CommandStatus.INVALID:
            self.diag.reject("valve_command", f"invalid valve command {command}: dropped")

    @guarded("valve_cancel")
    def _on_cancel(self, _msg: Empty) -> None:
        """The valve driver disarmed: the controller drops what it had scheduled."""
        self._advance()
        cancelled = self.world.cancel_valves()
        self.get_logger().info(f"valve driver disarmed: {cancelled} scheduled pulses cancelled")

    def _publish_encoder(self, latch_s: float) -> None:
        sample = self.world.encoder_sample(latch_s)
        # an encoder gives position only (speed 0); the belt node derives speed
        msg = belt_state_msg(sample.stamp_s, sample.position_m, 0.0, sample.speed_setpoint_m_s,
                             running=sample.running, frame_id=FRAME)
        self.pub_encoder.publish(msg)

    @guarded("outcomes")
    def _on_outcomes(self) -> None:
        now = self._advance()
        msg = ParticleOutcomeArray()
        msg.header.stamp = to_time_msg(now)
        msg.header.frame_id = FRAME
        for outcome in self.world.pop_outcomes():
            item = ParticleOutcome()
            item.truth_id = int(outcome.truth_id)
            item.is_ore = bool(outcome.is_ore)
            item.mass_kg = float(outcome.mass_kg)
            item.grade = float(outcome.grade)
            item.mineral_mass_kg = float(outcome.mineral_mass_kg)
            item.bin = int(outcome.bin)
            item.scan_time = to_time_msg(outcome.scan_time_s)
            msg.outcomes.append(item)
        counters = self.world.counters
        msg.late_valve_commands = int(counters.late_valve_commands)
        msg.valve_commands = int(counters.valve_commands)
        self.pub_outcomes.publish(msg)
        self._publish_diagnostics_values()

    def _on_reference(self, request: AcquireReference.Request,
                      response: AcquireReference.Response) -> AcquireReference.Response:
        """A service must always answer: failures become success=false with the reason."""
        try:
            return self._reference(request, response)
        except Exception as err:  # noqa: BLE001 - answered, logged and counted
            self.diag.reject("reference.internal", f"{type(err).__name__}: {err}")
            self.get_logger().error(traceback.format_exc(), throttle_duration_sec=5.0)
            response.success = False
            response.message = f"{type(err).__name__}: {err}"
            return response

    def _reference(self, request: AcquireReference.Request,
                   response: AcquireReference.Response) -> AcquireReference.Response:
        response.success = False
        if request.kind not in (AcquireReference.Request.DARK, AcquireReference.Request.FLAT):
            response.message = f"unknown reference kind {request.kind} (DARK=0, FLAT=1)"
            return response
        if not 1 <= request.lines <= MAX_REFERENCE_LINES:
            response.message = f"lines must be in 1..{MAX_REFERENCE_LINES}, got {request.lines}"
            return response
        now = self._advance()
        kind = ReferenceKind(request.kind)
        low, high = self.world.detector.reference(kind, int(request.lines))
        speed = self.world.speed_m_s
        pitch = float(self.world.config.detector.pixel_pitch_m)
        reference = RawStrip(
            index=0,  # references are not part of the strip sequence
            stamp_s=now, encoder_m=self.world.encoder_sample().position_m, line_pitch_m=pitch,
            line_period_s=pitch / speed if speed > 0.0 else 0.0, low=low, high=high)
        response.strip = strip_to_msg(reference, low, high, pitch, corrected=False,
                                      frame_ids=(FRAME, FRAME))
        response.success = True
        response.message = f"{kind.name} reference, mean of {request.lines} lines (1 row)"
        return response


def main() -> int:
    # One thread: the world is not thread-safe, and every callback shares the default
    # (mutually exclusive) group anyway.
    return run_node(SimWorldNode, threads=1)
