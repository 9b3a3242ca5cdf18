"""Readers of the raw files as their owners distribute them, shared by the TFDS builders:
YFCC100M rows, photos, skip reports and the stable train/validation split."""
