"""Degradations of clean mouth crops or frames: training pairs and fixed evaluation strengths.

Two training families (``DegradeConfig.family``), deterministic per seed so pairs are
reproducible across workers and runs:
- ``blind`` (default), after Real-ESRGAN's recipe (``options/train_realesrnet_x4plus.yml``):
  a share of pairs is left undegraded (identity pairs: the model must learn to leave a good
  mouth alone); the rest get a random chain of blur (Gaussian or motion), down-scaling 1-5x
  (sometimes 5-8x, as soft as real lip-sync mouths) with a random kernel and back up, noise and
  JPEG 30-95, sometimes twice.
- ``lipsync``: the first version, always 2-4x down, blur, JPEG and a colour shift.

``STRENGTHS`` are the fixed evaluation strengths of ``raymouth evaluate``, applied to whole
frames as a lip-sync generator's output is.
"""
from __future__ import annotations

import hashlib

import cv2
import numpy as np

from raymouth.config import DegradeConfig

# name -> (scale, noise sigma 0-255, JPEG quality or 0 for none): the evaluation's strengths.
STRENGTHS: dict[str, tuple[float, float, int]] = {
    "clean": (1.0, 0.0, 0),
    "mild": (2.0, 0.0, 75),
    "lipsync": (3.0, 0.0, 50),
    "harsh": (4.0, 3.0, 40),
}
DOWN_KERNELS = (cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC)
UP_KERNELS = (cv2.INTER_CUBIC, cv2.INTER_LINEAR)


def seed_of(*parts: object) -> int:
    """A fixed 63-bit seed named by ``parts`` (e.g. seed, video, frame, pair): the same degradation
    on every run, worker and machine (sha256 of the parts joined by ``:``)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _rng(rng_or_seed: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    return np.random.default_rng(int(rng_or_seed))


def _rescale(img: np.ndarray, factor: float, down: int = cv2.INTER_AREA, up: int = cv2.INTER_CUBIC) -> np.ndarray:
    """Down by ``factor`` with the ``down`` kernel, then back to the original size with ``up``."""
    if factor <= 1.0:
        return img
    h, w = img.shape[:2]
    small = (max(1, round(w / factor)), max(1, round(h / factor)))
    low = cv2.resize(img, small, interpolation=down)
    return cv2.resize(low, (w, h), interpolation=up)


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"could not JPEG-encode a {img.shape} image")
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).reshape(img.shape)


def _noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    noisy = img.astype(np.float32) + rng.normal(0.0, sigma, img.shape).astype(np.float32)
    return np.rint(np.clip(noisy, 0, 255)).astype(np.uint8)


def _motion_blur(img: np.ndarray, length: int, angle_deg: float) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle_deg, 1.0)
    kernel = cv2.warpAffine(kernel, rot, (length, length))
    return cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6), borderType=cv2.BORDER_REFLECT)


def _blind_pass(img: np.ndarray, rng: np.random.Generator, cfg: DegradeConfig) -> np.ndarray:
    """One Real-ESRGAN-style pass: blur, resize down and up, noise, JPEG (each drawn)."""
    if rng.random() < cfg.blur_rate:
        if rng.random() < cfg.motion_blur_rate:
            img = _motion_blur(img, int(rng.integers(3, 8)), float(rng.uniform(0, 180)))
        else:
            sigma = float(rng.uniform(0.3, cfg.max_blur_sigma))
            img = cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, sigmaY=sigma * float(rng.uniform(0.7, 1.3)))
    if rng.random() < cfg.heavy_scale_rate:
        factor = float(rng.uniform(5.0, 8.0))
    else:
        factor = float(rng.uniform(cfg.min_scale, cfg.max_scale))
    img = _rescale(img, factor, DOWN_KERNELS[rng.integers(len(DOWN_KERNELS))], UP_KERNELS[rng.integers(len(UP_KERNELS))])
    if rng.random() < cfg.noise_rate:
        img = _noise(img, float(rng.uniform(0.5, cfg.max_noise_sigma)), rng)
    if rng.random() < cfg.jpeg_rate:
        img = _jpeg(img, int(rng.integers(cfg.jpeg_quality_min, cfg.jpeg_quality_max + 1)))
    return img


def _lipsync(img: np.ndarray, rng: np.random.Generator, cfg: DegradeConfig) -> np.ndarray:
    """The first version's family: always down-scaled, blurred, JPEG'd, colour-shifted."""
    factor = rng.uniform(cfg.min_scale, cfg.max_scale)
    sigma = rng.uniform(0.0, cfg.max_blur_sigma)
    quality = int(rng.integers(cfg.jpeg_quality_min, cfg.jpeg_quality_max + 1))
    shift = rng.uniform(-cfg.max_colour_shift, cfg.max_colour_shift, size=3)
    out = _rescale(img, factor)
    if sigma > 0.05:
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=sigma, sigmaY=sigma)
    out = _jpeg(out, quality)
    out = np.clip(out.astype(np.float32) + shift.astype(np.float32), 0, 255)
    return np.rint(out).astype(np.uint8)


def degrade(crop: np.ndarray, rng_or_seed: np.random.Generator | int, cfg: DegradeConfig | None = None) -> np.ndarray:
    """A degraded copy of an RGB uint8 crop (H, W, 3), same shape; the input is not modified.

    With the ``blind`` family a share ``identity_rate`` of seeds returns the crop unchanged.
    """
    cfg = cfg or DegradeConfig()
    rng = _rng(rng_or_seed)
    img = np.ascontiguousarray(crop)
    if cfg.family == "lipsync":
        return _lipsync(img, rng, cfg)
    if cfg.family != "blind":
        raise ValueError(f"degrade.family must be blind or lipsync, got {cfg.family!r}")
    if rng.random() < cfg.identity_rate:
        return img.copy()
    out = _blind_pass(img, rng, cfg)
    if rng.random() < cfg.second_pass_rate:
        out = _blind_pass(out, rng, cfg)
    return out


def naturally_soft(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The crop made naturally soft as a whole, without compression: half the time an
    edge-preserving skin filter (bilateral, as phone beauty filters), then a soft lens (Gaussian).
    Used as a *clean* target: soft is not the same as damaged."""
    out = np.ascontiguousarray(img)
    if rng.random() < 0.5:
        out = cv2.bilateralFilter(out, int(rng.integers(5, 10)), float(rng.uniform(15, 50)), float(rng.uniform(3, 8)))
    sigma = float(rng.uniform(0.6, 1.6))
    return cv2.GaussianBlur(out, (0, 0), sigmaX=sigma, sigmaY=sigma)


