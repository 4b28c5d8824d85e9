"""The native model (and the reference-guided one) on LiteRT (TensorFlow Lite's runtime), without importing TensorFlow.

A CPU model actor that imports TensorFlow pays ~3 core-s for the import and ~0.7 per traced
detail level before its first crop, and holds ~500 MB more memory; LiteRT imports in ~0.01 s and
runs the same convolutions through XNNPACK. Its graph is written here, op by op, from the native
model's weights (``build_edsr_native``'s layers in order: pixel shift, unshuffle, head, residual
blocks, body end with the global skip, tail, shuffle, + input), so any weights of that
architecture (the shipped pair at any detail level, a person's fine-tune) run without a
converter. The residual scale is folded into each block's second convolution, as TensorFlow's
own converter does. ``tests/test_litert.py`` checks the output against the Keras model.

Weights are read from the ``.keras`` archive with h5py (its ``model.weights.h5`` names the
convolutions ``conv2d``, ``conv2d_1``, ... in the model's layer order).
"""
from __future__ import annotations

import io
import os
import re
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from raymouth.config import EnhanceConfig
from raymouth.console import native_quiet
from raymouth.errors import UserError
from raymouth.models import RANDOM, interpolate
from raymouth.models.archs import IMG_RANGE, RGB_MEAN


def available() -> bool:
    """Whether the LiteRT runtime is installed (``ai-edge-litert``)."""
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        return False
    return True


def read_keras_weights(path: str | Path) -> list[np.ndarray]:
    """The convolutions' ``[kernel, bias, kernel, bias, ...]`` of a ``.keras`` archive, in layer order
    (what ``model.get_weights()`` returns for the native model)."""
    import h5py

    with zipfile.ZipFile(path) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as h5:
        layers = h5["layers"]
        names = sorted((n for n in layers if re.fullmatch(r"conv2d(_\d+)?", n)), key=lambda n: int(n[7:] or 0))
        return [np.asarray(layers[n]["vars"][str(i)], np.float32) for n in names for i in (0, 1)]


def use_litert(enh: EnhanceConfig) -> bool:
    """``enhance.runtime`` resolved: ``auto`` is LiteRT for the native chain with trained weights and
    no autoencoder where ``ai-edge-litert`` is installed (``pipeline.build`` picks TensorFlow on GPUs)."""
    fits = enh.chain == "native" and not enh.use_autoencoder and RANDOM not in (enh.native_weights, enh.native_detail_weights)
    return runtime_is_litert(enh.runtime, fits, "the ai-edge-litert package and trained native weights (not 'random')")


def runtime_is_litert(runtime: str, fits: bool = True, needs: str = "the ai-edge-litert package") -> bool:
    """``enhance.runtime`` for a model that ``fits`` LiteRT: ``auto`` is LiteRT where it is
    installed, ``litert`` without it (or for a model that does not fit) a one-line error naming
    what it ``needs``."""
    usable = fits and available()
    if runtime == "litert" and not usable:
        raise UserError(f"enhance.runtime=litert needs {needs}")
    return runtime != "tensorflow" and usable


def native_runner(fidelity: str | Path, detail: str | Path | None, level: float, arch: dict, threads: int = 0) -> tuple[LiteRunner, str, str]:
    """The native model at detail ``level`` (``detail`` weights, or None for the fidelity weights
    alone) as a LiteRT runner, and both files' ids (sha256 prefixes; "" without ``detail``)."""
    weights, manifest = read_checked(fidelity, arch)
    detail_id = ""
    if detail is not None:
        detail_weights, detail_manifest = read_checked(detail, arch)
        weights, detail_id = interpolate(weights, detail_weights, level), detail_manifest["sha256"][:12]
    return LiteRunner(native_flatbuffer(weights, arch), threads or os.cpu_count() or 1), manifest["sha256"][:12], detail_id


