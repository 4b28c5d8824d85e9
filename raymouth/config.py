"""One typed config tree for every setting.

Loaded from YAML, overridden with ``--set section.key=value``; its hash goes into every output
row so that a row always says which settings produced it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A bad config file or override; the message is one line for the user."""


SECRET_STORAGE_KEYS = ("access_key_id", "secret_access_key", "session_token")  # never hashed or written


@dataclass
class StorageConfig:
    """S3 settings; empty values fall back to the standard AWS variables."""

    endpoint_url: str = ""  # else AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3
    region: str = ""  # else AWS_REGION / AWS_DEFAULT_REGION
    access_key_id: str = ""  # else AWS_ACCESS_KEY_ID (prefer env or instance profile)
    secret_access_key: str = ""  # else AWS_SECRET_ACCESS_KEY
    session_token: str = ""  # else AWS_SESSION_TOKEN (temporary credentials)
    connect_timeout_s: float = 5.0


@dataclass
class IngestConfig:
    image_format: str = "png"  # png (lossless) or jpeg
    jpeg_quality: int = 95
    rows_per_file: int = 256  # bounded Parquet files give every actor work
    rows_per_group: int = 32  # bounded row groups keep memory per read small
    max_parallel_videos: int = 0  # 0: one per available CPU
    image_folder_fps: float = 25.0  # frame rate given to a folder of images (it has none of its own)


@dataclass
class LocateConfig:
    model_path: str = ""  # else RAYMOUTH_LANDMARKER_MODEL, else the packaged model
    face_choice: str = "largest"  # largest | first
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    detection_floor: float = 0.25  # faces scoring in [floor, min_detection_confidence) -> low_confidence
    margin: float = 0.3  # box grows by this fraction of the lip box on each side
    min_box_px: int = 24  # smaller mouth boxes -> roi_too_small
    max_side_px: int = 4096  # larger frames are downscaled for landmarks only
    smooth_window: int = 25  # frames (~1 s) in the temporal box smoothing window (1 = off); see roi.smooth_boxes
    feather_px: int = 6  # width of the feathered alpha band
    colour_ring_px: int = 8  # width of the skin ring used for colour matching


@dataclass
class EdsrConfig:
    """Defaults match the shipped weights (EDSR-small, trainable on a CPU in minutes).

    EDSR baseline is ``num_blocks=16, num_filters=64`` (``build_edsr``'s defaults); the paper's
    large model ``num_blocks=32, num_filters=256``. Either needs weights trained for it.
    """

    scale: int = 2
    num_blocks: int = 8
    num_filters: int = 32
    res_scale: float = 0.1


@dataclass
class NativeConfig:
    """The native-resolution model (``models.edsr.build_edsr_native``); defaults match the shipped weights."""

    num_blocks: int = 8
    num_filters: int = 32
    res_scale: float = 0.1
    unshuffle: int = 2  # pixel-unshuffle factor: the body runs on (H/2, W/2) x 12 channels


@dataclass
class AutoencoderConfig:
    variant: str = "seed_residual"  # seed_residual | seed_direct
    dropout: float = 0.1


@dataclass
class SharpenConfig:
    amount: float = 0.0  # 0 disables; `raymouth evaluate` measures it (it lowers PSNR on clean mouths)
    sigma: float = 1.0


@dataclass
class EnhanceConfig:
    # native: output = crop + learned correction at the crop's own size (EDSR on a
    # pixel-unshuffled copy), then sharpen and the autoencoder's residual computed at ae_px² and
    # added back at native size. square: the first version (crop -> sr_input_px² -> SR backend
    # -> sharpen -> autoencoder at ae_px² -> back to the crop's size), kept for evaluation.
    chain: str = "native"  # native | square
    native_weights: str = ""  # "" = the package's default native weights
    bucket_px: int = 16  # native chain: crops are padded up to multiples of this, one model call per size
    sr_backend: str = "edsr"  # square chain: edsr | fsrcnn | espcn | lapsrn | pb | bicubic | none
    sr_input_px: int = 64  # the crop is resized to this square before super-resolution
    ae_px: int = 128  # the autoencoder's input/output side
    use_autoencoder: bool = False
    edsr_weights: str = ""  # "" = the package's default weights
    autoencoder_weights: str = ""  # "" = the package's default weights
    pb_path: str = ""  # frozen graph for sr_backend=fsrcnn|espcn|lapsrn|pb
    pb_output_node: str = ""  # "" = auto-detected (NCHW_output, LapSRN: NCHW_output_<scale>x)
    tf_intra_op_threads: int = 0  # TensorFlow thread pools for the chain; 0 = TensorFlow default
    tf_inter_op_threads: int = 0
    native: NativeConfig = field(default_factory=NativeConfig)
    edsr: EdsrConfig = field(default_factory=EdsrConfig)
    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    sharpen: SharpenConfig = field(default_factory=SharpenConfig)


