"""Evaluation metrics computed from additive statistics (numpy)."""
