import pyarrow as pa
import pytest

from raymouth import schema


def _frames(**replace):
    cols = {
        "video_id": pa.array(["v"]),
        "frame_index": pa.array([0], pa.int32()),
        "fps": pa.array([25.0]),
        "width": pa.array([4], pa.int32()),
        "height": pa.array([4], pa.int32()),
        "image": pa.array([b"x"]),
    }
    cols.update(replace)
    return pa.table({k: v for k, v in cols.items() if v is not None})


def test_valid_frames_and_large_types_pass():
    schema.validate_frames(_frames().schema)
    schema.validate_frames(_frames(image=pa.array([b"x"], pa.large_binary()), frame_index=pa.array([0], pa.int64())).schema)


def test_missing_required_column_is_named():
    with pytest.raises(schema.SchemaError, match="'image' is missing"):
        schema.validate_frames(_frames(image=None).schema)


def test_wrong_type_is_named():
    with pytest.raises(schema.SchemaError, match="column 'frame_index' has type string"):
        schema.validate_frames(_frames(frame_index=pa.array(["0"])).schema)


def test_optional_columns_may_be_absent():
    schema.validate_frames(_frames(fps=None, width=None, height=None).schema)


def test_enhanced_requires_status_and_enhanced():
    with pytest.raises(schema.SchemaError, match="'enhanced' is missing"):
        schema.validate_enhanced(_frames().schema)
