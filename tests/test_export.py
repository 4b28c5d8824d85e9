"""raymouth.data.export: ingest -> export round trips of real clips, enhanced run folders, contact sheets."""
from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import fixture_path

from raymouth.config import Config, IngestConfig
from raymouth.data import codec, compose, schema, video
from raymouth.data.export import ExportError, export
from raymouth.data.ingest import ingest

CLIPS = ("video/retalking_face_5.mp4", "video/ip_lap_129.mp4")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def audio_stream_info(path) -> tuple[float, list[bytes]] | None:
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return None
        s = c.streams.audio[0]
        packets = [p for p in c.demux(s) if p.size]
        end = max((p.pts + p.duration) * p.time_base for p in packets)
        return float(end), [bytes(p) for p in packets]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Both real fixture clips ingested and exported back (image column)."""
    base = tmp_path_factory.mktemp("export")
    sources = [str(fixture_path(c)) for c in CLIPS]
    ingest(sources, str(base / "ds"), Config(ingest=IngestConfig(rows_per_file=64, rows_per_group=16)), use_ray=False)
    written = export(str(base / "ds"), str(base / "mp4"))
    return base, sources, written


def test_round_trip_keeps_frames_fps_and_audio(exported):
    base, sources, written = exported
    assert sorted(Path(p).name for p in written) == ["ip_lap_129.mp4", "retalking_face_5.mp4"]
    for src in sources:
        out = base / "mp4" / Path(src).name
        src_info, out_info = video.probe(src), video.probe(out)
        assert out_info.frame_count == src_info.frame_count
        assert out_info.fps == pytest.approx(src_info.fps, rel=1e-6)
        assert (out_info.width, out_info.height) == (src_info.width, src_info.height)
        src_audio, out_audio = audio_stream_info(src), audio_stream_info(out)
        assert (out_audio is None) == (src_audio is None) == (not src_info.has_audio)
        if src_audio:
            assert abs(out_audio[0] - src_audio[0]) <= 1 / src_info.fps
            assert out_audio[1] == src_audio[1]  # copied packet for packet
        ours = [rgb for _, _, rgb in video.iter_frames(out)]
        theirs = [rgb for _, _, rgb in video.iter_frames(src)]
        for i in (0, len(ours) // 2, len(ours) - 1):
            assert psnr(ours[i], theirs[i]) > 30


def test_nothing_half_written_is_left(exported):
    base, _, _ = exported
    assert sorted(p.name for p in (base / "mp4").iterdir()) == ["ip_lap_129.mp4", "retalking_face_5.mp4"]


def _enhanced_run(root: Path, run: Path, n: int = 30) -> dict[str, list[int]]:
    """An enhance-style run folder: flat files, the two videos' rows shuffled across files and row
    groups, ``enhanced`` = the frame with its mouth box painted a per-frame grey level."""
    rng = np.random.default_rng(0)
    rows, levels = [], {}
    for vid in ("retalking_face_5", "ip_lap_129"):
        files = sorted((root / "frames" / vid).glob("*.parquet"))
        table = pq.ParquetDataset([str(f) for f in files]).read().sort_by("frame_index").slice(0, n)
        levels[vid] = []
        for row in table.to_pylist():
            rgb, _ = codec.decode(row["image"])
            h, w = rgb.shape[:2]
            box = [w // 3, h // 2, w // 3 + w // 4, h // 2 + h // 6]
            level = (row["frame_index"] * 8 + 20) % 256
            out = rgb.copy()
            out[box[1] : box[3], box[0] : box[2]] = level
            levels[vid].append(level)
            rows.append({**row, "enhanced": codec.encode(out), "status": schema.STATUS_OK, "mouth_box": box, "run_id": "r1"})
    order = rng.permutation(len(rows))
    fields = [f for f in schema.ENHANCED if f.name in rows[0]] + [pa.field("source_path", pa.string())]
    table = pa.Table.from_pylist([rows[i] for i in order], schema=pa.schema(fields))
    (run / "frames").mkdir(parents=True)
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), run / "frames" / "part-0.parquet", row_group_size=7)
    pq.write_table(table.slice(half), run / "frames" / "part-1.parquet", row_group_size=7)
    return levels


def test_enhanced_run_folder_with_videos_option_and_sheet(exported, tmp_path):
    base, sources, _ = exported
    levels = _enhanced_run(base / "ds", tmp_path / "run")
    written = export(str(tmp_path / "run"), str(tmp_path / "out"), column="enhanced", contact_sheet=3,
                     videos_uri=str(base / "ds"))
    names = sorted(Path(p).name for p in written)
    assert names == ["ip_lap_129.mp4", "ip_lap_129_sheet.png", "retalking_face_5.mp4", "retalking_face_5_sheet.png"]
    for src in sources:
        vid = Path(src).stem
        out = tmp_path / "out" / f"{vid}.mp4"
        info = video.probe(out)
        assert info.frame_count == 30 and info.fps == pytest.approx(video.probe(src).fps)
        assert info.has_audio == video.probe(src).has_audio  # audio from the ingest dataset's videos table
        w, h = info.width, info.height
        for (i, _, rgb), level in zip(video.iter_frames(out), levels[vid]):  # frame_index order restored
            patch = rgb[h // 2 + 4 : h // 2 + h // 6 - 4, w // 3 + 4 : w // 3 + w // 4 - 4]
            assert abs(float(patch.mean()) - level) < 6, f"{vid} frame {i}"
        sheet, _ = codec.decode((tmp_path / "out" / f"{vid}_sheet.png").read_bytes())
        assert sheet.shape[0] == 3 * 256
        # last column of each row: the zoomed 'after' mouth = the painted box; below the label
        for row, frame in zip(range(3), (0, None, 29)):
            cell = sheet[row * 256 + 40 : row * 256 + 250, -60:-20]
            if frame is not None:
                assert abs(float(cell.mean()) - levels[vid][frame]) < 6
            assert cell.std() < 6


@pytest.mark.parametrize("videos", [None, "ds/frames", "ds/videos"])
def test_enhanced_frames_folder_with_or_without_videos_table(exported, tmp_path, videos):
    """Without a videos table fps comes from the frames and there is no audio; ``videos_uri`` may
    name the ingest dataset's frames or videos folder too (the demo passes its frames URI)."""
    base, _, _ = exported
    _enhanced_run(base / "ds", tmp_path / "run", n=10)
    written = export(str(tmp_path / "run" / "frames"), str(tmp_path / "out"), column="enhanced",
                     videos_uri=str(base / videos) if videos else None, video_ids=["retalking_face_5"])
    info = video.probe(written[0])
    assert [Path(p).name for p in written] == ["retalking_face_5.mp4"]
    assert info.frame_count == 10 and info.fps == pytest.approx(25.0) and info.has_audio == bool(videos)


