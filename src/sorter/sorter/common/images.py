"""sensor_msgs/Image <-> numpy for the mono16 XRT strips (cv_bridge is not in the wheels).
Validation is strict: a malformed image is refused with the exact reason, never guessed at."""

from __future__ import annotations

from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image

_ENCODINGS: dict[str, np.dtype[Any]] = {
    "mono16": np.dtype("<u2"), "mono8": np.dtype("u1"), "32FC1": np.dtype("<f4"),
}


class ImageError(ValueError):
    """The message is not a usable image; the text says why."""


def image_to_array(msg: Image, expected_encoding: str | None = None) -> np.ndarray:
    if expected_encoding is not None and msg.encoding != expected_encoding:
        raise ImageError(f"encoding {msg.encoding!r}, expected {expected_encoding!r}")
    dtype = _ENCODINGS.get(msg.encoding)
    if dtype is None:
        raise ImageError(f"unsupported encoding {msg.encoding!r}")
    if msg.height == 0 or msg.width == 0:
        raise ImageError(f"empty image {msg.height}x{msg.width}")
    if msg.is_bigendian and dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">")
    row_bytes = msg.width * dtype.itemsize
    if msg.step < row_bytes:
        raise ImageError(f"step {msg.step} is shorter than a row ({row_bytes} bytes)")
    expected = msg.step * msg.height
    data = msg.data
    if len(data) != expected:
        raise ImageError(
            f"data has {len(data)} bytes, {msg.height} rows x step {msg.step} needs {expected}"
        )
    buffer = np.frombuffer(bytes(data) if not isinstance(data, (bytes, bytearray)) else data,
                           dtype=np.uint8)
    rows = buffer.reshape(msg.height, msg.step)[:, :row_bytes]
    array = rows.copy().view(dtype).reshape(msg.height, msg.width)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ImageError("image contains NaN or infinite values")
    return array.astype(dtype.newbyteorder("="), copy=False)


def array_to_image(array: np.ndarray, encoding: str, stamp: Time | None = None,
                   frame_id: str = "") -> Image:
    dtype = _ENCODINGS.get(encoding)
    if dtype is None:
        raise ImageError(f"unsupported encoding {encoding!r}")
    if array.ndim != 2:
        raise ImageError(f"expected a 2-D array, got shape {array.shape}")
    data = np.ascontiguousarray(array, dtype=dtype)
    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = (int(n) for n in data.shape)
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * dtype.itemsize
    msg.data = data.tobytes()
    return msg
