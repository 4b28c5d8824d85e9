"""The locate stage: decode → landmarks → mouth box (smoothed per video) → polygon + crop.

A callable class for Ray Data ``map_batches(Locate, fn_constructor_args=(cfg,), batch_format="numpy",
compute=ActorPoolStrategy(...))``: one MediaPipe landmarker per actor, created in ``__init__``.
It never raises for a bad frame; each row gets a status instead, and rows that are not ``ok``
carry empty geometry so the model stages skip them.

Columns added (all other columns are passed through unchanged):
  status         object  schema.STATUS_* string
  mouth_box      int32 (n, 4)  x0, y0, x1, y1 (exclusive); zeros when not ok
  mouth_polygon  object  float32 flattened (x0, y0, x1, y1, ...) outer lip polygon, frame pixels;
                         empty when not ok
  confidence     float32 face detector score of the chosen face; 0 when none
  window         object  uint8 (h, w, 3) pixels of ``roi.window`` around the box, all that the
                         model and compositing read of the frame (the crop is ``mouth_crop``: the
                         box inside the window, never a second copy); empty when not ok
  window_box     int32 (n, 4)  the window in frame pixels; zeros when not ok
  frame_hw       int32 (n, 2)  the decoded frame's height and width; zeros when undecodable
  landmarks      object  float32 flattened (x0, y0, ...) face landmarks (MediaPipe's 478), frame
                         pixels: the lip shape that retrieves the person's own mouth; empty when not ok
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from raymouth.config import Config
from raymouth.data import codec
from raymouth.data.schema import (
    STATUS_DECODE_ERROR,
    STATUS_LOW_CONFIDENCE,
    STATUS_NO_FACE,
    STATUS_OK,
    STATUS_ROI_TOO_SMALL,
)
from raymouth.mouth import roi

log = logging.getLogger(__name__)


@dataclass
class _Row:
    """What the first pass learned about one frame."""

    status: str
    confidence: float = 0.0
    shape: tuple[int, ...] = ()
    points: np.ndarray | None = None
    box: roi.Box | None = None
    region: np.ndarray | None = None  # frame pixels around the raw box, to crop without re-decoding
    origin: tuple[int, int] = (0, 0)


class Locate:
    """Ray Data callable: adds status, mouth_box, mouth_polygon, confidence, the window and landmarks to a batch."""

    def __init__(self, cfg: Config) -> None:
        from raymouth.mouth.landmarks import Landmarker  # imports mediapipe (and TensorFlow) here only

        self.cfg = cfg
        self.landmarker = Landmarker(cfg.locate)

    def close(self) -> None:
        self.landmarker.close()

    def __enter__(self) -> "Locate":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        images = batch["image"]
        rows = [self._first_pass(data) for data in images]
        self._smooth(rows, batch)
        out = dict(batch)
        out.update(self._columns(rows, images))
        return out

    def stream(self, batch: dict[str, np.ndarray], step: int) -> Iterator[dict[str, np.ndarray]]:
        """The located batch in row-order slices of up to ``step`` rows, each slice yielded as
        soon as every frame its boxes are smoothed over has been seen.

        Row for row equal to ``self(batch)``: smoothing is local (half a window of frames either
        side), so a row whose neighbourhood has been seen cannot change. Lets the model stages
        start after a few frames instead of after a whole unit.
        """
        images = batch["image"]
        n, step = len(images), max(1, step)
        rows: list[_Row] = []
        done = 0
        while done < n:
            rows.extend(self._first_pass(data) for data in images[len(rows) : len(rows) + step])
            ready = self._settled(batch, len(rows))
            if ready - done < step and ready < n:
                continue
            upto = ready if ready == n else done + (ready - done) // step * step  # whole slices
            smoothed = [copy.copy(r) for r in rows]  # raw boxes stay raw for the next round
            self._smooth(smoothed, batch)
            for start in range(done, upto, step):
                end = min(start + step, upto)
                out = {k: v[start:end] for k, v in batch.items()}
                out.update(self._columns(smoothed[start:end], images[start:end]))
                yield out
            for row in rows[done:upto]:
                row.region = None  # cut already: only the boxes are needed for smoothing later rows
            done = upto

    def _settled(self, batch: dict[str, np.ndarray], seen: int) -> int:
        """How many leading rows no unseen row (index >= seen) can still change by smoothing."""
        vids, idx = batch.get("video_id"), batch.get("frame_index")
        if vids is None or idx is None:
            return seen  # no video or frame index: every row is smoothed alone
        half = max(0, int(self.cfg.locate.smooth_window)) // 2
        lo: dict[Any, int] = {}
        hi: dict[Any, int] = {}
        for v, p in zip(vids[seen:], idx[seen:]):
            lo[v], hi[v] = min(lo.get(v, int(p)), int(p)), max(hi.get(v, int(p)), int(p))
        for i in range(seen):
            v, p = vids[i], int(idx[i])
            if v in lo and lo[v] - half <= p <= hi[v] + half:
                return i
        return seen

    def _first_pass(self, data: Any) -> _Row:
        """Decode, find the face, make the raw mouth box; a status instead of any exception."""
        lc = self.cfg.locate
        try:
            rgb, status = codec.decode(bytes(data) if data is not None else None)
        except Exception:  # noqa: BLE001 - a frame must never stop the batch
            rgb, status = None, STATUS_DECODE_ERROR
        if rgb is None:
            return _Row(status=STATUS_DECODE_ERROR)
        try:
            face = self.landmarker.detect(rgb)
        except Exception as exc:  # noqa: BLE001 - e.g. a 1-pixel frame the landmarker rejects
            log.warning("landmarker failed on a %s frame: %s", rgb.shape, exc)
            face = None
        if face is None:
            return _Row(status=STATUS_NO_FACE, shape=rgb.shape)
        if face.confidence < lc.min_detection_confidence:
            return _Row(status=STATUS_LOW_CONFIDENCE, confidence=face.confidence, shape=rgb.shape)
        box, status = roi.mouth_box(face.points, rgb.shape, lc.margin, lc.min_box_px)
        row = _Row(status=status, confidence=face.confidence, shape=rgb.shape, points=face.points, box=box)
        if box is not None:
            row.region, row.origin = _region_around(rgb, box)
        return row

    def _smooth(self, rows: list[_Row], batch: dict[str, np.ndarray]) -> None:
        """Smooth the boxes of each video's ok rows over frame_index, never across a change of frame
        size (a stream that changes resolution: boxes of two sizes do not average); re-check their size."""
        lc = self.cfg.locate
        vids = batch.get("video_id")
        idx = batch.get("frame_index")
        groups: dict[Any, list[int]] = {}
        for i, row in enumerate(rows):
            if row.status == STATUS_OK:
                key = vids[i] if vids is not None else ("__row__", i)
                groups.setdefault(key, []).append(i)
        for members in (run for video in groups.values() for run in _same_size_runs(video, rows, idx)):
            pos = [int(idx[i]) if idx is not None else i for i in members]
            smoothed = roi.smooth_boxes(
                [rows[i].box for i in members],
                lc.smooth_window,
                contain=[roi.lip_bounds(rows[i].points) for i in members],
                positions=pos,
            )
            for i, box in zip(members, smoothed):
                box = roi.clip_box(box, rows[i].shape) if box is not None else None
                if roi.box_ok(box, lc.min_box_px):
                    rows[i].box = box
                else:
                    rows[i].status, rows[i].box = STATUS_ROI_TOO_SMALL, None

    def _columns(self, rows: list[_Row], images: np.ndarray) -> dict[str, np.ndarray]:
        n = len(rows)
        status = np.array([r.status for r in rows], dtype=object)
        boxes, windows_at = np.zeros((n, 4), np.int32), np.zeros((n, 4), np.int32)
        polygons, windows, points = (np.empty(n, dtype=object) for _ in range(3))
        for i, row in enumerate(rows):
            polygons[i], windows[i] = np.zeros(0, np.float32), np.zeros((0, 0, 3), np.uint8)
            points[i] = np.zeros(0, np.float32)
            if row.status != STATUS_OK:
                continue
            boxes[i] = row.box
            polygons[i] = roi.lip_polygons(row.points)[0].reshape(-1).astype(np.float32)
            points[i] = np.asarray(row.points, np.float32).reshape(-1)
            windows_at[i], _ = roi.window(row.shape, row.box)
            windows[i] = self._cut(row, images[i], tuple(windows_at[i]))
        return {
            "status": status,
            "mouth_box": boxes,
            "mouth_polygon": polygons,
            "confidence": np.array([r.confidence for r in rows], np.float32),
            "window": windows,
            "window_box": windows_at,
            "frame_hw": np.array([r.shape[:2] if r.shape else (0, 0) for r in rows], np.int32).reshape(n, 2),
            "landmarks": points,
        }

    def _cut(self, row: _Row, data: Any, box: roi.Box) -> np.ndarray:
        """A box's pixels, from the kept region when it covers the box, else re-decoded."""
        x0, y0, x1, y1 = box
        ox, oy = row.origin
        rh, rw = row.region.shape[:2]
        if x0 >= ox and y0 >= oy and x1 <= ox + rw and y1 <= oy + rh:
            return roi.crop(row.region, (x0 - ox, y0 - oy, x1 - ox, y1 - oy))
        rgb, _ = codec.decode(bytes(data))
        return roi.crop(rgb, box)


