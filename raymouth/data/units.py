"""Work units of a run: bounded, deterministic slices of the input, and which of them are finished.

A unit is a run of consecutive row groups of one input Parquet file, at most ``rows_per_unit``
rows. Units are the grain of resume (a unit is done when the output holds exactly its rows) and
of temporal smoothing (a unit is always processed whole, so its output does not depend on what
else ran beside it: an interrupted and resumed run writes the same bytes as an uninterrupted one).
"""
from __future__ import annotations

import hashlib
import posixpath
from dataclasses import asdict, dataclass
from typing import Callable, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from raymouth.data import storage
from raymouth.errors import UserError, one_line


T = TypeVar("T")


class InputError(UserError, RuntimeError):
    """An input Parquet file cannot be read or is not a frames table; the message names the file."""


@dataclass(frozen=True)
class Unit:
    unit_id: str
    path: str  # path inside the input filesystem
    row_groups: tuple[int, ...]
    rows: int

    def to_row(self) -> dict:
        row = asdict(self)
        row["row_groups"] = list(self.row_groups)
        return row

    @staticmethod
    def from_row(row: dict) -> "Unit":
        return Unit(str(row["unit_id"]), str(row["path"]), tuple(int(g) for g in row["row_groups"]), int(row["rows"]))


def _ingested(loc: storage.Location) -> tuple[set[str], list[str]] | None:
    """A dataset made by ``raymouth ingest``: the video ids with a commit marker
    (``videos/<id>.parquet``) and every frames file; None for a plain folder of Parquet."""
    videos = storage.list_files(loc.join("videos"), ".parquet")
    if not videos:
        return None
    return {posixpath.splitext(posixpath.basename(v))[0] for v in videos}, storage.list_files(loc.join("frames"), ".parquet")


def _video_of(frames_file: str) -> str:
    return posixpath.basename(posixpath.dirname(frames_file))


def input_files(loc: storage.Location) -> list[str]:
    """Parquet files of a frames dataset.

    A dataset made by ``raymouth ingest`` is read only for videos whose commit marker
    (``videos/<id>.parquet``) exists, so a half-ingested video is never enhanced.
    """
    if loc.fs.get_file_info(loc.path).type == storage.pafs.FileType.File:
        return [loc.path]
    ingested = _ingested(loc)
    if ingested is not None:
        done, files = ingested
        return [f for f in files if _video_of(f) in done]
    return [f for f in storage.list_files(loc, ".parquet") if "/_" not in f and "/." not in f]


def incomplete_videos(loc: storage.Location) -> list[str]:
    """Videos of an ingested dataset whose frames exist without their commit marker (an ingest
    that was stopped half-way): ``input_files`` leaves them out, so a run names them."""
    if loc.fs.get_file_info(loc.path).type == storage.pafs.FileType.File:
        return []
    ingested = _ingested(loc)
    if ingested is None:
        return []
    done, files = ingested
    return sorted({_video_of(f) for f in files} - done)


def plan(loc: storage.Location, rows_per_unit: int, check_schema=None) -> list[Unit]:
    """Split the input into units from the Parquet footers only (no image bytes are read).

    Every file's footer is read, so a truncated or foreign file is named here (``InputError``),
    and ``check_schema(arrow_schema)`` (raising ``ValueError``) is applied to every file's schema.
    """
    units: list[Unit] = []
    for path in input_files(loc):
        try:
            with loc.fs.open_input_file(path) as f:
                pf = pq.ParquetFile(f)
                meta, arrow_schema = pf.metadata, pf.schema_arrow
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{_shown(loc, path)}: not a readable Parquet file ({one_line(exc)})") from None
        if check_schema is not None:
            try:
                check_schema(arrow_schema)
            except ValueError as exc:
                raise InputError(f"{_shown(loc, path)}: {one_line(exc)}") from None
        group: list[int] = []
        rows = 0
        for g in range(meta.num_row_groups):
            n = meta.row_group(g).num_rows
            if group and rows + n > rows_per_unit:
                units.append(_unit(path, group, rows))
                group, rows = [], 0
            group.append(g)
            rows += n
        if group:
            units.append(_unit(path, group, rows))
    return units


def _shown(loc: storage.Location, path: str) -> str:
    """A file inside a location as the user would write it (s3://... for S3)."""
    return f"s3://{path}" if loc.is_s3 else path


def _unit(path: str, groups: list[int], rows: int) -> Unit:
    digest = hashlib.sha1(f"{path}|{groups[0]}-{groups[-1]}".encode()).hexdigest()[:16]
    return Unit(digest, path, tuple(groups), rows)


def read_unit(fs: pa.fs.FileSystem, unit: Unit, columns: list[str] | None = None) -> pa.Table:
    with fs.open_input_file(unit.path) as f:
        return pq.ParquetFile(f).read_row_groups(list(unit.row_groups), columns=columns)


