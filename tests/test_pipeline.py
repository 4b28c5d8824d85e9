"""The enhance job end to end on real Ray, real MediaPipe, real TensorFlow and a real S3 endpoint.

Models are small untrained networks saved to a file once per module: these tests are about the
plumbing, and the rules they check (one row per input row, untouched pixels byte-identical,
statuses, resume) hold whatever the weights are.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import fixture_path, write_frames_dataset

from raymouth import config
from raymouth.data import codec, compose, schema, storage, units
from raymouth.job import pipeline

REPO = Path(__file__).resolve().parents[1]
FAST_MODELS: list[str] = []  # small untrained models, filled by the fixture below


@pytest.fixture(scope="module", autouse=True)
def small_weights(small_model_overrides):
    FAST_MODELS[:] = small_model_overrides


def fast_cfg(*extra: str) -> config.Config:
    return config.load(None, [*FAST_MODELS, *extra])


def read_run(run_dir: Path, table: str = "frames") -> pa.Table:
    files = sorted((run_dir / table).glob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]) if files else pa.table({})


def keys_of(table: pa.Table) -> list[tuple[str, int]]:
    return list(zip(table.column("video_id").to_pylist(), table.column("frame_index").to_pylist()))


def add_bad_rows(root: Path) -> dict[tuple[str, int], str]:
    """A file of frames that must pass through with a status: bad bytes, empty, no face, tiny face."""
    import cv2
    from skimage import data

    tiny = np.zeros((400, 400, 3), np.uint8)
    tiny[300:332, 300:332] = cv2.resize(data.astronaut()[30:250, 150:350], (32, 32))
    cases = {
        ("bad", 0): (b"not an image at all", schema.STATUS_DECODE_ERROR),
        ("bad", 1): (b"", schema.STATUS_DECODE_ERROR),
        ("bad", 2): (codec.encode(data.coffee()), schema.STATUS_NO_FACE),
        ("bad", 3): (codec.encode(tiny), None),  # tiny face: roi_too_small or no_face
    }
    rows = [
        {"video_id": k[0], "frame_index": k[1], "fps": 25.0, "width": 0, "height": 0, "image": img}
        for k, (img, _) in cases.items()
    ]
    out = root / "frames" / "bad"
    out.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema([f for f in schema.FRAMES if f.name != "timestamp"])), out / "part-00000.parquet")
    return {k: s for k, (_, s) in cases.items()}


@pytest.mark.slow
def test_end_to_end_local_with_bad_rows_in_both_modes(tmp_path, ray_local):
    """One run per output mode on the same input: one row per input row in both, the bad rows
    passed through, nothing outside the box changed, and the patch run composed equals the
    frame run byte for byte."""
    clip = fixture_path("video/retalking_face_5.mp4")
    write_frames_dataset(tmp_path / "in", clip, frames=16, rows_per_file=8, size=256)
    expected_bad = add_bad_rows(tmp_path / "in")
    inp = pa.concat_tables([pq.read_table(f) for f in sorted((tmp_path / "in").rglob("*.parquet"))])
    image = dict(zip(keys_of(inp), inp.column("image").to_pylist()))
    runs = {}
    for mode in (schema.OUTPUT_FRAME, schema.OUTPUT_PATCH):
        # An untrained native model is the identity (zero-initialised tail): sharpening makes every
        # enhanced mouth differ from its input, so the paste itself is checked.
        cfg = fast_cfg("enhance.sharpen.amount=0.5", f"pipeline.output_mode={mode}")
        summary = pipeline.run(str(tmp_path / "in"), str(tmp_path / "out"), mode, cfg)
        out = read_run(tmp_path / "out" / mode)
        assert sorted(keys_of(out)) == sorted(keys_of(inp))  # every input row exactly once
        assert sorted(keys_of(read_run(tmp_path / "out" / mode, "metrics"))) == sorted(keys_of(inp))
        assert summary["rows"] == inp.num_rows and sum(summary["status_counts"].values()) == inp.num_rows
        assert summary["output_mode"] == mode
        assert json.loads((tmp_path / "out" / mode / "summary.json").read_text())["config_hash"] == cfg.hash()
        runs[mode] = {k: row for k, row in zip(keys_of(out), out.to_pylist())}
    schema.validate_enhanced(read_run(tmp_path / "out" / "frame").schema)
    patch_table = read_run(tmp_path / "out" / "patch")
    schema.validate_patches(patch_table.schema)
    assert not set(schema.FULL_FRAME_COLUMNS) & set(patch_table.column_names)  # no whole frames

    framed, patched = runs[schema.OUTPUT_FRAME], runs[schema.OUTPUT_PATCH]
    for key, want in expected_bad.items():
        got = framed[key]["status"]
        assert got == want if want else got in (schema.STATUS_ROI_TOO_SMALL, schema.STATUS_NO_FACE), (key, got)
        assert framed[key]["enhanced"] == image[key] and patched[key]["enhanced"] is None
    ok = [k for k, row in framed.items() if row["status"] == schema.STATUS_OK]
    assert len(ok) >= 12, "the face clip should mostly be enhanced"
    for key, row in framed.items():
        mine = patched[key]
        assert mine["status"] == row["status"] and mine["mouth_box"] == row["mouth_box"] and mine["patch_box"] == row["patch_box"]
        assert all(mine[m] == row[m] or (np.isnan(mine[m]) and np.isnan(row[m])) for m in schema.METRIC_COLUMNS)
        assert compose.compose_bytes(image[key], mine) == row["enhanced"]  # patch run composed == frame run
    for key in ok:
        before, _ = codec.decode(image[key])
        after, _ = codec.decode(framed[key]["enhanced"])
        for x0, y0, x1, y1 in (framed[key]["mouth_box"], framed[key]["patch_box"]):
            outside = np.ones(before.shape[:2], bool)
            outside[y0:y1, x0:x1] = False
            assert np.array_equal(before[outside], after[outside])  # nothing outside the box changed
        assert not np.array_equal(before, after)
        assert len(patched[key]["enhanced"]) < len(image[key]) / 5


def test_bad_arguments_fail_fast_without_cluster(tmp_path):
    """One clear line and exit status 2, before Ray starts."""
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1:1"}  # would hang/fail loudly if Ray were contacted
    cases = [
        (["enhance", str(tmp_path / "missing"), "--out", str(tmp_path / "o")], "no such file"),
        (["enhance", str(tmp_path), "--out", str(tmp_path / "o"), "--set", "enhance.nope=1"], "unknown key"),
        (["enhance", str(tmp_path), "--out", str(tmp_path / "o")], "no Parquet frames"),
    ]
    for args, words in cases:
        proc = subprocess.run([sys.executable, "-m", "raymouth.cli", *args], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 2, proc.stderr
        last = proc.stderr.strip().splitlines()[-1]
        assert words in last and last.startswith("raymouth: error:"), proc.stderr


def test_same_run_id_with_other_settings_is_refused(tmp_path):
    write_frames_dataset(tmp_path / "in", fixture_path("video/retalking_face_5.mp4"), frames=2, rows_per_file=2, size=64)
    pipeline.prepare(str(tmp_path / "in"), str(tmp_path / "out"), "r", fast_cfg())
    with pytest.raises(pipeline.PipelineError, match="another --run-id"):
        pipeline.prepare(str(tmp_path / "in"), str(tmp_path / "out"), "r", fast_cfg("gate.max_seam=1"))
    # what a run writes depends on its output mode: a patch run is not resumed as a frame run
    with pytest.raises(pipeline.PipelineError, match='pipeline.output_mode: "patch" -> "frame"'):
        pipeline.prepare(str(tmp_path / "in"), str(tmp_path / "out"), "r", fast_cfg("pipeline.output_mode=frame"))


def test_a_half_ingested_video_is_named_in_the_plan_and_the_summary(tmp_path):
    """An ingest stopped half-way leaves frames without the video's commit marker: the run leaves
    them out, as before, but says so (a warning and ``skipped_incomplete_videos``)."""
    from raymouth.data import mp4, video
    from raymouth.data.ingest import ingest

    frames = [rgb for _, (_, _, rgb) in zip(range(4), video.iter_frames(fixture_path("video/retalking_face_5.mp4")))]
    for name in ("done", "killed"):
        mp4.write_mp4([f[:128, :128] for f in frames], 25, tmp_path / "clips" / f"{name}.mp4")
    ingest([str(tmp_path / "clips")], str(tmp_path / "ds"), fast_cfg(), use_ray=False)
    (tmp_path / "ds" / "videos" / "killed.parquet").unlink()  # as if ingest died before its marker
    plan = pipeline.prepare(str(tmp_path / "ds"), str(tmp_path / "out"), "r", fast_cfg())
    assert plan.incomplete_videos == ["killed"]
    assert {u.path.split("/")[-2] for u in plan.all_units} == {"done"}
    assert pipeline.summarize(plan, 0, 1.0, fast_cfg())["skipped_incomplete_videos"] == ["killed"]


def test_model_actors_use_tensorflow_only_where_they_hold_a_gpu(tmp_path):
    """LiteRT runs on the CPU: model actors holding a GPU get TensorFlow (unless the runtime is
    set), CPU-only ones keep it and get their share of the cores; neither changes the run's
    identity, so a run started on one runtime resumes on the other."""
    from raymouth.cluster import stage_sizes

    cfg = config.Config()
    cpu = pipeline._for_enhance_actors(cfg, stage_sizes(cfg, {"CPU": 2}))
    gpu = pipeline._for_enhance_actors(cfg, stage_sizes(cfg, {"CPU": 8, "GPU": 1}))
    assert (cpu.enhance.runtime, cpu.enhance.tf_intra_op_threads) == ("auto", 1)
    assert gpu.enhance.runtime == "tensorflow"
    forced = config.load(None, ["enhance.runtime=litert"])
    assert pipeline._for_enhance_actors(forced, stage_sizes(forced, {"CPU": 8, "GPU": 1})).enhance.runtime == "litert"
    assert cpu.hash() == gpu.hash() == cfg.hash()
    write_frames_dataset(tmp_path / "in", fixture_path("video/retalking_face_5.mp4"), frames=2, rows_per_file=2, size=64)
    pipeline.prepare(str(tmp_path / "in"), str(tmp_path / "out"), "r", fast_cfg())
    pipeline.prepare(str(tmp_path / "in"), str(tmp_path / "out"), "r", fast_cfg("enhance.runtime=tensorflow"))


def _enhance_cmd(inp: Path, out: Path, run_id: str) -> list[str]:
    sets = [a for s in FAST_MODELS for a in ("--set", s)]
    return [sys.executable, "-m", "raymouth.cli", "enhance", str(inp), "--out", str(out), "--run-id", run_id, *sets]


@pytest.mark.slow
def test_a_second_driver_on_a_live_run_is_refused_and_work_is_counted_once(tmp_path):
    write_frames_dataset(tmp_path / "in", fixture_path("video/retalking_face_5.mp4"), frames=16, rows_per_file=4, size=96)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = str(REPO)
    first = subprocess.Popen(_enhance_cmd(tmp_path / "in", tmp_path / "out", "r"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lease = tmp_path / "out" / "r" / "lease.json"
    deadline = time.time() + 120
    while not lease.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert lease.exists(), first.communicate()
    second = subprocess.run(_enhance_cmd(tmp_path / "in", tmp_path / "out", "r"), env=env, capture_output=True, text=True, timeout=300)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-3000:]
    assert second.returncode == 2, second.stderr[-3000:]
    last = second.stderr.strip().splitlines()[-1]
    assert last.startswith("raymouth: error: ") and "another driver" in last, second.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "r" / "summary.json").read_text())
    assert summary["rows"] == 16 and summary["rows_processed"] == 16, summary
    assert not lease.exists()  # released at the end


@pytest.mark.slow
@pytest.mark.parametrize("mode", [schema.OUTPUT_PATCH, schema.OUTPUT_FRAME])
def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path, mode):
    clip = fixture_path("video/retalking_face_5.mp4")
    frames = 120  # 30 units: enough that the kill lands mid-run on a fast machine too
    write_frames_dataset(tmp_path / "in", clip, frames=frames, rows_per_file=4, size=192)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = str(REPO)

    # Interrupted run: SIGKILL the driver (and its local Ray) once some units are written.
    sets = ["--set", f"pipeline.output_mode={mode}"]
    proc = subprocess.Popen(_enhance_cmd(tmp_path / "in", tmp_path / "out", "r") + sets, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    frames_dir = tmp_path / "out" / "r" / "frames"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(frames_dir.glob("*.parquet"))) < 3:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    survivors = {p.name: p.stat().st_mtime_ns for p in frames_dir.glob("*.parquet")}
    all_units = units.plan(storage.resolve(str(tmp_path / "in")), fast_cfg().pipeline.rows_per_unit)
    done, _ = units.finished(storage.resolve(str(tmp_path / "out" / "r")), all_units)
    assert survivors and len(done) < len(all_units), "expected a partial run"

    subprocess.run(_enhance_cmd(tmp_path / "in", tmp_path / "out", "r") + sets, env=env, check=True, timeout=600, capture_output=True)
    subprocess.run(_enhance_cmd(tmp_path / "in", tmp_path / "out", "clean") + sets, env=env, check=True, timeout=600, capture_output=True)

    resumed, clean = read_run(tmp_path / "out" / "r"), read_run(tmp_path / "out" / "clean")
    assert len(set(keys_of(resumed))) == resumed.num_rows == frames  # every key exactly once
    def by_key(t: pa.Table) -> dict:
        return {k: (s, e) for k, s, e in zip(keys_of(t), t.column("status").to_pylist(), t.column("enhanced").to_pylist())}
    assert by_key(resumed) == by_key(clean)  # same statuses, same enhanced bytes
    # Finished units were not rewritten: every file that was complete before the kill kept its mtime.
    after = {p.name: p.stat().st_mtime_ns for p in frames_dir.glob("*.parquet")}
    kept = [n for n in survivors if n in after and after[n] == survivors[n]]
    assert kept, "no finished file survived the resume untouched"


@pytest.mark.slow
def test_s3_to_s3_through_moto(tmp_path, s3_env):
    bucket = s3_env.make_bucket()
    write_frames_dataset(tmp_path / "in", fixture_path("video/retalking_face_5.mp4"), frames=8, rows_per_file=4, size=192)
    s3 = s3_env.client()
    for f in (tmp_path / "in").rglob("*.parquet"):
        s3.upload_file(str(f), bucket, f"data/{f.relative_to(tmp_path / 'in')}")
    env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, **s3_env.env, "PYTHONPATH": str(REPO)}
    cmd = _enhance_cmd(Path(f"s3://{bucket}/data"), Path(f"s3://{bucket}/out"), "s3run")
    cmd = [c.replace("s3:/", "s3://") if c.startswith("s3:/") and not c.startswith("s3://") else c for c in cmd]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="out/s3run/")["Contents"]]
    assert "out/s3run/summary.json" in keys
    summary = json.loads(s3.get_object(Bucket=bucket, Key="out/s3run/summary.json")["Body"].read())
    assert summary["rows"] == 8 and summary["status_counts"].get("ok", 0) >= 6
    frames = [k for k in keys if k.startswith("out/s3run/frames/")]
    rows = 0
    for k in frames:
        local = tmp_path / "dl.parquet"
        s3.download_file(bucket, k, str(local))
        rows += pq.read_metadata(local).num_rows
    assert rows == 8


def _ray_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a private Ray cluster: token auth on, with a token file of this test's own."""
    import secrets

    token = tmp_path / "ray_auth_token"
    token.write_text(secrets.token_hex(32))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token), "PYTHONPATH": str(REPO)})
    return env


