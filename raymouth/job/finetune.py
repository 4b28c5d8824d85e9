"""Per-identity fine-tuning inside the enhance job: one Ray task per reference video.

Each task streams that person's frames from the reference dataset (every
``reference.frame_stride``-th, at most ``reference.max_frames`` evenly spaced), finds the mouths
with the job's own ``Locate``, holds back the last ``reference.val_share`` of them in time, and
fine-tunes the shipped native model on the rest with the training's own fit step
(``train.fit``: the same pairs, loss and optimiser as ``raymouth train native``; the learning
rate ``reference.learning_rate`` on ``train.learning_rate``'s schedule, the fine-detail term
weighted by ``reference.detail_loss_weight``) for exactly ``reference.steps`` steps
(``reference.max_minutes`` is a guard: a fine-tune that overruns it stops the run). Then
the shipped and the fine-tuned chain restore the held-back mouths degraded at
``reference.val_strength`` (seeded); the fine-tune is used only where it scores higher.

Tasks, not Ray Train: thousands of small independent fits, each on one CPU or GPU. Their model,
manifest and ``result.json`` (written last: the mark of a finished fine-tune) go to
``OUT/<run_id>/models/<reference_id>/``; a resumed run reads them and trains nothing again.
"""
from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from raymouth import models
from raymouth.config import Config
from raymouth.data import storage
from raymouth.data.schema import STATUS_OK
from raymouth.data.units import spaced
from raymouth.errors import UserError
from raymouth.job.reference import ReferencePlan, frame_indices, wanted_rows
from raymouth.paste.metrics import pooled_psnr
from raymouth.train import degrade

MODEL = "edsr_native.keras"
RESULT = "result.json"
Crops = list[tuple[int, np.ndarray]]  # (frame_index, RGB uint8 mouth crop)


class FineTuneTimeout(UserError, RuntimeError):
    """A fine-tune that did not make its steps before its time guard; the message is one line."""


def model_dir(run_loc: storage.Location, reference_id: str) -> storage.Location:
    return run_loc.join("models", reference_id)


def read_results(run_loc: storage.Location, reference_ids: list[str]) -> dict[str, dict]:
    """The finished fine-tunes among ``reference_ids`` (those with a result.json)."""
    done = {}
    for ref in reference_ids:
        loc = model_dir(run_loc, ref).join(RESULT)
        if storage.exists(loc):
            done[ref] = json.loads(storage.read_bytes(loc))
    return done


# ---------------------------------------------------------------- the reference's mouths


def split_frames(frame_indices: list[int], cfg: Config) -> tuple[set[int], set[int]]:
    """(train, validation) frame indices: every ``frame_stride``-th frame, at most ``max_frames``
    evenly spaced, the last ``val_share`` of them in time for validation."""
    r = cfg.reference
    strided = sorted(i for i in set(frame_indices) if i % r.frame_stride == 0)
    chosen = [strided[p] for p in spaced(len(strided), r.max_frames)]
    n_val = max(1, int(round(r.val_share * len(chosen)))) if len(chosen) > 1 else 0
    return set(chosen[: len(chosen) - n_val]), set(chosen[len(chosen) - n_val :])


def reference_crops(loc: storage.Location, files: list[str], reference_id: str, cfg: Config) -> tuple[Crops, Crops, int]:
    """(train crops, validation crops, frames located) of one reference video, streamed one row
    group at a time (only the chosen frames' images are read); the job's own ``Locate``."""
    from raymouth.mouth.locate import Locate, mouth_crop

    train_idx, val_idx = split_frames(frame_indices(loc, files, reference_id), cfg)
    train, val, located = [], [], 0
    with Locate(cfg) as locate:
        for t in wanted_rows(loc, files, reference_id, train_idx | val_idx, ["video_id", "frame_index", "image"]):
            batch = {name: np.array(t.column(name).to_pylist(), dtype=object) for name in ("video_id", "image")}
            batch["frame_index"] = np.asarray(t.column("frame_index").to_pylist(), np.int64)
            out = locate(batch)
            located += t.num_rows
            for k, (idx, status) in enumerate(zip(batch["frame_index"], out["status"])):
                if status == STATUS_OK:
                    (val if int(idx) in val_idx else train).append((int(idx), mouth_crop(out, k)))
    return train, val, located


