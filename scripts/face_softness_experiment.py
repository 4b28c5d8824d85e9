"""Issue 28 item 2 experiment: does the face's own sharpness, given to the network, help?

One-off experiment (not part of the package; docs/evaluation.md has its results):

    python scripts/face_softness_experiment.py OUT_DIR [STEPS]     # 4000 steps: ~20 min on 2 cores

Fixtures from $RAYMOUTH_FIXTURES (default ../shared/fixtures). The guided model's architecture (3 + 3 + 1 input channels),
initialised from the shipped native weights, is used as a conditioned native model: the "exemplar"
input is the crop itself, the "confidence" input a constant map of the upper face's measured
sharpness (cond) or a constant 0.5 (control). Both train the same steps on the same pairs.

Pairs (per sample, from clean training frames): whole frame degraded (mouth and upper face with
the same blind draw), mouth only degraded (upper face clean: lip-sync output), or the whole face
made naturally soft first (then identity or whole-frame degraded).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from raymouth.config import DegradeConfig, LocateConfig
from raymouth.data.video import iter_frames
from raymouth.exemplar.index import native_box
from raymouth.mouth import roi
from raymouth.mouth.landmarks import Landmarker
from raymouth.paste.metrics import psnr
from raymouth.train import degrade as dg

REPO = Path(__file__).resolve().parents[1]
F = Path(os.environ.get("RAYMOUTH_FIXTURES", REPO.parent / "shared" / "fixtures"))
NATIVE = REPO / "raymouth" / "weights" / "edsr_native.keras"
OUT_OF_SOURCE = ("train2/talkingavatar_greenscreen_woman_48", "train2/talkingavatar_greenscreen_woman_49",
                 "train2/tpsmm_driving_jackiechan", "train2/ale701_curlyhair_man_00001", "lipsync/hyperlips_lucy_source",
                 "lipsync/hyperlips_dingell_source", "lipsync/listedtask_axman_source", "lipsync/phaniteja_axman_source")
OUT = Path(".")
BROWS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)
EYES = (33, 133, 263, 362, 159, 145, 386, 374)
NOSE = (1, 4, 5, 195)
FACE_W = 256.0


def upper_box(points: np.ndarray, shape) -> tuple[int, int, int, int]:
    pts = points[list(BROWS + EYES + NOSE)]
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    return (max(0, int(x0)), max(0, int(y0)), min(shape[1], int(np.ceil(x1))), min(shape[0], int(np.ceil(y1))))


def sharp_measure(upper: np.ndarray, face_px: float) -> float:
    """log Laplacian RMS of the upper face's luma at a 256 px face width."""
    s = FACE_W / max(face_px, 1.0)
    img = cv2.resize(upper, (max(8, round(upper.shape[1] * s)), max(8, round(upper.shape[0] * s))),
                     interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    y = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    lap = cv2.Laplacian(y, cv2.CV_32F)[2:-2, 2:-2]
    return float(np.log(np.sqrt(np.mean(lap ** 2)) + 1e-4))


def train_clips() -> list[Path]:
    names = json.loads(NATIVE.with_suffix(".json").read_text())["metrics"]["data"]["train_videos"]
    out = []
    for n in names:
        for d in ("video", "train/video", "train/lowres"):
            p = F / d / f"{n}.mp4"
            if p.exists():
                out.append(p)
                break
    return out


def collect(clips: list[Path], every: int, per_clip: int, start_frac: float = 0.0, lm=None, keep_frame: bool = False) -> list[dict]:
    rows = []
    for clip in clips:
        frames = list(iter_frames(clip))
        n = len(frames)
        if start_frac:
            idx = np.linspace(int(n * start_frac), n - 1, per_clip).round().astype(int)
        else:
            idx = list(range(0, n, every))[:per_clip]
        for i in idx:
            rgb = frames[i][2]
            face = lm.detect(rgb, scored=False)
            if face is None:
                continue
            mb = native_box(face.points, rgb.shape)
            if mb is None:
                continue
            ub = upper_box(face.points, rgb.shape)
            row = {"clip": clip.stem, "mbox": mb, "ubox": ub, "face_px": float(np.ptp(face.points[:, 0]))}
            if keep_frame:
                row["frame"] = rgb
            else:
                row["mouth"] = rgb[mb[1]:mb[3], mb[0]:mb[2]].copy()
                row["upper"] = rgb[ub[1]:ub[3], ub[0]:ub[2]].copy()
            rows.append(row)
    return rows


def canvas(mouth: np.ndarray, upper: np.ndarray, gap: int = 16) -> tuple[np.ndarray, tuple]:
    w = max(mouth.shape[1], upper.shape[1])
    a = cv2.copyMakeBorder(mouth, 0, gap, 0, w - mouth.shape[1], cv2.BORDER_REFLECT)
    b = cv2.copyMakeBorder(upper, 0, 0, 0, w - upper.shape[1], cv2.BORDER_REFLECT)
    return np.ascontiguousarray(np.concatenate([a, b], 0)), (mouth.shape[:2], upper.shape[:2], a.shape[0])


def split(c: np.ndarray, meta) -> tuple[np.ndarray, np.ndarray]:
    (mh, mw), (uh, uw), off = meta
    return c[:mh, :mw], c[off:off + uh, :uw]


def make_pair(row: dict, rng: np.random.Generator, cfg: DegradeConfig):
    """(input mouth, target mouth, upper face as the input frame has it)."""
    mouth, upper = row["mouth"], row["upper"]
    cv, meta = canvas(mouth, upper)
    seed = int(rng.integers(2 ** 31))
    kind = rng.random()
    if kind < 0.4:  # whole frame degraded
        d = dg.degrade(cv, seed, cfg)
        dm, du = split(d, meta)
        return dm, mouth, du
    if kind < 0.75:  # lip-sync output: only the mouth degraded, never an identity pair
        d = dg.degrade(cv, seed, DegradeConfig(identity_rate=0.0))
        dm, _ = split(d, meta)
        return dm, mouth, upper
    soft = dg.naturally_soft(cv, np.random.default_rng(seed))  # the whole face naturally soft
    sm, su = split(soft, meta)
    if rng.random() < 0.5:
        return sm, sm, su
    d = dg.degrade(soft, seed + 1, cfg)
    dm, du = split(d, meta)
    return dm, sm, du


def patch(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, p: int = 64):
    h, w = a.shape[:2]
    if h < p or w < p:
        ph, pw = max(0, p - h), max(0, p - w)
        a = cv2.copyMakeBorder(a, 0, ph, 0, pw, cv2.BORDER_REFLECT)
        b = cv2.copyMakeBorder(b, 0, ph, 0, pw, cv2.BORDER_REFLECT)
        h, w = a.shape[:2]
    y, x = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
    return a[y:y + p, x:x + p], b[y:y + p, x:x + p]


LO, HI = -3.4, -1.6  # log Laplacian RMS mapped to 0..1 (set from the pool below)


def cond_value(upper: np.ndarray, face_px: float) -> float:
    return float(np.clip((sharp_measure(upper, face_px) - LO) / (HI - LO), 0, 1))


def train(name: str, pool: list[dict], steps: int, use_cond: bool, batch: int = 12, lr: float = 2e-4):
    from raymouth.models.guided import build_guided, guided_arch, init_from_native, save_guided
    from raymouth.models.kerasapi import configure_threads, keras, tf
    from raymouth.models.weights import load_model
    from raymouth.train.guided import gradient_l1

    configure_threads(2, 1)
    model = init_from_native(build_guided(12, 32), load_model(str(NATIVE)))
    opt = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(lr, steps, alpha=0.01))
    cfg = DegradeConfig()

    @tf.function
    def step_fn(x, e, c, y):
        with tf.GradientTape() as tape:
            p = model([x, e, c], training=True)
            l1 = tf.reduce_mean(tf.abs(y - p))
            total = l1 + 0.5 * gradient_l1(y, p)  # the shipped models' L1 + 0.5 x gradient loss
        opt.apply_gradients(zip(tape.gradient(total, model.trainable_variables), model.trainable_variables))
        return l1

    t0, losses = time.time(), []
    for s in range(steps):
        rng = np.random.default_rng([7, s])  # the same pairs for both models
        xs, ys, cs = [], [], []
        for _ in range(batch):
            row = pool[int(rng.integers(len(pool)))]
            dm, tm, du = make_pair(row, rng, cfg)
            a, b = patch(dm, tm, rng)
            xs.append(a)
            ys.append(b)
            cs.append(cond_value(du, row["face_px"]) if use_cond else 0.5)
        x = np.stack(xs).astype(np.float32) / 255.0
        y = np.stack(ys).astype(np.float32) / 255.0
        c = np.broadcast_to(np.float32(cs)[:, None, None, None], (batch, 64, 64, 1)).copy()
        losses.append(float(step_fn(x, x, c, y)))
        if (s + 1) % 100 == 0:
            print(f"{name} step {s + 1} l1 {np.mean(losses[-100:]):.5f} {100 / (time.time() - t0):.2f} steps/s", flush=True)
            t0 = time.time()
    save_guided(model, OUT / f"{name}.keras", guided_arch(12, 32), data="cond experiment", metrics={"steps": steps}, version=name)
    return model


