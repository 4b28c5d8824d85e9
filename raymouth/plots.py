"""The evaluation's pictures (matplotlib, Agg backend: no display needed on a cluster node).

Kept apart from ``evaluate`` so the measuring code imports no plotting library.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from raymouth.evaluate import Batch, Measured

BAR_METRICS = (
    # (summary key, title, reference line)
    ("delta_psnr", "ΔPSNR vs input (dB)", 0.0),
    ("ssim", "mouth SSIM", None),
    ("sharpness_ratio", "sharpness ratio mouth / face", 1.0),
    ("seam", "seam (ΔE)", None),
    ("delta_e", "ΔE to surround", None),
    ("flicker_ratio", "flicker ratio vs input", 1.0),
)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # before pyplot: never needs a display
    import matplotlib.pyplot as plt

    return plt


def bar_chart(report: dict[str, Any], path: Path) -> Path | None:
    """One horizontal bar panel per measure, a bar per variant (input first); None when nothing to plot."""
    plt = _pyplot()
    entries = [("input", report["input"])] + ([("reference", report["reference"])] if report.get("reference") else [])
    entries += [(n, v["summary"]) for n, v in report["variants"].items() if v["summary"]]
    panels = [(k, t, r) for k, t, r in BAR_METRICS if any(s.get(k) is not None for _, s in entries)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 0.45 * len(entries) + 1.5), sharey=True, squeeze=False)
    names = [n for n, _ in entries]
    for ax, (key, title, line) in zip(axes[0], panels):
        values = [s.get(key) if s.get(key) is not None else np.nan for _, s in entries]
        ax.barh(names, values, color=["#888888" if n in ("input", "reference") else "#3b75af" for n in names])
        if line is not None:
            ax.axvline(line, color="k", lw=0.8, ls="--")
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=8)
    axes[0][0].invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def sharpness_over_time(located: "Batch", inp: "Measured", focus: "Measured", ref: "Measured | None", path: Path) -> Path | None:
    """Mouth sharpness per frame of one clip (the first with a reference, else the first): input, focus variant, reference."""
    plt = _pyplot()
    vids = [str(v) for v in located["video_id"]]
    candidates = [vids[i] for i in sorted(ref.rows)] if ref else [vids[i] for i in sorted(inp.rows)]
    if not candidates:
        return None
    vid = candidates[0]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for label, m, style in (("input", inp, "-"), (focus.name, focus, "-"), ("reference", ref, "--")):
        if m is None:
            continue
        rows = [i for i in sorted(m.rows) if vids[i] == vid]
        if rows:
            ax.plot([int(located["frame_index"][i]) for i in rows], [m.rows[i]["sharpness"] for i in rows], style, label=label, marker=".")
    ax.set_yscale("log")
    ax.set_xlabel("frame")
    ax.set_ylabel("mouth sharpness (Laplacian var.)")
    ax.set_title(f"{vid}: mouth sharpness over time", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _draw_box(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    import cv2

    out = img.copy()
    x0, y0, x1, y1 = box
    cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (255, 64, 64), max(2, img.shape[0] // 160))
    return out


def _grid(cells: list[list[tuple[str, np.ndarray | None]]], path: Path, cell_in: float = 2.2) -> Path:
    """Images in a grid with titles (None leaves a cell empty)."""
    plt = _pyplot()
    n_rows, n_cols = len(cells), max(len(r) for r in cells)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell_in * n_cols, cell_in * 0.75 * n_rows + 0.4), squeeze=False)
    for r, row in enumerate(cells):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(row) and row[c][1] is not None:
                ax.imshow(row[c][1], interpolation="nearest")
                ax.set_title(row[c][0], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def variants_sheet(located: "Batch", rows: list[int], inp: "Measured", ref: "Measured | None", results: dict[str, "Measured"], path: Path) -> Path | None:
    """Zoomed mouths, one row per frame: input | every variant | reference."""
    if not rows:
        return None
    sources = [("input", inp)] + [(n, m) for n, m in results.items() if not m.error] + ([("reference", ref)] if ref else [])
    cells = []
    for i in rows:
        tag = f"{located['video_id'][i]} #{int(located['frame_index'][i])}"
        cells.append([(f"{name}\n{tag}" if k == 0 else name, m.zooms.get(i)) for k, (name, m) in enumerate(sources)])
    return _grid(cells, path)


def before_after_sheet(located: "Batch", rows: list[int], inp: "Measured", ref: "Measured | None", focus: "Measured", path: Path) -> Path | None:
    """Before / after / reference, whole frame (box drawn) then mouth zoomed, one row per frame."""
    rows = [i for i in rows if i in focus.frames]
    if not rows:
        return None
    cells = []
    for i in rows:
        box = tuple(int(v) for v in located["mouth_box"][i])
        tag = f" #{int(located['frame_index'][i])}"
        row = [("before" + tag, _draw_box(inp.frames[i], box)), (f"after ({focus.name})", _draw_box(focus.frames[i], box))]
        row.append(("reference", _draw_box(ref.frames[i], box)) if ref and i in ref.frames else ("", None))
        row += [("before mouth", inp.zooms.get(i)), ("after mouth", focus.zooms.get(i))]
        row.append(("reference mouth", ref.zooms.get(i)) if ref else ("", None))
        cells.append(row)
    return _grid(cells, path, cell_in=2.6)


def write_all(out: Path, located: "Batch", sheet_rows: set[int], inp: "Measured", ref: "Measured | None", results: dict[str, "Measured"], focus: str, report: dict[str, Any]) -> dict[str, list[str]]:
    """Every plot and sheet into ``out``; returns their paths by kind."""
    rows = sorted(sheet_rows)
    focus_m = results[focus]
    plots = [
        bar_chart(report, out / "metrics_by_variant.png"),
        sharpness_over_time(located, inp, focus_m, ref, out / "sharpness_over_time.png") if not focus_m.error else None,
    ]
    sheets = [
        variants_sheet(located, rows, inp, ref, results, out / "sheet_variants.png"),
        before_after_sheet(located, rows, inp, ref, focus_m, out / f"sheet_{_safe(focus)}.png"),
    ]
    return {"plots": [str(p) for p in plots if p], "sheets": [str(p) for p in sheets if p]}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
