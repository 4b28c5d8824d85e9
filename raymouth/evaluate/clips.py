"""Where `raymouth evaluate` gets its frames: video files (streamed, never whole in memory) or
frames datasets, one clip at a time.

A clip is ``n`` frames of one video: evenly spaced over the whole video for the clean clips that
are degraded at fixed strengths, or the first ``n`` consecutive frames for real lip-sync output
(where flicker between neighbouring frames is measured).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow.parquet as pq

from raymouth.config import Config
from raymouth.data import codec, schema, storage, units
from raymouth.data.units import spaced
from raymouth.errors import UserError
from raymouth.train import degrade

KEY_COLUMNS = ("video_id", "frame_index")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")


class EvaluateError(UserError, RuntimeError):
    """Bad evaluation input (no frames, unknown variant); the message is one line."""


@dataclass
class Clip:
    """Frames of one video, clean (or, for real lip-sync output, as they are), RGB uint8."""

    video_id: str
    source: str
    frame_index: list[int] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)


def frame_seed(seed: int, video_id: str, frame_index: int) -> int:
    """The noise seed of one frame: deterministic per (seed, clip, frame)."""
    return degrade.seed_of(seed, video_id, frame_index)


def is_video_file(source: str) -> bool:
    return not source.startswith("s3://") and Path(source).is_file() and Path(source).suffix.lower() in VIDEO_SUFFIXES


def video_clip(path: str, n: int, even: bool = True) -> Clip:
    """``n`` frames of a video file, streamed with ``raymouth.data.video`` (decoding stops after the last one wanted)."""
    from raymouth.data import video
    from raymouth.data.sources import sanitize_id

    clip = Clip(sanitize_id(Path(path).stem), str(path))
    if even:
        wanted = set(spaced(video.probe(path).frame_count, n))
        last = max(wanted) if wanted else -1
        frames = video.iter_frames(path)
    else:
        wanted, last = None, n - 1 if n > 0 else None
        frames = video.iter_frames(path) if n <= 0 else islice(video.iter_frames(path), n)
    for index, _, rgb in frames:
        if wanted is None or index in wanted:
            clip.frame_index.append(int(index))
            clip.frames.append(rgb)
        if last is not None and index >= last:
            break
    if not clip.frames:
        raise EvaluateError(f"{path}: no frames could be decoded")
    return clip


def dataset_clips(uri: str, cfg: Config, n: int, even: bool = True) -> Iterator[Clip]:
    """One clip per video of a frames dataset (local or S3). A dataset from ``make-heldout``
    holds a ``reference`` column: that clean frame is the clip's frame."""
    loc = storage.check_readable(uri, cfg.storage)
    files = units.input_files(loc)
    by_video: dict[str, list[int]] = {}
    for path in files:
        with loc.fs.open_input_file(path) as f:
            keys = pq.read_table(f, columns=list(KEY_COLUMNS))
        for vid, idx in zip(keys.column("video_id").to_pylist(), keys.column("frame_index").to_pylist()):
            by_video.setdefault(str(vid), []).append(int(idx))
    wanted: set[tuple[str, int]] = set()
    for vid, idxs in by_video.items():
        idxs = sorted(idxs)
        chosen = [idxs[p] for p in spaced(len(idxs), n)] if even else (idxs[:n] if n > 0 else idxs)
        wanted.update((vid, i) for i in chosen)
    if not wanted:
        raise EvaluateError(f"{uri}: no frames to evaluate")
    clips: dict[str, dict[int, np.ndarray]] = {}
    for path in files:
        with loc.fs.open_input_file(path) as f:
            table = pq.read_table(f)
        column = "reference" if "reference" in table.column_names else "image"
        vids, idxs = table.column("video_id").to_pylist(), table.column("frame_index").to_pylist()
        for k, (vid, idx) in enumerate(zip(vids, idxs)):
            if (str(vid), int(idx)) in wanted:
                rgb, status = codec.decode(table.column(column)[k].as_py())
                if status == schema.STATUS_OK:
                    clips.setdefault(str(vid), {})[int(idx)] = rgb
    for vid in sorted(clips):
        frames = clips[vid]
        yield Clip(vid, f"{uri}#{vid}", sorted(frames), [frames[i] for i in sorted(frames)])


def check_sources(sources: list[str], cfg: Config) -> None:
    """Every source is a video file or a readable frames dataset; checked before any model loads."""
    for source in sources:
        if is_video_file(source):
            continue
        if not source.startswith("s3://") and not Path(source).exists():
            raise EvaluateError(f"{source}: no such video file or frames dataset")
        if not source.startswith("s3://") and Path(source).is_file():
            raise EvaluateError(f"{source}: not a video file ({', '.join(VIDEO_SUFFIXES)}) or a frames dataset folder")
        storage.check_readable(source, cfg.storage)


def iter_clips(sources: list[str], cfg: Config, n: int, even: bool = True) -> Iterator[Clip]:
    """Clips of every source in order: a video file is one clip, a frames dataset one per video."""
    for source in sources:
        if is_video_file(source):
            yield video_clip(source, n, even)
        elif not source.startswith("s3://") and Path(source).is_file():
            raise EvaluateError(f"{source}: not a video file ({', '.join(VIDEO_SUFFIXES)}) or a frames dataset folder")
        else:
            yield from dataset_clips(source, cfg, n, even)
