"""Quality measures that need no downloaded weights, as pure functions.

Conventions (as in BasicSR ``metrics/psnr_ssim.py``): images are ``uint8`` RGB arrays of layout
(H, W, 3) with values in [0, 255] unless a docstring says otherwise; a 2-D (H, W) array is taken as
grey already. Boxes are ``(x0, y0, x1, y1)`` integer pixel coordinates with exclusive ``x1``/``y1``;
they are clipped to the frame, and a box that is empty after clipping raises ``ValueError``.
Nothing here keeps state, reads files or imports a deep-learning framework.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from raymouth.mouth.roi import Box, grow, to_lab

_SSIM_SIGMA = 1.5  # Wang et al. 2004; with skimage's truncate=3.5 this is an 11x11 window
_SSIM_WIN = 11


# --------------------------------------------------------------------------- helpers


def _luma(img: np.ndarray) -> np.ndarray:
    """BT.601 luma Y' = 0.299 R + 0.587 G + 0.114 B as float64 in [0, 255], layout (H, W).

    Unrounded (unlike ``cv2.cvtColor``), so small differences are not lost to quantisation.
    """
    arr = np.asarray(img, dtype=np.float64)
    if arr.ndim == 2:
        return arr
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected (H, W) or (H, W, 3) image, got shape {arr.shape}")
    return arr[..., 0] * 0.299 + arr[..., 1] * 0.587 + arr[..., 2] * 0.114


_BT601 = np.array([[0.299, 0.587, 0.114]], np.float32)


def luma32(img: np.ndarray) -> np.ndarray:
    """``_luma`` in float32, in one pass: for the Laplacian and band-pass measures, which run on
    every pasted frame's window (float64 was most of the gate's cost on 1080p frames)."""
    arr = np.asarray(img)
    if arr.ndim == 2:
        return arr.astype(np.float32)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected (H, W) or (H, W, 3) image, got shape {arr.shape}")
    return cv2.transform(np.ascontiguousarray(arr, dtype=np.float32), _BT601)


def lab(img: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> CIE L*a*b* float32 (L* in [0, 100], a*/b* about [-128, 127]).

    OpenCV gives true L*a*b* (D65) only for float input scaled to [0, 1]; uint8 input would be
    rescaled to 0-255 per channel and ΔE would lose its meaning.
    """
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {arr.shape}")
    return to_lab(arr)  # the colour match's conversion: the gate can reuse its result


