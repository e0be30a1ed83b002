"""The padding layers and the rewrite under Keras' JAX backend (`pytest -m jax`).

Keras picks its backend once per process, so each check runs in a fresh
interpreter with `KERAS_BACKEND=jax`. `.ci/run` installs jax for this run.
"""

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.jax

CHECK = textwrap.dedent(
    """
    import keras
    import numpy as np
    import padrewrite
    from padrewrite.layers import Padding1D, Padding2D, Padding3D

    assert keras.backend.backend() == "jax", keras.backend.backend()
    rng = np.random.default_rng(0)
    numpy_names = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
                   "symmetric": "symmetric", "circular": "wrap"}
    classes = {1: Padding1D, 2: Padding2D, 3: Padding3D}
    for mode, numpy_name in numpy_names.items():
        for rank, layer_class in classes.items():
            x = rng.normal(size=(2, *([5] * rank), 3)).astype("float32")
            pads = [(1, 2), (2, 0), (0, 3)][:rank]
            got = np.asarray(layer_class(pads, mode=mode)(x))
            want = np.pad(x, [(0, 0), *pads, (0, 0)], mode=numpy_name)
            assert np.array_equal(got, want), (mode, rank)

    L = keras.layers
    inputs = keras.Input((16, 16, 3))
    x = L.Conv2D(4, 3, padding="same")(inputs)
    x = L.DepthwiseConv2D(3, strides=2, padding="same")(x)
    x = L.SeparableConv2D(4, 4, padding="same")(x)
    outputs = L.Conv2D(2, 3, dilation_rate=2, padding="same")(x)
    model = keras.Model(inputs, outputs)
    data = rng.normal(size=(4, 16, 16, 3)).astype("float32")
    exact = padrewrite.rewrite_model(model, "constant").model
    difference = float(np.max(np.abs(np.asarray(exact(data)) - np.asarray(model(data)))))
    assert difference <= 1e-5, difference

    rewritten = padrewrite.rewrite_model(model, "reflect").model
    rewritten.compile(optimizer="sgd", loss="mse")
    before = [np.array(w) for w in rewritten.get_weights()]
    history = rewritten.fit(data, np.zeros((4, 8, 8, 2), "float32"), epochs=1, verbose=0)
    after = rewritten.get_weights()
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    print("jax backend: OK", difference)
    """
)


def test_layers_rewrite_and_training_under_jax():
    process = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True,
        env={**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert process.returncode == 0, process.stderr[-3000:]
    assert process.stdout.startswith("jax backend: OK"), process.stdout
