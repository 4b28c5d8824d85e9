"""Mouth index of a reference clip: per indexed frame, lip shape, pose, opening, teeth and a canonical crop.

Canonical mouth space: the similarity that puts the mouth corners (MediaPipe 61 and 291) at
``LEFT`` and ``RIGHT`` of a ``CANON_W`` x ``CANON_H`` image. Every row carries its crop in that
space as PNG bytes, so retrieval and alignment later need no video decode. Optional ``native``
columns (the mouth box at the frame's own pixels plus its lip points) serve self-supervised
training, where the target must stay at native resolution.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from raymouth.data import codec
from raymouth.mouth import roi

CANON_W, CANON_H = 160, 128
LEFT, RIGHT = (32.0, 60.0), (128.0, 60.0)  # mouth corners in canonical pixels: mouth 96 px wide
CORNERS = (61, 291)
POSE_POINTS = (1, 152, 33, 263)  # nose tip, chin, outer eye corners: head pose seen from the mouth
INNER_GAP = (13, 14)  # inner upper / lower lip centre
LIPS = roi.LIP_INDICES  # 40 MediaPipe lip points, sorted
CONTEXT_PX = 8  # native crops: the mouth box grown by this many pixels of context
MARGIN = 0.3  # roi.mouth_box margin (LocateConfig.margin)
INDEX_FORMAT = "raymouth-mouth-index/1"


@dataclass(frozen=True)
class Shape:
    """One face's mouth seen through the corner similarity."""

    to_canon: np.ndarray  # (2, 3) frame -> canonical pixels
    descriptor: np.ndarray  # (40, 2) lip points, corners at (0, 0) and (1, 0)
    pose: np.ndarray  # (4, 2) POSE_POINTS in the same units
    opening: float  # inner-lip gap / mouth width
    mouth_px: float  # corner-to-corner distance in frame pixels


def corner_similarity(left: np.ndarray, right: np.ndarray, dst_left=LEFT, dst_right=RIGHT) -> np.ndarray:
    """(2, 3) similarity mapping the two corners onto ``dst_left`` / ``dst_right``: why: one pose-free frame for all mouths."""
    src = complex(*(np.asarray(right, np.float64) - np.asarray(left, np.float64)))
    dst = complex(dst_right[0] - dst_left[0], dst_right[1] - dst_left[1])
    if abs(src) < 1e-6:
        raise ValueError("mouth corners coincide")
    a = dst / src
    t = complex(*dst_left) - a * complex(*np.asarray(left, np.float64))
    return np.array([[a.real, -a.imag, t.real], [a.imag, a.real, t.imag]], np.float64)


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Points (k, 2) through a (2, 3) affine matrix."""
    pts = np.asarray(pts, np.float64).reshape(-1, 2)
    return pts @ m[:, :2].T + m[:, 2]


def lip_shape(points: np.ndarray) -> Shape:
    """Shape descriptor of a 478-point face: why: compare mouths independent of position, scale and roll."""
    pts = np.asarray(points, np.float64)
    m = corner_similarity(pts[CORNERS[0]], pts[CORNERS[1]])
    width = RIGHT[0] - LEFT[0]
    unit = lambda p: (apply(m, p) - np.array(LEFT)) / width  # noqa: E731
    desc = unit(pts[LIPS])
    pose = unit(pts[list(POSE_POINTS)])
    gap = float(np.linalg.norm(pts[INNER_GAP[1]] - pts[INNER_GAP[0]]))
    mouth_px = float(np.linalg.norm(pts[CORNERS[1]] - pts[CORNERS[0]]))
    return Shape(m, desc.astype(np.float32), pose.astype(np.float32), gap / max(mouth_px, 1e-6), mouth_px)


def canonical_crop(rgb: np.ndarray, to_canon: np.ndarray) -> np.ndarray:
    """The frame warped into canonical mouth space (CANON_H, CANON_W, 3)."""
    return cv2.warpAffine(rgb, to_canon, (CANON_W, CANON_H), flags=cv2.INTER_AREA if to_canon[0, 0] < 1 else cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT)


def teeth_fraction(canon: np.ndarray, inner_canon: np.ndarray) -> float:
    """Share of bright, low-saturation pixels inside the inner-lip polygon: why: teeth look like that."""
    mask = np.zeros(canon.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(inner_canon).astype(np.int32)], 1)
    if mask.sum() < 8:
        return 0.0
    hsv = cv2.cvtColor(canon, cv2.COLOR_RGB2HSV)
    inside = hsv[mask > 0]
    v_ref = max(float(np.percentile(hsv[..., 2], 90)), 1.0)
    bright = (inside[:, 1] < 90) & (inside[:, 2] > 0.6 * v_ref)
    return float(bright.mean())


def native_box(points: np.ndarray, frame_shape) -> roi.Box | None:
    """Mouth box (margin 0.3) plus CONTEXT_PX, even-sized and clipped: the model's native crop."""
    box, _ = roi.mouth_box(points, frame_shape, MARGIN, 8)
    if box is None:
        return None
    x0, y0, x1, y1 = roi.grow_within(box, CONTEXT_PX, (0, 0, int(frame_shape[1]), int(frame_shape[0])))
    x1 -= (x1 - x0) % 2
    y1 -= (y1 - y0) % 2
    return (x0, y0, x1, y1)


