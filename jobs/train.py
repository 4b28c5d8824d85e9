"""Entry point for `ray job submit --working-dir . -- python jobs/train.py {autoencoder,edsr} --data URI --out URI [...]`.

Same arguments as `raymouth train`.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the working dir's raymouth package

from raymouth.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
