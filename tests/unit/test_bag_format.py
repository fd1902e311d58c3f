"""sorter.bag without middleware: metadata.yaml (rosbag2 v8/v9), QoS spelling, embedded message
definitions, split files, crash repair, loss accounting, and bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from sorter.bag.definitions import message_definition, msg_dependencies, type_hash
from sorter.bag.errors import BagError
from sorter.bag.loss import LossAccountant
from sorter.bag.metadata import BagMetadata
from sorter.bag.qos_yaml import INFINITE_NS, QosRecord, dump_profiles, load_profiles
from sorter.bag.reader import BagReader
from sorter.bag.repair import repair, scan_file
from sorter.bag.writer import BagWriter, TopicSpec, WriterOptions

REPO = Path(__file__).resolve().parents[2]
BELT = "sorter_interfaces/msg/BeltState"
STRIP_QOS = QosRecord(history="keep_last", depth=20, reliability="reliable",
                      durability="volatile", liveliness="automatic")
LATCHED = QosRecord(reliability="reliable", durability="transient_local")


def belt_bytes(i: int) -> bytes:
    from rclpy.serialization import serialize_message

    from sorter_interfaces.msg import BeltState

    msg = BeltState(encoder_position_m=0.01 * i, speed_m_s=2.0, running=True)
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1000 + i // 100, (i % 100) * 10_000_000
    return serialize_message(msg)


def belt_topic(name: str = "/belt/state", qos: QosRecord = STRIP_QOS) -> TopicSpec:
    return TopicSpec(name, BELT, message_definition(BELT), (qos,), type_hash(BELT))


def make_bag(path: Path, n: int = 50, **options) -> Path:
    with BagWriter(path, WriterOptions(**options)) as writer:
        writer.add_topic(belt_topic())
        writer.add_topic(belt_topic("/calib", LATCHED))
        writer.write("/calib", 1_000_000_000 * 1000, belt_bytes(0), sequence=1)
        for i in range(n):
            writer.write("/belt/state", 1_000_000_000 * 1000 + i * 10_000_000, belt_bytes(i),
                         sequence=i + 1)
    return path


# -- QoS --------------------------------------------------------------------------------------
def test_qos_is_written_as_each_metadata_version_spells_it() -> None:
    v8 = STRIP_QOS.to_dict(8)
    v9 = STRIP_QOS.to_dict(9)
    assert (v8["history"], v8["reliability"], v8["durability"], v8["liveliness"]) == (1, 1, 2, 1)
    assert (v9["history"], v9["reliability"], v9["durability"], v9["liveliness"]) == (
        "keep_last", "reliable", "volatile", "automatic")
    assert v9["deadline"] == {"sec": 9223372036, "nsec": 854775807}
    for version in (8, 9):
        assert load_profiles(dump_profiles([STRIP_QOS, LATCHED], version)) == [STRIP_QOS, LATCHED]


def test_qos_reads_foxy_infinity_and_refuses_nonsense() -> None:
    body = STRIP_QOS.to_dict(9) | {"deadline": {"sec": 2147483647, "nsec": 4294967295}}
    assert QosRecord.from_dict(body).deadline_ns == INFINITE_NS
    with pytest.raises(BagError, match="reliability"):
        QosRecord.from_dict(STRIP_QOS.to_dict(9) | {"reliability": "sometimes"})
    with pytest.raises(BagError, match="lacks 'depth'"):
        QosRecord.from_dict({k: v for k, v in STRIP_QOS.to_dict(9).items() if k != "depth"})
    with pytest.raises(BagError, match="not YAML"):
        load_profiles("- history: [unclosed")


# -- definitions ------------------------------------------------------------------------------
def test_definition_embeds_each_dependency_once_in_rosbag2_layout() -> None:
    text = message_definition("sorter_interfaces/msg/ParticleArray").text
    sections = text.split("\n" + "=" * 80 + "\n")
    names = [s.split("\n", 1)[0] for s in sections[1:]]
    # depth first, each message's dependencies in sorted order, each type once
    assert names == ["MSG: sorter_interfaces/Particle", "MSG: builtin_interfaces/Time",
                     "MSG: std_msgs/Header"]
    assert sections[0] == (REPO / "src/sorter_interfaces/msg/ParticleArray.msg").read_text()
    assert msg_dependencies("uint8 BIN=1\nstring<=5 s\nfloat32[] a # c\nHeader h\n", "p") == {
        "p/Header"}


def test_definitions_decode_with_an_independent_ros2msg_parser() -> None:
    """mcap-ros2-support parses the embedded text the way Foxglove does, and decodes our
    CDR with it."""
    import numpy as np
    from mcap.records import Schema
    from mcap_ros2.decoder import DecoderFactory
    from rclpy.serialization import serialize_message

    from sorter.common.images import array_to_image
    from sorter_interfaces.msg import XrtStrip

    strip = XrtStrip(strip_index=7, encoder_position_m=1.25, corrected=True)
    strip.low = array_to_image(np.arange(12, dtype=np.uint16).reshape(3, 4), "mono16",
                               strip.header.stamp, "low")
    definition = message_definition("sorter_interfaces/msg/XrtStrip")
    schema = Schema(id=1, name=definition.type_name, encoding="ros2msg",
                    data=definition.text.encode())
    decoded = DecoderFactory().decoder_for("cdr", schema)(serialize_message(strip))
    assert (decoded.strip_index, decoded.encoder_position_m, decoded.low.width) == (7, 1.25, 4)
    assert bytes(decoded.low.data) == bytes(strip.low.data)
    for type_name in ("sorter_interfaces/msg/ParticleArray",
                      "diagnostic_msgs/msg/DiagnosticArray"):
        text = message_definition(type_name).text.encode()
        assert DecoderFactory().decoder_for(
            "cdr", Schema(id=1, name=type_name, encoding="ros2msg", data=text))
    assert type_hash(BELT).startswith("RIHS01_")


def test_unknown_types_are_refused_with_the_reason() -> None:
    with pytest.raises(BagError, match="not installed"):
        message_definition("no_such_pkg/msg/Thing")
    with pytest.raises(BagError, match="pkg/msg/Type"):
        message_definition("justaname")


# -- metadata ---------------------------------------------------------------------------------
# Keys rosbag2's decoder reads unconditionally (rosbag2_storage yaml.hpp) for version >= 8.
ROSBAG2_REQUIRED = ("version", "storage_identifier", "duration", "starting_time",
                    "message_count", "topics_with_message_count", "relative_file_paths",
                    "compression_format", "compression_mode", "files", "custom_data",
                    "ros_distro")


@pytest.mark.parametrize("version", [8, 9])
def test_metadata_has_every_field_rosbag2_reads(tmp_path: Path, version: int) -> None:
    bag = make_bag(tmp_path / "bag", metadata_version=version)
    body = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert set(ROSBAG2_REQUIRED) <= set(body)
    assert body["version"] == version and body["storage_identifier"] == "mcap"
    assert body["relative_file_paths"] == ["bag_0.mcap"]
    topic = body["topics_with_message_count"][0]
    assert set(topic["topic_metadata"]) == {"name", "type", "serialization_format",
                                            "offered_qos_profiles", "type_description_hash"}
    qos = topic["topic_metadata"]["offered_qos_profiles"]
    if version == 8:
        assert isinstance(qos, str) and yaml.safe_load(qos)[0]["reliability"] == 1
    else:
        assert qos[0]["reliability"] == "reliable"
    assert body["message_count"] == 51 == sum(t["message_count"]
                                              for t in body["topics_with_message_count"])
    meta = BagMetadata.read(bag)
    assert meta.topic("/calib").offered_qos == [LATCHED]


def test_metadata_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="sorter bag repair"):
        BagMetadata.read(tmp_path)
    bad = "rosbag2_bagfile_information:\n  version: 9\n  storage_identifier: mcap\n"
    with pytest.raises(BagError, match="'topics_with_message_count' is missing"):
        BagMetadata.from_yaml(bad)
    with pytest.raises(BagError, match="not rosbag2 metadata"):
        BagMetadata.from_yaml("hello: 1\n")


# -- writer and reader ------------------------------------------------------------------------
def test_split_by_size_and_duration_keeps_every_message_in_order(tmp_path: Path) -> None:
    big = make_bag(tmp_path / "big", n=400, split_max_bytes=8000, chunk_size=2048)
    long = make_bag(tmp_path / "long", n=400, split_max_duration_s=1.0)
    for bag in (big, long):
        meta = BagMetadata.read(bag)
        assert len(meta.files) > 2, meta.files
        assert [f.path for f in meta.files] == [f"{bag.name}_{i}.mcap"
                                                for i in range(len(meta.files))]
        messages = list(BagReader(bag).messages(["belt/state"]))
        assert [m.sequence for m in messages] == list(range(1, 401))
        assert [m.data for m in messages] == [belt_bytes(i) for i in range(400)]
        assert sum(f.message_count for f in meta.files) == 401
    durations = [f.duration_ns for f in BagMetadata.read(long).files]
    assert max(durations) < 1_000_000_000


def test_reader_refuses_bad_input_clearly(tmp_path: Path) -> None:
    bag = make_bag(tmp_path / "bag")
    with pytest.raises(BagError, match="'/nope' is not in"):
        list(BagReader(bag).messages(["nope"]))
    with pytest.raises(BagError, match="no bag at"):
        BagReader(tmp_path / "missing")
    (bag / "bag_0.mcap").write_bytes(b"\x89MCAP0\r\n" + os.urandom(4000))
    with pytest.raises(BagError, match="damaged or truncated"):
        list(BagReader(bag).messages())
    (tmp_path / "junk.mcap").write_bytes(b"not an mcap at all")
    with pytest.raises(BagError):
        list(BagReader(tmp_path / "junk.mcap").messages())


def test_writer_never_overwrites(tmp_path: Path) -> None:
    make_bag(tmp_path / "bag")
    with pytest.raises(BagError, match="exists already"):
        BagWriter(tmp_path / "bag")
    with pytest.raises(BagError, match="compression"):
        WriterOptions(compression="gzip")


# -- crash and repair -------------------------------------------------------------------------
WRITER_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_bag_format import belt_bytes, belt_topic
    from sorter.bag.writer import BagWriter, WriterOptions
    w = BagWriter(sys.argv[1], WriterOptions(flush_interval_s=0.05))
    w.add_topic(belt_topic())
    i = 0
    while True:
        i += 1
        w.write("/belt/state", 10**12 + i * 10**7, belt_bytes(i), sequence=i)
        if i == 200:
            print("written", flush=True)
        time.sleep(0.002)
""")


