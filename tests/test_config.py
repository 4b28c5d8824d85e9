import pytest

from raymouth import config


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
