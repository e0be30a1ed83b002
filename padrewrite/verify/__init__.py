"""Verification: does the written file, and its ONNX export, compute the model?

- `keras_check`: the reloaded file against the rewritten model (and, in constant
  mode with value 0, the original).
- `parity`: Keras against the ONNX file on an engine (`engines`: onnxruntime,
  OpenVINO); `bisect`: layer by layer, the first layer whose ONNX tensor departs.
- `compare`: the one element-wise comparison all three use (NaN/inf rules);
  `conditioning`: a sample's error floor, ill-conditioned samples judged against it.
- `drift`: how far the rewritten model's outputs move from the original's.
"""
