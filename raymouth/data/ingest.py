"""Videos and image folders -> the frames dataset (Parquet, local or S3), one Ray task per video.

Layout under the output URI::

    frames/<video_id>/part-00000.parquet   schema.FRAMES + source_path; <= rows_per_file rows each,
    frames/<video_id>/part-00001.parquet   row groups of rows_per_group rows
    videos/<video_id>.parquet              one row (schema.VIDEOS, with the audio), written LAST

The videos row is the commit marker: a video with it is finished and skipped on re-runs; a
frames folder without it is what an interrupted run left, and is deleted and redone. Frames are
streamed from the decoder to Parquet, so memory does not grow with the video's length.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from raymouth.cluster import ensure_ray
from raymouth.config import Config
from raymouth.data import codec, schema, storage, video
from raymouth.data.sources import IngestError, Source, validate_sources

FRAMES_SCHEMA = schema.frames_schema("source_path")
CPUS_PER_TASK = 0.5  # fractional: whole-CPU tasks starved 2-core machines


# ---------------------------------------------------------------- one video


def _frames_of(src: Source, fmt: str, quality: int, unreadable: list[str], fs=None) -> Iterator[tuple[int, float, int, int, bytes]]:
    """``(index, timestamp, width, height, encoded image)`` per frame. An image of a folder that
    cannot be decoded keeps its own bytes (enhance passes it through as ``decode_error``): every
    frame stays a row. Its path is appended to ``unreadable``. ``fs`` reads a remote source."""
    if src.kind == "images":
        for index, t, rgb, data, path in video.iter_image_files(src.path, src.info.fps, fs):
            if rgb is None:
                unreadable.append(str(path))
                yield index, t, src.info.width, src.info.height, data[0]
            else:
                yield index, t, rgb.shape[1], rgb.shape[0], codec.encode(rgb, fmt, quality)
        return
    for index, t, rgb in video.iter_frames(src.path, fs):
        yield index, t, rgb.shape[1], rgb.shape[0], codec.encode(rgb, fmt, quality)


class _PartWriter:
    """Writes frame rows to part-NNNNN.parquet files of at most ``rows_per_file`` rows, in row
    groups of ``rows_per_group``; holds at most one row group of encoded images in memory."""

    def __init__(self, folder: storage.Location, rows_per_file: int, rows_per_group: int) -> None:
        if rows_per_group > rows_per_file:  # write_dataset has the same rule
            raise IngestError("ingest.rows_per_group must not exceed ingest.rows_per_file")
        self.folder, self.per_file, self.per_group = folder, rows_per_file, rows_per_group
        self.rows: list[dict] = []
        self.part = 0
        self.in_file = 0
        self.writer: pq.ParquetWriter | None = None
        self.sink = None

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) >= min(self.per_group, self.per_file - self.in_file):
            self._flush()

    def _flush(self) -> None:
        if not self.rows:
            return
        if self.writer is None:
            loc = self.folder.join(f"part-{self.part:05d}.parquet")
            storage.make_dirs(loc.fs, self.folder.path)
            self.sink = loc.fs.open_output_stream(loc.path)
            # images are PNG/JPEG already: compressing them again only costs CPU
            compression = {f.name: "NONE" if f.name == "image" else "SNAPPY" for f in FRAMES_SCHEMA}
            self.writer = pq.ParquetWriter(self.sink, FRAMES_SCHEMA, compression=compression)
        table = pa.Table.from_pylist(self.rows, schema=FRAMES_SCHEMA)
        self.writer.write_table(table, row_group_size=len(self.rows))
        self.in_file += len(self.rows)
        self.rows = []
        if self.in_file >= self.per_file:
            self._close_file()

    def _close_file(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.sink.close()
            self.writer, self.sink = None, None
            self.part += 1
            self.in_file = 0

    def close(self) -> None:
        self._flush()
        self._close_file()


def _videos_row(src: Source, frame_count: int, audio: bytes | None) -> pa.Table:
    info = src.info
    duration = info.duration_s or frame_count / info.fps
    row = {
        "video_id": src.video_id,
        "source_path": src.path,
        "fps": info.fps,
        "frame_count": frame_count,
        "width": info.width,
        "height": info.height,
        "duration_s": duration,
        "audio": audio,
        "audio_format": video.AUDIO_FORMAT if audio else None,
    }
    return pa.Table.from_pylist([row], schema=schema.VIDEOS)


def _table_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def ingest_one_video(src: Source, out_uri: str, cfg: Config) -> dict:
    """Decode one source and write its frames, then its videos row (the commit marker).

    Anything a previous, interrupted attempt left in its frames folder is deleted first. On
    failure the partial frames folder is removed again, so nothing half-written is left behind.
    """
    start = time.perf_counter()
    fs = None
    if src.remote:  # streamed from the store on this node; probed here, not on the driver
        fs = storage.s3fs_filesystem(cfg.storage)
        if src.kind == "video":
            info = video.probe(src.path, verify=False, fs=fs)  # the header only; the count is checked below
        else:
            info = video.probe_image_folder(src.path, cfg.ingest.image_folder_fps, fs)
        src = dataclasses.replace(src, info=info)
    root = storage.resolve(out_uri, cfg.storage)
    folder = root.join("frames", src.video_id)
    storage.delete_dir(folder)
    fmt, quality = cfg.ingest.image_format, cfg.ingest.jpeg_quality
    writer = _PartWriter(folder, cfg.ingest.rows_per_file, cfg.ingest.rows_per_group)
    count = 0
    unreadable: list[str] = []
    try:
        for index, t, width, height, image in _frames_of(src, fmt, quality, unreadable, fs):
            writer.add({
                "video_id": src.video_id,
                "frame_index": index,
                "fps": src.info.fps,
                "width": width,
                "height": height,
                "image": image,
                "timestamp": t,
                "source_path": src.path,
            })
            count = index + 1
        if fs is not None and src.kind == "video" and src.info.frame_count and count < src.info.frame_count:
            raise video.VideoError(f"{src.path}: truncated: {count} of {src.info.frame_count} video frames present")
        writer.close()
        audio = video.extract_audio(src.path, fs) if src.kind == "video" and src.info.has_audio else None
        storage.write_bytes(root.join("videos", f"{src.video_id}.parquet"), _table_bytes(_videos_row(src, count, audio)))
    except BaseException:
        _discard(writer, folder)
        raise
    return {"video_id": src.video_id, "frames": count, "seconds": time.perf_counter() - start, "unreadable": unreadable, "node_id": _node_id()}


def _node_id() -> str | None:
    """The Ray node this ran on (None outside Ray)."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except Exception:
        return None


