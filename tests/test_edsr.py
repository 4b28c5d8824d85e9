"""EDSR: shapes at x2/x4 on any input size, parameter count from the layer formula, and it learns."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from raymouth.models.kerasapi import configure_threads, keras

configure_threads(2, 1)

from raymouth.models.edsr import build_edsr  # noqa: E402


def conv_params(cin: int, cout: int, k: int = 3) -> int:
    return k * k * cin * cout + cout


def expected_params(scale: int, num_blocks: int, num_filters: int) -> int:
    """head + blocks (two convs each) + body end + one conv per x2 upsampling step + tail."""
    f = num_filters
    steps = {2: 1, 4: 2, 8: 3}[scale]
    return (
        conv_params(3, f)
        + num_blocks * 2 * conv_params(f, f)
        + conv_params(f, f)
        + steps * conv_params(f, 4 * f)
        + conv_params(f, 3)
    )


@pytest.mark.parametrize("scale", [2, 4])
def test_output_shape_any_input_size(scale):
    model = build_edsr(scale=scale, num_blocks=2, num_filters=8)
    x = np.random.default_rng(0).random((2, 21, 34, 3), dtype=np.float32)
    assert model(x).shape == (2, 21 * scale, 34 * scale, 3)
    assert model.input_shape == (None, None, None, 3)


@pytest.mark.parametrize("scale", [2, 4])
def test_baseline_parameter_count(scale):
    model = build_edsr(scale=scale, num_blocks=16, num_filters=64, res_scale=0.1)
    assert model.count_params() == expected_params(scale, 16, 64)
    if scale == 2:
        assert model.count_params() == 1_369_859


def test_structure_and_bad_scale():
    model = build_edsr(scale=2, num_blocks=3, num_filters=16, res_scale=0.1)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert "BatchNormalization" not in kinds
    assert [layer.factor for layer in model.layers if type(layer).__name__ == "Scale"] == [0.1] * 3
    # no activation after the residual sum: the block output is the Add layer itself
    assert model.get_layer("block0_conv2").activation.__name__ == "linear"
    with pytest.raises(ValueError, match="scale 5"):
        build_edsr(scale=5)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([10 * np.log10(1.0 / np.mean((np.clip(x, 0, 1) - y) ** 2)) for x, y in zip(a, b)]))


def _patches(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, n: int, px: int, scale: int):
    """Aligned random LR/HR patch pairs: more steps per second than whole crops."""
    idx = rng.integers(0, len(x), n)
    top = rng.integers(0, x.shape[1] - px + 1, n)
    left = rng.integers(0, x.shape[2] - px + 1, n)
    lr = np.stack([x[i, t : t + px, l : l + px] for i, t, l in zip(idx, top, left)])
    hr = np.stack([y[i, scale * t : scale * (t + px), scale * l : scale * (l + px)] for i, t, l in zip(idx, top, left)])
    return lr, hr


@pytest.mark.slow
def test_small_edsr_learns_to_beat_bicubic():
    """400 steps of a 4x32 EDSR on degraded mouth crops of one clip beat bicubic on held-back frames.

    The learning rate decays to zero: at a constant 3e-3 the last step's model swung between
    -0.3 and +0.4 dB with the seed (CI failed on one); decayed, seeds 0-4 end at +0.33 to +0.45.
    """
    from fixture_crops import clip_pairs, mouth_crops

    from raymouth.config import Config
    from raymouth.restore.chain import to_float

    keras.utils.set_random_seed(0)
    cfg = Config()
    crops = mouth_crops(count=48, stride=2)
    train_x, train_y = map(to_float, clip_pairs(cfg, crops[:40], seed0=0, repeats=3))
    held_x, held_y = map(to_float, clip_pairs(cfg, crops[40:], seed0=99_991))
    model = build_edsr(scale=2, num_blocks=4, num_filters=32, res_scale=0.1)
    steps = 400
    decay = keras.optimizers.schedules.CosineDecay(3e-3, steps)
    model.compile(optimizer=keras.optimizers.Adam(decay), loss="mean_absolute_error")
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(*_patches(train_x, train_y, rng, 16, 24, 2))
    elapsed = time.perf_counter() - start
    bicubic = np.stack([cv2.resize(x, (128, 128), interpolation=cv2.INTER_CUBIC) for x in held_x])
    gain = _psnr(model.predict_on_batch(held_x), held_y) - _psnr(bicubic, held_y)
    assert gain > 0.1, f"EDSR gained {gain:.2f} dB over bicubic after {steps} steps ({elapsed:.0f} s)"


def test_native_model_is_the_identity_until_trained_and_keeps_the_size():
    from raymouth.models.edsr import build_edsr_native, edsr_native_arch

    model = build_edsr_native(num_blocks=8, num_filters=32)
    assert model.count_params() == 164_172
    x = np.random.default_rng(0).random((2, 48, 70, 3)).astype(np.float32)
    y = model.predict_on_batch(x)
    assert y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1e-6)  # zero-initialised tail: output = input
    assert edsr_native_arch()["name"] == "edsr_native"
