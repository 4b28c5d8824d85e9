"""Mouth geometry on real MediaPipe landmarks: box, smoothing, mask, paste-back, colour match."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import fixture_path

from raymouth.bench.locate import read_frames
from raymouth.config import LocateConfig
from raymouth.data.schema import STATUS_OK, STATUS_ROI_TOO_SMALL
from raymouth.mouth import roi
from raymouth.mouth.landmarks import Landmarker

CFG = LocateConfig()


@pytest.fixture(scope="module")
def landmarker():
    with Landmarker(CFG) as lm:
        yield lm


@pytest.fixture(scope="module")
def adele(landmarker):
    """A real face, its landmarks, mouth box, lip polygon and feathered alpha."""
    rgb = cv2.cvtColor(cv2.imread(str(fixture_path("images/gfpgan_Adele_crop.png"))), cv2.COLOR_BGR2RGB)
    points = landmarker.detect(rgb).points
    box, status = roi.mouth_box(points, rgb.shape, CFG.margin, CFG.min_box_px)
    assert status == STATUS_OK
    outer, _ = roi.lip_polygons(points)
    return rgb, points, box, outer, roi.feather_mask(box, outer, CFG.feather_px)


def test_lip_connections_match_mediapipe():
    from mediapipe.tasks.python import vision

    theirs = {(c.start, c.end) for c in vision.FaceLandmarksConnections.FACE_LANDMARKS_LIPS}
    assert set(roi.LIPS_CONNECTIONS) == theirs


def test_lip_polygons_are_two_closed_contours(adele):
    _, points, box, outer, _ = adele
    cycles = roi.lip_cycles()
    assert sorted(len(c) for c in cycles) == [20, 20]
    outer, inner = roi.lip_polygons(points)
    assert cv2.contourArea(outer) > cv2.contourArea(inner) > 0
    for x, y in inner:  # the mouth opening lies inside the lips
        assert cv2.pointPolygonTest(outer, (float(x), float(y)), False) >= 0


def test_mouth_box_contains_lips_and_is_clipped(adele):
    rgb, points, box, _, _ = adele
    lips = points[roi.lip_indices()]
    assert (lips[:, 0] >= box[0]).all() and (lips[:, 0] < box[2]).all()
    assert (lips[:, 1] >= box[1]).all() and (lips[:, 1] < box[3]).all()
    shifted = points + (rgb.shape[1] - lips[:, 0].mean(), 0)  # mouth centred on the right edge
    clipped, status = roi.mouth_box(shifted, rgb.shape, CFG.margin, CFG.min_box_px)
    assert status == STATUS_OK and clipped[2] == rgb.shape[1] and clipped[0] < rgb.shape[1]
    tiny = (points - points.mean(axis=0)) * 0.1 + 100
    assert roi.mouth_box(tiny, rgb.shape, CFG.margin, CFG.min_box_px) == (None, STATUS_ROI_TOO_SMALL)


def test_feathered_mask_is_smooth_and_zero_on_the_box_edge(adele):
    _, _, box, outer, alpha = adele
    assert alpha.dtype == np.float32 and alpha.shape == (box[3] - box[1], box[2] - box[0])
    assert alpha.min() == 0.0 and alpha.max() == 1.0
    assert not alpha[0].any() and not alpha[-1].any() and not alpha[:, 0].any() and not alpha[:, -1].any()
    cx, cy = outer.mean(axis=0)
    assert alpha[int(cy) - box[1], int(cx) - box[0]] == 1.0
    steps = max(np.abs(np.diff(alpha, axis=0)).max(), np.abs(np.diff(alpha, axis=1)).max())
    assert steps <= 2.0 / CFG.feather_px  # a feather, not a hard edge
    assert 0 < ((alpha > 0) & (alpha < 1)).sum()


def test_feathered_mask_equals_the_distance_transform_over_the_whole_box(adele):
    """feather_mask measures distances only near the lips: the same mask as over the whole box."""
    _, _, box, outer, alpha = adele
    h, w = box[3] - box[1], box[2] - box[0]
    for feather in (CFG.feather_px, 1, 17):
        inside = np.zeros((h, w), np.uint8)
        cv2.fillPoly(inside, [np.round((outer.astype(np.float64) - box[:2]) * 16).astype(np.int32)], 255, lineType=cv2.LINE_8, shift=4)
        dist = cv2.distanceTransform(255 - inside, cv2.DIST_L2, 5)
        ys, xs = np.arange(h), np.arange(w)
        to_edge = np.minimum.outer(np.minimum(ys, h - 1 - ys), np.minimum(xs, w - 1 - xs)).astype(np.float32)
        want = (roi._smoothstep(1.0 - dist / feather) * roi._smoothstep(to_edge / feather)).astype(np.float32)
        assert np.array_equal(roi.feather_mask(box, outer, feather), want)


def test_paste_back_of_unchanged_crop_is_the_original(adele):
    rgb, _, box, _, alpha = adele
    out = roi.paste(rgb, roi.crop(rgb, box), box, alpha)
    assert np.abs(out.astype(int) - rgb.astype(int)).max() <= 1


def test_paste_touches_only_the_feathered_area(adele):
    rgb, _, box, _, alpha = adele
    changed = 255 - roi.crop(rgb, box)
    out = roi.paste(rgb, changed, box, alpha)
    untouched = roi.frame_mask(rgb.shape, box, alpha) == 0
    assert np.array_equal(out[untouched], rgb[untouched])
    assert not np.array_equal(out, rgb)
    outside = np.ones(rgb.shape[:2], bool)
    outside[box[1] : box[3], box[0] : box[2]] = False
    assert np.array_equal(out[outside], rgb[outside])


def _delta_e(a: np.ndarray, b: np.ndarray) -> float:
    lab = [cv2.cvtColor(x.astype(np.float32) / 255, cv2.COLOR_RGB2LAB) for x in (a, b)]
    return float(np.linalg.norm(lab[0] - lab[1], axis=-1).mean())


def test_colour_match_removes_a_colour_cast(adele):
    rgb, _, box, _, alpha = adele
    original = roi.crop(rgb, box)
    cast = np.clip(original.astype(int) + (25, -5, -20), 0, 255).astype(np.uint8)
    matched = roi.colour_match(cast, rgb, box, alpha, CFG.colour_ring_px)
    region = (slice(box[1], box[3]), slice(box[0], box[2]))
    e_cast = _delta_e(roi.paste(rgb, cast, box, alpha)[region], original)
    e_matched = _delta_e(roi.paste(rgb, matched, box, alpha)[region], original)
    print(f"mean ΔE in the box: cast {e_cast:.2f}, colour-matched {e_matched:.2f}")
    assert e_matched < 0.5 * e_cast
    same = roi.colour_match(original, rgb, box, alpha, CFG.colour_ring_px)
    assert np.abs(same.astype(int) - original.astype(int)).max() <= 2  # no shift when nothing changed
    given = roi.colour_match(cast, rgb, box, alpha, CFG.colour_ring_px, roi.to_lab(original))
    assert np.array_equal(given, matched)  # the original's L*a*b* passed in (Composite shares it)


def test_smooth_boxes_keeps_gaps_and_contains_lips():
    boxes = [(10, 10, 30, 30), None, (14, 10, 34, 30), (12, 10, 32, 30)]
    out = roi.smooth_boxes(boxes, 3)
    assert out[1] is None and all(b is not None for i, b in enumerate(out) if i != 1)
    far = roi.smooth_boxes([(0, 0, 10, 10), (100, 0, 110, 10)], 3, positions=[0, 50])
    assert far == [(0, 0, 10, 10), (100, 0, 110, 10)]  # frames 50 apart are not averaged
    held = roi.smooth_boxes(boxes, 5, contain=[(5, 5, 8, 8), None, None, None])
    assert held[0][0] <= 5 and held[0][1] <= 5


def _jitter(boxes) -> float:
    b = np.asarray(boxes, np.float64)
    return float(np.diff((b[:, :2] + b[:, 2:]) / 2, axis=0).std())


def test_smoothing_halves_box_jitter_on_a_talking_head(landmarker):
    frames = read_frames(fixture_path("video/retalking_face_5.mp4"), 60)
    points = [landmarker.detect(f).points for f in frames]
    raw = [roi.mouth_box(p, f.shape, CFG.margin, CFG.min_box_px)[0] for p, f in zip(points, frames)]
    smooth = roi.smooth_boxes(raw, CFG.smooth_window, contain=[roi.lip_bounds(p) for p in points])
    j_raw, j_smooth = _jitter(raw), _jitter(smooth)
    print(f"box centre jitter (std of frame-to-frame differences): raw {j_raw:.2f} px, smoothed {j_smooth:.2f} px")
    assert j_smooth < 0.5 * j_raw
