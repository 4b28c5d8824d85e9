"""The Ray Data batch callables of the enhance job, besides ``locate.Locate``.

Each maps ``dict[str, np.ndarray]`` to ``dict[str, np.ndarray]`` and imports nothing of Ray, so a
test can call it on a hand-built batch without a cluster.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from raymouth import codec, metrics, roi, schema, storage, units
from raymouth.config import Config, StorageConfig

INTERNAL_COLUMNS = ("crop", "enhanced_crop", "mouth_polygon", "confidence", "_unit")


class ReadUnits:
    """Reads whole units (see ``units``) and yields them located, one batch per unit slice.

    Reading and locating happen in one actor so a unit is always smoothed as a whole, whatever
    else the cluster is doing; located slices of ``pipeline.locate_batch_size`` rows leave as soon
    as their smoothing window has been seen (``Locate.stream``), so the models need not wait for
    the whole unit.
    The landmarker lives for one unit (~0.3 s to create against seconds of work per unit):
    Ray never tells an actor it is done, and a MediaPipe task left to the garbage collector at
    exit prints errors.
    """

    def __init__(self, cfg: Config, in_storage: StorageConfig, in_is_s3: bool) -> None:
        self.cfg = cfg
        self.fs = _filesystem(in_storage, in_is_s3)

    def __call__(self, batch: dict[str, np.ndarray]):
        from raymouth.locate import Locate

        for row in _rows(batch):
            unit = units.Unit.from_row(row)
            table = units.read_unit(self.fs, unit)
            with Locate(self.cfg) as locate:
                for located in locate.stream(table_to_batch(table), self.cfg.pipeline.locate_batch_size):
                    located["_unit"] = np.array([unit.unit_id] * len(located["status"]), dtype=object)
                    yield located


class EnhanceStage:
    """Runs the enhance chain on the crops of the ``ok`` rows; one model load per actor.

    ``models`` (``video_id -> weights URI``) gives some videos their own fine-tuned native
    model (``finetune``); the batch's rows are grouped by model, each group runs as one call of
    its chain, and each row's ``model_version`` names the model its video uses. Per-identity
    chains are loaded on demand into a bounded cache (``reference.cache_size``).
    """

    def __init__(self, cfg: Config, models: dict[str, str] | None = None) -> None:
        from raymouth.chain_cache import SHIPPED, ChainCache

        self.chains = ChainCache(cfg, cfg.reference.cache_size)
        self.models = models or {}
        self.shipped = SHIPPED
        self.model_version = self.chains.shipped.model_version

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(batch["status"])
        out = np.empty(n, dtype=object)
        out[:] = [b""] * n
        versions = np.array([self.model_version] * n, dtype=object)
        groups: dict[str, list[int]] = {}
        for i in range(n):
            groups.setdefault(self.models.get(str(batch["video_id"][i]), self.shipped), []).append(i)
        for weights, rows in groups.items():
            chain = self.chains.get(weights)
            versions[rows] = chain.model_version
            ok = [i for i in rows if batch["status"][i] == schema.STATUS_OK]
            crops = [codec.decode(batch["crop"][i])[0] for i in ok]
            for i, enhanced in zip(ok, chain(crops) if crops else []):
                out[i] = codec.encode(enhanced, "png")
        batch["enhanced_crop"] = out
        del batch["crop"]  # nothing after this stage needs it: do not ship it on
        batch["model_version"] = versions
        return batch


class Composite:
    """Colour-matches and pastes the enhanced crop back, scores it and applies the do-no-harm gate."""

    def __init__(self, cfg: Config, run_id: str) -> None:
        self.cfg = cfg
        self.run_id = run_id
        self.config_hash = cfg.hash()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(batch["status"])
        enhanced = np.empty(n, dtype=object)
        status = np.array(batch["status"], dtype=object)
        reasons = np.empty(n, dtype=object)
        reasons[:] = [""] * n
        cols = {name: np.full(n, np.nan) for name in schema.METRIC_COLUMNS}
        for i in range(n):
            enhanced[i] = batch["image"][i]  # pass-through rows keep their original bytes
            if status[i] != schema.STATUS_OK:
                continue
            frame, _ = codec.decode(batch["image"][i])
            crop_out, _ = codec.decode(batch["enhanced_crop"][i])
            box = tuple(int(v) for v in batch["mouth_box"][i])
            polygon = np.asarray(batch["mouth_polygon"][i], dtype=np.float32).reshape(-1, 2)
            result, row_metrics = self.composite_one(frame, crop_out, box, polygon, _reference(batch, i))
            for name, value in row_metrics.items():
                cols[name][i] = value
            why = self.reject_reasons(row_metrics)
            if why:
                status[i] = schema.STATUS_REJECTED_QUALITY
                reasons[i] = schema.REJECT_REASON_SEP.join(why)
            else:
                enhanced[i] = codec.encode(result, self.cfg.pipeline.output_format)
        batch["enhanced"] = enhanced
        batch["status"] = status
        batch["reject_reason"] = reasons
        batch.update(cols)
        batch["config_hash"] = np.array([self.config_hash] * n, dtype=object)
        batch["run_id"] = np.array([self.run_id] * n, dtype=object)
        return batch

    def composite_one(
        self, frame: np.ndarray, crop_out: np.ndarray, box: tuple[int, int, int, int], polygon: np.ndarray, reference: np.ndarray | None
    ) -> tuple[np.ndarray, dict[str, float]]:
        loc = self.cfg.locate
        alpha = roi.feather_mask(box, polygon, loc.feather_px)
        matched = roi.colour_match(crop_out, frame, box, alpha, loc.colour_ring_px)
        result = roi.paste(frame, matched, box, alpha)
        # Every measure looks at most half a box beyond the box: score a window around it, not
        # the whole frame (same values, a fraction of the colour conversions).
        (wx0, wy0, wx1, wy1), local = window(frame.shape, box)
        before, after = frame[wy0:wy1, wx0:wx1], result[wy0:wy1, wx0:wx1]
        lx0, ly0, lx1, ly1 = local
        original = roi.crop(frame, box)
        m = {
            "sharpness_in": metrics.sharpness(before[ly0:ly1, lx0:lx1]),
            "sharpness_out": metrics.sharpness(after[ly0:ly1, lx0:lx1]),
            "sharpness_ratio_in": metrics.sharpness_ratio(before, local),
            "sharpness_ratio_out": metrics.sharpness_ratio(after, local),
            # What the paste adds, measured where it can show: along the feather, and in colour.
            "seam": metrics.paste_seam(original, matched, alpha),
            "delta_e": metrics.colour_shift(original, matched, alpha),
            # What it would take away: the mouth's band-pass detail, pasted over original.
            "detail_ratio": metrics.detail_ratio(original, matched, alpha),
        }
        if reference is not None and reference.shape == frame.shape:
            m["psnr_in"], m["ssim_in"] = metrics.mouth_psnr_ssim(frame, reference, box)
            m["psnr_out"], m["ssim_out"] = metrics.mouth_psnr_ssim(result, reference, box)
        return result, m

    def reject_reasons(self, m: dict[str, float]) -> list[str]:
        """Do no harm: why the input should be kept, in ``schema.REJECT_REASONS`` order ([] = paste).

        The paste would leave a visible edge (``seam``) or shift the mouth's colour
        (``colour_shift``), leave the mouth far sharper than the face around it (``over_sharp``:
        ringing, grid artefacts), or keep less of its detail than ``gate.min_detail_ratio``
        (``lost_detail``: the model would soften it).
        """
        g = self.cfg.gate
        checks = {
            schema.REJECT_SEAM: m["seam"] > g.max_seam,
            schema.REJECT_COLOUR_SHIFT: m["delta_e"] > g.max_delta_e,
            schema.REJECT_OVER_SHARP: m["sharpness_ratio_out"] > max(g.max_sharpness_ratio, m["sharpness_ratio_in"]),
            schema.REJECT_LOST_DETAIL: m.get("detail_ratio", 1.0) < g.min_detail_ratio,
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

    def __init__(self, run_path: str, out_storage: StorageConfig, out_is_s3: bool) -> None:
        self.fs = _filesystem(out_storage, out_is_s3)
        self.run_path = run_path  # path inside the output filesystem

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        table = _enhanced_table(batch)
        metric_table = table.drop_columns([c for c in ("image", "enhanced", "reference") if c in table.column_names])
        for uid in sorted(set(batch["_unit"])):
            rows = np.flatnonzero(np.asarray(batch["_unit"]) == uid)
            keys = [(str(batch["video_id"][i]), int(batch["frame_index"][i])) for i in rows]
            name = units.output_name(uid, keys)
            idx = pa.array(rows)
            self._write(f"frames/{name}", table.take(idx))
            self._write(f"metrics/{name}", metric_table.take(idx))
        result = {name: metric_table.column(name).to_numpy(zero_copy_only=False) for name in metric_table.column_names if name != "mouth_box"}
        return result

    def _write(self, rel: str, table: pa.Table) -> None:
        path = f"{self.run_path}/{rel}"
        tmp = path if isinstance(self.fs, pa.fs.PyFileSystem) else storage.temp_path(path)  # hidden from readers
        self.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with self.fs.open_output_stream(tmp) as out:
            pq.write_table(table, out)
        if tmp != path:
            self.fs.move(tmp, path)  # local: readers never see half a file


class CompositeAndWrite:
    """``Composite`` then ``WriteOutput`` in one actor: the whole frames (input and enhanced) are
    not shipped through the object store once more between the two."""

    def __init__(self, cfg: Config, run_id: str, run_path: str, out_storage: StorageConfig, out_is_s3: bool) -> None:
        self.composite = Composite(cfg, run_id)
        self.write = WriteOutput(run_path, out_storage, out_is_s3)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.write(self.composite(batch))


def window(shape: tuple[int, ...], box: tuple[int, int, int, int]) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """A window of one box size around the box, clipped to the frame, and the box inside it: every
    measure of ``Composite`` looks at most half a box beyond the box (evaluate crops the same)."""
    x0, y0, x1, y1 = box
    pad = max(x1 - x0, y1 - y0)
    wx0, wy0 = max(0, x0 - pad), max(0, y0 - pad)
    wx1, wy1 = min(shape[1], x1 + pad), min(shape[0], y1 + pad)
    return (wx0, wy0, wx1, wy1), (x0 - wx0, y0 - wy0, x1 - wx0, y1 - wy0)


def _enhanced_table(batch: dict[str, np.ndarray]) -> pa.Table:
    """The enhanced-table columns of a batch: the input's columns plus the contract's, no internals."""
    columns = {}
    for name, values in batch.items():
        if name in INTERNAL_COLUMNS:
            continue
        if name == "mouth_box":
            columns[name] = pa.array([list(map(int, b)) for b in values], type=pa.list_(pa.int32(), 4))
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


def _reference(batch: dict[str, np.ndarray], i: int) -> np.ndarray | None:
    if "reference" not in batch or batch["reference"][i] is None:
        return None
    ref, status = codec.decode(batch["reference"][i])
    return ref if status == schema.STATUS_OK else None


def _filesystem(storage_cfg: StorageConfig, is_s3: bool) -> pa.fs.FileSystem:
    if is_s3:
        return pa.fs.PyFileSystem(pa.fs.FSSpecHandler(storage.s3fs_filesystem(storage_cfg)))
    return pa.fs.LocalFileSystem()
