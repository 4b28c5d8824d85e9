"""The enhance chain: one code path for inference and evaluation (training pairs: ``train.pairs``).

``enhance.chain=native`` (default): every output pixel is the input plus a learned correction at
the crop's own size. Each crop is mirrored out to its own size rounded up to ``bucket_px``;
crops of one bucket run through the native EDSR in one batch (``models.edsr.build_edsr_native``:
pixel-unshuffle, EDSR body, zero-initialised tail, + input; on LiteRT or TensorFlow,
``enhance.runtime``), optionally averaged with the mirrored crop's output (``flip_ensemble``),
then sharpened, then (optional) the write-up's autoencoder's residual ``ae(x) - x`` is computed at
``ae_px``² and added back resized (a resized correction, never a resized image), and each crop is
cut back to its own size. Nothing shrinks the input: resizing a 168x110 mouth to 64² and back cost 10 dB;
a mouth over ``max_px`` (1080p close-ups) gets the correction made on a copy shrunk to it, resized back
onto the full-size mouth.

``enhance.chain=square``: the first version, crop -> ``sr_input_px``² -> super-resolution
backend -> sharpen -> ``ae_px``² -> autoencoder -> back to the crop's size; kept so the
evaluation can show both (the write-up's chain as drawn is ``square`` with the direct autoencoder).

Value ranges: crops come in and go out as RGB uint8 (H, W, 3); every model in between sees float32
RGB in [0, 1] (``to_float`` / ``to_uint8`` are the only conversions), clipped after each stage.

No Ray here: the pipeline's actor wraps ``EnhanceChain``; training and tests call it directly.
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from raymouth.config import Config, EnhanceConfig
from raymouth.models import RANDOM, interpolate, native_version
from raymouth.models.kerasapi import configure_threads
from raymouth.models.litert import use_litert
from raymouth.restore.detail import auto_detail, detail_level, detail_levels
from raymouth.restore.sharpen import sharpen_batch

SR_BACKENDS = ("edsr", "fsrcnn", "espcn", "lapsrn", "pb", "bicubic", "none")
FROZEN_BACKENDS = ("fsrcnn", "espcn", "lapsrn", "pb")
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"

Batch = np.ndarray  # (N, H, W, 3) float32 RGB in [0, 1]


def to_float(img: np.ndarray) -> np.ndarray:
    """uint8 0..255 -> float32 [0, 1] (any shape)."""
    return np.asarray(img, np.float32) * (1.0 / 255.0)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8, clipped and rounded."""
    return np.rint(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)


def resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area averaging when shrinking (no aliasing), bicubic when growing."""
    h, w = img.shape[:2]
    if (w, h) == (width, height):
        return img
    shrink = width * height < w * h
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def sr_input_size(cfg: Config) -> int:
    """Side of the square the SR backend reads; ``none`` skips SR, so it reads ``ae_px``."""
    enh = cfg.enhance
    return enh.ae_px if enh.sr_backend == "none" else enh.sr_input_px


def preprocess(crop: np.ndarray, cfg: Config) -> np.ndarray:
    """RGB uint8 crop (H, W, 3) -> uint8 (s, s, 3), s = ``sr_input_size``: the SR input."""
    check_crop(crop)
    s = sr_input_size(cfg)
    return resize(crop, s, s)


def target_at_ae_px(clean_crop: np.ndarray, cfg: Config) -> np.ndarray:
    """The clean crop at the autoencoder's size: what the chain's 128² output should match."""
    return resize(clean_crop, cfg.enhance.ae_px, cfg.enhance.ae_px)


def pad_to(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """``img`` (H, W, C) mirrored out to (height, width) at the bottom and right (numpy's
    symmetric mode works for any amount of padding); the original sits at the top left."""
    h, w = img.shape[:2]
    if (h, w) == (height, width):
        return img
    return np.pad(img, ((0, height - h), (0, width - w), (0, 0)), mode="symmetric")


def bucket(n: int, step: int) -> int:
    """``n`` rounded up to a multiple of ``step`` (at least ``step``)."""
    step = max(2, int(step))
    return max(step, -(-int(n) // step) * step)


def flips(enh: EnhanceConfig, height: int, width: int) -> bool:
    """Whether a crop bucket of this size runs the flip ensemble: on large mouths (1080p) it
    doubles the model's cost for little (docs/throughput.md)."""
    return enh.flip_ensemble and (enh.flip_max_px == 0 or max(height, width) <= enh.flip_max_px)


