"""A bag as `ros2 bag record -s mcap` writes it, made with `rosbags` and nothing of sorter.bag:
its own message definitions (from the .msg files, through rosbags' type system), its own CDR
serializer, its own MCAP writer and metadata.yaml. Compatibility tests play and read it."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BELT_TYPE = "sorter_interfaces/msg/BeltState"
T0_NS = 1_700_000_000_000_000_000


def rosbags_typestore():
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    text = (REPO / "src/sorter_interfaces/msg/BeltState.msg").read_text()
    store.register(get_types_from_msg(text, BELT_TYPE))
    return store


def belt_values(i: int) -> dict:
    """Field values of message i (so a test can check what it received)."""
    stamp_ns = T0_NS + i * 20_000_000
    return {"sec": stamp_ns // 10**9, "nanosec": stamp_ns % 10**9,
            "encoder_position_m": 0.04 * i, "speed_m_s": 2.0, "running": True}


def offered_qos() -> list:
    """The QoS a reliable, volatile publisher offers, as rosbag2 stores it per connection."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability
    from rosbags.interfaces import QosTime as T

    infinite = T(9223372036, 854775807)
    return [Qos(QosHistory.UNKNOWN, 0, QosReliability.RELIABLE, QosDurability.VOLATILE,
                infinite, infinite, QosLiveliness.AUTOMATIC, infinite, False)]


def belt_cdr(store, i: int) -> bytes:
    """BeltState message i (values from `belt_values`), CDR-serialized by rosbags."""
    v = belt_values(i)
    header_cls = store.types["std_msgs/msg/Header"]
    time_cls = store.types["builtin_interfaces/msg/Time"]
    msg = store.types[BELT_TYPE](
        header=header_cls(stamp=time_cls(sec=v["sec"], nanosec=v["nanosec"]), frame_id="belt"),
        encoder_position_m=v["encoder_position_m"], speed_m_s=v["speed_m_s"],
        speed_setpoint_m_s=2.0, running=v["running"])
    return store.serialize_cdr(msg, BELT_TYPE)


def write_ros2_style_bag(path: Path, count: int = 50, period_ns: int = 20_000_000,
                         version: int = 9) -> Path:
    """`count` BeltState messages on /belt/state at 1/period, and one std_msgs/String on
    /note; MCAP storage with zstd chunk compression (rosbag2's mcap default)."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.rosbag2.enums import CompressionFormat, CompressionMode

    store = rosbags_typestore()
    offered = offered_qos()
    writer = Writer(path, version=version, storage_plugin=StoragePlugin.MCAP)
    writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    with writer:
        belt = writer.add_connection("/belt/state", BELT_TYPE, typestore=store,
                                     offered_qos_profiles=offered)
        note = writer.add_connection("/note", "std_msgs/msg/String", typestore=store,
                                     offered_qos_profiles=offered)
        string_cls = store.types["std_msgs/msg/String"]
        writer.write(note, T0_NS, store.serialize_cdr(string_cls(data="hello"),
                                                      "std_msgs/msg/String"))
        for i in range(count):
            writer.write(belt, T0_NS + i * period_ns, belt_cdr(store, i))
    return path


WRITE_SPLIT_TYPE = "rosbag2_interfaces/msg/WriteSplitEvent"  # not in the wheels


def write_rosbag2_api_style_bag(path: Path, count: int = 40, period_ns: int = 25_000_000
                                ) -> Path:
    """A bag as rosbag2 itself writes it through its writer API and `ros2 bag record -a`:
    `count` BeltState messages on the RELATIVE topic `belt/state`, one std_msgs String on the
    relative topic `note` with its type in the old `std_msgs/String` spelling (metadata and
    MCAP schema alike), and `/events/write_split` (rosbag2_interfaces/msg/WriteSplitEvent, a
    type this machine does not have) with a message before the first belt state. MCAP storage,
    metadata version 9; written by `rosbags`, nothing of sorter.bag."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    store = rosbags_typestore()
    string_cls = store.types["std_msgs/msg/String"]
    split_cls = store.types[WRITE_SPLIT_TYPE]
    offered = offered_qos()
    string_def, _ = store.generate_msgdef("std_msgs/msg/String", ros_version=2)
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        events = writer.add_connection("/events/write_split", WRITE_SPLIT_TYPE,
                                       typestore=store, offered_qos_profiles=offered)
        belt = writer.add_connection("belt/state", BELT_TYPE, typestore=store,
                                     offered_qos_profiles=offered)
        note = writer.add_connection("note", "std_msgs/String", msgdef=string_def,
                                     rihs01=store.hash_rihs01("std_msgs/msg/String"),
                                     offered_qos_profiles=offered)
        writer.write(events, T0_NS - 1, store.serialize_cdr(
            split_cls(closed_file="a_0.mcap", opened_file="a_1.mcap", node_name="rosbag2"),
            WRITE_SPLIT_TYPE))
        writer.write(note, T0_NS, store.serialize_cdr(string_cls(data="hello"),
                                                      "std_msgs/msg/String"))
        for i in range(count):
            writer.write(belt, T0_NS + i * period_ns, belt_cdr(store, i))
    return path
