"""Image bytes in and out: lossless PNG that any decoder reads, and a status for what is not an image."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image
from skimage import data

from raymouth.data import codec, schema


def test_png_is_lossless_and_standard():
    rgb = data.astronaut()
    png = codec.encode(rgb)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    back, status = codec.decode(png)
    assert status == schema.STATUS_OK and np.array_equal(back, rgb)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")), rgb)  # another decoder


def test_jpeg_and_bad_bytes():
    rgb = data.astronaut()
    back, status = codec.decode(codec.encode(rgb, "jpeg"))
    assert status == schema.STATUS_OK and back.shape == rgb.shape and np.abs(back.astype(int) - rgb).mean() < 3
    assert codec.decode(b"not an image") == (None, schema.STATUS_DECODE_ERROR)
    assert codec.decode(None) == (None, schema.STATUS_DECODE_ERROR)