def shrunk(crop: np.ndarray, max_px: int) -> np.ndarray:
    """``crop`` itself, or a copy whose longer side is ``max_px`` when it is larger (0: never)."""
    h, w = crop.shape[:2]
    if max_px <= 0 or max(h, w) <= max_px:
        return crop
    scale = max_px / max(h, w)
    return resize(crop, max(1, round(w * scale)), max(1, round(h * scale)))


def grown(restored: Batch, small: np.ndarray, crop: np.ndarray) -> Batch:
    """The full-size crop plus the correction made on its shrunk copy, resized back: the crop's
    own detail above the copy's resolution is kept, not resampled."""
    delta = restored - to_float(small)
    return np.clip(to_float(crop) + resize(delta, crop.shape[1], crop.shape[0]), 0.0, 1.0)


def check_crop(crop: np.ndarray) -> None:
    if not isinstance(crop, np.ndarray) or crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != 3:
        got = f"{crop.dtype} {crop.shape}" if isinstance(crop, np.ndarray) else type(crop).__name__
        raise ValueError(f"a crop must be an RGB uint8 array (H, W, 3), got {got}")
    if min(crop.shape[:2]) < 1:
        raise ValueError(f"a crop must not be empty, got {crop.shape}")


def _weights_path(value: str, default_name: str, what: str, config_key: str) -> Path:
    """The configured path, or the packaged default with a clear error when it is not installed
    (without importing TensorFlow until then: jobs call this before any model loads)."""
    if value:
        return Path(value).expanduser()
    path = WEIGHTS_DIR / default_name
    if not path.is_file():
        from raymouth.models.weights import WeightsError

        raise WeightsError(
            f"default {what} weights {path.name} are not installed in {WEIGHTS_DIR}; "
            f"set {config_key} to a .keras file (or '{RANDOM}' for untrained weights)"
        )
    return path


def model_weights(enh: EnhanceConfig, model: str) -> Path:
    """The weights file of ``model`` (native, edsr, autoencoder): configured or packaged default."""
    value, default, what = {
        "native": (enh.native_weights, "edsr_native.keras", "native EDSR"),
        "native_detail": (enh.native_detail_weights, "edsr_native_detail.keras", "native EDSR (detail)"),
        "edsr": (enh.edsr_weights, f"edsr_x{enh.edsr.scale}.keras", "EDSR"),
        "autoencoder": (enh.autoencoder_weights, "autoencoder.keras", "autoencoder"),
    }[model]
    return _weights_path(value, default, what, f"enhance.{model}_weights")


def with_native_weights(cfg: Config, path: str | Path) -> Config:
    """``cfg`` with the native chain reading ``path`` (a person's fine-tuned model, say), without
    the automatic detail: the shipped detail weights are not of that model's lineage."""
    return cfg.with_(enhance__native_weights=str(path), enhance__detail_auto=False)


def weight_files(enh: EnhanceConfig) -> list[tuple[str, Path]]:
    """``(config key, path)`` of every weights or graph file this chain will load, so a job can
    check them before any actor starts; a missing packaged default raises ``WeightsError`` here."""
    models: list[str] = []
    if enh.chain == "native":
        models.append("native")
        if enh.detail > 0 or auto_detail(enh):
            models.append("native_detail")
    elif enh.sr_backend == "edsr":
        models.append("edsr")
    if enh.use_autoencoder:
        models.append("autoencoder")
    files = [(f"enhance.{m}_weights", model_weights(enh, m)) for m in models if getattr(enh, f"{m}_weights") != RANDOM]
    if enh.chain == "square" and enh.sr_backend in FROZEN_BACKENDS and enh.pb_path:
        files.append(("enhance.pb_path", Path(enh.pb_path).expanduser()))
    return files