def _discard(writer: _PartWriter, folder: storage.Location) -> None:
    try:
        writer.rows = []
        writer._close_file()
    except Exception:  # the original error is the one to report
        pass
    try:
        storage.delete_dir(folder)
    except Exception:
        pass


# ---------------------------------------------------------------- the whole run


def finished_ids(root: storage.Location) -> set[str]:
    """Videos whose commit row exists."""
    return {Path(p).stem for p in storage.list_files(root.join("videos"), ".parquet")}


def ingest(sources: list[str], out_uri: str, cfg: Config | None = None, use_ray: bool | None = None) -> dict:
    """Ingest videos/image folders into the frames dataset at ``out_uri``; returns a summary.

    All sources and the output are checked before anything is written. Finished videos are
    skipped. ``use_ray`` None: Ray tasks when more than one video is to be done (a single video
    is faster in this process than starting a cluster); True/False force it.
    """
    cfg = cfg or Config()
    if storage.is_s3(out_uri) or any(storage.is_s3(s) for s in sources):
        cfg = dataclasses.replace(cfg, storage=storage.for_workers(cfg.storage))
    start = time.perf_counter()
    srcs = validate_sources(list(sources), cfg)
    try:
        root = storage.check_writable(out_uri, cfg.storage)
    except storage.StorageError as exc:
        raise IngestError(str(exc)) from None
    done = finished_ids(root)
    todo = [s for s in srcs if s.video_id not in done]
    total = len(srcs)
    for i, s in enumerate(s for s in srcs if s.video_id in done):
        print(f"[{i + 1}/{total}] {s.video_id}: already ingested, skipped", flush=True)
    if use_ray is None:
        use_ray = len(todo) > 1
    runner = _run_ray if use_ray and todo else _run_local
    results, errors = runner(todo, out_uri, cfg, total - len(todo), total)
    seconds = time.perf_counter() - start
    frames = sum(r["frames"] for r in results)
    summary = {
        "out_uri": root.uri,
        "videos": total,
        "ingested": len(results),
        "skipped": total - len(todo),
        "failed": len(errors),
        "frames": frames,
        "seconds": round(seconds, 3),
        "frames_per_s": round(frames / seconds, 2) if seconds > 0 else 0.0,
        "video_ids": [s.video_id for s in srcs],
        "node_ids": sorted({r["node_id"] for r in results if r.get("node_id")}),
    }
    print(
        f"ingest: {len(results)} videos ingested, {summary['skipped']} skipped, {frames} frames "
        f"in {seconds:.1f} s ({summary['frames_per_s']} frames/s) -> {root.uri}",
        flush=True,
    )
    if errors:
        vid, msg = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise IngestError(f"{len(errors)} of {len(todo)} videos failed; {vid}: {msg}{more}")
    return summary


