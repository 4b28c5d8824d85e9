"""The batch callables of the enhance job, called directly on hand-built batches (no cluster)."""
from __future__ import annotations

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from skimage import data

from raymouth import config
from raymouth.data import codec, compose, schema
from raymouth.job.stages import Composite, WriteOutput
from raymouth.mouth import roi
from raymouth.mouth.locate import mouth_crop
from raymouth.restore import sharpen
from raymouth.train import degrade

FRAME_MODE = ["pipeline.output_mode=frame"]


def _batch(frame: np.ndarray, crop_out: np.ndarray, box: tuple[int, int, int, int]) -> dict[str, np.ndarray]:
    x0, y0, x1, y1 = box
    polygon = np.array([x0 + 8, y0 + 8, x1 - 8, y0 + 8, x1 - 8, y1 - 8, x0 + 8, y1 - 8], np.float32)
    obj = lambda *v: np.array(list(v) + [None], dtype=object)[:-1]  # noqa: E731 - 1-D object arrays
    return {
        "video_id": obj("v"),
        "frame_index": np.array([0], np.int32),
        "image": obj(codec.encode(frame)),
        "status": obj(schema.STATUS_OK),
        "mouth_box": np.array([box], np.int32),
        "mouth_polygon": obj(polygon),
        "enhanced_crop": obj(crop_out),
    }


FRAME = data.astronaut()
BOX = (190, 130, 260, 170)


def _crop(frame=FRAME, box=BOX) -> np.ndarray:
    x0, y0, x1, y1 = box
    return frame[y0:y1, x0:x1].copy()


def test_unchanged_crop_is_accepted_and_only_the_box_changes():
    crop = np.clip(_crop().astype(int) + 3, 0, 255).astype(np.uint8)  # a slight, plausible change
    out = Composite(config.load(), "r")(_batch(FRAME, crop, BOX))
    assert out["status"][0] == schema.STATUS_OK and out["reject_reason"][0] == ""
    assert out["seam"][0] < 1.0 and out["delta_e"][0] < 1.0
    x0, y0, x1, y1 = out["patch_box"][0]
    assert BOX[0] < x0 < x1 < BOX[2] and BOX[1] < y0 < y1 < BOX[3]  # the feather's support, inside the box
    after = compose.compose(FRAME, {"enhanced": out["enhanced"][0], "patch_box": out["patch_box"][0]})
    outside = np.ones(FRAME.shape[:2], bool)
    outside[BOX[1] : BOX[3], BOX[0] : BOX[2]] = False
    assert np.array_equal(after[outside], FRAME[outside]) and not np.array_equal(after, FRAME)
    assert out["config_hash"][0] == config.load().hash() and out["run_id"][0] == "r"


def test_grid_artefacts_are_rejected_and_the_input_kept():
    crop = _crop()
    crop[::2, ::2] = 255  # a checkerboard of white dots: far sharper than any face
    out = Composite(config.load(), "r")(_batch(FRAME, crop, BOX))
    assert out["status"][0] == schema.STATUS_REJECTED_QUALITY
    assert schema.REJECT_OVER_SHARP in schema.reject_reasons(out["reject_reason"][0])
    assert out["enhanced"][0] is None and out["patch_box"][0] is None  # nothing pasted
    framed = Composite(config.load(None, FRAME_MODE), "r")(_batch(FRAME, crop, BOX))
    assert framed["enhanced"][0] == framed["image"][0]  # frame mode keeps the input's bytes
    assert out["sharpness_ratio_out"][0] > config.load().gate.max_sharpness_ratio


def test_a_naturally_sharp_mouth_may_come_back_a_little_sharper():
    # teeth against smooth cheeks: the input mouth is already far sharper than its surroundings
    frame = cv2.GaussianBlur(FRAME, (0, 0), 4)
    x0, y0, x1, y1 = BOX
    frame[y0:y1, x0:x1] = FRAME[y0:y1, x0:x1]
    crop = sharpen.sharpen(_crop(), 0.15)  # a modest restoration-sized gain, no artefact
    out = Composite(config.load(), "r")(_batch(frame, crop, BOX))
    ratio_in, ratio_out = out["sharpness_ratio_in"][0], out["sharpness_ratio_out"][0]
    assert ratio_in > config.load().gate.max_sharpness_ratio and ratio_in < ratio_out < 1.5 * ratio_in
    assert schema.REJECT_OVER_SHARP not in schema.reject_reasons(out["reject_reason"][0])


