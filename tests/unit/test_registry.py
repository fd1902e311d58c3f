"""The node registry (sorter/nodes.py) and the topic names (sorter/topics.py) are the one
place these facts are written: the nodes' code must create exactly the publishers,
subscriptions and services the registry says, and no module spells a topic name itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sorter import topics
from sorter.nodes import ALL_NODES, BY_NAME, SIM_DRIVER_TOPICS, particle_path

SRC = Path(__file__).resolve().parents[2] / "src" / "sorter" / "sorter"
KIND = {"create_publisher": "pub", "create_lifecycle_publisher": "pub",
        "create_subscription": "sub", "create_service": "srv", "create_client": "client"}
NAMES = {v.name: k for k, v in vars(topics).items()
         if isinstance(v, (topics.Topic, topics.Service))}


def _created(paths: list[Path]) -> set[tuple[str, str]]:
    """(kind, topic constant) of every create_* call whose name is `topics.X.name`."""
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in KIND and len(node.args) >= 2):
                continue
            arg = node.args[1]
            if (isinstance(arg, ast.Attribute) and arg.attr == "name"
                    and isinstance(arg.value, ast.Attribute)):
                found.add((KIND[node.func.attr], arg.value.attr))
    return found


def _constant(topic: topics.Topic | topics.Service) -> str:
    return NAMES[topic.name]


@pytest.mark.parametrize("info", ALL_NODES, ids=lambda n: n.name)
def test_node_code_matches_the_registry(info) -> None:
    package = SRC / info.package
    files = [package / "node.py", *sorted(package.glob("*driver*.py"))]
    created = _created([f for f in files if f.exists()])
    extra_pub, extra_sub = SIM_DRIVER_TOPICS.get(info.name, ((), ()))
    expected = {("pub", _constant(t)) for t in (*info.publishes, *extra_pub)
                if t is not topics.DIAGNOSTICS}  # published by common/diagnostics.py
    expected |= {("sub", _constant(t)) for t in (*info.subscribes, *extra_sub)}
    expected |= {("srv", _constant(s)) for s in info.services}
    created = {c for c in created if c[0] != "client"}
    assert created == expected, f"{info.name}: code {sorted(created)} vs registry"


def test_no_topic_name_is_spelled_outside_topics_py() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "topics.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and node.value.lstrip("/") in {n.lstrip("/") for n in NAMES}
                    and node.value.lstrip("/") != "diagnostics"):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno} {node.value!r}")
    assert offenders == []


def test_particle_path_connects_every_stage() -> None:
    edges = particle_path({"belt", "feeder", "xrt_acquisition", "ejector"})
    assert ("xrt/strip", "xrt_acquisition", "segmentation") in edges
    assert ("particles/measured", "size_estimation", "ejector") in edges
    assert ("sim/valves/command", "ejector", "sim_world") in edges
    assert not any(sub == "cell_monitor" for _t, _p, sub in edges)  # observers do not gate
    plant = particle_path(set())
    assert not any(t.startswith("sim/") for t, _p, _s in plant)
    assert set(BY_NAME) == {n.name for n in ALL_NODES}
