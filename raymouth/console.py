"""What reaches the console: raymouth's own progress and summary by default, every library's
start-up chatter (MediaPipe, LiteRT, TensorFlow, Ray) with ``--verbose``.

The native libraries write straight to file descriptor 2, below Python's ``sys.stderr``, so the
only way to keep their start-up lines off a default run's console is to point that descriptor
elsewhere while they start and while the landmarker runs (LiteRT warns there when a buffer
happens to be unaligned; in-process commands only: Ray keeps workers' output in its log files anyway).
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

VERBOSE_ENV = "RAYMOUTH_VERBOSE"  # "1": show every worker's output and Ray's own logs (`--verbose`)


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


@contextlib.contextmanager
def native_quiet() -> Iterator[None]:
    """Descriptor 2 goes to /dev/null for the block unless ``--verbose``; Python's own errors
    raised in the block still propagate as exceptions."""
    if verbose():
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (embedded, closed): nothing to hide
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
