"""Semantic segmentation fine-tuning and its evaluation report."""
