"""Frames datasets -> one MP4 per video (original fps, frame count and audio) and contact sheets.

``uri`` may be any of:

* an ingest dataset root (``frames/<video_id>/*.parquet`` + ``videos/``), or its ``frames`` folder;
* an enhance run folder ``<output>/<run_id>`` (``frames/*.parquet`` with ``enhanced``, ``status``,
  ``mouth_box``), or its ``frames`` folder; it has no videos table, so pass ``videos_uri`` (the
  ingest dataset root, or its ``videos`` folder) to get the original audio and exact fps back.
  A patch-mode run holds mouths, not frames: it is joined by key with its input frames (the
  dataset ``videos_uri`` names, else the input in the run's ``run.json``) and each frame is
  composed (``compose``);
* any folder of Parquet files with the frames table's columns.

Frames are streamed per video in ``frame_index`` order: with per-video folders only that
video's files are read; otherwise the row groups holding a video are located from their
``video_id``/``frame_index`` columns and read one at a time, so memory stays bounded by a few
row groups, never the dataset or a whole video. A patch run and its input are streamed side by
side the same way, merged on ``frame_index``.
"""
from __future__ import annotations

import itertools
import json
import os
import posixpath
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pyarrow.parquet as pq

from raymouth.config import Config
from raymouth.data import codec, compose, mp4, schema, storage, units, video
from raymouth.data.sheet import contact_sheet, label, sheet_positions
from raymouth.errors import UserError


class ExportError(UserError, RuntimeError):
    """The dataset cannot be exported; the message is one line."""


@dataclass
class _Chunk:
    """The rows of one video inside one row group of one file."""

    path: str
    row_group: int
    positions: np.ndarray  # row positions inside the row group
    frame_index: np.ndarray


@dataclass
class _VideoMeta:
    fps: float | None = None
    audio: bytes | None = None


@dataclass
class _Inputs:
    """A patch-mode run's input frames: where they are and each video's chunks (keys only)."""

    loc: storage.Location
    chunks: dict[str, list[_Chunk]]


# ---------------------------------------------------------------- locating the tables


def _frames_location(loc: storage.Location) -> tuple[storage.Location, storage.Location]:
    """(frames folder, dataset root) for a root or a frames folder."""
    frames = loc.join("frames")
    if storage.exists(frames):
        return frames, loc
    parent = posixpath.dirname(loc.path.rstrip("/"))
    if posixpath.basename(loc.path.rstrip("/")) == "frames" and parent:
        return loc, storage.Location(loc.fs, parent, posixpath.dirname(loc.uri.rstrip("/")))
    return loc, loc


def _videos_location(root: storage.Location, videos_uri: str | None, cfg: Config) -> storage.Location | None:
    """The videos table: from ``videos_uri`` (an ingest dataset root, its frames folder or its
    videos folder), else ``root/videos``; None when there is none."""
    if videos_uri:
        given = storage.check_readable(videos_uri, cfg.storage)
        for candidate in (given.join("videos"), _frames_location(given)[1].join("videos")):
            if storage.exists(candidate):
                return candidate
        return given
    candidate = root.join("videos")
    return candidate if storage.exists(candidate) else None


def _read_videos_meta(loc: storage.Location | None) -> dict[str, tuple]:
    """video_id -> (filesystem, file, fps) from the videos table, without reading the audio yet."""
    if loc is None:
        return {}
    meta: dict[str, tuple] = {}
    for path in storage.list_files(loc, ".parquet"):
        with loc.fs.open_input_file(path) as f:
            pf = pq.ParquetFile(f)
            if "audio" not in pf.schema_arrow.names:
                raise ExportError(f"{path}: not a videos table (no 'audio' column); pass the ingest dataset's root")
            table = pf.read(columns=["video_id", "fps"])
        for vid, fps in zip(table["video_id"].to_pylist(), table["fps"].to_pylist()):
            meta[vid] = (loc.fs, path, fps)
    return meta


def _load_video_meta(entry: tuple | None, vid: str) -> _VideoMeta:
    """The fps and audio of one video (reads that video's row only)."""
    if entry is None:
        return _VideoMeta()
    fs, path, fps = entry
    with fs.open_input_file(path) as f:
        table = pq.read_table(f, columns=["video_id", "audio"])
    audio = None
    for row_vid, blob in zip(table["video_id"].to_pylist(), table["audio"].to_pylist()):
        if row_vid == vid:
            audio = blob
    return _VideoMeta(fps=fps, audio=audio)


