"""evaluate.real_pairs: the data it writes from a real lip-sync output and its source clip."""
from __future__ import annotations

import itertools

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

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


@pytest.mark.slow
def test_a_pair_is_run_twice_scored_and_shown_with_its_exemplars(ray_local, tmp_path):
    """``evaluate_pairs`` end to end on the first 6 frames of one real pair, the guided restorer:
    both runs are scored, and the pair's contact sheet shows, zoomed, the very mouths the runs
    read and wrote, with the exemplar each frame retrieved from the source clip."""
    import shutil

    from raymouth import config
    from raymouth.evaluate.real_pairs import evaluate_pairs
    from raymouth.evaluate.sheets import upscale
    from raymouth.mouth import roi

    pairs = tmp_path / "pairs"
    pairs.mkdir()
    for kind in ("output", "source"):
        shutil.copy(fixture_path(f"lipsync/hyperlips_meadM003_{kind}.mp4"), pairs)
    report = evaluate_pairs(str(pairs), str(tmp_path / "out"), config.load(None, ["reference.mode=guided"]), frames=6, log=lambda line: None)
    assert report["reference"]["hyperlips_meadM003"]["scored"] == 6
    [sheet] = report["sheets"]
    assert sheet["columns"] == ["input", "shipped", "own clip", "source", "exemplar"] and len(sheet["rows"]) == 4
    image = cv2.cvtColor(cv2.imread(sheet["path"]), cv2.COLOR_BGR2RGB)
    first = int(sheet["rows"][0].split()[-1])
    row = pq.read_table(tmp_path / "out" / "data" / "in" / "frames" / "hyperlips_meadM003" / "part-00000.parquet").to_pylist()[first]
    want = upscale(roi.crop(codec.decode(row["image"])[0], sheet["boxes"][0]), sheet["zoom"])
    (top, left), (h, w) = sheet["origin"], want.shape[:2]
    assert np.array_equal(image[top : top + h, left : left + w], want)  # the input mouth, as the job read it
    ex_left = left + 4 * sheet["pitch"][1]
    assert image[top : top + h, ex_left : ex_left + w].std() > 10  # an exemplar is drawn, not a blank cell
