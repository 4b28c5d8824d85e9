"""`raymouth bench`: the memory sampler on real processes, and the whole command on a short clip."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from raymouth import config
from raymouth.bench import PeakMemory, bench

MIB = 2**20
TOUCH = """
import mmap, sys, time
with open(sys.argv[1], "r+b") as f:
    m = mmap.mmap(f.fileno(), 0)
    total = sum(m[i] for i in range(0, len(m), 4096))  # bring every page in
    print("ready", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_peak_memory_counts_shared_pages_once(tmp_path):
    """Two children mapping the same 128 MiB: summed RSS sees it twice, summed PSS once."""
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else tmp_path
    path = shm / f"raymouth-test-{time.time_ns()}"
    path.write_bytes(b"\x01" * (128 * MIB))
    try:
        with PeakMemory(interval_s=0.1) as base:  # this process alone (other tests may have grown it)
            time.sleep(0.5)
        with PeakMemory(interval_s=0.1) as mem:
            children = [subprocess.Popen([sys.executable, "-c", TOUCH, str(path), "3"], stdout=subprocess.PIPE, text=True) for _ in range(2)]
            for child in children:
                assert child.stdout.readline().strip() == "ready"
            time.sleep(1.5)  # several samples while both hold the mapping
            for child in children:
                child.wait(timeout=30)
        interpreters = 2 * 40 * MIB  # generous: two bare Python interpreters
        assert mem.peak_rss >= base.peak_rss + 2 * 128 * MIB
        assert base.peak + 120 * MIB <= mem.peak <= base.peak + 128 * MIB + interpreters + 32 * MIB
        assert mem.peak_rss - mem.peak >= 100 * MIB  # the second copy is not counted
    finally:
        path.unlink()


@pytest.mark.slow
def test_bench_measures_stages_loop_and_pipeline(ray_local, small_model_overrides):
    table = bench(config.load(None, small_model_overrides), frames=24)
    print("\n" + table)
    rows = dict(line.strip("|").split("|")[:2] for line in table.splitlines() if line.startswith("| ") and line.count("|") == 3)
    rows = {k.strip(): v.strip() for k, v in rows.items()}
    for stage in ("locate (decode + landmarks + crop)", "enhance (models)", "composite + score", "write"):
        assert float(rows[stage]) > 0, stage
    assert float(rows["**sum**"].strip("*")) > 0
    assert float(rows["Ray Data pipeline"].split()[0]) > 0 and float(rows["plain single-process loop"].split()[0]) > 0
    assert rows["peak memory (PSS), plain loop"].endswith("MiB)")
