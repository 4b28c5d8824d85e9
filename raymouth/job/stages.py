"""The Ray Data batch callables of the enhance job, besides ``locate.Locate``.

Each maps ``dict[str, np.ndarray]`` to ``dict[str, np.ndarray]`` and imports nothing of Ray, so a
test can call it on a hand-built batch without a cluster.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from raymouth.config import Config, StorageConfig
from raymouth.data import codec, compose, schema, storage, units
from raymouth.mouth import roi
from raymouth.mouth.locate import mouth_crop
from raymouth.paste import gate, metrics

LOW_BAND_PER_BOX = 25.0  # low_band_change's Gaussian sigma is the mouth box's width over this

INTERNAL_COLUMNS = (
    "enhanced_crop", "mouth_polygon", "confidence", "window", "window_box", "frame_hw", "face_sharpness", "landmarks", "_unit",
)


class ReadUnits:
    """Reads units (see ``units``; frames a row group at a time) and yields them located, one
    batch per unit slice.

    Reading and locating happen in one actor so a unit is always smoothed as a whole, whatever
    else the cluster is doing; located slices of ``pipeline.locate_batch_size`` rows leave as soon
    as their smoothing window has been seen (``Locate.stream``), so the models need not wait for
    the whole unit.
    The landmarker lives for one unit (~0.3 s to create against seconds of work per unit):
    Ray never tells an actor it is done, and a MediaPipe task left to the garbage collector at
    exit prints errors.
    """

    def __init__(self, cfg: Config, in_storage: StorageConfig, in_is_s3: bool, exemplar_indexes: dict[str, str] | None = None) -> None:
        self.cfg = cfg
        self.storage = in_storage
        self.fs = _filesystem(in_storage, in_is_s3)
        self.retriever = None
        if exemplar_indexes:  # reference.mode=guided: each mouth's exemplar, chosen over the whole unit
            from raymouth.job.exemplars import Retriever

            self.retriever = Retriever(exemplar_indexes, cfg)

    def __call__(self, batch: dict[str, np.ndarray]):
        from raymouth.mouth.locate import Locate

        for row in _rows(batch):
            unit = units.Unit.from_row(row)
            names, table, images = units.read_unit_lazily(self.fs, unit, "image", lambda read: storage.retrying(f"reading {unit.path}", read, self.storage))
            columns = {**table_to_batch(table), "image": images}  # frames are read as the stream reaches them
            if self.retriever is not None:
                self.retriever.new_unit()
            with Locate(self.cfg) as locate:
                for located in locate.stream({name: columns[name] for name in names}, self.cfg.pipeline.locate_batch_size):
                    located["_unit"] = np.array([unit.unit_id] * len(located["status"]), dtype=object)
                    if self.retriever is not None:
                        located = self.retriever(located)
                    if self.cfg.pipeline.output_mode == schema.OUTPUT_PATCH:
                        del located["image"]  # composite works on the window: do not ship whole frames on
                    yield located


class EnhanceStage:
    """Runs the enhance chain on the crops of the ``ok`` rows; one model load per actor.

    ``enhanced_crop`` holds the pixels (uint8 arrays, empty where not ok), not PNG: the crop only
    travels to the composite stage, and encoding and decoding it cost more than shipping it.

    ``models`` (``video_id -> weights URI``) gives some videos their own fine-tuned native
    model (``finetune``); the batch's rows are grouped by model, each group runs as one call of
    its chain, and each row's ``model_version`` names the model it used (with the shipped chain's
    automatic detail, each mouth's level comes from its input's mouth / surround sharpness ratio:
    ``detail.detail_level``). Per-identity
    chains are loaded on demand into a bounded cache (``reference.cache_size``).
    """

    def __init__(self, cfg: Config, models: dict[str, str] | None = None, exemplar_indexes: dict[str, str] | None = None) -> None:
        from raymouth.restore.chain_cache import SHIPPED, ChainCache

        self.chains = ChainCache(cfg, cfg.reference.cache_size)
        self.models = models or {}
        self.shipped = SHIPPED
        self.model_version = self.chains.shipped.model_version
        self.guided = None
        if exemplar_indexes:  # reference.mode=guided
            from raymouth.job.exemplars import Indexes
            from raymouth.restore.guided import GuidedChain

            enh = cfg.enhance
            self.guided = GuidedChain(cfg.reference.guided_weights, enh.tf_intra_op_threads, enh.max_px, enh.runtime, enh.bucket_px)
            self.indexes, self.exemplar_indexes = Indexes(cfg), exemplar_indexes

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(batch["status"])
        out = np.empty(n, dtype=object)
        out[:] = [np.zeros((0, 0, 3), np.uint8) for _ in range(n)]
        versions = np.array([self.model_version] * n, dtype=object)
        face = np.full((n, 2), np.nan)  # (mouth, rest of face) sharpness, where measured
        guided = self.guided_rows(batch)
        if guided:
            self._enhance_guided(batch, guided, out, versions)
        groups: dict[str, list[int]] = {}
        for i in sorted(set(range(n)) - set(guided)):
            groups.setdefault(self.models.get(str(batch["video_id"][i]), self.shipped), []).append(i)
        for weights, rows in groups.items():
            chain = self.chains.get(weights)
            versions[rows] = chain.model_version
            ok = [i for i in rows if batch["status"][i] == schema.STATUS_OK]
            if not ok:
                continue
            crops = [mouth_crop(batch, i) for i in ok]
            if chain.auto_detail:
                face[ok] = [input_face_sharpness(batch, i) for i in ok]
            ratios = [gate.face_ratio(tuple(face[i])) for i in ok]  # nan where not measured
            for i, enhanced, version in zip(ok, *chain.enhance(crops, ratios)):
                out[i], versions[i] = enhanced, version
        batch["enhanced_crop"] = out
        batch["face_sharpness"] = face  # the gate's sharpness_ratio_in, not measured twice
        batch.pop("exemplars", None)
        batch["model_version"] = versions
        return batch

    def guided_rows(self, batch: dict[str, np.ndarray]) -> list[int]:
        """The ok rows that have an exemplar (reference.mode=guided): the guided chain's."""
        if self.guided is None or "exemplars" not in batch:
            return []
        return [i for i in range(len(batch["status"])) if batch["status"][i] == schema.STATUS_OK and len(batch["exemplars"][i])]

    def guided_inputs(self, batch: dict[str, np.ndarray], rows: list[int]) -> tuple[list[np.ndarray], list[np.ndarray], list]:
        """What the guided chain takes for ``rows``: their mouth crops, lip points in crop pixels
        and retrieved exemplars."""
        from raymouth.job.exemplars import crop_lips

        crops = [mouth_crop(batch, i) for i in rows]
        lips = [crop_lips(batch["landmarks"][i], tuple(int(v) for v in batch["mouth_box"][i])) for i in rows]
        exemplars = [self.indexes.exemplar(self.exemplar_indexes[str(batch["video_id"][i])], int(batch["exemplars"][i][0])) for i in rows]
        return crops, lips, exemplars

    def _enhance_guided(self, batch: dict[str, np.ndarray], rows: list[int], out: np.ndarray, versions: np.ndarray) -> None:
        for i, enhanced in zip(rows, self.guided.enhance(*self.guided_inputs(batch, rows))):
            out[i], versions[i] = enhanced, self.guided.model_version


