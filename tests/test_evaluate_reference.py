"""The constructed pairs of ``evaluate_reference``: only the mouth is repainted, the rest stays."""
from __future__ import annotations

import numpy as np

from raymouth import degrade
from raymouth.evaluate_reference import repaint_mouth


def test_repaint_touches_only_the_lip_region_inside_the_box():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    box = (40, 50, 120, 100)
    polygon = np.array([[60, 65], [100, 65], [105, 80], [80, 90], [55, 80]], np.float32)
    damaged = degrade.soften(frame[50:100, 40:120], 4.0)
    out = repaint_mouth(frame, box, polygon, damaged)
    outside = np.ones(frame.shape[:2], bool)
    outside[50:100, 40:120] = False
    assert np.array_equal(out[outside], frame[outside])  # byte for byte outside the box
    assert np.array_equal(out[50, 40:120], frame[50, 40:120])  # the box's own edge is never touched
    np.testing.assert_array_equal(out[77, 80], damaged[27, 40])  # inside the lips: the damaged mouth
    assert not np.array_equal(out, frame)


def test_soften_is_a_low_resolution_copy_of_the_same_size():
    img = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    soft = degrade.soften(img, 4.0)
    assert soft.shape == img.shape and soft.dtype == np.uint8
    assert np.abs(np.diff(soft.astype(int), axis=1)).mean() < np.abs(np.diff(img.astype(int), axis=1)).mean() / 2
    assert np.array_equal(degrade.soften(img, 1.0), img)
