"""`raymouth evaluate`: does the job make mouths better? (Protocol: ``raymouth.evaluate.run``.)

- ``clips``: where the frames come from (video files, frames datasets), one clip at a time;
- ``measure``: each variant (``raymouth.evaluate.variants``) through the job's own stages, scored per frame;
- ``report``: per-clip and per-strength summaries, the pass criteria, Markdown;
- ``sheets``: contact sheets of zoomed mouths;
- ``run``: the evaluation itself; ``cli``: its command line (also ``python -m raymouth.evaluate``);
- ``heldout``: the held-out evaluation set (``raymouth make-heldout``);
- ``reference``: the job with and without the people's own source clips (``--reference``).

The names below are the public ones of the command.
"""
from raymouth.evaluate.cli import main
from raymouth.evaluate.clips import EvaluateError
from raymouth.evaluate.heldout import make_heldout_set, training_videos
from raymouth.evaluate.run import evaluate
from raymouth.evaluate.variants import variant_overrides, with_overrides

__all__ = ["EvaluateError", "evaluate", "main", "make_heldout_set", "training_videos", "variant_overrides", "with_overrides"]