def test_killed_writer_is_repaired_with_everything_flushed(tmp_path: Path) -> None:
    bag = tmp_path / "crashed"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER_SCRIPT.format(tests=str(Path(__file__).parent)),
         str(bag)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "written"
        time.sleep(0.2)  # a few more flush intervals
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (bag / "metadata.yaml").exists()
    assert not scan_file(bag / "crashed_0.mcap").complete
    with pytest.raises(BagError, match="sorter bag repair"):
        BagReader(bag)
    report = repair(bag)
    assert report.salvaged == ["crashed_0.mcap"]
    messages = list(BagReader(bag).messages())
    assert len(messages) >= 200  # all flushed before "written" and then some
    assert [m.sequence for m in messages] == list(range(1, len(messages) + 1))
    assert messages[-1].data == belt_bytes(len(messages))
    meta = BagMetadata.read(bag)
    assert meta.topic("/belt/state").offered_qos == [STRIP_QOS]
    assert meta.topic("/belt/state").type_description_hash == type_hash(BELT)
    with pytest.raises(BagError, match="--force"):
        repair(bag)


def test_repair_of_a_closed_bag_rebuilds_identical_counts(tmp_path: Path) -> None:
    bag = make_bag(tmp_path / "bag", n=120, split_max_bytes=4000, chunk_size=1024)
    before = BagMetadata.read(bag)
    report = repair(bag, force=True)
    assert report.salvaged == []
    after = BagMetadata.read(bag)
    assert [(f.path, f.message_count, f.starting_time_ns, f.duration_ns) for f in after.files] \
        == [(f.path, f.message_count, f.starting_time_ns, f.duration_ns) for f in before.files]
    assert [(t.name, t.message_count, t.offered_qos) for t in after.topics] == \
        [(t.name, t.message_count, t.offered_qos) for t in before.topics]


