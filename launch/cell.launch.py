"""Bring up the sorting cell on a plant PC (distro ROS 2, after a colcon build):

    ros2 launch sorter cell.launch.py [cell:=/path/to/cell.yaml] [driver:=sim] [simulate:=true]

Nodes, their order and their parameters come from sorter.launching.specs, the same function the
project's own launcher (`sorter launch`) uses, so both start the same cell from one description.
Lifecycle nodes are configured when their process starts and activated once inactive."""

from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

from launch import LaunchDescription
from sorter.cell.description import default_cell_path, load_cell
from sorter.launching.specs import cell_node_specs


def _cell_actions(context, *args, **kwargs):
    cell = load_cell(LaunchConfiguration("cell").perform(context))
    simulate = LaunchConfiguration("simulate").perform(context).lower() in ("true", "1", "yes")
    driver = LaunchConfiguration("driver").perform(context)
    actions = []
    for spec in cell_node_specs(cell, driver=driver, simulate=simulate):
        common = dict(
            package="sorter",
            executable=spec.executable,
            name=spec.name,
            namespace="",
            parameters=[spec.parameters],
            output="screen",
        )
        if not spec.lifecycle:
            actions.append(Node(**common))
            continue
        node = LifecycleNode(**common)
        activate = EmitEvent(
            event=ChangeState(
                lifecycle_node_matcher=matches_action(node),
                transition_id=Transition.TRANSITION_ACTIVATE,
            )
        )
        actions.append(
            RegisterEventHandler(
                OnStateTransition(target_lifecycle_node=node, goal_state="inactive",
                                  entities=[activate])
            )
        )
        actions.append(node)
        actions.append(
            EmitEvent(
                event=ChangeState(
                    lifecycle_node_matcher=matches_action(node),
                    transition_id=Transition.TRANSITION_CONFIGURE,
                )
            )
        )
    return actions


def generate_launch_description():
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "cell", default_value=str(default_cell_path()),
                description="cell description YAML (the single source of all node parameters)",
            ),
            DeclareLaunchArgument(
                "driver", default_value="sim",
                description="belt and feeder drivers: sim (bridges to sim_world) or modbus "
                "(Modbus TCP, cell io section); detector and valves: sim only so far",
            ),
            DeclareLaunchArgument(
                "simulate", default_value="true",
                description="also start the sim_world simulator process",
            ),
            OpaqueFunction(function=_cell_actions),
        ]
    )
