"""The project's own launcher: lifecycle bring-up in order, a clean stop on SIGINT, and a
non-zero exit naming the node when one dies or refuses its parameters."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sorter.launching.launcher import CellLauncher, LaunchError
from sorter.launching.specs import NodeSpec, cell_node_specs

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


class Output:
    """Collects a child's output lines on a thread, so the test can wait on a condition."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout_s: float) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return list(self.lines)
            time.sleep(0.05)
        raise AssertionError(
            f"{text!r} not printed within {timeout_s} s:\n" + "\n".join(self.lines)
        )

    def text(self) -> str:
        self.thread.join(timeout=5.0)
        return "\n".join(self.lines)


def _launch(tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sorter.cli", "launch", "--out", str(tmp_path / "run")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def test_sigint_stops_the_whole_cell_cleanly(ros_domain, tmp_path) -> None:
    proc = _launch(tmp_path)
    output = Output(proc)
    try:
        lines = output.wait_for("cell running", 60.0)
        order = [line.split(":")[0] for line in lines if line.endswith(": activated")]
        assert order == ["belt", "xrt_acquisition", "ejector", "feeder"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        out = output.text()
        assert "stopped:" in out and "=0" in out
        stopped = out.split("stopped:")[1]
        assert all(code.endswith("=0") for code in stopped.strip().split(", ")), stopped
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_dying_node_stops_the_launcher_with_its_name(ros_domain, tmp_path) -> None:
    proc = _launch(tmp_path)
    output = Output(proc)
    try:
        lines = output.wait_for("cell running", 60.0)
        pid = next(int(line.split("pid ")[1].rstrip(")")) for line in lines
                   if line.startswith("started segmentation"))
        os.kill(pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == 1
        out = output.text()
        assert "node segmentation died with exit code -9" in out
    finally:
        if proc.poll() is None:
            proc.kill()


def test_refused_parameters_fail_the_bring_up_with_the_reason(ros_domain, tmp_path, cell) -> None:
    ejector = next(s for s in cell_node_specs(cell, simulate=False) if s.name == "ejector")
    bad = NodeSpec(ejector.name, ejector.executable, True, {**ejector.parameters,
                                                            "eject": "gold"})
    launcher = CellLauncher([bad], tmp_path, log=lambda _m: None)
    with pytest.raises(LaunchError, match=r"ejector died with exit code 1(.|\n)*eject must be one"):
        try:
            launcher.start(activate_timeout_s=30.0)
        finally:
            launcher.stop()
