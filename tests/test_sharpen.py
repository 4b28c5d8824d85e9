"""Unsharp masking: off is the identity, on raises sharpness (Laplacian variance)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from raymouth.restore.sharpen import sharpen, sharpen_batch


def _image() -> np.ndarray:
    from skimage import data

    return cv2.GaussianBlur(data.astronaut()[100:228, 150:278], (0, 0), 1.5)


def _lap_var(img: np.ndarray) -> float:
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def test_amount_zero_is_identity():
    img = _image()
    assert sharpen(img, 0.0, 1.0) is img
    batch = np.stack([img, img])
    assert sharpen_batch(batch, 0.0) is batch


@pytest.mark.parametrize("amount", [0.5, 1.5])
def test_sharpening_raises_laplacian_variance(amount):
    img = _image()
    out = sharpen(img, amount, 1.0)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert _lap_var(out) > 1.2 * _lap_var(img)
    assert _lap_var(sharpen(img, 2 * amount, 1.0)) > _lap_var(out)


def test_float_images_and_formula():
    img = _image().astype(np.float32) / 255.0
    out = sharpen(img, 1.0, 2.0)
    blurred = cv2.GaussianBlur(img, (0, 0), 2.0)
    np.testing.assert_allclose(out, 2.0 * img - blurred, atol=1e-5)
    assert sharpen_batch(np.stack([img, img]), 1.0, 2.0).shape == (2, *img.shape)
    with pytest.raises(ValueError):
        sharpen(img, -1.0, 1.0)
