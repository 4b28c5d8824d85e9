"""Per-crop CPU time of each enhance-chain variant: ``python -m raymouth.bench.models MODELS_DIR``.

Untrained ("random") weights: speed does not depend on the values. MODELS_DIR holds the
official FSRCNN_x2.pb / LapSRN_x2.pb (variants whose graph is missing are skipped).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from raymouth.chain import RANDOM, bench_chain
from raymouth.config import Config, from_dict


def variant_configs(models_dir: Path, threads: int = 0) -> dict[str, Config]:
    """Named configs: the native chain (alone, + AE), each first-version (square) SR backend alone,
    EDSR baseline and small, and EDSR-small + AE."""
    base = {"chain": "square", "tf_intra_op_threads": threads, "tf_inter_op_threads": min(threads, 2), "edsr_weights": RANDOM,
            "autoencoder_weights": RANDOM, "native_weights": RANDOM, "use_autoencoder": False}
    small = {"num_blocks": 8, "num_filters": 32}
    variants = {
        "native_12x32": {"chain": "native", "flip_ensemble": False},
        "native_12x32 + flip (default)": {"chain": "native", "flip_ensemble": True},
        "native_12x32 + flip + AE": {"chain": "native", "flip_ensemble": True, "use_autoencoder": True},
        "bicubic": {"sr_backend": "bicubic"},
        "fsrcnn_x2": {"sr_backend": "fsrcnn", "pb_path": str(models_dir / "FSRCNN_x2.pb")},
        "lapsrn_x2": {"sr_backend": "lapsrn", "pb_path": str(models_dir / "LapSRN_x2.pb")},
        "edsr_baseline_16x64": {"sr_backend": "edsr", "edsr": {"num_blocks": 16, "num_filters": 64}},
        "edsr_small_8x32": {"sr_backend": "edsr", "edsr": small},
        "autoencoder_only (none + AE)": {"sr_backend": "none", "use_autoencoder": True},
        "edsr_small + AE": {"sr_backend": "edsr", "edsr": small, "use_autoencoder": True},
        "edsr_baseline + AE": {"sr_backend": "edsr", "edsr": {"num_blocks": 16, "num_filters": 64}, "use_autoencoder": True},
    }
    out = {}
    for name, extra in variants.items():
        pb = extra.get("pb_path")
        if pb and not Path(pb).is_file():
            continue
        out[name] = from_dict({"enhance": {**base, **extra}})
    return out


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
