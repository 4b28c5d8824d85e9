"""Putting the restored mouth back and judging it: image measures (``metrics``: PSNR, SSIM,
sharpness, colour shift, flicker) and the do-no-harm gate's measures of one paste (``gate``).
Imports ``config``, ``data`` and ``mouth``; no models, no Ray."""
