"""Quality measures that need no downloaded weights (DESIGN.md), as pure functions.

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

from raymouth.roi import grow

Box = Sequence[int]  # (x0, y0, x1, y1), exclusive x1/y1

# How far beyond a paste's alpha paste_seam and detail_ratio look at their defaults: 4 sigma of
# their widest Gaussian (OpenCV's kernel radius for float images), plus one pixel.
PASTE_REACH_PX = 13
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


def _luma32(img: np.ndarray) -> np.ndarray:
    """``_luma`` in float32, in one pass: for the Laplacian and band-pass measures, which run on
    every pasted frame's window (float64 was most of the gate's cost on 1080p frames)."""
    arr = np.asarray(img)
    if arr.ndim == 2:
        return arr.astype(np.float32)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected (H, W) or (H, W, 3) image, got shape {arr.shape}")
    return cv2.transform(np.ascontiguousarray(arr, dtype=np.float32), _BT601)


def _lab(img: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> CIE L*a*b* float32 (L* in [0, 100], a*/b* about [-128, 127]).

    OpenCV gives true L*a*b* (D65) only for float input scaled to [0, 1]; uint8 input would be
    rescaled to 0-255 per channel and ΔE would lose its meaning.
    """
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {arr.shape}")
    return cv2.cvtColor(arr.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _masked(values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The values where mask > 0 (all of them without a mask); the mask must match their shape."""
    if mask is None:
        return values
    mask = np.asarray(mask)
    if mask.shape != values.shape:
        raise ValueError(f"mask shape {mask.shape} does not match image {values.shape}")
    return values[mask > 0]


def _same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if np.shape(a) != np.shape(b):
        raise ValueError(f"images differ in shape: {np.shape(a)} vs {np.shape(b)}")


def _clip_box(box: Box, height: int, width: int) -> tuple[int, int, int, int]:
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


def _grow(box: tuple[int, int, int, int], dx: int, dy: int, height: int, width: int) -> tuple[int, int, int, int]:
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
    _same_shape(a, b)
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
    _same_shape(a, b)
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
    _same_shape(frame, reference)
    x0, y0, x1, y1 = _clip_box(box, *np.shape(frame)[:2])
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
    return _variance(_laplacian(img), mask)


def _laplacian(img: np.ndarray) -> np.ndarray:
    return _laplacian_of_luma(_luma32(img))


def _laplacian_of_luma(luma: np.ndarray) -> np.ndarray:
    return cv2.Laplacian(np.ascontiguousarray(luma, dtype=np.float32), cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT)


def _variance(lap: np.ndarray, mask: np.ndarray | None) -> float:
    if mask is None:
        n, total, squares = _sums(lap)
        return max(0.0, squares / n - (total / n) ** 2) if n else 0.0
    values = _masked(lap, mask)
    return float(values.var(dtype=np.float64)) if values.size else 0.0


def _sums(values: np.ndarray) -> tuple[int, float, float]:
    """Count, sum and sum of squares of a float32 (H, W) array or view, accumulated in float64
    by OpenCV without a temporary copy: variances of regions and of differences of regions."""
    if values.size == 0:
        return 0, 0.0, 0.0
    return values.size, float(cv2.sumElems(values)[0]), float(cv2.norm(values, cv2.NORM_L2SQR))


def _ring_variance(lap: np.ndarray, outer: tuple[int, int, int, int], inner: tuple[int, int, int, int]) -> float:
    """Variance of ``lap`` over the ``outer`` box minus the ``inner`` box it holds, from sums
    (no mask, no copy of the ring)."""
    (no, so, qo), (ni, si, qi) = (_sums(lap[b[1] : b[3], b[0] : b[2]]) for b in (outer, inner))
    n = no - ni
    if n <= 0:
        return 0.0
    mean = (so - si) / n
    return max(0.0, (qo - qi) / n - mean * mean)


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
    mouth = _clip_box(mouth_box, h, w)
    if face_box is None:
        bw, bh = mouth[2] - mouth[0], mouth[3] - mouth[1]
        face = _grow(mouth, (bw + 1) // 2, (bh + 1) // 2, h, w)
    else:
        face = _clip_box(face_box, h, w)
    in_mouth = _box_mask(mouth, h, w)
    rest = _box_mask(face, h, w) & ~in_mouth
    lap = _laplacian(frame)  # once for both regions: the values of two sharpness() calls
    return (_variance(lap, in_mouth) + eps) / (_variance(lap, rest) + eps)


def paste_sharpness(before: np.ndarray, after: np.ndarray, mouth_box: Box, eps: float = 1e-6) -> dict[str, float]:
    """``sharpness`` of the mouth box's crop and ``sharpness_ratio`` of the frame, before and
    after a paste inside the box: the values of those four calls, with the work shared.

    When nothing outside the box differs (a paste never writes there), the Laplacian of the face
    around the mouth is the same before and after, so the frame's Laplacian is taken once, and
    after the paste only over the box and the ring of pixels it reads; otherwise each measure is
    taken in full. Keys: sharpness_in, sharpness_out, sharpness_ratio_in, sharpness_ratio_out.
    """
    _same_shape(before, after)
    h, w = np.shape(before)[:2]
    mouth = _clip_box(mouth_box, h, w)
    x0, y0, x1, y1 = mouth
    around = ((slice(0, y0),), (slice(y1, h),), (slice(y0, y1), slice(0, x0)), (slice(y0, y1), slice(x1, w)))
    if not all(np.array_equal(before[part], after[part]) for part in around):
        return {"sharpness_in": sharpness(before[y0:y1, x0:x1]), "sharpness_out": sharpness(after[y0:y1, x0:x1]),
                "sharpness_ratio_in": sharpness_ratio(before, mouth, eps=eps), "sharpness_ratio_out": sharpness_ratio(after, mouth, eps=eps)}
    face = _grow(mouth, (x1 - x0 + 1) // 2, (y1 - y0 + 1) // 2, h, w)
    luma = _luma32(before)
    lap = _laplacian_of_luma(luma)
    gx0, gy0, gx1, gy1 = _grow(mouth, 1, 1, h, w)  # the box and the pixels its Laplacian reads
    luma_after = _luma32(after[gy0:gy1, gx0:gx1])
    inner = (slice(y0 - gy0, y1 - gy0), slice(x0 - gx0, x1 - gx0))
    lap_after = _laplacian_of_luma(luma_after)[inner]
    rest_sharpness = _ring_variance(lap, face, mouth) + eps
    return {
        "sharpness_in": _variance(_laplacian_of_luma(luma[y0:y1, x0:x1]), None),
        "sharpness_out": _variance(_laplacian_of_luma(luma_after[inner]), None),
        "sharpness_ratio_in": (_variance(lap[y0:y1, x0:x1], None) + eps) / rest_sharpness,
        "sharpness_ratio_out": (_variance(lap_after, None) + eps) / rest_sharpness,
    }


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
    _same_shape(a, b)
    de = _masked(np.linalg.norm(_lab(a).astype(np.float64) - _lab(b), axis=-1), mask)
    return float(de.mean()) if de.size else 0.0


def delta_e_to_surround(frame: np.ndarray, box: Box, ring_px: int = 8) -> float:
    """ΔE (CIE76) between the mean colour just inside the box and the mean colour just outside it.

    Inside: the box's border band ``ring_px`` wide (the box minus the box shrunk by ``ring_px``).
    Outside: the ring ``ring_px`` wide around the box (the grown box, clipped to the frame, minus
    the box). Each mean is taken over L*a*b* pixel values. This catches a pasted crop whose overall
    tint or brightness disagrees with the skin around it, which per-pixel ΔE against the input
    cannot (the input's mouth may itself be wrong).

    Args:
        frame: uint8 RGB (H, W, 3) frame after paste-back.
        box: (x0, y0, x1, y1) of the pasted region.
        ring_px: width in pixels of both bands (``colour_ring_px`` in the config).

    Returns:
        float >= 0 in ΔE units; 0.0 when there is no outside ring (the box fills the frame).
    """
    h, w = np.shape(frame)[:2]
    b = _clip_box(box, h, w)
    in_box = _box_mask(b, h, w)
    inner = in_box & ~_box_mask(_grow(b, -ring_px, -ring_px, h, w), h, w) if _shrinks(b, ring_px) else in_box
    outer = _box_mask(_grow(b, ring_px, ring_px, h, w), h, w) & ~in_box
    if not outer.any():
        return 0.0
    lab = _lab(frame)
    return float(np.linalg.norm(lab[inner].mean(axis=0, dtype=np.float64) - lab[outer].mean(axis=0, dtype=np.float64)))


def _shrinks(box: tuple[int, int, int, int], px: int) -> bool:
    """True if shrinking the box by px on each side leaves something."""
    return box[2] - box[0] > 2 * px and box[3] - box[1] > 2 * px


def seam_score(frame: np.ndarray, box: Box, band_px: int = 3) -> float:
    """How visible the rectangle's edge is, above the image's own local contrast, in ΔE units.

    For one edge of a rectangle, the *step* is: for every pixel position along the edge, the mean
    L*a*b* colour of the ``band_px`` pixels just inside the edge versus the ``band_px`` pixels just
    outside it (perpendicular to the edge), their Euclidean distance (CIE76 ΔE), averaged along the
    edge. An edge whose outside band leaves the frame is skipped. The score is::

        max(0, mean_edges step(box) - mean_edges step(box shrunk by 2 * band_px))

    The second term measures the same step across an edge of the same length a little further
    inside, where there is no paste boundary, so the image's own texture cancels: a natural image
    scores about 0, a patch pasted with a colour/brightness offset of d ΔE scores about d.
    Without room for the inner rectangle (box narrower than 6 * band_px) the reference is 0.

    Args:
        frame: uint8 RGB (H, W, 3) frame after paste-back.
        box: (x0, y0, x1, y1) of the pasted region (the whole paste, feather band included).
        band_px: thickness of the bands compared on each side of the edge.

    Returns:
        float >= 0 in ΔE units; 0.0 when no edge of the box has an outside band inside the frame.
    """
    h, w = np.shape(frame)[:2]
    b = _clip_box(box, h, w)
    lab = _lab(frame).astype(np.float64)
    steps = _edge_steps(lab, b, band_px, need_outside=True)
    if not steps:
        return 0.0
    inset = 2 * band_px
    ref = 0.0
    if b[2] - b[0] > 2 * (inset + band_px) and b[3] - b[1] > 2 * (inset + band_px):
        inner = (b[0] + inset, b[1] + inset, b[2] - inset, b[3] - inset)
        ref_steps = _edge_steps(lab, inner, band_px, need_outside=False, only=set(steps))
        ref = float(np.mean(list(ref_steps.values())))
    return max(0.0, float(np.mean(list(steps.values()))) - ref)


def _edge_steps(
    lab: np.ndarray,
    box: tuple[int, int, int, int],
    band: int,
    need_outside: bool,
    only: set[str] | None = None,
) -> dict[str, float]:
    """Mean ΔE between the inside and outside bands of each edge, keyed by edge name."""
    h, w = lab.shape[:2]
    x0, y0, x1, y1 = box
    band = max(1, min(band, x1 - x0, y1 - y0))
    # (inside band, outside band, axis to average over = across the edge)
    edges = {
        "top": (lab[y0 : y0 + band, x0:x1], lab[max(0, y0 - band) : y0, x0:x1], 0, y0 - band >= 0),
        "bottom": (lab[y1 - band : y1, x0:x1], lab[y1 : y1 + band, x0:x1], 0, y1 + band <= h),
        "left": (lab[y0:y1, x0 : x0 + band], lab[y0:y1, max(0, x0 - band) : x0], 1, x0 - band >= 0),
        "right": (lab[y0:y1, x1 - band : x1], lab[y0:y1, x1 : x1 + band], 1, x1 + band <= w),
    }
    steps: dict[str, float] = {}
    for name, (inside, outside, axis, fits) in edges.items():
        if (only is not None and name not in only) or (need_outside and not fits) or outside.size == 0:
            continue
        diff = inside.mean(axis=axis) - outside.mean(axis=axis)
        steps[name] = float(np.linalg.norm(diff, axis=-1).mean())
    return steps


# --------------------------------------------------------------------------- paste (before vs after)


def _paste_inputs(original: np.ndarray, pasted: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lab difference pasted − original (H, W, 3) float32 and alpha clipped to 0..1, shapes checked."""
    _same_shape(original, pasted)
    alpha = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)
    if alpha.shape != np.shape(original)[:2]:
        raise ValueError(f"alpha shape {alpha.shape} does not match crop {np.shape(original)}")
    return _lab(pasted) - _lab(original), alpha


def paste_seam(original: np.ndarray, pasted: np.ndarray, alpha: np.ndarray, sigma_px: float = 3.0) -> float:
    """The colour step a feathered paste leaves along its border, in ΔE units.

    Feathering hides changed detail, not a low-frequency offset: pasted content a little brighter
    or redder than what it replaces still shows as a soft edge where alpha ramps from 1 to 0. The
    difference pasted − original in L*a*b* is blurred (Gaussian, ``sigma_px``) so that changed
    detail (sharper teeth, moved edges) averages out and offsets remain; the score is the length of
    that blurred difference, averaged over the feather band with weight alpha·(1 − alpha).

    Args:
        original: uint8 RGB (H, W, 3) crop of the input frame under the paste.
        pasted: uint8 RGB (H, W, 3) content blended in (before blending).
        alpha: float (H, W) blend weights in 0..1.

    Returns:
        float >= 0 in ΔE units; 0.0 when alpha has no band strictly between 0 and 1.
    """
    return _seam(*_paste_inputs(original, pasted, alpha), sigma_px)


def _seam(diff: np.ndarray, alpha: np.ndarray, sigma_px: float = 3.0) -> float:
    weight = alpha * (1.0 - alpha)
    if float(weight.sum()) <= 1e-6:
        return 0.0
    low = cv2.GaussianBlur(diff, (0, 0), sigmaX=sigma_px, borderType=cv2.BORDER_REFLECT)
    length = np.sqrt(np.einsum("ijk,ijk->ij", low, low))
    return float(np.vdot(length, weight)) / float(weight.sum(dtype=np.float64))


def paste_colour(original: np.ndarray, pasted: np.ndarray, alpha: np.ndarray) -> tuple[float, float]:
    """``(paste_seam, colour_shift)`` of one paste, the L*a*b* conversions done once for both."""
    diff, alpha = _paste_inputs(original, pasted, alpha)
    return _seam(diff, alpha), _shift(diff, alpha)


def colour_shift(original: np.ndarray, pasted: np.ndarray, alpha: np.ndarray) -> float:
    """CIE76 ΔE between the alpha-weighted mean colours of the original and the pasted content.

    Restoration may change detail but not the mouth's overall colour; per-pixel differences would
    count detail too, mean colours do not.

    Returns:
        float >= 0 in ΔE units; 0.0 when alpha is all 0.
    """
    return _shift(*_paste_inputs(original, pasted, alpha))


def _shift(diff: np.ndarray, alpha: np.ndarray) -> float:
    if float(alpha.sum()) <= 1e-6:
        return 0.0
    mean = np.tensordot(alpha, diff, axes=([0, 1], [0, 1])) / float(alpha.sum(dtype=np.float64))
    return float(np.linalg.norm(mean))


def detail_ratio(
    original: np.ndarray,
    pasted: np.ndarray,
    alpha: np.ndarray,
    sigma_fine: float = 0.7,
    sigma_coarse: float = 2.0,
    eps: float = 1e-6,
) -> float:
    """How much of the original's mid/high-frequency detail the pasted content keeps, inside the mouth.

    Both crops' BT.601 luma is band-pass filtered with a difference of Gaussians,
    ``G(sigma_fine) - G(sigma_coarse)`` (reflected borders, whole crop, so pixels at the mask's edge
    see their real neighbours), and the alpha-weighted RMS of the pasted band is divided by the
    original's. The band (~1.5-6 px structures at the defaults) is where lips, teeth and their
    edges live; it leaves out the single-pixel scale, where a good restoration *removes* energy
    (noise, JPEG ringing) and a ratio there would punish denoising. A blurred "enhancement" loses
    this band; a restoration that sharpens edges keeps or raises it. Measured on mouths from the
    fixture clips (see ``GateConfig.min_detail_ratio``): identity 1.0, JPEG 90 >= 0.995, Gaussian
    blur sigma 1 / 1.5 / 2 <= 0.92 / 0.85 / 0.79, degraded input -> clean output >= 1.03.

    Args:
        original: uint8 RGB (H, W, 3) or grey (H, W) crop of the input under the paste.
        pasted: same-shape content that would be blended in (after colour matching).
        alpha: float (H, W) paste weights in 0..1 (values are clipped); the lip polygon plus feather.
        sigma_fine, sigma_coarse: the DoG's Gaussian sigmas in pixels, ``0 < fine < coarse``.
        eps: added to both energies so that flat/flat gives 1.0 rather than 0/0.

    Returns:
        float >= 0; 1.0 means the same detail, < 1 softer (0.5: half the band's amplitude left),
        > 1 more detail. 1.0 when alpha is all 0 (nothing is pasted, nothing can be lost).
    """
    _same_shape(original, pasted)
    if not 0 < sigma_fine < sigma_coarse:
        raise ValueError(f"need 0 < sigma_fine < sigma_coarse, got {sigma_fine}, {sigma_coarse}")
    weight = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)
    if weight.shape != np.shape(original)[:2]:
        raise ValueError(f"alpha shape {weight.shape} does not match crop {np.shape(original)}")
    if float(weight.sum()) <= 1e-6:
        return 1.0

    total = float(weight.sum(dtype=np.float64))

    def band_energy(img: np.ndarray) -> float:
        y = _luma32(img)
        fine = cv2.GaussianBlur(y, (0, 0), sigmaX=sigma_fine, borderType=cv2.BORDER_REFLECT)
        band = fine - cv2.GaussianBlur(y, (0, 0), sigmaX=sigma_coarse, borderType=cv2.BORDER_REFLECT)
        return float(np.vdot(weight, band * band)) / total

    return float(np.sqrt((band_energy(pasted) + eps) / (band_energy(original) + eps)))


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
