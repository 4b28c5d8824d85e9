"""The do-no-harm gate's measures of one paste: the mouth before against after, on the box's window.

What the paste would change in sharpness (``paste_sharpness``), leave as an edge along its
feather (``paste_seam``) or shift in mean colour (``colour_shift``), what it would take away
(``detail_ratio``) and what it would draw that the input's low band does not show
(``low_band_change``: ghosting). They run on every pasted frame, so the heavy ones work in float32 on views,
with the same values as the whole-frame measures in ``metrics`` up to summation order.
Conventions as in ``metrics``.
"""
from __future__ import annotations

import cv2
import numpy as np

from raymouth.mouth.roi import Box
from raymouth.paste.metrics import clip_box_to, grow_clipped, lab, laplacian_of_luma, luma32, masked_variance, moment_sums, same_shape, sharpness, sharpness_ratio

# How far beyond a paste's alpha paste_seam and detail_ratio look at their defaults: 4 sigma of
# their widest Gaussian (OpenCV's kernel radius for float images), plus one pixel.
PASTE_REACH_PX = 13


def _ring_variance(lap: np.ndarray, outer: tuple[int, int, int, int], inner: tuple[int, int, int, int]) -> float:
    """Variance of ``lap`` over the ``outer`` box minus the ``inner`` box it holds, from sums
    (no mask, no copy of the ring)."""
    (no, so, qo), (ni, si, qi) = (moment_sums(lap[b[1] : b[3], b[0] : b[2]]) for b in (outer, inner))
    n = no - ni
    if n <= 0:
        return 0.0
    mean = (so - si) / n
    return max(0.0, (qo - qi) / n - mean * mean)


