"""Versions as data: sd-scripts profiles, trainer scripts, GUI key inventory and fingerprints.

Everything version-dependent is read from the JSON files in ``kohya_tune/versions/data``; the code here
only looks values up, so a new version is a data change.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=None)
def load_data(name: str) -> dict:
    with resources.files("kohya_tune.versions").joinpath("data", name).open("r", encoding="utf-8") as fh:
        return json.load(fh)


def version_key(label: str) -> tuple:
    """Sort key of "v0.10.1", "v24.1.7", "master" (newest)."""
    if label in ("master", "main", "HEAD", "newest", "latest"):
        return (10 ** 6,)
    nums = [int(n) for n in re.findall(r"\d+", label)] or [0]
    # "v0.9" is v0.9.0 (a tag between v0.8.8 and v0.9.0 does not exist)
    return tuple(nums + [0] * (3 - len(nums)))


def nearest_at_or_below(label: str, ordered: list[str]) -> str | None:
    key = version_key(label)
    best = None
    for candidate in ordered:
        if version_key(candidate) <= key:
            best = candidate
    return best


# --------------------------------------------------------------------------------------------
# sd-scripts

class UnknownVersion(ValueError):
    pass


@dataclass(frozen=True)
class SdScripts:
    label: str               # the version the user asked for (or the default)
    profile: str             # the profile that describes it
    data: dict               # merged switches

    def get(self, key, default=None):
        return self.data.get(key, default)

    @property
    def image_extensions(self) -> list[str]:
        return list(self.data["image_extensions"])

    @property
    def scripts(self) -> list[str]:
        return list(self.data["scripts"])

    def has_validation_split(self) -> bool:
        return bool(self.data.get("validation_split"))

    def rounds_min_max(self) -> bool:
        return bool(self.data.get("round_min_max_bucket_reso"))



def sd_scripts(label: str | None) -> SdScripts:
    table = load_data("sd_scripts_profiles.json")
    order = table["order"]
    if not label:
        label = table["default"]
    if not re.fullmatch(r"v?\d+(\.\d+){0,2}|master|main|HEAD|latest|newest", label):
        raise UnknownVersion(f"unknown sd-scripts version {label!r}: use a tag such as v0.6.5 or v0.10.1")
    if not label.startswith("v") and label[0].isdigit():
        label = "v" + label
    if label.startswith("v") and version_key(label)[0] != 0:
        raise UnknownVersion(f"unknown sd-scripts version {label!r}: sd-scripts tags are v0.x.y "
                             f"(profiles {order[0]} to {order[-1]})")
    profile = nearest_at_or_below(label, order)
    if profile is None and label in gui_bundled_tags():
        # a tag kohya-tune itself names for an old GUI release's bundled copy (GUI v21.5-v21.8:
        # v0.5.3-v0.6.4): it has no profile of its own, the oldest one stands for it (as when
        # the GUI JSON names it), so `--sd-scripts` accepts what the output says
        profile = order[0]
    if profile is None:
        raise UnknownVersion(f"sd-scripts {label} is older than the oldest profile ({order[0]}); "
                             f"kohya-tune knows {order[0]} and later")
    merged: dict = {}
    chain = []
    name = profile
    while name:
        chain.append(table["profiles"][name])
        name = table["profiles"][name].get("inherits")
    for part in reversed(chain):
        merged.update({k: v for k, v in part.items() if k != "inherits"})
    return SdScripts(label=label, profile=profile, data=merged)


def gui_bundled_tags() -> set:
    """The sd-scripts tags the GUI releases run (gui_releases.json), as kohya-tune names them."""
    from kohya_tune.versions import gui_releases

    return {tag for tag in (gui_releases.sd_scripts_of(t).get("tag") for t in gui_releases.release_tags()) if tag}


def script_checks(sd: SdScripts, script: str) -> dict:
    """What `script` of this sd-scripts version checks before and after building its datasets
    (data: sd_scripts_profiles.json "script_checks"): {"before": [...], "after": [...]}, the
    entry of the newest tag at or below the version (the oldest entry for a script a GUI's
    bundled copy has before its first tag)."""
    table = load_data("sd_scripts_profiles.json")["script_checks"]
    commit = sd.get("bundle_commit")
    if commit:
        for group in table.get("bundled", {}).get("groups", []):
            if any(commit.startswith(c) or c.startswith(commit) for c in group["commits"]) \
                    and script in group["scripts"]:
                return dict(group["scripts"][script], te_to_disk=group.get("te_to_disk", True))
    entries = table["scripts"].get(script) or []
    if not entries:
        return {"before": [], "after": []}
    key = version_key(sd.label)
    chosen = entries[0]
    for entry in entries:
        if version_key(entry["since"]) <= key:
            chosen = entry
    return chosen


def check_message(name: str) -> str:
    """The trainer's text of a script check (sd_scripts_profiles.json script_checks.messages)."""
    return load_data("sd_scripts_profiles.json")["script_checks"]["messages"][name]


