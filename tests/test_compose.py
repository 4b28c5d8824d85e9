"""raymouth.data.compose: a row's patch pasted into its input frame, as arrays, bytes and Ray Data batches.

That a composed frame equals frame mode's byte for byte is tested on real located mouths in
test_stages.py and through the whole job in test_pipeline.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from raymouth import errors
from raymouth.data import codec, compose

FRAME = data.astronaut()
BOX = (200, 140, 250, 170)
PATCH = np.full((BOX[3] - BOX[1], BOX[2] - BOX[0], 3), 77, np.uint8)
ROW = {"enhanced": codec.encode(PATCH), "patch_box": BOX}


def test_the_patch_replaces_its_box_and_nothing_else():
    for frame in (FRAME, codec.encode(FRAME)):  # an array or the encoded input bytes
        out = compose.compose(frame, ROW)
        assert np.array_equal(out[BOX[1] : BOX[3], BOX[0] : BOX[2]], PATCH)
        outside = np.ones(FRAME.shape[:2], bool)
        outside[BOX[1] : BOX[3], BOX[0] : BOX[2]] = False
        assert np.array_equal(out[outside], FRAME[outside])
    assert not np.shares_memory(compose.compose(FRAME, ROW), FRAME)  # the input is left alone


def test_a_row_without_a_patch_is_its_input_frame():
    row = {"enhanced": None, "patch_box": None}
    assert compose.compose(FRAME, row) is FRAME
    assert np.array_equal(compose.compose(codec.encode(FRAME), row), FRAME)
    assert compose.compose_bytes(b"not an image", row) == b"not an image"  # frame mode keeps such bytes too


def test_compose_bytes_encodes_as_frame_mode_does():
    framed = compose.compose_bytes(codec.encode(FRAME), ROW)
    assert framed == codec.encode(compose.compose(FRAME, ROW))
    assert compose.compose_bytes(codec.encode(FRAME), ROW, "jpeg") == codec.encode(compose.compose(FRAME, ROW), "jpeg")


def test_compose_batch_fills_a_column_of_a_ray_data_batch():
    image = codec.encode(FRAME)
    batch = {
        "video_id": np.array(["v", "v"], dtype=object),
        "image": np.array([image, image], dtype=object),
        "enhanced": np.array([ROW["enhanced"], None], dtype=object),
        "patch_box": np.array([BOX, None], dtype=object),
    }
    out = compose.compose_batch(batch, out_column="frame")
    assert out["frame"][0] == compose.compose_bytes(image, ROW) and out["frame"][1] == image
    assert out["enhanced"] is batch["enhanced"] and "frame" not in batch


@pytest.mark.parametrize(
    "frame, row, words",
    [
        (FRAME[:100, :100], ROW, "does not fit a 100x100 frame: is this the run's input dataset?"),
        (FRAME, {**ROW, "patch_box": (200, 140, 260, 170)}, "does not match its box"),
        (FRAME, {**ROW, "enhanced": b"junk"}, "not a readable PNG"),
        (b"junk", ROW, "input frame is not a readable image"),
    ],
)
def test_a_patch_that_does_not_fit_is_one_clear_line(frame, row, words):
    with pytest.raises(compose.ComposeError, match=words) as info:
        compose.compose(frame, row)
    assert isinstance(info.value, errors.UserError) and "\n" not in str(info.value)
