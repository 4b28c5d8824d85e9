"""The training loss: what each term rewards and punishes, on real image content."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from raymouth.paste import metrics


@pytest.fixture(scope="module")
def images():
    """A 96x96 detailed patch of skimage's astronaut, and the same patch blurred: floats in [0, 1]."""
    from skimage import data

    patch = data.astronaut()[100:196, 180:276]
    soft = cv2.GaussianBlur(patch, (0, 0), 1.2)
    return patch.astype(np.float32)[None] / 255.0, soft.astype(np.float32)[None] / 255.0


def test_laplacian_rms_is_the_sharpness_the_gate_measures(images):
    """The loss's detail measure is ``metrics.sharpness`` (Laplacian variance of the luma) on the
    valid pixels, as an RMS in [0, 1] units: both rank and scale agree."""
    from raymouth.models.losses import laplacian_rms

    for img in images:
        got = float(laplacian_rms(img)[0])
        u8 = np.rint(img[0] * 255).astype(np.uint8)
        lap = metrics._laplacian(u8)[1:-1, 1:-1]  # valid pixels, as the loss's VALID convolution
        assert got == pytest.approx(float(np.sqrt(np.mean(lap.astype(np.float64) ** 2))) / 255.0, rel=1e-3)
    sharp, soft = (float(laplacian_rms(i)[0]) for i in images)
    assert soft < 0.6 * sharp


def test_detail_term_punishes_a_blurred_output_and_ignores_where_detail_is(images):
    from raymouth.models.losses import L1EdgeLoss

    sharp, soft = images
    plain, detail = L1EdgeLoss(0.5, 0.0), L1EdgeLoss(0.5, 1.0)
    assert float(detail(sharp, sharp)) == pytest.approx(0.0, abs=1e-6)
    extra = float(detail(sharp, soft)) - float(plain(sharp, soft))
    assert extra > 0.005  # blur loses fine detail: the term adds to the loss
    mirrored = sharp[:, :, ::-1].copy()  # the same amount of detail, in other places
    assert float(detail(sharp, mirrored)) - float(plain(sharp, mirrored)) < 0.1 * extra


def test_the_loss_round_trips_through_its_config():
    from raymouth.models.losses import L1EdgeLoss

    loss = L1EdgeLoss.from_config(L1EdgeLoss(0.25, 0.75).get_config())
    assert (loss.edge_weight, loss.detail_weight) == (0.25, 0.75)
