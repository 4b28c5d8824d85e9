"""Nearest exemplars of a mouth by lip shape (and head pose), with hysteresis over a sequence.

Distance = RMS of lip points in corner-normalised units (mouth width 1) + ``pose_weight`` × RMS of
the pose points. ``retrieve_sequence`` keeps the previous frame's exemplar unless a new one is
better by ``margin`` (relative) so neighbouring frames do not flicker between exemplars. An
``Exclude`` window keeps training honest: no exemplar within ``window_s`` of the target itself.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from raymouth.data import codec
from raymouth.exemplar.index import LIPS, POSE_POINTS, Shape


@dataclass(frozen=True)
class Exclude:
    """Entries of ``clip`` within ``window_s`` seconds of ``time_s`` are never returned."""

    clip: str
    time_s: float
    window_s: float = 1.0


@dataclass
class MouthIndex:
    """An index table as arrays for fast distance queries."""

    table: pa.Table
    descriptor: np.ndarray  # (N, 40, 2)
    pose: np.ndarray  # (N, 4, 2)
    lips_canon: np.ndarray  # (N, 40, 2)
    clip: np.ndarray  # (N,) str
    time_s: np.ndarray  # (N,)
    frame: np.ndarray  # (N,)

    @classmethod
    def from_table(cls, table: pa.Table) -> "MouthIndex":
        """Arrays out of a ``index.to_table``/``read_index`` table."""
        col = lambda name, k: np.asarray(table.column(name).to_pylist(), np.float32).reshape(len(table), k, 2)  # noqa: E731
        return cls(table, col("descriptor", len(LIPS)), col("pose", len(POSE_POINTS)), col("lips_canon", len(LIPS)),
                   np.asarray(table.column("clip").to_pylist(), object), np.asarray(table.column("time_s").to_pylist()),
                   np.asarray(table.column("frame").to_pylist()))

    def __len__(self) -> int:
        return len(self.table)

    def crop(self, i: int) -> np.ndarray:
        """Canonical RGB crop of entry ``i``."""
        return codec.decode(self.table.column("crop_png")[int(i)].as_py())[0]

    def subset(self, keep: np.ndarray) -> "MouthIndex":
        """The entries where ``keep`` (bool or indices) holds."""
        idx = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep)
        return MouthIndex.from_table(self.table.take(pa.array(idx)))


def distances(index: MouthIndex, shape: Shape, pose_weight: float = 0.3) -> np.ndarray:
    """Shape + pose distance from ``shape`` to every entry: why: one number to rank exemplars."""
    d_lip = np.sqrt(((index.descriptor - shape.descriptor) ** 2).sum(-1).mean(-1))
    d_pose = np.sqrt(((index.pose - shape.pose) ** 2).sum(-1).mean(-1))
    return d_lip + pose_weight * d_pose


def allowed(index: MouthIndex, exclude: Exclude | None) -> np.ndarray:
    """Bool mask of entries outside the exclusion window."""
    if exclude is None:
        return np.ones(len(index), bool)
    near = (index.clip == exclude.clip) & (np.abs(index.time_s - exclude.time_s) < exclude.window_s)
    return ~near


def nearest(index: MouthIndex, shape: Shape, k: int = 1, exclude: Exclude | None = None, pose_weight: float = 0.3) -> list[int]:
    """The ``k`` closest allowed entries, best first (empty when none is allowed)."""
    d = np.where(allowed(index, exclude), distances(index, shape, pose_weight), np.inf)
    order = np.argsort(d, kind="stable")[:k]
    return [int(i) for i in order if np.isfinite(d[i])]


def retrieve_sequence(index: MouthIndex, shapes: Sequence[Shape | None], k: int = 1, margin: float = 0.2,
                      excludes: Sequence[Exclude | None] | None = None, pose_weight: float = 0.3) -> list[list[int]]:
    """Per frame, ``k`` exemplars; the previous frame's first choice is kept unless the best new one
    is closer by more than ``margin`` × its distance: why: switching exemplars every frame flickers."""
    out: list[list[int]] = []
    prev: int | None = None
    for j, shape in enumerate(shapes):
        if shape is None:
            out.append([])
            prev = None
            continue
        ok = allowed(index, excludes[j] if excludes else None)
        d = np.where(ok, distances(index, shape, pose_weight), np.inf)
        order = [int(i) for i in np.argsort(d, kind="stable")[:k] if np.isfinite(d[i])]
        if prev is not None and order and ok[prev] and d[prev] * (1.0 - margin) <= d[order[0]]:
            order = [prev] + [i for i in order if i != prev][: k - 1]
        out.append(order)
        prev = order[0] if order else None
    return out
