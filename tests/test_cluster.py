"""The cluster side: cluster.yaml against Ray's own launcher validation, actor sizing from
cluster resources, GPU scheduling of the enhance stage, fail-fast without GPUs, no secrets.

No GPU exists on the machines these tests were written on. Where a GPU is needed, a local Ray
cluster *advertises* one (``ray.init(num_gpus=1)``): that fake GPU resource is the only test
double here. Ray schedules by it exactly as on a real GPU node, but TensorFlow still runs on
the CPU, so these tests prove scheduling and plumbing, not GPU speed or CUDA setup.
"""
from __future__ import annotations

import copy
import ipaddress
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import fixture_path, free_port, write_frames_dataset

from raymouth import config
from raymouth.cluster import ClusterError, stage_sizes
from raymouth.job import pipeline

REPO = Path(__file__).resolve().parents[1]
CLUSTER_YAML = REPO / "cluster.yaml"
RAY_PRIVATE_PORTS = (6379, 8265, 10001, 8076)  # GCS, dashboard/job API, client, object manager


def load_cluster_yaml() -> dict:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def launcher_check(cfg: dict) -> dict:
    """What `ray up` does to a config before touching the cloud: fill in the provider's defaults,
    merge setup commands, then validate against ray-schema.json and the launcher's own rules."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(cfg))
    validate_config(prepared)
    return prepared


# ---------------------------------------------------------------- cluster.yaml

def test_cluster_yaml_passes_ray_launcher_validation():
    prepared = launcher_check(load_cluster_yaml())
    types = prepared["available_node_types"]
    assert prepared["provider"]["type"] == "aws"
    assert prepared["head_node_type"] in types
    gpu_types = [t for t in types.values() if t["resources"].get("GPU", 0) >= 1]
    cpu_types = [n for n, t in types.items() if n != prepared["head_node_type"] and not t["resources"].get("GPU")]
    assert gpu_types and cpu_types, "needs an autoscaling GPU group and an autoscaling CPU group"
    for name, t in types.items():
        if name != prepared["head_node_type"]:
            assert t["max_workers"] > t["min_workers"] >= 0, f"{name} does not autoscale"
        assert "IamInstanceProfile" in t["node_config"], f"{name}: S3 access must come from an instance profile"


@pytest.mark.parametrize(
    "breakage",
    [
        lambda c: c["available_node_types"]["gpu_workers"]["resources"].update(GPU=0.5),  # schema: integers only
        lambda c: c["available_node_types"]["gpu_workers"].update(num_gpus=1),  # unknown field
        lambda c: c.update(head_node_type="nope"),
        lambda c: c.update(max_workers=1),  # below the sum of min_workers
    ],
)
def test_launcher_validation_rejects_broken_copies(breakage):
    """The check above can fail: the same validator refuses small mistakes in a copy."""
    import jsonschema

    broken = load_cluster_yaml()
    breakage(broken)
    with pytest.raises((jsonschema.ValidationError, ValueError)):
        launcher_check(broken)


SECRET_KEYS = re.compile(r"(access_key|secret|password|session_token|private_key|api_key)", re.I)
SECRET_VALUES = [
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"(?i)aws_(access_key_id|secret_access_key|session_token)\s*[=:]"),
    re.compile(r"(?i)RAY_AUTH_TOKEN\s*="),  # the token itself, as opposed to RAY_AUTH_TOKEN_PATH
]


def _walk(node, path=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield f"{path}.{k}", k, v
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]")


def test_cluster_yaml_holds_no_secret():
    text = CLUSTER_YAML.read_text()
    for pattern in SECRET_VALUES:
        assert not pattern.search(text), f"cluster.yaml matches {pattern.pattern}"
    cfg = load_cluster_yaml()
    for where, key, _ in _walk(cfg):
        assert not SECRET_KEYS.search(str(key)), f"secret-looking key at {where}"
    assert "ssh_private_key" not in cfg.get("auth", {})
    # The token reaches nodes as a copied file, never as a value in the config.
    mounts = cfg["file_mounts"]
    assert mounts.get("~/.ray/auth_token") == "~/.ray/auth_token"


def _open_to_world(rule: dict) -> bool:
    ranges = [r.get("CidrIp") for r in rule.get("IpRanges", [])] + [r.get("CidrIpv6") for r in rule.get("Ipv6Ranges", [])]
    return any(c and ipaddress.ip_network(c, strict=False).prefixlen == 0 for c in ranges)


def _covers(rule: dict, port: int) -> bool:
    if str(rule.get("IpProtocol")) == "-1":
        return True
    lo, hi = rule.get("FromPort", -1), rule.get("ToPort", -1)
    return lo == -1 or lo <= port <= hi


def test_ray_ports_not_open_to_the_internet():
    cfg = load_cluster_yaml()
    rules = cfg["provider"].get("security_group", {}).get("IpPermissions", [])
    for rule in rules:
        for port in RAY_PRIVATE_PORTS:
            assert not (_open_to_world(rule) and _covers(rule, port)), f"port {port} open to the world: {rule}"
    for t in cfg["available_node_types"].values():
        assert "SecurityGroupIds" not in t["node_config"] or rules == [], "custom groups must be checked by hand"
    head = " ".join(cfg["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head and "0.0.0.0" not in head


def test_the_world_open_rule_detector_can_fail():
    assert _open_to_world({"IpRanges": [{"CidrIp": "0.0.0.0/0"}]}) and _covers({"FromPort": 8000, "ToPort": 9000}, 8265)
    assert not _open_to_world({"IpRanges": [{"CidrIp": "10.0.0.0/16"}]})


def test_nodes_install_gpu_extra_from_synced_repo_with_token_auth():
    cfg = load_cluster_yaml()
    assert cfg["file_mounts"]["~/raymouth"] == "."
    setup = cfg["setup_commands"]
    assert any("cd ~/raymouth" in c and "bash scripts/install.sh gpu" in c for c in setup)
    assert 'extras="${1:-test}"' in (REPO / "scripts" / "install.sh").read_text()  # its argument picks the extra
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(d.startswith("tensorflow[and-cuda]") for d in extras["gpu"])
    for cmds in (cfg["head_start_ray_commands"], cfg["worker_start_ray_commands"]):
        start = [c for c in cmds if "ray start" in c]
        assert start and all("RAY_AUTH_MODE=token" in c for c in start)


# ---------------------------------------------------------------- stage_sizes

def _sizes(resources: dict, *sets: str):
    return stage_sizes(config.load(None, list(sets)), resources)


@pytest.mark.parametrize("dashboard", [False, True])
def test_a_local_cluster_starts_without_the_dashboard_unless_asked(dashboard):
    """``ensure_ray`` starting a local cluster (no RAY_ADDRESS): Ray's dashboard only with
    ``pipeline.local_dashboard`` (its URL is what ``ray.init`` records for the node; private
    attribute, read in a fresh process so no other test's cluster is joined)."""
    code = (
        "import ray\n"
        "from raymouth import config\n"
        "from raymouth.cluster import ensure_ray\n"
        f"ensure_ray(config.load(None, ['pipeline.local_dashboard={str(dashboard).lower()}']))\n"
        "print('webui=' + str(ray._private.worker._global_node.address_info.get('webui_url') or ''))\n"
        "ray.shutdown()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    url = [line for line in out.stdout.splitlines() if line.startswith("webui=")][-1][len("webui="):]
    assert bool(url) == dashboard, url


def test_stage_sizes_cpu_only():
    s = _sizes({"CPU": 16})
    assert s.gpus_per_enhance_actor == 0
    assert (s.locate_actors, s.enhance_actors, s.composite_actors) == (8, 16, 8)  # 32 half-CPU slots
    assert s.enhance_threads == 1  # 16 cores shared by 16 model actors
    assert s.enhance_batch_size == config.load(None, []).pipeline.enhance_batch_size_cpu
    tiny = _sizes({"CPU": 2})  # this machine: 4 slots
    assert (tiny.locate_actors, tiny.enhance_actors, tiny.composite_actors, tiny.enhance_threads) == (1, 2, 1, 1)
    assert _sizes({}).enhance_actors == 1  # no CPU reported yet (autoscaling from zero)


def test_stage_sizes_enhance_threads_share_the_cores():
    """On CPU-only clusters each model actor gets its share of the cores, not all of them;
    a configured thread count wins, and on GPUs TensorFlow keeps its default (0)."""
    assert _sizes({"CPU": 8}, "pipeline.enhance_actors=2").enhance_threads == 4
    assert _sizes({"CPU": 8}, "pipeline.cpus_per_actor=1").enhance_threads == 2  # 8 slots -> 4 model actors
    assert _sizes({"CPU": 16}, "enhance.tf_intra_op_threads=3").enhance_threads == 3
    assert _sizes({"CPU": 16, "GPU": 2}).enhance_threads == 0


def test_stage_sizes_one_enhance_actor_per_gpu_by_default():
    s = _sizes({"CPU": 40, "GPU": 4})
    assert (s.enhance_actors, s.gpus_per_enhance_actor) == (4, 1.0)
    assert s.locate_actors == (80 - 4) // 2
    assert s.enhance_batch_size == config.load(None, []).pipeline.enhance_batch_size_gpu
    one = _sizes({"CPU": 8, "GPU": 1}, "pipeline.cpus_per_actor=1")
    assert (one.enhance_actors, one.locate_actors, one.composite_actors) == (1, 3, 2)


def test_stage_sizes_fractional_gpus():
    s = _sizes({"CPU": 32, "GPU": 2}, "pipeline.num_gpus_per_enhance_actor=0.5")
    assert (s.enhance_actors, s.gpus_per_enhance_actor) == (4, 0.5)
    third = _sizes({"CPU": 32, "GPU": 1}, "pipeline.num_gpus_per_enhance_actor=0.1")
    assert third.enhance_actors == 10  # 1 / 0.1 is 9.999... in floating point
    half_gpu_cluster = _sizes({"CPU": 8, "GPU": 0.5})  # default: less than one GPU -> CPU models
    assert half_gpu_cluster.gpus_per_enhance_actor == 0


def test_stage_sizes_fixed_pools_fit_the_cluster():
    """Locate and enhance pools are fixed-size: together they never ask for more CPU than exists,
    and the enhance pool never asks for more GPU than exists."""
    for cpus in (2, 4, 8, 16, 48, 96):
        for gpus in (0, 1, 2, 4, 8):
            for per_gpu, per_cpu in ((-1, 0.5), (1, 1), (0.5, 0.5), (0.25, 1)):
                if gpus == 0 and per_gpu > 0:
                    continue
                s = _sizes({"CPU": cpus, "GPU": gpus}, f"pipeline.num_gpus_per_enhance_actor={per_gpu}", f"pipeline.cpus_per_actor={per_cpu}")
                assert (s.locate_actors + s.enhance_actors) * per_cpu <= cpus, (cpus, gpus, per_gpu, per_cpu, s)
                assert s.enhance_actors * s.gpus_per_enhance_actor <= gpus, (cpus, gpus, per_gpu, s)


def test_stage_sizes_explicit_settings_win():
    s = _sizes({"CPU": 16, "GPU": 1}, "pipeline.enhance_actors=6", "pipeline.locate_actors=3")
    assert (s.enhance_actors, s.locate_actors, s.gpus_per_enhance_actor) == (6, 3, 1.0)


def test_stage_sizes_gpu_requested_without_gpu_is_a_cluster_error():
    with pytest.raises(ClusterError, match=r"num_gpus_per_enhance_actor=1.* 0 GPUs"):
        _sizes({"CPU": 16}, "pipeline.num_gpus_per_enhance_actor=1")
    with pytest.raises(ClusterError):
        _sizes({"CPU": 16, "GPU": 0.5}, "pipeline.num_gpus_per_enhance_actor=1")


# ---------------------------------------------------------------- GPU setup in TensorFlow

def test_configure_gpus_counts_visible_gpus_and_keeps_threads_settable():
    """A no-op returning 0 without GPUs (here); it must not initialise TensorFlow's runtime."""
    code = (
        "from raymouth.models.kerasapi import configure_gpus, configure_threads, tf\n"
        "n = configure_gpus()\n"
        "assert n == len(tf.config.list_physical_devices('GPU'))\n"
        "configure_threads(2, 1)\n"
        "assert tf.config.threading.get_intra_op_parallelism_threads() == 2\n"
        "print('GPUS', n)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(r"^GPUS \d+$", proc.stdout, re.M)


# ---------------------------------------------------------------- no secret in run records

def _secret_overrides() -> tuple[list[str], list[str]]:
    key_id = "AKIA" + secrets.token_hex(8).upper()
    secret = secrets.token_urlsafe(30)
    return [f"storage.access_key_id={key_id}", f"storage.secret_access_key={secret}"], [key_id, secret]


def test_run_json_excludes_storage_keys(tmp_path):
    write_frames_dataset(tmp_path / "in", fixture_path("video/retalking_face_5.mp4"), frames=2, rows_per_file=2, size=64)
    sets, values = _secret_overrides()
    cfg = config.load(None, [*sets, "enhance.native_weights=random"])
    plan = pipeline.prepare(str(tmp_path / "in"), str(tmp_path / "out"), "r", cfg)
    text = (tmp_path / "out" / "r" / "run.json").read_text()
    assert json.loads(text)["config"]["pipeline"]  # the settings are there...
    for v in values:
        assert v not in text  # ...the credentials are not
    summary = json.dumps(pipeline.summarize(plan, 0, 1.0, cfg))
    assert not any(v in summary for v in values)


# ---------------------------------------------------------------- on a local Ray cluster

@pytest.fixture(scope="module")
def small_models(small_model_overrides) -> list[str]:
    """Small untrained models: these tests are about scheduling, not quality."""
    return small_model_overrides


def _ray_env(tmp_path: Path) -> dict[str, str]:
    """A private Ray with token auth and this test's own token (not ~/.ray/auth_token).

    Ray's session files stay in its default temp folder: under tmp_path its socket paths would
    pass the 107-byte AF_UNIX limit."""
    token = tmp_path / "ray_auth_token"
    token.write_text(secrets.token_hex(32))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token), "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0"})
    return env


