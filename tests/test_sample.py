"""raymouth.data.sample: the built-in demo clip is a real, detectable face whose mouth moves, with audio."""
from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest

from raymouth.config import Config
from raymouth.data import video
from raymouth.data.export import export
from raymouth.data.sample import make_sample_clip, make_sample_dataset

UPPER_INNER_LIP, LOWER_INNER_LIP = 13, 14  # MediaPipe face mesh indices


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_sample_clip(tmp_path_factory.mktemp("sample") / "sample.mp4", frames=24, fps=24)


def test_clip_shape_rate_and_audio(clip):
    info = video.probe(clip)
    assert (info.frame_count, info.fps) == (24, 24.0)
    assert min(info.width, info.height) >= 300 and info.has_audio
    with av.open(io.BytesIO(video.extract_audio(clip))) as c:
        s = c.streams.audio[0]
        assert s.codec_context.name == "aac"
        seconds = sum(f.samples for f in c.decode(s)) / s.codec_context.sample_rate
    assert seconds == pytest.approx(1.0, abs=0.1)


def test_face_is_detected_and_the_mouth_opens(clip):
    from raymouth.config import LocateConfig
    from raymouth.mouth.landmarks import Landmarker

    frames = {i: rgb for i, _, rgb in video.iter_frames(clip)}
    gaps = {}
    with Landmarker(LocateConfig()) as landmarker:
        for i in (0, 3, 6, 12):  # 2 Hz at 24 fps: closed at 0 and 12, widest open at 6
            face = landmarker.detect(frames[i])
            assert face is not None, f"no face in frame {i}"
            assert face.confidence > 0.5
            h, w = frames[i].shape[:2]
            upper, lower = face.points[UPPER_INNER_LIP], face.points[LOWER_INNER_LIP]
            assert w * 0.3 < upper[0] < w * 0.7 and h * 0.4 < upper[1] < h * 0.8  # the mouth is where the warp is
            gaps[i] = float(np.linalg.norm(lower - upper))
    assert gaps[6] > 1.8 * gaps[0] and gaps[6] > 1.8 * gaps[12] and gaps[0] < gaps[3] < gaps[6]


def test_sample_dataset_ingests_and_exports_with_audio(tmp_path):
    frames_uri = make_sample_dataset(tmp_path, Config())
    assert Path(frames_uri).name == "frames"
    files = sorted(Path(frames_uri).rglob("*.parquet"))
    assert pq.ParquetDataset([str(f) for f in files]).read().num_rows == 48
    written = export(frames_uri, str(tmp_path / "out"))  # finds the sibling videos table
    info = video.probe(written[0])
    assert info.frame_count == 48 and info.fps == 24.0 and info.has_audio


@pytest.mark.parametrize("size", [(512, 512), (1920, 1080), (300, 400)])
def test_the_sample_at_real_sizes_keeps_a_detectable_face(size):
    """``fit`` scales to the height and mirrors (or crops) the sides: a talking head at that size."""
    from raymouth.config import LocateConfig
    from raymouth.data.sample import _frame, _portrait, fit
    from raymouth.mouth.landmarks import Landmarker

    img, centre, radii = _portrait()
    frame = fit(_frame(img, centre, radii, 0.3, (0.0, 0.0)), size)
    assert frame.shape == (size[1], size[0], 3) and frame.dtype == np.uint8
    with Landmarker(LocateConfig()) as landmarker:
        face = landmarker.detect(frame)
    assert face is not None and face.confidence > 0.5
