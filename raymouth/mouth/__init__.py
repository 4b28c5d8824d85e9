"""Where the mouth is: MediaPipe face landmarks (``landmarks``), the mouth's box, polygons and
blend mask in frame and window coordinates (``roi``), and the locate stage that cuts each frame's
mouth window (``locate``). Imports ``config`` and ``data``; no TensorFlow, no Ray."""
