"""Ejector message adapters: one conversion per message type, shared by the node, the offline
replay, the simulator and the bench; bad input refused with its reason."""

from __future__ import annotations

import math

import pytest

from sorter.belt.adapters import belt_state_msg
from sorter.common.timeutil import to_time_msg
from sorter.ejector.adapters import (
    belt_sample_from_msg,
    command_from_eject_msg,
    eject_msg_from_command,
    target_from_particle,
)
from sorter.ejector.core import BeltSample
from sorter.ejector.valve_timeline import ValveCommand
from sorter_interfaces.msg import Particle


def test_belt_state_round_trip_and_refusals() -> None:
    msg = belt_state_msg(12.5, 3.25, 2.0, 2.0)
    assert msg.running and msg.header.frame_id == "belt"
    sample = belt_sample_from_msg(msg)
    assert sample == BeltSample(stamp_s=12.5, encoder_m=3.25, speed_m_s=2.0)
    assert not belt_state_msg(1.0, 0.0, None, 0.0).running  # no estimate yet: 0, stopped
    with pytest.raises(ValueError, match="went backwards"):
        belt_sample_from_msg(belt_state_msg(12.0, 3.3, 2.0, 2.0), sample)
    with pytest.raises(ValueError, match="non-finite"):
        belt_sample_from_msg(belt_state_msg(13.0, math.nan, 2.0, 2.0), sample)


def _particle(**fields: object) -> Particle:
    msg = Particle(id=7, classified=True, measured=True, leading_edge_encoder_m=1.0,
                   trailing_edge_encoder_m=1.02, y_min_m=0.1, y_max_m=0.12,
                   ore_probability=0.75, scan_complete_stamp=to_time_msg(10.25))
    for name, value in fields.items():
        setattr(msg, name, value)
    return msg


def test_target_from_particle() -> None:
    target = target_from_particle(_particle())
    assert (target.particle_id, target.leading_edge_encoder_m, target.y_max_m,
            target.scan_complete_stamp_s) == (7, 1.0, 0.12, 10.25)
    with pytest.raises(ValueError, match="unfinished"):
        target_from_particle(_particle(measured=False))


def test_eject_command_round_trip() -> None:
    command = ValveCommand(7, 3, 5, 10.5, 10.512)
    msg = eject_msg_from_command(command, to_time_msg(10.3), 0.05)
    assert msg.scan_to_command_latency_s == 0.05
    assert command_from_eject_msg(msg) == command
