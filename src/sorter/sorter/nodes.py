"""The cell's nodes, named once: executable, package, lifecycle or not, start order, and the
topics each publishes and subscribes. setup.py (console scripts), both launchers, the
generated node reference and the cell -> parameter mapping all read this list.

Each node lives in `sorter.<package>`: `node.py` (the rclpy node, `main`), `parameters.py`
(its parameters class, ROS-free), and its core/adapters/drivers. Standard library only, so
setup.py can read it before anything is installed."""

from __future__ import annotations

from dataclasses import dataclass

from sorter import topics as t


@dataclass(frozen=True)
class NodeInfo:
    name: str  # node name = executable name
    lifecycle: bool
    summary: str
    publishes: tuple[t.Topic, ...] = ()
    subscribes: tuple[t.Topic, ...] = ()
    services: tuple[t.Service, ...] = ()
    simulation: bool = False  # part of the simulator, not of a plant cell
    observer: bool = False  # only watches; the particle path does not wait for it

    @property
    def package(self) -> str:
        return self.name

    @property
    def module(self) -> str:
        return f"sorter.{self.package}.node"

    @property
    def parameters_module(self) -> str:
        return f"sorter.{self.package}.parameters"

    @property
    def entry_point(self) -> str:
        return f"{self.name}={self.module}:main"


SIM_WORLD = NodeInfo(
    "sim_world", False,
    "the simulator process: belt, feed, X-ray scan, valves and bins; owns the truth",
    publishes=(t.SIM_BELT_ENCODER, t.SIM_XRT_RAW, t.SIM_TRUTH_OUTCOMES, t.DIAGNOSTICS),
    subscribes=(t.SIM_BELT_SPEED_COMMAND, t.SIM_FEEDER_DRIVE, t.SIM_VALVES_COMMAND,
                t.SIM_VALVES_CANCEL),
    services=(t.SIM_XRT_ACQUIRE_REFERENCE,),
    simulation=True,
)

# In configure/activate order: the belt must run, the detector be calibrated and the ejector
# armed before the feeder puts the first particle on the belt, so the feeder comes last.
CELL_NODES: tuple[NodeInfo, ...] = (
    NodeInfo(
        "belt", True, "drives the belt and publishes its measured state",
        publishes=(t.BELT_STATE, t.DIAGNOSTICS),
        subscribes=(t.BELT_SPEED_SETPOINT,),
        services=(t.BELT_SET_SPEED,),
    ),
    NodeInfo(
        "xrt_acquisition", True, "raw detector strips -> dark/flat corrected strips",
        publishes=(t.XRT_STRIP, t.XRT_LOW_IMAGE, t.XRT_HIGH_IMAGE, t.DIAGNOSTICS),
    ),
    NodeInfo(
        "segmentation", False, "strips -> particles, touching ones split, stitched",
        publishes=(t.PARTICLES_SEGMENTED, t.BELT_OCCUPANCY, t.DIAGNOSTICS),
        subscribes=(t.XRT_STRIP,),
    ),
    NodeInfo(
        "classification", False, "ore probability per particle",
        publishes=(t.PARTICLES_CLASSIFIED, t.DIAGNOSTICS),
        subscribes=(t.PARTICLES_SEGMENTED,),
    ),
    NodeInfo(
        "size_estimation", False, "size and mass per particle",
        publishes=(t.PARTICLES_MEASURED, t.DIAGNOSTICS),
        subscribes=(t.PARTICLES_CLASSIFIED,),
    ),
    NodeInfo(
        "ejector", True, "valve pulses in absolute time; fails closed",
        publishes=(t.EJECTOR_COMMANDS, t.EJECTOR_STATUS, t.DIAGNOSTICS),
        subscribes=(t.PARTICLES_MEASURED, t.BELT_STATE),
    ),
    NodeInfo(
        "cell_monitor", False, "the cell's figures in one place",
        publishes=(t.CELL_METRICS, t.DIAGNOSTICS),
        subscribes=(t.PARTICLES_SEGMENTED, t.PARTICLES_MEASURED, t.EJECTOR_COMMANDS,
                    t.EJECTOR_STATUS, t.FEEDER_STATUS, t.DIAGNOSTICS),
        observer=True,
    ),
    NodeInfo(
        "feeder", True, "closed-loop vibratory feed on the measured mass flow",
        publishes=(t.FEEDER_STATUS, t.DIAGNOSTICS),
        subscribes=(t.BELT_OCCUPANCY, t.FEEDER_SETPOINT),
        services=(t.FEEDER_SET_FEED_RATE,),
    ),
)

ALL_NODES: tuple[NodeInfo, ...] = (SIM_WORLD, *CELL_NODES)
BY_NAME: dict[str, NodeInfo] = {n.name: n for n in ALL_NODES}

# What the simulated drivers add to a node's graph (driver=sim): they bridge to sim_world.
SIM_DRIVER_TOPICS: dict[str, tuple[tuple[t.Topic, ...], tuple[t.Topic, ...]]] = {
    # node: (publishes, subscribes)
    "belt": ((t.SIM_BELT_SPEED_COMMAND,), (t.SIM_BELT_ENCODER,)),
    "feeder": ((t.SIM_FEEDER_DRIVE,), ()),
    "xrt_acquisition": ((), (t.SIM_XRT_RAW,)),
    "ejector": ((t.SIM_VALVES_COMMAND, t.SIM_VALVES_CANCEL), ()),
}

# (node, topic) subscriptions a driver makes only on activation (the detector driver starts
# its stream then): the bring-up cannot wait for them before activating that node.
SUBSCRIBED_ON_ACTIVATE: frozenset[tuple[str, str]] = frozenset({
    ("xrt_acquisition", t.SIM_XRT_RAW.name),
})


def particle_path(sim_driver_nodes: set[str] | frozenset[str] = frozenset()
                  ) -> list[tuple[str, str, str]]:
    """(topic, publisher, subscriber) for every connection between the cell's nodes that a
    particle or its timing depends on (observers and /diagnostics left out). The launcher
    activates the feeder only once all of them are matched, since messages sent before
    discovery matches both ends are lost. `sim_driver_nodes`: nodes running a simulated
    driver, whose sim_world connections count too."""
    pubs: dict[str, list[str]] = {}
    subs: dict[str, list[str]] = {}
    for node in ALL_NODES:
        if node.observer:
            continue
        extra_pub: tuple[t.Topic, ...] = ()
        extra_sub: tuple[t.Topic, ...] = ()
        if node.name in sim_driver_nodes:
            extra_pub, extra_sub = SIM_DRIVER_TOPICS.get(node.name, ((), ()))
        for topic in (*node.publishes, *extra_pub):
            pubs.setdefault(topic.name, []).append(node.name)
        for topic in (*node.subscribes, *extra_sub):
            subs.setdefault(topic.name, []).append(node.name)
    edges = []
    for topic_name, publishers in pubs.items():
        if topic_name == t.DIAGNOSTICS.name:
            continue
        for pub in publishers:
            for sub in subs.get(topic_name, []):
                edges.append((topic_name, pub, sub))
    return edges