def _keras_runner(model) -> Callable[[Batch], Batch]:
    return lambda batch: np.asarray(model.predict_on_batch(batch), np.float32)


def build_sr(enh: EnhanceConfig) -> tuple[Callable[[Batch], Batch], str]:
    """The SR backend as ``float batch -> float batch`` and its version tag."""
    from raymouth.models.weights import WeightsError

    backend = enh.sr_backend
    if backend not in SR_BACKENDS:
        raise ValueError(f"enhance.sr_backend {backend!r} is not one of {', '.join(SR_BACKENDS)}")
    if backend == "none":
        return (lambda batch: batch), "none"
    if backend == "bicubic":
        px = enh.ae_px
        return (lambda batch: np.stack([cv2.resize(i, (px, px), interpolation=cv2.INTER_CUBIC) for i in batch])), "bicubic"
    if backend == "edsr":
        model, version = _model("edsr", enh, f"edsr_x{enh.edsr.scale}_{enh.edsr.num_blocks}x{enh.edsr.num_filters}")
        return _keras_runner(model), version
    from raymouth.models.frozen_sr import FrozenSR, family_from_name

    if not enh.pb_path:
        raise WeightsError(f"enhance.sr_backend={backend} needs enhance.pb_path (a frozen .pb graph, e.g. FSRCNN_x2.pb)")
    family = family_from_name(enh.pb_path)
    if backend != "pb" and family and family != backend:
        raise WeightsError(f"enhance.pb_path {Path(enh.pb_path).name} is a {family} graph, not {backend}")
    frozen = FrozenSR(enh.pb_path, output_node=enh.pb_output_node or None)
    return frozen.upscale_batch, f"{frozen.family}_x{frozen.scale}@{frozen.sha256[:12]}"


def _load(weights: str, kind: str, enh: EnhanceConfig):
    """The model of ``kind`` that ``enhance.<weights>_weights`` names (``models.build`` for
    ``random``, else the checked weights file) and its id: ``random`` or the file's sha256 prefix."""
    from raymouth import models
    if getattr(enh, f"{weights}_weights") == RANDOM:
        return models.build(kind, enh)[0], RANDOM
    from raymouth.models.weights import load_checked

    model, manifest = load_checked(model_weights(enh, weights), expect_arch=models.arch(kind, enh))
    return model, manifest["sha256"][:12]


def _model(kind: str, enh: EnhanceConfig, tag: str):
    """The configured model of ``kind`` and its version tag ``<tag>@<random | sha256 prefix>``."""
    model, ident = _load(kind, kind, enh)
    return model, f"{tag}@{ident}"


def build_native(enh: EnhanceConfig):
    """The native-resolution model and its version tag; with ``enhance.detail`` > 0 its
    parameters are moved that far toward the detail-trained weights (one model, no extra cost)."""
    model, ident = _load("native", "native", enh)
    if enh.detail <= 0:
        return model, native_version(enh, ident)
    detail, detail_ident = _load("native_detail", "native", enh)
    model.set_weights(interpolate(model.get_weights(), detail.get_weights(), enh.detail))
    return model, native_version(enh, ident, detail_ident)


def lite_native(enh: EnhanceConfig):
    """``build_native`` on LiteRT (no TensorFlow): the same checked weights and version tag, as a runner."""
    from raymouth.models import arch, litert

    detail = model_weights(enh, "native_detail") if enh.detail > 0 else None
    run, ident, detail_id = litert.native_runner(model_weights(enh, "native"), detail, enh.detail, arch("native", enh), enh.tf_intra_op_threads)
    return run, native_version(enh, ident, detail_id)


def _any_size_runner(model) -> Callable[[Batch], Batch]:
    """One traced graph for every batch shape (a plain ``predict_on_batch`` retraces per size)."""
    from raymouth.models.kerasapi import tf

    fn = tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    return lambda batch: fn(tf.constant(batch)).numpy()


def build_ae(enh: EnhanceConfig):
    """The autoencoder (or None when disabled) and its version tag."""
    if not enh.use_autoencoder:
        return None, ""
    if enh.ae_px != 128:
        raise ValueError(f"enhance.ae_px must be 128 with the write-up's autoencoder, got {enh.ae_px}")
    return _model("autoencoder", enh, f"ae_{enh.autoencoder.variant}")