def _masked(values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The values where mask > 0 (all of them without a mask); the mask must match their shape."""
    if mask is None:
        return values
    mask = np.asarray(mask)
    if mask.shape != values.shape:
        raise ValueError(f"mask shape {mask.shape} does not match image {values.shape}")
    return values[mask > 0]


def same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if np.shape(a) != np.shape(b):
        raise ValueError(f"images differ in shape: {np.shape(a)} vs {np.shape(b)}")


def clip_box_to(box: Box, height: int, width: int) -> tuple[int, int, int, int]:
    """Clip a box to the frame; raise ValueError if nothing of it is left."""
    x0, y0, x1, y1 = (int(v) for v in box)
    x0, x1 = max(0, x0), min(width, x1)
    y0, y1 = max(0, y0), min(height, y1)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"box {tuple(box)} is empty inside a {width}x{height} frame")
    return x0, y0, x1, y1


def _box_mask(box: tuple[int, int, int, int], height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    return mask


def grow_clipped(box: tuple[int, int, int, int], dx: int, dy: int, height: int, width: int) -> tuple[int, int, int, int]:
    """The box grown by dx/dy pixels on each side (negative shrinks), clipped to the frame."""
    return grow(box, dx, dy, (0, 0, width, height))


# --------------------------------------------------------------------------- fidelity


def psnr(a: np.ndarray, b: np.ndarray, max_value: float = 255.0, cap: float = 100.0) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and channels.

    Args:
        a, b: same-shape arrays, any layout, values in [0, max_value] (uint8 RGB by default).
        max_value: the peak value (255 for uint8, 1.0 for float images in [0, 1]).
        cap: returned for identical images (MSE 0) and an upper bound otherwise, so the value is
            always finite and can be stored and averaged.

    Returns:
        float in [0-ish, cap]; ``10 * log10(max_value**2 / MSE)``.
    """
    same_shape(a, b)
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    if mse == 0.0:
        return float(cap)
    return float(min(cap, 10.0 * np.log10(max_value**2 / mse)))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity of the BT.601 luma, Gaussian window (sigma 1.5, 11x11), data range 255.

    Luma rather than a per-channel mean, because the eye judges mouth detail mostly in luma
    (BasicSR's ``test_y_channel`` does the same). Same constants as Wang et al. 2004 and
    ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=255)``: K1=0.01, K2=0.03, population covariance, and the
    mean is taken away from a 5-pixel border so the padding never counts. Images smaller than the
    window use a window as large as the smaller side allows (odd), still cropped at the border.

    Args:
        a, b: same-shape uint8 RGB (H, W, 3) or grey (H, W), values in [0, 255].

    Returns:
        float in [-1, 1]; 1.0 exactly for identical images.
    """
    same_shape(a, b)
    x, y = _luma(a), _luma(b)
    if np.array_equal(x, y):
        return 1.0
    win = min(_SSIM_WIN, *x.shape)
    win -= 1 - win % 2  # odd
    if win < 3:  # nothing to slide: a global SSIM over the whole (tiny) crop
        return _ssim_map(x, y, None).mean().item()
    pad = (win - 1) // 2
    smap = _ssim_map(x, y, win)
    return float(smap[pad : smap.shape[0] - pad, pad : smap.shape[1] - pad].mean())


def _ssim_map(x: np.ndarray, y: np.ndarray, win: int | None) -> np.ndarray:
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(img: np.ndarray) -> np.ndarray:
        if win is None:
            return np.full_like(img, img.mean())
        return cv2.GaussianBlur(img, (win, win), _SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def mouth_psnr_ssim(frame: np.ndarray, reference: np.ndarray, box: Box) -> tuple[float, float]:
    """PSNR (dB, capped at 100) and SSIM ([-1, 1]) of the box crop against the same crop of a reference.

    Measured at the crop's native size (no resizing to a model's input), so the number reflects
    what a viewer sees. ``frame`` and ``reference`` are same-shape uint8 RGB (H, W, 3) frames.
    """
    same_shape(frame, reference)
    x0, y0, x1, y1 = clip_box_to(box, *np.shape(frame)[:2])
    a, b = frame[y0:y1, x0:x1], reference[y0:y1, x0:x1]
    return psnr(a, b), ssim(a, b)


# --------------------------------------------------------------------------- sharpness


def sharpness(img: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Variance of the 3x3 Laplacian of the luma: higher means more fine detail / edges.

    Args:
        img: uint8 RGB (H, W, 3) or grey (H, W), values in [0, 255].
        mask: optional (H, W) array; only pixels where ``mask > 0`` count. The Laplacian is still
            taken over the whole image, so pixels at the mask's edge see their real neighbours.

    Returns:
        float >= 0 in (grey level)^2 units; 0.0 for a flat image or an empty mask.
    """
    return masked_variance(_laplacian(img), mask)


def _laplacian(img: np.ndarray) -> np.ndarray:
    return laplacian_of_luma(luma32(img))


def laplacian_of_luma(luma: np.ndarray) -> np.ndarray:
    return cv2.Laplacian(np.ascontiguousarray(luma, dtype=np.float32), cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT)


def masked_variance(lap: np.ndarray, mask: np.ndarray | None) -> float:
    if mask is None:
        n, total, squares = moment_sums(lap)
        return max(0.0, squares / n - (total / n) ** 2) if n else 0.0
    values = _masked(lap, mask)
    return float(values.var(dtype=np.float64)) if values.size else 0.0


