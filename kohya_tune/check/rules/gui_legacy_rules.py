"""KT4xx: GUI configs written by older kohya_ss versions (renamed and removed keys, legacy values).

What each kohya_ss version does with an old file comes from `update_my_data()` in the GUI's
common_gui.py (kohya-gui-configs.md (a)) and from the key inventory in data/gui_keys.json.
"""
from __future__ import annotations

import math

from kohya_tune.check.diagnostics import lit
from kohya_tune.versions import profiles
from kohya_tune.check.diagnostics import Fix
from kohya_tune.check.diagnostics import Edit
from kohya_tune.check.rules.base import Rule

GUI_KINDS = frozenset({"gui"})

# old key -> (new key, GUI version that renamed it (None: a train-time autosave name, never read
# by any version's loader), tabs it applies to (None: all))
RENAMES = {
    "lora_network_weights": ("network_weights", "v24.0.6", {"lora"}),
    "use_wandb": ("log_with", "v24.0.5", None),
    "conv_dims": ("conv_block_dims", "v21.8.4", {"lora"}),
    "conv_alphas": ("conv_block_alphas", "v21.8.4", {"lora"}),
    "stop_text_encoder_training_pct": ("stop_text_encoder_training", None,
                                       {"lora", "dreambooth", "textual_inversion"}),
    "generate_caption_database": ("create_caption", None, {"finetune"}),
    "generate_image_buckets": ("create_buckets", None, {"finetune"}),
}

# keys the GUI coerces with int()/float() on load from v24 on (update_my_data, v24.1.7..master),
# with the value an invalid entry becomes
_INT_ZERO = ("clip_skip", "epoch", "gradient_accumulation_steps", "keep_tokens", "lr_warmup",
             "max_data_loader_n_workers", "max_train_epochs", "save_every_n_epochs", "seed",
             "max_train_steps", "caption_dropout_every_n_epochs")
COERCE = {**{k: ("int", 0) for k in _INT_ZERO},
          "lr_scheduler_num_cycles": ("int", 1),
          "max_token_length": ("int", 75),
          "noise_offset": ("float", 0.0), "learning_rate": ("float", 0.0),
          "text_encoder_lr": ("float", 0.0), "unet_lr": ("float", 0.0),
          "adaptive_noise_scale": ("float", 0.0),
          "lr_scheduler_power": ("float", 1.0)}
# keys whose empty value does not mean the same as the fallback: `epoch` feeds the GUI's own
# step computation (0 epochs)
_EMPTY_MATTERS = {"epoch"}
# not yet coerced by v24.0.0 .. v24.0.x
_NOT_IN_V24_0 = {"clip_skip", "gradient_accumulation_steps", "caption_dropout_every_n_epochs"}


def _vk(label: str) -> tuple:
    return profiles.version_key(label.lstrip("<="))


def _given_version(ctx) -> str | None:
    return getattr(ctx.settings, "gui_version", None) or None


def _at_least(version: str | None, wanted: str) -> bool:
    return version is not None and _vk(version) >= _vk(wanted)


def unset(value) -> bool:
    """A value that means "not set" in a GUI config: an ignored key holding it changes nothing,
    because the widget it would have filled starts empty or off too."""
    return value is None or value is False or value == "" or value == [] or \
        (isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0)


def _sorted_keys(data: dict) -> bool:
    keys = list(data)
    return keys == sorted(keys)


def coerced_on_load(settings, key: str, value):
    """(kind, result, how) when GUI v24+ replaces this value on load by something the user did not
    write: a non-numeric string becomes the fallback, a fraction in an int key is truncated.
    None when the value survives (or the assumed GUI version does not coerce the key)."""
    if key not in COERCE or value is None or isinstance(value, bool):
        return None
    version = getattr(settings, "gui_version", None)
    if version is not None and not _at_least(version, "v24.0.0"):
        return None
    kind, fallback = COERCE[key]
    if version is not None and _vk(version) < _vk("v24.1.0") and key in _NOT_IN_V24_0:
        return None
    if key == "adaptive_noise_scale" and version is not None and _vk(version) < _vk("v25.0.0"):
        kind = "int"  # v24.x has it in the int() list: 0.005 becomes 0
    convert = int if kind == "int" else float
    if isinstance(value, str):
        if not value.strip() and key not in _EMPTY_MATTERS:
            # the empty Textbox of old GUIs meant "not set", and the fallback means the same
            # (the GUI leaves 0 out of the trainer's arguments, or it is the default anyway)
            return None
        try:
            convert(value)
        except ValueError:
            return kind, fallback, "invalid"
        return None
    if isinstance(value, float) and kind == "int":
        if not math.isfinite(value):
            return None
        result = int(value)
        if result != value:
            return kind, result, "truncated"
    return None


