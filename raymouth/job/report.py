"""``raymouth report RUN``: one self-contained HTML page of what an enhance run did to a dataset.

Counts per status and reject reason, a per-video table, histograms of the gate's measures and
before/after mouth crops of a few typical ok frames and of rejected frames, images inline (base64
PNG), so the page can be mailed or opened from S3 without the run beside it.

Memory stays bounded on a million-row run: ``metrics/`` is streamed row group by row group, reading
only the key, status and measure columns (the page keeps one float32 per row and measure for the
histograms, and a fixed-size sample of ok keys); the frames shown are then read by key, one row
group at a time, from ``frames/`` and, for a patch-mode run, from the run's input dataset.
"""
from __future__ import annotations

import base64
import html
import io
import json
import posixpath
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow.parquet as pq

from raymouth.config import Config
from raymouth.data import codec, compose, schema, storage, units
from raymouth.data.export import shown_box
from raymouth.data.sheet import fit_height
from raymouth.errors import UserError, one_line


class ReportError(UserError, RuntimeError):
    """The run cannot be reported on (no metrics, unreadable run); the message is one line."""


# Per-video means: the measures a gain is read from (NaN where not measured is left out).
VIDEO_MEASURES = (
    ("sharpness_ratio_in", "sharpness ratio in"),
    ("sharpness_ratio_out", "sharpness ratio out"),
    ("detail_ratio", "detail ratio"),
    ("lip_shift_px", "lip shift px"),
    ("low_band_change", "low-band change"),
    ("seam", "seam ΔE"),
    ("delta_e", "colour shift ΔE"),
    ("psnr_in", "PSNR in"),
    ("psnr_out", "PSNR out"),
    ("ssim_in", "SSIM in"),
    ("ssim_out", "SSIM out"),
)
# The gate's measures and the setting each is compared with (raymouth.paste.gate).
GATE_MEASURES = (
    ("seam", "max_seam", "seam ΔE (paste edge)"),
    ("delta_e", "max_delta_e", "colour shift ΔE"),
    ("sharpness_ratio_out", "max_sharpness_ratio", "sharpness ratio out (mouth / face)"),
    ("detail_ratio", "min_detail_ratio", "detail ratio (out / in)"),
    ("lip_shift_px", "max_lip_shift_px", "lip shift px (at a 512 px face)"),
    ("low_band_change", "max_low_band_change", "low-band change, grey levels (ghosting)"),
)
TYPICAL_BY = ("sharpness_ratio_out", "detail_ratio", "seam", "delta_e")  # "typical" = near the median of these
SCAN_COLUMNS = ["video_id", "frame_index", "status", "reject_reason", *schema.METRIC_COLUMNS]
OK_POOL = 2000  # ok rows sampled (bottom-k of a seeded random key) to pick typical ones from
MAX_VIDEO_ROWS = 500  # per-video table rows shown (most rejected first)
ZOOM_HEIGHT = 192  # px of a zoomed mouth crop


@dataclass
class VideoStats:
    """One video's counts and measure sums, added up over the metrics files."""

    rows: int = 0
    ok: int = 0
    rejected: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def mean(self, name: str) -> float:
        """NaN where the measure was never measured for this video."""
        n = self.counts.get(name, 0)
        return self.sums[name] / n if n else float("nan")


@dataclass
class Example:
    """A frame to show, by key, and the metrics file whose frames/ twin holds it."""

    video_id: str
    frame_index: int
    status: str
    reason: str
    file: str  # basename of its metrics file (frames/ has the same name)


@dataclass
class Scan:
    """What the page needs from metrics/, gathered in one streaming pass."""

    statuses: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)  # per single reason, as summary.json counts them
    combos: Counter = field(default_factory=Counter)  # per reject_reason value ("seam+lost_detail")
    videos: dict[str, VideoStats] = field(default_factory=dict)
    values: dict[str, list[np.ndarray]] = field(default_factory=dict)  # gate measure -> float32 chunks
    kind: list[np.ndarray] = field(default_factory=list)  # per row: 1 ok, 2 rejected, 0 other (int8 chunks)
    pool: dict[str, np.ndarray] = field(default_factory=dict)  # sampled ok rows (columns)
    rejected: dict[str, list[Example]] = field(default_factory=dict)  # reject_reason value -> first few, one per video
    rejected_repeats: dict[str, list[Example]] = field(default_factory=dict)  # ... and a few more of videos already kept

    @property
    def rows(self) -> int:
        return sum(self.statuses.values())


