"""`raymouth bench`: what each stage costs alone, the bound that implies, and what the pipeline gets.

Stage costs are process CPU seconds per frame measured in this process, one stage at a time, on
the same frames the pipeline then runs on. The bound is ``cores / sum(stage costs)`` on a CPU
cluster (every stage shares the cores), and on a GPU cluster the slower of the CPU stages' bound
and the GPU stage's.
"""
from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from raymouth.config import Config


def _cpu() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


class PeakMemory:
    """Samples the memory of this process and all its children (Ray workers included) in a thread.

    ``peak`` is the summed PSS (proportional set size): a page shared by several processes, such
    as Ray's object store or the TensorFlow libraries, counts once in total, not once per process
    as a summed RSS does. ``peak_rss`` keeps the summed RSS for comparison. Reading PSS makes the
    kernel walk each process's page tables (~10 ms for a process with TensorFlow loaded), so the
    interval grows to keep the sampler's own cost under 5% of one core.
    """

    def __init__(self, interval_s: float = 0.5) -> None:
        self.peak = 0
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval_s,), daemon=True)

    def _run(self, interval_s: float) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            started = time.thread_time()
            pss = rss = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    info = p.memory_full_info()
                except psutil.Error:
                    continue
                pss += getattr(info, "pss", info.rss)  # PSS exists on Linux only
                rss += info.rss
            self.peak, self.peak_rss = max(self.peak, pss), max(self.peak_rss, rss)
            self._stop.wait(max(interval_s, 20 * (time.thread_time() - started)))

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def make_frames(workdir: Path, frames: int, cfg: Config) -> str:
    """The built-in sample clip at the requested length, ingested without Ray; returns its URI."""
    from raymouth.ingest import ingest
    from raymouth.sample import make_sample_clip

    clip = make_sample_clip(workdir / "bench.mp4", frames=frames)
    ingest([str(clip)], str(workdir / "dataset"), cfg, use_ray=False)
    return str(workdir / "dataset")


def stage_costs(frames_uri: str, cfg: Config) -> dict[str, float]:
    """CPU seconds per frame of each stage, in this process, one unit at a time (streamed).

    Model and landmarker start-up are left out: they are paid once per actor, not per frame.
    """
    from raymouth import storage, units
    from raymouth.locate import Locate
    from raymouth.stages import Composite, EnhanceStage, WriteOutput, table_to_batch

    loc = storage.resolve(frames_uri, cfg.storage)
    plan = units.plan(loc, cfg.pipeline.rows_per_unit)
    names = ("locate (decode + landmarks + crop)", "enhance (models)", "composite + score", "write")
    costs = dict.fromkeys(names, 0.0)
    n = 0
    enhance, composite = EnhanceStage(cfg), Composite(cfg, "bench")
    with Locate(cfg) as locate, tempfile.TemporaryDirectory() as tmp:
        writer = WriteOutput(tmp, cfg.storage, False)
        step = cfg.pipeline.enhance_batch_size_cpu  # the batches the pipeline's model actors see
        for unit in plan:
            start = _cpu()
            located = locate(table_to_batch(units.read_unit(loc.fs, unit)))  # a whole unit, as ReadUnits
            costs[names[0]] += _cpu() - start
            located["_unit"] = np.array([unit.unit_id] * unit.rows, dtype=object)
            for i in range(0, unit.rows, step):
                batch = {k: v[i : i + step] for k, v in located.items()}
                for name, stage in zip(names[1:], (enhance, composite, writer)):
                    start = _cpu()
                    out = stage(batch)
                    costs[name] += _cpu() - start
                    batch = batch if stage is writer else out
            n += unit.rows
    return {name: total / n for name, total in costs.items()}


def bench(cfg: Config, frames: int = 200, stage: str = "all") -> str:
    """Runs the measurements and returns a Markdown table."""
    from raymouth import pipeline
    from raymouth.cluster import ensure_ray

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        uri = make_frames(work, frames, cfg)
        wall = time.time()
        with PeakMemory() as loop_mem:
            costs = stage_costs(uri, cfg)
        loop_fps = frames / (time.time() - wall)
        if stage == "locate":
            key = next(iter(costs))
            return f"| measure | value |\n|---|---|\n| {key}, core-s/frame | {costs[key]:.4f} |\n| frames/s per core | {1 / costs[key]:.1f} |"
        ensure_ray(cfg)
        import ray

        cores = float(ray.cluster_resources().get("CPU", os.cpu_count() or 1))
        gpus = float(ray.cluster_resources().get("GPU", 0))
        with PeakMemory() as pipe_mem:
            summary = pipeline.run(uri, str(work / "out"), "bench", cfg, log=lambda *_: None)
        total = sum(costs.values())
        bound = cores / total
        if gpus:
            cpu_bound = cores / (total - costs["enhance (models)"])
            bound = min(cpu_bound, gpus / costs["enhance (models)"])  # GPU cost measured here is a CPU stand-in
    rows = [f"| {name} | {cost:.4f} |" for name, cost in costs.items()]
    lines = [
        f"frames: {frames} (built-in sample, {_chain_name(cfg)}, "
        f"autoencoder {'on' if cfg.enhance.use_autoencoder else 'off'}); cluster: {cores:g} CPUs, {gpus:g} GPUs",
        "",
        "| stage | core-seconds per frame |",
        "|---|---|",
        *rows,
        f"| **sum** | **{total:.4f}** |",
        "",
        "| measure | value |",
        "|---|---|",
        f"| bound = cores / sum | {bound:.2f} frames/s |",
        f"| plain single-process loop | {loop_fps:.2f} frames/s |",
        f"| Ray Data pipeline | {summary['frames_per_s']:.2f} frames/s ({summary['frames_per_s'] / bound:.0%} of bound) |",
        f"| of which start-up (cluster connect to first written row) | {summary['first_output_s']:.1f} s of {summary['wall_s']:.1f} s |",
        f"| peak memory (PSS), plain loop | {loop_mem.peak / 2**20:.0f} MiB (RSS {loop_mem.peak_rss / 2**20:.0f} MiB) |",
        f"| peak memory (PSS), pipeline: driver + Ray workers | {pipe_mem.peak / 2**20:.0f} MiB (summed RSS {pipe_mem.peak_rss / 2**20:.0f} MiB) |",
    ]
    return "\n".join(lines)


def _chain_name(cfg: Config) -> str:
    enh = cfg.enhance
    if enh.chain == "native":
        return f"native {enh.native.num_blocks}x{enh.native.num_filters}, sharpen {enh.sharpen.amount:g}"
    return f"square {enh.sr_input_px}², {enh.sr_backend} ×{enh.edsr.scale}, sharpen {enh.sharpen.amount:g}"
