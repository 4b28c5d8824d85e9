"""Ray job entry: ``ray job submit --working-dir . -- python jobs/train.py {autoencoder,edsr} --data URI --out URI ...``."""
from __future__ import annotations

import sys


def main() -> int:
    try:
        from raymouth import cli

        if "train" in getattr(cli, "COMMANDS", {}):
            return cli.main(["train", *sys.argv[1:]])
    except ImportError:
        pass
    from raymouth.train import main as train_main

    return train_main(["train", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
