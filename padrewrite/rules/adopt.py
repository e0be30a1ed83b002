"""Opt-in rule: hand-written padding layers, recognised by what they compute, are adopted.

Models trained with their own padding layers (a blog's `ReflectionPadding2D`,
keras-io CycleGAN's, a `Lambda` around `tf.pad`) or with a padded
convolution written as a custom layer (keras-cv's `PaddedConv2D`: a
`ZeroPadding2D`, then a 'valid' conv) need their code to load, and export
poorly. This rule calls such a layer on random test tensors
(`padrewrite.keras_side.probe`); when its output is exactly numpy.pad of its input in
one mode and amount, the layer is replaced by padrewrite's padding layer in
that mode (and the padded convolution by that layer plus its own 'valid'
convolution, same weights). Outputs stay bit-identical; the model then loads
without the original code and exports with a native Pad. The mode found is
kept unless a per-layer mode (`mode_for`) names the layer. The engine offers
graph layers and layers held as attributes of custom layers alike (the latter
at the shape they were built with).
"""

from __future__ import annotations

import keras
import numpy as np

from padrewrite.arithmetic import spatial_axes
from padrewrite.keras_side import keras_internals as internals
from padrewrite.keras_side.probe import (
    FoundPadding,
    NotPadding,
    identify_padding,
    probe_inputs,
)
from padrewrite.modes import format_mode
from padrewrite.rewrite.unreached import config_of
from padrewrite.rules.conv import CONVOLUTIONS
from padrewrite.rules.rule import CallSite, Leave, Rewrite, Rule

L = keras.layers

#: Layers written by Keras or padrewrite are never hand-written padding.
_LIBRARY_MODULES = ("keras.", "padrewrite.")


def accepts(layer) -> bool:
    """A weightless `Lambda` or layer of a class neither Keras nor padrewrite defines, or
    such a layer made of a padding layer and a 'valid' convolution (before probing)."""
    if isinstance(layer, (keras.Model, L.InputLayer, L.Wrapper)):
        return False
    if not isinstance(layer, L.Lambda) and type(layer).__module__.startswith(_LIBRARY_MODULES):
        return False
    return not layer.weights or padded_convolution_parts(layer) is not None


def padded_convolution_parts(layer):
    """`(padding layer, convolution)` of a layer made of exactly those two, else None.

    The convolution is a Keras one with padding='valid' holding all of the
    layer's weights; the other sub-layer holds none.
    """
    inner = internals.flatten_layers(layer)
    convolutions = [sub for sub in inner if type(sub) in CONVOLUTIONS]
    others = [sub for sub in inner if sub not in convolutions]
    if len(convolutions) != 1 or len(others) != 1:
        return None
    (conv,), (pad,) = convolutions, others
    if conv.get_config().get("padding") != "valid" or pad.weights:
        return None
    if len(layer.weights) != len(conv.weights):
        return None
    return pad, conv


def _as_numpy(value):
    return keras.ops.convert_to_numpy(value)


def _caller(layer):
    return lambda x: _as_numpy(layer(keras.ops.convert_to_tensor(x)))


def _data_format(layer):
    config = config_of(layer)  # {} when the layer's get_config() fails
    return config.get("data_format") if config else getattr(layer, "data_format", None)


def _numpy_dtype(layer):
    return _as_numpy(keras.ops.zeros((), dtype=layer.compute_dtype)).dtype


def _found_phrase(found: FoundPadding) -> str:
    mode = format_mode(found.mode)
    if "constant" in (found.mode if isinstance(found.mode, tuple) else (found.mode,)):
        mode += f" (value {found.constant_value:g})"
    text = f"computes {mode} padding {[list(p) for p in found.pads]}"
    if found.equivalent:
        text += f" (the same function as {'/'.join(found.equivalent)} for these amounts)"
    shapes = " and ".join(str(s) for s in dict.fromkeys(found.probe_shapes))
    return (
        f"{text}, equal to numpy.pad value for value on {len(found.probe_shapes)} random "
        f"probes of shape {shapes}"
    )


