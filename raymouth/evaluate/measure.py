"""How `raymouth evaluate` measures: each variant runs the job's own stages on staged rows (a
frame's window around its box), and what the job would write is scored on the mouth box.

No Ray: the stage callables are called directly (``raymouth.job.in_process``), so the numbers are exactly
the job's. ``Rows`` is a Ray Data numpy batch (column name -> array), as the stages take it.
"""
from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from raymouth.config import Config
from raymouth.data import codec, compose, schema
from raymouth.evaluate.clips import Clip, EvaluateError, frame_seed
from raymouth.evaluate.variants import DEFAULT, IDENTITY, align_edsr_arch, with_overrides
from raymouth.mouth import roi
from raymouth.paste import metrics
from raymouth.train import degrade

if TYPE_CHECKING:
    from raymouth.job.in_process import Rows

INPUT = "input"


def variant_config(name: str, base: Config, table: dict[str, list[str]]) -> Config:
    """The config a variant runs with."""
    if name not in table:
        raise EvaluateError(f"unknown variant {name!r} (choose from {', '.join(table)})")
    cfg = with_overrides(base, table[name])
    return cfg if name in (DEFAULT, IDENTITY) else align_edsr_arch(cfg)


class PasteInput:
    """The identity variant's enhance stage: the crop itself as the 'enhanced' crop (no model)."""

    model_version = IDENTITY

    def __call__(self, batch: Rows) -> Rows:
        from raymouth.mouth.locate import mouth_crop

        crops = np.empty(len(batch["status"]), dtype=object)
        crops[:] = [mouth_crop(batch, i) if s == schema.STATUS_OK else np.zeros((0, 0, 3), np.uint8) for i, s in enumerate(batch["status"])]
        batch["enhanced_crop"] = crops
        batch["model_version"] = np.array([self.model_version] * len(batch["status"]), dtype=object)
        return batch


@dataclasses.dataclass
class Variant:
    """One variant's stages, built once and used for every clip and strength."""

    name: str
    overrides: list[str]
    cfg: Config
    stages: Any = None  # in_process.LocalStages: enhance -> composite, as the job runs them
    model_version: str = ""
    error: str = ""
    seconds: float = 0.0
    same_as: str = ""  # an earlier variant with the very same config: its results are reused

    def build(self, earlier: list["Variant"] = ()) -> "Variant":
        from raymouth.job.in_process import LocalStages

        twin = next((v for v in earlier if not v.same_as and (v.name == IDENTITY) == (self.name == IDENTITY) and v.cfg.hash() == self.cfg.hash()), None)
        if twin is not None:
            self.same_as, self.model_version, self.error = twin.name, twin.model_version, twin.error
            return self

        try:
            enhance = PasteInput() if self.name == IDENTITY else None
            # patch mode: what `outputs` pastes
            self.stages = LocalStages(self.cfg, f"evaluate-{self.name}", enhance, output_mode=schema.OUTPUT_PATCH)
        except Exception as exc:  # noqa: BLE001 - one variant's missing weights must not stop the others
            lines = str(exc).strip().splitlines()
            self.error = f"{type(exc).__name__}: {lines[0] if lines else ''}"
            return self
        self.model_version = self.stages.enhance.model_version
        return self

    def __call__(self, batch: Rows) -> Rows:
        started = time.perf_counter()
        out = self.stages(batch)
        self.seconds += time.perf_counter() - started
        return out



def box_of(batch: Rows, i: int) -> roi.Box:
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

    batch: Rows
    frames: list[np.ndarray]
    windows: list[roi.Box]


def stage_batch(located: Rows, rows: list[int], frames: list[np.ndarray], clean: list[np.ndarray] | None = None) -> Staged:
    """The located rows ``rows`` with ``frames`` (one per row) as the image, cut to the located box's
    window (the boxes in its pixels: the enhance stage cuts the crop from it); with ``clean`` frames also a ``reference`` column, so ``Composite`` scores the paste before
    its gate (``psnr_out``)."""
    idx = np.asarray(rows, dtype=np.int64)
    batch = {k: located[k][idx] for k in ("video_id", "frame_index", "status", "confidence")}
    n = len(rows)
    for key in ("image", "mouth_polygon", "landmarks"):
        batch[key] = np.empty(n, dtype=object)
    batch["mouth_box"] = np.zeros((n, 4), np.int32)
    windows = []
    for j, (i, frame) in enumerate(zip(rows, frames)):
        box = box_of(located, i)
        wx0, wy0, wx1, wy1 = roi.window(frame.shape, box)[0]
        windows.append((wx0, wy0, wx1, wy1))
        batch["image"][j] = codec.encode(frame[wy0:wy1, wx0:wx1])
        batch["mouth_box"][j] = (box[0] - wx0, box[1] - wy0, box[2] - wx0, box[3] - wy0)
        poly = np.asarray(located["mouth_polygon"][i], np.float32).reshape(-1, 2) - np.float32([wx0, wy0])
        batch["mouth_polygon"][j] = poly.reshape(-1)
        points = np.asarray(located["landmarks"][i], np.float32).reshape(-1, 2) - np.float32([wx0, wy0])
        batch["landmarks"][j] = points.reshape(-1)
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
        facts = {"status": str(out["status"][j]), "seam": float(out["seam"][j]), "delta_e": float(out["delta_e"][j])}
        if "reject_reason" in out:
            facts["reject_reason"] = str(out["reject_reason"][j] or "")
        for key, name in (("detail_ratio", "detail_ratio"), ("lip_shift_px", "lip_shift_px"), ("low_band_change", "low_band_change"), ("psnr_out", "psnr_ungated")):
            if key in out and not np.isnan(out[key][j]):
                facts[name] = float(out[key][j])
        result.append((frame, facts))
    return result


def zoom(frame: np.ndarray, box: roi.Box) -> np.ndarray:
    return roi.crop(frame, box)


def locate_clip(locate, clip: Clip) -> Rows:
    batch = {
        "video_id": np.array([clip.video_id] * len(clip.frames), dtype=object),
        "frame_index": np.asarray(clip.frame_index, dtype=np.int64),
        "image": np.empty(len(clip.frames), dtype=object),
    }
    batch["image"][:] = [codec.encode(f) for f in clip.frames]
    return locate(batch)


def ok_rows(located: Rows) -> list[int]:
    return [i for i, s in enumerate(located["status"]) if s == schema.STATUS_OK]


def statuses(located: Rows) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in located["status"]:
        counts[str(s)] = counts.get(str(s), 0) + 1
    return counts


def run_clean_clip(clip: Clip, located: Rows, variants: list[Variant], strengths: list[str], seed: int) -> tuple[dict, dict]:
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


def fixed_box(located: Rows) -> roi.Box | None:
    """The median of the clip's ok boxes: crops of constant size for flicker."""
    ok = [located["mouth_box"][i] for i in ok_rows(located)]
    return tuple(int(v) for v in np.median(np.asarray(ok), axis=0).round()) if ok else None


def run_real_clip(clip: Clip, located: Rows, variants: list[Variant]) -> tuple[dict, dict]:
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