# ---------------------------------------------------------------- the metrics pass


def scan_metrics(run_loc: storage.Location, keep_rejected: int) -> Scan:
    """One pass over metrics/, row group by row group, reading only the needed columns."""
    scan, rng = Scan(), np.random.default_rng(0)
    for path in storage.list_files(run_loc.join("metrics"), ".parquet"):
        with run_loc.fs.open_input_file(path) as f:
            pf = pq.ParquetFile(f)
            columns = [c for c in SCAN_COLUMNS if c in pf.schema_arrow.names]
            for rg in range(pf.num_row_groups):
                _add(scan, pf.read_row_group(rg, columns=columns), posixpath.basename(path), rng, keep_rejected)
    return scan


def _column(table, name: str, n: int) -> np.ndarray:
    """A measure as float64 (NaN where null or absent: older runs lack some measures)."""
    if name not in table.column_names:
        return np.full(n, np.nan)
    return table.column(name).to_numpy(zero_copy_only=False).astype(float)


def _add(scan: Scan, table, file: str, rng: np.random.Generator, keep_rejected: int) -> None:
    """Fold one row group into the scan."""
    n = table.num_rows
    status = np.asarray(table.column("status").to_pylist(), dtype=object)
    reason = np.asarray(table.column("reject_reason").to_pylist() if "reject_reason" in table.column_names else [""] * n, dtype=object)
    vids = table.column("video_id").combine_chunks().dictionary_encode()
    idx, names = vids.indices.to_numpy(zero_copy_only=False), vids.dictionary.to_pylist()
    ok, rej = status == schema.STATUS_OK, status == schema.STATUS_REJECTED_QUALITY
    scan.statuses.update(Counter(status.tolist()))
    for value, count in Counter(reason[rej].tolist()).items():
        scan.combos[value or "(none)"] += count
    for value, count in Counter(reason.tolist()).items():
        for r in schema.reject_reasons(value):
            scan.reasons[r] += count
    measures = {m: _column(table, m, n) for m in schema.METRIC_COLUMNS}
    _add_videos(scan, names, idx, ok, rej, measures)
    for m, _, _ in GATE_MEASURES:
        scan.values.setdefault(m, []).append(measures[m].astype(np.float32))
    scan.kind.append(np.where(ok, 1, np.where(rej, 2, 0)).astype(np.int8))  # 1 ok, 2 rejected, 0 other
    frame_index = table.column("frame_index").to_numpy(zero_copy_only=False)
    _sample_ok(scan, rng, np.asarray(names, dtype=object)[idx[ok]], frame_index[ok], file, {m: measures[m][ok] for m in TYPICAL_BY})
    _keep_rejected(scan, np.asarray(names, dtype=object)[idx], frame_index, reason, rej, file, keep_rejected)


def _add_videos(scan: Scan, names: list[str], idx: np.ndarray, ok: np.ndarray, rej: np.ndarray, measures: dict[str, np.ndarray]) -> None:
    """Per-video counts and sums, vectorised with bincount over the dictionary indices."""
    k = len(names)
    rows, oks, rejs = (np.bincount(idx, weights=w, minlength=k) for w in (None, ok, rej))
    per_measure = {}
    for m, _ in VIDEO_MEASURES:
        fin = np.isfinite(measures[m])
        per_measure[m] = (np.bincount(idx[fin], weights=measures[m][fin], minlength=k), np.bincount(idx[fin], minlength=k))
    for i, vid in enumerate(names):
        v = scan.videos.setdefault(vid, VideoStats())
        v.rows, v.ok, v.rejected = v.rows + int(rows[i]), v.ok + int(oks[i]), v.rejected + int(rejs[i])
        for m, (s, c) in per_measure.items():
            if c[i]:
                v.sums[m] = v.sums.get(m, 0.0) + float(s[i])
                v.counts[m] = v.counts.get(m, 0) + int(c[i])


