"""The frames, videos and enhanced tables as pyarrow schemas, and their validator."""
from __future__ import annotations

import pyarrow as pa

KEY = ("video_id", "frame_index")

STATUS_OK = "ok"
STATUS_NO_FACE = "no_face"
STATUS_ROI_TOO_SMALL = "roi_too_small"
STATUS_LOW_CONFIDENCE = "low_confidence"
STATUS_REJECTED_QUALITY = "rejected_quality"
STATUS_DECODE_ERROR = "decode_error"
STATUSES = (
    STATUS_OK,
    STATUS_NO_FACE,
    STATUS_ROI_TOO_SMALL,
    STATUS_LOW_CONFIDENCE,
    STATUS_REJECTED_QUALITY,
    STATUS_DECODE_ERROR,
)

FRAMES = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("frame_index", pa.int32(), nullable=False),
        pa.field("fps", pa.float64()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("image", pa.binary(), nullable=False),
        pa.field("timestamp", pa.float64()),  # seconds from the video's start (VFR-safe)
    ]
)
FRAMES_OPTIONAL = {"reference": pa.binary(), "source_path": pa.string(), "timestamp": pa.float64()}


def frames_schema(*optional: str, drop: tuple[str, ...] = (), extra: list[pa.Field] = ()) -> pa.Schema:
    """``FRAMES`` without the ``drop`` columns, then the named ``FRAMES_OPTIONAL`` columns and
    ``extra`` fields, in that order: every frames table this package writes."""
    fields = [f for f in FRAMES if f.name not in drop]
    return pa.schema([*fields, *(pa.field(name, FRAMES_OPTIONAL[name]) for name in optional), *extra])

# One row per video, written beside the frames so export can restore fps, length and audio.
VIDEOS = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("source_path", pa.string()),
        pa.field("fps", pa.float64()),
        pa.field("frame_count", pa.int32()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("duration_s", pa.float64()),
        pa.field("audio", pa.binary()),  # the source's audio stream remuxed alone (e.g. .mka), or null
        pa.field("audio_format", pa.string()),
    ]
)

# Why a row is rejected_quality (the reject_reason column), in the order the gate checks them: the
# paste leaves an edge (seam), shifts the mouth's colour (colour_shift), leaves it far sharper than
# the face (over_sharp), softens it (lost_detail), moves the lips' edges (lip_shift) or draws coarse
# structure the input does not show (ghosting). Several that fire are joined with "+" in this
# order (e.g. "seam+lost_detail"); rows that are not rejected have "".
REJECT_SEAM = "seam"
REJECT_COLOUR_SHIFT = "colour_shift"
REJECT_OVER_SHARP = "over_sharp"
REJECT_LOST_DETAIL = "lost_detail"
REJECT_LIP_SHIFT = "lip_shift"
REJECT_GHOSTING = "ghosting"
REJECT_REASONS = (REJECT_SEAM, REJECT_COLOUR_SHIFT, REJECT_OVER_SHARP, REJECT_LOST_DETAIL, REJECT_LIP_SHIFT, REJECT_GHOSTING)
REJECT_REASON_SEP = "+"


def reject_reasons(value: str | None) -> list[str]:
    """The single reasons of one reject_reason value ("" or None: none)."""
    return [r for r in (value or "").split(REJECT_REASON_SEP) if r]


# Per-row measures (NaN where not measured). seam and delta_e are what the paste itself adds, in
# ΔE units (gate.paste_seam, gate.colour_shift); detail_ratio is the mouth's band-pass detail
# kept by the paste, output over input (gate.detail_ratio); lip_shift_px is how far the lips' edges
# moved, in pixels of a 512 px wide face (metrics.tracked_lip_shift); low_band_change is how far the
# mouth's coarse structure changed, in grey levels (gate.low_band_change); psnr/ssim need a reference column.
METRIC_COLUMNS = (
    "sharpness_in",
    "sharpness_out",
    "sharpness_ratio_in",
    "sharpness_ratio_out",
    "seam",
    "delta_e",
    "detail_ratio",
    "lip_shift_px",
    "low_band_change",
    "psnr_in",
    "psnr_out",
    "ssim_in",
    "ssim_out",
)

# pipeline.output_mode: what the enhanced column holds. patch: the PNG of the pasted rectangle
# (patch_box), null where nothing was pasted; frame: the whole enhanced frame (the input's bytes
# where nothing was pasted).
OUTPUT_PATCH = "patch"
OUTPUT_FRAME = "frame"
FULL_FRAME_COLUMNS = ("image", "reference")  # whole-frame bytes: not written in patch mode

ENHANCED_EXTRA = [
    pa.field("enhanced", pa.binary(), nullable=False),
    pa.field("status", pa.string(), nullable=False),
    pa.field("reject_reason", pa.string()),  # "" unless rejected_quality; see REJECT_REASONS
    pa.field("mouth_box", pa.list_(pa.int32(), 4)),
    # The rectangle the paste changed (inside mouth_box: where its feathered mask is non-zero);
    # every pixel outside it is the input's. Null where nothing was pasted.
    pa.field("patch_box", pa.list_(pa.int32(), 4)),
    *[pa.field(name, pa.float64()) for name in METRIC_COLUMNS],
    pa.field("model_version", pa.string()),
    pa.field("config_hash", pa.string()),
    pa.field("run_id", pa.string()),
]
ENHANCED = pa.schema(list(FRAMES) + ENHANCED_EXTRA)  # frame mode
PATCHES = pa.schema(  # patch mode: no whole-frame bytes, and no patch where nothing was pasted
    [f for f in FRAMES if f.name not in FULL_FRAME_COLUMNS]
    + [f.with_nullable(True) if f.name == "enhanced" else f for f in ENHANCED_EXTRA]
)


class SchemaError(ValueError):
    """A table does not match its contract; the message names the column."""


def validate(schema_of_table: pa.Schema, contract: pa.Schema, name: str = "table") -> None:
    """Raise SchemaError naming the first missing or mistyped column.

    Nullable contract columns may be absent (they are optional); non-nullable ones must exist.
    Extra columns are allowed: the enhanced table carries the input's columns through.
    """
    for field in contract:
        idx = schema_of_table.get_field_index(field.name)
        if idx < 0:
            if not field.nullable:
                raise SchemaError(f"{name}: required column '{field.name}' is missing")
            continue
        actual = schema_of_table.field(idx).type
        if not _compatible(actual, field.type):
            raise SchemaError(f"{name}: column '{field.name}' has type {actual}, expected {field.type}")


def _compatible(actual: pa.DataType, expected: pa.DataType) -> bool:
    if actual.equals(expected):
        return True
    families = (
        (pa.types.is_binary, pa.types.is_large_binary),
        (pa.types.is_string, pa.types.is_large_string),
        (pa.types.is_integer,),
        (pa.types.is_floating,),
        (pa.types.is_list, pa.types.is_fixed_size_list, pa.types.is_large_list),
    )
    for family in families:
        if any(f(expected) for f in family) and any(f(actual) for f in family):
            return True
    return False


def validate_frames(schema_of_table: pa.Schema) -> None:
    validate(schema_of_table, FRAMES, "frames table")


def validate_enhanced(schema_of_table: pa.Schema) -> None:
    validate(schema_of_table, ENHANCED, "enhanced table")


def validate_patches(schema_of_table: pa.Schema) -> None:
    validate(schema_of_table, PATCHES, "patch table")


def is_patch_table(schema_of_table: pa.Schema) -> bool:
    """An enhanced table written in patch mode: an ``enhanced`` column but no input frames."""
    return "enhanced" in schema_of_table.names and "image" not in schema_of_table.names
