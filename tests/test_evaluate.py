"""Evaluation on real frames: real MediaPipe, the real stage code, small saved (untrained) models.

The numbers these tests check are measured, never assumed: the identity variant (and the
untrained native model, whose correction is zero-initialised) must gain nothing at any strength,
a deliberately blurred variant must lose, the worst clip must be the lowest clip, and the contact
sheet must show the mouth's own pixels at least 3x.
"""
from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import fixture_path

from raymouth import config, evaluate
from raymouth.data import codec, schema, video
from raymouth.data.units import spaced
from raymouth.evaluate.clips import dataset_clips, video_clip
from raymouth.train import degrade

CLIP = "video/ip_lap_129.mp4"  # 256x256: the cheapest fixture clip with a face in every frame
CLIP2 = "video/liveportrait_d5.mp4"  # 480x480, a second identity for mean / worst clip
BLURRED = "blurred"  # the mouth through a 16² bottleneck: a deliberately harmful "enhancement"
VARIANTS = ["identity", "native", "sharpen", BLURRED]


@pytest.fixture(scope="module")
def cfg(small_model_overrides) -> config.Config:
    return config.load(None, small_model_overrides)


@pytest.fixture(scope="module")
def table() -> dict[str, list[str]]:
    t = evaluate.variant_overrides()
    t[BLURRED] = ["enhance.chain=square", "enhance.sr_backend=bicubic", "enhance.sr_input_px=16", "enhance.use_autoencoder=false", "enhance.sharpen.amount=0"]
    return t


@pytest.fixture(scope="module")
def report(tmp_path_factory, cfg, table) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("eval")
    clips = [str(fixture_path(CLIP)), str(fixture_path(CLIP2))]
    rep = evaluate.evaluate(clips, out, cfg, VARIANTS, frames=3, real=[str(fixture_path(CLIP))], real_frames=4, table=table, log=lambda _: None)
    return rep, out


# ---------------------------------------------------------------- reading clips


def test_spaced_frames_cover_the_whole_video():
    assert spaced(100, 16)[0] == 0 and spaced(100, 16)[-1] == 99 and len(spaced(100, 16)) == 16
    assert np.all(np.diff(spaced(100, 16)) >= 6)
    assert spaced(5, 16) == [0, 1, 2, 3, 4] and spaced(5, 0) == [0, 1, 2, 3, 4] and spaced(0, 4) == []


def test_video_clip_streams_the_evenly_spaced_frames():
    path = fixture_path(CLIP)
    clip = video_clip(str(path), 4)
    count = video.probe(path).frame_count
    assert clip.video_id == "ip_lap_129" and clip.frame_index == spaced(count, 4) and clip.frame_index[-1] == count - 1
    decoded = {i: rgb for i, _, rgb in video.iter_frames(path) if i in set(clip.frame_index)}
    assert all(np.array_equal(f, decoded[i]) for i, f in zip(clip.frame_index, clip.frames))
    first = video_clip(str(path), 3, even=False)  # real clips: consecutive frames
    assert first.frame_index == [0, 1, 2]


# ---------------------------------------------------------------- fixed strengths


@pytest.mark.slow
def test_identity_and_untrained_native_gain_nothing_at_every_strength(report):
    rep, _ = report
    res = rep["results"]
    assert set(res) == set(degrade.STRENGTHS)
    for s in degrade.STRENGTHS:
        for clip, inp in res[s]["input"]["per_clip"].items():
            assert inp["frames"] == 3
            if s == "clean":
                assert inp["psnr"] == 100.0  # the input is the clean frame: capped
            else:
                assert 15 < inp["psnr"] < 60  # degraded vs clean: measured, finite
            for v in ("identity", "native"):
                p = res[s][v]["per_clip"][clip]
                if s == "clean":
                    assert p["psnr"] > 60, (v, clip, p)  # colour match's LAB round trip only
                else:
                    assert abs(p["gain"]) < 0.02, (v, s, clip, p)
                    assert abs(p["gain"] - (p["psnr"] - p["psnr_input"])) < 1e-9


@pytest.mark.slow
def test_a_blurred_variant_loses_at_clean_and_mild_and_the_gate_was_open(report):
    rep, _ = report
    res = rep["results"]
    blurred, ident = res["clean"][BLURRED], res["clean"]["identity"]
    assert blurred["rejected"] == 0  # the test config opens the gate: what is scored is the blur
    assert blurred["mean"] < 40 < ident["mean"]
    assert blurred["worst"]["value"] < 40
    assert res["mild"][BLURRED]["mean"] < -0.5
    assert any(c["check"].startswith("clean: mean") for c in rep["criteria"])


