"""Streaming video and image-folder I/O with PyAV (FFmpeg): frames in, frames + original audio out.

OpenCV has no audio, so everything that touches a video file goes through PyAV. Frames are
yielded one at a time (a whole video never sits in memory); audio is carried as the source's
own packets, remuxed into a small Matroska (``.mka``) blob, and copied back packet for packet
on export, so the sound is bit-identical to the source's.
"""
from __future__ import annotations

import io
import posixpath
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from raymouth.errors import UserError, one_line

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".webm", ".mkv")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
AUDIO_FORMAT = "mka"  # the container of the audio blob kept in the videos table

Frame = tuple[int, float, np.ndarray]  # (frame index from 0, timestamp in s, RGB uint8 H x W x 3)


class VideoError(UserError, RuntimeError):
    """A video or image folder cannot be read or written; the message is one line naming the path."""


@dataclass(frozen=True)
class VideoInfo:
    """What ingest and export need to know about a source before decoding it."""

    path: str
    fps: float
    frame_count: int  # from the container (0 when it does not say); ingest counts what it decodes
    width: int
    height: int
    duration_s: float
    has_audio: bool


def _looks_like_mp4(path: Path) -> bool:
    """An ISO-BMFF file (mp4/mov) starts with an 'ftyp' box: such a file that fails is cut or corrupt."""
    try:
        with open(path, "rb") as f:
            return f.read(12)[4:8] == b"ftyp"
    except OSError:
        return False


# Remote (S3) videos are read through an fsspec file with a read-ahead cache of this many bytes:
# FFmpeg seeks (moov atoms at the end) fetch ranges, never the whole object, so a task's memory
# is this buffer plus the decoder's, whatever the video's length.
REMOTE_BLOCK_BYTES = 8 * 2**20


def is_remote(path: str | Path) -> bool:
    return "://" in str(path)


@contextmanager
def _opened(path: str | Path, fs=None) -> Iterator[av.container.InputContainer]:
    """A video opened for reading, as a context manager. ``path`` is a local path, or (with
    ``fs``, an fsspec filesystem such as ``storage.s3fs_filesystem``) a remote URI that is
    streamed from the store; FFmpeg's errors become one clear line."""
    if fs is None and is_remote(path):
        raise VideoError(f"{path}: remote video given without a filesystem to read it")
    if fs is None:
        container = _open(path)
        try:
            yield container
        finally:
            container.close()
        return
    try:
        f = fs.open(str(path), "rb", block_size=REMOTE_BLOCK_BYTES, cache_type="readahead")
    except FileNotFoundError:
        raise VideoError(f"{path}: no such object") from None
    except IsADirectoryError:
        raise VideoError(f"{path}: is a prefix (folder), not a video file") from None
    except Exception as exc:  # botocore / aiohttp errors of many kinds
        raise VideoError(f"{path}: cannot be read ({type(exc).__name__}: {one_line(exc)})") from None
    try:
        try:
            container = av.open(f, mode="r")
        except av.error.FFmpegError as exc:
            f.seek(0)
            if f.read(12)[4:8] == b"ftyp":
                raise VideoError(f"{path}: MP4/MOV file cannot be read, probably truncated or corrupt ({one_line(exc)})") from None
            raise VideoError(f"{path}: not a readable video file ({one_line(exc)})") from None
        try:
            if not container.streams.video:
                raise VideoError(f"{path}: has no video stream")
            yield container
        finally:
            container.close()
    finally:
        f.close()


def _open(path: str | Path) -> av.container.InputContainer:
    """Open a local video for reading, turning FFmpeg's errors into one clear line."""
    p = Path(path)
    if not p.exists():
        raise VideoError(f"{p}: no such file")
    if p.is_dir():
        raise VideoError(f"{p}: is a folder, not a video file")
    try:
        container = av.open(str(p), mode="r")
    except av.error.FFmpegError as exc:
        if _looks_like_mp4(p):
            raise VideoError(f"{p}: MP4/MOV file cannot be read, probably truncated or corrupt ({one_line(exc)})") from None
        raise VideoError(f"{p}: not a readable video file ({one_line(exc)})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{p}: has no video stream")
    return container


