"""Reference-guided restorer: self-supervised training pairs, a step-counted training loop, a synthetic evaluation.

    python -m raymouth.train.guided cache --shard 0/2          # landmarks + crops per clip (MediaPipe, slow)
    python -m raymouth.train.guided train --steps 3000 --name guided
    python -m raymouth.train.guided train --steps 3000 --name generic --no-exemplar
    python -m raymouth.train.guided eval --models guided,generic

Pairs: target = a clean native mouth crop; input = the same crop degraded (the blind family of
``train.degrade`` or a Wav2Lip-like mode); exemplar = another frame of the same clip at least
1 s away, retrieved by lip shape and aligned onto the input (``exemplar.align``). Whole clips
are held out for the evaluation (``HELDOUT``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from raymouth.config import DegradeConfig
from raymouth.data import codec
from raymouth.exemplar import align as al
from raymouth.exemplar import index as ix
from raymouth.exemplar import retrieve as rt
from raymouth.paste import metrics
from raymouth.train import degrade as dg

FIXTURES = Path(os.environ.get("RAYMOUTH_FIXTURES", Path(__file__).resolve().parents[3] / "shared" / "fixtures"))
SCRATCH = Path(os.environ.get("RAYMOUTH_GUIDED_WORK", "guided-work"))  # caches, checkpoints, weights, results: outside the repository
HELDOUT = (
    "train2/talkingavatar_greenscreen_woman_48.mp4", "train2/talkingavatar_greenscreen_woman_49.mp4",
    "train2/tpsmm_driving_jackiechan.mp4", "train2/ale701_curlyhair_man_00001.mp4",
    "train/video/sadtalker_RD_Radio34_000.mp4", "train/video/aniportrait_pose_ref_video.mp4",
    "train/video/liveportrait_s32.mp4", "train/video/mead_M030_angry_016.mp4",
)
MAX_ROWS = 160  # cached frames per training clip
PATCH_H, PATCH_W = 48, 64


# ---------------------------------------------------------------- clips and cache
def training_clips() -> list[Path]:
    """Every fixture clip of train/ that is not held out."""
    held = {FIXTURES / h for h in HELDOUT}
    clips = sorted((FIXTURES / "train" / "video").glob("*.mp4")) + sorted((FIXTURES / "train" / "lowres").glob("*.mp4"))
    return [c for c in clips if c not in held]


def heldout_clips() -> list[Path]:
    """The evaluation's clips (whole clips, people not trained on)."""
    return [FIXTURES / h for h in HELDOUT]


def cache_path(clip: Path) -> Path:
    return SCRATCH / "cache" / f"{clip.stem}.parquet"


def cache_clip(clip: Path, landmarker, heldout: bool = False) -> Path:
    """Index one clip with native crops (skipped when cached): why: MediaPipe is slow on CPU, do it once."""
    out = cache_path(clip)
    if out.exists():
        return out
    every = 2 if heldout or "lowres" not in str(clip) else 3
    table = ix.index_video(clip, landmarker, every=every, native=True, limit=0 if heldout else MAX_ROWS)
    return ix.write_index(table, out)


def cmd_cache(args: argparse.Namespace) -> int:
    """Cache this shard's clips (training and held-out)."""
    from raymouth.config import LocateConfig
    from raymouth.mouth.landmarks import Landmarker

    k, n = (int(v) for v in args.shard.split("/"))
    clips = [(c, False) for c in training_clips()] + [(c, True) for c in heldout_clips()]
    with Landmarker(LocateConfig()) as lm:
        for j, (clip, held) in enumerate(clips):
            if j % n == k:
                t = time.time()
                path = cache_clip(clip, lm, held)
                print(f"{clip.name}: {path} {time.time() - t:.1f}s", flush=True)
    return 0



# ---------------------------------------------------------------- degradations and pairs
def wav2lip_like(img: np.ndarray, face_px: float, rng: np.random.Generator) -> np.ndarray:
    """Face painted at 96-256 px and pasted back up, GFPGAN-like smoothing, JPEG: why: real lip-sync mouths look like this."""
    factor = max(face_px / rng.uniform(96.0, 256.0), rng.uniform(1.5, 3.0))
    out = dg._rescale(np.ascontiguousarray(img), factor, cv2.INTER_AREA, dg.UP_KERNELS[rng.integers(2)])
    if rng.random() < 0.7:
        if rng.random() < 0.5:
            out = cv2.bilateralFilter(out, 5, float(rng.uniform(20, 60)), float(rng.uniform(2, 5)))
        else:
            s = float(rng.uniform(0.5, 1.5))
            out = cv2.GaussianBlur(out, (0, 0), s)
    return dg._jpeg(out, int(rng.integers(40, 91)))


