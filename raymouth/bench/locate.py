"""Throughput of the locate stage (decode + landmarks + box + crop) in one process on one core.

``python -m raymouth.bench.locate VIDEO... [--frames N]`` prints frames/s per core. Frames are
pre-encoded as PNG (what ingest writes) outside the timed part; the timed part is exactly what a
locate actor does per batch. The process is pinned to one CPU while timing (where the OS allows),
so the figure is per core and sizes actor pools: pool throughput ≈ figure × cores given to locate.
"""
from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from raymouth.config import Config
from raymouth.data import codec


def read_frames(path: Path, limit: int) -> list[np.ndarray]:
    """Up to ``limit`` RGB frames of a video, decoded with PyAV."""
    import av

    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) >= limit:
                break
    return frames


def bench_locate(
    video_paths: Sequence[str | Path], frames: int = 60, batch_size: int = 16, cfg: Config | None = None
) -> dict[str, float]:
    """Frames/s per core of Locate over the first ``frames`` frames of each video; also status counts."""
    from raymouth.mouth.locate import Locate

    cfg = cfg or Config()
    batches = []
    for path in video_paths:
        encoded = [codec.encode(f) for f in read_frames(Path(path), frames)]
        for start in range(0, len(encoded), batch_size):
            chunk = encoded[start : start + batch_size]
            batches.append(
                {
                    "video_id": np.array([Path(path).stem] * len(chunk), dtype=object),
                    "frame_index": np.arange(start, start + len(chunk), dtype=np.int32),
                    "image": np.array(chunk, dtype=object),
                }
            )
    total = sum(len(b["image"]) for b in batches)
    previous = _pin_one_core()
    try:
        with Locate(cfg) as locate:
            locate(batches[0])  # warm-up: first call initialises the graph
            start = time.perf_counter()
            statuses = [s for b in batches for s in locate(b)["status"]]
            elapsed = time.perf_counter() - start
    finally:
        _restore_affinity(previous)
    ok = sum(s == "ok" for s in statuses)
    return {"frames": float(total), "seconds": elapsed, "fps_per_core": total / elapsed, "ok_fraction": ok / total}


def _pin_one_core() -> set[int] | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(previous)})
    return previous


def _restore_affinity(previous: set[int] | None) -> None:
    if previous is not None:
        os.sched_setaffinity(0, previous)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="+")
    parser.add_argument("--frames", type=int, default=60, help="frames per video")
    args = parser.parse_args(argv)
    result = bench_locate(args.videos, args.frames)
    print(
        f"locate: {result['frames']:.0f} frames in {result['seconds']:.2f} s = "
        f"{result['fps_per_core']:.1f} frames/s per core (ok {result['ok_fraction']:.0%})"
    )


if __name__ == "__main__":
    main()
