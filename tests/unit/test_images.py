from __future__ import annotations

import numpy as np
import pytest

from sorter.common.images import ImageError, array_to_image, image_to_array


def test_round_trip_mono16() -> None:
    a = (np.arange(12, dtype=np.uint16) * 5000).reshape(3, 4)
    msg = array_to_image(a, "mono16")
    assert msg.step == 8 and msg.encoding == "mono16"
    assert np.array_equal(image_to_array(msg, "mono16"), a)


def test_padded_rows_and_big_endian() -> None:
    a = np.array([[1, 2], [3, 4]], np.uint16)
    msg = array_to_image(a, "mono16")
    padded = b"".join(a[r].astype(">u2").tobytes() + b"\0\0" for r in range(2))
    msg.data, msg.step, msg.is_bigendian = padded, 6, 1
    assert np.array_equal(image_to_array(msg), a)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"encoding": "rgb8"}, "encoding 'rgb8', expected 'mono16'"),
        ({"height": 0}, "empty image"),
        ({"step": 2}, "shorter than a row"),
        ({"data": b"\0" * 5}, "data has 5 bytes"),
    ],
)
def test_malformed_images_are_refused(change: dict, message: str) -> None:
    msg = array_to_image(np.zeros((2, 3), np.uint16), "mono16")
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(ImageError, match=message):
        image_to_array(msg, "mono16")


def test_nan_float_image_refused() -> None:
    msg = array_to_image(np.array([[np.nan, 1.0]], np.float32), "32FC1")
    with pytest.raises(ImageError, match="NaN"):
        image_to_array(msg)
