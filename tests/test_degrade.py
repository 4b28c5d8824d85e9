"""Lip-sync-style degradation: deterministic per seed, different across seeds, really degrading."""
from __future__ import annotations

import numpy as np
import pytest

from raymouth.config import DegradeConfig
from raymouth.degrade import degrade, make_pair


@pytest.fixture()
def crop() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[160:260, 180:330])  # 100x150, textured


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(np.float64) - b) ** 2)))


def test_deterministic_per_seed(crop):
    first = degrade(crop, 7)
    assert first.shape == crop.shape and first.dtype == np.uint8
    np.testing.assert_array_equal(first, degrade(crop, 7))
    np.testing.assert_array_equal(first, degrade(crop, np.random.default_rng(7)))


def test_different_seeds_differ(crop):
    outs = [degrade(crop, s) for s in range(4)]
    assert all(not np.array_equal(outs[0], o) for o in outs[1:])


def test_changes_the_image_and_not_the_input(crop):
    before = crop.copy()
    out = degrade(crop, 3)
    np.testing.assert_array_equal(crop, before)
    assert _psnr(out, crop) < 35.0
    mild = DegradeConfig(min_scale=1.0, max_scale=1.0, max_blur_sigma=0.0, jpeg_quality_min=100,
                         jpeg_quality_max=100, max_colour_shift=0.0)
    assert _psnr(degrade(crop, 3, mild), crop) > _psnr(out, crop) + 5


def test_make_pair(crop):
    degraded, clean = make_pair(crop, 11)
    assert clean is crop
    np.testing.assert_array_equal(degraded, degrade(crop, 11))
