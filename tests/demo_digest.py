"""Digests of what ``raymouth demo``'s steps write, over the bytes that do not depend on when or where they ran.

``python tests/demo_digest.py WORKDIR`` runs the demo's steps in WORKDIR (an empty folder) and
prints the digests in the format of ``tests/data/demo_digest.txt`` (checked by ``tests/test_cli.py``).

The demo itself starts from an H.264 encode of the sample clip, and libx264 here does not give the
same bytes twice for the same frames (measured: two encodes of one frame list decode differently
from the second frame on), so ``run_demo`` feeds the demo's frames to ingest as a PNG folder
instead of an mp4; everything after that is the demo's own code: ingest, ``pipeline.run`` with the
default config, ``export`` with a 6-frame contact sheet.

What the run writes depends on the CPU: a fresh install of one commit gave other run digests on an
AVX-512 machine than on an AVX2 one, the dataset's equal (limiting oneDNN to AVX2 did not give the
AVX2 bytes back, so it is not oneDNN's kernels alone). The run's digests are recorded per CPU kind
(``name@kind``, ``cpu_kind``); the ingested dataset's hold everywhere (plain ``name``).

Left out: paths (``source_path``, ``input``/``output``), times (``wall_s``, ``frames_per_s``, ...),
``run.json``, and the exported mp4 (the same encoder); the contact sheet counts by its decoded pixels.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

PATH_COLUMNS = ("source_path",)
MODEL_DEPENDENT = ("run_frames", "run_metrics", "summary", "export_sheet")  # recorded per cpu_kind
SUMMARY_KEYS = ("run_id", "rows", "status_counts", "reject_reason_counts", "metric_means", "model_versions", "output_mode", "config_hash")


def _table_digest(files: list[Path]) -> str:
    """sha256 over every column (but paths) of the rows of ``files``, in key order."""
    table = pa.concat_tables([pq.read_table(f) for f in sorted(files)])
    table = table.drop_columns([c for c in PATH_COLUMNS if c in table.column_names])
    table = table.sort_by([(k, "ascending") for k in ("video_id", "frame_index") if k in table.column_names])
    digest = hashlib.sha256()
    for name in table.column_names:
        digest.update(f"{name}:{table.schema.field(name).type}\n".encode())
        for value in table.column(name).to_pylist():
            digest.update(value if isinstance(value, bytes) else repr(value).encode())
            digest.update(b"\x00")
    return digest.hexdigest()


def _image_digest(path: Path) -> str:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return hashlib.sha256(f"{img.shape}".encode() + np.ascontiguousarray(img).tobytes()).hexdigest()


def digests(workdir: str | Path) -> dict[str, str]:
    """Name -> sha256 of each deterministic part of a demo's output under ``workdir``."""
    work = Path(workdir)
    run = work / "enhanced" / "demo"
    summary = json.loads((run / "summary.json").read_text())
    return {
        "dataset_frames": _table_digest(list((work / "dataset" / "frames").rglob("*.parquet"))),
        "dataset_videos": _table_digest(list((work / "dataset" / "videos").rglob("*.parquet"))),
        "run_frames": _table_digest(list((run / "frames").glob("*.parquet"))),
        "run_metrics": _table_digest(list((run / "metrics").glob("*.parquet"))),
        "summary": hashlib.sha256(json.dumps({k: summary.get(k) for k in SUMMARY_KEYS}, sort_keys=True).encode()).hexdigest(),
        "export_sheet": _image_digest(work / "export" / "sample_sheet.png"),
    }


def run_demo(workdir: str | Path, log=lambda *_: None) -> Path:
    """``raymouth demo``'s steps in ``workdir`` with its frames given as PNG files (see above)."""
    import cv2

    from raymouth.config import Config
    from raymouth.data.export import export
    from raymouth.data.ingest import ingest
    from raymouth.data.sample import sample_frames
    from raymouth.job.pipeline import run

    work = Path(workdir)
    folder = work / "sample"
    folder.mkdir(parents=True)
    for i, rgb in enumerate(sample_frames()):
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    cfg = Config()
    ingest([str(folder)], str(work / "dataset"), cfg, use_ray=False)
    frames_uri = str(work / "dataset" / "frames")
    summary = run(frames_uri, str(work / "enhanced"), "demo", cfg, log=log)
    export(summary["output"], str(work / "export"), column=None, contact_sheet=6, cfg=cfg, videos_uri=frames_uri)
    return work


def cpu_kind() -> str:
    """``avx512`` or ``avx2`` (or ``other``): this CPU's widest vector unit."""
    try:
        flags = set(next(l for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("flags")).split())
    except (OSError, StopIteration):
        return "other"
    return "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"


def read_recorded(path: str | Path, kind: str) -> dict[str, str]:
    """The digests of a digest file that hold on a ``kind`` CPU: every ``name sha256`` line and the
    ``name@kind sha256`` lines (``#`` comments and blank lines skipped)."""
    out = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, value = line.split()
            name, _, for_kind = key.partition("@")
            if not for_kind or for_kind == kind:
                out[name] = value
    return out


def lines(got: dict[str, str], kind: str) -> list[str]:
    """Digest-file lines for ``got`` measured on a ``kind`` CPU."""
    return [f"{name}@{kind} {v}" if name in MODEL_DEPENDENT else f"{name} {v}" for name, v in got.items()]


if __name__ == "__main__":
    with contextlib.redirect_stdout(sys.stderr):  # ingest and export print progress: keep stdout to the digests
        work = run_demo(sys.argv[1])
    print("\n".join(lines(digests(work), cpu_kind())))