@pytest.mark.slow
def test_mean_and_worst_clip_are_over_clips(report):
    rep, _ = report
    for s, by_variant in rep["results"].items():
        for v, r in by_variant.items():
            per = r["per_clip"]
            assert set(per) == {"ip_lap_129", "liveportrait_d5"}
            scores = {c: p["psnr"] if s == "clean" else p["gain"] for c, p in per.items()}
            assert r["worst"]["value"] == min(scores.values())
            assert r["worst"]["clip"] == min(scores, key=scores.get)
            assert r["mean"] == pytest.approx(np.mean(list(scores.values())))
    # the two clips do differ, so a worst that is not the minimum could not pass by chance
    blurred = rep["results"]["clean"][BLURRED]["per_clip"]
    assert abs(blurred["ip_lap_129"]["psnr"] - blurred["liveportrait_d5"]["psnr"]) > 0.1


@pytest.mark.slow
def test_contact_sheet_shows_the_clean_mouth_zoomed_3x(report):
    rep, out = report
    layout = {(s["clip"], s["kind"]): s for s in rep["files"]["sheet_layout"]}
    sheet = layout[("ip_lap_129", "clean")]
    img, status = codec.decode(Path(sheet["path"]).read_bytes())
    assert status == schema.STATUS_OK and sheet["zoom"] >= 3
    x0, y0, x1, y1 = sheet["box"]
    assert sheet["cell"][0] >= 3 * (y1 - y0) and sheet["cell"][1] >= 3 * (x1 - x0)
    assert sheet["rows"] == list(degrade.STRENGTHS) and sheet["columns"][:3] == ["clean", "input", "identity"]
    clean = next(rgb for i, _, rgb in video.iter_frames(fixture_path(CLIP)) if i == sheet["frame_index"])
    want = np.repeat(np.repeat(clean[y0:y1, x0:x1], 3, axis=0), 3, axis=1)
    top, left = sheet["origin"]
    assert np.array_equal(img[top : top + want.shape[0], left : left + want.shape[1]], want)
    # the blurred variant's cell (same row) is visibly not the clean mouth
    col = sheet["columns"].index(BLURRED) * sheet["pitch"][1]
    got = img[top : top + want.shape[0], left + col : left + col + want.shape[1]].astype(int)
    assert np.abs(got - want).mean() > 1.0
    real = layout[("ip_lap_129", "real")]
    rx0, ry0, rx1, ry1 = real["box"]
    assert real["cell"][0] >= 3 * (ry1 - ry0) and real["cell"][1] >= 3 * (rx1 - rx0)


@pytest.mark.slow
def test_real_clip_reports_sharpness_ratio_gate_and_flicker(report):
    rep, _ = report
    real = rep["real"]["ip_lap_129"]
    assert set(real) == {"input", *VARIANTS}
    inp, ident, sharp = real["input"], real["identity"], real["sharpen"]
    assert inp["frames"] == ident["frames"] == 4
    assert ident["sharpness_ratio"] == pytest.approx(inp["sharpness_ratio"], rel=0.02)
    assert ident["flicker_ratio"] == pytest.approx(1.0, abs=0.05)
    assert sharp["delta_sharpness_ratio"] > 0  # unsharp masking adds Laplacian energy
    assert real[BLURRED]["delta_sharpness_ratio"] < 0
    assert ident["seam_max"] >= ident["seam"] >= 0
    checks = {c["check"] for c in rep["criteria"]}
    assert any(c.startswith("ip_lap_129: sharpness ratio goes up") for c in checks)


@pytest.mark.slow
def test_writes_markdown_tables_and_json(report):
    rep, out = report
    md = (out / "evaluation.md").read_text()
    assert "| variant | clean PSNR dB mean | clean worst clip | mild ΔPSNR dB mean |" in md
    assert "| variant | ip_lap_129 | liveportrait_d5 | mean | worst clip | ungated mean | ΔSSIM | rejected (reasons) |" in md
    for title in evaluate_titles():
        assert title in md
    assert "| ip_lap_129 | sharpen |" in md and "## Done-when checks" in md
    saved = json.loads((out / "evaluation.json").read_text())
    assert set(saved["variants"]) == set(VARIANTS)
    assert saved["clips"]["ip_lap_129"]["located"] == {"ok": 3}
    assert saved["results"]["lipsync"]["native"]["per_clip"]["ip_lap_129"]["frames"] == 3


