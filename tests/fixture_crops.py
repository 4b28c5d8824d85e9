"""Mouth-region crops from a fixture clip, for the tests that train a model for a few seconds."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def clip_crops(path: Path, count: int = 48, stride: int = 2) -> list[np.ndarray]:
    """Centre-lower (mouth) region of every ``stride``-th frame: RGB uint8, about 0.4 W x 0.25 H."""
    import av

    crops = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % stride:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            h, w = rgb.shape[:2]
            crops.append(np.ascontiguousarray(rgb[int(0.6 * h) : int(0.85 * h), int(0.3 * w) : int(0.7 * w)]))
            if len(crops) == count:
                break
    return crops


def clip_pairs(cfg, crops: list[np.ndarray], seed0: int = 0, repeats: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``training_pair`` over ``crops`` (``repeats`` degradations each): stacked (sr_inputs, targets)."""
    from raymouth.train.pairs import training_pair

    pairs = [training_pair(c, seed0 + 1000 * k + i, cfg) for k in range(repeats) for i, c in enumerate(crops)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def mouth_crops(count: int = 48, stride: int = 2, clip: str = "video/retalking_face_5.mp4") -> list[np.ndarray]:
    """``clip_crops`` of a fixture clip (skips the test when the fixture is absent)."""
    from conftest import fixture_path

    return clip_crops(fixture_path(clip), count, stride)
