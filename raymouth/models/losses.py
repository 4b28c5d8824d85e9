"""Training losses that do not reward blur.

Plain L1 is minimised by the conditional median: when the model cannot tell where an edge
goes, a soft edge wins. Adding the L1 distance of the horizontal and vertical image gradients
penalises a missing edge directly (a blurred tooth edge has the right mean but a smaller
gradient), at no extra model cost.

Both are still content with a mouth whose fine texture is averaged away where its position is
uncertain (teeth, lip creases): the output is smoother than any real mouth. The detail term
compares how much fine detail each image has, not where: the RMS of the 3x3 Laplacian of its
luma, output against target, per image. A model can only lower it by putting texture back,
and L1 keeps that texture in the right place.
"""
from __future__ import annotations

from raymouth.models.kerasapi import keras, tf


def image_gradients(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Forward differences along x and y of an (N, H, W, C) batch."""
    return x[:, :, 1:, :] - x[:, :, :-1, :], x[:, 1:, :, :] - x[:, :-1, :, :]


_LAPLACIAN = [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]
_BT601 = [0.299, 0.587, 0.114]


def laplacian_rms(x: tf.Tensor) -> tf.Tensor:
    """(N,) RMS of the 3x3 Laplacian of each image's BT.601 luma (valid pixels only): the
    fine detail ``metrics.sharpness`` measures, as a differentiable tensor."""
    luma = tf.reduce_sum(x * tf.constant(_BT601, x.dtype), axis=-1, keepdims=True)
    kernel = tf.reshape(tf.constant(_LAPLACIAN, x.dtype), (3, 3, 1, 1))
    lap = tf.nn.conv2d(luma, kernel, strides=1, padding="VALID")
    return tf.sqrt(tf.reduce_mean(tf.square(lap), axis=[1, 2, 3]) + 1e-12)


@keras.saving.register_keras_serializable(package="raymouth")
class L1EdgeLoss(keras.losses.Loss):
    """``mean|y - ŷ| + edge_weight * mean(|∂x y - ∂x ŷ| + |∂y y - ∂y ŷ|)
    + detail_weight * |laplacian_rms(y) - laplacian_rms(ŷ)|``, images in [0, 1]."""

    def __init__(self, edge_weight: float = 0.5, detail_weight: float = 0.0, name: str = "l1_edge", **kwargs):
        super().__init__(name=name, **kwargs)
        self.edge_weight = float(edge_weight)
        self.detail_weight = float(detail_weight)

    def call(self, y_true, y_pred):
        loss = tf.reduce_mean(tf.abs(y_true - y_pred), axis=[1, 2, 3])
        if self.edge_weight:
            (tx, ty), (px, py) = image_gradients(y_true), image_gradients(y_pred)
            edge = tf.reduce_mean(tf.abs(tx - px), axis=[1, 2, 3]) + tf.reduce_mean(tf.abs(ty - py), axis=[1, 2, 3])
            loss = loss + self.edge_weight * edge
        if self.detail_weight:
            loss = loss + self.detail_weight * tf.abs(laplacian_rms(y_true) - laplacian_rms(y_pred))
        return loss

    def get_config(self):
        return {**super().get_config(), "edge_weight": self.edge_weight, "detail_weight": self.detail_weight}