def eval_wav2lip(frame: np.ndarray, face_px: float) -> np.ndarray:
    """The evaluation's fixed Wav2Lip-like strength: face to 96 px (at least 2x) and back, Gaussian sigma 1, JPEG 60."""
    out = dg._rescale(np.ascontiguousarray(frame), max(face_px / 96.0, 2.0))
    return dg._jpeg(cv2.GaussianBlur(out, (0, 0), 1.0), 60)


def degrade_mixed(img: np.ndarray, face_px: float, seed: int) -> np.ndarray:
    """Half the blind family (identity pairs included), half Wav2Lip-like."""
    rng = np.random.default_rng(seed)
    if rng.random() < 0.5:
        return dg.degrade(img, rng, DegradeConfig())
    return wav2lip_like(img, face_px, rng)


@dataclass
class Sample:
    """One training patch: uint8 target / input / aligned exemplar, uint8 confidence (x255)."""

    target: np.ndarray
    degraded: np.ndarray
    exemplar: np.ndarray
    confidence: np.ndarray


def _patch(arrs: list[np.ndarray], centre: tuple[float, float], ph: int, pw: int) -> list[np.ndarray]:
    """Same (ph, pw) window of every array around ``centre`` (x, y), reflect-padded when the crop is smaller."""
    h, w = arrs[0].shape[:2]
    py, px = max(0, ph - h), max(0, pw - w)
    if py or px:
        pad = lambda a: cv2.copyMakeBorder(a, py // 2, py - py // 2, px // 2, px - px // 2, cv2.BORDER_REFLECT)  # noqa: E731
        arrs = [pad(a) for a in arrs]
        centre = (centre[0] + px // 2, centre[1] + py // 2)
        h, w = arrs[0].shape[:2]
    x0 = int(np.clip(round(centre[0] - pw / 2), 0, w - pw))
    y0 = int(np.clip(round(centre[1] - ph / 2), 0, h - ph))
    return [a[y0:y0 + ph, x0:x0 + pw] for a in arrs]


def clip_samples(table, pairs_per_row: int = 2, seed: int = 0, ph: int = 56, pw: int = 72) -> list[Sample]:
    """Training patches of one clip: degraded target + exemplar >= 1 s away, retrieved and aligned."""
    mi = rt.MouthIndex.from_table(table)
    rows = table.to_pylist()
    out = []
    for j, r in enumerate(rows):
        for k in range(pairs_per_row):
            rng = np.random.default_rng(dg.seed_of(seed, r["clip"], r["frame"], k))
            lips = np.asarray(r["lips_px"], np.float64).reshape(-1, 2) - np.asarray(r["box"][:2], np.float64)
            shape = ix.Shape(np.asarray(r["to_canon"]).reshape(2, 3), mi.descriptor[j], mi.pose[j], r["opening"], r["mouth_px"])
            near = rt.nearest(mi, shape, 3, rt.Exclude(r["clip"], r["time_s"], 1.0))
            if not near:
                continue
            e = near[int(rng.integers(len(near)))]
            clean = codec.decode(r["native_png"])[0]
            deg = degrade_mixed(clean, r["face_px"], int(rng.integers(1 << 62)))
            seen = lips + rng.normal(0, 0.01 * r["mouth_px"], lips.shape)  # landmarks of a degraded mouth are noisy
            a = al.align(deg, seen, mi.crop(e), mi.lips_canon[e])
            c = lips.mean(0) + rng.uniform(-0.25, 0.25, 2) * np.ptp(lips, 0)
            conf = np.rint(a.confidence * 255).astype(np.uint8)
            t, d, x, cf = _patch([clean, deg, a.image, conf], (float(c[0]), float(c[1])), ph, pw)
            out.append(Sample(t, d, x, cf))
    return out


def build_pool(path: Path | None = None, pairs_per_row: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    """All training clips' patches as stacked arrays, cached at ``path``: why: both runs train on identical pairs."""
    path = path or SCRATCH / f"pool_s{seed}_p{pairs_per_row}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    samples: list[Sample] = []
    for clip in training_clips():
        cp = cache_path(clip)
        if cp.exists():
            samples += clip_samples(ix.read_index(cp), pairs_per_row, seed)
            print(f"pool: {clip.stem} -> {len(samples)} patches", flush=True)
    pool = {k: np.stack([getattr(s, k) for s in samples]) for k in ("target", "degraded", "exemplar", "confidence")}
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **pool)
    tmp.replace(path)
    return pool


def batch_from(pool: dict[str, np.ndarray], rng: np.random.Generator, size: int, exemplar: bool) -> tuple[list[np.ndarray], np.ndarray]:
    """A random batch of PATCH_H x PATCH_W windows with flips, as model inputs and target in [0, 1]."""
    n, h, w = pool["target"].shape[:3]
    idx = rng.integers(0, n, size)
    ys, xs = rng.integers(0, h - PATCH_H + 1, size), rng.integers(0, w - PATCH_W + 1, size)
    flip = rng.random(size) < 0.5
    def take(a):  # noqa: E306
        out = np.stack([a[i, y:y + PATCH_H, x:x + PATCH_W] for i, y, x in zip(idx, ys, xs)])
        out[flip] = out[flip, :, ::-1]
        return out.astype(np.float32) / 255.0
    crop, target = take(pool["degraded"]), take(pool["target"])
    ex, conf = take(pool["exemplar"]), take(pool["confidence"])[..., None]
    if not exemplar:
        ex, conf = np.zeros_like(ex), np.zeros_like(conf)
    return [crop, ex, conf], target


# ---------------------------------------------------------------- training
def gradient_l1(y, p):
    """L1 of the image-gradient difference: why: an edge term against blur."""
    from raymouth.models.kerasapi import tf

    dy = lambda a: a[:, 1:] - a[:, :-1]  # noqa: E731
    dx = lambda a: a[:, :, 1:] - a[:, :, :-1]  # noqa: E731
    return tf.reduce_mean(tf.abs(dy(y) - dy(p))) + tf.reduce_mean(tf.abs(dx(y) - dx(p)))


def train(name: str, steps: int, exemplar: bool = True, batch: int = 16, lr: float = 1e-3, grad_weight: float = 0.0,
          seed: int = 0, threads: int = 2, blocks: int = 8, filters: int = 32, init: str = "") -> Path:
    """Train ``steps`` steps (resumable from SCRATCH/ckpt/name), then write SCRATCH/weights/name.keras + manifest."""
    from raymouth.models.guided import build_guided, guided_arch, save_guided
    from raymouth.models.kerasapi import configure_threads, keras, tf

    configure_threads(threads, 1)
    pool = build_pool(seed=seed)
    print(f"pool: {len(pool['target'])} patches", flush=True)
    model = build_guided(blocks, filters)
    if init:  # a native EDSR's .keras (e.g. the shipped raymouth/weights/edsr_native.keras, 12 x 32)
        from raymouth.models.guided import init_from_native
        from raymouth.models.weights import load_model

        init_from_native(model, load_model(init))
    sched = keras.optimizers.schedules.CosineDecay(lr, steps, alpha=0.01)
    opt = keras.optimizers.Adam(sched)
    step = tf.Variable(0, dtype=tf.int64)
    ckpt = tf.train.Checkpoint(model=model, optimizer=opt, step=step)
    manager = tf.train.CheckpointManager(ckpt, str(SCRATCH / "ckpt" / name), max_to_keep=2)
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint)
        print(f"resumed {manager.latest_checkpoint} at step {int(step)}", flush=True)

    @tf.function
    def train_step(x0, x1, x2, y):
        with tf.GradientTape() as tape:
            p = model([x0, x1, x2], training=True)
            loss = tf.reduce_mean(tf.abs(y - p))
            total = loss + grad_weight * gradient_l1(y, p) if grad_weight else loss
        opt.apply_gradients(zip(tape.gradient(total, model.trainable_variables), model.trainable_variables))
        return loss

    t0, losses = time.time(), []
    while int(step) < steps:
        rng = np.random.default_rng(dg.seed_of(seed, name, int(step)))
        xs, y = batch_from(pool, rng, batch, exemplar)
        losses.append(float(train_step(*xs, y)))
        step.assign_add(1)
        if int(step) % 50 == 0:
            print(f"step {int(step)} l1 {np.mean(losses[-50:]):.5f} {50 / (time.time() - t0):.2f} steps/s", flush=True)
            t0 = time.time()
        if int(step) % 250 == 0 or int(step) == steps:
            manager.save(checkpoint_number=int(step))
    out = SCRATCH / "weights" / f"{name}.keras"
    data = f"fixtures train/ minus held-out {len(HELDOUT)} clips; pool seed {seed}; exemplar={'yes' if exemplar else 'zeroed'}"
    metrics = {"steps": int(step), "batch": batch, "patch": [PATCH_H, PATCH_W], "final_l1": float(np.mean(losses[-100:])) if losses else None,
               "grad_weight": grad_weight, "exemplar": exemplar, "init": init, "lr": lr}
    save_guided(model, out, guided_arch(blocks, filters), data=data, metrics=metrics, version=name)
    print(f"saved {out}", flush=True)
    return out


def cmd_train(args: argparse.Namespace) -> int:
    """Train one model."""
    train(args.name, args.steps, not args.no_exemplar, args.batch, args.lr, args.grad_weight, args.seed, args.threads,
          args.blocks, args.filters, args.init)
    return 0



# ---------------------------------------------------------------- synthetic evaluation
EVAL_STRENGTHS = ("clean", "mild", "lipsync", "wav2lip")


def degrade_frame(frame: np.ndarray, strength: str, face_px: float) -> np.ndarray:
    """A whole frame at one evaluation strength (the fixed ones of ``train.degrade`` or the Wav2Lip-like one)."""
    return eval_wav2lip(frame, face_px) if strength == "wav2lip" else dg.fixed(frame, strength)


def _runner(model, exemplar: bool):
    """(crop, aligned, confidence) uint8/float -> uint8 output of a guided model."""
    def run(crop: np.ndarray, ex: np.ndarray, conf: np.ndarray) -> np.ndarray:
        x = crop[None].astype(np.float32) / 255.0
        e = ex[None].astype(np.float32) / 255.0 if exemplar else np.zeros_like(x)
        c = conf[None, ..., None].astype(np.float32) if exemplar else np.zeros(x.shape[:3] + (1,), np.float32)
        y = model([x, e, c], training=False).numpy()[0]
        return np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)
    return run


