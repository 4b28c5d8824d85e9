"""Storage and formats: where bytes come from and go (local paths and ``s3://``), the Parquet
tables' schemas, frame codecs, video reading and mp4 writing, work units, and the two data
commands that only move data (``ingest``: videos -> frames tables; ``export``: a run -> videos,
sheets). Imports ``errors``, ``config`` and ``cluster`` only: nothing here knows a mouth or a model."""