class RenamedGuiKey(Rule):
    """Renamed GUI key.

    kohya_ss renamed some keys over time, and the train-time autosave
    (`<output_name>_<date>.json`) writes a few keys under the name of `train_model`'s parameter
    instead of the name the *Load* button reads. A GUI that does not know the old name ignores it
    when it loads the file, so the setting silently falls back to whatever is on screen:

    - `lora_network_weights` -> `network_weights` (v24.0.6; later versions migrate it on load)
    - `use_wandb` -> `log_with` (v24.0.5; only the *string* `"True"` becomes `"wandb"`, a boolean
      `true` is dropped)
    - `conv_dims` / `conv_alphas` -> `conv_block_dims` / `conv_block_alphas` (v21.8.4)
    - autosave names: `stop_text_encoder_training_pct` -> `stop_text_encoder_training`,
      `generate_caption_database` -> `create_caption`, `generate_image_buckets` -> `create_buckets`

    `--fix` writes the value under the new name (at its sorted place when the file is sorted)
    and removes the old key, when the file does not have the new key yet.

    Bad:

        "stop_text_encoder_training_pct": 50,
        "use_wandb": true

    Fixed:

        "log_with": "wandb",
        "stop_text_encoder_training": 50
    """
    code = "KT401"
    name = "renamed-gui-key"
    severity = "warning"  # info when the old key holds an unset value: ignoring it changes nothing
    summary = "GUI key under an old name that current GUI versions ignore"
    kinds = GUI_KINDS

    def check(self, ctx):
        data = ctx.doc.data
        version = _given_version(ctx)
        for old, (new, since, tabs) in RENAMES.items():
            if old not in data or (tabs and ctx.doc.gui_tab not in tabs):
                continue
            if since is not None and version is not None and not _at_least(version, since):
                continue  # the GUI the user runs still reads the old name
            value = data[old]
            new_value = value
            if old == "use_wandb":
                new_value = "wandb" if value in (True, "True", "true") else ""
            if since is None:
                why = (f"{lit(old)} is the train-time autosave name of {lit(new)}: the GUI's Load "
                       f"button reads only {lit(new)} and ignores this key")
            elif old == "lora_network_weights":
                why = (f"{lit(old)} was renamed {lit(new)} in kohya_ss {since}: earlier versions ignore "
                       f"{lit(new)}, later ones migrate the old key on load but never write it")
            elif old == "use_wandb":
                if value is True:
                    why = (f"use_wandb was replaced by log_with in kohya_ss {since}: the GUI "
                           f"migrates only the string \"True\", so this boolean true is dropped "
                           f"and wandb logging is off")
                elif value == "True":
                    why = (f"use_wandb was replaced by log_with in kohya_ss {since}: the GUI "
                           f"migrates this value to log_with = 'wandb' on load but never writes "
                           f"use_wandb again")
                else:
                    why = (f"use_wandb was replaced by log_with in kohya_ss {since}; the GUI "
                           f"drops this key when loading")
            else:
                why = (f"{lit(old)} was renamed {lit(new)} in kohya_ss {since}: newer GUIs ignore "
                       f"the old key")
            fix = None
            severity = "info" if unset(value) else None
            if severity:
                why += " (it holds an unset value, so nothing is lost)"
            if new in data:
                why += f"; the file also has {new} = {lit(data[new])}, which is what the GUI uses"
            else:
                desc = (f"write {new} = {lit(new_value)} and remove {old}")
                # (lint --fix leaves it when the rename would date the file to another GUI
                # than the one its keys fit and no --gui-version names it: cli.py)
                fix = Fix(desc, [Edit((new,), new_value, f"renamed from {old}", after=(old,)),
                                 Edit((old,), None, f"renamed to {new}")])
            yield ctx.diagnostic(self, why, keypath=(old,), fix=fix, severity=severity)


