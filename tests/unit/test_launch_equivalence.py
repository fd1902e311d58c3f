"""launch/cell.launch.py (for plants with distro ROS 2) and `sorter launch` (here) must start
exactly the same nodes with the same parameters. launch_ros cannot be installed from the
wheels, so minimal stand-ins for the launch API record what the launch file builds; the file
itself is executed unmodified."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from sorter.launching.launcher import CellLauncher, executable_path
from sorter.launching.specs import cell_node_specs

LAUNCH_FILE = Path(__file__).resolve().parents[2] / "launch" / "cell.launch.py"


class _Recorder:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration:
    values: dict[str, str] = {}

    def __init__(self, name: str):
        self.name = name

    def perform(self, context) -> str:
        return context[self.name]


def _install_fake_launch(monkeypatch: pytest.MonkeyPatch) -> dict[str, type]:
    kinds = {n: type(n, (_Recorder,), {}) for n in (
        "LaunchDescription", "DeclareLaunchArgument", "EmitEvent", "OpaqueFunction",
        "RegisterEventHandler", "Node", "LifecycleNode", "OnStateTransition", "ChangeState")}
    modules = {
        "launch": {"LaunchDescription": kinds["LaunchDescription"]},
        "launch.actions": {k: kinds[k] for k in ("DeclareLaunchArgument", "EmitEvent",
                                                 "OpaqueFunction", "RegisterEventHandler")},
        "launch.events": {"matches_action": lambda action: ("matches", action)},
        "launch.substitutions": {"LaunchConfiguration": _LaunchConfiguration},
        "launch_ros": {},
        "launch_ros.actions": {"Node": kinds["Node"], "LifecycleNode": kinds["LifecycleNode"]},
        "launch_ros.event_handlers": {"OnStateTransition": kinds["OnStateTransition"]},
        "launch_ros.events": {},
        "launch_ros.events.lifecycle": {"ChangeState": kinds["ChangeState"]},
    }
    for name, attrs in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, module)
    return kinds


def _launch_file_nodes(monkeypatch, context: dict[str, str]) -> tuple[list, dict]:
    kinds = _install_fake_launch(monkeypatch)
    spec = importlib.util.spec_from_file_location("cell_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    entities = description.args[0]
    declared = {
        e.args[0]: e.kwargs for e in entities if isinstance(e, kinds["DeclareLaunchArgument"])
    }
    opaque = [e for e in entities if isinstance(e, kinds["OpaqueFunction"])]
    assert len(opaque) == 1
    actions = opaque[0].kwargs["function"](context)
    return actions, {"kinds": kinds, "declared": declared}


@pytest.mark.parametrize("simulate", ["true", "false"])
def test_launch_file_and_own_launcher_start_the_same_cell(monkeypatch, cell, simulate) -> None:
    context = {"cell": cell["_source"], "driver": "sim", "simulate": simulate}
    actions, info = _launch_file_nodes(monkeypatch, context)
    kinds = info["kinds"]
    assert set(info["declared"]) == {"cell", "driver", "simulate"}
    assert all(d.get("description") for d in info["declared"].values())

    nodes = [a for a in actions if isinstance(a, (kinds["Node"], kinds["LifecycleNode"]))]
    from_launch_file = [
        (n.kwargs["name"], n.kwargs["executable"], isinstance(n, kinds["LifecycleNode"]),
         n.kwargs["parameters"][0])
        for n in nodes
    ]
    own = cell_node_specs(cell, driver="sim", simulate=simulate == "true")
    from_launcher = [(s.name, s.executable, s.lifecycle, s.parameters) for s in own]
    assert from_launch_file == from_launcher
    assert all(n.kwargs["package"] == "sorter" for n in nodes)

    # every lifecycle node is configured on start and activated once inactive
    lifecycle = [n for n in nodes if isinstance(n, kinds["LifecycleNode"])]
    handlers = [a for a in actions if isinstance(a, kinds["RegisterEventHandler"])]
    emits = [a for a in actions if isinstance(a, kinds["EmitEvent"])]
    assert len(handlers) == len(emits) == len(lifecycle) > 0
    for node, emit in zip(lifecycle, emits, strict=True):
        event = emit.kwargs["event"]
        assert event.kwargs["lifecycle_node_matcher"] == ("matches", node)
        assert event.kwargs["transition_id"] == 1  # configure
    for node, handler in zip(lifecycle, handlers, strict=True):
        on_state = handler.args[0]
        assert on_state.kwargs["target_lifecycle_node"] is node
        assert on_state.kwargs["goal_state"] == "inactive"
        activate = on_state.kwargs["entities"][0].kwargs["event"]
        assert activate.kwargs["transition_id"] == 3  # activate


def test_own_launcher_passes_each_node_its_parameters(tmp_path, cell) -> None:
    """What `sorter launch` hands each process: its executable, its node name, and the params
    file holding exactly the spec's parameters under that name."""
    import yaml

    specs = cell_node_specs(cell)
    launcher = CellLauncher(specs, tmp_path)
    from sorter.cell.parameters import write_params_file

    write_params_file({s.name: s.parameters for s in specs}, launcher.params_file)
    written = yaml.safe_load(launcher.params_file.read_text())
    for spec in specs:
        assert written[spec.name]["ros__parameters"] == spec.parameters
        assert Path(executable_path(spec.executable)[0]).exists()
