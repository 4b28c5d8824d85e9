"""Real lip-sync outputs with the source clips they were made from: does the person's own clip help?

``python -m raymouth.evaluate.real_pairs PAIRS_DIR --out DIR [--frames N] [--set ...]``

PAIRS_DIR holds ``<name>_output.mp4`` (a lip-sync model's output) beside ``<name>_source.mp4``
(the video it was made from, frame-aligned from frame 0: outside the mouth an output frame is its
source frame). Each output's first ``N`` frames are the input video ``<name>``; the source frame of
the same index rides along as the ``reference`` column, so the scoring (``evaluate.reference
.score_run``) reads the source's own mouth / face sharpness ratio at the very boxes the job used,
and the flicker ratio at a fixed box. The whole source clip is the reference dataset
(``<name>_src``). The job runs once without and once with the references (``reference.mode`` as
configured); every number is read back from what the runs wrote.
"""
from __future__ import annotations

import argparse
import json
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pyarrow.parquet as pq

from raymouth.config import Config
from raymouth.data import codec, schema, sheet
from raymouth.evaluate.clips import EvaluateError
from raymouth.evaluate.reference import ROWS_PER_GROUP, frames_table, score_run, sharpness_cells
from raymouth.mouth import roi

if TYPE_CHECKING:
    from raymouth.exemplar.retrieve import MouthIndex


def pairs_in(folder: Path) -> list[str]:
    """The names with both ``<name>_output.mp4`` and ``<name>_source.mp4``."""
    return sorted(p.name[: -len("_output.mp4")] for p in folder.glob("*_output.mp4") if (folder / p.name.replace("_output.mp4", "_source.mp4")).is_file())


def write_pair(folder: Path, name: str, work: Path, frames: int) -> int:
    """``work/in/<name>`` (output frames with their source frames) and ``work/ref/<name>_src``."""
    from raymouth.data import video

    fps = video.probe(folder / f"{name}_output.mp4").fps
    outputs = [rgb for _, _, rgb in islice(video.iter_frames(folder / f"{name}_output.mp4"), frames)]
    rows: list[dict] = []
    ref_path = work / "ref" / "frames" / f"{name}_src" / "part-00000.parquet"
    ref_path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(ref_path, frames_table([]).schema) as writer:  # the source, streamed: decoded once
        pending: list[dict] = []
        for i, _, src in video.iter_frames(folder / f"{name}_source.mp4"):
            pending.append(_row(f"{name}_src", i, fps, src, None))
            if i < len(outputs):
                rows.append(_row(name, i, fps, outputs[i], src))
            if len(pending) == ROWS_PER_GROUP:
                writer.write_table(frames_table(pending))
                pending = []
        if pending:
            writer.write_table(frames_table(pending))
    _write(work / "in" / "frames" / name / "part-00000.parquet", rows)
    return len(rows)


def _row(vid: str, i: int, fps: float, image, clean) -> dict:
    h, w = image.shape[:2]
    return {"video_id": vid, "frame_index": int(i), "fps": fps, "width": w, "height": h, "image": codec.encode(image),
            "reference": codec.encode(clean) if clean is not None else None}


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(frames_table(rows), path, row_group_size=ROWS_PER_GROUP)


def evaluate_pairs(folder: str, out_dir: str, cfg: Config, frames: int = 48, run_name: str | None = None, log: Callable[[str], None] = print) -> dict:
    """Write the data (once), run the job without and with the source clips, score both; writes
    ``<run_name>.json`` (default: the reference mode's name, ``finetune`` or ``guided``)."""
    from raymouth.job import pipeline

    run_name = run_name or cfg.reference.mode
    src, out = Path(folder), Path(out_dir)
    names = pairs_in(src)
    if not names:
        raise EvaluateError(f"{folder}: no <name>_output.mp4 with its <name>_source.mp4")
    marker = out / "data" / "pairs.json"  # written last: a re-run reuses the data and resumes the runs
    if not marker.is_file() or json.loads(marker.read_text()) != {"names": names, "frames": frames}:
        for name in names:
            log(f"evaluate-pairs: {name}: {write_pair(src, name, out / 'data', frames)} frames")
        marker.write_text(json.dumps({"names": names, "frames": frames}))
    (out / "map.csv").write_text("input_video_id,reference_video_id\n" + "".join(f"{n},{n}_src\n" for n in names))
    cfg = cfg.with_(pipeline__output_mode=schema.OUTPUT_FRAME)  # scoring reads whole frames
    data = str(out / "data" / "in")
    pipeline.run(data, str(out / "runs"), "shipped", cfg, log=log)
    pipeline.run(data, str(out / "runs"), run_name, cfg, log=log, ref_uri=str(out / "data" / "ref"), ref_map=str(out / "map.csv"))
    report = {"frames": frames, "mode": cfg.reference.mode, "shipped": score_run(out / "runs" / "shipped", out / "data" / "in"),
              "reference": score_run(out / "runs" / run_name, out / "data" / "in")}
    report["sheets"] = pair_sheets(out, run_name, names)
    (out / f"{run_name}.json").write_text(json.dumps(report, indent=2) + "\n")
    log(markdown(report))
    log(f"evaluate-pairs: contact sheets {', '.join(s['path'] for s in report['sheets'])}")
    return report


