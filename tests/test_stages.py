"""The batch callables of the enhance job, called directly on hand-built batches (no cluster)."""
from __future__ import annotations

import numpy as np
import pytest
import pyarrow.parquet as pq
from skimage import data

from raymouth import codec, config, schema
from raymouth.stages import Composite, WriteOutput


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
        "enhanced_crop": obj(codec.encode(crop_out)),
    }


FRAME = data.astronaut()
BOX = (190, 130, 260, 170)


def _crop(frame=FRAME, box=BOX) -> np.ndarray:
    x0, y0, x1, y1 = box
    return frame[y0:y1, x0:x1].copy()


def test_unchanged_crop_is_accepted_and_only_the_box_changes():
    crop = np.clip(_crop().astype(int) + 3, 0, 255).astype(np.uint8)  # a slight, plausible change
    out = Composite(config.load(), "r")(_batch(FRAME, crop, BOX))
    assert out["status"][0] == schema.STATUS_OK
    assert out["seam"][0] < 1.0 and out["delta_e"][0] < 1.0
    after, _ = codec.decode(out["enhanced"][0])
    outside = np.ones(FRAME.shape[:2], bool)
    outside[BOX[1] : BOX[3], BOX[0] : BOX[2]] = False
    assert np.array_equal(after[outside], FRAME[outside])
    assert out["config_hash"][0] == config.load().hash() and out["run_id"][0] == "r"


def test_grid_artefacts_are_rejected_and_the_input_kept():
    crop = _crop()
    crop[::2, ::2] = 255  # a checkerboard of white dots: far sharper than any face
    out = Composite(config.load(), "r")(_batch(FRAME, crop, BOX))
    assert out["status"][0] == schema.STATUS_REJECTED_QUALITY
    assert out["enhanced"][0] == out["image"][0]
    assert out["sharpness_ratio_out"][0] > config.load().gate.max_sharpness_ratio


def test_a_colour_cast_is_matched_away_not_pasted():
    crop = np.clip(_crop().astype(int) + np.array([40, -20, -20]), 0, 255).astype(np.uint8)
    out = Composite(config.load(), "r")(_batch(FRAME, crop, BOX))
    assert abs(out["delta_e"][0]) < 2.0  # colour matching removed the cast


def test_pass_through_rows_keep_their_bytes(tmp_path):
    batch = _batch(FRAME, _crop(), BOX)
    batch["status"] = np.array([schema.STATUS_NO_FACE], dtype=object)
    out = Composite(config.load(), "r")(batch)
    assert out["enhanced"][0] == batch["image"][0] and np.isnan(out["seam"][0])

    out["_unit"] = np.array(["u1"], dtype=object)
    out["model_version"] = np.array(["m"], dtype=object)
    WriteOutput(str(tmp_path), config.load().storage, False)(dict(out))
    frames = pq.read_table(next((tmp_path / "frames").glob("u1__*.parquet")))
    schema.validate_enhanced(frames.schema)
    assert "crop" not in frames.column_names and frames.column("status").to_pylist() == [schema.STATUS_NO_FACE]
    metrics = pq.read_table(next((tmp_path / "metrics").glob("u1__*.parquet")))
    assert "image" not in metrics.column_names and "enhanced" not in metrics.column_names


def test_scores_on_the_window_equal_scores_on_the_whole_frame():
    """The composite scores a window around the box; the values must be the whole frame's."""
    from raymouth import metrics

    crop = np.clip(_crop().astype(int) + np.array([30, 0, -10]), 0, 255).astype(np.uint8)
    composite = Composite(config.load(), "r")
    result, m = composite.composite_one(FRAME, crop, BOX, _batch(FRAME, crop, BOX)["mouth_polygon"][0], None)
    assert m["sharpness_ratio_out"] == pytest.approx(metrics.sharpness_ratio(result, BOX), rel=1e-6)
    assert m["sharpness_ratio_in"] == pytest.approx(metrics.sharpness_ratio(FRAME, BOX), rel=1e-6)


def test_a_half_bright_crop_leaves_a_seam_and_is_rejected():
    """Colour matching fixes a cast over the whole crop, not one over part of it: that shows as
    an edge along the feather, which the gate must catch."""
    crop = _crop().astype(int)
    crop[:, : crop.shape[1] // 2] += 60
    out = Composite(config.load(), "r")(_batch(FRAME, np.clip(crop, 0, 255).astype(np.uint8), BOX))
    assert out["seam"][0] > config.load().gate.max_seam
    assert out["status"][0] == schema.STATUS_REJECTED_QUALITY
    assert out["enhanced"][0] == out["image"][0]