def test_a_colour_cast_is_matched_away_not_pasted():
    crop = np.clip(_crop().astype(int) + np.array([40, -20, -20]), 0, 255).astype(np.uint8)
    out = Composite(config.load(), "r")(_batch(FRAME, crop, BOX))
    assert abs(out["delta_e"][0]) < 2.0  # colour matching removed the cast


@pytest.mark.parametrize("mode", [schema.OUTPUT_PATCH, schema.OUTPUT_FRAME])
def test_pass_through_rows_are_written_in_both_modes(tmp_path, mode):
    """A row not enhanced is still a row: frame mode keeps its bytes, patch mode has no patch
    and no whole frame."""
    batch = _batch(FRAME, _crop(), BOX)
    batch["status"] = np.array([schema.STATUS_NO_FACE], dtype=object)
    cfg = config.load(None, [f"pipeline.output_mode={mode}"])
    out = Composite(cfg, "r")(batch)
    assert out["enhanced"][0] == (batch["image"][0] if mode == schema.OUTPUT_FRAME else None) and np.isnan(out["seam"][0])
    assert out["reject_reason"][0] == ""  # not rejected by the gate: its status says why it passed through

    out["_unit"] = np.array(["u1"], dtype=object)
    out["model_version"] = np.array(["m"], dtype=object)
    WriteOutput(str(tmp_path), cfg.storage, False, mode)(dict(out))
    frames = pq.read_table(next((tmp_path / "frames").glob("u1__*.parquet")))
    (schema.validate_patches if mode == schema.OUTPUT_PATCH else schema.validate_enhanced)(frames.schema)
    assert schema.is_patch_table(frames.schema) == (mode == schema.OUTPUT_PATCH)
    assert "crop" not in frames.column_names and frames.column("status").to_pylist() == [schema.STATUS_NO_FACE]
    assert frames.column("patch_box").to_pylist() == [None]
    metrics = pq.read_table(next((tmp_path / "metrics").glob("u1__*.parquet")))
    assert "image" not in metrics.column_names and "enhanced" not in metrics.column_names


def test_scores_on_the_window_equal_scores_on_the_whole_frame():
    """The composite scores a window around the box; the values must be the whole frame's."""
    from raymouth.paste import gate, metrics
    crop = np.clip(_crop().astype(int) + np.array([30, 0, -10]), 0, 255).astype(np.uint8)
    composite = Composite(config.load(), "r")
    polygon = np.asarray(_batch(FRAME, crop, BOX)["mouth_polygon"][0]).reshape(-1, 2)
    result, m, _ = composite.composite_one(FRAME, crop, BOX, polygon, None)
    # the window holds every neighbour: equal up to summation order (a missing one shifts them by far more)
    assert m["sharpness_ratio_out"] == pytest.approx(metrics.sharpness_ratio(result, BOX), rel=1e-9)
    assert m["sharpness_ratio_in"] == pytest.approx(metrics.sharpness_ratio(FRAME, BOX), rel=1e-9)
    # colour matching and the paste's scores read the mask's support and its reach, not the whole box
    alpha = roi.feather_mask(BOX, polygon, composite.cfg.locate.feather_px)
    matched = roi.colour_match(crop, FRAME, BOX, alpha, composite.cfg.locate.colour_ring_px)
    assert np.array_equal(result, roi.paste(FRAME, matched, BOX, alpha))
    for name, value in (("seam", gate.paste_seam(_crop(), matched, alpha)), ("delta_e", gate.colour_shift(_crop(), matched, alpha)),
                        ("detail_ratio", gate.detail_ratio(_crop(), matched, alpha))):
        assert m[name] == pytest.approx(value, rel=1e-6), name  # only the summation order differs
    (wx0, wy0, wx1, wy1), local = roi.window(FRAME.shape, BOX)
    on_window = composite.composite_one(FRAME[wy0:wy1, wx0:wx1], crop, local, polygon - np.float32([wx0, wy0]), None)
    assert on_window[1] == m and np.array_equal(on_window[0], result[wy0:wy1, wx0:wx1])


