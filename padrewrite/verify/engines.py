"""The inference engines an ONNX file is checked on: onnxruntime (default) or OpenVINO.

`open_engine(path, runtime)` gives an object with `input_names`, `output_names`
and `run(output_names, feeds) -> [arrays]` (the onnxruntime calling
convention) on the CPU. OpenVINO is an optional extra (`padrewrite[openvino]`).

Engine facts that shape the export and the check (see README, "Inference
engines"): OpenVINO's ONNX frontend rejects `Pad` with mode `wrap` (opset 19),
so an export for it lowers circular pads to Slice+Concat at every opset; its
CPU plugin computes in bfloat16 by default where the CPU supports it
(`INFERENCE_PRECISION_HINT`), so the check compiles for float32.
"""

from __future__ import annotations

from padrewrite.errors import InputError

__all__ = ["RUNTIMES", "EngineLoadError", "open_engine", "supports_wrap_pad"]

RUNTIMES = ("onnxruntime", "openvino")


class EngineLoadError(InputError):
    """The engine cannot load the ONNX file (the engine's reason in the message).

    The user's to fix for a file they bring (`padrewrite verify`); for a file
    padrewrite just wrote it is a failed check instead (`rewrite_file`).
    """

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def supports_wrap_pad(runtime: str) -> bool:
    """Whether `runtime` runs ONNX `Pad` mode `wrap` (opset 19)."""
    return runtime != "openvino"


def open_engine(path, runtime: str = "onnxruntime"):
    """Load the ONNX file `path` on `runtime`'s CPU; `InputError` if it cannot."""
    if runtime not in RUNTIMES:
        raise InputError(
            f"`runtime` must be one of {list(RUNTIMES)}. Received: runtime={runtime!r}"
        )
    if runtime == "openvino":
        return _OpenVINO(path)
    return _OnnxRuntime(path)


def _first_line(error) -> str:
    text = " ".join(str(error).split())
    return text[:500] if text else type(error).__name__


class _OnnxRuntime:
    def __init__(self, path):
        import onnxruntime

        try:
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 4  # failures are reported by the caller
            self.session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own exception types
            reason = f"{type(error).__name__}: {_first_line(error)}"
            raise EngineLoadError(
                f"{path}: onnxruntime cannot load this ONNX file ({reason}).", reason
            ) from error
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, names, feeds):
        return self.session.run(list(names), feeds)


class _OpenVINO:
    def __init__(self, path):
        try:
            import openvino
        except ImportError:
            raise InputError(
                "--runtime openvino needs OpenVINO: pip install 'padrewrite[openvino]' "
                "(or pip install openvino)."
            ) from None
        try:
            # OpenVINO's CPU plugin computes in bfloat16 by default on CPUs that
            # have it (errors ~1e-2): a parity check needs float32.
            self.compiled = openvino.Core().compile_model(
                str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
            )
        except Exception as error:  # OpenVINO raises RuntimeError with a long report
            hint = ""
            if "Pad" in str(error):
                hint = (" OpenVINO does not run ONNX Pad mode 'wrap' (circular): export "
                        "with --runtime openvino, which lowers it to Slice+Concat.")
            reason = f"{type(error).__name__}: {_first_line(error)}"
            raise EngineLoadError(
                f"{path}: OpenVINO cannot load this ONNX file ({reason}).{hint}", reason + hint
            ) from error
        self.input_names = [port.get_any_name() for port in self.compiled.inputs]
        self.output_names = [port.get_any_name() for port in self.compiled.outputs]
        self.request = self.compiled.create_infer_request()

    def run(self, names, feeds):
        results = self.request.infer(feeds)
        by_name = {}
        for port, value in results.items():
            for name in port.get_names():
                by_name[name] = value
        return [by_name[name] for name in names]