def _sample_ok(scan: Scan, rng: np.random.Generator, vids: np.ndarray, fidx: np.ndarray, file: str, measures: dict[str, np.ndarray]) -> None:
    """Keep the OK_POOL ok rows with the smallest random keys: a uniform sample of fixed size."""
    if not len(vids):
        return
    new = {"key": rng.random(len(vids)), "video_id": vids, "frame_index": fidx, "file": np.full(len(vids), file, dtype=object), **measures}
    pool = {c: np.concatenate([scan.pool[c], a]) for c, a in new.items()} if scan.pool else new
    if len(pool["key"]) > OK_POOL:
        keep = np.argpartition(pool["key"], OK_POOL)[:OK_POOL]
        pool = {c: a[keep] for c, a in pool.items()}
    scan.pool = pool


def _keep_rejected(scan: Scan, vids: np.ndarray, fidx: np.ndarray, reason: np.ndarray, rej: np.ndarray, file: str, keep: int) -> None:
    """Up to ``keep`` rejected rows of each reject_reason value from distinct videos, and ``keep`` more (spread first)."""
    for i in np.flatnonzero(rej):
        value = str(reason[i])
        kept, repeats = scan.rejected.setdefault(value, []), scan.rejected_repeats.setdefault(value, [])
        new_video = all(e.video_id != vids[i] for e in kept)
        target = kept if new_video else repeats
        if len(target) < keep:
            target.append(Example(str(vids[i]), int(fidx[i]), schema.STATUS_REJECTED_QUALITY, value, file))


# ---------------------------------------------------------------- which frames to show


def typical_ok(scan: Scan, n: int) -> list[Example]:
    """``n`` sampled ok frames nearest the sample's median measures, spread over videos."""
    pool = scan.pool
    if not pool or n <= 0:
        return []
    score = np.zeros(len(pool["key"]))
    for m in TYPICAL_BY:
        v = pool[m]
        ranks = np.argsort(np.argsort(np.where(np.isfinite(v), v, np.nanmedian(v) if np.isfinite(v).any() else 0)))
        score += np.abs(ranks / max(len(v) - 1, 1) - 0.5)
    order = np.lexsort((pool["frame_index"], pool["video_id"], score))
    return [Example(str(pool["video_id"][i]), int(pool["frame_index"][i]), schema.STATUS_OK, "", str(pool["file"][i])) for i in _spread(pool["video_id"], order, n)]


def _spread(vids: np.ndarray, order: np.ndarray, n: int) -> list[int]:
    """Take ``order``'s first row of each video first, then the rest in order, up to ``n``."""
    seen, first, rest = set(), [], []
    for i in order:
        (rest if vids[i] in seen else first).append(i)
        seen.add(vids[i])
    return (first + rest)[:n]


def some_rejected(scan: Scan, n: int) -> list[Example]:
    """``n`` rejected frames, round-robin over reject reasons (most frequent reason first)."""
    queues = [scan.rejected[r] + scan.rejected_repeats.get(r, []) for r in sorted(scan.rejected, key=lambda r: (-scan.combos.get(r or "(none)", 0), r))]
    picked: list[Example] = []
    while len(picked) < n and any(queues):
        for q in queues:
            if q and len(picked) < n:
                picked.append(q.pop(0))
    return picked


# ---------------------------------------------------------------- reading the shown frames


def read_rows(fs, path: str, keys: set[tuple[str, int]], columns: list[str], row_groups: list[int] | None = None) -> dict[tuple[str, int], dict]:
    """The rows of ``keys`` in one Parquet file: key columns first, the rest only of matching row groups."""
    found: dict[tuple[str, int], dict] = {}
    with fs.open_input_file(path) as f:
        pf = pq.ParquetFile(f)
        cols = [c for c in columns if c in pf.schema_arrow.names]
        for rg in row_groups if row_groups is not None else range(pf.num_row_groups):
            k = pf.read_row_group(rg, columns=["video_id", "frame_index"])
            hits = [i for i, key in enumerate(zip(k["video_id"].to_pylist(), k["frame_index"].to_pylist())) if key in keys]
            if hits:
                for row in pf.read_row_group(rg, columns=cols).take(hits).to_pylist():
                    found[(row["video_id"], row["frame_index"])] = row
    return found


