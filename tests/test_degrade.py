"""Degradations: deterministic per seed, different across seeds, really degrading; the blind
family's identity pairs at their rate; the fixed evaluation strengths ordered by harm."""
from __future__ import annotations

import numpy as np
import pytest

from raymouth.config import DegradeConfig
from raymouth.train.degrade import STRENGTHS, degrade, fixed, is_identity, make_pair

NO_IDENTITY = DegradeConfig(identity_rate=0.0)


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
    outs = [degrade(crop, s, NO_IDENTITY) for s in range(4)]
    assert all(not np.array_equal(outs[0], o) for o in outs[1:])


def test_changes_the_image_and_not_the_input(crop):
    before = crop.copy()
    lipsync = DegradeConfig(family="lipsync", min_scale=2.0, max_scale=4.0, max_colour_shift=4.0)
    out = degrade(crop, 3, lipsync)
    np.testing.assert_array_equal(crop, before)
    assert _psnr(out, crop) < 35.0
    mild = DegradeConfig(family="lipsync", min_scale=1.0, max_scale=1.0, max_blur_sigma=0.0, jpeg_quality_min=100,
                         jpeg_quality_max=100, max_colour_shift=0.0)
    assert _psnr(degrade(crop, 3, mild), crop) > _psnr(out, crop) + 5


def test_blind_family_has_identity_pairs_at_its_rate(crop):
    cfg = DegradeConfig(identity_rate=0.25)
    same = [np.array_equal(degrade(crop, s, cfg), crop) for s in range(1000)]
    assert abs(np.mean(same) - 0.25) < 0.05
    assert same == [is_identity(s, cfg) for s in range(1000)]
    assert not any(np.array_equal(degrade(crop, s, NO_IDENTITY), crop) for s in range(40))


def test_blind_family_spans_mild_to_harsh(crop):
    psnrs = [_psnr(degrade(crop, s, NO_IDENTITY), crop) for s in range(200)]
    assert min(psnrs) < 24 and max(psnrs) > 33  # from barely touched to 5-8x soft


def test_fixed_strengths_are_ordered(crop):
    assert list(STRENGTHS) == ["clean", "mild", "lipsync", "harsh"]
    np.testing.assert_array_equal(fixed(crop, "clean"), crop)
    scores = [_psnr(fixed(crop, s), crop) for s in ("mild", "lipsync", "harsh")]
    assert scores == sorted(scores, reverse=True)
    np.testing.assert_array_equal(fixed(crop, "harsh", 1), fixed(crop, "harsh", 1))
    with pytest.raises(ValueError, match="strength"):
        fixed(crop, "medium")


def test_make_pair(crop):
    degraded, clean = make_pair(crop, 11, NO_IDENTITY)
    assert not np.array_equal(degraded, clean)
    assert clean is crop
    np.testing.assert_array_equal(degraded, degrade(crop, 11, NO_IDENTITY))
