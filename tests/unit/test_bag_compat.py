"""Both directions of compatibility, checked with independent implementations: bags written
here are read and decoded by `rosbags` (from the definitions embedded in the bag, no
sorter_interfaces needed), and bags written by `rosbags` the way `ros2 bag record -s mcap`
writes them (versions 8 and 9) are read here byte for byte."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sorter.bag.definitions import message_definition, type_hash
from sorter.bag.qos_yaml import QosRecord
from sorter.bag.reader import BagReader
from sorter.bag.writer import BagWriter, TopicSpec, WriterOptions
from tests.bagutil import BELT_TYPE, T0_NS, belt_values, rosbags_typestore, write_ros2_style_bag

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