def _report(n: int, total: int, result: dict) -> None:
    bad = result.get("unreadable") or []
    note = f"; {len(bad)} unreadable image(s) kept as they are, enhance marks them decode_error (first: {bad[0]})" if bad else ""
    print(f"[{n}/{total}] {result['video_id']}: {result['frames']} frames in {result['seconds']:.1f} s{note}", flush=True)


def _run_local(todo: list[Source], out_uri: str, cfg: Config, n: int, total: int):
    results, errors = [], []
    for src in todo:
        try:
            result = ingest_one_video(src, out_uri, cfg)
        except (video.VideoError, storage.StorageError, OSError) as exc:
            errors.append((src.video_id, str(exc).splitlines()[0]))
            n += 1
            print(f"[{n}/{total}] {src.video_id}: FAILED: {errors[-1][1]}", flush=True)
            continue
        n += 1
        results.append(result)
        _report(n, total, result)
    return results, errors


def _missing_here(paths: list[str]) -> tuple[str, list[str]]:
    import ray

    return ray.util.get_node_ip_address(), [p for p in paths if not Path(p).exists()]


def check_local_sources_on_nodes(paths: list[str]) -> None:
    """On a multi-node cluster, make sure every node that can run an ingest task sees the local
    sources (a shared filesystem); otherwise one clear line before any video is started.

    One tiny task per node (pinned there, no CPU) checks that the paths exist. When tasks can only
    run on the driver's own node there is nothing to check: the driver already found them.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= CPUS_PER_TASK]
    here = ray.get_runtime_context().get_node_id()
    if not paths or all(n["NodeID"] == here for n in nodes):  # tasks run beside the driver only
        return
    check = ray.remote(num_cpus=0)(_missing_here)
    refs = [check.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(paths) for n in nodes]
    for ip, missing in ray.get(refs):
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise IngestError(
                f"{missing[0]}{more}: local source not found on cluster node {ip}; on a multi-node cluster "
                "put the videos in s3:// (or on a filesystem every node mounts at the same path)"
            )


WORKER_DEATH_RETRIES = 3  # Ray retries a task after its worker died, not after an exception


def _run_ray(todo: list[Source], out_uri: str, cfg: Config, n: int, total: int):
    """One task per video, at most ``max_parallel_videos`` (default: the cluster's CPUs) at once."""
    import ray

    ensure_ray(cfg)
    check_local_sources_on_nodes([s.path for s in todo if not s.remote])
    # A task is safe to run again (it clears its frames folder first and commits last), so a
    # worker that dies (a lost node, a crash inside Ray itself) costs a retry, not the video.
    task = ray.remote(num_cpus=CPUS_PER_TASK, max_retries=WORKER_DEATH_RETRIES)(ingest_one_video)
    limit = cfg.ingest.max_parallel_videos or max(1, int(ray.cluster_resources().get("CPU", 1)))
    pending = list(todo)
    running: dict = {}
    results, errors = [], []
    while pending or running:
        while pending and len(running) < limit:
            src = pending.pop(0)
            running[task.remote(src, out_uri, cfg)] = src
        ready, _ = ray.wait(list(running), num_returns=1)
        src = running.pop(ready[0])
        n += 1
        try:
            result = ray.get(ready[0])
        except ray.exceptions.RayError as exc:
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            errors.append((src.video_id, str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__))
            print(f"[{n}/{total}] {src.video_id}: FAILED: {errors[-1][1]}", flush=True)
            continue
        results.append(result)
        _report(n, total, result)
    return results, errors
