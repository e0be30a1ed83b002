"""The machine and software a benchmark ran on (no TensorFlow import)."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys

from common import REPO

LIBRARIES = ("tensorflow", "tensorflow-cpu", "keras", "tf2onnx", "onnx", "onnxruntime", "numpy")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def versions() -> dict:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        found["padrewrite"] = importlib.metadata.version("padrewrite")
    except importlib.metadata.PackageNotFoundError:
        pass
    return found


def git_state() -> str:
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout

    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    package = git("log", "-1", "--format=%h", "--", "padrewrite").strip() or "unknown"
    dirty = git("status", "--porcelain", "--", "padrewrite").strip()
    return (f"HEAD {commit}; padrewrite/ last changed in {package}"
            + (", with uncommitted changes" if dirty else ""))


def describe() -> dict:
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu_model(),
        "memory_gib": memory_gib(),
        "platform": platform.platform(),
        "python_executable": sys.executable,
        "versions": versions(),
        "git": git_state(),
        "load_average_start": os.getloadavg(),
    }
