"""Unsharp masking, the write-up's ``cv2.addWeighted`` sharpening.

Sharpening lowers PSNR (0.4-0.6 dB); its value, if any, is perceived sharpness,
so the amount is a config value (``SharpenConfig.amount``, 0 = off) that evaluation decides.
"""
from __future__ import annotations

import cv2
import numpy as np


def sharpen(img: np.ndarray, amount: float, sigma: float = 1.0) -> np.ndarray:
    """``(1 + amount) * img - amount * GaussianBlur(img, sigma)``, same dtype and shape.

    Works on uint8 (saturated by OpenCV) or float32 images, single images (H, W, C) only.
    ``amount`` 0 returns the input object unchanged.
    """
    if amount == 0:
        return img
    if amount < 0 or sigma <= 0:
        raise ValueError(f"sharpen needs amount >= 0 and sigma > 0, got amount={amount}, sigma={sigma}")
    blurred = cv2.GaussianBlur(img, (0, 0), sigmaX=float(sigma), sigmaY=float(sigma))
    return cv2.addWeighted(img, 1.0 + amount, blurred, -float(amount), 0)


def sharpen_batch(batch: np.ndarray, amount: float, sigma: float = 1.0) -> np.ndarray:
    """``sharpen`` applied to each image of an (N, H, W, C) batch."""
    if amount == 0:
        return batch
    return np.stack([sharpen(img, amount, sigma) for img in batch])
