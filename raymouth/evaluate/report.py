"""Summaries and Markdown of `raymouth evaluate`: per clip, mean over clips and the worst clip.

A clip's mouth PSNR is pooled over its frames (``10 log10(255² / mean MSE)``, capped at 100 dB like
``metrics.psnr``), so one identical (or rejected, hence unchanged) frame cannot lift a clip's mean
by itself; its gain is the output's pooled PSNR minus the degraded input's. SSIM, sharpness ratio
and the gate's measures are means over frames. Mean = mean over clips; worst = the minimum over
clips (every number in the criteria is a lower bound).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from raymouth.data import schema
from raymouth.evaluate.provenance import GROUPS, OUT_OF_SOURCE, grouped
from raymouth.paste.metrics import PSNR_CAP, pooled_psnr
from raymouth.train import degrade

CLEAN = "clean"
INPUT = "input"
FLICKER_LIMIT = 1.1  # the gate has no flicker limit; the evaluation's own: at most 10% more than the input's
STRENGTH_TITLES = {
    "clean": "clean (no degradation): output PSNR vs the input itself, dB",
    "mild": "mild (2× area + bicubic + JPEG 75): ΔPSNR vs the degraded input, dB",
    "lipsync": "lip-sync-like (3× + JPEG 50): ΔPSNR vs the degraded input, dB",
    "harsh": "harsh (4× + noise σ 3 + JPEG 40): ΔPSNR vs the degraded input, dB",
}
SHORT = {"clean": "clean", "mild": "mild", "lipsync": "lip-sync", "harsh": "harsh"}


def _mean(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None and not np.isnan(v)]
    return float(np.mean(vals)) if vals else None


def _max(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None and not np.isnan(v)]
    return float(np.max(vals)) if vals else None


def _rejected(rows: list[dict]) -> dict[str, int]:
    """Counts of every status but ok (``rejected_quality``...)."""
    counts: dict[str, int] = {}
    for r in rows:
        s = r.get("status", schema.STATUS_OK)
        if s != schema.STATUS_OK:
            counts[s] = counts.get(s, 0) + 1
    return counts


def _reasons(rows: list[dict]) -> dict[str, int]:
    """How often the gate gave each reason (a row may have several: ``seam+lost_detail``)."""
    counts: dict[str, int] = {}
    for r in rows:
        for reason in (r.get("reject_reason") or "").split("+"):
            if reason:
                counts[reason] = counts.get(reason, 0) + 1
    return counts


def reasons_text(total: int, reasons: dict[str, int]) -> str:
    return f"{total} ({', '.join(f'{k} {v}' for k, v in sorted(reasons.items()))})" if reasons else str(total)


def clip_summary(rows: list[dict], base: list[dict]) -> dict[str, Any]:
    psnr, psnr_in = pooled_psnr([r["mse"] for r in rows]), pooled_psnr([r["mse"] for r in base])
    ssim, ssim_in = _mean([r["ssim"] for r in rows]), _mean([r["ssim"] for r in base])
    rejected = _rejected(rows)
    ungated = [r["psnr_ungated"] for r in rows if "psnr_ungated" in r]
    psnr_ungated = pooled_psnr([0.0 if p >= PSNR_CAP else 255.0**2 / 10 ** (p / 10) for p in ungated]) if len(ungated) == len(rows) and rows else None
    return {
        "frames": len(rows),
        "psnr": psnr,
        "psnr_ungated": psnr_ungated,
        "gain_ungated": psnr_ungated - psnr_in if psnr_ungated is not None else None,
        "psnr_input": psnr_in,
        "gain": psnr - psnr_in,
        "psnr_frames_mean": _mean([r["psnr"] for r in rows]),
        "ssim": ssim,
        "delta_ssim": ssim - ssim_in,
        "sharpness_ratio": _mean([r["sharpness_ratio"] for r in rows]),
        "seam": _mean([r.get("seam") for r in rows]),
        "delta_e": _mean([r.get("delta_e") for r in rows]),
        "detail_ratio": _mean([r.get("detail_ratio") for r in rows]),
        "lip_shift_max": _max([r.get("lip_shift_px") for r in rows]),
        "low_band_change_max": _max([r.get("low_band_change") for r in rows]),
        "rejected": sum(rejected.values()),
        "statuses": rejected,
        "reasons": _reasons(rows),
    }


def summarize_strengths(measured: dict[str, dict[str, dict[str, list[dict]]]], names: list[str]) -> dict[str, Any]:
    """strength -> variant -> per clip, mean and worst clip. ``score`` is the clip's PSNR at
    ``clean`` and its gain at every other strength."""
    out: dict[str, Any] = {}
    for s, by_variant in measured.items():
        base = by_variant.get(INPUT, {})
        out[s] = {}
        for v in names:
            if v not in by_variant:
                continue
            per = {c: clip_summary(rows, base[c]) for c, rows in sorted(by_variant[v].items()) if rows}
            key = "psnr" if s == CLEAN else "gain"
            for p in per.values():
                p["score"] = p[key]
            worst = min(per, key=lambda c: per[c]["score"]) if per else None
            out[s][v] = {
                "score": key,
                "mean": _mean([p["score"] for p in per.values()]),
                "worst": {"clip": worst, "value": per[worst]["score"]} if worst else None,
                "mean_psnr": _mean([p["psnr"] for p in per.values()]),
                "mean_delta_ssim": _mean([p["delta_ssim"] for p in per.values()]),
                "mean_ungated": _mean([p["psnr_ungated" if s == CLEAN else "gain_ungated"] for p in per.values()]),
                "rejected": sum(p["rejected"] for p in per.values()),
                "reasons": _merge([p["reasons"] for p in per.values()]),
                "frames": sum(p["frames"] for p in per.values()),
                "per_clip": per,
            }
    return out


def _merge(counts: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            out[k] = out.get(k, 0) + v
    return out


def summarize_real(real: dict[str, dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """clip -> variant -> sharpness ratio, its change vs the input, the gate's measures, flicker, rejected."""
    out: dict[str, Any] = {}
    for clip, by_variant in real.items():
        base = _mean([r["sharpness_ratio"] for r in by_variant.get(INPUT, {}).get("rows", [])])
        out[clip] = {}
        for v in names:
            if v not in by_variant:
                continue
            rows = by_variant[v]["rows"]
            ratio = _mean([r["sharpness_ratio"] for r in rows])
            seams, shifts = [r["seam"] for r in rows if "seam" in r], [r["delta_e"] for r in rows if "delta_e" in r]
            rejected = _rejected(rows)
            out[clip][v] = {
                "frames": len(rows),
                "sharpness_ratio": ratio,
                "delta_sharpness_ratio": ratio - base if ratio is not None and base is not None else None,
                "seam": _mean(seams),
                "seam_max": max(seams) if seams else None,
                "delta_e": _mean(shifts),
                "delta_e_max": max(shifts) if shifts else None,
                "flicker_ratio": by_variant[v]["flicker_ratio"],
                "detail_ratio": _mean([r.get("detail_ratio") for r in rows]),
                "lip_shift": _mean([r.get("lip_shift_px") for r in rows]),
                "lip_shift_max": _max([r.get("lip_shift_px") for r in rows]),
                "low_band_change_max": _max([r.get("low_band_change") for r in rows]),
                "rejected": sum(rejected.values()),
                "statuses": rejected,
                "reasons": _reasons(rows),
            }
    return out


