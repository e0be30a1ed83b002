"""Mode choices: one mode, one mode per named axis, per-layer globs (no Keras)."""

import pytest

from padrewrite.errors import InputError
from padrewrite.modes import (
    ModeChoice,
    axis_modes,
    check_choice,
    check_constant_value,
    format_mode,
    normalize_layer_mode,
    parse_mode,
    parse_mode_for,
)


@pytest.mark.parametrize(
    "value, text, ranks",
    [
        ("reflect", "reflect", {1: "reflect", 2: "reflect", 3: "reflect"}),
        ("WRAP", "circular", {2: "circular"}),
        ("H=constant,W=circular", "H=constant,W=circular", {2: ("constant", "circular")}),
        ("w=wrap, h=zero", "H=constant,W=circular", {2: ("constant", "circular")}),
        ("reflect,W=circular", "reflect,W=circular",
         {1: "reflect", 2: ("reflect", "circular"), 3: ("reflect", "reflect", "circular")}),
        ("T=edge", "T=replicate", {1: "replicate"}),
        ("L=edge", "T=replicate", {1: "replicate"}),
        ("D=constant,H=reflect,W=circular", "D=constant,H=reflect,W=circular",
         {3: ("constant", "reflect", "circular")}),
        ("reflect,H=reflect", "reflect", {2: "reflect"}),
        ({"W": "circular", "H": "constant"}, "H=constant,W=circular",
         {2: ("constant", "circular")}),
        (("constant", "wrap"), "H=constant,W=circular", {2: ("constant", "circular")}),
        (ModeChoice(default="reflect"), "reflect", {2: "reflect"}),
    ],
)
def test_parse_mode_forms(value, text, ranks):
    choice = parse_mode(value)
    assert str(choice) == text
    assert parse_mode(str(choice)) == choice  # the text reads back
    for rank, expected in ranks.items():
        assert choice.for_rank(rank) == expected


@pytest.mark.parametrize(
    "value", ["mirror", "H=mirror", "X=reflect", "H=reflect,H=edge", "reflect,edge", "", "=",
              3, None, ()],
)
def test_parse_mode_refuses_other_values(value):
    with pytest.raises(InputError, match=r"`mode` must be .*Received: mode="):
        parse_mode(value)


def test_a_named_axis_choice_must_cover_the_layer_rank():
    with pytest.raises(InputError, match=r"`mode` names no mode for axis T of a 1D layer "
                                         r".*Received: mode='H=constant,W=circular'"):
        parse_mode("H=constant,W=circular").for_rank(1)
    with pytest.raises(InputError, match=r"gives 2 per-axis modes, but the layer has 3"):
        parse_mode(("constant", "circular")).for_rank(3)


def test_layer_modes_are_canonical():
    assert normalize_layer_mode("edge", 2) == "replicate"
    assert normalize_layer_mode(["zero", "wrap"], 2) == ("constant", "circular")
    assert normalize_layer_mode(("edge", "replicate"), 2) == "replicate"
    assert normalize_layer_mode("H=zero,W=wrap", 2) == ("constant", "circular")
    with pytest.raises(InputError, match=r"tuple of 2 modes .*Received: mode=\('reflect',\)"):
        normalize_layer_mode(("reflect",), 2)
    assert axis_modes("reflect", 3) == ("reflect",) * 3
    assert format_mode(("constant", "reflect", "circular")) == "D=constant,H=reflect,W=circular"
    assert format_mode(("constant", "circular")) == "H=constant,W=circular"
    assert format_mode("reflect") == "reflect"


def test_constant_value_needs_a_constant_axis():
    assert check_constant_value(("constant", "circular"), 2) == 2.0
    with pytest.raises(InputError, match=r"Received: mode=\('reflect', 'circular'\), "
                                         r"constant_value=2"):
        check_constant_value(("reflect", "circular"), 2)


def test_parse_mode_for():
    pairs = parse_mode_for(["decoder/*=replicate", "pano/*=H=constant,W=circular"])
    assert [(glob, str(choice)) for glob, choice in pairs] == [
        ("decoder/*", "replicate"), ("pano/*", "H=constant,W=circular")]
    assert parse_mode_for({"a": "wrap"}) == (("a", ModeChoice(default="circular")),)
    assert parse_mode_for([("a", "zero")]) == (("a", ModeChoice(default="constant")),)
    with pytest.raises(InputError, match=r"GLOB=MODE.*Received: mode_for='decoder'"):
        parse_mode_for(["decoder"])
    with pytest.raises(InputError, match=r"`mode_for` must be .*Received: mode_for='mirror'"):
        parse_mode_for(["a=mirror"])


def test_check_choice():
    assert check_choice(None, ("a", "b"), "x") is None
    with pytest.raises(InputError, match=r"`causal_mode` must be one of replicate, constant, "
                                         r"as-mode \(or None\). Received: causal_mode='reflect'"):
        check_choice("reflect", ("replicate", "constant", "as-mode"), "causal_mode")
