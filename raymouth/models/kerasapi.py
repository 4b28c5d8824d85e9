"""The one Keras this project uses: ``tf_keras`` (Keras 2 as a package).

Keras 3's ``model.fit`` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585,
ray-project/ray#47464), which Ray Train needs; training and inference must use the same Keras,
so every module imports ``keras`` from here.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tensorflow as tf
    import tf_keras as keras

__all__ = ["keras", "tf", "load", "configure_threads", "configure_gpus"]


def load() -> tuple[Any, Any]:
    """``(tensorflow, tf_keras)``, imported on the first call with Keras 2 selected and TensorFlow's
    C++ logging quietened (both must be set before TensorFlow is imported). Importing this module
    does neither; ``from raymouth.models.kerasapi import keras`` (or ``tf``) calls this."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow
    import tf_keras

    globals().update(tf=tensorflow, keras=tf_keras)
    return tensorflow, tf_keras


def __getattr__(name: str) -> Any:  # PEP 562: ``tf`` and ``keras`` are loaded when first asked for
    if name in ("tf", "keras"):
        return dict(zip(("tf", "keras"), load()))[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def configure_gpus() -> int:
    """Let TensorFlow take GPU memory as it needs it instead of all of it at start; returns the
    number of visible GPUs (0 on a CPU-only machine, where this does nothing).

    Needed when several actors share one GPU (``pipeline.num_gpus_per_enhance_actor`` < 1): by
    default the first TensorFlow process reserves the whole card. Must run before any op; later
    calls (runtime already initialised) keep what TensorFlow has.
    """
    tf = load()[0]
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
    tf = load()[0]
    try:
        if intra_op:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        if inter_op:
            tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:
        pass  # TensorFlow already initialised its runtime; keep what it has