def frame_rows(run_loc: storage.Location, picked: list[Example]) -> dict[tuple[str, int], dict]:
    """The frames/ rows of the picked examples (the file with the metrics file's name; else every file of its unit)."""
    rows: dict[tuple[str, int], dict] = {}
    columns = ["video_id", "frame_index", "status", "reject_reason", "mouth_box", "patch_box", "enhanced", "image", "width", "height"]
    frames = run_loc.join("frames")
    for file in sorted({e.file for e in picked}):
        keys = {(e.video_id, e.frame_index) for e in picked if e.file == file}
        twin = frames.join(file)
        paths = [twin.path] if storage.exists(twin) else [p for p in storage.list_files(frames, ".parquet") if units.unit_of(p) == units.unit_of(file)]
        for path in paths:
            rows.update(read_rows(run_loc.fs, path, keys - rows.keys(), columns))
    return rows


def input_images(in_loc: storage.Location, rows_per_unit: int, picked: list[Example]) -> dict[tuple[str, int], bytes]:
    """Input frames of the picked keys: each key's own unit's row groups when the unit is found
    among its video's files, else a key-column scan of those files."""
    images: dict[tuple[str, int], bytes] = {}
    for vid in sorted({e.video_id for e in picked}):
        keys = {(e.video_id, e.frame_index) for e in picked if e.video_id == vid}
        plan = {u.unit_id: u for u in units.plan(_video_files(in_loc, vid), rows_per_unit)}
        for uid in sorted({units.unit_of(e.file) for e in picked if e.video_id == vid}):
            if uid in plan and keys - images.keys():
                u = plan[uid]
                images.update(_images(read_rows(in_loc.fs, u.path, keys - images.keys(), ["video_id", "frame_index", "image"], list(u.row_groups))))
        for path in sorted({u.path for u in plan.values()}):
            if keys - images.keys():
                images.update(_images(read_rows(in_loc.fs, path, keys - images.keys(), ["video_id", "frame_index", "image"])))
    return images


def _images(rows: dict[tuple[str, int], dict]) -> dict[tuple[str, int], bytes]:
    return {k: r["image"] for k, r in rows.items()}


def _video_files(in_loc: storage.Location, vid: str) -> storage.Location:
    """Where a video's input files are: its own folder in an ingested dataset, else the whole dataset."""
    for candidate in (in_loc.join("frames", vid), in_loc.join(vid)):
        if storage.exists(candidate):
            return candidate
    return in_loc


# ---------------------------------------------------------------- images


def mouth_crops(row: dict, image: bytes | None) -> np.ndarray | None:
    """Before | after zoomed mouth crops of an ok row; the input mouth alone otherwise (nothing was pasted)."""
    before, _ = codec.decode(image)
    if before is None:
        return None
    x0, y0, x1, y1 = shown_box(row.get("mouth_box"), before.shape[1], before.shape[0])
    zoom = [fit_height(before[y0:y1, x0:x1], ZOOM_HEIGHT)]
    if row.get("status") == schema.STATUS_OK:
        after = _after(before, row)
        gap = np.full((ZOOM_HEIGHT, 6, 3), 255, np.uint8)
        zoom += [gap, fit_height(after[y0:y1, x0:x1], ZOOM_HEIGHT)]
    return np.hstack(zoom)


def _after(before: np.ndarray, row: dict) -> np.ndarray:
    """The enhanced frame: the patch pasted (patch mode) or the stored frame (frame mode)."""
    if "image" in row:  # frame mode: enhanced is the whole frame
        after, _ = codec.decode(row.get("enhanced"))
        return after if after is not None and after.shape == before.shape else before
    return compose.compose(before, row)


