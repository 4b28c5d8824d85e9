"""Model weights on disk: ``<name>.keras`` plus a ``<name>.json`` manifest beside it.

The manifest records the file's sha256, the architecture (the builder's config), what data
trained it, its metrics and a version string. Loading checks all of it, so a truncated
download, a corrupt file or weights for another architecture fail with one clear line
(``WeightsError``) instead of a Keras traceback or, worse, silently wrong output.
"""
from __future__ import annotations

import datetime as _dt
import json
import posixpath
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raymouth.data.storage import file_sha256
from raymouth.errors import UserError

if TYPE_CHECKING:  # TensorFlow is imported only where a model is saved or loaded
    from raymouth.models.kerasapi import keras

MANIFEST_FORMAT = "raymouth-weights/1"


class WeightsError(UserError, RuntimeError):
    """Missing, corrupt or mismatched weights; the message is one line for the user."""


def manifest_path(path: str | Path) -> Path:
    """``models/edsr_x2.keras`` -> ``models/edsr_x2.json``."""
    return Path(path).with_suffix(".json")


def manifest_uri(uri: str) -> str:
    """``manifest_path`` for a URI: ``s3://b/models/x.keras`` -> ``s3://b/models/x.json``."""
    return posixpath.splitext(uri)[0] + ".json"


def _without_optimizer(model: keras.Model) -> keras.Model:
    """An uncompiled copy when the model carries optimizer state: shipped files stay small."""
    if getattr(model, "optimizer", None) is None:
        return model
    from raymouth.models.kerasapi import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def save_model(
    model: keras.Model,
    path: str | Path,
    arch: dict[str, Any],
    data: str = "",
    metrics: dict[str, Any] | None = None,
    version: str = "",
) -> dict[str, Any]:
    """Write ``path`` (.keras, without optimizer state) and its manifest; returns the manifest.

    ``arch`` is the builder's description (``edsr_arch``/``autoencoder_arch``), checked on load.
    """
    path = Path(path)
    from raymouth.models.kerasapi import keras

    if path.suffix != ".keras":
        raise ValueError(f"weights path must end in .keras, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    _without_optimizer(model).save(path)
    manifest = {
        "format": MANIFEST_FORMAT,
        "file": path.name,
        "sha256": file_sha256(path),
        "size_bytes": path.stat().st_size,
        "arch": arch,
        "data": data,
        "metrics": metrics or {},
        "version": version or path.stem,
        "params": int(model.count_params()),
        "keras": f"tf_keras {keras.__version__}",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    manifest_path(path).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest beside ``path``, checked for the fields loading needs."""
    mpath = manifest_path(path)
    if not mpath.is_file():
        raise WeightsError(f"weights manifest not found: {mpath} (it must sit beside {Path(path).name})")
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WeightsError(f"weights manifest {mpath} is not valid JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT or "sha256" not in manifest:
        raise WeightsError(f"weights manifest {mpath} is not a {MANIFEST_FORMAT} manifest")
    return manifest


def check_arch(path: str | Path, manifest: dict[str, Any], expect_arch: dict[str, Any] | None) -> None:
    """Every key of ``expect_arch`` must equal the manifest's architecture."""
    if not expect_arch:
        return
    have = manifest.get("arch") or {}
    diffs = [f"{k}={have.get(k)!r} (want {v!r})" for k, v in expect_arch.items() if have.get(k) != v]
    if diffs:
        raise WeightsError(f"weights {Path(path).name} do not match the configured architecture: {', '.join(diffs)}")


def checked_manifest(path: str | Path, expect_arch: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of ``path`` after verifying the file's sha256 and architecture (no TensorFlow)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    manifest = read_manifest(path)
    sha = file_sha256(path)
    if sha != manifest["sha256"]:
        raise WeightsError(
            f"weights file {path} is corrupt or truncated: sha256 {sha[:12]}… does not match its manifest's {manifest['sha256'][:12]}…"
        )
    check_arch(path, manifest, expect_arch)
    return manifest


def load_checked(path: str | Path, expect_arch: dict[str, Any] | None = None) -> tuple[keras.Model, dict[str, Any]]:
    """Load a model after verifying its sha256 and architecture; returns ``(model, manifest)``."""
    import raymouth.models.edsr  # noqa: F401  (registers EDSR's custom layers for deserialisation)

    manifest = checked_manifest(path, expect_arch)
    from raymouth.models.kerasapi import keras

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for unreadable archives
        raise WeightsError(f"weights file {path} could not be loaded by Keras: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    return model, manifest


def load_model(path: str | Path, expect_arch: dict[str, Any] | None = None) -> keras.Model:
    """``load_checked`` without the manifest."""
    return load_checked(path, expect_arch)[0]
