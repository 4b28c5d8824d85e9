"""The official FSRCNN / ESPCN / LapSRN (and a user's EDSR) frozen ``.pb`` graphs, run by TensorFlow.

These are the files of OpenCV's ``dnn_superres``; OpenCV 5 can no longer import TensorFlow
graphs, so the GraphDef is imported into a ``tf.compat.v1.wrap_function`` with its input
placeholder (``IteratorGetNext``) mapped to our tensor.

Feeding follows what ``dnn_superres`` did:
- 1-channel graphs (FSRCNN, ESPCN, LapSRN): the Y channel of YCrCb in [0, 1], NHWC
  ``[N, H, W, 1]``; the output (``NCHW_output``, LapSRN x4 ``NCHW_output_4x``) is
  ``[N, 1, sH, sW]``; Cr and Cb are up-scaled bicubic.
- 3-channel graphs (Saafke's EDSR): BGR in 0..255, output BGR 0..255.
Public methods take and return float32 RGB in [0, 1] like every model of the chain.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import cv2
import numpy as np

from raymouth.models.kerasapi import tf
from raymouth.models.weights import WeightsError

INPUT_NODE = "IteratorGetNext"
FAMILIES = ("fsrcnn", "espcn", "lapsrn", "edsr")


def _read_graph(path: Path) -> tuple[tf.compat.v1.GraphDef, str]:
    """Parse the GraphDef; a missing or corrupt file is a one-line WeightsError."""
    if not path.is_file():
        raise WeightsError(f"frozen graph not found: {path}")
    data = path.read_bytes()
    graph = tf.compat.v1.GraphDef()
    try:
        graph.ParseFromString(data)
    except Exception as exc:  # protobuf raises DecodeError / RuntimeWarning subclasses
        raise WeightsError(f"frozen graph {path} is not a TensorFlow GraphDef ({type(exc).__name__})") from None
    if not graph.node:
        raise WeightsError(f"frozen graph {path} is empty or truncated")
    return graph, hashlib.sha256(data).hexdigest()


def scale_from_name(path: str | Path) -> int | None:
    """``FSRCNN_x2.pb`` -> 2; None when the name does not say."""
    match = re.search(r"x(\d+)", Path(path).stem.lower())
    return int(match.group(1)) if match else None


def family_from_name(path: str | Path) -> str:
    """``LapSRN_x4.pb`` -> 'lapsrn'; '' when the name names no known family."""
    stem = Path(path).stem.lower()
    return next((f for f in FAMILIES if f in stem), "")


def pick_output_node(names: set[str], scale: int | None) -> str:
    """``NCHW_output_<s>x`` (LapSRN's pyramid) for the wanted scale, else ``NCHW_output``."""
    pyramid = sorted((int(m.group(1)), n) for n in names if (m := re.fullmatch(r"NCHW_output_(\d+)x", n)))
    if pyramid:
        chosen = [n for s, n in pyramid if s == scale]
        return chosen[0] if chosen else pyramid[-1][1]
    for name in ("NCHW_output", "NHWC_output"):
        if name in names:
            return name
    raise WeightsError("frozen graph has no NCHW_output node (pass output_node=...)")


def input_channels(graph: tf.compat.v1.GraphDef, default: int = 1) -> int:
    """Input channels read from the first Conv2D's filter constant, else ``default``."""
    consts = {n.name: n for n in graph.node if n.op == "Const"}
    idents = {n.name: n.input[0] for n in graph.node if n.op == "Identity" and n.input}
    for node in graph.node:
        if node.op != "Conv2D" or len(node.input) < 2:
            continue
        name = node.input[1].split(":")[0]
        name = idents.get(name, name)
        if name in consts:
            dims = consts[name].attr["value"].tensor.tensor_shape.dim
            if len(dims) == 4:
                return int(dims[2].size)
        return default
    return default


class FrozenSR:
    """One frozen super-resolution graph, loaded once; call ``upscale_batch`` on [0, 1] RGB."""

    def __init__(self, path: str | Path, scale: int | None = None, output_node: str | None = None) -> None:
        self.path = Path(path)
        graph, self.sha256 = _read_graph(self.path)
        names = {n.name for n in graph.node}
        if INPUT_NODE not in names:
            raise WeightsError(f"frozen graph {self.path} has no {INPUT_NODE} input node")
        scale = scale or scale_from_name(self.path)
        self.output_node = output_node or pick_output_node(names, scale)
        if self.output_node not in names:
            raise WeightsError(f"frozen graph {self.path} has no node {self.output_node!r}")
        self.family = family_from_name(self.path) or "pb"
        self.channels = input_channels(graph)
        self._fn = self._wrap(graph)
        self.scale = self._probe_scale()
        if scale and scale != self.scale:
            raise WeightsError(f"frozen graph {self.path} upscales x{self.scale}, not x{scale}")

    def _wrap(self, graph: tf.compat.v1.GraphDef):
        """A concrete function NHWC [N, H, W, C] -> the graph's output tensor."""
        out = f"{self.output_node}:0"

        def run(x):
            return tf.compat.v1.import_graph_def(graph, input_map={f"{INPUT_NODE}:0": x}, return_elements=[out], name="")[0]

        spec = tf.TensorSpec([None, None, None, self.channels], tf.float32)
        return tf.compat.v1.wrap_function(run, [spec])

    def _run(self, x: np.ndarray) -> np.ndarray:
        """Graph output as NHWC float32 (the official graphs' ``NCHW_output`` is transposed back)."""
        y = self._fn(tf.constant(x, tf.float32)).numpy()
        if self.output_node.startswith("NCHW"):
            y = np.transpose(y, (0, 2, 3, 1))
        return y

    def _probe_scale(self) -> int:
        """The scale the graph really applies, from one tiny run."""
        y = self._run(np.zeros((1, 8, 8, self.channels), np.float32))
        if y.shape[1] % 8 or y.shape[1] != y.shape[2]:
            raise WeightsError(f"frozen graph {self.path} gave an unexpected output shape {y.shape}")
        return y.shape[1] // 8

    def upscale_batch(self, batch: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) float32 RGB [0, 1] -> (N, sH, sW, 3) float32 RGB (not clipped)."""
        batch = np.asarray(batch, np.float32)
        if self.channels == 3:
            bgr = batch[..., ::-1] * 255.0
            return np.ascontiguousarray(self._run(bgr)[..., ::-1] / 255.0)
        ycc = np.stack([cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb) for img in batch])
        y_up = self._run(ycc[..., :1])[..., 0]
        out = []
        for img, y in zip(ycc, y_up):
            h, w = y.shape
            crcb = cv2.resize(img[..., 1:], (w, h), interpolation=cv2.INTER_CUBIC)
            merged = np.dstack([y, crcb]).astype(np.float32)
            out.append(cv2.cvtColor(merged, cv2.COLOR_YCrCb2RGB))
        return np.stack(out)

    def upscale(self, img: np.ndarray) -> np.ndarray:
        """One (H, W, 3) float32 RGB [0, 1] image -> (sH, sW, 3)."""
        return self.upscale_batch(img[None])[0]
