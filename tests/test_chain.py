"""The enhance chain end to end on hand-built batches: sizes, dtypes, backends, weights, pairs.

``_cfg`` builds the first (``square``) chain; the native chain's tests say ``chain="native"``.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import fixture_path

from raymouth.bench.models import bench_chain
from raymouth.config import from_dict
from raymouth.data.sample import sample_crops
from raymouth.restore import chain as chain_mod
from raymouth.restore.chain import EnhanceChain, preprocess
from raymouth.train.degrade import degrade
from raymouth.train.pairs import training_pair

TINY_EDSR = {"scale": 2, "num_blocks": 2, "num_filters": 8}
SIZES = [(50, 80), (131, 209), (30, 30), (200, 120), (64, 64)]


def _cfg(**enhance):
    base = {"chain": "square", "use_autoencoder": True, "tf_intra_op_threads": 2, "tf_inter_op_threads": 1, "edsr": TINY_EDSR,
            "sharpen": {"amount": 0.0}}
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
    from raymouth.config import ConfigError
    from raymouth.models.weights import WeightsError

    with pytest.raises((WeightsError, ConfigError), match="pb_path"):  # refused when the config loads
        EnhanceChain(_cfg(sr_backend="lapsrn", use_autoencoder=False))
    with pytest.raises((WeightsError, ConfigError), match="not lapsrn"):
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


# ---------------------------------------------------------------- the native-resolution chain


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def test_native_chain_keeps_every_size_in_one_batch():
    """Crops of different sizes share one padded model call and come back at their own sizes;
    with a random model (zero-initialised tail = identity) every pixel comes back unchanged."""
    chain = EnhanceChain(_cfg(chain="native", native_weights="random", use_autoencoder=False))
    crops = _crops()
    out = chain(crops)
    assert [o.shape for o in out] == [c.shape for c in crops]
    assert all(np.array_equal(o, c) for o, c in zip(out, crops))
    assert chain.model_version == "native_12x32@random+flip<=256+max256"


def test_native_chain_pads_each_crop_to_the_shared_bucket():
    from raymouth.restore.chain import bucket, pad_to

    assert [bucket(n, 16) for n in (1, 16, 17, 209)] == [16, 16, 32, 224]
    crop = _crops()[0]
    padded = pad_to(crop, 64, 96)
    assert padded.shape == (64, 96, 3)
    np.testing.assert_array_equal(padded[:50, :80], crop)
    np.testing.assert_array_equal(padded[50:64, :80], crop[::-1][:14])  # mirrored, not black


def _clean_fixture_crops(n: int = 6) -> list[np.ndarray]:
    """Mouth-region crops (clean frames) of a clip no shipped model trained on."""
    from fixture_crops import mouth_crops

    return mouth_crops(n, 20, "video/liveportrait_d10.mp4")


@pytest.mark.slow
def test_default_chain_leaves_a_clean_mouth_alone():
    """The issue's identity test: the shipped default (native) chain changes a clean mouth by
    less than the threshold; the first 64² chain fails the same threshold."""
    crops = _clean_fixture_crops()
    native = EnhanceChain(from_dict({"enhance": {"tf_intra_op_threads": 2}}))
    square = EnhanceChain(from_dict({"enhance": {"chain": "square", "use_autoencoder": True, "sharpen": {"amount": 0.5},
                                                 "tf_intra_op_threads": 2}}))
    native_psnr = np.mean([_psnr(o, c) for o, c in zip(native(crops), crops)])
    square_psnr = np.mean([_psnr(o, c) for o, c in zip(square(crops), crops)])
    assert native_psnr > 42.0, f"the default chain changed clean mouths: {native_psnr:.1f} dB"
    assert square_psnr < 42.0, f"the 64² chain was expected to fail this threshold: {square_psnr:.1f} dB"


def test_native_training_pair_is_seeded_and_includes_identity_pairs():
    from raymouth.config import DegradeConfig
    from raymouth.train.pairs import native_training_pair

    cfg = _cfg(chain="native")
    crop = sample_crops(1, min_side=90, max_side=91)[0]
    x, y = native_training_pair(crop, 3, cfg, 64)
    assert x.shape == y.shape == (64, 64, 3) and x.dtype == np.uint8
    np.testing.assert_array_equal(x, native_training_pair(crop, 3, cfg, 64)[0])
    # y is a window of the clean crop
    hits = [(i, j) for i in range(crop.shape[0] - 63) for j in range(crop.shape[1] - 63) if np.array_equal(crop[i:i + 64, j:j + 64], y)]
    assert hits
    pairs = [native_training_pair(crop, s, cfg, 64) for s in range(400)]
    identity = np.mean([np.array_equal(a, b) for a, b in pairs])
    assert abs(identity - cfg.degrade.identity_rate) < 0.06, identity
    none = dict(cfg.to_dict(), degrade={**cfg.to_dict()["degrade"], "identity_rate": 0.0})
    cfg0 = from_dict(none)
    assert isinstance(cfg0.degrade, DegradeConfig)
    assert not any(np.array_equal(*native_training_pair(crop, s, cfg0, 64)) for s in range(50))
    small = crop[:40, :50]
    xs, ys = native_training_pair(small, 1, cfg, 64)  # smaller than the patch: mirrored out
    assert xs.shape == (64, 64, 3)
    np.testing.assert_array_equal(ys[:40, :50], small)


def test_native_output_of_a_crop_does_not_depend_on_its_batch():
    """Crops are padded to their own size bucket, so a resumed run (or another batch size)
    writes the same bytes; with the shipped (trained) weights padding would show otherwise."""
    chain = EnhanceChain(from_dict({"enhance": {"tf_intra_op_threads": 2}}))
    small, big = sample_crops(2, seed=3, min_side=40, max_side=60)[0], sample_crops(1, seed=4, min_side=150, max_side=200)[0]
    alone = chain([small])[0]
    assert not np.array_equal(alone, small)  # trained weights really change it
    np.testing.assert_array_equal(chain([big, small, big])[1], alone)


def test_flip_ensemble_makes_the_chain_mirror_equivariant():
    """With ``flip_ensemble`` the output of a mirrored crop is the mirrored output (the trained
    model alone is not exactly so), at the price of a second model call."""
    crop = np.ascontiguousarray(sample_crops(1, seed=5, min_side=70, max_side=90)[0][:, :64])  # width = a bucket: padded below only
    mirrored = np.ascontiguousarray(crop[:, ::-1])
    plain = EnhanceChain(from_dict({"enhance": {"tf_intra_op_threads": 2, "flip_ensemble": False}}))
    flip = EnhanceChain(from_dict({"enhance": {"tf_intra_op_threads": 2, "flip_ensemble": True, "flip_max_px": 0}}))
    assert not np.array_equal(plain([mirrored])[0], plain([crop])[0][:, ::-1])
    np.testing.assert_array_equal(flip([mirrored])[0], flip([crop])[0][:, ::-1])
    assert "+flip" in flip.model_version


def test_detail_levels_share_one_network_and_give_each_models_own_output():
    """On TensorFlow the chain runs every detail level through one network, swapping each level's
    weights in: crops at levels in any order come out as the model built for their level alone
    gives them (LiteRT's levels: tests/test_litert.py)."""
    import dataclasses

    from raymouth.restore.chain import _any_size_runner, build_native, to_float

    cfg = from_dict({"enhance": {"tf_intra_op_threads": 2, "flip_ensemble": False, "runtime": "tensorflow"}})
    crops = sample_crops(3, seed=2, min_side=50, max_side=64)
    x = to_float(np.stack([c[:48, :48] for c in crops]))
    chain = EnhanceChain(cfg)
    for level in (1.0, 0.0, 0.5, 1.0):
        alone, tag = build_native(dataclasses.replace(cfg.enhance, detail=level))
        run, chain_tag = chain._level(level)
        assert chain_tag == tag
        np.testing.assert_array_equal(run(x), _any_size_runner(alone)(x))
    assert chain._net is not None and len(chain._levels) == 3


def test_detail_moves_the_shipped_weights_toward_the_detail_weights():
    """enhance.detail: 0 is the fidelity model, 1 the detail-trained one (loaded as the native
    weights, the same output), between them their parameters interpolated in one model."""
    from raymouth.restore.chain import WEIGHTS_DIR, build_native, weight_files

    def enh(**kw):
        return from_dict({"enhance": {"tf_intra_op_threads": 2, "flip_ensemble": False, **kw}}).enhance

    fidelity, _ = build_native(enh())
    detail_file = WEIGHTS_DIR / "edsr_native_detail.keras"
    as_native, _ = build_native(enh(native_weights=str(detail_file)))
    half, version = build_native(enh(detail=0.5))
    full, _ = build_native(enh(detail=1.0))
    assert "+detail0.5@" in version
    for f, d, h, w in zip(fidelity.get_weights(), as_native.get_weights(), half.get_weights(), full.get_weights()):
        np.testing.assert_allclose(h, 0.5 * (f + d), rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(w, d)
    assert any(not np.array_equal(f, d) for f, d in zip(fidelity.get_weights(), as_native.get_weights()))
    assert ("enhance.native_detail_weights", detail_file) in weight_files(enh(detail=0.5))
    assert all(key != "enhance.native_detail_weights" for key, _ in weight_files(enh(detail_auto=False)))
    assert ("enhance.native_detail_weights", detail_file) in weight_files(enh())  # automatic detail needs them


def test_soft_pairs_have_a_softened_clean_target_and_leave_other_pairs_unchanged():
    from raymouth.paste.metrics import sharpness
    from raymouth.train.pairs import native_training_pair

    cfg = _cfg(chain="native")
    soft = cfg.with_(degrade__soft_rate=0.5)
    crop = sample_crops(1, min_side=96, max_side=97)[0]
    plain = [native_training_pair(crop, s, cfg, 96) for s in range(60)]
    mixed = [native_training_pair(crop, s, soft, 96) for s in range(60)]
    softened = [s for s in range(60) if not np.array_equal(plain[s][1], mixed[s][1])]
    assert 15 <= len(softened) <= 45  # about half
    for s in range(60):
        if s not in softened:  # the same pair as without soft pairs: the degrade draw is untouched
            np.testing.assert_array_equal(plain[s][0], mixed[s][0])
    assert all(sharpness(mixed[s][1]) < sharpness(plain[s][1]) for s in softened)


def test_flip_max_px_keeps_the_flip_ensemble_for_small_mouths_only():
    small = np.ascontiguousarray(sample_crops(1, seed=5, min_side=70, max_side=90)[0][:, :64])
    large = np.ascontiguousarray(sample_crops(1, seed=6, min_side=150, max_side=160)[0])
    plain = EnhanceChain(from_dict({"enhance": {"tf_intra_op_threads": 2, "flip_ensemble": False}}))
    flip = EnhanceChain(from_dict({"enhance": {"tf_intra_op_threads": 2, "flip_ensemble": True, "flip_max_px": 0}}))
    some = EnhanceChain(from_dict({"enhance": {"tf_intra_op_threads": 2, "flip_ensemble": True, "flip_max_px": 128}}))
    got = some([small, large])
    np.testing.assert_array_equal(got[0], flip([small])[0])
    np.testing.assert_array_equal(got[1], plain([large])[0])
    assert not np.array_equal(flip([large])[0], plain([large])[0])  # the flip does change a large mouth
    assert "+flip<=128" in some.model_version


def test_by_default_a_close_up_mouth_runs_without_the_flip_ensemble():
    """The shipped default (``enhance.flip_max_px`` 256): a 1080p close-up's mouth (a size bucket
    over 256 px) is run once, a small mouth still with its mirror image."""
    small = np.ascontiguousarray(sample_crops(1, seed=5, min_side=70, max_side=90)[0][:, :64])
    huge = sample_crops(1, seed=7, min_side=270, max_side=300)[0]
    default = EnhanceChain(from_dict({"enhance": {"tf_intra_op_threads": 2}}))
    plain = EnhanceChain(from_dict({"enhance": {"tf_intra_op_threads": 2, "flip_ensemble": False}}))
    flip = EnhanceChain(from_dict({"enhance": {"tf_intra_op_threads": 2, "flip_max_px": 0}}))
    got = default([small, huge])
    np.testing.assert_array_equal(got[1], plain([huge])[0])
    np.testing.assert_array_equal(got[0], flip([small])[0])
    assert not np.array_equal(flip([huge])[0], got[1])


def test_max_px_restores_a_large_mouth_on_a_shrunk_copy_and_keeps_its_own_detail():
    """``enhance.max_px``: a mouth over it gets the correction made on a copy shrunk to it, resized
    back onto the full-size crop (the crop's own fine detail stays); smaller mouths are untouched."""
    small = np.ascontiguousarray(sample_crops(1, seed=5, min_side=70, max_side=90)[0][:, :64])
    huge = sample_crops(1, seed=7, min_side=270, max_side=300)[0]
    plain = EnhanceChain(from_dict({"enhance": {"tf_intra_op_threads": 2, "detail_auto": False, "max_px": 0}}))
    capped = EnhanceChain(from_dict({"enhance": {"tf_intra_op_threads": 2, "detail_auto": False, "max_px": 128}}))
    got = capped([small, huge])
    np.testing.assert_array_equal(got[0], plain([small])[0])
    assert got[1].shape == huge.shape and not np.array_equal(got[1], plain([huge])[0])
    # the correction is smooth at the full size: the crop's finest detail (its residual after a
    # blur) survives exactly as much as the full-size model's output keeps it, here almost all of it
    detail = lambda im: im.astype(np.float32) - cv2.GaussianBlur(im.astype(np.float32), (0, 0), 1.0)  # noqa: E731
    kept = np.corrcoef(detail(got[1]).ravel(), detail(huge).ravel())[0, 1]
    assert kept > 0.9
    seen = []  # what the network is given: nothing over 128 px, so a huge mouth costs a 128 px one
    run = capped._run_at
    capped._run_at = lambda level, batch: seen.append(batch.shape[1:3]) or run(level, batch)
    capped([huge])
    assert seen and max(max(s) for s in seen) == 128
    assert "+max128" in capped.model_version and "+max" not in plain.model_version


def test_by_default_a_close_up_mouth_is_restored_at_256_px():
    """The shipped default (``enhance.max_px`` 256): a 1080p close-up's mouth costs the model what
    a 256 px mouth costs; a mouth within 256 px is untouched by the setting."""
    small = sample_crops(1, seed=5, min_side=200, max_side=250)[0]
    huge = sample_crops(1, seed=7, min_side=300, max_side=340)[0]
    default = EnhanceChain(from_dict({"enhance": {"tf_intra_op_threads": 2}}))
    uncapped = EnhanceChain(from_dict({"enhance": {"tf_intra_op_threads": 2, "max_px": 0}}))
    got = default([small, huge])
    np.testing.assert_array_equal(got[0], uncapped([small])[0])
    assert not np.array_equal(got[1], uncapped([huge])[0])
