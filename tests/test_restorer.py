"""The one-frame path (``job.restorer.MouthRestorer``): the real landmarker and the shipped model."""
from __future__ import annotations

import itertools

import cv2
import numpy as np
from conftest import fixture_path

from raymouth.data import codec, schema, video
from raymouth.job.restorer import MouthRestorer
from raymouth.mouth import roi


def _degraded(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (w // 3, h // 3), interpolation=cv2.INTER_AREA)
    return codec.decode(codec.encode(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), "jpeg", 50))[0]


def test_restorer_changes_only_the_mouth_and_passes_other_frames_through():
    clean = [rgb for _, _, rgb in itertools.islice(video.iter_frames(fixture_path("video/retalking_face_5.mp4")), 3)]
    frames = [_degraded(f) for f in clean]
    dog = codec.decode(fixture_path("images/dlib_dogs.jpg").read_bytes())[0]
    with MouthRestorer() as restorer:
        got = restorer.enhance(frames)
        dogs = restorer.enhance([dog], video_id="dog")
    assert [r.status for r in got] == [schema.STATUS_OK] * 3, [(r.status, r.reject_reason) for r in got]
    for r, before in zip(got, frames):
        (wx0, wy0, wx1, wy1), _ = roi.window(before.shape, r.mouth_box)
        outside = np.ones(before.shape[:2], bool)
        outside[wy0:wy1, wx0:wx1] = False
        assert np.array_equal(r.frame[outside], before[outside])  # nothing outside the mouth's window
        x0, y0, x1, y1 = r.mouth_box
        assert not np.array_equal(r.frame[y0:y1, x0:x1], before[y0:y1, x0:x1])  # the mouth was repaired
    assert dogs[0].status == schema.STATUS_NO_FACE and np.array_equal(dogs[0].frame, dog)