def is_identity(seed: int, cfg: DegradeConfig | None = None) -> bool:
    """Whether ``degrade(crop, seed, cfg)`` is an identity pair (same draw, no image work)."""
    cfg = cfg or DegradeConfig()
    return cfg.family == "blind" and _rng(seed).random() < cfg.identity_rate


def fixed(img: np.ndarray, strength: str, seed: int = 0) -> np.ndarray:
    """``img`` (a whole frame or a crop, RGB uint8) at one of the fixed ``STRENGTHS``:
    area down-scale, bicubic up, Gaussian noise, JPEG; ``clean`` returns a copy."""
    if strength not in STRENGTHS:
        raise ValueError(f"strength must be one of {', '.join(STRENGTHS)}, got {strength!r}")
    scale, sigma, quality = STRENGTHS[strength]
    out = _rescale(np.ascontiguousarray(img), scale)
    if sigma:
        out = _noise(out, sigma, _rng(seed))
    if quality:
        out = _jpeg(out, quality)
    return out.copy() if out is img else out


def soften(img: np.ndarray, factor: float) -> np.ndarray:
    """Area down by ``factor`` and bicubic back up, nothing else: a mouth painted at low
    resolution, as a lip-sync generator paints it, without compression."""
    return _rescale(np.ascontiguousarray(img), factor).copy()


def make_pair(clean: np.ndarray, seed: int, cfg: DegradeConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(degraded, clean)`` at the crop's own size: an evaluation pair (see pairs.training_pair)."""
    return degrade(clean, seed, cfg), clean