def _run_inputs(root: storage.Location, videos_uri: str | None, cfg: Config) -> _Inputs:
    """A patch-mode run's input frames: the dataset ``videos_uri`` names (its root, frames or
    videos folder), else the input its ``run.json`` records; indexed from the key columns only."""
    if videos_uri:
        loc = storage.check_readable(videos_uri, cfg.storage)
        if posixpath.basename(loc.path.rstrip("/")) in ("frames", "videos"):
            loc = storage.Location(loc.fs, posixpath.dirname(loc.path.rstrip("/")), posixpath.dirname(loc.uri.rstrip("/")))
    elif storage.exists(root.join("run.json")):
        loc = storage.check_readable(json.loads(storage.read_bytes(root.join("run.json")))["input"], cfg.storage)
    else:
        raise ExportError(f"{root.uri}: a patch-mode run holds mouths, not frames; pass its input dataset with --videos")
    return _Inputs(loc, _index(loc.fs, units.input_files(loc)))


def _joined(rows: Iterator[dict], frames: Iterator[dict], vid: str) -> Iterator[dict]:
    """Each run row with its input frame's ``image``; both streams in frame_index order."""
    frame = None
    for row in rows:
        while frame is None or frame["frame_index"] < row["frame_index"]:
            frame = next(frames, None)
            if frame is None:
                break
        if frame is None or frame["frame_index"] != row["frame_index"]:
            raise ExportError(f"{vid}: frame {row['frame_index']} of the run is not in the input dataset (pass the dataset it enhanced)")
        yield {**row, "image": frame["image"]}


def _composed(row: dict, column: str, previous: np.ndarray | None) -> tuple[np.ndarray, bool]:
    """A patch-mode row's frame: its input frame, with the row's patch pasted (``enhanced``)."""
    rgb, ok = _decode_or(row["image"], previous, row["width"] or 0, row["height"] or 0)
    if ok and column == "enhanced" and row["enhanced"] is not None:
        rgb = compose.compose(rgb, row)
    return rgb, ok


def _file_groups(frames: storage.Location) -> list[list[str]]:
    """Parquet files grouped by the folder directly under ``frames`` (ingest's per-video
    folders), with files lying directly in ``frames`` as one group."""
    groups: dict[str, list[str]] = {}
    base = frames.path.rstrip("/")
    for path in storage.list_files(frames, ".parquet"):
        rel = path[len(base) :].lstrip("/")
        key = rel.split("/", 1)[0] if "/" in rel else ""
        groups.setdefault(key, []).append(path)
    return [groups[k] for k in sorted(groups)]


def _index(fs, files: list[str]) -> dict[str, list[_Chunk]]:
    """video_id -> its chunks, from the key columns only (a few bytes per row)."""
    result: dict[str, list[_Chunk]] = {}
    for path in files:
        with fs.open_input_file(path) as f:
            pf = pq.ParquetFile(f)
            for rg in range(pf.num_row_groups):
                keys = pf.read_row_group(rg, columns=["video_id", "frame_index"])
                vids = np.asarray(keys["video_id"].to_pylist(), dtype=object)
                fidx = keys["frame_index"].to_numpy()
                for vid in dict.fromkeys(vids):
                    pos = np.flatnonzero(vids == vid)
                    result.setdefault(vid, []).append(_Chunk(path, rg, pos, fidx[pos]))
    return result


def _iter_rows(fs, chunks: list[_Chunk], columns: list[str]) -> Iterator[dict]:
    """The video's rows in frame_index order, loading each row group when first needed and
    dropping it after its last row is used."""
    order = sorted(
        (int(fi), ci, int(pos)) for ci, ch in enumerate(chunks) for fi, pos in zip(ch.frame_index, ch.positions)
    )
    last_use = {ci: k for k, (_, ci, _) in enumerate(order)}
    loaded: dict[int, dict[str, list]] = {}
    files: dict[str, pq.ParquetFile] = {}
    handles = []
    try:
        for k, (_, ci, pos) in enumerate(order):
            if ci not in loaded:
                ch = chunks[ci]
                if ch.path not in files:
                    handles.append(fs.open_input_file(ch.path))
                    files[ch.path] = pq.ParquetFile(handles[-1])
                loaded[ci] = files[ch.path].read_row_group(ch.row_group, columns=columns).to_pydict()
            yield {c: loaded[ci][c][pos] for c in columns}
            if last_use[ci] == k:
                del loaded[ci]
    finally:
        for h in handles:
            h.close()


# ---------------------------------------------------------------- frames and sheets


def _decode_or(data: bytes | None, previous: np.ndarray | None, width: int, height: int) -> tuple[np.ndarray, bool]:
    """Decode a frame; an undecodable one repeats the previous frame (black at the start) so the
    exported video keeps the dataset's frame count and stays in sync with its audio."""
    rgb, _ = codec.decode(data)
    if rgb is not None:
        return rgb, True
    if previous is not None:
        return previous, False
    return np.zeros((max(height, 2), max(width, 2), 3), np.uint8), False


