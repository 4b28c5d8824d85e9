"""Training the native model, EDSR or the autoencoder on mouth crops with Ray Train (``TensorflowTrainer``).

Data (Ray Data, on the driver, before any worker starts): frames Parquet -> every
``frame_stride``-th frame -> ``Locate`` (the inference stage itself) -> materialised. For the
native model that is the clean crops, and every step draws fresh blind pairs from them in the
worker (``native_fit``, the fit step the per-identity fine-tune shares: an hour of training never
repeats a pair; the crops are held in the worker, a few hundred MB for the fixtures' 5,400). For the first
chain's models it is ``chain.training_pair`` (degrade + the chain's own preprocessing) with a
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
import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from raymouth import codec, storage
from raymouth.config import Config
from raymouth.errors import UserError
from raymouth.schema import STATUS_OK

MODELS = ("autoencoder", "edsr", "native")
LOSS = "mean_absolute_error"  # L1, as EXPERIMENTS.md
CHECKPOINT_MODEL = "model.keras"
CHECKPOINT_STATE = "state.json"


class TrainError(UserError, RuntimeError):
    """Bad training input or setup, found before training starts; the message is one line."""


# ---------------------------------------------------------------- pairs (pure numpy, no Ray)


def pair_seed(base: int, video_id: str, frame_index: int, k: int) -> int:
    """A fixed degradation seed per (video, frame, pair): the same pairs on every run and worker."""
    digest = hashlib.sha256(f"{base}:{video_id}:{int(frame_index)}:{k}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def keep_stride(batch: dict[str, np.ndarray], stride: int) -> dict[str, np.ndarray]:
    """Every ``stride``-th frame of each video (neighbouring frames are near-duplicates)."""
    keep = np.asarray(batch["frame_index"]) % max(1, stride) == 0
    return {k: np.asarray(v)[keep] for k, v in batch.items()}


def make_pairs(batch: dict[str, np.ndarray], cfg: Config, pairs_per_frame: int, validation: bool = False) -> dict[str, np.ndarray]:
    """Located frames -> training pairs: ``key``, ``video_id``, ``sr_input`` and ``target`` (uint8).

    Pair ``k`` of a frame degrades the clean crop with ``pair_seed(seed, video, frame, k)``; odd
    ``k`` use the mirrored crop when ``train.flip``. Rows whose status is not ok are dropped.
    """
    from raymouth.chain import sr_input_size, training_pair

    s, px = sr_input_size(cfg), cfg.enhance.ae_px
    keys, vids, xs, ys = [], [], [], []
    for vid, idx, status, data in zip(batch["video_id"], batch["frame_index"], batch["status"], batch["crop"]):
        if status != STATUS_OK:
            continue
        crop, _ = codec.decode(bytes(data))
        if crop is None:
            continue
        for k in range(pairs_per_frame):
            clean = np.ascontiguousarray(crop[:, ::-1]) if (k % 2 and cfg.train.flip and not validation) else crop
            x, y = training_pair(clean, pair_seed(cfg.train.seed, str(vid), int(idx), k), cfg)
            keys.append(f"{vid}:{int(idx)}:{k}")
            vids.append(str(vid))
            xs.append(x)
            ys.append(y)
    return {
        "key": np.array(keys, dtype=object),
        "video_id": np.array(vids, dtype=object),
        "sr_input": np.stack(xs) if xs else np.zeros((0, s, s, 3), np.uint8),
        "target": np.stack(ys) if ys else np.zeros((0, px, px, 3), np.uint8),
    }


def clean_crops(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Located frames -> the clean mouth crops (PNG bytes) of the ok rows: the native model's
    data. Its pairs are drawn afresh every step in the worker (``native_fit.native_batches``)."""
    ok = [i for i, status in enumerate(batch["status"]) if status == STATUS_OK]
    return {
        "key": np.array([f"{batch['video_id'][i]}:{int(batch['frame_index'][i])}" for i in ok], dtype=object),
        "video_id": np.array([str(batch["video_id"][i]) for i in ok], dtype=object),
        "crop": np.array([bytes(batch["crop"][i]) for i in ok], dtype=object),
    }


