"""The native model's fit step: one code path for ``raymouth train native`` (each Ray Train
worker) and the per-identity fine-tune of ``raymouth enhance --reference`` (one Ray task per
person, ``finetune``).

Pairs are drawn afresh at every step from clean mouth crops (``native_batches``: a random crop,
mirrored half the time, degraded by ``degrade.degrade`` and cut to one ``patch_px``² window in
both, ``pairs.native_training_pair``); the loss is L1 plus the image-gradient term
(``models.losses.L1EdgeLoss``); the optimiser is Adam, its rate set by the caller per epoch
(``train.learning_rate``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from raymouth.config import Config


@dataclass(frozen=True)
class Fit:
    """What one ``fit_native`` call did: its last loss and the steps it ran (fewer than asked
    when the deadline came first)."""

    loss: float
    steps: int


def native_batches(crops: list[np.ndarray], cfg: Config, seed: int):
    """Endless ``(degraded, clean)`` float batches of ``patch_px``² patches from clean crops.

    Every step draws new crops, mirrors, degradation seeds and patch positions from one seeded
    generator (the blind family includes identity pairs), so an hour of training never sees
    the same pair twice and a run with the same seed sees the same pairs.
    """
    from raymouth.restore.chain import to_float
    from raymouth.train.pairs import native_training_pair

    rng = np.random.default_rng(seed)
    n, px = cfg.train.batch_size, cfg.train.patch_px
    while True:
        xs, ys = [], []
        for i in rng.integers(0, len(crops), size=n):
            crop = crops[int(i)]
            if cfg.train.flip and rng.random() < 0.5:
                crop = np.ascontiguousarray(crop[:, ::-1])
            x, y = native_training_pair(crop, int(rng.integers(1 << 62)), cfg, px)
            xs.append(x)
            ys.append(y)
        yield to_float(np.stack(xs)), to_float(np.stack(ys))


def native_tf_dataset(crops: list[np.ndarray], cfg: Config, seed: int):
    """``native_batches`` as a tf.data pipeline (no TF auto-sharding: each worker draws its own)."""
    from raymouth.models.kerasapi import tf

    px = cfg.train.patch_px
    spec = tf.TensorSpec((None, px, px, 3), tf.float32)
    ds = tf.data.Dataset.from_generator(lambda: native_batches(crops, cfg, seed), output_signature=(spec, spec))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options).prefetch(2)


def compile_native(model, cfg: Config):
    """Adam at ``train.learning_rate`` and L1 + ``train.edge_loss_weight`` × gradient L1
    + ``train.detail_loss_weight`` × the fine-detail match."""
    from raymouth.models.kerasapi import keras
    from raymouth.models.losses import L1EdgeLoss

    model.compile(optimizer=keras.optimizers.Adam(cfg.train.learning_rate), loss=L1EdgeLoss(cfg.train.edge_loss_weight, cfg.train.detail_loss_weight))
    return model


def fit_native(model, crops: list[np.ndarray], cfg: Config, seed: int, steps: int, deadline: float | None = None) -> Fit:
    """``steps`` training steps of a compiled native model on fresh pairs from ``crops``; stops
    after the step that passes ``deadline`` (a ``time.monotonic()`` value) when one is given."""
    from raymouth.models.kerasapi import keras

    class Budget(keras.callbacks.Callback):
        done = 0

        def on_train_batch_end(self, batch, logs=None):
            self.done += 1
            if deadline is not None and time.monotonic() >= deadline:
                self.model.stop_training = True  # tf_keras checks it after every step

    budget = Budget()
    history = model.fit(native_tf_dataset(crops, cfg, seed), epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[budget])
    return Fit(float(history.history["loss"][-1]), budget.done)