def paired_sd_scripts(gui_version: str) -> str | None:
    """The sd-scripts tag a GUI release runs (its bundled copy or submodule commit, mapped to the
    nearest sd-scripts tag at or below it; data: gui_releases.json)."""
    from kohya_tune.versions import gui_releases

    return gui_releases.sd_scripts_of(gui_version).get("tag")


def with_scripts(sd: SdScripts, scripts: list[str] | None, source: str,
                 commit: str | None = None) -> SdScripts:
    """The same profile with the training scripts a GUI release ships (a bundled copy between two
    tags can have scripts its tag-below lacks, e.g. the SDXL scripts of GUI v21.8); `commit`:
    that copy's commit, whose scripts may check less than the next tag (script_checks
    "bundled")."""
    if not scripts or set(scripts) <= set(sd.scripts):
        return sd
    data = dict(sd.data, scripts=sorted(set(sd.scripts) | set(scripts)), scripts_source=source,
                bundle_commit=commit)
    return SdScripts(label=sd.label, profile=sd.profile, data=data)


def all_scripts() -> set:
    """Every training script some sd-scripts profile has."""
    table = load_data("sd_scripts_profiles.json")
    out: set = set()
    for profile in table["profiles"].values():
        out |= set(profile.get("scripts", []))
    return out


# Trainer scripts: which dataset kinds their ConfigSanitizer accepts and which family they belong
# to (sd-scripts-steps.md §4b "Support flags by trainer" and §5 log lines).
SCRIPT_FAMILIES = {
    "train_network": "network", "sdxl_train_network": "network", "flux_train_network": "network",
    "sd3_train_network": "network", "lumina_train_network": "network",
    "anima_train_network": "network", "hunyuan_image_train_network": "network",
    "train_db": "db", "fine_tune": "ft", "sdxl_train": "big", "flux_train": "big",
    "sd3_train": "big", "lumina_train": "big", "anima_train": "big",
    "train_textual_inversion": "ti", "sdxl_train_textual_inversion": "ti",
    "train_textual_inversion_XTI": "ti",
    "train_control_net": "cn", "train_controlnet": "cn", "sdxl_train_control_net": "cn",
    "sdxl_train_control_net_lllite": "cn", "sdxl_train_control_net_lllite_old": "cn",
    "flux_train_control_net": "cn",
}

# ConfigSanitizer(dreambooth, finetuning, controlnet, dropout) per family
SANITIZER_SUPPORT = {
    "network": {"db": True, "ft": True, "dropout": True},
    "big": {"db": True, "ft": True, "dropout": True},
    "db": {"db": True, "ft": False, "dropout": True},
    "ft": {"db": False, "ft": True, "dropout": True},
    "ti": {"db": True, "ft": True, "dropout": False},
    "cn": {"db": False, "ft": False, "cn": True, "dropout": True},
}


