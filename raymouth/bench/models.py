"""Per-crop CPU time of each enhance-chain variant: ``python -m raymouth.bench.models MODELS_DIR``.

Untrained ("random") weights: speed does not depend on the values. MODELS_DIR holds the
official FSRCNN_x2.pb / LapSRN_x2.pb (variants whose graph is missing are skipped).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from raymouth.config import Config
from raymouth.data.sample import sample_crops
from raymouth.evaluate.variants import BENCHED, frozen_graph, variant_overrides, with_overrides
from raymouth.restore.chain import RANDOM, EnhanceChain


def variant_configs(models_dir: Path, threads: int = 0) -> dict[str, Config]:
    """The bench's variants (``variants.BENCHED``: the native chain alone, + flip, + AE, each
    first-version (square) SR backend alone, EDSR baseline and small, the autoencoder alone and
    after EDSR) with untrained weights and ``threads`` TensorFlow threads; a variant whose frozen
    graph is missing is skipped."""
    table = variant_overrides(models_dir)
    base = [f"enhance.tf_intra_op_threads={threads}", f"enhance.tf_inter_op_threads={min(threads, 2)}",
            *(f"enhance.{m}_weights={RANDOM}" for m in ("edsr", "autoencoder", "native"))]
    out = {}
    for name in BENCHED:
        pb = frozen_graph(table[name])
        if pb and not pb.is_file():
            continue
        out[name] = with_overrides(Config(), [*base, *table[name]])
    return out


def bench_chain(cfg: Config, n_crops: int = 64, batch_size: int = 16, repeats: int = 2) -> dict[str, float | str]:
    """Per-crop wall time of ``EnhanceChain(cfg)`` on CPU-sized batches (best of ``repeats``).

    Returns ``{"model_version", "init_s", "ms_per_crop", "cpu_ms_per_crop", "crops_per_s"}``
    (wall and process CPU time; CPU time is the steadier figure on a shared machine); the first
    batch is a warm-up (graph tracing) and not counted.
    """
    t0 = time.perf_counter()
    chain = EnhanceChain(cfg)
    init_s = time.perf_counter() - t0
    crops = sample_crops(n_crops)
    chain(crops[:batch_size])
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, n_crops, batch_size):
            chain(crops[i : i + batch_size])
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return {
        "model_version": chain.model_version,
        "init_s": round(init_s, 2),
        "ms_per_crop": round(1000 * best / n_crops, 2),
        "cpu_ms_per_crop": round(1000 * best_cpu / n_crops, 2),
        "crops_per_s": round(n_crops / best, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models_dir", type=Path)
    parser.add_argument("--crops", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    for name, cfg in variant_configs(args.models_dir, args.threads).items():
        print(json.dumps({"variant": name, **bench_chain(cfg, args.crops, args.batch)}), flush=True)


if __name__ == "__main__":
    main()
