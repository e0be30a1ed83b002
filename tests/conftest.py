"""Quiet TensorFlow and register hypothesis profiles (`HYPOTHESIS_PROFILE=ci`)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from hypothesis import settings  # noqa: E402

# TensorFlow's eager ops are slow and their first call slower: no deadline.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
