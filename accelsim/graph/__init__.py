"""Float network IR, ONNX import, the built-in shape zoo, topology readers, datasets and the
float reference executor. Knows nothing about bit widths or hardware."""
