"""raymouth.metrics on natural images (skimage's astronaut) and hand-built edge cases."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data
from skimage.metrics import structural_similarity

from raymouth import metrics

# A box over the astronaut's mouth/chin area in the 512x512 image, with skin around it.
MOUTH = (190, 160, 260, 200)
FACE = (150, 60, 300, 240)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


def _blur(img: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma)


def _crop(img: np.ndarray, box) -> np.ndarray:
    x0, y0, x1, y1 = box
    return img[y0:y1, x0:x1].copy()


def _paste_offset(img: np.ndarray, box, offset) -> np.ndarray:
    x0, y0, x1, y1 = box
    out = img.astype(np.int16)
    out[y0:y1, x0:x1] += np.asarray(offset, dtype=np.int16)
    return np.clip(out, 0, 255).astype(np.uint8)


def test_identical_images_give_cap_and_one(astronaut):
    assert metrics.psnr(astronaut, astronaut.copy()) == 100.0
    assert metrics.psnr(astronaut, astronaut, cap=60.0) == 60.0
    assert metrics.ssim(astronaut, astronaut.copy()) == 1.0


def test_psnr_of_known_noise_matches_formula():
    rng = np.random.default_rng(0)
    a = rng.integers(20, 236, size=(64, 80, 3)).astype(np.uint8)
    b = (a.astype(np.int16) + rng.choice([-10, 10], size=a.shape)).astype(np.uint8)  # MSE exactly 100
    assert metrics.psnr(a, b) == pytest.approx(10 * np.log10(255.0**2 / 100.0), abs=1e-9)
    assert metrics.psnr(a / 255.0, b / 255.0, max_value=1.0) == pytest.approx(metrics.psnr(a, b), abs=1e-9)


def test_psnr_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        metrics.psnr(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))


@pytest.mark.parametrize("sigma", [1.0, 3.0])
def test_ssim_matches_skimage_on_luma(astronaut, sigma):
    blurred = _blur(astronaut, sigma)
    ours = metrics.ssim(astronaut, blurred)
    luma = lambda im: im.astype(np.float64) @ np.array([0.299, 0.587, 0.114])  # noqa: E731
    ref = structural_similarity(
        luma(astronaut), luma(blurred), data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ours == pytest.approx(ref, abs=0.01)
    assert ours < 0.99


def test_ssim_handles_tiny_crops(astronaut):
    for size in (1, 2, 5, 8):
        crop = astronaut[:size, :size]
        value = metrics.ssim(crop, _paste_offset(crop, (0, 0, size, size), 30))
        assert -1.0 <= value <= 1.0


def test_mouth_psnr_ssim_crops_the_box(astronaut):
    degraded = _paste_offset(astronaut, (0, 0, 50, 50), 40)  # change far from the mouth only
    assert metrics.mouth_psnr_ssim(degraded, astronaut, MOUTH) == (100.0, 1.0)
    p, s = metrics.mouth_psnr_ssim(_blur(astronaut), astronaut, MOUTH)
    assert p < 40 and s < 1.0


def test_blur_lowers_sharpness(astronaut):
    assert metrics.sharpness(_blur(astronaut)) < 0.5 * metrics.sharpness(astronaut)
    assert metrics.sharpness(np.full((32, 32, 3), 128, np.uint8)) == 0.0
    mask = np.zeros(astronaut.shape[:2], np.uint8)
    assert metrics.sharpness(astronaut, mask) == 0.0


def test_sharpness_ratio_below_one_when_mouth_blurred(astronaut):
    x0, y0, x1, y1 = MOUTH
    blurred = astronaut.copy()
    blurred[y0:y1, x0:x1] = _blur(astronaut, 3.0)[y0:y1, x0:x1]
    for face in (FACE, None):
        before = metrics.sharpness_ratio(astronaut, MOUTH, face)
        after = metrics.sharpness_ratio(blurred, MOUTH, face)
        assert after < 1.0
        assert after < 0.5 * before


@pytest.mark.parametrize("changed", ["inside the box", "outside too"])
def test_paste_sharpness_equals_the_four_measures_it_shares_work_between(astronaut, changed):
    x0, y0, x1, y1 = MOUTH
    after = astronaut.copy()
    after[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1] = _blur(astronaut, 2.0)[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1]
    if changed == "outside too":  # the shared Laplacian would be wrong: measured in full instead
        after[:20] = 0
    got = metrics.paste_sharpness(astronaut, after, MOUTH)
    want = {
        "sharpness_in": metrics.sharpness(astronaut[y0:y1, x0:x1]),
        "sharpness_out": metrics.sharpness(after[y0:y1, x0:x1]),
        "sharpness_ratio_in": metrics.sharpness_ratio(astronaut, MOUTH),
        "sharpness_ratio_out": metrics.sharpness_ratio(after, MOUTH),
    }
    assert got == pytest.approx(want, rel=1e-9)  # the same numbers up to summation order (ring from sums)


def test_delta_e_basics(astronaut):
    assert metrics.delta_e(astronaut, astronaut) == 0.0
    white, black = np.full((4, 4, 3), 255, np.uint8), np.zeros((4, 4, 3), np.uint8)
    assert metrics.delta_e(white, black) == pytest.approx(100.0, abs=0.1)  # true L*, not 0-255
    mask = np.zeros((4, 4), np.uint8)
    mask[0, 0] = 1
    shifted = _paste_offset(astronaut, MOUTH, (20, 0, 0))
    assert metrics.delta_e(shifted, astronaut, mask=np.ones(astronaut.shape[:2])) > 0
    assert metrics.delta_e(white, white, mask) == 0.0


def test_colour_offset_patch_raises_delta_e_to_surround_and_seam(astronaut):
    pasted = _paste_offset(astronaut, MOUTH, (25, -10, -10))
    clean_de = metrics.delta_e_to_surround(astronaut, MOUTH)
    clean_seam = metrics.seam_score(astronaut, MOUTH)
    assert metrics.delta_e_to_surround(pasted, MOUTH) > clean_de + 5.0
    assert metrics.seam_score(pasted, MOUTH) > clean_seam + 5.0
    assert clean_seam < 3.0


def test_seam_score_natural_image_near_zero_on_several_boxes(astronaut):
    for box in [(100, 100, 180, 160), (300, 250, 400, 330), MOUTH, (0, 0, 60, 60)]:
        assert metrics.seam_score(astronaut, box) < 4.0


def test_seam_score_full_frame_box_is_zero(astronaut):
    assert metrics.seam_score(astronaut, (0, 0, 512, 512)) == 0.0
    assert metrics.delta_e_to_surround(astronaut, (0, 0, 512, 512)) == 0.0


def _paste_alpha(h: int, w: int, feather: int = 6) -> np.ndarray:
    """A paste's alpha: 1 in the middle, ramping to 0 over ``feather`` pixels at the crop's edge."""
    ys, xs = np.mgrid[0:h, 0:w]
    to_edge = np.minimum(np.minimum(xs, w - 1 - xs), np.minimum(ys, h - 1 - ys))
    return np.clip(to_edge / feather, 0.0, 1.0).astype(np.float32)


def test_paste_measures_are_zero_for_the_unchanged_crop(astronaut):
    crop = _crop(astronaut, MOUTH)
    alpha = _paste_alpha(*crop.shape[:2])
    assert metrics.paste_seam(crop, crop, alpha) == 0.0
    assert metrics.colour_shift(crop, crop, alpha) == 0.0
    assert metrics.paste_seam(crop, 255 - crop, np.ones_like(alpha)) == 0.0  # no feather band


def test_paste_measures_see_a_colour_offset_in_delta_e_units(astronaut):
    crop = _crop(astronaut, MOUTH)
    alpha = _paste_alpha(*crop.shape[:2])
    offset = np.clip(crop.astype(int) + (25, -10, -10), 0, 255).astype(np.uint8)
    expected = metrics.delta_e(offset, crop)  # the per-pixel ΔE of a uniform offset
    assert expected > 5.0
    assert metrics.paste_seam(crop, offset, alpha) == pytest.approx(expected, rel=0.25)
    assert metrics.colour_shift(crop, offset, alpha) == pytest.approx(expected, rel=0.25)


def test_paste_measures_ignore_sharpened_detail(astronaut):
    """Restoration changes detail; the seam and colour measures must not count it."""
    crop = _crop(astronaut, MOUTH)
    alpha = _paste_alpha(*crop.shape[:2])
    sharp = np.clip(2.0 * crop.astype(float) - _blur(crop, 2.0), 0, 255).astype(np.uint8)
    assert metrics.delta_e(sharp, crop) > 3.0  # a large per-pixel change...
    assert metrics.paste_seam(crop, sharp, alpha) < 1.5  # ...that leaves no edge
    assert metrics.colour_shift(crop, sharp, alpha) < 1.0


def test_paste_measures_check_shapes(astronaut):
    crop = _crop(astronaut, MOUTH)
    with pytest.raises(ValueError):
        metrics.paste_seam(crop, crop[1:], _paste_alpha(*crop.shape[:2]))
    with pytest.raises(ValueError):
        metrics.colour_shift(crop, crop, np.ones((3, 3)))


def test_box_outside_frame_raises(astronaut):
    with pytest.raises(ValueError):
        metrics.seam_score(astronaut, (600, 600, 700, 700))


def test_flicker_constant_zero_and_flickering_positive(astronaut):
    crop = astronaut[160:200, 190:260]
    steady = [crop.copy() for _ in range(6)]
    assert metrics.flicker(steady) == 0.0
    assert metrics.flicker(np.stack(steady)) == 0.0
    assert metrics.flicker(steady[:1]) == 0.0
    pumping = [_paste_offset(crop, (0, 0, 70, 40), 8 * (i % 2)) for i in range(6)]
    assert metrics.flicker(pumping) == pytest.approx(8.0, abs=0.5)
    assert metrics.flicker_ratio(pumping, steady) > 10.0
    assert metrics.flicker_ratio(steady, steady) == 1.0
    assert metrics.flicker_ratio(pumping, pumping) == pytest.approx(1.0)


# --------------------------------------------------------------------------- detail kept (the lost-detail gate)


def test_detail_ratio_is_one_for_the_unchanged_crop_and_falls_with_blur(astronaut):
    crop = _crop(astronaut, MOUTH)
    alpha = _paste_alpha(*crop.shape[:2])
    assert metrics.detail_ratio(crop, crop.copy(), alpha) == 1.0
    ratios = [metrics.detail_ratio(crop, _blur(crop, s), alpha) for s in (0.7, 1.0, 1.5, 2.0)]
    assert all(a > b for a, b in zip(ratios, ratios[1:]))  # more blur, less detail
    assert ratios[1] < 0.9 and ratios[-1] < 0.6
    assert 0.0 <= ratios[-1]


def test_detail_ratio_rises_with_sharpening_and_restored_detail(astronaut):
    crop = _crop(astronaut, MOUTH)
    alpha = _paste_alpha(*crop.shape[:2])
    sharp = np.clip(2.0 * crop.astype(float) - _blur(crop, 2.0), 0, 255).astype(np.uint8)
    assert metrics.detail_ratio(crop, sharp, alpha) > 1.2
    soft = _blur(crop, 1.5)  # a soft input restored to the original: detail comes back
    assert metrics.detail_ratio(soft, crop, alpha) > 1.3


def test_detail_ratio_does_not_count_removed_noise_as_lost_detail(astronaut):
    """Denoising removes pixel-scale energy; the band-pass measure must not call that softening,
    while the single-pixel Laplacian (``sharpness``) does."""
    crop = _crop(astronaut, MOUTH)
    alpha = _paste_alpha(*crop.shape[:2])
    rng = np.random.default_rng(0)
    noisy = np.clip(crop + rng.normal(0.0, 8.0, crop.shape), 0, 255).astype(np.uint8)
    assert metrics.sharpness(crop, alpha) < 0.8 * metrics.sharpness(noisy, alpha)
    assert metrics.detail_ratio(noisy, crop, alpha) > 0.97


def test_detail_ratio_counts_only_the_alpha_region(astronaut):
    crop = _crop(astronaut, MOUTH)
    h, w = crop.shape[:2]
    left = np.zeros((h, w), np.float32)
    left[:, : w // 2] = 1.0
    out = crop.copy()
    out[:, w // 2 :] = _blur(crop, 3.0)[:, w // 2 :]  # blurred where nothing is pasted
    assert metrics.detail_ratio(crop, out, left) == pytest.approx(1.0, abs=0.02)
    assert metrics.detail_ratio(crop, out, 1.0 - left) < 0.6


def test_detail_ratio_edge_cases(astronaut):
    crop = _crop(astronaut, MOUTH)
    flat = np.full((20, 30, 3), 128, np.uint8)
    assert metrics.detail_ratio(flat, flat, np.ones((20, 30))) == 1.0  # flat / flat
    assert metrics.detail_ratio(crop, _blur(crop), np.zeros(crop.shape[:2])) == 1.0  # nothing pasted
    with pytest.raises(ValueError):
        metrics.detail_ratio(crop, crop[1:], np.ones(crop.shape[:2]))
    with pytest.raises(ValueError):
        metrics.detail_ratio(crop, crop, np.ones((3, 3)))
    with pytest.raises(ValueError):
        metrics.detail_ratio(crop, crop, np.ones(crop.shape[:2]), sigma_fine=2.0, sigma_coarse=1.0)
