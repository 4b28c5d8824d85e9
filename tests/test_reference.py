"""Per-identity fine-tuning (``--reference``): map parsing, plans, the bounded chain cache, and
the enhance job end to end on a real local Ray cluster with real TensorFlow and MediaPipe.

The end-to-end tests use the shipped native weights (a fine-tune starts from them) with tiny
budgets (a few steps, few frames) so the file runs in a few minutes on 2 cores.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import fixture_path, write_frames_dataset

from raymouth import config
from raymouth.data import schema, storage
from raymouth.job import finetune, pipeline, reference

REPO = Path(__file__).resolve().parents[1]
CLIP = "video/retalking_face_5.mp4"
# A tiny budget: enough to run every part of a fine-tune, not to be good.
TINY = [
    "reference.steps=6", "reference.chunks=2", "reference.max_frames=24", "reference.frame_stride=1",
    "reference.min_crops=4", "train.batch_size=4", "train.patch_px=32", "pipeline.rows_per_unit=8",
]


def tiny_cfg(*extra: str) -> config.Config:
    return config.load(None, [*TINY, *extra])


def shipped_versions(cfg: config.Config) -> set[str]:
    """Every model_version the shipped chain can write: one per detail level with automatic detail."""
    from raymouth.restore.chain import EnhanceChain

    chain = EnhanceChain(cfg)
    if not chain.auto_detail:
        return {chain.model_version}
    return {chain.version_of(float(a)) for a in np.arange(cfg.enhance.detail, 1 + 1e-9, cfg.enhance.detail_step).round(6)}


def write_map(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, str]:
    """IN: videos a and b (one person) and c (another); REF: that person's source clip, ``src``."""
    root = tmp_path_factory.mktemp("ref")
    clip, other = fixture_path(CLIP), fixture_path("video/liveportrait_d5.mp4")
    for vid, src, n in (("a", clip, 8), ("b", clip, 8), ("c", other, 8)):
        write_frames_dataset(root / "in", src, frames=n, rows_per_file=8, video_id=vid, size=256)
    write_frames_dataset(root / "ref", clip, frames=24, rows_per_file=8, video_id="src", size=256)
    return {"in": str(root / "in"), "ref": str(root / "ref"), "root": str(root)}


# ---------------------------------------------------------------- the map and the plan (fast)


def test_map_parsing_and_its_errors(tmp_path):
    cfg = config.Config()
    good = write_map(tmp_path / "m.csv", ["input_video_id,reference_video_id", "a, src", "b,src", "a,src", ""])
    assert reference.read_map(good, cfg) == {"a": "src", "b": "src"}
    cases = {
        "wrong header": (["video,ref", "a,src"], "first line must be input_video_id,reference_video_id"),
        "empty": ([""], "got an empty file"),
        "three columns": (["input_video_id,reference_video_id", "a,src,x"], "line 2: expected"),
        "empty cell": (["input_video_id,reference_video_id", "a,"], "line 2: expected"),
        "two references": (["input_video_id,reference_video_id", "a,src", "a,other"], "line 3: input video 'a' is mapped to 'src' on line 2"),
    }
    for name, (lines, words) in cases.items():
        with pytest.raises(reference.ReferenceInputError, match=words):
            reference.read_map(write_map(tmp_path / f"{name}.csv", lines), cfg)
    with pytest.raises(reference.ReferenceInputError, match="no such file"):
        reference.read_map(str(tmp_path / "missing.csv"), cfg)


def test_plan_falls_back_by_video_id_and_shares_references(datasets, tmp_path):
    cfg = config.Config()
    in_loc = storage.resolve(datasets["in"])
    files = sorted(str(p) for p in Path(datasets["in"]).rglob("*.parquet"))
    # no map: only a video named like a reference video gets it (none here)
    assert reference.plan(in_loc, files, datasets["ref"], None, cfg).assignments == {}
    same = write_frames_dataset(tmp_path / "same", fixture_path(CLIP), frames=2, video_id="a", size=64)
    assert reference.plan(in_loc, files, str(same), None, cfg).assignments == {"a": "a"}
    m = write_map(tmp_path / "m.csv", ["input_video_id,reference_video_id", "a,src", "b,src"])
    plan = reference.plan(in_loc, files, datasets["ref"], m, cfg)
    assert plan.assignments == {"a": "src", "b": "src"} and plan.references == ["src"] and plan.inputs_of("src") == ["a", "b"]
    assert len(plan.files["src"]) == 3  # 24 frames in files of 8


