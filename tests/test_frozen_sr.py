"""The official frozen SR graphs run by TensorFlow: sizes, scale detection, and better than bicubic."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import fixture_path

from raymouth.models.kerasapi import configure_threads

configure_threads(2, 1)

from raymouth.models.frozen_sr import FrozenSR, pick_output_node, scale_from_name  # noqa: E402
from raymouth.models.weights import WeightsError  # noqa: E402

GRAPHS = ["FSRCNN_x2", "FSRCNN_x4", "ESPCN_x2", "ESPCN_x4", "LapSRN_x2", "LapSRN_x4"]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.clip(a, 0, 1) - b) ** 2)))


@pytest.mark.parametrize("name", GRAPHS)
def test_graph_upscales_and_beats_bicubic(name):
    from skimage import data

    model = FrozenSR(fixture_path(f"models/{name}.pb"))
    scale = int(name[-1])
    assert model.scale == scale
    crop = np.random.default_rng(0).random((2, 30, 44, 3), dtype=np.float32)
    assert model.upscale_batch(crop).shape == (2, 30 * scale, 44 * scale, 3)
    side = 256 - 256 % scale
    hr = data.astronaut()[96 : 96 + side, 128 : 128 + side].astype(np.float32) / 255.0
    lr = cv2.resize(hr, (side // scale, side // scale), interpolation=cv2.INTER_CUBIC)
    bicubic = cv2.resize(lr, (side, side), interpolation=cv2.INTER_CUBIC)
    gain = _psnr(model.upscale(lr), hr) - _psnr(bicubic, hr)
    assert gain > (0.4 if scale == 2 else 0.1), f"{name}: {gain:.2f} dB over bicubic"


def test_output_node_and_scale_detection():
    assert scale_from_name("models/LapSRN_x4.pb") == 4
    assert scale_from_name("my_graph.pb") is None
    pyramid = {"NCHW_output", "NCHW_output_2x", "NCHW_output_4x"}
    assert pick_output_node(pyramid, 4) == "NCHW_output_4x"
    assert pick_output_node(pyramid, 2) == "NCHW_output_2x"
    assert pick_output_node({"NCHW_output", "x"}, None) == "NCHW_output"
    with pytest.raises(WeightsError):
        pick_output_node({"conv"}, 2)


def test_bad_graphs_raise_one_line(tmp_path):
    good = fixture_path("models/ESPCN_x2.pb")
    with pytest.raises(WeightsError, match="not found"):
        FrozenSR(tmp_path / "missing_x2.pb")
    corrupt = tmp_path / "ESPCN_x2.pb"
    corrupt.write_bytes(good.read_bytes()[: 5000])
    with pytest.raises(WeightsError) as err:
        FrozenSR(corrupt)
    assert "\n" not in str(err.value)
    renamed = tmp_path / "ESPCN_x4.pb"  # name says x4, the graph does x2
    renamed.write_bytes(good.read_bytes())
    with pytest.raises(WeightsError, match="x2, not x4"):
        FrozenSR(renamed)
    assert FrozenSR(renamed, scale=2).scale == 2
