"""Which source clip restores which video: ``--reference REF [--reference-map MAP.csv]``.

REF is a frames dataset made by ``raymouth ingest`` from source clips of the same people. An
input video uses the reference video with its own ``video_id``, or the one the map names
(``input_video_id,reference_video_id``, one pair a line; several inputs may share one
reference); the others use the shipped model. Everything here runs on the driver before any
cluster work, so a bad map, or one naming a video that is not there, is one line
(``ReferenceInputError``) and the corrected command can use the same run id.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import re
from dataclasses import dataclass
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from raymouth.config import Config
from raymouth.config.identity import flatten, identity_diff
from raymouth.data import storage, units
from raymouth.errors import UserError

MAP_HEADER = ("input_video_id", "reference_video_id")
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # what `raymouth ingest` makes: a folder name


class ReferenceInputError(UserError, ValueError):
    """A bad ``--reference`` / ``--reference-map``; the message is one line for the user."""


@dataclass(frozen=True)
class ReferencePlan:
    """The references of one run: which input video uses which reference video, and where each
    reference's frames are (paths inside ``loc``'s filesystem)."""

    loc: storage.Location
    assignments: dict[str, str]  # input video_id -> reference video_id
    files: dict[str, list[str]]  # reference video_id -> its Parquet files

    @property
    def references(self) -> list[str]:
        return sorted(set(self.assignments.values()))

    def inputs_of(self, reference_id: str) -> list[str]:
        return sorted(v for v, r in self.assignments.items() if r == reference_id)


def read_map(uri: str, cfg: Config) -> dict[str, str]:
    """``input_video_id -> reference_video_id`` from a CSV file (local or s3://) with that header.

    A repeated input with the same reference is allowed; with another one it is an error.
    """
    try:
        text = storage.read_bytes(storage.check_readable(uri, cfg.storage)).decode("utf-8-sig")
    except storage.StorageError as exc:
        raise ReferenceInputError(f"--reference-map {exc}") from None
    except UnicodeDecodeError:
        raise ReferenceInputError(f"--reference-map {uri}: not a UTF-8 text file") from None
    rows = [(n, [c.strip() for c in row]) for n, row in enumerate(csv.reader(io.StringIO(text)), 1) if any(c.strip() for c in row)]
    if not rows or tuple(rows[0][1]) != MAP_HEADER:
        got = ",".join(rows[0][1]) if rows else "an empty file"
        raise ReferenceInputError(f"--reference-map {uri}: the first line must be {','.join(MAP_HEADER)}, got {got}")
    mapping: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for n, cells in rows[1:]:
        if len(cells) != 2 or not all(cells):
            raise ReferenceInputError(f"--reference-map {uri} line {n}: expected input_video_id,reference_video_id, got {','.join(cells)!r}")
        vid, ref = cells
        if vid in mapping and mapping[vid] != ref:
            raise ReferenceInputError(
                f"--reference-map {uri} line {n}: input video {vid!r} is mapped to {mapping[vid]!r} on line {first_line[vid]} and to {ref!r} here"
            )
        mapping.setdefault(vid, ref)
        first_line.setdefault(vid, n)
    return mapping


def frame_indices(loc: storage.Location, files: list[str], video_id: str) -> list[int]:
    """The frame indices of one video of a frames dataset; only the key columns are read."""
    found: list[int] = []
    for path in files:
        with loc.fs.open_input_file(path) as f:
            t = pq.read_table(f, columns=["video_id", "frame_index"])
        found += [int(i) for v, i in zip(t.column("video_id").to_pylist(), t.column("frame_index").to_pylist()) if v == video_id]
    return found


def wanted_rows(loc: storage.Location, files: list[str], video_id: str, wanted: set[int], columns: list[str]) -> Iterator[pa.Table]:
    """Row group by row group, the rows of ``video_id`` whose frame index is ``wanted``: only their
    ``columns`` (those the file has) are read, so a reference's images are never held whole."""
    for path in files:
        with loc.fs.open_input_file(path) as f:
            pf = pq.ParquetFile(f)
            present = [c for c in columns if c in pf.schema_arrow.names]
            for g in range(pf.metadata.num_row_groups):
                keys = pf.read_row_group(g, columns=["video_id", "frame_index"])
                take = [k for k, (v, i) in enumerate(zip(keys.column("video_id").to_pylist(), keys.column("frame_index").to_pylist()))
                        if v == video_id and int(i) in wanted]
                if take:
                    yield pf.read_row_group(g, columns=present).take(take)


def video_files(loc: storage.Location, files: list[str]) -> dict[str, list[str]]:
    """``video_id -> files`` holding its rows; only the ``video_id`` column of each file is read."""
    by_video: dict[str, list[str]] = {}
    for path in files:
        with loc.fs.open_input_file(path) as f:
            ids = pq.read_table(f, columns=["video_id"]).column("video_id").unique().to_pylist()
        for vid in ids:
            by_video.setdefault(str(vid), []).append(path)
    return by_video


def plan(in_loc: storage.Location, in_files: list[str], ref_uri: str, map_uri: str | None, cfg: Config) -> ReferencePlan:
    """Resolve every input video's reference; ``ReferenceInputError`` for anything missing."""
    if cfg.enhance.chain != "native":
        raise ReferenceInputError(f"--reference fine-tunes the native model; enhance.chain is {cfg.enhance.chain!r}, set it to native")
    try:
        ref_loc = storage.check_readable(ref_uri, cfg.storage)
        ref_files = units.input_files(ref_loc)
    except storage.StorageError as exc:
        raise ReferenceInputError(f"--reference {exc}") from None
    refs = video_files(ref_loc, ref_files)
    if not refs:
        raise ReferenceInputError(f"--reference {ref_loc.uri}: no frames (make it with `raymouth ingest` from the source clips)")
    inputs = set(video_files(in_loc, in_files))
    mapping = read_map(map_uri, cfg) if map_uri else {}
    for vid, ref in mapping.items():
        if vid not in inputs:
            raise ReferenceInputError(f"--reference-map {map_uri}: input video {vid!r} is not in {in_loc.uri} ({_some(inputs)})")
        if ref not in refs:
            raise ReferenceInputError(f"--reference-map {map_uri}: reference video {ref!r} (for {vid!r}) is not in {ref_loc.uri} ({_some(refs)})")
    assignments = {vid: mapping.get(vid, vid) for vid in sorted(inputs) if mapping.get(vid, vid) in refs}
    for ref in set(assignments.values()):
        if not SAFE_ID.match(ref):
            raise ReferenceInputError(f"--reference {ref_loc.uri}: reference video id {ref!r} cannot name a folder (letters, digits, '.', '_', '-')")
    return ReferencePlan(ref_loc, assignments, {r: refs[r] for r in set(assignments.values())})


def _some(ids) -> str:
    ids = sorted(ids)
    shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    return f"it has {shown}" if ids else "it has no videos"


def settings(cfg: Config) -> dict:
    """The settings that decide what a fine-tune makes (``reference.*`` without the execution
    ones, the degradations, and the training settings it shares with ``raymouth train``)."""
    ref = {k: v for k, v in dataclasses.asdict(cfg.reference).items() if k not in ("cache_size", "num_gpus", "cpus")}
    train = {k: getattr(cfg.train, k) for k in ("batch_size", "patch_px", "edge_loss_weight", "flip", "seed", "cosine_decay")}
    return {"reference": ref, "train": train, "degrade": dataclasses.asdict(cfg.degrade)}


def record(ref_plan: ReferencePlan | None, cfg: Config) -> dict | None:
    """What run.json keeps of a run's references: a resume must use the same ones (its
    fine-tunes are reused), so they are part of the run's identity."""
    if ref_plan is None:
        return None
    blob = json.dumps(ref_plan.assignments, sort_keys=True).encode()
    return {
        "uri": ref_plan.loc.uri,
        "assignments_sha256": hashlib.sha256(blob).hexdigest()[:16],
        "videos_with_reference": len(ref_plan.assignments),
        "references": len(ref_plan.references),
        "settings": settings(cfg),
    }


def record_diff(old: dict | None, new: dict | None) -> list[tuple[str, object, object]]:
    """``(key, old, new)`` where two runs' references differ: just ``--reference`` when one has
    none, else every differing recorded value."""
    if old is None or new is None:
        return [] if old == new else [("--reference", (old or {}).get("uri"), (new or {}).get("uri"))]
    return identity_diff(flatten({"references": old}), flatten({"references": new}))
