"""EDSR super-resolution (Lim et al. 2017) in Keras, built from small tensor-in/tensor-out blocks.

head conv -> ``num_blocks`` residual blocks (conv-ReLU-conv, residual scaled by ``res_scale``,
no batch norm, no activation after the block) -> conv + global skip -> sub-pixel upsampler
(conv + depth_to_space per x2 step, or one x3 step) -> output conv.

Value range: the model takes float32 RGB in [0, 1] of any size ``(N, H, W, 3)`` and returns
``(N, sH, sW, 3)`` in [0, 1] (not clipped; the chain clips). Like BasicSR, the pixel scaling
(``img_range`` = 255, RGB mean shift) is inside the model, so training and inference cannot
drift and the convolutions see zero-centred 0..255-range values as in the paper.
The whole chain (``raymouth.restore.chain``) uses [0, 1] float at every model boundary.

Parameters: baseline 16x64 x2 = 1,369,859 (x4: 1,517,571); small 8x32 x2 = 195,971.
Measured (tests/test_edsr.py): a 4x32 x2 model, 300 steps of batch 16 on 24² patches (Adam 3e-3,
L1) of degraded mouth crops from one fixture clip, gave 34.60 dB vs bicubic 33.82 dB on
held-back frames of that clip.
"""
from __future__ import annotations

import math

from raymouth.config import NativeConfig
from raymouth.models.archs import IMG_RANGE, RGB_MEAN, edsr_arch, edsr_native_arch  # noqa: F401  (arch re-exported beside its builder)
from raymouth.models.kerasapi import keras, tf

_NATIVE = NativeConfig()  # the native builder's defaults are the config's (``enhance.native``)


@keras.saving.register_keras_serializable(package="raymouth")
class PixelShift(keras.layers.Layer):
    """``(x - mean) * img_range`` on the way in, ``x / img_range + mean`` on the way out."""

    def __init__(self, inverse: bool = False, mean=RGB_MEAN, img_range: float = IMG_RANGE, **kwargs):
        super().__init__(**kwargs)
        self.inverse = bool(inverse)
        self.mean = tuple(float(m) for m in mean)
        self.img_range = float(img_range)

    def call(self, x):
        mean = tf.constant(self.mean, dtype=x.dtype)
        if self.inverse:
            return x / self.img_range + mean
        return (x - mean) * self.img_range

    def get_config(self):
        return {**super().get_config(), "inverse": self.inverse, "mean": list(self.mean), "img_range": self.img_range}


@keras.saving.register_keras_serializable(package="raymouth")
class Scale(keras.layers.Layer):
    """Constant residual scaling (the paper's 0.1), a layer so the model saves without Lambda."""

    def __init__(self, factor: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = float(factor)

    def call(self, x):
        return x * tf.cast(self.factor, x.dtype)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="raymouth")
class DepthToSpace(keras.layers.Layer):
    """Sub-pixel shuffle: (H, W, C*r*r) -> (rH, rW, C)."""

    def __init__(self, block_size: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.block_size = int(block_size)

    def call(self, x):
        return tf.nn.depth_to_space(x, self.block_size)

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}


def conv(x: tf.Tensor, filters: int, name: str, activation: str | None = None) -> tf.Tensor:
    """3x3 'same' convolution: every conv of EDSR."""
    return keras.layers.Conv2D(filters, 3, padding="same", activation=activation, name=name)(x)


def residual_block(x: tf.Tensor, num_filters: int, res_scale: float, name: str) -> tf.Tensor:
    """conv-ReLU-conv, scaled, added to the input; no BN and no activation after the sum."""
    y = conv(x, num_filters, f"{name}_conv1", activation="relu")
    y = conv(y, num_filters, f"{name}_conv2")
    if res_scale != 1.0:
        y = Scale(res_scale, name=f"{name}_scale")(y)
    return keras.layers.Add(name=f"{name}_add")([x, y])


