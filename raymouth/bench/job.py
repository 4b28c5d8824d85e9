"""`raymouth bench`: what each stage costs alone, the bound that implies, and what the pipeline gets.

Stage costs are process CPU seconds per frame measured in this process, one stage at a time, on
the same frames the pipeline then runs on, with the bytes the run writes per frame, for each
output mode and at the sample's size, 512x512 or 1920x1080 (``--size``). The bound is ``cores / sum(stage costs)`` on a CPU
cluster (every stage shares the cores), and on a GPU cluster the slower of the CPU stages' bound
and the GPU stage's.
"""
from __future__ import annotations

import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

from raymouth.config import Config


def cpu_seconds() -> float:
    """This process's CPU seconds, all threads, at nanosecond resolution (``psutil``'s
    ``cpu_times`` counts 10 ms clock ticks: a small stage would read 0)."""
    return time.process_time()


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


SIZES = {"sample": None, "512": (512, 512), "1080p": (1920, 1080)}  # --size: frame (width, height)
STAGES = ("locate (decode + landmarks + crop)", "enhance (models)", "composite + score", "write")


def make_frames(workdir: Path, frames: int, cfg: Config, size: tuple[int, int] | None = None) -> str:
    """The built-in sample clip at the requested length (and frame size, see ``sample.fit``),
    ingested without Ray; returns its URI."""
    from raymouth.data.ingest import ingest
    from raymouth.data.sample import make_sample_clip

    clip = make_sample_clip(workdir / "bench.mp4", frames=frames, size=size)
    ingest([str(clip)], str(workdir / "dataset"), cfg, use_ray=False)
    return str(workdir / "dataset")


@dataclass
class StageCosts:
    """CPU seconds per frame of each stage and bytes written per frame, for each output mode."""

    costs: dict[str, dict[str, float]]  # mode -> stage -> core-seconds per frame
    output_bytes: dict[str, float]  # mode -> frames/ + metrics/ bytes per frame
    input_bytes: float  # the ingested frames' Parquet bytes per frame


def with_mode(cfg: Config, mode: str) -> Config:
    return cfg.with_(pipeline__output_mode=mode)


def stage_costs(frames_uri: str, cfg: Config, modes: tuple[str, ...] = ("patch",)) -> StageCosts:
    """CPU seconds per frame of each stage, in this process, one unit at a time (streamed).

    Locate and enhance run once; compositing and writing run on the same batches once per
    output mode. Model and landmarker start-up are left out: they are paid once per actor, not
    per frame; so is each composite's first call (OpenCV builds its L*a*b* tables then, ~0.1 s).
    """
    from raymouth.data import storage, units
    from raymouth.job.in_process import LocalStages
    from raymouth.job.stages import EnhanceStage, WriteOutput, table_to_batch
    from raymouth.mouth.locate import Locate

    loc = storage.resolve(frames_uri, cfg.storage)
    plan = units.plan(loc, cfg.pipeline.rows_per_unit)
    costs = {mode: dict.fromkeys(STAGES, 0.0) for mode in modes}
    n = 0
    enhance = EnhanceStage(cfg)
    composites = {mode: LocalStages(cfg, "bench", enhance, output_mode=mode).composite for mode in modes}
    with Locate(cfg) as locate, tempfile.TemporaryDirectory() as tmp:
        writers = {mode: WriteOutput(f"{tmp}/{mode}", cfg.storage, False, mode) for mode in modes}
        step = cfg.pipeline.enhance_batch_size_cpu  # the batches the pipeline's model actors see
        for unit in plan:
            start = cpu_seconds()
            located = locate(table_to_batch(units.read_unit(loc.fs, unit)))  # a whole unit, as ReadUnits
            spent = {STAGES[0]: cpu_seconds() - start}
            located["_unit"] = np.array([unit.unit_id] * unit.rows, dtype=object)
            for i in range(0, unit.rows, step):
                start = cpu_seconds()
                batch = enhance({k: v[i : i + step] for k, v in located.items()})
                spent[STAGES[1]] = spent.get(STAGES[1], 0.0) + cpu_seconds() - start
                for mode in modes:
                    if n == 0 and i == 0:
                        composites[mode](dict(batch))  # warm-up, not counted (see above)
                    start = cpu_seconds()
                    composited = composites[mode](dict(batch))
                    middle = cpu_seconds()
                    writers[mode](composited)
                    costs[mode][STAGES[2]] += middle - start
                    costs[mode][STAGES[3]] += cpu_seconds() - middle
            for mode in modes:
                for name, value in spent.items():
                    costs[mode][name] += value
            n += unit.rows
        written = {mode: _bytes_under(Path(tmp, mode)) / n for mode in modes}
    ingested = sum(loc.fs.get_file_info(path).size for path in units.input_files(loc)) / n
    return StageCosts({mode: {k: v / n for k, v in c.items()} for mode, c in costs.items()}, written, ingested)