def face_sharpness(window: np.ndarray, mouth_box: Box) -> tuple[float, float]:
    """The two terms of ``sharpness_ratio`` before any paste, (mouth, rest of the face): the
    enhance stage needs the ratio for its detail level, and Composite takes them from there
    instead of filtering the whole window once more."""
    h, w = np.shape(window)[:2]
    mouth = clip_box_to(mouth_box, h, w)
    x0, y0, x1, y1 = mouth
    lap = laplacian_of_luma(luma32(window))
    face = grow_clipped(mouth, (x1 - x0 + 1) // 2, (y1 - y0 + 1) // 2, h, w)
    return masked_variance(lap[y0:y1, x0:x1], None), _ring_variance(lap, face, mouth)


def face_ratio(face: tuple[float, float], eps: float = 1e-6) -> float:
    """``sharpness_ratio`` from ``face_sharpness``'s terms."""
    return (face[0] + eps) / (face[1] + eps)


def paste_sharpness(
    before: np.ndarray, after: np.ndarray, mouth_box: Box, eps: float = 1e-6, face: tuple[float, float] | None = None
) -> dict[str, float]:
    """``sharpness`` of the mouth box's crop and ``sharpness_ratio`` of the frame, before and
    after a paste inside the box: the values of those four calls, with the work shared.

    When nothing outside the box differs (a paste never writes there), the Laplacian of the face
    around the mouth is the same before and after, so it is taken once (or not at all: ``face``,
    ``face_sharpness(before, mouth_box)`` done earlier), and after the paste only over the box and
    the ring of pixels it reads; otherwise each measure is taken in full. Keys: sharpness_in,
    sharpness_out, sharpness_ratio_in, sharpness_ratio_out.
    """
    same_shape(before, after)
    h, w = np.shape(before)[:2]
    mouth = clip_box_to(mouth_box, h, w)
    x0, y0, x1, y1 = mouth
    around = ((slice(0, y0),), (slice(y1, h),), (slice(y0, y1), slice(0, x0)), (slice(y0, y1), slice(x1, w)))
    if not all(_same(before[part], after[part]) for part in around):
        return {"sharpness_in": sharpness(before[y0:y1, x0:x1]), "sharpness_out": sharpness(after[y0:y1, x0:x1]),
                "sharpness_ratio_in": sharpness_ratio(before, mouth, eps=eps), "sharpness_ratio_out": sharpness_ratio(after, mouth, eps=eps)}
    mouth_sharpness, rest_sharpness = face if face is not None else face_sharpness(before, mouth)
    gx0, gy0, gx1, gy1 = grow_clipped(mouth, 1, 1, h, w)  # the box and the pixels its Laplacian reads
    luma_after = luma32(after[gy0:gy1, gx0:gx1])
    inner = (slice(y0 - gy0, y1 - gy0), slice(x0 - gx0, x1 - gx0))
    lap_after = laplacian_of_luma(luma_after)[inner]
    return {
        "sharpness_in": masked_variance(laplacian_of_luma(luma32(before[y0:y1, x0:x1])), None),
        "sharpness_out": masked_variance(laplacian_of_luma(luma_after[inner]), None),
        "sharpness_ratio_in": face_ratio((mouth_sharpness, rest_sharpness), eps),
        "sharpness_ratio_out": face_ratio((masked_variance(lap_after, None), rest_sharpness), eps),
    }


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two same-shape uint8 views are equal (OpenCV's norm: no boolean temporary)."""
    return a.size == 0 or cv2.norm(a, b, cv2.NORM_INF) == 0


def _paste_inputs(
    original: np.ndarray, pasted: np.ndarray, alpha: np.ndarray, original_lab: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Lab difference pasted − original (H, W, 3) float32 and alpha clipped to 0..1, shapes checked
    (``original_lab``: the original's ``lab``, when the caller has it already)."""
    same_shape(original, pasted)
    alpha = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)
    if alpha.shape != np.shape(original)[:2]:
        raise ValueError(f"alpha shape {alpha.shape} does not match crop {np.shape(original)}")
    return lab(pasted) - (lab(original) if original_lab is None else original_lab), alpha


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


def paste_colour(original: np.ndarray, pasted: np.ndarray, alpha: np.ndarray, original_lab: np.ndarray | None = None) -> tuple[float, float]:
    """``(paste_seam, colour_shift)`` of one paste, the L*a*b* conversions done once for both
    (the original's not at all when ``original_lab``, its ``lab``, is given: colour matching has it)."""
    diff, alpha = _paste_inputs(original, pasted, alpha, original_lab)
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
    same_shape(original, pasted)
    if not 0 < sigma_fine < sigma_coarse:
        raise ValueError(f"need 0 < sigma_fine < sigma_coarse, got {sigma_fine}, {sigma_coarse}")
    weight = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)
    if weight.shape != np.shape(original)[:2]:
        raise ValueError(f"alpha shape {weight.shape} does not match crop {np.shape(original)}")
    if float(weight.sum()) <= 1e-6:
        return 1.0

    total = float(weight.sum(dtype=np.float64))

    def band_energy(img: np.ndarray) -> float:
        y = luma32(img)
        fine = cv2.GaussianBlur(y, (0, 0), sigmaX=sigma_fine, borderType=cv2.BORDER_REFLECT)
        band = fine - cv2.GaussianBlur(y, (0, 0), sigmaX=sigma_coarse, borderType=cv2.BORDER_REFLECT)
        return float(np.vdot(weight, band * band)) / total

    return float(np.sqrt((band_energy(pasted) + eps) / (band_energy(original) + eps)))


def low_band_change(original: np.ndarray, pasted: np.ndarray, alpha: np.ndarray, sigma: float, share: float = 0.95) -> float:
    """How far the paste's coarse structure departs from the input's, in grey levels: the
    ``share`` quantile of |G_sigma(pasted) - G_sigma(original)| (luma) where alpha >= 0.5.

    A restoration adds fine detail and removes blocks and noise; the input's low band (the mouth's
    shape, where it is dark or bright) stays. Teeth or lips drawn where the input has none (an
    exemplar ghosted in, a hallucinated mouth) change it. 0.0 when nothing is pasted.
    """
    same_shape(original, pasted)
    weight = np.asarray(alpha, np.float32)
    step = max(1, int(sigma // 2))  # the low band needs no more than a pixel per half sigma: measured on a shrunk copy
    images = [luma32(img) for img in (original, pasted)]
    if step > 1:
        size = (max(1, weight.shape[1] // step), max(1, weight.shape[0] // step))
        images = [cv2.resize(img, size, interpolation=cv2.INTER_AREA) for img in images]
        weight, sigma = cv2.resize(weight, size, interpolation=cv2.INTER_AREA), sigma / step
    inside = weight >= 0.5
    if not inside.any():
        return 0.0
    low = [cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT) for img in images]
    return float(np.quantile(np.abs(low[1] - low[0])[inside], share))
