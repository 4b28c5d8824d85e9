"""raymouth.paste.gate: the gate's measures of one paste, on skimage's astronaut and hand-built edge cases."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_metrics import MOUTH, _blur, _crop

from raymouth.paste import gate, metrics


def _paste_alpha(h: int, w: int, feather: int = 6) -> np.ndarray:
    """A paste's alpha: 1 in the middle, ramping to 0 over ``feather`` pixels at the crop's edge."""
    ys, xs = np.mgrid[0:h, 0:w]
    to_edge = np.minimum(np.minimum(xs, w - 1 - xs), np.minimum(ys, h - 1 - ys))
    return np.clip(to_edge / feather, 0.0, 1.0).astype(np.float32)


@pytest.mark.parametrize("changed", ["inside the box", "outside too"])
def test_paste_sharpness_equals_the_four_measures_it_shares_work_between(astronaut, changed):
    x0, y0, x1, y1 = MOUTH
    after = astronaut.copy()
    after[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1] = _blur(astronaut, 2.0)[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1]
    if changed == "outside too":  # the shared Laplacian would be wrong: measured in full instead
        after[:20] = 0
    got = gate.paste_sharpness(astronaut, after, MOUTH)
    want = {
        "sharpness_in": metrics.sharpness(astronaut[y0:y1, x0:x1]),
        "sharpness_out": metrics.sharpness(after[y0:y1, x0:x1]),
        "sharpness_ratio_in": metrics.sharpness_ratio(astronaut, MOUTH),
        "sharpness_ratio_out": metrics.sharpness_ratio(after, MOUTH),
    }
    assert got == pytest.approx(want, rel=1e-9)  # the same numbers up to summation order (ring from sums)


def test_face_sharpness_measured_before_gives_the_same_scores(astronaut):
    """The enhance stage's face_sharpness terms stand in for paste_sharpness's own: same ratio
    as metrics.sharpness_ratio, same four scores with or without them."""
    x0, y0, x1, y1 = MOUTH
    after = astronaut.copy()
    after[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1] = _blur(astronaut, 2.0)[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1]
    face = gate.face_sharpness(astronaut, MOUTH)
    assert gate.face_ratio(face) == pytest.approx(metrics.sharpness_ratio(astronaut, MOUTH), rel=1e-6)
    assert gate.paste_sharpness(astronaut, after, MOUTH, face=face) == gate.paste_sharpness(astronaut, after, MOUTH)
    other = gate.face_sharpness(_blur(astronaut, 2.0), MOUTH)  # terms of another frame change the ratios
    assert gate.paste_sharpness(astronaut, after, MOUTH, face=other)["sharpness_ratio_in"] != pytest.approx(face[0] / face[1])


def test_paste_colour_with_the_originals_lab_given_is_unchanged(astronaut):
    x0, y0, x1, y1 = MOUTH
    original = astronaut[y0:y1, x0:x1]
    pasted = np.clip(original.astype(np.int16) + 9, 0, 255).astype(np.uint8)
    alpha = _paste_alpha(*original.shape[:2])
    got = gate.paste_colour(original, pasted, alpha, metrics.lab(original))
    assert got == gate.paste_colour(original, pasted, alpha)
    assert got[1] > 1.0


def test_paste_measures_are_zero_for_the_unchanged_crop(astronaut):
    crop = _crop(astronaut, MOUTH)
    alpha = _paste_alpha(*crop.shape[:2])
    assert gate.paste_seam(crop, crop, alpha) == 0.0
    assert gate.colour_shift(crop, crop, alpha) == 0.0
    assert gate.paste_seam(crop, 255 - crop, np.ones_like(alpha)) == 0.0  # no feather band


def test_paste_measures_see_a_colour_offset_in_delta_e_units(astronaut):
    crop = _crop(astronaut, MOUTH)
    alpha = _paste_alpha(*crop.shape[:2])
    offset = np.clip(crop.astype(int) + (25, -10, -10), 0, 255).astype(np.uint8)
    expected = metrics.delta_e(offset, crop)  # the per-pixel ΔE of a uniform offset
    assert expected > 5.0
    assert gate.paste_seam(crop, offset, alpha) == pytest.approx(expected, rel=0.25)
    assert gate.colour_shift(crop, offset, alpha) == pytest.approx(expected, rel=0.25)


def test_paste_measures_ignore_sharpened_detail(astronaut):
    """Restoration changes detail; the seam and colour measures must not count it."""
    crop = _crop(astronaut, MOUTH)
    alpha = _paste_alpha(*crop.shape[:2])
    sharp = np.clip(2.0 * crop.astype(float) - _blur(crop, 2.0), 0, 255).astype(np.uint8)
    assert metrics.delta_e(sharp, crop) > 3.0  # a large per-pixel change...
    assert gate.paste_seam(crop, sharp, alpha) < 1.5  # ...that leaves no edge
    assert gate.colour_shift(crop, sharp, alpha) < 1.0


def test_paste_measures_check_shapes(astronaut):
    crop = _crop(astronaut, MOUTH)
    with pytest.raises(ValueError):
        gate.paste_seam(crop, crop[1:], _paste_alpha(*crop.shape[:2]))
    with pytest.raises(ValueError):
        gate.colour_shift(crop, crop, np.ones((3, 3)))


def test_detail_ratio_is_one_for_the_unchanged_crop_and_falls_with_blur(astronaut):
    crop = _crop(astronaut, MOUTH)
    alpha = _paste_alpha(*crop.shape[:2])
    assert gate.detail_ratio(crop, crop.copy(), alpha) == 1.0
    ratios = [gate.detail_ratio(crop, _blur(crop, s), alpha) for s in (0.7, 1.0, 1.5, 2.0)]
    assert all(a > b for a, b in zip(ratios, ratios[1:]))  # more blur, less detail
    assert ratios[1] < 0.9 and ratios[-1] < 0.6
    assert 0.0 <= ratios[-1]


def test_detail_ratio_rises_with_sharpening_and_restored_detail(astronaut):
    crop = _crop(astronaut, MOUTH)
    alpha = _paste_alpha(*crop.shape[:2])
    sharp = np.clip(2.0 * crop.astype(float) - _blur(crop, 2.0), 0, 255).astype(np.uint8)
    assert gate.detail_ratio(crop, sharp, alpha) > 1.2
    soft = _blur(crop, 1.5)  # a soft input restored to the original: detail comes back
    assert gate.detail_ratio(soft, crop, alpha) > 1.3


def test_detail_ratio_does_not_count_removed_noise_as_lost_detail(astronaut):
    """Denoising removes pixel-scale energy; the band-pass measure must not call that softening,
    while the single-pixel Laplacian (``sharpness``) does."""
    crop = _crop(astronaut, MOUTH)
    alpha = _paste_alpha(*crop.shape[:2])
    rng = np.random.default_rng(0)
    noisy = np.clip(crop + rng.normal(0.0, 8.0, crop.shape), 0, 255).astype(np.uint8)
    assert metrics.sharpness(crop, alpha) < 0.8 * metrics.sharpness(noisy, alpha)
    assert gate.detail_ratio(noisy, crop, alpha) > 0.97


def test_detail_ratio_counts_only_the_alpha_region(astronaut):
    crop = _crop(astronaut, MOUTH)
    h, w = crop.shape[:2]
    left = np.zeros((h, w), np.float32)
    left[:, : w // 2] = 1.0
    out = crop.copy()
    out[:, w // 2 :] = _blur(crop, 3.0)[:, w // 2 :]  # blurred where nothing is pasted
    assert gate.detail_ratio(crop, out, left) == pytest.approx(1.0, abs=0.02)
    assert gate.detail_ratio(crop, out, 1.0 - left) < 0.6


def test_detail_ratio_edge_cases(astronaut):
    crop = _crop(astronaut, MOUTH)
    flat = np.full((20, 30, 3), 128, np.uint8)
    assert gate.detail_ratio(flat, flat, np.ones((20, 30))) == 1.0  # flat / flat
    assert gate.detail_ratio(crop, _blur(crop), np.zeros(crop.shape[:2])) == 1.0  # nothing pasted
    with pytest.raises(ValueError):
        gate.detail_ratio(crop, crop[1:], np.ones(crop.shape[:2]))
    with pytest.raises(ValueError):
        gate.detail_ratio(crop, crop, np.ones((3, 3)))
    with pytest.raises(ValueError):
        gate.detail_ratio(crop, crop, np.ones(crop.shape[:2]), sigma_fine=2.0, sigma_coarse=1.0)


def test_low_band_change_sees_structure_drawn_in_and_not_restored_detail(astronaut):
    """Ghosting: a bright band drawn across the mouth (teeth where the input shows none) changes
    the low band by tens of grey levels; fine sharpening, JPEG 40 or a blur restored away barely
    move it; nothing pasted measures 0."""
    crop = _crop(astronaut, MOUTH)
    h, w = crop.shape[:2]
    alpha = _paste_alpha(h, w)
    sigma = max(1.5, w / 25)
    assert gate.low_band_change(crop, crop.copy(), alpha, sigma) == 0.0
    sharp = np.clip(1.5 * crop.astype(float) - 0.5 * _blur(crop, 1.0), 0, 255).astype(np.uint8)
    jpeg = cv2.imdecode(cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 40])[1], cv2.IMREAD_UNCHANGED)
    for restored_like in (sharp, jpeg, _blur(crop, 1.0)):
        assert gate.low_band_change(crop, restored_like, alpha, sigma) < 8.0
    teeth = crop.copy()
    teeth[h // 3 : h // 2, w // 4 : 3 * w // 4] = 240
    assert gate.low_band_change(crop, teeth, alpha, sigma) > 30.0
    assert gate.low_band_change(crop, teeth, np.zeros_like(alpha), sigma) == 0.0