def script_family(script: str) -> str:
    return SCRIPT_FAMILIES.get(script, "network")


# --------------------------------------------------------------------------------------------
# sd-scripts arguments (kohya_tune/versions/data/sd_scripts_args.json, generated by tools/)

def sd_scripts_args_profile(label: str | None = None) -> dict:
    """The argparse inventory (kohya_tune/versions/data/sd_scripts_args.json, generated by tools/) of the
    profile nearest at or below an sd-scripts version: {"scripts": {...}, "args": {...}}."""
    try:
        table = load_data("sd_scripts_args.json")
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    profiles = table.get("profiles", {})
    names = sorted(profiles, key=version_key)
    chosen = nearest_at_or_below(label or "v0.10.1", names) or (names[0] if names else None)
    return profiles.get(chosen, {}) if chosen else {}


def sd_scripts_args(profile: str = "v0.10.1") -> dict:
    return sd_scripts_args_profile(profile).get("args", {})


_ARG_MARKERS = {
    "pretrained_model_name_or_path", "output_dir", "output_name", "train_data_dir", "dataset_config",
    "learning_rate", "max_train_steps", "max_train_epochs", "train_batch_size", "network_module",
    "optimizer_type", "mixed_precision", "save_model_as", "resolution", "lr_scheduler",
    "network_dim", "logging_dir", "save_precision", "in_json", "reg_data_dir",
}


# sections of the GUI's own defaults file, `config example.toml` (kohya-gui-configs.md (a), "GUI
# defaults file"); a training config never has these tables
_GUI_DEFAULTS_SECTIONS = {"settings", "server", "model", "folders", "configuration",
                          "accelerate_launch", "basic", "advanced", "dataset_preparation",
                          "huggingface", "samples", "sdxl", "wd14_caption", "metadata"}


def looks_like_gui_defaults(data: dict) -> bool:
    tables = {k for k, v in data.items() if isinstance(v, dict)}
    return len(tables & _GUI_DEFAULTS_SECTIONS) >= 3 and tables <= _GUI_DEFAULTS_SECTIONS | {"kohya-tune"}


def looks_like_args(flat: dict, raw: dict) -> bool:
    """An sd-scripts --config_file TOML: its (flattened) keys are trainer argument names."""
    if not flat:
        return False
    known = set(sd_scripts_args()) or _ARG_MARKERS
    hits = sum(1 for key in flat if key in known or key in _ARG_MARKERS)
    return hits >= 1 and hits * 2 >= len(flat) or hits >= 5


# --------------------------------------------------------------------------------------------
# GUI key inventory (kohya_tune/versions/data/gui_keys.json, generated by tools/gen_gui_schemas.py)

GUI_TABS = ("lora", "dreambooth", "finetune", "textual_inversion")

# keys only one tab saves (kohya-gui-configs.md "Key families per GUI"); used before the
# inventory is consulted, so that a partial preset is still recognised
_TAB_MARKERS = {
    "lora": ("LoRA_type", "network_dim", "network_alpha", "LyCORIS_preset", "text_encoder_lr"),
    "textual_inversion": ("token_string", "init_word", "num_vectors_per_token", "template"),
    "finetune": ("image_folder", "train_dir", "dataset_repeats", "caption_metadata_filename",
                 "latent_metadata_filename", "create_caption", "create_buckets",
                 "generate_caption_database"),
    "dreambooth": ("learning_rate_te", "learning_rate_te1", "learning_rate_te2", "no_token_padding"),
}


def gui_inventory() -> dict:
    try:
        return load_data("gui_keys.json")
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def gui_tab_keys(tab: str) -> set:
    inv = gui_inventory()
    return set(inv.get("tabs", {}).get(tab, {}))


