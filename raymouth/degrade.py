"""Synthetic lip-sync-style degradation of a clean mouth crop, for training and evaluation pairs.

Imitates what lip-sync generators write into the mouth (DESIGN.md): a low-resolution patch
(down-scale 2-4x with area averaging, bicubic back up), blur, JPEG artefacts and a slight colour
mismatch. Deterministic per seed, so pairs are reproducible across workers and runs.
"""
from __future__ import annotations

import cv2
import numpy as np

from raymouth.config import DegradeConfig


def _rng(rng_or_seed: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    return np.random.default_rng(int(rng_or_seed))


def _rescale(crop: np.ndarray, factor: float) -> np.ndarray:
    """Down by ``factor`` with area averaging, then bicubic back to the original size."""
    h, w = crop.shape[:2]
    small = (max(1, round(w / factor)), max(1, round(h / factor)))
    low = cv2.resize(crop, small, interpolation=cv2.INTER_AREA)
    return cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)


def _jpeg(crop: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"could not JPEG-encode a {crop.shape} crop")
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).reshape(crop.shape)


def degrade(crop: np.ndarray, rng_or_seed: np.random.Generator | int, cfg: DegradeConfig | None = None) -> np.ndarray:
    """A degraded copy of an RGB uint8 crop (H, W, 3), same shape; the input is not modified.

    The channel order does not matter to any step (JPEG's chroma subsampling sees a channel swap
    only as a slightly different artefact).
    """
    cfg = cfg or DegradeConfig()
    rng = _rng(rng_or_seed)
    factor = rng.uniform(cfg.min_scale, cfg.max_scale)
    sigma = rng.uniform(0.0, cfg.max_blur_sigma)
    quality = int(rng.integers(cfg.jpeg_quality_min, cfg.jpeg_quality_max + 1))
    shift = rng.uniform(-cfg.max_colour_shift, cfg.max_colour_shift, size=3)
    out = _rescale(np.ascontiguousarray(crop), factor)
    if sigma > 0.05:
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=sigma, sigmaY=sigma)
    out = _jpeg(out, quality)
    out = np.clip(out.astype(np.float32) + shift.astype(np.float32), 0, 255)
    return np.rint(out).astype(np.uint8)


def make_pair(clean: np.ndarray, seed: int, cfg: DegradeConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(degraded, clean)`` at the crop's own size: an evaluation pair (see chain.training_pair)."""
    return degrade(clean, seed, cfg), clean
