"""What `raymouth ingest` reads: its sources (local or ``s3://`` video files, folders or prefixes
of images) expanded, given dataset ids and probed, all before any output is written.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from raymouth.config import Config
from raymouth.data import storage, video
from raymouth.errors import UserError


class IngestError(UserError, RuntimeError):
    """A source or the output cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class Source:
    """One input video: a video file or a folder of images, with its dataset id."""

    path: str
    video_id: str
    kind: str  # "video" | "images"
    info: video.VideoInfo | None  # None for an s3:// source: probed by the task that reads it

    @property
    def remote(self) -> bool:
        return storage.is_s3(self.path)


def _is_video_file(path: Path) -> bool:
    return path.suffix.lower() in video.VIDEO_EXTENSIONS


def expand_sources(sources: list[str], cfg: Config | None = None) -> list[tuple[str, str]]:
    """(path, kind) for every source. A folder with images is one video; a folder holding only
    video files stands for those videos (not recursive). ``s3://`` sources follow the same rules
    and may also be a prefix whose sub-prefixes are image folders; they are only listed here (no
    object is read). Raises IngestError on the first bad one."""
    found: list[tuple[str, str]] = []
    for raw in sources:
        if storage.is_s3(raw):
            found.extend(_expand_s3(raw, cfg or Config()))
            continue
        p = Path(raw).expanduser()
        if "://" in raw:
            raise IngestError(f"{raw}: sources must be local files or folders, or s3:// URIs")
        if not p.exists():
            raise IngestError(f"{p}: no such file or folder")
        if p.is_dir():
            if video.image_files(p):
                found.append((str(p.resolve()), "images"))
                continue
            videos = sorted(f for f in p.iterdir() if f.is_file() and _is_video_file(f))
            if not videos:
                raise IngestError(f"{p}: folder has neither images nor videos")
            found.extend((str(f.resolve()), "video") for f in videos)
        elif _is_video_file(p):
            found.append((str(p.resolve()), "video"))
        else:
            exts = ", ".join(video.VIDEO_EXTENSIONS)
            raise IngestError(f"{p}: unsupported file type '{p.suffix}' (videos: {exts}; or a folder of images)")
    return found


def _expand_s3(raw: str, cfg: Config) -> list[tuple[str, str]]:
    """An ``s3://`` video object, a prefix of images (one video), or a prefix holding videos
    and/or sub-prefixes of images (one video each). Listing only."""
    import pyarrow.fs as pafs

    try:
        loc = storage.check_readable(raw, cfg.storage)
        info = loc.fs.get_file_info(loc.path)
        if info.type == pafs.FileType.File:
            if not _is_video_file(Path(loc.path)):
                exts = ", ".join(video.VIDEO_EXTENSIONS)
                raise IngestError(f"{loc.uri}: unsupported file type '{Path(loc.path).suffix}' (videos: {exts}; or a prefix of images)")
            return [(loc.uri, "video")]
        entries = loc.fs.get_file_info(pafs.FileSelector(loc.path, recursive=False))
    except storage.StorageError as exc:
        raise IngestError(str(exc)) from None
    files = sorted(e.path for e in entries if e.type == pafs.FileType.File)
    if any(Path(f).suffix.lower() in video.IMAGE_EXTENSIONS for f in files):
        return [(loc.uri, "images")]
    found = [("s3://" + f, "video") for f in files if _is_video_file(Path(f))]
    for d in sorted(e.path for e in entries if e.type == pafs.FileType.Directory):
        inner = loc.fs.get_file_info(pafs.FileSelector(d, recursive=False))
        if any(e.type == pafs.FileType.File and Path(e.path).suffix.lower() in video.IMAGE_EXTENSIONS for e in inner):
            found.append(("s3://" + d, "images"))
    if not found:
        raise IngestError(f"{loc.uri}: prefix has neither images, videos nor folders of images")
    return found


def sanitize_id(name: str) -> str:
    """A file stem made safe as a folder/object name: letters, digits, '.', '_', '-'."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")
    return clean or "video"


def assign_ids(paths: list[str]) -> list[str]:
    """Ids from the file stems; stems shared by several paths get a short hash of the full path,
    so the same file gets the same id whatever the order or the other sources of a run."""
    stems = [sanitize_id(Path(p).stem if Path(p).suffix else Path(p).name) for p in paths]
    counts: dict[str, int] = {}
    for s in stems:
        counts[s] = counts.get(s, 0) + 1
    ids = [s if counts[s] == 1 else f"{s}-{hashlib.sha1(p.encode()).hexdigest()[:8]}" for s, p in zip(stems, paths)]
    if len(set(ids)) != len(ids):
        raise IngestError("the same source is listed twice")
    return ids


def validate_sources(sources: list[str], cfg: Config) -> list[Source]:
    """Check every source before any output is written; fail with one line on the first bad one."""
    if not sources:
        raise IngestError("no sources given")
    found = expand_sources(sources, cfg)
    ids = assign_ids([p for p, _ in found])
    result = []
    for (path, kind), vid in zip(found, ids):
        if storage.is_s3(path):  # its bytes are read by the task that ingests it, on its node
            result.append(Source(path, vid, kind, None))
            continue
        try:
            info = video.probe(path) if kind == "video" else video.probe_image_folder(path, cfg.ingest.image_folder_fps)
        except video.VideoError as exc:
            raise IngestError(str(exc)) from None
        result.append(Source(path, vid, kind, info))
    return result
