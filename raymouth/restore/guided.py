"""The reference-guided restorer at inference: each mouth crop with the person's own mouth from
their reference clip (``exemplar``), aligned onto the crop, through the guided network.

Per crop: the exemplar's canonical crop is aligned onto the crop's own pixel grid
(``exemplar.align``: similarity from the lip landmarks, dense flow on low-passed copies, the
input's colours, a confidence that falls where the two disagree); crop, aligned exemplar and
confidence go through ``models.guided`` (output = crop + a learned correction, at the crop's own
size). Crops are mirrored out to size buckets (``enhance.bucket_px``) for the pixel-unshuffle and
a few network shapes, and cut back after, as the native chain does. No Ray here: ``job.stages.EnhanceStage`` holds one per actor.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from raymouth.exemplar.align import Aligned, align
from raymouth.restore.chain import WEIGHTS_DIR, bucket, grown, pad_to, shrunk, to_float, to_uint8

GUIDED_WEIGHTS = "edsr_guided.keras"  # packaged default (reference.guided_weights overrides)


@dataclass(frozen=True)
class Exemplar:
    """One retrieved mouth: its canonical RGB crop and its 40 lip points in that crop's pixels."""

    image: np.ndarray
    lips: np.ndarray


def guided_weights_path(value: str) -> Path:
    """The configured guided weights, or the packaged ones."""
    return Path(value).expanduser() if value else WEIGHTS_DIR / GUIDED_WEIGHTS


class GuidedChain:
    """Loaded once per actor; ``enhance`` restores crops with their exemplars. ``runtime`` as
    ``enhance.runtime``: LiteRT (no TensorFlow import) unless ``tensorflow`` (GPU actors) or LiteRT
    is not installed."""

    def __init__(self, weights: str = "", threads: int = 0, max_px: int = 0, runtime: str = "auto", bucket_px: int = 16) -> None:
        path = guided_weights_path(weights)
        self.network, manifest = _network(path, threads, runtime)
        arch = manifest["arch"]
        self.multiple = int(arch.get("unshuffle", 2))
        self.max_px = max_px  # enhance.max_px: larger mouths are restored on a shrunk copy, as the native chain does
        self.bucket_px = bucket_px  # enhance.bucket_px: crops mirrored out to size buckets, few network shapes (LiteRT plans each)
        self.model_version = f"guided_{arch['num_blocks']}x{arch['num_filters']}@{manifest['sha256'][:12]}" + (f"+max{max_px}" if max_px else "")

    def enhance(self, crops: list[np.ndarray], lips: list[np.ndarray], exemplars: list[Exemplar]) -> list[np.ndarray]:
        """Each RGB uint8 crop (its lip points in crop pixels) restored with its exemplar."""
        return [self._one(c, p, e) for c, p, e in zip(crops, lips, exemplars)]

    def aligned(self, crop: np.ndarray, lips: np.ndarray, exemplar: Exemplar) -> tuple[np.ndarray, Aligned]:
        """The crop as the network sees it (shrunk to ``max_px`` when larger) and the exemplar
        aligned onto it."""
        small = shrunk(crop, self.max_px)
        if small is not crop:
            lips = np.asarray(lips, np.float32) * np.float32([small.shape[1] / crop.shape[1], small.shape[0] / crop.shape[0]])
        return small, align(small, lips, exemplar.image, exemplar.lips)

    def _one(self, crop: np.ndarray, lips: np.ndarray, exemplar: Exemplar) -> np.ndarray:
        """Restored on ``aligned``'s crop; a shrunk one's correction is resized back onto the
        full-size crop (``chain.grown``)."""
        small, aligned = self.aligned(crop, lips, exemplar)
        h, w = small.shape[:2]
        H, W = (-(-bucket(n, self.bucket_px) // self.multiple) * self.multiple for n in (h, w))
        x = to_float(pad_to(small, H, W))[None]
        e = to_float(pad_to(aligned.image, H, W))[None]
        c = pad_to(aligned.confidence[..., None], H, W)[None].astype(np.float32)
        out = self.network(x, e, c)[0][:h, :w]
        return to_uint8(out if small is crop else grown(out, small, crop))


def _network(path: Path, threads: int, runtime: str) -> tuple[Callable[..., np.ndarray], dict]:
    """``(crop, exemplar, confidence) batches -> restored batch`` and the weights' manifest."""
    from raymouth.models import litert

    if litert.runtime_is_litert(runtime):
        weights, manifest = litert.read_checked(path, {"name": "edsr_guided"}, in_channels=7)
        return litert.LiteRunner(litert.guided_flatbuffer(weights, manifest["arch"]), threads or os.cpu_count() or 1), manifest
    from raymouth.models.guided import load_guided
    from raymouth.models.kerasapi import configure_threads

    configure_threads(threads, 0)
    model, manifest = load_guided(path)
    return lambda x, e, c: model([x, e, c], training=False).numpy(), manifest