@pytest.mark.slow
def test_job_submit_path(tmp_path):
    """`ray start --head` on free ports, `ray job submit ... jobs/enhance.py`, SUCCEEDED, output checked."""
    from conftest import free_port

    write_frames_dataset(tmp_path / "in", fixture_path("video/retalking_face_5.mp4"), frames=8, rows_per_file=4, size=192)
    import tempfile

    env = _ray_env(tmp_path)
    port, dash = free_port(), free_port()
    ray_tmp = tempfile.mkdtemp(prefix="rm", dir="/tmp")  # short: Ray's socket paths have a length limit
    ray_bin = str(Path(sys.executable).parent / "ray")
    # --block keeps the head in this child process; terminating it stops exactly this cluster
    # (``ray stop`` would stop every Ray on the machine).
    head = subprocess.Popen(
        [ray_bin, "start", "--head", "--block", f"--port={port}", f"--dashboard-port={dash}", "--num-cpus=2",
         # every port free and our own: other Ray clusters may run on this machine
         f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
         f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}",
         f"--ray-client-server-port={free_port()}",
         "--include-dashboard=true", "--dashboard-host=127.0.0.1", "--disable-usage-stats",
         f"--temp-dir={ray_tmp}"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "head.log", "w"), start_new_session=True,
    )
    try:
        address = f"http://127.0.0.1:{dash}"
        sets = [a for s in FAST_MODELS for a in ("--set", s)]
        cmd = [ray_bin, "job", "submit", "--address", address, "--working-dir", str(REPO), "--",
               "python", "jobs/enhance.py", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--run-id", "job", *sets]
        deadline = time.time() + 180
        while True:  # the job server answers some seconds after the head starts
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
            text = proc.stderr + proc.stdout
            if proc.returncode == 0 or time.time() > deadline or not ("ConnectionError" in text or "try again" in text):
                break
            assert head.poll() is None, (tmp_path / "head.log").read_text()[-3000:]
            time.sleep(3)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:] + (tmp_path / "head.log").read_text()[-2000:]
        assert "succeeded" in proc.stdout + proc.stderr
        out = read_run(tmp_path / "out" / "job")
        assert sorted(keys_of(out)) == [("retalking_face_5", i) for i in range(8)]
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        import shutil

        shutil.rmtree(ray_tmp, ignore_errors=True)


