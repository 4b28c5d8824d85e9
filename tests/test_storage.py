import time

import pytest

from raymouth.config import StorageConfig
from raymouth.data import storage


def test_local_round_trip_and_listing(tmp_path):
    loc = storage.check_writable(tmp_path / "out")
    f = loc.join("a", "b.bin")
    storage.write_bytes(f, b"hello")
    assert storage.read_bytes(f) == b"hello"
    assert storage.list_files(loc, ".bin") == [f.path]
    assert not [p for p in (tmp_path / "out").rglob("*") if "tmp" in p.name or "probe" in p.name]


def test_missing_local_input_fails_with_one_line(tmp_path):
    with pytest.raises(storage.StorageError) as err:
        storage.check_readable(tmp_path / "nope")
    assert "no such file" in str(err.value) and "\n" not in str(err.value)


def test_unwritable_local_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(storage.StorageError, match="not writable"):
        storage.check_writable(blocker / "sub")


def test_unknown_scheme():
    with pytest.raises(storage.StorageError, match="unsupported URI scheme"):
        storage.resolve("gs://bucket/x")


def test_s3_round_trip_through_moto(s3_env):
    bucket = s3_env.make_bucket()
    loc = storage.check_writable(f"s3://{bucket}/prefix")
    storage.write_bytes(loc.join("x.bin"), b"data")
    assert storage.read_bytes(storage.check_readable(f"s3://{bucket}/prefix/x.bin")) == b"data"
    keys = [o["Key"] for o in s3_env.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["prefix/x.bin"]  # the write probe was removed


def test_s3_missing_bucket(s3_env):
    with pytest.raises(storage.StorageError, match="does not exist"):
        storage.check_writable("s3://no-such-bucket-here/prefix")


def test_s3_endpoint_from_config_wins(s3_server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens here
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    bucket = s3_server.make_bucket()
    storage.check_writable(f"s3://{bucket}/p", StorageConfig(endpoint_url=s3_server.endpoint))


def test_unreachable_endpoint_fails_fast(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    cfg = StorageConfig(endpoint_url="http://127.0.0.1:9", connect_timeout_s=1)
    with pytest.raises(storage.StorageError, match="cannot reach|does not exist"):
        storage.check_readable("s3://bucket/x", cfg)


def test_for_workers_carries_the_driver_environment(monkeypatch):
    from raymouth import config
    for name, value in {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AK",
                        "AWS_SECRET_ACCESS_KEY": "SK", "AWS_SESSION_TOKEN": "TOKEN"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    resolved = storage.for_workers(config.StorageConfig(region="us-west-2"))
    assert (resolved.endpoint_url, resolved.region) == ("http://127.0.0.1:9", "us-west-2")  # config wins
    assert (resolved.access_key_id, resolved.secret_access_key, resolved.session_token) == ("AK", "SK", "TOKEN")
    for name in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    opts = storage.s3_options(resolved)  # a worker without the variables still has everything
    assert opts["client_kwargs"]["endpoint_url"] == "http://127.0.0.1:9"
    assert (opts["key"], opts["secret"], opts["token"]) == ("AK", "SK", "TOKEN")


def test_credentials_and_connection_settings_are_not_part_of_the_config_hash():
    """Where the data is and how to reach it does not change what a run writes."""
    from raymouth import config
    base = config.load()
    with_secrets = config.load(None, ["storage.access_key_id=a", "storage.secret_access_key=b", "storage.session_token=c"])
    assert base.hash() == with_secrets.hash()
    assert base.hash() == config.load(None, ["storage.region=x", "storage.connect_timeout_s=9"]).hash()
    assert base.hash() != config.load(None, ["gate.max_seam=1"]).hash()


def test_a_deleted_output_bucket_is_an_error_never_re_created(s3_env):
    """Outside us-east-1 s3fs's makedirs re-creates a missing bucket (moto, like S3, allows it)."""
    cfg = StorageConfig(region="eu-west-1")
    bucket = "raymouth-deleted-mid-run"
    s3_env.client().create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    loc = storage.check_writable(f"s3://{bucket}/run", cfg)
    s3_env.client().delete_bucket(Bucket=bucket)  # deleted mid-run (empty: the probe was removed)
    with pytest.raises(Exception):
        storage.write_bytes(loc.join("frames/part.parquet"), b"data")
    names = [b["Name"] for b in s3_env.client().list_buckets()["Buckets"]]
    assert bucket not in names


def test_storage_that_drops_mid_run_is_retried_then_named_in_one_line(monkeypatch):
    """A real S3 endpoint (moto) that dies: a write waits and succeeds once it is back; one that
    stays down ends in one line that says to re-run, with its own exit status."""
    import threading

    from conftest import S3Server

    server = S3Server()
    for key, value in server.env.items():
        monkeypatch.setenv(key, value)
    bucket = server.make_bucket("raymouth-drops")
    cfg = StorageConfig(retries=5, retry_wait_s=0.5, connect_timeout_s=1)
    loc = storage.check_writable(f"s3://{bucket}/run", cfg)
    target = loc.join("frames/a.bin")
    server.stop()
    back: list[S3Server] = []

    def restart() -> None:
        time.sleep(2.0)
        back.append(S3Server(port=server.port))
        back[0].make_bucket(bucket)

    thread = threading.Thread(target=restart)
    thread.start()
    try:
        storage.retrying("writing frames/a.bin", lambda: storage.write_bytes(target, b"data"), cfg)
        thread.join()
        assert back[0].client().get_object(Bucket=bucket, Key="run/frames/a.bin")["Body"].read() == b"data"
        back[0].stop()
        with pytest.raises(storage.StorageFailure) as err:
            storage.retrying("writing frames/b.bin", lambda: storage.write_bytes(loc.join("frames/b.bin"), b"x"), StorageConfig(retries=1, retry_wait_s=0.1))
    finally:
        thread.join()
        for s in back:
            s.stop()
    message = str(err.value)
    assert "\n" not in message and "after 2 attempts" in message and "re-run to resume" in message, message
    assert err.value.exit_code == 3 and storage.StorageError("x").exit_code == 2
