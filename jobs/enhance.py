"""Entry point for `ray job submit --working-dir . -- python jobs/enhance.py IN --out OUT [...]`.

Same arguments as `raymouth enhance`; inside a job, Ray sets RAY_ADDRESS so the driver joins the
cluster instead of starting one.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the working dir's raymouth package

from raymouth.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["enhance", *sys.argv[1:]]))
