"""CenterPoint-style 3D detection fine-tuning, its targets and its evaluation report."""