def _default_box(width: int, height: int) -> tuple[int, int, int, int]:
    """Lower-middle third of the frame: where the mouth is in a centred talking head."""
    return width // 3, 2 * height // 3, 2 * width // 3, height


def shown_box(value, width: int, height: int) -> tuple[int, int, int, int]:
    """The mouth box clamped to the frame; the lower-middle third where there is none (sheets and reports)."""
    if value is not None and len(value) == 4:
        x0, y0, x1, y1 = (int(v) for v in value)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            return x0, y0, x1, y1
    return _default_box(width, height)


BEFORE_AFTER_HEIGHT = 360  # px of each zoomed mouth in a before/after video


def fixed_box(boxes: list, width: int, height: int, grow: float = 1.6) -> tuple[int, int, int, int]:
    """One box for a whole video (the median mouth box grown by ``grow``, clamped), so a
    before/after video does not shake with the per-frame boxes."""
    found = np.asarray([b for b in boxes if b is not None and len(b) == 4], np.float64)
    if not len(found):
        return _default_box(width, height)
    x0, y0, x1, y1 = np.median(found, axis=0)
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, grow * (x1 - x0) / 2, grow * (y1 - y0) / 2
    return shown_box((cx - hw, cy - hh, cx + hw, cy + hh), width, height)


