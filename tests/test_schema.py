import pyarrow as pa
import pytest

from raymouth.data import schema


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


def test_enhanced_has_a_reject_reason_string_and_the_detail_ratio():
    field = schema.ENHANCED.field("reject_reason")
    assert field.type == pa.string() and field.nullable  # optional: tables from before it validate
    assert schema.ENHANCED.field("detail_ratio").type == pa.float64()
    assert "detail_ratio" in schema.METRIC_COLUMNS
    table = pa.table({**{n: _frames().column(n) for n in _frames().column_names},
                      "enhanced": pa.array([b"x"]), "status": pa.array(["ok"]), "reject_reason": pa.array([3])})
    with pytest.raises(schema.SchemaError, match="column 'reject_reason' has type int64"):
        schema.validate_enhanced(table.schema)


def test_reject_reasons_split_in_the_fixed_order():
    assert schema.REJECT_REASONS == ("seam", "colour_shift", "over_sharp", "lost_detail", "lip_shift", "ghosting")
    assert schema.reject_reasons("") == [] and schema.reject_reasons(None) == []
    assert schema.reject_reasons("lost_detail") == ["lost_detail"]
    assert schema.reject_reasons("seam+lost_detail") == ["seam", "lost_detail"]
