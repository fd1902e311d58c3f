"""The project's own launcher (launch_ros is not installable from the wheels): each node its
own process, lifecycle nodes configured then activated in the cell's order, clean shutdown on
SIGINT/SIGTERM, and a non-zero exit with the node's name when any process dies."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from sorter import topics
from sorter.cell.parameters import write_params_file
from sorter.launching.specs import NodeSpec, particle_path_for


class LaunchError(RuntimeError):
    """A node could not be started, configured or activated, or died: the text says which."""


def executable_path(name: str) -> list[str]:
    """The console script installed for `name` (pip puts it beside the interpreter; colcon
    under lib/sorter)."""
    prefix = Path(sys.prefix)
    for candidate in (prefix / "lib" / "sorter" / name, prefix / "bin" / name):
        if candidate.exists():
            return [str(candidate)]
    found = shutil.which(name)
    if found:
        return [found]
    raise LaunchError(f"executable {name!r} not found: run the set-up (make setup)")


class CellLauncher:
    """Start, supervise and stop the cell's processes. Usable as a context manager."""

    def __init__(
        self,
        specs: list[NodeSpec],
        run_dir: Path,
        log: Callable[[str], None] = print,
        env: dict[str, str] | None = None,
        before_activate: Callable[[], None] | None = None,
    ) -> None:
        """`before_activate` runs once every node is configured and the stages are connected,
        just before the first activation (the first message of the run): an observer (a
        recorder, a test probe) can make sure it is subscribed by then."""
        self.before_activate = before_activate
        self.specs = specs
        self.run_dir = Path(run_dir)
        self.log = log
        self.env = dict(os.environ if env is None else env)
        self.procs: dict[str, subprocess.Popen] = {}
        self.params_file = self.run_dir / "params.yaml"

    # -- start ------------------------------------------------------------------------------
    def start(self, activate_timeout_s: float = 30.0) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_params_file({s.name: s.parameters for s in self.specs}, self.params_file)
        logs = self.run_dir / "logs"
        logs.mkdir(exist_ok=True)
        for spec in self.specs:
            cmd = executable_path(spec.executable) + [
                "--ros-args", "-r", f"__node:={spec.name}", "--params-file", str(self.params_file),
            ]
            out = open(logs / f"{spec.name}.log", "wb")  # noqa: SIM115 - lives with the process
            self.procs[spec.name] = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
            self.log(f"started {spec.name} (pid {self.procs[spec.name].pid})")
        self._bring_up(activate_timeout_s)

    def _bring_up(self, timeout_s: float) -> None:
        """Wait until every node has joined the graph (a node still importing would die on an
        early SIGINT), configure the lifecycle nodes in order, wait until the stages are
        connected, then activate them in order: nothing is published before its consumers
        are matched (a volatile topic drops what it sends before). The last node, the feeder
        (the source of particles), waits for the whole particle path, including connections
        a driver makes on activation."""
        lifecycle = [s.name for s in self.specs if s.lifecycle]
        from sorter.launching.lifecycle_client import LifecycleClient

        with LifecycleClient() as client:
            names = [s.name for s in self.specs]
            missing = client.wait_for_nodes(names, time.monotonic() + timeout_s, self.check_alive)
            if missing:
                raise LaunchError(f"nodes not up after {timeout_s:.0f} s: {', '.join(missing)}")
            for transition in ("configure", "activate"):
                if transition == "activate":
                    self._wait_for_edges(client, timeout_s, configured_only=True)
                    if self.before_activate is not None:
                        self.before_activate()
                for name in lifecycle:
                    if transition == "activate" and name == lifecycle[-1]:
                        self._wait_for_edges(client, timeout_s)
                        self._wait_until_primed(client, timeout_s)
                    deadline = time.monotonic() + timeout_s
                    self.check_alive()
                    ok, why = client.change_state(name, transition, deadline, self.check_alive)
                    if not ok:
                        raise LaunchError(
                            f"{name}: {transition} failed ({why}); see {self.log_file(name)}"
                        )
                    self.log(f"{name}: {transition}d")

    def _wait_until_primed(self, client: Any, timeout_s: float) -> None:
        """Before the feeder puts the first particle on the belt: the ejector must report the
        belt's speed and at least one (empty) array that came all the way from the detector.
        Both ends being in the graph does not mean each reader has matched its writer yet; a
        sample sent before that waits for the reliability protocol's repair, late enough to
        miss a valve deadline. One strip through every hop shows every hop is matched."""
        names = {s.name for s in self.specs}
        if not {"ejector", "xrt_acquisition", "belt"} <= names:
            return
        from sorter.common import qos
        from sorter_interfaces.msg import EjectorStatus

        primed = client.wait_for_message(
            EjectorStatus, topics.EJECTOR_STATUS.name, qos.STATE,
            lambda m: m.arrays_received > 0 and m.belt_speed_m_s > 0.0,
            time.monotonic() + timeout_s, self.check_alive)
        if not primed:
            raise LaunchError(f"no strip reached the ejector within {timeout_s:.0f} s of "
                              "activation (or no belt speed): see the logs in "
                              f"{self.run_dir / 'logs'}")

    def _wait_for_edges(self, client: Any, timeout_s: float, configured_only: bool = False
                        ) -> None:
        edges = particle_path_for(self.specs, configured_only=configured_only)
        missing = client.wait_for_edges(edges, time.monotonic() + timeout_s, self.check_alive)
        if missing:
            text = ", ".join(f"{pub} -> {topic} -> {sub}" for topic, pub, sub in missing)
            raise LaunchError(f"stages not connected after {timeout_s:.0f} s: {text}")

    # -- supervise --------------------------------------------------------------------------
    def log_file(self, name: str) -> Path:
        return self.run_dir / "logs" / f"{name}.log"

    def dead(self) -> list[tuple[str, int]]:
        return [(n, p.returncode) for n, p in self.procs.items() if p.poll() is not None]

    def check_alive(self) -> None:
        dead = self.dead()
        if dead:
            name, code = dead[0]
            tail = self.tail(name)
            raise LaunchError(
                f"node {name} died with exit code {code}; last log lines:\n{tail}"
            )

    def tail(self, name: str, lines: int = 15) -> str:
        try:
            text = self.log_file(name).read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])

    def wait(self, duration_s: float | None = None, poll_s: float = 0.2) -> None:
        """Supervise until `duration_s` passes (forever if None); raise if a node dies."""
        end = None if duration_s is None else time.monotonic() + duration_s
        while end is None or time.monotonic() < end:
            self.check_alive()
            time.sleep(poll_s)

    # -- stop -------------------------------------------------------------------------------
    def stop(self, timeout_s: float = 10.0) -> dict[str, int]:
        """SIGINT in reverse start order, then SIGTERM/SIGKILL for stragglers."""
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout_s
        for _name, proc in self.procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=2.0)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        codes = {name: proc.returncode for name, proc in self.procs.items()}
        self.log("stopped: " + ", ".join(f"{n}={c}" for n, c in codes.items()))
        return codes

    def __enter__(self) -> CellLauncher:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def write_effective_cell(cell: dict, run_dir: Path) -> dict:
    """The cell as this run uses it (overrides applied), so the simulator and the report read
    exactly what the nodes were given."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "cell.yaml"
    body = {k: v for k, v in cell.items() if not k.startswith("_")}
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return {**cell, "_source": str(path)}


def launch_forever(specs: list[NodeSpec], run_dir: Path) -> int:
    """`sorter launch`: run until SIGINT; exit 1 with the dead node's name if one dies."""
    from sorter.common.node_utils import stop_requested_on_signals

    stop_requested = stop_requested_on_signals()
    launcher = CellLauncher(specs, run_dir)
    try:
        launcher.start()
        print("cell running; Ctrl-C to stop", flush=True)
        while not stop_requested():
            launcher.check_alive()
            time.sleep(0.2)
    except LaunchError as err:
        print(f"launch failed: {err}", file=sys.stderr)
        launcher.stop()
        return 1
    launcher.stop()
    return 0
