"""raymouth.data.video on real fixture clips: probe, streaming decode, audio, image folders, errors (writing: tests/test_mp4.py)."""
from __future__ import annotations

import av
import numpy as np
import pytest
from conftest import fixture_path

from raymouth.data import codec, video


def audio_packets(path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def decode_all(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]


def gradient_frames(n: int, width: int, height: int) -> list[np.ndarray]:
    """Smooth moving gradients: H.264 keeps them nearly exact, so a round trip is checkable."""
    ys, xs = np.mgrid[0:height, 0:width]
    return [
        np.stack([xs * 200 // width + i * 4, ys * 200 // height, np.full_like(xs, 40 + i * 10)], axis=-1).astype(np.uint8)
        for i in range(n)
    ]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_probe_reads_header_and_counts_frames():
    info = video.probe(fixture_path("video/retalking_face_5.mp4"))
    with av.open(info.path) as c:
        s = c.streams.video[0]
        expected = (float(s.average_rate), s.width, s.height, s.frames)
    assert (info.fps, info.width, info.height, info.frame_count) == expected
    assert info.has_audio and info.duration_s > 0
    silent = video.probe(fixture_path("video/ip_lap_129.mp4"))
    assert not silent.has_audio and silent.frame_count > 0


def test_iter_frames_streams_every_frame_with_times():
    path = fixture_path("video/ip_lap_129.mp4")
    reference = decode_all(path)
    seen = 0
    last_t = -1.0
    for (index, t, rgb), ref in zip(video.iter_frames(path), reference, strict=True):
        assert index == seen and t > last_t
        assert np.array_equal(rgb, ref)
        seen, last_t = seen + 1, t
    assert seen == video.probe(path).frame_count


def test_extract_audio_copies_packets_and_none_without_audio():
    src = fixture_path("video/retalking_face_5.mp4")
    blob = video.extract_audio(src)
    assert blob and len(blob) < src.stat().st_size
    import io

    with av.open(io.BytesIO(blob)) as c:
        assert not c.streams.video
        packets = [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]
    assert packets == audio_packets(src)
    assert video.extract_audio(fixture_path("video/ip_lap_129.mp4")) is None


def test_image_folder_in_natural_order(tmp_path):
    frames = gradient_frames(11, 40, 30)
    for i, rgb in enumerate(frames):
        (tmp_path / f"f{i}.png").write_bytes(codec.encode(rgb))
    (tmp_path / "notes.txt").write_text("ignored")
    out = list(video.iter_image_folder(tmp_path, fps=10))
    assert [i for i, _, _ in out] == list(range(11))
    assert all(np.array_equal(rgb, ref) for (_, _, rgb), ref in zip(out, frames))
    assert out[10][1] == pytest.approx(1.0)
    info = video.probe_image_folder(tmp_path, 10)
    assert (info.frame_count, info.width, info.height, info.has_audio) == (11, 40, 30, False)
    (tmp_path / "f11.png").write_bytes(codec.encode(gradient_frames(1, 20, 20)[0]))
    with pytest.raises(video.VideoError, match="f11.png.*differs"):
        list(video.iter_image_folder(tmp_path))


def _bad_inputs(tmp_path):
    src = fixture_path("video/retalking_face_5.mp4")
    text = tmp_path / "text.mp4"
    text.write_text("this is not a video\n")
    half = tmp_path / "half.mp4"
    half.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    return {"missing": (tmp_path / "nope.mp4", "no such file"), "text": (text, "not a readable video"),
            "truncated": (half, "truncated")}


@pytest.mark.parametrize("case", ["missing", "text", "truncated"])
def test_bad_files_raise_one_clear_line(tmp_path, case):
    path, words = _bad_inputs(tmp_path)[case]
    for call in (video.probe, lambda p: list(video.iter_frames(p)), video.extract_audio):
        with pytest.raises(video.VideoError) as err:
            call(path)
        msg = str(err.value)
        assert str(path) in msg and words in msg and "\n" not in msg


def test_truncated_faststart_file_is_caught_by_probe(tmp_path):
    """moov at the front: the header opens fine, the missing frames are found by demuxing."""
    src = fixture_path("video/ip_lap_129.mp4")
    fast = tmp_path / "fast.mp4"
    with av.open(str(src)) as i, av.open(str(fast), "w", options={"movflags": "faststart"}) as o:
        s_in = i.streams.video[0]
        s_out = o.add_stream_from_template(s_in)
        for p in i.demux(s_in):
            if p.dts is not None:
                p.stream = s_out
                o.mux(p)
    assert video.probe(fast).frame_count == video.probe(src).frame_count
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(fast.read_bytes()[: fast.stat().st_size // 2])
    with pytest.raises(video.VideoError, match=r"cut\.mp4: truncated: \d+ of 270"):
        video.probe(cut)


def test_remote_video_streams_through_an_fsspec_filesystem(s3_env):
    """An s3:// object read through s3fs: same header, same frames, same audio packets as the file."""
    from raymouth.data import storage
    src = fixture_path("video/retalking_face_5.mp4")
    bucket = s3_env.make_bucket()
    s3_env.client().upload_file(str(src), bucket, "v/clip.mp4")
    fs = storage.s3fs_filesystem()
    uri = f"s3://{bucket}/v/clip.mp4"
    local, remote = video.probe(src), video.probe(uri, fs=fs)
    assert (remote.fps, remote.frame_count, remote.width, remote.height, remote.has_audio) == (
        local.fps, local.frame_count, local.width, local.height, local.has_audio)
    frames = decode_all(src)
    got = [rgb for _, _, rgb in video.iter_frames(uri, fs)]
    assert len(got) == len(frames) and all(np.array_equal(a, b) for a, b in zip(got, frames))
    import io

    with av.open(io.BytesIO(video.extract_audio(uri, fs))) as c:
        assert [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size] == audio_packets(src)
    with pytest.raises(video.VideoError, match="no such object"):
        video.probe(f"s3://{bucket}/v/missing.mp4", fs=fs)
    with pytest.raises(video.VideoError, match="without a filesystem"):
        video.probe(uri)
