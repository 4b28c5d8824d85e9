"""raymouth: repair the inside of the mouth in talking-head and lip-sync video datasets, on Ray.

The folders are the architecture, lowest first (docs/modules.md; tests/test_package.py keeps
imports pointing down): ``errors``, ``config``, ``cluster``; ``data`` (storage, formats, ingest,
export); ``mouth`` (landmarks, locate) and ``models``; ``restore`` (the enhance chain), ``paste``
(measures and the do-no-harm gate), ``exemplar`` (the person's own mouth from a reference clip);
``train``; ``job`` (the Ray Data pipeline); ``evaluate``; ``bench``; ``cli``.
"""