def test_a_map_naming_a_missing_video_is_one_line_before_any_cluster_work(datasets, tmp_path):
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1:1", "PYTHONPATH": str(REPO)}  # contacting Ray would fail loudly
    out = tmp_path / "out"
    cases = [
        (["input_video_id,reference_video_id", "a,nobody"], "reference video 'nobody' (for 'a') is not in"),
        (["input_video_id,reference_video_id", "zz,src"], "input video 'zz' is not in"),
    ]
    for lines, words in cases:
        m = write_map(tmp_path / "m.csv", lines)
        cmd = [sys.executable, "-m", "raymouth.cli", "enhance", datasets["in"], "--out", str(out), "--run-id", "r",
               "--reference", datasets["ref"], "--reference-map", m]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        last = proc.stderr.strip().splitlines()[-1]
        assert proc.returncode == 2 and last.startswith("raymouth: error:") and words in last, proc.stderr
    assert not (out / "r" / "run.json").exists()  # nothing claimed: the corrected command may use the same id


def test_a_resume_with_other_references_is_refused(datasets, tmp_path):
    m = write_map(tmp_path / "m.csv", ["input_video_id,reference_video_id", "a,src"])
    out = str(tmp_path / "out")
    with pytest.raises(pipeline.PipelineError, match="--reference-map needs --reference"):
        pipeline.prepare(datasets["in"], out, "r", config.Config(), None, m)
    pipeline.prepare(datasets["in"], out, "r", config.Config())  # started without references
    with pytest.raises(pipeline.PipelineError, match=r"--reference: \(not set\) -> \".*ref\".*another --run-id"):
        pipeline.prepare(datasets["in"], out, "r", config.Config(), datasets["ref"], m)
    pipeline.prepare(datasets["in"], out, "s", config.Config(), datasets["ref"], m)
    with pytest.raises(pipeline.PipelineError, match="references.settings.reference.steps: 400 -> 50"):
        pipeline.prepare(datasets["in"], out, "s", config.load(None, ["reference.steps=50"]), datasets["ref"], m)
    pipeline.prepare(datasets["in"], out, "s", config.load(None, ["reference.cache_size=9"]), datasets["ref"], m)  # execution only


def test_split_holds_back_the_last_frames_in_time():
    cfg = config.load(None, ["reference.frame_stride=2", "reference.max_frames=10", "reference.val_share=0.2"])
    train, val = finetune.split_frames(list(range(100)), cfg)
    assert len(train) == 8 and len(val) == 2 and max(train) < min(val) and all(i % 2 == 0 for i in train | val)


# ---------------------------------------------------------------- the bounded cache (fast, real TF)


@pytest.fixture(scope="module")
def identity_models(tmp_path_factory) -> tuple[list[str], list[str]]:
    """Six small native models (one per identity) with distinct weights, and the base overrides."""
    from raymouth.models.edsr import build_edsr_native, edsr_native_arch
    from raymouth.models.weights import save_model

    d = tmp_path_factory.mktemp("ids")
    arch = {"num_blocks": 1, "num_filters": 8}
    paths = []
    for k in range(6):
        model = build_edsr_native(**arch)
        rng = np.random.default_rng(k)
        model.set_weights([rng.normal(0, 0.01, w.shape).astype(np.float32) for w in model.get_weights()])
        paths.append(str(d / f"id{k}.keras"))
        save_model(model, paths[-1], edsr_native_arch(**arch), data=f"identity {k} (test)")
    base = [f"enhance.native_weights={paths[0]}", "enhance.native.num_blocks=1", "enhance.native.num_filters=8", "reference.cache_size=2"]
    return paths, base


def test_the_per_identity_cache_stays_bounded(identity_models):
    from raymouth.restore.chain_cache import SHIPPED, ChainCache

    paths, base = identity_models
    cache = ChainCache(config.load(None, base), size=2)
    versions = {p: cache.get(p).model_version for p in paths[1:]}  # five identities
    assert len(cache.chains) == 2 and cache.loads == 5 and len(set(versions.values())) == 5
    assert cache.get(paths[5]) is cache.chains[paths[5]] and cache.loads == 5  # recently used: no reload
    cache.get(paths[1])  # evicted long ago: loaded again, and the least recently used goes
    assert cache.loads == 6 and list(cache.chains) == [paths[5], paths[1]]
    assert cache.get(SHIPPED) is cache.shipped and len(cache.chains) == 2


