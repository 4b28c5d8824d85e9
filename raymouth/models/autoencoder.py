"""The write-up's convolutional autoencoder on 128x128x3 mouth crops, exactly as its summary prints.

Encoder (731,576 parameters): six 3x3 stride-2 Conv2D (32, 40, 64, 80, 128, 256 filters) with
Dropout after the 2nd, 4th and 6th, Flatten, Dense 256 ``latent_vector``. Decoder (1,322,171):
Dense 1024, Reshape 2x2x256, six 3x3 stride-2 Conv2DTranspose (256, 128, 80, 64, 40, 32) with
Dropout after the 1st, 3rd, 5th and 6th, and a stride-1 Conv2DTranspose to 3 channels
``decoder_output``. Layer names are the write-up's, so ``summary()`` reads like its write-up.

What the write-up leaves open, chosen here:
- value range: float32 RGB in [0, 1] in and out (the whole chain's convention);
- activations: ReLU after every hidden conv / transposed conv and ``dense_1``; ``latent_vector``
  linear;
- dropout: ``AutoencoderConfig.dropout`` (default 0.1) at the write-up's three encoder and four decoder
  places; active only in training;
- loss: L1 (mean absolute error), Adam 1e-3 (``LOSS``);
- wiring (``AutoencoderConfig.variant``):
  ``seed_direct``: output = sigmoid(decoder(encoder(x))): the decoder draws the pixels itself;
  ``seed_residual`` (default): output = x + decoder(encoder(x)) with a linear last layer whose
  kernel and bias start at zero, so an untrained model is the identity and training only learns
  a correction. Same layers, same parameter counts.
  Measured (Keras 3, 8 CPU minutes): direct lost 14.6 dB on held-out mouths
  (21.45 dB vs 36.02 degraded); residual gained +0.2 dB over EDSR alone.
  Measured here with this module (``MEASURED``; tf_keras 2.21, busy 2-core CPU): 150 steps of
  batch 16, Adam 1e-3, L1, on 120 pairs (40 frames of retalking_face_5.mp4, centre-lower crop,
  3 ``degrade`` seeds each) with bicubic x2 of the 64² input as the AE input; PSNR on 8
  held-back frames: input 33.82 dB, seed_direct 17.51 dB (loss 0.163 -> 0.050, still far from
  the pixels), seed_residual 33.81 dB (loss 0.0138 -> 0.0139: it starts as the identity and
  stays near it; any gain needs the long training runs). So: residual by default.
"""
from __future__ import annotations

from raymouth.models.kerasapi import keras

VARIANTS = ("seed_residual", "seed_direct")
AE_PX = 128
LATENT = 256
LOSS = "mean_absolute_error"  # L1: also the first chain's EDSR (``train.worker``)

# (write-up layer index, filters, its dropout index or None): names are the write-up summary's.
ENCODER_SPEC = ((3, 32, None), (4, 40, 4), (5, 64, None), (6, 80, 6), (7, 128, None), (8, 256, 8))
DECODER_SPEC = ((3, 256, 9), (4, 128, None), (5, 80, 11), (6, 64, None), (7, 40, 13), (8, 32, 14))

# The measurement quoted in the module docstring: PSNR dB on held-back crops.
MEASURED = {
    "setup": "retalking_face_5.mp4 crops, degrade() defaults, bicubic x2 input, 150 steps x 16, tf_keras CPU",
    "input_psnr": 33.82,
    "seed_direct_psnr": 17.51,
    "seed_residual_psnr": 33.81,
}


def build_encoder(dropout: float = 0.1) -> keras.Model:
    """128x128x3 -> 256: the write-up's encoder."""
    inputs = keras.Input(shape=(AE_PX, AE_PX, 3), name="encoder_input")
    x = inputs
    for idx, filters, drop_idx in ENCODER_SPEC:
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu", name=f"conv2d_{idx}")(x)
        if drop_idx is not None:
            x = keras.layers.Dropout(dropout, name=f"dropout_{drop_idx}")(x)
    x = keras.layers.Flatten(name="flatten_1")(x)
    latent = keras.layers.Dense(LATENT, name="latent_vector")(x)
    return keras.Model(inputs, latent, name="encoder")


def build_decoder(dropout: float = 0.1, output_activation: str | None = "sigmoid", zero_init_output: bool = False) -> keras.Model:
    """256 -> 128x128x3: the write-up's decoder; last layer's activation depends on the wiring."""
    inputs = keras.Input(shape=(LATENT,), name="decoder_input")
    x = keras.layers.Dense(2 * 2 * 256, activation="relu", name="dense_1")(inputs)
    x = keras.layers.Reshape((2, 2, 256), name="reshape_1")(x)
    for idx, filters, drop_idx in DECODER_SPEC:
        x = keras.layers.Conv2DTranspose(
            filters, 3, strides=2, padding="same", activation="relu", name=f"conv2d_transpose_{idx}"
        )(x)
        if drop_idx is not None:
            x = keras.layers.Dropout(dropout, name=f"dropout_{drop_idx}")(x)
    init = "zeros" if zero_init_output else "glorot_uniform"
    outputs = keras.layers.Conv2DTranspose(
        3, 3, padding="same", activation=output_activation, kernel_initializer=init, name="decoder_output"
    )(x)
    return keras.Model(inputs, outputs, name="decoder")


def build_autoencoder(variant: str = "seed_residual", dropout: float = 0.1) -> keras.Model:
    """The full autoencoder, [0, 1] RGB 128x128 in and out; ``variant`` picks the wiring."""
    if variant not in VARIANTS:
        raise ValueError(f"autoencoder variant {variant!r} is not one of {', '.join(VARIANTS)}")
    residual = variant == "seed_residual"
    encoder = build_encoder(dropout)
    decoder = build_decoder(dropout, output_activation=None if residual else "sigmoid", zero_init_output=residual)
    inputs = keras.Input(shape=(AE_PX, AE_PX, 3), name="autoencoder_input")
    out = decoder(encoder(inputs))
    if residual:
        out = keras.layers.Add(name="residual")([inputs, out])
    return keras.Model(inputs, out, name=f"autoencoder_{variant}")


def autoencoder_arch(variant: str = "seed_residual", dropout: float = 0.1) -> dict:
    """The architecture description stored in a weights manifest and checked on load."""
    return {"name": "autoencoder", "variant": variant, "dropout": float(dropout), "px": AE_PX, "value_range": "rgb01"}


def compile_autoencoder(model: keras.Model, learning_rate: float = 1e-3) -> keras.Model:
    """Adam + L1, the documented training setup."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=LOSS)
    return model


__all__ = ["build_autoencoder", "build_encoder", "build_decoder", "autoencoder_arch", "compile_autoencoder"]
