"""`sim_world`: the simulator process (as Gazebo would be). It owns the world and bridges it
over topics, the seams the sim drivers of the other nodes use:

  sub  sim/belt/speed_command      std_msgs/Float64            belt speed command [m/s]
  sub  sim/feeder/drive            std_msgs/Float64            tray drive [0..1]
  sub  sim/valves/command          sorter_interfaces/EjectCommand
  pub  sim/belt/encoder            sorter_interfaces/BeltState  encoder latch (position only)
  pub  sim/xrt/raw                 sorter_interfaces/XrtStrip   raw mono16 strips
  pub  sim/truth/outcomes          sorter_interfaces/ParticleOutcomeArray   truth, 2 Hz
  srv  sim/xrt/acquire_reference   sorter_interfaces/srv/AcquireReference

The world runs in real time on the node's clock: every callback first steps the world to
"now", so a command applies from the moment it arrives and a valve command's lateness is
judged against its arrival time. The encoder message carries position only (speed_m_s = 0):
the belt node estimates speed from positions, as it must with a real encoder.
"""

from __future__ import annotations

import functools
import math
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
import yaml
from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy._rclpy_pybind11 import RCLError
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Float64

from sorter.common.timeutil import from_time_msg, to_time_msg
from sorter.sim.detector import ReferenceKind
from sorter.sim.world import CommandStatus, RenderedStrip, ValveCommand, World, world_from_cell
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


def _reliable(depth: int) -> QoSProfile:
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE)