def runners(names: list[str]) -> dict:
    """Model name -> runner: 'input', 'copy' (the aligned exemplar itself), 'shipped' (raymouth/weights/edsr_native.keras),
    or a trained SCRATCH/weights/<name>.keras (exemplar zeroed when its manifest says so)."""
    from raymouth.models.guided import load_guided
    from raymouth.models.weights import load_model

    out = {"input": lambda c, e, f: c}
    for name in names:
        if name == "copy":
            out[name] = lambda c, e, f: e
        elif name == "shipped":
            m = load_model(Path(__file__).resolve().parents[1] / "weights" / "edsr_native.keras")
            out[name] = lambda c, e, f, m=m: np.clip(np.rint(m(c[None].astype(np.float32) / 255.0, training=False).numpy()[0] * 255), 0, 255).astype(np.uint8)
        else:
            model, manifest = load_guided(SCRATCH / "weights" / f"{name}.keras")
            out[name] = _runner(model, bool(manifest["metrics"].get("exemplar", True)))
    return out


def _targets(clip: Path, n_frames: int, count: int = 16) -> tuple[int, list[int]]:
    """The reference cut (first 60 %) and ``count`` evenly spaced later frames."""
    cut = int(0.6 * n_frames)
    return cut, sorted({int(round(v)) for v in np.linspace(cut, n_frames - 1, count)})


