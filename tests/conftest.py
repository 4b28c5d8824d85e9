"""Shared fixtures: the developer fixtures folder, a real S3 endpoint (moto's server) on 127.0.0.1."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

FIXTURES = Path(os.environ.get("RAYMOUTH_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures"))


def fixture_path(rel: str) -> Path:
    """A file from the shared fixtures, or skip the test with a clear reason."""
    path = FIXTURES / rel
    if not path.exists():
        pytest.skip(f"fixture {rel} not found under {FIXTURES} (set RAYMOUTH_FIXTURES)")
    return path


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"fixtures folder {FIXTURES} not found (set RAYMOUTH_FIXTURES)")
    return FIXTURES


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _moto_server_cmd() -> list[str]:
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    return [exe] if exe else [sys.executable, "-m", "moto.server"]


class S3Server:
    """A moto S3 server process; ``env`` holds the AWS variables that point clients at it."""

    def __init__(self, extra_env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, **(extra_env or {})}
        self.proc = subprocess.Popen(
            [*_moto_server_cmd(), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self.env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("moto_server exited at start")
                time.sleep(0.1)
        raise RuntimeError("moto_server did not start in 30 s")

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def make_bucket(self, name: str | None = None) -> str:
        name = name or f"b-{uuid.uuid4().hex[:10]}"
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def s3_server():
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture()
def s3_env(s3_server, monkeypatch):
    """Point this test's process (and its child processes) at the moto server; yields the server."""
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    yield s3_server


@pytest.fixture(scope="session")
def ray_local():
    """A small local Ray cluster shared by the tests of one session (fractional CPUs, see STACK.md)."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def write_frames_dataset(root: Path, clip: Path, frames: int, rows_per_file: int = 8, video_id: str | None = None, size: int | None = None) -> Path:
    """A small frames dataset (Parquet files of ``rows_per_file`` rows) from the first frames of a clip.

    Made directly with PyAV + pyarrow so pipeline tests do not depend on ``raymouth ingest``.
    """
    import av
    import cv2
    import pyarrow as pa
    import pyarrow.parquet as pq

    from raymouth.data import codec
    video_id = video_id or clip.stem
    rows = []
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        for i, frame in enumerate(container.decode(stream)):
            if i >= frames:
                break
            rgb = frame.to_ndarray(format="rgb24")
            if size:
                rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
            rows.append({"video_id": video_id, "frame_index": i, "fps": fps, "width": rgb.shape[1], "height": rgb.shape[0], "image": codec.encode(rgb)})
    out = root / "frames" / video_id
    out.mkdir(parents=True, exist_ok=True)
    from raymouth.data import schema
    for start in range(0, len(rows), rows_per_file):
        chunk = rows[start : start + rows_per_file]
        table = pa.Table.from_pylist(chunk, schema=pa.schema([f for f in schema.FRAMES if f.name != "timestamp"]))
        pq.write_table(table, out / f"part-{start // rows_per_file:05d}.parquet", row_group_size=4)
    return root


SMALL_EDSR = {"scale": 2, "num_blocks": 2, "num_filters": 16, "res_scale": 0.1}


@pytest.fixture(scope="session")
def small_model_overrides(tmp_path_factory) -> list[str]:
    """Config overrides pointing at small untrained EDSR + autoencoder files saved once.

    For tests about plumbing, not quality: every process of a test loads the same weights, and
    nothing depends on the shipped defaults. Random weights paint random structure, which the
    do-no-harm gate rightly rejects, so the gate is opened here; it is tested in test_stages.
    """
    from raymouth.models.autoencoder import autoencoder_arch, build_autoencoder
    from raymouth.models.edsr import build_edsr, build_edsr_native, edsr_arch, edsr_native_arch
    from raymouth.models.weights import save_model

    d = tmp_path_factory.mktemp("weights")
    save_model(build_edsr(**SMALL_EDSR), d / "edsr.keras", edsr_arch(**SMALL_EDSR), data="untrained (test)")
    native = {"num_blocks": SMALL_EDSR["num_blocks"], "num_filters": SMALL_EDSR["num_filters"]}
    save_model(build_edsr_native(**native), d / "native.keras", edsr_native_arch(**native), data="untrained (test)")
    save_model(build_autoencoder(), d / "ae.keras", autoencoder_arch(), data="untrained (test)")
    return [
        f"enhance.edsr_weights={d / 'edsr.keras'}",
        f"enhance.autoencoder_weights={d / 'ae.keras'}",
        f"enhance.edsr.num_blocks={SMALL_EDSR['num_blocks']}",
        f"enhance.edsr.num_filters={SMALL_EDSR['num_filters']}",
        f"enhance.native_weights={d / 'native.keras'}",
        f"enhance.native.num_blocks={SMALL_EDSR['num_blocks']}",
        f"enhance.native.num_filters={SMALL_EDSR['num_filters']}",
        "gate.max_seam=1000",
        "gate.max_delta_e=1000",
        "gate.max_sharpness_ratio=1000",
        "gate.min_detail_ratio=0",
    ]


@pytest.fixture(scope="session")
def astronaut():
    """skimage's 512x512 astronaut: a natural image with a face, for the measures' tests."""
    from skimage import data

    return data.astronaut()
