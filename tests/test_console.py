"""A default in-process run (evaluate, bench) shows raymouth's lines only: the native libraries'
start-up lines (MediaPipe, LiteRT's XNNPACK block) are kept off descriptor 2 unless --verbose."""
from __future__ import annotations

import os
import subprocess
import sys

from conftest import fixture_path

SCRIPT = """
import itertools
from raymouth.config import Config
from raymouth.data import video
from raymouth.mouth.landmarks import Landmarker
from raymouth.restore.chain import EnhanceChain
frames = [f for _, _, f in itertools.islice(video.iter_frames({clip!r}), 2)]
with Landmarker(Config().locate) as lm:
    assert all(lm.detect(f) is not None for f in frames)
assert EnhanceChain(Config())([frames[0][100:160, 80:180].copy()])[0].shape == (60, 100, 3)
print("done")
"""


def _run(verbose: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RAYMOUTH_VERBOSE"}
    if verbose:
        env["RAYMOUTH_VERBOSE"] = "1"
    script = SCRIPT.format(clip=str(fixture_path("video/ip_lap_129.mp4")))
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)


def test_landmarks_and_litert_start_quietly_and_verbose_shows_them():
    quiet, loud = _run(False), _run(True)
    assert quiet.returncode == loud.returncode == 0, quiet.stderr + loud.stderr
    assert quiet.stdout.strip() == loud.stdout.strip() == "done"
    assert quiet.stderr.strip() == "", quiet.stderr
    assert "XNNPACK" in loud.stderr  # the lines exist: only the default hides them


def test_native_quiet_hides_descriptor_2_only_inside_the_block():
    code = "import os\nfrom raymouth.console import native_quiet\nwith native_quiet():\n    os.write(2, b'hidden\\n')\nos.write(2, b'shown\\n')\n"
    env = {k: v for k, v in os.environ.items() if k != "RAYMOUTH_VERBOSE"}
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert got.returncode == 0 and got.stderr == "shown\n", got.stderr