def eval_clip(clip: Path, run: dict, landmarker, strengths=EVAL_STRENGTHS, count: int = 16) -> dict[str, dict[str, list[float]]]:
    """Per strength and model, the mouth-box PSNR of each target frame against the clean frame."""
    from raymouth.data.video import iter_frames
    from raymouth.mouth import roi

    table = ix.read_index(cache_path(clip))
    n_frames = len(list(_frame_times(clip)))
    cut, targets = _targets(clip, n_frames, count)
    ref = rt.MouthIndex.from_table(table)
    ref = ref.subset(ref.frame < cut)
    frames = {i: f for i, _, f in iter_frames(clip) if i in set(targets)}
    res: dict[str, dict[str, list[float]]] = {s: {m: [] for m in run} for s in strengths}
    for strength in strengths:
        items = []
        for i in targets:
            clean_face = landmarker.detect(frames[i])
            if clean_face is None:
                continue
            deg = degrade_frame(frames[i], strength, float(np.ptp(clean_face.points[:, 0])))
            face = landmarker.detect(deg) or clean_face
            box = ix.native_box(face.points, deg.shape)
            mbox, _ = roi.mouth_box(face.points, deg.shape, ix.MARGIN, 8)
            if box is None or mbox is None:
                continue
            items.append((i, deg, face.points, box, mbox))
        seq = rt.retrieve_sequence(ref, [ix.lip_shape(p) for _, _, p, _, _ in items], k=1, margin=0.2)
        for (i, deg, pts, box, mbox), chosen in zip(items, seq):
            crop, clean = roi.crop(deg, box), roi.crop(frames[i], box)
            lips = np.asarray(pts, np.float64)[ix.LIPS] - np.asarray(box[:2], np.float64)
            a = al.align(crop, lips, ref.crop(chosen[0]), ref.lips_canon[chosen[0]])
            inner = (slice(mbox[1] - box[1], mbox[3] - box[1]), slice(mbox[0] - box[0], mbox[2] - box[0]))
            for name, fn in run.items():
                res[strength][name].append(metrics.psnr(fn(crop, a.image, a.confidence)[inner], clean[inner]))
    return res


