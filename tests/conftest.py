"""The whole session runs with the persistent size cache in a scratch folder of its own, never
the user's cache folder (subprocesses inherit the environment); it is removed at the end."""
from __future__ import annotations

import os
import shutil
import tempfile

_SCRATCH: list = []


def pytest_configure(config):
    folder = tempfile.mkdtemp(prefix="kohya-tune-test-cache-")
    _SCRATCH.append(folder)
    os.environ["KOHYA_TUNE_CACHE_DIR"] = folder
    os.environ.pop("KOHYA_TUNE_NO_CACHE", None)


def pytest_unconfigure(config):
    from kohya_tune.engine import size_cache

    size_cache.forget()  # nothing is written there after the folder is gone
    for folder in _SCRATCH:
        shutil.rmtree(folder, ignore_errors=True)
