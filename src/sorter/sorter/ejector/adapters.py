"""The ejection scheduler as the ejector node's parameters describe it (node, offline replay,
bench): the scheduling parameters carry EjectorConfig's field names. And the ejector's message
conversions: BeltState -> BeltSample, Particle -> EjectionTarget, ValveCommand <-> EjectCommand."""

from __future__ import annotations

import math
from typing import Any

from sorter.common.timeutil import from_time_msg, to_time_msg
from sorter.ejector.core import BeltSample, EjectionScheduler, EjectionTarget
from sorter.ejector.parameters import EjectorParameters
from sorter.ejector.valve_timeline import ValveCommand
from sorter_interfaces.msg import EjectCommand


def scheduler_from_params(p: EjectorParameters) -> EjectionScheduler:
    return EjectionScheduler(p.ejector_config())


# -- messages <-> core types: one conversion each, for the node, the offline replay, the
# -- simulator and the bench
def belt_sample_from_msg(msg: Any, previous: BeltSample | None = None) -> BeltSample:
    """A BeltState message as the scheduler's belt sample. ValueError (with the reason) for
    non-finite values or a stamp older than ``previous``, the sample held so far."""
    stamp = from_time_msg(msg.header.stamp)
    values = (stamp, msg.encoder_position_m, msg.speed_m_s)
    if not all(map(math.isfinite, values)):
        raise ValueError(f"belt state has non-finite values (stamp, encoder, speed) {values}")
    if previous is not None and stamp < previous.stamp_s:
        raise ValueError(f"belt state stamp went backwards: {stamp:.6f} s after "
                         f"{previous.stamp_s:.6f} s")
    return BeltSample(stamp_s=stamp, encoder_m=msg.encoder_position_m, speed_m_s=msg.speed_m_s)


def target_from_particle(msg: Any) -> EjectionTarget:
    """A measured Particle message as the scheduler's target. ValueError for a particle that
    has not been through classification and size estimation; the scheduler validates the
    values themselves when it decides."""
    if not (msg.classified and msg.measured):
        raise ValueError(f"reached the ejector unfinished (classified {msg.classified}, "
                         f"measured {msg.measured})")
    return EjectionTarget(
        particle_id=int(msg.id),
        leading_edge_encoder_m=msg.leading_edge_encoder_m,
        trailing_edge_encoder_m=msg.trailing_edge_encoder_m,
        y_min_m=msg.y_min_m,
        y_max_m=msg.y_max_m,
        ore_probability=msg.ore_probability,
        scan_complete_stamp_s=from_time_msg(msg.scan_complete_stamp),
    )


def eject_msg_from_command(command: ValveCommand, stamp: Any, latency_s: float) -> EjectCommand:
    """The EjectCommand a valve driver sends for ``command``, handed over at ``stamp``."""
    msg = EjectCommand()
    msg.header.stamp = stamp
    msg.header.frame_id = "valve_bar"
    msg.particle_id = int(command.particle_id)
    msg.valve_first = int(command.valve_first)
    msg.valve_last = int(command.valve_last)
    msg.open_time = to_time_msg(command.open_s)
    msg.close_time = to_time_msg(command.close_s)
    msg.scan_to_command_latency_s = float(latency_s)
    return msg


def command_from_eject_msg(msg: Any) -> ValveCommand:
    """The pulse an EjectCommand asks for (the valve controller's and the replay's view)."""
    return ValveCommand(
        particle_id=int(msg.particle_id),
        valve_first=int(msg.valve_first),
        valve_last=int(msg.valve_last),
        open_s=from_time_msg(msg.open_time),
        close_s=from_time_msg(msg.close_time),
    )
