"""Export's before/after contact sheet: a row per sampled frame, both frames with the mouth box
drawn and both mouths zoomed, drawn with OpenCV."""
from __future__ import annotations

import cv2
import numpy as np


def fit_height(img: np.ndarray, height: int) -> np.ndarray:
    scale = height / img.shape[0]
    width = max(1, round(img.shape[1] * scale))
    interp = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    return cv2.resize(img, (width, height), interpolation=interp)


def label(img: np.ndarray, text: str) -> np.ndarray:
    """``img`` with ``text`` written at its top left (white on a black outline)."""
    img = img.copy()
    cv2.putText(img, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def contact_sheet(samples: list[dict], row_height: int = 256) -> np.ndarray:
    """One row per sample: before | after | before mouth (zoomed) | after mouth (zoomed).

    Each sample has ``before`` and ``after`` RGB frames, ``box`` (x0, y0, x1, y1) and ``frame_index``.
    The box is drawn on the full frames so the zoom's origin is visible.
    """
    rows = []
    for s in samples:
        x0, y0, x1, y1 = s["box"]
        cells = []
        for name, img in (("before", s["before"]), ("after", s["after"])):
            framed = img.copy()
            cv2.rectangle(framed, (x0, y0), (x1 - 1, y1 - 1), (255, 64, 64), max(1, img.shape[0] // 200))
            cells.append(label(fit_height(framed, row_height), f"{name} #{s['frame_index']}"))
        for name, img in (("before mouth", s["before"]), ("after mouth", s["after"])):
            cells.append(label(fit_height(img[y0:y1, x0:x1], row_height), name))
        rows.append(np.hstack(cells))
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.vstack(padded)


def sheet_positions(count: int, n: int) -> list[int]:
    """``n`` evenly spaced positions in a video of ``count`` frames, first and last included."""
    if count <= 0 or n <= 0:
        return []
    return sorted({int(round(x)) for x in np.linspace(0, count - 1, min(n, count))})
