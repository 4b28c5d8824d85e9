"""The enhance variants: named sets of config overrides, one table for `raymouth evaluate` and the
model bench (``raymouth.bench.models``).

A variant is ``section.key=value`` overrides on top of a base config (validated like ``--set``).
``identity`` pastes the input crop back without any model (colour match + paste + gate only);
``default`` adds nothing: the shipped (or the user's) config as it is (native + flip with each
mouth's detail level from its softness, ``enhance.detail_auto``). ``native`` is the native
chain alone (one model call, no flip ensemble, automatic detail, sharpening or autoencoder).
``detail0.5`` / ``detail1``: native + flip with its weights half / all the way to the
detail-trained ones for every mouth (``enhance.detail``). ``square`` is the first
version (crop -> 64² -> EDSR x2 -> sharpen -> the write-up's autoencoder at 128² -> back);
``sharpen`` and ``bicubic`` run the same 64² square chain with sharpening only / bicubic only.
``lapsrn`` / ``fsrcnn`` are the official frozen graphs (slow; evaluate runs them only when asked
for); ``edsr_*`` and ``ae`` are the first chain's models alone, measured by the bench.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from raymouth import config as config_mod
from raymouth.config import Config

IDENTITY = "identity"
DEFAULT = "default"
FIRST_VERSION_SHARPEN = 0.5  # amount of the sharpen variants; the write-up names cv2.addWeighted but no amount
FROZEN_GRAPHS = ("lapsrn", "fsrcnn")
EVALUATED = (IDENTITY, DEFAULT, "native", "native+flip", "native+sharpen", "native+ae", "detail0.5", "detail1", "square", "sharpen", "bicubic")
BENCHED = ("native", "native+flip", "native+flip+ae", "bicubic", "fsrcnn", "lapsrn", "edsr_16x64", "edsr_8x32", "ae", "edsr_8x32+ae", "edsr_16x64+ae")


def fixture_models_dir() -> Path:
    """Where the official ``.pb`` graphs live: ``$RAYMOUTH_FIXTURES/models`` or ``../shared/fixtures/models``."""
    env = os.environ.get("RAYMOUTH_FIXTURES")
    root = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "fixtures"
    return root / "models"


def variant_overrides(pb_dir: Path | None = None) -> dict[str, list[str]]:
    """Each variant as config overrides on top of the base config, in report order (see above);
    the frozen graphs are read from ``pb_dir`` (default ``fixture_models_dir()``)."""
    pb = Path(pb_dir) if pb_dir else fixture_models_dir()
    plain = ["enhance.use_autoencoder=false", "enhance.sharpen.amount=0"]
    sharp = f"enhance.sharpen.amount={FIRST_VERSION_SHARPEN}"
    native = ["enhance.chain=native", "enhance.flip_ensemble=false", "enhance.detail_auto=false", *plain]
    square = ["enhance.chain=square"]
    edsr = [*square, "enhance.sr_backend=edsr", "enhance.use_autoencoder=false"]
    baseline = ["enhance.edsr.num_blocks=16", "enhance.edsr.num_filters=64"]
    small = ["enhance.edsr.num_blocks=8", "enhance.edsr.num_filters=32"]
    return {
        IDENTITY: [],
        DEFAULT: [],
        "native": native,
        "native+flip": [*native, "enhance.flip_ensemble=true"],
        "native+sharpen": [*native, sharp],
        "native+ae": [*native, "enhance.use_autoencoder=true"],
        "detail0.5": [*native, "enhance.flip_ensemble=true", "enhance.detail=0.5"],
        "detail1": [*native, "enhance.flip_ensemble=true", "enhance.detail=1"],
        "square": [*square, "enhance.sr_backend=edsr", sharp, "enhance.use_autoencoder=true"],
        "sharpen": [*square, "enhance.sr_backend=none", "enhance.use_autoencoder=false", sharp],
        "bicubic": [*square, "enhance.sr_backend=bicubic", *plain],
        "lapsrn": [*square, "enhance.sr_backend=lapsrn", f"enhance.pb_path={pb / 'LapSRN_x2.pb'}", "enhance.pb_output_node=", *plain],
        "fsrcnn": [*square, "enhance.sr_backend=fsrcnn", f"enhance.pb_path={pb / 'FSRCNN_x2.pb'}", "enhance.pb_output_node=", *plain],
        "native+flip+ae": [*native, "enhance.flip_ensemble=true", "enhance.use_autoencoder=true"],
        "edsr_16x64": [*edsr, *baseline],
        "edsr_8x32": [*edsr, *small],
        "ae": [*square, "enhance.sr_backend=none", "enhance.use_autoencoder=true"],
        "edsr_8x32+ae": [*edsr, *small, "enhance.use_autoencoder=true"],
        "edsr_16x64+ae": [*edsr, *baseline, "enhance.use_autoencoder=true"],
    }


def frozen_graph(overrides: list[str]) -> Path | None:
    """The ``.pb`` file a variant reads, if any."""
    paths = [o.split("=", 1)[1] for o in overrides if o.startswith("enhance.pb_path=")]
    return Path(paths[-1]) if paths and paths[-1] else None


def with_overrides(cfg: Config, overrides: list[str]) -> Config:
    """A new Config: ``cfg`` with ``section.key=value`` overrides applied (validated like ``--set``)."""
    return config_mod.from_dict(config_mod.apply_overrides(cfg.to_dict(), list(overrides)))


def align_edsr_arch(cfg: Config) -> Config:
    """EDSR sizes of the square chain taken from the configured weights' manifest, so a variant runs
    whatever size the weights were trained at. Not applied to ``default``: there a mismatch is a bug."""
    from raymouth.restore.chain import RANDOM, WEIGHTS_DIR

    enh = cfg.enhance
    if enh.chain != "square" or enh.sr_backend != "edsr" or enh.edsr_weights == RANDOM:
        return cfg
    path = Path(enh.edsr_weights).expanduser() if enh.edsr_weights else WEIGHTS_DIR / f"edsr_x{enh.edsr.scale}.keras"
    manifest = path.with_suffix(".json")
    if not manifest.is_file():
        return cfg  # loading reports the missing weights in one line
    arch = json.loads(manifest.read_text()).get("arch") or {}
    sizes = {k: arch[k] for k in ("scale", "num_blocks", "num_filters", "res_scale") if k in arch}
    return dataclasses.replace(cfg, enhance=dataclasses.replace(enh, edsr=dataclasses.replace(enh.edsr, **sizes)))