def _guard(method: Callable[..., Any]) -> Callable[..., Any]:
    """A callback must never take the simulator down: log, count, carry on."""

    @functools.wraps(method)
    def inner(self: SimWorldNode, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception:  # noqa: BLE001 - any failure in one callback is contained
            self.callback_errors += 1
            self.get_logger().error(f"{method.__name__} failed:\n{traceback.format_exc()}",
                                    throttle_duration_sec=5.0)
            return None

    return inner


def _image(array: np.ndarray, stamp: Any) -> Image:
    msg = Image()
    msg.header.stamp = stamp
    msg.header.frame_id = FRAME
    msg.height, msg.width = (int(n) for n in array.shape)
    msg.encoding = "mono16"
    msg.is_bigendian = 0
    msg.step = msg.width * 2
    msg.data = np.ascontiguousarray(array).astype("<u2").tobytes()
    return msg


def _default_cell_file() -> str:
    """The installed share/sorter/config/cell.yaml, else the repository's config/cell.yaml."""
    try:
        from ament_index_python.packages import get_package_share_directory

        candidate = Path(get_package_share_directory("sorter")) / "config" / "cell.yaml"
        if candidate.is_file():
            return str(candidate)
    except Exception:  # noqa: BLE001 - not installed with colcon: fall through to the repo
        pass
    candidate = Path(__file__).resolve().parents[4] / "config" / "cell.yaml"
    return str(candidate) if candidate.is_file() else ""


class SimWorldNode(Node):
    """Thin bridge: parameters, QoS, conversions; all behaviour lives in sorter.sim.world."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("sim_world", **kwargs)
        self.callback_errors = 0
        self.rejected_inputs = 0
        cell_file = self.declare_parameter(
            "cell_file", _default_cell_file(),
            ParameterDescriptor(type=ParameterType.PARAMETER_STRING, read_only=True,
                                description="cell description YAML (config/cell.yaml)"),
        ).value
        seed = self.declare_parameter(
            "seed", -1,
            ParameterDescriptor(type=ParameterType.PARAMETER_INTEGER, read_only=True,
                                description="world seed; -1 uses the cell's feed.seed"),
        ).value
        if not cell_file or not Path(cell_file).is_file():
            raise ValueError(f"cell_file {cell_file!r} is not a readable file")
        with open(cell_file, encoding="utf-8") as handle:
            self.cell = yaml.safe_load(handle)
        sim = self.cell["sim"]
        step_s, encoder_rate = float(sim["step_s"]), float(sim["encoder_rate_hz"])
        if not (0.0 < step_s <= 0.1 and 0.0 < encoder_rate <= 10_000.0):
            raise ValueError(f"sim.step_s {step_s} or sim.encoder_rate_hz {encoder_rate} "
                             "out of range")
        self.max_speed = float(self.cell["belt"]["max_speed_m_s"])
        self.world: World = world_from_cell(self.cell, None if seed < 0 else int(seed),
                                            start_time_s=self._now())

        self.pub_encoder = self.create_publisher(BeltState, "sim/belt/encoder", _reliable(10))
        self.pub_strip = self.create_publisher(XrtStrip, "sim/xrt/raw", _reliable(20))
        self.pub_outcomes = self.create_publisher(ParticleOutcomeArray, "sim/truth/outcomes",
                                                  _reliable(100))
        self.create_subscription(Float64, "sim/belt/speed_command", self._on_speed,
                                 _reliable(10))
        self.create_subscription(Float64, "sim/feeder/drive", self._on_drive, _reliable(10))
        self.create_subscription(EjectCommand, "sim/valves/command", self._on_valve,
                                 _reliable(100))
        self.create_service(AcquireReference, "sim/xrt/acquire_reference", self._on_reference)
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
        msg = XrtStrip()
        stamp = to_time_msg(strip.stamp_s)
        msg.header.stamp = stamp
        msg.header.frame_id = FRAME
        msg.strip_index = int(strip.index)
        msg.encoder_position_m = float(strip.encoder_m)
        msg.line_pitch_m = float(strip.line_pitch_m)
        msg.line_period_s = float(strip.line_period_s)
        msg.pixel_pitch_m = float(self.world.config.detector.pixel_pitch_m)
        msg.corrected = False
        msg.low = _image(strip.low, stamp)
        msg.high = _image(strip.high, stamp)
        return msg

    def _reject(self, what: str) -> None:
        self.rejected_inputs += 1
        self.get_logger().warning(what, throttle_duration_sec=2.0)

    def _setpoint(self, value: float, low: float, high: float, name: str) -> float | None:
        value = float(value)
        if not (math.isfinite(value) and low <= value <= high):
            self._reject(f"{name} {value} outside {low}..{high}: ignored")
            return None
        return value

    # -- callbacks --------------------------------------------------------------------------
    @_guard
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

    @_guard
    def _on_speed(self, msg: Float64) -> None:
        speed = self._setpoint(msg.data, 0.0, self.max_speed, "belt speed command [m/s]")
        if speed is not None:
            self._advance()
            self.world.set_belt_speed(speed)

    @_guard
    def _on_drive(self, msg: Float64) -> None:
        drive = self._setpoint(msg.data, 0.0, 1.0, "feeder drive")
        if drive is not None:
            self._advance()
            self.world.set_feeder_drive(drive)

    @_guard
    def _on_valve(self, msg: EjectCommand) -> None:
        now = self._advance()
        command = ValveCommand(
            particle_id=int(msg.particle_id),
            valve_first=int(msg.valve_first),
            valve_last=int(msg.valve_last),
            open_time_s=from_time_msg(msg.open_time),
            close_time_s=from_time_msg(msg.close_time),
        )
        status = self.world.command_valves(command, received_s=now)
        if status is CommandStatus.LATE:
            self.get_logger().warning(
                f"valve command for particle {command.particle_id} arrived "
                f"{(now - command.open_time_s) * 1e3:.1f} ms after its open time: dropped",
                throttle_duration_sec=1.0)
        elif status is CommandStatus.INVALID:
            self._reject(f"invalid valve command {command}: dropped")

    def _publish_encoder(self, latch_s: float) -> None:
        sample = self.world.encoder_sample(latch_s)
        msg = BeltState()
        msg.header.stamp = to_time_msg(sample.stamp_s)
        msg.header.frame_id = FRAME
        msg.encoder_position_m = float(sample.position_m)
        msg.speed_m_s = 0.0  # an encoder gives position only; the belt node derives speed
        msg.speed_setpoint_m_s = float(sample.speed_setpoint_m_s)
        msg.running = bool(sample.running)
        self.pub_encoder.publish(msg)

    @_guard
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

    def _on_reference(self, request: AcquireReference.Request,
                      response: AcquireReference.Response) -> AcquireReference.Response:
        """A service must always answer: failures become success=false with the reason."""
        try:
            return self._reference(request, response)
        except Exception as err:  # noqa: BLE001 - answered, logged and counted
            self.callback_errors += 1
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
        strip = response.strip
        stamp = to_time_msg(now)
        strip.header.stamp = stamp
        strip.header.frame_id = FRAME
        strip.strip_index = 0  # references are not part of the strip sequence
        strip.encoder_position_m = float(self.world.encoder_sample().position_m)
        strip.line_pitch_m = pitch
        strip.line_period_s = pitch / speed if speed > 0.0 else 0.0
        strip.pixel_pitch_m = pitch
        strip.corrected = False
        strip.low = _image(low, stamp)
        strip.high = _image(high, stamp)
        response.success = True
        response.message = f"{kind.name} reference, mean of {request.lines} lines (1 row)"
        return response


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args if args is not None else sys.argv)
    node = None
    code = 0
    try:
        node = SimWorldNode()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RCLError:
        if rclpy.ok():  # SIGTERM shuts the context down under a waiting executor: that is a
            raise       # clean stop; anything else is a real failure
    except (ValueError, KeyError, OSError, yaml.YAMLError) as err:
        print(f"[sim_world] cannot start: {err}", file=sys.stderr)
        code = 1
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
