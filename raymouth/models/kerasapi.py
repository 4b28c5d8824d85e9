"""The one Keras this project uses: ``tf_keras`` (Keras 2 as a package).

Keras 3's ``model.fit`` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585,
ray-project/ray#47464), which Ray Train needs; training and inference must use the same Keras,
so every module imports ``keras`` from here.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

__all__ = ["keras", "tf", "configure_threads", "configure_gpus"]


def configure_gpus() -> int:
    """Let TensorFlow take GPU memory as it needs it instead of all of it at start; returns the
    number of visible GPUs (0 on a CPU-only machine, where this does nothing).

    Needed when several actors share one GPU (``pipeline.num_gpus_per_enhance_actor`` < 1): by
    default the first TensorFlow process reserves the whole card. Must run before any op; later
    calls (runtime already initialised) keep what TensorFlow has.
    """
    gpus = tf.config.list_physical_devices("GPU")  # respects CUDA_VISIBLE_DEVICES set by Ray
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass  # TensorFlow already initialised its runtime; keep what it has
    return len(gpus)


def configure_threads(intra_op: int = 0, inter_op: int = 0) -> None:
    """Set TensorFlow's thread pools and GPU memory growth before any op runs (Ray sets
    OMP_NUM_THREADS=1 in workers).

    0 means TensorFlow's default. Safe to call more than once: later calls are ignored.
    """
    configure_gpus()
    try:
        if intra_op:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        if inter_op:
            tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:
        pass  # TensorFlow already initialised its runtime; keep what it has
