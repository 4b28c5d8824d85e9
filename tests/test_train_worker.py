"""raymouth.train.worker: the learning-rate schedule and where a fine-tune's weights start (no cluster)."""
from __future__ import annotations

import numpy as np
import pytest

from raymouth import config
from tests.test_train import tiny_cfg


def test_learning_rate_halves_on_schedule():
    from raymouth.train.worker import learning_rate

    cfg = config.load(overrides=["train.learning_rate=0.001", "train.lr_decay_epochs=2"])
    assert [learning_rate(cfg, e) for e in (1, 2, 3, 5)] == [0.001, 0.001, 0.0005, 0.00025]
    assert learning_rate(config.Config(), 9) == config.Config().train.learning_rate


def test_a_deeper_model_starts_exactly_where_its_init_weights_left_off(tmp_path):
    from raymouth.models.edsr import build_edsr_native
    from raymouth.train.worker import TrainError, _initial_weights

    start = build_edsr_native(num_blocks=2, num_filters=8)
    rng = np.random.default_rng(1)
    start.set_weights([rng.normal(0, 0.05, w.shape).astype(np.float32) for w in start.get_weights()])
    start.save(tmp_path / "start.keras")
    cfg = tiny_cfg(f"train.init_weights={tmp_path / 'start.keras'}")
    deeper = build_edsr_native(num_blocks=3, num_filters=8)
    _initial_weights("native", cfg, deeper)
    x = rng.uniform(0, 1, (2, 16, 24, 3)).astype(np.float32)
    np.testing.assert_allclose(deeper.predict_on_batch(x), start.predict_on_batch(x), atol=1e-5)
    assert np.abs(start.predict_on_batch(x) - x).max() > 1e-3  # the start model is not the identity
    with pytest.raises(TrainError, match="other shapes"):
        _initial_weights("native", cfg, build_edsr_native(num_blocks=2, num_filters=16))
