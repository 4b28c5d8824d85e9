"""The enhance chain end to end on hand-built batches: sizes, dtypes, backends, weights, pairs."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import fixture_path

from raymouth import chain as chain_mod
from raymouth.chain import EnhanceChain, bench_chain, preprocess, sample_crops, training_pair
from raymouth.config import from_dict
from raymouth.degrade import degrade

TINY_EDSR = {"scale": 2, "num_blocks": 2, "num_filters": 8}
SIZES = [(50, 80), (131, 209), (30, 30), (200, 120), (64, 64)]


def _cfg(**enhance):
    base = {"tf_intra_op_threads": 2, "tf_inter_op_threads": 1, "edsr": TINY_EDSR, "sharpen": {"amount": 0.0}}
    return from_dict({"enhance": {**base, **enhance}})


def _crops() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in SIZES]


def test_chain_keeps_sizes_and_dtype():
    chain = EnhanceChain(_cfg(edsr_weights="random", autoencoder_weights="random", sharpen={"amount": 0.5}))
    out = chain(_crops())
    assert [o.shape for o in out] == [(h, w, 3) for h, w in SIZES]
    assert all(o.dtype == np.uint8 for o in out)
    assert chain([]) == []
    assert chain.model_version == "edsr_x2_2x8@random+sharpen0.5+ae_seed_residual@random"
    with pytest.raises(ValueError, match="RGB uint8"):
        chain([np.zeros((10, 10), np.uint8)])


def test_bicubic_chain_without_autoencoder_is_near_identity():
    crop = sample_crops(1, min_side=64, max_side=65)[0]
    crop = crop[:64, :64]
    out = EnhanceChain(_cfg(sr_backend="bicubic", use_autoencoder=False))([crop])[0]
    mse = np.mean((out.astype(np.float64) - crop) ** 2)
    assert 10 * np.log10(255**2 / mse) > 30


def test_frozen_graph_backend():
    pb = fixture_path("models/FSRCNN_x2.pb")
    chain = EnhanceChain(_cfg(sr_backend="fsrcnn", pb_path=str(pb), use_autoencoder=False))
    assert chain.model_version.startswith("fsrcnn_x2@")
    assert [o.shape for o in chain(_crops()[:2])] == [(h, w, 3) for h, w in SIZES[:2]]
    from raymouth.models.weights import WeightsError

    with pytest.raises(WeightsError, match="pb_path"):
        EnhanceChain(_cfg(sr_backend="lapsrn", use_autoencoder=False))
    with pytest.raises(WeightsError, match="not lapsrn"):
        EnhanceChain(_cfg(sr_backend="lapsrn", pb_path=str(pb), use_autoencoder=False))


def test_missing_default_weights_give_a_clear_error(tmp_path, monkeypatch):
    from raymouth.models.weights import WeightsError

    monkeypatch.setattr(chain_mod, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(WeightsError) as err:
        EnhanceChain(_cfg())
    assert "edsr_x2.keras" in str(err.value) and "enhance.edsr_weights" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(WeightsError, match="autoencoder.keras"):
        EnhanceChain(_cfg(sr_backend="bicubic"))


def test_saved_weights_are_loaded_and_checked(tmp_path):
    from raymouth.models.edsr import build_edsr, edsr_arch
    from raymouth.models.weights import WeightsError, save_model

    path = tmp_path / "mine.keras"
    model = build_edsr(**TINY_EDSR)
    manifest = save_model(model, path, edsr_arch(**TINY_EDSR))
    chain = EnhanceChain(_cfg(edsr_weights=str(path), use_autoencoder=False))
    assert chain.model_version == f"edsr_x2_2x8@{manifest['sha256'][:12]}"
    sr_in = np.stack([preprocess(c, chain.cfg) for c in _crops()[:2]])
    expected = np.clip(model.predict_on_batch(sr_in.astype(np.float32) / 255.0), 0, 1)
    np.testing.assert_allclose(chain.ae_inputs(sr_in), expected, atol=1e-6)
    with pytest.raises(WeightsError, match="num_blocks"):
        EnhanceChain(_cfg(edsr_weights=str(path), use_autoencoder=False, edsr={"num_blocks": 4}))


def test_training_pair_shares_preprocess():
    cfg = _cfg()
    crop = _crops()[1]
    sr_input, target = training_pair(crop, 5, cfg)
    assert sr_input.shape == (64, 64, 3) and target.shape == (128, 128, 3)
    assert sr_input.dtype == target.dtype == np.uint8
    np.testing.assert_array_equal(sr_input, preprocess(degrade(crop, 5, cfg.degrade), cfg))
    np.testing.assert_array_equal(sr_input, training_pair(crop, 5, cfg)[0])
    assert not np.array_equal(sr_input, training_pair(crop, 6, cfg)[0])


def test_bench_chain_reports_numbers():
    result = bench_chain(_cfg(sr_backend="bicubic", use_autoencoder=False), n_crops=4, batch_size=2, repeats=1)
    assert result["model_version"] == "bicubic" and result["ms_per_crop"] > 0
