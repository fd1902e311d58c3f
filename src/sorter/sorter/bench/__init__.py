"""`sorter bench`: does the cell keep up, and with how much room? A benchmark, not a test.

Part 1 (stages) times every stage of the sorting pipeline per strip, single-threaded, with the
nodes' own code: the cores built by the same builders from the same typed parameters, fed the
same messages through the same adapters (the acquisition driver's raw_strip_from_msg, the
corrector, strip_to_msg, StripStream.push, classify_array, measure_array, the ejector's
message adapters and scheduler), on strips the simulator renders at the cell's belt speed and
feed rate (strips). The yardstick is the strip period (the real-time budget of one strip: lines
x line pitch / belt speed); the simulator's own render time is measured alongside as a
same-machine baseline. ROS transport (DDS, executor wake-ups) is not in part 1: only the CPU
each stage spends on its data, serialization included.

Part 2 (live) runs the real cell (every node its own process, on an isolated localhost ROS
domain) for a short while and reports the scan->command latency the ejector stamps on each
valve command, against the decision budget scan_to_nozzle / speed - valve response time.

Every number is printed with the data and the machine it comes from (summary), and saved to
results/bench-<time>.json. The entry point is :func:`sorter.bench.run.main`.
"""