class Use8bitAdam(Rule):
    """`use_8bit_adam` instead of `optimizer`.

    Very old configs chose the optimizer with the `use_8bit_adam` checkbox. No GUI version has
    that widget any more: when it loads the file, the GUI derives `optimizer` from it
    (`"AdamW8bit"` when true, `"AdamW"` when false) only if the file has no `optimizer` key;
    otherwise `use_8bit_adam` is ignored. `--fix` writes that `optimizer` and removes the key.

    Bad:

        "use_8bit_adam": true

    Fixed:

        "optimizer": "AdamW8bit"
    """
    code = "KT402"
    name = "use-8bit-adam"
    severity = "warning"  # info when the optimizer the GUI uses is what the key says
    summary = "obsolete use_8bit_adam key (optimizer decides)"
    kinds = GUI_KINDS

    def check(self, ctx):
        data = ctx.doc.data
        if "use_8bit_adam" not in data:
            return
        value = data["use_8bit_adam"]
        if "optimizer" in data:
            fix = Fix("remove use_8bit_adam", [Edit(("use_8bit_adam",), None, "obsolete")])
            # a warning only when the file says 8-bit Adam and another optimizer is used
            conflict = bool(value) and data["optimizer"] != "AdamW8bit"
            yield ctx.diagnostic(self, f"use_8bit_adam is obsolete and ignored: optimizer = "
                                       f"{lit(data['optimizer'])} decides", keypath=("use_8bit_adam",),
                                 fix=fix, severity=None if conflict else "info")
            return
        optimizer = "AdamW8bit" if value else "AdamW"
        note = ""
        if isinstance(value, str) and value:
            note = f" (the string {lit(value)} counts as true)"
        fix = Fix(f"write optimizer = {lit(optimizer)} and remove use_8bit_adam",
                  [Edit(("optimizer",), optimizer, "derived from use_8bit_adam", after=("use_8bit_adam",)),
                   Edit(("use_8bit_adam",), None, "obsolete")])
        yield ctx.diagnostic(self, f"use_8bit_adam is obsolete: the file has no optimizer, so the "
                                   f"GUI derives optimizer = {lit(optimizer)} from it{note}",
                             keypath=("use_8bit_adam",), fix=fix, severity="info")


class LoraTypeLoCon(Rule):
    """`LoRA_type: "LoCon"`.

    `"LoCon"` is the LoRA type name of early kohya_ss versions. Every GUI version rewrites it to
    `"LyCORIS/LoCon"` when it loads the file; it is not one of the dropdown's choices.

    Bad:

        "LoRA_type": "LoCon"

    Fixed:

        "LoRA_type": "LyCORIS/LoCon"
    """
    code = "KT403"
    name = "lora-type-locon"
    severity = "warning"
    summary = "LoRA_type \"LoCon\" (the GUI reads it as \"LyCORIS/LoCon\")"
    kinds = GUI_KINDS

    def check(self, ctx):
        if ctx.doc.data.get("LoRA_type") == "LoCon":
            fix = Fix("write LoRA_type = 'LyCORIS/LoCon'",
                      [Edit(("LoRA_type",), "LyCORIS/LoCon", "old LoRA type name")])
            yield ctx.diagnostic(self, "LoRA_type \"LoCon\" is an old name: the GUI loads it as "
                                       "\"LyCORIS/LoCon\"", keypath=("LoRA_type",), at_value=True,
                                 fix=fix)


class BooleanXformers(Rule):
    """Boolean `xformers`.

    `xformers` was a checkbox up to kohya_ss v21.8.4 and has been a dropdown
    (`"none"`, `"sdpa"`, `"xformers"`) since v21.8.6. v22.6.1 and later convert `true`/`false`
    to `"xformers"`/`"none"` when loading; v21.8.6 .. v22.6.0 load the boolean unconverted.

    Bad:

        "xformers": true

    Fixed:

        "xformers": "xformers"
    """
    code = "KT404"
    name = "boolean-xformers"
    severity = "warning"  # info unless --gui-version is one that loads it unconverted
    summary = "xformers saved as a boolean (old checkbox)"
    kinds = GUI_KINDS

    def check(self, ctx):
        value = ctx.doc.data.get("xformers")
        if not isinstance(value, bool):
            return
        new = "xformers" if value else "none"
        fix = Fix(f"write xformers = {lit(new)}", [Edit(("xformers",), new, "old checkbox value")])
        # a warning only for the GUIs that load the boolean unconverted; every other version
        # reads it as the user meant (the checkbox GUIs, and v22.6.1+ which convert it)
        given = _given_version(ctx)
        unconverted = given is not None and _at_least(given, "v21.8.6") and \
            not _at_least(given, "v22.6.1")
        yield ctx.diagnostic(self, f"xformers = {str(value).lower()} is the old checkbox value: "
                                   f"GUI v22.6.1+ reads it as {lit(new)}, v21.8.6 .. v22.6.0 load it "
                                   f"unconverted into the dropdown", keypath=("xformers",),
                             at_value=True, fix=fix, severity=None if unconverted else "info")


