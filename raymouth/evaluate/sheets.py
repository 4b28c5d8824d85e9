"""The evaluation's pictures: contact sheets of zoomed mouths, drawn with numpy + OpenCV.

Each cell is one mouth box blown up by an integer factor (at least 3) with nearest-neighbour
upscaling, so every pixel the job wrote is visible as it is (no smoothing by the viewer or the
plot library). Cells sit on a regular grid whose geometry is returned with the file, so a test
(or a person) can find any cell.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

GAP = 6
LABEL_W = 110
HEADER_H = 22
BG = 255


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _text(img: np.ndarray, text: str, x: int, y: int, width: int) -> None:
    scale = 0.45
    while scale > 0.25 and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > width:
        scale -= 0.05
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    """``img`` blown up ``factor`` times, each pixel a ``factor`` × ``factor`` block (nearest)."""
    return np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)


def grid_sheet(rows: list[tuple[str, dict[str, np.ndarray]]], columns: list[str], zoom: int, path: Path, title: str = "") -> dict[str, Any]:
    """Rows × columns of zoomed crops (a missing cell stays blank); returns the path and the grid geometry.

    Cell (r, c) starts at ``origin + (r * pitch[0], c * pitch[1])`` and is ``cell`` pixels (h, w).
    """
    h = max((img.shape[0] for _, cells in rows for img in cells.values()), default=1) * zoom
    w = max((img.shape[1] for _, cells in rows for img in cells.values()), default=1) * zoom
    top = HEADER_H * (2 if title else 1)
    pitch = (h + GAP, w + GAP)
    sheet = np.full((top + len(rows) * pitch[0] + GAP, LABEL_W + len(columns) * pitch[1] + GAP, 3), BG, np.uint8)
    if title:
        _text(sheet, title, 6, HEADER_H - 6, sheet.shape[1] - 12)
    for c, name in enumerate(columns):
        _text(sheet, name, LABEL_W + c * pitch[1], top - 6, w)
    for r, (label, cells) in enumerate(rows):
        y = top + r * pitch[0]
        _text(sheet, label, 4, y + h // 2, LABEL_W - 8)
        for c, name in enumerate(columns):
            img = cells.get(name)
            if img is None:
                continue
            big = upscale(img, zoom)
            x = LABEL_W + c * pitch[1]
            sheet[y : y + big.shape[0], x : x + big.shape[1]] = big
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return {"path": str(path), "zoom": zoom, "origin": [top, LABEL_W], "pitch": list(pitch), "cell": [h, w], "rows": [r for r, _ in rows], "columns": columns}


def write_sheets(out: Path, sheets: dict[str, dict], real_sheets: dict[str, dict], names: list[str], zoom: int) -> dict[str, Any]:
    """One sheet per clean clip (a row per strength: clean / input / every variant, the clip's middle
    located frame) and one per real clip (input / every variant); returns paths and geometry."""
    written = []
    for clip, sheet in sheets.items():
        if not sheet:
            continue
        columns = ["clean", *[n for n in names]]
        rows = [(s, {"clean": sheet["clean"], **cells}) for s, cells in sheet["strengths"].items()]
        title = f"{clip} frame {sheet['frame_index']}, mouth box {sheet['box']} zoomed {zoom}x"
        info = grid_sheet(rows, [c for c in columns if any(c in cells for _, cells in rows)], zoom, out / f"sheet_{_safe(clip)}.png", title)
        written.append({**info, "clip": clip, "frame_index": sheet["frame_index"], "box": sheet["box"], "kind": "clean"})
    for clip, sheet in real_sheets.items():
        if not sheet:
            continue
        columns = [n for n in names if n in sheet["cells"]]
        title = f"{clip} (real, no reference) frame {sheet['frame_index']}, mouth box {sheet['box']} zoomed {zoom}x"
        info = grid_sheet([("as is", sheet["cells"])], columns, zoom, out / f"sheet_real_{_safe(clip)}.png", title)
        written.append({**info, "clip": clip, "frame_index": sheet["frame_index"], "box": sheet["box"], "kind": "real"})
    return {"sheets": [w["path"] for w in written], "sheet_layout": written, "zoom": zoom}
