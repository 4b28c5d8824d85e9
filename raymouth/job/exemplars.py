"""The person's own mouths for the reference-guided restorer (``reference.mode=guided``).

- One mouth index per reference video (``exemplar.index``: lip shape, pose, opening, teeth and a
  canonical crop per indexed frame), built once per run as a Ray task and stored with the run
  (``OUT/<run_id>/references/<reference_id>/index.parquet``); a resumed run reads it back.
- Each unit's exemplars are chosen in frame order over the whole unit, in the actor that reads and
  locates it (``Retriever``, called by ``stages.ReadUnits``), with hysteresis: a frame keeps the
  previous frame's exemplar unless a new one is closer by ``reference.exemplar_margin``. Units are
  fixed, so the choice never depends on how batches fell on actors.
"""
from __future__ import annotations

import dataclasses
import io
import time
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from raymouth.config import Config
from raymouth.data import codec, storage
from raymouth.data.schema import STATUS_OK
from raymouth.data.units import spaced
from raymouth.exemplar.index import INDEX_FORMAT, LIPS, Shape, lip_shape, read_index, row_for, to_table
from raymouth.exemplar.retrieve import MouthIndex, distances
from raymouth.job.reference import ReferencePlan, frame_indices, wanted_rows
from raymouth.restore.guided import Exemplar

INDEX = "index.parquet"


def index_loc(run_loc: storage.Location, reference_id: str) -> storage.Location:
    return run_loc.join("references", reference_id, INDEX)


def build_index(ref_uri: str, files: list[str], reference_id: str, run_uri: str, cfg: Config) -> dict:
    """Index one reference video (the task body): every ``reference.index_every``-th frame, at most
    ``reference.index_max_frames`` evenly spaced, read one row group at a time."""
    from raymouth.mouth.landmarks import Landmarker

    started = time.monotonic()
    loc = storage.resolve(ref_uri, cfg.storage)
    wanted = set(_wanted_frames(loc, files, reference_id, cfg))
    rows = []
    with Landmarker(cfg.locate) as landmarker:
        for index, seconds, rgb in _frames(loc, files, reference_id, wanted):
            face = landmarker.detect(rgb, scored=False)  # the index uses the points, not the score
            row = row_for(rgb, face.points, reference_id, index, seconds) if face is not None else None
            if row is not None:
                rows.append(row)
    out = index_loc(storage.resolve(run_uri, cfg.storage), reference_id)
    buf = io.BytesIO()
    pq.write_table(to_table(rows), buf)
    storage.write_bytes(out, buf.getvalue())
    return {"reference_id": reference_id, "frames": len(wanted), "mouths": len(rows), "seconds": round(time.monotonic() - started, 1)}


def _wanted_frames(loc: storage.Location, files: list[str], reference_id: str, cfg: Config) -> list[int]:
    every = sorted(frame_indices(loc, files, reference_id))[:: cfg.reference.index_every]
    return [every[p] for p in spaced(len(every), cfg.reference.index_max_frames)]


def _frames(loc: storage.Location, files: list[str], reference_id: str, wanted: set[int]):
    """(frame_index, seconds, RGB) of the wanted frames, streamed row group by row group."""
    for t in wanted_rows(loc, files, reference_id, wanted, ["frame_index", "image", "fps", "timestamp"]):
        for row in t.to_pylist():
            rgb, _ = codec.decode(row["image"])
            if rgb is not None:
                seconds = row.get("timestamp") if row.get("timestamp") is not None else row["frame_index"] / max(row["fps"] or 25.0, 1e-6)
                yield int(row["frame_index"]), float(seconds), rgb


