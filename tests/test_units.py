"""Work units read from a real Parquet file on the local filesystem: whole, or frames a row group
at a time (``units.read_unit_lazily``)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raymouth.data import units


def _frames_file(path, rows: int = 40, group: int = 8) -> units.Unit:
    table = pa.table({
        "video_id": ["v"] * rows,
        "frame_index": np.arange(rows, dtype=np.int32),
        "image": [bytes([i]) * (100 + i) for i in range(rows)],
        "fps": np.full(rows, 25.0),
    })
    pq.write_table(table, path, row_group_size=group)
    # a unit of row groups 1..3 (rows 8..31), as units.plan makes them
    return units.Unit("u", str(path), (1, 2, 3), 3 * group)


def test_lazy_read_gives_the_whole_read_and_reads_frames_only_as_they_are_reached(tmp_path):
    unit = _frames_file(tmp_path / "f.parquet")
    fs = pafs.LocalFileSystem()
    whole = units.read_unit(fs, unit)
    accesses = []
    names, rest, images = units.read_unit_lazily(fs, unit, "image", lambda read: accesses.append(1) or read())
    assert names == whole.column_names and "image" not in rest.column_names
    assert rest.equals(whole.drop_columns(["image"]))
    assert len(images) == whole.num_rows == 24
    assert len(accesses) == 1  # the footer and the small columns; no frame yet
    first = images[0:3]
    assert len(accesses) == 2 and list(first) == whole.column("image").to_pylist()[:3]  # one row group
    assert list(images[5:20]) == whole.column("image").to_pylist()[5:20]
    assert len(accesses) == 4  # the three row groups, each read once
    assert images[23] == whole.column("image")[23].as_py() and images[-1] == images[23]
    assert images[30:40].shape == (0,) and images[0:0].dtype == object