NODE_DEATH_SCRIPT = r"""
import json, sys, threading, time
from pathlib import Path
import ray
from ray.cluster_utils import Cluster
from raymouth import config
from raymouth.job import pipeline
inp, out, sets = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
# The head can host every actor of the job's pools (one landmarker, one model actor, at most two
# compositors: 2 CPUs at 0.5 each), so whatever dies with the worker restarts there. With a head
# too small for the pools (1 CPU) the lost actors wait for a node that never comes: a real
# cluster's autoscaler brings one; here the run hung whenever the head held only model actors.
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
worker = cluster.add_node(num_cpus=2)
cluster.wait_for_nodes()
ray.init(address=cluster.address)
cfg = config.load(None, [*sets, "pipeline.locate_actors=1", "pipeline.enhance_actors=1"])
result = {}
t = threading.Thread(target=lambda: result.update(pipeline.run(inp, out, "node", cfg)))
t.start()
frames = Path(out) / "node" / "frames"
deadline = time.time() + 300
while time.time() < deadline and len(list(frames.glob("*.parquet"))) < 2 and t.is_alive():
    time.sleep(0.2)
from ray.util.state import list_actors

lost = [a for a in list_actors() if a.node_id == worker.node_id and a.state == "ALIVE" and "MapWorker" in a.class_name]
cluster.remove_node(worker, allow_graceful=False)
print("REMOVED", len(lost), flush=True)
t.join(timeout=600)
print("SUMMARY", json.dumps(result.get("status_counts")), flush=True)
ray.shutdown()
cluster.shutdown()
"""


