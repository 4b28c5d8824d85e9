"""`raymouth evaluate` and `raymouth make-heldout` on the command line (also ``python -m raymouth.evaluate``)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from raymouth import config as config_mod
from raymouth.config import Config
from raymouth.evaluate.heldout import make_heldout_set
from raymouth.evaluate.run import evaluate
from raymouth.evaluate.variants import EVALUATED, FROZEN_GRAPHS
from raymouth.train import degrade


def add_evaluate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``raymouth evaluate CLIP... --out DIR [--real CLIP]... [--variants a,b] [--frames N]``."""
    p = subparsers.add_parser("evaluate", help="mouth PSNR/SSIM gain of every enhance variant at fixed degradation strengths, and sharpness on real lip-sync output")
    p.add_argument("clips", nargs="*", help="clean clips no model trained on: video files or frames datasets (local or s3://)")
    p.add_argument("--out", required=True, help="local folder for evaluation.md, evaluation.json and contact sheets")
    p.add_argument("--real", action="append", default=[], metavar="CLIP", help="real lip-sync output without a reference (repeatable)")
    p.add_argument("--variants", default=None, metavar="A,B,...", help=f"variants to run (default: {','.join(EVALUATED)}; also {','.join(FROZEN_GRAPHS)})")
    p.add_argument("--frozen-graphs", action="store_true", help=f"also run the slow official frozen graphs ({', '.join(FROZEN_GRAPHS)})")
    p.add_argument("--strengths", default=None, metavar="A,B,...", help=f"fixed strengths (default: {','.join(degrade.STRENGTHS)})")
    p.add_argument("--frames", type=int, default=16, metavar="N", help="evenly spaced frames per clean clip (0 = all; default 16)")
    p.add_argument("--real-frames", type=int, default=48, metavar="N", help="first N frames of each real clip (default 48)")
    p.add_argument("--seed", type=int, default=0, help="noise seed of the harsh strength")
    p.add_argument("--zoom", type=int, default=3, help="contact-sheet mouth zoom, at least 3 (nearest neighbour)")
    p.add_argument("--manifest", action="append", default=[], metavar="TSV", help="a MANIFEST.tsv (columns path, source_repo) naming your clips' sources, beside those found near the clips (repeatable)")
    p.add_argument("--reference", action="store_true", help="with a person's own source clip: each clean clip's first --ref-share is its reference, later frames are degraded; the job runs without and with --reference (reference.mode picks the fine-tune or the guided model)")
    p.add_argument("--ref-share", type=float, default=0.6, metavar="F", help="with --reference: share of each clip's frames, from its start, that is the reference (default 0.6)")
    p.add_argument("--pairs", default=None, metavar="FOLDER", help="real lip-sync outputs with their source clips (<name>_output.mp4 + <name>_source.mp4): the job without and with the source as --reference")
    p.add_argument("--run-name", default=None, help="with --reference or --pairs: run id of the run with references (default: reference / reference.mode)")
    p.add_argument("--pb-dir", default=None, help="folder with LapSRN_x2.pb / FSRCNN_x2.pb (default: the fixtures' models/)")
    return p


def _names(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def cmd_evaluate(args: argparse.Namespace, cfg: Config) -> int:
    if args.reference or args.pairs:
        return _evaluate_with_references(args, cfg)
    variants = _names(args.variants)
    if args.frozen_graphs:
        variants = [*(variants or EVALUATED), *(g for g in FROZEN_GRAPHS if g not in (variants or ()))]
    evaluate(args.clips, args.out, cfg, variants, args.frames, args.real, args.real_frames, args.seed, _names(args.strengths), pb_dir=args.pb_dir, sheet_zoom=args.zoom, manifests=args.manifest)
    return 0


def _evaluate_with_references(args: argparse.Namespace, cfg: Config) -> int:
    """``--reference`` (synthetic: clips split in time) and ``--pairs`` (real outputs with their sources)."""
    from raymouth.evaluate.clips import EvaluateError
    from raymouth.evaluate.real_pairs import evaluate_pairs
    from raymouth.evaluate.reference import evaluate_reference

    if args.reference and not args.clips:
        raise EvaluateError("--reference needs clean clips to split into a reference and inputs")
    if args.pairs and not args.reference and args.clips:
        raise EvaluateError("--pairs takes a folder of pairs; give clean clips with --reference")
    if not 0.0 < args.ref_share < 1.0:
        raise EvaluateError(f"--ref-share must be between 0 and 1, got {args.ref_share}")
    strength = (_names(args.strengths) or ["lipsync"])[0]
    if args.reference:
        evaluate_reference(args.clips, args.out, cfg, args.ref_share, strength, args.run_name or "reference")
    if args.pairs:
        evaluate_pairs(args.pairs, str(Path(args.out) / "pairs") if args.reference else args.out, cfg, args.real_frames, args.run_name)
    return 0


def add_heldout_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``raymouth make-heldout CLIP... --out URI [--frames N] [--seed S]`` (``make-reference``: its old name)."""
    p = subparsers.add_parser(
        "make-heldout", aliases=["make-reference"], help="clean clips -> held-out frames dataset (mouth degraded, clean frame kept; evaluate reads the clean frame)"
    )
    p.add_argument("clips", nargs="+", help="clean video files not used for training")
    p.add_argument("--out", required=True, help="output dataset URI (folder or s3://bucket/prefix)")
    p.add_argument("--frames", type=int, default=24, metavar="N", help="first N frames of each clip")
    p.add_argument("--seed", type=int, default=0)
    return p


def cmd_make_heldout(args: argparse.Namespace, cfg: Config) -> int:
    summary = make_heldout_set(args.clips, args.out, cfg, args.frames, args.seed)
    print(json.dumps(summary, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m raymouth.evaluate {evaluate,make-heldout} ...`` (the same as the raymouth subcommands)."""
    ap = argparse.ArgumentParser(prog="python -m raymouth.evaluate")
    sub = ap.add_subparsers(dest="command", required=True)
    for add in (add_evaluate_parser, add_heldout_parser):
        p = add(sub)
        p.add_argument("--config", help="YAML config file")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = ap.parse_args(argv)
    cfg = config_mod.load(args.config, args.overrides)
    return {"evaluate": cmd_evaluate, "make-heldout": cmd_make_heldout, "make-reference": cmd_make_heldout}[args.command](args, cfg)
