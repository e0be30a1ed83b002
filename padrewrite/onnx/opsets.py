"""The ONNX opsets padrewrite works with (no imports: the command line reads them for --help)."""

#: The opset `export_onnx` writes by default (tf2onnx 1.17's highest).
DEFAULT_OPSET = 18
#: tf2onnx 1.17's highest opset; higher opsets are reached by the `raise-opset` pass.
TF2ONNX_MAX_OPSET = 18
#: Lowest opset accepted (Slice with steps, Pad with pads as an input).
MIN_OPSET = 13
#: First opset whose `Pad` has mode="wrap".
WRAP_OPSET = 19