SHEET_FRAMES = 4  # frames per pair's contact sheet, evenly spaced
SHEET_CELL_PX = 192  # a cell's height the integer zoom aims at


def pair_sheets(out: Path, run_name: str, names: list[str], frames: int = SHEET_FRAMES) -> list[dict[str, Any]]:
    """Per pair, ``sheet_<name>.png``: a row per sampled frame, each mouth at the box the job used,
    zoomed by a whole factor (nearest): the lip-sync output, the shipped run's, the run with the
    source clip's, the source's own mouth, and (``reference.mode=guided``) the exemplar it retrieved.
    Returns each sheet's path and grid (``evaluate.sheets.grid_sheet``) with its rows' boxes."""
    from raymouth.data.sheet import sheet_positions
    from raymouth.evaluate.sheets import grid_sheet

    sheets = []
    for name in names:
        shipped, own = _frames(out / "runs" / "shipped", name), _frames(out / "runs" / run_name, name)
        index = _index(out / "runs" / run_name / "references" / f"{name}_src" / "index.parquet")
        keys = sorted(i for i in own if i in shipped and own[i]["mouth_box"] is not None)
        rows, boxes = [], []
        for i in [keys[p] for p in sheet_positions(len(keys), frames)]:
            box = tuple(int(v) for v in own[i]["mouth_box"])
            cut = lambda data: roi.crop(codec.decode(data)[0], box)  # noqa: E731
            cells = {"input": cut(own[i]["image"]), "shipped": cut(shipped[i]["enhanced"]), "own clip": cut(own[i]["enhanced"]), "source": cut(own[i]["reference"])}
            used = own[i].get("reference_frames") or []
            if index is not None and used and int(used[0]) in index[1]:
                cells["exemplar"] = sheet.fit_height(index[0].crop(index[1][int(used[0])]), box[3] - box[1])
            rows.append((f"frame {i}", cells))
            boxes.append(box)
        if not rows:
            continue
        zoom = max(1, round(SHEET_CELL_PX / max(b[3] - b[1] for b in boxes)))
        columns = [c for c in ("input", "shipped", "own clip", "source", "exemplar") if any(c in cells for _, cells in rows)]
        title = f"{name}: lip-sync output, shipped model, with its source clip ({run_name}), the source, zoomed {zoom}x"
        sheets.append({**grid_sheet(rows, columns, zoom, out / f"sheet_{name}.png", title), "pair": name, "boxes": boxes})
    return sheets


def _frames(run: Path, name: str) -> dict[int, dict]:
    """A run's rows of one video by frame index (frame mode: whole input, output and source frames)."""
    columns = ["frame_index", "image", "enhanced", "reference", "mouth_box"]
    table = pq.read_table(run / "frames", filters=[("video_id", "=", name)])
    columns += ["reference_frames"] if "reference_frames" in table.column_names else []
    return {r["frame_index"]: r for r in table.select(columns).to_pylist()}


def _index(path: Path) -> tuple[MouthIndex, dict[int, int]] | None:
    """The guided run's mouth index of one reference and its entries by reference frame index."""
    if not path.is_file():
        return None
    from raymouth.exemplar.index import read_index
    from raymouth.exemplar.retrieve import MouthIndex

    index = MouthIndex.from_table(read_index(path))
    return index, {int(f): k for k, f in enumerate(index.frame)}


def markdown(report: dict[str, Any]) -> str:
    """One row per pair: the mouth / face sharpness ratio in, out (shipped, own clip), the source's; how far
    each moved toward the source; seam and colour shift maxima; flicker ratio; lip shift; rejected rows."""
    lines = ["| pair | sharpness ratio: input | shipped | own clip | source | moved toward the source (shipped / own) | seam max ΔE | colour shift max ΔE | flicker ratio (shipped / own) | lip shift px at a 512 px face, mean (max): shipped / own | rejected (shipped / own) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for vid, a in report["shipped"].items():
        b = report["reference"].get(vid, {})
        if "sharpness_ratio_in" not in a or "sharpness_ratio_out" not in b:
            continue
        lines.append(f"| {vid} | {sharpness_cells(a, b)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from raymouth import config as config_mod

    ap = argparse.ArgumentParser(prog="python -m raymouth.evaluate.real_pairs", description=__doc__.splitlines()[0])
    ap.add_argument("pairs", help="folder of <name>_output.mp4 + <name>_source.mp4 (e.g. ../shared/fixtures/lipsync)")
    ap.add_argument("--out", required=True, help="local folder: the datasets, both runs, RUN_NAME.json")
    ap.add_argument("--frames", type=int, default=48, help="first N frames of each output")
    ap.add_argument("--run-name", default=None, help="run id of the run with the source clips (default: reference.mode, finetune or guided)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = ap.parse_args(argv)
    evaluate_pairs(args.pairs, args.out, config_mod.load(None, args.overrides), args.frames, args.run_name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
