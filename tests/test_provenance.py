"""Which source each evaluated clip comes from: manifests read from real files, the fixture tree's
own manifests and the shipped weights' training lists."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import fixture_path

from raymouth.evaluate.clips import EvaluateError
from raymouth.evaluate.heldout import training_videos
from raymouth.evaluate.provenance import IN_SOURCE, OUT_OF_SOURCE, UNKNOWN, classify, manifests_near, provenance_of, read_manifest, source_book


def _manifest(folder: Path, rows: list[tuple[str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "MANIFEST.tsv"
    path.write_text("path\tbytes\tsource_repo\n" + "".join(f"{p}\t1\t{s}\n" for p, s in rows))
    return path


def test_manifests_are_found_from_the_top_of_the_tree(tmp_path):
    top = _manifest(tmp_path / "fx", [("video/a clip.mp4", "org/one")])
    sub = _manifest(tmp_path / "fx" / "train", [("video/b.mp4", "org/two"), ("video/c.mp4", "org/one")])
    (tmp_path / "fx" / "video").mkdir()
    clip = tmp_path / "fx" / "video" / "a clip.mp4"
    clip.write_bytes(b"")
    assert manifests_near([clip]) == sorted([top, sub])
    assert manifests_near([tmp_path / "elsewhere.mp4"]) == []
    book = source_book(manifests_near([clip]))
    assert book == {"a_clip": "org/one", "b": "org/two", "c": "org/one"}


def test_a_source_any_trained_video_shares_is_in_source():
    book = {"a": "org/one", "b": "org/two", "c": "org/one", "d": "org/three"}
    got = classify(["a", "b", "d", "zz"], book, trained_videos={"c", "b"})
    assert got["a"].group == IN_SOURCE and not got["a"].trained_on  # same source as c, another clip
    assert got["b"].group == IN_SOURCE and got["b"].trained_on
    assert got["d"].group == OUT_OF_SOURCE and got["d"].source == "org/three"
    assert got["zz"].group == UNKNOWN and got["zz"].source is None
    assert classify(["a"], book, trained_videos=set())["a"].group == UNKNOWN  # no training list: cannot tell


def test_a_manifest_without_its_columns_is_one_clear_error(tmp_path):
    bad = tmp_path / "m.tsv"
    bad.write_text("file\trepo\nx.mp4\torg/x\n")
    with pytest.raises(EvaluateError, match="path and source_repo"):
        read_manifest(bad)
    with pytest.raises(EvaluateError, match="cannot read"):
        read_manifest(tmp_path / "missing.tsv")


def test_the_fixture_sources_against_the_shipped_weights():
    """train2's clips come from repositories no shipped model trained on; ip_lap_129 was trained on."""
    names = {"tpsmm_driving_jackiechan": "train2/tpsmm_driving_jackiechan.mp4", "ip_lap_129": "video/ip_lap_129.mp4", "liveportrait_d10": "video/liveportrait_d10.mp4"}
    clips = {vid: str(fixture_path(rel)) for vid, rel in names.items()}
    got = provenance_of(clips, training_videos())
    assert got["tpsmm_driving_jackiechan"].group == OUT_OF_SOURCE
    assert got["ip_lap_129"].group == IN_SOURCE and got["ip_lap_129"].trained_on
    assert got["liveportrait_d10"].group == IN_SOURCE and not got["liveportrait_d10"].trained_on