def row_for(rgb: np.ndarray, points: np.ndarray, clip: str, frame: int, time_s: float, native: bool = False) -> dict | None:
    """One index row for a frame and its 478 points (None when the mouth is degenerate)."""
    try:
        shape = lip_shape(points)
    except ValueError:
        return None
    canon = canonical_crop(rgb, shape.to_canon)
    _, inner = roi.lip_polygons(points)
    pts = np.asarray(points, np.float64)
    row = {
        "clip": clip, "frame": int(frame), "time_s": float(time_s),
        "descriptor": shape.descriptor.ravel().tolist(), "pose": shape.pose.ravel().tolist(),
        "lips_canon": apply(shape.to_canon, pts[LIPS]).astype(np.float32).ravel().tolist(),
        "to_canon": shape.to_canon.ravel().tolist(), "opening": shape.opening, "mouth_px": shape.mouth_px,
        "face_px": float(np.ptp(pts[:, 0])), "teeth_frac": teeth_fraction(canon, apply(shape.to_canon, inner)),
        "crop_png": codec.encode(canon),
    }
    row["teeth"] = bool(row["teeth_frac"] > 0.15 and shape.opening > 0.04)
    if native:
        box = native_box(points, rgb.shape)
        if box is None:
            return None
        row["box"] = list(box)
        row["native_png"] = codec.encode(roi.crop(rgb, box))
        row["lips_px"] = pts[LIPS].astype(np.float32).ravel().tolist()
    return row


def build_index(frames: Iterable[tuple[int, float, np.ndarray]], landmarker, clip: str = "", every: int = 1,
                native: bool = False, limit: int = 0) -> pa.Table:
    """Index of every ``every``-th (index, time, RGB) frame with a face: why: retrieval needs no decode later."""
    rows = []
    for i, t, rgb in frames:
        if i % every:
            continue
        face = landmarker.detect(rgb, scored=False)
        if face is not None:
            row = row_for(rgb, face.points, clip, i, t, native)
            if row is not None:
                rows.append(row)
        if limit and len(rows) >= limit:
            break
    return to_table(rows, native)


def index_video(path: str | Path, landmarker=None, every: int = 2, native: bool = False, limit: int = 0) -> pa.Table:
    """``build_index`` over a video file (opens its own Landmarker when none is given)."""
    from raymouth.data.video import iter_frames

    if landmarker is None:
        from raymouth.config import LocateConfig
        from raymouth.mouth.landmarks import Landmarker

        with Landmarker(LocateConfig()) as lm:
            return build_index(iter_frames(path), lm, Path(path).stem, every, native, limit)
    return build_index(iter_frames(path), landmarker, Path(path).stem, every, native, limit)


def index_frames(rgbs: list[np.ndarray], landmarker, clip: str = "", fps: float = 25.0, every: int = 1) -> pa.Table:
    """``build_index`` over a list of RGB frames at ``fps``."""
    return build_index(((i, i / fps, f) for i, f in enumerate(rgbs)), landmarker, clip, every)


def _schema(native: bool) -> pa.Schema:
    fl = pa.list_(pa.float32())
    fields = [("clip", pa.string()), ("frame", pa.int32()), ("time_s", pa.float64()), ("descriptor", fl), ("pose", fl),
              ("lips_canon", fl), ("to_canon", pa.list_(pa.float64())), ("opening", pa.float32()), ("mouth_px", pa.float32()),
              ("face_px", pa.float32()), ("teeth_frac", pa.float32()), ("teeth", pa.bool_()), ("crop_png", pa.binary())]
    if native:
        fields += [("box", pa.list_(pa.int32())), ("native_png", pa.binary()), ("lips_px", fl)]
    meta = {"format": INDEX_FORMAT, "canon": f"{CANON_W}x{CANON_H}", "left": str(LEFT), "right": str(RIGHT)}
    return pa.schema(fields, metadata=meta)


def to_table(rows: list[dict], native: bool = False) -> pa.Table:
    """Rows -> pyarrow table with the index schema."""
    schema = _schema(native)
    return pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema)


def write_index(table: pa.Table, path: str | Path) -> Path:
    """Write the index as Parquet (atomic rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
    return path


def read_index(source: str | Path | bytes) -> pa.Table:
    """Read an index (a path, or a file's bytes), refusing files of another format."""
    table = pq.read_table(pa.BufferReader(source) if isinstance(source, bytes) else source)
    meta = table.schema.metadata or {}
    if meta.get(b"format") != INDEX_FORMAT.encode():
        raise ValueError(f"{'these bytes are' if isinstance(source, bytes) else f'{source} is'} not a {INDEX_FORMAT} file")
    return table


def concat(tables: list[pa.Table]) -> pa.Table:
    """Several clips' indexes as one (same schema)."""
    return pa.concat_tables(tables)


def iter_rows(table: pa.Table) -> Iterator[dict]:
    """Rows as dicts (small tables)."""
    yield from table.to_pylist()