def build_all(ref_plan: ReferencePlan, run_loc: storage.Location, cfg: Config, log: Callable[[str], None] = print) -> dict[str, str]:
    """``video_id -> index URI`` for every input video with a reference; missing indexes are
    built now as parallel Ray tasks, finished ones (a resumed run) reused."""
    import ray

    todo = [r for r in ref_plan.references if not storage.exists(index_loc(run_loc, r))]
    if len(todo) < len(ref_plan.references):
        log(f"raymouth enhance: {len(ref_plan.references) - len(todo)} mouth indexes already built, reused")
    if todo:
        log(f"raymouth enhance: indexing the mouths of {len(todo)} reference videos")
        task = ray.remote(build_index).options(num_cpus=cfg.reference.cpus)
        worker_cfg = dataclasses.replace(cfg, storage=storage.for_workers(cfg.storage))
        for result in ray.get([task.remote(ref_plan.loc.uri, ref_plan.files[r], r, run_loc.uri, worker_cfg) for r in todo]):
            log(f"raymouth enhance: reference {result['reference_id']}: {result['mouths']} mouths indexed of {result['frames']} frames")
    return {video: index_loc(run_loc, ref).uri for video, ref in ref_plan.assignments.items()}


def _read_index(uri: str, data: bytes) -> pa.Table:
    try:
        return read_index(data)
    except ValueError:
        raise storage.StorageError(f"{uri}: not a {INDEX_FORMAT} file") from None


class Indexes:
    """Mouth indexes by URI, loaded on first use and kept (an actor sees few references)."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.loaded: dict[str, MouthIndex] = {}

    def get(self, uri: str) -> MouthIndex:
        if uri not in self.loaded:
            data = storage.retrying(f"reading {uri}", lambda: storage.read_bytes(storage.resolve(uri, self.cfg.storage)), self.cfg.storage)
            self.loaded[uri] = MouthIndex.from_table(_read_index(uri, data))
        return self.loaded[uri]

    def exemplar(self, uri: str, entry: int) -> Exemplar:
        index = self.get(uri)
        return Exemplar(index.crop(entry), index.lips_canon[entry])


class Retriever:
    """Chooses each ok row's exemplar over one unit, in frame order (hysteresis carried across slices)."""

    def __init__(self, by_video: dict[str, str], cfg: Config) -> None:
        self.by_video = by_video
        self.margin = cfg.reference.exemplar_margin
        self.indexes = Indexes(cfg)
        self.previous: dict[str, int] = {}

    def new_unit(self) -> None:
        self.previous = {}

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Adds ``exemplars`` (index entries, int32; empty where none) and ``reference_frames``
        (the reference clip's frame indices of those entries: what each output row names)."""
        n = len(batch["status"])
        entries, frames = np.empty(n, dtype=object), np.empty(n, dtype=object)
        for i in range(n):
            entries[i], frames[i] = np.zeros(0, np.int32), []
            video = str(batch["video_id"][i])
            uri = self.by_video.get(video)
            points = np.asarray(batch["landmarks"][i], np.float32).reshape(-1, 2)
            if uri is None or batch["status"][i] != STATUS_OK or len(points) == 0:
                self.previous.pop(video, None)
                continue
            index = self.indexes.get(uri)
            best = choose(index, lip_shape(points), self.previous.get(video), self.margin)
            if best is None:
                continue
            self.previous[video] = best
            entries[i], frames[i] = np.array([best], np.int32), [int(index.frame[best])]
        batch["exemplars"], batch["reference_frames"] = entries, frames
        return batch


def choose(index: MouthIndex, shape: Shape, previous: int | None, margin: float) -> int | None:
    """The nearest entry, or ``previous`` while it is within ``margin`` of the nearest (no flicker)."""
    if len(index) == 0:
        return None
    d = distances(index, shape)
    best = int(np.argmin(d))
    if previous is not None and previous < len(index) and d[previous] * (1.0 - margin) <= d[best]:
        return previous
    return best


def crop_lips(landmarks: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The 40 lip points of a row's landmarks in its crop's pixels."""
    points = np.asarray(landmarks, np.float32).reshape(-1, 2)[LIPS]
    return points - np.float32(box[:2])
