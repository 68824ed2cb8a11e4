"""What a resumed run does, per version (data: versions/data/resume_profiles.json); this module
only looks values up."""
from __future__ import annotations

from dataclasses import dataclass

from kohya_tune.versions.profiles import load_data, nearest_at_or_below, version_key


def _table() -> dict:
    return load_data("resume_profiles.json")


def loop_profile(sd_label: str, script: str, commit: str | None = None) -> dict:
    """How `script` of this sd-scripts version resumes: {"network_resume": "initial_step" |
    "restart", "train_state": bool, "options": [...], "cite": ...}. `commit`: the trainer commit
    a GUI release ships, which can behave as a later tag ("commits")."""
    table = _table()
    label = sd_label
    source = f"sd-scripts {sd_label}"
    for prefix, entry in table.get("commits", {}).items():
        if commit and (commit.startswith(prefix) or prefix.startswith(commit)):
            label = entry["behaves_as"]
            source = f"sd-scripts {commit[:10]} ({entry['cite']})"
    name = nearest_at_or_below(label, table["order"]) or table["order"][0]
    merged: dict = {}
    for candidate in table["order"]:
        if version_key(candidate) <= version_key(name):
            merged.update(table["profiles"][candidate])
    merged["profile"] = name
    merged["source"] = source
    if script not in table["network_scripts"]:
        merged.update(network_resume="restart", train_state=False, options=[],
                      network_resume_cite=table["network_scripts_cite"])
        merged["other_loop"] = True
    return merged


def bug(bug_id: str) -> dict:
    entry = _table()["bugs"][bug_id]
    return {"id": bug_id, "issue": entry["issue"], "what": entry["what"]}


def sample_pattern(sd_label: str) -> str:
    chosen = None
    for entry in _table()["sample_names"]:
        if version_key(entry["since"]) <= version_key(sd_label):
            chosen = entry["pattern"]
    return chosen or _table()["sample_names"][0]["pattern"]


def parse_version(text: str) -> tuple:
    out = []
    for part in str(text).lstrip("v").split("+")[0].split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        if not digits:
            break
        out.append(int(digits))
    return tuple(out) or (0,)


@dataclass(frozen=True)
class Environment:
    accelerate: str
    torch: str
    source: str                 # where the versions come from

    @property
    def acc(self) -> tuple:
        return parse_version(self.accelerate)

    def saves_step(self) -> bool:
        return self.acc >= parse_version(_table()["accelerate"]["saves_step_since"])

    def step_keyerror(self) -> bool:
        low, high = _table()["accelerate"]["step_keyerror"]
        return parse_version(low) <= self.acc < parse_version(high)

    def random_states_load_under_torch(self) -> bool:
        """Whether accelerate can load random_states_<rank>.pkl (numpy arrays) with this torch:
        torch < 2.6 loads anything; from 2.6 only accelerate >= 1.1 allows numpy's arrays."""
        table = _table()
        if parse_version(self.torch) < parse_version(table["torch"]["weights_only_default_since"]):
            return True
        return self.acc >= parse_version(table["accelerate"]["safe_globals_since"])

    def scheduler_every_batch(self) -> bool:
        return self.acc < parse_version(_table()["accelerate"]["scheduler_only_on_sync_since"])


def environment(sd_label: str, gui_version: str | None, accelerate: str | None = None,
                torch: str | None = None) -> Environment:
    """The accelerate and torch of the run: given, else the GUI release's pins, else what the
    sd-scripts version pins (accelerate) and recommends (torch)."""
    table = _table()["environment"]
    rows = table["gui"] if gui_version else table["sd_scripts"]
    key = version_key(gui_version or sd_label)
    chosen = rows[0]
    for row in rows:
        if version_key(row["since"]) <= key:
            chosen = row
    where = f"GUI {gui_version}'s pins" if gui_version else f"sd-scripts {sd_label}'s requirements"
    parts = []
    acc = accelerate or chosen["accelerate"]
    tor = torch or chosen["torch"]
    parts.append(f"accelerate {acc} ({'--accelerate' if accelerate else where})")
    parts.append(f"torch {tor} ({'--torch' if torch else where if gui_version else 'recommended by its README'})")
    return Environment(accelerate=acc, torch=tor, source=", ".join(parts))


def accelerate_cite(key: str) -> str:
    return _table()["accelerate"][key]
