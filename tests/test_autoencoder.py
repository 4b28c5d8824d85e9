"""The seed's autoencoder: exact layer shapes and parameter counts, both wirings, and it learns."""
from __future__ import annotations

import numpy as np
import pytest

from raymouth.models.kerasapi import configure_threads, keras

configure_threads(2, 1)

from raymouth.models.autoencoder import build_autoencoder, compile_autoencoder  # noqa: E402

# (name, output shape without batch, params) as printed in the seed write-up's summary.
SEED_ENCODER = [
    ("encoder_input", (128, 128, 3), 0),
    ("conv2d_3", (64, 64, 32), 896),
    ("conv2d_4", (32, 32, 40), 11560),
    ("dropout_4", (32, 32, 40), 0),
    ("conv2d_5", (16, 16, 64), 23104),
    ("conv2d_6", (8, 8, 80), 46160),
    ("dropout_6", (8, 8, 80), 0),
    ("conv2d_7", (4, 4, 128), 92288),
    ("conv2d_8", (2, 2, 256), 295168),
    ("dropout_8", (2, 2, 256), 0),
    ("flatten_1", (1024,), 0),
    ("latent_vector", (256,), 262400),
]
SEED_DECODER = [
    ("decoder_input", (256,), 0),
    ("dense_1", (1024,), 263168),
    ("reshape_1", (2, 2, 256), 0),
    ("conv2d_transpose_3", (4, 4, 256), 590080),
    ("dropout_9", (4, 4, 256), 0),
    ("conv2d_transpose_4", (8, 8, 128), 295040),
    ("conv2d_transpose_5", (16, 16, 80), 92240),
    ("dropout_11", (16, 16, 80), 0),
    ("conv2d_transpose_6", (32, 32, 64), 46144),
    ("conv2d_transpose_7", (64, 64, 40), 23080),
    ("dropout_13", (64, 64, 40), 0),
    ("conv2d_transpose_8", (128, 128, 32), 11552),
    ("dropout_14", (128, 128, 32), 0),
    ("decoder_output", (128, 128, 3), 867),
]


def _layers(model: keras.Model) -> list[tuple[str, tuple, int]]:
    rows = []
    for layer in model.layers:
        shape = layer.output_shape[0] if isinstance(layer.output_shape, list) else layer.output_shape
        rows.append((layer.name, tuple(shape[1:]), layer.count_params()))
    return rows


@pytest.mark.parametrize("variant", ["seed_residual", "seed_direct"])
def test_matches_seed_summary(variant):
    model = build_autoencoder(variant)
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    assert encoder.count_params() == 731_576
    assert decoder.count_params() == 1_322_171
    assert model.count_params() == 731_576 + 1_322_171
    assert _layers(encoder) == SEED_ENCODER
    assert _layers(decoder) == SEED_DECODER


def test_wirings():
    x = np.random.default_rng(0).random((2, 128, 128, 3), dtype=np.float32)
    residual = build_autoencoder("seed_residual")
    # zero-initialised last layer: an untrained residual model changes nothing
    np.testing.assert_allclose(residual(x, training=False).numpy(), x, atol=1e-6)
    assert residual.get_layer("decoder").get_layer("decoder_output").activation.__name__ == "linear"
    direct = build_autoencoder("seed_direct")
    y = direct(x, training=False).numpy()
    assert y.shape == x.shape and y.min() >= 0.0 and y.max() <= 1.0
    assert direct.get_layer("decoder").get_layer("decoder_output").activation.__name__ == "sigmoid"
    with pytest.raises(ValueError, match="variant"):
        build_autoencoder("vae")


@pytest.mark.slow
def test_loss_falls_on_fixture_crops():
    from fixture_crops import clip_pairs, mouth_crops

    from raymouth.config import from_dict
    from raymouth.restore.chain import EnhanceChain, to_float

    keras.utils.set_random_seed(0)
    cfg = from_dict({"enhance": {"sr_backend": "bicubic", "use_autoencoder": False, "tf_intra_op_threads": 2}})
    sr_inputs, targets = clip_pairs(cfg, mouth_crops(count=8, stride=6))
    x, y = EnhanceChain(cfg).ae_inputs(sr_inputs), to_float(targets)
    for variant, factor in (("seed_direct", 0.9), ("seed_residual", 1.0)):
        model = compile_autoencoder(build_autoencoder(variant))
        before = model.test_on_batch(x, y)
        for _ in range(25):
            model.train_on_batch(x, y)
        after = model.test_on_batch(x, y)
        assert after < before * factor, (variant, before, after)
