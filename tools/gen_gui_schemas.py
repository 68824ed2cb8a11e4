#!/usr/bin/env python3
"""Generate the kohya_ss GUI JSON Schemas and the linter's key data file.

Input: the key inventory ``kohya-gui-keys.json`` (shape
``{version: {gui_tab: {key: {type, component, choices?, default?,
observed_types?, ...}}}}`` plus the ``_key_history``,
``_train_model_autosave_key_diff``, ``_toml_args_keys`` and
``_legacy_migrations_on_load`` sections).

Outputs (paths relative to the repository root unless --out-dir is given):

* ``schemas/gui-lora.schema.json``, ``schemas/gui-dreambooth.schema.json``,
  ``schemas/gui-finetune.schema.json``,
  ``schemas/gui-textual-inversion.schema.json``
* ``kohya_tune/versions/data/gui_keys.json``

Standard library only. The output is deterministic: same input, same bytes.

Usage::

    python tools/gen_gui_schemas.py [INVENTORY] [--out-dir DIR] [--check]

``--check`` writes nothing and exits 1 if a committed file differs from
what would be generated.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INVENTORY = REPO_ROOT / ".." / "shared" / "reference" / "kohya-gui-keys.json"

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "https://kohya-tune.invalid/schemas/"

# tab name in the inventory -> (file stem, human title)
TABS: dict[str, tuple[str, str]] = {
    "lora": ("gui-lora", "LoRA"),
    "dreambooth": ("gui-dreambooth", "DreamBooth"),
    "finetune": ("gui-finetune", "Fine-tune"),
    "textual_inversion": ("gui-textual-inversion", "Textual inversion"),
}

# Keys that were renamed. Old name -> new name. Verified against the
# inventory in build(): every old key must either be a removed key of
# _key_history, a train_model autosave name, or a LEGACY_EXTRA_KEYS entry.
RENAMED: dict[str, str] = {
    "lora_network_weights": "network_weights",
    "use_wandb": "log_with",
    "conv_dims": "conv_block_dims",
    "conv_alphas": "conv_block_alphas",
    "use_8bit_adam": "optimizer",
    "stop_text_encoder_training_pct": "stop_text_encoder_training",
    "generate_caption_database": "create_caption",
    "generate_image_buckets": "create_buckets",
}

# What happens to a renamed key when an old file is loaded.
RENAME_NOTES: dict[str, str] = {
    "lora_network_weights": "migrated to network_weights on load since v24.0.6; ignored before",
    "use_wandb": 'migrated to log_with="wandb" on load since v24.0.5 (only the string "True")',
    "conv_dims": "ignored on load since v21.8.4",
    "conv_alphas": "ignored on load since v21.8.4",
    "use_8bit_adam": "used on load only to derive a missing optimizer (AdamW8bit if true, else AdamW)",
    "stop_text_encoder_training_pct": "train_model autosave name; silently ignored on load",
    "generate_caption_database": "train_model autosave name; silently ignored on load",
    "generate_image_buckets": "train_model autosave name; silently ignored on load",
}

# Keys that no inventoried version saves but that real files hold and that
# update_my_data() still reads. Written before v21.5.11 (the oldest version of
# the inventory), so the exact tags are unknown.
LEGACY_EXTRA_KEYS: dict[str, dict[str, Any]] = {
    "use_8bit_adam": {
        "component": "Checkbox",
        "type": "boolean",
        "observed_types": ["boolean"],
        "added": None,
        "removed": "<=v21.5.11",
        "tabs": ["lora", "dreambooth", "finetune", "textual_inversion"],
    },
}

# Numeric keys that update_my_data() coerces on load with an int()/float()
# fallback for invalid or falsy values ("" included); see
# _legacy_migrations_on_load. They accept "" in the schema.
COERCED_ON_LOAD = {
    "adaptive_noise_scale",
    "caption_dropout_every_n_epochs",
    "clip_skip",
    "epoch",
    "gradient_accumulation_steps",
    "keep_tokens",
    "learning_rate",
    "lr_scheduler_num_cycles",
    "lr_scheduler_power",
    "lr_warmup",
    "max_data_loader_n_workers",
    "max_token_length",
    "max_train_epochs",
    "max_train_steps",
    "noise_offset",
    "save_every_n_epochs",
    "seed",
    "text_encoder_lr",
    "unet_lr",
}

# A string that Python's int()/float() turns into a number (the GUI's own
# coercion), or "" where allowed.
NUMERIC_STRING = r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?"

# Short hand-written explanations for the keys that matter most to the
# linter. Everything else gets a generated description (widget, default).
KEY_NOTES: dict[str, str] = {
    "LoRA_type": "network kind (Standard, LyCORIS/*, Kohya *, Flux1, ...); \"LoCon\" is migrated to \"LyCORIS/LoCon\" on load",
    "LyCORIS_preset": "LyCORIS module preset name, or (v24+) a path to a custom preset TOML",
    "caption_extension": "extension of the caption files; a free Textbox up to v22 (\"\" means sd-scripts' .caption), a dropdown since v23",
    "clip_skip": "number of last text-encoder layers to skip; old Gradio 3 files hold it as a string (\"1\")",
    "dataset_config": "path of an sd-scripts dataset_config TOML (v23.0.15+); when set the GUI does not count images or compute steps",
    "dataset_repeats": "fine-tune: how many times each image is repeated per epoch (Textbox, string)",
    "epoch": "number of epochs used by the GUI's own max_train_steps formula; not an sd-scripts argument",
    "flip_aug": "random horizontal flip; the fine-tune GUI halves its step count (ceil) when this is on",
    "gradient_accumulation_steps": "divisor in the GUI step formula",
    "image_folder": "fine-tune: folder whose images are counted directly (no repeat subfolders)",
    "init_word": "textual inversion: word used to initialise the new token embedding",
    "keep_tokens": "number of leading caption tokens kept in place when shuffling",
    "learning_rate": "base learning rate; coerced with float() on load",
    "log_with": "logger: \"\", wandb, tensorboard or all (replaces use_wandb in v24.0.5)",
    "lr_scheduler": "learning-rate scheduler name",
    "lr_scheduler_num_cycles": "cycles for cosine_with_restarts; a Textbox until v23 (\"\" falls back to epoch), a Number since v24",
    "lr_warmup": "warm-up as a percent of max_train_steps; v25+ sends it to sd-scripts as a ratio when lr_warmup_steps is 0",
    "lr_warmup_steps": "absolute warm-up steps (v25.0.0+); wins over lr_warmup when > 0",
    "max_data_loader_n_workers": "DataLoader workers; a Textbox until v23, a Number since v24",
    "max_token_length": "text-encoder token length; string choices \"75\"/\"150\"/\"225\" until v23, integers since v24",
    "max_train_epochs": "sd-scripts max_train_epochs; when > 0 it overrides max_train_steps",
    "max_train_steps": "explicit step count; \"\" or 0 lets the GUI compute it from epochs; a Number defaulting to 1600 since v24.0.5",
    "model_list": "model preset picker; always forced to \"custom\" on load",
    "network_alpha": "LoRA alpha (scales the learned weights by alpha/dim)",
    "network_dim": "LoRA rank",
    "network_weights": "path of LoRA weights to continue training from (was lora_network_weights)",
    "noise_offset": "noise offset strength; coerced with float() on load",
    "num_processes": "accelerate processes; sd-scripts multiplies warm-up ratios by it",
    "num_vectors_per_token": "textual inversion: vectors per new token",
    "optimizer": "optimizer class name; derived from use_8bit_adam when missing",
    "output_dir": "folder for the trained model and the train-time autosaved JSON/TOML",
    "output_name": "base name of the trained model file",
    "reg_data_dir": "regularisation images folder; when non-empty the GUI doubles the step count (never scanned)",
    "save_as_bool": "leaked hidden Save/Save-as flag (v23.1.5+); written but never read back",
    "save_every_n_epochs": "save a checkpoint every N epochs",
    "save_model_as": "output format; LoRA/TI files with anything but safetensors/ckpt are reset to safetensors on load",
    "seed": "random seed; a Textbox (string) until v23, a Number since v24",
    "stop_text_encoder_training": "percent of steps after which the text encoder stops training; ignored for LoRA, sent raw as steps by DreamBooth v24+",
    "template": "textual inversion: caption template (caption, object template, style template)",
    "token_string": "textual inversion: the new token",
    "train_batch_size": "batch size; divisor in the GUI step formula",
    "train_data_dir": "image folder whose N_name subfolders (N = repeats) are counted by the GUI",
    "train_dir": "fine-tune: folder for the metadata/latents (the reg/config dir widget)",
    "unet_lr": "U-Net learning rate; coerced with float() on load",
    "text_encoder_lr": "text-encoder learning rate; coerced with float() on load",
    "use_8bit_adam": "pre-v21.5.11 boolean replaced by the optimizer dropdown",
    "xformers": "cross-attention: a Checkbox (boolean) up to v21.8.4, a none/sdpa/xformers dropdown since v21.8.6; booleans are migrated on load since v22.6.1",
}

TYPE_ORDER = ["boolean", "integer", "null", "number", "string"]


# ---------------------------------------------------------------- helpers


class Versioning:
    """Orders tags such as "v23.0.15", "<=v21.5.11" and "master"."""

    def __init__(self, tags: list[str]):
        self.index = {t: i for i, t in enumerate(tags)}

    def pos(self, tag: str) -> int:
        return self.index[tag[2:] if tag.startswith("<=") else tag]

    def prev(self, tag: str) -> str:
        tags = list(self.index)
        return tags[self.pos(tag) - 1]


def _sorted_types(types: set[str]) -> list[str]:
    return [t for t in TYPE_ORDER if t in types]


def _widget_words(entry: dict[str, Any]) -> str:
    comp = entry.get("component")
    if comp is None:
        return "Hidden value"
    if comp == "Slider" and entry.get("integer_valued"):
        return "Slider (whole numbers)"
    if comp == "Number" and entry.get("precision") == 0:
        return "Number (integer)"
    return str(comp)


def _short_json(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ------------------------------------------------------------ key records


def collect_records(inv: dict[str, Any]) -> tuple[list[str], dict[str, dict[str, dict[str, Any]]]]:
    """Return (version labels, {tab: {key: record}}) with one merged record per key."""
    versions = list(inv["_meta"]["versions"])
    history = inv["_key_history"]
    ver = Versioning(history["tags_scanned"])
    autosave = inv["_train_model_autosave_key_diff"]

    for old, new in RENAMED.items():
        known = old in LEGACY_EXTRA_KEYS or any(
            old in history[t] for t in TABS
        ) or any(
            isinstance(autosave.get(v), dict)
            and old in autosave[v].get(t, {}).get("only_in_train_model_autosave", [])
            for v in versions
            for t in TABS
        )
        if not known:
            raise SystemExit(f"RENAMED lists {old!r}, which the inventory does not know")

    out: dict[str, dict[str, dict[str, Any]]] = {}
    for tab in TABS:
        records: dict[str, dict[str, Any]] = {}
        saved_keys = sorted({k for v in versions for k in inv[v][tab]})
        for key in saved_keys:
            entries = [(v, inv[v][tab][key]) for v in versions if key in inv[v][tab]]
            hist = history[tab][key]
            records[key] = {
                "entries": entries,
                "added": hist["first"],
                "removed": hist.get("removed_in"),
                "autosave_only": False,
                "present_in": [v for v, _ in entries],
                "autosave_in": [],
            }

        # train_model autosave names: same widget as their Save-button twin.
        autosave_versions: dict[str, list[str]] = {}
        for v in versions:
            diff = autosave.get(v)
            if not isinstance(diff, dict):
                continue
            for key in diff.get(tab, {}).get("only_in_train_model_autosave", []):
                autosave_versions.setdefault(key, []).append(v)
        for key, seen in sorted(autosave_versions.items()):
            twin = RENAMED.get(key)
            if twin is None:
                raise SystemExit(f"autosave key {key!r} ({tab}) has no entry in RENAMED")
            if key in records:
                records[key]["autosave_in"] = seen
                continue
            entries = [(v, inv[v][tab][twin]) for v in seen if twin in inv[v][tab]]
            last = seen[-1]
            removed = None
            if last != versions[-1]:
                # first sampled version without it; the real tag is at or before
                removed = "<=" + versions[versions.index(last) + 1]
            records[key] = {
                "entries": entries,
                # the sampled versions start with v21.5.11, which has no autosave
                "added": "<=" + seen[0],
                "removed": removed,
                "autosave_only": True,
                "present_in": [],
                "autosave_in": seen,
            }

        for key, extra in LEGACY_EXTRA_KEYS.items():
            if tab not in extra["tabs"] or key in records:
                continue
            entry = {k: extra[k] for k in ("component", "type", "observed_types")}
            records[key] = {
                "entries": [("<v21.5.11", entry)],
                "added": extra["added"],
                "removed": extra["removed"],
                "autosave_only": False,
                "present_in": [],
                "autosave_in": [],
            }
        out[tab] = records
    # sanity: version ordering of history tags must know every tag we use
    for tab, records in out.items():
        for key, rec in records.items():
            for tag in (rec["added"], rec["removed"]):
                if tag is not None:
                    ver.pos(tag)
    return versions, out


def analyse(key: str, rec: dict[str, Any], tab: str) -> dict[str, Any]:
    """Derive types, choices and defaults for one key of one tab."""
    entries = rec["entries"]
    newest = entries[-1][1]
    canonical = newest["type"]
    seen: set[str] = set()
    for _, e in entries:
        seen.add(e["type"])
        seen.update(e.get("observed_types", []))
    accepted = set(seen)
    numeric = canonical in ("integer", "number")
    allow_empty = False
    if numeric:
        # Rule of the reference: every numeric key accepts a numeric string.
        accepted.add("string")
        allow_empty = key in COERCED_ON_LOAD or any(e["type"] == "string" for _, e in entries)
    if "number" in accepted:
        accepted.discard("integer")
    if canonical == "integer" and "number" in accepted:
        legacy = accepted - {"integer"}
    else:
        legacy = accepted - {canonical}
    choices = newest.get("choices")
    allow_custom = True
    if choices is not None:
        allow_custom = bool(newest.get("allow_custom_value", False))
    defaults = {v: e["default"] for v, e in entries if "default" in e and not v.startswith("<")}
    miswired = [
        {"version": v, "wired_from": e["wired_from"]}
        for v, e in entries
        if v.startswith("v25.") and "wired_from" in e
        and not key.endswith(e["wired_from"].rsplit(".", 1)[-1])
    ]
    return {
        "canonical": canonical,
        "accepted": _sorted_types(accepted),
        "legacy": _sorted_types(legacy),
        "numeric_string": numeric,
        "allow_empty_string": allow_empty,
        "choices": choices,
        "allow_custom": allow_custom,
        "choices_dynamic": bool(newest.get("choices_dynamic")),
        "integer_valued": bool(newest.get("integer_valued")),
        "component": newest.get("component"),
        "has_default": "default" in newest,
        "default": newest.get("default"),
        "defaults": defaults,
        "minimum": newest.get("minimum"),
        "maximum": newest.get("maximum"),
        "miswired": miswired,
        "note": newest.get("note"),
        "newest": newest,
    }


def describe(key: str, rec: dict[str, Any], info: dict[str, Any], versions: list[str]) -> str:
    parts = []
    widget = _widget_words(info["newest"])
    kind = info["canonical"]
    head = f"{widget}; {kind}"
    if info["has_default"]:
        head += f", default {_short_json(info['default'])}"
    parts.append(head + ".")
    if key in KEY_NOTES:
        parts.append(KEY_NOTES[key][0].upper() + KEY_NOTES[key][1:] + ".")
    elif info["note"]:
        parts.append(info["note"][0].upper() + info["note"][1:] + ".")
    if info["choices_dynamic"]:
        parts.append("Path picker: any string.")
    if rec["autosave_only"]:
        parts.append(
            "Written only by the train-time autosave (<output_name>_<timestamp>.json), "
            f"never by Save; seen in {', '.join(rec['autosave_in'])}."
        )
    elif rec["present_in"]:
        span = rec["present_in"]
        parts.append(f"Saved by {span[0]}" + (f"..{span[-1]}" if len(span) > 1 else "") + ".")
    if key in RENAMED:
        parts.append(f"Legacy: renamed to {RENAMED[key]}; {RENAME_NOTES[key]}.")
    elif rec["removed"]:
        parts.append(f"Legacy: removed in {rec['removed']}; ignored on load by newer versions.")
    if info["legacy"]:
        parts.append("Also accepts legacy " + "/".join(info["legacy"]) + " values.")
    if info["miswired"]:
        parts.append(
            "v25.x fine-tune wiring bug: the saved value comes from another widget "
            f"({info['miswired'][0]['wired_from']})."
        )
    return " ".join(parts)


def property_schema(key: str, rec: dict[str, Any], info: dict[str, Any], versions: list[str]) -> dict[str, Any]:
    types = info["accepted"]
    prop: dict[str, Any] = {"type": types[0] if len(types) == 1 else types}
    if info["numeric_string"]:
        body = NUMERIC_STRING
        prop["pattern"] = f"^(\\s*{body}\\s*)?$" if info["allow_empty_string"] else f"^\\s*{body}\\s*$"
    prop["description"] = describe(key, rec, info, versions)
    if info["has_default"]:
        prop["default"] = info["default"]
    prop["x-kohya-type"] = info["canonical"]
    if info["choices"] is not None:
        prop["x-kohya-choices"] = info["choices"]
    prop["x-kohya-allow-custom"] = info["allow_custom"]
    prop["x-kohya-added"] = rec["added"]
    prop["x-kohya-removed"] = rec["removed"]
    if key in RENAMED:
        prop["x-kohya-renamed-to"] = RENAMED[key]
    prop["x-kohya-legacy-types"] = info["legacy"]
    prop["x-kohya-present-in"] = rec["present_in"]
    if rec["autosave_only"] or rec["autosave_in"]:
        prop["x-kohya-autosave-in"] = rec["autosave_in"]
    if info["integer_valued"]:
        prop["x-kohya-integer-valued"] = True
    if isinstance(info["minimum"], (int, float)) and not isinstance(info["minimum"], bool):
        prop["x-kohya-minimum"] = info["minimum"]
    if isinstance(info["maximum"], (int, float)) and not isinstance(info["maximum"], bool):
        prop["x-kohya-maximum"] = info["maximum"]
    if info["miswired"]:
        prop["x-kohya-miswired"] = info["miswired"]
    return prop


# The editor hint `"$schema": "<url>"` (VS Code, Taplo). No GUI release reads it: each one's
# open_configuration takes `my_data.get(key)` for its own parameters only (kohya_ss master
# kohya_gui/lora_gui.py:800-804, v21.5.0 lora_gui.py:274-277; no release iterates over the loaded
# keys), and Save writes only the parameters back (master common_gui.py:1449 SaveConfigFile), so
# the key is dropped on the GUI's next save.
SCHEMA_KEY = {
    "type": "string",
    "description": ("Editor hint naming this file's JSON Schema (VS Code, Taplo). The kohya_ss GUI "
                    "ignores it when loading and does not write it back when it saves the file: "
                    "`kohya-tune schemas --editor vscode DIR` sets the schema outside the file instead."),
}


def build_schema(tab: str, records: dict[str, dict[str, Any]], versions: list[str]) -> dict[str, Any]:
    stem, title = TABS[tab]
    props = {}
    for key in sorted(records):
        rec = records[key]
        props[key] = property_schema(key, rec, analyse(key, rec, tab), versions)
    props = {"$schema": SCHEMA_KEY, **props}
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": f"{ID_BASE}{stem}.schema.json",
        "title": f"kohya_ss GUI {title} configuration",
        "description": (
            f"A JSON file written by the {title} tab of the kohya_ss GUI (Save, Save as, or the "
            f"train-time autosave), any version from {versions[0]} to {versions[-1]}. Properties are "
            "the union of every key those versions saved, plus train_model autosave names and known "
            "legacy keys. Types accept every JSON type real versions wrote (numbers as strings, "
            "boolean xformers, ...); x-kohya-type is the newest canonical type. Unknown keys fail "
            "additionalProperties: the GUI silently ignores them, so linters should report them as "
            "warnings. Generated by tools/gen_gui_schemas.py; do not edit."
        ),
        "type": "object",
        "additionalProperties": False,
        "properties": props,
    }


# ---------------------------------------------------------- fingerprints


def build_fingerprints(inv: dict[str, Any], records: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Version-detection rules. A file saved by the GUI satisfies every rule
    that matches it; the saving version lies in the intersection of the
    [min_version, max_version] ranges. Versions are tags of ``tag_order``
    ("<=vX" means "vX or earlier")."""
    history = inv["_key_history"]
    ver = Versioning(history["tags_scanned"])
    all_tabs = list(TABS)
    rules: list[dict[str, Any]] = []

    def add(rule: dict[str, Any]) -> None:
        rules.append(rule)

    # 1. The reference's linter checklist (hand-checked, high confidence).
    checklist = [
        ("key", "save_as_bool", "present", "min_version", "v23.1.5",
         "save_as_bool leaks into Save/Save-as output from v23.1.5 on (not written by the train-time autosave)"),
        ("key", "lr_warmup_steps", "present", "min_version", "v25.0.0",
         "absolute lr_warmup_steps key added in v25.0.0"),
        ("key", "network_weights", "present", "min_version", "v24.0.6",
         "lora_network_weights was renamed to network_weights in v24.0.6"),
        ("key", "lora_network_weights", "present", "max_version", "v24.0.5",
         "last saved by v24.0.5; v24.0.6+ migrates it to network_weights (stale keys survive hand edits)"),
        ("key", "dataset_config", "present", "min_version", "v23.0.15",
         "dataset_config added in v23.0.15"),
        ("key", "max_token_length", "type:integer", "min_version", "v24.0.0",
         "max_token_length choices became integers in v24.0.0"),
        ("key_prefix", "anima_", "present", "min_version", "v26.0.0", "Anima keys added in v26.0.0"),
        ("key_prefix", "lumina_", "present", "min_version", "v26.0.0", "Lumina keys added in v26.0.0"),
    ]
    covered = set()
    covered_prefixes: list[str] = []
    for kind, name, cond, bound, tag, why in checklist:
        tabs = [t for t in all_tabs if any(
            (k == name if kind == "key" else k.startswith(name)) for k in records[t])]
        add({kind: name, "condition": cond, bound: tag, "tabs": tabs, "why": why,
             "confidence": "high" if bound == "min_version" else "medium",
             "source": "reference checklist"})
        covered.add((name, cond))
        if kind == "key_prefix":
            covered_prefixes.append(name)

    # 2. Other family prefixes whose keys all arrived in one release.
    for prefix in ["hunyuan_", "flux1_", "sd3_", "loraplus_", "ggpo_", "huggingface_",
                   "metadata_", "dynamo_", "log_tracker_", "ip_noise_gamma"]:
        firsts = {history[t][k]["first"] for t in all_tabs for k in history[t] if k.startswith(prefix)}
        if not firsts or any(f.startswith("<=") for f in firsts):
            continue
        tag = min(firsts, key=ver.pos)
        tabs = [t for t in all_tabs if any(k.startswith(prefix) for k in history[t])]
        add({"key_prefix": prefix, "condition": "present", "min_version": tag, "tabs": tabs,
             "why": f"all {prefix}* keys were added in {tag} or later", "confidence": "high",
             "source": "_key_history"})
        covered_prefixes.append(prefix)

    # 3. Type switches (a file re-saved by a newer GUI gets the new type;
    #    files never re-saved keep the old one, hence medium confidence for
    #    the "old type" direction).
    add({"key": "xformers", "condition": "type:boolean", "max_version": "v22.6.0", "tabs": all_tabs,
         "why": "xformers was a Checkbox up to v21.8.4; v21.8.6..v22.6.0 loaded booleans unconverted "
                "and could write them back; v22.6.1+ converts them on load",
         "confidence": "medium", "source": "reference"})
    add({"key": "xformers", "condition": "type:string", "min_version": "v21.8.6", "tabs": all_tabs,
         "why": "xformers became a none/sdpa/xformers dropdown in v21.8.6", "confidence": "high",
         "source": "reference"})
    add({"key": "max_token_length", "condition": "type:string", "max_version": "v23.1.5", "tabs": all_tabs,
         "why": "string choices \"75\"/\"150\"/\"225\" until v23; files not re-saved keep the string",
         "confidence": "medium", "source": "reference"})
    for key in ["seed", "max_train_epochs", "max_train_steps", "max_data_loader_n_workers",
                "lr_scheduler_num_cycles", "lr_scheduler_power"]:
        tabs = [t for t in all_tabs if key in records[t]]
        add({"key": key, "condition": "type:number", "min_version": "v24.0.0", "tabs": tabs,
             "why": f"{key} was a Textbox (string) up to v23.1.5 and a Number since v24.0.0",
             "confidence": "high", "source": "reference"})
        add({"key": key, "condition": "type:string", "max_version": "v23.1.5", "tabs": tabs,
             "why": f"{key} was a Textbox (string) up to v23.1.5",
             "confidence": "medium", "source": "reference"})
        covered.add((key, "type"))

    # 4. Every other key that appeared after v21.5.11 or disappeared later,
    #    per tab (the same key may arrive in different releases per tab).
    grouped: dict[tuple[str, str, str, str], list[str]] = {}
    for tab in all_tabs:
        for key, hist in history[tab].items():
            if (key, "present") in covered or any(key.startswith(p) for p in covered_prefixes):
                continue
            if not hist["first"].startswith("<="):
                grouped.setdefault((key, "min_version", hist["first"], "added"), []).append(tab)
            if "last" in hist:
                grouped.setdefault((key, "max_version", hist["last"], "removed"), []).append(tab)
    for (key, bound, tag, what), tabs in sorted(grouped.items(), key=lambda x: (x[0][0], x[0][1], ver.pos(x[0][2]))):
        if what == "added":
            why = f"added to Save in {tag}"
        else:
            why = f"last saved in {tag}"
        if (key, "present") in covered:
            continue
        # A key can only appear once it exists (high confidence), but a stale
        # removed key survives in hand-edited presets (medium confidence).
        add({"key": key, "condition": "present", bound: tag, "tabs": tabs, "why": why,
             "confidence": "high" if bound == "min_version" else "medium",
             "source": "_key_history"})

    # 5. Train-time autosave names.
    for tab in all_tabs:
        for key, rec in sorted(records[tab].items()):
            if rec["autosave_only"]:
                bounds = {"min_version": "v21.8.0"}
                if rec["removed"]:
                    # absent from the sampled version rec["removed"] ("<=vX"),
                    # so the last tag that can have it is the one before vX
                    bounds["max_version"] = ver.prev(rec["removed"])
                add({"key": key, "condition": "present", **bounds, "tabs": [tab],
                     "why": "train_model autosave name (the autosave exists since v21.8.0); "
                            "the file is an autosave, not a Save-button file",
                     "confidence": "high" if not rec["removed"] else "medium",
                     "source": "_train_model_autosave_key_diff"})
    return rules


