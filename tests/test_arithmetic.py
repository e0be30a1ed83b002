"""TF 'same'/'causal' padding arithmetic, checked against TensorFlow itself."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from padrewrite.arithmetic import (
    causal_pads,
    normalize_padding,
    same_pads,
    same_total_pad,
)

sizes = st.integers(1, 40)
kernels = st.integers(1, 7)
strides = st.integers(1, 4)
dilations = st.integers(1, 3)


def _padded_1d(x, pads):
    return tf.pad(x, [[0, 0], list(pads), [0, 0]])


@pytest.mark.parametrize(
    "kernel, stride, dilation, size, expected",
    [
        (4, 1, 1, 10, (1, 2)),
        (3, 2, 1, 10, (0, 1)),
        (3, 2, 1, 11, (1, 1)),
        (7, 2, 1, 224, (2, 3)),
        (4, 1, 3, 12, (4, 5)),
    ],
)
def test_same_pads_match_measured_examples(kernel, stride, dilation, size, expected):
    """The (k, s, d, n) examples measured in FACTS.md."""
    assert same_pads(size, kernel, stride, dilation) == expected
    assert same_total_pad(size, kernel, stride, dilation) == sum(expected)


@settings(max_examples=60)
@given(size=sizes, kernel=kernels, stride=strides, dilation=dilations)
def test_same_pads_reproduce_tf_same_convolution(size, kernel, stride, dilation):
    """tf.nn.convolution 'SAME' == explicit tf.pad(same_pads) + 'VALID', exactly."""
    assume(stride == 1 or dilation == 1)  # tf.nn.convolution refuses both > 1
    x = tf.constant(np.arange(1, size + 1, dtype="float32").reshape(1, size, 1))
    w = tf.constant(np.arange(1, kernel + 1, dtype="float32").reshape(kernel, 1, 1) * 100)
    expected = tf.nn.convolution(x, w, stride, "SAME", dilations=dilation)
    pads = same_pads(size, kernel, stride, dilation)
    actual = tf.nn.convolution(_padded_1d(x, pads), w, stride, "VALID", dilations=dilation)
    np.testing.assert_array_equal(actual.numpy(), expected.numpy())
    assert actual.shape[1] == -(-size // stride)


@settings(max_examples=60)
@given(size=sizes, kernel=kernels, stride=strides, dilation=dilations)
def test_same_pads_reproduce_tf_same_patches_with_stride_and_dilation(
    size, kernel, stride, dilation
):
    """tf.image.extract_patches (strides and rates together) agrees as well."""
    def patches(image, padding):
        return tf.image.extract_patches(
            image, [1, kernel, 1, 1], [1, stride, 1, 1], [1, dilation, 1, 1], padding
        )

    x = tf.constant(np.arange(1, size + 1, dtype="float32").reshape(1, size, 1, 1))
    before, after = same_pads(size, kernel, stride, dilation)
    padded = tf.pad(x, [[0, 0], [before, after], [0, 0], [0, 0]])
    np.testing.assert_array_equal(
        patches(padded, "VALID").numpy(), patches(x, "SAME").numpy()
    )


@settings(max_examples=60)
@given(
    size=st.one_of(st.integers(1, 1000), st.integers(2**53, 2**62)),
    kernel=kernels,
    dilation=dilations,
)
@example(size=2**53 + 1, kernel=3, dilation=1)  # not a float: ceil(n / s) is wrong
def test_stride_one_total_is_independent_of_size(size, kernel, dilation):
    """With stride 1 the total is (k-1)*d for every size, even beyond float precision."""
    total = (kernel - 1) * dilation
    assert same_total_pad(size, kernel, 1, dilation) == total
    assert same_pads(size, kernel, 1, dilation) == same_pads(None, kernel, 1, dilation)
    assert same_pads(None, kernel, 1, dilation) == (total // 2, total - total // 2)


@settings(max_examples=60)
@given(size=sizes, kernel=kernels, stride=strides, dilation=dilations)
def test_same_pads_put_the_extra_element_after(size, kernel, stride, dilation):
    """before = total // 2 and after = total - before."""
    before, after = same_pads(size, kernel, stride, dilation)
    assert before + after == same_total_pad(size, kernel, stride, dilation)
    assert after - before in (0, 1)


