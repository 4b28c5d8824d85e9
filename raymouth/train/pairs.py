"""Training pairs for the enhance chain's models: the crop degraded by ``degrade``, then the
chain's own preprocessing, so training and inference see crops prepared by the same code."""
from __future__ import annotations

import numpy as np

from raymouth.config import Config
from raymouth.restore.chain import check_crop, pad_to, preprocess, target_at_ae_px
from raymouth.train.degrade import degrade, naturally_soft


def training_pair(clean_crop: np.ndarray, seed: int, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """``(sr_input, target)``, both RGB uint8: ``preprocess(degrade(clean))`` and the clean crop
    at ``ae_px``². Deterministic per seed. Feed ``to_float(sr_input)`` to the SR model (EDSR
    training) or ``EnhanceChain.ae_inputs`` (autoencoder training) and compare with
    ``to_float(target)``."""
    degraded = degrade(clean_crop, seed, cfg.degrade)
    return preprocess(degraded, cfg), target_at_ae_px(clean_crop, cfg)


def native_training_pair(clean_crop: np.ndarray, seed: int, cfg: Config, patch_px: int) -> tuple[np.ndarray, np.ndarray]:
    """``(degraded_patch, clean_patch)``, RGB uint8 (patch_px, patch_px, 3), for the native model.

    A share ``degrade.soft_rate`` of clean crops is first softened as a whole (``naturally_soft``: the
    target is then a naturally soft mouth). The whole crop is degraded (``degrade``: its blind
    family includes identity pairs), then one
    ``patch_px``² window at a seeded position is cut from both; crops smaller than the patch are
    mirrored out with ``pad_to``, as at inference.
    """
    check_crop(clean_crop)
    if cfg.degrade.soft_rate > 0:
        soft_rng = np.random.default_rng([int(seed), 1])  # its own stream: pairs without it stay as they were
        if soft_rng.random() < cfg.degrade.soft_rate:
            clean_crop = naturally_soft(clean_crop, soft_rng)
    rng = np.random.default_rng(int(seed))
    degraded = degrade(clean_crop, int(rng.integers(1 << 62)), cfg.degrade)
    h, w = clean_crop.shape[:2]
    H, W = max(h, patch_px), max(w, patch_px)
    clean, degraded = pad_to(clean_crop, H, W), pad_to(degraded, H, W)
    y, x = int(rng.integers(0, H - patch_px + 1)), int(rng.integers(0, W - patch_px + 1))
    window = (slice(y, y + patch_px), slice(x, x + patch_px))
    return np.ascontiguousarray(degraded[window]), np.ascontiguousarray(clean[window])