class AeInputs:
    """Ray Data callable: adds ``ae_input`` (float32, ae_px²), the chain's output before the autoencoder."""

    def __init__(self, cfg: Config) -> None:
        from raymouth.chain import EnhanceChain

        enh = dataclasses.replace(cfg.enhance, use_autoencoder=False)
        self.chain = EnhanceChain(dataclasses.replace(cfg, enhance=enh))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = dict(batch)
        out["ae_input"] = self.chain.ae_inputs(np.asarray(batch["sr_input"]))
        return out


# ---------------------------------------------------------------- checks before training


def check_cluster(workers: int, cpus_per_worker: float, gpus_per_worker: float) -> dict[str, float]:
    """The cluster must hold every worker at once; else one clear line instead of a hang."""
    import ray

    if workers < 1:
        raise TrainError(f"--workers must be at least 1, got {workers}")
    res = ray.cluster_resources()
    cpus, gpus = float(res.get("CPU", 0)), float(res.get("GPU", 0))
    if workers * cpus_per_worker > cpus + 1e-9:
        raise TrainError(
            f"--workers {workers} x train.cpus_per_worker {cpus_per_worker:g} = {workers * cpus_per_worker:g} CPUs, "
            f"but the cluster has {cpus:g}; use fewer workers or a smaller train.cpus_per_worker"
        )
    if workers * gpus_per_worker > gpus + 1e-9:
        raise TrainError(f"--workers {workers} x --gpus-per-worker {gpus_per_worker:g} GPUs, but the cluster has {gpus:g}")
    return {"CPU": cpus, "GPU": gpus}


def frame_files(data_uri: str, cfg: Config) -> dict[str, list[str]]:
    """Parquet files of each video of a frames dataset; TrainError when there are none."""
    try:
        root = storage.check_readable(data_uri, cfg.storage)
    except storage.StorageError as exc:
        raise TrainError(str(exc)) from None
    files = storage.list_files(root.join("frames"), ".parquet")
    by_video: dict[str, list[str]] = {}
    for path in files:
        by_video.setdefault(path.rstrip("/").split("/")[-2], []).append(path)
    if not by_video:
        raise TrainError(f"{root.uri}: empty dataset (no frames/<video_id>/*.parquet); run `raymouth ingest` first")
    return by_video


def split_videos(video_ids: list[str], cfg: Config) -> tuple[list[str], list[str]]:
    """(train, val) by video, never a video in both; val = ``val_video_ids`` or the last ``val_videos``."""
    ids = sorted(video_ids)
    if cfg.train.val_video_ids.strip():
        val = [v.strip() for v in cfg.train.val_video_ids.split(",") if v.strip()]
        missing = [v for v in val if v not in ids]
        if missing:
            raise TrainError(f"train.val_video_ids: {missing[0]!r} is not in the dataset (it has {', '.join(ids)})")
    else:
        n = cfg.train.val_videos
        if n < 1:
            raise TrainError("train.val_videos must be at least 1 (validation holds out whole videos)")
        val = ids[-n:]
    train = [v for v in ids if v not in val]
    if not train:
        raise TrainError(f"the dataset has {len(ids)} video(s), all held out for validation; add videos or lower train.val_videos")
    return train, val


# ---------------------------------------------------------------- Ray Data part


def pair_dataset(files: list[str], fs, cfg: Config, model: str, validation: bool):
    """Frames files -> materialised pairs (Ray Data); the same Locate and chain code as inference."""
    import ray
    from raymouth.locate import Locate

    cpus = cfg.pipeline.cpus_per_actor
    ds = ray.data.read_parquet(files, filesystem=fs).select_columns(["video_id", "frame_index", "image"])
    ds = ds.map_batches(keep_stride, fn_kwargs={"stride": cfg.train.frame_stride}, batch_format="numpy", num_cpus=cpus)
    ds = ds.map_batches(
        Locate, fn_constructor_args=(cfg,), batch_size=cfg.pipeline.locate_batch_size, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=max(1, cfg.pipeline.locate_actors)), num_cpus=cpus,
    )
    if model == "native":
        ds = ds.map_batches(clean_crops, batch_format="numpy", num_cpus=cpus)
    else:
        pairs = 1 if validation else cfg.train.pairs_per_frame
        ds = ds.map_batches(
            make_pairs, fn_kwargs={"cfg": cfg, "pairs_per_frame": pairs, "validation": validation}, batch_format="numpy", num_cpus=cpus
        )
    if validation and cfg.train.max_val_pairs:
        ds = ds.limit(cfg.train.max_val_pairs)
    if model == "autoencoder":
        ds = ds.map_batches(AeInputs, fn_constructor_args=(cfg,), batch_size=32, batch_format="numpy",
                            compute=ray.data.ActorPoolStrategy(size=1), num_cpus=cpus)
    return ds.materialize()


