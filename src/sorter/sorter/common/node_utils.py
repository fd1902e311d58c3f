"""Small pieces every node uses: a guarded callback (an exception in a callback would kill the
node), waiting on a future without blocking the executor, and the standard main()."""

from __future__ import annotations

import functools
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sorter.common.images import ImageError


def guarded(kind: str) -> Callable:
    """Decorate a node method: a ValueError (bad input) is rejected and counted under `kind`;
    any other exception is logged with its traceback and counted, and the node keeps going."""

    def wrap(method: Callable) -> Callable:
        @functools.wraps(method)
        def inner(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except (ValueError, ImageError) as err:
                self.diag.reject(kind, str(err))
            except Exception as err:  # noqa: BLE001 - a callback must never take the node down
                self.diag.reject(f"{kind}.internal", f"{type(err).__name__}: {err}")
                self.get_logger().error(traceback.format_exc(), throttle_duration_sec=5.0)
            return None

        return inner

    return wrap


def set_double_parameter(node: Any, name: str, value: float) -> None:
    """Every set-point path (topic, service, `ros2 param set`) goes through the parameter, so
    it is validated once and always visible; a refusal becomes a ValueError with the reason."""
    from rclpy.parameter import Parameter

    result = node.set_parameters([Parameter(name, Parameter.Type.DOUBLE, float(value))])[0]
    if not result.successful:
        raise ValueError(result.reason)


def answer_setpoint(node: Any, name: str, value: float, response: Any, unit: str) -> Any:
    """Serve a set-point service: apply through the parameter, say what happened."""
    try:
        set_double_parameter(node, name, value)
    except ValueError as err:
        node.diag.reject("setpoint", str(err))
        response.success, response.message = False, str(err)
        return response
    response.success, response.message = True, f"{name} set to {value} {unit}"
    return response


def stop_requested_on_signals() -> Callable[[], bool]:
    """SIGINT/SIGTERM only raise a flag (the caller finishes its work and closes cleanly);
    returns the function that reads it."""
    import signal

    stopping = {"now": False}

    def on_signal(_signum: int, _frame: Any) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return lambda: stopping["now"]


def wait_for_future(future: Any, timeout_s: float) -> Any:
    """Block this thread until `future` is done; needs a multi-threaded executor serving the
    future's callback group from another thread."""
    deadline = time.monotonic() + timeout_s
    while not future.done():
        if time.monotonic() > deadline:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout_s} s")
        time.sleep(0.005)
    return future.result()


def run_node(factory: Callable[[], Any], threads: int = 2) -> int:
    """Standard main(): spin until SIGINT/SIGTERM and exit 0; exit 1, saying why on stderr, if
    the node refuses its parameters at start."""
    import rclpy
    from rclpy._rclpy_pybind11 import RCLError
    from rclpy.exceptions import ParameterException
    from rclpy.executors import (
        ExternalShutdownException,
        MultiThreadedExecutor,
        SingleThreadedExecutor,
    )

    rclpy.init(args=sys.argv)
    node = None
    try:
        try:
            node = factory()
        except (ValueError, ParameterException) as err:
            # ValueError: our specs refused a value (or a missing one); ParameterException:
            # rclpy refused an override against its descriptor (type or range) at declare.
            print(f"[{Path(sys.argv[0]).name or 'node'}] cannot start: {err}", file=sys.stderr)
            return 1
        # One thread: the single-threaded executor (rclpy warns about, and pays the thread
        # pool of, a multi-threaded one with a single thread).
        executor = (SingleThreadedExecutor() if threads <= 1
                    else MultiThreadedExecutor(num_threads=threads))
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (RCLError, RuntimeError):
        # SIGINT or SIGTERM shuts the context down under a waiting executor, which may raise
        # "context is not valid" (RCLError), or a RuntimeError from taking a message that
        # arrived during the shutdown, instead of ExternalShutdownException: a clean stop.
        # With the context still valid it is a real failure.
        if rclpy.ok():
            raise
    finally:
        if node is not None:
            _fail_safe(node)
            node.destroy_node()
        if rclpy.ok():
            rclpy.try_shutdown()
    return 0


def _fail_safe(node: Any) -> None:
    """On the way out (SIGINT, SIGTERM, error) put the hardware in its safe state: nodes that
    drive equipment define `fail_safe()` (belt stopped, tray stopped, valves disarmed). With the
    context already shut down a topic-based (simulated) driver cannot publish; a protocol
    driver (Modbus) still can, and that is the one a plant needs."""
    fail_safe = getattr(node, "fail_safe", None)
    if fail_safe is None:
        return
    try:
        fail_safe()
    except Exception as err:  # noqa: BLE001 - report, never mask the exit
        print(f"[{node.get_name()}] fail-safe on exit incomplete: {err}", file=sys.stderr)
