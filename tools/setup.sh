#!/usr/bin/env bash
# Sets up .venv at the repository root: pinned ROS 2 wheels, the CMake path fix, the
# sorter_interfaces build (colcon, installed into the venv prefix so that the wheels'
# bootstrapper finds its libraries), the sorter package, and the `sorter` command in .venv/bin.
# A second run with unchanged inputs does nothing (stamp file).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROS_DISTRO="${SORTER_ROS_DISTRO:-jazzy}"
VENV="${SORTER_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3.11}"
STAMP="$VENV/.sorter-setup-$ROS_DISTRO.stamp"

LOCK="requirements/lock-$ROS_DISTRO.txt"
LOCK_ARGS=()
[[ -f "$LOCK" ]] && LOCK_ARGS=(-c "$LOCK")

inputs_hash() {
  cat tools/setup.sh requirements/ros-"$ROS_DISTRO".txt "${LOCK_ARGS[@]:1}" \
    requirements/python.txt src/sorter/setup.py src/sorter/setup.cfg src/sorter_interfaces/CMakeLists.txt \
    src/sorter_interfaces/package.xml src/sorter_interfaces/msg/* src/sorter_interfaces/srv/* \
    | sha256sum | cut -d' ' -f1
}

# `sorter` on the venv's PATH (.venv/bin/sorter, or `sorter` after `source .venv/bin/activate`):
# the console script stays in lib/sorter, the ament layout that `ros2 run sorter sorter` needs,
# and bin/sorter is a relative link to it. Idempotent; fails if the script is not installed.
link_cli() {
  [[ -x "$VENV/lib/sorter/sorter" ]] || return 1
  ln -sfn ../lib/sorter/sorter "$VENV/bin/sorter"
}

want="$(inputs_hash)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] && link_cli; then
  echo "setup: .venv is up to date"
  exit 0
fi

command -v "$PY" >/dev/null || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "the ROS 2 wheels need Python 3.11, found " + sys.version' \
  || { echo "setup: Python 3.11 is required (set PYTHON=...)" >&2; exit 1; }
command -v cmake >/dev/null || { echo "setup: cmake is missing (apt-get install cmake g++)" >&2; exit 1; }
command -v g++ >/dev/null || { echo "setup: g++ is missing (apt-get install g++)" >&2; exit 1; }

[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
echo "setup: installing pinned ROS 2 $ROS_DISTRO wheels and Python dependencies"
"${PIP[@]}" install -r "requirements/ros-$ROS_DISTRO.txt" -r requirements/python.txt \
  "${LOCK_ARGS[@]}" 2> >(grep -v "^WARNING: Location" >&2)
"$VENV/bin/python" tools/check_wheels.py

# The wheels' exported CMake targets carry the build machine's include paths; point them at
# this venv's interpreter and numpy. Only files inside the venv are touched.
py_inc="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
np_inc="$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')"
mapfile -t baked < <(grep -rl "/opt/python/cp311-cp311" --include='*.cmake' "$VENV/share" || true)
if ((${#baked[@]})); then
  sed -i "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$np_inc#g; \
s#/opt/python/cp311-cp311/include/python3.11#$py_inc#g" "${baked[@]}"
  echo "setup: fixed baked include paths in ${#baked[@]} CMake files"
fi

echo "setup: building sorter_interfaces with colcon (about a minute)"
(
  export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
  export PATH="$VENV/bin:$PATH"
  "$VENV/bin/colcon" --log-base build/log build --base-paths src/sorter_interfaces \
    --build-base "build/$ROS_DISTRO" --install-base "$VENV" --merge-install \
    --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF
)

echo "setup: installing the sorter package"
"${PIP[@]}" install --no-build-isolation --no-deps -e src/sorter 2> >(grep -v "^WARNING: Location" >&2)
"$VENV/bin/python" -c 'import sorter_interfaces.msg, sorter; print("setup: imports ok")'
link_cli || { echo "setup: $VENV/lib/sorter/sorter was not installed" >&2; exit 1; }
"$VENV/bin/sorter" --help >/dev/null
echo "setup: $VENV/bin/sorter -> lib/sorter/sorter"

echo "$want" >"$STAMP"
echo "setup: done"
