"""Keras padding layers for every mode: constant, reflect, replicate, symmetric, circular.

`Padding{1,2,3}D` pad fixed amounts per spatial axis; `SamePadding{1,2,3}D`
compute TensorFlow's 'same' amounts from the run-time shape (for strided
convolutions whose input size is unknown before run time). The named classes
(`ReflectionPadding2D`, ...) fix the mode. numpy.pad is the reference for every
mode (see `padrewrite.modes.NUMPY_NAMES`).
"""

from __future__ import annotations

import contextlib
import contextvars

import keras
from keras import ops

from padrewrite.arithmetic import (
    normalize_padding,
    same_pads,
    same_total_pad,
    spatial_axes,
    split_pad,
)
from padrewrite.modes import (
    AXIS_NAMES,
    axis_modes,
    check_constant_value,
    exceeded_limit,
    limit_phrase,
    normalize_layer_mode,
    normalize_mode,
)

__all__ = [
    "PadLimitError",
    "Padding1D",
    "Padding2D",
    "Padding3D",
    "SamePadding1D",
    "SamePadding2D",
    "SamePadding3D",
]

_PACKAGE = "padrewrite"
_register = keras.saving.register_keras_serializable(package=_PACKAGE)

# Modes that TensorFlow cannot express as one op. While exporting to ONNX they
# are traced as a MirrorPad named `padrewrite_<mode>`, which the ONNX pass
# `padrewrite.onnx_passes` turns into the native (or sliced) equivalent.
_PLACEHOLDER_MODES = ("replicate", "symmetric", "circular")
_placeholder_pads = contextvars.ContextVar("padrewrite_placeholder_pads", default=False)


@contextlib.contextmanager
def onnx_placeholder_pads():
    """Trace replicate/symmetric/circular pads as marked MirrorPad ops (export only)."""
    token = _placeholder_pads.set(True)
    try:
        yield
    finally:
        _placeholder_pads.reset(token)


def placeholder_op_name(mode: str) -> str:
    """Name given to the TensorFlow op standing in for `mode` during export."""
    return f"padrewrite_{mode}"


class PadLimitError(ValueError):
    """A padding layer met an axis too small for the pads its mode allows."""


def _take(x, axis, start=None, stop=None):
    return x[(slice(None),) * axis + (slice(start, stop),)]


def _pad_axis(x, axis, before, after, mode):
    """Pad one axis by slicing and concatenation (replicate and circular)."""
    parts = []
    if not (isinstance(before, int) and before == 0):
        if mode == "replicate":
            parts.append(ops.repeat(_take(x, axis, 0, 1), before, axis=axis))
        else:
            size = ops.shape(x)[axis]
            parts.append(_take(x, axis, size - before, None))
    parts.append(x)
    if not (isinstance(after, int) and after == 0):
        if mode == "replicate":
            parts.append(ops.repeat(_take(x, axis, -1, None), after, axis=axis))
        else:
            parts.append(_take(x, axis, 0, after))
    if len(parts) == 1:
        return x
    return ops.concatenate(parts, axis=axis)


def pad_tensor(x, axes, pads, mode, constant_value=0.0):
    """Pad `x` on `axes` by `pads` (one `(before, after)` per axis) in `mode`.

    `mode` is one mode, or one mode per axis (a tuple): the axes sharing a
    mode are padded by one op, the constant group last (nearest the
    convolution). Padding along different axes commutes, so the result is
    numpy.pad applied axis by axis, whatever the order. Pads may be Python
    ints or scalar integer tensors (run-time amounts).
    """
    if not isinstance(mode, str):
        groups = {}
        for axis, pair, axis_mode in zip(axes, pads, mode):
            groups.setdefault(axis_mode, []).append((axis, pair))
        for group_mode in sorted(groups, key=lambda m: m == "constant"):
            members = groups[group_mode]
            if all(_is_zero(v) for _, pair in members for v in pair):
                continue
            x = _pad_in_mode(
                x, [a for a, _ in members], [p for _, p in members], group_mode, constant_value
            )
        return x
    return _pad_in_mode(x, axes, pads, mode, constant_value)


def _is_zero(value):
    return isinstance(value, int) and value == 0


