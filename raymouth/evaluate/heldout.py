"""The held-out evaluation set (``raymouth make-heldout``): clean clips no shipped model trained
on -> a frames dataset whose ``image`` has only the mouth degraded and whose ``reference`` column
holds the clean frame (what ``Composite`` scores ``psnr_out`` against and `raymouth evaluate` reads
as the clean clip). Not to be confused with ``raymouth.job.reference``: a person's own source clip.
"""
from __future__ import annotations

import json
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from raymouth.config import Config, DegradeConfig
from raymouth.data import codec, schema, storage
from raymouth.evaluate.clips import EvaluateError
from raymouth.train import degrade


def clip_seed(seed: int, video_id: str) -> int:
    """One degradation seed per (seed, clip): a lip-sync generator degrades a whole clip alike."""
    return degrade.seed_of(seed, video_id)


def degrade_mouth(frame: np.ndarray, box, seed: int, cfg: DegradeConfig) -> np.ndarray:
    """A copy of the frame with only the box's pixels degraded (the rest byte-identical)."""
    x0, y0, x1, y1 = box
    out = frame.copy()
    out[y0:y1, x0:x1] = degrade.degrade(frame[y0:y1, x0:x1], seed, cfg)
    return out


def training_videos(weights_dir: Path | None = None) -> set[str]:
    """Video ids the shipped default weights were trained on, from their manifests (empty if none)."""
    from raymouth.restore.chain import WEIGHTS_DIR

    seen: set[str] = set()
    for path in sorted(Path(weights_dir or WEIGHTS_DIR).glob("*.json")):
        manifest = json.loads(path.read_text())
        metrics_data = (manifest.get("metrics") or {}).get("data")  # where raymouth.train.driver records it
        for data in (manifest.get("data"), metrics_data):
            if isinstance(data, dict):
                seen.update(str(v) for v in data.get("train_videos") or [])
    return seen


def _heldout_schema() -> pa.Schema:
    return schema.frames_schema("reference", extra=[pa.field("degraded_box", pa.list_(pa.int32(), 4))])


def make_heldout_set(
    clips: list[str | Path], out_uri: str, cfg: Config, frames_per_clip: int = 24, seed: int = 0, exclude_videos: set[str] | None = None
) -> dict[str, Any]:
    """Clean clips -> a frames dataset with ``image`` = mouth-degraded frame, ``reference`` = clean frame.

    The mouth is located on the clean frame (the job's own ``Locate``); only that box is degraded
    (``degrade.degrade`` with one seed per clip). ``raymouth evaluate`` reads such a dataset's
    ``reference`` column as the clean clip. Clips in ``exclude_videos`` (default: those the
    shipped weights were trained on, from their manifests) are refused: a test set is held out.
    """
    from raymouth.data import video
    from raymouth.data.sources import sanitize_id
    from raymouth.mouth.locate import Locate

    trained = training_videos() if exclude_videos is None else set(exclude_videos)
    ids = [sanitize_id(Path(clip).stem) for clip in clips]
    for clip, vid in zip(clips, ids):
        if vid in trained:
            raise EvaluateError(f"{clip}: the weights were trained on {vid}; choose a held-out clip")
    out = storage.check_writable(out_uri, cfg.storage)
    summary: dict[str, Any] = {"out_uri": out.uri, "videos": {}}
    with Locate(cfg) as locate:
        for clip, vid in zip(clips, ids):
            fps = video.probe(clip).fps
            decoded = list(islice(video.iter_frames(clip), frames_per_clip))
            clean = [codec.encode(rgb) for _, _, rgb in decoded]
            batch = {"video_id": np.array([vid] * len(clean), dtype=object), "frame_index": np.arange(len(clean), dtype=np.int32), "image": np.array(clean, dtype=object)}
            located = locate(batch)
            rows = []
            for (index, t, rgb), ref_bytes, status, box in zip(decoded, clean, located["status"], located["mouth_box"]):
                ok = status == schema.STATUS_OK
                image = codec.encode(degrade_mouth(rgb, tuple(int(v) for v in box), clip_seed(seed, vid), cfg.degrade)) if ok else ref_bytes
                rows.append({"video_id": vid, "frame_index": int(index), "fps": float(fps), "width": rgb.shape[1], "height": rgb.shape[0], "image": image, "timestamp": float(t), "reference": ref_bytes, "degraded_box": [int(v) for v in box] if ok else [0, 0, 0, 0]})
            table = pa.Table.from_pylist(rows, schema=_heldout_schema())
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink, row_group_size=8)
            storage.write_bytes(out.join("frames", vid, "part-00000.parquet"), sink.getvalue().to_pybytes())
            summary["videos"][vid] = {"frames": len(rows), "degraded": int(sum(s == schema.STATUS_OK for s in located["status"]))}
    return summary
