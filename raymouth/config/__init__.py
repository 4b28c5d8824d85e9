"""One typed config tree for every setting.

Loaded from YAML, overridden with ``--set section.key=value``; its hash goes into every output
row so that a row always says which settings produced it.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml

from raymouth.config.identity import identity_hash, identity_of, join_key
from raymouth.config.types import ImageFormat, JpegQuality, NonNegFloat, NonNegInt, PosFloat, PosInt, Range, Share
from raymouth.errors import UserError


class ConfigError(UserError, ValueError):
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
    connect_timeout_s: PosFloat = 5.0
    # A read or write of the job that fails (endpoint gone, disk full) is tried this many more
    # times, waiting retry_wait_s, then twice that, ...; then the run stops with one line.
    retries: NonNegInt = 4
    retry_wait_s: NonNegFloat = 1.0


@dataclass
class IngestConfig:
    image_format: ImageFormat = "png"  # png (lossless) or jpeg
    jpeg_quality: JpegQuality = 95
    rows_per_file: PosInt = 256  # bounded Parquet files give every actor work
    rows_per_group: PosInt = 32  # bounded row groups keep memory per read small
    max_parallel_videos: NonNegInt = 0  # 0: one per available CPU
    image_folder_fps: PosFloat = 25.0  # frame rate given to a folder of images (it has none of its own)


@dataclass
class LocateConfig:
    model_path: str = ""  # else RAYMOUTH_LANDMARKER_MODEL, else the packaged model
    face_choice: Literal["largest", "first"] = "largest"  # largest | first
    min_detection_confidence: Share = 0.5
    min_presence_confidence: Share = 0.5
    detection_floor: Share = 0.25  # faces scoring in [floor, min_detection_confidence) -> low_confidence
    margin: NonNegFloat = 0.3  # box grows by this fraction of the lip box on each side
    min_box_px: PosInt = 24  # smaller mouth boxes -> roi_too_small
    max_side_px: Annotated[int, Range(min=16)] = 4096  # larger frames are downscaled for landmarks only
    smooth_window: PosInt = 25  # frames (~1 s) in the temporal box smoothing window (1 = off); see roi.smooth_boxes
    feather_px: NonNegInt = 6  # width of the feathered alpha band
    colour_ring_px: PosInt = 8  # width of the skin ring used for colour matching


@dataclass
class EdsrConfig:
    """Defaults match the shipped weights (EDSR-small, trainable on a CPU in minutes).

    EDSR baseline is ``num_blocks=16, num_filters=64`` (``build_edsr``'s defaults); the paper's large
    model ``num_blocks=32, num_filters=256``; each needs weights trained for it.
    """

    scale: Literal[2, 3, 4, 8] = 2
    num_blocks: PosInt = 8
    num_filters: PosInt = 32
    res_scale: PosFloat = 0.1


@dataclass
class NativeConfig:
    """The native-resolution model (``models.edsr.build_edsr_native``); defaults match the shipped weights."""

    num_blocks: PosInt = 12
    num_filters: PosInt = 32
    res_scale: PosFloat = 0.1
    unshuffle: PosInt = 2  # pixel-unshuffle factor: the body runs on (H/2, W/2) x 12 channels


@dataclass
class AutoencoderConfig:
    variant: Literal["seed_residual", "seed_direct"] = "seed_residual"  # seed_residual | seed_direct
    dropout: Annotated[float, Range(min=0, lt=1)] = 0.1


@dataclass
class SharpenConfig:
    amount: NonNegFloat = 0.0  # 0 disables; `raymouth evaluate` measures it (it lowers PSNR on clean mouths)
    sigma: PosFloat = 1.0


@dataclass
class EnhanceConfig:
    # native: output = crop + learned correction at the crop's own size (EDSR on a pixel-unshuffled
    # copy), then sharpen and the autoencoder's residual computed at ae_px² and added back at native
    # size. square: the first version (crop -> sr_input_px² -> SR -> sharpen -> ae_px² -> back), kept for evaluation.
    chain: Literal["native", "square"] = "native"  # native | square
    native_weights: str = ""  # "" = the package's default native weights
    # native chain: 0 = the fidelity weights (native_weights); 1 = the weights fine-tuned from
    # them with the fine-detail loss (native_detail_weights); between: their parameters
    # interpolated (ESRGAN's network interpolation). Higher: real lip-sync mouths come out
    # sharper, mildly degraded ones lose PSNR (docs/evaluation.md).
    detail: Share = 0.0
    native_detail_weights: str = ""  # "" = the package's edsr_native_detail.keras
    # Per mouth, a detail level from its input's mouth / surround sharpness ratio (detail.detail_level):
    # none at detail_soft_ratio and above, all at detail_full_ratio and below, in steps of detail_step. The
    # packaged weights, or yours with native_detail_weights set; never a fine-tune. docs/evaluation.md.
    detail_auto: bool = True
    detail_soft_ratio: PosFloat = 1.0
    detail_full_ratio: NonNegFloat = 0.7
    detail_step: Annotated[float, Range(gt=0, max=1)] = 0.5
    bucket_px: PosInt = 16  # native chain: crops are padded up to multiples of this, one model call per size
    flip_ensemble: bool = True  # native chain: average the outputs of the crop and its mirror image (+0.05 dB, 2x the model cost)
    flip_max_px: NonNegInt = 256  # the flip ensemble only for crops whose size bucket's longer side is at most this (0: every crop); larger mouths gain too little for 2x the cost (docs/throughput.md)
    # native chain: a crop whose longer side is above this is restored on a copy shrunk to it, and
    # the correction is resized back (a resized correction, never a resized image); 0 = every crop
    # at its own size. Large (1080p) mouths cost as much as a 256 px one (docs/throughput.md).
    max_px: NonNegInt = 256
    correction_gain: PosFloat = 1.0  # native chain: crop + gain x (model output - crop); > 1 undoes an L1 model's caution
    sr_backend: Literal["edsr", "fsrcnn", "espcn", "lapsrn", "pb", "bicubic", "none"] = "edsr"  # square chain: edsr | fsrcnn | espcn | lapsrn | pb | bicubic | none
    sr_input_px: PosInt = 64  # the crop is resized to this square before super-resolution
    ae_px: PosInt = 128  # the autoencoder's input/output side
    use_autoencoder: bool = False
    edsr_weights: str = ""  # "" = the package's default weights
    autoencoder_weights: str = ""  # "" = the package's default weights
    pb_path: str = ""  # frozen graph for sr_backend=fsrcnn|espcn|lapsrn|pb
    pb_output_node: str = ""  # "" = auto-detected (NCHW_output, LapSRN: NCHW_output_<scale>x)
    # native model on LiteRT (no TensorFlow import) or TensorFlow; auto: LiteRT where it fits (models.litert.use_litert)
    runtime: Literal["auto", "litert", "tensorflow"] = "auto"
    tf_intra_op_threads: NonNegInt = 0  # the model's threads (TensorFlow intra-op, or LiteRT's); 0 = every core
    tf_inter_op_threads: NonNegInt = 0
    native: NativeConfig = field(default_factory=NativeConfig)
    edsr: EdsrConfig = field(default_factory=EdsrConfig)
    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    sharpen: SharpenConfig = field(default_factory=SharpenConfig)


@dataclass
class DegradeConfig:
    """Training degradations. ``family=blind`` (default): from none at all (identity pairs) to
    harsh, Real-ESRGAN style; ``family=lipsync``: the first version (always 2-4x down)."""

    family: Literal["blind", "lipsync"] = "blind"  # blind | lipsync
    identity_rate: Share = 0.15  # blind: share of pairs left undegraded (learn to leave a good mouth alone)
    second_pass_rate: Share = 0.2  # blind: share of pairs degraded twice (Real-ESRGAN's second order)
    min_scale: Annotated[float, Range(min=1)] = 1.0
    max_scale: Annotated[float, Range(min=1)] = 5.0
    heavy_scale_rate: Share = 0.1  # blind: share of pairs down-scaled 5-8x (real lip-sync mouths are that soft)
    blur_rate: Share = 0.4
    motion_blur_rate: Share = 0.1
    max_blur_sigma: NonNegFloat = 1.5
    noise_rate: Share = 0.3
    max_noise_sigma: NonNegFloat = 4.0  # 0-255 units
    jpeg_rate: Share = 0.85
    jpeg_quality_min: JpegQuality = 30
    jpeg_quality_max: JpegQuality = 95
    max_colour_shift: NonNegFloat = 0.0  # per-channel offset, 0-255 units (lipsync family; it taught a colour bias)
    soft_rate: Share = 0.0  # native pairs: share whose clean crop is first made naturally soft (skin filter or soft lens), so a soft mouth without artefacts is a good one


@dataclass
class GateConfig:
    """Do-no-harm thresholds: above them the original mouth is kept (rejected_quality)."""

    # ΔE 2.3 is about one just-noticeable difference; the default chain measures ~0.4 (seam) and
    # ~0.2 (colour shift) on the fixture clips, so these catch failures, not normal output.
    max_seam: NonNegFloat = 3.0  # colour step left along the feathered border (gate.paste_seam), ΔE
    max_delta_e: NonNegFloat = 3.0  # shift of the mouth's mean colour (gate.colour_shift), ΔE
    max_sharpness_ratio: PosFloat = 3.0  # mouth 3x sharper than the face around it = artefacts
    # ... unless the input mouth was already that sharp (teeth against smooth cheeks): then only
    # a jump beyond this many times its own ratio is. Real restorations of mouths above 3 measured
    # at most 1.34x (held-out clips, lip-sync/harsh strengths); grid and ringing artefacts far more.
    max_sharpness_gain: PosFloat = 1.5
    # Below this share of the input's band-pass detail (gate.detail_ratio, DoG sigma 0.7-2 px,
    # RMS inside the paste's alpha) the model would soften the mouth: lost_detail. Measured on 40
    # mouths of the 10 fixture clips: identity 1.0, JPEG-90 copy >= 0.995, degraded (mild/lipsync/
    # harsh) input -> clean output >= 1.03, square chain (shipped EDSR) >= 0.974; Gaussian blur
    # sigma 1.0 / 1.5 / 2.0 <= 0.917 / 0.854 / 0.790 (the softest, Wav2Lip's, mouth loses least).
    # 0 disables the check.
    min_detail_ratio: NonNegFloat = 0.95
    # The lip sync is the lip-sync model's: a paste that moves the input's lip edges further than
    # this (metrics.tracked_lip_shift, pixels at a 512 px wide face, ~2.3% of the face's width) is
    # rejected (lip_shift). The clean frame itself, as the "restoration" of a 4x-degraded 111 px
    # face, measures up to 9.4 (edges re-found in a blur): only gross changes (a mouth opened or
    # closed, an exemplar ghosted in) are caught; docs/reference.md has the measurements.
    max_lip_shift_px: PosFloat = 12.0
    # Coarse structure the input does not show (gate.low_band_change, grey levels: teeth or lips
    # ghosted in from an exemplar): above this the input is kept (ghosting). Measured in docs/reference.md.
    max_low_band_change: PosFloat = 12.0


@dataclass
class PipelineConfig:
    report: bool = True  # write OUT/<run_id>/report.html at the end of a run (``raymouth report``)
    locate_batch_size: PosInt = 16
    enhance_batch_size_cpu: PosInt = 16
    enhance_batch_size_gpu: PosInt = 64
    composite_batch_size: PosInt = 16
    locate_actors: NonNegInt = 0  # 0: sized from the cluster's CPUs
    enhance_actors: NonNegInt = 0  # 0: sized from the cluster's GPUs (or CPUs without GPUs)
    num_gpus_per_enhance_actor: Annotated[float, Range(min=-1)] = -1.0  # -1: 1 when the cluster has GPUs, else 0
    cpus_per_actor: PosFloat = 0.5  # fractional, so Ray Data's read tasks are never starved
    # patch: a row stores the enhanced mouth rectangle (PNG) and its box, not a new frame; the frame is
    # the input frame with the patch pasted (raymouth.data.compose, export). Full frames made the output 199%
    # of the input's bytes. frame: the whole enhanced frame. Part of the run's identity (what it writes).
    output_mode: Literal["patch", "frame"] = "patch"
    output_format: ImageFormat = "png"  # frame mode's frames (patches are always PNG: lossless)
    rows_per_unit: PosInt = 256  # resume and smoothing grain; bounds one locate actor's memory
    # Ray Data's 128 MiB default holds a whole unit of frames in one block, and a stage only
    # starts on a block once it is complete: small blocks let the stages overlap.
    max_block_mib: PosFloat = 4.0
    # A local Ray cluster that raymouth starts itself (no RAY_ADDRESS, or RAY_ADDRESS=local) runs
    # without Ray's dashboard: a faster start and less memory (docs/throughput.md). true starts it, to watch a local run.
    local_dashboard: bool = False


@dataclass
class TrainConfig:
    epochs: PosInt = 5
    batch_size: PosInt = 16
    learning_rate: PosFloat = 1e-3
    workers: PosInt = 2
    gpus_per_worker: NonNegFloat = 0.0
    cpus_per_worker: PosFloat = 0.5
    val_videos: NonNegInt = 1
    pairs_per_frame: PosInt = 2
    frame_stride: PosInt = 2
    seed: int = 0
    val_video_ids: str = ""  # comma-separated held-out video ids; "" = the last val_videos ids by name
    flip: bool = True  # odd pair numbers use the mirrored crop (mouths are near-symmetric)
    max_val_pairs: PosInt = 256  # validation pairs scored per epoch (rank 0)
    shuffle_buffer: PosInt = 256  # rows in each worker's local shuffle buffer
    fail_after_epoch: NonNegInt = 0  # testing resume: fail right after this epoch's checkpoint (0 = never)
    max_failures: NonNegInt = 3  # worker-group failures Ray Train retries from the latest checkpoint
    lr_decay_epochs: NonNegInt = 0  # halve the learning rate every this many epochs (0 = constant)
    # native model: pairs are drawn afresh every step from the clean crops (blind degradation)
    steps_per_epoch: PosInt = 500  # native: training steps per epoch (one checkpoint each)
    patch_px: PosInt = 64  # native: side of the training patch, at the crop's own resolution
    edge_loss_weight: NonNegFloat = 0.5  # native: weight of the image-gradient L1 term (models.losses)
    detail_loss_weight: NonNegFloat = 0.0  # native: weight of the fine-detail (Laplacian RMS) match term (models.losses)
    cosine_decay: bool = True  # native: cosine learning-rate decay over all epochs (else lr_decay_epochs)
    # start from these weights instead of fresh ones (fine-tuning): a .keras file of the same
    # architecture, or "shipped" for the configured enhance.<model>_weights / packaged default
    init_weights: str = ""


@dataclass
class ReferenceConfig:
    """Restoring with each person's own source clip (``raymouth enhance --reference``): either the
    reference-guided restorer (``guided``: the person's own mouth retrieved from the clip, aligned
    and fused by a network trained across identities) or a per-identity fine-tune of the shipped
    native model, kept only where it validates better (``finetune``)."""

    mode: Literal["guided", "finetune"] = "finetune"
    guided_weights: str = ""  # the guided network's .keras; empty: the packaged weights
    index_every: PosInt = 4  # the mouth index takes every Nth reference frame (neighbours are near-duplicates)
    index_max_frames: PosInt = 2000  # at most this many indexed frames per reference, evenly spaced
    exemplar_margin: Share = 0.2  # keep the previous frame's exemplar unless a new one is this much closer (no flicker)
    steps: PosInt = 400  # training steps per identity (batches of train.batch_size patches of train.patch_px²)
    # A guard, not a length: a fine-tune that has not made its `steps` by then fails the run with
    # one line (a result that depended on how busy the machine was would not be reproducible).
    max_minutes: PosFloat = 30.0
    learning_rate: PosFloat = 5e-4  # Adam's starting rate, cosine-decayed over `chunks` (train.learning_rate's code)
    # Weight of the fine-detail term (models.losses.laplacian_rms) in the fine-tunes' loss, in place
    # of train.detail_loss_weight: the target is the person's own sharp mouth, so matching its amount
    # of fine detail is what moves a soft lip-synced mouth toward the source (docs/reference.md).
    detail_loss_weight: NonNegFloat = 0.5
    # Where a fine-tune starts: the native weights moved this far toward the detail weights
    # (enhance.detail's interpolation); 0: the fidelity weights, 1: the detail weights, whose
    # fine-tunes move soft lip-sync mouths 3-15x further toward their source (docs/reference.md).
    # Your own native_weights without their native_detail_weights start from themselves.
    start_detail: Share = 1.0
    chunks: PosInt = 10  # the fine-tune's "epochs": the learning rate is set once per chunk
    frame_stride: PosInt = 2  # every Nth reference frame (neighbouring frames are near-duplicates)
    max_frames: PosInt = 400  # at most this many reference frames per identity, evenly spaced (bounds memory and time)
    val_share: Annotated[float, Range(gt=0, lt=1)] = 0.2  # the last share of the frames, in time, validates
    val_strength: Literal["mild", "lipsync", "harsh"] = "lipsync"  # degrade.fixed strength of the validation pairs
    min_crops: PosInt = 16  # fewer training mouths than this: no fine-tune, the shipped model is used
    min_gain_db: NonNegFloat = 0.0  # keep the fine-tune only when it beats the shipped model by more than this
    cache_size: PosInt = 4  # per-identity chains each enhance actor keeps loaded (least recently used goes)
    num_gpus: Annotated[float, Range(min=-1)] = -1.0  # per fine-tune task; -1: 1 when the cluster has GPUs, else 0
    cpus: PosFloat = 1.0  # per fine-tune task


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
    reference: ReferenceConfig = field(default_factory=ReferenceConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def with_(self, **changes: Any) -> "Config":
        """A copy with ``section__key=value`` changes, e.g. ``cfg.with_(pipeline__output_mode="frame")``:
        one call instead of nested ``dataclasses.replace`` (unknown names raise TypeError)."""
        sections: dict[str, dict[str, Any]] = {}
        for name, value in changes.items():
            section, sep, key = name.partition("__")
            if not sep:
                raise TypeError(f"Config.with_ takes section__key=value, got {name!r}")
            sections.setdefault(section, {})[key] = value
        return dataclasses.replace(self, **{s: dataclasses.replace(getattr(self, s), **kv) for s, kv in sections.items()})

    def hash(self) -> str:
        """Stable short hash of the settings that decide the output (``identity``): a run's identity.

        Execution-only settings (``identity.EXECUTION_KEYS``: pool sizes, batch sizes, threads, storage
        connection, training) and credentials are left out.
        """
        return identity_hash(self.identity())

    def identity(self) -> dict[str, Any]:
        """Every setting that changes what a run writes, flattened to ``section.key: value``."""
        return identity_of(self.to_dict())


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"config: '{where or 'top level'}' must be a mapping")
    hints = typing.get_type_hints(cls, include_extras=True)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"config: unknown key '{join_key(where, unknown[0])}'")
    kwargs = {}
    for name, value in data.items():
        typ = hints[name]
        key = join_key(where, name)
        kwargs[name] = _build(typ, value, key) if dataclasses.is_dataclass(typ) else _coerce(typ, value, key)
    return cls(**kwargs)


def _coerce(typ: Any, value: Any, key: str) -> Any:
    """``value`` as the field's type, with ``Literal`` choices and ``Annotated`` ``Range`` bounds checked."""
    origin = typing.get_origin(typ)
    if origin is Annotated:
        base, *extras = typing.get_args(typ)
        value = _coerce(base, value, key)
        for extra in extras:
            problem = extra.problem(value) if isinstance(extra, Range) else None
            if problem:
                raise ConfigError(f"config: '{key}' must be {problem}, got {value!r}")
        return value
    if origin is Literal:
        choices = typing.get_args(typ)
        for choice in choices:
            try:
                candidate = _coerce(type(choice), value, key)
            except ConfigError:
                continue
            if candidate == choice:
                return choice
        raise ConfigError(f"config: '{key}' must be one of {', '.join(map(str, choices))}; got {value!r}")
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
    cfg = _build(Config, data or {}, "")
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    """Rules between settings (each field's own type, choices and bounds are checked by ``_build``)."""
    rules = [
        (cfg.ingest.rows_per_group <= cfg.ingest.rows_per_file, "ingest.rows_per_group must not exceed ingest.rows_per_file"),
        (cfg.locate.detection_floor <= cfg.locate.min_detection_confidence, "locate.detection_floor must not exceed locate.min_detection_confidence"),
        (cfg.degrade.min_scale <= cfg.degrade.max_scale, "degrade.min_scale must not exceed degrade.max_scale"),
        (cfg.degrade.jpeg_quality_min <= cfg.degrade.jpeg_quality_max, "degrade.jpeg_quality_min must not exceed degrade.jpeg_quality_max"),
        (cfg.pipeline.num_gpus_per_enhance_actor >= 0 or cfg.pipeline.num_gpus_per_enhance_actor == -1, "pipeline.num_gpus_per_enhance_actor must be -1 (automatic) or at least 0"),
        (cfg.enhance.detail_full_ratio < cfg.enhance.detail_soft_ratio, "enhance.detail_full_ratio must be below enhance.detail_soft_ratio"),
        (cfg.enhance.runtime != "litert" or (cfg.enhance.chain == "native" and not cfg.enhance.use_autoencoder),
         "enhance.runtime=litert runs the native chain's model only (enhance.chain=native, use_autoencoder=false)"),
        (cfg.enhance.sr_backend not in ("fsrcnn", "espcn", "lapsrn", "pb") or bool(cfg.enhance.pb_path),
         f"enhance.sr_backend={cfg.enhance.sr_backend} needs enhance.pb_path (a frozen .pb graph, e.g. FSRCNN_x2.pb)"),
    ]
    for ok, message in rules:
        if not ok:
            raise ConfigError(f"config: {message}")


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
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"config file {p} is not valid YAML{at}: {what}") from None
    return from_dict(apply_overrides(data, overrides or []))


def dump_yaml(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
