"""The whole session runs with the persistent size cache in a scratch folder of its own, never
the user's cache folder (subprocesses inherit the environment); it is removed at the end.

The long sweeps (every golden case or corpus file solved for every target) run a fixed sample in
CI; `python -m pytest --full-sweep` (or KOHYA_TUNE_FULL_SWEEP=1) runs them whole."""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest

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


# --------------------------------------------------------------------------------------------
# long sweeps: CI runs a fixed sample, `--full-sweep` (or KOHYA_TUNE_FULL_SWEEP=1) all of it

def pytest_addoption(parser):
    parser.addoption("--full-sweep", action="store_true", default=False,
                     help="run the long corpus and golden-case sweeps whole (CI runs a fixed sample)")


@pytest.fixture(scope="session")
def full_sweep(request) -> bool:
    """Whether the long sweeps run whole (`pytest --full-sweep`) or their fixed CI sample."""
    return bool(request.config.getoption("--full-sweep")) or \
        os.environ.get("KOHYA_TUNE_FULL_SWEEP", "") not in ("", "0")

