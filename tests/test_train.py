"""Ray Train on mouth crops: real local Ray cluster, real TensorFlow, two short fixture clips.

Slow tests share one small frames dataset (two clips, every 6th frame) and tiny models, so the
file stays within a few minutes on a 2-core machine.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from raymouth import config
from tests.conftest import fixture_path

TRAIN_CLIP, VAL_CLIP = "liveportrait_d5", "retalking_face_5"


def tiny_cfg(*extra: str) -> config.Config:
    """A tiny EDSR, few pairs, small batches: enough to see training happen."""
    return config.load(overrides=[
        "enhance.chain=square",
        "enhance.use_autoencoder=true",
        "enhance.edsr.num_blocks=2",
        "enhance.edsr.num_filters=16",
        "enhance.edsr_weights=random",
        "train.frame_stride=6",
        "train.pairs_per_frame=2",
        "train.batch_size=8",
        "train.learning_rate=0.002",
        f"train.val_video_ids={VAL_CLIP}",
        "train.max_val_pairs=12",
        "train.cpus_per_worker=0.5",
        "train.max_failures=0",
        *extra,
    ])


def ingest_clips(out: str) -> None:
    from raymouth.data.ingest import ingest

    clips = [str(fixture_path(f"video/{name}.mp4")) for name in (TRAIN_CLIP, VAL_CLIP)]
    ingest(clips, out, config.Config(), use_ray=False)


@pytest.fixture(scope="module")
def frames_local(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("frames"))
    ingest_clips(out)
    return out


# ---------------------------------------------------------------- pairs (fast)


# ---------------------------------------------------------------- bad input (before training)


def test_too_many_workers_is_refused_before_any_data_work(ray_local, frames_local, tmp_path):
    from raymouth.train.driver import TrainError, train

    with pytest.raises(TrainError, match=r"--workers 5 x train.cpus_per_worker 0.5 = 2.5 CPUs, but the cluster has 2"):
        train("edsr", frames_local, str(tmp_path / "out"), tiny_cfg().with_(train__workers=5))
    assert not any((tmp_path / "out").glob("*/checkpoint_*"))


def test_empty_dataset_is_refused(ray_local, tmp_path):
    from raymouth.train.driver import TrainError, train

    (tmp_path / "data").mkdir()
    with pytest.raises(TrainError, match="empty dataset"):
        train("edsr", str(tmp_path / "data"), str(tmp_path / "out"), tiny_cfg().with_(train__workers=1))
    with pytest.raises(TrainError, match="no such file"):
        train("edsr", str(tmp_path / "missing"), str(tmp_path / "out"), tiny_cfg().with_(train__workers=1))
    with pytest.raises(TrainError, match="model must be one of"):
        train("gan", str(tmp_path / "data"), str(tmp_path / "out"), tiny_cfg().with_(train__workers=1))


@pytest.mark.slow
def test_dataset_without_faces_is_refused(ray_local, tmp_path):
    from raymouth.data.ingest import ingest
    from raymouth.train.driver import TrainError, train

    for name in ("dogs_a", "dogs_b"):
        folder = tmp_path / name
        folder.mkdir()
        shutil.copy(fixture_path("images/dlib_dogs.jpg"), folder / "0001.jpg")
    ingest([str(tmp_path / "dogs_a"), str(tmp_path / "dogs_b")], str(tmp_path / "data"), config.Config(), use_ray=False)
    cfg = tiny_cfg("train.val_video_ids=", "train.val_videos=1")
    with pytest.raises(TrainError, match="no detectable faces"):
        train("edsr", str(tmp_path / "data"), str(tmp_path / "out"), cfg.with_(train__workers=1))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("checkpoint_*"))


# ---------------------------------------------------------------- two workers, S3


@pytest.mark.slow
def test_two_workers_train_one_model_with_checkpoints_on_s3(ray_local, s3_env, tmp_path):
    from raymouth.train.driver import train

    bucket = s3_env.make_bucket()
    data_uri, out_uri = f"s3://{bucket}/frames", f"s3://{bucket}/runs"
    ingest_clips(data_uri)
    summary = train("edsr", data_uri, out_uri, tiny_cfg().with_(train__workers=2, train__epochs=3), run_id="two")

    history = summary["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["loss"] < history[0]["loss"]
    for key in ("val_psnr", "val_ssim", "val_psnr_bicubic", "val_ssim_bicubic"):
        assert all(np.isfinite(h[key]) for h in history), key

    keys = [o["Key"] for o in s3_env.client().list_objects_v2(Bucket=bucket, Prefix="runs/two/")["Contents"]]
    assert any(k.startswith("runs/two/checkpoint_") and k.endswith("/model.keras") for k in keys), keys
    assert any(k.endswith("/state.json") for k in keys)
    assert "runs/two/model/edsr_x2.keras" in keys and "runs/two/model/edsr_x2.json" in keys
    manifest = json.loads(s3_env.client().get_object(Bucket=bucket, Key="runs/two/model/edsr_x2.json")["Body"].read())
    assert manifest["arch"]["num_blocks"] == 2 and manifest["data"] == data_uri
    assert manifest["metrics"]["data"]["val_videos"] == [VAL_CLIP]
    assert [e["epoch"] for e in manifest["metrics"]["epochs"]] == [1, 2, 3]

    ranks = [json.loads(s3_env.client().get_object(Bucket=bucket, Key=f"runs/two/ranks/rank-{r}.json")["Body"].read()) for r in (0, 1)]
    shard0, shard1 = set(ranks[0]["keys"]), set(ranks[1]["keys"])
    assert shard0 and shard1 and shard0.isdisjoint(shard1)  # each worker saw its own shard
    assert all(k.startswith(f"{TRAIN_CLIP}:") for k in shard0 | shard1)  # never the held-out clip
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]  # gradients were averaged


# ---------------------------------------------------------------- resume, then the chain


@pytest.fixture(scope="module")
def resumed_run(ray_local, frames_local, tmp_path_factory):
    """An autoencoder run killed after its first checkpoint, then restarted with the same id."""
    from raymouth.train.driver import train

    out = str(tmp_path_factory.mktemp("runs"))
    base = ("enhance.sr_backend=bicubic", "train.batch_size=8")
    first_error = None
    try:
        train("autoencoder", frames_local, out, tiny_cfg(*base, "train.fail_after_epoch=1").with_(train__workers=1, train__epochs=3), run_id="r")
    except Exception as exc:  # noqa: BLE001 - the injected failure, wrapped by Ray Train
        first_error = exc
    checkpoints_after_failure = sorted(p.name for p in Path(out, "r").glob("checkpoint_*") if p.is_dir())
    first_state = json.loads(next(Path(out, "r").glob("checkpoint_*/state.json")).read_text())
    summary = train("autoencoder", frames_local, out, tiny_cfg(*base).with_(train__workers=1, train__epochs=3), run_id="r")
    return {"error": first_error, "checkpoints": checkpoints_after_failure, "first": first_state, "summary": summary, "out": out}


@pytest.mark.slow
def test_restart_with_same_run_id_resumes_from_latest_checkpoint(resumed_run):
    assert resumed_run["error"] is not None and "fail_after_epoch" in str(resumed_run["error"])
    assert len(resumed_run["checkpoints"]) == 1 and resumed_run["first"]["epoch"] == 1
    history = resumed_run["summary"]["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[0] == resumed_run["first"]["history"][0]  # epoch 1 was not redone
    rank0 = json.loads(Path(resumed_run["out"], "r", "ranks", "rank-0.json").read_text())
    assert rank0["start_epoch"] == 1
    assert "val_psnr_input" in history[-1]  # the AE is scored against its own input too


@pytest.mark.slow
def test_trained_weights_load_in_the_enhance_chain_and_change_its_output(resumed_run):
    from raymouth.data.sample import sample_crops
    from raymouth.restore.chain import EnhanceChain

    weights = resumed_run["summary"]["weights_uri"]
    assert Path(weights).is_file() and Path(weights).with_suffix(".json").is_file()
    crops = sample_crops(4)
    base = ["enhance.chain=square", "enhance.use_autoencoder=true", "enhance.sr_backend=bicubic"]
    trained = EnhanceChain(config.load(overrides=[*base, f"enhance.autoencoder_weights={weights}"]))
    untrained = EnhanceChain(config.load(overrides=[*base, "enhance.autoencoder_weights=random"]))
    assert resumed_run["summary"]["sha256"][:12] in trained.model_version
    out_t, out_u = trained(crops), untrained(crops)
    assert all(a.shape == c.shape for a, c in zip(out_t, crops))
    assert any(not np.array_equal(a, b) for a, b in zip(out_t, out_u))


# ---------------------------------------------------------------- the native model


def test_native_batches_are_seeded_fresh_patches():
    from raymouth.train.fit import native_batches

    cfg = config.load(overrides=["train.batch_size=4", "train.patch_px=32"])
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (40 + 7 * i, 60, 3), dtype=np.uint8) for i in range(3)]
    a, b = native_batches(crops, cfg, seed=5), native_batches(crops, cfg, seed=5)
    (x1, y1), (x2, y2) = next(a), next(b)
    assert x1.shape == y1.shape == (4, 32, 32, 3) and x1.dtype == np.float32 and 0 <= x1.min() and x1.max() <= 1
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    x3, _ = next(a)
    assert not np.array_equal(x1, x3)  # the next step draws new pairs
    assert not np.array_equal(next(native_batches(crops, cfg, seed=6))[0], x1)


@pytest.mark.slow
def test_native_training_writes_a_model_the_chain_loads(ray_local, frames_local, tmp_path):
    from raymouth.data.sample import sample_crops
    from raymouth.restore.chain import EnhanceChain
    from raymouth.train.driver import train

    arch = ("enhance.native.num_blocks=2", "enhance.native.num_filters=16")
    cfg = tiny_cfg(*arch, "train.steps_per_epoch=30", "train.patch_px=32", "train.learning_rate=0.001")
    summary = train("native", frames_local, str(tmp_path / "runs"), cfg.with_(train__workers=1, train__epochs=2), run_id="n")
    history = summary["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[0]["lr"] > history[1]["lr"]  # cosine decay
    for key in ("val_psnr", "val_psnr_input", "val_psnr_clean"):
        assert all(np.isfinite(h[key]) for h in history), key
    weights = Path(summary["weights_uri"])
    assert weights.name == "edsr_native.keras" and weights.with_suffix(".json").is_file()
    manifest = json.loads(weights.with_suffix(".json").read_text())
    assert manifest["arch"]["name"] == "edsr_native" and manifest["metrics"]["data"]["val_videos"] == [VAL_CLIP]
    chain = EnhanceChain(config.load(overrides=["enhance.chain=native", *arch, f"enhance.native_weights={weights}"]))
    assert summary["sha256"][:12] in chain.model_version
    crops = sample_crops(3)
    out = chain(crops)
    assert [o.shape for o in out] == [c.shape for c in crops]
    assert any(not np.array_equal(o, c) for o, c in zip(out, crops))  # trained: no longer the identity


def test_init_weights_that_are_not_a_file_fail_before_any_cluster_work(tmp_path):
    from raymouth.train.driver import TrainError, train

    cfg = tiny_cfg(f"train.init_weights={tmp_path / 'missing.keras'}")
    with pytest.raises(TrainError, match="train.init_weights: .*missing.keras is not a file"):
        train("native", str(tmp_path / "no-data"), str(tmp_path / "runs"), cfg.with_(train__workers=1, train__epochs=1))


@pytest.mark.slow
def test_a_fine_tune_starts_from_its_init_weights(ray_local, frames_local, tmp_path, monkeypatch):
    from raymouth.models.edsr import build_edsr_native
    from raymouth.models.weights import load_model
    from raymouth.train.driver import train

    arch = ("enhance.native.num_blocks=2", "enhance.native.num_filters=16")
    start = build_edsr_native(num_blocks=2, num_filters=16)
    rng = np.random.default_rng(0)
    start.set_weights([rng.normal(0, 0.05, w.shape).astype(np.float32) for w in start.get_weights()])
    start.save(tmp_path / "start.keras")
    monkeypatch.chdir(tmp_path)  # named relative to the caller's folder: Ray Train's workers run elsewhere
    # a rate so small that one step cannot move the weights visibly: what comes out is where it began
    cfg = tiny_cfg(*arch, "train.steps_per_epoch=1", "train.patch_px=32", "train.learning_rate=1e-9",
                   "train.init_weights=start.keras")
    summary = train("native", frames_local, str(tmp_path / "runs"), cfg.with_(train__workers=1, train__epochs=1), run_id="ft")
    tuned = load_model(summary["weights_uri"]).get_weights()
    for a, b in zip(tuned, start.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