FAKE_GPU_SCRIPT = r"""
import json, sys
import ray
from ray.util.state import list_actors
from raymouth import config
from raymouth.job import pipeline
inp, out, dash_port, sets = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
# The fake GPU: this machine has none; Ray is told it has one and schedules by it.
ray.init(num_cpus=2, num_gpus=1, include_dashboard=True, dashboard_port=dash_port, log_to_driver=True)
summary = pipeline.run(inp, out, "gpu", config.load(None, sets))
actors = [{"name": a.repr_name or a.class_name, "resources": a.required_resources}
          for a in list_actors(address=ray.get_runtime_context().gcs_address, detail=True, limit=1000,
                               raise_on_missing_output=False)]
print("ACTORS " + json.dumps(actors), flush=True)
print("ROWS " + str(summary["rows"]), flush=True)
# Where this session's logs are (no public API names the session folder).
print("LOGS " + ray._private.worker.global_worker.node.get_logs_dir_path(), flush=True)
ray.shutdown()
"""


@pytest.mark.slow
def test_enhance_actor_is_scheduled_on_a_gpu(tmp_path, small_models):
    """With a cluster that advertises one (fake) GPU and num_gpus_per_enhance_actor=1, the
    EnhanceStage actor is created with GPU 1 in its resource request, the run finishes with
    every row, and no storage key shows up in the output, the logs or the run records."""
    write_frames_dataset(tmp_path / "in", fixture_path("video/retalking_face_5.mp4"), frames=4, rows_per_file=4, size=160)
    secret_sets, secret_values = _secret_overrides()
    sets = [*small_models, "pipeline.num_gpus_per_enhance_actor=1", *secret_sets]
    proc = subprocess.run(
        [sys.executable, "-c", FAKE_GPU_SCRIPT, str(tmp_path / "in"), str(tmp_path / "out"), str(free_port()), json.dumps(sets)],
        env=_ray_env(tmp_path), capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    actors = json.loads(re.search(r"^ACTORS (.*)$", proc.stdout, re.M).group(1))
    enhance = [a for a in actors if "EnhanceStage" in a["name"]]
    assert enhance, f"no EnhanceStage actor among {[a['name'] for a in actors]}"
    assert all(a["resources"].get("GPU") == 1 for a in enhance), enhance
    others = [a for a in actors if "MapWorker" in a["name"] and "EnhanceStage" not in a["name"]]
    assert others and not any(a["resources"].get("GPU") for a in others), others  # only the models get the GPU
    assert "ROWS 4" in proc.stdout

    run_dir = tmp_path / "out" / "gpu"
    rows = sum(pq.read_metadata(f).num_rows for f in (run_dir / "frames").glob("*.parquet"))
    assert rows == 4
    # No credential anywhere: driver output, this session's Ray logs, run records, output.
    logs_dir = Path(re.search(r"^LOGS (.*)$", proc.stdout, re.M).group(1))
    logs = [p for p in logs_dir.rglob("*") if p.is_file()]
    assert logs, f"expected Ray's session logs in {logs_dir}"
    for path in [*logs, *run_dir.rglob("*.json"), *run_dir.rglob("*.parquet")]:
        data = path.read_bytes()
        assert not any(v.encode() in data for v in secret_values), f"a storage key leaked into {path}"
    assert not any(v in proc.stdout + proc.stderr for v in secret_values)


@pytest.mark.slow
def test_gpu_requested_on_a_cluster_without_gpus_fails_fast(tmp_path, small_models):
    """`raymouth enhance` with num_gpus_per_enhance_actor=1 on a local cluster without GPUs: one
    clear line and exit 2 once Ray reports its resources, instead of waiting forever for a GPU."""
    write_frames_dataset(tmp_path / "in", fixture_path("video/retalking_face_5.mp4"), frames=2, rows_per_file=2, size=64)
    sets = [a for s in [*small_models, "pipeline.num_gpus_per_enhance_actor=1"] for a in ("--set", s)]
    cmd = [sys.executable, "-m", "raymouth.cli", "enhance", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--run-id", "r", *sets]
    proc = subprocess.run(cmd, env=_ray_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, (proc.stdout + proc.stderr)[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("raymouth: error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert "num_gpus_per_enhance_actor=1" in errors[0] and "0 GPUs" in errors[0]
    assert "Traceback" not in proc.stderr
    assert not list((tmp_path / "out" / "r").glob("frames/*.parquet"))  # nothing was processed
