"""``raymouth report``: the page of a real run (real Ray, MediaPipe, small models), parsed with the
stdlib's html.parser: its counts equal summary.json, every image is a decodable PNG, rejected
frames show with their reason; on S3 too; and a real browser renders it when Chromium is here."""
from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import fixture_path, write_frames_dataset

from raymouth import config
from raymouth.data import codec, schema, storage
from raymouth.job import pipeline, report

EXAMPLES = 4


class Page(HTMLParser):
    """Tables by id (rows of cell texts), every <img> src, and every <figure>'s attributes and caption."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.imgs: list[str] = []
        self.figures: list[dict] = []
        self.ids: set[str] = set()
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._figure: dict | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "table":
            self._table = a.get("id", "")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        elif tag == "img":
            self.imgs.append(a.get("src", ""))
            if self._figure is not None:
                self._figure["src"] = a.get("src", "")
        elif tag == "figure":
            self._figure = {**a, "caption": ""}

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "figure" and self._figure is not None:
            self.figures.append(self._figure)
            self._figure = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._figure is not None:
            self._figure["caption"] += data


def body_rows(table: list[list[str]]) -> list[list[str]]:
    return table[1:]  # the first row holds the headers


def png_of(src: str) -> np.ndarray:
    assert src.startswith("data:image/png;base64,"), src[:40]
    data = base64.b64decode(src.split(",", 1)[1], validate=True)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    rgb, status = codec.decode(data)
    assert status == schema.STATUS_OK and rgb.size
    return rgb


@pytest.fixture(scope="module")
def runs(tmp_path_factory, ray_local, small_model_overrides) -> dict[str, Path]:
    """Two real runs of the same 16 face frames: ``open`` (frame mode, gate opened: all ok) and
    ``strict`` (patch mode, gate.max_seam at the open run's median seam: about half rejected)."""
    root = tmp_path_factory.mktemp("report")
    write_frames_dataset(root / "in", fixture_path("video/retalking_face_5.mp4"), frames=16, rows_per_file=8, size=256)
    fast = [*small_model_overrides, "enhance.sharpen.amount=0.5"]
    pipeline.run(str(root / "in"), str(root / "out"), "open", config.load(None, [*fast, "pipeline.output_mode=frame"]))
    seams = np.concatenate([pq.read_table(p, columns=["seam"])["seam"].to_numpy() for p in (root / "out/open/metrics").glob("*.parquet")])
    strict = [*fast, f"gate.max_seam={float(np.median(seams[np.isfinite(seams)])):.6f}"]
    pipeline.run(str(root / "in"), str(root / "out"), "strict", config.load(None, strict))
    return {"open": root / "out" / "open", "strict": root / "out" / "strict", "in": root / "in"}


def make_page(run: Path, **kw) -> tuple[Page, str, dict]:
    uri = report.write_report(str(run), config.Config(), examples=EXAMPLES, **kw)
    return Page(Path(uri).read_text()), uri, json.loads((run / "summary.json").read_text())


@pytest.mark.slow
def test_counts_equal_the_summary(runs):
    page, uri, summary = make_page(runs["strict"])
    assert uri == str(runs["strict"] / "report.html")
    statuses = {r[0]: int(r[1]) for r in body_rows(page.tables["status-counts"])}
    assert statuses.pop("total") == summary["rows"] == 16
    assert statuses == summary["status_counts"]
    assert 0 < summary["status_counts"].get(schema.STATUS_REJECTED_QUALITY, 0) < 16, "the strict gate should reject some, not all"
    assert {r[0]: int(r[1]) for r in body_rows(page.tables["reject-reasons"])} == summary["reject_reason_counts"]
    videos = body_rows(page.tables["videos"])
    assert [v[0] for v in videos] == ["retalking_face_5"] and int(videos[0][1]) == summary["rows"]
    rejected_share = summary["status_counts"][schema.STATUS_REJECTED_QUALITY] / summary["rows"]
    assert videos[0][3] == f"{100 * rejected_share:.1f}%"
    assert float(videos[0][5]) == pytest.approx(summary["metric_means"]["sharpness_ratio_in"], rel=2e-3)
    run_gate = json.loads((runs["strict"] / "run.json").read_text())["config"]["gate"]
    assert report.gate_settings(json.loads((runs["strict"] / "run.json").read_text()), config.Config())["max_seam"] == run_gate["max_seam"] != 3.0


@pytest.mark.slow
def test_every_image_is_a_decodable_png(runs):
    for name in ("open", "strict"):
        page, _, _ = make_page(runs[name])
        assert page.imgs and "histograms" in page.ids
        for src in page.imgs:
            png_of(src)
    assert not any("http" in src[:10] for src in page.imgs)  # self-contained: nothing fetched


@pytest.mark.slow
def test_rejected_frames_show_their_reason_and_ok_frames_before_and_after(runs):
    page, _, summary = make_page(runs["strict"])
    rejected = [f for f in page.figures if f["class"] == schema.STATUS_REJECTED_QUALITY]
    ok = [f for f in page.figures if f["class"] == schema.STATUS_OK]
    assert len(rejected) == min(EXAMPLES, summary["status_counts"][schema.STATUS_REJECTED_QUALITY])
    assert len(ok) == min(EXAMPLES, summary["status_counts"][schema.STATUS_OK])
    metrics = {(r["video_id"], r["frame_index"]): r for p in (runs["strict"] / "metrics").glob("*.parquet") for r in pq.read_table(p).to_pylist()}
    for fig in rejected + ok:
        row = metrics[(fig["data-video-id"], int(fig["data-frame-index"]))]
        assert row["status"] == fig["class"]  # each figure is the frame its key names
        assert f"{fig['data-video-id']} / frame {fig['data-frame-index']}" in fig["caption"]
        assert fig["id"] == f"frame-{fig['data-video-id']}-{fig['data-frame-index']}"
    for fig in rejected:
        assert fig["data-reason"] and "seam" in schema.reject_reasons(fig["data-reason"])
        assert f"rejected: {fig['data-reason']}" in fig["caption"]


@pytest.mark.slow
def test_ok_crops_are_the_input_and_the_pasted_mouth(runs):
    """An ok figure is two zoomed crops side by side that differ (something was pasted); a
    rejected figure is one crop (nothing was)."""
    page, _, _ = make_page(runs["strict"])
    for fig in page.figures:
        img = png_of(fig["src"])
        assert img.shape[0] == report.ZOOM_HEIGHT
        if fig["class"] == schema.STATUS_OK:
            half = (img.shape[1] - 6) // 2
            assert not np.array_equal(img[:, :half], img[:, -half:])


@pytest.mark.slow
def test_frame_mode_run_and_out_argument(runs, tmp_path):
    page, uri, summary = make_page(runs["open"], out=str(tmp_path) + "/")
    assert uri == str(tmp_path / "report.html")
    assert summary["status_counts"] == {schema.STATUS_OK: 16}
    assert "reject-reasons-none" in page.ids and "rejected-examples-none" in page.ids
    assert len([f for f in page.figures if f["class"] == schema.STATUS_OK]) == EXAMPLES


@pytest.mark.slow
def test_s3_run_and_input(runs, s3_env):
    """Run and input both on S3 (moto): the page is written beside the run and shows the frames."""
    bucket = s3_env.make_bucket()
    client = s3_env.client()
    for local, prefix in ((runs["strict"], "runs/strict"), (runs["in"], "in")):
        for path in local.rglob("*"):
            if path.is_file() and path.name != "report.html":
                client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(local)}")
    record = json.loads((runs["strict"] / "run.json").read_text())
    client.put_object(Bucket=bucket, Key="runs/strict/run.json", Body=json.dumps({**record, "input": f"s3://{bucket}/in"}).encode())
    uri = report.write_report(f"s3://{bucket}/runs/strict", config.Config(), examples=EXAMPLES)
    assert uri == f"s3://{bucket}/runs/strict/report.html"
    page = Page(storage.read_bytes(storage.resolve(uri)).decode())
    assert len(page.figures) >= 2 and all(f["id"].startswith("frame-") for f in page.figures)
    assert len(page.imgs) == len(page.figures) + 1  # no "frame not found": every crop was read from S3
    for src in page.imgs:
        png_of(src)


def test_a_folder_without_metrics_is_one_line_error(tmp_path):
    with pytest.raises(report.ReportError, match="no metrics rows"):
        report.write_report(str(tmp_path), config.Config())


@pytest.mark.slow
def test_parser_and_command(runs, capsys):
    ap = argparse.ArgumentParser()
    report.add_parser(ap.add_subparsers(dest="command"))
    args = ap.parse_args(["report", str(runs["strict"]), "--examples", "2"])
    assert report.cmd_report(args, config.Config()) == 0
    assert capsys.readouterr().out.strip() == str(runs["strict"] / "report.html")


@pytest.mark.slow
def test_chromium_renders_it(runs, tmp_path):
    """A real browser opens the page and draws something: a screenshot that is not blank."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no chromium on PATH (apt-get install chromium); the HTML-structure tests above still ran")
    _, uri, _ = make_page(runs["strict"])
    shot = tmp_path / "shot.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}", "--window-size=1280,2400", f"file://{uri}"],
        check=True, capture_output=True, timeout=120,
    )
    img, status = codec.decode(shot.read_bytes())
    assert status == schema.STATUS_OK and img.shape[:2] == (2400, 1280)
    assert img.std() > 20 and (img < 200).mean() > 0.02, "the screenshot is blank"
