"""Rewrite a zero-padded model to reflect padding, fine-tune it briefly, export it.

A model trained with zero padding computes something else near the borders once
rewritten (`padrewrite MODEL --drift` says how much). A few steps of training
with the new padding let it adapt. Here on synthetic data:

    python examples/fine_tune.py [--steps 20] [--out-dir /tmp/fine_tune]

writes `fine_tuned.keras` and `fine_tuned.onnx` to the output directory and
prints the loss before and after.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DEMO = Path(__file__).resolve().parent / "demo_unet.keras"


def fine_tune(out_dir, steps: int = 20, batch_size: int = 4, seed: int = 0) -> dict:
    """Rewrite the demo U-Net to reflect padding, fit `steps` batches, save and export."""
    import keras
    import numpy as np

    import padrewrite

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    original = keras.saving.load_model(DEMO)
    rewritten = padrewrite.rewrite_model(original, "reflect").model

    # Synthetic task: reproduce a smoothed copy of the input (an image-to-image model).
    rng = np.random.default_rng(seed)
    images = rng.random((steps * batch_size, 64, 64, 3), dtype=np.float32)
    targets = (images + np.roll(images, 1, axis=1) + np.roll(images, 1, axis=2)) / 3

    rewritten.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    before = float(rewritten.evaluate(images, targets, batch_size=batch_size, verbose=0))
    rewritten.fit(images, targets, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    after = float(rewritten.evaluate(images, targets, batch_size=batch_size, verbose=0))

    model_path, onnx_path = out_dir / "fine_tuned.keras", out_dir / "fine_tuned.onnx"
    rewritten.save(model_path)
    padrewrite.export_onnx(rewritten, onnx_path)
    return {"loss_before": before, "loss_after": after, "model": model_path, "onnx": onnx_path}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out-dir", type=Path, default=Path("fine_tune"))
    args = parser.parse_args()
    result = fine_tune(args.out_dir, args.steps)
    print(f"loss {result['loss_before']:.4f} -> {result['loss_after']:.4f}")
    print(f"wrote {result['model']} and {result['onnx']}")


if __name__ == "__main__":
    main()
