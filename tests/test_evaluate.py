"""Evaluation on real frames: real MediaPipe, the real stage code, small saved (untrained) models.

The numbers these tests check are measured, never assumed: the identity variant must score what
the input scores, a variant that changes pixels must score differently, and the reference
builder must leave every pixel outside the mouth box as it was.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import fixture_path, write_frames_dataset
from raymouth import codec, config, evaluate, schema

CLIP = "video/ip_lap_129.mp4"  # 256x256: the cheapest fixture clip with a face in every frame


@pytest.fixture(scope="module")
def small_overrides(small_model_overrides) -> list[str]:
    """Small untrained saved models, so `default` needs no shipped weights."""
    return small_model_overrides


@pytest.fixture(scope="module")
def cfg(small_overrides) -> config.Config:
    return config.load(None, small_overrides)


@pytest.fixture(scope="module")
def ref_dataset(tmp_path_factory, cfg) -> Path:
    out = tmp_path_factory.mktemp("ref")
    evaluate.make_reference_dataset([fixture_path(CLIP)], str(out), cfg, frames_per_clip=5, seed=0, exclude_videos=set())
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory, ref_dataset, cfg) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("eval")
    return evaluate.evaluate(str(ref_dataset), out, cfg, ["identity", "bicubic", "default"], frames_per_video=5, log=lambda _: None), out


def read_rows(root: Path) -> list[dict]:
    files = sorted(root.rglob("*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


# ---------------------------------------------------------------- reference builder


def test_reference_dataset_degrades_only_the_located_mouth_box(ref_dataset, cfg):
    from raymouth.locate import Locate

    rows = read_rows(ref_dataset)
    assert len(rows) == 5 and all(r["video_id"] == "ip_lap_129" for r in rows)
    with Locate(cfg) as locate:  # the box must be the mouth found on the clean frame
        clean = locate({"video_id": np.array([r["video_id"] for r in rows], dtype=object), "frame_index": np.array([r["frame_index"] for r in rows]), "image": np.array([r["reference"] for r in rows], dtype=object)})
    assert list(clean["status"]) == [schema.STATUS_OK] * 5
    for row, located_box in zip(rows, clean["mouth_box"]):
        image, reference = codec.decode(row["image"])[0], codec.decode(row["reference"])[0]
        x0, y0, x1, y1 = row["degraded_box"]
        assert (x0, y0, x1, y1) == tuple(int(v) for v in located_box)
        outside = np.ones(image.shape[:2], bool)
        outside[y0:y1, x0:x1] = False
        assert np.array_equal(image[outside], reference[outside])
        assert not np.array_equal(image[y0:y1, x0:x1], reference[y0:y1, x0:x1])


def test_reference_dataset_is_deterministic_per_seed(tmp_path, cfg):
    clip = fixture_path(CLIP)

    def build(name: str, seed: int) -> list[bytes]:
        evaluate.make_reference_dataset([clip], str(tmp_path / name), cfg, frames_per_clip=2, seed=seed, exclude_videos=set())
        return [r["image"] for r in read_rows(tmp_path / name)]

    first, again, other = build("a", 0), build("b", 0), build("c", 1)
    assert first == again
    assert all(a != b for a, b in zip(first, other))


def test_reference_dataset_refuses_clips_the_weights_were_trained_on(tmp_path, cfg):
    # the two places a manifest may name its training data: `data` itself, or raymouth.train's metrics.data
    (tmp_path / "edsr_x2.json").write_text(json.dumps({"data": "/frames", "metrics": {"data": {"train_videos": ["ip_lap_129", "liveportrait_d5"], "val_videos": ["liveportrait_d10"]}}}))
    (tmp_path / "autoencoder.json").write_text(json.dumps({"data": {"train_videos": ["retalking_face_2"]}}))
    trained = evaluate.training_videos(tmp_path)
    assert trained == {"ip_lap_129", "liveportrait_d5", "retalking_face_2"}
    with pytest.raises(evaluate.EvaluateError, match="trained on ip_lap_129"):
        evaluate.make_reference_dataset([fixture_path(CLIP)], str(tmp_path / "ref"), cfg, frames_per_clip=1, exclude_videos=trained)
    assert not (tmp_path / "ref").exists()  # refused before any work


# ---------------------------------------------------------------- evaluation with a reference


@pytest.mark.slow
def test_evaluate_writes_table_json_plots_and_sheets(report):
    rep, out = report
    md = (out / "evaluation.md").read_text()
    assert "| variant | mouth PSNR dB |" in md
    for name in ("input", "reference (clean)", "identity", "bicubic", "default"):
        assert f"| {name} |" in md
    assert "| ΔPSNR vs input, dB | ip_lap_129 |" in md  # the per-video table
    saved = json.loads((out / "evaluation.json").read_text())
    assert set(saved["variants"]) == {"identity", "bicubic", "default"}
    assert saved["frames"] == 5 and saved["located"] == {"ok": 5}
    pngs = rep["files"]["plots"] + rep["files"]["sheets"]
    assert {Path(p).name for p in pngs} == {"metrics_by_variant.png", "sharpness_over_time.png", "sheet_variants.png", "sheet_default.png"}
    for p in pngs:
        img, status = codec.decode(Path(p).read_bytes())
        assert status == schema.STATUS_OK and min(img.shape[:2]) > 100


@pytest.mark.slow
def test_identity_scores_like_the_input_and_a_real_change_does_not(report):
    rep, _ = report
    inp, ident, bicubic = rep["input"], rep["variants"]["identity"]["summary"], rep["variants"]["bicubic"]["summary"]
    assert inp["psnr"] is not None and 15 < inp["psnr"] < 60  # degraded mouth vs clean: measured, finite
    assert ident["frames"] == inp["frames"] == 5
    assert ident["psnr"] == pytest.approx(inp["psnr"], abs=0.01)  # colour match's LAB round trip only
    assert ident["ssim"] == pytest.approx(inp["ssim"], abs=1e-4)
    assert ident["flicker_ratio"] == pytest.approx(1.0, abs=0.01)
    assert abs(bicubic["psnr"] - inp["psnr"]) > 0.01  # the 64x64 bottleneck is visible to the measure
    assert abs(bicubic["delta_psnr"] - (bicubic["psnr"] - inp["psnr"])) < 1e-6
    assert bicubic["per_video"]["ip_lap_129"]["delta_psnr"] == pytest.approx(bicubic["delta_psnr"])  # one video
    assert rep["reference"]["sharpness_ratio"] > inp["sharpness_ratio"]  # the degraded mouth is blurrier


def test_unknown_variant_fails_before_any_work(tmp_path, cfg):
    with pytest.raises(evaluate.EvaluateError, match="unknown variant 'nope'"):
        evaluate.evaluate(str(tmp_path / "missing"), tmp_path / "out", cfg, ["identity", "nope"])
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- evaluation without a reference (CLI)


@pytest.mark.slow
def test_cli_without_reference_reports_no_reference_measures(tmp_path, small_overrides):
    write_frames_dataset(tmp_path / "in", fixture_path(CLIP), frames=4)
    sets = [a for o in small_overrides for a in ("--set", o)]
    rc = evaluate.main(["evaluate", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--variants", "identity", "sharpen", "--frames", "3", *sets])
    assert rc == 0
    rep = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    assert rep["frames"] == 3 and rep["reference"] is None
    ident, sharp = rep["variants"]["identity"]["summary"], rep["variants"]["sharpen"]["summary"]
    assert ident["psnr"] is None and sharp["psnr"] is None
    assert sharp["sharpness_ratio"] > ident["sharpness_ratio"] > 0  # unsharp masking adds Laplacian energy
    assert set(sharp["flicker_ratio_per_video"]) == {"ip_lap_129"}
    assert "mode: no reference" in (tmp_path / "out" / "evaluation.md").read_text()


def test_reference_dataset_on_s3_reads_back_for_evaluation(s3_env, cfg):
    bucket = s3_env.make_bucket()
    uri = f"s3://{bucket}/eval/ref"
    summary = evaluate.make_reference_dataset([fixture_path(CLIP)], uri, cfg, frames_per_clip=3, seed=0, exclude_videos=set())
    assert summary["videos"] == {"ip_lap_129": {"frames": 3, "degraded": 3}}
    frames = evaluate.read_frames(uri, cfg, frames_per_video=2)
    assert list(frames["frame_index"]) == [0, 1]
    assert all(img != ref for img, ref in zip(frames["image"], frames["reference"]))
