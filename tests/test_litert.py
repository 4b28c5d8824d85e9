"""The native model on LiteRT (``models.litert``): the same outputs as the Keras model it is written
from, for the shipped weights at every detail level and for other weights of the architecture
(a person's fine-tune), and a chain that never imports TensorFlow."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from raymouth.config import ConfigError, from_dict
from raymouth.data.sample import sample_crops
from raymouth.errors import UserError
from raymouth.models import litert
from raymouth.models.weights import WeightsError
from raymouth.restore.chain import EnhanceChain, bucket, pad_to, to_float

pytestmark = pytest.mark.skipif(not litert.available(), reason="ai-edge-litert is not installed")


def _batches(n: int = 6, seed: int = 3) -> list[np.ndarray]:
    """Float crop batches padded to their buckets, as the chain hands them to the model."""
    out = []
    for crop in sample_crops(n, seed=seed):
        h, w = bucket(crop.shape[0], 16), bucket(crop.shape[1], 16)
        out.append(to_float(pad_to(crop, h, w))[None])
    return out


@pytest.mark.parametrize("level", [0.0, 0.5, 1.0])
def test_shipped_weights_give_the_keras_models_output_at_every_detail_level(level):
    from raymouth.restore.chain import build_native, lite_native

    enh = from_dict({"enhance": {"detail": level}}).enhance
    model, tag = build_native(enh)
    runner, lite_tag = lite_native(enh)
    assert lite_tag == tag
    for x in _batches():
        want = model.predict_on_batch(x)
        assert np.abs(want - x).max() > 1e-3  # the trained model really changes the crop
        np.testing.assert_allclose(runner(x), want, atol=2e-6)


def test_other_weights_of_the_architecture_run_too(tmp_path):
    """A fine-tune is read from its own file: a small model with random (non-identity) weights,
    saved as the project saves models, gives the Keras model's output, batch or single crop."""
    from raymouth.models.edsr import build_edsr_native, edsr_native_arch
    from raymouth.models.weights import save_model

    arch = {"num_blocks": 2, "num_filters": 8}
    model = build_edsr_native(**arch)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.05, w.shape).astype(np.float32) for w in model.get_weights()])
    path = tmp_path / "person.keras"
    save_model(model, path, edsr_native_arch(**arch), data="test")
    runner, ident, _ = litert.native_runner(path, None, 0.0, edsr_native_arch(**arch), threads=1)
    x = np.concatenate([_batches(1, seed=7)[0]] * 3)
    np.testing.assert_allclose(runner(x), model.predict_on_batch(x), atol=2e-6)
    assert ident == json.loads(path.with_suffix(".json").read_text())["sha256"][:12]