def evaluate_titles() -> list[str]:
    from raymouth.evaluate.report import STRENGTH_TITLES

    return [f"### {t}" for t in STRENGTH_TITLES.values()]


@pytest.mark.slow
def test_gate_rejections_are_counted_with_reasons_and_ungated_gain_shows_the_harm(tmp_path, cfg, table):
    """With the lost-detail gate at its shipped threshold the blur is kept out of the output
    (gain ~0, every frame rejected as lost_detail) while the ungated score shows the harm."""
    gated = evaluate.with_overrides(cfg, [f"gate.min_detail_ratio={config.Config().gate.min_detail_ratio}"])
    rep = evaluate.evaluate([str(fixture_path(CLIP))], tmp_path, gated, ["identity", BLURRED], frames=2, strengths=["clean", "mild"], table=table, log=lambda _: None)
    for s in ("clean", "mild"):
        blurred, ident = rep["results"][s][BLURRED], rep["results"][s]["identity"]
        assert blurred["rejected"] == 2 and blurred["reasons"].get("lost_detail") == 2, blurred
        assert ident["rejected"] == 0 and ident["reasons"] == {}
        p = blurred["per_clip"]["ip_lap_129"]
        if s == "clean":
            assert p["psnr"] == 100.0 and p["psnr_ungated"] < 40  # kept as it was; the paste would have cost
        else:
            assert abs(p["gain"]) < 1e-9 and p["gain_ungated"] < -0.5
        assert ident["per_clip"]["ip_lap_129"]["gain_ungated"] == pytest.approx(ident["per_clip"]["ip_lap_129"]["gain"], abs=1e-6)
    assert "2 (lost_detail 2)" in (tmp_path / "evaluation.md").read_text()


def test_unknown_variant_or_strength_fails_before_any_work(tmp_path, cfg):
    with pytest.raises(evaluate.EvaluateError, match="unknown variant 'nope'"):
        evaluate.evaluate([str(tmp_path / "missing.mp4")], tmp_path / "out", cfg, ["identity", "nope"])
    with pytest.raises(evaluate.EvaluateError, match="unknown strength 'mushy'"):
        evaluate.evaluate([str(tmp_path / "missing.mp4")], tmp_path / "out", cfg, ["identity"], strengths=["mushy"])
    with pytest.raises(evaluate.EvaluateError, match="missing.mp4: no such video file"):
        evaluate.evaluate([str(fixture_path(CLIP))], tmp_path / "out", cfg, ["identity"], real=[str(tmp_path / "missing.mp4")])
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- command line, reference datasets


@pytest.mark.slow
def test_cli_on_a_reference_dataset_with_a_variant_subset(tmp_path, cfg, small_model_overrides):
    ref = tmp_path / "ref"
    evaluate.make_heldout_set([fixture_path(CLIP)], str(ref), cfg, frames_per_clip=4, seed=0, exclude_videos=set())
    sets = [a for o in small_model_overrides for a in ("--set", o)]
    rc = evaluate.main(["evaluate", str(ref), "--out", str(tmp_path / "out"), "--variants", "identity,sharpen", "--strengths", "clean,lipsync", "--frames", "2", *sets])
    assert rc == 0
    rep = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    assert set(rep["variants"]) == {"identity", "sharpen"} and set(rep["results"]) == {"clean", "lipsync"}
    assert rep["clips"]["ip_lap_129"]["frames"] == 2
    # the dataset's clean `reference` frames are the clip: at `clean` the input scores the cap
    assert rep["results"]["clean"]["input"]["per_clip"]["ip_lap_129"]["psnr"] == 100.0


def read_rows(root: Path) -> list[dict]:
    return [row for f in sorted(root.rglob("*.parquet")) for row in pq.read_table(f).to_pylist()]


def test_reference_dataset_degrades_only_the_located_mouth_box(tmp_path, cfg):
    evaluate.make_heldout_set([fixture_path(CLIP)], str(tmp_path), cfg, frames_per_clip=3, seed=0, exclude_videos=set())
    rows = read_rows(tmp_path)
    assert len(rows) == 3 and all(r["video_id"] == "ip_lap_129" for r in rows)
    clean = [rgb for _, _, rgb in islice(video.iter_frames(fixture_path(CLIP)), 3)]
    for row, rgb in zip(rows, clean):
        image, reference = codec.decode(row["image"])[0], codec.decode(row["reference"])[0]
        assert np.array_equal(reference, rgb)
        x0, y0, x1, y1 = row["degraded_box"]
        outside = np.ones(image.shape[:2], bool)
        outside[y0:y1, x0:x1] = False
        assert np.array_equal(image[outside], reference[outside])
        assert not np.array_equal(image[y0:y1, x0:x1], reference[y0:y1, x0:x1])