def _patch_run(root: Path, run: Path, n: int = 30) -> dict[str, dict[int, np.ndarray]]:
    """A patch-mode run folder: no input frames, ``enhanced`` = the PNG of a box painted a
    per-frame grey level, every third row without a patch (a row not enhanced); rows shuffled
    across files and row groups. Returns the frames export should compose, by video and index."""
    rng = np.random.default_rng(1)
    rows, expected = [], {}
    for vid in ("retalking_face_5", "ip_lap_129"):
        files = sorted((root / "frames" / vid).glob("*.parquet"))
        table = pq.ParquetDataset([str(f) for f in files]).read().sort_by("frame_index").slice(0, n)
        expected[vid] = {}
        for row in table.to_pylist():
            rgb, _ = codec.decode(row.pop("image"))
            h, w = rgb.shape[:2]
            box = [w // 3, h // 2, w // 3 + w // 4, h // 2 + h // 6]
            patch = np.full((box[3] - box[1], box[2] - box[0], 3), (row["frame_index"] * 8 + 20) % 256, np.uint8)
            pasted = row["frame_index"] % 3 != 2
            expected[vid][row["frame_index"]] = compose.paste_patch(rgb, patch, box) if pasted else rgb
            rows.append({**row, "enhanced": codec.encode(patch) if pasted else None, "patch_box": box if pasted else None,
                         "status": schema.STATUS_OK if pasted else schema.STATUS_NO_FACE, "mouth_box": box, "run_id": "p1"})
    fields = [f for f in schema.PATCHES if f.name in rows[0]] + [pa.field("source_path", pa.string())]
    table = pa.Table.from_pylist([rows[i] for i in rng.permutation(len(rows))], schema=pa.schema(fields))
    schema.validate_patches(table.schema)
    (run / "frames").mkdir(parents=True)
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), run / "frames" / "part-0.parquet", row_group_size=7)
    pq.write_table(table.slice(half), run / "frames" / "part-1.parquet", row_group_size=7)
    return expected


def _frame_psnrs(mp4: Path, expected: dict[int, np.ndarray]) -> list[float]:
    return [psnr(rgb, expected[i]) for i, _, rgb in video.iter_frames(mp4)]


@pytest.mark.parametrize("how", ["videos", "run.json"])
def test_patch_run_is_joined_with_its_input_and_composed(exported, tmp_path, how):
    """The input frames come from --videos, or from the input the run recorded in run.json; the
    mp4 has every frame of the run, composed, in order, with the audio; the sheet too."""
    base, sources, _ = exported
    expected = _patch_run(base / "ds", tmp_path / "run")
    if how == "run.json":
        (tmp_path / "run" / "run.json").write_text(json.dumps({"input": str(base / "ds")}))
    written = export(str(tmp_path / "run"), str(tmp_path / "out"), contact_sheet=3,
                     videos_uri=str(base / "ds" / "videos") if how == "videos" else None)
    assert sorted(Path(p).name for p in written) == ["ip_lap_129.mp4", "ip_lap_129_sheet.png", "retalking_face_5.mp4", "retalking_face_5_sheet.png"]
    for src in sources:
        vid = Path(src).stem
        out = tmp_path / "out" / f"{vid}.mp4"
        info = video.probe(out)
        assert info.frame_count == 30 and info.fps == pytest.approx(video.probe(src).fps)
        assert info.has_audio == (how == "videos" and video.probe(src).has_audio)  # audio only from a videos table
        assert min(_frame_psnrs(out, expected[vid])) > 30  # each frame composed, in frame_index order
    inputs = export(str(tmp_path / "run"), str(tmp_path / "in"), column="image", videos_uri=str(base / "ds"), video_ids=["ip_lap_129"])
    frames = {i: rgb for i, _, rgb in video.iter_frames(inputs[0])}
    assert len(frames) == 30 and psnr(frames[0], expected["ip_lap_129"][0]) < psnr(frames[2], expected["ip_lap_129"][2])


