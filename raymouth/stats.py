"""Small pure helpers shared by the evaluation and the per-identity fine-tune: which frames to
pick, and PSNR pooled over many crops."""
from __future__ import annotations

import numpy as np

PSNR_CAP = 100.0  # dB: a perfect copy scores this, not infinity


def spaced(count: int, n: int) -> list[int]:
    """``n`` frame positions evenly spaced over ``count`` frames (first and last included); all if n <= 0."""
    if count <= 0:
        return []
    if n <= 0 or n >= count:
        return list(range(count))
    return sorted({int(round(p)) for p in np.linspace(0, count - 1, n)})


def pooled_psnr(mses: list[float]) -> float:
    """PSNR (dB, uint8 range, capped at ``PSNR_CAP``) of the mean of per-crop MSEs: one MSE over every pixel."""
    mse = float(np.mean(mses))
    return PSNR_CAP if mse == 0.0 else float(min(PSNR_CAP, 10.0 * np.log10(255.0**2 / mse)))
