"""Automatic detail: each mouth's detail level (``enhance.detail``) from how much fine detail it
has against the face around it, so a soft lip-synced mouth gets the detail model's sharpness and
an open, detailed mouth keeps the fidelity model. No TensorFlow here: the chain applies the level.
"""
from __future__ import annotations

import numpy as np

from raymouth.config import EnhanceConfig


def detail_lineage(enh: EnhanceConfig) -> bool:
    """Whether there are detail weights of the native weights' own lineage to interpolate toward:
    the packaged pair, or detail weights the user names beside their own native weights."""
    return not enh.native_weights or bool(enh.native_detail_weights)


def auto_detail(enh: EnhanceConfig) -> bool:
    """Whether each crop gets its own detail level (``detail_level``): the native chain with
    ``detail_auto``, and detail weights of the native weights' own lineage."""
    return enh.chain == "native" and enh.detail_auto and detail_lineage(enh)


def detail_level(ratio: float, enh: EnhanceConfig) -> float:
    """The detail level of one crop from its input's mouth / surround sharpness ratio.

    Below ``detail_soft_ratio`` the mouth has less fine detail than the face around it, and
    detail rises linearly to all of it at ``detail_full_ratio``. A lip-synced mouth measures low;
    so do many clean closed mouths (smooth lips, stubble around them), which the detail model
    leaves nearly alone. The mouths it harms, open ones with more detail than their face, get
    none. Rounded to ``detail_step`` (one model per level in use), never below ``enhance.detail``.
    Measured on the held-out clips (docs/evaluation.md): Wav2Lip kennedy's ratio 0.78 -> 0.85 where the
    fidelity model alone gave 0.71, every fixed-strength gain within 0.02 dB of it.
    """
    if not np.isfinite(ratio):
        return float(enh.detail)
    share = (enh.detail_soft_ratio - float(ratio)) / (enh.detail_soft_ratio - enh.detail_full_ratio)
    share = min(1.0, max(0.0, share))
    return max(float(enh.detail), min(1.0, round(share / enh.detail_step) * enh.detail_step))


def detail_levels(enh: EnhanceConfig) -> list[float]:
    """Every level ``detail_level`` can give: the chain builds them all when it starts, not on
    the batch that first needs one (start-up then overlaps the locate stage's first frames)."""
    if not auto_detail(enh):
        return [float(enh.detail)]
    steps = round(1.0 / enh.detail_step)
    return sorted({max(float(enh.detail), min(1.0, k * enh.detail_step)) for k in range(steps + 1)})