def test_patch_run_without_its_input_fails_clearly(exported, tmp_path):
    base, _, _ = exported
    _patch_run(base / "ds", tmp_path / "run", n=6)
    with pytest.raises(ExportError, match="holds mouths, not frames; pass its input dataset with --videos"):
        export(str(tmp_path / "run"), str(tmp_path / "o"))
    other = tmp_path / "other"
    ingest([str(fixture_path(CLIPS[0]))], str(other), Config(), use_ray=False)
    with pytest.raises(ExportError, match="ip_lap_129: not in the input dataset"):
        export(str(tmp_path / "run"), str(tmp_path / "o"), videos_uri=str(other))


def test_bad_export_requests_fail_clearly(exported, tmp_path):
    base, _, _ = exported
    with pytest.raises(ExportError, match="no 'enhanced' column"):
        export(str(base / "ds"), str(tmp_path / "o"), column="enhanced")
    with pytest.raises(ExportError, match="no such file"):
        export(str(tmp_path / "missing"), str(tmp_path / "o"))
    with pytest.raises(ExportError, match="column must be"):
        export(str(base / "ds"), str(tmp_path / "o"), column="mask")
    with pytest.raises(ExportError, match="not a videos table"):
        export(str(base / "ds"), str(tmp_path / "o"), videos_uri=str(base / "ds" / "frames" / "ip_lap_129"))


def test_before_after_video_shows_the_input_and_the_output_mouth_side_by_side(exported, tmp_path):
    """``before_after``: one more mp4 per video, every frame of the run, the input's mouth (left)
    and the composed output's (right) at one fixed box, zoomed by a whole factor."""
    base, _, _ = exported
    expected = _patch_run(base / "ds", tmp_path / "run")
    written = export(str(tmp_path / "run"), str(tmp_path / "out"), videos_uri=str(base / "ds"), video_ids=["ip_lap_129"], before_after=True)
    assert sorted(Path(p).name for p in written) == ["ip_lap_129.mp4", "ip_lap_129_before_after.mp4"]
    frames = {i: rgb for i, _, rgb in video.iter_frames(tmp_path / "out" / "ip_lap_129_before_after.mp4")}
    assert sorted(frames) == sorted(expected["ip_lap_129"])
    h, w = expected["ip_lap_129"][0].shape[:2]
    box_h = h // 6  # _patch_run's box, grown 1.6x about its centre
    assert frames[0].shape[0] >= 300 and frames[0].shape[0] % int(1.6 * box_h) < 4
    left, right = np.hsplit(frames[0][:, : frames[0].shape[1] // 2 * 2], 2)
    # the patch is flat grey (frame_index * 8 + 20); the input there is the face: only "after" is flat
    mid = (slice(left.shape[0] // 3, 2 * left.shape[0] // 3), slice(left.shape[1] // 3, 2 * left.shape[1] // 3))
    assert right[mid].std() < 4 < left[mid].std()
    assert abs(float(right[mid].mean()) - 20) < 6
    unpasted = frames[2]  # frame 2 keeps its input (status no_face): both halves the same
    a, b = np.hsplit(unpasted[:, : unpasted.shape[1] // 2 * 2], 2)
    assert psnr(a[40:], b[40:]) > 30  # below the labels


def test_a_smaller_frame_in_a_before_after_video_shows_its_own_mouth_region():
    """A frame smaller than the first (mixed sizes) keeps the video's frame size: what is left of
    the box in it, stretched, not the whole frame squeezed in."""
    from raymouth.data.export import before_after_frames

    big = np.zeros((200, 200, 3), np.uint8)
    big[100:150, 100:150] = 200  # the mouth region, bright
    small = np.zeros((120, 120, 3), np.uint8)
    small[100:120, 100:120] = 200  # the part of the box inside the smaller frame, bright too
    frames = list(before_after_frames(iter([(big, big), (small, small)]), [(110, 110, 140, 140)] * 2))
    assert frames[0].shape == frames[1].shape
    half = frames[1][40:, : frames[1].shape[1] // 2]  # below the label
    assert half.mean() > 150  # the bright corner of the box, not the mostly dark whole frame
