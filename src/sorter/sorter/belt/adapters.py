"""An encoder reading -> BeltState: one conversion for the belt node, the simulator's encoder,
the golden-bag maker and the bench."""

from __future__ import annotations

from sorter.common.timeutil import to_time_msg
from sorter_interfaces.msg import BeltState

RUNNING_SPEED_M_S = 1e-3
"""Above this speed the belt counts as running."""


def belt_state_msg(stamp_s: float, encoder_m: float, speed_m_s: float | None,
                   setpoint_m_s: float, running: bool | None = None,
                   frame_id: str = "belt") -> BeltState:
    """BeltState latched at `stamp_s`. `speed_m_s` None (no estimate yet) is sent as 0;
    `running` None means: the speed is above RUNNING_SPEED_M_S."""
    msg = BeltState()
    msg.header.stamp = to_time_msg(stamp_s)
    msg.header.frame_id = frame_id
    msg.encoder_position_m = float(encoder_m)
    msg.speed_m_s = float(speed_m_s) if speed_m_s is not None else 0.0
    msg.speed_setpoint_m_s = float(setpoint_m_s)
    msg.running = bool(msg.speed_m_s > RUNNING_SPEED_M_S if running is None else running)
    return msg
