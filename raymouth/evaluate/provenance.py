"""Where each evaluated clip comes from, and whether the shipped weights trained on that source.

Held-out *people* from the training's own sources (repositories, cameras, datasets) flatter a
model: same encoders, same lighting, same skin look. A clip from a source nothing trained on is
what a user brings, so `raymouth evaluate` reports the two groups side by side. A clip's source is
the ``source_repo`` column of a ``MANIFEST.tsv`` (tab-separated, with a ``path`` column) found in
the clip's folder tree; the trained sources are those of the videos the weights' manifests list.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "MANIFEST.tsv"
IN_SOURCE = "in-source"
OUT_OF_SOURCE = "out-of-source"
UNKNOWN = "unknown source"
GROUPS = (OUT_OF_SOURCE, IN_SOURCE, UNKNOWN)


@dataclass(frozen=True)
class Provenance:
    """One clip's source and group; ``trained_on`` when the weights trained on this very clip."""

    video_id: str
    source: str | None
    group: str
    trained_on: bool = False


def read_manifest(path: Path) -> dict[str, str]:
    """video id (the file name's stem, sanitised as ingest does) -> source_repo of one manifest."""
    from raymouth.data.sources import sanitize_id
    from raymouth.evaluate.clips import EvaluateError

    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f, delimiter="\t")
            rows = list(reader)
    except OSError as e:
        raise EvaluateError(f"{path}: cannot read the manifest ({e.strerror or e})") from None
    if not {"path", "source_repo"} <= set(reader.fieldnames or ()):
        raise EvaluateError(f"{path}: a manifest needs tab-separated columns path and source_repo")
    return {sanitize_id(Path(r["path"]).stem): r["source_repo"] for r in rows if r.get("path") and r.get("source_repo")}


def manifests_near(paths: list[str | Path]) -> list[Path]:
    """Every MANIFEST.tsv under the topmost folder above each path that still holds one.

    The fixture layout keeps one manifest per folder (``fixtures/``, ``fixtures/train/``...); the
    training videos live beside the evaluated ones, so the whole tree is read once.
    """
    roots: set[Path] = set()
    for p in paths:
        top = None
        for parent in Path(p).resolve().parents:
            if (parent / MANIFEST).is_file():
                top = parent
        if top is not None:
            roots.add(top)
    return sorted({m for root in roots for m in root.rglob(MANIFEST)})


def source_book(manifests: list[Path]) -> dict[str, str]:
    """video id -> source over several manifests (the first that names a video wins)."""
    book: dict[str, str] = {}
    for m in manifests:
        for vid, src in read_manifest(m).items():
            book.setdefault(vid, src)
    return book


def classify(video_ids: list[str], book: dict[str, str], trained_videos: set[str]) -> dict[str, Provenance]:
    """Each clip's group: out-of-source when its source is known and no trained video shares it."""
    trained_sources = {book[v] for v in trained_videos if v in book}
    out: dict[str, Provenance] = {}
    for vid in video_ids:
        src = book.get(vid)
        if src is None or not trained_videos:
            group = UNKNOWN
        else:
            group = IN_SOURCE if src in trained_sources else OUT_OF_SOURCE
        out[vid] = Provenance(vid, src, group, vid in trained_videos)
    return out


def provenance_of(clips: dict[str, str], trained_videos: set[str], extra_manifests: list[Path] | None = None) -> dict[str, Provenance]:
    """video id -> Provenance for clips given as video id -> where it was read from."""
    local = [src for src in clips.values() if not str(src).startswith("s3://")]
    book = source_book([*(extra_manifests or []), *manifests_near(local)])
    return classify(list(clips), book, trained_videos)


def grouped(provenance: dict[str, dict]) -> dict[str, list[str]]:
    """group -> clip ids (``provenance``: video id -> a ``Provenance`` as a dict), groups in
    ``GROUPS`` order, empty ones left out."""
    return {g: ids for g in GROUPS if (ids := sorted(v for v, p in provenance.items() if p["group"] == g))}