# ---------------------------------------------------------------- the worker loop


def build_model(model: str, cfg: Config):
    """A fresh model of the configured architecture and its manifest ``arch``."""
    if model == "edsr":
        from raymouth.models.edsr import build_edsr, edsr_arch

        params = dataclasses.asdict(cfg.enhance.edsr)
        return build_edsr(**params), edsr_arch(**params)
    if model == "native":
        from raymouth.models.edsr import build_edsr_native, edsr_native_arch

        params = dataclasses.asdict(cfg.enhance.native)
        return build_edsr_native(**params), edsr_native_arch(**params)
    from raymouth.models.autoencoder import autoencoder_arch, build_autoencoder

    params = dataclasses.asdict(cfg.enhance.autoencoder)
    return build_autoencoder(**params), autoencoder_arch(**params)


def model_arch(model: str, cfg: Config) -> dict[str, Any]:
    if model == "edsr":
        from raymouth.models.edsr import edsr_arch

        return edsr_arch(**dataclasses.asdict(cfg.enhance.edsr))
    if model == "native":
        from raymouth.models.edsr import edsr_native_arch

        return edsr_native_arch(**dataclasses.asdict(cfg.enhance.native))
    from raymouth.models.autoencoder import autoencoder_arch

    return autoencoder_arch(**dataclasses.asdict(cfg.enhance.autoencoder))


def weights_checksum(model) -> str:
    """sha256 of every weight's bytes: equal on all ranks when they really train one model."""
    digest = hashlib.sha256()
    for w in model.get_weights():
        digest.update(np.ascontiguousarray(w, np.float32).tobytes())
    return digest.hexdigest()


def _inputs_of(model: str, batch: dict[str, np.ndarray]) -> np.ndarray:
    from raymouth.chain import to_float

    return np.asarray(batch["ae_input"], np.float32) if model == "autoencoder" else to_float(batch["sr_input"])


def validate(model_name: str, model, val_iter, cfg: Config) -> dict[str, float]:
    """Mean PSNR/SSIM at ae_px² on held-out mouths: the model, bicubic, and (AE) its input."""
    import cv2

    from raymouth import metrics
    from raymouth.chain import to_uint8

    px = cfg.enhance.ae_px
    scores: dict[str, list[float]] = {"model": [], "bicubic": [], "input": []}
    ssims: dict[str, list[float]] = {"model": [], "bicubic": [], "input": []}
    for batch in val_iter.iter_batches(batch_size=32, batch_format="numpy"):
        x = _inputs_of(model_name, batch)
        pred = to_uint8(np.asarray(model(x, training=False)))
        for i, target in enumerate(batch["target"]):
            bic = cv2.resize(batch["sr_input"][i], (px, px), interpolation=cv2.INTER_CUBIC)
            cands = {"model": pred[i], "bicubic": bic}
            if model_name == "autoencoder":
                cands["input"] = to_uint8(x[i])
            for name, img in cands.items():
                scores[name].append(metrics.psnr(img, target))
                ssims[name].append(metrics.ssim(img, target))
    out = {}
    for name in scores:
        if scores[name]:
            suffix = "" if name == "model" else f"_{name}"
            out[f"val_psnr{suffix}"] = round(float(np.mean(scores[name])), 4)
            out[f"val_ssim{suffix}"] = round(float(np.mean(ssims[name])), 5)
    out["val_pairs"] = len(scores["model"])
    return out


