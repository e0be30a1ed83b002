"""Export a Keras model to ONNX (the only module that imports tf2onnx).

`export_onnx` traces the model in a `tf.function` with an explicit input
signature (dynamic batch, dynamic spatial sizes where the model has `None`),
converts it with tf2onnx at opset <= 18, names inputs and outputs after the
Keras model (`padrewrite.keras_side.model_io`), applies the passes of `padrewrite.onnx.passes` in their order,
checks the result and writes it atomically.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os

import onnx

from padrewrite.atomic import write_bytes_atomically
from padrewrite.errors import InputError
from padrewrite.keras_side.model_io import ModelIO, describe_io
from padrewrite.onnx.graph import (
    ExportError,
    ExportRefused,
    count_ops,
    first_line,
    model_opset,
    set_io_names,
)
from padrewrite.onnx.hoist_pads_above_pointwise_ops import PadHoist, PadHoisting
from padrewrite.onnx.lower_placeholder_pads import PadLowering, PlaceholderLowering
from padrewrite.onnx.opsets import (
    DEFAULT_OPSET,
    MIN_OPSET,
    TF2ONNX_MAX_OPSET,
    WRAP_OPSET,
)
from padrewrite.onnx.pads import PLACEHOLDER_MODES
from padrewrite.onnx.passes import (
    PassOptions,
    PassResult,
    run_passes,
)
from padrewrite.onnx.sink_pads_below_layout_ops import PadSinking

__all__ = [
    "DEFAULT_OPSET",
    "MIN_OPSET",
    "TF2ONNX_MAX_OPSET",
    "WRAP_OPSET",
    "ExportError",
    "ExportRefused",
    "ExportReport",
    "ModelIO",
    "describe_io",
    "export_onnx",
]



@dataclasses.dataclass(frozen=True)
class ExportReport:
    """What `export_onnx` wrote.

    `to_dict()` gives these keys (stable; values are JSON types):

    - `path` (str): the ONNX file.
    - `opset` (int): its default-domain opset.
    - `input_names`, `output_names` (lists of str): ONNX inputs, named after
      the Keras inputs; outputs, named after the Keras output layers.
    - `node_counts` ({op type: int}): nodes per op type in the file.
    - `pads_rewritten` ({"replicate"|"symmetric"|"circular": int}):
      placeholder pads lowered, per mode.
    - `lowerings` (list of `PadLowering.to_dict()`): one per lowered pad.
    - `layout_ops_hoisted` (int): Transpose/Unsqueeze moved above a pad
      (pass `sink-pads-below-layout-ops`).
    - `pads_hoisted` (int): pads moved above per-position ops (1x1 convs,
      BatchNormalization, activations, elementwise ops with constants) by
      the pass `hoist-pads-above-pointwise-ops`; 0 with `hoist=False`.
    - `hoists` (list of `PadHoist.to_dict()`): one per moved pad: its node,
      mode, the nodes and op types it now precedes, and its padded tensor's
      element count before and after the move.
    - `padded_elements_before`, `padded_elements_after` (int or null): over
      the moved pads, the sum of the per-sample element count (batch axis
      excluded) of the tensor each pad outputs, where it was and where it is
      now, from the model's static shapes (ONNX shape inference). Pads that
      did not move are not counted; both are 0 when none moved and null
      when a moved pad's shape is not fully static (dynamic spatial sizes).
    - `passes` (list of {"name": str, "record": dict}): every pass that
      ran, in order, with its record (see `padrewrite.onnx.passes`).
    - `runtime` (str): the engine the file was exported for ("onnxruntime",
      or "openvino": circular pads as Slice+Concat at every opset).
    """

    path: str
    opset: int
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    node_counts: dict[str, int]
    pads_rewritten: dict[str, int]
    lowerings: tuple[PadLowering, ...] = ()
    layout_ops_hoisted: int = 0
    pads_hoisted: int = 0
    hoists: tuple[PadHoist, ...] = ()
    padded_elements_before: int | None = 0
    padded_elements_after: int | None = 0
    passes: tuple[PassResult, ...] = ()
    runtime: str = "onnxruntime"

    def to_dict(self):
        data = dataclasses.asdict(dataclasses.replace(self, passes=()))
        data["passes"] = [result.to_dict() for result in self.passes]
        return data


def export_onnx(
    model, path, opset: int = DEFAULT_OPSET, *, hoist: bool = True, runtime: str = "onnxruntime"
) -> ExportReport:
    """Export a Keras model to the ONNX file `path`.

    Args:
        model: a built Functional or Sequential Keras model (nested models
            inside are fine).
        path: the ONNX file to write; written atomically.
        opset: ONNX opset. Up to 18 tf2onnx converts directly; above, the
            opset-18 graph is converted with `onnx.version_converter` (19
            allows native circular pads) and checked with onnxruntime.
        hoist: move reflect/replicate/symmetric/circular pads above the
            per-position ops before them (1x1 convolutions, activations,
            ...) to where the padded tensor is smallest, e.g. above a 1x1
            convolution that widens the channels (bit-identical results;
            see `padrewrite.onnx.hoist_pads_above_pointwise_ops`).
        runtime: the engine the file is for. "openvino" does not run ONNX
            `Pad` mode `wrap`: circular pads are then Slice+Concat at every
            opset (`padrewrite.verify.engines`).

    Returns:
        An `ExportReport`.

    Raises:
        ExportRefused: the opset, the path or the model's dtype policy cannot be
            exported as asked (the user's to change).
        ExportError: the converter or a graph pass failed on this model.
    """
    _check_opset(opset)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ExportRefused(f"The directory of `path` does not exist. Received: path={path!r}")
    try:
        io = describe_io(model)
    except InputError as error:
        raise ExportRefused(str(error)) from None
    _refuse_bfloat16(model, io)
    proto = _convert(model, io, min(opset, TF2ONNX_MAX_OPSET))
    from padrewrite.verify.engines import supports_wrap_pad

    results = run_passes(
        proto, PassOptions(opset=opset, hoist=hoist, wrap_pad=supports_wrap_pad(runtime))
    )
    _check(proto, load_in_onnxruntime=opset > TF2ONNX_MAX_OPSET)
    write_bytes_atomically(path, proto.SerializeToString())
    records = {type(result.record): result.record for result in results}
    lowering = records.get(PlaceholderLowering, PlaceholderLowering())
    hoisting = records.get(PadHoisting, PadHoisting())
    modes = collections.Counter(record.mode for record in lowering.lowerings)
    return ExportReport(
        path=path,
        opset=opset,
        input_names=io.input_names,
        output_names=io.output_names,
        node_counts=count_ops(proto),
        pads_rewritten={mode: modes[mode] for mode in PLACEHOLDER_MODES},
        lowerings=lowering.lowerings,
        layout_ops_hoisted=len(records.get(PadSinking, PadSinking()).moves),
        pads_hoisted=len(hoisting.hoists),
        hoists=hoisting.hoists,
        padded_elements_before=hoisting.padded_elements_before,
        padded_elements_after=hoisting.padded_elements_after,
        passes=results,
        runtime=runtime,
    )


def _refuse_bfloat16(model, io):
    """Refuse models that compute in bfloat16, which no exported file could run."""
    import keras

    from padrewrite.keras_side.keras_internals import flatten_layers

    layers = [
        layer for layer in flatten_layers(model)
        if not isinstance(layer, keras.layers.InputLayer)
        and getattr(layer, "compute_dtype", None) == "bfloat16"
    ]
    inputs = [name for name, dtype in zip(io.input_names, io.input_dtypes) if dtype == "bfloat16"]
    if not layers and not inputs:
        return
    if layers:
        where = (
            f"layer {layers[0].name!r} computes in bfloat16 "
            f"(dtype policy {layers[0].dtype_policy.name!r})"
        )
    else:
        where = f"input {inputs[0]!r} is bfloat16"
    raise ExportRefused(
        f"Cannot export model {model.name!r} to ONNX in bfloat16: {where}. ONNX `Conv` "
        f"has no bfloat16 type and onnxruntime's CPU provider has no bfloat16 `Pad`, "
        f"`Add` or `Relu`. Rebuild the model under the 'float32' or 'mixed_float16' "
        f"dtype policy to export it."
    )


def _check_opset(opset):
    latest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= latest:
        raise ExportRefused(
            f"`opset` must be an int from {MIN_OPSET} to {latest} (onnx "
            f"{onnx.__version__}). Received: opset={opset!r}"
        )


def _convert(model, io, opset):
    """tf2onnx conversion with outputs named after the Keras model."""
    import keras
    import tensorflow as tf
    import tf2onnx

    from padrewrite.layers import onnx_placeholder_pads

    signature = [
        tf.TensorSpec(shape, dtype, name=name)
        for name, shape, dtype in zip(io.input_names, io.input_shapes, io.input_dtypes)
    ]

    @tf.function(input_signature=signature)
    def forward(*flat_inputs):
        return keras.tree.flatten(model(io.pack_inputs(flat_inputs), training=False))

    with onnx_placeholder_pads(), _convolutions_without_xla(), _quiet_tf2onnx():
        concrete = forward.get_concrete_function()
        traced_outputs = [t.name for t in concrete.outputs]
        try:
            proto, _ = tf2onnx.convert.from_function(
                forward, input_signature=signature, opset=opset
            )
        except Exception as error:  # tf2onnx raises bare exceptions of many kinds
            raise ExportError(
                f"tf2onnx could not convert model {model.name!r}: "
                f"{type(error).__name__}: {first_line(error)}"
            ) from error
    _fold_captured_inputs(proto, concrete)
    by_traced = dict(zip(traced_outputs, io.output_names))
    converted = [value.name for value in proto.graph.output]
    if sorted(converted) != sorted(by_traced):
        raise ExportError(
            f"tf2onnx returned unexpected outputs. Expected: {traced_outputs}. "
            f"Received: outputs={converted}"
        )
    set_io_names(proto, list(io.input_names), [by_traced[name] for name in converted])
    return proto


def _fold_captured_inputs(proto, concrete):
    """Turn the graph inputs tf2onnx made of captured constants into initializers.

    `from_function` makes every tensor the function captures by value a graph
    input (Keras 3 `Normalization` captures its mean and variance, as in
    EfficientNet); they are constants of the model.
    """
    from onnx import numpy_helper

    captured = {
        internal.name: external
        for external, internal in concrete.graph.captures
        if internal.dtype != "resource"
    }
    for value in list(proto.graph.input):
        if value.name in captured:
            array = captured[value.name].numpy()
            proto.graph.initializer.append(numpy_helper.from_array(array, value.name))
            proto.graph.input.remove(value)


#: TensorFlow's name for each (Keras data format, tensor rank).
_TF_DATA_FORMATS = {
    ("channels_last", 3): "NWC",
    ("channels_last", 4): "NHWC",
    ("channels_last", 5): "NDHWC",
    ("channels_first", 3): "NCW",
    ("channels_first", 4): "NCHW",
    ("channels_first", 5): "NCDHW",
}


@contextlib.contextmanager
def _convolutions_without_xla():
    """Trace every Keras convolution as a plain `tf.nn.convolution`.

    Keras' TensorFlow backend runs grouped convolutions (`groups > 1`,
    depthwise as `Conv2D(groups=C)`) and channels_first Conv3D through an
    XLA-compiled `tf.function` (TensorFlow's CPU kernels fail on them);
    tf2onnx leaves that function as a `StatefulPartitionedCall` no ONNX
    runtime knows. Traced without it, a grouped convolution becomes one ONNX
    `Conv` with `group`. The graph is only converted, never run by
    TensorFlow, so the CPU kernels do not matter. channels_first 1D transposed
    convolutions are traced channels_last (tf2onnx converts them wrongly).
    Global while it lasts:
    Keras convolutions run in other threads meanwhile are traced the same way.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        yield
        return
    import tensorflow as tf

    from padrewrite.keras_side.keras_internals import backend_nn

    nn = backend_nn()
    xla_conv = nn.conv

    def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        data_format = data_format or keras.config.image_data_format()
        return tf.nn.convolution(
            inputs,
            kernel,
            strides,
            padding.upper(),
            data_format=_TF_DATA_FORMATS[data_format, len(inputs.shape)],
            dilations=dilation_rate,
        )

    def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None,
                       data_format=None, dilation_rate=1):
        data_format = data_format or keras.config.image_data_format()
        if data_format != "channels_first" or len(inputs.shape) != 3:
            return plain_conv_transpose(inputs, kernel, strides, padding, output_padding,
                                        data_format, dilation_rate)
        # tf2onnx 1.17 converts a channels_first (NCW) 1D transposed convolution
        # with padding 'same' one element too long (65 for 64): trace it channels_last.
        channels_last = plain_conv_transpose(
            tf.transpose(inputs, (0, 2, 1)), kernel, strides, padding, output_padding,
            "channels_last", dilation_rate,
        )
        return tf.transpose(channels_last, (0, 2, 1))

    plain_conv_transpose = nn.conv_transpose
    nn.conv, nn.conv_transpose = conv, conv_transpose
    try:
        yield
    finally:
        nn.conv, nn.conv_transpose = xla_conv, plain_conv_transpose


@contextlib.contextmanager
def _quiet_tf2onnx():
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # tf2onnx logs the ops the ONNX passes then fix
    try:
        yield
    finally:
        logger.setLevel(level)


def _check(proto, load_in_onnxruntime):
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as error:  # checker errors have several classes
        raise ExportError(f"The exported model fails onnx.checker: {first_line(error)}") from error
    if load_in_onnxruntime:
        import onnxruntime

        try:
            onnxruntime.InferenceSession(
                proto.SerializeToString(), providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own exception types
            raise ExportError(
                f"onnxruntime {onnxruntime.__version__} cannot load the exported "
                f"model at opset {model_opset(proto)}: {first_line(error)}"
            ) from error