# ---------------------------------------------------------------- fit and validate


def validation_psnr(chain: Callable, pairs: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mouth PSNR pooled over the pairs (one MSE over every pixel): ``chain`` on the degraded crops."""
    outs = chain([d for d, _ in pairs])
    return pooled_psnr([float(np.mean((o.astype(np.float64) - c) ** 2)) for o, (_, c) in zip(outs, pairs)])


def validation_pairs(crops: Crops, reference_id: str, cfg: Config) -> list[tuple[np.ndarray, np.ndarray]]:
    """(degraded, clean) held-back mouths at ``reference.val_strength``, one seed per frame."""
    s = cfg.reference.val_strength
    return [(degrade.fixed(c, s, degrade.seed_of(cfg.train.seed, reference_id, i)), c) for i, c in crops]


def fine_tune(model, crops: list[np.ndarray], reference_id: str, cfg: Config, deadline: float) -> dict:
    """``reference.steps`` steps in ``reference.chunks`` chunks (the learning rate decays over
    them, as over a training run's epochs), stopping at ``deadline`` (``time.monotonic()``)."""
    from raymouth.models.kerasapi import keras
    from raymouth.train.data import pair_seed
    from raymouth.train.fit import compile_native, fit_native
    from raymouth.train.worker import learning_rate

    r = cfg.reference
    tune = cfg.with_(train__learning_rate=r.learning_rate, train__detail_loss_weight=r.detail_loss_weight)
    compile_native(model, tune)
    started = time.monotonic()
    done, loss, per_chunk = 0, float("nan"), -(-r.steps // r.chunks)
    for k in range(1, r.chunks + 1):
        steps = min(per_chunk, r.steps - done)
        if steps <= 0 or time.monotonic() >= deadline:
            break
        keras.backend.set_value(model.optimizer.learning_rate, float(learning_rate(tune, k, r.chunks, "native")))
        fit = fit_native(model, crops, tune, pair_seed(cfg.train.seed, reference_id, k, 0), steps, deadline)
        done, loss = done + fit.steps, fit.loss
    if done < r.steps:  # the guard, not the length: a fine-tune that depends on the machine's load is not reproducible
        raise FineTuneTimeout(
            f"fine-tune of {reference_id}: {done} of reference.steps={r.steps} steps within reference.max_minutes={r.max_minutes:g}; "
            "raise reference.max_minutes (or lower reference.steps) and re-run to resume"
        )
    return {"steps": done, "loss": round(loss, 6) if done else None, "train_s": round(time.monotonic() - started, 1)}


def finetune_reference(ref_uri: str, files: list[str], reference_id: str, inputs: list[str], run_uri: str, cfg: Config) -> dict:
    """The whole fine-tune of one reference (no Ray: the task body); returns its result."""
    from raymouth.models.kerasapi import configure_threads

    started, cpu = time.monotonic(), time.process_time()
    configure_threads(cfg.enhance.tf_intra_op_threads, cfg.enhance.tf_inter_op_threads)
    ref_loc, out = storage.resolve(ref_uri, cfg.storage), model_dir(storage.resolve(run_uri, cfg.storage), reference_id)
    train, val, located = reference_crops(ref_loc, files, reference_id, cfg)
    result: dict = {"reference_id": reference_id, "inputs": inputs, "frames_located": located, "train_mouths": len(train),
                    "val_mouths": len(val), "val_strength": cfg.reference.val_strength, "kept": False, "reason": ""}
    if len(train) < cfg.reference.min_crops or not val:
        result["reason"] = f"{len(train)} training and {len(val)} validation mouths found (reference.min_crops={cfg.reference.min_crops})"
    else:
        deadline = started + 60.0 * cfg.reference.max_minutes
        result.update(tune_and_validate(train, val, f"{ref_loc.uri}#{reference_id}", reference_id, out, cfg, deadline))
    result["seconds"] = round(time.monotonic() - started, 1)
    result["cpu_s"] = round(time.process_time() - cpu, 1)  # core-seconds: the cost on a shared machine
    storage.write_bytes(out.join(RESULT), json.dumps(result, indent=2).encode())  # last: the fine-tune is finished
    return result


def tune_and_validate(train: Crops, val: Crops, data: str, reference_id: str, out: storage.Location, cfg: Config, deadline: float) -> dict:
    """Fine-tune the shipped model, score both on the held-back mouths (degraded, and clean: how
    much each changes a good mouth), write the model and its manifest to ``out``. Training stops
    early enough for the fine-tuned model's scoring (timed on the shipped one's) to end by ``deadline``."""
    from raymouth.models.weights import save_model
    from raymouth.restore.chain import EnhanceChain, build_native, with_native_weights
    from raymouth.restore.detail import detail_lineage

    pairs, clean = validation_pairs(val, reference_id, cfg), [(c, c) for _, c in val]
    scoring = time.monotonic()
    shipped = EnhanceChain(cfg)
    r = {"val_psnr_input": validation_psnr(lambda crops: crops, pairs), "val_psnr_shipped": validation_psnr(shipped, pairs),
         "val_psnr_clean_shipped": validation_psnr(shipped, clean)}
    scoring = time.monotonic() - scoring
    # the native weights (checked against their manifest), moved toward their own lineage's detail weights
    start = dataclasses.replace(cfg.enhance, detail=cfg.reference.start_detail if detail_lineage(cfg.enhance) else 0.0)
    model, start_version = build_native(start)
    r.update(fine_tune(model, [c for _, c in train], reference_id, cfg, deadline - scoring))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, MODEL)
        arch = models.arch("native", cfg)
        info = {"reference_id": reference_id, "fine_tuned_from": start_version, "steps": r["steps"], "loss": r["loss"], "train_mouths": len(train)}
        save_model(model, path, arch, data=data, metrics=info, version=f"edsr_native-{reference_id}")
        tuned = EnhanceChain(with_native_weights(cfg, path))
        r["val_psnr_tuned"], r["val_psnr_clean_tuned"] = validation_psnr(tuned, pairs), validation_psnr(tuned, clean)
        for name in (MODEL, path.with_suffix(".json").name):
            storage.write_bytes(out.join(name), Path(tmp, name).read_bytes())
    r = {k: round(v, 3) if k.startswith("val_") else v for k, v in r.items()}
    r["gain_db"] = round(r["val_psnr_tuned"] - r["val_psnr_shipped"], 3)
    r["kept"] = r["gain_db"] > cfg.reference.min_gain_db
    r["model_version"] = tuned.model_version if r["kept"] else shipped.model_version
    if not r["kept"]:
        r["reason"] = f"no better than the shipped model on its validation mouths ({r['gain_db']:+.2f} dB)"
    return r


# ---------------------------------------------------------------- on the cluster


def run_all(ref_plan: ReferencePlan, run_loc: storage.Location, cfg: Config, log: Callable[[str], None] = print) -> dict[str, dict]:
    """Every reference's result: finished ones read back, the others fine-tuned now as parallel
    Ray tasks (``reference.cpus`` and ``reference.num_gpus`` each)."""
    import ray

    from raymouth.cluster import ClusterError

    results = read_results(run_loc, ref_plan.references)
    todo = [r for r in ref_plan.references if r not in results]
    if results:
        log(f"raymouth enhance: {len(results)} fine-tunes already finished, reused")
    if not todo:
        return results
    have = float(ray.cluster_resources().get("GPU", 0))
    gpus = cfg.reference.num_gpus if cfg.reference.num_gpus >= 0 else (1.0 if have >= 1 else 0.0)
    if gpus > have:
        raise ClusterError(f"reference.num_gpus={gpus:g} but the cluster has {have:g} GPUs; set it to 0 to fine-tune on CPU")
    task = ray.remote(finetune_reference).options(num_cpus=cfg.reference.cpus, num_gpus=gpus)
    worker_cfg = dataclasses.replace(cfg, storage=storage.for_workers(cfg.storage))
    log(f"raymouth enhance: fine-tuning {len(todo)} identities ({gpus:g} GPU, {cfg.reference.cpus:g} CPU each)")
    pending = {
        task.remote(ref_plan.loc.uri, ref_plan.files[r], r, ref_plan.inputs_of(r), run_loc.uri, worker_cfg): r for r in todo
    }
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        ref = pending.pop(ready[0])
        results[ref] = ray.get(ready[0])
        log("raymouth enhance: " + describe(results[ref]))
    return results


def weights_by_video(ref_plan: ReferencePlan, results: dict[str, dict], run_loc: storage.Location) -> dict[str, str]:
    """``input video_id -> fine-tuned weights URI`` for the videos whose fine-tune was kept."""
    return {vid: model_dir(run_loc, ref).join(MODEL).uri for vid, ref in ref_plan.assignments.items() if results.get(ref, {}).get("kept")}


def summary(results: dict[str, dict]) -> dict:
    """The run summary's ``references`` section: per reference, kept or not, gain and cost."""
    keys = ("inputs", "kept", "reason", "gain_db", "val_psnr_input", "val_psnr_shipped", "val_psnr_tuned", "val_psnr_clean_shipped",
            "val_psnr_clean_tuned", "val_mouths", "train_mouths", "steps", "train_s", "seconds", "cpu_s")
    per = {ref: {k: r[k] for k in keys if k in r} for ref, r in sorted(results.items())}
    secs = [r["seconds"] for r in results.values()]
    return {"count": len(per), "kept": sum(bool(r.get("kept")) for r in per.values()), "mean_seconds": round(float(np.mean(secs)), 1) if secs else None, "by_reference": per}


def summary_line(section: dict, shown: int = 8) -> str:
    """The run summary's references in one console line (the first ``shown`` by name)."""
    parts = []
    for ref, r in list(section["by_reference"].items())[:shown]:
        gain = f" {r['gain_db']:+.2f} dB" if "gain_db" in r else ""
        parts.append(f"{ref} {'kept' if r.get('kept') else 'not used'}{gain} {r.get('seconds', 0):.0f} s")
    more = f"; and {section['count'] - shown} more" if section["count"] > shown else ""
    return f"references: {section['count']} fine-tuned, {section['kept']} kept (mean {section['mean_seconds']} s each): {'; '.join(parts)}{more}"


def describe(r: dict) -> str:
    """One line per fine-tune, for the console."""
    more = f" and {len(r['inputs']) - 3} more" if len(r["inputs"]) > 3 else ""
    head = f"fine-tune {r['reference_id']} (for {', '.join(r['inputs'][:3])}{more}): "
    if "gain_db" not in r:
        return head + f"not used: {r['reason']}; {r['seconds']} s"
    verdict = "kept" if r["kept"] else "not used"
    return (head + f"{verdict}, {r['gain_db']:+.2f} dB on {r['val_mouths']} held-back mouths at {r['val_strength']} "
            f"(shipped {r['val_psnr_shipped']:.2f} -> {r['val_psnr_tuned']:.2f} dB), {r['steps']} steps on "
            f"{r['train_mouths']} mouths, {r['seconds']} s ({r['cpu_s']} core-s)")