def validate_native(model, crops: list[np.ndarray], cfg: Config) -> dict[str, float]:
    """Mean mouth PSNR on held-out crops, whole crops at their own size: the model and its
    degraded input on fixed blind pairs, and the model on the clean crop itself (do no harm)."""
    from raymouth import metrics
    from raymouth.chain import bucket, pad_to, to_float, to_uint8
    from raymouth.degrade import degrade, is_identity

    scores: dict[str, list[float]] = {"val_psnr": [], "val_psnr_input": [], "val_psnr_clean": []}
    for i, clean in enumerate(crops):
        seed = pair_seed(cfg.train.seed, "val", i, 0)
        if is_identity(seed, cfg.degrade):
            seed = pair_seed(cfg.train.seed, "val", i, 1)  # identity pairs are scored by val_psnr_clean
        degraded = degrade(clean, seed, cfg.degrade)
        h, w = clean.shape[:2]
        H, W = bucket(h, cfg.enhance.bucket_px), bucket(w, cfg.enhance.bucket_px)
        x = to_float(np.stack([pad_to(degraded, H, W), pad_to(clean, H, W)]))
        out = to_uint8(np.asarray(model(x, training=False)))[:, :h, :w]
        scores["val_psnr"].append(metrics.psnr(out[0], clean))
        scores["val_psnr_input"].append(metrics.psnr(degraded, clean))
        scores["val_psnr_clean"].append(min(metrics.psnr(out[1], clean), 99.0))
    out = {name: round(float(np.mean(v)), 4) for name, v in scores.items() if v}
    out["val_pairs"] = len(crops)
    return out


def _decode_crops(shard, limit: int = 0) -> list[np.ndarray]:
    """Every crop of a dataset shard, decoded (the native model's training data: crop-sized, so
    a few thousand fit in a worker's memory)."""
    crops: list[np.ndarray] = []
    for batch in shard.iter_batches(batch_size=256, batch_format="numpy"):
        for data in batch["crop"]:
            crop, _ = codec.decode(bytes(data))
            if crop is not None:
                crops.append(crop)
            if limit and len(crops) >= limit:
                return crops
    return crops


def _tf_dataset(model_name: str, shard, cfg: Config, epoch: int, seen: list[str]):
    """One epoch of this worker's shard as a tf.data pipeline (no TF auto-sharding: Ray split it)."""
    from raymouth.chain import sr_input_size
    from raymouth.models.kerasapi import tf

    px, s = cfg.enhance.ae_px, sr_input_size(cfg)
    in_shape = (None, px, px, 3) if model_name == "autoencoder" else (None, s, s, 3)

    def gen():
        for batch in shard.iter_batches(
            batch_size=cfg.train.batch_size, batch_format="numpy", drop_last=True,
            local_shuffle_buffer_size=cfg.train.shuffle_buffer or None, local_shuffle_seed=cfg.train.seed + epoch,
        ):
            seen.extend(str(k) for k in batch["key"])
            yield _inputs_of(model_name, batch), np.asarray(batch["target"], np.float32) * np.float32(1.0 / 255.0)

    ds = tf.data.Dataset.from_generator(
        gen,
        output_signature=(tf.TensorSpec(in_shape, tf.float32), tf.TensorSpec((None, px, px, 3), tf.float32)),
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options)


def _restore(ckpt, strategy):
    """(model, state) from a Ray checkpoint: the .keras (with optimizer state) and state.json."""
    from raymouth.models import edsr, losses  # noqa: F401  (registers EDSR's layers and the loss)
    from raymouth.models.kerasapi import keras

    with ckpt.as_directory() as d:
        state = json.loads(Path(d, CHECKPOINT_STATE).read_text())
        with strategy.scope():
            model = keras.models.load_model(Path(d, CHECKPOINT_MODEL), compile=True)
    return model, state


def init_weights_path(model_name: str, cfg: Config) -> Path:
    """The file ``train.init_weights`` names: a path, or ``shipped`` for the chain's own weights."""
    if cfg.train.init_weights != "shipped":
        return Path(cfg.train.init_weights).expanduser()
    from raymouth.chain import model_weights

    return model_weights(cfg.enhance, model_name)