def run_model(model, crop: np.ndarray, c: float) -> np.ndarray:
    x = crop.astype(np.float32)[None] / 255.0
    cm = np.full(x.shape[:3] + (1,), c, np.float32)
    y = model([x, x, cm], training=False).numpy()[0]
    return np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)


def evaluate(models: dict, rows: list[dict]) -> dict:
    res: dict = {}
    for r in rows:
        x0, y0, x1, y1 = r["mbox"]
        u0, v0, u1, v1 = r["ubox"]
        clean = r["frame"]
        cm = clean[y0:y1, x0:x1]
        cases = {}
        for st in ("mild", "lipsync"):
            d = dg.fixed(clean, st)
            cases[f"frame_{st}"] = (d[y0:y1, x0:x1], d[v0:v1, u0:u1])
        cases["mouth_lipsync"] = (dg.fixed(cm, "lipsync"), clean[v0:v1, u0:u1])
        cases["clean"] = (cm, clean[v0:v1, u0:u1])
        for case, (inp, up) in cases.items():
            c = cond_value(up, r["face_px"])
            base = psnr(inp, cm)
            for name, (model, use_cond) in models.items():
                out = run_model(model, inp, c if use_cond else 0.5)
                val = psnr(out, cm) if case == "clean" else psnr(out, cm) - base
                res.setdefault(r["clip"], {}).setdefault(case, {}).setdefault(name, []).append(val)
            res[r["clip"]][case].setdefault("c", []).append(c)
    return res