def read_checked(path: str | Path, arch: dict, in_channels: int = 3) -> tuple[list[np.ndarray], dict]:
    """``(weights, manifest)`` of a native (or, with ``in_channels=7``, guided) ``.keras`` file after
    the checks ``load_checked`` makes (sha256, architecture) and a check of every kernel's shape."""
    from raymouth.models.weights import WeightsError, checked_manifest

    manifest = checked_manifest(path, arch)
    try:
        weights = read_keras_weights(path)
        check_native_weights(weights, {**manifest["arch"], **arch}, in_channels)  # arch: what the caller checked
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise WeightsError(f"weights file {path} could not be read for LiteRT: {exc}") from None
    return weights, manifest


def check_native_weights(weights: list[np.ndarray], arch: dict, in_channels: int = 3) -> None:
    """The shapes ``build_edsr_native`` (``build_guided``: 7 input channels) gives ``arch``; a
    ValueError names the first mismatch."""
    f, r, blocks = int(arch["num_filters"]), int(arch["unshuffle"]), int(arch["num_blocks"])
    want = [(3, 3, in_channels * r * r, f)] + [(3, 3, f, f)] * (2 * blocks + 1) + [(3, 3, f, 3 * r * r)]
    have = [w.shape for w in weights[0::2]]
    if len(weights) != 2 * len(want) or have != want or [b.shape for b in weights[1::2]] != [(k[3],) for k in want]:
        raise ValueError(f"weights do not fit the model {blocks}x{f} (unshuffle {r}, {in_channels} input channels): kernels {have[:3]}…")


