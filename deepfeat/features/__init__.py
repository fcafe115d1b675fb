"""Feature groups: ``cnn`` (ONNX embeddings), ``fft`` (spectra), ``meta`` (file metadata)."""
