"""Table 4 worker: rewrite time against graph size, and ResNet50's against load+save.

Synthetic graphs of about 400 and 4000 layers are built from repeated blocks
`Conv2D(3x3, 'same') -> BatchNormalization -> ReLU`; every fourth block adds a
branch (`Conv2D(3x3, 'same')` on the block input, then `Add`). Each round
rewrites every graph (reflect) in a rotating order and also times
`keras.models.clone_model` on it, Keras' own graph rebuild, for scale. Then
ResNet50 is loaded, rewritten and saved once per round.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import common
from common import log, measured, median, rotate, timed

BRANCH_EVERY = 4


def build_synthetic(layer_count: int, channels: int = 8, size: int = 16):
    """A Functional model with about `layer_count` layers (never fewer)."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, channels))
    x, count, block = inputs, 1, 0
    while count < layer_count:
        y = keras.layers.Conv2D(channels, 3, padding="same")(x)
        y = keras.layers.BatchNormalization()(y)
        y = keras.layers.ReLU()(y)
        count += 3
        if block % BRANCH_EVERY == BRANCH_EVERY - 1:
            branch = keras.layers.Conv2D(channels, 3, padding="same")(x)
            y = keras.layers.Add()([y, branch])
            count += 2
        x, block = y, block + 1
    return keras.Model(inputs, x, name=f"synthetic_{layer_count}")


def run(config):
    import keras

    from padrewrite.keras_side.io import load_model, save_model
    from padrewrite.rewrite import rewrite_model

    sys.setrecursionlimit(100000)  # Keras builds and maps graphs recursively
    workdir = Path(config["workdir"])
    rounds = config["rounds"]
    graphs, build_seconds = {}, {}
    for size in config["sizes"]:
        build_seconds[size], graphs[size] = timed(build_synthetic, size)
        log(f"[scaling] built a {len(graphs[size].layers)}-layer graph "
            f"in {build_seconds[size]:.1f} s")
    # Warm-up: the first rewrite in a process pays for imports and first traces.
    rewrite_model(build_synthetic(40), "reflect")

    synthetic = {
        size: {"layers": len(model.layers), "build_seconds": build_seconds[size],
               "rewrite": [], "rewrite_cpu": [], "clone": [], "clone_cpu": []}
        for size, model in graphs.items()
    }
    for index in range(rounds):
        for size in rotate(graphs, index):
            model, row = graphs[size], synthetic[size]
            gc.collect()
            wall, cpu, result = measured(rewrite_model, model, "reflect")
            row["rewrite"].append(wall)
            row["rewrite_cpu"].append(cpu)
            row["layers_after"] = len(result.model.layers)
            row["convs_rewritten"] = len(result.report.rewritten)
            del result
            gc.collect()
            clone_wall, clone_cpu, clone = measured(keras.models.clone_model, model)
            row["clone"].append(clone_wall)
            row["clone_cpu"].append(clone_cpu)
            del clone
            log(f"[scaling] round {index + 1}/{rounds}: {size} layers: rewrite "
                f"{wall:.2f} s (CPU {cpu:.2f} s), clone_model {clone_wall:.2f} s "
                f"(CPU {clone_cpu:.2f} s)")
    for row in synthetic.values():
        for key in ("rewrite", "rewrite_cpu", "clone", "clone_cpu"):
            row[f"{key}_seconds"] = median(row[key])
            row[f"{key}_ms_per_layer"] = row[f"{key}_seconds"] / row["layers"] * 1000
    graphs.clear()
    gc.collect()

    resnet = {key: [] for key in ("load", "rewrite", "save")}
    resnet.update({f"{key}_cpu": [] for key in ("load", "rewrite", "save")})
    if config.get("resnet", True):
        path = common.application_file(workdir, "ResNet50")
        out = workdir / "scaling"
        out.mkdir(parents=True, exist_ok=True)
        for index in range(rounds):
            gc.collect()
            steps = (
                ("load", lambda: load_model(path)),
                ("rewrite", lambda: rewrite_model(model, "reflect")),
                ("save", lambda: save_model(model, out / "resnet50-resave.keras")),
            )
            for key, step in steps:
                wall, cpu, value = measured(step)
                resnet[key].append(wall)
                resnet[f"{key}_cpu"].append(cpu)
                if key == "load":
                    model = value
                elif key == "rewrite":
                    resnet["convs_rewritten"] = len(value.report.rewritten)
            resnet["layers"] = len(model.layers)
            del model, value
            log(f"[scaling] round {index + 1}/{rounds}: ResNet50 "
                + ", ".join(f"{key} {resnet[key][-1]:.2f} s (CPU {resnet[key + '_cpu'][-1]:.2f} s)"
                            for key, _ in steps))
    return {"synthetic": {str(k): v for k, v in synthetic.items()}, "resnet50": resnet}


if __name__ == "__main__":
    common.worker_main(run)
