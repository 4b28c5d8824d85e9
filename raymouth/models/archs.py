"""The manifest ``arch`` of each EDSR builder: what a weights file is checked against on load.

No TensorFlow here, so a weights file can be checked (and the LiteRT runtime fed) without it.
"""
from __future__ import annotations

from raymouth.config import NativeConfig

_NATIVE = NativeConfig()  # the native builder's defaults are the config's (``enhance.native``)
RGB_MEAN = (0.4488, 0.4371, 0.4040)  # DIV2K RGB mean (BasicSR / the paper's code), in [0, 1]: the models' pixel shift
IMG_RANGE = 255.0


def edsr_arch(scale: int = 2, num_blocks: int = 16, num_filters: int = 64, res_scale: float = 0.1) -> dict:
    """The architecture description stored in a weights manifest and checked on load."""
    return {
        "name": "edsr",
        "scale": int(scale),
        "num_blocks": int(num_blocks),
        "num_filters": int(num_filters),
        "res_scale": float(res_scale),
        "value_range": "rgb01",
    }


def edsr_native_arch(num_blocks: int = _NATIVE.num_blocks, num_filters: int = _NATIVE.num_filters, res_scale: float = _NATIVE.res_scale,
                     unshuffle: int = _NATIVE.unshuffle) -> dict:
    """The native model's manifest ``arch`` (checked on load)."""
    return {
        "name": "edsr_native",
        "unshuffle": int(unshuffle),
        "num_blocks": int(num_blocks),
        "num_filters": int(num_filters),
        "res_scale": float(res_scale),
        "value_range": "rgb01",
    }