class EnhanceChain:
    """Loads the chain's models once; call it on a list of RGB uint8 crops of any sizes."""

    def __init__(self, cfg: Config) -> None:
        self.lite = use_litert(cfg.enhance)  # the native model on LiteRT: TensorFlow is not imported
        if not self.lite:
            configure_threads(cfg.enhance.tf_intra_op_threads, cfg.enhance.tf_inter_op_threads)
        self.cfg = cfg
        self.native = cfg.enhance.chain == "native"
        if cfg.enhance.chain not in ("native", "square"):
            raise ValueError(f"enhance.chain must be native or square, got {cfg.enhance.chain!r}")
        self.auto_detail = auto_detail(cfg.enhance)
        self._levels: dict[float, tuple] = {}  # detail level -> (weights, or LiteRT runner; version tag)
        self._net = self._run = self._net_level = None  # the native network, its runner, its level now
        if self.native:
            self.sr, sr_tag = self._level(float(cfg.enhance.detail))
            for level in detail_levels(cfg.enhance) if self.auto_detail else ():
                self._level(level)
        else:
            self.sr, sr_tag = build_sr(cfg.enhance)
        self.autoencoder, self._ae_tag = build_ae(cfg.enhance)
        # The chain's name; with auto_detail, rows say which level they used (``enhance``).
        self.model_version = self._version(sr_tag) + ("+autodetail" if self.auto_detail else "")

    def _version(self, sr_tag: str) -> str:
        enh = self.cfg.enhance
        if self.native:
            sr_tag += ("+flip" + (f"<={enh.flip_max_px}" if enh.flip_max_px else "")) if enh.flip_ensemble else ""
            sr_tag += f"+max{enh.max_px}" if enh.max_px else ""
            sr_tag += f"+gain{enh.correction_gain:g}" if enh.correction_gain != 1.0 else ""
        sharp_tag = f"sharpen{enh.sharpen.amount:g}" if enh.sharpen.amount else ""
        return "+".join(t for t in (sr_tag, sharp_tag, self._ae_tag) if t)

    def _level(self, level: float) -> tuple[Callable[[Batch], Batch], str]:
        """The native model's runner at one detail level and its version tag, built on first use: on TensorFlow
        one network and graph for every level, its weights swapped in per level; on LiteRT a flatbuffer each."""
        if level not in self._levels:
            enh = dataclasses.replace(self.cfg.enhance, detail=level)
            if self.lite:
                self._levels[level] = lite_native(enh)
            else:
                model, tag = build_native(enh)
                if self._net is None:
                    self._net, self._run, self._net_level = model, _any_size_runner(model), level
                self._levels[level] = (model.get_weights(), tag)
        return functools.partial(self._run_at, level), self._levels[level][1]

    def _run_at(self, level: float, batch: Batch) -> Batch:
        if self.lite:
            return self._levels[level][0](batch)
        if self._net_level != level:
            self._net.set_weights(self._levels[level][0])
            self._net_level = level
        return self._run(batch)

    def version_of(self, level: float) -> str:
        """The model version of crops enhanced at ``level`` (native chain)."""
        return self._version(self._level(level)[1])

    def ae_inputs(self, sr_inputs: np.ndarray) -> Batch:
        """uint8 (N, s, s, 3) SR inputs -> float (N, ae_px, ae_px, 3): SR, sharpen, resize. This is
        exactly what the autoencoder sees at inference, so training uses it too."""
        enh = self.cfg.enhance
        up = np.clip(self.sr(to_float(sr_inputs)), 0.0, 1.0)
        up = np.clip(sharpen_batch(up, enh.sharpen.amount, enh.sharpen.sigma), 0.0, 1.0)
        if up.shape[1:3] != (enh.ae_px, enh.ae_px):
            up = np.stack([resize(img, enh.ae_px, enh.ae_px) for img in up])
        return np.ascontiguousarray(up, np.float32)

    def enhance_batch(self, sr_inputs: np.ndarray) -> Batch:
        """uint8 (N, s, s, 3) SR inputs -> float (N, ae_px, ae_px, 3) in [0, 1]: the whole chain at ae_px."""
        x = self.ae_inputs(sr_inputs)
        if self.autoencoder is not None:
            x = np.asarray(self.autoencoder.predict_on_batch(x), np.float32)
        return np.clip(x, 0.0, 1.0)

    def native_batch(self, crops: list[np.ndarray], levels: list[float] | None = None) -> list[Batch]:
        """The native chain on uint8 crops of any sizes -> float crops in [0, 1], each its own size,
        each at its detail level (default ``enhance.detail``).

        Each crop is mirrored out to its own size bucket, and crops sharing a bucket and a level
        run in one model call: a crop's output never depends on which other crops share its batch
        (the mouths of one video change size slowly, so batches stay nearly full).
        """
        enh = self.cfg.enhance
        for c in crops:
            check_crop(c)
        levels = [float(enh.detail)] * len(crops) if levels is None else [float(a) for a in levels]
        full = crops
        crops = [shrunk(c, enh.max_px) for c in crops]
        out: list[Batch | None] = [None] * len(crops)
        groups: dict[tuple[int, int, float, bool], list[int]] = {}
        for i, (c, f) in enumerate(zip(crops, full)):
            flip = flips(enh, bucket(f.shape[0], enh.bucket_px), bucket(f.shape[1], enh.bucket_px))
            groups.setdefault((bucket(c.shape[0], enh.bucket_px), bucket(c.shape[1], enh.bucket_px), levels[i], flip), []).append(i)
        for (H, W, level, flip), idx in groups.items():
            sr = self._level(level)[0]
            x = to_float(np.stack([pad_to(crops[i], H, W) for i in idx]))
            y = sr(x)
            if flip:  # mouths are near-symmetric: average with the mirrored crop's output
                y = 0.5 * (y + sr(np.ascontiguousarray(x[:, :, ::-1]))[:, :, ::-1])
            if enh.correction_gain != 1.0:
                y = x + enh.correction_gain * (y - x)
            y = np.clip(y, 0.0, 1.0)
            y = np.clip(sharpen_batch(y, enh.sharpen.amount, enh.sharpen.sigma), 0.0, 1.0)
            for j, i in enumerate(idx):
                out[i] = y[j, : crops[i].shape[0], : crops[i].shape[1]]
        out = [o if c is f else grown(o, c, f) for o, c, f in zip(out, crops, full)]
        if self.autoencoder is not None:
            out = self.ae_correct(out)
        return out

    def ae_correct(self, crops: list[Batch]) -> list[Batch]:
        """crop + resize(ae(x) - x) with x the crop at ae_px²: the autoencoder as a correction."""
        px = self.cfg.enhance.ae_px
        small = np.stack([resize(c, px, px) for c in crops])
        delta = np.asarray(self.autoencoder.predict_on_batch(small), np.float32) - small
        return [np.clip(c + resize(d, c.shape[1], c.shape[0]), 0.0, 1.0) for c, d in zip(crops, delta)]

    def __call__(self, crops: list[np.ndarray], levels: list[float] | None = None) -> list[np.ndarray]:
        """Enhanced crops, each RGB uint8 with its input's size, in input order; ``levels``: each
        crop's detail level (native chain; default ``enhance.detail``)."""
        if len(crops) == 0:
            return []
        if self.native:
            return [to_uint8(c) for c in self.native_batch(list(crops), levels)]
        batch = np.stack([preprocess(c, self.cfg) for c in crops])
        out = to_uint8(self.enhance_batch(batch))
        return [resize(img, c.shape[1], c.shape[0]) for img, c in zip(out, crops)]

    def enhance(self, crops: list[np.ndarray], ratios: list[float]) -> tuple[list[np.ndarray], list[str]]:
        """The job's call: enhanced crops and each one's model version, from the crops and their
        inputs' mouth / surround sharpness ratios (they set each crop's detail level when
        ``auto_detail``; otherwise unused)."""
        if not self.auto_detail:
            return self(crops), [self.model_version] * len(crops)
        levels = [detail_level(r, self.cfg.enhance) for r in ratios]
        return self(crops, levels), [self.version_of(a) for a in levels]
