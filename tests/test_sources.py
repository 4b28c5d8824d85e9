"""raymouth.data.sources: dataset ids from source paths (the rest of the source checks run through ingest, tests/test_ingest.py)."""
from __future__ import annotations

from raymouth.data.sources import assign_ids, sanitize_id


def test_ids_are_sanitized_and_duplicates_deterministic():
    assert sanitize_id("my clip (1)") == "my_clip_1"
    paths = ["/a/talk.mp4", "/b/talk.mp4", "/c/other.mov"]
    ids = assign_ids(paths)
    assert len(set(ids)) == 3 and ids[2] == "other" and all(i.startswith("talk-") for i in ids[:2])
    assert assign_ids(paths[::-1]) == ids[::-1]