# -- loss accounting --------------------------------------------------------------------------
def test_sequence_gaps_are_counted_per_publisher_stream() -> None:
    loss = LossAccountant()
    for seq in [5, 6, 7, 10, 11, 11, 12]:  # subscribed at 5; 8, 9 lost; 11 duplicated
        loss.record("/a", seq)
    a = loss.topics["/a"]
    assert (a.received, a.gaps, a.gap_events, a.before_subscription, a.out_of_order) == (
        7, 2, 1, 4, 1)
    assert a.exact
    loss.set_publishers("/b", 2)
    for seq in [1, 1, 2, 2, 3, 5, 3, 4]:  # two publishers interleaved; one lost seq 4
        loss.record("/b", seq)
    b = loss.topics["/b"]
    assert (b.received, b.gaps, b.exact) == (8, 1, False)


# -- info and playback QoS --------------------------------------------------------------------
def test_info_summarizes_like_ros2_bag_info_and_warns_about_unlisted_files(tmp_path: Path
                                                                           ) -> None:
    from sorter.bag.info import bag_info, format_info

    bag = make_bag(tmp_path / "bag", n=30)
    text = format_info(bag_info(bag))
    assert "Messages:          31" in text and "Storage id:        mcap (metadata v9)" in text
    assert "/belt/state" in text and "30 msgs" in text and "reliable/transient_local" in text
    (bag / "bag_1.mcap").write_bytes((bag / "bag_0.mcap").read_bytes())
    assert "files not in metadata.yaml" in format_info(bag_info(bag))


def test_replay_offers_the_recorded_qos() -> None:
    from rclpy.qos import DurabilityPolicy, ReliabilityPolicy

    from sorter.bag.player import playback_qos

    latched = playback_qos([LATCHED], depth=7)
    assert (latched.durability, latched.reliability, latched.depth) == (
        DurabilityPolicy.TRANSIENT_LOCAL, ReliabilityPolicy.RELIABLE, 7)
    camera = playback_qos([QosRecord(reliability="best_effort")], depth=5)
    assert camera.reliability == ReliabilityPolicy.BEST_EFFORT
    mixed = playback_qos([LATCHED, QosRecord(reliability="best_effort")], depth=5)
    assert (mixed.reliability, mixed.durability) == (ReliabilityPolicy.RELIABLE,
                                                     DurabilityPolicy.VOLATILE)