def test_bad_weights_are_refused_before_any_model_runs(tmp_path):
    from raymouth.models.edsr import build_edsr_native, edsr_native_arch
    from raymouth.models.weights import save_model

    path = tmp_path / "m.keras"
    save_model(build_edsr_native(num_blocks=1, num_filters=8), path, edsr_native_arch(num_blocks=1, num_filters=8))
    with pytest.raises(WeightsError, match="do not match the configured architecture"):
        litert.read_checked(path, edsr_native_arch(num_blocks=2, num_filters=8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(WeightsError, match="corrupt or truncated"):
        litert.read_checked(path, edsr_native_arch(num_blocks=1, num_filters=8))
    with pytest.raises(ValueError, match="do not fit the model 1x8"):
        litert.check_native_weights([np.zeros((3, 3, 12, 8), np.float32)], edsr_native_arch(num_blocks=1, num_filters=8))


def test_lite_chain_writes_the_tensorflow_chains_pixels():
    """The default chain (LiteRT) and the same chain on TensorFlow: the same versions and, after
    rounding to uint8, at most one grey level apart in a handful of values."""
    crops = sample_crops(12, seed=2)
    ratios = [1.1] * 4 + [0.85] * 4 + [0.5] * 4  # every automatic detail level
    lite = EnhanceChain(from_dict({"enhance": {"tf_intra_op_threads": 1}}))
    tf = EnhanceChain(from_dict({"enhance": {"tf_intra_op_threads": 1, "runtime": "tensorflow"}}))
    assert lite.lite and not tf.lite
    out, versions = lite.enhance(crops, ratios)
    want, want_versions = tf.enhance(crops, ratios)
    assert versions == want_versions and len(set(versions)) == 3
    diff = [np.abs(a.astype(int) - b) for a, b in zip(out, want)]
    assert max(int(d.max()) for d in diff) <= 1
    assert sum(int((d > 0).sum()) for d in diff) <= 1e-4 * sum(a.size for a in out)


def test_lite_chain_does_not_import_tensorflow():
    code = (
        "import sys; from raymouth.config import Config; from raymouth.restore.chain import EnhanceChain; "
        "from raymouth.data.sample import sample_crops; c = EnhanceChain(Config()); "
        "out, v = c.enhance(sample_crops(3), [0.5, 0.85, 1.2]); "
        "print(c.lite, len(set(v)), 'tensorflow' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-3:] == ["True", "3", "False"]


def test_guided_chain_on_litert_does_not_import_tensorflow_and_writes_its_pixels():
    """The guided chain as a CPU actor holds it (``enhance.runtime=auto``): TensorFlow never
    imported; its crops within one grey level of the TensorFlow chain's (mostly identical)."""
    code = (
        "import sys, numpy as np; from raymouth.restore.guided import GuidedChain, Exemplar; "
        "from raymouth.data.sample import sample_crops; c = GuidedChain(); crops = sample_crops(2); "
        "lips = [np.array([[0.2 * k.shape[1], 0.5 * k.shape[0]], [0.8 * k.shape[1], 0.5 * k.shape[0]]] * 20, np.float32) for k in crops]; "
        "ex = [Exemplar(k[::-1].copy(), p) for k, p in zip(crops, lips)]; out = c.enhance(crops, lips, ex); "
        "np.save(sys.argv[1], np.concatenate([o.reshape(-1) for o in out])); print('tensorflow' in sys.modules)"
    )
    import tempfile

    from raymouth.data.sample import sample_crops
    from raymouth.restore.guided import Exemplar, GuidedChain

    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-c", code, f"{tmp}/lite.npy"], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.split()[-1] == "False"
        lite = np.load(f"{tmp}/lite.npy")
    crops = sample_crops(2)
    lips = [np.array([[0.2 * k.shape[1], 0.5 * k.shape[0]], [0.8 * k.shape[1], 0.5 * k.shape[0]]] * 20, np.float32) for k in crops]
    out = GuidedChain(runtime="tensorflow").enhance(crops, lips, [Exemplar(k[::-1].copy(), p) for k, p in zip(crops, lips)])
    tf_pixels = np.concatenate([o.reshape(-1) for o in out])
    diff = np.abs(tf_pixels.astype(int) - lite.astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99


def test_runtime_setting():
    with pytest.raises(ConfigError, match="enhance.runtime=litert runs the native chain's model only"):
        from_dict({"enhance": {"runtime": "litert", "chain": "square"}})
    with pytest.raises(UserError, match="trained native weights"):
        EnhanceChain(from_dict({"enhance": {"runtime": "litert", "native_weights": "random"}}))
    # auto: TensorFlow where LiteRT does not fit (untrained weights, the autoencoder)
    assert not litert.use_litert(from_dict({"enhance": {"native_weights": "random"}}).enhance)
    assert not litert.use_litert(from_dict({"enhance": {"use_autoencoder": True}}).enhance)
    assert litert.use_litert(from_dict({}).enhance)


def test_runner_keeps_only_its_most_recent_sizes_and_gives_the_same_output_after_eviction():
    """Memory stays bounded by ``cache`` interpreters (each holds a size's activations); a size
    planned again gives the same output."""
    from raymouth.restore.chain import WEIGHTS_DIR

    arch = json.loads((WEIGHTS_DIR / "edsr_native.json").read_text())["arch"]
    runner = litert.LiteRunner(litert.native_flatbuffer(litert.read_keras_weights(WEIGHTS_DIR / "edsr_native.keras"), arch), cache=2)
    xs = _batches(3, seed=11)
    assert len({x.shape for x in xs}) == 3
    first = runner(xs[0])
    for x in xs[1:]:
        runner(x)
    assert len(runner._by_shape) == 2 and ((1, *xs[0].shape[1:]),) not in runner._by_shape
    np.testing.assert_array_equal(runner(xs[0]), first)


def test_guided_model_on_litert_gives_the_keras_models_output():
    """The packaged reference-guided model (three inputs) written op by op for LiteRT: the same
    output as Keras for real sample crops with a shifted copy as the exemplar and a varying
    confidence (inputs in the order crop, exemplar, confidence: swapped, the output differs)."""
    from raymouth.models.guided import load_guided
    from raymouth.restore.guided import GUIDED_WEIGHTS
    from raymouth.restore.chain import WEIGHTS_DIR

    path = WEIGHTS_DIR / GUIDED_WEIGHTS
    weights, manifest = litert.read_checked(path, {"name": "edsr_guided"}, in_channels=7)
    runner = litert.LiteRunner(litert.guided_flatbuffer(weights, manifest["arch"]))
    model, _ = load_guided(path)
    for x in _batches(3, seed=5):
        e = np.ascontiguousarray(np.roll(x, 3, axis=2))
        c = np.linspace(0.0, 1.0, x.shape[1] * x.shape[2], dtype=np.float32).reshape(1, x.shape[1], x.shape[2], 1)
        want = model([x, e, c], training=False).numpy()
        assert np.abs(want - x).max() > 1e-3  # the trained model really changes the crop
        np.testing.assert_allclose(runner(x, e, c), want, atol=2e-6)
        assert np.abs(runner(e, x, c) - want).max() > 1e-3
    with pytest.raises(WeightsError, match="7 input channels"):
        litert.read_checked(WEIGHTS_DIR / "edsr_native.keras", {"name": "edsr_native"}, in_channels=7)