def test_a_half_bright_crop_leaves_a_seam_and_is_rejected():
    """Colour matching fixes a cast over the whole crop, not one over part of it: that shows as
    an edge along the feather, which the gate must catch."""
    crop = _crop().astype(int)
    crop[:, : crop.shape[1] // 2] += 60
    out = Composite(config.load(), "r")(_batch(FRAME, np.clip(crop, 0, 255).astype(np.uint8), BOX))
    assert out["seam"][0] > config.load().gate.max_seam
    assert out["status"][0] == schema.STATUS_REJECTED_QUALITY
    assert schema.reject_reasons(out["reject_reason"][0])[0] == schema.REJECT_SEAM
    assert out["enhanced"][0] is None


# --------------------------------------------------------------------------- lost detail, on real mouths

GATE_CLIPS = ("retalking_face_5", "liveportrait_d5", "wav2lip_hd_kennedy")  # the last: the softest mouth


@pytest.fixture(scope="module")
def located_batch() -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Frame 10 of each clip in ``GATE_CLIPS`` and ``Locate``'s batch of them (MediaPipe)."""
    import av
    from conftest import fixture_path

    from raymouth.mouth.locate import Locate

    frames = []
    for clip in GATE_CLIPS:
        with av.open(str(fixture_path(f"video/{clip}.mp4"))) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i == 10:
                    frames.append(frame.to_ndarray(format="rgb24"))
                    break
    with Locate(config.load()) as locate:
        out = locate({"video_id": np.array(GATE_CLIPS, dtype=object), "frame_index": np.zeros(len(frames), np.int32),
                      "image": np.array([codec.encode(f) for f in frames], dtype=object)})
    assert list(out["status"]) == [schema.STATUS_OK] * len(frames)
    return frames, out


@pytest.fixture(scope="module")
def located(located_batch) -> list[tuple[str, np.ndarray, tuple[int, int, int, int], np.ndarray]]:
    """(clip, frame, box, polygon) of frame 10 of each clip in ``GATE_CLIPS``, located by MediaPipe."""
    frames, out = located_batch
    return [(c, f, tuple(int(v) for v in b), np.asarray(p)) for c, f, b, p in zip(GATE_CLIPS, frames, out["mouth_box"], out["mouth_polygon"])]


def _sharpened(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Locate's batch as the enhance stage leaves it, the crops sharpened (every mouth changes)."""
    batch = dict(batch)
    crops = np.empty(len(batch["status"]), dtype=object)
    crops[:] = [sharpen.sharpen(mouth_crop(batch, i), 0.5) for i in range(len(crops))]
    batch["enhanced_crop"] = crops
    return batch


def test_frame_mode_is_the_patch_composed_byte_for_byte(located_batch):
    frames, batch = located_batch
    batch = _sharpened(batch)
    patch = Composite(config.load(), "r")(dict(batch))
    frame = Composite(config.load(None, FRAME_MODE), "r")(dict(batch))
    assert list(patch["status"]) == list(frame["status"]) == [schema.STATUS_OK] * len(frames)
    for i, rgb in enumerate(frames):
        row = {"enhanced": patch["enhanced"][i], "patch_box": patch["patch_box"][i]}
        assert compose.compose_bytes(batch["image"][i], row) == frame["enhanced"][i]  # the same PNG bytes
        composed = compose.compose(batch["image"][i], row)
        assert np.array_equal(composed, codec.decode(frame["enhanced"][i])[0])
        x0, y0, x1, y1 = patch["patch_box"][i]
        outside = np.ones(rgb.shape[:2], bool)
        outside[y0:y1, x0:x1] = False
        assert np.array_equal(composed[outside], rgb[outside]) and not np.array_equal(composed, rgb)
        assert len(patch["enhanced"][i]) < len(frame["enhanced"][i]) / 10
        mx0, my0, mx1, my1 = batch["mouth_box"][i]
        assert mx0 <= x0 < x1 <= mx1 and my0 <= y0 < y1 <= my1


def test_the_shipped_window_gives_what_the_decoded_frame_gives(located_batch):
    """Composite reads Locate's window instead of decoding the frame: same patches, same scores."""
    _, batch = located_batch
    batch = _sharpened(batch)
    shipped = Composite(config.load(), "r")(dict(batch))
    decoded = Composite(config.load(), "r")({k: v for k, v in batch.items() if k not in ("window", "window_box", "frame_hw")})
    assert list(shipped["enhanced"]) == list(decoded["enhanced"])
    for name in schema.METRIC_COLUMNS:
        assert np.array_equal(shipped[name], decoded[name], equal_nan=True), name


def test_a_restoration_that_moves_the_lips_is_rejected_for_lip_shift(located_batch):
    """Each row reports how far the paste moved the input's lip edges (``lip_shift_px``): a
    sharpened mouth barely moves them; the same mouth moved down by 4% of the face's width (a
    changed lip shape: the lip sync would no longer be the lip-sync model's) is rejected."""
    from raymouth.paste import metrics

    _, batch = located_batch
    sharpened = Composite(config.load(), "r")(_sharpened(batch))
    assert list(sharpened["status"]) == [schema.STATUS_OK] * len(GATE_CLIPS)
    assert np.all(sharpened["lip_shift_px"] < 0.5), sharpened["lip_shift_px"]
    moved_batch = dict(batch)
    crops = np.empty(len(batch["status"]), dtype=object)
    for i in range(len(crops)):
        width = metrics.face_width(batch["landmarks"][i])
        crop = mouth_crop(batch, i)
        crops[i] = cv2.warpAffine(crop, np.float32([[1, 0, 0], [0, 1, 0.04 * width]]), crop.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    moved_batch["enhanced_crop"] = crops
    moved = Composite(config.load(), "r")(moved_batch)
    assert np.all(moved["lip_shift_px"] > config.load().gate.max_lip_shift_px), moved["lip_shift_px"]
    assert all(schema.REJECT_LIP_SHIFT in schema.reject_reasons(r) for r in moved["reject_reason"])
    assert list(moved["status"]) == [schema.STATUS_REJECTED_QUALITY] * len(GATE_CLIPS)


def test_teeth_drawn_where_the_input_shows_none_are_rejected_for_ghosting(located_batch):
    """A bright band drawn across each mouth (an exemplar's teeth ghosted in) changes the mouth's
    low band far beyond a restoration's: rejected, the input kept."""
    _, batch = located_batch
    ghosted = dict(batch)
    crops = np.empty(len(batch["status"]), dtype=object)
    for i in range(len(crops)):
        crop = mouth_crop(batch, i).copy()
        h, w = crop.shape[:2]
        crop[2 * h // 5 : 3 * h // 5, w // 4 : 3 * w // 4] = 235
        crops[i] = crop
    ghosted["enhanced_crop"] = crops
    out = Composite(config.load(), "r")(ghosted)
    assert np.all(out["low_band_change"] > config.load().gate.max_low_band_change), out["low_band_change"]
    assert all(schema.REJECT_GHOSTING in schema.reject_reasons(r) for r in out["reject_reason"])
    assert all(e is None for e in out["enhanced"])  # patch mode: nothing pasted


def _located_batch(frame: np.ndarray, crop_out: np.ndarray, box, polygon) -> dict[str, np.ndarray]:
    batch = _batch(frame, crop_out, box)
    batch["mouth_polygon"] = np.array([polygon, None], dtype=object)[:1]
    return batch


def _with_mouth(frame: np.ndarray, box, mouth: np.ndarray) -> np.ndarray:
    """The frame with the box's pixels replaced (a degraded mouth, as a lip-sync generator leaves it)."""
    x0, y0, x1, y1 = box
    out = frame.copy()
    out[y0:y1, x0:x1] = mouth
    return out


def _gate(cfg, frame, crop_out, box, polygon) -> tuple[str, str, float, bool]:
    batch = _located_batch(frame, crop_out, box, polygon)
    out = Composite(cfg, "r")(batch)
    return out["status"][0], out["reject_reason"][0], out["detail_ratio"][0], out["enhanced"][0] is None


@pytest.mark.parametrize("sigma", [1.0, 1.5, 2.0])
def test_a_blurred_enhancement_is_rejected_for_lost_detail(located, sigma):
    cfg = config.load()
    for clip, frame, box, polygon in located:
        blurred = cv2.GaussianBlur(_crop(frame, box), (0, 0), sigma)
        status, reason, ratio, kept = _gate(cfg, frame, blurred, box, polygon)
        assert (status, reason) == (schema.STATUS_REJECTED_QUALITY, schema.REJECT_LOST_DETAIL), (clip, ratio)
        assert kept and ratio < cfg.gate.min_detail_ratio


@pytest.mark.parametrize("strength", ["mild", "lipsync", "harsh"])
def test_a_real_enhancement_passes_the_detail_gate(located, strength):
    """A degraded mouth restored to the clean one (what a perfect model would do) and a sharpened
    copy of the degraded mouth are pasted: the gate must not count JPEG blocking or noise that the
    restoration removed as lost detail."""
    cfg = config.load()
    for clip, frame, box, polygon in located:
        clean = _crop(frame, box)
        degraded = degrade.fixed(clean, strength)
        lipsync_frame = _with_mouth(frame, box, degraded)
        for label, restored in (("clean", clean), ("sharpened", sharpen.sharpen(degraded, 1.0))):
            status, reason, ratio, kept = _gate(cfg, lipsync_frame, restored, box, polygon)
            assert (status, reason) == (schema.STATUS_OK, ""), (clip, label, reason, ratio)
            assert ratio > 1.0 and not kept


def test_an_unchanged_or_near_lossless_mouth_passes(located):
    cfg = config.load()
    for clip, frame, box, polygon in located:
        clean = _crop(frame, box)
        for label, out in (("identity", clean), ("jpeg95", degrade._jpeg(clean, 95))):
            status, reason, ratio, _ = _gate(cfg, frame, out, box, polygon)
            assert (status, reason) == (schema.STATUS_OK, ""), (clip, label, ratio)
            assert ratio == pytest.approx(1.0, abs=0.02)


def test_min_detail_ratio_zero_disables_the_check(located):
    clip, frame, box, polygon = located[0]
    blurred = cv2.GaussianBlur(_crop(frame, box), (0, 0), 2.0)
    status, reason, _, _ = _gate(config.load(overrides=["gate.min_detail_ratio=0"]), frame, blurred, box, polygon)
    assert (status, reason) == (schema.STATUS_OK, "")


def test_several_reasons_are_joined_in_a_fixed_order(located):
    clip, frame, box, polygon = located[0]
    blurred = cv2.GaussianBlur(_crop(frame, box), (0, 0), 2.0)
    cfg = config.load(overrides=["gate.max_seam=0", "gate.max_delta_e=0"])
    status, reason, _, kept = _gate(cfg, frame, blurred, box, polygon)
    assert status == schema.STATUS_REJECTED_QUALITY and kept
    assert reason == "seam+colour_shift+lost_detail"
    assert schema.reject_reasons(reason) == [schema.REJECT_SEAM, schema.REJECT_COLOUR_SHIFT, schema.REJECT_LOST_DETAIL]


def test_reject_reasons_names_each_check():
    composite = Composite(config.load(), "r")
    fine = {"seam": 0.5, "delta_e": 0.5, "sharpness_ratio_in": 1.0, "sharpness_ratio_out": 1.1, "detail_ratio": 1.0}
    assert composite.reject_reasons(fine) == [] and not composite.rejected(fine)
    for change, reason in (
        ({"seam": 5.0}, "seam"),
        ({"delta_e": 5.0}, "colour_shift"),
        ({"sharpness_ratio_out": 5.0}, "over_sharp"),
        ({"detail_ratio": 0.5}, "lost_detail"),
        ({"lip_shift_px": 50.0}, "lip_shift"),
        ({"low_band_change": 80.0}, "ghosting"),
    ):
        assert composite.reject_reasons({**fine, **change}) == [reason]
    # a mouth that was already far sharper than its face may stay so (not over_sharp)
    assert composite.reject_reasons({**fine, "sharpness_ratio_in": 6.0, "sharpness_ratio_out": 5.0}) == []


def test_reasons_are_written_and_counted_in_the_summary(tmp_path, located):
    """Each rejection's reason reaches the metrics Parquet and the run summary's per-reason counts."""
    import pyarrow as pa

    from raymouth.data import storage
    from raymouth.job import pipeline
    rows = []
    for clip, frame, box, polygon in located[:2]:
        rows.append(_located_batch(frame, _crop(frame, box), box, polygon))  # ok
        rows.append(_located_batch(frame, cv2.GaussianBlur(_crop(frame, box), (0, 0), 2.0), box, polygon))  # lost_detail
    grid = _crop()
    grid[::2, ::2] = 255
    rows.append(_batch(FRAME, grid, BOX))  # over_sharp
    half = _crop().astype(int)
    half[:, : half.shape[1] // 2] += 60
    rows.append(_batch(FRAME, np.clip(half, 0, 255).astype(np.uint8), BOX))  # seam
    composite = Composite(config.load(), "r")
    outs = [composite(b) for b in rows]
    reasons = [o["reject_reason"][0] for o in outs]
    # The grid and the half-bright step also lose detail: colour matching scales their spread down
    # to the input's, and with it the mouth's real texture; the grid also brightens the mouth's
    # coarse structure unevenly, the step half of it (both: ghosting).
    assert reasons == ["", "lost_detail", "", "lost_detail", "seam+over_sharp+lost_detail+ghosting", "seam+lost_detail+ghosting"]

    for k, out in enumerate(outs):
        out = dict(out)
        out["_unit"] = np.array([f"u{k}"], dtype=object)
        out["model_version"] = np.array(["m"], dtype=object)
        out["video_id"] = np.array([f"v{k}"], dtype=object)
        WriteOutput(str(tmp_path), config.load().storage, False)(out)
    table = pq.read_table(tmp_path / "metrics")
    schema.validate_patches(pq.read_table(tmp_path / "frames").schema)
    assert table.schema.field("reject_reason").type == pa.string()
    assert sorted(table.column("reject_reason").to_pylist()) == sorted(reasons)

    loc = storage.Location(pa.fs.LocalFileSystem(), str(tmp_path), str(tmp_path))
    plan = pipeline.RunPlan(in_loc=loc, run_loc=loc, run_id="r", all_units=[], todo=[])
    summary = pipeline.summarize(plan, len(outs), 1.0, config.load())
    counts = summary["reject_reason_counts"]
    assert counts == {"seam": 2, "over_sharp": 1, "lost_detail": 4, "ghosting": 2}
    assert summary["status_counts"][schema.STATUS_REJECTED_QUALITY] == 4
    assert "rejected_quality 4; reasons: seam 2, over_sharp 1, lost_detail 4, ghosting 2" in pipeline.format_summary(summary)


# --------------------------------------------------------------------------- automatic detail


def test_each_mouth_gets_the_detail_level_of_its_own_softness(located_batch):
    """The shipped chain sets each row's detail level from its input's mouth / surround sharpness
    ratio (read from Locate's window): a mouth blurred inside its face gets more detail than the
    same mouth sharpened, each row's output is the fixed-level chain's output on its crop, and
    its model_version names that level. (These natural mouths measure 0.28-0.78 as they are:
    closed lips are smoother than stubble and nostrils, so they are not the "sharp" rows here.)"""
    from raymouth.job.stages import EnhanceStage
    from raymouth.paste import metrics
    from raymouth.restore.chain import EnhanceChain
    from raymouth.restore.detail import detail_level

    frames, located = located_batch
    cfg = config.load()
    rows = {k: [] for k in located}
    ratios = []
    for i, frame in enumerate(frames):
        box = tuple(int(v) for v in located["mouth_box"][i])
        wx0, wy0, wx1, wy1 = (int(v) for v in located["window_box"][i])
        soft = _with_mouth(frame, box, cv2.GaussianBlur(_crop(frame, box), (0, 0), 2.0))
        sharp = _with_mouth(frame, box, sharpen.sharpen(_crop(frame, box), 1.0))
        for f in (sharp, soft):
            for k in located:
                rows[k].append(located[k][i])
            rows["window"][-1] = f[wy0:wy1, wx0:wx1]
            ratios.append(metrics.sharpness_ratio(f, box))  # on the whole frame
    batch = {k: np.array(v + [None], dtype=object)[:-1] if located[k].dtype == object else np.array(v) for k, v in rows.items()}
    out = EnhanceStage(cfg)(dict(batch))
    levels = [detail_level(r, cfg.enhance) for r in ratios]
    assert all(soft > sharp for sharp, soft in zip(levels[::2], levels[1::2])), levels
    assert max(levels) == 1.0 and min(levels) == 0.0
    for level in sorted(set(levels)):
        fixed = EnhanceChain(config.load(None, ["enhance.detail_auto=false", f"enhance.detail={level}"]))
        idx = [j for j, a in enumerate(levels) if a == level]
        want = fixed([mouth_crop(batch, j) for j in idx])
        for j, w in zip(idx, want):
            assert np.array_equal(out["enhanced_crop"][j], w), (j, level)
            assert out["model_version"][j] == fixed.model_version, (j, level)
            assert (f"+detail{level:g}@" in out["model_version"][j]) == (level > 0)