def guess_gui_tab(keys: set) -> tuple[str | None, float]:
    """Which GUI tab saved a JSON with these keys, or (None, 0) when it is no GUI config."""
    if not keys:
        return None, 0.0
    known_any = set()
    for tab in GUI_TABS:
        known_any |= gui_tab_keys(tab)
    if known_any:
        share = len(keys & known_any) / len(keys)
        if share < 0.5:
            return None, share
    else:
        share = 1.0
        if not keys & {"pretrained_model_name_or_path", "output_dir", "train_data_dir", "epoch",
                       "learning_rate", "optimizer", "save_model_as", "train_batch_size"}:
            return None, 0.0
    markers = {m["tab"]: m.get("unique_keys") or [] for m in gui_inventory().get("tab_markers", [])}
    for tab in ("lora", "textual_inversion", "finetune", "dreambooth"):
        if any(k in keys for k in _TAB_MARKERS[tab]) or any(k in keys for k in markers.get(tab, [])):
            return tab, share
    # no marker: the tab whose key set covers the file best (DreamBooth has no unique key left
    # in most versions, so it is the natural remainder)
    best, best_score = "dreambooth", -1.0
    for tab in GUI_TABS:
        tab_keys = gui_tab_keys(tab)
        if tab_keys:
            score = len(keys & tab_keys) / len(keys)
            if score > best_score + 1e-9:
                best, best_score = tab, score
    return best, share


def gui_versions() -> list[str]:
    inv = gui_inventory()
    return list(inv.get("versions") or ["v21.5.11", "v22.6.2", "v23.1.5", "v24.1.7", "v25.2.2",
                                         "v26.0.0", "master"])


def json_type(value) -> str:
    """The JSON Schema type name of a parsed value (a bool is not an integer)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "array" if isinstance(value, list) else "object"


def guess_gui_versions(data: dict, tab: str) -> tuple[tuple[str, str], list[str]]:
    """(oldest, newest) GUI version consistent with the keys and value types of a saved file,
    from the fingerprints in gui_keys.json, with the reason for each bound."""
    lo, hi = "v21.5.11", "master"
    reasons: list[str] = []
    for fp in gui_inventory().get("fingerprints", []):
        key = fp.get("key")
        prefix = fp.get("key_prefix")
        if key is not None:
            present = key in data
            value = data.get(key)
        else:
            matches = [k for k in data if k.startswith(prefix)]
            present = bool(matches)
            value = data[matches[0]] if matches else None
        cond = fp.get("condition", "present")
        if cond == "present":
            hit = present
        elif cond == "absent":
            hit = not present
        elif cond.startswith("type:"):
            wanted = cond[5:]
            actual = json_type(value) if present else None
            hit = present and (actual == wanted or (wanted == "number" and actual == "integer"))
        else:
            hit = False
        if not hit:
            continue
        tabs = fp.get("tabs")
        if tabs and tab not in tabs:
            continue
        if fp.get("min_version") and version_key(fp["min_version"]) > version_key(lo):
            lo = fp["min_version"]
            reasons.append(fp.get("why", f"{key or prefix}: {cond}"))
        if fp.get("max_version") and version_key(fp["max_version"]) < version_key(hi):
            hi = fp["max_version"]
            reasons.append(fp.get("why", f"{key or prefix}: {cond}"))
    if version_key(lo) > version_key(hi):
        reasons.append(f"conflicting markers ({lo} and later, {hi} and earlier): a hand-edited or "
                       f"mixed file")
        hi = lo
    return (lo, hi), reasons


# --------------------------------------------------------------------------------------------
# network modules (kohya_tune/versions/data/network_args.json, generated by
# tools/gen_network_args.py from each tag's networks/*.py)

def network_args_keys(sd: "SdScripts", module: str) -> list[str] | None:
    """The keys `module`'s create_network reads from --network_args in this sd-scripts version,
    or None for a module that is not part of sd-scripts (LyCORIS and other packages)."""
    tags = load_data("network_args.json")["tags"]
    label = nearest_at_or_below(sd.profile, list(tags)) or next(iter(tags))
    return tags[label].get(module)