def _pad_in_mode(x, axes, pads, mode, constant_value):
    """Pad `x` on `axes` by `pads`, every axis in the single mode `mode`."""
    if _placeholder_pads.get() and mode in _PLACEHOLDER_MODES:
        import tensorflow as tf

        return tf.pad(
            x,
            _full_width(x, axes, pads),
            mode="REFLECT",
            name=placeholder_op_name(mode),
        )
    if mode in ("constant", "reflect", "symmetric"):
        width = _full_width(x, axes, pads)
        value = ops.cast(constant_value, x.dtype) if mode == "constant" else None
        if isinstance(width, list):
            return ops.pad(x, width, mode=mode, constant_values=value)
        # keras.ops.pad only takes static widths: run-time amounts go to tf.pad.
        import tensorflow as tf

        fill = 0 if value is None else value
        return tf.pad(x, width, mode=mode.upper(), constant_values=fill)
    for axis, (before, after) in zip(axes, pads):
        x = _pad_axis(x, axis, before, after, mode)
    return x


def _full_width(x, axes, pads):
    width = [[0, 0] for _ in range(len(x.shape))]
    for axis, (before, after) in zip(axes, pads):
        width[axis] = [before, after]
    if any(not isinstance(v, int) for pair in width for v in pair):
        return ops.stack(
            [ops.stack([ops.cast(v, "int32") for v in pair]) for pair in width]
        )
    return width


class _BasePadding(keras.layers.Layer):
    """Shared machinery: mode, constant value, data format, validation, call."""

    rank: int = 0

    def __init__(self, mode="constant", constant_value=0.0, data_format=None, **kwargs):
        # Padding only moves values: keep the input's dtype (no autocast).
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        self.mode = normalize_layer_mode(mode, self.rank)
        self.constant_value = check_constant_value(self.mode, constant_value)
        self.data_format = _standardize_data_format(data_format)
        self.input_spec = keras.layers.InputSpec(ndim=self.rank + 2)

    @property
    def axis_modes(self) -> tuple[str, ...]:
        """The mode of each spatial axis."""
        return axis_modes(self.mode, self.rank)

    def _spatial_axes(self):
        return spatial_axes(self.rank, self.data_format)

    def _static_pads(self, input_shape):
        """`(before, after)` per spatial axis, `None` where only known at run time."""
        raise NotImplementedError

    def _runtime_pads(self, inputs):
        raise NotImplementedError

    def _arguments(self):
        """The arguments that set the pads, as `{name: value}` (for messages)."""
        raise NotImplementedError

    def _check_pads(self, input_shape):
        """Raise if a known axis is too small for the pads `self.mode` allows."""
        if self.mode == "constant":
            return
        for index, (axis, pair, mode) in enumerate(
            zip(self._spatial_axes(), self._static_pads(input_shape), self.axis_modes)
        ):
            size = input_shape[axis]
            limit = exceeded_limit(mode, size, pair)
            if limit is not None:
                arguments = self._arguments()
                names = " or ".join(f"`{name}`" for name in arguments if name != "strides")
                received = ", ".join(f"{name}={value!r}" for name, value in arguments.items())
                where = "" if isinstance(self.mode, str) else f" on axis {AXIS_NAMES[self.rank][index]}"
                raise PadLimitError(
                    f"Layer '{self.name}': with mode='{mode}'{where} each pad must be "
                    f"{limit_phrase(mode)}, but spatial axis {index} (tensor "
                    f"axis {axis}) has size {size} and pads (before, after)={pair}, "
                    f"more than {limit}. Use a smaller {names}, a larger input, or "
                    f"mode='replicate' or 'constant'. Received: {received}, "
                    f"input_shape={tuple(input_shape)}"
                )

    def build(self, input_shape):
        self._check_pads(input_shape)

    def compute_output_spec(self, inputs):
        # Keras would give the symbolic output the layer's compute dtype.
        return keras.KerasTensor(
            self.compute_output_shape(inputs.shape), dtype=inputs.dtype
        )

    def compute_output_shape(self, input_shape):
        output_shape = list(input_shape)
        for axis, pair in zip(self._spatial_axes(), self._static_pads(input_shape)):
            if output_shape[axis] is not None:
                output_shape[axis] = (
                    None if pair is None else output_shape[axis] + sum(pair)
                )
        return tuple(output_shape)

    def call(self, inputs):
        static_shape = tuple(inputs.shape)
        if any(d is not None for d in static_shape):
            self._check_pads(static_shape)
        return pad_tensor(
            inputs,
            self._spatial_axes(),
            self._runtime_pads(inputs),
            self.mode,
            self.constant_value,
        )

    def get_config(self):
        config = super().get_config()
        config.pop("autocast", None)
        config.update(
            {
                "mode": self.mode,
                "constant_value": self.constant_value,
                "data_format": self.data_format,
            }
        )
        return config