@pytest.mark.slow
def test_worker_node_dies_mid_run(tmp_path):
    """A head and a worker node on this machine; the worker is removed mid-run; every key once."""
    write_frames_dataset(tmp_path / "in", fixture_path("video/retalking_face_5.mp4"), frames=32, rows_per_file=4, size=160)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run(
        [sys.executable, "-c", NODE_DEATH_SCRIPT, str(tmp_path / "in"), str(tmp_path / "out"), json.dumps(FAST_MODELS)],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert "REMOVED" in proc.stdout, proc.stderr[-3000:]
    assert int(proc.stdout.split("REMOVED", 1)[1].split()[0]) >= 1, "no actor of the job ran on the removed node"
    assert '"ok"' in proc.stdout.split("SUMMARY", 1)[1], "the run did not finish after losing the node"
    out = read_run(tmp_path / "out" / "node")
    assert sorted(keys_of(out)) == [("retalking_face_5", i) for i in range(32)]


def test_summary_means_do_not_depend_on_how_rows_fall_into_files(tmp_path):
    """Which actor writes which metrics file varies run to run; the summary's means must not."""
    rng = np.random.default_rng(0)
    n = 300
    columns = {name: rng.normal(40.0, 15.0, n) * 10.0 ** rng.integers(-3, 4, n) for name in schema.METRIC_COLUMNS}
    columns["psnr_in"][::7] = np.nan  # rows without a reference: left out of the mean
    columns["sharpness_ratio_out"][5] = 3e13  # a mouth over a flat surround: past int64 once in fixed point
    table = pa.table({"status": [schema.STATUS_OK] * n, "model_version": ["m"] * n, **columns})
    summaries = []
    for layout, cuts in (("one", [0, n]), ("many", [0, 1, 17, 150, 151, 299, n])):
        (tmp_path / layout / "metrics").mkdir(parents=True)
        order = rng.permutation(n) if layout == "many" else np.arange(n)
        for k, (a, b) in enumerate(zip(cuts, cuts[1:])):
            pq.write_table(table.take(order[a:b]), tmp_path / layout / "metrics" / f"part-{k:03d}.parquet")
        loc = storage.Location(pa.fs.LocalFileSystem(), str(tmp_path / layout), str(tmp_path / layout))
        plan = pipeline.RunPlan(in_loc=loc, run_loc=loc, run_id="r", all_units=[], todo=[])
        summaries.append(pipeline.summarize(plan, n, 1.0, config.load())["metric_means"])
    assert summaries[0] == summaries[1]
    for name in schema.METRIC_COLUMNS:
        assert summaries[0][name] == pytest.approx(np.nanmean(columns[name]), rel=1e-6, abs=1e-6)
