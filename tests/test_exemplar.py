"""Reference exemplars on real fixture frames: mouth index, retrieval with exclusion and hysteresis, alignment, guided model."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import fixture_path

from raymouth.data import codec
from raymouth.exemplar import align as al
from raymouth.exemplar import index as ix
from raymouth.exemplar import retrieve as rt
from raymouth.train import degrade as dg

CLIP = "train/video/liax_driving1.mp4"  # smiles with teeth in its first second, closed mouth later


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-12))


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    from raymouth.data.video import iter_frames

    path = fixture_path(CLIP)
    return [f for i, _, f in iter_frames(path) if i < 80]


@pytest.fixture(scope="module")
def table(frames) -> pa.Table:
    from raymouth.config import LocateConfig
    from raymouth.mouth.landmarks import Landmarker

    with Landmarker(LocateConfig()) as lm:
        return ix.build_index(((i, i / 25.0, f) for i, f in enumerate(frames)), lm, "liax1", every=4, native=True)


@pytest.fixture(scope="module")
def index(table) -> rt.MouthIndex:
    return rt.MouthIndex.from_table(table)


def shape_of(mi: rt.MouthIndex, i: int) -> ix.Shape:
    return ix.Shape(np.eye(2, 3), mi.descriptor[i], mi.pose[i], 0.0, 1.0)


def test_index_rows_are_normalised_and_round_trip(table, tmp_path):
    assert len(table) == 20  # every 4th of 80 frames, a face in each
    mi = rt.MouthIndex.from_table(table)
    lips = list(ix.LIPS)
    corners = mi.descriptor[:, [lips.index(61), lips.index(291)]]
    np.testing.assert_allclose(corners, np.broadcast_to([[0, 0], [1, 0]], corners.shape), atol=1e-5)
    np.testing.assert_allclose(mi.lips_canon[:, lips.index(61)], np.broadcast_to(ix.LEFT, (20, 2)), atol=1e-3)
    assert mi.crop(0).shape == (ix.CANON_H, ix.CANON_W, 3)
    path = ix.write_index(table, tmp_path / "idx.parquet")
    assert ix.read_index(path).equals(table)
    pq.write_table(pa.table({"x": [1]}), tmp_path / "other.parquet")
    with pytest.raises(ValueError, match="mouth-index"):
        ix.read_index(tmp_path / "other.parquet")


def test_opening_and_teeth_follow_the_mouth(table):
    rows = table.to_pylist()
    widest = max(rows, key=lambda r: r["opening"])
    closed = min(rows, key=lambda r: r["opening"])
    assert widest["opening"] > 0.15 > closed["opening"]
    assert widest["teeth"] and not closed["teeth"]


def test_nearest_is_itself_unless_excluded(index):
    for i in (0, 7, 15):
        assert rt.nearest(index, shape_of(index, i), k=1) == [i]
        t = index.time_s[i]
        got = rt.nearest(index, shape_of(index, i), k=3, exclude=rt.Exclude("liax1", t, 1.0))
        assert got and all(abs(index.time_s[j] - t) >= 1.0 for j in got)
    assert rt.nearest(index, shape_of(index, 0), exclude=rt.Exclude("liax1", 1.5, 10.0)) == []
    other_clip = rt.nearest(index, shape_of(index, 0), exclude=rt.Exclude("another", index.time_s[0], 10.0))
    assert other_clip == [0]


def test_hysteresis_keeps_the_exemplar_unless_much_better(index):
    pair = index.subset(np.array([0, 12]))
    a, b = shape_of(pair, 0), shape_of(pair, 1)
    mix = ix.Shape(np.eye(2, 3), a.descriptor + 0.55 * (b.descriptor - a.descriptor), a.pose + 0.55 * (b.pose - a.pose), 0.0, 1.0)
    assert rt.retrieve_sequence(pair, [a, mix, mix], margin=0.2) == [[0], [0], [0]]
    assert rt.retrieve_sequence(pair, [a, mix, mix], margin=0.0) == [[0], [1], [1]]
    assert rt.retrieve_sequence(pair, [a, b], margin=0.2) == [[0], [1]]  # exact match beats any margin


def _native(table, i):
    r = table.to_pylist()[i]
    lips = np.asarray(r["lips_px"], np.float64).reshape(-1, 2) - np.asarray(r["box"][:2], np.float64)
    return codec.decode(r["native_png"])[0], lips


def test_alignment_flow_beats_similarity_on_another_frame(table, index):
    clean, lips = _native(table, 2)
    deg = dg.fixed(clean, "lipsync")
    j = rt.nearest(index, shape_of(index, 2), exclude=rt.Exclude("liax1", index.time_s[2], 1.0))[0]
    sim = al.align(deg, lips, index.crop(j), index.lips_canon[j], flow=False)
    flow = al.align(deg, lips, index.crop(j), index.lips_canon[j], flow=True)
    assert sim.image.shape == clean.shape and flow.confidence.shape == clean.shape[:2]
    assert psnr(flow.image, clean) > psnr(sim.image, clean) + 1.0
    assert flow.flow_px > 0.1


def test_confidence_is_high_where_the_exemplar_agrees_and_low_where_it_does_not(table, index):
    clean, lips = _native(table, 5)
    same = al.align(clean, lips, index.crop(5), index.lips_canon[5])
    assert psnr(same.image, clean) > 30.0
    h, w = clean.shape[:2]
    centre = (slice(h // 3, 2 * h // 3), slice(w // 3, 2 * w // 3))
    assert same.confidence[centre].mean() > 0.8
    ghost = index.crop(5).copy()
    gy, gx = int(ix.LEFT[1]) - 10, int(ix.LEFT[0]) + 30
    ghost[gy:gy + 20, gx:gx + 36] = 0  # structure the input does not have
    bad = al.align(clean, lips, ghost, index.lips_canon[5], flow=False)
    spot = ix.apply(bad.similarity, np.array([[gx + 18, gy + 10]]))[0].round().astype(int)
    assert bad.confidence[spot[1], spot[0]] < 0.3 < same.confidence[spot[1], spot[0]]


def test_guided_model_starts_as_identity_and_saves_with_manifest(tmp_path):
    from raymouth.models.guided import build_guided, guided_arch, load_guided, save_guided
    from raymouth.models.weights import WeightsError

    model = build_guided(num_blocks=2, num_filters=8)
    rng = np.random.default_rng(0)
    x = rng.random((1, 24, 32, 3), np.float32)
    y = model([x, rng.random((1, 24, 32, 3), np.float32), np.ones((1, 24, 32, 1), np.float32)]).numpy()
    np.testing.assert_allclose(y, x, atol=1e-6)
    path = tmp_path / "guided.keras"
    manifest = save_guided(model, path, guided_arch(2, 8), data="test")
    assert manifest["arch"]["inputs"] == ["crop", "exemplar", "confidence"]
    loaded, _ = load_guided(path, guided_arch(2, 8))
    assert len(loaded.inputs) == 3
    with pytest.raises(WeightsError, match="num_blocks"):
        load_guided(path, guided_arch(4, 8))


def test_a_mouth_over_max_px_is_restored_on_a_shrunk_copy_and_keeps_its_own_detail(table, index):
    """The packaged guided chain with ``enhance.max_px`` below the mouth's size: the output has the
    mouth's size and its model version says so; the correction is resized back, not the restored
    copy, so the mouth's own detail stays (far closer to it than the shrunk copy's output scaled up)."""
    import cv2

    from raymouth.restore.guided import Exemplar, GuidedChain

    clean, lips = _native(table, 2)
    grain = np.random.default_rng(0).normal(0.0, 8.0, (clean.shape[0] * 2, clean.shape[1] * 2, 1))  # detail only the full size has
    big = np.clip(cv2.resize(clean, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC) + grain, 0, 255).astype(np.uint8)
    j = rt.nearest(index, shape_of(index, 2), exclude=rt.Exclude("liax1", index.time_s[2], 1.0))[0]
    exemplar = Exemplar(index.crop(j), index.lips_canon[j])
    max_px = max(clean.shape[:2])
    chain = GuidedChain(max_px=max_px)
    out = chain.enhance([big], [lips * 2], [exemplar])[0]
    assert out.shape == big.shape and chain.model_version.endswith(f"+max{max_px}")
    small_out = GuidedChain().enhance([clean], [lips], [exemplar])[0]
    scaled_up = cv2.resize(small_out, big.shape[1::-1], interpolation=cv2.INTER_CUBIC)
    assert psnr(out, big) > psnr(scaled_up, big) + 3.0
