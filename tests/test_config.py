import pytest

from raymouth import config
from raymouth.config import identity


def test_defaults_load_and_hash_is_stable():
    a, b = config.load(), config.load()
    assert a == b and a.hash() == b.hash() and len(a.hash()) == 12


def test_yaml_then_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("enhance:\n  edsr:\n    num_blocks: 32\n    num_filters: 256\npipeline:\n  locate_batch_size: 8\n")
    cfg = config.load(f, ["pipeline.locate_batch_size=4", "enhance.use_autoencoder=false", "enhance.sharpen.amount=0.5"])
    assert (cfg.enhance.edsr.num_blocks, cfg.enhance.edsr.num_filters) == (32, 256)
    assert cfg.pipeline.locate_batch_size == 4
    assert cfg.enhance.use_autoencoder is False
    assert cfg.enhance.sharpen.amount == 0.5
    assert cfg.hash() != config.load().hash()


def test_hash_ignores_credentials_but_not_settings():
    base = config.load()
    with_key = config.load(None, ["storage.secret_access_key=abc"])
    assert base.hash() == with_key.hash()
    assert base.hash() != config.load(None, ["gate.max_seam=1"]).hash()


@pytest.mark.parametrize(
    "override, words",
    [
        (["enhance.nope=1"], "unknown key 'enhance.nope'"),
        (["pipeline.locate_batch_size=abc"], "must be int"),
        (["enhance.use_autoencoder=maybe"], "true or false"),
        (["noequals"], "section.key=value"),
        (["enhance=3"], "must be a mapping"),
    ],
)
def test_bad_overrides_give_one_clear_line(override, words):
    with pytest.raises(config.ConfigError) as err:
        config.load(None, override)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(config.ConfigError, match="not found"):
        config.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("enhance: [unclosed\n")
    with pytest.raises(config.ConfigError, match="not valid YAML"):
        config.load(bad)


def test_dump_round_trips(tmp_path):
    cfg = config.load(None, ["locate.margin=0.4"])
    f = tmp_path / "dump.yaml"
    f.write_text(config.dump_yaml(cfg))
    assert config.load(f) == cfg


@pytest.mark.parametrize(
    "override, words",
    [
        ("enhance.sr_backend=foo", "'enhance.sr_backend' must be one of edsr, fsrcnn"),
        ("enhance.chain=round", "'enhance.chain' must be one of native, square"),
        ("enhance.autoencoder.variant=big", "'enhance.autoencoder.variant' must be one of"),
        ("degrade.family=harsh", "'degrade.family' must be one of blind, lipsync"),
        ("ingest.image_format=gif", "'ingest.image_format' must be one of png, jpeg"),
        ("pipeline.output_format=webp", "'pipeline.output_format' must be one of"),
        ("locate.face_choice=middle", "'locate.face_choice' must be one of"),
        ("enhance.edsr.scale=5", "'enhance.edsr.scale' must be one of 2, 3, 4, 8"),
        ("pipeline.cpus_per_actor=0", "'pipeline.cpus_per_actor' must be greater than 0"),
        ("pipeline.rows_per_unit=0", "'pipeline.rows_per_unit' must be at least 1"),
        ("pipeline.locate_actors=-1", "'pipeline.locate_actors' must be at least 0"),
        ("ingest.jpeg_quality=101", "'ingest.jpeg_quality' must be at most 100"),
        ("locate.min_detection_confidence=1.5", "must be at most 1"),
        ("degrade.jpeg_rate=-0.1", "'degrade.jpeg_rate' must be at least 0"),
        ("enhance.autoencoder.dropout=1", "must be less than 1"),
        ("train.workers=0", "'train.workers' must be at least 1"),
        ("pipeline.num_gpus_per_enhance_actor=-0.5", "-1 (automatic) or at least 0"),
        ("locate.detection_floor=0.9", "detection_floor must not exceed"),
        ("ingest.rows_per_group=300", "rows_per_group must not exceed ingest.rows_per_file"),
        ("enhance.sr_backend=fsrcnn", "needs enhance.pb_path"),
    ],
)
def test_choices_and_bounds_are_checked_on_load(override, words):
    with pytest.raises(config.ConfigError) as err:
        config.load(None, [override])
    assert words in str(err.value) and "\n" not in str(err.value)