def upsample_steps(scale: int) -> list[int]:
    """Factors of the sub-pixel upsampler: powers of two as x2 steps, or a single x3."""
    if scale >= 2 and scale & (scale - 1) == 0:
        return [2] * int(math.log2(scale))
    if scale == 3:
        return [3]
    raise ValueError(f"EDSR scale {scale} is not supported (use 2, 3, 4 or 8)")


def upsample(x: tf.Tensor, num_filters: int, scale: int) -> tf.Tensor:
    """conv to ``r*r*num_filters`` channels + depth_to_space(r) per step."""
    for i, r in enumerate(upsample_steps(scale)):
        x = conv(x, num_filters * r * r, f"upsample{i}_conv")
        x = DepthToSpace(r, name=f"upsample{i}_shuffle")(x)
    return x


def body(x: tf.Tensor, num_blocks: int, num_filters: int, res_scale: float) -> tf.Tensor:
    """head conv -> residual blocks -> conv + global skip: EDSR's body, shared by both builders."""
    head = conv(x, num_filters, "head")
    x = head
    for i in range(num_blocks):
        x = residual_block(x, num_filters, res_scale, f"block{i}")
    x = conv(x, num_filters, "body_end")
    return keras.layers.Add(name="global_skip")([head, x])


def build_edsr(scale: int = 2, num_blocks: int = 16, num_filters: int = 64, res_scale: float = 0.1) -> keras.Model:
    """EDSR for RGB [0, 1] input of any size; baseline 16x64, the paper's large model 32x256."""
    upsample_steps(scale)  # reject a bad scale before building anything
    inputs = keras.Input(shape=(None, None, 3), name="lr")
    x = body(PixelShift(name="pixel_in")(inputs), num_blocks, num_filters, res_scale)
    x = upsample(x, num_filters, scale)
    x = conv(x, 3, "tail")
    outputs = PixelShift(inverse=True, name="pixel_out")(x)
    return keras.Model(inputs, outputs, name=f"edsr_x{scale}_{num_blocks}x{num_filters}")


@keras.saving.register_keras_serializable(package="raymouth")
class SpaceToDepth(DepthToSpace):
    """Pixel unshuffle: (H, W, C) -> (H/r, W/r, C*r*r); nothing is thrown away (H, W multiples of r)."""

    def call(self, x):
        return tf.nn.space_to_depth(x, self.block_size)


def build_edsr_native(num_blocks: int = _NATIVE.num_blocks, num_filters: int = _NATIVE.num_filters, res_scale: float = _NATIVE.res_scale,
                      unshuffle: int = _NATIVE.unshuffle) -> keras.Model:
    """EDSR at the input's own resolution: output = input + learned correction.

    pixel-unshuffle by ``unshuffle`` (Real-ESRGAN x2's trick: the body runs on a quarter of the
    pixels but sees all of them) -> the EDSR body -> conv to ``3*r*r`` channels (zero-initialised,
    so an untrained model is the identity) -> depth_to_space -> + input. H and W must be
    multiples of ``unshuffle`` (the chain pads). 12x32: 238,156 parameters, 8x32: 164,172 (EDSR-small x2: 195,971),
    and the body runs on a quarter of the crop's pixels.
    """
    inputs = keras.Input(shape=(None, None, 3), name="crop")
    x = PixelShift(name="pixel_in")(inputs)
    x = body(SpaceToDepth(unshuffle, name="unshuffle")(x), num_blocks, num_filters, res_scale)
    x = keras.layers.Conv2D(3 * unshuffle * unshuffle, 3, padding="same", kernel_initializer="zeros", name="tail")(x)
    x = DepthToSpace(unshuffle, name="shuffle")(x)
    correction = Scale(1.0 / IMG_RANGE, name="correction")(x)
    outputs = keras.layers.Add(name="input_skip")([inputs, correction])
    return keras.Model(inputs, outputs, name=f"edsr_native_{num_blocks}x{num_filters}")