class RemovedGuiKey(Rule):
    """GUI key that the GUI version no longer has.

    A key that the assumed kohya_ss version removed (and that is not a rename, see KT401):
    its loader walks its own parameter list, so the key is ignored. For example, the LoRA tab
    dropped `no_token_padding` in v22.6.1 (DreamBooth still has it). Reported only when the
    version is known: `--gui-version` / `gui-version` in the settings, or keys in the file that
    only a GUI newer than the removal writes (presets are partial, so a key alone proves nothing).

    Bad (LoRA, with `--gui-version v24.1.7`):

        "no_token_padding": true

    Fixed: remove the key (it has no effect).
    """
    code = "KT405"
    name = "removed-gui-key"
    severity = "warning"  # info when the ignored key holds an unset value
    summary = "GUI key that the assumed GUI version removed (ignored on load)"
    kinds = GUI_KINDS

    def check(self, ctx):
        doc = ctx.doc
        tab_keys = profiles.gui_inventory().get("tabs", {}).get(doc.gui_tab or "", {})
        renamed = set(profiles.gui_inventory().get("renamed", {})) | set(RENAMES)
        given = _given_version(ctx)
        lowest = doc.gui_versions[0] if doc.gui_versions else None
        for key in doc.data:
            info = tab_keys.get(key)
            if not info or key in renamed:
                continue
            removed = info.get("removed")
            if not removed or removed.startswith("<="):
                continue  # no exact removal version: nothing to compare with
            if given is not None:
                if not _at_least(given, removed):
                    continue
                because = f"kohya_ss {given} (the version chosen)"
            elif lowest is not None and _at_least(lowest, removed):
                because = f"kohya_ss {lowest} or later (what this file's other keys show)"
            else:
                continue
            tab = (doc.gui_tab or "").replace("_", " ")
            value = doc.data[key]
            quiet = unset(value)
            yield ctx.diagnostic(self, f"{lit(key)} was removed from the {tab} GUI in {removed}: "
                                       f"{because} ignores it when loading this config"
                                       + (" (it holds an unset value, so nothing is lost)" if quiet else ""),
                                 keypath=(key,), severity="info" if quiet else None)


class InvalidNumberBecomesZero(Rule):
    """Invalid number that the GUI turns into 0 (or another fallback).

    From v24 on, kohya_ss converts numeric keys with `int()` / `float()` when it loads a config
    and silently replaces a value that does not convert with a fallback: 0 for most keys
    (`max_train_steps`, `epoch`, `seed`, `learning_rate` ...), 1 for `lr_scheduler_num_cycles`,
    75 for `max_token_length`, 1.0 for `lr_scheduler_power`. `"1.5"` in an integer key is invalid
    too, and a fraction such as `1.5` in an integer key is truncated. An empty string is reported
    only for `epoch`: elsewhere the fallback means what the empty field meant ("not set").

    Bad:

        "epoch": "",
        "max_train_steps": "abc"

    Fixed:

        "epoch": 10,
        "max_train_steps": 0
    """
    code = "KT406"
    name = "invalid-number-becomes-zero"
    severity = "warning"
    summary = "numeric GUI value that GUI v24+ replaces by 0 or a fallback on load"
    kinds = GUI_KINDS

    def check(self, ctx):
        version = _given_version(ctx)
        where = f"kohya_ss {version}" if version else "GUI v24 and later"
        for key, value in ctx.doc.data.items():
            found = coerced_on_load(ctx.settings, key, value)
            if found is None:
                continue
            kind, result, how = found
            if how == "truncated":
                msg = (f"{key} = {lit(value)}: {where} converts it with int() on load, which "
                       f"truncates it to {lit(result)}")
            else:
                what = "an integer" if kind == "int" else "a number"
                msg = (f"{key} = {lit(value)} is not {what}: {where} replaces it with {lit(result)} "
                       f"when loading this config")
            yield ctx.diagnostic(self, msg, keypath=(key,), at_value=True)
