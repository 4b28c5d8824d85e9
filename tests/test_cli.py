"""What a new user meets on the command line: one line and exit 2 for every user error, found
before any cluster work; the README's export command as written; resume rules; run figures.

Commands run as real subprocesses of ``python -m raymouth.cli``. ``RAY_ADDRESS`` points at a port
nothing listens on, so any test that reached cluster work would fail loudly instead of passing.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import fixture_path, write_frames_dataset

from raymouth import config, errors
from raymouth.data import codec, schema, storage, units
from raymouth.job import pipeline

NO_CLUSTER = {"RAY_ADDRESS": "127.0.0.1:1"}


def cli(*args: str, env: dict | None = None, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "raymouth.cli", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **NO_CLUSTER, **(env or {})},
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("raymouth: error: "), proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.fixture()
def frames_ds(tmp_path) -> Path:
    """A small frames dataset: 8 frames of a real clip, two files of 4 rows."""
    return write_frames_dataset(tmp_path / "in", fixture_path("video/retalking_face_5.mp4"), frames=8, rows_per_file=4, size=64)


# ---------------------------------------------------------------- errors: one line, exit 2


def test_every_user_error_is_one_line_and_exit_2_even_behind_a_ray_error():
    from ray.exceptions import RayTaskError

    from raymouth.data.export import ExportError

    inner = ExportError("x: no such file or folder")
    assert errors.user_error_in(inner) is inner
    wrapped = RayTaskError("ReadUnits.__call__", "Traceback ...", inner)
    assert errors.user_error_in(wrapped) is inner
    assert errors.user_error_in(RuntimeError("a bug")) is None


@pytest.mark.parametrize(
    "override, words",
    [
        ("enhance.sr_backend=foo", ("enhance.sr_backend", "one of edsr")),
        ("pipeline.cpus_per_actor=0", ("pipeline.cpus_per_actor", "greater than 0")),
    ],
)
def test_config_command_rejects_bad_choices_and_bounds(override, words):
    assert_one_line_error(cli("config", "--set", override), *words)


def test_bad_setting_fails_before_cluster_work_and_claims_nothing(frames_ds, tmp_path):
    out = tmp_path / "out"
    proc = cli("enhance", str(frames_ds), "--out", str(out), "--run-id", "r", "--set", "enhance.sr_backend=foo")
    assert_one_line_error(proc, "enhance.sr_backend")
    assert not (out / "r" / "run.json").exists()


def test_missing_weights_fail_before_cluster_work_and_claim_nothing(frames_ds, tmp_path):
    out = tmp_path / "out"
    proc = cli("enhance", str(frames_ds), "--out", str(out), "--run-id", "r", "--set", f"enhance.native_weights={tmp_path / 'nope.keras'}")
    assert_one_line_error(proc, "enhance.native_weights", "nope.keras")
    assert not (out / "r" / "run.json").exists()


def test_truncated_input_file_is_named_before_cluster_work(frames_ds, tmp_path):
    victim = sorted(frames_ds.rglob("*.parquet"))[1]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    proc = cli("enhance", str(frames_ds), "--out", str(tmp_path / "out"), "--run-id", "r", "--set", "enhance.native_weights=random")
    assert_one_line_error(proc, str(victim), "not a readable Parquet file")
    assert not (tmp_path / "out" / "r" / "run.json").exists()


def test_second_file_with_another_schema_is_named_before_cluster_work(frames_ds, tmp_path):
    files = sorted(frames_ds.rglob("*.parquet"))
    other = pq.read_table(files[1]).rename_columns(["video_id", "frame_index", "fps", "width", "height", "picture"])
    pq.write_table(other, files[1])
    with pytest.raises(pipeline.PipelineError) as err:
        pipeline.prepare(str(frames_ds), str(tmp_path / "out"), "r", config.load(None, ["enhance.native_weights=random"]))
    assert str(files[1]) in str(err.value) and "'image'" in str(err.value)
    proc = cli("enhance", str(frames_ds), "--out", str(tmp_path / "out"), "--run-id", "r2", "--set", "enhance.native_weights=random")
    assert_one_line_error(proc, str(files[1]), "'image' is missing")


def test_train_and_evaluate_share_the_parser_and_the_error_path(tmp_path):
    from raymouth import cli as cli_mod
    def last_line_error(proc, *words):  # train loads TensorFlow before it looks at its input: only the end is ours
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("raymouth: error: ") and all(w in last for w in words), last

    last_line_error(cli("train", "edsr", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o"), "--verbose"), "missing")
    assert_one_line_error(cli("train", "edsr", "--data", "x", "--out", "y", "--set", "train.workers=0"), "train.workers")
    assert cli_mod.main(["train", "edsr", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    last_line_error(cli("evaluate", str(tmp_path / "missing"), "--out", str(tmp_path / "e"), "--verbose"))


# ---------------------------------------------------------------- export


def _fake_enhanced_run(run: Path, ds: Path) -> dict[int, np.ndarray]:
    """An enhance run folder as the job writes it, with ``enhanced`` = the input frame inverted."""
    inp = pa.concat_tables([pq.read_table(f) for f in sorted(ds.rglob("frames/*/*.parquet"))])
    rows, expected = [], {}
    for r in inp.to_pylist():
        rgb, _ = codec.decode(r["image"])
        expected[r["frame_index"]] = 255 - rgb
        rows.append({**r, "enhanced": codec.encode(255 - rgb), "status": "ok", "mouth_box": [0, 0, 16, 16]})
    (run / "frames").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), run / "frames" / "part.parquet")
    return expected


def test_readme_export_command_defaults_to_the_enhanced_column(tmp_path):
    from raymouth.data.ingest import ingest

    ds = tmp_path / "ds"
    ingest([str(fixture_path("video/retalking_face_5.mp4"))], str(ds), config.load(None, ["ingest.rows_per_file=64", "ingest.rows_per_group=16"]), use_ray=False)
    expected = _fake_enhanced_run(tmp_path / "enhanced" / "first", ds)
    proc = cli("export", str(tmp_path / "enhanced" / "first"), "--videos", str(ds), "--out", str(tmp_path / "exported"), "--contact-sheet", "8")
    assert proc.returncode == 0, proc.stderr[-3000:]
    mp4 = tmp_path / "exported" / "retalking_face_5.mp4"
    assert mp4.exists() and (tmp_path / "exported" / "retalking_face_5_sheet.png").exists()
    with av.open(str(mp4)) as c:
        first = next(c.decode(video=0)).to_ndarray(format="rgb24")
        assert c.streams.audio  # the original audio came from --videos
    assert np.abs(first.astype(int) - expected[0].astype(int)).mean() < 6  # the enhanced frames, not the input


def test_export_with_missing_videos_folder_is_one_line(tmp_path):
    ds = write_frames_dataset(tmp_path / "ds", fixture_path("video/retalking_face_5.mp4"), frames=4, rows_per_file=4, size=64)
    _fake_enhanced_run(tmp_path / "run", ds)
    proc = cli("export", str(tmp_path / "run"), "--videos", str(tmp_path / "nope"), "--out", str(tmp_path / "exported"))
    assert_one_line_error(proc, "nope", "no such file or folder")


@pytest.mark.slow
def test_s3_ingest_enhance_export_chain_through_moto(tmp_path, s3_env):
    """The issue's done-when chain, every URI on S3 (moto's server) but the export folder: ingest a
    video object, enhance it (a patch run: mouths only), export it joined with the dataset; the mp4
    has every frame, composed, and the audio."""
    from raymouth.data import video
    from raymouth.data.sample import make_sample_clip

    bucket, frames = s3_env.make_bucket(), 12
    clip = make_sample_clip(tmp_path / "clip.mp4", frames=frames)  # a real face and an AAC tone
    s3_env.client().upload_file(str(clip), bucket, "videos/clip.mp4")
    env = {**s3_env.env, "RAY_ADDRESS": ""}  # a local cluster of the command's own
    s3 = f"s3://{bucket}"
    for args in (("ingest", f"{s3}/videos/clip.mp4", "--out", f"{s3}/ds"),
                 ("enhance", f"{s3}/ds", "--out", f"{s3}/out", "--run-id", "r"),
                 ("export", f"{s3}/out/r", "--videos", f"{s3}/ds", "--out", str(tmp_path / "local"), "--contact-sheet", "2")):
        proc = cli(*args, env=env, timeout=900)
        assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-3000:])
    summary = json.loads(s3_env.client().get_object(Bucket=bucket, Key="out/r/summary.json")["Body"].read())
    assert summary["rows"] == frames and summary["output_mode"] == "patch" and summary["status_counts"].get("ok", 0) >= frames // 2
    key = next(o["Key"] for o in s3_env.client().list_objects_v2(Bucket=bucket, Prefix="out/r/frames/")["Contents"])
    (tmp_path / "part.parquet").write_bytes(s3_env.client().get_object(Bucket=bucket, Key=key)["Body"].read())
    assert "image" not in pq.read_schema(tmp_path / "part.parquet").names  # the run stores mouths, not frames
    mp4 = tmp_path / "local" / "clip.mp4"
    src, out = video.probe(clip), video.probe(mp4)
    assert out.frame_count == frames and out.has_audio and (tmp_path / "local" / "clip_sheet.png").is_file()
    with av.open(str(clip)) as a, av.open(str(mp4)) as b:
        assert [bytes(p) for p in a.demux(a.streams.audio[0]) if p.size] == [bytes(p) for p in b.demux(b.streams.audio[0]) if p.size]
    assert out.fps == pytest.approx(src.fps)


# ---------------------------------------------------------------- output files, resume and run figures


def _cfg(*extra: str) -> config.Config:
    return config.load(None, ["enhance.native_weights=random", *extra])


def _write_unit_outputs(plan: pipeline.RunPlan, unit: units.Unit) -> None:
    """What the job writes for a finished unit: frames/ and metrics/ files with its rows."""
    table = units.read_unit(plan.in_loc.fs, unit)
    n = table.num_rows
    extra = {
        "enhanced": table.column("image"),
        "status": pa.array(["ok"] * n),
        "reject_reason": pa.array([""] * n),
        "mouth_box": pa.array([[0, 0, 8, 8]] * n, type=pa.list_(pa.int32(), 4)),
        **{m: pa.array([1.0] * n) for m in schema.METRIC_COLUMNS},
        "model_version": pa.array(["test@1"] * n),
        "config_hash": pa.array(["h"] * n),
        "run_id": pa.array([plan.run_id] * n),
    }
    for name, col in extra.items():
        table = table.append_column(name, col)
    keys = list(zip(table.column("video_id").to_pylist(), table.column("frame_index").to_pylist()))
    name = units.output_name(unit.unit_id, keys)
    for sub, t in (("frames", table), ("metrics", table.drop_columns(["image", "enhanced"]))):
        (Path(plan.run_loc.path) / sub).mkdir(parents=True, exist_ok=True)
        pq.write_table(t, Path(plan.run_loc.path) / sub / name)


def test_torn_output_file_makes_its_unit_unfinished_and_is_removed(frames_ds, tmp_path):
    cfg = _cfg("pipeline.rows_per_unit=4")
    plan = pipeline.prepare(str(frames_ds), str(tmp_path / "out"), "r", cfg)
    assert len(plan.all_units) == 2
    for u in plan.all_units:
        _write_unit_outputs(plan, u)
    torn = sorted((Path(plan.run_loc.path) / "frames").glob(f"{plan.all_units[1].unit_id}__*.parquet"))[0]
    torn.write_bytes(torn.read_bytes()[:100])  # what a crash mid-write can leave
    done, partial = units.finished(plan.run_loc, plan.all_units)
    assert done == {plan.all_units[0].unit_id} and str(torn) in partial
    again = pipeline.prepare(str(frames_ds), str(tmp_path / "out"), "r", cfg)
    assert [u.unit_id for u in again.todo] == [plan.all_units[1].unit_id]
    assert not torn.exists()


def test_temporary_files_never_sit_where_readers_look(frames_ds, tmp_path):
    import pyarrow.dataset as pads

    cfg = _cfg("pipeline.rows_per_unit=4")
    plan = pipeline.prepare(str(frames_ds), str(tmp_path / "out"), "r", cfg)
    for u in plan.all_units:
        _write_unit_outputs(plan, u)
    frames = Path(plan.run_loc.path) / "frames"
    leftover = frames / (sorted(frames.glob("*.parquet"))[0].name + ".tmp")  # an interrupted write's file
    leftover.write_bytes(b"PAR1 half")
    pipeline.prepare(str(frames_ds), str(tmp_path / "out"), "r", cfg)  # a resume clears it away
    assert not leftover.exists()
    assert pads.dataset(str(frames), format="parquet").to_table().num_rows == 8
    # our own atomic writes go through a hidden name that pyarrow's readers skip
    tmp = storage.temp_path(str(frames / "x.parquet"))
    assert Path(tmp).parent == frames and Path(tmp).name.startswith(".")
    Path(tmp).write_bytes(b"half")
    assert pads.dataset(str(frames), format="parquet").to_table().num_rows == 8
    storage.write_bytes(storage.resolve(str(tmp_path / "w" / "a.json")), b"{}")
    assert [p.name for p in (tmp_path / "w").iterdir()] == ["a.json"]


def test_resume_allows_other_execution_settings(frames_ds, tmp_path):
    pipeline.prepare(str(frames_ds), str(tmp_path / "out"), "r", _cfg())
    changed = _cfg("pipeline.locate_actors=3", "pipeline.locate_batch_size=4", "pipeline.enhance_batch_size_cpu=4",
                   "enhance.tf_intra_op_threads=1", "pipeline.cpus_per_actor=0.25")
    plan = pipeline.prepare(str(frames_ds), str(tmp_path / "out"), "r", changed)
    assert len(plan.todo) == len(plan.all_units)


def test_resume_with_other_output_settings_names_keys_and_values(frames_ds, tmp_path):
    pipeline.prepare(str(frames_ds), str(tmp_path / "out"), "r", _cfg())
    proc = cli("enhance", str(frames_ds), "--out", str(tmp_path / "out"), "--run-id", "r",
               "--set", "enhance.native_weights=random", "--set", "enhance.sharpen.amount=0.5", "--set", "pipeline.locate_actors=2")
    line = assert_one_line_error(proc, "enhance.sharpen.amount: 0.0 -> 0.5", "another --run-id")
    assert "locate_actors" not in line


def test_no_op_rerun_keeps_the_run_figures(frames_ds, tmp_path):
    cfg = _cfg("pipeline.rows_per_unit=4")
    plan = pipeline.prepare(str(frames_ds), str(tmp_path / "out"), "r", cfg)
    for u in plan.all_units:
        _write_unit_outputs(plan, u)
    first = {"rows": 8, "rows_this_invocation": 8, "rows_processed": 8, "processing_s": 4.0, "wall_s": 4.0,
             "frames_per_s": 2.0, "invocations": 1, "first_output_s": 1.5}
    (Path(plan.run_loc.path) / "summary.json").write_text(json.dumps(first))
    summary = pipeline.run(str(frames_ds), str(tmp_path / "out"), "r", cfg, log=lambda *_: None)  # nothing to do: no Ray
    on_disk = json.loads((Path(plan.run_loc.path) / "summary.json").read_text())
    assert summary == on_disk
    assert on_disk["rows"] == 8 and on_disk["rows_this_invocation"] == 0 and on_disk["invocations"] == 2
    assert (on_disk["frames_per_s"], on_disk["rows_processed"], on_disk["processing_s"], on_disk["first_output_s"]) == (2.0, 8, 4.0, 1.5)


def test_corrupt_image_in_a_folder_is_kept_as_a_row(tmp_path):
    import itertools

    from raymouth.data import video
    from raymouth.data.ingest import ingest

    folder = tmp_path / "shots"
    folder.mkdir()
    for i, (_, _, rgb) in enumerate(itertools.islice(video.iter_frames(fixture_path("video/ip_lap_129.mp4")), 6)):
        (folder / f"f{i}.png").write_bytes(codec.encode(rgb))
    (folder / "f2.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    summary = ingest([str(folder)], str(tmp_path / "ds"), config.load(), use_ray=False)
    assert summary["frames"] == 6
    table = pa.concat_tables([pq.read_table(f) for f in sorted((tmp_path / "ds" / "frames" / "shots").glob("*.parquet"))])
    assert table.column("frame_index").to_pylist() == list(range(6))
    assert table.column("image")[2].as_py() == (folder / "f2.png").read_bytes()  # passed through as it was
    assert codec.decode(table.column("image")[2].as_py())[0] is None  # enhance: decode_error
    assert len(set(zip(table.column("width").to_pylist(), table.column("height").to_pylist()))) == 1


# ---------------------------------------------------------------- the README's usage, as written

NOISE = ("oneDNN", "cuInit", "InitGoogle", "XNNPACK", "absl::InitializeLog", "logging_progress", "Running Dataset")


def readme_usage_commands() -> list[str]:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = text.split("## Usage", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.startswith("raymouth ")]


@pytest.mark.slow
def test_readme_usage_commands_run_as_written_on_a_small_clip(tmp_path):
    """Every ``raymouth`` line of the README's Usage block, in order, in a fresh folder holding
    ``clips/`` (a 12-frame real clip); ``IN``/``OUT``/``my.yaml`` are given real values. Until the
    default native weights ship, the enhance lines also get ``enhance.native_weights=random``."""
    from raymouth.data import mp4, video
    from raymouth.restore import chain

    commands = readme_usage_commands()
    assert [c.split()[1] for c in commands] == ["ingest", "enhance", "export", "export", "config", "enhance"], commands
    (tmp_path / "clips").mkdir()
    import itertools

    frames = [rgb for _, _, rgb in itertools.islice(video.iter_frames(fixture_path("video/retalking_face_5.mp4")), 12)]
    mp4.write_mp4(frames, 25, tmp_path / "clips" / "talk.mp4")
    (tmp_path / "my.yaml").write_text("pipeline:\n  rows_per_unit: 64\n")
    extra = "" if (chain.WEIGHTS_DIR / "edsr_native.keras").is_file() else " --set enhance.native_weights=random"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    for command in commands:
        command = command.replace(" IN ", " data/frames-ds ").replace(" OUT ", " data/enhanced ")
        if command.startswith("raymouth enhance"):
            command += extra
        proc = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=900, env=env)
        assert proc.returncode == 0, (command, proc.stdout[-2000:], proc.stderr[-3000:])
        if command.startswith("raymouth enhance"):
            console = proc.stdout + proc.stderr
            assert not [w for w in NOISE if w in console], console[-3000:]  # a clean console, not the libraries' start-up
            assert "raymouth enhance: 12 rows" in proc.stdout, proc.stdout
    assert (tmp_path / "exported" / "talk.mp4").is_file() and (tmp_path / "exported" / "talk_sheet.png").is_file()
    assert video.probe(tmp_path / "exported" / "talk_before_after.mp4").frame_count == 12
    summaries = sorted((tmp_path / "data" / "enhanced").glob("*/summary.json"))
    assert len(summaries) == 2 and all(json.loads(s.read_text())["rows"] == 12 for s in summaries)


@pytest.mark.slow
def test_demo_output_bytes_unchanged(tmp_path, ray_local):
    """The demo's steps write the very bytes recorded in tests/data/demo_digest.txt: a restructuring
    changes no output byte. A change meant to alter the output regenerates that file (its comment says how)."""
    from demo_digest import MODEL_DEPENDENT, cpu_kind, digests, read_recorded, run_demo

    kind = cpu_kind()
    recorded = read_recorded(Path(__file__).parent / "data" / "demo_digest.txt", kind)
    got = digests(run_demo(tmp_path / "demo"))
    assert {k: got[k] for k in recorded} == recorded, [k for k in recorded if got[k] != recorded[k]]
    if not set(MODEL_DEPENDENT) <= set(recorded):  # the dataset's digests were still checked
        warnings.warn(f"no run digests recorded for {kind} CPUs in tests/data/demo_digest.txt: only the dataset's checked")


def test_make_heldout_keeps_its_old_name():
    """``make-reference`` was renamed ``make-heldout``; old scripts keep working."""
    from raymouth import cli as cli_mod

    new = cli_mod.parser().parse_args(["make-heldout", "a.mp4", "--out", "o"])
    old = cli_mod.parser().parse_args(["make-reference", "a.mp4", "--out", "o"])
    assert cli_mod.COMMANDS[new.command] is cli_mod.COMMANDS[old.command] is cli_mod.cmd_make_heldout
    assert (new.clips, new.out) == (old.clips, old.out) == (["a.mp4"], "o")


@pytest.mark.parametrize("run_id", ["../escaped", "/abs/path", "a/b", "..", ".hidden"])
def test_a_run_id_that_is_not_one_safe_name_is_refused_and_nothing_is_written(frames_ds, tmp_path, run_id):
    out = tmp_path / "out"
    proc = cli("enhance", str(frames_ds), "--out", str(out), "--run-id", run_id, "--set", "enhance.native_weights=random")
    assert_one_line_error(proc, "--run-id")
    assert not out.exists() and not (tmp_path / "escaped").exists() and not Path("/abs/path").exists()


@pytest.mark.slow
def test_a_second_ctrl_c_during_the_clean_up_ends_quietly(tmp_path):
    """First Ctrl-C: the resume hint and exit 130; a second one while Ray shuts down at exit used to
    print a KeyboardInterrupt traceback from wherever the clean-up was."""
    import signal

    env = dict(os.environ, RAY_ADDRESS="local")
    proc = subprocess.Popen([sys.executable, "-m", "raymouth.cli", "demo", "--workdir", str(tmp_path / "w")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stdout:
            if "rows written" in line:  # the cluster is up and the job is running
                break
        proc.send_signal(signal.SIGINT)
        for line in proc.stderr:
            if "interrupted" in line:
                break
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(120)
        rest = proc.stderr.read()
    finally:
        proc.kill()
    assert rc == 130
    assert "Traceback" not in rest and "KeyboardInterrupt" not in rest, rest


def test_images_that_cannot_be_read_at_all_are_kept_as_rows(tmp_path):
    """A broken link or a folder with an image's name used to vanish from the listing: a frame lost
    without a word. Each is now a row whose image enhance marks decode_error."""
    import itertools

    from raymouth.data import video
    from raymouth.data.ingest import ingest

    folder = tmp_path / "shots"
    folder.mkdir()
    for i, (_, _, rgb) in enumerate(itertools.islice(video.iter_frames(fixture_path("video/ip_lap_129.mp4")), 5)):
        (folder / f"f{i}.png").write_bytes(codec.encode(rgb))
    (folder / "f1.png").unlink()
    (folder / "f1.png").symlink_to(tmp_path / "gone.png")  # broken link
    (folder / "f3.png").unlink()
    (folder / "f3.png").mkdir()  # not a file at all
    summary = ingest([str(folder)], str(tmp_path / "ds"), config.load(), use_ray=False)
    assert summary["frames"] == 5
    table = pa.concat_tables([pq.read_table(f) for f in sorted((tmp_path / "ds" / "frames" / "shots").glob("*.parquet"))])
    assert table.column("frame_index").to_pylist() == list(range(5))
    images = table.column("image").to_pylist()
    assert [codec.decode(images[i])[0] is None for i in range(5)] == [False, True, False, True, False]


def test_a_folder_that_cannot_be_listed_is_one_line(tmp_path):
    from raymouth.data import video

    with pytest.raises(video.VideoError, match="cannot list the folder"):
        video.image_files(tmp_path / "missing")


def test_evaluate_with_references_checks_its_arguments_before_any_work(tmp_path):
    assert_one_line_error(cli("evaluate", "--reference", "--out", str(tmp_path / "e")), "--reference needs clean clips")
    assert_one_line_error(cli("evaluate", "--pairs", str(tmp_path), "--out", str(tmp_path / "e")), "no <name>_output.mp4")
    assert_one_line_error(cli("evaluate", "x.mp4", "--reference", "--ref-share", "1.5", "--out", str(tmp_path / "e")), "--ref-share")
    assert not (tmp_path / "e").exists()


# ---------------------------------------------------------------- permissions


def _without_permission(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The CLI as a process that obeys file permissions: root keeps its uid but loses the two
    capabilities that let it read anything (setpriv, util-linux)."""
    import shutil

    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root and setpriv (util-linux) is absent: no way to lose read permission")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    return subprocess.run([*prefix, sys.executable, "-m", "raymouth.cli", *args], capture_output=True, text=True, timeout=180, env=env or {**os.environ, **NO_CLUSTER})


