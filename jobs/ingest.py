"""Entry point for `ray job submit --working-dir . -- python jobs/ingest.py SOURCES... --out OUT [...]`.

Same arguments as `raymouth ingest`; inside a job, Ray sets RAY_ADDRESS so the driver joins the
cluster instead of starting one. Sources on a multi-node cluster should be ``s3://`` URIs: each
ingest task streams its video from the store on the node that runs it.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the working dir's raymouth package

from raymouth.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
