"""Mouth geometry: box, temporal smoothing, lip polygons, feathered mask, crop, colour match, paste.

Pure numpy/cv2 (no MediaPipe, no TensorFlow), so it is cheap to import anywhere. Boxes are
``(x0, y0, x1, y1)`` ints in frame pixels, x1/y1 exclusive. The paste only ever writes inside the
box and only where the mask is non-zero, so every other pixel of a frame stays byte-identical.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from raymouth.data.schema import STATUS_OK, STATUS_ROI_TOO_SMALL

Box = tuple[int, int, int, int]

# MediaPipe's FaceLandmarksConnections.FACE_LANDMARKS_LIPS, copied so this module needs no
# mediapipe import (which pulls in TensorFlow); tests/test_roi.py checks it still matches.
LIPS_CONNECTIONS: tuple[tuple[int, int], ...] = (
    (61, 146), (146, 91), (91, 181), (181, 84), (84, 17), (17, 314), (314, 405), (405, 321),
    (321, 375), (375, 291), (61, 185), (185, 40), (40, 39), (39, 37), (37, 0), (0, 267),
    (267, 269), (269, 270), (270, 409), (409, 291), (78, 95), (95, 88), (88, 178), (178, 87),
    (87, 14), (14, 317), (317, 402), (402, 318), (318, 324), (324, 308), (78, 191), (191, 80),
    (80, 81), (81, 82), (82, 13), (13, 312), (312, 311), (311, 310), (310, 415), (415, 308),
)  # fmt: skip


def lip_indices(connections: Sequence[tuple[int, int]] = LIPS_CONNECTIONS) -> np.ndarray:
    """Sorted landmark indices of the lips (40 for MediaPipe's 478-point mesh)."""
    return np.array(sorted({i for pair in connections for i in pair}), dtype=np.int64)


LIP_INDICES = lip_indices()  # computed once: every located frame and every pasted row indexes with it
LIP_INDICES.setflags(write=False)


def lip_cycles(connections: Sequence[tuple[int, int]] = LIPS_CONNECTIONS) -> list[list[int]]:
    """The closed contours the connections form (outer and inner lip line), as ordered indices."""
    neighbours: dict[int, list[int]] = {}
    for a, b in connections:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    seen: set[int] = set()
    cycles = []
    for start in sorted(neighbours):
        if start in seen:
            continue
        cycle, prev, node = [start], None, start
        seen.add(start)
        while True:
            nxt = next((n for n in neighbours[node] if n != prev and n not in seen), None)
            if nxt is None:
                break
            cycle.append(nxt)
            seen.add(nxt)
            prev, node = node, nxt
        cycles.append(cycle)
    return cycles


def lip_polygons(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(outer lip polygon, inner mouth polygon) as float32 (k, 2) from the 478 landmark points.

    The outer contour encloses the inner one, so it is the one with the larger area.
    """
    polys = [np.asarray(points, np.float32)[idx] for idx in lip_cycles()]
    polys.sort(key=lambda p: abs(cv2.contourArea(p)), reverse=True)
    return polys[0], polys[1]


def expand_box(points: np.ndarray, margin: float, frame_shape: Sequence[int]) -> Box | None:
    """Bounding box of ``points`` grown by ``margin`` × its longer side on every side, clipped.

    Using the longer side (the mouth's width) keeps the box from collapsing to a sliver when the
    lips close, so its height does not pump with speech. None when nothing is left after clipping.
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    grow = margin * float((hi - lo).max())
    raw = (
        int(np.floor(lo[0] - grow)),
        int(np.floor(lo[1] - grow)),
        int(np.floor(hi[0] + grow)) + 1,
        int(np.floor(hi[1] + grow)) + 1,
    )
    return clip_box(raw, frame_shape)


def clip_box(box: Sequence[int], frame_shape: Sequence[int]) -> Box | None:
    """The box clipped to an (H, W, ...) frame, or None when it lies outside it."""
    h, w = int(frame_shape[0]), int(frame_shape[1])
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(w, int(box[2])), min(h, int(box[3]))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def box_ok(box: Box | None, min_box_px: int) -> bool:
    """True when the box exists and both sides reach ``min_box_px``."""
    return box is not None and min(box[2] - box[0], box[3] - box[1]) >= min_box_px


def mouth_box(
    points: np.ndarray, frame_shape: Sequence[int], margin: float, min_box_px: int
) -> tuple[Box | None, str]:
    """Mouth box from the lip landmarks of 478 points: (box, 'ok') or (None, 'roi_too_small')."""
    box = expand_box(np.asarray(points)[LIP_INDICES], margin, frame_shape)
    return (box, STATUS_OK) if box_ok(box, min_box_px) else (None, STATUS_ROI_TOO_SMALL)


def lip_bounds(points: np.ndarray) -> Box:
    """Tight integer box around the lip landmarks (no margin, not clipped)."""
    lips = np.asarray(points)[LIP_INDICES]
    lo, hi = np.floor(lips.min(axis=0)), np.floor(lips.max(axis=0)) + 1
    return (int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))


def smooth_boxes(
    boxes: Sequence[Box | None],
    window: int,
    contain: Sequence[Box | None] | None = None,
    positions: Sequence[int] | None = None,
) -> list[Box | None]:
    """Centred moving average of box centre and size over ``window`` frames of one video.

    ``boxes`` are in frame order; None entries (frames without a face) are skipped and stay None.
    The raw box follows landmark noise and every syllable (the jaw moves the lip box's centre), so
    the crop the enhancer sees shakes. The box should follow the head, not the speech: with a
    window of about a second (LocateConfig.smooth_window = 25) the frame-to-frame jitter of the
    box centre on the talking-head fixtures drops to 0.3-0.5× the raw box's; 5 frames gave only
    0.6-0.9×. If ``contain`` is given, each result
    is grown to contain its box (the tight lip box), so fast motion never cuts off the lips.
    ``positions`` (frame indices, default 0..n-1) define the window, so gaps are respected.
    """
    half = max(0, int(window)) // 2
    pos = list(range(len(boxes))) if positions is None else [int(p) for p in positions]
    valid = [i for i, b in enumerate(boxes) if b is not None]
    arr = np.array([boxes[i] for i in valid], dtype=np.float64).reshape(-1, 4)
    centre = (arr[:, :2] + arr[:, 2:]) / 2
    size = arr[:, 2:] - arr[:, :2]
    out: list[Box | None] = [None] * len(boxes)
    valid_pos = np.array([pos[i] for i in valid], dtype=np.int64)
    for k, i in enumerate(valid):
        near = np.abs(valid_pos - pos[i]) <= half
        c, s = centre[near].mean(axis=0), size[near].mean(axis=0)
        x0, y0 = int(round(c[0] - s[0] / 2)), int(round(c[1] - s[1] / 2))
        box = (x0, y0, x0 + int(round(s[0])), y0 + int(round(s[1])))
        if contain is not None and contain[i] is not None:
            box = _union(box, contain[i])
        out[i] = box
    return out


def _union(a: Sequence[int], b: Sequence[int]) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def window(shape: Sequence[int], box: Box) -> tuple[Box, Box]:
    """The box grown by half its size plus one pixel on every side, clipped to the frame, and the
    box inside it: the measures of ``stages.Composite`` look at most half a box beyond the box
    (``metrics.sharpness_ratio``'s face), and the pixel more gives its Laplacian the frame's own
    neighbours, so scores on the window equal scores on the frame (evaluate crops the same)."""
    x0, y0, x1, y1 = box
    px, py = (x1 - x0 + 1) // 2 + 1, (y1 - y0 + 1) // 2 + 1
    wx0, wy0 = max(0, x0 - px), max(0, y0 - py)
    wx1, wy1 = min(shape[1], x1 + px), min(shape[0], y1 + py)
    return (wx0, wy0, wx1, wy1), (x0 - wx0, y0 - wy0, x1 - wx0, y1 - wy0)


@dataclass(frozen=True)
class Window:
    """Where a row's window (``window``) sits in its frame: boxes convert between frame and window pixels."""

    x0: int
    y0: int

    @classmethod
    def at(cls, window_box: Sequence[int]) -> "Window":
        return cls(int(window_box[0]), int(window_box[1]))

    def local(self, box: Sequence[int]) -> Box:
        """A frame box in window pixels."""
        return (int(box[0]) - self.x0, int(box[1]) - self.y0, int(box[2]) - self.x0, int(box[3]) - self.y0)

    def frame(self, box: Sequence[int]) -> Box:
        """A window box in frame pixels."""
        return (int(box[0]) + self.x0, int(box[1]) + self.y0, int(box[2]) + self.x0, int(box[3]) + self.y0)


def crop(frame: np.ndarray, box: Box) -> np.ndarray:
    """A copy of the box's pixels."""
    x0, y0, x1, y1 = box
    return frame[y0:y1, x0:x1].copy()


def feather_mask(box: Box, polygon: np.ndarray, feather_px: int) -> np.ndarray:
    """Alpha (box height, box width) float32 in 0..1 for pasting a mouth crop.

    1 inside the lip polygon (frame coordinates), falling with a smoothstep to 0 over
    ``feather_px`` outside it, and also faded to exactly 0 on the box's outermost pixels, so the
    paste has no hard edge and never touches anything outside the box.
    """
    x0, y0, x1, y1 = box
    h, w = y1 - y0, x1 - x0
    inside = np.zeros((h, w), np.uint8)
    local = (np.asarray(polygon, np.float64).reshape(-1, 2) - (x0, y0)) * 16
    cv2.fillPoly(inside, [np.round(local).astype(np.int32)], 255, lineType=cv2.LINE_8, shift=4)
    if feather_px <= 0:
        alpha = (inside > 0).astype(np.float32)
        alpha[[0, -1], :] = 0
        alpha[:, [0, -1]] = 0
        return alpha
    # Alpha is 0 beyond feather_px of the lips: the distances are needed only near them (the same
    # values: every lip pixel, and the shortest path to it, lies inside that rectangle).
    lx, ly, lw, lh = cv2.boundingRect(inside)
    alpha = np.zeros((h, w), np.float32)
    if lw == 0:
        return alpha
    reach = int(np.ceil(feather_px)) + 1
    sx0, sy0, sx1, sy1 = max(0, lx - reach), max(0, ly - reach), min(w, lx + lw + reach), min(h, ly + lh + reach)
    dist = cv2.distanceTransform(255 - inside[sy0:sy1, sx0:sx1], cv2.DIST_L2, 5)
    near_lips = _smoothstep(1.0 - dist / feather_px)
    ys, xs = np.arange(sy0, sy1), np.arange(sx0, sx1)
    to_edge = np.minimum.outer(np.minimum(ys, h - 1 - ys), np.minimum(xs, w - 1 - xs)).astype(np.float32)
    alpha[sy0:sy1, sx0:sx1] = near_lips * _smoothstep(to_edge / feather_px)
    return alpha


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def frame_mask(frame_shape: Sequence[int], box: Box, alpha: np.ndarray) -> np.ndarray:
    """The box-sized alpha placed in a frame-sized float32 array of zeros."""
    full = np.zeros(tuple(frame_shape[:2]), np.float32)
    x0, y0, x1, y1 = box
    full[y0:y1, x0:x1] = alpha
    return full


def colour_match(
    enhanced_crop: np.ndarray, frame: np.ndarray, box: Box, mask: np.ndarray, ring_px: int, original_lab: np.ndarray | None = None
) -> np.ndarray:
    """The enhanced crop with each LAB channel's mean and std set to the ORIGINAL crop's.

    Statistics are taken over the same pixels in both crops: the mouth (mask > 0) plus a ring of
    ``ring_px`` of skin around it. Matching to the original mouth (not to the skin ring alone)
    keeps lip colour lips-coloured, and means restoration cannot shift colour: an enhancer that
    changed no colour is left as it was, a colour cast it introduced is removed. The std gain is
    clamped to [0.5, 2] so a flat region cannot blow up. ``original_lab`` is the box's ``to_lab``
    when the caller has it (the gate's colour scores need it too).
    """
    original = frame[box[1] : box[3], box[0] : box[2]]
    if enhanced_crop.shape != original.shape:
        raise ValueError(f"enhanced crop {enhanced_crop.shape} does not match box size {original.shape}")
    region = _region(mask, ring_px)
    if region.sum() < 4:
        return enhanced_crop.copy()
    enh, ref = to_lab(enhanced_crop), to_lab(original) if original_lab is None else original_lab
    where = region.astype(np.uint8)
    (mean_e, sd_e), (mean_r, sd_r) = (cv2.meanStdDev(lab, mask=where) for lab in (enh, ref))  # per channel, float64
    mean_e, sd_e, mean_r, sd_r = (v.ravel() for v in (mean_e, sd_e, mean_r, sd_r))
    gain = np.where(sd_e > 1e-6, np.clip(sd_r / np.maximum(sd_e, 1e-6), 0.5, 2.0), 1.0)
    return _from_lab(enh * gain.astype(np.float32) + (mean_r - mean_e * gain).astype(np.float32))


def _region(mask: np.ndarray, ring_px: int) -> np.ndarray:
    support = (mask > 0).astype(np.uint8)
    if ring_px > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ring_px + 1, 2 * ring_px + 1))
        support = cv2.dilate(support, kernel)
    return support.astype(bool)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 -> CIE L*a*b* float32 (float input in [0, 1]: OpenCV's true L*a*b*); the one
    conversion, ``metrics`` measures colour with it too."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def _from_lab(lab: np.ndarray) -> np.ndarray:
    lab = lab.astype(np.float32)
    lab[..., 0] = np.clip(lab[..., 0], 0, 100)
    rgb = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def support_box(alpha: np.ndarray, box: Box) -> Box:
    """The smallest rectangle, in frame pixels, holding every non-zero alpha of a paste at
    ``box``: all that ``paste`` can change (the box itself when alpha is all zero)."""
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    if not rows.size:
        return box
    x0, y0 = box[0], box[1]
    return (x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1)


def grow(box: Box, dx: int, dy: int, bounds: Box) -> Box:
    """``box`` grown by ``dx`` / ``dy`` pixels on each side (negative shrinks), clipped to ``bounds``."""
    return (max(bounds[0], box[0] - dx), max(bounds[1], box[1] - dy), min(bounds[2], box[2] + dx), min(bounds[3], box[3] + dy))


def grow_within(box: Box, px: int, bounds: Box) -> Box:
    """``box`` grown by ``px`` on every side, clipped to the ``bounds`` box."""
    return grow(box, px, px, bounds)


def paste(frame: np.ndarray, enhanced_crop: np.ndarray, box: Box, alpha: np.ndarray) -> np.ndarray:
    """A new frame with the crop blended in through ``alpha`` (box-sized, 0..1).

    Pixels where alpha == 0 are copied from the input untouched (byte-identical); pasting the
    unchanged crop back gives the input exactly.
    """
    x0, y0, x1, y1 = box
    region = frame[y0:y1, x0:x1]
    if enhanced_crop.shape != region.shape or alpha.shape != region.shape[:2]:
        raise ValueError(f"crop {enhanced_crop.shape} / alpha {alpha.shape} do not match box {box}")
    a = np.clip(alpha, 0.0, 1.0)[..., None].astype(np.float32)
    base = region.astype(np.float32)
    # where alpha is 0 this is base + 0 exactly: those pixels come back as they were
    blended = np.clip(np.rint(base + a * (enhanced_crop.astype(np.float32) - base)), 0, 255).astype(np.uint8)
    out = frame.copy()
    out[y0:y1, x0:x1] = blended
    return out