def build_tab_markers(records: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    keysets = {t: set(records[t]) for t in TABS}
    unique = {
        t: sorted(keysets[t] - set().union(*(keysets[o] for o in TABS if o != t)))
        for t in TABS
    }
    primary = {
        "lora": ["LoRA_type", "network_dim"],
        "finetune": ["image_folder", "train_dir", "dataset_repeats", "caption_metadata_filename"],
        "textual_inversion": ["token_string", "init_word", "num_vectors_per_token", "template"],
    }
    # DreamBooth has no key of its own: it is what remains when no other
    # tab's unique key is present and a DreamBooth-compatible key is.
    db_hint = sorted(
        k for k in keysets["dreambooth"]
        if k not in keysets["textual_inversion"] and k not in keysets["lora"]
    )
    db_hint_no_ft = sorted(k for k in keysets["dreambooth"] if k not in keysets["finetune"])
    markers = []
    for tab in TABS:
        entry: dict[str, Any] = {"tab": tab}
        if tab == "dreambooth":
            entry["primary_keys"] = ["learning_rate_te", "learning_rate_te1", "learning_rate_te2"]
            entry["unique_keys"] = unique[tab]
            entry["hint_keys_not_in_lora_or_ti"] = db_hint
            entry["hint_keys_not_in_finetune"] = db_hint_no_ft
            entry["rule"] = (
                "no key of its own: choose DreamBooth when none of the other tabs' unique_keys is "
                "present and (a key of hint_keys_not_in_lora_or_ti, e.g. learning_rate_te*, or a key "
                "of hint_keys_not_in_finetune, e.g. train_data_dir) is present"
            )
        else:
            entry["primary_keys"] = [k for k in primary[tab] if k in keysets[tab]]
            entry["unique_keys"] = unique[tab]
            entry["rule"] = "any unique_keys present identifies this tab"
        markers.append(entry)
    return markers


def build_gui_keys(inv: dict[str, Any], versions: list[str], records: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    tabs_out: dict[str, Any] = {}
    for tab in TABS:
        out = {}
        for key in sorted(records[tab]):
            rec = records[tab][key]
            info = analyse(key, rec, tab)
            item = {
                "added": rec["added"],
                "removed": rec["removed"],
                "type": info["canonical"],
                "accepted_types": info["accepted"],
                "legacy_types": info["legacy"],
                "numeric_string": info["numeric_string"],
                "allow_empty_string": info["allow_empty_string"],
                "integer_valued": info["integer_valued"],
                "component": info["component"],
                "choices": info["choices"],
                "allow_custom": info["allow_custom"],
                "default_by_version": info["defaults"],
                "present_in": rec["present_in"],
            }
            if rec["autosave_in"]:
                item["autosave_in"] = rec["autosave_in"]
            if rec["autosave_only"]:
                item["autosave_only"] = True
            if info["miswired"]:
                item["miswired"] = info["miswired"]
            out[key] = item
        tabs_out[tab] = out
    return {
        "_doc": (
            "Generated by tools/gen_gui_schemas.py from kohya-gui-keys.json; do not edit. "
            "Tags are kohya_ss release tags; '<=vX' means 'vX or earlier'; tag_order orders them. "
            "present_in lists the inventoried versions whose Save writes the key. "
            "fingerprints: every rule whose condition holds for a file (and whose tabs include the "
            "file's tab) bounds the saving version to [min_version, max_version]. If the bounds "
            "conflict, trust min_version rules: a key cannot predate its release, but presets in the "
            "kohya_ss repo were hand-edited and keep stale removed keys and old value types "
            "(max_version rules are 'medium' confidence for that reason)."
        ),
        "versions": versions,
        "tag_order": inv["_key_history"]["tags_scanned"],
        "tabs": tabs_out,
        "renamed": dict(sorted(RENAMED.items())),
        "fingerprints": build_fingerprints(inv, records),
        "tab_markers": build_tab_markers(records),
    }


# -------------------------------------------------------------------- main


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render(inv: dict[str, Any]) -> dict[str, str]:
    """Return {relative path: file text}."""
    versions, records = collect_records(inv)
    files = {}
    for tab, (stem, _) in TABS.items():
        files[f"schemas/{stem}.schema.json"] = dump(build_schema(tab, records[tab], versions))
    files["kohya_tune/versions/data/gui_keys.json"] = dump_compact(build_gui_keys(inv, versions, records))
    return files


def dump_compact(data: dict[str, Any]) -> str:
    """Sorted JSON with one line per key record / fingerprint / marker, so the
    file stays small but diffs stay readable."""

    def one(obj: Any) -> str:
        return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    lines = ["{"]
    top = sorted(data)
    for i, name in enumerate(top):
        value = data[name]
        comma = "," if i < len(top) - 1 else ""
        if name == "tabs":
            lines.append(f' {one(name)}:{{')
            tabs = sorted(value)
            for j, tab in enumerate(tabs):
                lines.append(f'  {one(tab)}:{{')
                keys = sorted(value[tab])
                for k, key in enumerate(keys):
                    sep = "," if k < len(keys) - 1 else ""
                    lines.append(f"   {one(key)}:{one(value[tab][key])}{sep}")
                lines.append("  }" + ("," if j < len(tabs) - 1 else ""))
            lines.append(" }" + comma)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f" {one(name)}:[")
            for k, item in enumerate(value):
                lines.append(f"  {one(item)}" + ("," if k < len(value) - 1 else ""))
            lines.append(" ]" + comma)
        else:
            lines.append(f" {one(name)}:{one(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("inventory", nargs="?", default=str(DEFAULT_INVENTORY),
                    help="path of kohya-gui-keys.json (default: ../shared/reference/kohya-gui-keys.json)")
    ap.add_argument("--out-dir", default=str(REPO_ROOT), help="root to write into (default: repo root)")
    ap.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on difference")
    args = ap.parse_args(argv)

    with open(args.inventory, encoding="utf-8") as fh:
        inv = json.load(fh)
    files = render(inv)
    root = Path(args.out_dir)
    stale = []
    for rel, text in sorted(files.items()):
        path = root / rel
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {rel}")
    if stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
