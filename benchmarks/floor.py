"""The floor: the same work done directly with Keras, tf2onnx and onnxruntime.

Load the .keras file, save it again, convert it with
`tf2onnx.convert.from_function` (a `tf.function` with an input signature,
opset 18, as Keras' own ONNX export does), then create one onnxruntime session
and run it once on a batch of 1.

As a script (`floor.py MODEL.keras OUT.keras OUT.onnx`) it does the same in a
fresh process, for the end-to-end column next to the `padrewrite` command.
"""

from __future__ import annotations

import sys

import common  # (puts the repository on sys.path, quiets TensorFlow)

OPSET = 18


def load(path):
    import keras

    return keras.saving.load_model(path, compile=False)


def save(model, path):
    model.save(path)


def convert(model, path, opset=OPSET):
    """tf2onnx conversion of a single-input Keras model to the file `path`."""
    import tensorflow as tf
    import tf2onnx

    spec = [tf.TensorSpec((None, *model.inputs[0].shape[1:]), model.inputs[0].dtype, name="input")]

    @tf.function(input_signature=spec)
    def forward(x):
        return model(x, training=False)

    with common.quiet_tf2onnx():
        proto, _ = tf2onnx.convert.from_function(forward, input_signature=spec, opset=opset)
    folded = fold_captured_inputs(proto, forward.get_concrete_function())
    with open(path, "wb") as file:
        file.write(proto.SerializeToString())
    return folded


def fold_captured_inputs(proto, concrete):
    """Turn the graph inputs tf2onnx made of captured tensors into initializers.

    `tf2onnx.convert.from_function` makes every tensor the function captures by
    value a graph input (Keras 3 `Normalization` captures its mean and
    variance, as in EfficientNet); `from_keras` leaves them out, as here.
    Returns the names of the inputs folded.
    """
    from onnx import numpy_helper

    captured = {
        internal.name: external
        for external, internal in concrete.graph.captures
        if internal.dtype != "resource"
    }
    folded = []
    for value in list(proto.graph.input):
        if value.name in captured:
            array = captured[value.name].numpy()
            proto.graph.initializer.append(numpy_helper.from_array(array, value.name))
            proto.graph.input.remove(value)
            folded.append(value.name)
    return folded


def run_once(path, model):
    """Create an onnxruntime session and run it once on a batch of 1."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shape = (1, *model.inputs[0].shape[1:])
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    return session.run(None, {session.get_inputs()[0].name: x})


STAGES = ("load", "save", "export", "verify")


def run_stages(model_path, out_keras, out_onnx, timer):
    """Run the floor, timing each stage with `timer(stage, function, *args)`."""
    model = timer("load", load, model_path)
    timer("save", save, model, out_keras)
    folded = timer("export", convert, model, out_onnx)
    timer("verify", run_once, out_onnx, model)
    return {"captured_inputs_folded": folded}


def _untimed(stage, function, *args):
    return function(*args)


if __name__ == "__main__":
    run_stages(*sys.argv[1:4], timer=_untimed)
