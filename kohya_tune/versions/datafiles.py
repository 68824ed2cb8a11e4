"""Reading the version tables in ``kohya_tune/versions/data`` (JSON, cached)."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=None)
def load_data(name: str) -> dict:
    with resources.files("kohya_tune.versions").joinpath("data", name).open("r", encoding="utf-8") as fh:
        return json.load(fh)
