"""Models of the enhance chain. No Ray here: a model knows no cluster.

``build(kind, cfg)`` and ``arch(kind, cfg)`` are the one place a config becomes a model: the chain
(inference), training and the fine-tune all call them. Importing this package imports no
TensorFlow; building a model does.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from raymouth.config import Config, EnhanceConfig

RANDOM = "random"  # a weights setting meaning freshly initialised (tests, benchmarks)
KINDS = ("autoencoder", "edsr", "native")  # a model kind: its config section is ``enhance.<kind>``


def params(kind: str, cfg: "Config | EnhanceConfig") -> dict[str, Any]:
    """The builder's arguments of ``kind``: its config section (``enhance.<kind>``), key for key."""
    if kind not in KINDS:
        raise ValueError(f"model kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return dataclasses.asdict(getattr(getattr(cfg, "enhance", cfg), kind))


def arch(kind: str, cfg: "Config | EnhanceConfig") -> dict[str, Any]:
    """The manifest ``arch`` of the configured ``kind`` (what loading checks weights against)."""
    if kind == "edsr":
        from raymouth.models.archs import edsr_arch as arch_of
    elif kind == "native":
        from raymouth.models.archs import edsr_native_arch as arch_of
    else:
        from raymouth.models.autoencoder import autoencoder_arch as arch_of
    return arch_of(**params(kind, cfg))


def build(kind: str, cfg: "Config | EnhanceConfig"):
    """A fresh (untrained) model of the configured ``kind`` and its manifest ``arch``."""
    if kind == "edsr":
        from raymouth.models.edsr import build_edsr as builder
    elif kind == "native":
        from raymouth.models.edsr import build_edsr_native as builder
    else:
        from raymouth.models.autoencoder import build_autoencoder as builder
    return builder(**params(kind, cfg)), arch(kind, cfg)


def native_version(enh: "EnhanceConfig", ident: str, detail_ident: str = "") -> str:
    """The native model's version tag, whichever runtime runs it: its weights' id, and the detail
    weights' where ``enhance.detail`` > 0 (every output row names it)."""
    tag = f"native_{enh.native.num_blocks}x{enh.native.num_filters}@{ident}"
    return tag + (f"+detail{enh.detail:g}@{detail_ident}" if enh.detail > 0 else "")


def interpolate(fidelity: list[np.ndarray], detail: list[np.ndarray], a: float) -> list[np.ndarray]:
    """The parameters ``a`` of the way from the fidelity weights to the detail weights (ESRGAN's
    network interpolation): the model of detail level ``a``."""
    return [(1.0 - float(a)) * w + float(a) * d for w, d in zip(fidelity, detail)]