def test_folders_without_read_permission_are_one_line_and_an_unreadable_image_is_a_row(tmp_path, frames_ds):
    import itertools

    from raymouth.data import video

    shots = tmp_path / "shots"
    shots.mkdir()
    for i, (_, _, rgb) in enumerate(itertools.islice(video.iter_frames(fixture_path("video/ip_lap_129.mp4")), 3)):
        (shots / f"f{i}.png").write_bytes(codec.encode(rgb))
    try:
        (shots / "f1.png").chmod(0)
        got = _without_permission("ingest", str(shots), "--out", str(tmp_path / "ds"))
        assert got.returncode == 0, got.stderr[-2000:]
        images = pa.concat_tables([pq.read_table(f) for f in sorted((tmp_path / "ds" / "frames" / "shots").glob("*.parquet"))]).column("image").to_pylist()
        assert [codec.decode(b)[0] is None for b in images] == [False, True, False]  # enhance: decode_error

        shots.chmod(0)
        assert_one_line_error(_without_permission("ingest", str(shots), "--out", str(tmp_path / "ds2")), "cannot list the folder", "Permission denied")

        video_dir = next((frames_ds / "frames").iterdir())
        video_dir.chmod(0)
        assert_one_line_error(_without_permission("enhance", str(frames_ds), "--out", str(tmp_path / "out")), "cannot list it", "Permission denied")
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.parquet"))
    finally:
        for p in (shots, shots / "f1.png", *(frames_ds / "frames").iterdir()):
            p.chmod(0o755)


