"""Landmarker: model resolution, real MediaPipe detection, and accuracy against dlib's human annotations."""
from __future__ import annotations

import logging
import shutil
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest
from conftest import fixture_path

from raymouth.config import LocateConfig
from raymouth.data import storage
from raymouth.mouth import landmarks, roi
from raymouth.mouth.landmarks import Landmarker, LandmarkerError, resolve_model_path


def read_rgb(rel: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(fixture_path(rel))), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def landmarker():
    with Landmarker(LocateConfig()) as lm:
        yield lm


def test_packaged_model_resolves_and_is_official(monkeypatch):
    monkeypatch.delenv(landmarks.MODEL_ENV, raising=False)
    path = resolve_model_path(LocateConfig())
    assert path == landmarks.packaged_model_path()
    assert storage.file_sha256(path) == landmarks.OFFICIAL_SHA256


def test_config_path_beats_env_beats_package(monkeypatch, tmp_path, caplog):
    official = resolve_model_path(LocateConfig())
    mine = tmp_path / "mine.task"
    shutil.copy(official, mine)
    other = tmp_path / "other.task"
    other.write_bytes(official.read_bytes() + b"\0")  # not the official hash: allowed, with a warning
    monkeypatch.setenv(landmarks.MODEL_ENV, str(other))
    with caplog.at_level(logging.WARNING, logger="raymouth.mouth.landmarks"):
        assert resolve_model_path(LocateConfig()) == other
    assert "not the official" in caplog.text
    assert resolve_model_path(LocateConfig(model_path=str(mine))) == mine
    with pytest.raises(LandmarkerError, match="locate.model_path"):
        resolve_model_path(LocateConfig(model_path=str(tmp_path / "missing.task")))


def test_missing_model_says_how_to_provide_it(monkeypatch):
    monkeypatch.delenv(landmarks.MODEL_ENV, raising=False)
    monkeypatch.setattr(landmarks, "packaged_model_path", lambda: None)
    with pytest.raises(LandmarkerError, match=landmarks.MODEL_ENV):
        resolve_model_path(LocateConfig())


def test_not_a_bundle_is_rejected(tmp_path):
    bad = tmp_path / "bad.task"
    bad.write_bytes(b"not a zip")
    with pytest.raises(LandmarkerError):
        Landmarker(LocateConfig(model_path=str(bad)))


def test_detect_gives_478_pixel_points(landmarker):
    rgb = read_rgb("images/gfpgan_Adele_crop.png")
    face = landmarker.detect(rgb)
    assert face is not None
    assert face.points.shape == (478, 2) and face.points.dtype == np.float32
    assert (face.points >= 0).all() and (face.points[:, 0] < rgb.shape[1]).all()
    assert face.confidence >= LocateConfig().min_detection_confidence
    assert landmarker.detect(np.zeros((256, 256, 3), np.uint8)) is None


def test_unscored_detection_gives_the_same_points_without_a_confidence(landmarker):
    """The mouth index skips the scoring face detector: same points, NaN confidence."""
    rgb = read_rgb("images/gfpgan_Adele_crop.png")
    scored, unscored = landmarker.detect(rgb), landmarker.detect(rgb, scored=False)
    assert np.array_equal(scored.points, unscored.points)
    assert np.isnan(unscored.confidence) and scored.confidence > 0


def test_downscaled_detection_maps_points_back():
    rgb = read_rgb("images/gfpgan_Adele_crop.png")
    with Landmarker(LocateConfig()) as full, Landmarker(LocateConfig(max_side_px=200)) as small:
        a, b = full.detect(rgb), small.detect(rgb)
    lips = roi.lip_indices()
    err = np.abs(a.points[lips] - b.points[lips]).max()
    face_size = np.ptp(a.points, axis=0).max()
    print(f"max lip point difference full vs 200 px: {err:.1f} px (face {face_size:.0f} px)")
    assert err < 0.05 * face_size


def test_largest_face_is_chosen(landmarker):
    big = cv2.resize(read_rgb("images/gfpgan_Adele_crop.png"), (300, 300), interpolation=cv2.INTER_AREA)
    small = cv2.resize(read_rgb("images/gfpgan_Julia_Roberts_crop.png"), (150, 150), interpolation=cv2.INTER_AREA)
    canvas = np.full((360, 560, 3), 128, np.uint8)
    canvas[30:330, 240:540] = big
    canvas[100:250, 20:170] = small
    face = landmarker.detect(canvas)
    assert face is not None and face.points[:, 0].mean() > 240


def _annotated_faces():
    folder = fixture_path("images/dlib_landmarks")
    for xml in sorted(folder.glob("*.xml")):
        for image in ET.parse(xml).getroot().iter("image"):
            for box in image.iter("box"):
                parts = {int(p.get("name")): (float(p.get("x")), float(p.get("y"))) for p in box.iter("part")}
                rect = tuple(int(box.get(k)) for k in ("left", "top", "width", "height"))
                yield folder / image.get("file"), rect, np.array([parts[i] for i in range(68)])


