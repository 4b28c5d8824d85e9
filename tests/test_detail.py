"""Automatic detail: the level each mouth gets, and when it applies."""
from __future__ import annotations

import dataclasses

from raymouth.config import from_dict
from raymouth.restore.chain import with_native_weights
from raymouth.restore.detail import auto_detail, detail_level


def test_detail_level_rises_as_the_mouth_gets_softer_than_its_face():
    """None at or above detail_soft_ratio, all of it at or below detail_full_ratio, steps between,
    never below enhance.detail; a ratio that could not be measured keeps enhance.detail."""
    enh = from_dict({"enhance": {"detail_soft_ratio": 1.0, "detail_full_ratio": 0.6, "detail_step": 0.25}}).enhance
    assert [detail_level(r, enh) for r in (3.0, 1.0, 0.97, 0.85, 0.8, 0.7, 0.6, 0.1)] == [0.0, 0.0, 0.0, 0.5, 0.5, 0.75, 1.0, 1.0]
    floor = dataclasses.replace(enh, detail=0.5)
    assert [detail_level(r, floor) for r in (2.0, 0.62, float("nan"))] == [0.5, 1.0, 0.5]
    assert detail_level(float("nan"), enh) == 0.0


def test_automatic_detail_needs_detail_weights_of_the_same_lineage():
    """Packaged native weights: on; the user's own native weights: off unless they name their
    detail weights; a person's fine-tune: off; the square chain: off."""
    cfg = from_dict({})
    assert auto_detail(cfg.enhance)
    assert not auto_detail(from_dict({"enhance": {"native_weights": "mine.keras"}}).enhance)
    assert auto_detail(from_dict({"enhance": {"native_weights": "mine.keras", "native_detail_weights": "mine_detail.keras"}}).enhance)
    assert not auto_detail(with_native_weights(cfg, "person.keras").enhance)
    assert not auto_detail(from_dict({"enhance": {"chain": "square"}}).enhance)
    assert not auto_detail(from_dict({"enhance": {"detail_auto": False}}).enhance)


def test_the_levels_built_at_start_are_every_level_a_mouth_can_get():
    from raymouth.config import EnhanceConfig
    import numpy as np

    from raymouth.restore.detail import detail_level, detail_levels

    for step, floor in ((0.5, 0.0), (0.3, 0.0), (0.25, 0.5), (1.0, 0.0)):
        enh = EnhanceConfig(detail_step=step, detail=floor)
        reachable = {detail_level(r, enh) for r in np.linspace(0.0, 2.0, 2001)}
        assert reachable == set(detail_levels(enh)), (step, floor)
    assert detail_levels(EnhanceConfig(detail_auto=False, detail=0.5)) == [0.5]
