"""spot.trainer: datasets and the LiDAR simulator, sparse layers, models, objectives, the training engine.

Imports spot.runtime, never the reverse. Importing this package does not import torch: the simulator and the
dataset tools run on numpy alone.
"""
