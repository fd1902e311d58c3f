"""ament_python package `sorter`. Installs the repository's top-level launch/ and config/ into
share/sorter so that `ros2 launch sorter cell.launch.py` works after a colcon build."""

import sys
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "sorter"
# The node executables come from the node registry (sorter/nodes.py, standard library only).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from sorter.nodes import ALL_NODES  # noqa: E402

NODE_ENTRY_POINTS = [node.entry_point for node in ALL_NODES]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["tests"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("../../launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("../../config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="sorter developers",
    maintainer_email="sorter@example.com",
    description="Sensor-based ore sorting cell on ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [*NODE_ENTRY_POINTS, "sorter=sorter.cli:main"],
    },
)
