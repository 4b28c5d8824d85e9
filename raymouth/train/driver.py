"""Training the native model, EDSR or the autoencoder on mouth crops with Ray Train (``TensorflowTrainer``).

Data (Ray Data, on the driver, before any worker starts): frames Parquet -> every
``frame_stride``-th frame -> ``Locate`` (the inference stage itself) -> materialised. For the
native model that is the clean crops, and every step draws fresh blind pairs from them in the
worker (``train.fit``, the fit step the per-identity fine-tune shares: an hour of training never
repeats a pair; the crops are held in the worker, a few hundred MB for the fixtures' 5,400). For the first
chain's models it is ``pairs.training_pair`` (degrade + the chain's own preprocessing) with a
fixed seed per (video, frame, pair). The autoencoder's inputs additionally go through ``EnhanceChain.ae_inputs`` (the
configured EDSR), exactly what it sees at inference. Validation holds out whole videos.

Training (each worker): ``MultiWorkerMirroredStrategy`` + tf_keras ``fit`` on its own shard
(``get_dataset_shard("train")``); after every epoch all ranks save the model (a collective), rank
0 reports it as the checkpoint with the epoch and the metrics so far. Re-running with the same
run id resumes from the latest checkpoint. The final model is written with its manifest
(``models.weights.save_model``) under ``<out>/<run_id>/model/``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from raymouth import models
from raymouth.config import Config
from raymouth.data import storage
from raymouth.train.data import TrainError, check_cluster, frame_files, pair_dataset, split_videos
from raymouth.train.worker import CHECKPOINT_MODEL, CHECKPOINT_STATE, init_weights_path, train_loop

MODELS = models.KINDS


# ---------------------------------------------------------------- driver


def train(
    model: str,
    data_uri: str,
    out_uri: str,
    cfg: Config | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Train ``model`` on the frames dataset at ``data_uri``; checkpoints and the final model go
    to ``out_uri/<run_id>/``. Re-running with the same run id resumes. Returns a summary.
    Workers, GPUs and epochs are ``cfg.train``'s (one way to set each)."""
    from raymouth.cluster import ensure_ray

    cfg = cfg or Config()
    if model not in MODELS:
        raise TrainError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if storage.is_s3(data_uri) or storage.is_s3(out_uri):
        cfg = dataclasses.replace(cfg, storage=storage.for_workers(cfg.storage))
    workers, gpus, epochs = cfg.train.workers, cfg.train.gpus_per_worker, cfg.train.epochs
    run_id = run_id or f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    cfg = _checked_init_weights(model, cfg)
    by_video = frame_files(data_uri, cfg)
    train_ids, val_ids = split_videos(list(by_video), cfg)
    try:
        out = storage.check_writable(out_uri, cfg.storage)
    except storage.StorageError as exc:
        raise TrainError(str(exc)) from None
    ensure_ray(worker_output=True)  # rank 0 prints one line per epoch
    check_cluster(workers, cfg.train.cpus_per_worker, gpus)
    t0 = time.perf_counter()
    datasets = _datasets(model, by_video, train_ids, val_ids, cfg, data_uri)
    counts = {name: ds.count() for name, ds in datasets.items()}
    _check_counts(counts, data_uri, workers, cfg)
    print(f"train: {counts['train']} training pairs from {len(train_ids)} videos, {counts['val']} validation pairs "
          f"from {', '.join(val_ids)} ({time.perf_counter() - t0:.0f} s to build)", flush=True)
    result = _fit(model, cfg, datasets, out, run_id, workers, gpus, epochs)
    summary = _finish(model, cfg, result, out, run_id, data_uri, counts, train_ids, val_ids)
    summary["prepare_s"] = round(time.perf_counter() - t0, 1)
    return summary


def _checked_init_weights(model: str, cfg: Config) -> Config:
    """``cfg`` with ``train.init_weights`` as an absolute path: Ray Train runs its workers in their
    own working folder, where a path relative to the caller's would name nothing."""
    if not cfg.train.init_weights:
        return cfg
    path = init_weights_path(model, cfg)
    if not path.is_file():
        raise TrainError(f"train.init_weights: {path} is not a file")
    return cfg if cfg.train.init_weights == "shipped" else cfg.with_(train__init_weights=str(path.resolve()))


def _datasets(model: str, by_video: dict[str, list[str]], train_ids: list[str], val_ids: list[str], cfg: Config, data_uri: str):
    fs = storage.resolve(data_uri, cfg.storage).fs
    train_files = [f for v in train_ids for f in by_video[v]]
    val_files = [f for v in val_ids for f in by_video[v]]
    return {"train": pair_dataset(train_files, fs, cfg, model, False), "val": pair_dataset(val_files, fs, cfg, model, True)}


def _check_counts(counts: dict[str, int], data_uri: str, workers: int, cfg: Config) -> None:
    if counts["train"] == 0 and counts["val"] == 0:
        raise TrainError(f"{data_uri}: no detectable faces (no mouth crops in any frame); nothing to train on")
    if counts["train"] == 0:
        raise TrainError(f"{data_uri}: no detectable faces in the training videos")
    if counts["val"] == 0:
        raise TrainError(f"{data_uri}: no detectable faces in the validation videos; choose others with train.val_video_ids")
    need = workers * cfg.train.batch_size
    if counts["train"] < need:
        raise TrainError(f"only {counts['train']} training pairs: fewer than one batch per worker ({workers} x {cfg.train.batch_size})")