def _fps(stream: av.video.stream.VideoStream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate or float(rate) <= 0:
        raise VideoError(f"{stream.container.name}: video stream has no frame rate")
    return float(rate)


def probe(path: str | Path, verify: bool = True, fs=None) -> VideoInfo:
    """Read a video's header (fps from ``average_rate``, size, length, audio or not).

    With ``verify`` the video packets are also demuxed (no decoding, milliseconds) so that a file
    cut short is caught here, before any output is written, instead of half way through ingest.
    A remote ``path`` is read through ``fs`` (see ``_opened``); verifying it reads the whole object.
    """
    with _opened(path, fs) as container:
        stream = container.streams.video[0]
        fps = _fps(stream)
        declared = int(stream.frames or 0)
        duration = float(stream.duration * stream.time_base) if stream.duration else 0.0
        if not duration and container.duration:
            duration = container.duration / av.time_base
        info = VideoInfo(
            path=str(path),
            fps=fps,
            frame_count=declared,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            duration_s=duration,
            has_audio=bool(container.streams.audio),
        )
        if verify:
            packets = _count_packets(container, stream, str(path))
            if packets == 0:
                raise VideoError(f"{path}: video stream holds no frames")
            if declared and packets < declared:
                raise VideoError(f"{path}: truncated: {packets} of {declared} video frames present")
            if not declared:
                info = VideoInfo(**{**info.__dict__, "frame_count": packets})
    if info.width <= 0 or info.height <= 0:
        raise VideoError(f"{path}: video stream has no frame size")
    return info


def _count_packets(container: av.container.InputContainer, stream, path: str) -> int:
    count = 0
    try:
        for packet in container.demux(stream):
            if packet.size:
                count += 1
    except av.error.FFmpegError as exc:
        raise VideoError(f"{path}: truncated or corrupt after {count} video packets ({one_line(exc)})") from None
    return count


def iter_frames(path: str | Path, fs=None) -> Iterator[Frame]:
    """Decode a video one frame at a time as RGB, with its time from the first frame (kept for VFR
    clips). A remote ``path`` is streamed through ``fs`` (see ``_opened``)."""
    with _opened(path, fs) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame threads: several times faster for H.264, same pixels
        fps = _fps(stream)
        index = 0
        start = None
        try:
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else index / fps
                start = t if start is None else start
                yield index, t - start, frame.to_ndarray(format="rgb24")
                index += 1
        except av.error.FFmpegError as exc:
            raise VideoError(f"{path}: decoding failed after {index} frames ({one_line(exc)})") from None
    if index == 0:
        raise VideoError(f"{path}: no frames could be decoded")


def extract_audio(path: str | Path, fs=None) -> bytes | None:
    """The source's first audio stream remuxed alone into Matroska bytes (packets copied, no re-encode).

    Matroska takes nearly every audio codec, so nothing is lost here; None when there is no audio.
    A remote ``path`` is streamed through ``fs`` (see ``_opened``).
    """
    with _opened(path, fs) as container:
        if not container.streams.audio:
            return None
        source = container.streams.audio[0]
        buf = io.BytesIO()
        with av.open(buf, mode="w", format="matroska") as out:
            target = out.add_stream_from_template(source)
            try:
                for packet in container.demux(source):
                    if packet.dts is None:  # the demuxer's end-of-stream marker
                        continue
                    packet.stream = target
                    out.mux(packet)
            except av.error.FFmpegError as exc:
                raise VideoError(f"{path}: reading the audio failed ({one_line(exc)})") from None
        return buf.getvalue()


def _natural_key(name: str) -> list:
    """'frame2.png' sorts before 'frame10.png'."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def image_files(folder: str | Path, fs=None) -> list:
    """The image files of a folder (not recursive) in natural file-name order: Paths, or with
    ``fs`` (an fsspec filesystem) the URIs of the objects directly under a remote prefix."""
    if fs is not None:
        uri = str(folder).rstrip("/")
        scheme = uri.split("://", 1)[0] + "://" if "://" in uri else ""
        try:
            entries = fs.ls(uri, detail=True)
        except FileNotFoundError:
            return []
        names = [e["name"] for e in entries if e.get("type") == "file" and posixpath.splitext(e["name"])[1].lower() in IMAGE_EXTENSIONS]
        names = [n if "://" in n else scheme + n for n in names]
        return sorted(names, key=lambda n: _natural_key(posixpath.basename(n)))
    p = Path(folder)
    # every name with an image suffix is a frame, even one that cannot be read (a broken link, a
    # folder, no permission): it becomes a decode_error row instead of silently vanishing
    try:
        files = [f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS]
    except OSError as e:
        raise VideoError(f"{p}: cannot list the folder ({e.strerror or e})") from None
    return sorted(files, key=lambda f: _natural_key(f.name))


def _read_image_bytes(f, fs=None) -> bytes:
    """The file's bytes; b"" for a local file that cannot be read (decode then marks it)."""
    if fs is not None:
        return fs.cat_file(str(f))
    try:
        return Path(f).read_bytes()
    except OSError:
        return b""


def probe_image_folder(folder: str | Path, fps: float, fs=None) -> VideoInfo:
    """An image folder seen as a video: its first image's size and the given frame rate, no audio.
    With ``fs`` the folder is a remote prefix (its first readable image is fetched)."""
    from raymouth.data import codec
    if fs is None:
        p = Path(folder)
        if not p.is_dir():
            raise VideoError(f"{p}: no such folder")
    else:
        p = str(folder).rstrip("/")
    files = image_files(p, fs)
    if not files:
        raise VideoError(f"{p}: folder has no images ({', '.join(IMAGE_EXTENSIONS)})")
    first_problem = None
    for f in files:  # the first readable image gives the size; unreadable ones become decode_error rows
        rgb, status = codec.decode(_read_image_bytes(f, fs))
        if rgb is not None:
            break
        first_problem = first_problem or f"{f}: not a readable image ({status})"
    else:
        raise VideoError(f"{p}: none of its {len(files)} images is readable ({first_problem})")
    h, w = rgb.shape[:2]
    return VideoInfo(str(p), float(fps), len(files), w, h, len(files) / fps, False)


def iter_image_folder(folder: str | Path, fps: float = 25.0) -> Iterator[Frame]:
    """Decode a folder of images as the frames of one video (natural name order, timestamps i/fps).

    Every image must be readable and have the first one's size: a video cannot change size half
    way. (``iter_image_files`` lets unreadable images through instead.)
    """
    for index, t, rgb, data, path in iter_image_files(folder, fps):
        if rgb is None:
            raise VideoError(f"{path}: not a readable image ({data[1]})")
        yield index, t, rgb


def iter_image_files(folder: str | Path, fps: float = 25.0, fs=None) -> Iterator[tuple[int, float, np.ndarray | None, object, Path]]:
    """``(index, timestamp, rgb, data, path)`` for every image of a folder, in natural name order.

    A readable image has ``rgb`` (``data`` is None); an unreadable one has ``rgb`` None and
    ``data`` = (its file bytes, the decode status), so ingest can keep it as a frame that enhance
    passes through as ``decode_error``. Readable images must all have the first one's size. With
    ``fs`` the folder is a remote prefix and each image is fetched when its turn comes.
    """
    from raymouth.data import codec
    size = None
    for index, f in enumerate(image_files(folder, fs)):
        raw = _read_image_bytes(f, fs)
        rgb, status = codec.decode(raw)
        if rgb is None:
            yield index, index / fps, None, (raw, status), f
            continue
        if size is None:
            size = rgb.shape[:2]
        elif rgb.shape[:2] != size:
            raise VideoError(f"{f}: size {rgb.shape[1]}x{rgb.shape[0]} differs from the folder's first image {size[1]}x{size[0]}")
        yield index, index / fps, rgb, None, f
