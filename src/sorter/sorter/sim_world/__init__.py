"""The simulated cell (its own process, as Gazebo would be): ROS-free core modules
(particles, detector, world, scorer) and the thin `sim_world` node that bridges them."""