def main() -> None:
    global LO, HI, OUT
    OUT = Path(sys.argv[1])
    OUT.mkdir(parents=True, exist_ok=True)
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 4000
    with Landmarker(LocateConfig()) as lm:
        t = time.time()
        pool = collect(train_clips(), every=6, per_clip=20, lm=lm)
        print(f"pool: {len(pool)} frames in {time.time() - t:.0f} s", flush=True)
        oos = [F / f"{name}.mp4" for name in OUT_OF_SOURCE]
        test = collect(oos, 0, 16, start_frac=0.05, lm=lm, keep_frame=True)
        print(f"test: {len(test)} frames", flush=True)
    vals = [sharp_measure(r["upper"], r["face_px"]) for r in pool]
    LO, HI = float(np.percentile(vals, 1)) - 1.0, float(np.percentile(vals, 99))  # degraded faces fall below clean ones
    print(f"cond range {LO:.2f}..{HI:.2f} (clean pool 1st/50th/99th pct {np.percentile(vals, [1, 50, 99]).round(2)})", flush=True)
    from raymouth.models.guided import build_guided, init_from_native
    from raymouth.models.weights import load_model

    shipped = init_from_native(build_guided(12, 32), load_model(str(NATIVE)))
    control = train("control", pool, steps, use_cond=False)
    cond = train("cond", pool, steps, use_cond=True)
    res = evaluate({"shipped": (shipped, False), "control": (control, False), "cond": (cond, True)}, test)
    json.dump(res, open(OUT / "results.json", "w"))
    cases = ("clean", "frame_mild", "frame_lipsync", "mouth_lipsync")
    print("| clip | " + " | ".join(f"{c}: shipped / control / cond (cond value)" for c in cases) + " |")
    means = {c: {m: [] for m in ("shipped", "control", "cond")} for c in cases}
    for clip, per in res.items():
        cells = []
        for c in cases:
            v = {m: float(np.mean(per[c][m])) for m in ("shipped", "control", "cond")}
            for m in v:
                means[c][m].append(v[m])
            cells.append(f"{v['shipped']:+.2f} / {v['control']:+.2f} / {v['cond']:+.2f} ({np.mean(per[c]['c']):.2f})")
        print(f"| {clip} | " + " | ".join(cells) + " |")
    print("| mean / worst | " + " | ".join(" / ".join(f"{np.mean(means[c][m]):+.2f} ({np.min(means[c][m]):+.2f})" for m in ("shipped", "control", "cond")) for c in cases) + " |")


if __name__ == "__main__":
    main()