class _Padding(_BasePadding):
    """Pads fixed amounts on each spatial axis.

    Args:
        padding: int, one int per spatial axis, or one `(before, after)` pair
            per spatial axis (the forms of Keras `ZeroPadding{1,2,3}D`; in 1D
            `(1,)` too, one int for the one axis).
        mode: "constant", "reflect", "replicate", "symmetric" or "circular"
            (aliases: "zero", "edge", "wrap"), or one mode per spatial axis,
            e.g. `("constant", "circular")` to wrap the width only (also
            written "H=constant,W=circular"). The config keeps a single mode
            as a string and per-axis modes as a tuple.
        constant_value: the fill value of the constant axes.
        data_format: "channels_last" or "channels_first".
    """

    def __init__(
        self, padding=1, mode="constant", constant_value=0.0, data_format=None, **kwargs
    ):
        super().__init__(
            mode=mode, constant_value=constant_value, data_format=data_format, **kwargs
        )
        self.padding = normalize_padding(padding, self.rank)

    def _static_pads(self, input_shape):
        return self.padding

    def _runtime_pads(self, inputs):
        return self.padding

    def _arguments(self):
        return {"padding": self.padding}

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


class _SamePadding(_BasePadding):
    """Pads like TensorFlow's `padding='same'` for a given kernel, computed per call.

    Where an axis size is known the amounts are fixed; where it is `None` they
    are computed from the run-time shape, so strided convolutions stay exact
    for every input size.
    """

    def __init__(
        self,
        kernel_size,
        strides=1,
        dilation_rate=1,
        mode="constant",
        constant_value=0.0,
        data_format=None,
        **kwargs,
    ):
        super().__init__(
            mode=mode, constant_value=constant_value, data_format=data_format, **kwargs
        )
        self.kernel_size = _positive_tuple(kernel_size, self.rank, "kernel_size")
        self.strides = _positive_tuple(strides, self.rank, "strides")
        self.dilation_rate = _positive_tuple(dilation_rate, self.rank, "dilation_rate")

    def _static_pads(self, input_shape):
        return tuple(
            same_pads(input_shape[axis], k, s, d)
            for axis, k, s, d in zip(
                self._spatial_axes(), self.kernel_size, self.strides, self.dilation_rate
            )
        )

    def _runtime_pads(self, inputs):
        shape = ops.shape(inputs)
        pads = []
        for axis, k, s, d, static in zip(
            self._spatial_axes(),
            self.kernel_size,
            self.strides,
            self.dilation_rate,
            self._static_pads(tuple(inputs.shape)),
        ):
            if static is not None:
                pads.append(static)
                continue
            pads.append(split_pad(same_total_pad(shape[axis], k, s, d, ops.maximum)))
        return pads

    def _arguments(self):
        return {
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "dilation_rate": self.dilation_rate,
        }

    def get_config(self):
        return {
            **super().get_config(),
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "dilation_rate": self.dilation_rate,
        }


def _standardize_data_format(data_format):
    if data_format is None:
        return keras.config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            "`data_format` must be 'channels_last' or 'channels_first'. "
            f"Received: data_format={data_format!r}"
        )
    return data_format


def _positive_tuple(value, rank, name):
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,) * rank
    if len(values) != rank or any(
        isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values
    ):
        raise ValueError(
            f"`{name}` must be a positive int or a tuple of {rank} positive ints. "
            f"Received: {name}={value!r}"
        )
    return values


def _ranked(base, rank, name, doc):
    cls = type(name, (base,), {"rank": rank, "__doc__": doc, "__module__": __name__})
    return _register(cls)