def _initial_weights(model_name: str, cfg: Config, model) -> None:
    """Load the weights a fine-tune starts from into ``model``, layer by layer by name.

    A layer the file lacks (extra residual blocks of a deeper model) starts as an identity block
    (its second conv zeroed), so a deeper model begins exactly where the file's model left off;
    any other difference (a shape, a missing head) fails here, with the file named.
    """
    from raymouth.models import edsr, losses  # noqa: F401  (registers EDSR's layers and the loss)
    from raymouth.models.kerasapi import keras

    path = init_weights_path(model_name, cfg)
    source = {layer.name: layer for layer in keras.models.load_model(path, compile=False).layers}
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name in source:
            theirs = source[layer.name].get_weights()
            if [w.shape for w in theirs] != [tuple(w.shape) for w in layer.weights]:
                raise TrainError(f"train.init_weights: {path}: layer {layer.name} has other shapes than the configured model")
            layer.set_weights(theirs)
        elif layer.name.startswith("block") and layer.name.endswith("_conv2"):
            layer.set_weights([np.zeros(w.shape, np.float32) for w in layer.weights])
        elif not layer.name.startswith("block"):
            raise TrainError(f"train.init_weights: {path} has no layer {layer.name}; is it a {model_name} model?")


def learning_rate(cfg: Config, epoch: int, epochs: int = 0, model: str = "") -> float:
    """Step decay (EDSR halves its rate on a schedule), or cosine decay over ``epochs`` for the
    native model; a pure function of the epoch, so resumes agree."""
    if model == "native" and cfg.train.cosine_decay and epochs > 1:
        return cfg.train.learning_rate * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * (epoch - 1) / epochs)))
    if cfg.train.lr_decay_epochs <= 0:
        return cfg.train.learning_rate
    return cfg.train.learning_rate * 0.5 ** ((epoch - 1) // cfg.train.lr_decay_epochs)


def train_loop(config: dict[str, Any]) -> None:
    """The Ray Train worker function (every rank)."""
    import ray.train

    from raymouth.models.kerasapi import configure_threads, keras, tf
    from raymouth.native_fit import compile_native, fit_native

    cfg: Config = config["cfg"]
    model_name: str = config["model"]
    epochs: int = config["epochs"]
    configure_threads(cfg.enhance.tf_intra_op_threads, cfg.enhance.tf_inter_op_threads)
    tf.keras.utils.set_random_seed(cfg.train.seed)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    ctx = ray.train.get_context()
    rank = ctx.get_world_rank()
    ckpt = ray.train.get_checkpoint()
    if ckpt:
        model, state = _restore(ckpt, strategy)
    else:
        with strategy.scope():
            model, _ = build_model(model_name, cfg)
            if cfg.train.init_weights:
                _initial_weights(model_name, cfg, model)
            if model_name == "native":
                compile_native(model, cfg)  # the fine-tune's compile too (native_fit)
            else:
                model.compile(optimizer=keras.optimizers.Adam(cfg.train.learning_rate), loss=LOSS)
        state = {"epoch": 0, "history": []}
    history: list[dict] = state["history"]
    train_shard = ray.train.get_dataset_shard("train")
    val_shard = ray.train.get_dataset_shard("val")
    native = model_name == "native"
    if native:
        train_crops = _decode_crops(train_shard)
        val_crops = _decode_crops(val_shard, cfg.train.max_val_pairs) if rank == 0 else []
    seen: list[str] = []
    start_epoch = int(state["epoch"])
    for epoch in range(start_epoch + 1, epochs + 1):
        t0 = time.perf_counter()
        keys: list[str] = []
        lr = float(learning_rate(cfg, epoch, epochs, model_name))
        keras.backend.set_value(model.optimizer.learning_rate, lr)  # also after a resume
        if native:
            loss = fit_native(model, train_crops, cfg, pair_seed(cfg.train.seed, "train", epoch, rank), cfg.train.steps_per_epoch).loss
            keys = [f"crops:{len(train_crops)}"]
        else:
            loss = model.fit(_tf_dataset(model_name, train_shard, cfg, epoch, keys), epochs=1, verbose=0).history["loss"][-1]
        seen.extend(keys)
        row = {"epoch": epoch, "loss": round(float(loss), 6), "lr": lr, "train_pairs_rank0": len(keys)}
        if native:
            row["train_pairs_rank0"] = cfg.train.steps_per_epoch * cfg.train.batch_size
        row["seconds"] = round(time.perf_counter() - t0, 2)
        if rank == 0:
            row.update(validate_native(model, val_crops, cfg) if native else validate(model_name, model, val_shard, cfg))
            history.append(row)
            print("train " + json.dumps(row), flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            model.save(Path(tmp, CHECKPOINT_MODEL))  # collective: every rank saves
            checkpoint = None
            if rank == 0:
                Path(tmp, CHECKPOINT_STATE).write_text(json.dumps({"epoch": epoch, "history": history, "model": model_name}))
                checkpoint = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report({**row, "history": json.dumps(history)} if rank == 0 else {"epoch": epoch}, checkpoint=checkpoint)
        if cfg.train.fail_after_epoch and epoch == cfg.train.fail_after_epoch:
            raise RuntimeError(f"train.fail_after_epoch={epoch}: injected failure after the checkpoint")
    _write_rank_info(config, rank, seen, weights_checksum(model), start_epoch)


def _write_rank_info(config: dict[str, Any], rank: int, keys: list[str], checksum: str, start_epoch: int) -> None:
    """What this rank trained on and its final weights' checksum, beside the run (for the tests)."""
    cfg: Config = config["cfg"]
    loc = storage.resolve(config["run_uri"], cfg.storage).join("ranks", f"rank-{rank}.json")
    info = {"rank": rank, "keys": sorted(set(keys)), "rows": len(keys), "weights_sha256": checksum, "start_epoch": start_epoch}
    storage.write_bytes(loc, json.dumps(info).encode())


# ---------------------------------------------------------------- driver


def train(
    model: str,
    data_uri: str,
    out_uri: str,
    cfg: Config | None = None,
    workers: int | None = None,
    gpus_per_worker: float | None = None,
    epochs: int | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Train ``model`` on the frames dataset at ``data_uri``; checkpoints and the final model go
    to ``out_uri/<run_id>/``. Re-running with the same run id resumes. Returns a summary."""
    from raymouth.cluster import ensure_ray

    cfg = cfg or Config()
    if model not in MODELS:
        raise TrainError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if storage.is_s3(data_uri) or storage.is_s3(out_uri):
        cfg = dataclasses.replace(cfg, storage=storage.for_workers(cfg.storage))
    workers = cfg.train.workers if workers is None else int(workers)
    gpus = cfg.train.gpus_per_worker if gpus_per_worker is None else float(gpus_per_worker)
    epochs = cfg.train.epochs if epochs is None else int(epochs)
    run_id = run_id or f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    _check_init_weights(model, cfg)
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


def _check_init_weights(model: str, cfg: Config) -> None:
    if not cfg.train.init_weights:
        return
    path = init_weights_path(model, cfg)
    if not path.is_file():
        raise TrainError(f"train.init_weights: {path} is not a file")


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
        manifest = _save_final(net, Path(tmp, name), model_arch(model, cfg), data_uri, info, f"{Path(name).stem}-{run_id}")
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
    summary = train(args.model, args.data, args.out, cfg, args.workers, args.gpus_per_worker, args.epochs, args.run_id)
    last = summary["history"][-1] if summary["history"] else {}
    if summary["model"] == "native":
        scores = (f"val PSNR {last.get('val_psnr')} dB (degraded input {last.get('val_psnr_input')}), "
                  f"clean mouths come back at {last.get('val_psnr_clean')} dB")
    else:
        scores = (f"val PSNR {last.get('val_psnr')} dB (bicubic {last.get('val_psnr_bicubic')}), "
                  f"SSIM {last.get('val_ssim')} (bicubic {last.get('val_ssim_bicubic')})")
    print(f"train: {summary['model']} run {summary['run_id']}: {summary['epochs_done']} epochs, {scores} -> {summary['weights_uri']}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry: the ``raymouth`` command line itself (same parser, same one-line errors)."""
    from raymouth.cli import main as cli_main

    return cli_main(argv)
