"""A run's identity: the settings that decide what it writes, flattened, hashed and compared.

Everything else (``EXECUTION_KEYS``) may change between a run and its resume.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

# Settings that change how a run executes, not what it writes: left out of ``Config.hash()``,
# the run's identity, so a run can be resumed with other pool sizes, batch sizes or threads.
# An entry is a section (every key in it) or one dotted key.
EXECUTION_KEYS = (
    "storage",  # where the data is and how to connect to it
    "train",  # an enhance run reads trained weights (enhance.*_weights); how they were trained is theirs
    "degrade",  # training and evaluation pairs only; an enhance run never degrades anything
    "ingest.max_parallel_videos",
    "enhance.runtime",  # LiteRT or TensorFlow: the same model, outputs within ~3e-7 (tests/test_litert.py)
    "enhance.tf_intra_op_threads",
    "enhance.tf_inter_op_threads",
    "pipeline.report",  # a page about the output, not the output
    "pipeline.locate_batch_size",
    "pipeline.enhance_batch_size_cpu",
    "pipeline.enhance_batch_size_gpu",
    "pipeline.composite_batch_size",
    "pipeline.locate_actors",
    "pipeline.enhance_actors",
    "pipeline.num_gpus_per_enhance_actor",
    "pipeline.cpus_per_actor",
    "pipeline.max_block_mib",
    "pipeline.local_dashboard",
    # per-identity fine-tuning: a run with --reference records these settings (and the
    # train.*/degrade.* ones its fine-tunes use) in run.json and refuses a resume with others
    # (reference.record), so runs without a reference keep their identity
    "reference",
)


def join_key(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def flatten(data: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Nested config dict -> ``{"section.key": value}``."""
    flat: dict[str, Any] = {}
    for name, value in data.items():
        key = join_key(where, name)
        if isinstance(value, dict):
            flat.update(flatten(value, key))
        else:
            flat[key] = value
    return flat


def is_execution_key(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in EXECUTION_KEYS)


def identity_of(data: dict[str, Any]) -> dict[str, Any]:
    """The output-deciding part of a (nested) config dict, e.g. one read back from a run.json."""
    return {k: v for k, v in flatten(data).items() if not is_execution_key(k)}


def identity_hash(identity: dict[str, Any]) -> str:
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def identity_diff(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(key, old value, new value)`` for every output-deciding key that differs (missing = None)."""
    return [(k, old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
