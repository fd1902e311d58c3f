"""The recorder at the cell's full rate: every data topic of the running simulated cell (raw
and corrected strips, encoder, belt state, particles, commands, status) recorded for ~15 s,
and nothing lost: no sequence gap on any topic, and as many strips in the bag as the
acquisition node says it published. Prints the recorder's throughput and CPU share."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.integration.rosutil import Probe, diagnostic_values
from tests.integration.test_bag_replay import finish, sorter_cli

pytestmark = pytest.mark.integration

TOPICS = ["sim/xrt/raw", "xrt/strip", "sim/belt/encoder", "belt/state", "belt/occupancy",
          "particles/segmented", "particles/classified", "particles/measured",
          "ejector/commands", "ejector/status", "feeder/status"]
# First published seconds after their publisher appears (strips need the detector calibrated
# and the belt moving): the bag must hold them from message 1. Other topics start publishing
# within milliseconds of their publisher's creation, before any recorder can have matched it
# (rosbag2 included); what they sent before is reported as before_subscription, not loss.
FROM_FIRST = ["/xrt/strip", "/particles/segmented", "/particles/classified",
              "/particles/measured", "/ejector/commands"]
SECONDS = 15.0


def test_recorder_loses_nothing_at_full_cell_rate(ros_domain, tmp_path, cell) -> None:
    from diagnostic_msgs.msg import DiagnosticArray

    from sorter.bag.reader import BagReader
    from sorter.launching.launcher import CellLauncher
    from sorter.launching.lifecycle_client import LifecycleClient
    from sorter.launching.specs import cell_node_specs
    from sorter_interfaces.msg import ParticleArray

    bag, stats_file = tmp_path / "cell", tmp_path / "stats.json"
    probe = Probe("loss_probe")
    recorder = None
    try:
        diagnostics = probe.collect(DiagnosticArray, "/diagnostics", 100)
        segmented = probe.collect(ParticleArray, "particles/segmented", 100)
        segmented_sub = list(probe.node.subscriptions)[-1]
        recorder = sorter_cli("bag", "record", "-o", str(bag), *TOPICS, "--stats",
                              str(stats_file))
        probe.wait_for(lambda: "sorter_bag_recorder" in probe.node.get_node_names(), 30,
                       "the recorder on the graph")
        specs = cell_node_specs(cell)  # the unmodified config/cell.yaml, as `sorter launch`

        def observers_subscribed() -> None:
            """Before the first activation (the first strip): the recorder has subscribed to
            every topic and the probe is matched, so neither misses the first messages."""
            def ready() -> bool:
                for topic in TOPICS:
                    infos = probe.node.get_subscriptions_info_by_topic(f"/{topic}")
                    if "sorter_bag_recorder" not in {i.node_name for i in infos}:
                        return False
                return segmented_sub.get_publisher_count() > 0

            probe.wait_for(ready, 30, "the recorder and the probe subscribed")

        with CellLauncher(specs, tmp_path / "run", log=lambda _m: None,
                          before_activate=observers_subscribed) as launcher:
            end = time.monotonic() + SECONDS
            probe.wait_for(lambda: (launcher.check_alive(), time.monotonic() > end)[1],
                           SECONDS + 10, "the cell to run")
            # Stop the strip source so its final count is known, then let the rest drain.
            with LifecycleClient("loss_test_lifecycle") as lifecycle:
                ok, why = lifecycle.change_state("xrt_acquisition", "deactivate",
                                                 time.monotonic() + 20, launcher.check_alive)
            assert ok, why
            mark = len(diagnostics)

            def final_count() -> int | None:
                values = diagnostic_values(diagnostics[mark:], "xrt_acquisition")
                counts = [int(v["strips_published"]) for v in values if "strips_published" in v]
                return counts[-1] if len(counts) >= 2 and counts[-1] == counts[-2] else None

            if not probe.wait_until(lambda: final_count() is not None, 20):
                seen = diagnostic_values(diagnostics[mark:], "xrt_acquisition")
                raise AssertionError(
                    f"no settled strip count in 20 s: {len(diagnostics) - mark} diagnostics "
                    f"arrays since the deactivation, xrt_acquisition's: "
                    f"{[(v.get('strips_published'), v['_message']) for v in seen]}")
            published = final_count()
            # On two busy cores segmentation may be a second or two behind the detector.
            drained = probe.wait_until(lambda: len(segmented) >= published, 30)
            seg_status = (diagnostic_values(diagnostics, "segmentation") or [{}])[-1]
            settle = time.monotonic() + 0.5
            probe.wait_for(lambda: time.monotonic() > settle, 5, "the last messages")
            recorder.send_signal(signal.SIGINT)
            out = finish(recorder, 60)
    finally:
        if recorder is not None and recorder.poll() is None:
            recorder.kill()
        probe.close()

    stats = json.loads(stats_file.read_text())
    loss = stats["loss"]
    # Segmentation's own count of strips it processed, and how many it never got. Seen on the
    # 2-core machine in 2-3 of 10 runs: the last 1-12 strips sent before the detector was
    # deactivated reach the recorder but never segmentation (more under load; not even once
    # the stream restarts), while mid-stream nothing is lost (no index gap). That is an open
    # pipeline finding reported here, not a recorder loss; a gap inside the stream still
    # fails, and so does any loss at the recorder.
    seg_strips = int(seg_status.get("strips", 0))
    shortfall = published - seg_strips
    why = (f"{len(segmented)} arrays at the probe for {published} strips; recorder saw "
           f"{ {t: loss.get(t) for t in ('/xrt/strip', '/particles/segmented')} }; "
           f"segmentation says {seg_status}")
    assert seg_status.get("lost_strips") == "0" and seg_status.get("gap_resets") == "0", why
    assert drained or shortfall > 0, why
    if shortfall:
        print(f"\nsegmentation never received the last {shortfall} of {published} strips")
    assert {f"/{t}" for t in TOPICS} <= set(loss), out
    assert {t: v["gaps"] for t, v in loss.items() if v["gaps"]} == {}, out
    assert {t: loss[t]["before_subscription"] for t in FROM_FIRST
            if loss[t]["before_subscription"]} == {}, out
    for topic, v in loss.items():  # nothing published between two received is missing
        assert v["received"] + v["before_subscription"] + v["out_of_order"] == \
            v["last_sequence"], (topic, v)
    assert loss["/xrt/strip"]["received"] == published, out
    assert loss["/particles/segmented"]["received"] == seg_strips  # one array per strip
    assert stats["topics"] == {t: v["received"] for t, v in loss.items()}
    counted = {}
    for message in BagReader(bag).messages():
        counted[message.topic] = counted.get(message.topic, 0) + 1
    assert counted == stats["topics"]
    assert published > 10 * SECONDS  # the cell really ran at its rate (~19 strips/s)
    print(f"\nrecorder at full cell rate: {stats['mb_per_s']:.2f} MB/s, "
          f"{stats['messages_per_s']:.0f} msg/s, CPU {100 * stats['cpu_share']:.1f} % of a core, "
          f"{stats['messages']} messages ({stats['bytes'] / 1e6:.1f} MB) in "
          f"{stats['wall_s']:.1f} s, {published} strips, 0 lost")
