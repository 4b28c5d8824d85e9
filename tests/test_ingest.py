"""raymouth.data.ingest: layout, exact PNG frames, resume, image folders, bad input, S3 (moto server), memory."""
from __future__ import annotations

import dataclasses
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import S3Server, fixture_path

from raymouth.config import Config, IngestConfig
from raymouth.data import codec, mp4, schema, video
from raymouth.data.ingest import IngestError, ingest

CLIPS = ("video/retalking_face_5.mp4", "video/ip_lap_129.mp4")


def small_cfg(**ingest_kw) -> Config:
    return Config(ingest=IngestConfig(**{"rows_per_file": 100, "rows_per_group": 16, **ingest_kw}))


def source_frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]


def read_frames(root: Path, vid: str):
    files = sorted((root / "frames" / vid).glob("*.parquet"))
    return files, pq.ParquetDataset([str(f) for f in files]).read().sort_by("frame_index")


def tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Both fixture clips ingested once, in this process (no Ray)."""
    out = tmp_path_factory.mktemp("ingest") / "ds"
    sources = [str(fixture_path(c)) for c in CLIPS]
    summary = ingest(sources, str(out), small_cfg(), use_ray=False)
    return out, sources, summary


@pytest.fixture(scope="module")
def short_clips(tmp_path_factory) -> list[str]:
    """The first frames of both fixture clips (with the first one's audio): fast to ingest twice."""
    folder = tmp_path_factory.mktemp("short")
    paths = []
    for rel, n in zip(CLIPS, (20, 30)):
        src = fixture_path(rel)
        frames = (rgb for _, _, rgb in itertools.islice(video.iter_frames(src), n))
        out = folder / Path(rel).name
        mp4.write_mp4(frames, video.probe(src).fps, out, video.extract_audio(src))
        paths.append(str(out))
    return paths


def test_layout_schema_and_commit_rows(dataset):
    out, sources, summary = dataset
    assert summary["ingested"] == 2 and summary["frames"] > 0 and summary["frames_per_s"] > 0
    for src, vid in zip(sources, ("retalking_face_5", "ip_lap_129")):
        info = video.probe(src)
        files, table = read_frames(out, vid)
        schema.validate_frames(table.schema)
        assert table.num_rows == info.frame_count
        assert table["frame_index"].to_pylist() == list(range(info.frame_count))
        for f in files:
            meta = pq.ParquetFile(f).metadata
            assert meta.num_rows <= 100
            assert all(meta.row_group(i).num_rows <= 16 for i in range(meta.num_row_groups))
        assert set(table["video_id"].to_pylist()) == {vid}
        assert set(table["fps"].to_pylist()) == {info.fps}
        ts = table["timestamp"].to_numpy()
        assert ts[0] == 0 and np.all(np.diff(ts) > 0)
        row = pq.read_table(out / "videos" / f"{vid}.parquet").to_pylist()
        assert len(row) == 1
        row = row[0]
        schema.validate(pq.read_schema(out / "videos" / f"{vid}.parquet"), schema.VIDEOS, "videos")
        assert (row["frame_count"], row["width"], row["height"]) == (info.frame_count, info.width, info.height)
        assert (row["audio"] is not None) == info.has_audio
        assert row["source_path"] == src


def test_png_frames_equal_source_pixel_for_pixel(dataset):
    out, sources, _ = dataset
    for src, vid in zip(sources, ("retalking_face_5", "ip_lap_129")):
        _, table = read_frames(out, vid)
        expected = source_frames(src)
        assert table.num_rows == len(expected)
        for data, ref in zip(table["image"].to_pylist(), expected):
            rgb, status = codec.decode(data)
            assert status == "ok" and np.array_equal(rgb, ref)


def test_rerun_skips_finished_videos(dataset):
    out, sources, _ = dataset
    before = tree(out)
    summary = ingest(sources, str(out), small_cfg(), use_ray=False)
    assert (summary["skipped"], summary["ingested"], summary["frames"]) == (2, 0, 0)
    assert tree(out) == before


def test_interrupted_video_is_redone(tmp_path, short_clips):
    src = short_clips[1]
    out = tmp_path / "ds"
    ingest([src], str(out), small_cfg(), use_ray=False)
    _, first = read_frames(out, "ip_lap_129")
    (out / "videos" / "ip_lap_129.parquet").unlink()  # as if killed before the commit row
    stale = out / "frames" / "ip_lap_129" / "part-00099.parquet"
    stale.write_bytes(b"half written")
    summary = ingest([src], str(out), small_cfg(), use_ray=False)
    assert summary["ingested"] == 1 and not stale.exists()
    _, again = read_frames(out, "ip_lap_129")
    assert again.num_rows == first.num_rows == video.probe(src).frame_count
    assert (out / "videos" / "ip_lap_129.parquet").exists()


def test_image_folder_as_jpeg_video(tmp_path):
    folder = tmp_path / "my clip!"
    folder.mkdir()
    frames = [rgb for _, _, rgb in itertools.islice(video.iter_frames(fixture_path("video/ip_lap_129.mp4")), 12)]
    for i, rgb in enumerate(frames):
        (folder / f"img_{i}.png").write_bytes(codec.encode(rgb))
    cfg = small_cfg(image_format="jpeg", jpeg_quality=90, image_folder_fps=12.5)
    summary = ingest([str(folder)], str(tmp_path / "ds"), cfg, use_ray=False)
    assert summary["video_ids"] == ["my_clip"]
    _, table = read_frames(tmp_path / "ds", "my_clip")
    assert table.num_rows == 12 and set(table["fps"].to_pylist()) == {12.5}
    for data, ref in zip(table["image"].to_pylist(), frames):  # natural order: img_2 before img_10
        assert data[:2] == b"\xff\xd8"
        rgb, _ = codec.decode(data)
        assert np.abs(rgb.astype(int) - ref.astype(int)).mean() < 4
    assert pq.read_table(tmp_path / "ds" / "videos" / "my_clip.parquet")["audio"].to_pylist() == [None]


def _bad_source(tmp_path: Path, case: str) -> tuple[str, str]:
    src = fixture_path("video/retalking_face_5.mp4")
    if case == "missing":
        return str(tmp_path / "missing.mp4"), "no such file"
    if case == "text":
        (tmp_path / "text.mp4").write_text("not a video")
        return str(tmp_path / "text.mp4"), "not a readable video"
    if case == "truncated":
        (tmp_path / "half.mp4").write_bytes(src.read_bytes()[: src.stat().st_size // 2])
        return str(tmp_path / "half.mp4"), "truncated"
    (tmp_path / "clip.txt").write_text("x")
    return str(tmp_path / "clip.txt"), "unsupported file type"


@pytest.mark.parametrize("case", ["missing", "text", "truncated", "extension"])
def test_bad_source_fails_fast_before_writing(tmp_path, case):
    good = str(fixture_path("video/ip_lap_129.mp4"))
    bad, words = _bad_source(tmp_path, case)
    out = tmp_path / "ds"
    with pytest.raises(IngestError) as err:
        ingest([good, bad], str(out), small_cfg(), use_ray=False)
    msg = str(err.value)
    assert bad in msg and words in msg and "\n" not in msg
    assert not out.exists()  # validated before anything was written, even for the good clip


def test_video_failing_midway_leaves_no_partial_output(tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    rgb = np.full((32, 48, 3), 128, np.uint8)
    for i in range(40):
        # image 30 has another size: a video cannot change size half way (an unreadable image would
        # become a decode_error row instead; see test_cli)
        (folder / f"{i:03d}.png").write_bytes(codec.encode(rgb) if i != 30 else codec.encode(rgb[:16]))
    out = tmp_path / "ds"
    with pytest.raises(IngestError, match="030.png"):
        ingest([str(folder)], str(out), small_cfg(rows_per_file=16, rows_per_group=8), use_ray=False)
    assert not (out / "frames" / "clip").exists() and not (out / "videos" / "clip.parquet").exists()


# ---------------------------------------------------------------- S3 through a real HTTP endpoint


def test_s3_round_trip_through_ray_tasks(tmp_path, short_clips, ray_local, s3_env):
    """Ray started before the AWS variables were set: workers reach moto only through the config."""
    from raymouth.data import storage
    from raymouth.data.export import export

    bucket = s3_env.make_bucket()
    uri = f"s3://{bucket}/ds"
    sources = short_clips
    summary = ingest(sources, uri, small_cfg(), use_ray=True)
    assert summary["ingested"] == 2
    keys = [o["Key"] for o in s3_env.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert "ds/videos/retalking_face_5.parquet" in keys and "ds/videos/ip_lap_129.parquet" in keys
    loc = storage.resolve(uri)
    files = storage.list_files(loc.join("frames", "ip_lap_129"), ".parquet")
    table = pq.ParquetDataset(files, filesystem=loc.fs).read().sort_by("frame_index")
    expected = source_frames(sources[1])
    assert table.num_rows == len(expected)
    for i in (0, len(expected) // 2, len(expected) - 1):
        assert np.array_equal(codec.decode(table["image"][i].as_py())[0], expected[i])
    assert ingest(sources, uri, small_cfg(), use_ray=True)["skipped"] == 2

    written = export(uri, str(tmp_path / "mp4"))
    assert sorted(Path(p).name for p in written) == ["ip_lap_129.mp4", "retalking_face_5.mp4"]
    for src in sources:
        exported = tmp_path / "mp4" / Path(src).name
        src_info, out_info = video.probe(src), video.probe(exported)
        assert out_info.frame_count == src_info.frame_count and out_info.fps == pytest.approx(src_info.fps)
        assert out_info.has_audio == src_info.has_audio

    s3_written = export(uri, f"s3://{bucket}/mp4", video_ids=["ip_lap_129"])  # and export to S3
    assert [str(p).rsplit("/", 1)[-1] for p in s3_written] == ["ip_lap_129.mp4"]
    mp4_keys = [o["Key"] for o in s3_env.client().list_objects_v2(Bucket=bucket, Prefix="mp4/")["Contents"]]
    assert mp4_keys == ["mp4/ip_lap_129.mp4"]  # nothing half-written left beside it
    fetched = tmp_path / "from_s3.mp4"
    fetched.write_bytes(s3_env.client().get_object(Bucket=bucket, Key="mp4/ip_lap_129.mp4")["Body"].read())
    assert video.probe(fetched).frame_count == video.probe(sources[1]).frame_count


def test_s3_missing_bucket_is_one_clear_line(tmp_path, s3_env):
    with pytest.raises(IngestError) as err:
        ingest([str(fixture_path("video/ip_lap_129.mp4"))], "s3://no-such-bucket-here/ds", small_cfg(), use_ray=False)
    msg = str(err.value)
    assert "no-such-bucket-here" in msg and "does not exist" in msg and "\n" not in msg


@pytest.fixture()
def iam_s3():
    """A second moto server that enforces IAM after the 4 unauthenticated set-up calls below."""
    import boto3

    server = S3Server(extra_env={"INITIAL_NO_AUTH_ACTION_COUNT": "4"})
    try:
        kw = dict(endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
        iam = boto3.client("iam", **kw)
        iam.create_user(UserName="ingester")
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="ingester", PolicyName="s3", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="ingester")["AccessKey"]
        boto3.client("s3", **kw).create_bucket(Bucket="secure")
        yield server, key
    finally:
        server.stop()


def test_s3_wrong_credentials_fail_fast_and_right_ones_work(tmp_path, iam_s3, monkeypatch):
    server, key = iam_s3
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    src = str(fixture_path("video/ip_lap_129.mp4"))
    cfg = small_cfg()
    wrong = dataclasses.replace(cfg, storage=dataclasses.replace(cfg.storage, access_key_id=key["AccessKeyId"], secret_access_key="wrong"))
    with pytest.raises(IngestError) as err:
        ingest([src], "s3://secure/ds", wrong, use_ray=False)
    assert "s3://secure/ds" in str(err.value) and "\n" not in str(err.value)
    right = dataclasses.replace(cfg, storage=dataclasses.replace(cfg.storage, access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"]))
    # the wrong key wrote nothing; the right one can (checked without a full ingest)
    from raymouth.data import storage
    loc = storage.check_writable("s3://secure/ds", right.storage)
    assert storage.list_files(loc, "") == []


# ---------------------------------------------------------------- memory


def _peak_rss_kib(clip: Path, out: Path) -> int:
    code = (
        "import resource, sys\n"
        "from raymouth.config import Config\n"
        "from raymouth.data.ingest import ingest_one_video, validate_sources\n"
        "cfg = Config()\n"
        "src = validate_sources([sys.argv[1]], cfg)[0]\n"
        "print(ingest_one_video(src, sys.argv[2], cfg)['frames'])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(clip), str(out)], capture_output=True, text=True, check=True)
    frames, peak = done.stdout.split()[-2:]
    return int(frames), int(peak)


@pytest.mark.slow
def test_memory_does_not_grow_with_video_length(tmp_path):
    def clip(n: int) -> Path:
        ys, xs = np.mgrid[0:240, 0:320]
        texture = np.random.default_rng(0).integers(0, 17, (240, 320, 3), dtype=np.uint8)

        def gen():  # a moving pattern plus texture: ~110 KB PNGs, so holding the video would show
            for i in range(n):
                yield np.stack([(xs + i) % 256, (ys + 2 * i) % 256, (xs + ys + 3 * i) % 256], -1).astype(np.uint8) // 2 + texture

        path = tmp_path / f"clip{n}.mp4"
        mp4.write_mp4(gen(), 25, path)
        return path

    short_frames, short_peak = _peak_rss_kib(clip(200), tmp_path / "short")
    long_frames, long_peak = _peak_rss_kib(clip(2000), tmp_path / "long")
    print(f"\npeak RSS: 200 frames {short_peak / 1024:.0f} MiB, 2000 frames {long_peak / 1024:.0f} MiB")
    assert (short_frames, long_frames) == (200, 2000)
    assert long_peak <= 1.3 * short_peak


def test_a_worker_killed_mid_video_is_retried_and_nothing_is_doubled(tmp_path, ray_local):
    """SIGKILL the Ray worker while it writes a video: the task is retried, every frame lands once."""
    import threading

    import psutil

    src = str(fixture_path("video/ip_lap_129.mp4"))
    killed: list[int] = []

    def kill_first_worker() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            for p in psutil.process_iter(["cmdline"]):
                if any("ingest_one_video" in part for part in (p.info["cmdline"] or [])):
                    if list((tmp_path / "out" / "frames").rglob("*.parquet")):  # mid-video: parts written
                        p.kill()
                        killed.append(p.pid)
                        return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_first_worker, daemon=True)
    killer.start()
    summary = ingest([src], str(tmp_path / "out"), small_cfg(rows_per_file=16), use_ray=True)
    killer.join(timeout=1)
    assert killed, "the test never saw the ingest worker to kill"
    expected = source_frames(src)
    assert summary["ingested"] == 1 and summary["failed"] == 0 and summary["frames"] == len(expected)
    _, table = read_frames(tmp_path / "out", "ip_lap_129")
    assert table.column("frame_index").to_pylist() == list(range(len(expected)))  # each frame exactly once


# ---------------------------------------------------------------- sources in S3 (moto server)


def _upload(s3, bucket: str, key: str, path) -> str:
    s3.client().upload_file(str(path), bucket, key)
    return f"s3://{bucket}/{key}"


def _packets(blob: bytes) -> list[bytes]:
    """The audio packets of an audio blob (Matroska's segment id differs between writes)."""
    import io

    with av.open(io.BytesIO(blob)) as c:
        packets = [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]
    assert packets
    return packets


def _s3_frames(uri: str, vid: str):
    from raymouth.data import storage
    loc = storage.resolve(uri)
    files = storage.list_files(loc.join("frames", vid), ".parquet")
    return pq.ParquetDataset(files, filesystem=loc.fs).read().sort_by("frame_index"), loc


def test_cli_ingest_of_an_s3_video_keeps_every_frame_and_the_audio(tmp_path, short_clips, s3_env):
    """`raymouth ingest s3://…/clip.mp4 --out s3://…/ds` as a command; then export from S3 works."""
    from raymouth.data.export import export

    bucket = s3_env.make_bucket()
    src = short_clips[0]  # retalking_face_5, with audio
    uri = _upload(s3_env, bucket, "in/retalking_face_5.mp4", src)
    done = subprocess.run(
        [sys.executable, "-m", "raymouth.cli", "ingest", uri, "--out", f"s3://{bucket}/ds"],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    table, loc = _s3_frames(f"s3://{bucket}/ds", "retalking_face_5")
    expected = source_frames(src)
    assert table.num_rows == len(expected) and table["frame_index"].to_pylist() == list(range(len(expected)))
    for data, ref in zip(table["image"].to_pylist(), expected):
        assert np.array_equal(codec.decode(data)[0], ref)
    assert set(table["source_path"].to_pylist()) == {uri}
    row = pq.read_table(loc.join("videos", "retalking_face_5.parquet").path, filesystem=loc.fs).to_pylist()[0]
    info = video.probe(src)
    assert row["fps"] == info.fps and row["frame_count"] == len(expected) and row["source_path"] == uri
    assert (row["width"], row["height"]) == (info.width, info.height)
    assert row["audio_format"] == video.AUDIO_FORMAT and _packets(row["audio"]) == _packets(video.extract_audio(src))
    written = export(f"s3://{bucket}/ds", str(tmp_path / "mp4"))
    out = video.probe(written[0])
    assert out.frame_count == info.frame_count and out.fps == pytest.approx(info.fps) and out.has_audio


def test_s3_prefixes_of_videos_and_of_image_folders(tmp_path, short_clips, s3_env):
    bucket = s3_env.make_bucket()
    for p in short_clips:
        _upload(s3_env, bucket, f"videos/{Path(p).name}", p)
    _upload(s3_env, bucket, "videos/notes.txt", short_clips[0])  # not a video: ignored in a prefix
    frames = [rgb for _, _, rgb in itertools.islice(video.iter_frames(short_clips[1]), 11)]
    for clip, n in (("talk_a", 11), ("talk_b", 7)):
        for i in range(n):  # natural order: img_2 before img_10
            (tmp_path / "img.png").write_bytes(codec.encode(frames[i]))
            _upload(s3_env, bucket, f"folders/{clip}/img_{i}.png", tmp_path / "img.png")
    for i in range(5):
        (tmp_path / "img.png").write_bytes(codec.encode(frames[i]))
        _upload(s3_env, bucket, f"single/f{i}.png", tmp_path / "img.png")
    out = f"s3://{bucket}/ds"
    sources = [f"s3://{bucket}/videos", f"s3://{bucket}/folders/", f"s3://{bucket}/single"]
    summary = ingest(sources, out, small_cfg(image_folder_fps=12.5), use_ray=False)
    assert summary["video_ids"] == ["ip_lap_129", "retalking_face_5", "talk_a", "talk_b", "single"]
    counts = {vid: _s3_frames(out, vid)[0].num_rows for vid in summary["video_ids"]}
    assert counts == {"ip_lap_129": 30, "retalking_face_5": 20, "talk_a": 11, "talk_b": 7, "single": 5}
    table, _ = _s3_frames(out, "talk_a")
    assert set(table["fps"].to_pylist()) == {12.5}
    for data, ref in zip(table["image"].to_pylist(), frames):
        assert np.array_equal(codec.decode(data)[0], ref)
    assert ingest(sources, out, small_cfg(image_folder_fps=12.5), use_ray=False)["skipped"] == 5


@pytest.mark.parametrize("case", ["object", "bucket", "empty_prefix", "not_a_video"])
def test_s3_bad_source_is_one_line_before_any_work(tmp_path, short_clips, s3_env, case):
    bucket = s3_env.make_bucket()
    good = _upload(s3_env, bucket, "in/ip_lap_129.mp4", short_clips[1])
    _upload(s3_env, bucket, "other/readme.txt", short_clips[1])
    bad, words = {
        "object": (f"s3://{bucket}/in/missing.mp4", "no such file"),
        "bucket": ("s3://no-such-bucket-for-ingest/in/a.mp4", "does not exist"),
        "empty_prefix": (f"s3://{bucket}/other", "neither images, videos"),
        "not_a_video": (f"s3://{bucket}/other/readme.txt", "unsupported file type"),
    }[case]
    with pytest.raises(IngestError) as err:
        ingest([good, bad], f"s3://{bucket}/ds", small_cfg(), use_ray=True)  # fails before Ray starts
    msg = str(err.value)
    assert bad.rstrip("/") in msg and words in msg and "\n" not in msg
    keys = [o["Key"] for o in s3_env.client().list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert sorted(keys) == ["in/ip_lap_129.mp4", "other/readme.txt"]  # nothing written


def test_s3_truncated_video_fails_in_its_task_and_leaves_nothing(tmp_path, short_clips, s3_env):
    """The driver does not read S3 videos, so a truncated one is found by the task reading it."""
    bucket = s3_env.make_bucket()
    data = Path(short_clips[1]).read_bytes()
    (tmp_path / "half.mp4").write_bytes(data[: len(data) // 2])
    uri = _upload(s3_env, bucket, "in/half.mp4", tmp_path / "half.mp4")
    with pytest.raises(IngestError) as err:
        ingest([uri], f"s3://{bucket}/ds", small_cfg(), use_ray=False)
    assert uri in str(err.value) and "\n" not in str(err.value)
    keys = [o["Key"] for o in s3_env.client().list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["in/half.mp4"]


TWO_NODE_SCRIPT = r"""
import json, os, sys
import ray
from ray.cluster_utils import Cluster

aws = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_")}
# the nodes start without any AWS variable: the worker reaches S3 only through the task's config
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
worker = cluster.add_node(num_cpus=2)
cluster.wait_for_nodes()
os.environ.update(aws)
ray.init(address=cluster.address, log_to_driver=False)
from raymouth.config import Config, IngestConfig
from raymouth.data.ingest import IngestError, check_local_sources_on_nodes, ingest

cfg = Config(ingest=IngestConfig(rows_per_file=100, rows_per_group=16))
summary = ingest(json.loads(sys.argv[1]), sys.argv[2], cfg, use_ray=True)
result = {"summary": summary, "worker": worker.node_id, "head": cluster.head_node.node_id}
check_local_sources_on_nodes([sys.argv[3]])  # a local file both nodes see: passes
try:
    check_local_sources_on_nodes([sys.argv[3], "/nowhere/clip.mp4"])
except IngestError as exc:
    result["missing"] = str(exc)
print("RESULT", json.dumps(result), flush=True)
ray.shutdown()
cluster.shutdown()
"""


@pytest.mark.slow
def test_ingest_tasks_on_a_worker_node_stream_their_videos_from_s3(short_clips, s3_env):
    """Head (no CPUs) + a worker node: every ingest task runs on the worker and reads S3 there."""
    import os

    bucket = s3_env.make_bucket()
    uris = [_upload(s3_env, bucket, f"in/{Path(p).name}", p) for p in short_clips]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    out = f"s3://{bucket}/ds"
    proc = subprocess.run(
        [sys.executable, "-c", TWO_NODE_SCRIPT, json.dumps(uris), out, short_clips[0]],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert "RESULT" in proc.stdout, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT", 1)[1])
    summary = result["summary"]
    assert summary["ingested"] == 2 and summary["failed"] == 0
    assert summary["node_ids"] == [result["worker"]] != [result["head"]]
    for src in short_clips:
        table, _ = _s3_frames(out, Path(src).stem)
        assert table.num_rows == video.probe(src).frame_count
    assert "/nowhere/clip.mp4" in result["missing"] and "s3://" in result["missing"] and "\n" not in result["missing"]