def _fit(model: str, cfg: Config, datasets: dict, out: storage.Location, run_id: str, workers: int, gpus: float, epochs: int):
    """Run (or resume) the TensorflowTrainer; the run lives at ``out/<run_id>``."""
    import ray.train
    from ray.train.tensorflow import TensorflowTrainer

    resources = {"CPU": cfg.train.cpus_per_worker}
    if gpus:
        resources["GPU"] = gpus
    trainer = TensorflowTrainer(
        train_loop,
        train_loop_config={"cfg": cfg, "model": model, "epochs": epochs, "run_uri": out.join(run_id).uri},
        scaling_config=ray.train.ScalingConfig(num_workers=workers, use_gpu=bool(gpus), resources_per_worker=resources),
        run_config=ray.train.RunConfig(
            name=run_id, storage_path=out.path, storage_filesystem=out.fs,
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
            failure_config=ray.train.FailureConfig(max_failures=cfg.train.max_failures),
        ),
        datasets=datasets,
        dataset_config=ray.train.DataConfig(datasets_to_split=["train"]),
    )
    return trainer.fit()


def _finish(model: str, cfg: Config, result, out: storage.Location, run_id: str, data_uri: str, counts: dict, train_ids: list[str], val_ids: list[str]) -> dict[str, Any]:
    """Write the final model + manifest from the last checkpoint; return the run summary."""
    from raymouth.models import edsr  # noqa: F401  (registers EDSR's layers)
    from raymouth.models.kerasapi import keras

    if result.checkpoint is None:
        raise TrainError(f"run {run_id} finished without a checkpoint")
    with result.checkpoint.as_directory() as d:
        state = json.loads(Path(d, CHECKPOINT_STATE).read_text())
        net = keras.models.load_model(Path(d, CHECKPOINT_MODEL), compile=False)
    name = {"edsr": f"edsr_x{cfg.enhance.edsr.scale}.keras", "native": "edsr_native.keras"}.get(model, "autoencoder.keras")
    info = {
        "epochs": state["history"],
        "final": state["history"][-1] if state["history"] else {},
        "data": {"uri": data_uri, "train_videos": train_ids, "val_videos": val_ids, "train_pairs": counts["train"], "val_pairs": counts["val"]},
        "train": dataclasses.asdict(cfg.train),
        "degrade": dataclasses.asdict(cfg.degrade),
        "enhance": {k: v for k, v in dataclasses.asdict(cfg.enhance).items() if k in ("sr_input_px", "ae_px", "edsr_weights", "sharpen")},
        "run_id": run_id,
    }
    model_loc = out.join(run_id, "model", name)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = _save_final(net, Path(tmp, name), models.arch(model, cfg), data_uri, info, f"{Path(name).stem}-{run_id}")
        for fname in (name, Path(name).with_suffix(".json").name):
            storage.write_bytes(out.join(run_id, "model", fname), Path(tmp, fname).read_bytes())
    return {
        "model": model,
        "run_id": run_id,
        "run_uri": out.join(run_id).uri,
        "weights_uri": model_loc.uri,
        "checkpoint": result.checkpoint.path,
        "epochs_done": state["epoch"],
        "history": state["history"],
        "sha256": manifest["sha256"],
        "counts": counts,
    }


def _save_final(net, path: Path, arch: dict, data_uri: str, info: dict, version: str) -> dict:
    """The final model through ``weights.save_model`` (the one manifest format)."""
    from raymouth.models.weights import save_model

    return save_model(net, path, arch, data=data_uri, metrics=info, version=version)


# ---------------------------------------------------------------- command line


def add_train_parser(subparsers) -> argparse.ArgumentParser:
    """The ``train`` subcommand (wired into raymouth.cli and jobs/train.py)."""
    p = subparsers.add_parser("train", help="train EDSR or the autoencoder on a frames dataset with Ray Train")
    p.add_argument("model", choices=MODELS)
    p.add_argument("--data", required=True, help="frames dataset URI (from `raymouth ingest`)")
    p.add_argument("--out", required=True, help="where runs go: checkpoints and the final model under OUT/<run_id>/")
    p.add_argument("--workers", type=int, default=None, help="training workers (default train.workers)")
    p.add_argument("--gpus-per-worker", type=float, default=None, help="GPUs per worker (default train.gpus_per_worker)")
    p.add_argument("--epochs", type=int, default=None, help="total epochs (default train.epochs); a resumed run continues to it")
    p.add_argument("--run-id", default=None, help="run name; re-running the same id resumes from its latest checkpoint")
    p.add_argument("--config", help="YAML config file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override one setting (repeatable)")
    return p


def cmd_train(args: argparse.Namespace, cfg: Config) -> int:
    flags = {"train__workers": args.workers, "train__gpus_per_worker": args.gpus_per_worker, "train__epochs": args.epochs}
    cfg = cfg.with_(**{k: v for k, v in flags.items() if v is not None})  # the flags are shorthands for train.*
    summary = train(args.model, args.data, args.out, cfg, args.run_id)
    last = summary["history"][-1] if summary["history"] else {}
    if summary["model"] == "native":
        scores = (f"val PSNR {last.get('val_psnr')} dB (degraded input {last.get('val_psnr_input')}), "
                  f"clean mouths come back at {last.get('val_psnr_clean')} dB")
    else:
        scores = (f"val PSNR {last.get('val_psnr')} dB (bicubic {last.get('val_psnr_bicubic')}), "
                  f"SSIM {last.get('val_ssim')} (bicubic {last.get('val_ssim_bicubic')})")
    print(f"train: {summary['model']} run {summary['run_id']}: {summary['epochs_done']} epochs, {scores} -> {summary['weights_uri']}", flush=True)
    return 0
