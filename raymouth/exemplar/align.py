"""Alignment of a canonical exemplar onto an input mouth crop's own pixel grid, plus a confidence map.

Steps: (1) similarity fitted by least squares from the exemplar's lip points (canonical pixels)
to the input's (crop pixels); (2) the exemplar's colour statistics set to the input's (the mouth
never takes the exemplar's colour or light); (3) dense refinement with OpenCV DIS optical flow
between low-passed grey copies (the input is blurry, so only its low band is trusted); (4) a
confidence, 1 where the aligned exemplar's low band agrees with the input's, falling to 0 where
it disagrees (ghosting) or where the exemplar has no pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_DIS: dict[int, object] = {}


@dataclass(frozen=True)
class Aligned:
    """An exemplar on the input's grid: ``image`` RGB uint8 (H, W, 3), ``confidence`` float32 (H, W) in 0..1."""

    image: np.ndarray
    confidence: np.ndarray
    similarity: np.ndarray  # (2, 3) exemplar canonical -> input crop
    flow_px: float  # mean dense-refinement displacement, pixels


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama, no reflection) mapping ``src`` points onto ``dst``: (2, 3)."""
    src, dst = np.asarray(src, np.float64).reshape(-1, 2), np.asarray(dst, np.float64).reshape(-1, 2)
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    zs, zd = s[:, 0] + 1j * s[:, 1], d[:, 0] + 1j * d[:, 1]
    a = complex((zd * np.conj(zs)).sum() / max((np.abs(zs) ** 2).sum(), 1e-12))
    t = complex(*md) - a * complex(*ms)
    return np.array([[a.real, -a.imag, t.real], [a.imag, a.real, t.imag]], np.float64)


def match_colour(img: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``img`` with each channel's mean/std over ``mask`` set to ``ref``'s (gain clamped to 0.5..2)."""
    m = mask.astype(np.uint8)
    if int(m.sum()) < 16:
        return img.copy()
    ma, sa = (v.ravel() for v in cv2.meanStdDev(img, mask=m))
    mr, sr = (v.ravel() for v in cv2.meanStdDev(ref, mask=m))
    g = np.clip(sr / np.maximum(sa, 1e-3), 0.5, 2.0)
    gain_offset = np.column_stack([np.diag(g), mr - ma * g])  # (3, 4): out_c = g_c * in_c + offset_c
    return cv2.transform(img, gain_offset)  # rounded and saturated to uint8


def _grey_low(rgb: np.ndarray, sigma: float) -> np.ndarray:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return cv2.GaussianBlur(grey, (0, 0), sigma)


def _dis(preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM):
    if preset not in _DIS:
        _DIS[preset] = cv2.DISOpticalFlow_create(preset)
    return _DIS[preset]


def low_scale(sigma: float) -> float:
    """Resize factor that leaves about a pixel per sigma/2 of a low band (1 when sigma <= 2): why:
    the low band holds nothing finer, and flow and blurs cost by the pixel."""
    return min(1.0, 2.0 / sigma)


def _resized(img: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return img
    h, w = img.shape[:2]
    return cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def refine_flow(input_rgb: np.ndarray, warped_rgb: np.ndarray, sigma: float) -> np.ndarray:
    """DIS flow (H, W, 2) from the input to the warped exemplar, on low-passed grey copies (at
    ``low_scale(sigma)``, the flow resized back to the input's grid)."""
    h, w = input_rgb.shape[:2]
    scale = low_scale(sigma)
    a, b = (_grey_low(_resized(x, scale), sigma * scale) for x in (input_rgb, warped_rgb))
    flow = _dis().calc(a, b, None)
    if flow.shape[:2] == (h, w):
        return flow
    back = np.float32([w / flow.shape[1], h / flow.shape[0]])
    return cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) * back


def remap(img: np.ndarray, flow: np.ndarray, interp: int = cv2.INTER_LINEAR, border: int = cv2.BORDER_REFLECT) -> np.ndarray:
    """``img`` sampled at x + flow(x)."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, gx + flow[..., 0], gy + flow[..., 1], interp, borderMode=border)


def confidence_map(input_rgb: np.ndarray, aligned_rgb: np.ndarray, valid: np.ndarray, sigma: float, tau: float = 12.0) -> np.ndarray:
    """exp(-(d/tau)^2) of the low-band difference d (0..255 units), 0 outside ``valid``: why: tell the
    network where not to trust the exemplar. The low bands are taken at ``low_scale(sigma)``."""
    h, w = input_rgb.shape[:2]
    scale = low_scale(sigma)
    lo_in, lo_ex = (cv2.GaussianBlur(_resized(x, scale).astype(np.float32), (0, 0), sigma * scale) for x in (input_rgb, aligned_rgb))
    d = np.abs(lo_in - lo_ex).mean(-1)
    if d.shape != (h, w):
        d = cv2.resize(d, (w, h), interpolation=cv2.INTER_LINEAR)
    conf = np.exp(-((d / tau) ** 2)) * valid
    return conf.astype(np.float32)


def align(input_rgb: np.ndarray, input_lips: np.ndarray, exemplar_rgb: np.ndarray, exemplar_lips: np.ndarray,
          flow: bool = True, tau: float = 12.0) -> Aligned:
    """The exemplar (canonical crop + its lip points) warped onto ``input_rgb`` (lip points in crop pixels)."""
    h, w = input_rgb.shape[:2]
    sim = fit_similarity(exemplar_lips, input_lips)
    warped = cv2.warpAffine(exemplar_rgb, sim, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    valid = cv2.warpAffine(np.ones(exemplar_rgb.shape[:2], np.float32), sim, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    valid = (valid > 0.999).astype(np.float32)
    mouth_px = float(np.linalg.norm(np.ptp(np.asarray(input_lips, np.float64), axis=0)))
    sigma = max(1.0, mouth_px / 50.0)
    warped = match_colour(warped, input_rgb, valid > 0)
    shift = 0.0
    if flow:
        f = refine_flow(input_rgb, warped, sigma)
        warped = remap(warped, f, cv2.INTER_CUBIC)
        valid = remap(valid, f, cv2.INTER_NEAREST, cv2.BORDER_CONSTANT)
        shift = float(cv2.magnitude(f[..., 0], f[..., 1]).mean())
        warped = match_colour(warped, input_rgb, valid > 0)
    valid = cv2.erode(valid, np.ones((3, 3), np.uint8))
    image = np.where(valid[..., None] > 0, warped, input_rgb)
    conf = confidence_map(input_rgb, image, valid, 2.0 * sigma, tau)
    return Aligned(image.astype(np.uint8), conf, sim, shift)
