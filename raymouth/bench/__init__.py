"""Measurements, not the job: ``job`` (``raymouth bench``: stage costs, output bytes, pipeline
throughput), ``locate`` (the locate stage alone, per core) and ``models`` (per-crop cost of each
enhance variant). Nothing in the job imports this package."""
