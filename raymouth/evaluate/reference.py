"""Does the person's own source clip help? The enhance job with and without ``--reference``.

``python -m raymouth.evaluate.reference CLIP... --out DIR [--ref-share 0.6] [--strength lipsync]``

Each clean clip (of a person no shipped model trained on) is split in time: its first
``ref_share`` of frames are the person's source clip (the reference dataset, video id ``<id>``),
the later frames become three input videos mapped to it:
- ``<id>_frame``: the whole frame degraded at ``degrade.fixed(strength)`` (synthetic); scored by
  the mouth PSNR against the clean frame (the input's ``reference`` column);
- ``<id>_mouth`` and ``<id>_soft``: only the mouth repainted (through the paste's feathered lip
  mask), the rest of the frame sharp, as lip-sync output looks: at ``strength``, or at a quarter
  of the resolution without compression (``degrade.soften``). Scored by how far the mouth / face
  sharpness ratio moves toward the clean frame's, with the gate's seam and colour shift and the
  flicker ratio at a fixed box.
The job itself (``pipeline.run``) runs once with the shipped model and once with the references;
every number is read back from what the runs wrote. Frames are streamed, never held whole.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from raymouth.config import Config
from raymouth.data import codec, schema
from raymouth.evaluate.clips import EvaluateError, frame_seed
from raymouth.mouth import roi
from raymouth.paste import metrics
from raymouth.paste.metrics import pooled_psnr
from raymouth.train import degrade

KINDS = ("frame", "mouth", "soft")
SOFT_SCALE = 4.0  # the ``soft`` input: the mouth painted at a quarter of the resolution, no compression
ROWS_PER_GROUP = 16


def frames_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema.frames_schema("reference", drop=("timestamp",)))


def split_clip(path: str, work: Path, ref_share: float, strength: str, cfg: Config) -> tuple[str, int, int]:
    """Writes ``work/ref`` (the first frames) and ``work/in`` (the later ones, both kinds) for one
    clip; returns its id and the reference and input frame counts."""
    from raymouth.data import video
    from raymouth.data.sources import sanitize_id
    from raymouth.mouth.locate import Locate

    vid = sanitize_id(Path(path).stem)
    info = video.probe(path)
    cut = int(round(ref_share * info.frame_count))
    writers: dict[str, pq.ParquetWriter] = {}

    def write(name: str, rows: list[dict]) -> None:
        if name not in writers:
            target = work / ("ref" if name == vid else "in") / "frames" / name / "part-00000.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            writers[name] = pq.ParquetWriter(target, frames_table(rows[:1]).schema)
        writers[name].write_table(frames_table(rows), row_group_size=ROWS_PER_GROUP)

    with Locate(cfg) as locate:
        pending: list[tuple[int, np.ndarray]] = []
        for index, _, rgb in video.iter_frames(path):
            pending.append((int(index), rgb))
            if len(pending) == ROWS_PER_GROUP:
                _flush(pending, vid, cut, strength, info.fps, locate, write)
                pending = []
        _flush(pending, vid, cut, strength, info.fps, locate, write)
    for w in writers.values():
        w.close()
    return vid, cut, info.frame_count - cut


def _flush(frames: list[tuple[int, np.ndarray]], vid: str, cut: int, strength: str, fps: float, locate, write: Callable) -> None:
    ref = [(i, f) for i, f in frames if i < cut]
    later = [(i, f) for i, f in frames if i >= cut]

    def row(name: str, i: int, image: np.ndarray, clean: np.ndarray | None) -> dict:
        h, w = image.shape[:2]
        return {"video_id": name, "frame_index": i, "fps": fps, "width": w, "height": h, "image": codec.encode(image), "reference": codec.encode(clean) if clean is not None else None}

    if ref:
        write(vid, [row(vid, i, f, None) for i, f in ref])
    if not later:
        return
    seeds = [frame_seed(0, vid, i) for i, _ in later]
    write(f"{vid}_frame", [row(f"{vid}_frame", i, degrade.fixed(f, strength, s), f) for (i, f), s in zip(later, seeds)])
    batch = {"video_id": np.array([vid] * len(later), dtype=object), "frame_index": np.array([i for i, _ in later]),
             "image": np.array([codec.encode(f) for _, f in later], dtype=object)}
    located = locate(batch)
    for kind, damage in (("mouth", lambda c, s: degrade.fixed(c, strength, s)), ("soft", lambda c, s: degrade.soften(c, SOFT_SCALE))):
        rows = []
        for (i, f), s, status, box, poly in zip(later, seeds, located["status"], located["mouth_box"], located["mouth_polygon"]):
            rows.append(row(f"{vid}_{kind}", i, repaint_mouth(f, box, poly, damage(roi.crop(f, tuple(box)), s)) if status == schema.STATUS_OK else f, f))
        write(f"{vid}_{kind}", rows)


def repaint_mouth(frame: np.ndarray, box, polygon: np.ndarray, damaged: np.ndarray) -> np.ndarray:
    """``damaged`` (the box's pixels, degraded) blended into a copy of the frame through the
    paste's own feathered lip mask: the region a generator repaints and the job replaces."""
    from raymouth.config import LocateConfig

    box = tuple(int(v) for v in box)
    alpha = roi.feather_mask(box, np.asarray(polygon, np.float32).reshape(-1, 2), LocateConfig().feather_px)[..., None]
    out = frame.copy()
    x0, y0, x1, y1 = box
    out[y0:y1, x0:x1] = np.rint(alpha * damaged + (1 - alpha) * frame[y0:y1, x0:x1]).astype(np.uint8)
    return out


def _mse(psnr: float) -> float:
    return 255.0**2 / 10 ** (psnr / 10.0)


def score_run(run: Path, inputs: Path) -> dict[str, dict[str, Any]]:
    """Per input video, from the run's tables: pooled mouth PSNR in / out (a rejected row's output
    is its input), sharpness ratios in / out and of the clean frame, seam, colour shift, flicker."""
    m = pa.concat_tables([pq.read_table(f) for f in sorted((run / "metrics").glob("*.parquet"))]).to_pylist()
    by_vid: dict[str, list[dict]] = {}
    for r in sorted(m, key=lambda r: (r["video_id"], r["frame_index"])):
        by_vid.setdefault(r["video_id"], []).append(r)
    out: dict[str, dict[str, Any]] = {}
    for vid, rows in by_vid.items():
        ok = [r for r in rows if r["status"] in (schema.STATUS_OK, schema.STATUS_REJECTED_QUALITY)]
        res: dict[str, Any] = {"frames": len(rows), "scored": len(ok), "rejected": sum(r["status"] == schema.STATUS_REJECTED_QUALITY for r in rows),
                               "model_versions": sorted({r["model_version"] for r in rows})}
        if ok:
            res["psnr_in"] = pooled_psnr([_mse(r["psnr_in"]) for r in ok])
            res["psnr_out"] = pooled_psnr([_mse(r["psnr_out"] if r["status"] == schema.STATUS_OK else r["psnr_in"]) for r in ok])
            res["sharpness_ratio_in"] = float(np.mean([r["sharpness_ratio_in"] for r in ok]))
            res["sharpness_ratio_out"] = float(np.mean([r["sharpness_ratio_out"] if r["status"] == schema.STATUS_OK else r["sharpness_ratio_in"] for r in ok]))
            res["seam_max"] = float(np.max([r["seam"] for r in ok]))
            res["delta_e_max"] = float(np.max([r["delta_e"] for r in ok]))
            tracked = [r["lip_shift_px"] for r in ok if r.get("lip_shift_px") is not None and np.isfinite(r["lip_shift_px"])]
            if tracked:  # the job's own per-row lip shift (metrics.tracked_lip_shift), what its gate reads
                res["lip_shift_row_px"], res["lip_shift_row_max_px"] = float(np.mean(tracked)), float(np.max(tracked))
            res.update(_frame_measures(run, inputs, vid, ok))
        out[vid] = res
    return out


def _frame_measures(run: Path, inputs: Path, vid: str, ok: list[dict]) -> dict[str, float]:
    """The clean frame's sharpness ratio (same boxes), the flicker ratio at the median box, and
    the lip shift (``metrics.lip_shift``: landmarks found on the input and the output frame)."""
    from raymouth.config import LocateConfig
    from raymouth.mouth.landmarks import Landmarker

    boxes = {r["frame_index"]: tuple(int(v) for v in r["mouth_box"]) for r in ok}
    fixed = tuple(int(v) for v in np.median(np.asarray(list(boxes.values())), axis=0).round())
    clean_ratio, ins, outs, shifts = [], [], [], []
    with Landmarker(LocateConfig()) as landmarker:
        for path in sorted((run / "frames").glob("*.parquet")):
            t = pq.read_table(path, filters=[("video_id", "=", vid)], columns=["frame_index", "image", "enhanced", "reference"])
            for i, img, enh, ref in zip(*(t.column(c).to_pylist() for c in ("frame_index", "image", "enhanced", "reference"))):
                if i not in boxes:
                    continue
                clean, frame_in, frame_out = (codec.decode(b)[0] for b in (ref, img, enh))
                clean_ratio.append(metrics.sharpness_ratio(clean, boxes[i]))
                ins.append((i, roi.crop(frame_in, roi.clip_box(fixed, clean.shape))))
                outs.append((i, roi.crop(frame_out, roi.clip_box(fixed, clean.shape))))
                face_in, face_out = landmarker.detect(frame_in), landmarker.detect(frame_out)
                if face_in is not None and face_out is not None:
                    shifts.append(metrics.lip_shift(face_in.points, face_out.points, roi.LIP_INDICES))
    ins.sort(key=lambda p: p[0])
    outs.sort(key=lambda p: p[0])
    return {"sharpness_ratio_clean": float(np.mean(clean_ratio)), "flicker_ratio": metrics.flicker_ratio([c for _, c in outs], [c for _, c in ins]),
            "lip_shift_px": float(np.mean(shifts)) if shifts else float("nan"), "lip_shift_max_px": float(np.max(shifts)) if shifts else float("nan")}


def native_training_videos(cfg: Config) -> set[str]:
    """The videos the configured native weights were trained or validated on (their manifest)."""
    from raymouth.models.weights import read_manifest
    from raymouth.restore.chain import RANDOM, model_weights

    if cfg.enhance.native_weights == RANDOM:
        return set()
    data = (read_manifest(model_weights(cfg.enhance, "native")).get("metrics") or {}).get("data") or {}
    return {str(v) for key in ("train_videos", "val_videos") for v in data.get(key) or []}


def evaluate_reference(clips: list[str], out_dir: str, cfg: Config, ref_share: float = 0.6, strength: str = "lipsync",
                       run_name: str = "reference", log: Callable[[str], None] = print) -> dict:
    """Split, run the job twice (shipped / with the references, as run ``run_name``), score;
    writes ``<run_name>.json``. Re-running resumes both runs (finished ones cost nothing)."""
    from raymouth.data.sources import sanitize_id
    from raymouth.job import pipeline

    trained = native_training_videos(cfg)
    out = Path(out_dir)
    report: dict[str, Any] = {"ref_share": ref_share, "strength": strength, "clips": {}}
    lines = ["input_video_id,reference_video_id"]
    for clip in clips:
        if sanitize_id(Path(clip).stem) in trained:
            raise EvaluateError(f"{clip}: the native weights were trained on it; choose a held-out clip")
    split = out / "data" / "split.json"  # written last: an evaluation re-run with the same clips reuses its data and runs
    key = {"clips": clips, "ref_share": ref_share, "strength": strength}
    if split.is_file() and json.loads(split.read_text())["key"] == key:
        report["clips"] = json.loads(split.read_text())["counts"]
    else:
        for clip in clips:
            vid, n_ref, n_in = split_clip(clip, out / "data", ref_share, strength, cfg)
            report["clips"][vid] = {"reference_frames": n_ref, "input_frames": n_in}
            log(f"evaluate-reference: {vid}: {n_ref} reference frames, {n_in} input frames")
        split.write_text(json.dumps({"key": key, "counts": report["clips"]}))
    lines += [f"{vid}_{k},{vid}" for vid in report["clips"] for k in KINDS]
    (out / "map.csv").write_text("\n".join(lines) + "\n")
    data = str(out / "data" / "in")
    cfg = cfg.with_(pipeline__output_mode=schema.OUTPUT_FRAME)  # scoring reads whole frames
    shipped = pipeline.run(data, str(out / "runs"), "shipped", cfg, log=log)
    tuned = pipeline.run(data, str(out / "runs"), run_name, cfg, log=log, ref_uri=str(out / "data" / "ref"), ref_map=str(out / "map.csv"))
    report["fine_tunes"] = tuned.get("references", {"by_reference": {}})  # reference.mode=guided: no fine-tunes
    report["shipped"] = score_run(out / "runs" / "shipped", out / "data" / "in")
    report["reference"] = score_run(out / "runs" / run_name, out / "data" / "in")
    (out / f"{run_name}.json").write_text(json.dumps(report, indent=2) + "\n")
    log(markdown(report))
    return report


def markdown(report: dict) -> str:
    """docs/reference.md's tables: the fine-tunes, mouth PSNR of every input, and the sharpness of the
    mouth-only inputs."""
    base, own = report["shipped"], report["reference"]
    tunes = [] if not report["fine_tunes"]["by_reference"] else ["| reference | kept | validation PSNR dB: shipped -> own (gain) | clean mouths: shipped -> own | mouths train / val | steps | wall s | core-s |",
             "|---|---|---|---|---|---|---|---|"]
    for ref, f in report["fine_tunes"]["by_reference"].items():
        if "gain_db" in f:
            tunes.append(f"| {ref} | {'yes' if f['kept'] else 'no'} | {f['val_psnr_shipped']:.2f} -> {f['val_psnr_tuned']:.2f} ({f['gain_db']:+.2f}) | "
                         f"{f.get('val_psnr_clean_shipped', float('nan')):.1f} -> {f.get('val_psnr_clean_tuned', float('nan')):.1f} | "
                         f"{f['train_mouths']} / {f['val_mouths']} | {f['steps']} | {f['seconds']:.0f} | {f.get('cpu_s', 0):.0f} |")
        else:
            tunes.append(f"| {ref} | no: {f['reason']} | | | | | {f['seconds']:.0f} | {f.get('cpu_s', 0):.0f} |")
    psnr = ["| input | mouth PSNR dB: input | shipped | own clip | gain over shipped | rejected (shipped / own) |", "|---|---|---|---|---|---|"]
    sharp = ["| input | sharpness ratio: input | shipped | own clip | clean source | moved toward the source (shipped / own) | seam max ΔE (shipped / own) | colour shift max ΔE | flicker ratio | lip shift px at a 512 px face, mean (max): landmarks found on both frames; the job's per-row measure | rejected |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for vid in report["clips"]:
        for kind in KINDS:
            a, b = base.get(f"{vid}_{kind}", {}), own.get(f"{vid}_{kind}", {})
            if "psnr_in" not in a or "psnr_out" not in b:
                continue
            psnr.append(f"| {vid}_{kind} | {a['psnr_in']:.2f} | {a['psnr_out']:.2f} | {b['psnr_out']:.2f} | {b['psnr_out'] - a['psnr_out']:+.2f} | {a['rejected']} / {b['rejected']} of {b['scored']} |")
            if kind == "frame":
                continue
            sharp.append(f"| {vid}_{kind} | {sharpness_cells(a, b)} |")
    return "\n\n".join("\n".join(t) for t in (tunes, psnr, sharp) if t)


def sharpness_cells(a: dict[str, Any], b: dict[str, Any]) -> str:
    """One video's sharpness-table cells, shipped run ``a`` against the run with references ``b``:
    ratio in, out of each, the clean source's, the share of the way each moved toward it, seam and
    colour shift maxima, flicker ratio, lip shift, rejected rows."""
    gap = a["sharpness_ratio_clean"] - a["sharpness_ratio_in"]
    moved = [(x["sharpness_ratio_out"] - x["sharpness_ratio_in"]) / gap if gap else float("nan") for x in (a, b)]
    return (f"{a['sharpness_ratio_in']:.2f} | {a['sharpness_ratio_out']:.2f} | {b['sharpness_ratio_out']:.2f} | {a['sharpness_ratio_clean']:.2f} | "
            f"{moved[0]:.0%} / {moved[1]:.0%} | {a['seam_max']:.2f} / {b['seam_max']:.2f} | {a['delta_e_max']:.2f} / {b['delta_e_max']:.2f} | "
            f"{a['flicker_ratio']:.2f} / {b['flicker_ratio']:.2f} | {_shift(a)} / {_shift(b)} | {a['rejected']} / {b['rejected']} of {b['scored']}")


def _shift(x: dict[str, Any]) -> str:
    """Lip shift mean (max) in px at a 512 px face, landmarks; the job's per-row (tracked) one; '–'
    for runs scored before it was measured."""
    landmarks = f"{x['lip_shift_px']:.2f} ({x['lip_shift_max_px']:.2f})" if "lip_shift_px" in x else "–"
    rows = f"{x['lip_shift_row_px']:.2f} ({x['lip_shift_row_max_px']:.2f})" if "lip_shift_row_px" in x else "–"
    return f"{landmarks}; {rows}"


def main(argv: list[str] | None = None) -> int:
    from raymouth import config as config_mod
    ap = argparse.ArgumentParser(prog="python -m raymouth.evaluate.reference", description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="+", help="clean clips of people no shipped model trained on")
    ap.add_argument("--out", required=True, help="local folder: the datasets, both runs, RUN_NAME.json")
    ap.add_argument("--ref-share", type=float, default=0.6, help="share of each clip's frames, from its start, that is the reference")
    ap.add_argument("--strength", default="lipsync", choices=tuple(degrade.STRENGTHS), help="degrade.fixed strength of the inputs")
    ap.add_argument("--run-name", default="reference", help="run id of the run with references (one per setting tried)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = ap.parse_args(argv)
    evaluate_reference(args.clips, args.out, config_mod.load(None, args.overrides), args.ref_share, args.strength, args.run_name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