def test_reference_dataset_refuses_clips_the_weights_were_trained_on(tmp_path, cfg):
    (tmp_path / "edsr_x2.json").write_text(json.dumps({"data": "/frames", "metrics": {"data": {"train_videos": ["ip_lap_129", "liveportrait_d5"]}}}))
    (tmp_path / "autoencoder.json").write_text(json.dumps({"data": {"train_videos": ["retalking_face_2"]}}))
    trained = evaluate.training_videos(tmp_path)
    assert trained == {"ip_lap_129", "liveportrait_d5", "retalking_face_2"}
    with pytest.raises(evaluate.EvaluateError, match="trained on ip_lap_129"):
        evaluate.make_heldout_set([fixture_path(CLIP)], str(tmp_path / "ref"), cfg, frames_per_clip=1, exclude_videos=trained)
    assert not (tmp_path / "ref").exists()  # refused before any work


def test_reference_dataset_on_s3_reads_back_as_clean_clips(s3_env, cfg):
    uri = f"s3://{s3_env.make_bucket()}/eval/ref"
    summary = evaluate.make_heldout_set([fixture_path(CLIP)], uri, cfg, frames_per_clip=3, seed=0, exclude_videos=set())
    assert summary["videos"] == {"ip_lap_129": {"frames": 3, "degraded": 3}}
    (clip,) = list(dataset_clips(uri, cfg, 2))
    assert clip.video_id == "ip_lap_129" and clip.frame_index == [0, 2]
    clean = [rgb for _, _, rgb in islice(video.iter_frames(fixture_path(CLIP)), 3)]
    assert np.array_equal(clip.frames[0], clean[0]) and np.array_equal(clip.frames[1], clean[2])


def test_clips_are_grouped_by_source_and_the_checks_use_the_out_of_source_ones(tmp_path, cfg, table):
    """tpsmm's repository gave no training video; ip_lap_129 was trained on (both from the manifests)."""
    clips = [str(fixture_path(CLIP)), str(fixture_path("train2/tpsmm_driving_jackiechan.mp4"))]
    said: list[str] = []
    rep = evaluate.evaluate(clips, tmp_path, cfg, ["identity"], frames=2, strengths=["clean", "mild"], table=table, log=said.append)
    prov = rep["provenance"]
    assert prov["ip_lap_129"]["group"] == "in-source" and prov["ip_lap_129"]["trained_on"]
    assert prov["tpsmm_driving_jackiechan"] == {"video_id": "tpsmm_driving_jackiechan", "source": "yoyo-nb/Thin-Plate-Spline-Motion-Model", "group": "out-of-source", "trained_on": False}
    assert list(rep["groups"]) == ["out-of-source", "in-source"]
    assert set(rep["groups"]["out-of-source"]["mild"]["identity"]["per_clip"]) == {"tpsmm_driving_jackiechan"}
    assert rep["groups"]["in-source"]["clean"]["input"]["worst"]["clip"] == "ip_lap_129"
    assert {c["scope"] for c in rep["criteria"]} == {"out-of-source"}
    md = (tmp_path / "evaluation.md").read_text()
    assert "## By source" in md and "### out-of-source clips (1): `tpsmm_driving_jackiechan` (yoyo-nb/Thin-Plate-Spline-Motion-Model)" in md
    assert "| source | out-of-source | in-source |" in md  # per-clip tables: out-of-source clips first
    console = "\n".join(said)  # the groups' tables and the checks reach the console, not only the file
    assert console.index("### out-of-source clips (1)") < console.index("### in-source clips (1)")
    assert all(f"{'PASS' if c['pass'] else 'FAIL'}: {c['check']}" in console for c in rep["criteria"])


def test_a_check_that_misses_its_target_by_a_rounding_never_reads_as_the_target():
    from raymouth.evaluate.report import criteria_list

    def check(value: float) -> dict:
        return {"check": "lip-sync-like: mean gain ≥ +1.2 dB", "value": value, "target": 1.2, "pass": value >= 1.2, "variant": "default", "scope": "out-of-source"}

    text = criteria_list({"criteria": [check(1.197), check(0.97), check(1.5)]}).splitlines()
    assert text[0].startswith("- FAIL") and "measured +1.197 " in text[0]
    assert "measured +0.97 " in text[1] and text[2].startswith("- PASS") and "measured +1.50 " in text[2]
