"""Reference-guided restorer: the native EDSR family with an aligned exemplar and its confidence as extra inputs.

Inputs (float32, any H x W, multiples of ``unshuffle``): ``crop`` RGB [0, 1] (the lip-sync mouth),
``exemplar`` RGB [0, 1] (the person's own mouth aligned onto the crop, ``exemplar.align``),
``confidence`` [0, 1] (H, W, 1). Output = crop + learned correction, same size. The tail conv is
zero-initialised, so an untrained model returns the crop unchanged. Only ``models.edsr``'s
registered layers are used, so ``models.weights.load_checked`` loads it as it loads the others.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from raymouth.models.archs import IMG_RANGE
from raymouth.models.kerasapi import keras


def guided_arch(num_blocks: int = 8, num_filters: int = 32, res_scale: float = 0.1, unshuffle: int = 2) -> dict:
    """The manifest ``arch`` of a guided model (checked on load)."""
    return {"name": "edsr_guided", "unshuffle": int(unshuffle), "num_blocks": int(num_blocks), "num_filters": int(num_filters),
            "res_scale": float(res_scale), "inputs": ["crop", "exemplar", "confidence"], "value_range": "rgb01"}


def build_guided(num_blocks: int = 8, num_filters: int = 32, res_scale: float = 0.1, unshuffle: int = 2) -> keras.Model:
    """Pixel-unshuffle EDSR on [crop, exemplar, confidence] (7 channels): why: fuse the person's real mouth at native resolution."""
    from raymouth.models.edsr import DepthToSpace, PixelShift, Scale, SpaceToDepth, body

    crop = keras.Input(shape=(None, None, 3), name="crop")
    exemplar = keras.Input(shape=(None, None, 3), name="exemplar")
    conf = keras.Input(shape=(None, None, 1), name="confidence")
    x = keras.layers.Concatenate(name="stack")([
        PixelShift(name="pixel_in")(crop), PixelShift(name="exemplar_in")(exemplar), Scale(IMG_RANGE, name="confidence_in")(conf)])
    x = body(SpaceToDepth(unshuffle, name="unshuffle")(x), num_blocks, num_filters, res_scale)
    x = keras.layers.Conv2D(3 * unshuffle * unshuffle, 3, padding="same", kernel_initializer="zeros", name="tail")(x)
    x = DepthToSpace(unshuffle, name="shuffle")(x)
    correction = Scale(1.0 / IMG_RANGE, name="correction")(x)
    out = keras.layers.Add(name="input_skip")([crop, correction])
    return keras.Model([crop, exemplar, conf], out, name=f"edsr_guided_{num_blocks}x{num_filters}")


def save_guided(model: keras.Model, path: str | Path, arch: dict, data: str = "", metrics: dict[str, Any] | None = None,
                version: str = "") -> dict[str, Any]:
    """``<path>.keras`` + ``<path>.json`` manifest, as ``models.weights.save_model`` writes for the other models."""
    from raymouth.models.weights import save_model

    return save_model(model, path, arch, data=data, metrics=metrics, version=version)


def load_guided(path: str | Path, expect_arch: dict | None = None) -> tuple[keras.Model, dict[str, Any]]:
    """Load a guided model after the manifest's sha256 and architecture checks."""
    from raymouth.models.weights import load_checked

    return load_checked(path, expect_arch if expect_arch is not None else {"name": "edsr_guided"})


def init_from_native(model: keras.Model, native: keras.Model) -> keras.Model:
    """Copy a native EDSR (3-channel, same blocks x filters) into a guided model; the exemplar and confidence
    weights of the head start at zero: why: start from the shipped generic restorer and learn only what the exemplar adds."""
    r = int(model.get_layer("unshuffle").block_size)
    for layer in native.layers:
        if not layer.get_weights() or layer.name == "head":
            continue
        model.get_layer(layer.name).set_weights(layer.get_weights())
    kernel, bias = native.get_layer("head").get_weights()  # (3, 3, 3*r*r, F): channel k*3 + c after space_to_depth
    new_kernel = np.zeros(model.get_layer("head").get_weights()[0].shape, np.float32)  # (3, 3, 7*r*r, F)
    for k in range(r * r):
        new_kernel[:, :, k * 7:k * 7 + 3] = kernel[:, :, k * 3:k * 3 + 3]
    model.get_layer("head").set_weights([new_kernel, bias])
    return model