def _same_size_runs(members: list[int], rows: list[_Row], idx: np.ndarray | None) -> list[list[int]]:
    """``members`` (rows of one video) in frame order, cut wherever the frame size changes."""
    ordered = sorted(members, key=lambda i: (int(idx[i]) if idx is not None else i, i))
    runs: list[list[int]] = []
    for i in ordered:
        if runs and rows[runs[-1][-1]].shape[:2] == rows[i].shape[:2]:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def mouth_crop(batch: dict[str, np.ndarray], i: int) -> np.ndarray:
    """Row ``i``'s mouth pixels: its box cut from the window it ships; a batch without windows
    (the evaluation's) holds the window as its ``image``, with boxes in that image's pixels."""
    box = tuple(int(v) for v in batch["mouth_box"][i])
    if "window" in batch:
        return roi.crop(np.asarray(batch["window"][i]), roi.Window.at(batch["window_box"][i]).local(box))
    return roi.crop(codec.decode(batch["image"][i])[0], box)


def _region_around(rgb: np.ndarray, box: roi.Box) -> tuple[np.ndarray, tuple[int, int]]:
    """A copy of the frame around the raw box (one box size on every side: the smoothed box's
    window mostly lies inside it), so 8K frames are not kept."""
    w, h = box[2] - box[0], box[3] - box[1]
    grown = roi.clip_box((box[0] - w, box[1] - h, box[2] + w, box[3] + h), rgb.shape)
    return roi.crop(rgb, grown), (grown[0], grown[1])
