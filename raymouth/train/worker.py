"""What every Ray Train worker runs (``train_loop``): ``MultiWorkerMirroredStrategy`` + tf_keras
``fit`` on its own shard; after every epoch all ranks save the model (a collective), rank 0 reports
it as the checkpoint with the epoch and the metrics so far; validation on held-out videos.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from raymouth import models
from raymouth.config import Config
from raymouth.data import codec, storage
from raymouth.train.data import TrainError, pair_seed

CHECKPOINT_MODEL = "model.keras"
CHECKPOINT_STATE = "state.json"


def weights_checksum(model) -> str:
    """sha256 of every weight's bytes: equal on all ranks when they really train one model."""
    digest = hashlib.sha256()
    for w in model.get_weights():
        digest.update(np.ascontiguousarray(w, np.float32).tobytes())
    return digest.hexdigest()


def _inputs_of(model: str, batch: dict[str, np.ndarray]) -> np.ndarray:
    from raymouth.restore.chain import to_float

    return np.asarray(batch["ae_input"], np.float32) if model == "autoencoder" else to_float(batch["sr_input"])


def validate(model_name: str, model, val_iter, cfg: Config) -> dict[str, float]:
    """Mean PSNR/SSIM at ae_px² on held-out mouths: the model, bicubic, and (AE) its input."""
    import cv2

    from raymouth.paste import metrics
    from raymouth.restore.chain import to_uint8

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
    from raymouth.paste import metrics
    from raymouth.restore.chain import bucket, pad_to, to_float, to_uint8
    from raymouth.train.degrade import degrade, is_identity

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
    from raymouth.models.kerasapi import tf
    from raymouth.restore.chain import sr_input_size

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
    from raymouth.restore.chain import model_weights

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

    from raymouth.models.autoencoder import LOSS
    from raymouth.models.kerasapi import configure_threads, keras, tf
    from raymouth.train.fit import compile_native, fit_native

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
            model, _ = models.build(model_name, cfg)
            if cfg.train.init_weights:
                _initial_weights(model_name, cfg, model)
            if model_name == "native":
                compile_native(model, cfg)  # the fine-tune's compile too (train.fit)
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
