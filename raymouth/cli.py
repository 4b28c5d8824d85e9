"""The ``raymouth`` command line: parses arguments, loads config, calls one function, prints a summary.

Every user error (any ``errors.UserError``: bad argument, unreachable storage, bad config, a bad
input file) ends as one line on stderr and exit status 2, before any cluster work where it can be
found before. ``--verbose`` shows every worker's and library's output.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

from raymouth import config as config_mod
from raymouth.console import VERBOSE_ENV
from raymouth.errors import user_error_in


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML config file (see `raymouth config`)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override one setting (repeatable)")
    p.add_argument("--verbose", action="store_true", help="show every worker's and library's output (TensorFlow, MediaPipe, Ray)")


def _common_once(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``_common`` for a sub-parser made elsewhere, adding only the options it lacks."""
    have = {opt for action in p._actions for opt in action.option_strings}
    if "--config" not in have:
        p.add_argument("--config", help="YAML config file (see `raymouth config`)")
    if "--set" not in have:
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override one setting (repeatable)")
    if "--verbose" not in have:
        p.add_argument("--verbose", action="store_true", help="show every worker's and library's output (TensorFlow, MediaPipe, Ray)")
    return p


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="raymouth", description="Repair the mouth region of talking-head video datasets on Ray.")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="make a sample clip, ingest, enhance and export it (no arguments needed)")
    p.add_argument("--workdir", default="raymouth-demo", help="where the demo writes (default ./raymouth-demo)")
    _common(p)

    p = sub.add_parser("ingest", help="videos / image folders -> frames dataset (Parquet)")
    p.add_argument("sources", nargs="+", help="video files (mp4, mov, avi, webm, mkv) or folders of images")
    p.add_argument("--out", required=True, help="output dataset URI (folder or s3://bucket/prefix)")
    _common(p)

    p = sub.add_parser("enhance", help="enhance the mouths of a frames dataset (the main job)")
    p.add_argument("input", help="frames dataset URI")
    p.add_argument("--out", required=True, help="output URI; the run is written under OUT/<run_id>/")
    p.add_argument("--run-id", help="name of the run; re-running the same id resumes it")
    p.add_argument("--reference", metavar="REF_URI", help="frames dataset of the people's source clips: each video's identity is fine-tuned on its own mouths first")
    p.add_argument("--reference-map", metavar="MAP.csv", help="input_video_id,reference_video_id lines (default: the reference with the same video_id)")
    _common(p)

    p = sub.add_parser("export", help="frames dataset or enhanced run -> mp4 per video (+ contact sheets)")
    p.add_argument("input", help="frames dataset URI, or an enhanced run OUT/<run_id>")
    p.add_argument("--out", required=True, help="local folder for the mp4 files")
    p.add_argument("--column", choices=("image", "enhanced"), default=None, help="which frames to export (default: enhanced when present)")
    p.add_argument("--videos", help="the ingested dataset URI whose videos/ table holds fps and audio (for enhanced runs)")
    p.add_argument("--contact-sheet", type=int, default=0, metavar="N", help="also write a before/after sheet of N frames")
    p.add_argument("--before-after", action="store_true", help="also write <video>_before_after.mp4: input and output mouths side by side, zoomed (enhanced runs)")
    _common(p)

    p = sub.add_parser("bench", help="measure stage costs, output bytes and pipeline throughput; prints Markdown tables")
    p.add_argument("--frames", type=int, default=200, help="frames to process")
    p.add_argument("--out", default=None, help="also write the Markdown table to this file")
    p.add_argument("--stage", choices=("all", "stages", "locate", "reference"), default="all",
                   help="all: stage costs, then the pipeline; stages: stage costs only; locate: that stage alone; "
                        "reference: the reference-guided path (index, retrieval, alignment, guided enhance) beside the generic model")
    p.add_argument("--size", choices=("sample", "512", "1080p"), default="sample",
                   help="frame size: the sample's 448x448, 512x512 or 1920x1080 (the sample scaled and padded)")
    p.add_argument("--modes", default="patch,frame", type=_modes, help="output modes to measure, comma-separated; the pipeline runs in the first")
    _common(p)

    from raymouth.evaluate.cli import add_evaluate_parser, add_heldout_parser
    from raymouth.train.driver import add_train_parser

    _common_once(add_train_parser(sub))
    _common_once(add_evaluate_parser(sub))
    _common_once(add_heldout_parser(sub))
    from raymouth.job.report import add_parser as add_report_parser

    _common_once(add_report_parser(sub))

    p = sub.add_parser("config", help="print the full default config as YAML (with --config/--set applied)")
    _common(p)
    return ap


