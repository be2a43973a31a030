"""Float network IR, ONNX import and its graph passes, and the float reference executor.
Knows nothing about bit widths or hardware."""