class Composite:
    """Colour-matches and pastes the enhanced crop back, scores it and applies the do-no-harm gate.

    It works on the box's window (``roi.window``: shipped by ``Locate``, else cut from the decoded
    frame), never on the whole frame: the paste changes only ``patch_box`` and every score looks
    at most half a box beyond the box. ``enhanced`` is that rectangle's PNG in patch mode (None
    where nothing is pasted), or the input frame with it pasted (``compose``) in frame mode.
    """

    def __init__(self, cfg: Config, run_id: str) -> None:
        self.cfg = cfg
        self.run_id = run_id
        self.config_hash = cfg.hash()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(batch["status"])
        status = np.array(batch["status"], dtype=object)
        reasons = np.empty(n, dtype=object)
        reasons[:] = [""] * n
        patches = np.full(n, None, dtype=object)  # RGB arrays of the pasted rectangles
        patch_boxes = np.full(n, None, dtype=object)
        cols = {name: np.full(n, np.nan) for name in schema.METRIC_COLUMNS}
        for i in range(n):
            if status[i] != schema.STATUS_OK:
                continue
            win, (ox, oy), frame_hw = _window(batch, i)
            at = roi.Window(ox, oy)
            crop_out = np.asarray(batch["enhanced_crop"][i])
            polygon = np.asarray(batch["mouth_polygon"][i], dtype=np.float32).reshape(-1, 2) - np.float32([ox, oy])
            box = at.local(batch["mouth_box"][i])
            reference = _reference(batch, i, (ox, oy), win.shape, frame_hw)
            lips = _lips(batch, i, (ox, oy))
            result, row_metrics, changed = self.composite_one(win, crop_out, box, polygon, reference, _measured_face(batch, i), lips)
            for name, value in row_metrics.items():
                cols[name][i] = value
            why = self.reject_reasons(row_metrics)
            if why:
                status[i] = schema.STATUS_REJECTED_QUALITY
                reasons[i] = schema.REJECT_REASON_SEP.join(why)
            else:
                cx0, cy0, cx1, cy1 = changed
                patches[i] = result[cy0:cy1, cx0:cx1]
                patch_boxes[i] = at.frame(changed)
        batch["enhanced"] = self._enhanced(batch, patches, patch_boxes)
        batch["patch_box"] = patch_boxes
        batch["status"] = status
        batch["reject_reason"] = reasons
        batch.update(cols)
        batch["config_hash"] = np.array([self.config_hash] * n, dtype=object)
        batch["run_id"] = np.array([self.run_id] * n, dtype=object)
        return batch

    def _enhanced(self, batch: dict[str, np.ndarray], patches: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """The enhanced column: the patches as PNG (patch mode), or the input frames with them
        pasted, as compose gives them (frame mode: rows without a patch keep their bytes)."""
        out = np.full(len(patches), None, dtype=object)
        for i, (patch, box) in enumerate(zip(patches, boxes)):
            if self.cfg.pipeline.output_mode == schema.OUTPUT_PATCH:
                out[i] = None if patch is None else codec.encode(patch, "png")
            elif patch is None:
                out[i] = batch["image"][i]
            else:
                frame, _ = codec.decode(batch["image"][i])
                out[i] = codec.encode(compose.paste_patch(frame, patch, box), self.cfg.pipeline.output_format)
        return out

    def composite_one(
        self,
        frame: np.ndarray,
        crop_out: np.ndarray,
        box: tuple[int, int, int, int],
        polygon: np.ndarray,
        reference: np.ndarray | None,
        face: tuple[float, float] | None = None,
        lips: tuple[np.ndarray, float] | None = None,
    ) -> tuple[np.ndarray, dict[str, float], roi.Box]:
        """The pasted frame (or window), its scores, and the rectangle the paste changed (``face``:
        ``gate.face_sharpness`` of the frame, when the enhance stage measured it; ``lips``: the
        input's lip points in ``frame``'s pixels and the face's width, for the lip shift)."""
        loc = self.cfg.locate
        alpha = roi.feather_mask(box, polygon, loc.feather_px)
        changed = roi.support_box(alpha, box)
        # Colour matching and the paste's scores read the mask's support and their reach around
        # it, no more of the box (the same values up to summation order: nothing else is weighted).
        near = roi.grow_within(changed, max(loc.colour_ring_px, gate.PASTE_REACH_PX), box)
        inner = (slice(near[1] - box[1], near[3] - box[1]), slice(near[0] - box[0], near[2] - box[0]))
        alpha, crop_out = alpha[inner], crop_out[inner]
        original = roi.crop(frame, near)
        original_lab = roi.to_lab(original)  # for the colour match and the colour scores
        matched = roi.colour_match(crop_out, frame, near, alpha, loc.colour_ring_px, original_lab)
        result = roi.paste(frame, matched, near, alpha)
        # Every measure looks at most half a box beyond the box: score its window, not the
        # whole frame (same values, a fraction of the work).
        (wx0, wy0, wx1, wy1), local = roi.window(frame.shape, box)
        before, after = frame[wy0:wy1, wx0:wx1], result[wy0:wy1, wx0:wx1]
        seam, shift = gate.paste_colour(original, matched, alpha, original_lab)
        m = {
            **gate.paste_sharpness(before, after, local, face=face),
            # What the paste adds, measured where it can show: along the feather, and in colour.
            "seam": seam,
            "delta_e": shift,
            # What it would take away: the mouth's band-pass detail, pasted over original.
            "detail_ratio": gate.detail_ratio(original, matched, alpha),
            # What it would draw that the input does not show (ghosting), at a scale of the mouth's.
            "low_band_change": gate.low_band_change(original, matched, alpha, max(1.5, (box[2] - box[0]) / LOW_BAND_PER_BOX)),
        }
        if lips is not None:  # did the restoration move the lip shape the lip-sync model drew?
            points, width = lips
            m["lip_shift_px"] = metrics.tracked_lip_shift(before, after, points - np.float32([wx0, wy0]), width)
        if reference is not None and reference.shape == frame.shape:
            m["psnr_in"], m["ssim_in"] = metrics.mouth_psnr_ssim(frame, reference, box)
            m["psnr_out"], m["ssim_out"] = metrics.mouth_psnr_ssim(result, reference, box)
        return result, m, changed

    def reject_reasons(self, m: dict[str, float]) -> list[str]:
        """Do no harm: why the input should be kept, in ``schema.REJECT_REASONS`` order ([] = paste).

        The paste would leave a visible edge (``seam``) or shift the mouth's colour
        (``colour_shift``), leave the mouth far sharper than the face around it and than it was (``over_sharp``:
        ringing, grid artefacts), keep less of its detail than ``gate.min_detail_ratio``
        (``lost_detail``: the model would soften it), move the lips' edges by more than
        ``gate.max_lip_shift_px`` (``lip_shift``: the lip sync itself would change), or change the
        mouth's coarse structure by more than ``gate.max_low_band_change`` (``ghosting``).
        """
        g = self.cfg.gate
        checks = {
            schema.REJECT_SEAM: m["seam"] > g.max_seam,
            schema.REJECT_COLOUR_SHIFT: m["delta_e"] > g.max_delta_e,
            schema.REJECT_OVER_SHARP: m["sharpness_ratio_out"] > max(g.max_sharpness_ratio, g.max_sharpness_gain * m["sharpness_ratio_in"]),
            schema.REJECT_LOST_DETAIL: m.get("detail_ratio", 1.0) < g.min_detail_ratio,
            schema.REJECT_LIP_SHIFT: m.get("lip_shift_px", 0.0) > g.max_lip_shift_px,
            schema.REJECT_GHOSTING: m.get("low_band_change", 0.0) > g.max_low_band_change,
        }
        return [reason for reason in schema.REJECT_REASONS if checks[reason]]

    def rejected(self, m: dict[str, float]) -> bool:
        """Whether the gate keeps the input (see ``reject_reasons``)."""
        return bool(self.reject_reasons(m))


class WriteOutput:
    """Writes a batch to ``frames/`` and ``metrics/`` under the run and returns its metric rows.

    File names are derived from the rows (see ``units.output_name``), so a retried task rewrites
    the same file instead of adding a duplicate; rows are never appended to existing files.
    """

    def __init__(self, run_path: str, out_storage: StorageConfig, out_is_s3: bool, output_mode: str = schema.OUTPUT_PATCH) -> None:
        self.fs = _filesystem(out_storage, out_is_s3)
        self.storage = out_storage
        self.run_path = run_path  # path inside the output filesystem
        self.dropped = schema.FULL_FRAME_COLUMNS if output_mode == schema.OUTPUT_PATCH else ()  # never whole frames

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        table = _enhanced_table(batch)
        table = table.drop_columns([c for c in self.dropped if c in table.column_names])
        metric_table = table.drop_columns([c for c in ("image", "enhanced", "reference") if c in table.column_names])
        for uid in sorted(set(batch["_unit"])):
            rows = np.flatnonzero(np.asarray(batch["_unit"]) == uid)
            keys = [(str(batch["video_id"][i]), int(batch["frame_index"][i])) for i in rows]
            name = units.output_name(uid, keys)
            idx = pa.array(rows)
            self._write(f"frames/{name}", table.take(idx))
            self._write(f"metrics/{name}", metric_table.take(idx))
        boxes = ("mouth_box", "patch_box")
        return {name: metric_table.column(name).to_numpy(zero_copy_only=False) for name in metric_table.column_names if name not in boxes}

    def _write(self, rel: str, table: pa.Table) -> None:
        """One output file, written whole; tried again while storage fails (``storage.retrying``)."""
        storage.retrying(f"writing {self.run_path}/{rel}", lambda: self._write_once(rel, table), self.storage)

    def _write_once(self, rel: str, table: pa.Table) -> None:
        path = f"{self.run_path}/{rel}"
        tmp = path if isinstance(self.fs, pa.fs.PyFileSystem) else storage.temp_path(path)  # hidden from readers
        storage.make_dirs(self.fs, path.rsplit("/", 1)[0])
        with self.fs.open_output_stream(tmp) as out:
            pq.write_table(table, out)
        if tmp != path:
            self.fs.move(tmp, path)  # local: readers never see half a file


class CompositeAndWrite:
    """``Composite`` then ``WriteOutput`` in one actor: frame mode's whole frames (input and
    enhanced) are not shipped through the object store once more between the two."""

    def __init__(self, cfg: Config, run_id: str, run_path: str, out_storage: StorageConfig, out_is_s3: bool) -> None:
        self.composite = Composite(cfg, run_id)
        self.write = WriteOutput(run_path, out_storage, out_is_s3, cfg.pipeline.output_mode)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.write(self.composite(batch))


def input_face_sharpness(batch: dict[str, np.ndarray], i: int) -> tuple[float, float]:
    """Row ``i``'s mouth and surround sharpness before any paste (``gate.face_sharpness``
    on its window: ``face_ratio`` of them is the frame's ``metrics.sharpness_ratio`` and the
    gate's ``sharpness_ratio_in``)."""
    win, (ox, oy), _ = _window(batch, i)
    x0, y0, x1, y1 = (int(v) for v in batch["mouth_box"][i])
    return gate.face_sharpness(win, (x0 - ox, y0 - oy, x1 - ox, y1 - oy))


def _measured_face(batch: dict[str, np.ndarray], i: int) -> tuple[float, float] | None:
    """Row ``i``'s ``face_sharpness`` from the enhance stage, or None where it was not measured."""
    if "face_sharpness" not in batch or np.isnan(batch["face_sharpness"][i][0]):
        return None
    return tuple(map(float, batch["face_sharpness"][i]))


def _window(batch: dict[str, np.ndarray], i: int) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """Row ``i``'s window (``roi.window``), its origin in the frame and the frame's (height, width):
    from ``Locate``'s columns, or cut from the decoded ``image`` (batches built by hand)."""
    if "window" in batch:
        wx0, wy0 = (int(v) for v in batch["window_box"][i][:2])
        return np.asarray(batch["window"][i]), (wx0, wy0), tuple(int(v) for v in batch["frame_hw"][i])
    frame, _ = codec.decode(batch["image"][i])
    (wx0, wy0, wx1, wy1), _ = roi.window(frame.shape, tuple(int(v) for v in batch["mouth_box"][i]))
    return frame[wy0:wy1, wx0:wx1], (wx0, wy0), frame.shape[:2]


def _enhanced_table(batch: dict[str, np.ndarray]) -> pa.Table:
    """The enhanced-table columns of a batch: the input's columns plus the contract's, no internals."""
    columns = {}
    for name, values in batch.items():
        if name in INTERNAL_COLUMNS:
            continue
        if name in ("mouth_box", "patch_box"):
            boxes = [None if b is None else list(map(int, b)) for b in values]
            columns[name] = pa.array(boxes, type=pa.list_(pa.int32(), 4))
        elif name == "reference_frames":  # Ray Data makes equal-length lists one 2-D array: back to lists
            columns[name] = pa.array([[int(v) for v in row] for row in values], type=pa.list_(pa.int32()))
        elif name in schema.ENHANCED.names:
            columns[name] = pa.array(list(values) if values.dtype == object else values, type=schema.ENHANCED.field(name).type)
        else:
            columns[name] = pa.array(list(values) if values.dtype == object else values)
    return pa.table(columns)


def _rows(batch: dict[str, np.ndarray]) -> list[dict]:
    n = len(next(iter(batch.values())))
    return [{k: v[i] for k, v in batch.items()} for i in range(n)]


def table_to_batch(table: pa.Table) -> dict[str, np.ndarray]:
    """A pyarrow table as the numpy batch dict the stages take (non-numeric columns as objects)."""
    out: dict[str, np.ndarray] = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
            out[name] = col.to_numpy(zero_copy_only=False)
        else:
            arr = np.empty(len(col), dtype=object)
            arr[:] = col.to_pylist()
            out[name] = arr
    return out


def _lips(batch: dict[str, np.ndarray], i: int, origin: tuple[int, int]) -> tuple[np.ndarray, float] | None:
    """Row ``i``'s lip landmarks in its window's pixels and its face's width, when located."""
    if "landmarks" not in batch:
        return None
    points = np.asarray(batch["landmarks"][i], np.float32).reshape(-1, 2)
    if len(points) <= max(metrics.FACE_EDGES):
        return None
    return points[roi.LIP_INDICES] - np.float32(origin), metrics.face_width(points)


def _reference(batch: dict[str, np.ndarray], i: int, origin: tuple[int, int], shape: tuple[int, ...], frame_hw: tuple[int, int]) -> np.ndarray | None:
    """Row ``i``'s reference cut to its window, when it has one of the frame's size."""
    if "reference" not in batch or batch["reference"][i] is None:
        return None
    ref, status = codec.decode(batch["reference"][i])
    if status != schema.STATUS_OK or ref.shape[:2] != tuple(frame_hw):
        return None
    (ox, oy), (h, w) = origin, shape[:2]
    return ref[oy : oy + h, ox : ox + w]


def _filesystem(storage_cfg: StorageConfig, is_s3: bool) -> pa.fs.FileSystem:
    if is_s3:
        return pa.fs.PyFileSystem(pa.fs.FSSpecHandler(storage.s3fs_filesystem(storage_cfg)))
    return pa.fs.LocalFileSystem()
