"""Weights files: save -> load is exact; corrupt, truncated or mismatched files fail with one line."""
from __future__ import annotations

import json

import numpy as np
import pytest

from raymouth.models.kerasapi import configure_threads

configure_threads(2, 1)

from raymouth.models.autoencoder import autoencoder_arch, build_autoencoder  # noqa: E402
from raymouth.models.edsr import build_edsr, edsr_arch  # noqa: E402
from raymouth.models.weights import MANIFEST_FORMAT, WeightsError, load_checked, load_model, manifest_path, save_model  # noqa: E402

TINY = {"scale": 2, "num_blocks": 2, "num_filters": 8, "res_scale": 0.1}


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert msg and "\n" not in msg
    return msg


@pytest.fixture()
def saved_edsr(tmp_path):
    model = build_edsr(**TINY)
    path = tmp_path / "edsr_x2.keras"
    save_model(model, path, edsr_arch(**TINY), data="unit test", metrics={"psnr": 1.0}, version="t1")
    return model, path


def test_save_load_identical_outputs(saved_edsr):
    model, path = saved_edsr
    manifest = json.loads(manifest_path(path).read_text())
    assert manifest["arch"] == edsr_arch(**TINY) and manifest["version"] == "t1" and len(manifest["sha256"]) == 64
    loaded, read = load_checked(path, expect_arch=edsr_arch(**TINY))
    assert read["sha256"] == manifest["sha256"]
    x = np.random.default_rng(0).random((1, 13, 17, 3), dtype=np.float32)
    np.testing.assert_array_equal(model(x).numpy(), loaded(x).numpy())


def test_autoencoder_round_trip(tmp_path):
    from raymouth.models.autoencoder import compile_autoencoder

    model = compile_autoencoder(build_autoencoder("seed_direct"))
    model.train_on_batch(np.zeros((1, 128, 128, 3), np.float32), np.zeros((1, 128, 128, 3), np.float32))
    path = tmp_path / "autoencoder.keras"
    save_model(model, path, autoencoder_arch("seed_direct"))
    loaded = load_model(path, expect_arch=autoencoder_arch("seed_direct"))
    x = np.random.default_rng(1).random((2, 128, 128, 3), dtype=np.float32)
    np.testing.assert_array_equal(model(x, training=False).numpy(), loaded(x, training=False).numpy())
    assert loaded.optimizer is None  # shipped without optimizer state


def test_truncated_file(saved_edsr):
    _, path = saved_edsr
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(WeightsError) as err:
        load_model(path)
    assert "corrupt or truncated" in _one_line(err)


def test_architecture_mismatch(saved_edsr):
    _, path = saved_edsr
    with pytest.raises(WeightsError) as err:
        load_model(path, expect_arch=edsr_arch(scale=2, num_blocks=16, num_filters=64))
    assert "num_blocks=2" in _one_line(err)
    with pytest.raises(WeightsError):
        load_model(path, expect_arch=autoencoder_arch())


def test_missing_or_bad_manifest(saved_edsr, tmp_path):
    _, path = saved_edsr
    with pytest.raises(WeightsError) as err:
        load_model(tmp_path / "nothing.keras")
    assert "not found" in _one_line(err)
    manifest_path(path).write_text("{not json")
    with pytest.raises(WeightsError) as err:
        load_model(path)
    assert "not valid JSON" in _one_line(err)
    manifest_path(path).unlink()
    with pytest.raises(WeightsError) as err:
        load_model(path)
    assert "manifest not found" in _one_line(err)


def test_valid_sha_but_not_a_keras_file(tmp_path):
    """A manifest written for garbage bytes: sha matches, Keras cannot read it -> WeightsError."""
    model = build_edsr(**TINY)
    path = tmp_path / "x.keras"
    save_model(model, path, edsr_arch(**TINY))
    manifest = json.loads(manifest_path(path).read_text())
    path.write_bytes(b"garbage")
    import hashlib

    manifest["sha256"] = hashlib.sha256(b"garbage").hexdigest()
    manifest_path(path).write_text(json.dumps(manifest))
    with pytest.raises(WeightsError) as err:
        load_model(path)
    assert "could not be loaded" in _one_line(err)


def test_manifest_is_read_without_tensorflow(tmp_path):
    """Reading a manifest (and importing the job's modules, or kerasapi itself) imports no TensorFlow."""
    import subprocess
    import sys

    (tmp_path / "m.json").write_text(json.dumps({"format": MANIFEST_FORMAT, "sha256": "ab", "arch": {"name": "edsr_native"}}))
    code = (
        "import sys, raymouth.models.kerasapi, raymouth.cli, raymouth.job.pipeline, raymouth.evaluate, raymouth.train.driver\n"
        "from raymouth.models.weights import read_manifest\n"
        f"assert read_manifest({str(tmp_path / 'm.keras')!r})['arch']['name'] == 'edsr_native'\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
