"""Every topic and service name of the cell, named once. Nodes, drivers, the trial collector,
the bag tools, the node registry (`sorter.nodes`) and the generated node reference use these;
no other module spells a topic name. Names are relative (resolved in the node's namespace), as
image_pipeline names its streams. The QoS named here is the profile in `sorter.common.qos`.

Standard library only: setup.py and the launch file read this without ROS."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    type: str  # ROS interface, package/msg/Name
    qos: str  # profile name in sorter.common.qos ("" for the standard /diagnostics depth)
    description: str


@dataclass(frozen=True)
class Service:
    name: str
    type: str  # package/srv/Name
    description: str


# -- the particle path -------------------------------------------------------------------------
XRT_STRIP = Topic("xrt/strip", "sorter_interfaces/msg/XrtStrip", "STRIPS",
                  "dark/flat corrected dual-energy strip, stamped with its first line's time "
                  "and encoder position")
XRT_LOW_IMAGE = Topic("xrt/low/image_raw", "sensor_msgs/msg/Image", "IMAGE_VIEW",
                      "low-energy channel of each strip (mono16), for viewers")
XRT_HIGH_IMAGE = Topic("xrt/high/image_raw", "sensor_msgs/msg/Image", "IMAGE_VIEW",
                       "high-energy channel of each strip (mono16), for viewers")
PARTICLES_SEGMENTED = Topic("particles/segmented", "sorter_interfaces/msg/ParticleArray",
                            "PARTICLES", "particles found in a strip (one array per strip)")
PARTICLES_CLASSIFIED = Topic("particles/classified", "sorter_interfaces/msg/ParticleArray",
                             "PARTICLES", "particles with ore probability and R")
PARTICLES_MEASURED = Topic("particles/measured", "sorter_interfaces/msg/ParticleArray",
                           "PARTICLES", "particles with size and mass")
EJECTOR_COMMANDS = Topic("ejector/commands", "sorter_interfaces/msg/EjectCommand", "COMMANDS",
                         "each valve pulse as scheduled")

# -- state and control -------------------------------------------------------------------------
BELT_STATE = Topic("belt/state", "sorter_interfaces/msg/BeltState", "STATE",
                   "encoder position and measured speed")
BELT_SPEED_SETPOINT = Topic("belt/speed_setpoint", "std_msgs/msg/Float64", "STATE",
                            "belt speed set-point [m/s]")
BELT_OCCUPANCY = Topic("belt/occupancy", "sorter_interfaces/msg/BeltOccupancy", "STATE",
                       "area occupancy and mass flow measured by the scan, per strip")
FEEDER_SETPOINT = Topic("feeder/setpoint", "std_msgs/msg/Float64", "STATE",
                        "feed rate set-point [kg/h]")
FEEDER_STATUS = Topic("feeder/status", "sorter_interfaces/msg/FeederStatus", "STATE",
                      "feeder loop state each control step")
EJECTOR_STATUS = Topic("ejector/status", "sorter_interfaces/msg/EjectorStatus", "STATE",
                       "ejector counters and belt speed, 5 Hz")
CELL_METRICS = Topic("cell/metrics", "sorter_interfaces/msg/CellMetrics", "STATE",
                     "throughput, decisions, misses, latency")
DIAGNOSTICS = Topic("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray", "",
                    "each node's health, rejected-input counters and values")

# -- the simulator's seams (what the simulated drivers talk to) ---------------------------------
SIM_BELT_SPEED_COMMAND = Topic("sim/belt/speed_command", "std_msgs/msg/Float64", "LATCHED",
                               "belt drive speed command [m/s] (latched: a drive that joins "
                               "late still gets the set-point)")
SIM_BELT_ENCODER = Topic("sim/belt/encoder", "sorter_interfaces/msg/BeltState", "STATE",
                         "encoder latch (position only)")
SIM_FEEDER_DRIVE = Topic("sim/feeder/drive", "std_msgs/msg/Float64", "LATCHED",
                         "feeder tray drive [0..1] (latched, as the belt command)")
SIM_XRT_RAW = Topic("sim/xrt/raw", "sorter_interfaces/msg/XrtStrip", "STRIPS",
                    "raw 16-bit detector strips")
SIM_VALVES_COMMAND = Topic("sim/valves/command", "sorter_interfaces/msg/EjectCommand",
                           "COMMANDS", "valve pulses for the simulated valve controller")
SIM_VALVES_CANCEL = Topic("sim/valves/cancel", "std_msgs/msg/Empty", "COMMANDS",
                          "valve bar disarmed: drop scheduled pulses")
SIM_TRUTH_OUTCOMES = Topic("sim/truth/outcomes", "sorter_interfaces/msg/ParticleOutcomeArray",
                           "PARTICLES", "truth: which bin each particle reached (scorer only)")

# -- services ----------------------------------------------------------------------------------
BELT_SET_SPEED = Service("belt/set_speed", "sorter_interfaces/srv/SetBeltSpeed",
                         "set the belt speed set-point")
FEEDER_SET_FEED_RATE = Service("feeder/set_feed_rate", "sorter_interfaces/srv/SetFeedRate",
                               "set the feed rate set-point")
SIM_XRT_ACQUIRE_REFERENCE = Service("sim/xrt/acquire_reference",
                                    "sorter_interfaces/srv/AcquireReference",
                                    "dark or flat reference lines from the simulated detector")