@pytest.mark.parametrize("stride", [2, 3])
def test_same_pads_of_unknown_size_with_stride_is_none(stride):
    """A strided split depends on the run-time size: no static answer."""
    assert same_pads(None, 3, stride, 1) is None


@pytest.mark.parametrize(
    "kernel, dilation, stride, expected",
    [(3, 1, 1, (2, 0)), (2, 4, 1, (4, 0)), (5, 1, 2, (4, 0)), (1, 3, 1, (0, 0))],
)
def test_causal_pads_reproduce_keras_causal_conv1d(kernel, dilation, stride, expected):
    """Keras Conv1D 'causal' == explicit left pad + 'valid' with the same weights."""
    assert causal_pads(kernel, dilation) == expected
    x = np.random.default_rng(0).normal(size=(2, 13, 3)).astype("float32")
    causal = keras.layers.Conv1D(
        4, kernel, strides=stride, dilation_rate=dilation, padding="causal"
    )
    valid = keras.layers.Conv1D(4, kernel, strides=stride, dilation_rate=dilation)
    expected_y = causal(x)
    valid.build(x.shape)
    valid.set_weights(causal.get_weights())
    actual_y = valid(_padded_1d(x, causal_pads(kernel, dilation)))
    np.testing.assert_array_equal(actual_y.numpy(), expected_y.numpy())


@pytest.mark.parametrize(
    "padding, rank, expected",
    [
        (2, 1, ((2, 2),)),
        (2, 3, ((2, 2), (2, 2), (2, 2))),
        (np.int64(1), 2, ((1, 1), (1, 1))),
        ((1, 2), 1, ((1, 2),)),  # rank 1: a bare pair is (before, after)
        ([(1, 2)], 1, ((1, 2),)),
        ((1, 2), 2, ((1, 1), (2, 2))),  # rank 2: one int per axis
        (((1, 2), (3, 4)), 2, ((1, 2), (3, 4))),
        ([[1, 2], 3], 2, ((1, 2), (3, 3))),
        ((0, (1, 0), 2), 3, ((0, 0), (1, 0), (2, 2))),
    ],
)
def test_normalize_padding_accepts_zero_padding_forms(padding, rank, expected):
    """Every ZeroPadding{1,2,3}D form becomes ((before, after), ...) of ints."""
    result = normalize_padding(padding, rank)
    assert result == expected
    assert all(type(v) is int for pair in result for v in pair)


@pytest.mark.parametrize(
    "padding, rank, message",
    [
        (-1, 2, "`padding` cannot contain negative values. Received: padding=-1"),
        (
            ((1, -2), (0, 0)),
            2,
            "`padding` cannot contain negative values. "
            "Received: padding=((1, -2), (0, 0))",
        ),
        (
            (1, 2, 3),
            2,
            "`padding` must be an int, a tuple of 2 ints or a tuple of 2 "
            "(before, after) pairs. Received: padding=(1, 2, 3)",
        ),
        (
            (1, 2, 3),
            1,
            "`padding` must be an int, a tuple of 1 ints or a tuple of 1 "
            "(before, after) pairs. Received: padding=(1, 2, 3)",
        ),
        (
            1.5,
            2,
            "`padding` must be an int, a tuple of 2 ints or a tuple of 2 "
            "(before, after) pairs. Received: padding=1.5",
        ),
        (
            "same",
            2,
            "`padding` must be an int, a tuple of 2 ints or a tuple of 2 "
            "(before, after) pairs. Received: padding='same'",
        ),
        (
            ((1, 2, 3), (0, 0)),
            2,
            "Each entry of `padding` must be an int or a (before, after) pair. "
            "Received: padding=((1, 2, 3), (0, 0))",
        ),
        (
            (1.0, 2),
            2,
            "`padding` must contain only integers. Received: padding=(1.0, 2)",
        ),
        (
            (True, 2),
            2,
            "`padding` must contain only integers. Received: padding=(True, 2)",
        ),
    ],
)
def test_normalize_padding_errors_name_the_argument(padding, rank, message):
    """Keras-style messages: argument in backticks, `Received: ...` at the end."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        normalize_padding(padding, rank)


def test_normalize_padding_errors_use_the_given_name():
    """The `name` argument is what the message calls the value."""
    with pytest.raises(ValueError, match=r"^`cropping` cannot .* Received: cropping=-3$"):
        normalize_padding(-3, 2, name="cropping")
