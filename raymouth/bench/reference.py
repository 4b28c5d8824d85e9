"""`raymouth bench --stage reference`: what the reference-guided path (``reference.mode=guided``)
costs per frame beside the generic model, and whether it writes the same bytes on a busy machine.

The built-in sample is both the input and its own reference (a longer take of the same face), so
every mouth finds an exemplar. Costs are this process's CPU seconds, one part at a time, on the
same located frames: the mouth index (paid once per reference, per indexed frame), retrieval and
alignment (per output frame), and the enhance stage with and without the exemplars.
"""
from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from raymouth.bench.job import SIZES, cpu_seconds, make_frames, size_name
from raymouth.config import Config

VIDEO = "bench"  # make_frames names the clip bench.mp4: the input's and the reference's video_id


def bench_reference(cfg: Config, frames: int = 200, size: str = "sample") -> str:
    """`raymouth bench --stage reference`: the measurements as Markdown."""
    costs = reference_costs(frames, cfg, SIZES[size])
    head = f"frames: {frames} of {size_name(size)} (built-in sample; its reference: the same face, {2 * frames} frames)"
    return "\n".join([head, "", *reference_table(costs, cfg)])


def reference_costs(frames: int, cfg: Config, size: tuple[int, int] | None = None) -> dict[str, float]:
    """Core-seconds of each part of the guided path; ``same_bytes_busy``: 1.0 when the guided
    enhance gave the same bytes with every core busy as on the idle machine."""
    from raymouth.data import storage, units
    from raymouth.job import exemplars, reference
    from raymouth.job.stages import EnhanceStage, table_to_batch
    from raymouth.mouth.locate import Locate

    cfg = cfg.with_(reference__mode="guided")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        in_uri = make_frames(work / "input", frames, cfg, size)
        ref_uri = make_frames(work / "reference", 2 * frames, cfg, size)
        in_loc = storage.resolve(in_uri, cfg.storage)
        plan = units.plan(in_loc, cfg.pipeline.rows_per_unit)
        ref_plan = reference.plan(in_loc, sorted({u.path for u in plan}), ref_uri, None, cfg)
        start = cpu_seconds()
        built = exemplars.build_index(ref_uri, ref_plan.files[VIDEO], VIDEO, str(work / "run"), cfg)
        index_cost = cpu_seconds() - start
        indexes = {VIDEO: exemplars.index_loc(storage.resolve(str(work / "run"), cfg.storage), VIDEO).uri}
        retriever = exemplars.Retriever(indexes, cfg)
        guided, generic = EnhanceStage(cfg, exemplar_indexes=indexes), EnhanceStage(cfg)
        spent = dict.fromkeys(("retrieve", "align", "guided", "generic"), 0.0)
        batches = []
        with Locate(cfg) as locate:
            for unit in plan:
                located = locate(table_to_batch(units.read_unit(in_loc.fs, unit)))
                retriever.new_unit()
                start = cpu_seconds()
                located = retriever(located)
                spent["retrieve"] += cpu_seconds() - start
                batches += [{k: v[i : i + cfg.pipeline.enhance_batch_size_cpu] for k, v in located.items()}
                            for i in range(0, unit.rows, cfg.pipeline.enhance_batch_size_cpu)]
        guided(dict(batches[0]))  # warm-up (graph tracing), not counted: paid once per actor
        generic(dict(batches[0]))
        spent["align"] = _align_cost(guided, batches)
        idle = []
        for batch in batches:
            start = cpu_seconds()
            idle.append(_digest(guided(dict(batch))))
            middle = cpu_seconds()
            generic(dict(batch))
            spent["guided"] += middle - start
            spent["generic"] += cpu_seconds() - middle
        with _all_cores_busy():
            busy = [_digest(guided(dict(batch))) for batch in batches]
    n = sum(len(b["status"]) for b in batches)
    costs = {name: value / n for name, value in spent.items()}
    costs["index_per_reference_frame"] = index_cost / max(built["frames"], 1)
    costs["same_bytes_busy"] = float(idle == busy)
    costs["mouths_with_exemplar"] = float(sum(len(e) > 0 for b in batches for e in b["exemplars"])) / n
    return costs


def _align_cost(stage, batches: list[dict]) -> float:
    """CPU seconds of the alignment alone (what the guided enhance does before its network)."""
    total = 0.0
    for batch in batches:
        for crop, lips, exemplar in zip(*stage.guided_inputs(batch, stage.guided_rows(batch))):
            start = cpu_seconds()
            stage.guided.aligned(crop, lips, exemplar)
            total += cpu_seconds() - start
    return total


def _digest(batch: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for crop, version in zip(batch["enhanced_crop"], batch["model_version"]):
        h.update(np.ascontiguousarray(crop).tobytes() + str(version).encode())
    return h.hexdigest()


def _spin(stop) -> None:
    while not stop.is_set():
        sum(range(10_000))


@contextlib.contextmanager
def _all_cores_busy() -> Iterator[None]:
    """A busy loop on every core (other processes), for as long as the block runs."""
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    spinners = [ctx.Process(target=_spin, args=(stop,), daemon=True) for _ in range(os.cpu_count() or 1)]
    for p in spinners:
        p.start()
    try:
        yield
    finally:
        stop.set()
        for p in spinners:
            p.join(timeout=10)


def reference_table(costs: dict[str, float], cfg: Config) -> list[str]:
    """The guided path's costs as Markdown, with issue 27's cost targets beside them."""
    per_frame = costs["retrieve"] + costs["align"]
    amortised = costs["index_per_reference_frame"] / cfg.reference.index_every + per_frame
    return [
        "| reference-guided path (reference.mode=guided) | core-seconds per frame |",
        "|---|---|",
        f"| mouth index, per indexed reference frame (once per reference, one frame in {cfg.reference.index_every}) | {costs['index_per_reference_frame']:.4f} |",
        f"| retrieval (lip shape + pose, hysteresis) | {costs['retrieve']:.4f} |",
        f"| alignment (similarity + DIS flow + colour + confidence) | {costs['align']:.4f} |",
        f"| **retrieval + alignment** | **{per_frame:.4f}** |",
        f"| **index (a reference as long as the input) + retrieval + alignment** | **{amortised:.4f}** |",
        f"| enhance, generic (shipped chain) | {costs['generic']:.4f} |",
        f"| enhance, reference-guided (alignment included) | {costs['guided']:.4f} ({costs['guided'] / max(costs['generic'], 1e-9):.2f}x the generic) |",
        f"| mouths that found an exemplar | {costs['mouths_with_exemplar']:.0%} |",
        f"| same output bytes with every core busy | {'yes' if costs['same_bytes_busy'] == 1.0 else 'NO'} |",
    ]