@dataclass
class DegradeConfig:
    """Training degradations. ``family=blind`` (default): from none at all (identity pairs) to
    harsh, Real-ESRGAN style; ``family=lipsync``: the first version (always 2-4x down)."""

    family: str = "blind"  # blind | lipsync
    identity_rate: float = 0.15  # blind: share of pairs left undegraded (learn to leave a good mouth alone)
    second_pass_rate: float = 0.2  # blind: share of pairs degraded twice (Real-ESRGAN's second order)
    min_scale: float = 1.0
    max_scale: float = 5.0
    heavy_scale_rate: float = 0.1  # blind: share of pairs down-scaled 5-8x (real lip-sync mouths are that soft)
    blur_rate: float = 0.4
    motion_blur_rate: float = 0.1
    max_blur_sigma: float = 1.5
    noise_rate: float = 0.3
    max_noise_sigma: float = 4.0  # 0-255 units
    jpeg_rate: float = 0.85
    jpeg_quality_min: int = 30
    jpeg_quality_max: int = 95
    max_colour_shift: float = 0.0  # per-channel offset, 0-255 units (lipsync family; it taught a colour bias)


@dataclass
class GateConfig:
    """Do-no-harm thresholds: above them the original mouth is kept (rejected_quality)."""

    # ΔE 2.3 is about one just-noticeable difference; the default chain measures ~0.4 (seam) and
    # ~0.2 (colour shift) on the fixture clips, so these catch failures, not normal output.
    max_seam: float = 3.0  # colour step left along the feathered border (metrics.paste_seam), ΔE
    max_delta_e: float = 3.0  # shift of the mouth's mean colour (metrics.colour_shift), ΔE
    max_sharpness_ratio: float = 3.0  # mouth 3x sharper than the face around it = artefacts


@dataclass
class PipelineConfig:
    locate_batch_size: int = 16
    enhance_batch_size_cpu: int = 16
    enhance_batch_size_gpu: int = 64
    composite_batch_size: int = 16
    locate_actors: int = 0  # 0: sized from the cluster's CPUs
    enhance_actors: int = 0  # 0: sized from the cluster's GPUs (or CPUs without GPUs)
    num_gpus_per_enhance_actor: float = -1.0  # -1: 1 when the cluster has GPUs, else 0
    cpus_per_actor: float = 0.5  # fractional, so Ray Data's read tasks are never starved
    output_format: str = "png"
    rows_per_unit: int = 256  # resume and smoothing grain; bounds one locate actor's memory
    # Ray Data's 128 MiB default holds a whole unit of frames in one block, and a stage only
    # starts on a block once it is complete: small blocks let the stages overlap.
    max_block_mib: float = 4.0


@dataclass
class TrainConfig:
    epochs: int = 5
    batch_size: int = 16
    learning_rate: float = 1e-3
    workers: int = 2
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 0.5
    val_videos: int = 1
    pairs_per_frame: int = 2
    frame_stride: int = 2
    seed: int = 0
    val_video_ids: str = ""  # comma-separated held-out video ids; "" = the last val_videos ids by name
    flip: bool = True  # odd pair numbers use the mirrored crop (mouths are near-symmetric)
    max_val_pairs: int = 256  # validation pairs scored per epoch (rank 0)
    shuffle_buffer: int = 256  # rows in each worker's local shuffle buffer
    fail_after_epoch: int = 0  # testing resume: fail right after this epoch's checkpoint (0 = never)
    max_failures: int = 3  # worker-group failures Ray Train retries from the latest checkpoint
    lr_decay_epochs: int = 0  # halve the learning rate every this many epochs (0 = constant)
    # native model: pairs are drawn afresh every step from the clean crops (blind degradation)
    steps_per_epoch: int = 500  # native: training steps per epoch (one checkpoint each)
    patch_px: int = 64  # native: side of the training patch, at the crop's own resolution
    edge_loss_weight: float = 0.5  # native: weight of the image-gradient L1 term (models.losses)
    cosine_decay: bool = True  # native: cosine learning-rate decay over all epochs (else lr_decay_epochs)


@dataclass
class Config:
    storage: StorageConfig = field(default_factory=StorageConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    locate: LocateConfig = field(default_factory=LocateConfig)
    enhance: EnhanceConfig = field(default_factory=EnhanceConfig)
    degrade: DegradeConfig = field(default_factory=DegradeConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """Stable short hash of every setting except credentials."""
        data = self.to_dict()
        data["storage"] = {k: v for k, v in data["storage"].items() if k not in SECRET_STORAGE_KEYS}
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"config: '{where or 'top level'}' must be a mapping")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"config: unknown key '{_join(where, unknown[0])}'")
    kwargs = {}
    for name, value in data.items():
        typ = hints[name]
        key = _join(where, name)
        kwargs[name] = _build(typ, value, key) if dataclasses.is_dataclass(typ) else _coerce(typ, value, key)
    return cls(**kwargs)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _coerce(typ: type, value: Any, key: str) -> Any:
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"config: '{key}' must be true or false, got {value!r}")
    try:
        if typ is float and isinstance(value, (int, float, str)):
            return float(value)
        if typ is int and isinstance(value, (int, str)) and not isinstance(value, bool):
            return int(value)
        if typ is str:
            return "" if value is None else str(value)
    except ValueError:
        pass
    raise ConfigError(f"config: '{key}' must be {typ.__name__}, got {value!r}")


def from_dict(data: dict[str, Any]) -> Config:
    return _build(Config, data or {}, "")


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` strings (values parsed as YAML scalars) to a plain dict."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects section.key=value, got {item!r}")
        path, raw = item.split("=", 1)
        parts = path.strip().split(".")
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set: '{path}' is not a config section")
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""
    return data


def load(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults, then the YAML file, then ``--set`` overrides, validated into a Config."""
    data: dict[str, Any] = {}
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {p} is not valid YAML: {str(exc).splitlines()[0]}") from None
    return from_dict(apply_overrides(data, overrides or []))


def dump_yaml(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
