"""The enhance job as one Ray Data graph, top to bottom.

units (planned from Parquet footers) → read + locate (CPU actors) → enhance (GPU or CPU actors)
→ composite, score and write frames/ and metrics/ (CPU actors) → summary.json.
Resume: a re-run with the same run id skips finished units and redoes partly written ones.
"""
from __future__ import annotations

import json
import re
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow.parquet as pq

from raymouth.cluster import ClusterError, StageSizes, ensure_ray, stage_sizes
from raymouth.config import SECRET_STORAGE_KEYS, Config, identity
from raymouth.data import schema, storage, units
from raymouth.errors import UserError, one_line
from raymouth.job import lease as lease_mod
from raymouth.job import reference
from raymouth.job.in_process import STAGES


class PipelineError(UserError, RuntimeError):
    """A problem found before any cluster work; the message is one line for the user."""


@dataclass
class RunPlan:
    in_loc: storage.Location
    run_loc: storage.Location
    run_id: str
    all_units: list[units.Unit]
    todo: list[units.Unit]
    claimed_now: bool = False  # this invocation wrote run.json (a new run)
    references: reference.ReferencePlan | None = None  # --reference: which video uses which source clip
    incomplete_videos: list[str] = field(default_factory=list)  # half-ingested: left out
    lease: lease_mod.Lease | None = None  # this driver's hold on the run (``lease``)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


RUN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def check_run_id(run_id: str) -> str:
    """A run id is one safe folder name under ``--out``: a path (``../x``, ``/abs``) would write elsewhere."""
    if not RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise PipelineError(f"--run-id {run_id!r}: use one name of letters, digits and -_. (no '/', no '..', at most 128 characters)")
    return run_id


def prepare(in_uri: str, out_uri: str, run_id: str, cfg: Config, ref_uri: str | None = None, ref_map: str | None = None) -> RunPlan:
    """Every check that can fail fast, before Ray starts: storage, schema, references, run
    identity, resume state."""
    check_run_id(run_id)
    check_models(cfg)
    in_loc = storage.check_readable(in_uri, cfg.storage)
    out_loc = storage.check_writable(out_uri, cfg.storage)
    try:  # every input file's footer and schema, so a bad file is named before any cluster work
        all_units = units.plan(in_loc, cfg.pipeline.rows_per_unit, check_schema=schema.validate_frames)
    except units.InputError as exc:
        raise PipelineError(str(exc)) from None
    if not all_units:
        raise PipelineError(f"{in_uri}: no Parquet frames found (run `raymouth ingest` first?)")
    if ref_map and not ref_uri:
        raise PipelineError("--reference-map needs --reference (the frames dataset of the source clips)")
    refs = reference.plan(in_loc, sorted({u.path for u in all_units}), ref_uri, ref_map, cfg) if ref_uri else None
    run_loc = out_loc.join(run_id)
    claimed_now = _claim_run(run_loc, in_loc.uri, cfg, reference.record(refs, cfg))
    held = lease_mod.take(run_loc)  # before any clean-up: a live driver's files are not leftovers
    done, partial = units.finished(run_loc, all_units)
    for path in partial + units.leftovers(run_loc):  # half-written units are redone whole, never appended to
        run_loc.fs.delete_file(path)
    todo = [u for u in all_units if u.unit_id not in done]
    return RunPlan(in_loc, run_loc, run_id, all_units, todo, claimed_now, refs, units.incomplete_videos(in_loc), held)


def check_models(cfg: Config) -> None:
    """The weights and graph files the chain will load exist (checked here, not in an actor)."""
    from raymouth.restore.chain import weight_files

    for key, path in weight_files(cfg.enhance):  # a missing packaged default raises WeightsError
        if not path.is_file():
            raise PipelineError(f"{key}: no such file {path}")


