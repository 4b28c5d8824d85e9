"""The enhance job as one Ray Data graph, top to bottom.

units (planned from Parquet footers) → read + locate (CPU actors) → enhance (GPU or CPU actors)
→ composite, score and write frames/ and metrics/ (CPU actors) → summary.json.
Resume: a re-run with the same run id skips finished units and redoes partly written ones.
"""
from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from raymouth import schema, storage, units
from raymouth.cluster import ClusterError, ensure_ray, stage_sizes
from raymouth.config import SECRET_STORAGE_KEYS, Config
from raymouth.errors import UserError
from raymouth.stages import CompositeAndWrite, EnhanceStage, ReadUnits


class PipelineError(UserError, RuntimeError):
    """A problem found before any cluster work; the message is one line for the user."""


@dataclass
class RunPlan:
    in_loc: storage.Location
    run_loc: storage.Location
    run_id: str
    all_units: list[units.Unit]
    todo: list[units.Unit]


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def prepare(in_uri: str, out_uri: str, run_id: str, cfg: Config) -> RunPlan:
    """Every check that can fail fast, before Ray starts: storage, schema, run identity, resume state."""
    in_loc = storage.check_readable(in_uri, cfg.storage)
    out_loc = storage.check_writable(out_uri, cfg.storage)
    all_units = units.plan(in_loc, cfg.pipeline.rows_per_unit)
    if not all_units:
        raise PipelineError(f"{in_uri}: no Parquet frames found (run `raymouth ingest` first?)")
    with in_loc.fs.open_input_file(all_units[0].path) as f:
        schema.validate_frames(pq.ParquetFile(f).schema_arrow)
    run_loc = out_loc.join(run_id)
    _claim_run(run_loc, in_loc.uri, cfg)
    done, partial = units.finished(run_loc, all_units)
    for path in partial:  # half-written units are redone whole, never appended to
        run_loc.fs.delete_file(path)
    todo = [u for u in all_units if u.unit_id not in done]
    return RunPlan(in_loc, run_loc, run_id, all_units, todo)


def _claim_run(run_loc: storage.Location, in_uri: str, cfg: Config) -> None:
    """Record the run's input and settings; refuse to continue a run id with other settings."""
    marker = run_loc.join("run.json")
    mine = {"input": in_uri, "config_hash": cfg.hash()}
    if storage.exists(marker):
        theirs = json.loads(storage.read_bytes(marker))
        if {k: theirs.get(k) for k in mine} != mine:
            raise PipelineError(
                f"run {run_loc.uri} was started with input {theirs.get('input')} and config "
                f"{theirs.get('config_hash')}; use another --run-id for input {in_uri} / config {mine['config_hash']}"
            )
        return
    storage.write_bytes(marker, json.dumps({**mine, "config": _public_config(cfg)}, indent=2).encode())


def _public_config(cfg: Config) -> dict:
    data = cfg.to_dict()
    data["storage"] = {k: v for k, v in data["storage"].items() if k not in SECRET_STORAGE_KEYS}
    return data


def build(plan: RunPlan, cfg: Config):
    """The Ray Data graph over the units still to do."""
    import ray

    sizes = stage_sizes(cfg)
    p = cfg.pipeline
    worker_storage = storage.for_workers(cfg.storage)
    ds = ray.data.from_items([u.to_row() for u in plan.todo], override_num_blocks=max(1, len(plan.todo)))
    ds.context.target_max_block_size = int(p.max_block_mib * 2**20)  # this dataset's, not the process's
    ds = ds.map_batches(
        ReadUnits,
        batch_size=1,  # one unit per call: a unit is read, located and smoothed whole
        compute=ray.data.ActorPoolStrategy(size=sizes.locate_actors),  # one landmarker per actor
        num_cpus=p.cpus_per_actor,  # fractional: leave CPU for Ray Data's own tasks (STACK.md)
        fn_constructor_kwargs={"cfg": cfg, "in_storage": worker_storage, "in_is_s3": plan.in_loc.is_s3},
        udf_modifying_row_count=False,
    )
    ds = ds.map_batches(
        EnhanceStage,
        batch_size=sizes.enhance_batch_size,  # larger on GPU, where the model is batched
        compute=ray.data.ActorPoolStrategy(size=sizes.enhance_actors),  # model loaded once per actor
        num_gpus=sizes.gpus_per_enhance_actor,  # 0 on a CPU-only cluster
        num_cpus=p.cpus_per_actor,
        fn_constructor_kwargs={"cfg": cfg},
    )
    ds = ds.map_batches(
        CompositeAndWrite,
        batch_size=p.composite_batch_size,
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=sizes.composite_actors),
        num_cpus=p.cpus_per_actor,
        fn_constructor_kwargs={
            "cfg": cfg,
            "run_id": plan.run_id,
            "run_path": plan.run_loc.path,
            "out_storage": worker_storage,
            "out_is_s3": plan.run_loc.is_s3,
        },
    )
    return ds


