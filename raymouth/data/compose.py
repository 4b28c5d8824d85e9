"""The enhanced frame of an output row: its input frame with the row's patch pasted back.

A patch-mode run (``pipeline.output_mode=patch``, the default) stores per row the PNG of the
rectangle its paste changed (``enhanced``) and where it goes (``patch_box``), not a new frame:
every other pixel is the input frame's. These functions give the frame back, equal to what frame
mode writes (``compose_bytes`` byte for byte), for ``raymouth export`` and for a user's own job,
e.g. after joining a run with its input dataset by ``video_id``/``frame_index`` (Ray Data's
``Dataset.join`` needs ``polars``)::

    joined.map_batches(compose_batch, fn_kwargs={"out_column": "frame"})

A row is any mapping with ``enhanced`` (patch PNG bytes, or None where nothing was pasted) and
``patch_box`` (x0, y0, x1, y1 in frame pixels, x1/y1 exclusive).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from raymouth.data import codec, schema
from raymouth.errors import UserError


class ComposeError(UserError, ValueError):
    """A row's patch does not fit its frame (another dataset's frames?) or a frame is unreadable."""


def paste_patch(frame: np.ndarray, patch: np.ndarray, box: Sequence[int]) -> np.ndarray:
    """A copy of ``frame`` (H, W, 3 uint8) with ``patch`` written at ``box``."""
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = frame.shape[:2]
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise ComposeError(f"patch box {(x0, y0, x1, y1)} does not fit a {w}x{h} frame: is this the run's input dataset?")
    if patch.shape != (y1 - y0, x1 - x0, 3):
        raise ComposeError(f"patch of {patch.shape[1]}x{patch.shape[0]} does not match its box {(x0, y0, x1, y1)}")
    out = frame.copy()
    out[y0:y1, x0:x1] = patch
    return out


def decode_patch(data: bytes) -> np.ndarray:
    patch, status = codec.decode(bytes(data))
    if status != schema.STATUS_OK:
        raise ComposeError("a row's patch is not a readable PNG")
    return patch


def compose(frame: bytes | np.ndarray, row: Mapping) -> np.ndarray:
    """The enhanced frame (H, W, 3 uint8 RGB) of ``row``, from its input frame (encoded bytes or
    an RGB array). A row without a patch (no face, rejected, ...) gives the input frame itself."""
    if not isinstance(frame, np.ndarray):
        frame, status = codec.decode(bytes(frame) if frame is not None else None)
        if status != schema.STATUS_OK:
            raise ComposeError("the input frame is not a readable image (a decode_error row has no enhanced frame)")
    if row.get("enhanced") is None:
        return frame
    return paste_patch(frame, decode_patch(row["enhanced"]), row["patch_box"])


def compose_bytes(frame: bytes, row: Mapping, fmt: str = "png") -> bytes:
    """The enhanced frame encoded as frame mode writes it (``pipeline.output_format``): the same
    bytes. A row without a patch keeps the input's bytes, as frame mode does (even unreadable ones)."""
    if row.get("enhanced") is None:
        return frame
    return codec.encode(compose(frame, row), fmt)


def compose_batch(
    batch: dict[str, np.ndarray], image_column: str = "image", out_column: str = "enhanced", fmt: str = "png"
) -> dict[str, np.ndarray]:
    """``compose_bytes`` over a Ray Data numpy batch holding the input frames (``image_column``)
    and a patch-mode run's ``enhanced`` and ``patch_box``: ``out_column`` gets the encoded frames
    (by default replacing the patches, so the batch reads like a frame-mode run's)."""
    n = len(batch[image_column])
    out = np.empty(n, dtype=object)
    for i in range(n):
        row = {"enhanced": batch["enhanced"][i], "patch_box": batch["patch_box"][i]}
        out[i] = compose_bytes(batch[image_column][i], row, fmt)
    return {**batch, out_column: out}
