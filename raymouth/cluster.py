"""Connecting to Ray and sizing the actor pools from what the cluster really has."""
from __future__ import annotations

import os
from dataclasses import dataclass

from raymouth.config import Config
from raymouth.console import verbose
from raymouth.errors import UserError, one_line


class ClusterError(UserError, RuntimeError):
    """The cluster cannot run the job as configured; the message is one line for the user."""


def ensure_ray(cfg: Config | None = None, worker_output: bool = False) -> None:
    """Join the cluster named by RAY_ADDRESS (or the job's own); start a local one otherwise.

    By default the console stays clean: workers' output (TensorFlow, MediaPipe and absl start-up
    lines) stays in Ray's log files instead of being copied to the driver, Ray logs only errors,
    and Ray Data draws one progress bar per stage in a terminal and nothing otherwise (the
    pipeline prints a short progress line instead). ``RAYMOUTH_VERBOSE=1`` (``--verbose``) shows
    everything. Errors raised in workers still reach the driver as exceptions.
    ``worker_output`` copies workers' output anyway: training prints its per-epoch line there.
    A local cluster started here has no dashboard unless ``pipeline.local_dashboard``.
    """
    import logging
    import sys

    import ray

    if ray.is_initialized():
        return
    loud = verbose()
    address = os.environ.get("RAY_ADDRESS") or None
    local = {"include_dashboard": bool(cfg and cfg.pipeline.local_dashboard)} if address in (None, "local") else {}  # starting one
    try:
        ray.init(address=address, log_to_driver=loud or worker_output, configure_logging=True, logging_level="INFO" if loud else "ERROR", **local)
    except Exception as exc:  # noqa: BLE001 - any failure to start or join is the user's to fix: one line
        ray.shutdown()  # leave nothing running that the failed start began
        if address:
            raise ClusterError(f"could not join the Ray cluster at {address}: {one_line(exc)}") from None
        raise ClusterError(f"could not start a local Ray cluster: {one_line(exc)}; is another one running? (join it with RAY_ADDRESS=auto)") from None
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = loud or sys.stdout.isatty()
    ctx.enable_operator_progress_bars = True
    if not loud:
        logging.getLogger("ray.data").setLevel(logging.ERROR)


@dataclass(frozen=True)
class StageSizes:
    """Actor pool sizes and per-actor GPUs for the enhance graph (``pipeline.build``)."""

    locate_actors: int
    enhance_actors: int
    composite_actors: int
    gpus_per_enhance_actor: float
    enhance_batch_size: int
    enhance_threads: int = 0  # TensorFlow intra-op threads per enhance actor (0: TensorFlow's default)


def stage_sizes(cfg: Config, resources: dict | None = None) -> StageSizes:
    """Actor pool sizes from config, or from the cluster's CPUs and GPUs when config says 0."""
    if resources is None:
        import ray

        resources = ray.cluster_resources()
    cpus = float(resources.get("CPU", 1))
    gpus = float(resources.get("GPU", 0))
    p = cfg.pipeline
    per_gpu = p.num_gpus_per_enhance_actor
    if per_gpu < 0:
        per_gpu = 1.0 if gpus >= 1 else 0.0
    if per_gpu > 0 and gpus < per_gpu:
        raise ClusterError(
            f"pipeline.num_gpus_per_enhance_actor={per_gpu} but the cluster has {gpus:g} GPUs; "
            "add GPU workers or set it to 0 to run the models on CPU"
        )
    cpu_slots = max(1, int(cpus / p.cpus_per_actor))
    if per_gpu > 0:
        # One actor per GPU (or per GPU fraction), but never more than half the CPU slots:
        # each enhance actor also holds `cpus_per_actor` on its GPU node.
        enhance = p.enhance_actors or max(1, min(int(gpus / per_gpu + 1e-9), cpu_slots // 2))
        # Landmarks get half of the CPU slots the enhance actors leave.
        locate = p.locate_actors or max(1, (cpu_slots - enhance) // 2)
    else:
        # CPU only: the models are about half the work (docs/throughput.md), so half the slots go to
        # enhance actors, a quarter each to landmarks and compositing. Several one-thread model
        # actors beat one actor with every thread: measured on 2 CPUs at 5,000 frames, 91% of the
        # bound once started against 85%.
        enhance = p.enhance_actors or max(1, cpu_slots // 2)
        locate = p.locate_actors or max(1, cpu_slots // 4)
    composite = max(1, cpu_slots // 4)
    batch = p.enhance_batch_size_gpu if per_gpu > 0 else p.enhance_batch_size_cpu
    return StageSizes(locate, enhance, composite, per_gpu, batch, enhance_threads(cfg, cpus, enhance, per_gpu))


def enhance_threads(cfg: Config, cpus: float, enhance_actors: int, gpus_per_actor: float) -> int:
    """``enhance.tf_intra_op_threads`` when set; on CPU-only clusters the cores shared out among
    the model actors (TensorFlow's default, every core in each actor, oversubscribes them);
    with GPUs, TensorFlow's default."""
    if cfg.enhance.tf_intra_op_threads or gpus_per_actor > 0:
        return cfg.enhance.tf_intra_op_threads
    return max(1, int(cpus // enhance_actors))
