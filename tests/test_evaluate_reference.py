"""The constructed pairs of ``evaluate.reference``: only the mouth is repainted, the rest stays."""
from __future__ import annotations

import numpy as np
import pytest

from raymouth.evaluate.reference import repaint_mouth
from raymouth.train import degrade
from tests.conftest import fixture_path


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


@pytest.mark.slow
def test_the_evaluation_runs_the_job_twice_and_scores_what_it_wrote(ray_local, tmp_path):
    """End to end on a short held-out clip with a tiny fine-tune budget: both runs complete and
    every measure the README's tables print is read back from what the runs wrote."""
    from raymouth import config
    from raymouth.evaluate.reference import KINDS, evaluate_reference

    cfg = config.load(None, ["reference.steps=4", "reference.chunks=2", "reference.max_frames=24", "reference.min_crops=4",
                             "train.batch_size=4", "train.patch_px=32"])
    report = evaluate_reference([str(fixture_path("video/retalking_face_2.mp4"))], str(tmp_path), cfg, log=lambda line: None)
    assert (tmp_path / "reference.json").is_file()
    assert list(report["fine_tunes"]["by_reference"]) == ["retalking_face_2"]
    for run in ("shipped", "reference"):
        for kind in KINDS:
            scores = report[run][f"retalking_face_2_{kind}"]
            assert scores["scored"] > 0 and np.isfinite(scores["psnr_out"]) and np.isfinite(scores["sharpness_ratio_clean"])
            assert 0 <= scores["lip_shift_px"] <= scores["lip_shift_max_px"] < 3  # the lip shape stays the input's