def _claim_run(run_loc: storage.Location, in_uri: str, cfg: Config, refs: dict | None = None) -> bool:
    """Record the run's input, settings and references; refuse to continue a run id with other
    input, other output-deciding settings (``identity.EXECUTION_KEYS`` may change) or other
    references (``reference.record``). True when new."""
    marker = run_loc.join("run.json")
    if storage.exists(marker):
        theirs = json.loads(storage.read_bytes(marker))
        if theirs.get("input") != in_uri:
            raise PipelineError(
                f"run {run_loc.uri} was started with input {theirs.get('input')}, not {in_uri}; use another --run-id"
            )
        if "config" in theirs:
            diff = identity.identity_diff(identity.identity_of(theirs["config"]), cfg.identity())
        else:  # a run.json without the settings themselves: only the hashes can be compared
            diff = [] if theirs.get("config_hash") == cfg.hash() else [("config_hash", theirs.get("config_hash"), cfg.hash())]
        diff += reference.record_diff(theirs.get("references"), refs)
        if diff:
            shown = "; ".join(f"{k}: {_show(a)} -> {_show(b)}" for k, a, b in diff[:5])
            more = f" (and {len(diff) - 5} more)" if len(diff) > 5 else ""
            raise PipelineError(
                f"run {run_loc.uri} was started with other output settings ({shown}{more}); "
                "use those settings to resume it, or another --run-id"
            )
        return False
    record = {"input": in_uri, "config_hash": cfg.hash(), "config": _public_config(cfg), "references": refs}
    storage.write_bytes(marker, json.dumps(record, indent=2).encode())
    return True


def _show(value) -> str:
    return "(not set)" if value is None else json.dumps(value)


def _public_config(cfg: Config) -> dict:
    data = cfg.to_dict()
    data["storage"] = {k: v for k, v in data["storage"].items() if k not in SECRET_STORAGE_KEYS}
    return data