def before_after_frames(pairs: Iterator[tuple[np.ndarray, np.ndarray]], boxes: list) -> Iterator[np.ndarray]:
    """Each (before, after) frame pair as one frame: both mouths at one fixed box, zoomed to
    ``BEFORE_AFTER_HEIGHT`` px (nearest neighbour: pixels are shown, not smoothed), side by side."""
    box = None
    for before, after in pairs:
        if box is None:
            box = fixed_box(boxes, before.shape[1], before.shape[0])
            x0, y0, x1, y1 = box
            zoom = max(1, BEFORE_AFTER_HEIGHT // (y1 - y0))
        cells = [_cut(img, box) for img in (before, after)]
        yield np.hstack([label(cv2.resize(c, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST), name) for name, c in zip(("before", "after"), cells)])


def _cut(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The box of ``img``; where a smaller frame cuts it short, what is left of it (or the whole
    frame, if nothing is) stretched to the box's size, so every video frame has the first's size."""
    x0, y0, x1, y1 = box
    cut = img[y0:y1, x0:x1]
    if cut.shape[:2] == (y1 - y0, x1 - x0):
        return cut
    return cv2.resize(cut if cut.size else img, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)


# ---------------------------------------------------------------- export


def _write_output(local: Path, out: storage.Location, name: str) -> str:
    """Move a finished local file to its final place (rename locally, upload to S3)."""
    target = out.join(name)
    if out.is_s3:
        storage.write_bytes(target, local.read_bytes())
    else:
        os.replace(local, target.path)
    return target.uri


def _export_video(
    fs,
    vid: str,
    chunks: list[_Chunk],
    meta: _VideoMeta,
    column: str,
    sheet_n: int,
    out: storage.Location,
    tmp: Path,
    has_box: bool,
    inputs: _Inputs | None = None,
    before_after: bool = False,
) -> list[str]:
    columns = ["frame_index", "fps", "width", "height"]
    columns += ["enhanced", "patch_box"] if inputs else [column, *(["image"] if (sheet_n or before_after) and column != "image" else [])]
    if (sheet_n or before_after) and has_box:
        columns.append("mouth_box")
    count = sum(len(ch.positions) for ch in chunks)
    wanted = set(sheet_positions(count, sheet_n))
    samples: list[dict] = []
    state = {"fps": meta.fps, "bad": 0}

    def rows() -> Iterator[dict]:
        if inputs is None:
            return _iter_rows(fs, chunks, columns)
        if vid not in inputs.chunks:
            raise ExportError(f"{vid}: not in the input dataset {inputs.loc.uri} (pass the dataset the run enhanced)")
        return _joined(_iter_rows(fs, chunks, columns), _iter_rows(inputs.loc.fs, inputs.chunks[vid], ["frame_index", "image"]), vid)

    def decoded(row: dict, previous: np.ndarray | None) -> tuple[np.ndarray, bool]:
        if inputs is None:
            return _decode_or(row[column], previous, row["width"] or 0, row["height"] or 0)
        return _composed(row, column, previous)

    def frames() -> Iterator[np.ndarray]:
        previous = None
        for pos, row in enumerate(rows()):
            state["fps"] = state["fps"] or row["fps"]
            rgb, ok = decoded(row, previous)
            state["bad"] += not ok
            if pos in wanted:
                before = rgb if column == "image" else _decode_or(row["image"], rgb, 0, 0)[0]
                box = shown_box(row.get("mouth_box"), rgb.shape[1], rgb.shape[0])
                samples.append({"before": before, "after": rgb, "box": box, "frame_index": row["frame_index"]})
            previous = rgb
            yield rgb

    gen = frames()
    first = next(gen)  # the first row also gives the fps when there is no videos table
    if not state["fps"]:
        raise ExportError(f"{vid}: no frame rate in the frames table or the videos table")
    local = tmp / f"{vid}.mp4"
    try:
        mp4.write_mp4(itertools.chain([first], gen), state["fps"], local, meta.audio)
    except video.VideoError as exc:
        raise ExportError(f"{vid}: {exc}") from None
    if state["bad"]:
        print(f"export: {vid}: {state['bad']} undecodable frames repeated the previous frame", flush=True)
    written = [_write_output(local, out, f"{vid}.mp4")]
    if before_after and column != "image":
        boxes = [row["mouth_box"] for row in _iter_rows(fs, chunks, ["frame_index", "mouth_box"])] if has_box else []
        local = tmp / f"{vid}_before_after.mp4"

        def pairs() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            before = after = None  # an undecodable frame repeats the previous one, as in the video
            for row in rows():
                before = _decode_or(row["image"], before, row["width"] or 0, row["height"] or 0)[0]
                after = decoded(row, after)[0]
                yield before, after

        mp4.write_mp4(before_after_frames(pairs(), boxes), state["fps"], local)
        written.append(_write_output(local, out, f"{vid}_before_after.mp4"))
    if samples:
        sheet = tmp / f"{vid}_sheet.png"
        sheet.write_bytes(codec.encode(contact_sheet(samples)))
        written.append(_write_output(sheet, out, f"{vid}_sheet.png"))
    return written


def export(
    uri: str,
    out_dir: str,
    column: str | None = None,
    contact_sheet: int = 0,
    cfg: Config | None = None,
    videos_uri: str | None = None,
    video_ids: list[str] | None = None,
    before_after: bool = False,
) -> list[str]:
    """Write ``<out_dir>/<video_id>.mp4`` for every video in the dataset at ``uri``.

    ``column``: ``image`` (the input frames), ``enhanced``, or None (default): ``enhanced`` when
    the dataset has it (an enhance run; a patch-mode run's frames are composed from its input
    frames, see the module docstring), else ``image``. ``contact_sheet=N`` also writes
    ``<video_id>_sheet.png`` with N evenly spaced frames, before/after and zoomed mouths
    (``mouth_box`` when present, else the lower-middle third). fps and audio come from the
    videos table (``uri``'s own, or ``videos_uri`` for an enhance run), else fps from the frames.
    ``before_after`` (an enhance run) also writes ``<video_id>_before_after.mp4``: the input's and
    the output's mouth side by side, zoomed, at one box for the whole video, without audio.
    ``video_ids`` limits the export to those videos. Files appear under their final names only
    when complete. Returns the written paths/URIs.
    """
    cfg = cfg or Config()
    if column not in (None, "image", "enhanced"):
        raise ExportError(f"column must be 'image' or 'enhanced', got {column!r}")
    try:
        loc = storage.check_readable(uri, cfg.storage)
        frames_loc, root = _frames_location(loc)
        videos_meta = _read_videos_meta(_videos_location(root, videos_uri, cfg))
        out = storage.check_writable(out_dir, cfg.storage)
    except storage.StorageError as exc:
        raise ExportError(str(exc)) from None
    groups = _file_groups(frames_loc)
    if not groups:
        raise ExportError(f"{frames_loc.uri}: no Parquet files")
    with frames_loc.fs.open_input_file(groups[0][0]) as f:
        table_schema = pq.read_schema(f)
    names = table_schema.names
    if column is None:
        column = "enhanced" if "enhanced" in names else "image"
    inputs = None
    if schema.is_patch_table(table_schema):
        try:
            inputs = _run_inputs(root, videos_uri, cfg)
        except storage.StorageError as exc:
            raise ExportError(str(exc)) from None
        names = [*names, "image"]  # joined from the input
    if column not in names:
        raise ExportError(f"{frames_loc.uri}: has no '{column}' column (columns: {', '.join(names)})")
    has_box = "mouth_box" in names
    wanted = set(video_ids) if video_ids else None
    written: list[str] = []
    with tempfile.TemporaryDirectory(prefix="raymouth-export-", dir=None if out.is_s3 else out.path) as tmp:
        for files in groups:
            for vid, chunks in sorted(_index(frames_loc.fs, files).items()):
                if wanted is not None and vid not in wanted:
                    continue
                meta = _load_video_meta(videos_meta.get(vid), vid)
                written += _export_video(frames_loc.fs, vid, chunks, meta, column, contact_sheet, out, Path(tmp), has_box, inputs, before_after)
                print(f"export: {vid} -> {written[-1]}", flush=True)
    if wanted is not None and not written:
        raise ExportError(f"{frames_loc.uri}: none of the videos {sorted(wanted)} found")
    return written
