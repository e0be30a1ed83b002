"""Build the two demo models that padrewrite's examples rewrite.

Both are ordinary Keras models (no padrewrite layers) whose convolutions use
padding='same' or padding='causal':

* demo_unet.keras       a small image-to-image U-Net autoencoder, input 64x64x3:
                        Conv2D + BatchNormalization + ReLU, a stride-2 'same'
                        conv (uneven padding), MaxPooling2D, a dilated
                        DepthwiseConv2D and a SeparableConv2D bottleneck,
                        UpSampling2D + Concatenate skips, sigmoid output.
* demo_causal1d.keras   a WaveNet-like temporal model, input 128 steps x 8
                        features: causal Conv1D with dilations 1, 2, 4, a
                        residual Add and a Dense head.

Each is trained for a few seconds on synthetic data so its weights and
BatchNormalization statistics are not trivial. Everything is seeded, so a
rebuild gives the same weights (on the same TensorFlow build); only the save
date inside the .keras files changes.

    python examples/build_demo_models.py [--out-dir examples]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

SEED = 1234
UNET_SHAPE = (64, 64, 3)
CAUSAL_SHAPE = (128, 8)


def build_unet():
    """The U-Net autoencoder (31k parameters)."""
    import keras
    from keras import layers

    def conv_bn_relu(x, filters, name, strides=1):
        x = layers.Conv2D(
            filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv"
        )(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x)

    inputs = keras.Input(UNET_SHAPE, name="image")
    enc1 = conv_bn_relu(inputs, 16, "enc1")  # 64x64x16
    enc2 = conv_bn_relu(enc1, 32, "enc2", strides=2)  # 32x32x32, pads (0, 1)
    x = layers.MaxPooling2D(2, name="enc3_pool")(enc2)  # 16x16x32

    x = layers.DepthwiseConv2D(3, padding="same", dilation_rate=2, name="mid_dwconv")(x)
    x = layers.SeparableConv2D(
        48, 3, padding="same", use_bias=False, name="mid_sepconv"
    )(x)
    x = layers.BatchNormalization(name="mid_bn")(x)
    x = layers.ReLU(name="mid_relu")(x)  # 16x16x48

    x = layers.UpSampling2D(2, name="dec2_up")(x)  # 32x32x48
    x = layers.Concatenate(name="dec2_concat")([x, enc2])
    x = conv_bn_relu(x, 24, "dec2")  # 32x32x24
    x = layers.UpSampling2D(2, name="dec1_up")(x)  # 64x64x24
    x = layers.Concatenate(name="dec1_concat")([x, enc1])
    x = conv_bn_relu(x, 16, "dec1")  # 64x64x16
    outputs = layers.Conv2D(
        3, 3, padding="same", activation="sigmoid", name="out_conv"
    )(x)
    return keras.Model(inputs, outputs, name="demo_unet")


def build_causal1d():
    """The WaveNet-like causal model (2.9k parameters; receptive field 17 steps)."""
    import keras
    from keras import layers

    inputs = keras.Input(CAUSAL_SHAPE, name="signal")
    x = layers.Conv1D(16, 3, padding="causal", name="in_conv")(inputs)
    skip = x
    for dilation in (1, 2, 4):
        x = layers.Conv1D(
            16,
            3,
            padding="causal",
            dilation_rate=dilation,
            activation="relu",
            name=f"causal_d{dilation}",
        )(x)
    x = layers.Add(name="res_add")([x, skip])
    x = layers.Conv1D(8, 1, activation="relu", name="mix_conv")(x)
    outputs = layers.Dense(1, name="head")(x)
    return keras.Model(inputs, outputs, name="demo_causal1d")


def smooth_images(rng, count, shape=UNET_SHAPE):
    """Random smooth colour images in [0, 1]: gradients, a blob and a stripe."""
    import numpy as np

    height, width, channels = shape
    yy, xx = np.mgrid[0:height, 0:width].astype("float32")
    yy, xx = yy / height, xx / width
    images = np.empty((count, height, width, channels), "float32")
    for i in range(count):
        base = rng.uniform(0, 1, (channels, 3)).astype("float32")
        img = base[:, 0] + base[:, 1] * yy[..., None] + base[:, 2] * xx[..., None]
        cy, cx, radius = rng.uniform(0.2, 0.8, 3)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (0.05 * radius))
        img = img + blob[..., None] * rng.uniform(-1, 1, channels)
        angle, freq = rng.uniform(0, np.pi), rng.uniform(2, 6)
        stripe = np.sin(2 * np.pi * freq * (np.cos(angle) * xx + np.sin(angle) * yy))
        img = img + 0.15 * stripe[..., None]
        images[i] = img
    lo = images.min(axis=(1, 2, 3), keepdims=True)
    hi = images.max(axis=(1, 2, 3), keepdims=True)
    return (images - lo) / (hi - lo)


def causal_sequences(rng, count, shape=CAUSAL_SHAPE):
    """Random smooth multichannel signals and a causal target (a damped running sum)."""
    import numpy as np

    steps, features = shape
    t = np.arange(steps, dtype="float32")[None, :, None]
    freqs = rng.uniform(0.01, 0.15, (count, 1, features))
    phases = rng.uniform(0, 2 * np.pi, (count, 1, features))
    noise = 0.1 * rng.standard_normal((count, steps, features))
    x = (np.sin(2 * np.pi * freqs * t + phases) + noise).astype("float32")
    half = features // 2
    drive = x[..., :half].sum(axis=-1) - x[..., half:].sum(axis=-1)
    y = np.zeros((count, steps), "float32")
    for step in range(steps):  # y[t] depends on x[..t] only
        y[:, step] = drive[:, step] + (0.6 * y[:, step - 1] if step else 0.0)
    return x, (0.25 * y)[..., None]


def describe(model, path):
    """A compact summary: one line per layer, then totals and the file size."""
    lines = [
        f"{model.name}: input {tuple(model.input.shape)} -> "
        f"output {tuple(model.output.shape)}"
    ]
    lines.append(f"  {'layer':<14} {'class':<20} {'padding':<8} {'output shape':<22} params")
    for layer in model.layers:
        shape = tuple(layer.output.shape)
        padding = getattr(layer, "padding", "")
        lines.append(
            f"  {layer.name:<14} {type(layer).__name__:<20} {padding:<8} "
            f"{str(shape):<22} {layer.count_params()}"
        )
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    lines.append(
        f"  total params {model.count_params()} (trainable {trainable}); "
        f"{path} {path.stat().st_size / 1024:.1f} KB"
    )
    return "\n".join(lines)


def build_all(out_dir: Path):
    import keras
    import numpy as np

    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = []

    unet = build_unet()
    unet.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    images = smooth_images(rng, 256)
    history = unet.fit(images, images, batch_size=32, epochs=3, shuffle=False, verbose=0)
    saved.append((unet, out_dir / "demo_unet.keras", history.history["loss"][-1]))

    causal = build_causal1d()
    causal.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    x, y = causal_sequences(rng, 256)
    history = causal.fit(x, y, batch_size=32, epochs=5, shuffle=False, verbose=0)
    saved.append((causal, out_dir / "demo_causal1d.keras", history.history["loss"][-1]))

    for model, path, loss in saved:
        _inference_copy(model).save(path)
        print(describe(model, path))
        print(f"  trained on synthetic data: final mse {loss:.4f}")
        print()
    return [path for _, path, _ in saved]


def _inference_copy(model):
    """An uncompiled copy with the same weights, so no optimizer state is saved."""
    import keras

    copy = keras.Model.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="where to write demo_unet.keras and demo_causal1d.keras (default: examples/)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    build_all(args.out_dir)


if __name__ == "__main__":
    main()
