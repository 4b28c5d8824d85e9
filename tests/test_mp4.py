"""raymouth.data.mp4: H.264 writing (odd sizes padded, NTSC rates kept, audio copied), errors."""
from __future__ import annotations

from fractions import Fraction

import av
import pytest
from conftest import fixture_path
from test_video import audio_packets, decode_all, gradient_frames, psnr

from raymouth.data import mp4, video


def test_write_mp4_pads_odd_sizes_keeps_rate_and_copies_audio(tmp_path):
    src = fixture_path("video/retalking_face_5.mp4")
    frames = gradient_frames(12, 161, 121)
    out = tmp_path / "odd.mp4"
    fps = 30000 / 1001
    assert mp4.write_mp4(iter(frames), fps, out, video.extract_audio(src)) == 12
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert (v.width, v.height) == (162, 122)  # padded by one edge row and column
        assert v.average_rate == Fraction(30000, 1001)
        assert v.codec_context.name == "h264" and v.codec_context.pix_fmt == "yuv420p"
    decoded = decode_all(out)
    assert len(decoded) == 12
    for ours, theirs in zip(frames, decoded):
        assert psnr(ours, theirs[:121, :161]) > 35
        assert psnr(theirs[121, :161], theirs[120, :161]) > 30  # the pad repeats the edge
    assert audio_packets(out) == audio_packets(src)


def test_write_mp4_rejects_size_change_and_empty_input(tmp_path):
    frames = gradient_frames(2, 64, 48) + gradient_frames(1, 32, 32)
    with pytest.raises(video.VideoError, match="32x32"):
        mp4.write_mp4(frames, 25, tmp_path / "x.mp4")
    with pytest.raises(video.VideoError, match="no frames"):
        mp4.write_mp4([], 25, tmp_path / "y.mp4")
