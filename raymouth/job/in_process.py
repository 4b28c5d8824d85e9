"""The job's stages in order, in one place: ``STAGES`` for the Ray Data graph (``pipeline.build``
maps them over the units in this order) and ``LocalStages`` to run the same stage code in this
process without Ray (``bench.job.stage_costs`` and `raymouth evaluate`).

Order: read + locate (``stages.ReadUnits``, which runs ``locate.Locate`` on a whole unit) ->
enhance (``stages.EnhanceStage``) -> composite, score, gate and write (``stages.CompositeAndWrite``).
Locally the caller locates (``Locate``: evaluate once per clip for every variant, the bench once per
unit) and ``LocalStages`` runs enhance -> composite on the located rows.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from raymouth.config import Config
from raymouth.job.stages import Composite, CompositeAndWrite, EnhanceStage, ReadUnits

Rows = dict[str, np.ndarray]  # a Ray Data numpy batch: column name -> array
STAGES = (ReadUnits, EnhanceStage, CompositeAndWrite)  # the pipeline's map_batches, in order


class LocalStages:
    """Enhance -> composite (colour match, paste, scores, do-no-harm gate) on located rows, in this
    process: what the pipeline's actors do to a batch, without Ray or writing.

    ``enhance`` replaces the enhance stage (a shared one, or the evaluation's model-free identity);
    ``output_mode`` overrides ``pipeline.output_mode`` for the composite."""

    def __init__(self, cfg: Config, run_id: str, enhance: Callable[[Rows], Rows] | None = None, output_mode: str | None = None) -> None:
        self.enhance: Any = enhance if enhance is not None else EnhanceStage(cfg)
        if output_mode is not None:
            cfg = cfg.with_(pipeline__output_mode=output_mode)
        self.composite = Composite(cfg, run_id)

    def __call__(self, located: Rows) -> Rows:
        return self.composite(self.enhance(dict(located)))