def run(in_uri: str, out_uri: str, run_id: str | None, cfg: Config, log=print) -> dict:
    """Enhance a frames dataset into ``out_uri/<run_id>/``; returns (and writes) the run summary."""
    run_id = run_id or new_run_id()
    plan = prepare(in_uri, out_uri, run_id, cfg)
    log(f"raymouth enhance: run {run_id}: {len(plan.all_units)} units, {len(plan.todo)} to do, output {plan.run_loc.uri}")
    started = time.time()
    rows_done, first_output_s = 0, None
    if plan.todo:
        ensure_ray(cfg)
        for batch in build(plan, cfg).iter_batches(batch_size=None, batch_format="numpy"):
            rows_done += len(batch["status"])
            first_output_s = first_output_s if first_output_s is not None else time.time() - started
    wall = time.time() - started
    done, partial = units.finished(plan.run_loc, plan.all_units)
    if len(done) != len(plan.all_units) or partial:
        raise PipelineError(f"run {run_id}: {len(plan.all_units) - len(done)} units incomplete after the run; re-run to resume")
    summary = summarize(plan, rows_done, wall, cfg)
    summary["first_output_s"] = round(first_output_s, 2) if first_output_s is not None else None  # start-up
    storage.write_bytes(plan.run_loc.join("summary.json"), json.dumps(summary, indent=2).encode())
    log(format_summary(summary))
    return summary


def summarize(plan: RunPlan, rows_this_run: int, wall_s: float, cfg: Config) -> dict:
    """Counts and means over the whole run, streamed from the metrics table (no image bytes)."""
    statuses: Counter = Counter()
    reasons: Counter = Counter()  # per single reason (schema.REJECT_REASONS); a "+" row counts under each
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    versions: set[str] = set()
    for path in storage.list_files(plan.run_loc.join("metrics"), ".parquet"):
        with plan.run_loc.fs.open_input_file(path) as f:
            table = pq.read_table(f)
        statuses.update(table.column("status").to_pylist())
        if "reject_reason" in table.column_names:
            reasons.update(r for v in table.column("reject_reason").to_pylist() for r in schema.reject_reasons(v))
        versions.update(v for v in table.column("model_version").to_pylist() if v)
        for name in schema.METRIC_COLUMNS:
            values = table.column(name).to_numpy(zero_copy_only=False).astype(float)
            values = values[np.isfinite(values)]
            sums[name] = sums.get(name, 0.0) + float(values.sum())
            counts[name] = counts.get(name, 0) + int(values.size)
    total = sum(statuses.values())
    return {
        "run_id": plan.run_id,
        "input": plan.in_loc.uri,
        "output": plan.run_loc.uri,
        "rows": total,
        "rows_this_invocation": rows_this_run,
        "status_counts": dict(sorted(statuses.items())),
        "reject_reason_counts": {r: reasons[r] for r in schema.REJECT_REASONS if reasons[r]},
        "metric_means": {k: sums[k] / counts[k] for k in schema.METRIC_COLUMNS if counts.get(k)},
        "wall_s": round(wall_s, 2),
        "frames_per_s": round(rows_this_run / wall_s, 2) if wall_s > 0 and rows_this_run else 0.0,
        "model_versions": sorted(versions),
        "config_hash": cfg.hash(),
    }


def format_summary(s: dict) -> str:
    statuses = ", ".join(f"{k} {v}" for k, v in s["status_counts"].items())
    if s.get("reject_reason_counts"):
        statuses += "; reasons: " + ", ".join(f"{k} {v}" for k, v in s["reject_reason_counts"].items())
    means = s["metric_means"]
    quality = ", ".join(f"{k} {means[k]:.3g}" for k in ("sharpness_ratio_in", "sharpness_ratio_out", "seam", "delta_e", "psnr_in", "psnr_out") if k in means)
    return (
        f"raymouth enhance: {s['rows']} rows ({statuses}); {s['rows_this_invocation']} processed now in "
        f"{s['wall_s']} s = {s['frames_per_s']} frames/s\n  quality means: {quality}\n  models: "
        f"{', '.join(s['model_versions']) or '-'}; config {s['config_hash']}; output {s['output']}"
    )


__all__ = ["run", "prepare", "build", "PipelineError", "ClusterError"]
