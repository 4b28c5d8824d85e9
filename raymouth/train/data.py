"""What training learns from, made on the driver with Ray Data before any worker starts: frames
Parquet -> every ``frame_stride``-th frame -> ``Locate`` (the inference stage itself) -> the clean
crops (native model) or fixed degraded pairs (the first chain's models, with ``pairs.training_pair``
and one seed per (video, frame, pair)); plus the checks that run first (videos, split, cluster size).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from raymouth.config import Config
from raymouth.data import codec, storage
from raymouth.data.schema import STATUS_OK
from raymouth.errors import UserError
from raymouth.mouth.locate import mouth_crop
from raymouth.train import degrade


class TrainError(UserError, RuntimeError):
    """Bad training input or setup, found before training starts; the message is one line."""


# ---------------------------------------------------------------- pairs (pure numpy, no Ray)


def pair_seed(base: int, video_id: str, frame_index: int, k: int) -> int:
    """A fixed degradation seed per (video, frame, pair): the same pairs on every run and worker."""
    return degrade.seed_of(base, video_id, int(frame_index), k)


def keep_stride(batch: dict[str, np.ndarray], stride: int) -> dict[str, np.ndarray]:
    """Every ``stride``-th frame of each video (neighbouring frames are near-duplicates)."""
    keep = np.asarray(batch["frame_index"]) % max(1, stride) == 0
    return {k: np.asarray(v)[keep] for k, v in batch.items()}


def make_pairs(batch: dict[str, np.ndarray], cfg: Config, pairs_per_frame: int, validation: bool = False) -> dict[str, np.ndarray]:
    """Located frames -> training pairs: ``key``, ``video_id``, ``sr_input`` and ``target`` (uint8).

    Pair ``k`` of a frame degrades the clean crop with ``pair_seed(seed, video, frame, k)``; odd
    ``k`` use the mirrored crop when ``train.flip``. Rows whose status is not ok are dropped.
    """
    from raymouth.restore.chain import sr_input_size
    from raymouth.train.pairs import training_pair

    s, px = sr_input_size(cfg), cfg.enhance.ae_px
    keys, vids, xs, ys = [], [], [], []
    for i, (vid, idx, status) in enumerate(zip(batch["video_id"], batch["frame_index"], batch["status"])):
        if status != STATUS_OK:
            continue
        crop = mouth_crop(batch, i)
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
    data. Its pairs are drawn afresh every step in the worker (``train.fit.native_batches``)."""
    ok = [i for i, status in enumerate(batch["status"]) if status == STATUS_OK]
    return {
        "key": np.array([f"{batch['video_id'][i]}:{int(batch['frame_index'][i])}" for i in ok], dtype=object),
        "video_id": np.array([str(batch["video_id"][i]) for i in ok], dtype=object),
        "crop": np.array([codec.encode(mouth_crop(batch, i)) for i in ok], dtype=object),  # stored: lossless PNG
    }


class AeInputs:
    """Ray Data callable: adds ``ae_input`` (float32, ae_px²), the chain's output before the autoencoder."""

    def __init__(self, cfg: Config) -> None:
        from raymouth.restore.chain import EnhanceChain

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

    from raymouth.mouth.locate import Locate

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
