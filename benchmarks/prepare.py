"""Worker: build the keras.applications models (weights=None) and save them as .keras."""

from __future__ import annotations

from pathlib import Path

import common


def run(config):
    paths = {}
    for name in config["models"]:
        paths[name] = str(common.application_file(Path(config["workdir"]), name))
    return {"files": paths}


if __name__ == "__main__":
    common.worker_main(run)
