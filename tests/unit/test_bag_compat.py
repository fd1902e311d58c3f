"""Both directions of compatibility, checked with independent implementations: bags written
here are read and decoded by `rosbags` (from the definitions embedded in the bag, no
sorter_interfaces needed), and bags written by `rosbags` the way `ros2 bag record -s mcap`
writes them (versions 8 and 9) are read here byte for byte; so are bags as rosbag2's writer API
writes them (relative topic names, a topic of a type not installed here, `pkg/Type` types),
and what the player makes of them. Also: only genuine ROS arguments reach rcl."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sorter.bag.definitions import message_definition, type_hash
from sorter.bag.errors import BagError
from sorter.bag.qos_yaml import QosRecord
from sorter.bag.reader import BagReader
from sorter.bag.writer import BagWriter, TopicSpec, WriterOptions
from tests.bagutil import (
    BELT_TYPE,
    T0_NS,
    WRITE_SPLIT_TYPE,
    belt_values,
    rosbags_typestore,
    write_ros2_style_bag,
    write_rosbag2_api_style_bag,
)

STRIP_TYPE = "sorter_interfaces/msg/XrtStrip"
QOS = (QosRecord(history="keep_last", depth=20, reliability="reliable", durability="volatile",
                 liveliness="automatic"),)


def strips(n: int) -> list:
    from sorter.common.images import array_to_image
    from sorter.common.timeutil import to_time_msg
    from sorter_interfaces.msg import XrtStrip

    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        msg = XrtStrip(strip_index=i, encoder_position_m=0.1024 * i, line_pitch_m=0.0008,
                       line_period_s=0.0004, pixel_pitch_m=0.0008, corrected=True)
        msg.header.stamp = to_time_msg(1.7e9 + 0.05 * i)
        msg.header.frame_id = "belt"
        image = rng.integers(0, 65535, size=(16, 40), dtype=np.uint16)
        msg.low = array_to_image(image, "mono16", msg.header.stamp, "xrt_low")
        msg.high = array_to_image(image[::-1].copy(), "mono16", msg.header.stamp, "xrt_high")
        out.append(msg)
    return out


@pytest.mark.parametrize("version", [8, 9])
def test_rosbags_reads_and_decodes_our_bags(tmp_path: Path, version: int) -> None:
    from rclpy.serialization import serialize_message
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    sent = strips(12)
    bag = tmp_path / "ours"
    with BagWriter(bag, WriterOptions(metadata_version=version, split_max_bytes=6000,
                                      chunk_size=4096)) as writer:
        writer.add_topic(TopicSpec("/xrt/strip", STRIP_TYPE, message_definition(STRIP_TYPE),
                                   QOS, type_hash(STRIP_TYPE)))
        for i, msg in enumerate(sent):
            writer.write("/xrt/strip", 1_700_000_000_000_000_000 + i * 50_000_000,
                         serialize_message(msg), sequence=i + 1)
    # A typestore without sorter_interfaces: the types come from the bag's embedded schemas.
    with AnyReader([bag], default_typestore=get_typestore(Stores.ROS2_JAZZY)) as reader:
        assert [(c.topic, c.msgtype, c.msgcount) for c in reader.connections][0] == (
            "/xrt/strip", STRIP_TYPE, 12)
        qos = reader.connections[0].ext.offered_qos_profiles[0]
        assert (qos.reliability.name, qos.durability.name, qos.depth) == (
            "RELIABLE", "VOLATILE", 20)
        got = [reader.deserialize(raw, c.msgtype) for c, _t, raw in reader.messages()]
    assert len(got) == 12
    assert len(list(bag.glob("*.mcap"))) > 1  # split into several files, all read
    for msg, back in zip(sent, got, strict=True):
        assert back.strip_index == msg.strip_index
        assert back.encoder_position_m == msg.encoder_position_m
        assert (back.header.stamp.sec, back.header.stamp.nanosec) == (
            msg.header.stamp.sec, msg.header.stamp.nanosec)
        assert bytes(back.low.data) == bytes(msg.low.data)
        assert bytes(back.high.data) == bytes(msg.high.data)


@pytest.mark.parametrize("version", [8, 9])
def test_ros2_style_bags_read_here_byte_for_byte(tmp_path: Path, version: int) -> None:
    from rclpy.serialization import deserialize_message

    from sorter_interfaces.msg import BeltState

    bag = write_ros2_style_bag(tmp_path / f"ros2_v{version}", count=40, version=version)
    reader = BagReader(bag)
    assert reader.metadata.version == version
    belt = reader.metadata.topic("/belt/state")
    assert (belt.type, belt.message_count) == (BELT_TYPE, 40)
    assert belt.offered_qos[0].reliability == "reliable"
    assert belt.offered_qos[0].history == "unknown"
    assert belt.type_description_hash == type_hash(BELT_TYPE)  # rosbags computes it itself
    messages = list(reader.messages())
    assert [m.topic for m in messages[:2]] == ["/note", "/belt/state"]
    store = rosbags_typestore()
    for i, m in enumerate(messages[1:]):
        assert m.log_time_ns == T0_NS + i * 20_000_000
        decoded = deserialize_message(m.data, BeltState)  # rclpy decodes rosbags' CDR
        want = belt_values(i)
        assert (decoded.header.stamp.sec, decoded.header.stamp.nanosec) == (
            want["sec"], want["nanosec"])
        assert decoded.encoder_position_m == want["encoder_position_m"]
        assert store.deserialize_cdr(m.data, BELT_TYPE).running is True


# -- bags as rosbag2 itself writes them: relative names, unknown types, pkg/Type --------------
def test_rosbag2_api_bag_is_read_under_fully_qualified_names(tmp_path: Path) -> None:
    from rclpy.serialization import deserialize_message

    from sorter.bag.info import bag_info, format_info
    from sorter_interfaces.msg import BeltState

    bag = write_rosbag2_api_style_bag(tmp_path / "api", count=40)
    reader = BagReader(bag)
    # metadata keeps the bag's own spelling; the reader's view is normalised
    assert [t.name for t in reader.metadata.topics] == ["/events/write_split", "belt/state",
                                                        "note"]
    assert reader.topic_types() == {"/events/write_split": WRITE_SPLIT_TYPE,
                                    "/belt/state": BELT_TYPE, "/note": "std_msgs/msg/String"}
    assert reader.recorded_names["/belt/state"] == ["belt/state"]
    for spelling in ("belt/state", "/belt/state", " belt/state "):
        assert reader.select([spelling]) == ["/belt/state"]
        assert reader.topic(spelling).message_count == 40
    assert reader.select(["note", "/note", "belt/state"]) == ["/note", "/belt/state"]
    with pytest.raises(BagError, match="'/nope' is not in .*/belt/state"):
        reader.select(["nope"])

    everything = list(reader.messages())
    assert [m.topic for m in everything[:3]] == ["/events/write_split", "/note", "/belt/state"]
    assert {m.recorded_topic for m in everything} == {"/events/write_split", "note",
                                                      "belt/state"}
    assert everything[1].type == "std_msgs/msg/String"   # schema spelled std_msgs/String
    for spelling in ("belt/state", "/belt/state"):
        belt = list(reader.messages([spelling]))
        assert [m.log_time_ns for m in belt] == [T0_NS + i * 25_000_000 for i in range(40)]
        assert {m.topic for m in belt} == {"/belt/state"}
    decoded = deserialize_message(belt[7].data, BeltState)
    assert decoded.encoder_position_m == belt_values(7)["encoder_position_m"]
    assert set(reader.definitions()) == {WRITE_SPLIT_TYPE, BELT_TYPE, "std_msgs/msg/String"}

    info = bag_info(bag)
    assert [(t["name"], t["count"]) for t in info["topics"]] == [
        ("/events/write_split", 1), ("belt/state", 40), ("note", 1)]
    text = format_info(info)
    assert "belt/state" in text and "std_msgs/String" in text and "Messages:          42" in text


def test_single_mcap_file_of_a_rosbag2_api_bag_reads_too(tmp_path: Path) -> None:
    bag = write_rosbag2_api_style_bag(tmp_path / "api", count=5)
    reader = BagReader(next(bag.glob("*.mcap")))
    assert reader.select(["note", "belt/state"]) == ["/note", "/belt/state"]
    assert len(list(reader.messages(["belt/state"]))) == 5


def test_play_plan_skips_unknown_types_once_and_takes_either_spelling(tmp_path: Path) -> None:
    from std_msgs.msg import String

    from sorter.bag.player import PlayOptions, parse_remaps, plan_playback

    bag = write_rosbag2_api_style_bag(tmp_path / "api", count=3)
    reader = BagReader(bag)
    plan = plan_playback(reader, PlayOptions(), log=lambda _m: None)
    assert [(t.name, t.publish_as, t.info.type) for t in plan.topics] == [
        ("/belt/state", "belt/state", BELT_TYPE), ("/note", "note", "std_msgs/msg/String")]
    assert list(plan.skipped) == ["/events/write_split"]
    assert "rosbag2_interfaces/msg/WriteSplitEvent is not installed" in plan.skipped[
        "/events/write_split"]
    assert plan.topics[1].msg_class is String

    for topics, remap in ((["note"], "note:=/replayed/note"),
                          (["/note"], "/note:=replayed/note")):
        plan = plan_playback(reader, PlayOptions(topics=topics, remaps=parse_remaps([remap])))
        assert [(t.name, t.publish_as, t.remapped) for t in plan.topics] == [
            ("/note", "/replayed/note", True)]
        assert plan.skipped == {}
    for pattern in ("^note$", "^/note$", "note"):  # --exclude sees both spellings
        plan = plan_playback(reader, PlayOptions(exclude=pattern))
        assert [t.name for t in plan.topics] == ["/belt/state"]

    with pytest.raises(BagError, match="no topic of .* can be played here: "
                                       "/events/write_split: .*not installed"):
        plan_playback(reader, PlayOptions(topics=["events/write_split"]))
    with pytest.raises(BagError, match="remap source '/nope' is not a topic"):
        plan_playback(reader, PlayOptions(remaps=parse_remaps(["nope:=x"])))
    with pytest.raises(BagError, match="not a regular expression"):
        PlayOptions(exclude="(")
    with pytest.raises(BagError, match="must be from:=to"):
        parse_remaps(["note=x"])


def test_a_name_recorded_in_both_spellings_is_one_topic(tmp_path: Path) -> None:
    from rosbags.rosbag2 import StoragePlugin, Writer

    from sorter.bag.player import PlayOptions, plan_playback

    store = rosbags_typestore()
    string = store.types["std_msgs/msg/String"]
    bag = tmp_path / "both"
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        rel = writer.add_connection("chat", "std_msgs/msg/String", typestore=store)
        absolute = writer.add_connection("/chat", "std_msgs/msg/String", typestore=store)
        odd = writer.add_connection("odd", "std_msgs/msg/String", typestore=store)
        odd2 = writer.add_connection("/odd", "std_msgs/msg/Bool", typestore=store)
        for i, conn in enumerate((rel, absolute, rel)):
            writer.write(conn, T0_NS + i, store.serialize_cdr(string(data=str(i)),
                                                              "std_msgs/msg/String"))
        writer.write(odd, T0_NS, store.serialize_cdr(string(data="x"), "std_msgs/msg/String"))
        writer.write(odd2, T0_NS, store.serialize_cdr(store.types["std_msgs/msg/Bool"](
            data=True), "std_msgs/msg/Bool"))
    reader = BagReader(bag)
    assert reader.select(None) == ["/chat", "/odd"]
    assert reader.topic("chat").message_count == 3
    assert [m.recorded_topic for m in reader.messages(["chat"])] == ["chat", "/chat", "chat"]
    plan = plan_playback(reader, PlayOptions(), log=lambda _m: None)
    assert [(t.name, t.publish_as) for t in plan.topics] == [("/chat", "/chat")]
    assert "std_msgs/msg/String and std_msgs/msg/Bool" in plan.skipped["/odd"]


def test_type_names_in_either_spelling_and_bad_ones_refused() -> None:
    from std_msgs.msg import String

    from sorter.bag.definitions import full_type_name, message_class, split_type_name

    assert split_type_name("std_msgs/String") == ("std_msgs", "msg", "String")
    assert full_type_name(" std_msgs/msg/String ") == "std_msgs/msg/String"
    assert message_class("std_msgs/String") is String
    assert message_class("std_msgs/msg/String") is String
    assert type_hash("std_msgs/String") == type_hash("std_msgs/msg/String") != ""
    for bad in ("String", "a/b/c/d", "../msg/X", "std_msgs/msg/", "os.path/msg/X", ""):
        with pytest.raises(BagError, match="not of the form pkg/msg/Type"):
            message_class(bad)
    with pytest.raises(BagError, match="not installed here"):
        message_class("rosbag2_interfaces/msg/WriteSplitEvent")
    with pytest.raises(BagError, match="has no msg 'Nope'"):
        message_class("std_msgs/msg/Nope")
    with pytest.raises(BagError, match="not a usable message type"):
        message_class("std_srvs/srv/Empty")


# -- ROS arguments ----------------------------------------------------------------------------
def test_only_genuine_ros_arguments_reach_rcl() -> None:
    import argparse

    from sorter.bag.cli import add_bag_parser
    from sorter.bag.rosargs import rcl_arguments, ros_arguments, tool_ros_arguments

    argv = ["sorter", "bag", "play", "b", "--remap", "a:=b", "--ros-args", "-r", "x:=y", "--",
            "--ros-args", "--log-level", "debug"]
    assert ros_arguments(argv) == ["-r", "x:=y", "--log-level", "debug"]
    assert ros_arguments(["sorter", "bag", "play", "b", "--remap", "a:=b"]) == []
    assert rcl_arguments([]) == ["sorter"]
    assert rcl_arguments(["-r", "x:=y"]) == ["sorter", "--ros-args", "-r", "x:=y"]
    with pytest.raises(BagError, match="before --ros-args"):
        tool_ros_arguments(["-r", "x:=y", "--", "b"])

    parser = argparse.ArgumentParser()
    add_bag_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bag", "play", "b", "--remap", "a:=b"])
    assert (args.remap, args.ros_args, args.wait_for_discovery) == (["a:=b"], [], 2.0)
    args = parser.parse_args(["bag", "play", "b", "--remap", "a:=b", "--wait-for-discovery",
                              "0", "--ros-args", "-r", "__ns:=/robot"])
    assert (args.remap, args.wait_for_discovery) == (["a:=b"], 0.0)
    assert tool_ros_arguments(args.ros_args) == ["-r", "__ns:=/robot"]
    args = parser.parse_args(["bag", "record", "a", "b", "--ros-args", "--log-level", "warn"])
    assert (args.topics, args.ros_args) == (["a", "b"], ["--log-level", "warn"])
    with pytest.raises(SystemExit):
        parser.parse_args(["bag", "play", "b", "--wait-for-discovery", "-1"])