def test_valid_choices_and_bounds_load():
    cfg = config.load(None, ["enhance.sr_backend=bicubic", "enhance.edsr.scale=4", "pipeline.num_gpus_per_enhance_actor=0.5",
                             "ingest.image_format=jpeg", "enhance.chain=square", "pipeline.cpus_per_actor=0.25"])
    assert (cfg.enhance.sr_backend, cfg.enhance.edsr.scale, cfg.ingest.image_format) == ("bicubic", 4, "jpeg")
    assert cfg.pipeline.num_gpus_per_enhance_actor == 0.5 and cfg.pipeline.cpus_per_actor == 0.25


def test_every_user_error_class_shares_one_base():
    from raymouth import cluster, errors
    from raymouth.data import export, ingest, storage, video
    from raymouth.job import pipeline
    from raymouth.models.weights import WeightsError

    for cls in (config.ConfigError, storage.StorageError, export.ExportError, ingest.IngestError, pipeline.PipelineError,
                cluster.ClusterError, video.VideoError, WeightsError):
        assert issubclass(cls, errors.UserError), cls


def test_execution_settings_are_not_part_of_the_run_identity():
    base = config.load()
    execution = config.load(None, ["pipeline.locate_actors=3", "pipeline.enhance_actors=2", "pipeline.locate_batch_size=4",
                                   "pipeline.enhance_batch_size_cpu=4", "pipeline.cpus_per_actor=0.25", "pipeline.max_block_mib=8",
                                   "enhance.tf_intra_op_threads=2", "storage.region=eu-west-1", "train.epochs=9"])
    assert execution.hash() == base.hash() and execution.identity() == base.identity()
    for output_key in ("enhance.sharpen.amount=0.5", "pipeline.rows_per_unit=64", "pipeline.output_format=jpeg", "pipeline.output_mode=frame",
                       "locate.margin=0.2"):
        assert config.load(None, [output_key]).hash() != base.hash(), output_key
    assert all(not identity.is_execution_key(k) for k in base.identity())
    assert "pipeline.rows_per_unit" in base.identity() and "pipeline.locate_actors" not in base.identity()


def test_identity_diff_names_keys_and_values():
    old = config.load().identity()
    new = config.load(None, ["enhance.sharpen.amount=0.5", "gate.max_seam=2"]).identity()
    assert identity.identity_diff(old, new) == [("enhance.sharpen.amount", 0.0, 0.5), ("gate.max_seam", 3.0, 2.0)]


def test_with_changes_keys_of_several_sections_and_leaves_the_original():
    cfg = config.Config()
    changed = cfg.with_(pipeline__output_mode="frame", enhance__detail_auto=False, enhance__flip_ensemble=not cfg.enhance.flip_ensemble)
    assert changed.pipeline.output_mode == "frame" and changed.enhance.detail_auto is False
    assert changed.enhance.flip_ensemble != cfg.enhance.flip_ensemble
    assert cfg == config.Config()  # the original is untouched
    assert changed.locate == cfg.locate
    with pytest.raises(TypeError):
        cfg.with_(output_mode="frame")  # no section
    with pytest.raises(TypeError):
        cfg.with_(pipeline__no_such_key=1)


def test_a_yaml_syntax_error_names_its_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipeline:\n  rows_per_unit: 64\n  output_mode: [patch\n")
    with pytest.raises(config.ConfigError) as err:
        config.load(str(bad))
    message = str(err.value)
    assert "\n" not in message and str(bad) in message and "line 4, column 1" in message, message