def criteria(report: dict[str, Any], variant: str) -> list[dict[str, Any]]:
    """The done-when checks, measured on ``variant`` (normally ``default``) over the out-of-source
    clips when there are any (defaults are chosen there), else over every clip."""
    groups = report.get("groups") or {}
    scope = OUT_OF_SOURCE if OUT_OF_SOURCE in groups else "all clips"
    res, checks = groups.get(OUT_OF_SOURCE, report["results"]), []

    def add(what: str, value: float | None, target: float, higher: bool = True, where: str = scope) -> None:
        ok = value is not None and (value >= target if higher else value <= target)
        checks.append({"check": what, "scope": where, "variant": variant, "value": value, "target": target, "higher_is_better": higher, "pass": bool(ok)})

    def get(s: str, key: str) -> float | None:
        r = res.get(s, {}).get(variant)
        if not r:
            return None
        return r["mean"] if key == "mean" else (r["worst"] or {}).get("value")

    if CLEAN in res:
        add("clean: mean mouth PSNR vs input ≥ 55 dB", get(CLEAN, "mean"), 55.0)
        add("clean: every clip ≥ 50 dB", get(CLEAN, "worst"), 50.0)
    if "mild" in res:
        add("mild: no clip loses more than 0.1 dB", get("mild", "worst"), -0.1)
    if "lipsync" in res:
        add("lip-sync-like: mean gain ≥ +1.2 dB", get("lipsync", "mean"), 1.2)
        add("lip-sync-like: every clip ≥ +0.5 dB", get("lipsync", "worst"), 0.5)
    if "harsh" in res:
        add("harsh: mean gain ≥ +1.2 dB", get("harsh", "mean"), 1.2)
    gate = report.get("gate", {})
    for clip, by_variant in report.get("real", {}).items():
        r = by_variant.get(variant)
        if not r:
            continue
        add(f"{clip}: sharpness ratio goes up (Δ > 0)", r["delta_sharpness_ratio"], 1e-9, where="real")
        add(f"{clip}: gate paste seam ≤ {gate.get('max_seam')} ΔE (max over frames)", r["seam_max"], gate.get("max_seam", 3.0), higher=False, where="real")
        add(f"{clip}: gate colour shift ≤ {gate.get('max_delta_e')} ΔE (max over frames)", r["delta_e_max"], gate.get("max_delta_e", 3.0), higher=False, where="real")
        add(f"{clip}: flicker ratio ≤ {FLICKER_LIMIT}", r["flicker_ratio"], FLICKER_LIMIT, higher=False, where="real")
    return checks