def _frame_times(clip: Path):
    from raymouth.data.video import iter_frames

    for i, t, _ in iter_frames(clip):
        yield i


def summarise(per_clip: dict[str, dict], models: list[str]) -> str:
    """Markdown table: per strength and model, mean gain over the input and the worst clip (clean: absolute PSNR)."""
    lines = ["| strength | " + " | ".join(f"{m}: mean / worst clip" for m in models) + " |", "|---|" + "---|" * len(models)]
    strengths = next(iter(per_clip.values())).keys()
    for s in strengths:
        cells = []
        for m in models:
            if s == "clean":
                vals = {c: float(np.mean(r[s][m])) for c, r in per_clip.items() if r[s][m]}
            else:
                vals = {c: float(np.mean(np.subtract(r[s][m], r[s]["input"]))) for c, r in per_clip.items() if r[s][m]}
            worst = min(vals, key=vals.get)
            sign = "" if s == "clean" else "+"
            cells.append(f"{np.mean(list(vals.values())):{sign}.2f} / {vals[worst]:{sign}.2f} ({worst[:14]})")
        lines.append(f"| {s}{' (PSNR dB)' if s == 'clean' else ' (gain dB)'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def evaluate(models: list[str], strengths=EVAL_STRENGTHS, count: int = 16, threads: int = 2) -> str:
    """Synthetic evaluation on the held-out clips; prints and writes SCRATCH/results.md (+ per-clip JSON)."""
    from raymouth.config import LocateConfig
    from raymouth.models.kerasapi import configure_threads
    from raymouth.mouth.landmarks import Landmarker

    configure_threads(threads, 1)
    run = runners(models)
    per_clip = {}
    with Landmarker(LocateConfig()) as lm:
        for clip in heldout_clips():
            t = time.time()
            per_clip[clip.stem] = eval_clip(clip, run, lm, strengths, count)
            print(f"{clip.stem}: {time.time() - t:.1f}s " + json.dumps({s: {m: round(float(np.mean(v)), 2) for m, v in r.items() if v}
                                                                     for s, r in per_clip[clip.stem].items()}), flush=True)
    table = summarise(per_clip, list(run))
    (SCRATCH / "results.json").write_text(json.dumps(per_clip))
    (SCRATCH / "results.md").write_text(f"Held-out clips: {', '.join(Path(h).stem for h in HELDOUT)}; {count} frames each, "
                                        f"first 60 % of each clip as the reference. Mouth-box PSNR.\n\n{table}\n")
    print(table)
    return table


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate the named models."""
    evaluate([m for m in args.models.split(",") if m], tuple(args.strengths.split(",")), args.frames, args.threads)
    return 0


# ---------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    """``python -m raymouth.train.guided {cache,train,eval}``."""
    p = argparse.ArgumentParser(prog="python -m raymouth.train.guided")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cache")
    c.add_argument("--shard", default="0/1", help="k/n: this process caches clips j with j %% n == k")
    c.set_defaults(func=cmd_cache)
    t = sub.add_parser("train")
    t.add_argument("--name", default="guided")
    t.add_argument("--steps", type=int, default=3000, help="training length is a step count (resumable)")
    t.add_argument("--no-exemplar", action="store_true", help="zero the exemplar and confidence inputs: the generic baseline")
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--grad-weight", type=float, default=0.0, help="weight of the image-gradient L1 term")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=2, help="TensorFlow intra-op threads")
    t.add_argument("--blocks", type=int, default=8)
    t.add_argument("--filters", type=int, default=32)
    t.add_argument("--init", default="", help="start from a native EDSR .keras of the same blocks x filters (exemplar weights zero)")
    t.set_defaults(func=cmd_train)
    e = sub.add_parser("eval")
    e.add_argument("--models", default="copy,shipped,generic,guided", help="comma list: copy, shipped, or names under SCRATCH/weights")
    e.add_argument("--strengths", default=",".join(EVAL_STRENGTHS))
    e.add_argument("--frames", type=int, default=16)
    e.add_argument("--threads", type=int, default=2)
    e.set_defaults(func=cmd_eval)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
