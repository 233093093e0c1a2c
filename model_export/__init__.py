"""Models bucketscore scores with: the bundle format, the demo model, export and training."""
