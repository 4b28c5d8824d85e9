"""Evaluation: does the job make mouths better? Every enhance variant through the job's own stage code.

Protocol (docs/evaluation.md): for each clean clip (a video file, streamed, or a
frames dataset), ``--frames`` evenly spaced frames; the mouth is located once on the clean frame
(``Locate``); the whole frame is degraded at each fixed strength (``degrade.fixed``: clean, mild,
lipsync, harsh); every variant runs on the degraded frames as the job would (the clean frame's
box -> ``EnhanceStage`` -> ``Composite``, do-no-harm gate included) and the mouth box of what the
job writes, and of the degraded input, is scored against the clean frame. Gain = output - input.
At ``clean`` the input is the clean frame, so the output's PSNR against it is reported instead.

Real lip-sync output has no reference (``--real``): the first frames of each clip go through the
same stages; mouth / upper-face sharpness ratio in -> out, the gate's paste seam and colour
shift, flicker at a fixed box (output's / input's), rejected frames.

No Ray: the stage callables are called directly, so the numbers are exactly the job's. Crops are
made once per (clip, strength) and reused by every variant; each variant's chain is built once.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from raymouth.config import Config
from raymouth.evaluate.clips import EvaluateError, check_sources, iter_clips
from raymouth.evaluate.heldout import training_videos
from raymouth.evaluate.measure import INPUT, Variant, locate_clip, ok_rows, run_clean_clip, run_real_clip, statuses, variant_config
from raymouth.evaluate.provenance import grouped, provenance_of, read_manifest
from raymouth.evaluate.report import criteria, criteria_list, group_tables, markdown_report, summarize_real, summarize_strengths, summary_table
from raymouth.evaluate.sheets import write_sheets
from raymouth.evaluate.variants import DEFAULT, EVALUATED, variant_overrides
from raymouth.train import degrade


def evaluate(
    clips: list[str],
    out_dir: str | Path,
    cfg: Config,
    variants: list[str] | None = None,
    frames: int = 16,
    real: list[str] | None = None,
    real_frames: int = 48,
    seed: int = 0,
    strengths: list[str] | None = None,
    table: dict[str, list[str]] | None = None,
    pb_dir: str | Path | None = None,
    sheet_zoom: int = 3,
    manifests: list[str | Path] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Evaluate ``variants`` on clean ``clips`` at fixed strengths and on ``real`` lip-sync clips;
    writes evaluation.md, evaluation.json and contact sheets to ``out_dir``; returns the report.

    Clean clips are grouped by source (``provenance``: in-source, out-of-source, unknown) from the
    MANIFEST.tsv files near them and ``manifests``; the done-when checks are measured on the
    out-of-source group when there is one. ``table`` (name -> config overrides) replaces the
    built-in variant table (tests).
    """
    from raymouth.mouth.locate import Locate

    table = table if table is not None else variant_overrides(Path(pb_dir) if pb_dir else None)
    names = list(variants or [n for n in EVALUATED if n in table])
    strengths = list(strengths or degrade.STRENGTHS)
    for s in strengths:
        if s not in degrade.STRENGTHS:
            raise EvaluateError(f"unknown strength {s!r} (choose from {', '.join(degrade.STRENGTHS)})")
    if not clips and not real:
        raise EvaluateError("nothing to evaluate: give clean clips and/or --real clips")
    if sheet_zoom < 3:
        raise EvaluateError(f"contact sheets zoom the mouth at least 3x, got {sheet_zoom}")
    configs = {n: variant_config(n, cfg, table) for n in names}  # bad names fail before any work
    for m in manifests or []:
        read_manifest(Path(m))
    check_sources([*clips, *(real or [])], cfg)
    started = time.perf_counter()
    built = []
    for n in names:
        built.append(Variant(n, table[n], configs[n]).build(built))
        if built[-1].error:
            log(f"evaluate: variant {n} not run: {built[-1].error}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"strengths": {s: list(degrade.STRENGTHS[s]) for s in strengths}, "frames": frames, "real_frames": real_frames, "seed": seed, "clips": {}, "real_clips": {}}
    measured: dict[str, dict[str, dict[str, list[dict]]]] = {s: {} for s in strengths}  # strength -> variant -> clip -> rows
    real_measured: dict[str, dict[str, Any]] = {}
    sheets: dict[str, dict] = {}
    real_sheets: dict[str, dict] = {}
    with Locate(cfg) as locate:
        for clip in iter_clips(list(clips), cfg, frames, even=True):
            located = locate_clip(locate, clip)
            report["clips"][clip.video_id] = {"source": clip.source, "frames": len(clip.frames), "located": statuses(located)}
            log(f"evaluate: {clip.video_id}: {len(clip.frames)} frames, {len(ok_rows(located))} located")
            rows, sheets[clip.video_id] = run_clean_clip(clip, located, built, strengths, seed)
            for s, by_variant in rows.items():
                for v, r in by_variant.items():
                    measured[s].setdefault(v, {})[clip.video_id] = r
        for clip in iter_clips(list(real or []), cfg, real_frames, even=False):
            located = locate_clip(locate, clip)
            report["real_clips"][clip.video_id] = {"source": clip.source, "frames": len(clip.frames), "located": statuses(located)}
            log(f"evaluate: real {clip.video_id}: {len(clip.frames)} frames, {len(ok_rows(located))} located")
            real_measured[clip.video_id], real_sheets[clip.video_id] = run_real_clip(clip, located, built)
    report["variants"] = {v.name: {"overrides": v.overrides, "model_version": v.model_version, "seconds": round(v.seconds, 2), "error": v.error, "same_as": v.same_as} for v in built}
    report["gate"] = dataclasses.asdict(cfg.gate)
    report["results"] = summarize_strengths(measured, [INPUT, *names])
    report["provenance"] = _provenance(report["clips"], manifests, log)
    report["groups"] = {g: summarize_strengths(_only(measured, ids), [INPUT, *names]) for g, ids in grouped(report["provenance"]).items()}
    report["real"] = summarize_real(real_measured, [INPUT, *names])
    report["criteria"] = criteria(report, DEFAULT if DEFAULT in names else names[-1])
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["files"] = write_sheets(out, sheets, real_sheets, [INPUT, *names], sheet_zoom)
    report["files"]["markdown"] = str(out / "evaluation.md")
    report["files"]["json"] = str(out / "evaluation.json")
    md = markdown_report(report)
    (out / "evaluation.md").write_text(md)
    (out / "evaluation.json").write_text(json.dumps(report, indent=2, default=_json_default) + "\n")
    log(summary_table(report))
    if len(report["groups"]) > 1:  # in- and out-of-source side by side, as in evaluation.md
        for part in group_tables(report):
            log(part)
    if report["criteria"]:
        log(criteria_list(report))
    log(f"evaluate: {report['seconds']} s; wrote {out / 'evaluation.md'}, {out / 'evaluation.json'} and {len(report['files']['sheets'])} contact sheets")
    return report


def _provenance(clips: dict[str, dict], manifests: list[str | Path] | None, log: Callable[[str], None]) -> dict[str, dict]:
    """video id -> its source and group; warns about clips the shipped weights trained on."""
    found = provenance_of({vid: c["source"] for vid, c in clips.items()}, training_videos(), [Path(m) for m in manifests or []])
    for p in found.values():
        if p.trained_on:
            log(f"evaluate: warning: the shipped weights were trained on {p.video_id}; its numbers flatter them")
    return {vid: dataclasses.asdict(p) for vid, p in found.items()}


def _only(measured: dict[str, dict[str, dict[str, list[dict]]]], ids: list[str]) -> dict[str, dict[str, dict[str, list[dict]]]]:
    return {s: {v: {c: r for c, r in by_clip.items() if c in ids} for v, by_clip in by_variant.items()} for s, by_variant in measured.items()}


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
