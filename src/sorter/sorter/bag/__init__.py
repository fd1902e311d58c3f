"""rosbag2-compatible recording and replay, without rosbag2.

`ros2 bag` cannot be installed from the wheels, yet a plant engineer records bags on the machine
and replays them at a desk, and regressions are caught by replaying golden bags. This package
writes and reads the rosbag2 layout (a folder with ``metadata.yaml`` and MCAP files) so that
bags made here open in ``ros2 bag info/play`` and bags made by ``ros2 bag record -s mcap`` play
here.

ROS-free modules (plain Python, importable without a ROS environment):

- :mod:`~sorter.bag.metadata`    metadata.yaml (rosbag2 versions 8 and 9) read and write
- :mod:`~sorter.bag.qos_yaml`    offered QoS profiles as rosbag2 serializes them
- :mod:`~sorter.bag.definitions` message definitions (ros2msg text) and type hashes
- :mod:`~sorter.bag.writer`      MCAP files with splitting and bounded crash loss
- :mod:`~sorter.bag.reader`      offline reader (time ordered, topic filter)
- :mod:`~sorter.bag.repair`      rebuild metadata.yaml (and salvage files) after a crash
- :mod:`~sorter.bag.loss`        loss accounting from publication sequence numbers
- :mod:`~sorter.bag.info`        `sorter bag info`
- :mod:`~sorter.bag.rosargs`     ROS arguments kept apart from the tool's own for rclpy.init

ROS modules (rclpy): :mod:`~sorter.bag.recorder`, :mod:`~sorter.bag.player`; and the
regression tooling :mod:`~sorter.bag.golden` / :mod:`~sorter.bag.regression`, which need the
message classes but no middleware. :mod:`~sorter.bag.cli` holds the `sorter bag` commands.
"""