def test_enhance_stage_groups_rows_by_identity_and_names_each_rows_model(identity_models):
    from raymouth.data.sample import sample_crops
    from raymouth.job.stages import EnhanceStage

    paths, base = identity_models
    models = {f"v{k}": paths[k] for k in range(1, 6)}  # v0 has none: the shipped model
    stage = EnhanceStage(config.load(None, base), models)
    vids = [f"v{k % 6}" for k in range(18)]
    crops = sample_crops(18, min_side=24, max_side=48)
    windows = np.empty(18, dtype=object)
    windows[:] = crops[:17] + [np.zeros((0, 0, 3), np.uint8)]  # each window is just its mouth here
    batch = {
        "video_id": np.array(vids, dtype=object),
        "status": np.array([schema.STATUS_OK] * 17 + [schema.STATUS_NO_FACE], dtype=object),
        "window": windows,
        "window_box": np.array([(0, 0, c.shape[1], c.shape[0]) for c in crops[:17]] + [(0, 0, 0, 0)], np.int32),
        "mouth_box": np.array([(0, 0, c.shape[1], c.shape[0]) for c in crops[:17]] + [(0, 0, 0, 0)], np.int32),
    }
    out = stage(batch)
    want = {vid: stage.chains.get(models.get(vid, "")).model_version for vid in set(vids)}
    assert list(out["model_version"]) == [want[v] for v in vids]
    assert want["v0"] == stage.model_version and len(set(want.values())) == 6
    assert len(stage.chains.chains) <= 2  # five identities through a cache of two
    for i in range(17):
        chain = stage.chains.get(models.get(vids[i], ""))
        np.testing.assert_array_equal(out["enhanced_crop"][i], chain([crops[i]])[0])
    assert out["enhanced_crop"][17].size == 0  # not ok: no crop


# ---------------------------------------------------------------- end to end (slow)


def read_table(run_dir: Path, table: str = "metrics") -> pa.Table:
    return pa.concat_tables([pq.read_table(f) for f in sorted((run_dir / table).glob("*.parquet"))])


@pytest.mark.slow
def test_two_inputs_share_one_fine_tune_and_others_fall_back(datasets, ray_local, tmp_path):
    m = write_map(tmp_path / "m.csv", ["input_video_id,reference_video_id", "a,src", "b,src"])
    cfg = tiny_cfg()
    summary = pipeline.run(datasets["in"], str(tmp_path / "out"), "r", cfg, ref_uri=datasets["ref"], ref_map=m)
    run = tmp_path / "out" / "r"
    assert [p.name for p in (run / "models").iterdir()] == ["src"]  # one fine-tune for two inputs
    result = json.loads((run / "models" / "src" / "result.json").read_text())
    assert result["inputs"] == ["a", "b"] and result["steps"] == 6 and result["val_mouths"] >= 1
    assert (run / "models" / "src" / "edsr_native.json").is_file()
    refs = summary["references"]
    assert refs["count"] == 1 and refs["by_reference"]["src"]["seconds"] > 0
    table = read_table(run)
    versions: dict[str, set[str]] = {}
    for vid, version in zip(table.column("video_id").to_pylist(), table.column("model_version").to_pylist()):
        versions.setdefault(vid, set()).add(version)
    shipped = shipped_versions(cfg)
    assert versions["c"] <= shipped  # no reference: the shipped model (at each mouth's detail level)
    tuned = {result["model_version"]}
    assert versions["a"] | versions["b"] <= (tuned if result["kept"] else shipped)
    assert not result["kept"] or versions["a"] == versions["b"] == tuned
    assert table.num_rows == 24


@pytest.mark.slow
def test_a_fine_tune_that_does_not_beat_the_shipped_model_is_not_used(datasets, ray_local, tmp_path):
    m = write_map(tmp_path / "m.csv", ["input_video_id,reference_video_id", "a,src"])
    # the weights cannot move from the shipped fidelity weights: no better than the shipped chain
    cfg = tiny_cfg("reference.learning_rate=1e-12", "reference.start_detail=0")
    pipeline.run(datasets["in"], str(tmp_path / "out"), "r", cfg, ref_uri=datasets["ref"], ref_map=m)
    run = tmp_path / "out" / "r"
    result = json.loads((run / "models" / "src" / "result.json").read_text())
    assert result["kept"] is False and result["gain_db"] <= 0 and "no better" in result["reason"]
    table = read_table(run)
    assert set(table.column("model_version").to_pylist()) <= shipped_versions(cfg)


def test_the_fine_tune_weighs_detail_by_its_own_setting():
    """The fine-tunes' loss takes reference.detail_loss_weight, not the generic training's."""
    from raymouth.restore.chain import build_native

    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(4)]
    for weight in (0.0, 0.7):
        cfg = tiny_cfg(f"reference.detail_loss_weight={weight}", "train.detail_loss_weight=0.3")
        model, _ = build_native(cfg.enhance)
        r = finetune.fine_tune(model, crops, "src", cfg, deadline=time.monotonic() + 120)
        assert r["steps"] == cfg.reference.steps and np.isfinite(r["loss"])
        assert model.loss.detail_weight == pytest.approx(weight)


