"""evaluate.real_pairs: the data it writes from a real lip-sync output and its source clip."""
from __future__ import annotations

import itertools

import numpy as np
import pyarrow.parquet as pq

from conftest import fixture_path
from raymouth.data import codec, video
from raymouth.evaluate.real_pairs import pairs_in, write_pair


def test_pairs_are_found_and_each_output_frame_carries_its_source_frame(tmp_path):
    folder = fixture_path("lipsync/hyperlips_meadM003_output.mp4").parent
    assert {"hyperlips_meadM003", "listedtask_axman"} <= set(pairs_in(folder))
    assert not any(n.endswith("nosource") for n in pairs_in(folder))
    assert write_pair(folder, "hyperlips_meadM003", tmp_path, frames=3) == 3
    rows = pq.read_table(tmp_path / "in" / "frames" / "hyperlips_meadM003" / "part-00000.parquet").to_pylist()
    ref = pq.read_table(tmp_path / "ref" / "frames" / "hyperlips_meadM003_src" / "part-00000.parquet")
    source = list(itertools.islice(video.iter_frames(folder / "hyperlips_meadM003_source.mp4"), 3))
    output = list(itertools.islice(video.iter_frames(folder / "hyperlips_meadM003_output.mp4"), 3))
    assert [r["frame_index"] for r in rows] == [0, 1, 2]
    for r, (_, _, src), (_, _, out) in zip(rows, source, output):
        assert np.array_equal(codec.decode(r["image"])[0], out) and np.array_equal(codec.decode(r["reference"])[0], src)
    assert ref.num_rows == video.probe(folder / "hyperlips_meadM003_source.mp4").frame_count
    assert ref.column("frame_index").to_pylist() == list(range(ref.num_rows))
    assert np.array_equal(codec.decode(ref.column("image")[1].as_py())[0], source[1][2])