def build(plan: RunPlan, cfg: Config, models: dict[str, str] | None = None, exemplar_indexes: dict[str, str] | None = None):
    """The Ray Data graph over the units still to do; ``models``: fine-tuned weights per video;
    ``exemplar_indexes``: each video's reference mouth index (the guided restorer)."""
    import ray

    read_units, enhance, composite_and_write = STAGES
    sizes = stage_sizes(cfg)
    p = cfg.pipeline
    worker_storage = storage.for_workers(cfg.storage)
    ds = ray.data.from_items([u.to_row() for u in plan.todo], override_num_blocks=max(1, len(plan.todo)))
    ds.context.target_max_block_size = int(p.max_block_mib * 2**20)  # this dataset's, not the process's
    ds = ds.map_batches(
        read_units,
        batch_size=1,  # one unit per call: a unit is read, located and smoothed whole
        compute=ray.data.ActorPoolStrategy(size=sizes.locate_actors),  # one landmarker per actor
        num_cpus=p.cpus_per_actor,  # fractional: leave CPU for Ray Data's own tasks
        fn_constructor_kwargs={"cfg": cfg, "in_storage": worker_storage, "in_is_s3": plan.in_loc.is_s3, "exemplar_indexes": exemplar_indexes},
        udf_modifying_row_count=False,
    )
    ds = ds.map_batches(
        enhance,
        batch_size=sizes.enhance_batch_size,  # larger on GPU, where the model is batched
        compute=ray.data.ActorPoolStrategy(size=sizes.enhance_actors),  # model loaded once per actor
        num_gpus=sizes.gpus_per_enhance_actor,  # 0 on a CPU-only cluster
        num_cpus=p.cpus_per_actor,
        fn_constructor_kwargs={"cfg": _for_enhance_actors(cfg, sizes), "models": models, "exemplar_indexes": exemplar_indexes},
    )
    ds = ds.map_batches(
        composite_and_write,
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


def _for_enhance_actors(cfg: Config, sizes: StageSizes) -> Config:
    """``cfg`` with the enhance actors' model threads, and TensorFlow where they hold a GPU (LiteRT
    runs on the CPU); both execution settings: the same run identity."""
    on_gpu = sizes.gpus_per_enhance_actor > 0 and cfg.enhance.runtime == "auto"
    runtime = "tensorflow" if on_gpu else cfg.enhance.runtime
    return cfg.with_(enhance__tf_intra_op_threads=sizes.enhance_threads, enhance__runtime=runtime)


PROGRESS_EVERY_S = 5.0  # a progress line this often when the console is not a terminal


def run(in_uri: str, out_uri: str, run_id: str | None, cfg: Config, log=print, ref_uri: str | None = None, ref_map: str | None = None) -> dict:
    """Enhance a frames dataset into ``out_uri/<run_id>/``; returns (and writes) the run summary.

    With ``ref_uri`` (source clips of the same people) each reference is first fine-tuned on
    (``finetune``) or indexed for the guided restorer (``reference.mode=guided``, ``exemplars``);
    finished ones of a resumed run are reused. The lease taken by ``prepare`` is released at the end."""
    plan = prepare(in_uri, out_uri, run_id or new_run_id(), cfg, ref_uri, ref_map)
    try:
        return _execute(plan, cfg, log)
    finally:
        if plan.lease is not None:
            plan.lease.release()


def _execute(plan: RunPlan, cfg: Config, log) -> dict:
    """The prepared run on the cluster, then its checks and summary."""
    run_id = plan.run_id
    todo_rows = sum(u.rows for u in plan.todo)
    log(f"raymouth enhance: run {run_id}: {len(plan.all_units)} units, {len(plan.todo)} to do ({todo_rows} rows), output {plan.run_loc.uri}")
    if plan.incomplete_videos:
        shown = ", ".join(plan.incomplete_videos[:5]) + (", ..." if len(plan.incomplete_videos) > 5 else "")
        log(f"raymouth enhance: warning: {len(plan.incomplete_videos)} videos left out, their ingest did not finish ({shown}); re-run ingest to finish them")
    started = time.time()
    rows_done, first_output_s = 0, None
    if plan.todo:
        stop = threading.Event()
        count = [0]
        if not sys.stdout.isatty():  # a terminal shows Ray Data's progress bars instead
            threading.Thread(target=_progress_lines, args=(stop, count, todo_rows, started, log), daemon=True).start()
        try:
            ensure_ray(cfg)
            tuning = time.time()
            models, exemplar_indexes = _reference_models(plan, cfg, log)
            started += time.time() - tuning  # throughput and start-up leave the fine-tunes and indexes out
            for batch in build(plan, cfg, models, exemplar_indexes).iter_batches(batch_size=None, batch_format="numpy"):
                rows_done += len(batch["status"])
                count[0] = rows_done
                first_output_s = first_output_s if first_output_s is not None else time.time() - started
        except BaseException:
            _unclaim_if_untouched(plan)
            raise
        finally:
            stop.set()
    wall = time.time() - started
    done, partial = units.finished(plan.run_loc, plan.all_units)
    if len(done) != len(plan.all_units) or partial:
        raise PipelineError(f"run {run_id}: {len(plan.all_units) - len(done)} units incomplete after the run; re-run to resume")
    summary = summarize(plan, rows_done, wall, cfg)
    if plan.references is not None and cfg.reference.mode == "finetune":
        from raymouth.job import finetune
        summary["references"] = finetune.summary(finetune.read_results(plan.run_loc, plan.references.references))
    _accumulate(summary, _previous_summary(plan.run_loc), rows_done, wall, first_output_s)
    storage.write_bytes(plan.run_loc.join("summary.json"), json.dumps(summary, indent=2).encode())
    log(format_summary(summary))
    if cfg.pipeline.report:
        _write_report(plan, cfg, log)
    return summary


def _write_report(plan: RunPlan, cfg: Config, log) -> None:
    """The run's HTML page; a report that cannot be made never fails a finished run."""
    from raymouth.job import report

    try:
        log(f"  report: {report.write_report(plan.run_loc.uri, cfg)}")
    except Exception as exc:  # noqa: BLE001 - the run's output is complete either way
        log(f"raymouth enhance: warning: no report.html ({one_line(exc)}); `raymouth report {plan.run_loc.uri}` retries")


def _reference_models(plan: RunPlan, cfg: Config, log) -> tuple[dict[str, str], dict[str, str]]:
    """With ``--reference``: ``video_id -> weights`` of the kept fine-tunes (``reference.mode=finetune``)
    or ``video_id -> mouth index`` for the guided restorer (``guided``), made now where not
    finished; nothing without a reference."""
    if plan.references is None:
        return {}, {}
    if cfg.reference.mode == "guided":
        from raymouth.job import exemplars

        return {}, exemplars.build_all(plan.references, plan.run_loc, cfg, log)
    from raymouth.job import finetune

    results = finetune.run_all(plan.references, plan.run_loc, cfg, log)
    return finetune.weights_by_video(plan.references, results, plan.run_loc), {}


def _progress_lines(stop: threading.Event, count: list[int], total: int, started: float, log) -> None:
    """One short line every ``PROGRESS_EVERY_S`` seconds while the graph runs (not in a terminal)."""
    while not stop.wait(PROGRESS_EVERY_S):
        done, elapsed = count[0], time.time() - started
        rate = f", {done / elapsed:.1f} frames/s" if done else " (starting the cluster and the models)"
        log(f"raymouth enhance: {done}/{total} rows written ({done / max(total, 1):.0%}) after {elapsed:.0f} s{rate}")
        sys.stdout.flush()


def _unclaim_if_untouched(plan: RunPlan) -> None:
    """A new run that failed before writing a single output file (or fine-tune) leaves nothing
    behind, so the corrected command can use the same run id."""
    if not plan.claimed_now:
        return
    try:
        if not any(storage.list_files(plan.run_loc.join(t)) for t in ("frames", "metrics", "models", "references")):
            plan.run_loc.fs.delete_file(plan.run_loc.join("run.json").path)
    except Exception:  # noqa: BLE001 - the run's own error is the one to report
        pass


def _previous_summary(run_loc: storage.Location) -> dict:
    marker = run_loc.join("summary.json")
    try:
        return json.loads(storage.read_bytes(marker)) if storage.exists(marker) else {}
    except (ValueError, OSError):
        return {}


def _accumulate(summary: dict, previous: dict, rows_now: int, wall_now: float, first_output_s: float | None) -> None:
    """The run's throughput over every invocation that finished, this one added (a no-op re-run
    of a finished run keeps the figures)."""
    rows = previous.get("rows_processed", previous.get("rows_this_invocation", 0)) + rows_now
    seconds = previous.get("processing_s", previous.get("wall_s", 0.0)) + (wall_now if rows_now else 0.0)
    summary["invocations"] = previous.get("invocations", 1 if previous else 0) + 1
    summary["rows_processed"] = rows  # by the invocations that finished (an interrupted one writes no summary)
    summary["processing_s"] = round(seconds, 2)
    summary["wall_s"] = round(seconds, 2)
    summary["frames_per_s"] = round(rows / seconds, 2) if seconds > 0 and rows else 0.0
    summary["wall_s_this_invocation"] = round(wall_now, 2)
    if first_output_s is not None:  # start-up: cluster connect to the first written row
        summary["first_output_s"] = round(first_output_s, 2)
    else:
        summary["first_output_s"] = previous.get("first_output_s")


MEAN_UNITS = 1_000_000  # fixed point for the summary's means: which actor wrote which metrics file varies run to run


def summarize(plan: RunPlan, rows_this_run: int, wall_s: float, cfg: Config) -> dict:
    """Counts and means over the whole run, streamed from the metrics table (no image bytes)."""
    statuses: Counter = Counter()
    reasons: Counter = Counter()  # per single reason (schema.REJECT_REASONS); a "+" row counts under each
    sums: dict[str, int] = {}  # in MEAN_UNITS: integers add up the same in any file order
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
            # Python ints: exact at any magnitude (a ratio over a flat surround can reach 1e10+, past int64 in units)
            sums[name] = sums.get(name, 0) + sum(map(int, np.round(values * MEAN_UNITS).tolist()))
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
        "metric_means": {k: sums[k] / counts[k] / MEAN_UNITS for k in schema.METRIC_COLUMNS if counts.get(k)},
        "wall_s": round(wall_s, 2),
        "frames_per_s": round(rows_this_run / wall_s, 2) if wall_s > 0 and rows_this_run else 0.0,
        "model_versions": sorted(versions),
        "skipped_incomplete_videos": plan.incomplete_videos,
        "output_mode": cfg.pipeline.output_mode,  # patch: frames/ holds mouths; compose or export gives frames
        "config_hash": cfg.hash(),
    }


def format_summary(s: dict) -> str:
    statuses = ", ".join(f"{k} {v}" for k, v in s["status_counts"].items())
    if s.get("reject_reason_counts"):
        statuses += "; reasons: " + ", ".join(f"{k} {v}" for k, v in s["reject_reason_counts"].items())
    means = s["metric_means"]
    quality = ", ".join(f"{k} {means[k]:.3g}" for k in ("sharpness_ratio_in", "sharpness_ratio_out", "seam", "delta_e", "psnr_in", "psnr_out") if k in means)
    refs = ""
    if "references" in s:
        from raymouth.job.finetune import summary_line

        refs = "\n  " + summary_line(s["references"])
    return (
        f"raymouth enhance: {s['rows']} rows ({statuses}); {s['rows_this_invocation']} processed now in "
        f"{s.get('wall_s_this_invocation', s['wall_s'])} s; run: {s.get('rows_processed', s['rows'])} rows in "
        f"{s['wall_s']} s = {s['frames_per_s']} frames/s\n  quality means: {quality}\n  models: "
        f"{', '.join(s['model_versions']) or '-'}; config {s['config_hash']}; output {s['output']}{refs}"
    )


__all__ = ["run", "prepare", "build", "PipelineError", "ClusterError"]
