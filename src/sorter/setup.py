"""ament_python package `sorter`. Installs the repository's top-level launch/ and config/ into
share/sorter so that `ros2 launch sorter cell.launch.py` works after a colcon build."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "sorter"
NODES = {
    "feeder": "sorter.feeder.node:main",
    "belt": "sorter.belt.node:main",
    "xrt_acquisition": "sorter.xrt_acquisition.node:main",
    "segmentation": "sorter.segmentation.node:main",
    "classification": "sorter.classification.node:main",
    "size_estimation": "sorter.size_estimation.node:main",
    "ejector": "sorter.ejector.node:main",
    "cell_monitor": "sorter.cell_monitor.node:main",
    "sim_world": "sorter.sim_world.node:main",
}

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
        "console_scripts": [f"{name}={target}" for name, target in NODES.items()]
        + ["sorter=sorter.cli:main"],
    },
)