Padding1D = _ranked(_Padding, 1, "Padding1D", _Padding.__doc__)
Padding2D = _ranked(_Padding, 2, "Padding2D", _Padding.__doc__)
Padding3D = _ranked(_Padding, 3, "Padding3D", _Padding.__doc__)
SamePadding1D = _ranked(_SamePadding, 1, "SamePadding1D", _SamePadding.__doc__)
SamePadding2D = _ranked(_SamePadding, 2, "SamePadding2D", _SamePadding.__doc__)
SamePadding3D = _ranked(_SamePadding, 3, "SamePadding3D", _SamePadding.__doc__)

PADDING_CLASSES = {1: Padding1D, 2: Padding2D, 3: Padding3D}
SAME_PADDING_CLASSES = {1: SamePadding1D, 2: SamePadding2D, 3: SamePadding3D}


def _fixed_mode(base, mode, name):
    def check_mode(kwargs):
        # Accept the class's own mode (e.g. from a base-class config), refuse others.
        received = kwargs.pop("mode", mode)
        if normalize_mode(received) != mode:
            raise ValueError(
                f"`mode` of {name} is always '{mode}'; use {base.__name__} to "
                f"choose another. Received: mode={received!r}"
            )

    if mode == "constant":

        def __init__(self, padding=1, constant_value=0.0, data_format=None, **kwargs):
            check_mode(kwargs)
            base.__init__(
                self,
                padding=padding,
                mode=mode,
                constant_value=constant_value,
                data_format=data_format,
                **kwargs,
            )

    else:

        def __init__(self, padding=1, data_format=None, **kwargs):
            # A non-zero `constant_value` is refused by the base class.
            check_mode(kwargs)
            base.__init__(
                self, padding=padding, mode=mode, data_format=data_format, **kwargs
            )

    def get_config(self):
        config = base.get_config(self)
        config.pop("mode")
        if mode != "constant":
            config.pop("constant_value")
        return config

    doc = f"`{base.__name__}` with mode={mode!r} fixed.{base.__doc__.split(chr(10), 1)[1]}"
    cls = type(
        name,
        (base,),
        {"__init__": __init__, "get_config": get_config, "__doc__": doc, "__module__": __name__},
    )
    return _register(cls)


# Named classes with a fixed mode, e.g. ReflectionPadding2D(padding=1).
ConstantPadding1D = _fixed_mode(Padding1D, "constant", "ConstantPadding1D")
ReflectionPadding1D = _fixed_mode(Padding1D, "reflect", "ReflectionPadding1D")
ReplicationPadding1D = _fixed_mode(Padding1D, "replicate", "ReplicationPadding1D")
SymmetricPadding1D = _fixed_mode(Padding1D, "symmetric", "SymmetricPadding1D")
CircularPadding1D = _fixed_mode(Padding1D, "circular", "CircularPadding1D")
ConstantPadding2D = _fixed_mode(Padding2D, "constant", "ConstantPadding2D")
ReflectionPadding2D = _fixed_mode(Padding2D, "reflect", "ReflectionPadding2D")
ReplicationPadding2D = _fixed_mode(Padding2D, "replicate", "ReplicationPadding2D")
SymmetricPadding2D = _fixed_mode(Padding2D, "symmetric", "SymmetricPadding2D")
CircularPadding2D = _fixed_mode(Padding2D, "circular", "CircularPadding2D")
ConstantPadding3D = _fixed_mode(Padding3D, "constant", "ConstantPadding3D")
ReflectionPadding3D = _fixed_mode(Padding3D, "reflect", "ReflectionPadding3D")
ReplicationPadding3D = _fixed_mode(Padding3D, "replicate", "ReplicationPadding3D")
SymmetricPadding3D = _fixed_mode(Padding3D, "symmetric", "SymmetricPadding3D")
CircularPadding3D = _fixed_mode(Padding3D, "circular", "CircularPadding3D")

__all__ += [
    "ConstantPadding1D",
    "ReflectionPadding1D",
    "ReplicationPadding1D",
    "SymmetricPadding1D",
    "CircularPadding1D",
    "ConstantPadding2D",
    "ReflectionPadding2D",
    "ReplicationPadding2D",
    "SymmetricPadding2D",
    "CircularPadding2D",
    "ConstantPadding3D",
    "ReflectionPadding3D",
    "ReplicationPadding3D",
    "SymmetricPadding3D",
    "CircularPadding3D",
]

# Registers the padded convolutions too: a model holding them loads once this
# module is imported. Last, because `padrewrite.padded` imports from this module.
import padrewrite.padded  # noqa: E402, F401
