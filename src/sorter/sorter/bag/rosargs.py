"""ROS arguments for rcl, kept apart from the tool's own arguments (ROS-free).

Why: `sorter bag play run1 --remap a:=b` is the tool's option, but handing the whole command
line to ``rclpy.init`` makes rcl read ``a:=b`` outside ``--ros-args`` as an old-style remap rule:
it applies it to the player node and prints a deprecation warning. Only what stands between
``--ros-args`` and ``--`` (or the end) belongs to ROS; that, and nothing else, goes to rcl.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sorter.bag.errors import BagError

ROS_ARGS = "--ros-args"
END = "--"


def ros_arguments(argv: Sequence[str]) -> list[str]:
    """The ROS arguments of a command line: every run between '--ros-args' and '--' (or the
    end), without the markers."""
    found: list[str] = []
    inside = False
    for arg in argv:
        if arg == ROS_ARGS:
            inside = True
        elif arg == END and inside:
            inside = False
        elif inside:
            found.append(arg)
    return found


def tool_ros_arguments(captured: Sequence[str] | None) -> list[str]:
    """What argparse captured after the tool's ``--ros-args`` (everything to the end of the
    line): the ROS arguments. Anything after a closing '--' would be the tool's, but argparse has
    already run, so that is refused rather than silently dropped."""
    captured = list(captured or [])
    if END in captured:
        tail = captured[captured.index(END) + 1:]
        if tail:
            raise BagError(f"{' '.join(tail)!r} after '--ros-args ... --' is not read: give the "
                           "tool's own arguments before --ros-args")
    return ros_arguments([ROS_ARGS, *captured])


def rcl_arguments(ros_args: Sequence[str] | None, program: str = "sorter") -> list[str]:
    """The argument vector for ``rclpy.init``: the program name, then the ROS arguments (if
    any) behind their own --ros-args."""
    ros_args = list(ros_args or [])
    return [program, ROS_ARGS, *ros_args] if ros_args else [program]


def init_rclpy(ros_args: Sequence[str] | None, signal_handler_options: Any = None) -> None:
    """``rclpy.init`` with only genuine ROS arguments; a bad one is a BagError, not a
    traceback."""
    import rclpy

    try:
        rclpy.init(args=rcl_arguments(ros_args),
                   signal_handler_options=signal_handler_options)
    except Exception as err:  # noqa: BLE001 - rcl's unknown/invalid ROS argument errors
        raise BagError(f"ROS arguments {' '.join(ros_args or [])!r} refused by rcl: "
                       f"{err}") from None