def moment_sums(values: np.ndarray) -> tuple[int, float, float]:
    """Count, sum and sum of squares of a float32 (H, W) array or view, accumulated in float64
    by OpenCV without a temporary copy: variances of regions and of differences of regions."""
    if values.size == 0:
        return 0, 0.0, 0.0
    return values.size, float(cv2.sumElems(values)[0]), float(cv2.norm(values, cv2.NORM_L2SQR))


def sharpness_ratio(frame: np.ndarray, mouth_box: Box, face_box: Box | None = None, eps: float = 1e-6) -> float:
    """Mouth sharpness divided by the sharpness of the rest of the face.

    The ratio, not the raw value, is what tells a too-soft (or over-sharpened) mouth apart from a
    soft video: ~1 means the mouth matches its surroundings, < 1 blurrier, > 1 crisper.

    Args:
        frame: uint8 RGB (H, W, 3) frame.
        mouth_box: (x0, y0, x1, y1) of the mouth.
        face_box: the face; its pixels outside ``mouth_box`` are the reference. When None, the
            reference is the mouth box grown to twice its width and height about its centre
            (clipped to the frame), minus the mouth box.
        eps: added to both sides so that flat/flat gives 1.0 rather than 0/0.

    Returns:
        float >= 0; ``(S_mouth + eps) / (S_rest + eps)`` with S = :func:`sharpness`.
    """
    h, w = np.shape(frame)[:2]
    mouth = clip_box_to(mouth_box, h, w)
    if face_box is None:
        bw, bh = mouth[2] - mouth[0], mouth[3] - mouth[1]
        face = grow_clipped(mouth, (bw + 1) // 2, (bh + 1) // 2, h, w)
    else:
        face = clip_box_to(face_box, h, w)
    in_mouth = _box_mask(mouth, h, w)
    rest = _box_mask(face, h, w) & ~in_mouth
    lap = _laplacian(frame)  # once for both regions: the values of two sharpness() calls
    return (masked_variance(lap, in_mouth) + eps) / (masked_variance(lap, rest) + eps)


# --------------------------------------------------------------------------- colour and seams


def delta_e(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean CIE76 colour difference ΔE*ab = ||Lab(a) - Lab(b)||_2 per pixel.

    Args:
        a, b: same-shape uint8 RGB (H, W, 3) images.
        mask: optional (H, W); only pixels where ``mask > 0`` are averaged.

    Returns:
        float >= 0 in ΔE units (about 2.3 is a just-noticeable difference); 0.0 for identical
        images or an empty mask.
    """
    same_shape(a, b)
    de = _masked(np.linalg.norm(lab(a).astype(np.float64) - lab(b), axis=-1), mask)
    return float(de.mean()) if de.size else 0.0


# --------------------------------------------------------------------------- temporal


def flicker(frames_mouth: Sequence[np.ndarray] | np.ndarray) -> float:
    """Temporal flicker: mean absolute frame-to-frame change of the crop's mean luma.

    Mean luma (BT.601, grey levels 0-255) rather than a per-pixel difference, so lip motion that
    only moves texture around counts little while a brightness pumping from frame-wise enhancement
    counts fully. Mouth opening also changes the mean, which is why :func:`flicker_ratio` compares
    against the input video.

    Args:
        frames_mouth: T same-size crops, uint8 RGB (H, W, 3) or grey (H, W), in time order
            (a list or a (T, H, W[, 3]) array).

    Returns:
        float >= 0 in grey levels per frame; 0.0 for a constant video or fewer than 2 frames.
    """
    means = [float(_luma(f).mean()) for f in frames_mouth]
    if len(means) < 2:
        return 0.0
    shapes = {np.shape(f) for f in frames_mouth}
    if len(shapes) != 1:
        raise ValueError(f"crops differ in shape: {sorted(shapes)}")
    return float(np.mean(np.abs(np.diff(means))))


def flicker_ratio(
    out_seq: Sequence[np.ndarray] | np.ndarray,
    in_seq: Sequence[np.ndarray] | np.ndarray,
    floor: float = 0.05,
) -> float:
    """Flicker of the output divided by flicker of the input (same crops, same frames).

    Both flickers are raised to at least ``floor`` grey levels (well below visibility) before
    dividing, so a steady input does not turn a tiny output wobble into a huge ratio.

    Returns:
        float > 0; ~1 means enhancement added no flicker, > 1 means it added some.
    """
    return max(flicker(out_seq), floor) / max(flicker(in_seq), floor)


FACE_EDGES = (234, 454)  # MediaPipe face mesh: the face's outermost left and right points
LIP_SHIFT_FACE_PX = 512.0  # lip shifts are reported at this face width


def lip_shift(in_points: np.ndarray, out_points: np.ndarray, lips: Sequence[int]) -> float:
    """Mean distance between the input's and the output's lip landmarks, in pixels of a face
    ``LIP_SHIFT_FACE_PX`` wide (the input face's width): how far a restoration moved the lip
    shape that the lip-sync model drew, whatever the frame's size."""
    moved = np.linalg.norm(np.asarray(out_points)[list(lips)] - np.asarray(in_points)[list(lips)], axis=1)
    return float(moved.mean() * LIP_SHIFT_FACE_PX / max(face_width(in_points), 1e-6))


def face_width(points: np.ndarray) -> float:
    """The face's width in pixels: between its outermost landmarks (``FACE_EDGES``)."""
    points = np.asarray(points, np.float32).reshape(-1, 2)
    return float(np.linalg.norm(points[FACE_EDGES[1]] - points[FACE_EDGES[0]]))


TRACK_FACE_PX = 256.0  # tracked_lip_shift follows the lips on a copy where the face is at most this wide


def tracked_lip_shift(before: np.ndarray, after: np.ndarray, lip_points: np.ndarray, width_px: float) -> float:
    """How far the lip edges moved from ``before`` to ``after`` (same grid), in pixels of a face
    ``LIP_SHIFT_FACE_PX`` wide: the input's lip points followed into the output by pyramidal
    Lucas-Kanade flow, mean displacement. Cheap enough for every row (no second landmark pass):
    it runs on the lips' surroundings only, shrunk so the face is at most ``TRACK_FACE_PX`` wide.
    Points on flat skin, where the flow is undetermined, are left out. NaN when none is left."""
    points = np.asarray(lip_points, np.float32).reshape(-1, 2)
    scale = min(1.0, TRACK_FACE_PX / max(width_px, 1e-6))
    margin = 0.1 * width_px  # a lip's thickness and then some: what the flow window sees
    h, w = before.shape[:2]
    x0, y0 = np.maximum(np.floor(points.min(axis=0) - margin), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(points.max(axis=0) + margin), [w, h]).astype(int)
    grey = []
    for img in (before, after):
        part = np.ascontiguousarray(img[y0:y1, x0:x1])
        part = cv2.cvtColor(part, cv2.COLOR_RGB2GRAY) if part.ndim == 3 else part
        grey.append(part if scale == 1.0 else cv2.resize(part, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    start = ((points - np.float32([x0, y0])) * np.float32(scale)).reshape(-1, 1, 2)
    win = int(np.clip(round(width_px * scale / 24.0), 4, 20)) * 2 + 1  # about the lips' thickness
    moved, found, _ = cv2.calcOpticalFlowPyrLK(
        grey[0], grey[1], start, None, winSize=(win, win), maxLevel=2,
        criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 30, 0.01), minEigThreshold=1e-3)
    ok = found.reshape(-1) == 1
    if not ok.any():
        return float("nan")
    distance = np.linalg.norm((moved - start).reshape(-1, 2)[ok], axis=1) / scale
    return float(distance.mean() * LIP_SHIFT_FACE_PX / max(width_px, 1e-6))


PSNR_CAP = 100.0  # dB: a perfect copy scores this, not infinity


def pooled_psnr(mses: list[float]) -> float:
    """PSNR (dB, uint8 range, capped at ``PSNR_CAP``) of the mean of per-crop MSEs: one MSE over every pixel."""
    mse = float(np.mean(mses))
    return PSNR_CAP if mse == 0.0 else float(min(PSNR_CAP, 10.0 * np.log10(255.0**2 / mse)))
