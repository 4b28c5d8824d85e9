"""The reference-guided path in the job (``reference.mode=guided``): mouth indexes built on the
cluster and kept with the run, exemplars chosen per unit with hysteresis, rows that name them.

Real Ray, real MediaPipe, real TensorFlow. The guided network here is built fresh and saved with
its manifest (its tail is zero-initialised, so it returns its input crop): these tests check the
wiring; its quality is measured by ``python -m raymouth.train.guided eval`` (docs/reference.md).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import fixture_path, write_frames_dataset

from raymouth import config
from raymouth.job import exemplars, pipeline

CLIP = "video/retalking_face_5.mp4"


@pytest.fixture(scope="module")
def guided_weights(tmp_path_factory) -> str:
    from raymouth.models.guided import build_guided, guided_arch, save_guided

    path = tmp_path_factory.mktemp("guided") / "edsr_guided.keras"
    arch = dict(num_blocks=1, num_filters=8)
    save_guided(build_guided(**arch), path, guided_arch(**arch))
    return str(path)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("guided-data")
    clip = fixture_path(CLIP)
    write_frames_dataset(root / "in", clip, frames=8, rows_per_file=8, video_id="a", size=256)
    write_frames_dataset(root / "in", fixture_path("video/liveportrait_d5.mp4"), frames=8, rows_per_file=8, video_id="c", size=256)
    write_frames_dataset(root / "ref", clip, frames=24, rows_per_file=8, video_id="src", size=256)
    return {"in": str(root / "in"), "ref": str(root / "ref")}


def guided_cfg(weights: str, *extra: str) -> config.Config:
    return config.load(None, ["reference.mode=guided", f"reference.guided_weights={weights}", "reference.index_every=1", "pipeline.rows_per_unit=8", *extra])


def read_table(run: Path) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in sorted((run / "metrics").glob("*.parquet"))])


def test_guided_run_indexes_the_reference_once_and_names_each_rows_exemplar(datasets, guided_weights, ray_local, tmp_path):
    mapping = tmp_path / "m.csv"
    mapping.write_text("input_video_id,reference_video_id\na,src\n")
    cfg = guided_cfg(guided_weights)
    pipeline.run(datasets["in"], str(tmp_path / "out"), "r", cfg, ref_uri=datasets["ref"], ref_map=str(mapping))
    run = tmp_path / "out" / "r"
    index = pq.read_table(run / "references" / "src" / "index.parquet")
    assert 20 <= index.num_rows <= 24 and set(index.column("clip").to_pylist()) == {"src"}
    table = read_table(run)
    assert table.num_rows == 16
    indexed = set(index.column("frame").to_pylist())
    for vid, status, version, frames in zip(*(table.column(c).to_pylist() for c in ("video_id", "status", "model_version", "reference_frames"))):
        if vid == "a" and status in ("ok", "rejected_quality"):
            assert version.startswith("guided_1x8@") and len(frames) == 1 and frames[0] in indexed
        else:
            assert not frames and not version.startswith("guided")  # no reference: the shipped model
    mtime = (run / "references" / "src" / "index.parquet").stat().st_mtime_ns
    mapping.write_text("input_video_id,reference_video_id\na,src\nc,src\n")  # every row with an exemplar
    pipeline.run(datasets["in"], str(tmp_path / "out"), "r2", cfg, ref_uri=datasets["ref"], ref_map=str(mapping))
    assert (run / "references" / "src" / "index.parquet").stat().st_mtime_ns == mtime  # another run id: its own index
    assert (tmp_path / "out" / "r2" / "references" / "src" / "index.parquet").is_file()
    every = read_table(tmp_path / "out" / "r2")
    assert every.schema.field("reference_frames").type == pa.list_(pa.int32())
    ok = [f for s, f in zip(every.column("status").to_pylist(), every.column("reference_frames").to_pylist()) if s == "ok"]
    assert ok and all(len(f) == 1 for f in ok)


def test_exemplar_choice_does_not_depend_on_how_a_unit_is_sliced(datasets, guided_weights, tmp_path):
    """Hysteresis runs over the unit in frame order: one slice or many give the same exemplars."""
    from raymouth.data import storage
    from raymouth.job.reference import plan, video_files
    from raymouth.mouth.locate import Locate

    cfg = guided_cfg(guided_weights)
    ref_loc = storage.resolve(datasets["ref"])
    files = video_files(ref_loc, sorted(str(p) for p in Path(datasets["ref"]).rglob("*.parquet")))["src"]
    run_loc = storage.resolve(str(tmp_path / "run"))
    exemplars.build_index(ref_loc.uri, files, "src", run_loc.uri, cfg)
    uri = exemplars.index_loc(run_loc, "src").uri
    frames = pq.read_table(sorted(Path(datasets["in"]).rglob("*.parquet"))[0]).to_pydict()
    batch = {k: np.array(v, dtype=object) if k in ("video_id", "image") else np.array(v) for k, v in frames.items()}
    with Locate(cfg) as locate:
        located = locate(batch)
    whole = exemplars.Retriever({"a": uri}, cfg)(dict(located))["reference_frames"]
    sliced = exemplars.Retriever({"a": uri}, cfg)
    parts = [sliced({k: v[s:s + 3] for k, v in located.items()})["reference_frames"] for s in range(0, len(located["status"]), 3)]
    assert [list(f) for f in whole] == [list(f) for p in parts for f in p]
    assert sum(1 for f in whole if f) >= 6
