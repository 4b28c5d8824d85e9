"""The built-in demo: a short talking clip made from scikit-image's astronaut photo (a real face).

Nothing is downloaded: the face is ``skimage.data.astronaut()``, cropped around the face and
enlarged 2x so the face spans about 200 px; the mouth opens and closes sinusoidally (a vertical
magnification around the lip line with ``cv2.remap``) while the head drifts a few pixels, and a
sine tone is muxed as AAC so export's audio path is exercised too.
"""
from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

from raymouth.config import Config

# Measured once with MediaPipe FaceLandmarker on astronaut(): lips span x 202-244, y 139-155.
_CROP = (113, 16, 337, 240)  # x0, y0, x1, y1 around the face, in the 512x512 photo
_SCALE = 2.0  # the crop is enlarged to 448x448
_MOUTH = (223.0, 146.0)  # lip centre in the photo
_MOUTH_RADII = (34.0, 18.0)  # half-width/height of the region the warp moves, in the photo


def _portrait() -> tuple[np.ndarray, tuple[float, float], tuple[float, float]]:
    """The enlarged face crop (RGB) and the mouth centre/radii in its pixels."""
    from skimage import data

    x0, y0, x1, y1 = _CROP
    crop = data.astronaut()[y0:y1, x0:x1]
    size = (round((x1 - x0) * _SCALE), round((y1 - y0) * _SCALE))
    img = cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC)
    centre = ((_MOUTH[0] - x0) * _SCALE, (_MOUTH[1] - y0) * _SCALE)
    radii = (_MOUTH_RADII[0] * _SCALE, _MOUTH_RADII[1] * _SCALE)
    return img, centre, radii


def _frame(img: np.ndarray, centre, radii, opening: float, drift: tuple[float, float]) -> np.ndarray:
    """One frame: the lip region magnified vertically by ``opening`` (0..~0.6), shifted by ``drift``."""
    h, w = img.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xs -= drift[0]
    ys -= drift[1]
    cx, cy = centre
    weight = np.exp(-(((xs - cx) / radii[0]) ** 2) - (((ys - cy) / (radii[1] * 2.0)) ** 2))
    map_y = cy + (ys - cy) * (1.0 - opening * weight)  # sample nearer the lip line: it opens
    return cv2.remap(img, xs, map_y.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def tone_audio(duration_s: float, rate: int = 44100, freq: float = 440.0) -> bytes:
    """A sine tone encoded as AAC in a Matroska blob (the format ingest keeps audio in)."""
    t = np.arange(int(round(duration_s * rate))) / rate
    samples = (0.2 * np.sin(2 * math.pi * freq * t)).astype(np.float32)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="matroska") as out:
        stream = out.add_stream("aac", rate=rate)
        stream.layout = "mono"
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[None, start : start + 1024], format="fltp", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


def fit(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The frame scaled to ``size``'s height (width, height) and padded (mirrored) or cropped to
    its width, about the centre: the demo face at a real video size, framed as a talking head
    (at 1920x1080 the face is about 480 px tall)."""
    width, height = size
    scale = height / frame.shape[0]
    scaled = cv2.resize(frame, (max(1, round(frame.shape[1] * scale)), height), interpolation=cv2.INTER_CUBIC)
    extra = width - scaled.shape[1]
    if extra >= 0:
        return cv2.copyMakeBorder(scaled, 0, 0, extra // 2, extra - extra // 2, cv2.BORDER_REFLECT)
    return np.ascontiguousarray(scaled[:, -extra // 2 : -extra // 2 + width])


def make_sample_clip(path: str | Path, frames: int = 48, fps: float = 24, size: tuple[int, int] | None = None) -> Path:
    """Write the demo clip (448x448, or ``size`` through ``fit``; H.264 + AAC tone) to ``path``;
    the mouth opens about twice a second."""
    from raymouth.data.mp4 import write_mp4

    path = Path(path)
    write_mp4(sample_frames(frames, fps, size), fps, path, tone_audio(frames / fps))
    return path


def sample_frames(frames: int = 48, fps: float = 24, size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """The demo clip's RGB frames before encoding (448x448, or ``size`` through ``fit``)."""
    img, centre, radii = _portrait()
    for i in range(frames):
        t = i / fps
        opening = 0.6 * (0.5 - 0.5 * math.cos(2 * math.pi * 2.0 * t))
        drift = (3.0 * math.sin(2 * math.pi * 0.5 * t), 2.0 * math.sin(2 * math.pi * 0.3 * t))
        frame = _frame(img, centre, radii, opening, drift)
        yield frame if size is None else fit(frame, size)


def make_sample_dataset(workdir: str | Path, cfg: Config | None = None) -> str:
    """Write the demo clip into ``workdir`` and ingest it to ``workdir/dataset``; returns the frames URI
    (``.../dataset/frames``; its ``videos`` table, with the audio, is the sibling folder)."""
    from raymouth.data.ingest import ingest

    workdir = Path(workdir)
    clip = make_sample_clip(workdir / "sample.mp4")
    out = workdir / "dataset"
    ingest([str(clip)], str(out), cfg or Config(), use_ray=False)
    return str(out / "frames")


def sample_crops(n: int, seed: int = 0, min_side: int = 48, max_side: int = 200) -> list[np.ndarray]:
    """Mouth-sized crops of varying sizes cut from scikit-image's astronaut photo (benchmarks)."""
    from skimage import data

    photo = data.astronaut()
    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(n):
        w, h = rng.integers(min_side, max_side, size=2)
        x, y = rng.integers(0, photo.shape[1] - w), rng.integers(0, photo.shape[0] - h)
        crops.append(np.ascontiguousarray(photo[y : y + h, x : x + w]))
    return crops