def test_a_local_cluster_that_cannot_start_is_one_line_and_leaves_nothing_running(tmp_path, frames_ds):
    """Ray cannot make its session folder (RAY_TMPDIR without write permission): one line, exit 2."""
    locked = tmp_path / "ray-tmp"
    locked.mkdir(mode=0o500)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_TMPDIR"] = str(locked)
    try:
        got = _without_permission("enhance", str(frames_ds), "--out", str(tmp_path / "out"), env=env)
    finally:
        locked.chmod(0o755)
    assert_one_line_error(got, "could not start a local Ray cluster", "Permission denied")
    assert not any(locked.iterdir())  # nothing of a Ray session was left behind


@pytest.mark.slow
def test_the_readme_run_command_does_the_job_and_shows_where_to_look(tmp_path):
    """``raymouth demo`` (the README's run command) ends listing files that exist: the exported mp4,
    the contact sheet, the before/after video of the mouth (every frame), the summary and the report."""
    from raymouth.data import video

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run(["raymouth", "demo", "--workdir", str(tmp_path / "w")], capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    listed = [line.split("  (")[0].strip() for line in proc.stdout.split("Look at:", 1)[1].splitlines() if line.strip()]
    assert listed and all(Path(p).is_file() for p in listed), listed
    names = {Path(p).name for p in listed}
    assert {"sample.mp4", "sample_sheet.png", "sample_before_after.mp4", "summary.json", "report.html"} <= names
    rows = json.loads(Path(next(p for p in listed if p.endswith("summary.json"))).read_text())["rows"]
    assert video.probe(next(p for p in listed if p.endswith("_before_after.mp4"))).frame_count == rows