def test_the_fine_tune_is_a_step_count_and_its_time_guard_fails_loudly():
    """A fine-tune makes all its reference.steps or stops the run with one line: never a model
    whose training length depended on how busy the machine was."""
    from raymouth.restore.chain import build_native

    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(4)]
    cfg = tiny_cfg()
    model, _ = build_native(cfg.enhance)
    with pytest.raises(finetune.FineTuneTimeout) as err:
        finetune.fine_tune(model, crops, "src", cfg, deadline=time.monotonic() + 0.05)
    message = str(err.value)
    assert "\n" not in message and f"reference.steps={cfg.reference.steps}" in message and "reference.max_minutes" in message


@pytest.mark.slow
def test_resume_after_the_fine_tunes_redoes_none(datasets, tmp_path):
    """SIGKILL the driver (and its local Ray) once the fine-tune has finished, re-run: the
    fine-tune is reused, not redone, and the run completes."""
    m = write_map(tmp_path / "m.csv", ["input_video_id,reference_video_id", "a,src", "b,src"])
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = str(REPO)
    sets = [a for s in TINY for a in ("--set", s)]
    cmd = [sys.executable, "-m", "raymouth.cli", "enhance", datasets["in"], "--out", str(tmp_path / "out"), "--run-id", "r",
           "--reference", datasets["ref"], "--reference-map", m, *sets]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result = tmp_path / "out" / "r" / "models" / "src" / "result.json"
    deadline = time.time() + 400
    while time.time() < deadline and not result.exists():
        assert proc.poll() is None, "the run ended before the fine-tune finished"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in result.parent.iterdir()}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "1 fine-tunes already finished, reused" in done.stdout and "fine-tuning" not in done.stdout
    assert {p.name: p.stat().st_mtime_ns for p in result.parent.iterdir()} == before  # nothing rewritten
    summary = json.loads((tmp_path / "out" / "r" / "summary.json").read_text())
    assert summary["rows"] == 24 and summary["references"]["count"] == 1


def test_a_fine_tuned_model_on_s3_loads_in_the_cache(identity_models, s3_env):
    from raymouth.restore.chain import EnhanceChain, with_native_weights
    from raymouth.restore.chain_cache import ChainCache

    paths, base = identity_models
    bucket = s3_env.make_bucket()
    uri = f"s3://{bucket}/run/models/src/edsr_native.keras"
    for src, dst in ((paths[3], uri), (paths[3][: -len(".keras")] + ".json", uri[: -len(".keras")] + ".json")):
        storage.write_bytes(storage.resolve(dst), Path(src).read_bytes())
    cfg = config.load(None, base)
    chain = ChainCache(cfg, size=1).get(uri)
    assert chain.model_version == EnhanceChain(with_native_weights(cfg, paths[3])).model_version


@pytest.mark.parametrize("start, own_weights", [(0.0, False), (1.0, False), (1.0, True)])
def test_a_fine_tune_starts_where_reference_start_detail_says(tmp_path, start, own_weights):
    """``reference.start_detail``: 0 starts from the fidelity weights, 1 from the detail weights;
    with a learning rate too small to move them, the saved model is that start. Your own native
    weights without detail weights of their lineage start from themselves, never from a blend
    with the packaged detail weights."""
    import dataclasses
    import shutil

    from raymouth.models.weights import load_checked
    from raymouth.restore.chain import WEIGHTS_DIR, build_native

    rng = np.random.default_rng(2)
    crops = [(i, rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)) for i in range(4)]
    own = []
    if own_weights:  # the packaged fidelity weights under another name: a user's own file
        for suffix in (".keras", ".json"):
            shutil.copy(WEIGHTS_DIR / f"edsr_native{suffix}", tmp_path / f"mine{suffix}")
        own = [f"enhance.native_weights={tmp_path / 'mine.keras'}"]
    cfg = tiny_cfg(f"reference.start_detail={start}", "reference.learning_rate=1e-12", *own)
    out = storage.resolve(str(tmp_path / "m"), cfg.storage)
    r = finetune.tune_and_validate(crops, crops[:2], "data", "src", out, cfg, deadline=time.monotonic() + 300)
    saved, manifest = load_checked(tmp_path / "m" / finetune.MODEL)
    fidelity, _ = build_native(cfg.enhance)
    detail, _ = build_native(dataclasses.replace(cfg.enhance, native_weights="", detail=1.0))
    from_detail = start and not own_weights
    near = lambda a, b: max(float(np.abs(x - y).max()) for x, y in zip(a.get_weights(), b.get_weights())) < 1e-4  # noqa: E731
    assert near(saved, detail if from_detail else fidelity) and not near(saved, fidelity if from_detail else detail)
    assert ("+detail1@" in manifest["metrics"]["fine_tuned_from"]) == bool(from_detail) and r["steps"] == cfg.reference.steps