def _bytes_under(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.parquet"))


def bench(cfg: Config, frames: int = 200, stage: str = "all", size: str = "sample", modes: tuple[str, ...] = ("patch", "frame")) -> str:
    """Runs the measurements and returns Markdown tables. ``stage``: ``locate`` (that stage alone),
    ``stages`` (every stage, both modes, no pipeline) or ``all`` (then the pipeline, in the first
    of ``modes``); ``reference`` is ``bench.reference``'s."""
    from raymouth.cluster import ensure_ray
    from raymouth.job import pipeline

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        uri = make_frames(work, frames, cfg, SIZES[size])
        wall = time.time()
        with PeakMemory() as loop_mem:
            measured = stage_costs(uri, cfg, modes)
        loop_fps = frames / (time.time() - wall)
        first = measured.costs[modes[0]]
        if stage == "locate":
            cost = first[STAGES[0]]
            return f"| measure | value |\n|---|---|\n| {STAGES[0]}, core-s/frame | {cost:.4f} |\n| frames/s per core | {1 / cost:.1f} |"
        lines = [f"frames: {frames} of {size_name(size)} (built-in sample, {_chain_name(cfg)}, "
                 f"autoencoder {'on' if cfg.enhance.use_autoencoder else 'off'})", "", *stage_table(measured, modes)]
        if stage == "stages":
            return "\n".join(lines)
        ensure_ray(cfg)
        import ray

        cores = float(ray.cluster_resources().get("CPU", os.cpu_count() or 1))
        gpus = float(ray.cluster_resources().get("GPU", 0))
        with PeakMemory() as pipe_mem:
            summary = pipeline.run(uri, str(work / "out"), "bench", with_mode(cfg, modes[0]), log=lambda *_: None)
    total = sum(first.values())
    bound = cores / total
    if gpus:
        cpu_bound = cores / (total - first[STAGES[1]])
        bound = min(cpu_bound, gpus / first[STAGES[1]])  # GPU cost measured here is a CPU stand-in
    lines += [
        "",
        f"cluster: {cores:g} CPUs, {gpus:g} GPUs; pipeline in {modes[0]} mode",
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


def stage_table(measured: StageCosts, modes: tuple[str, ...]) -> list[str]:
    """Core-seconds per frame of each stage and the bytes a run writes per frame, a column per mode
    (the plain loop's locate and enhance are shared: only compositing and writing differ)."""
    head = "| stage | " + " | ".join(f"core-seconds per frame, {m} mode" for m in modes) + " |"
    rows = [head, "|---|" + "---|" * len(modes)]
    for name in STAGES:
        rows.append(f"| {name} | " + " | ".join(f"{measured.costs[m][name]:.4f}" for m in modes) + " |")
    rows.append("| **sum** | " + " | ".join(f"**{sum(measured.costs[m].values()):.4f}**" for m in modes) + " |")
    rows.append("| composite + write | " + " | ".join(f"{measured.costs[m][STAGES[2]] + measured.costs[m][STAGES[3]]:.4f}" for m in modes) + " |")
    rows.append("| output bytes per frame (frames/ + metrics/) | " + " | ".join(f"{measured.output_bytes[m] / 1024:.1f} KiB" for m in modes) + " |")
    rows.append("| of the ingested frames' bytes | " + " | ".join(f"{measured.output_bytes[m] / measured.input_bytes:.1%} (of {measured.input_bytes / 1024:.0f} KiB)" for m in modes) + " |")
    return rows


def size_name(size: str) -> str:
    return "448x448" if SIZES[size] is None else "x".join(map(str, SIZES[size]))


def _chain_name(cfg: Config) -> str:
    enh = cfg.enhance
    if enh.chain == "native":
        return f"native {enh.native.num_blocks}x{enh.native.num_filters}, sharpen {enh.sharpen.amount:g}"
    return f"square {enh.sr_input_px}², {enh.sr_backend} ×{enh.edsr.scale}, sharpen {enh.sharpen.amount:g}"