class UnitColumn:
    """One column of a unit, read a row group at a time when a slice first reaches it: a stage
    that walks the unit from its start has its first rows after one row group, not after the
    whole unit (seconds for 256 frames at 1080p). Slicing gives object arrays, like
    ``table_to_batch``; ``read(group)`` returns one row group's values (retries are its own)."""

    def __init__(self, group_rows: list[int], read: Callable[[int], list]) -> None:
        self.starts = np.concatenate([[0], np.cumsum(group_rows)]).astype(int)
        self.read = read
        self.groups: dict[int, list] = {}

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, key: slice | int) -> np.ndarray | object:
        if not isinstance(key, slice):
            index = range(len(self))[key]
            return self[index : index + 1][0]
        start, stop, step = key.indices(len(self))
        out = np.empty(max(0, len(range(start, stop, step))), dtype=object)
        for j, i in enumerate(range(start, stop, step)):
            g = int(np.searchsorted(self.starts, i, side="right")) - 1
            if g not in self.groups:
                self.groups[g] = self.read(g)
            out[j] = self.groups[g][i - self.starts[g]]
        return out


def read_unit_lazily(
    fs: pa.fs.FileSystem, unit: Unit, lazy: str, read: Callable[[Callable[[], T]], T]
) -> tuple[list[str], pa.Table, UnitColumn]:
    """The unit's column names in file order, its columns but ``lazy`` as a table, and ``lazy``
    as a ``UnitColumn``; ``read`` runs each file access (``storage.retrying``, say)."""

    footer: list[pq.FileMetaData] = []

    def footer_and_rest() -> tuple[list[str], list[int], pa.Table]:
        with fs.open_input_file(unit.path) as f:
            pf = pq.ParquetFile(f)
            footer[:] = [pf.metadata]
            rows = [pf.metadata.row_group(g).num_rows for g in unit.row_groups]
            rest = [c for c in pf.schema_arrow.names if c != lazy]
            return pf.schema_arrow.names, rows, pf.read_row_groups(list(unit.row_groups), columns=rest)

    def group(g: int) -> list:
        def action() -> list:
            with fs.open_input_file(unit.path) as f:  # the footer was read once, with the other columns
                return pq.ParquetFile(f, metadata=footer[0]).read_row_group(unit.row_groups[g], columns=[lazy]).column(0).to_pylist()

        return read(action)

    names, rows, table = read(footer_and_rest)
    return names, table, UnitColumn(rows, group)


def output_name(unit_id: str, keys: list[tuple[str, int]]) -> str:
    """Deterministic file name for one written batch: the same rows always get the same name."""
    digest = hashlib.sha1(repr(sorted(keys)).encode()).hexdigest()[:16]
    return f"{unit_id}__{digest}.parquet"


def unit_of(file_name: str) -> str:
    return posixpath.basename(file_name).split("__", 1)[0]


def finished(out: storage.Location, units: list[Unit]) -> tuple[set[str], list[str]]:
    """Units whose output rows are all written, and the files of partly written units.

    Counts come from the Parquet footers of ``frames/`` and ``metrics/``; a unit is finished
    only when both hold exactly its row count. A file whose footer cannot be read (torn by a
    crash mid-write) makes its unit unfinished: it is redone.
    """
    expected = {u.unit_id: u.rows for u in units}
    counts: dict[str, dict[str, int]] = {"frames": {}, "metrics": {}}
    files_by_unit: dict[str, list[str]] = {}
    torn: set[str] = set()
    for table in counts:
        for path in storage.list_files(out.join(table), ".parquet"):
            uid = unit_of(path)
            files_by_unit.setdefault(uid, []).append(path)
            try:
                with out.fs.open_input_file(path) as f:
                    rows = pq.ParquetFile(f).metadata.num_rows
            except (pa.ArrowException, OSError):
                torn.add(uid)
                continue
            counts[table][uid] = counts[table].get(uid, 0) + rows
    done = {
        uid
        for uid, n in expected.items()
        if uid not in torn and counts["frames"].get(uid) == n and counts["metrics"].get(uid) == n
    }
    partial = [p for uid, paths in files_by_unit.items() if uid not in done for p in paths]
    return done, partial


def leftovers(out: storage.Location) -> list[str]:
    """Files in ``frames/`` and ``metrics/`` that are not finished output (temporary files an
    interrupted write left); a resume deletes them so that plain Parquet readers never meet them."""
    found = []
    for table in ("frames", "metrics"):
        for path in storage.list_files(out.join(table)):
            name = posixpath.basename(path)
            if not name.endswith(".parquet") or name.startswith((".", "_")):
                found.append(path)
    return found


def spaced(count: int, n: int) -> list[int]:
    """``n`` frame positions evenly spaced over ``count`` frames (first and last included); all if n <= 0."""
    if count <= 0:
        return []
    if n <= 0 or n >= count:
        return list(range(count))
    return sorted({int(round(p)) for p in np.linspace(0, count - 1, n)})
