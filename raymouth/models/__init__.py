"""Models of the enhance chain. No Ray here: a model knows no cluster."""
