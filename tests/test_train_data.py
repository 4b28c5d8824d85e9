"""raymouth.train.data: training pairs and crops from located frames, the video split (pure numpy, no Ray)."""
from __future__ import annotations

import numpy as np
import pytest

from raymouth import config
from raymouth.data.schema import STATUS_OK


def located_batch(n: int = 3) -> dict[str, np.ndarray]:
    """A batch as Locate leaves it: ok rows with their mouth inside a window, and one no_face row."""
    rng = np.random.default_rng(1)
    windows = np.empty(n + 1, dtype=object)
    windows[:] = [rng.integers(0, 256, (60 + 4 * i, 90, 3), dtype=np.uint8) for i in range(n)] + [np.zeros((0, 0, 3), np.uint8)]
    return {
        "video_id": np.array(["v"] * (n + 1), dtype=object),
        "frame_index": np.arange(n + 1, dtype=np.int32),
        "status": np.array([STATUS_OK] * n + ["no_face"], dtype=object),
        "window": windows,
        "window_box": np.array([(100, 50, 190, 110 + 4 * i) for i in range(n)] + [(0, 0, 0, 0)], np.int32),
        "mouth_box": np.array([(110, 60, 180, 100 + 4 * i) for i in range(n)] + [(0, 0, 0, 0)], np.int32),
    }


def test_make_pairs_is_deterministic_and_skips_failed_rows():
    from raymouth.train.data import make_pairs

    cfg = config.Config()
    a = make_pairs(located_batch(), cfg, pairs_per_frame=2)
    b = make_pairs(located_batch(), cfg, pairs_per_frame=2)
    assert list(a["key"]) == ["v:0:0", "v:0:1", "v:1:0", "v:1:1", "v:2:0", "v:2:1"]
    assert a["sr_input"].shape == (6, 64, 64, 3) and a["sr_input"].dtype == np.uint8
    assert a["target"].shape == (6, 128, 128, 3)
    np.testing.assert_array_equal(a["sr_input"], b["sr_input"])
    assert not np.array_equal(a["sr_input"][0], a["sr_input"][1])  # another seed (and mirrored)
    mirror = np.abs(a["target"][1].astype(int) - a["target"][0][:, ::-1].astype(int))
    assert mirror.max() <= 1  # pair 1 is the mirror (up to the resize's rounding)
    empty = make_pairs({k: v[3:] for k, v in located_batch().items()}, cfg, pairs_per_frame=2)
    assert empty["sr_input"].shape == (0, 64, 64, 3)


def test_split_by_video_never_shares_a_video():
    from raymouth.train.data import TrainError, split_videos

    train, val = split_videos(["c", "a", "b"], config.load(overrides=["train.val_videos=1"]))
    assert (train, val) == (["a", "b"], ["c"])
    train, val = split_videos(["c", "a", "b"], config.load(overrides=["train.val_video_ids=a"]))
    assert set(train).isdisjoint(val) and val == ["a"]
    with pytest.raises(TrainError, match="not in the dataset"):
        split_videos(["a", "b"], config.load(overrides=["train.val_video_ids=zzz"]))
    with pytest.raises(TrainError, match="all held out"):
        split_videos(["a"], config.Config())


def test_clean_crops_keeps_ok_rows_only():
    from raymouth.train.data import clean_crops

    out = clean_crops(located_batch(3))
    assert list(out["key"]) == ["v:0", "v:1", "v:2"] and len(out["crop"]) == 3
