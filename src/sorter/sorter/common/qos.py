"""QoS profiles matched to each stream (best effort for viewer images, reliable for strips,
particles and commands, transient-local for calibration), named once so every node agrees."""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

# Viewer copies of the image strips: best effort, shallow, like any camera stream.
IMAGE_VIEW = qos_profile_sensor_data

# The strip the segmentation consumes: a lost strip is a lost particle, so reliable; gaps are
# still detected from strip_index. Depth 100: about 5 s of strips at 2 m/s (1 s at depth
# 20), so a segmentation process starved on a busy machine catches up instead of losing them.
STRIPS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE
)

# Particles and valve commands: reliable, deep enough for a burst of strips.
PARTICLES = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE
)
COMMANDS = PARTICLES

# High-rate state (belt encoder, occupancy): the latest value matters.
STATE = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
)

# Calibration and model info: late joiners get the last value.
LATCHED = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
