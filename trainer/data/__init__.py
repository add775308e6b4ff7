"""Datasets for training: readers of recorded data and the built-in LiDAR simulator (`spot.sim`)."""
