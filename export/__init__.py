"""spot.export: checkpoint -> verified, self-contained artifact (ONNX + spot.json, optional TensorRT engine)."""
