"""Writing video: RGB frames -> H.264 MP4 (yuv420p), the audio blob of the videos table muxed
alongside (copied as it is, or re-encoded to AAC where MP4 cannot carry its codec).
"""
from __future__ import annotations

import io
import itertools
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import av
import numpy as np

from raymouth.data.video import VideoError
from raymouth.errors import one_line

# Audio codecs the MP4 muxer takes as they are; others are re-encoded to AAC on export.
_MP4_AUDIO_CODECS = {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}


def even_size(width: int, height: int) -> tuple[int, int]:
    """H.264 in yuv420p needs even sides: odd ones get one more row/column (see ``_pad_even``)."""
    return width + width % 2, height + height % 2


def _pad_even(rgb: np.ndarray) -> np.ndarray:
    """Pad an odd-sized frame by repeating its last row/column, so every source pixel is kept
    (cropping would lose a line; scaling would touch every pixel)."""
    h, w = rgb.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return rgb
    return np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _rate(fps: float) -> Fraction:
    """29.97 -> 30000/1001, 25.0 -> 25: the NTSC rates survive the float round trip."""
    if fps <= 0:
        raise VideoError(f"frame rate must be positive, got {fps}")
    return Fraction(fps).limit_denominator(1001)


def write_mp4(
    frames: Iterable[np.ndarray],
    fps: float,
    out_path: str | Path,
    audio: bytes | None = None,
    crf: int = 17,
) -> int:
    """Encode RGB frames as H.264 (yuv420p, CRF ``crf``) into an MP4, muxing ``audio`` if given.

    ``audio`` is a blob from :func:`extract_audio`; its packets are copied as they are (re-encoded
    to AAC only when MP4 cannot carry the codec) and interleaved with the video as it is written,
    so memory stays bounded. Odd frame sizes are padded by one edge row/column (H.264 4:2:0 needs
    even sides). Every frame must have the first one's size. Returns the number of frames written.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    rate = _rate(fps)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise VideoError(f"{out_path}: no frames to write")
    height, width = first.shape[:2]
    audio_in = av.open(io.BytesIO(audio), mode="r") if audio else None
    count = 0
    try:
        with av.open(str(out_path), mode="w", format="mp4") as out:
            video = _add_video_stream(out, rate, *even_size(width, height), crf)  # stream 0: video
            audio_track = _AudioTrack(audio_in, out) if audio_in and audio_in.streams.audio else None
            for rgb in itertools.chain([first], frames):
                if rgb.shape[:2] != (height, width):
                    raise VideoError(f"{out_path}: frame {count} is {rgb.shape[1]}x{rgb.shape[0]}, the first was {width}x{height}")
                rgb = _pad_even(np.ascontiguousarray(rgb, dtype=np.uint8))
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
                frame.pts = count
                frame.time_base = 1 / rate
                if audio_track:  # audio up to this frame's time first: interleaved, bounded buffers
                    audio_track.mux_until(count / rate)
                out.mux(video.encode(frame))
                count += 1
            out.mux(video.encode(None))
            if audio_track:
                audio_track.mux_until(None)
    except av.error.FFmpegError as exc:
        raise VideoError(f"{out_path}: writing failed ({one_line(exc)})") from None
    finally:
        if audio_in:
            audio_in.close()
    return count


def _add_video_stream(out, rate: Fraction, width: int, height: int, crf: int):
    stream = out.add_stream("libx264", rate=rate)
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p"
    stream.codec_context.time_base = 1 / rate
    stream.options = {"crf": str(crf), "preset": "medium"}
    return stream


class _AudioTrack:
    """Feeds the audio blob's packets into the MP4 alongside the video, copied or re-encoded to AAC."""

    def __init__(self, source: av.container.InputContainer, out: av.container.OutputContainer) -> None:
        self.src = source.streams.audio[0]
        self.copy = self.src.codec_context.name in _MP4_AUDIO_CODECS
        if self.copy:
            self.dst = out.add_stream_from_template(self.src)
        else:
            self.dst = out.add_stream("aac", rate=self.src.codec_context.sample_rate or 48000)
            self.dst.layout = self.src.codec_context.layout
        self.out = out
        self.packets = source.demux(self.src)
        self.held = None  # the first packet not yet muxed (it lies after the current video time)
        self.finished = False

    def _next(self):
        if self.held is not None:
            packet, self.held = self.held, None
            return packet
        for packet in self.packets:
            if packet.dts is not None:
                return packet
        return None

    def mux_until(self, t: float | None) -> None:
        """Mux packets starting before time ``t`` seconds (all of them when ``t`` is None)."""
        if self.finished:
            return
        while (packet := self._next()) is not None:
            pts = packet.pts if packet.pts is not None else packet.dts
            if t is not None and pts * packet.time_base > t:
                self.held = packet
                return
            self._mux(packet)
        self.finished = True
        if not self.copy:
            self.out.mux(self.dst.encode(None))

    def _mux(self, packet) -> None:
        if self.copy:
            packet.stream = self.dst
            self.out.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None  # the encoder's resampler re-times the samples
            self.out.mux(self.dst.encode(frame))
