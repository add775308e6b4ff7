"""Datasets for training: readers of recorded data and the built-in LiDAR simulator (`spot.trainer.data.sim`)."""