def png_data_uri(rgb: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(codec.encode(rgb)).decode("ascii")


def gate_settings(record: dict, cfg: Config) -> dict[str, float]:
    """The gate thresholds the run used (its run.json), else ``cfg``'s: the lines must be the run's."""
    theirs = (record.get("config") or {}).get("gate") or {}
    return {setting: float(theirs.get(setting, getattr(cfg.gate, setting))) for _, setting, _ in GATE_MEASURES}


def histograms(scan: Scan, gate: dict[str, float]) -> str:
    """The gate's measures, ok and rejected rows stacked, each with its threshold, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kind = np.concatenate(scan.kind) if scan.kind else np.zeros(0, np.int8)
    fig, axes = plt.subplots(2, 3, figsize=(15, 6.5), dpi=90)
    for ax, (m, setting, title) in zip(axes.flat, GATE_MEASURES):
        _histogram(ax, np.concatenate(scan.values.get(m, [np.zeros(0, np.float32)])), kind, gate[setting], setting, title)
    for ax in axes.flat[len(GATE_MEASURES):]:
        ax.set_axis_off()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _histogram(ax, values: np.ndarray, kind: np.ndarray, threshold: float, setting: str, title: str) -> None:
    """One measure: outliers piled into the edge bins (a ratio over a flat face can reach 1e10)."""
    ax.set_title(title, fontsize=10)
    fin = np.isfinite(values)
    if not fin.any():
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        return
    v = values[fin]
    lo, hi = float(np.percentile(v, 0.5)), float(np.percentile(v, 99.5))
    span = max(hi - lo, abs(hi) * 0.1, 1e-6)
    near = threshold > 0 and lo - 2 * span <= threshold <= hi + 2 * span  # far off: named, not drawn (it would squash the data)
    if near:
        lo, hi = min(lo, threshold), max(hi, threshold)
    hi = hi if hi > lo else lo + 1.0
    shown = [(np.clip(v[kind[fin] == k], lo, hi), label, colour) for k, label, colour in ((1, "ok", "#4c9a2a"), (2, "rejected", "#c0392b"), (0, "other", "#999999"))]
    shown = [s for s in shown if len(s[0])]
    ax.hist([s[0] for s in shown], bins=40, range=(lo, hi), stacked=True, histtype="stepfilled", color=[s[2] for s in shown], label=[s[1] for s in shown])
    if near:
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"gate.{setting} = {threshold:g}")
    else:
        ax.plot([], [], " ", label=f"gate.{setting} = {threshold:g} ({'off the scale' if threshold > 0 else 'check off'})")
    ax.legend(fontsize=8, loc="best", framealpha=0.9)


# ---------------------------------------------------------------- the page


def _fmt(x: float) -> str:
    return "—" if not np.isfinite(x) else f"{x:.3g}"


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "—"


def _table(table_id: str, head: list[str], rows: list[list[str]], raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw`` (already HTML)."""
    cell = (lambda c: c) if raw else html.escape
    body = "".join("<tr>" + "".join(f"<td>{cell(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    heads = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f'<table id="{table_id}"><thead><tr>{heads}</tr></thead><tbody>{body}</tbody></table>'


def status_tables(scan: Scan) -> str:
    """Counts per status and per reject reason (single reasons as summary.json counts them, then combinations)."""
    total = scan.rows
    statuses = [[s, n, _pct(n, total)] for s, n in sorted(scan.statuses.items(), key=lambda kv: (-kv[1], kv[0]))]
    reasons = [[r, scan.reasons[r], _pct(scan.reasons[r], total)] for r in schema.REJECT_REASONS if scan.reasons[r]]
    parts = ["<h2>Rows per status</h2>", _table("status-counts", ["status", "rows", "share"], statuses + [["total", total, "100%"]])]
    parts += ["<h2>Reject reasons</h2>"]
    if reasons:
        parts.append(_table("reject-reasons", ["reason", "rows", "share of all rows"], reasons))
        combos = [[c, n] for c, n in sorted(scan.combos.items(), key=lambda kv: (-kv[1], kv[0]))]
        parts.append('<p class="note">A row rejected for several reasons counts under each; as reported:</p>')
        parts.append(_table("reject-combinations", ["reject_reason", "rows"], combos))
    else:
        parts.append('<p id="reject-reasons-none">The gate rejected no row.</p>')
    return "".join(parts)


def video_table(scan: Scan, anchors: dict[str, str]) -> str:
    """Rows, shares and mean measures per video, the most rejected first (capped at MAX_VIDEO_ROWS)."""
    measured = [(m, label) for m, label in VIDEO_MEASURES if any(v.counts.get(m) for v in scan.videos.values())]
    order = sorted(scan.videos.items(), key=lambda kv: (-kv[1].rejected / max(kv[1].rows, 1), kv[0]))
    rows = []
    for vid, v in order[:MAX_VIDEO_ROWS]:
        name = html.escape(vid)
        link = f'<a href="#{anchors[vid]}">{name}</a>' if vid in anchors else name
        other = v.rows - v.ok - v.rejected
        rows.append([link, str(v.rows), _pct(v.ok, v.rows), _pct(v.rejected, v.rows), _pct(other, v.rows), *(_fmt(v.mean(m)) for m, _ in measured)])
    head = ["video_id", "rows", "ok", "rejected", "other", *(f"mean {label}" for _, label in measured)]
    more = f'<p class="note">{len(order) - MAX_VIDEO_ROWS} more videos not shown.</p>' if len(order) > MAX_VIDEO_ROWS else ""
    note = '<p class="note">Means over the rows where a measure was taken (rejected rows included: the gate measured them); "other": no face, too small, low confidence or unreadable.</p>'
    return "<h2>Per video</h2>" + note + '<div class="scroll">' + _table("videos", head, rows, raw=True) + "</div>" + more


def examples_section(title: str, section_id: str, shown: list[tuple[Example, str | None]]) -> str:
    """Figures of zoomed mouths, each captioned and anchored by its key."""
    if not shown:
        return f'<h2>{html.escape(title)}</h2><p id="{section_id}-none">None in this run.</p>'
    figs = []
    for e, uri in shown:
        anchor = _anchor(e)
        what = "before | after" if e.status == schema.STATUS_OK else f"input mouth (nothing pasted) — rejected: {e.reason or '?'}"
        img = f'<img src="{uri}" alt="{html.escape(anchor)}">' if uri else '<p class="missing">frame not found in the run or its input</p>'
        figs.append(
            f'<figure id="{html.escape(anchor)}" class="{html.escape(e.status)}" data-video-id="{html.escape(e.video_id)}" '
            f'data-frame-index="{e.frame_index}" data-reason="{html.escape(e.reason)}">{img}<figcaption><a href="#{html.escape(anchor)}">'
            f"{html.escape(e.video_id)} / frame {e.frame_index}</a><br>{html.escape(what)}</figcaption></figure>"
        )
    return f'<h2>{html.escape(title)}</h2><div class="examples" id="{section_id}">{"".join(figs)}</div>'


def _anchor(e: Example) -> str:
    return f"frame-{e.video_id}-{e.frame_index}"


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px;margin:6px 0} th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
.meta{color:#555;font-size:13px} .note{color:#666;font-size:12px}
.examples{display:flex;flex-wrap:wrap;gap:14px} figure{margin:0;border:1px solid #ddd;padding:6px;background:#fafafa}
figure.rejected_quality{border-color:#c0392b} figcaption{font-size:12px;margin-top:4px} figure img{display:block;image-rendering:auto}
img.hist{max-width:100%} .missing{color:#c0392b}
.scroll{max-height:560px;overflow-y:auto;display:inline-block} .scroll th{position:sticky;top:0}
"""


def render_page(record: dict, summary: dict, scan: Scan, hist_uri: str, ok_shown: list, rej_shown: list, run_uri: str) -> str:
    """The whole page as one string."""
    anchors: dict[str, str] = {}
    for e, _ in ok_shown + rej_shown:
        anchors.setdefault(e.video_id, _anchor(e))
    mode = summary.get("output_mode") or (record.get("config") or {}).get("pipeline", {}).get("output_mode", "?")
    meta = (
        f"run {html.escape(str(summary.get('run_id', posixpath.basename(run_uri.rstrip('/')))))} · input {html.escape(str(record.get('input', '?')))}"
        f" · output mode {html.escape(str(mode))} · config {html.escape(str(summary.get('config_hash', record.get('config_hash', '?'))))}"
        f" · {scan.rows} rows · report made {time.strftime('%Y-%m-%d %H:%M:%S')}"
    )
    body = [
        f"<h1>raymouth run report</h1><p class=\"meta\">{meta}</p>",
        status_tables(scan),
        f'<h2>Gate measures</h2><p class="note">Rows stacked by status; dashed: the gate\'s setting. Values past the 0.5/99.5th percentiles are piled into the edge bins.</p><img class="hist" id="histograms" src="{hist_uri}" alt="histograms of the gate measures">',
        examples_section("Typical ok frames (mouth before | after, zoomed)", "ok-examples", ok_shown),
        examples_section("Frames the gate rejected (input mouth, zoomed)", "rejected-examples", rej_shown),
        video_table(scan, anchors),
    ]
    title = html.escape(f"raymouth report {summary.get('run_id', '')}".strip())
    return f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{STYLE}</style></head><body>{"".join(body)}</body></html>\n'


# ---------------------------------------------------------------- entry points


def _json(loc: storage.Location) -> dict:
    """A JSON file of the run, or {} when absent or unreadable (the page says '?')."""
    try:
        return json.loads(storage.read_bytes(loc)) if storage.exists(loc) else {}
    except (ValueError, OSError):
        return {}


def show_examples(run_loc: storage.Location, record: dict, cfg: Config, picked: list[Example]) -> dict[tuple[str, int], str | None]:
    """key -> data URI of its mouth crops (None where its frame could not be found)."""
    rows = frame_rows(run_loc, picked)
    need_input = [e for e in picked if "image" not in rows.get((e.video_id, e.frame_index), {"image": None})]
    images = {k: r.get("image") for k, r in rows.items() if "image" in r}
    if need_input and record.get("input"):
        try:
            in_loc = storage.check_readable(record["input"], cfg.storage)
        except storage.StorageError:
            in_loc = None
        if in_loc is not None:
            per_unit = (record.get("config") or {}).get("pipeline", {}).get("rows_per_unit", cfg.pipeline.rows_per_unit)
            images.update(input_images(in_loc, int(per_unit), need_input))
    shown: dict[tuple[str, int], str | None] = {}
    for e in picked:
        key = (e.video_id, e.frame_index)
        crops = mouth_crops(rows[key], images.get(key)) if key in rows else None
        shown[key] = png_data_uri(crops) if crops is not None else None
    return shown


def write_report(run_uri: str, cfg: Config, out: str | None = None, examples: int = 6) -> str:
    """Write the run's HTML report (default RUN/report.html, local or s3://); returns where."""
    try:
        run_loc = storage.check_readable(run_uri, cfg.storage)
    except storage.StorageError as exc:
        raise ReportError(str(exc)) from None
    record, summary = _json(run_loc.join("run.json")), _json(run_loc.join("summary.json"))
    scan = scan_metrics(run_loc, keep_rejected=max(examples, 0))
    if not scan.rows:
        raise ReportError(f"{run_loc.uri}: no metrics rows (is this an enhance run OUT/<run_id>, and has it written anything?)")
    ok_picked, rej_picked = typical_ok(scan, examples), some_rejected(scan, examples)
    try:
        shown = show_examples(run_loc, record, cfg, ok_picked + rej_picked)
    except (OSError, compose.ComposeError, units.InputError) as exc:  # the counts are still worth a page
        print(f"raymouth report: warning: frames not shown ({one_line(exc)})", flush=True)
        shown = {}
    page = render_page(
        record, summary, scan, histograms(scan, gate_settings(record, cfg)),
        [(e, shown.get((e.video_id, e.frame_index))) for e in ok_picked],
        [(e, shown.get((e.video_id, e.frame_index))) for e in rej_picked],
        run_loc.uri,
    )
    target = _target(run_loc, out, cfg)
    storage.write_bytes(target, page.encode("utf-8"))
    return target.uri


def _target(run_loc: storage.Location, out: str | None, cfg: Config) -> storage.Location:
    """Where the page goes: ``out`` (a file, or a folder to hold report.html), else RUN/report.html."""
    if not out:
        return run_loc.join("report.html")
    loc = storage.resolve(out, cfg.storage)
    is_dir = out.endswith("/") or (storage.exists(loc) and loc.fs.get_file_info(loc.path).type == storage.pafs.FileType.Directory)
    return loc.join("report.html") if is_dir else loc


def add_parser(subparsers):
    """The ``report`` sub-command's arguments (``--config``/``--set`` come from cli's ``_common_once``)."""
    p = subparsers.add_parser("report", help="one self-contained HTML page of what an enhance run did (counts, per video, gate measures, mouths)")
    p.add_argument("run", help="the enhance run, OUT/<run_id> (local or s3://)")
    p.add_argument("--out", default=None, help="where to write the page (default RUN/report.html)")
    p.add_argument("--examples", type=int, default=6, metavar="N", help="typical ok frames and rejected frames to show, N of each (default 6)")
    return p


def cmd_report(args, cfg: Config) -> int:
    """Write the page and print where it is."""
    print(write_report(args.run, cfg, args.out, args.examples))
    return 0
