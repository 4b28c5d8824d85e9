"""raymouth.data.sheet: export's before/after contact sheet."""
from __future__ import annotations

import numpy as np

from raymouth.data.sheet import contact_sheet


def test_contact_sheet_zooms_the_box():
    before = np.zeros((120, 160, 3), np.uint8)
    after = before.copy()
    after[60:90, 40:100] = 200
    sheet = contact_sheet([{"before": before, "after": after, "box": (40, 60, 100, 90), "frame_index": 7}], row_height=100)
    widths = [round(160 * 100 / 120)] * 2 + [200] * 2  # full frames, then 60x30 crops zoomed to height 100
    assert sheet.shape == (100, sum(widths), 3)
    zoom_after = sheet[30:, sum(widths[:3]) :]
    assert zoom_after.mean() > 190  # the crop is the box, not the frame
    assert sheet[30:, sum(widths[:2]) : sum(widths[:3])].max() < 10