def test_mouth_box_against_human_annotations(landmarker):
    """Each annotated face is cropped with padding (photos hold several small faces) and upscaled ×2."""
    margin = LocateConfig().margin
    total = found = 0
    images: dict = {}
    for path, (left, top, w, h), points in _annotated_faces():
        total += 1
        img = images.setdefault(path, cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))
        x0, y0 = max(0, int(left - 0.6 * w)), max(0, int(top - 0.6 * h))
        x1, y1 = min(img.shape[1], int(left + 1.6 * w)), min(img.shape[0], int(top + 1.6 * h))
        patch = cv2.resize(img[y0:y1, x0:x1], None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        face = landmarker.detect(patch)
        if face is None:
            continue
        pts = face.points / 2 + (x0, y0)
        cx, cy = pts.mean(axis=0)
        if not (left <= cx <= left + w and top <= cy <= top + h):
            continue  # found some other face in the padding
        found += 1
        box, _ = roi.mouth_box(pts, img.shape, margin, 0)
        mouth = points[48:68]
        inside = (mouth[:, 0] >= box[0]) & (mouth[:, 0] < box[2]) & (mouth[:, 1] >= box[1]) & (mouth[:, 1] < box[3])
        ref = roi.expand_box(mouth, margin, img.shape)
        area = (box[2] - box[0]) * (box[3] - box[1])
        ref_area = (ref[2] - ref[0]) * (ref[3] - ref[1])
        assert inside.mean() >= 0.95, f"{path.name} face at {left},{top}: {inside.mean():.0%} of mouth points in box"
        assert area <= 2 * ref_area, f"{path.name} face at {left},{top}: box area {area} vs annotated {ref_area}"
    print(f"detection rate on dlib annotated faces: {found}/{total} = {found / total:.0%}")
    assert total >= 40 and found >= 0.8 * total


def test_landmarker_does_not_load_tensorflow_and_tensorflow_still_imports_after():
    """A locate actor should not pay TensorFlow's import (seconds, hundreds of MiB) for mediapipe."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from raymouth.config import LocateConfig\n"
        "from raymouth.mouth.landmarks import Landmarker\n"
        "import numpy as np\n"
        "with Landmarker(LocateConfig()) as lm:\n"
        "    lm.detect(np.zeros((64, 64, 3), np.uint8))\n"
        "    print('tf loaded:', 'tensorflow' in sys.modules)\n"
        "import tensorflow as tf\n"
        "print('tf works:', int(tf.constant(2) + 1))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "tf loaded: False" in done.stdout and "tf works: 3" in done.stdout


def test_lip_shift_sees_a_moved_mouth_and_not_a_resized_frame(landmarker):
    """``metrics.lip_shift`` (the lip-shape distance of issue 27) on real detections: the same
    frame measures 0; the mouth region moved down by 1% of the face measures about 5 px at a
    512 px face whatever the frame's size; the rest of the face is unchanged."""
    from raymouth.paste import metrics

    rgb = read_rgb("images/gfpgan_Adele_crop.png")
    face = landmarker.detect(rgb)
    lips = roi.lip_indices()
    assert metrics.lip_shift(face.points, landmarker.detect(rgb.copy()).points, lips) == 0.0
    width = float(np.linalg.norm(face.points[454] - face.points[234]))
    x0, y0 = (face.points[lips].min(axis=0) - 0.08 * width).astype(int)
    x1, y1 = (face.points[lips].max(axis=0) + 0.08 * width).astype(int)
    dy = 0.01 * width
    moved = rgb.copy()
    region = rgb[y0:y1, x0:x1]
    moved[y0:y1, x0:x1] = cv2.warpAffine(region, np.float32([[1, 0, 0], [0, 1, dy]]), region.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    shift = metrics.lip_shift(face.points, landmarker.detect(moved).points, lips)
    big = cv2.resize(rgb, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    big_moved = cv2.resize(moved, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    shift_big = metrics.lip_shift(landmarker.detect(big).points, landmarker.detect(big_moved).points, lips)
    assert 2.0 < shift < 8.0 and 2.0 < shift_big < 8.0  # 1% of 512 px is 5.1 px
    assert abs(shift - shift_big) < 1.5


def test_tracked_lip_shift_measures_a_moved_mouth_and_not_a_changed_texture(landmarker):
    """``metrics.tracked_lip_shift`` (the job's per-row lip shift): the input's lip points
    followed into the output; a mouth moved by 0.5% / 1% / 2% of the face's width measures that
    many pixels of a 512 px face (2.6 / 5.1 / 10.2), a blurred, sharpened or JPEG-40 copy of the
    same mouth (texture changed, edges where they were) well under one pixel."""
    from raymouth.paste import metrics

    rgb = read_rgb("images/gfpgan_Adele_crop.png")
    face = landmarker.detect(rgb)
    lips = face.points[roi.lip_indices()]
    width = metrics.face_width(face.points)
    x0, y0 = (lips.min(axis=0) - 0.08 * width).astype(int)
    x1, y1 = (lips.max(axis=0) + 0.08 * width).astype(int)
    for share in (0.005, 0.01, 0.02):
        moved = rgb.copy()
        region = rgb[y0:y1, x0:x1]
        moved[y0:y1, x0:x1] = cv2.warpAffine(region, np.float32([[1, 0, 0], [0, 1, share * width]]), region.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
        assert abs(metrics.tracked_lip_shift(rgb, moved, lips, width) - share * 512) < 0.1 * share * 512
    blurred = cv2.GaussianBlur(rgb, (0, 0), 1.5)
    sharpened = cv2.addWeighted(rgb, 2.0, blurred, -1.0, 0)
    jpeg = cv2.imdecode(cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, 40])[1], cv2.IMREAD_UNCHANGED)
    for changed in (blurred, sharpened, jpeg):
        assert metrics.tracked_lip_shift(rgb, changed, lips, width) < 0.5
    assert metrics.tracked_lip_shift(rgb, rgb.copy(), lips, width) == 0.0
