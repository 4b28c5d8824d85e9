"""One readable path for frames in this process: locate -> restore -> composite and gate -> frame.

The same stage code the Ray job maps over its units (``mouth.locate.Locate``, then
``job.in_process.LocalStages``), called on a list of RGB frames of one clip, in the spirit of
GFPGAN's ``GFPGANer.enhance``: for a script, a notebook or a test that wants one clip's mouths
repaired without a cluster or a dataset.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from raymouth.config import Config
from raymouth.data import codec, schema
from raymouth.job.in_process import LocalStages, Rows
from raymouth.mouth.locate import Locate


@dataclass
class Restored:
    """One frame's outcome: the frame (repaired, or the input where nothing was pasted) and why."""

    frame: np.ndarray  # RGB uint8 (H, W, 3)
    status: str  # schema.STATUS_*
    reject_reason: str  # "" unless the gate rejected the paste
    mouth_box: tuple[int, int, int, int]  # (x0, y0, x1, y1) in frame pixels; zeros when not located


class MouthRestorer:
    """Repairs the mouths of consecutive frames of one clip (boxes are smoothed across them, as in the job)."""

    def __init__(self, cfg: Config | None = None) -> None:
        self.cfg = (cfg or Config()).with_(pipeline__output_mode=schema.OUTPUT_FRAME, pipeline__output_format="png")
        self.locate = Locate(self.cfg)
        self.stages = LocalStages(self.cfg, "restorer")

    def close(self) -> None:
        self.locate.close()

    def __enter__(self) -> "MouthRestorer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def enhance(self, frames: Sequence[np.ndarray], video_id: str = "clip") -> list[Restored]:
        """``frames`` (RGB uint8, one clip, in order) through locate, restore, composite and gate."""
        out = self.stages(self.locate(_batch(frames, video_id)))
        return [_restored(out, i) for i in range(len(frames))]


def _batch(frames: Sequence[np.ndarray], video_id: str) -> Rows:
    """The frames as the job's frames table rows (lossless PNG: the restorer sees the pixels given)."""
    n = len(frames)
    images = np.empty(n, dtype=object)
    images[:] = [codec.encode(np.ascontiguousarray(f), "png") for f in frames]
    return {
        "video_id": np.array([video_id] * n, dtype=object),
        "frame_index": np.arange(n, dtype=np.int32),
        "image": images,
    }


def _restored(out: Rows, i: int) -> Restored:
    frame, _ = codec.decode(out["enhanced"][i])
    return Restored(
        frame=frame,
        status=str(out["status"][i]),
        reject_reason=str(out["reject_reason"][i] or ""),
        mouth_box=tuple(int(v) for v in out["mouth_box"][i]),
    )
