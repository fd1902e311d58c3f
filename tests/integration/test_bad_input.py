"""Bad input against real node processes: each malformed message is rejected with its reason on
/diagnostics, counted, and the node keeps working; bad parameters are refused when set."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sorter.common.images import array_to_image
from sorter.common.timeutil import to_time_msg
from tests.integration.rosutil import cell_nodes, diagnostic_values

pytestmark = pytest.mark.integration


def _strip(index: int, stamp_s: float, encoder_m: float, lines: int = 128, pixels: int = 500,
           encoding: str = "mono16"):
    from sorter_interfaces.msg import XrtStrip

    rows, cols = np.mgrid[0:lines, 0:pixels]
    disc = (rows - lines / 2) ** 2 + (cols - 250) ** 2 < 12**2
    att_high = np.where(disc, 0.5, 0.0)
    t_low = np.rint(np.exp(-1.7 * att_high) * 65535).astype(np.uint16)
    t_high = np.rint(np.exp(-att_high) * 65535).astype(np.uint16)
    msg = XrtStrip()
    msg.header.stamp = to_time_msg(stamp_s)
    msg.header.frame_id = "belt"
    msg.strip_index = index
    msg.encoder_position_m = encoder_m
    msg.line_pitch_m = 0.0008
    msg.line_period_s = 0.0004
    msg.pixel_pitch_m = 0.0008
    msg.corrected = True
    if encoding == "mono16":
        msg.low = array_to_image(t_low, "mono16")
        msg.high = array_to_image(t_high, "mono16")
    else:
        msg.low = array_to_image((t_low >> 8).astype(np.uint8), encoding)
        msg.high = array_to_image((t_high >> 8).astype(np.uint8), encoding)
    return msg


@pytest.fixture
def pipeline(ros_domain, tmp_path, cell):
    """segmentation + classification + size_estimation + ejector as real processes."""
    names = {"segmentation", "classification", "size_estimation", "ejector"}
    with cell_nodes(cell, names, tmp_path) as running:
        yield running


def test_malformed_strips_are_rejected_and_the_node_keeps_working(pipeline) -> None:
    from diagnostic_msgs.msg import DiagnosticArray

    from sorter.common import qos
    from sorter_interfaces.msg import ParticleArray, XrtStrip

    launcher, probe = pipeline
    out = probe.collect(ParticleArray, "particles/measured", qos.PARTICLES)
    diags = probe.collect(DiagnosticArray, "/diagnostics")
    pub = probe.node.create_publisher(XrtStrip, "xrt/strip", qos.STRIPS)
    probe.wait_for_subscriber(pub)
    for topic in ("particles/segmented", "particles/classified"):
        probe.wait_for_graph(topic, publishers=1, subscribers=1)
    probe.wait_for_graph("particles/measured", publishers=1, subscribers=2)

    wrong_encoding = _strip(0, 100.0, 0.0, encoding="mono8")
    short_data = _strip(0, 100.0, 0.0)
    short_data.high.data = bytes(short_data.high.data)[:-10]
    uncorrected = _strip(0, 100.0, 0.0)
    uncorrected.corrected = False
    for bad in (wrong_encoding, short_data, uncorrected):
        pub.publish(bad)
    # Then good strips, one disc each, fully inside: the first may still race the discovery
    # between the pipeline's own nodes, so keep sending until one comes out measured.
    for index in range(1, 41):
        pub.publish(_strip(index, 100.0 + 0.1 * index, 0.1024 * index))
        if probe.wait_until(lambda: any(m.particles for m in out), 0.5):
            break
    else:
        raise AssertionError("no good strip made it through the pipeline in 40 tries")

    def rejected() -> int:
        values = diagnostic_values(diags, "segmentation")
        return int(values[-1]["rejected_total"]) if values else 0

    probe.wait_for(lambda: rejected() >= 3, 10.0, "3 rejections on /diagnostics")
    statuses = diagnostic_values(diags, "segmentation")
    messages = " ".join(s["_message"] for s in statuses)
    assert "mono16" in messages or "bytes" in messages or "corrected" in messages
    particle = out[-1].particles[0]
    assert particle.classified and particle.measured
    # a 12 px radius disc of 0.8 mm pixels: ~19 mm equivalent diameter
    assert particle.equivalent_diameter_m == pytest.approx(2 * 12 * 0.0008, rel=0.08)
    assert launcher.dead() == []


def test_bad_particles_reach_the_ejector_and_are_counted(pipeline) -> None:
    from sorter.common import qos
    from sorter_interfaces.msg import EjectorStatus, Particle, ParticleArray

    launcher, probe = pipeline
    status = probe.collect(EjectorStatus, "ejector/status", qos.STATE)
    pub = probe.node.create_publisher(ParticleArray, "particles/measured", qos.PARTICLES)
    probe.wait_for_subscriber(pub)
    unfinished = Particle(id=7)  # neither classified nor measured
    nan_edge = Particle(id=8, classified=True, measured=True)
    nan_edge.leading_edge_encoder_m = math.nan
    pub.publish(ParticleArray(particles=[unfinished, nan_edge]))
    probe.wait_for(lambda: status and status[-1].rejected_inputs >= 2, 10.0,
                   "two rejected inputs in ejector/status")
    assert status[-1].ejections_scheduled == 0  # nothing fired on bad data
    assert launcher.dead() == []


def test_parameters_are_validated_when_set(pipeline) -> None:
    """A refused set says why and changes nothing; a read-only parameter says so in describe;
    an accepted set is the one in use (the next strip is classified with it)."""
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import DescribeParameters, GetParameters, SetParameters

    from sorter.common import qos
    from sorter_interfaces.msg import ParticleArray, XrtStrip

    launcher, probe = pipeline

    def set_param(node: str, name: str, value: ParameterValue):
        request = SetParameters.Request(parameters=[Parameter(name=name, value=value)])
        return probe.call(SetParameters, f"/{node}/set_parameters", request).results[0]

    def get_param(node: str, name: str):
        request = GetParameters.Request(names=[name])
        return probe.call(GetParameters, f"/{node}/get_parameters", request).values[0]

    def describe(node: str, name: str):
        request = DescribeParameters.Request(names=[name])
        return probe.call(DescribeParameters, f"/{node}/describe_parameters",
                          request).descriptors[0]

    def curve(values: list[float]) -> ParameterValue:
        return ParameterValue(type=ParameterType.PARAMETER_DOUBLE_ARRAY,
                              double_array_value=values)

    nan = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=math.nan)
    result = set_param("segmentation", "attenuation_threshold", nan)
    assert not result.successful and "nan" in result.reason.lower()
    gold = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="gold")
    result = set_param("ejector", "eject", gold)
    assert not result.successful and "one of ['ore', 'waste']" in result.reason
    pitch = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=0.02)
    result = set_param("ejector", "valve_pitch_m", pitch)
    assert not result.successful and "read-only" in result.reason
    assert describe("ejector", "valve_pitch_m").read_only
    assert not describe("ejector", "eject").read_only
    assert not describe("classification", "r_threshold_curve").read_only

    # The core's own refusal: an odd number of values is no (a_H, R) curve.
    before = list(get_param("classification", "r_threshold_curve").double_array_value)
    result = set_param("classification", "r_threshold_curve", curve([0.1, 2.0, 0.3]))
    assert not result.successful and "pairs" in result.reason, result.reason
    assert list(get_param("classification", "r_threshold_curve").double_array_value) == before
    ok = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=0.08)
    assert set_param("segmentation", "attenuation_threshold", ok).successful

    # Accepted sets take effect: the test disc has R = 1.7; a curve at R = 1.0 calls it ore
    # (R above the curve), one at R = 3.0 calls it waste.
    out = probe.collect(ParticleArray, "particles/classified", qos.PARTICLES)
    pub = probe.node.create_publisher(XrtStrip, "xrt/strip", qos.STRIPS)
    probe.wait_for_subscriber(pub)
    probe.wait_for_graph("particles/classified", publishers=1, subscribers=2)
    index = 100
    for threshold_r, expect_ore in ((1.0, True), (3.0, False), (1.0, True)):
        assert set_param("classification", "r_threshold_curve",
                         curve([0.01, threshold_r, 5.0, threshold_r])).successful
        out.clear()
        for _ in range(40):
            index += 1
            pub.publish(_strip(index, 200.0 + 0.1 * index, 0.1024 * index))
            if probe.wait_until(lambda: any(m.particles for m in out), 0.5):
                break
        particle = next(p for m in out for p in m.particles)
        assert particle.is_ore is expect_ore, (threshold_r, particle.ratio_r)
    assert launcher.dead() == []
