"""The locate stage on hand-built batches with real MediaPipe: every bad-frame kind gets its status."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import fixture_path

from raymouth.bench.locate import read_frames
from raymouth.config import Config
from raymouth.data import codec
from raymouth.mouth import roi
from raymouth.mouth.locate import Locate, mouth_crop

ADDED = ("status", "mouth_box", "mouth_polygon", "confidence", "window", "window_box", "frame_hw", "landmarks")


@pytest.fixture(scope="module")
def locate():
    with Locate(Config()) as stage:
        yield stage


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return codec.decode(fixture_path("images/gfpgan_Adele_crop.png").read_bytes())[0]


def _png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def _batch(images: list[bytes]) -> dict[str, np.ndarray]:
    n = len(images)
    return {
        "video_id": np.array([f"v{i}" for i in range(n)], dtype=object),
        "frame_index": np.zeros(n, np.int32),
        "image": np.array(images, dtype=object),
        "note": np.arange(n, dtype=np.int64) * 7,
    }


def _small_face(face: np.ndarray, side: int) -> np.ndarray:
    small = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    return cv2.copyMakeBorder(small, 120, 120, 120, 120, cv2.BORDER_CONSTANT)


def test_every_bad_frame_kind_gets_its_status(locate, face):
    bgr = cv2.cvtColor(face, cv2.COLOR_RGB2BGR)
    cases = {
        "ok": (codec.encode(face), "ok"),
        "garbage": (b"definitely not an image", "decode_error"),
        "empty": (b"", "decode_error"),
        "gray": (_png(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)), "ok"),
        "rgba": (_png(cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)), "ok"),
        "16bit": (_png(bgr.astype(np.uint16) * 257), "ok"),
        "dogs": (fixture_path("images/dlib_dogs.jpg").read_bytes(), "no_face"),
        "one_pixel": (_png(np.zeros((1, 1, 3), np.uint8)), "no_face"),
        "small_face": (codec.encode(_small_face(face, 70)), "roi_too_small"),
        "blurred": (codec.encode(cv2.GaussianBlur(face, (0, 0), 22)), "low_confidence"),
    }
    batch = _batch([data for data, _ in cases.values()])
    out = locate(batch)
    got = dict(zip(cases, out["status"]))
    print({k: (s, round(float(c), 2)) for k, s, c in zip(cases, out["status"], out["confidence"])})
    assert got == {k: want for k, (_, want) in cases.items()}
    assert set(out) == set(batch) | set(ADDED)
    for key in batch:  # input columns pass through unchanged
        assert out[key] is batch[key] or np.array_equal(out[key], batch[key])
    assert out["mouth_box"].dtype == np.int32 and out["mouth_box"].shape == (len(cases), 4)
    assert out["confidence"].dtype == np.float32
    for i, status in enumerate(out["status"]):
        if status != "ok":
            assert not out["mouth_box"][i].any() and out["landmarks"][i].size == 0 and out["mouth_polygon"][i].size == 0
            assert out["window"][i].size == 0 and not out["window_box"][i].any()
            continue
        x0, y0, x1, y1 = out["mouth_box"][i]
        frame = codec.decode(batch["image"][i])[0]
        assert np.array_equal(mouth_crop(out, i), frame[y0:y1, x0:x1])  # the box inside the window
        assert out["landmarks"][i].shape == (478 * 2,)
        (wx0, wy0, wx1, wy1), _ = roi.window(frame.shape, (x0, y0, x1, y1))  # what compositing reads
        assert tuple(out["window_box"][i]) == (wx0, wy0, wx1, wy1) and tuple(out["frame_hw"][i]) == frame.shape[:2]
        assert np.array_equal(out["window"][i], frame[wy0:wy1, wx0:wx1])
        poly = out["mouth_polygon"][i].reshape(-1, 2)
        assert poly.dtype == np.float32 and len(poly) == 20
        assert (poly[:, 0] >= x0).all() and (poly[:, 0] < x1).all() and (poly[:, 1] >= y0).all() and (poly[:, 1] < y1).all()
    assert np.abs(out["confidence"][0] - out["confidence"][3]) < 0.1  # grayscale still a confident face


def test_8k_frame_is_located_through_a_downscaled_copy(locate, face):
    # MediaPipe's short-range detector misses faces under ~20% of the frame width, so the face is large.
    side, ox, oy = 2400, 2600, 1000
    big = np.full((4320, 7680, 3), 90, np.uint8)
    big[oy : oy + side, ox : ox + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    out = locate(_batch([codec.encode(face), codec.encode(big, "jpeg")]))
    assert list(out["status"]) == ["ok", "ok"]
    small_box, big_box = out["mouth_box"].astype(float)
    expected = ((small_box[:2] + small_box[2:]) / 2) * side / face.shape[0] + (ox, oy)
    centre = (big_box[:2] + big_box[2:]) / 2
    assert np.abs(centre - expected).max() < 0.03 * side
    assert mouth_crop(out, 1).shape[:2] == (big_box[3] - big_box[1], big_box[2] - big_box[0])


def test_boxes_are_smoothed_per_video_in_frame_order(locate):
    frames = read_frames(fixture_path("video/retalking_face_5.mp4"), 12)
    images = [codec.encode(f) for f in frames]
    n = len(images)
    ordered = {"video_id": np.array(["a"] * n, dtype=object), "frame_index": np.arange(n, dtype=np.int32),
               "image": np.array(images, dtype=object)}  # fmt: skip
    perm = np.random.default_rng(0).permutation(n)
    shuffled = {k: v[perm] for k, v in ordered.items()}
    alone = dict(ordered, video_id=np.array([f"s{i}" for i in range(n)], dtype=object))
    box_ordered = locate(ordered)["mouth_box"]
    assert np.array_equal(locate(shuffled)["mouth_box"], box_ordered[perm])
    box_alone = locate(alone)["mouth_box"]
    assert not np.array_equal(box_alone, box_ordered)  # rows of one video are smoothed together
    centres = lambda b: (b[:, :2] + b[:, 2:]) / 2  # noqa: E731
    assert np.diff(centres(box_ordered), axis=0).std() < np.diff(centres(box_alone), axis=0).std()


def test_smoothing_never_crosses_a_change_of_frame_size(locate):
    """A stream that changes resolution mid-video: each run of same-sized frames is smoothed on its
    own, so every box equals the one the run gets as a video of its own."""
    frames = read_frames(fixture_path("video/retalking_face_5.mp4"), 12)
    big = [cv2.resize(f, (f.shape[1] * 2, f.shape[0] * 2), interpolation=cv2.INTER_CUBIC) for f in frames[6:]]
    images = [codec.encode(f) for f in frames[:6] + big]
    n = len(images)
    video = {"video_id": np.array(["a"] * n, dtype=object), "frame_index": np.arange(n, dtype=np.int32),
             "image": np.array(images, dtype=object)}  # fmt: skip
    runs = dict(video, video_id=np.array(["a"] * 6 + ["b"] * 6, dtype=object))
    mixed, separate = locate(video), locate(runs)
    assert list(mixed["status"]) == ["ok"] * n
    assert np.array_equal(mixed["mouth_box"], separate["mouth_box"])
    assert mixed["mouth_box"][:6, 2:].max() <= frames[0].shape[1]  # no box of the small frames reaches into the big ones' size


def _same_batches(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if a[key].dtype == object:
            assert all(np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y for x, y in zip(a[key], b[key])), key
        else:
            assert np.array_equal(a[key], b[key]), key


def test_stream_equals_the_whole_batch_and_starts_early():
    frames = read_frames(fixture_path("video/retalking_face_5.mp4"), 40)
    images = [codec.encode(f) for f in frames] + [b"garbage"] + [codec.encode(f) for f in frames[:9]]
    vids = ["a"] * len(frames) + ["a"] + ["b"] * 9
    index = list(range(len(frames))) + [len(frames)] + list(range(9))
    batch = {"video_id": np.array(vids, dtype=object), "frame_index": np.array(index, np.int32),
             "image": np.array(images, dtype=object)}  # fmt: skip
    with Locate(Config()) as locate:
        whole = locate(batch)
        seen = []
        first_pass = locate._first_pass
        locate._first_pass = lambda data: seen.append(1) or first_pass(data)  # counts, then the real pass
        parts = []
        for part in locate.stream(batch, 8):
            parts.append((len(seen), part))
    half = Config().locate.smooth_window // 2
    assert parts[0][0] <= 8 + half + 8  # the first slice left long before the last frame was located
    assert [len(p["status"]) for _, p in parts][:-1] == [8] * (len(parts) - 1)
    streamed = {k: np.concatenate([p[k] for _, p in parts]) for k in whole}
    _same_batches(streamed, whole)
    assert list(whole["status"]).count("decode_error") == 1 and list(whole["status"]).count("ok") == len(images) - 1
