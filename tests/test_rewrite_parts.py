"""The rewrite engine's parts on their own: the options value, the decision for one call
(a pure function returning its record), the refusal message, and a failed config
completion said in the report."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from padrewrite.errors import InputError
from padrewrite.modes import ModeChoice
from padrewrite.rewrite import RewriteError, RewriteOptions, rewrite_model
from padrewrite.rewrite.decide import decide
from padrewrite.rewrite.refusal import ExceedsLimit, ReadsFuture, refusal_message
from padrewrite.rules import CallSite

L = keras.layers


# -- RewriteOptions ------------------------------------------------------------------------


def test_options_are_normalised_once():
    options = RewriteOptions(
        "edge", include=["a*"], rules=["zero-padding"], mode_for={"dec/*": "wrap"},
        causal_mode="constant",
    )
    assert options.mode == ModeChoice(default="replicate")
    assert options.mode_for == (("dec/*", ModeChoice(default="circular")),)
    assert (options.include, options.rules, options.constant_value) == (
        ("a*",), ("zero-padding",), 0.0)
    assert dataclasses.replace(options) == options  # the canonical form is a fixed point
    per_axis = RewriteOptions({"W": "circular", "H": "constant"}, constant_value=2)
    assert str(per_axis.mode) == "H=constant,W=circular"
    assert per_axis.constant_value == 2.0 and isinstance(per_axis.constant_value, float)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"mode": "mirror"}, r"^`mode` must be .*Received: mode='mirror'$"),
        ({"rules": ("zero-pad",)}, r"^`rules` must name known rules .*zero-pad'\]$"),
        ({"skip_rules": ["x"]}, r"Received: skip_rules=\['x'\]$"),
        ({"causal_mode": "future"}, r"Received: causal_mode='future'$"),
        ({"fallback_mode": "reflect"}, r"Received: fallback_mode='reflect'$"),
        ({"constant_value": 1.0}, r"only used with mode='constant'"),
        ({"mode_for": ["conv"]}, r"GLOB=MODE"),
    ],
)
def test_options_refuse_wrong_arguments(arguments, message):
    with pytest.raises(InputError, match=message):
        RewriteOptions(**arguments)


def test_a_constant_value_is_accepted_when_any_choice_pads_constant():
    assert RewriteOptions("reflect", 0.5, fallback_mode="constant").constant_value == 0.5
    assert RewriteOptions("reflect", 0.5, mode_for={"x": "zero"}).constant_value == 0.5


# -- decide --------------------------------------------------------------------------------


def _conv(name="conv", kernel=3, padding="same", rank=2):
    layer = getattr(L, f"Conv{rank}D")(2, kernel, padding=padding, name=name)
    layer.build((None, *(8,) * rank, 3))
    return layer


def test_a_decision_returns_its_record_and_changes_nothing():
    conv = _conv()
    site = CallSite(conv, (None, 8, 8, 3))
    options = RewriteOptions("reflect")
    decision = decide(site, "outer/conv", 1, options)
    assert decision == decide(site, "outer/conv", 1, options)
    assert decision.rewrite.pads == ((1, 1), (1, 1)) and decision.mode == "reflect"
    record = decision.record
    assert (record.path, record.action, record.rule, record.mode, record.call_index) == (
        "outer/conv", "rewritten", "conv-same", "reflect", 1)
    assert record.pad_layer is None and decision.refusal is None
    assert conv.padding == "same"


def test_decisions_for_selection_mode_for_and_opt_in_rules():
    conv = _conv()
    site = CallSite(conv, (None, 8, 8, 3))
    excluded = decide(site, "conv", 0, RewriteOptions("reflect", exclude=("c*",)))
    assert excluded.rewrite is None
    assert (excluded.record.action, excluded.record.reason) == (
        "skipped", "excluded by pattern 'c*'")
    named = decide(site, "conv", 0, RewriteOptions("reflect", mode_for={"conv": "reflect,W=circular"}))
    assert named.mode == ("reflect", "circular") and named.record.mode == "H=reflect,W=circular"
    pool = L.MaxPooling2D(2, padding="same", name="pool")
    not_enabled = decide(CallSite(pool, (None, 7, 7, 3)), "pool", 0, RewriteOptions())
    assert (not_enabled.record.action, not_enabled.record.pads) == ("skipped", ((0, 1), (0, 1)))
    assert decide(CallSite(_conv(padding="valid"), (None, 8, 8, 3)), "c", 0,
                  RewriteOptions()).record.action == "unchanged"
    assert decide(CallSite(L.Dense(2), (None, 3)), "d", 0, RewriteOptions()).record is None


def test_decisions_beyond_the_limits_of_a_mode():
    big = _conv(kernel=5)
    site = CallSite(big, (None, 2, 9, 3))
    refused = decide(site, "big", 0, RewriteOptions("reflect"))
    assert refused.rewrite is None and refused.record.action == "refused"
    assert refused.refusal == ExceedsLimit("big", "Conv2D", 0, (2, 2), 2, "reflect")
    fallback = decide(site, "big", 0, RewriteOptions("reflect", fallback_mode="replicate"))
    assert fallback.mode == ("replicate", "reflect") and fallback.record.action == "fallback"
    skipped = decide(site, "big", 0, RewriteOptions("reflect", fallback_mode="skip"))
    assert (skipped.rewrite, skipped.record.action) == (None, "skipped")


def test_decisions_for_causal_convolutions():
    conv = _conv(padding="causal", rank=1)
    site = CallSite(conv, (None, 8, 3))
    refused = decide(site, "tcn", 0, RewriteOptions("reflect"))
    assert refused.refusal == ReadsFuture("tcn", "reflect")
    assert (refused.record.action, refused.record.causal) == ("refused", False)
    kept = decide(site, "tcn", 0, RewriteOptions("reflect", causal_mode="replicate"))
    assert (kept.mode, kept.record.causal, kept.rewrite.pads) == ("replicate", True, ((2, 0),))
    accepted = decide(site, "tcn", 0, RewriteOptions("reflect", causal_mode="as-mode"))
    assert accepted.record.causal is False and "NOT causal" in accepted.record.reason


def test_a_mode_for_another_rank_is_an_error_naming_the_layer():
    site = CallSite(_conv(rank=1), (None, 8, 3))
    with pytest.raises(RewriteError, match=r"^Layer 'outer/conv' \(Conv1D\): "):
        decide(site, "outer/conv", 0, RewriteOptions("H=reflect,W=circular"))


# -- refusal message -----------------------------------------------------------------------


def test_the_refusal_message_names_every_refused_call():
    refusals = [
        ExceedsLimit("a", "Conv2D", 0, (2, 2), 1, "reflect"),
        ReadsFuture("t1", "reflect"),
        ExceedsLimit("b", "Conv1D", 0, (3, 3), 2, "circular"),
        ReadsFuture("t2", "symmetric"),
    ]
    assert refusal_message([], "reflect", None) is None
    assert refusal_message(refusals, "reflect", None) == (
        "Causal convolutions 't1', 't2' would read future samples: reflect/symmetric "
        "padding on the time axis copies later samples into their left pad. Choose "
        "`causal_mode` 'replicate' or 'constant' (--causal-mode) to keep them causal, or "
        "'as-mode' to accept it. Received: mode='reflect', causal_mode=None "
        "2 layers need pads their mode cannot give (circular padding must be at most the "
        "axis size; reflect padding must be less than the axis size): 'a' (Conv2D) pads "
        "(2, 2) on spatial axis 0 of size 1, 'b' (Conv1D) pads (3, 3) on spatial axis 0 of "
        "size 2. Use `fallback_mode` 'replicate', 'constant' or 'skip' (--fallback-mode), "
        "exclude these layers, use a larger input or mode 'replicate'/'constant'."
    )


# -- a completion that fails is said, not hidden -------------------------------------------


class Stubborn(L.Layer):
    """get_config leaves `width` out, and the same-named attribute is not what the
    constructor takes: completing the config from it fails too."""

    def __init__(self, width, **kwargs):
        super().__init__(**kwargs)
        self.width = f"{int(width)}px"
        self.conv = L.Conv2D(2, 3, padding="same", name="conv")

    def call(self, x):
        return self.conv(x)


def test_a_failed_config_completion_is_in_the_report():
    inputs = keras.Input((8, 8, 3))
    # np.int64: Keras records no constructor arguments to rebuild it from either.
    model = keras.Model(inputs, Stubborn(np.int64(4), name="holder")(inputs))
    result = rewrite_model(model, "reflect")
    # Keras gives such a layer no config at all: the completion is Layer's own config
    # and the constructor's arguments, read from the attributes.
    failure = (
        "and width='4px' read from the layer's attributes does not rebuild it either "
        "(TypeError: invalid literal for int() with base 10: '4px')"
    )
    (record,) = result.report.records
    assert (record.path, record.action) == ("holder/conv", "skipped")
    assert failure in record.reason
    (note,) = result.report.notes
    assert note.change == "layer-shared" and failure in note.reason
    assert result.model.get_layer("holder") is model.get_layer("holder")