def _declared_note(layer, site: CallSite, found: FoundPadding) -> str:
    """A note when the layer's own compute_output_shape disagrees with what it computes."""
    probe = found.probe_shapes[0]
    try:
        declared = tuple(layer.compute_output_shape((None, *site.input_shape[1:])))
    except Exception:  # no usable compute_output_shape: Keras traced call() instead
        return ""
    computed = list(probe)
    for axis, pair in zip(spatial_axes(len(probe) - 2, found.data_format), found.pads):
        computed[axis] += sum(pair)
    if len(declared) != len(computed):
        return ""
    wrong = [
        axis for axis in range(1, len(computed))
        if declared[axis] is not None and site.input_shape[axis] is not None
        and declared[axis] != computed[axis]
    ]
    if not wrong:
        return ""
    return (
        f"; its compute_output_shape declares {declared} where it returns "
        f"{(None, *computed[1:])}: the adopted layer declares the shape it computes"
    )


def build_adopt_padding(site: CallSite) -> Rewrite | Leave:
    layer = site.layer
    if site.input_count != 1:
        return Leave("unchanged", "called on several tensors", recorded=False)
    if site.input_shape is None:
        return Leave("unchanged", "never called: no input shape to probe", recorded=False)
    parts = padded_convolution_parts(layer)
    inputs = probe_inputs(site.input_shape, _numpy_dtype(layer))
    if parts is None:
        found = identify_padding(_caller(layer), inputs, _data_format(layer))
        if isinstance(found, NotPadding):
            return Leave(
                "unchanged", f"not adopted: {found.reason}", recorded=found.padding_shaped
            )
        return Rewrite(
            pads=found.pads,
            data_format=found.data_format,
            config=None,
            mode=found.mode,
            constant_value=found.constant_value,
            reason=_found_phrase(found) + _declared_note(layer, site, found)
            + "; adopted as padrewrite's padding layer",
        )
    pad, conv = parts
    found = identify_padding(_caller(pad), inputs, _data_format(conv))
    if isinstance(found, NotPadding):
        return Leave(
            "unchanged",
            f"not adopted: a padded convolution whose '{pad.name}' ({type(pad).__name__}) "
            f"is not a padding: {found.reason}",
        )
    mismatch = _whole_layer_mismatch(layer, pad, conv, inputs)
    if mismatch:
        return Leave("unchanged", f"not adopted: {mismatch}")
    return Rewrite(
        pads=found.pads,
        data_format=found.data_format,
        config={**conv.get_config(), "name": layer.name},
        mode=found.mode,
        constant_value=found.constant_value,
        source=conv,
        reason=(
            f"'{pad.name}' ({type(pad).__name__}) {_found_phrase(found)}; the layer equals "
            f"its '{conv.name}' ({type(conv).__name__}, 'valid') on that padding; adopted as "
            "padrewrite's padding layer, then that convolution"
        ),
    )


def _whole_layer_mismatch(layer, pad, conv, inputs) -> str:
    """Why `layer(x)` is not exactly `conv(pad(x))` on the probes, or ""."""
    for x in inputs:
        tensor = keras.ops.convert_to_tensor(x)
        try:
            got = _as_numpy(layer(tensor))
        except Exception as error:  # the layer's own code refusing a probe
            return f"calling it on a probe of shape {x.shape} failed ({type(error).__name__})"
        want = _as_numpy(conv(pad(tensor)))
        if got.shape != want.shape or not np.array_equal(got, want, equal_nan=True):
            return (
                f"its output is not its '{conv.name}' applied to its '{pad.name}' "
                f"(probe shape {x.shape}): it computes more than a padded convolution"
            )
    return ""


ADOPT_PADDING = Rule(
    name="adopt-padding",
    kind="padding",
    layer_types=(L.Layer,),
    applies=lambda config: True,
    build=build_adopt_padding,
    opt_in=True,
    description=(
        "hand-written padding layers (custom classes, Lambda) and padded convolutions, "
        "recognised by probing them against numpy.pad, replaced by padrewrite's layers"
    ),
    accepts=accepts,
    calls_layer=True,
)
