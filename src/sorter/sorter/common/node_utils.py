"""Small pieces every node uses: a guarded callback (an exception in a callback would kill the
node), waiting on a future without blocking the executor, and the standard main()."""

from __future__ import annotations

import functools
import sys
import time
import traceback
from collections.abc import Callable
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
    """Standard main(): spin until SIGINT/SIGTERM, shut down cleanly, exit 1 if start failed."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

    rclpy.init(args=sys.argv)
    node = None
    code = 0
    try:
        node = factory()
        executor = MultiThreadedExecutor(num_threads=threads)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ValueError as err:  # parameters refused at start: say why, exit non-zero
        print(f"[{getattr(node, 'get_name', lambda: 'node')()}] cannot start: {err}",
              file=sys.stderr)
        code = 1
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.try_shutdown()
    return code