class _Graph:
    """A TensorFlow Lite model under construction: tensors, constant buffers, operators."""

    def __init__(self) -> None:
        from ai_edge_litert import schema_py_generated as fb

        self.fb = fb
        self.buffers = [fb.BufferT()]  # buffer 0 is the empty sentinel
        self.tensors: list = []
        self.operators: list = []
        self.opcodes: list[int] = []

    def tensor(self, name: str, shape: tuple[int, ...], data: np.ndarray | None = None, signature: tuple[int, ...] | None = None) -> int:
        t = self.fb.TensorT()
        t.name, t.type, t.shape, t.hasRank = name.encode(), self.fb.TensorType.FLOAT32, list(shape), True
        t.shapeSignature = list(signature) if signature is not None else None
        t.buffer = 0
        if data is not None:
            buffer = self.fb.BufferT()
            buffer.data = np.frombuffer(np.ascontiguousarray(data, np.float32).tobytes(), np.uint8)
            self.buffers.append(buffer)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code: int, inputs: list[int], options_type: int, options, name: str, channels: int | None = None) -> int:
        """The operator's output: (N, H, W, ``channels``), the first input's channels by default
        (XNNPACK takes only operators whose channel counts are known before the first resize)."""
        if code not in self.opcodes:
            self.opcodes.append(code)
        channels = self.tensors[inputs[0]].shape[-1] if channels is None else channels
        out = self.tensor(name, (1, 1, 1, channels), signature=(-1, -1, -1, channels))
        o = self.fb.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = self.opcodes.index(code), inputs, [out]
        o.builtinOptionsType, o.builtinOptions = options_type, options
        self.operators.append(o)
        return out

    def binary(self, kind: str, a: int, b: int, name: str) -> int:
        fb = self.fb
        options = {"ADD": fb.AddOptionsT, "SUB": fb.SubOptionsT, "MUL": fb.MulOptionsT}[kind]()
        option_type = {"ADD": fb.BuiltinOptions.AddOptions, "SUB": fb.BuiltinOptions.SubOptions, "MUL": fb.BuiltinOptions.MulOptions}[kind]
        return self.op(getattr(fb.BuiltinOperator, kind), [a, b], option_type, options, name)

    def conv(self, x: int, kernel: np.ndarray, bias: np.ndarray, relu: bool, name: str) -> int:
        """3x3 'same' convolution; ``kernel`` in Keras's (3, 3, in, out) layout."""
        fb = self.fb
        options = fb.Conv2DOptionsT()
        options.padding, options.strideW, options.strideH = fb.Padding.SAME, 1, 1
        options.dilationWFactor = options.dilationHFactor = 1
        options.fusedActivationFunction = fb.ActivationFunctionType.RELU if relu else fb.ActivationFunctionType.NONE
        k = self.tensor(f"{name}/kernel", (kernel.shape[3], 3, 3, kernel.shape[2]), kernel.transpose(3, 0, 1, 2))
        b = self.tensor(f"{name}/bias", bias.shape, bias)
        return self.op(fb.BuiltinOperator.CONV_2D, [x, k, b], fb.BuiltinOptions.Conv2DOptions, options, name, kernel.shape[3])

    def concat(self, xs: list[int], name: str) -> int:
        """The inputs stacked along the channels."""
        fb = self.fb
        options = fb.ConcatenationOptionsT()
        options.axis, options.fusedActivationFunction = 3, fb.ActivationFunctionType.NONE
        channels = sum(self.tensors[x].shape[-1] for x in xs)
        return self.op(fb.BuiltinOperator.CONCATENATION, xs, fb.BuiltinOptions.ConcatenationOptions, options, name, channels)

    def shuffle(self, x: int, block: int, to_depth: bool, name: str) -> int:
        fb = self.fb
        options = fb.SpaceToDepthOptionsT() if to_depth else fb.DepthToSpaceOptionsT()
        options.blockSize = block
        code = fb.BuiltinOperator.SPACE_TO_DEPTH if to_depth else fb.BuiltinOperator.DEPTH_TO_SPACE
        kind = fb.BuiltinOptions.SpaceToDepthOptions if to_depth else fb.BuiltinOptions.DepthToSpaceOptions
        channels = self.tensors[x].shape[-1]
        return self.op(code, [x], kind, options, name, channels * block * block if to_depth else channels // (block * block))

    def finish(self, inputs: list[int], outputs: list[int]) -> bytes:
        import flatbuffers

        fb = self.fb
        graph = fb.SubGraphT()
        graph.tensors, graph.operators, graph.inputs, graph.outputs, graph.name = self.tensors, self.operators, inputs, outputs, b"main"
        codes = []
        for code in self.opcodes:
            c = fb.OperatorCodeT()
            c.builtinCode, c.deprecatedBuiltinCode, c.version = code, min(code, 127), 1
            codes.append(c)
        model = fb.ModelT()
        model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, codes, [graph], self.buffers
        model.description = b"raymouth native EDSR"
        builder = flatbuffers.Builder(1 << 20)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


def native_flatbuffer(weights: list[np.ndarray], arch: dict) -> bytes:
    """The native model with these weights as a TensorFlow Lite flatbuffer (input ``(N, H, W, 3)``
    float32 RGB in [0, 1], H and W multiples of the unshuffle factor; output the same shape)."""
    check_native_weights(weights, arch)
    g, r = _Graph(), int(arch["unshuffle"])
    inputs = g.tensor("crop", (1, r, r, 3), signature=(-1, -1, -1, 3))
    return g.finish([inputs], [g.binary("ADD", inputs, _correction(g, _pixel_in(g, inputs, "pixel_in"), weights, arch), "input_skip")])


def guided_flatbuffer(weights: list[np.ndarray], arch: dict) -> bytes:
    """The guided model (``models.guided.build_guided``) as a flatbuffer: inputs ``crop`` and
    ``exemplar`` (N, H, W, 3) RGB in [0, 1] and ``confidence`` (N, H, W, 1), in that order; output
    the crop plus the correction."""
    check_native_weights(weights, arch, in_channels=7)
    g, r = _Graph(), int(arch["unshuffle"])
    crop, exemplar = (g.tensor(name, (1, r, r, 3), signature=(-1, -1, -1, 3)) for name in ("crop", "exemplar"))
    confidence = g.tensor("confidence", (1, r, r, 1), signature=(-1, -1, -1, 1))
    scaled = g.binary("MUL", confidence, g.tensor("confidence_range", (), np.float32(IMG_RANGE)), "confidence_in")
    x = g.concat([_pixel_in(g, crop, "pixel_in"), _pixel_in(g, exemplar, "exemplar_in"), scaled], "stack")
    return g.finish([crop, exemplar, confidence], [g.binary("ADD", crop, _correction(g, x, weights, arch), "input_skip")])


def _pixel_in(g: _Graph, x: int, name: str) -> int:
    """``PixelShift``: (x - RGB mean) * range."""
    x = g.binary("SUB", x, g.tensor(f"{name}/rgb_mean", (3,), np.array(RGB_MEAN, np.float32)), f"{name}/sub")
    return g.binary("MUL", x, g.tensor(f"{name}/img_range", (), np.float32(IMG_RANGE)), f"{name}/mul")


def _correction(g: _Graph, x: int, weights: list[np.ndarray], arch: dict) -> int:
    """Unshuffle, EDSR's body (head, residual blocks, body end + global skip), tail, shuffle, and
    the scale back to [0, 1] units: the correction both models add to their crop."""
    res_scale, r = np.float32(arch["res_scale"]), int(arch["unshuffle"])
    x = g.shuffle(x, r, True, "unshuffle")
    kernels = list(zip(weights[0::2], weights[1::2]))
    head = x = g.conv(x, *kernels[0], False, "head")
    for i in range(int(arch["num_blocks"])):
        (k1, b1), (k2, b2) = kernels[1 + 2 * i], kernels[2 + 2 * i]
        y = g.conv(x, k1, b1, True, f"block{i}_conv1")
        y = g.conv(y, k2 * res_scale, b2 * res_scale, False, f"block{i}_conv2")  # the residual scale, folded
        x = g.binary("ADD", x, y, f"block{i}_add")
    x = g.binary("ADD", head, g.conv(x, *kernels[-2], False, "body_end"), "global_skip")
    x = g.shuffle(g.conv(x, *kernels[-1], False, "tail"), r, False, "shuffle")
    return g.binary("MUL", x, g.tensor("correction", (), np.float32(1.0 / IMG_RANGE)), "correction")


class LiteRunner:
    """``float batch -> float batch`` through one flatbuffer, a crop at a time, with an interpreter
    per crop size (the ``cache`` most recent kept). LiteRT plans memory per input shape: measured
    here, a new (1, 96, 160) shape costs 14 ms and a new (8, 96, 160) one 79 ms, while a crop costs
    the same alone or in a batch of 8 (8.0 / 7.7 ms): batch sizes would only multiply the shapes.
    Each interpreter holds its activations: ~60 MB for a 1080p mouth (240x336), so few are kept (a
    video's mouths stay within a few size buckets)."""

    def __init__(self, flatbuffer: bytes, threads: int = 1, cache: int = 4) -> None:
        self.flatbuffer, self.threads, self.cache = flatbuffer, max(1, int(threads)), max(1, int(cache))
        self._by_shape: OrderedDict[tuple[int, ...], object] = OrderedDict()

    def _interpreter(self, shapes: tuple[tuple[int, ...], ...]):
        from ai_edge_litert.interpreter import Interpreter

        it = self._by_shape.pop(shapes, None)
        if it is None:
            with native_quiet():  # "INFO: Created TensorFlow Lite XNNPACK delegate" and LiteRT's start-up lines
                it = Interpreter(model_content=self.flatbuffer, num_threads=self.threads)
                for detail, shape in zip(it.get_input_details(), shapes):
                    it.resize_tensor_input(detail["index"], list(shape), strict=False)
                it.allocate_tensors()
        self._by_shape[shapes] = it
        while len(self._by_shape) > self.cache:
            self._by_shape.popitem(last=False)
        return it

    def __call__(self, *batches: np.ndarray) -> np.ndarray:
        """One batch per model input (in the graph's input order), a crop at a time."""
        xs = [np.ascontiguousarray(b, np.float32) for b in batches]
        it = self._interpreter(tuple((1, *x.shape[1:]) for x in xs))
        inputs, out = [d["index"] for d in it.get_input_details()], it.get_output_details()[0]["index"]
        results = []
        for n in range(len(xs[0])):
            for index, x in zip(inputs, xs):
                it.set_tensor(index, x[n : n + 1])
            it.invoke()
            results.append(it.get_tensor(out)[0])
        return np.stack(results)
