"""raymouth.paste.metrics on natural images (skimage's astronaut) and hand-built edge cases."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from raymouth.paste import metrics

# A box over the astronaut's mouth/chin area in the 512x512 image, with skin around it.
MOUTH = (190, 160, 260, 200)
FACE = (150, 60, 300, 240)


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


def test_delta_e_basics(astronaut):
    assert metrics.delta_e(astronaut, astronaut) == 0.0
    white, black = np.full((4, 4, 3), 255, np.uint8), np.zeros((4, 4, 3), np.uint8)
    assert metrics.delta_e(white, black) == pytest.approx(100.0, abs=0.1)  # true L*, not 0-255
    mask = np.zeros((4, 4), np.uint8)
    mask[0, 0] = 1
    shifted = _paste_offset(astronaut, MOUTH, (20, 0, 0))
    assert metrics.delta_e(shifted, astronaut, mask=np.ones(astronaut.shape[:2])) > 0
    assert metrics.delta_e(white, white, mask) == 0.0


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


