"""sorter: a ROS 2 sensor-based ore sorting cell and its simulator."""