# ---------------------------------------------------------------- Markdown


def fmt(value: Any, digits: int = 2, signed: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _rows_of(report: dict[str, Any]) -> list[str]:
    names = [INPUT, *report["variants"]]
    return [n for n in names if any(n in report["results"].get(s, {}) for s in report["results"]) or n == INPUT]


def summary_table(report: dict[str, Any], results: dict[str, Any] | None = None) -> str:
    """Variant × strength: mean over clips and the worst clip (named); rejected frames per strength.
    ``results``: one group's summaries (default: every clip)."""
    results = report["results"] if results is None else results
    strengths = list(results)
    if not strengths:
        return ""
    head = ["variant"]
    for s in strengths:
        what = "PSNR dB" if s == CLEAN else "ΔPSNR dB"
        head += [f"{SHORT.get(s, s)} {what} mean", f"{SHORT.get(s, s)} worst clip"]
    head += ["ΔSSIM " + SHORT.get(strengths[-1], strengths[-1]), "rejected (" + " / ".join(SHORT.get(s, s) for s in strengths) + ")"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in _rows_of(report):
        cells = [v]
        for s in strengths:
            r = results[s].get(v)
            signed = s != CLEAN
            cells += [fmt(r["mean"], 2, signed), _worst(r["worst"], signed)] if r else ["–", "–"]
        last = results[strengths[-1]].get(v)
        cells.append(fmt(last["mean_delta_ssim"], 4, True) if last else "–")
        cells.append(" / ".join(str(results[s][v]["rejected"]) if v in results[s] else "–" for s in strengths))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _worst(worst: dict | None, signed: bool) -> str:
    return f"{fmt(worst['value'], 2, signed)} ({worst['clip']})" if worst else "–"


def group_tables(report: dict[str, Any]) -> list[str]:
    """One summary table per source group, out-of-source first, each with its clips and sources."""
    parts: list[str] = []
    prov = report.get("provenance") or {}
    by_group = grouped(prov)
    for group, results in (report.get("groups") or {}).items():
        ids = by_group.get(group, [])
        clips = ", ".join(f"`{v}` ({prov[v]['source'] or '?'}{', trained on' if prov[v].get('trained_on') else ''})" for v in ids)
        parts += [f"### {group} clips ({len(ids)}): {clips}", summary_table(report, results)]
    return parts


def strength_table(report: dict[str, Any], s: str) -> str:
    """One strength: variant × clip, with the mean and the worst clip; the input row shows its
    absolute PSNR (for scale)."""
    res = report["results"][s]
    prov = report.get("provenance") or {}
    clips = sorted({c for r in res.values() for c in r["per_clip"]}, key=lambda c: (GROUPS.index(prov[c]["group"]) if c in prov else len(GROUPS), c))
    head = ["variant", *clips, "mean", "worst clip", "ungated mean", "ΔSSIM", "rejected (reasons)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    if prov:
        lines.append("| " + " | ".join(["source", *(prov.get(c, {}).get("group", "–") for c in clips), "", "", "", "", ""]) + " |")
    for v in _rows_of(report):
        r = res.get(v)
        if not r:
            continue
        if v == INPUT and s != CLEAN:
            vals = [r["per_clip"].get(c, {}).get("psnr") for c in clips]
            cells = ["input (its PSNR dB)", *(fmt(x) for x in vals), fmt(_mean_of(vals)), fmt(min((x for x in vals if x is not None), default=None)), "–", "–", "–"]
        else:
            signed = s != CLEAN
            w = r["worst"] or {}
            cells = [v, *(fmt(r["per_clip"].get(c, {}).get("score"), 2, signed) for c in clips), fmt(r["mean"], 2, signed), f"{fmt(w.get('value'), 2, signed)} ({w.get('clip')})", fmt(r["mean_ungated"], 2, signed), fmt(r["mean_delta_ssim"], 4, True), reasons_text(r["rejected"], r["reasons"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _mean_of(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def real_table(report: dict[str, Any]) -> str:
    head = ["clip", "variant", "sharpness ratio", "Δ vs input", "gate: paste seam ΔE mean / max", "gate: colour shift ΔE mean / max", "gate: detail ratio", "gate: lip shift px mean / max", "flicker ratio", "rejected (reasons)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for clip, by_variant in report["real"].items():
        for v, r in by_variant.items():
            seam = f"{fmt(r['seam'])} / {fmt(r['seam_max'])}" if r["seam"] is not None else "–"
            shift = f"{fmt(r['delta_e'])} / {fmt(r['delta_e_max'])}" if r["delta_e"] is not None else "–"
            delta = fmt(r["delta_sharpness_ratio"], 2, True) if v != INPUT else "–"
            lips = f"{fmt(r.get('lip_shift'))} / {fmt(r.get('lip_shift_max'))}" if r.get("lip_shift") is not None else "–"
            lines.append(f"| {clip} | {v} | {fmt(r['sharpness_ratio'])} | {delta} | {seam} | {shift} | {fmt(r['detail_ratio'])} | {lips} | {fmt(r['flicker_ratio'])} | {reasons_text(r['rejected'], r['reasons'])} |")
    return "\n".join(lines)


def criteria_list(report: dict[str, Any]) -> str:
    lines = []
    for c in report["criteria"]:
        signed = "ΔPSNR" in c["check"] or "gain" in c["check"] or "loses" in c["check"] or "Δ >" in c["check"]
        near = c["value"] is not None and round(c["value"], 2) == round(c["target"], 2)  # +1.197 must not read "+1.20" in a FAIL
        lines.append(f"- {'PASS' if c['pass'] else 'FAIL'}: {c['check']} — measured {fmt(c['value'], 3 if near else 2, signed)} (`{c['variant']}`, {c.get('scope', 'all clips')})")
    return "\n".join(lines)


def markdown_report(report: dict[str, Any]) -> str:
    """evaluation.md: what was measured, the tables (ready to paste), the criteria, the sheets."""
    clips = ", ".join(f"`{c}` ({v['frames']} frames, located {v['located'].get('ok', 0)})" for c, v in report["clips"].items()) or "none"
    real = ", ".join(f"`{c}` ({v['frames']} frames, located {v['located'].get('ok', 0)})" for c, v in report["real_clips"].items()) or "none"
    strengths = "; ".join(f"{s}: {spec[0]:g}× area down + bicubic up, noise σ {spec[1]:g}, JPEG {spec[2] or '–'}" for s, spec in report["strengths"].items())
    versions = "\n".join(f"- `{n}`: {v['model_version'] or '–'}; overrides `{' '.join(v['overrides']) or '(none)'}`; {fmt(v['seconds'], 1)} s" + (f" (the same config as `{v['same_as']}`: its results)" if v.get("same_as") else "") + (f" — **not run**: {v['error']}" if v["error"] else "") for n, v in report["variants"].items())
    parts = [
        "# raymouth evaluation",
        f"Clean clips ({report['frames']} evenly spaced frames each): {clips}.\n"
        f"Real lip-sync clips (first {report['real_frames']} frames, no reference): {real}.\n"
        f"Strengths (whole frame, `degrade.fixed`, seed {report['seed']}): {strengths}.",
        "The mouth is located once on the clean frame; every variant runs the job's stage code on the degraded frame "
        "(the clean frame's box → `EnhanceStage` → `Composite`, do-no-harm gate included) and what the job writes is scored "
        "on the mouth box against the clean frame. A clip's PSNR is pooled over its frames (10·log10(255²/mean MSE), capped "
        "at 100 dB); gain = output − degraded input; mean over clips; worst = the lowest clip. `ungated`: the paste "
        "before the do-no-harm gate (what the model alone would have done); rejected: frames the gate kept as they were, "
        "with its reasons.",
        "## Mouth PSNR at fixed strengths (mean over clips and worst clip)",
        summary_table(report),
    ]
    if len(report.get("groups") or {}) > 1 or OUT_OF_SOURCE in (report.get("groups") or {}):
        parts += [
            "## By source",
            "Out-of-source: clips from sources (repositories, cameras, datasets; `source_repo` in their MANIFEST.tsv) that "
            "no video the shipped weights trained on comes from; in-source: held-out clips from the training's own sources. "
            "The done-when checks below are measured on the out-of-source clips when there are any.",
            *group_tables(report),
        ]
    for s in report["results"]:
        parts += [f"### {STRENGTH_TITLES.get(s, s)}", strength_table(report, s)]
    if report["real"]:
        parts += [
            "## Real lip-sync output (no reference)",
            "Sharpness ratio: mouth / upper face (`metrics.sharpness_ratio`, Laplacian variance), mean over frames; "
            "gate measures are the do-no-harm gate's own (limits: paste seam "
            f"{report['gate'].get('max_seam')} ΔE, colour shift {report['gate'].get('max_delta_e')} ΔE); flicker ratio: mean-luma "
            "flicker of the mouth at one fixed box, output's / input's (1 = none added).",
            real_table(report),
        ]
    if report["criteria"]:
        parts += ["## Done-when checks", criteria_list(report)]
    zoom = report["files"].get("zoom")
    sheets = ", ".join(f"`{p.rsplit('/', 1)[-1]}`" for p in report["files"]["sheets"])
    parts += [
        "## Variants", versions,
        f"Contact sheets (mouth box zoomed {zoom}× nearest-neighbour; columns: clean / input / variants): {sheets or 'none'}.",
        f"Time: {report['seconds']} s.",
    ]
    return "\n\n".join(parts) + "\n"


STRENGTHS = tuple(degrade.STRENGTHS)
