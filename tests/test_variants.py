"""raymouth.evaluate.variants: one table for `raymouth evaluate` and the model bench."""
from __future__ import annotations

from pathlib import Path

from raymouth.bench.models import variant_configs
from raymouth.config import Config, from_dict
from raymouth.evaluate import variants
from raymouth.restore.chain import RANDOM


def test_every_listed_variant_is_in_the_table_in_report_order():
    table = variants.variant_overrides(Path("/nowhere"))
    names = list(table)
    assert set(variants.EVALUATED) | set(variants.FROZEN_GRAPHS) | set(variants.BENCHED) == set(names)
    assert [n for n in names if n in variants.EVALUATED] == list(variants.EVALUATED)
    assert variants.frozen_graph(table["lapsrn"]) == Path("/nowhere/LapSRN_x2.pb") and variants.frozen_graph(table["native"]) is None


def test_the_bench_runs_the_settings_it_always_ran(tmp_path):
    """The bench's configs, as the bench wrote them by hand before the table was shared."""
    (tmp_path / "FSRCNN_x2.pb").write_bytes(b"")  # LapSRN missing: skipped
    base = {"chain": "square", "tf_intra_op_threads": 2, "tf_inter_op_threads": 2, "edsr_weights": RANDOM,
            "autoencoder_weights": RANDOM, "native_weights": RANDOM, "use_autoencoder": False}
    small, baseline = {"num_blocks": 8, "num_filters": 32}, {"num_blocks": 16, "num_filters": 64}
    expected = {
        "native": {"chain": "native", "flip_ensemble": False, "detail_auto": False},
        "native+flip": {"chain": "native", "flip_ensemble": True, "detail_auto": False},
        "native+flip+ae": {"chain": "native", "flip_ensemble": True, "detail_auto": False, "use_autoencoder": True},
        "bicubic": {"sr_backend": "bicubic"},
        "fsrcnn": {"sr_backend": "fsrcnn", "pb_path": str(tmp_path / "FSRCNN_x2.pb")},
        "edsr_16x64": {"sr_backend": "edsr", "edsr": baseline},
        "edsr_8x32": {"sr_backend": "edsr", "edsr": small},
        "ae": {"sr_backend": "none", "use_autoencoder": True},
        "edsr_8x32+ae": {"sr_backend": "edsr", "edsr": small, "use_autoencoder": True},
        "edsr_16x64+ae": {"sr_backend": "edsr", "edsr": baseline, "use_autoencoder": True},
    }
    got = variant_configs(tmp_path, threads=2)
    assert list(got) == list(expected)
    for name, extra in expected.items():
        assert got[name].to_dict() == from_dict({"enhance": {**base, **extra}}).to_dict(), name


def test_with_overrides_validates_like_set():
    cfg = variants.with_overrides(Config(), ["enhance.sharpen.amount=0.5"])
    assert cfg.enhance.sharpen.amount == 0.5 and Config().enhance.sharpen.amount == 0.0
