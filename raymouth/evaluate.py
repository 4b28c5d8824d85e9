"""Evaluation: does the job make mouths better? Every enhance variant through the job's own stage code.

Protocol (EXPERIMENTS.md, "Second look"): for each clean clip (a video file, streamed, or a
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

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from raymouth import codec, compose, degrade, metrics, roi, schema
from raymouth import config as config_mod
from raymouth.config import Config
from raymouth.evaluate_data import (  # noqa: F401 - re-exported: the public names of `raymouth evaluate`
    Clip,
    EvaluateError,
    check_sources,
    clip_seed,
    frame_seed,
    iter_clips,
    make_reference_dataset,
    training_videos,
)

IDENTITY = "identity"
DEFAULT = "default"
INPUT = "input"
SEED_SHARPEN = 0.5  # amount of the sharpen variants; the seed names cv2.addWeighted but no amount
Batch = dict[str, np.ndarray]


# ---------------------------------------------------------------- variants


def fixture_models_dir() -> Path:
    """Where the official ``.pb`` graphs live: ``$RAYMOUTH_FIXTURES/models`` or ``../shared/fixtures/models``."""
    env = os.environ.get("RAYMOUTH_FIXTURES")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "fixtures"
    return root / "models"


def variant_overrides(pb_dir: Path | None = None) -> dict[str, list[str]]:
    """Each variant as config overrides on top of the base config, in report order.

    ``identity`` pastes the input crop back without any model (colour match + paste + gate only);
    ``default`` adds nothing: the shipped (or the user's) config as it is. ``native`` is the native
    chain alone (one model call, no flip ensemble, sharpening or autoencoder). ``square`` is the first
    version (crop -> 64² -> EDSR x2 -> sharpen -> the seed's autoencoder at 128² -> back);
    ``sharpen`` and ``bicubic`` run the same 64² square chain with sharpening only / bicubic only.
    ``lapsrn`` / ``fsrcnn`` (the official frozen graphs, slow) run only when asked for.
    """
    pb = Path(pb_dir) if pb_dir else fixture_models_dir()
    plain = ["enhance.use_autoencoder=false", "enhance.sharpen.amount=0"]
    sharp = f"enhance.sharpen.amount={SEED_SHARPEN}"
    native = ["enhance.chain=native", "enhance.flip_ensemble=false", *plain]
    square = ["enhance.chain=square"]
    return {
        IDENTITY: [],
        DEFAULT: [],
        "native": native,
        "native+flip": [*native, "enhance.flip_ensemble=true"],
        "native+sharpen": [*native, sharp],
        "native+ae": [*native, "enhance.use_autoencoder=true"],
        "square": [*square, "enhance.sr_backend=edsr", sharp, "enhance.use_autoencoder=true"],
        "sharpen": [*square, "enhance.sr_backend=none", "enhance.use_autoencoder=false", sharp],
        "bicubic": [*square, "enhance.sr_backend=bicubic", *plain],
        "lapsrn": [*square, "enhance.sr_backend=lapsrn", f"enhance.pb_path={pb / 'LapSRN_x2.pb'}", "enhance.pb_output_node=", *plain],
        "fsrcnn": [*square, "enhance.sr_backend=fsrcnn", f"enhance.pb_path={pb / 'FSRCNN_x2.pb'}", "enhance.pb_output_node=", *plain],
    }


FROZEN_GRAPHS = ("lapsrn", "fsrcnn")
ALL_VARIANTS = tuple(variant_overrides())
DEFAULT_VARIANTS = tuple(v for v in ALL_VARIANTS if v not in FROZEN_GRAPHS)


def with_overrides(cfg: Config, overrides: list[str]) -> Config:
    """A new Config: ``cfg`` with ``section.key=value`` overrides applied (validated like ``--set``)."""
    return config_mod.from_dict(config_mod.apply_overrides(cfg.to_dict(), list(overrides)))


def align_edsr_arch(cfg: Config) -> Config:
    """EDSR sizes of the square chain taken from the configured weights' manifest, so a variant runs
    whatever size the weights were trained at. Not applied to ``default``: there a mismatch is a bug."""
    from raymouth.chain import RANDOM, WEIGHTS_DIR

    enh = cfg.enhance
    if enh.chain != "square" or enh.sr_backend != "edsr" or enh.edsr_weights == RANDOM:
        return cfg
    path = Path(enh.edsr_weights).expanduser() if enh.edsr_weights else WEIGHTS_DIR / f"edsr_x{enh.edsr.scale}.keras"
    manifest = path.with_suffix(".json")
    if not manifest.is_file():
        return cfg  # loading reports the missing weights in one line
    arch = json.loads(manifest.read_text()).get("arch") or {}
    sizes = {k: arch[k] for k in ("scale", "num_blocks", "num_filters", "res_scale") if k in arch}
    return dataclasses.replace(cfg, enhance=dataclasses.replace(enh, edsr=dataclasses.replace(enh.edsr, **sizes)))


def variant_config(name: str, base: Config, table: dict[str, list[str]]) -> Config:
    """The config a variant runs with."""
    if name not in table:
        raise EvaluateError(f"unknown variant {name!r} (choose from {', '.join(table)})")
    cfg = with_overrides(base, table[name])
    return cfg if name in (DEFAULT, IDENTITY) else align_edsr_arch(cfg)


class PasteInput:
    """The identity variant's enhance stage: the crop itself as the 'enhanced' crop (no model)."""

    model_version = IDENTITY

    def __call__(self, batch: Batch) -> Batch:
        batch["enhanced_crop"] = np.array(batch["crop"], dtype=object)
        batch["model_version"] = np.array([self.model_version] * len(batch["status"]), dtype=object)
        return batch


@dataclasses.dataclass
class Variant:
    """One variant's stages, built once and used for every clip and strength."""

    name: str
    overrides: list[str]
    cfg: Config
    stage: Callable[[Batch], Batch] | None = None
    composite: Any = None
    model_version: str = ""
    error: str = ""
    seconds: float = 0.0
    same_as: str = ""  # an earlier variant with the very same config: its results are reused

    def build(self, earlier: list["Variant"] = ()) -> "Variant":
        from raymouth.stages import Composite, EnhanceStage

        twin = next((v for v in earlier if not v.same_as and (v.name == IDENTITY) == (self.name == IDENTITY) and v.cfg.hash() == self.cfg.hash()), None)
        if twin is not None:
            self.same_as, self.model_version, self.error = twin.name, twin.model_version, twin.error
            return self

        try:
            self.stage = PasteInput() if self.name == IDENTITY else EnhanceStage(self.cfg)
        except Exception as exc:  # noqa: BLE001 - one variant's missing weights must not stop the others
            lines = str(exc).strip().splitlines()
            self.error = f"{type(exc).__name__}: {lines[0] if lines else ''}"
            return self
        self.model_version = self.stage.model_version
        patch_mode = dataclasses.replace(self.cfg.pipeline, output_mode=schema.OUTPUT_PATCH)  # what `outputs` pastes
        self.composite = Composite(dataclasses.replace(self.cfg, pipeline=patch_mode), run_id=f"evaluate-{self.name}")
        return self

    def __call__(self, batch: Batch) -> Batch:
        started = time.perf_counter()
        out = self.composite(self.stage(dict(batch)))
        self.seconds += time.perf_counter() - started
        return out


# ---------------------------------------------------------------- measuring


def box_of(batch: Batch, i: int) -> roi.Box:
    return tuple(int(v) for v in batch["mouth_box"][i])


def fidelity(frame: np.ndarray, clean: np.ndarray, box: roi.Box) -> dict[str, float]:
    """Mouth-box MSE, PSNR (capped at 100 dB) and SSIM of ``frame`` against the clean frame, and
    the mouth / face sharpness ratio (measured on the box's window: the same value, less work)."""
    x0, y0, x1, y1 = box
    a, b = frame[y0:y1, x0:x1], clean[y0:y1, x0:x1]
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return {"mse": mse, "psnr": metrics.psnr(a, b), "ssim": metrics.ssim(a, b), "sharpness_ratio": sharpness_ratio(frame, box)}


def sharpness_ratio(frame: np.ndarray, box: roi.Box) -> float:
    """``metrics.sharpness_ratio`` measured on the box's window (the same value, less work)."""
    x0, y0, x1, y1 = box
    wx0, wy0, wx1, wy1 = roi.window(frame.shape, box)[0]
    return metrics.sharpness_ratio(frame[wy0:wy1, wx0:wx1], (x0 - wx0, y0 - wy0, x1 - wx0, y1 - wy0))


@dataclasses.dataclass
class Staged:
    """Rows ready for the stages: each frame cut to its box's window (box and lip polygon shifted
    into it), so the stages encode, decode and paste a window instead of a whole frame. The paste
    and every measure stay inside the window, so the written window is the written frame's."""

    batch: Batch
    frames: list[np.ndarray]
    windows: list[roi.Box]


def stage_batch(located: Batch, rows: list[int], frames: list[np.ndarray], clean: list[np.ndarray] | None = None) -> Staged:
    """The located rows ``rows`` with ``frames`` (one per row) as the image, cropped with the located
    box; with ``clean`` frames also a ``reference`` column, so ``Composite`` scores the paste before
    its gate (``psnr_out``)."""
    idx = np.asarray(rows, dtype=np.int64)
    batch = {k: located[k][idx] for k in ("video_id", "frame_index", "status", "confidence")}
    n = len(rows)
    for key in ("image", "crop", "mouth_polygon"):
        batch[key] = np.empty(n, dtype=object)
    batch["mouth_box"] = np.zeros((n, 4), np.int32)
    windows = []
    for j, (i, frame) in enumerate(zip(rows, frames)):
        box = box_of(located, i)
        wx0, wy0, wx1, wy1 = roi.window(frame.shape, box)[0]
        windows.append((wx0, wy0, wx1, wy1))
        batch["image"][j] = codec.encode(frame[wy0:wy1, wx0:wx1])
        batch["crop"][j] = codec.encode(roi.crop(frame, box))
        batch["mouth_box"][j] = (box[0] - wx0, box[1] - wy0, box[2] - wx0, box[3] - wy0)
        poly = np.asarray(located["mouth_polygon"][i], np.float32).reshape(-1, 2) - np.float32([wx0, wy0])
        batch["mouth_polygon"][j] = poly.reshape(-1)
        if clean is not None:
            batch.setdefault("reference", np.empty(n, dtype=object))[j] = codec.encode(clean[j][wy0:wy1, wx0:wx1])
    return Staged(batch, list(frames), windows)


def outputs(v: Variant, staged: Staged) -> list[tuple[np.ndarray, dict[str, Any]]]:
    """The variant on staged rows: each frame as the job writes it and the stages' own per-row facts."""
    out = v(staged.batch)
    result = []
    for j in range(len(out["status"])):
        wx0, wy0 = staged.windows[j][:2]
        frame = staged.frames[j]
        if out["enhanced"][j] is not None:  # the patch, in window pixels
            px0, py0, px1, py1 = out["patch_box"][j]
            frame = compose.paste_patch(frame, compose.decode_patch(out["enhanced"][j]), (px0 + wx0, py0 + wy0, px1 + wx0, py1 + wy0))
        facts = {"status": str(out["status"][j]), "paste_seam": float(out["seam"][j]), "colour_shift": float(out["delta_e"][j])}
        if "reject_reason" in out:
            facts["reject_reason"] = str(out["reject_reason"][j] or "")
        for key, name in (("detail_ratio", "detail_ratio"), ("psnr_out", "psnr_ungated")):
            if key in out and not np.isnan(out[key][j]):
                facts[name] = float(out[key][j])
        result.append((frame, facts))
    return result


def zoom(frame: np.ndarray, box: roi.Box) -> np.ndarray:
    return roi.crop(frame, box)


def locate_clip(locate, clip: Clip) -> Batch:
    batch = {
        "video_id": np.array([clip.video_id] * len(clip.frames), dtype=object),
        "frame_index": np.asarray(clip.frame_index, dtype=np.int64),
        "image": np.empty(len(clip.frames), dtype=object),
    }
    batch["image"][:] = [codec.encode(f) for f in clip.frames]
    return locate(batch)


def ok_rows(located: Batch) -> list[int]:
    return [i for i, s in enumerate(located["status"]) if s == schema.STATUS_OK]


def statuses(located: Batch) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in located["status"]:
        counts[str(s)] = counts.get(str(s), 0) + 1
    return counts


def run_clean_clip(clip: Clip, located: Batch, variants: list[Variant], strengths: list[str], seed: int) -> tuple[dict, dict]:
    """Per strength, per variant (``input`` included): the clip's per-frame measures; and the
    contact-sheet crops of its middle located frame."""
    ok = ok_rows(located)
    rows_out: dict[str, dict[str, list[dict]]] = {s: {} for s in strengths}
    sheet: dict[str, Any] = {}
    if not ok:
        return rows_out, sheet
    mid = ok[len(ok) // 2]
    sheet = {"frame_index": int(located["frame_index"][mid]), "box": list(box_of(located, mid)), "clean": zoom(clip.frames[mid], box_of(located, mid)), "strengths": {}}
    for s in strengths:
        degraded = [degrade.fixed(clip.frames[i], s, frame_seed(seed, clip.video_id, clip.frame_index[i])) for i in ok]
        rows_out[s][INPUT] = [fidelity(d, clip.frames[i], box_of(located, i)) for i, d in zip(ok, degraded)]
        cells = {INPUT: zoom(degraded[ok.index(mid)], box_of(located, mid))}
        batch = stage_batch(located, ok, degraded, [clip.frames[i] for i in ok])
        for v in variants:
            if v.same_as and v.same_as in rows_out[s]:
                rows_out[s][v.name] = rows_out[s][v.same_as]
                if v.same_as in cells:
                    cells[v.name] = cells[v.same_as]
                continue
            if v.error:
                continue
            measured = []
            for i, (frame, facts) in zip(ok, outputs(v, batch)):
                measured.append({**fidelity(frame, clip.frames[i], box_of(located, i)), **facts})
                if i == mid:
                    cells[v.name] = zoom(frame, box_of(located, i))
            rows_out[s][v.name] = measured
        sheet["strengths"][s] = cells
    return rows_out, sheet


def fixed_box(located: Batch) -> roi.Box | None:
    """The median of the clip's ok boxes: crops of constant size for flicker."""
    ok = [located["mouth_box"][i] for i in ok_rows(located)]
    return tuple(int(v) for v in np.median(np.asarray(ok), axis=0).round()) if ok else None


def run_real_clip(clip: Clip, located: Batch, variants: list[Variant]) -> tuple[dict, dict]:
    """Per variant (``input`` included): per-frame sharpness ratio and gate facts, and flicker."""
    ok = ok_rows(located)
    result: dict[str, dict[str, Any]] = {}
    sheet: dict[str, Any] = {}
    if not ok:
        return result, sheet
    mid = ok[len(ok) // 2]
    fbox = fixed_box(located)
    frames = [clip.frames[i] for i in ok]
    ratios = [sharpness_ratio(f, box_of(located, i)) for i, f in zip(ok, frames)]
    in_crops = [roi.crop(f, roi.clip_box(fbox, f.shape)) for f in frames]
    result[INPUT] = {"rows": [{"sharpness_ratio": r} for r in ratios], "flicker_ratio": 1.0}
    sheet = {"frame_index": int(located["frame_index"][mid]), "box": list(box_of(located, mid)), "cells": {INPUT: zoom(clip.frames[mid], box_of(located, mid))}}
    batch = stage_batch(located, ok, frames)
    for v in variants:
        if v.same_as and v.same_as in result:
            result[v.name] = result[v.same_as]
            if v.same_as in sheet["cells"]:
                sheet["cells"][v.name] = sheet["cells"][v.same_as]
            continue
        if v.error:
            continue
        rows, crops = [], []
        for i, (frame, facts) in zip(ok, outputs(v, batch)):
            rows.append({"sharpness_ratio": sharpness_ratio(frame, box_of(located, i)), **facts})
            crops.append(roi.crop(frame, roi.clip_box(fbox, frame.shape)))
            if i == mid:
                sheet["cells"][v.name] = zoom(frame, box_of(located, i))
        result[v.name] = {"rows": rows, "flicker_ratio": metrics.flicker_ratio(crops, in_crops)}
    return result, sheet


# ---------------------------------------------------------------- the evaluation


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
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Evaluate ``variants`` on clean ``clips`` at fixed strengths and on ``real`` lip-sync clips;
    writes evaluation.md, evaluation.json and contact sheets to ``out_dir``; returns the report.

    ``table`` (name -> config overrides) replaces the built-in variant table (tests).
    """
    from raymouth import evaluate_report, plots
    from raymouth.locate import Locate

    table = table if table is not None else variant_overrides(Path(pb_dir) if pb_dir else None)
    names = list(variants or [n for n in DEFAULT_VARIANTS if n in table])
    strengths = list(strengths or degrade.STRENGTHS)
    for s in strengths:
        if s not in degrade.STRENGTHS:
            raise EvaluateError(f"unknown strength {s!r} (choose from {', '.join(degrade.STRENGTHS)})")
    if not clips and not real:
        raise EvaluateError("nothing to evaluate: give clean clips and/or --real clips")
    if sheet_zoom < 3:
        raise EvaluateError(f"contact sheets zoom the mouth at least 3x, got {sheet_zoom}")
    configs = {n: variant_config(n, cfg, table) for n in names}  # bad names fail before any work
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
    report["results"] = evaluate_report.summarize_strengths(measured, [INPUT, *names])
    report["real"] = evaluate_report.summarize_real(real_measured, [INPUT, *names])
    report["criteria"] = evaluate_report.criteria(report, DEFAULT if DEFAULT in names else names[-1])
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["files"] = plots.write_sheets(out, sheets, real_sheets, [INPUT, *names], sheet_zoom)
    report["files"]["markdown"] = str(out / "evaluation.md")
    report["files"]["json"] = str(out / "evaluation.json")
    md = evaluate_report.markdown_report(report)
    (out / "evaluation.md").write_text(md)
    (out / "evaluation.json").write_text(json.dumps(report, indent=2, default=_json_default) + "\n")
    log(evaluate_report.summary_table(report))
    log(f"evaluate: {report['seconds']} s; wrote {out / 'evaluation.md'}, {out / 'evaluation.json'} and {len(report['files']['sheets'])} contact sheets")
    return report


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# ---------------------------------------------------------------- command line


def add_evaluate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``raymouth evaluate CLIP... --out DIR [--real CLIP]... [--variants a,b] [--frames N]``."""
    p = subparsers.add_parser("evaluate", help="mouth PSNR/SSIM gain of every enhance variant at fixed degradation strengths, and sharpness on real lip-sync output")
    p.add_argument("clips", nargs="*", help="clean clips no model trained on: video files or frames datasets (local or s3://)")
    p.add_argument("--out", required=True, help="local folder for evaluation.md, evaluation.json and contact sheets")
    p.add_argument("--real", action="append", default=[], metavar="CLIP", help="real lip-sync output without a reference (repeatable)")
    p.add_argument("--variants", default=None, metavar="A,B,...", help=f"variants to run (default: {','.join(DEFAULT_VARIANTS)}; also {','.join(FROZEN_GRAPHS)})")
    p.add_argument("--frozen-graphs", action="store_true", help=f"also run the slow official frozen graphs ({', '.join(FROZEN_GRAPHS)})")
    p.add_argument("--strengths", default=None, metavar="A,B,...", help=f"fixed strengths (default: {','.join(degrade.STRENGTHS)})")
    p.add_argument("--frames", type=int, default=16, metavar="N", help="evenly spaced frames per clean clip (0 = all; default 16)")
    p.add_argument("--real-frames", type=int, default=48, metavar="N", help="first N frames of each real clip (default 48)")
    p.add_argument("--seed", type=int, default=0, help="noise seed of the harsh strength")
    p.add_argument("--zoom", type=int, default=3, help="contact-sheet mouth zoom, at least 3 (nearest neighbour)")
    p.add_argument("--pb-dir", default=None, help="folder with LapSRN_x2.pb / FSRCNN_x2.pb (default: the fixtures' models/)")
    return p


def _names(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def cmd_evaluate(args: argparse.Namespace, cfg: Config) -> int:
    variants = _names(args.variants)
    if args.frozen_graphs:
        variants = [*(variants or DEFAULT_VARIANTS), *(g for g in FROZEN_GRAPHS if g not in (variants or ()))]
    evaluate(args.clips, args.out, cfg, variants, args.frames, args.real, args.real_frames, args.seed, _names(args.strengths), pb_dir=args.pb_dir, sheet_zoom=args.zoom)
    return 0


def add_reference_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``raymouth make-reference CLIP... --out URI [--frames N] [--seed S]``."""
    p = subparsers.add_parser("make-reference", help="clean clips -> frames dataset (mouth degraded, clean frame as `reference`; evaluate reads the clean frame)")
    p.add_argument("clips", nargs="+", help="clean video files not used for training")
    p.add_argument("--out", required=True, help="output dataset URI (folder or s3://bucket/prefix)")
    p.add_argument("--frames", type=int, default=24, metavar="N", help="first N frames of each clip")
    p.add_argument("--seed", type=int, default=0)
    return p


def cmd_make_reference(args: argparse.Namespace, cfg: Config) -> int:
    summary = make_reference_dataset(args.clips, args.out, cfg, args.frames, args.seed)
    print(json.dumps(summary, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m raymouth.evaluate {evaluate,make-reference} ...`` (the same as the raymouth subcommands)."""
    ap = argparse.ArgumentParser(prog="python -m raymouth.evaluate")
    sub = ap.add_subparsers(dest="command", required=True)
    for add in (add_evaluate_parser, add_reference_parser):
        p = add(sub)
        p.add_argument("--config", help="YAML config file")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = ap.parse_args(argv)
    cfg = config_mod.load(args.config, args.overrides)
    return {"evaluate": cmd_evaluate, "make-reference": cmd_make_reference}[args.command](args, cfg)


if __name__ == "__main__":
    raise SystemExit(main())
