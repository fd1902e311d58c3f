"""Layering: the cores stay ROS-free (importable and testable without a ROS installation).

The rule, by file name so that new modules are covered without editing this test:

* in a node package (a folder of sorter holding a node.py) every module is ROS-free except
  node.py, adapters.py and the drivers (driver.py, drivers.py, *_driver.py, *_drivers.py);
* every module of the X-ray generator (xrt_generator/) and of the learned models (models/) is
  ROS-free;
* so are the pure shared modules listed in PURE_MODULES.

ROS-free means: no import of a ROS middleware or message package (ROS_PACKAGES), directly or
through any sorter module it imports, at any depth. Every import statement counts, also one
inside a function or under `if TYPE_CHECKING:`; importing a.b.c also runs a/__init__.py and
a/b/__init__.py, so those count as well. The modules are parsed (ast), never imported.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "sorter"
PACKAGE = SRC / "sorter"

ROS_PACKAGES = frozenset({
    "rclpy", "rcl_interfaces", "sorter_interfaces", "std_msgs", "sensor_msgs",
    "diagnostic_msgs", "builtin_interfaces", "lifecycle_msgs", "rosgraph_msgs",
    "geometry_msgs", "std_srvs", "rosidl_runtime_py", "rosbag2_py", "launch_ros",
    "message_filters", "tf2_ros",
})
ROS_SIDE_NAMES = frozenset({"node", "adapters", "driver", "drivers"})
ROS_FREE_PACKAGES = ("xrt_generator", "models")
PURE_MODULES = (
    "sorter.physics",
    "sorter.common.validation",
    "sorter.common.particle_crops",
    "sorter.cell.description",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@cache
def _imports(module: str) -> tuple[tuple[str, int], ...]:
    """(imported module, line) for every import statement of `module`, relative ones resolved;
    `from a import b` yields a, and a.b too when a.b is a sorter module."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            found.extend((f"{target}.{alias.name}", node.lineno) for alias in node.names
                         if f"{target}.{alias.name}" in MODULES)
    return tuple(found)


def _sorter_modules_run(target: str) -> list[str]:
    """The sorter modules an import of `target` executes: its packages, then itself."""
    parts = target.split(".")
    return [m for m in (".".join(parts[:i]) for i in range(1, len(parts) + 1)) if m in MODULES]


def _ros_chain(module: str) -> list[str] | None:
    """None when `module` is ROS-free, else the path to the first ROS import found:
    ["sorter/a.py:12 imports sorter.b", ..., "sorter/b.py:3 imports rclpy.node"]."""
    seen: set[str] = set()

    def visit(name: str) -> list[str] | None:
        seen.add(name)
        rel = MODULES[name].relative_to(SRC)
        imports = _imports(name)
        for target, line in imports:
            if target.split(".")[0] in ROS_PACKAGES:
                return [f"{rel}:{line} imports {target}"]
        for target, line in imports:
            for dep in _sorter_modules_run(target):
                if dep in seen or dep == name:
                    continue
                rest = visit(dep)
                if rest is not None:
                    return [f"{rel}:{line} imports {dep}", *rest]
        return None

    return visit(module)


def _node_packages() -> list[Path]:
    return sorted(p.parent for p in PACKAGE.glob("*/node.py"))


def _is_ros_side(path: Path) -> bool:
    stem = path.stem
    return stem in ROS_SIDE_NAMES or stem.endswith(("_driver", "_drivers"))


def ros_free_modules() -> list[str]:
    """Every module the layering rule says must be ROS-free."""
    names = set(PURE_MODULES)
    for folder in _node_packages():
        names.update(_module_name(p) for p in folder.glob("*.py") if not _is_ros_side(p))
    for package in ROS_FREE_PACKAGES:
        names.update(_module_name(p) for p in (PACKAGE / package).rglob("*.py"))
    return sorted(names)


def test_the_rule_covers_the_cores():
    checked = set(ros_free_modules())
    assert set(PURE_MODULES) <= set(MODULES), "a PURE_MODULES entry names no module"
    packages = _node_packages()
    assert len(packages) >= 8, f"node packages not found under {PACKAGE}"
    cores = {_module_name(p / "core.py") for p in packages if (p / "core.py").exists()}
    assert len(cores) >= 7 and cores <= checked
    assert "sorter.xrt_generator.model" in checked
    assert "sorter.segmentation.node" not in checked
    assert "sorter.segmentation.adapters" not in checked


def test_the_import_scan_sees_ros_imports():
    """The scanner itself: a node module is found to import ROS, through a chain if needed."""
    assert _ros_chain("sorter.segmentation.node") is not None
    assert _ros_chain("sorter.segmentation.core") is None


@pytest.mark.parametrize("module", ros_free_modules())
def test_core_module_is_ros_free(module: str):
    chain = _ros_chain(module)
    assert chain is None, (
        f"{MODULES[module].relative_to(SRC)} must stay ROS-free (a core: no ROS import, direct "
        "or through sorter modules; keep ROS in node.py, adapters.py or the drivers):\n  "
        + "\n  ".join(chain)
    )