def _modes(text: str) -> tuple[str, ...]:
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    if not modes or any(m not in ("patch", "frame") for m in modes):
        raise argparse.ArgumentTypeError(f"expected patch, frame or patch,frame; got {text!r}")
    return modes


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "verbose", False):
        os.environ[VERBOSE_ENV] = "1"  # read by console.verbose (Ray's logging, native libraries' start-up lines)
    try:
        cfg = config_mod.load(args.config, args.overrides)
        return COMMANDS[args.command](args, cfg) or 0
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, _stop_now)  # Ray's shutdown runs next; a second Ctrl-C ends it quietly
        print("raymouth: interrupted; re-run the same command to resume (Ctrl-C again to stop at once)", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - user errors become one line; others keep their traceback
        user = user_error_in(exc)  # itself, or the cause of a Ray task/actor error
        if user is None:
            raise
        print(f"raymouth: error: {_one_line(user)}", file=sys.stderr)
        return user.exit_code


def _stop_now(signum: int, frame: Any) -> None:
    """A second Ctrl-C during the clean-up after the first: leave at once, without a traceback
    from whatever clean-up (Ray's shutdown at exit) it lands in; finished work is on storage."""
    os._exit(130)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def cmd_config(args, cfg) -> int:
    print(config_mod.dump_yaml(cfg), end="")
    return 0


def cmd_ingest(args, cfg) -> int:
    from raymouth.data.ingest import ingest

    ingest(args.sources, args.out, cfg)
    return 0


def cmd_enhance(args, cfg) -> int:
    from raymouth.job.pipeline import run

    run(args.input, args.out, args.run_id, cfg, ref_uri=args.reference, ref_map=args.reference_map)
    return 0


def cmd_export(args, cfg) -> int:
    from raymouth.data.export import export

    paths = export(args.input, args.out, column=args.column, contact_sheet=args.contact_sheet, cfg=cfg, videos_uri=args.videos,
                   before_after=args.before_after)
    for p in paths:
        print(p)
    return 0


def cmd_bench(args, cfg) -> int:
    from raymouth.bench.job import bench
    from raymouth.bench.reference import bench_reference

    if args.stage == "reference":
        table = bench_reference(cfg, frames=args.frames, size=args.size)
    else:
        table = bench(cfg, frames=args.frames, stage=args.stage, size=args.size, modes=args.modes)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    return 0


def cmd_train(args, cfg) -> int:
    from raymouth.train.driver import cmd_train as run_train

    return run_train(args, cfg)


def cmd_evaluate(args, cfg) -> int:
    from raymouth.evaluate.cli import cmd_evaluate as run_evaluate

    return run_evaluate(args, cfg)


def cmd_make_heldout(args, cfg) -> int:
    from raymouth.evaluate.cli import cmd_make_heldout as run_make_heldout

    return run_make_heldout(args, cfg)


def cmd_report(args, cfg) -> int:
    from raymouth.job.report import cmd_report as run_report

    return run_report(args, cfg)


def cmd_demo(args, cfg) -> int:
    """The README's run command: the whole job on a built-in sample, then where to look."""
    from raymouth.data.export import export
    from raymouth.data.sample import make_sample_dataset
    from raymouth.job.pipeline import run

    work = Path(args.workdir).resolve()
    print(f"raymouth demo: working in {work}")
    frames_uri = make_sample_dataset(work, cfg)
    summary = run(frames_uri, str(work / "enhanced"), "demo", cfg)
    outputs = export(summary["output"], str(work / "export"), column=None, contact_sheet=6, cfg=cfg, videos_uri=frames_uri, before_after=True)
    print("raymouth demo: done. Look at:")
    for p in outputs:
        print(f"  {p}")
    print(f"  {os.path.join(summary['output'], 'summary.json')}")
    if os.path.isfile(os.path.join(summary["output"], "report.html")):
        print(f"  {os.path.join(summary['output'], 'report.html')}  (open it in a browser)")
    return 0


COMMANDS = {
    "config": cmd_config,
    "ingest": cmd_ingest,
    "enhance": cmd_enhance,
    "export": cmd_export,
    "bench": cmd_bench,
    "demo": cmd_demo,
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "report": cmd_report,
    "make-heldout": cmd_make_heldout,
    "make-reference": cmd_make_heldout,  # the old name of make-heldout
}


if __name__ == "__main__":
    sys.exit(main())
