"""What each sd-scripts version does with the LR schedule, checkpoints, states and samples
(data: versions/data/schedule_profiles.json); this module only looks values up."""
from __future__ import annotations

from kohya_tune.versions import lineage
from kohya_tune.versions.datafiles import load_data


def schedule_profile(label: str) -> tuple[str, dict]:
    """(profile name, merged switches) for an sd-scripts version label (a tag or a shipped
    commit): the newest profile the version's code contains (its own, for a commit that has
    one)."""
    table = load_data("schedule_profiles.json")
    order = table["order"]
    name = lineage.newest(label, list(table["profiles"])) or order[0]
    chain = []
    cursor = name
    while cursor:
        chain.append(table["profiles"][cursor])
        cursor = table["profiles"][cursor].get("inherits")
    merged: dict = {}
    for part in reversed(chain):
        for key, value in part.items():
            if key == "inherits":
                continue
            if key == "argparse_defaults":
                merged[key] = {**merged.get(key, {}), **value}
            else:
                merged[key] = value
    return name, merged


def name_formats() -> dict:
    return dict(load_data("schedule_profiles.json")["names"])
