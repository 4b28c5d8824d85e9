"""Evaluation: every enhance variant through the same stage code, scored on the mouth region.

``evaluate(in_uri, out_dir, cfg, variants)`` reads a frames dataset (local or S3), locates each
frame once (``Locate``), then runs every variant as the enhance job would (``EnhanceStage`` ->
``Composite``) on the same boxes, and scores what the job actually writes (after the do-no-harm
gate). Two modes, chosen per row: rows with a ``reference`` column get mouth PSNR/SSIM against
it; every row gets the no-reference measures of DESIGN.md (mouth sharpness and its ratio to the
rest of the face, seam, ΔE to the surround, and per video the temporal flicker of the mouth at
one fixed box, relative to the input's).

``make_reference_dataset`` builds such a dataset from clean clips: the mouth is located on the
clean frame and only the mouth box is degraded (``degrade.degrade``), as a lip-sync generator
does, so ``image`` is the degraded frame and ``reference`` the clean one.

No Ray: the stage callables are called directly, so the numbers are exactly the job's.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from raymouth import codec, metrics, roi, schema, storage, units
from raymouth import config as config_mod
from raymouth.config import Config, DegradeConfig
from raymouth.stages import table_to_batch

IDENTITY = "identity"
DEFAULT = "default"
SEED_SHARPEN = 0.5  # amount of the sharpen variants; the seed names cv2.addWeighted but no amount
SHEET_FRAMES = 4
KEY_COLUMNS = ("video_id", "frame_index")
Batch = dict[str, np.ndarray]


class EvaluateError(RuntimeError):
    """Bad evaluation input (no frames, unknown variant); the message is one line."""


# ---------------------------------------------------------------- variants


def fixture_models_dir() -> Path:
    """Where the official ``.pb`` graphs live: ``$RAYMOUTH_FIXTURES/models`` or ``../shared/fixtures/models``."""
    env = os.environ.get("RAYMOUTH_FIXTURES")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "fixtures"
    return root / "models"


def variant_overrides(pb_dir: Path | None = None) -> dict[str, list[str]]:
    """Each variant as config overrides applied on top of the base config, in report order.

    ``identity`` pastes the input crop back without any model (the floor every variant must
    beat); ``default`` adds nothing, so it is the shipped (or the user's) config as it is.
    """
    pb = Path(pb_dir) if pb_dir else fixture_models_dir()
    plain = ["enhance.use_autoencoder=false", "enhance.sharpen.amount=0"]
    sharp = f"enhance.sharpen.amount={SEED_SHARPEN}"
    return {
        IDENTITY: [],
        "bicubic": ["enhance.sr_backend=bicubic", *plain],
        "sharpen": ["enhance.sr_backend=none", "enhance.use_autoencoder=false", sharp],
        "lapsrn": ["enhance.sr_backend=lapsrn", f"enhance.pb_path={pb / 'LapSRN_x2.pb'}", "enhance.pb_output_node=", *plain],
        "fsrcnn": ["enhance.sr_backend=fsrcnn", f"enhance.pb_path={pb / 'FSRCNN_x2.pb'}", "enhance.pb_output_node=", *plain],
        "edsr": ["enhance.sr_backend=edsr", *plain],
        "edsr+sharpen": ["enhance.sr_backend=edsr", "enhance.use_autoencoder=false", sharp],
        "edsr+sharpen+ae": ["enhance.sr_backend=edsr", "enhance.use_autoencoder=true", sharp],
        DEFAULT: [],
    }


NO_TRAINED_WEIGHTS = (IDENTITY, "bicubic", "sharpen", "lapsrn", "fsrcnn")
ALL_VARIANTS = tuple(variant_overrides())


def with_overrides(cfg: Config, overrides: list[str]) -> Config:
    """A new Config: ``cfg`` with ``section.key=value`` overrides applied (validated like ``--set``)."""
    return config_mod.from_dict(config_mod.apply_overrides(cfg.to_dict(), list(overrides)))


def align_edsr_arch(cfg: Config) -> Config:
    """EDSR sizes taken from the configured weights' manifest, so an EDSR variant runs whatever
    size the weights were trained at. Not applied to ``default``: there a mismatch is a real bug."""
    from raymouth.chain import RANDOM, WEIGHTS_DIR

    enh = cfg.enhance
    if enh.sr_backend != "edsr" or enh.edsr_weights == RANDOM:
        return cfg
    path = Path(enh.edsr_weights).expanduser() if enh.edsr_weights else WEIGHTS_DIR / f"edsr_x{enh.edsr.scale}.keras"
    manifest = path.with_suffix(".json")
    if not manifest.is_file():
        return cfg  # loading reports the missing weights in one line
    arch = (json.loads(manifest.read_text()).get("arch") or {})
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


# ---------------------------------------------------------------- reading frames


def _wanted_keys(fs, files: list[str], frames_per_video: int, videos: set[str] | None) -> set[tuple[str, int]]:
    """Keys to evaluate, from the key columns only: the first ``frames_per_video`` frames of each video."""
    by_video: dict[str, list[int]] = {}
    for path in files:
        with fs.open_input_file(path) as f:
            keys = pq.read_table(f, columns=list(KEY_COLUMNS))
        for vid, idx in zip(keys.column("video_id").to_pylist(), keys.column("frame_index").to_pylist()):
            if videos is None or vid in videos:
                by_video.setdefault(vid, []).append(int(idx))
    limit = frames_per_video if frames_per_video > 0 else None
    return {(v, i) for v, idxs in by_video.items() for i in sorted(idxs)[:limit]}


def read_frames(in_uri: str, cfg: Config, frames_per_video: int = 0, videos: list[str] | None = None) -> Batch:
    """The first ``frames_per_video`` frames (0 = all) of each video, sorted by (video_id, frame_index).

    Reads key columns first, so a large dataset costs only the image bytes of the frames used.
    """
    loc = storage.check_readable(in_uri, cfg.storage)
    files = units.input_files(loc)
    wanted = _wanted_keys(loc.fs, files, frames_per_video, set(videos) if videos else None)
    if not wanted:
        raise EvaluateError(f"{in_uri}: no frames to evaluate" + (f" for videos {', '.join(videos)}" if videos else ""))
    tables = []
    for path in files:
        with loc.fs.open_input_file(path) as f:
            table = pq.read_table(f)
        keep = [i for i, k in enumerate(zip(table.column("video_id").to_pylist(), table.column("frame_index").to_pylist())) if (k[0], int(k[1])) in wanted]
        if keep:
            tables.append(table.take(pa.array(keep)))
    table = pa.concat_tables(tables, promote_options="default").sort_by([("video_id", "ascending"), ("frame_index", "ascending")])
    return table_to_batch(table)


def take(batch: Batch, rows: list[int] | np.ndarray) -> Batch:
    """Rows of a batch dict, as a new dict (the stages add columns in place)."""
    idx = np.asarray(rows, dtype=np.int64)
    return {k: v[idx] for k, v in batch.items()}


def video_rows(batch: Batch) -> dict[str, list[int]]:
    """Row positions of each video, in frame order (the batch is sorted)."""
    groups: dict[str, list[int]] = {}
    for i, vid in enumerate(batch["video_id"]):
        groups.setdefault(str(vid), []).append(i)
    return groups


def locate_once(frames: Batch, cfg: Config) -> Batch:
    """``Locate`` per video (its box smoothing is per video), concatenated back in row order."""
    from raymouth.locate import Locate

    with Locate(cfg) as locate:
        parts = [locate(take(frames, rows)) for rows in video_rows(frames).values()]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# ---------------------------------------------------------------- measuring


def mouth_measures(frame: np.ndarray, box: roi.Box, paste: roi.Box, ring_px: int, reference: np.ndarray | None, alpha_full: np.ndarray) -> dict[str, float]:
    """The per-frame measures of one frame, all absolute (compare with the input's).

    Sharpness and PSNR/SSIM use the mouth ``box``; seam and ΔE use the ``paste`` box (see
    ``paste_box``): the feathered paste never touches the mouth box's own edges, so measured there
    they could not see a paste at all.
    """
    x0, y0, x1, y1 = box
    m = {
        "sharpness": metrics.sharpness(frame[y0:y1, x0:x1]),
        "sharpness_ratio": metrics.sharpness_ratio(frame, box),
        "seam": metrics.seam_score(frame, paste),
        "delta_e": metrics.delta_e_to_surround(frame, paste, ring_px),
    }
    if reference is not None and reference.shape == frame.shape:
        m["psnr"], m["ssim"] = metrics.mouth_psnr_ssim(frame, reference, box)
        sel = alpha_full > 0  # the pixels the paste may change: the lips plus the feather band
        m["psnr_lips"] = metrics.psnr(frame[sel], reference[sel])
    return m


def paste_box(alpha_full: np.ndarray, box: roi.Box) -> roi.Box:
    """Bounding box of the pixels the paste mostly replaces (alpha >= 0.5); the mouth box if none."""
    ys, xs = np.nonzero(alpha_full >= 0.5)
    if xs.size == 0:
        return box
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def fixed_boxes(located: Batch) -> dict[str, roi.Box]:
    """One box per video, the median of its ok boxes: crops of constant size for flicker."""
    out = {}
    for vid, rows in video_rows(located).items():
        ok = [located["mouth_box"][i] for i in rows if located["status"][i] == schema.STATUS_OK]
        if ok:
            out[vid] = tuple(int(v) for v in np.median(np.asarray(ok), axis=0).round())
    return out


def _zoom_box(box: roi.Box, shape: tuple[int, ...], grow: float = 0.25) -> roi.Box:
    """The box with some context around it, for contact sheets."""
    x0, y0, x1, y1 = box
    dx, dy = int((x1 - x0) * grow), int((y1 - y0) * grow)
    return roi.clip_box((x0 - dx, y0 - dy, x1 + dx, y1 + dy), shape)


@dataclass
class Measured:
    """Per-row measures of one variant (or of the input / the reference), plus flicker crops."""

    name: str
    rows: dict[int, dict[str, float]] = field(default_factory=dict)  # row position -> measures
    status: dict[int, str] = field(default_factory=dict)
    flicker_crops: dict[str, list[np.ndarray]] = field(default_factory=dict)  # video -> crops at its fixed box
    zooms: dict[int, np.ndarray] = field(default_factory=dict)  # sheet row -> zoomed mouth
    frames: dict[int, np.ndarray] = field(default_factory=dict)  # sheet row -> whole frame (focus only)
    model_version: str = ""
    seconds: float = 0.0
    error: str = ""


class _Scorer:
    """Shared geometry of one evaluation: boxes, masks, sheet rows; measures any frame source."""

    def __init__(self, located: Batch, cfg: Config, sheet_rows: list[int]) -> None:
        self.located = located
        self.ring_px = cfg.locate.colour_ring_px
        self.feather_px = cfg.locate.feather_px
        self.fixed = fixed_boxes(located)
        self.sheet_rows = set(sheet_rows)

    def ok_rows(self) -> list[int]:
        return [i for i, s in enumerate(self.located["status"]) if s == schema.STATUS_OK]

    def box(self, i: int) -> roi.Box:
        return tuple(int(v) for v in self.located["mouth_box"][i])

    def reference(self, i: int) -> np.ndarray | None:
        ref = self.located.get("reference")
        if ref is None or ref[i] is None:
            return None
        return codec.decode(bytes(ref[i]))[0]

    def alpha_full(self, i: int, shape: tuple[int, ...]) -> np.ndarray:
        polygon = np.asarray(self.located["mouth_polygon"][i], np.float32).reshape(-1, 2)
        alpha = roi.feather_mask(self.box(i), polygon, self.feather_px)
        return roi.frame_mask(shape, self.box(i), alpha)

    def add(self, m: Measured, i: int, frame: np.ndarray, reference: np.ndarray | None, keep_frame: bool = False) -> None:
        """Measure one frame of row ``i`` into ``m``."""
        box = self.box(i)
        alpha = self.alpha_full(i, frame.shape)
        m.rows[i] = mouth_measures(frame, box, paste_box(alpha, box), self.ring_px, reference, alpha)
        vid = str(self.located["video_id"][i])
        if vid in self.fixed:
            m.flicker_crops.setdefault(vid, []).append(roi.crop(frame, roi.clip_box(self.fixed[vid], frame.shape)))
        if i in self.sheet_rows:
            m.zooms[i] = roi.crop(frame, _zoom_box(box, frame.shape))
            if keep_frame:
                m.frames[i] = frame


def measure_input(scorer: _Scorer) -> tuple[Measured, Measured | None]:
    """The input's measures and, where rows have one, the reference's."""
    inp, ref = Measured("input", model_version="input"), Measured("reference", model_version="reference")
    for i in scorer.ok_rows():
        frame = codec.decode(bytes(scorer.located["image"][i]))[0]
        reference = scorer.reference(i)
        scorer.add(inp, i, frame, reference, keep_frame=True)
        inp.status[i] = schema.STATUS_OK
        if reference is not None:
            scorer.add(ref, i, reference, None, keep_frame=True)
    return inp, (ref if ref.rows else None)


def run_variant(name: str, vcfg: Config, scorer: _Scorer, keep_frames: bool) -> Measured:
    """Locate's output -> the variant's enhance stage -> Composite; measures what the job would write.

    A variant that cannot start (missing weights, missing .pb) is recorded with its error.
    """
    from raymouth.stages import Composite, EnhanceStage

    m = Measured(name)
    started = time.perf_counter()
    try:
        stage: Callable[[Batch], Batch] = PasteInput() if name == IDENTITY else EnhanceStage(vcfg)
    except Exception as exc:  # noqa: BLE001 - one variant's missing weights must not stop the others
        m.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return m
    m.model_version = stage.model_version
    composite = Composite(vcfg, run_id=f"evaluate-{name}")
    ok = scorer.ok_rows()
    step = max(1, vcfg.pipeline.enhance_batch_size_cpu)
    for start in range(0, len(ok), step):
        rows = ok[start : start + step]
        out = composite(stage(take(scorer.located, rows)))
        for j, i in enumerate(rows):
            frame = codec.decode(bytes(out["enhanced"][j]))[0]
            scorer.add(m, i, frame, scorer.reference(i), keep_frame=keep_frames)
            m.status[i] = str(out["status"][j])
            if not np.isnan(out["psnr_out"][j]):
                m.rows[i]["psnr_ungated"] = float(out["psnr_out"][j])
            m.rows[i]["paste_seam"] = float(out["seam"][j])  # the gate's own measures
            m.rows[i]["colour_shift"] = float(out["delta_e"][j])
    m.seconds = time.perf_counter() - started
    return m


# ---------------------------------------------------------------- summarising


def _mean(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None and not np.isnan(v)]
    return float(np.mean(vals)) if vals else None


def summarize(m: Measured, base: Measured, row_video: np.ndarray | None = None) -> dict[str, Any]:
    """Means over rows (and flicker over videos) of one variant, with deltas against the input;
    with ``row_video`` (the video id of each row) also the same means per video."""
    out = _summary(m, base, sorted(m.rows))
    if row_video is not None:
        by_video: dict[str, list[int]] = {}
        for i in sorted(m.rows):
            by_video.setdefault(str(row_video[i]), []).append(i)
        out["per_video"] = {vid: {k: v for k, v in _summary(m, base, rows).items() if k in PER_VIDEO_KEYS} for vid, rows in by_video.items()}
    return out


PER_VIDEO_KEYS = ("frames", "psnr", "delta_psnr", "delta_psnr_lips", "ssim", "sharpness_ratio", "delta_e", "rejected")


def _summary(m: Measured, base: Measured, rows: list[int]) -> dict[str, Any]:
    row_set = set(rows)

    def col(key: str, src: Measured = m) -> list[float]:
        return [src.rows[i].get(key) for i in rows if i in src.rows]

    def delta(key: str, src_key: str | None = None) -> float | None:
        pairs = [(m.rows[i].get(src_key or key), base.rows[i].get(key)) for i in rows if i in base.rows]
        return _mean([a - b for a, b in pairs if a is not None and b is not None])

    vids = {vid for vid in m.flicker_crops if vid in base.flicker_crops}
    flick = {vid: metrics.flicker_ratio(m.flicker_crops[vid], base.flicker_crops[vid]) for vid in sorted(vids)}
    return {
        "frames": len(rows),
        "psnr": _mean(col("psnr")),
        "ssim": _mean(col("ssim")),
        "delta_psnr": delta("psnr"),
        "delta_psnr_ungated": delta("psnr", "psnr_ungated"),
        "delta_psnr_lips": delta("psnr_lips"),
        "delta_ssim": delta("ssim"),
        "sharpness": _mean(col("sharpness")),
        "sharpness_ratio": _mean(col("sharpness_ratio")),
        "seam": _mean(col("seam")),
        "delta_e": _mean(col("delta_e")),
        "paste_seam": _mean(col("paste_seam")),
        "colour_shift": _mean(col("colour_shift")),
        "flicker_ratio": _mean(list(flick.values())),
        "flicker_ratio_per_video": flick,
        "rejected": sum(1 for i, s in m.status.items() if i in row_set and s == schema.STATUS_REJECTED_QUALITY),
    }


def _fmt(value: Any, digits: int = 2, signed: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


TABLE_COLUMNS = (
    # (header, key, digits, signed)
    ("mouth PSNR dB", "psnr", 2, False),
    ("SSIM", "ssim", 4, False),
    ("ΔPSNR vs input", "delta_psnr", 2, True),
    ("ΔPSNR ungated", "delta_psnr_ungated", 2, True),
    ("ΔPSNR lips", "delta_psnr_lips", 2, True),
    ("sharpness ratio", "sharpness_ratio", 2, False),
    ("seam ΔE", "seam", 2, False),
    ("ΔE to surround", "delta_e", 2, False),
    ("gate: paste seam ΔE", "paste_seam", 2, False),
    ("gate: colour shift ΔE", "colour_shift", 2, False),
    ("flicker ratio", "flicker_ratio", 2, False),
    ("rejected", "rejected", 0, False),
)


def markdown_table(report: dict[str, Any]) -> str:
    """The variant × measure table (input and reference first, for scale)."""
    head = "| variant | " + " | ".join(h for h, *_ in TABLE_COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(TABLE_COLUMNS) + 1)]
    entries = [("input", report["input"])]
    if report.get("reference"):
        entries.append(("reference (clean)", report["reference"]))
    entries += [(name, v["summary"]) for name, v in report["variants"].items() if v["summary"]]
    for name, s in entries:
        cells = [_fmt(s.get(key), digits, signed) for _, key, digits, signed in TABLE_COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, v in report["variants"].items():
        if v["error"]:
            lines.append(f"\nnot run: **{name}**: {v['error']}")
    return "\n".join(lines)


def per_video_table(report: dict[str, Any]) -> str:
    """Variant × video: ΔPSNR vs input (with a reference) or sharpness ratio (without), so a clip
    that a variant hurts is not hidden in the mean."""
    key, title = ("delta_psnr", "ΔPSNR vs input, dB") if report.get("reference") else ("sharpness_ratio", "sharpness ratio")
    videos = report["videos"]
    lines = [f"| {title} | " + " | ".join(videos) + " |", "|" + "---|" * (len(videos) + 1)]
    entries = [("input", report["input"])] + [(n, v["summary"]) for n, v in report["variants"].items() if v["summary"]]
    for name, s in entries:
        per = s.get("per_video", {})
        lines.append(f"| {name} | " + " | ".join(_fmt(per.get(v, {}).get(key), 2, key == "delta_psnr") for v in videos) + " |")
    return "\n".join(lines)


def markdown_report(report: dict[str, Any]) -> str:
    """evaluation.md: what was measured, the table, the plots."""
    mode = "with reference (PSNR/SSIM against the clean frame)" if report["reference"] else "no reference"
    versions = "\n".join(f"- `{n}`: {v['model_version'] or '–'} ({_fmt(v['seconds'], 1)} s)" for n, v in report["variants"].items())
    located = ", ".join(f"{k} {v}" for k, v in sorted(report["located"].items()))
    return f"""# raymouth evaluation

Input: `{report['input_uri']}` — {report['frames']} frames of {len(report['videos'])} video(s) ({', '.join(report['videos'])}); mode: {mode}.
Located: {located}. Means are over the located (`ok`) frames; every variant uses the same boxes.
Outputs are scored as the job writes them (after the do-no-harm gate; `ΔPSNR ungated` scores the
paste before the gate). PSNR/SSIM on the mouth box at native size; `ΔPSNR lips`: only the pixels the
paste may change (lip polygon + feather band). Sharpness ratio: mouth / rest of face (Laplacian
variance). Seam and ΔE (absolute; compare with the input row) are measured across the edge of the
pasted region (alpha >= 0.5), since the feathered paste never reaches the mouth box's own edges. Flicker ratio: mean-luma flicker
of the mouth at a fixed box per video, divided by the input's (1 = no flicker added).

{markdown_table(report)}

Per video:

{per_video_table(report)}

Variants (model versions, time):
{versions}

Plots: {', '.join(f'`{Path(p).name}`' for p in report['files']['plots'])}
"""


# ---------------------------------------------------------------- the evaluation


def pick_sheet_rows(located: Batch, n: int = SHEET_FRAMES) -> list[int]:
    """``n`` ok rows spread evenly over the dataset."""
    ok = [i for i, s in enumerate(located["status"]) if s == schema.STATUS_OK]
    if not ok:
        return []
    return sorted({ok[int(round(p))] for p in np.linspace(0, len(ok) - 1, min(n, len(ok)))})


def evaluate(
    in_uri: str,
    out_dir: str | Path,
    cfg: Config,
    variants: list[str] | None = None,
    frames_per_video: int = 24,
    videos: list[str] | None = None,
    pb_dir: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Evaluate ``variants`` on a frames dataset; writes evaluation.md/.json and plots to ``out_dir``.

    Returns the report dict (what evaluation.json holds).
    """
    from raymouth import plots

    table = variant_overrides(Path(pb_dir) if pb_dir else None)
    names = list(variants or ALL_VARIANTS)
    configs = {name: variant_config(name, cfg, table) for name in names}  # bad names fail before any work
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frames = read_frames(in_uri, cfg, frames_per_video, videos)
    log(f"evaluate: {len(frames['image'])} frames, locating")
    located = locate_once(frames, cfg)
    del frames
    scorer = _Scorer(located, cfg, pick_sheet_rows(located))
    inp, ref = measure_input(scorer)
    focus = DEFAULT if DEFAULT in names else names[-1]
    results = {}
    for name in names:
        log(f"evaluate: variant {name}")
        results[name] = run_variant(name, configs[name], scorer, keep_frames=name == focus)
        if results[name].error:
            log(f"evaluate: variant {name} not run: {results[name].error}")
    report = build_report(in_uri, located, names, table, results, inp, ref)
    report["files"] = plots.write_all(out, located, scorer.sheet_rows, inp, ref, results, focus, report)
    report["files"]["markdown"] = str(out / "evaluation.md")
    report["files"]["json"] = str(out / "evaluation.json")
    (out / "evaluation.md").write_text(markdown_report(report))
    (out / "evaluation.json").write_text(json.dumps(report, indent=2, default=_json_default) + "\n")
    log(markdown_table(report))
    log(per_video_table(report))
    for kind, paths in report["files"].items():
        for p in paths if isinstance(paths, list) else [paths]:
            log(f"evaluate: wrote {p}")
    return report


def build_report(in_uri: str, located: Batch, names: list[str], table: dict[str, list[str]], results: dict[str, Measured], inp: Measured, ref: Measured | None) -> dict[str, Any]:
    """The JSON-able report: summaries of input, reference and every variant."""
    statuses: dict[str, int] = {}
    for s in located["status"]:
        statuses[str(s)] = statuses.get(str(s), 0) + 1
    variants = {
        name: {
            "overrides": table[name],
            "model_version": results[name].model_version,
            "seconds": round(results[name].seconds, 2),
            "error": results[name].error,
            "summary": summarize(results[name], inp, located["video_id"]) if not results[name].error else None,
        }
        for name in names
    }
    return {
        "input_uri": in_uri,
        "frames": int(len(located["status"])),
        "videos": sorted(video_rows(located)),
        "located": statuses,
        "fixed_boxes": {vid: list(box) for vid, box in fixed_boxes(located).items()},
        "input": summarize(inp, inp, located["video_id"]),
        "reference": summarize(ref, inp, located["video_id"]) if ref else None,
        "variants": variants,
    }


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, set):
        return sorted(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# ---------------------------------------------------------------- reference datasets


def clip_seed(seed: int, video_id: str) -> int:
    """One degradation seed per (seed, clip): a lip-sync generator degrades a whole clip alike."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{video_id}".encode()).digest()[:8], "little") & ((1 << 63) - 1)


def degrade_mouth(frame: np.ndarray, box: roi.Box, seed: int, cfg: DegradeConfig) -> np.ndarray:
    """A copy of the frame with only the box's pixels degraded (the rest byte-identical)."""
    from raymouth.degrade import degrade

    x0, y0, x1, y1 = box
    out = frame.copy()
    out[y0:y1, x0:x1] = degrade(frame[y0:y1, x0:x1], seed, cfg)
    return out


def training_videos(weights_dir: Path | None = None) -> set[str]:
    """Video ids the shipped default weights were trained on, from their manifests (empty if none)."""
    from raymouth.chain import WEIGHTS_DIR

    seen: set[str] = set()
    for path in sorted(Path(weights_dir or WEIGHTS_DIR).glob("*.json")):
        manifest = json.loads(path.read_text())
        metrics_data = (manifest.get("metrics") or {}).get("data")  # where raymouth.train records it
        for data in (manifest.get("data"), metrics_data):
            if isinstance(data, dict):
                seen.update(str(v) for v in data.get("train_videos") or [])
    return seen


def _reference_schema() -> pa.Schema:
    fields = [f for f in schema.FRAMES if f.name != "timestamp"]
    return pa.schema([*fields, pa.field("timestamp", pa.float64()), pa.field("reference", pa.binary()), pa.field("degraded_box", pa.list_(pa.int32(), 4))])


def make_reference_dataset(
    clips: list[str | Path], out_uri: str, cfg: Config, frames_per_clip: int = 24, seed: int = 0, exclude_videos: set[str] | None = None
) -> dict[str, Any]:
    """Clean clips -> a frames dataset with ``image`` = mouth-degraded frame, ``reference`` = clean frame.

    The mouth is located on the clean frame (the job's own ``Locate``); only that box is degraded
    (``degrade.degrade`` with one seed per clip, from ``clip_seed``), as lip-sync output is.
    ``degraded_box`` records the box (all zeros where no mouth was found: image == reference).
    Written as ``<out>/frames/<video_id>/part-00000.parquet``; deterministic per seed. Clips in
    ``exclude_videos`` (default: those the shipped weights were trained on, from their manifests)
    are refused: a test set must be held out.
    """
    from raymouth import video
    from raymouth.ingest import sanitize_id
    from raymouth.locate import Locate

    trained = training_videos() if exclude_videos is None else set(exclude_videos)
    ids = [sanitize_id(Path(clip).stem) for clip in clips]
    for clip, vid in zip(clips, ids):
        if vid in trained:
            raise EvaluateError(f"{clip}: the weights were trained on {vid}; choose a held-out clip")
    out = storage.check_writable(out_uri, cfg.storage)
    summary: dict[str, Any] = {"out_uri": out.uri, "videos": {}}
    with Locate(cfg) as locate:
        for clip, vid in zip(clips, ids):
            fps = video.probe(clip).fps
            decoded = list(islice(video.iter_frames(clip), frames_per_clip))
            clean = [codec.encode(rgb) for _, _, rgb in decoded]
            batch = {"video_id": np.array([vid] * len(clean), dtype=object), "frame_index": np.arange(len(clean), dtype=np.int32), "image": np.array(clean, dtype=object)}
            located = locate(batch)
            rows = []
            for (index, t, rgb), ref_bytes, status, box in zip(decoded, clean, located["status"], located["mouth_box"]):
                ok = status == schema.STATUS_OK
                image = codec.encode(degrade_mouth(rgb, tuple(int(v) for v in box), clip_seed(seed, vid), cfg.degrade)) if ok else ref_bytes
                rows.append({"video_id": vid, "frame_index": int(index), "fps": float(fps), "width": rgb.shape[1], "height": rgb.shape[0], "image": image, "timestamp": float(t), "reference": ref_bytes, "degraded_box": [int(v) for v in box] if ok else [0, 0, 0, 0]})
            table = pa.Table.from_pylist(rows, schema=_reference_schema())
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink, row_group_size=8)
            storage.write_bytes(out.join("frames", vid, "part-00000.parquet"), sink.getvalue().to_pybytes())
            summary["videos"][vid] = {"frames": len(rows), "degraded": int(sum(s == schema.STATUS_OK for s in located["status"]))}
    return summary


# ---------------------------------------------------------------- command line


def add_evaluate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``raymouth evaluate IN_URI --out DIR [--variants ...] [--frames N] [--videos ...]``."""
    p = subparsers.add_parser("evaluate", help="score enhance variants on a frames dataset (PSNR/SSIM with a reference, no-reference measures always)")
    p.add_argument("input", help="frames dataset URI (a `reference` column turns on PSNR/SSIM)")
    p.add_argument("--out", required=True, help="local folder for evaluation.md, evaluation.json and plots")
    p.add_argument("--variants", nargs="+", default=None, metavar="NAME", help=f"variants to run (default: all of {', '.join(ALL_VARIANTS)})")
    p.add_argument("--frames", type=int, default=24, metavar="N", help="first N frames of each video (0 = all; default 24)")
    p.add_argument("--videos", nargs="+", default=None, metavar="ID", help="only these video ids")
    p.add_argument("--pb-dir", default=None, help="folder with LapSRN_x2.pb / FSRCNN_x2.pb (default: the fixtures' models/)")
    return p


def cmd_evaluate(args: argparse.Namespace, cfg: Config) -> int:
    evaluate(args.input, args.out, cfg, args.variants, args.frames, args.videos, args.pb_dir)
    return 0


def add_reference_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``raymouth make-reference CLIP... --out URI [--frames N] [--seed S]``."""
    p = subparsers.add_parser("make-reference", help="clean clips -> evaluation frames (mouth degraded, clean frame as reference)")
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
