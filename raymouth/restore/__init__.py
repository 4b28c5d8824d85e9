"""Restoring a mouth crop at its own resolution: the enhance chain (native and the first
version's square chain, weight loading, crop ops), its cache per actor, automatic detail and
sharpening. Imports ``config``, ``data``, ``mouth`` and ``models``; no Ray, nothing of training."""
