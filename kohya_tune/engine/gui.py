"""What a kohya_ss GUI release computes and sends for a config it loads, step by step.

The GUI's own procedure (bmaltais/kohya_ss; re-implemented, not copied), one function per step:

1. :func:`load` -- the "Load" button: ``open_configuration`` reads the JSON, ``update_my_data``
   migrates old keys and values, and every widget of the tab takes the value (Gradio converts
   it: a Textbox turns ``0`` into ``"0"``, a Number of Gradio 3 turns ``2`` into ``2.0``);
   keys the tab has no widget for are ignored, missing keys keep the widget's value.
2. :func:`fire_events` -- the browser fires the ``change`` event of every widget whose value the
   load changed: a ``constant`` LR scheduler zeroes the warm-up (v24+), the model picker ticks or
   unticks the SDXL/v2/SD3/FLUX checkboxes.
3. :func:`check_model`, :func:`count_images` -- "Print training command" / "Start training":
   ``train_model`` checks the model checkboxes against the LoRA type, then counts the images of
   each ``N_name`` folder (``total_steps``) and the reg factor.
4. :func:`compute_steps` -- the max_train_steps formula and the warm-up.
5. :func:`send` -- what reaches sd-scripts: command-line flags (v21-v23) or the TOML given to
   ``--config_file`` (v24+), the script the model checkboxes choose, ``accelerate``'s
   ``--num_processes``.

Every difference between releases is data (``versions/data/gui_behaviour.json``, one change
point per aspect, each citing the GUI source line at the tag); this module interprets it.
"""
from __future__ import annotations

import copy
import json
import math
import os
import pathlib
import re
import struct
from dataclasses import dataclass, field
from typing import Any, Callable

from kohya_tune.versions import gui_releases
from kohya_tune.versions.gui_releases import TABS, GuiRelease, UnknownGuiVersion

GUI_VERSIONS: list[str] = gui_releases.release_tags()


@dataclass
class GuiLaunch:
    version: str                      # the release whose behaviour was used
    tab: str
    script: str | None
    requested_version: str | None = None
    version_note: str | None = None   # set when the requested version is no release of its own
    total_steps: int | None = None
    reg_factor: int | None = None
    epoch: Any = None
    max_train_steps: Any = None
    max_train_epochs: Any = None
    lr_warmup_steps: Any = None
    formula: str | None = None
    formula_pending: str | None = None  # the formula with its unknown count (images not here)
    args: dict = field(default_factory=dict)
    num_processes: int | None = None
    notes: list[str] = field(default_factory=list)
    refused: str | None = None
    migrations: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    transport: str | None = None      # "cli" | "toml"
    steps_mode: str | None = None     # when the GUI computes max_train_steps (see formula aspect)
    warmup_mode: str | None = None
    widget_defaults: dict = field(default_factory=dict)
    sd_scripts: dict = field(default_factory=dict)
    procedure: dict = field(default_factory=dict)   # step -> {aspect: citation in effect}


class _Refused(Exception):
    """train_model (or Gradio before it) stops: no command is built."""


# ----------------------------------------------------------------------------------------------
# versions

def resolve_version(version: str) -> GuiRelease:
    return gui_releases.resolve(version)


def profile_for(version: str) -> str:
    """The release whose behaviour a version string gets (the release itself when it is one)."""
    try:
        return gui_releases.canonical(version)[0]
    except UnknownGuiVersion as exc:
        raise ValueError(str(exc)) from None


def load_profile(version: str) -> tuple[str, dict]:
    """The facts the lint rules read about a release: (tag, {"count": {"exts"}, "steps":
    {"mode": {tab: when}}, "send": {"warmup": "pct_steps" | "ratio" | "resolve", "transport"},
    "defaults": {widget: value} (LoRA tab)})."""
    rel = resolve_version(version)
    modes = {tab: (rel.get("formula.max_train_steps", tab) or {}).get("when") for tab in TABS}
    warm = (rel.get("formula.warmup", "lora") or {}).get("mode")
    return rel.tag, {
        "count": {"exts": list(rel.get("count.exts"))},
        "steps": {"mode": modes},
        "send": {"warmup": "pct_steps" if warm and warm.startswith("round") else warm,
                 "transport": rel.get("send.transport")},
        "defaults": {k: spec.get("default") for k, spec in _widgets(rel, "lora").items()},
    }


# ----------------------------------------------------------------------------------------------
# 1. load

_MISSING = object()


def update_my_data(data: dict, rules: dict) -> list[str]:
    """The GUI's update_my_data() on a loaded dict (in place); returns what it changed."""
    mig: list[str] = []
    if rules.get("optimizer_from_use_8bit_adam") and "optimizer" not in data:
        opt = "AdamW8bit" if data.get("use_8bit_adam", False) else "AdamW"
        data["optimizer"] = opt
        mig.append(f"optimizer missing -> {opt!r} (from use_8bit_adam)")
    if rules.get("model_list_custom"):
        presets = rules.get("preset_models", [])
        model_list = data.get("model_list", [])
        if not model_list or data.get("pretrained_model_name_or_path", "") not in presets:
            if data.get("model_list") != "custom":
                mig.append(f"model_list {data.get('model_list', '<missing>')!r} -> 'custom'")
            data["model_list"] = "custom"
    legacy = rules.get("legacy_int")
    if legacy:
        for key in legacy["keys"]:
            _legacy_number(data, key, legacy, int, mig)
    legacy = rules.get("legacy_float")
    if legacy:
        for key in legacy["keys"]:
            _legacy_number(data, key, legacy, float, mig)
    for rule, conv in (("coerce_int", int), ("coerce_float", float)):
        for key, fallback in (rules.get(rule) or {}).items():
            value = data.get(key)
            if value is None:
                continue
            try:
                new = conv(value)
            except ValueError:
                new = fallback
            except TypeError:
                raise _Refused(f"the GUI cannot load this file: update_my_data() calls "
                               f"{conv.__name__}({value!r}) for {key} and raises TypeError") from None
            if type(new) is not type(value) or new != value:
                mig.append(f"{key} {value!r} -> {new!r}")
            data[key] = new
    if rules.get("locon") and data.get("LoRA_type", "Standard") == "LoCon":
        data["LoRA_type"] = "LyCORIS/LoCon"
        mig.append("LoRA_type 'LoCon' -> 'LyCORIS/LoCon'")
    if "save_model_as_needs_key" in rules:
        if "save_model_as" in data or not rules["save_model_as_needs_key"]:
            if ((data.get("LoRA_type") or data.get("num_vectors_per_token"))
                    and data.get("save_model_as") not in ["safetensors", "ckpt"]):
                mig.append(f"save_model_as {data.get('save_model_as')!r} -> 'safetensors'")
                data["save_model_as"] = "safetensors"
    if rules.get("xformers_bool") and isinstance(data.get("xformers"), bool):
        new = "xformers" if data["xformers"] else "none"
        mig.append(f"xformers {data['xformers']!r} -> {new!r}")
        data["xformers"] = new
    if rules.get("use_wandb") and "use_wandb" in data:
        if data["use_wandb"] == "True":
            data["log_with"] = "wandb"
            mig.append("use_wandb 'True' -> log_with 'wandb'")
        data.pop("use_wandb")
        mig.append("use_wandb dropped")
    for old, new in (rules.get("rename") or {}).items():
        if data.get(old) is not None:
            data[new] = data.pop(old)
            mig.append(f"{old} -> {new}")
    return mig


def _legacy_number(data, key, rule, conv, mig):
    had = key in data
    value = data.get(key, rule["missing"])
    if isinstance(value, str):
        mode = rule.get("mode") or rule.get("digits")
        if mode == "any_string":  # `value.isdigit` (not called) is always true
            try:
                data[key] = conv(value)
            except ValueError:
                raise _Refused(f"the GUI cannot load this file: update_my_data() calls "
                               f"float({value!r}) for {key} and raises ValueError") from None
            mig.append(f"{key} {value!r} -> {data[key]!r}")
            return
        if mode == "try":
            try:
                data[key] = conv(value)
            except ValueError:
                data[key] = 0
            mig.append(f"{key} {value!r} -> {data[key]!r}")
            return
        digits = value.strip().isdigit() if mode == "strip_isdigit" else value.isdigit()
        if digits:
            data[key] = conv(value)
            mig.append(f"{key} {value!r} -> {data[key]!r}")
            return
    if not value:
        data[key] = rule["falsy"]
        if not had:
            mig.append(f"{key} missing -> {rule['falsy']} (update_my_data creates it)")
        elif value is not rule["falsy"]:
            mig.append(f"{key} {value!r} -> {rule['falsy']}")


def _widgets(rel: GuiRelease, tab: str) -> dict:
    table = rel.get("widgets") or {}
    out = copy.deepcopy(table.get("all", {}))
    for key, spec in (table.get(tab) or {}).items():
        if spec is None:
            out.pop(key, None)
        else:
            out[key] = dict(out.get(key, {}), **spec)
    return {k: spec for k, spec in out.items() if spec.get("kind") != "absent"}


def _number(value, precision, gradio):
    if precision is None:
        return float(value) if gradio.get("number_float") else value
    if precision == 0:
        return int(round(value, precision))
    return round(value, precision)


def postprocess(spec: dict, value, gradio: dict):
    """The value a widget holds once the GUI's output reaches the browser (Gradio postprocess)."""
    kind = spec.get("kind")
    if kind == "textbox":
        return None if value is None else str(value)
    if kind == "number":
        if value is None:
            return None
        try:
            return _number(value, spec.get("precision"), gradio)
        except (TypeError, ValueError):
            raise _Refused(f"Gradio cannot show {value!r} in the Number widget (the load event "
                           f"fails and the GUI keeps its previous values)") from None
    if kind == "slider":
        return spec.get("min", 0) if value is None else value
    return value


def preprocess(key: str, spec: dict, value, gradio: dict):
    """The value train_model receives from a widget (Gradio preprocess), or _Refused."""
    kind = spec.get("kind")
    if kind == "textbox":
        return None if value is None else str(value)
    if kind == "number" and value is not None:
        if gradio.get("number_bounds"):
            _bounds(key, value, spec)
        return _number(value, spec.get("precision"), gradio)
    if kind == "slider" and value is not None and gradio.get("slider_bounds"):
        _bounds(key, value, spec)
    if kind == "dropdown" and gradio.get("dropdown_choices") and value is not None:
        choices = spec.get("choices")
        if choices is not None and not spec.get("custom") and value not in choices:
            raise _Refused(f"Gradio refuses {key} {value!r}: not one of the dropdown's choices "
                           f"({', '.join(map(str, choices))})")
    return value


def _bounds(key, value, spec):
    try:
        if spec.get("min") is not None and value < spec["min"]:
            raise _Refused(f"Gradio refuses {key} {value!r}: less than the widget's minimum "
                           f"{spec['min']}")
        if spec.get("max") is not None and value > spec["max"]:
            raise _Refused(f"Gradio refuses {key} {value!r}: greater than the widget's maximum "
                           f"{spec['max']}")
    except TypeError:
        raise _Refused(f"Gradio cannot compare {key} {value!r} with the widget's bounds "
                       f"(TypeError)") from None


@dataclass
class Loaded:
    values: dict                      # widget key -> value as the browser holds it
    before: dict                      # widget key -> value before the load (the defaults)
    specs: dict
    migrations: list[str]
    notes: list[str]
    ignored: list[str]                # keys of the file the tab has no widget for


def load(config: dict, tab: str, rel: GuiRelease) -> Loaded:
    """open_configuration + update_my_data + Gradio's postprocess of every widget value."""
    data = copy.deepcopy(config)
    rules = dict(rel.get("load.update_my_data") or {})
    rules["preset_models"] = _preset_models(rel)
    migrations = update_my_data(data, rules)
    specs = _widgets(rel, tab)
    gradio = rel.get("gradio") or {}
    null = rel.get("load.null", tab)
    before = {k: spec.get("default") for k, spec in specs.items()}
    values = dict(before)
    notes = []
    pushed = []
    for key, spec in specs.items():
        if key not in data:
            continue
        value = data[key]
        if value is None and null == "missing":
            continue
        if value is None:
            pushed.append(key)
        values[key] = postprocess(spec, value, gradio)
    if pushed:
        notes.append(f"null values are pushed into the widgets by this tab's loader: "
                     f"{', '.join(sorted(pushed))}")
    ignored = sorted(k for k in data if k not in specs)
    return Loaded(values=values, before=before, specs=specs, migrations=migrations, notes=notes,
                  ignored=ignored)


def _preset_models(rel: GuiRelease) -> list[str]:
    models = rel.get("models") or {}
    return [m for group in ("v2", "v_param", "v1", "sdxl") for m in models.get(group, [])]


# ----------------------------------------------------------------------------------------------
# 2. change events fired by the load

def fire_events(loaded: Loaded, tab: str, rel: GuiRelease,
                resolve_file: Callable[[str], pathlib.Path | None] | None = None) -> list[str]:
    """Apply the change events the browser fires after the load; returns what they did."""
    done: list[str] = []
    v = loaded.values

    def changed(key):
        return key in v and json.dumps(v[key], sort_keys=True, default=str) != \
            json.dumps(loaded.before.get(key), sort_keys=True, default=str)

    sched = rel.get("events.lr_scheduler")
    if sched and changed("lr_scheduler") and v.get("lr_scheduler") == "constant":
        for key in sched["zero"]:
            if key in v and v[key] != 0:
                done.append(f"lr_scheduler 'constant' fires lr_scheduler_changed: {key} "
                            f"{v[key]!r} -> 0 ({rel.cite('events.lr_scheduler')})")
            if key in v:
                v[key] = 0
    model = rel.get("events.model")
    if model and changed(model["trigger"]):
        done += _model_event(v, tab, rel, model, resolve_file)
    return done


_CHECKBOXES = ("v2", "v_parameterization", "sdxl", "sd3_checkbox", "flux1_checkbox",
               "hunyuan_image_checkbox", "anima_checkbox", "lumina_checkbox")


def _model_event(v: dict, tab: str, rel: GuiRelease, model: dict, resolve_file) -> list[str]:
    lists = rel.get("models") or {}
    name = str(v.get(model["trigger"]))
    sdxl_key = "sdxl_checkbox" if tab == "finetune" else "sdxl"
    sets: dict | None = None
    why = ""
    for group, ticks in (("sdxl", {"sdxl"}), ("v2", {"v2"}), ("v_param", {"v2", "v_parameterization"}),
                         ("v1", set())):
        if name in lists.get(group, []):
            sets = {box: box in ticks for box in model["sets"]}
            why = f"a preset {group} model"
            break
    if sets is None and model.get("detect_safetensors") and name.lower().endswith(".safetensors"):
        found = resolve_file(name) if resolve_file else None
        if found is None:
            # the GUI reads the file where it runs; here it is absent: keep what the file's
            # author saved (their GUI had read it), and say so
            return [f"the model picker reads {name!r} to set the v2/SDXL/SD3/FLUX checkboxes "
                    f"(SDModelType, {rel.cite('events.model')}); the file is not here, so the "
                    f"saved checkboxes are kept (a GUI that cannot read it unticks them all)"]
        kind = _safetensors_kind(found)
        sets = {box: False for box in model["detected"]}
        flag = {"sd2": "v2", "sdxl": "sdxl", "sd3": "sd3_checkbox", "flux1": "flux1_checkbox"}.get(kind)
        if flag in sets:
            sets[flag] = True
        why = ("the GUI's SDModelType reads no model type from the file" if kind is None
               else f"the model file's tensors say {kind.upper()}")
    if sets is None:
        return []
    out = []
    if model["trigger"] == "model_list":
        v["pretrained_model_name_or_path"] = name
    for box, value in sets.items():
        key = sdxl_key if box == "sdxl" else box
        if key not in v:
            continue
        if bool(v[key]) != value:
            out.append(f"the model picker ({model['trigger']} {name!r}: {why}) sets {key} "
                       f"{v[key]!r} -> {value} ({rel.cite('events.model')})")
        v[key] = value
    return out


def _safetensors_kind(found: pathlib.Path) -> str | None:
    """SDModelType of the GUI (v25+): the model family from the tensor names of a .safetensors
    file (kohya_gui/sd_modeltype.py); None when the file is unreadable or of no known family."""
    try:
        with open(found, "rb") as f:
            size = struct.unpack("<Q", f.read(8))[0]
            if size > 100_000_000:
                return None
            keys = list(json.loads(f.read(size)).keys())
    except (OSError, ValueError, struct.error):
        return None
    if "model.diffusion_model.x_embedder.proj.weight" in keys:
        return "sd3"
    if ("model.diffusion_model.double_blocks.0.img_attn.norm.key_norm.scale" in keys
            or "double_blocks.0.img_attn.norm.key_norm.scale" in keys):
        return "flux1"
    if any(k.startswith("conditioner.") for k in keys):
        return "sdxl"
    if any(k.startswith("cond_stage_model.model.") for k in keys):
        return "sd2"
    if any(k.startswith("model.") for k in keys):
        return "sd1"
    return None


# ----------------------------------------------------------------------------------------------
# 3. train_model's checks, then the image count

def _holds(pred: dict, w: dict) -> bool:
    if "checked_any" in pred:
        return any(bool(w.get(c)) for c in pred["checked_any"])
    if "checked_none" in pred:
        return not any(bool(w.get(c)) for c in pred["checked_none"])
    kind = str(w.get("LoRA_type", ""))
    return kind in pred.get("type_in", []) or (
        bool(pred.get("type_contains")) and pred["type_contains"] in kind)


def check_model(w: dict, tab: str, rel: GuiRelease) -> None:
    """The model checkboxes against LoRA_type (check.model): train_model stops at the first
    rule that fails, before it validates paths or counts images."""
    for rule in rel.get("check.model", tab) or []:
        if _holds(rule["if"], w) and not _holds(rule["ok"], w):
            raise _Refused(rule["message"].replace("{LoRA_type}", str(w.get("LoRA_type"))) +
                           f" ({rel.cite('check.model')})")


@dataclass
class Count:
    total_steps: int | None = None
    reg_factor: int | None = None
    folders: list = field(default_factory=list)   # (name, repeats, images)
    notes: list[str] = field(default_factory=list)
    counted: bool = False                          # False: dataset_config set, or folder absent


def _list_images(path: pathlib.Path, exts) -> int:
    # (file, file.lower()) ... lower_f.endswith(exts): case-insensitive, files and folders alike
    return sum(1 for f in os.listdir(path) if f.lower().endswith(tuple(exts)))


def _preflight(path: pathlib.Path, rule: dict, label: str) -> None:
    entries = os.listdir(path)
    subs = [n for n in entries if (path / n).is_dir()]
    matching = [n for n in subs if re.match(rule["pattern"], n)]
    mode = rule["mode"]
    if mode == "any_subfolder":
        if not matching:
            detail = (f"Found subfolders that do not match <repeats>_<name>: {', '.join(sorted(subs))}."
                      if subs else "No concept subfolders found.")
            raise _Refused(f"{label} preflight failed for '{path}'. {detail}")
        return
    names = entries if mode == "all_entries" else [n for n in entries if not n.startswith(".")]
    if len(matching) != len(names):
        raise _Refused(f"Not all image folders have proper name patterns in {path} (the GUI "
                       f"wants only {rule['pattern']} folders there)")
    if not matching:
        raise _Refused(f"No image folders found in {path}")


def count_images(w: dict, tab: str, rel: GuiRelease,
                 resolve_dir: Callable[[str], pathlib.Path | None], res: Count | None = None) -> Count:
    """total_steps and reg_factor as train_model counts them (or why it does not count)."""
    res = res if res is not None else Count()
    exts = rel.get("count.exts")
    dsconfig = rel.get("count.dataset_config", tab) == "skips_count" and bool(w.get("dataset_config"))
    if dsconfig:
        res.notes.append("dataset_config set: the GUI counts no images")
        return res
    if tab == "finetune":
        src = w.get("image_folder") or ""
        if src == "":
            raise _Refused("image_folder is empty ('Image folder path is missing')")
        path = resolve_dir(src)
        if path is None:
            res.notes.append(f"image_folder {src!r} does not exist here: image count unknown")
            return res
        n = _list_images(path, exts)
        res.total_steps = int(n) * int(w.get("dataset_repeats"))
        res.folders.append((src, w.get("dataset_repeats"), n))
        res.counted = True
        return res
    src = w.get("train_data_dir") or ""
    if src == "":
        raise _Refused("train_data_dir is empty ('Image folder path is missing')")
    path = resolve_dir(src)
    reg = w.get("reg_data_dir") or ""
    preflight = rel.get("count.preflight", tab)
    if path is None:
        res.notes.append(f"train_data_dir {src!r} does not exist here: image count unknown")
    else:
        if preflight:
            _preflight(path, preflight, "Image folder")
            reg_path = resolve_dir(reg) if reg else None
            if reg_path is not None:
                _preflight(reg_path, preflight, "Regularisation folder")
        loop = rel.get("count.loop", tab)
        res.total_steps = _count_folders(path, tab, loop, exts, res)
        res.counted = True
    if rel.get("count.reg_factor", tab):
        res.reg_factor = 1 if reg == "" else 2
    elif res.counted:
        res.reg_factor = None
    return res


def _count_folders(train_dir: pathlib.Path, tab: str, loop: dict, exts, res: Count) -> int:
    names = os.listdir(train_dir)  # the GUI's order (only a refusal mid-loop depends on it)
    subfolders = [n for n in names if (train_dir / n).is_dir()]
    if loop.get("skip_hidden"):
        subfolders = [n for n in subfolders if not n.startswith(".")]
    if loop.get("refuse_no_subfolders") and not subfolders:
        raise _Refused(f"No subfolders were found in {train_dir} can't train")
    total = 0
    res.total_steps = 0
    for folder in subfolders:
        try:
            repeats = int(folder.split("_")[0])
        except ValueError:
            if loop.get("bad_name") == "crash":
                raise _Refused(
                    f"ValueError: invalid literal for int() with base 10: {folder.split('_')[0]!r} "
                    f"(folder {folder!r}: the {tab} tab's count has no try/except and raises)")
            res.notes.append(f"folder {folder!r} has no numeric repeat prefix: skipped by the GUI count")
            continue
        n = _list_images(train_dir / folder, exts)
        if loop.get("skip_empty") and n == 0:
            res.notes.append(f"folder {folder!r} contains no images: skipped by the GUI count")
            continue
        if repeats < 1:
            res.notes.append(f"folder {folder!r}: repeats {repeats} counted as {repeats * n} steps "
                             f"by the GUI (sd-scripts skips num_repeats < 1)")
        res.folders.append((folder, repeats, n))
        total += repeats * n
        res.total_steps = total  # train_model's running total (what it holds if it stops here)
    if loop.get("refuse_zero_total") and total == 0:
        raise _Refused(f"No images were found in folder {train_dir}... please rectify!")
    return total


# ----------------------------------------------------------------------------------------------
# 4. max_train_steps and warm-up

@dataclass
class Formula:
    max_train_steps: Any = None       # train_model's max_train_steps after the step
    computed: bool = False
    text: str | None = None
    pending: str | None = None        # the formula it would apply, when the count is unknown
    lr_warmup_steps: Any = None       # None: unknown (count unknown)
    notes: list[str] = field(default_factory=list)


def gui_steps(total, batch, ga, epoch, reg, *, use_ga=True) -> int:
    """The GUI's float expression, in its evaluation order (v21.5.11 lora_gui.py:562)."""
    value = float(total) / int(batch)
    if use_ga:
        value = value / int(ga)
    value = value * int(epoch)
    if reg is not None:
        value = value * int(reg)
    return int(math.ceil(value))


_gui_steps = gui_steps  # name used by check/rules/steps_rules.py


def compute_steps(w: dict, tab: str, rel: GuiRelease, count: Count, dsconfig: bool) -> Formula:
    res = Formula()
    f = rel.get("formula.max_train_steps", tab)
    when = f["when"]
    mts = w.get("max_train_steps", _MISSING)
    epoch, batch, ga = w.get("epoch"), w.get("train_batch_size"), w.get("gradient_accumulation_steps")
    if when == "always":
        want = not dsconfig
    elif when == "blank":
        want = mts == "" and not dsconfig
    elif when == "blank_or_zero":
        want = mts in ("", "0") and not dsconfig
    elif when == "zero":
        want = mts == 0 and not dsconfig
    else:
        raise ValueError(when)
    if want:
        if not count.counted:
            res.notes.append("max_train_steps would be computed from the image count, which is unknown")
            res.max_train_steps = None
            reg = " * reg_factor" if f.get("reg") else ""
            ga_part = f" / {ga}" if f.get("ga", True) else ""
            res.pending = (f"ceil(T / {batch}{ga_part} * {epoch}{reg}), T = its own count of "
                           f"the images (unknown here)")
        else:
            reg = count.reg_factor if f.get("reg") else None
            value = gui_steps(count.total_steps, batch, ga, epoch, reg, use_ga=f.get("ga", True))
            parts = [str(count.total_steps), str(batch)] + ([str(ga)] if f.get("ga", True) else [])
            text = " / ".join(parts) + f" * {epoch}" + (f" * {reg}" if reg is not None else "")
            res.text = f"ceil({text}) = {value}"
            res.max_train_steps = value
            res.computed = True
    else:
        res.max_train_steps = None if mts is _MISSING else mts
        if when == "blank" and not dsconfig and mts is not _MISSING:
            res.max_train_steps = int(mts)  # textual_inversion: int(max_train_steps)
        elif when == "blank_or_zero" and f.get("else") == "int" and not dsconfig:
            res.max_train_steps = int(mts)
    flip = rel.get("formula.flip_halving", tab)
    mts = res.max_train_steps
    if tab == "finetune" and w.get("flip_aug") and mts not in (None, "") and not dsconfig:
        if (flip == "computed" and res.computed) or (flip == "truthy" and mts):
            new = int(math.ceil(float(mts) / 2))
            res.notes.append(f"flip_aug: the GUI halves max_train_steps {mts} -> {new}")
            if res.text:
                res.text += f"; flip_aug: ceil({mts} / 2) = {new}"
            res.max_train_steps = new
    res.lr_warmup_steps = _warmup(w, tab, rel, res, count, dsconfig)
    return res


def _warmup(w: dict, tab: str, rel: GuiRelease, res: Formula, count: Count, dsconfig: bool):
    spec = rel.get("formula.warmup", tab)
    mode = spec["mode"]
    pct = w.get("lr_warmup")
    if rel.get("formula.adafactor", tab) and w.get("optimizer") == "Adafactor" and pct != "0":
        res.notes.append("optimizer Adafactor: the GUI sets the LR warm-up to 0 "
                         f"({rel.cite('formula.adafactor')})")
        pct = "0"
    mts = res.max_train_steps
    unknown = mts is None and not dsconfig and not count.counted

    def pct_steps(steps):
        return round(float(int(pct) * int(steps) / 100))

    if mode == "round":          # v21: always
        if unknown:
            return None if int(pct or 0) else 0
        return pct_steps(mts)
    if mode == "round_unless_blank":   # v23.0.15: `if not max_train_steps == ""`
        if unknown:
            return None if int(pct or 0) else 0
        if mts in ("", None):
            return 0 if spec.get("blank") == "zero" else None
        return pct_steps(mts)
    if mode == "round_nonzero":   # v24: `if lr_warmup != 0` (dataset_config: and steps > 0)
        if unknown:
            return None if pct != 0 else 0
        if dsconfig and not (mts and mts > 0):
            return 0
        return pct_steps(mts) if pct != 0 else 0
    if mode in ("ratio", "resolve"):
        absolute = w.get("lr_warmup_steps", 0)
        if dsconfig:
            how = spec.get("dsconfig", "none")
            if how == "convert":              # v25 LoRA: the percent becomes steps (or 0)
                absolute = (pct_steps(mts) if pct != 0 else 0) if (mts and mts > 0) else 0
            elif how == "convert_unless_absolute":   # master LoRA
                a, p = _as_float(absolute), _as_float(pct)
                if not (mts and mts > 0):
                    absolute = 0                      # `else: lr_warmup_steps = 0`
                elif not a > 0 and p != 0:
                    absolute = round(p * int(mts) / 100)
                    pct = 0
            elif how == "zero_if_no_steps":   # TI: `else: lr_warmup_steps = 0`
                if not (mts and mts > 0):
                    absolute = 0
        if mode == "ratio":
            if absolute > 0:
                if pct > 0:
                    res.notes.append("Both lr_warmup and lr_warmup_steps are set. "
                                     "lr_warmup_steps will be used.")
                return int(absolute)
            return pct / 100 if pct != 0 else 0
        a, p = _as_float(absolute), _as_float(pct)
        if a > 0:
            if p > 0:
                res.notes.append("Both lr_warmup and lr_warmup_steps are set. "
                                 "lr_warmup_steps will be used.")
            return int(a)
        return p / 100 if p != 0 else 0
    raise ValueError(mode)


def _as_float(value) -> float:
    if value is None or value == "":
        return 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


# ----------------------------------------------------------------------------------------------
# 5. what reaches sd-scripts

def choose_script(w: dict, tab: str, rel: GuiRelease) -> str:
    for checkbox, name in rel.get("scripts", tab):
        if not checkbox or w.get(checkbox):
            return name
    raise ValueError(f"no script for tab {tab}")


def send(w: dict, tab: str, rel: GuiRelease, f: Formula, dsconfig: bool, notes: list[str]) -> dict:
    if rel.get("send.transport") == "cli":
        return _send_cli(w, tab, rel, f, dsconfig, notes)
    return _send_toml(w, tab, rel, f, notes)


def _in_json(w):
    md = w.get("latent_metadata_filename") if w.get("use_latent_files", "Yes") == "Yes" \
        else w.get("caption_metadata_filename")
    return f"{w.get('train_dir', '')}/{md}"


def _cli_int(value, name, notes):
    """sd-scripts argparse type=int on the text the GUI wrote."""
    try:
        return int(str(value).strip().strip('"'))
    except ValueError:
        notes.append(f"--{name}={value!r} is not an int: sd-scripts' argparse exits with an error")
        return value


def _sent(rule: str, value) -> bool:
    if rule == "truthy":
        return bool(value)
    if rule == "nonempty":
        return value is not None and value != ""
    raise ValueError(rule)


def _send_cli(w: dict, tab: str, rel: GuiRelease, f: Formula, dsconfig: bool, notes) -> dict:
    rules = rel.get("send.cli")
    per = {k: (v.get(tab, v.get("default")) if isinstance(v, dict) else v) for k, v in rules.items()}
    finetune = tab == "finetune"
    a: dict[str, Any] = {}
    train_dir = w.get("image_folder", "") if finetune else w.get("train_data_dir", "")
    if train_dir:
        a["train_data_dir"] = train_dir
    reg = "" if finetune else (w.get("reg_data_dir") or "")
    if len(reg):
        a["reg_data_dir"] = reg
    if w.get("dataset_config"):
        a["dataset_config"] = w["dataset_config"]
    if finetune:
        a["in_json"] = _in_json(w)
    if w.get("max_resolution"):
        a["resolution"] = str(w["max_resolution"]).strip('"')
    enable_bucket = True if finetune else bool(w.get("enable_bucket", True))
    if enable_bucket:
        a["enable_bucket"] = True
        mm = per["min_max_bucket"]
        if mm == "always" or (mm == "with_enable_bucket" and w.get("min_bucket_reso")
                              and w.get("max_bucket_reso")):
            a["min_bucket_reso"] = _cli_int(w.get("min_bucket_reso"), "min_bucket_reso", notes)
            a["max_bucket_reso"] = _cli_int(w.get("max_bucket_reso"), "max_bucket_reso", notes)
    brs = w.get("bucket_reso_steps", 64)
    if per["bucket_reso_steps"] == "always" or brs:
        a["bucket_reso_steps"] = int(brs)
    if w.get("bucket_no_upscale"):
        a["bucket_no_upscale"] = True
    if w.get("train_batch_size"):
        a["train_batch_size"] = _cli_int(w["train_batch_size"], "train_batch_size", notes)
    ga = w.get("gradient_accumulation_steps", 1)
    if ga and int(ga) > 1:
        a["gradient_accumulation_steps"] = int(ga)
    mts = f.max_train_steps
    if mts is not None and _sent(per["max_train_steps"], mts):
        a["max_train_steps"] = _cli_int(mts, "max_train_steps", notes)
    mte = w.get("max_train_epochs", "")
    if _sent(per["max_train_epochs"], mte):
        a["max_train_epochs"] = _cli_int(mte, "max_train_epochs", notes)
    if finetune and w.get("dataset_repeats"):
        a["dataset_repeats"] = _cli_int(w["dataset_repeats"], "dataset_repeats", notes)
    if w.get("caption_extension"):
        a["caption_extension"] = w["caption_extension"]
    sched = w.get("lr_scheduler", "")
    if sched:
        a["lr_scheduler"] = sched
    warm = f.lr_warmup_steps
    if warm and sched != "constant":
        a["lr_warmup_steps"] = _cli_int(warm, "lr_warmup_steps", notes)
    elif warm and sched == "constant":
        notes.append("Can't use LR warmup with LR Scheduler constant... ignoring... (the GUI "
                     f"drops the {warm} warm-up steps)")
    ncy = w.get("lr_scheduler_num_cycles", "")
    epoch = w.get("epoch")
    if per["num_cycles"] == "nonempty_else_epoch":
        a["lr_scheduler_num_cycles"] = _cli_int(ncy if ncy not in ("", None) else epoch,
                                                "lr_scheduler_num_cycles", notes)
    elif ncy:
        a["lr_scheduler_num_cycles"] = _cli_int(ncy, "lr_scheduler_num_cycles", notes)
    elif epoch:
        a["lr_scheduler_num_cycles"] = int(epoch)
    if w.get("save_every_n_epochs"):
        a["save_every_n_epochs"] = int(w["save_every_n_epochs"])
    sns = w.get("save_every_n_steps", 0)
    if sns and int(sns) > 0:
        a["save_every_n_steps"] = int(sns)
    se, ss = w.get("sample_every_n_epochs", 0), w.get("sample_every_n_steps", 0)
    if not (se == 0 and ss == 0):
        if se and se != 0:
            a["sample_every_n_epochs"] = _cli_int(se, "sample_every_n_epochs", notes)
        if ss and ss != 0:
            a["sample_every_n_steps"] = _cli_int(ss, "sample_every_n_steps", notes)
    for flag in ("flip_aug", "color_aug", "shuffle_caption", "cache_latents", "random_crop"):
        if w.get(flag):
            a[flag] = True
    lr = w.get("learning_rate", "")
    if lr:
        try:
            a["learning_rate"] = float(lr)
        except (TypeError, ValueError):
            a["learning_rate"] = lr
    return a


def _send_toml(w: dict, tab: str, rel: GuiRelease, f: Formula, notes) -> dict:
    """config_toml_data: entries equal to "", False or None are dropped (0 == False: 0 too)."""
    rules = rel.get("send.toml") or {}
    finetune = tab == "finetune"
    mts, mte = f.max_train_steps, w.get("max_train_epochs", 0)
    if rules.get("steps_int"):
        mts_sent = int(mts) if mts is not None and int(mts) != 0 else None
        mte_sent = int(mte) if int(mte) != 0 else None
    else:
        mts_sent = mts if mts != 0 else None
        mte_sent = mte if mte != 0 else None
    ncy = w.get("lr_scheduler_num_cycles", 1)
    epoch = w.get("epoch")
    raw = {
        "train_data_dir": w.get("image_folder", "") if finetune else w.get("train_data_dir", ""),
        "reg_data_dir": None if finetune else w.get("reg_data_dir", ""),
        "dataset_config": w.get("dataset_config", ""),
        "in_json": _in_json(w) if finetune else None,
        "resolution": w.get("max_resolution", ""),
        "enable_bucket": True if finetune else w.get("enable_bucket", True),
        "min_bucket_reso": int(w.get("min_bucket_reso", 256)),
        "max_bucket_reso": int(w.get("max_bucket_reso")) if finetune else w.get("max_bucket_reso"),
        "bucket_reso_steps": w.get("bucket_reso_steps", 64),
        "bucket_no_upscale": w.get("bucket_no_upscale", False),
        "train_batch_size": w.get("train_batch_size", 1),
        "gradient_accumulation_steps": int(w.get("gradient_accumulation_steps", 1)),
        "max_train_steps": mts_sent,
        "max_train_epochs": mte_sent,
        "dataset_repeats": int(w.get("dataset_repeats", 1)) if finetune else None,
        "caption_extension": w.get("caption_extension", ""),
        "lr_scheduler": w.get("lr_scheduler", ""),
        "lr_warmup_steps": f.lr_warmup_steps,
        "lr_scheduler_num_cycles": (None if finetune else
                                    int(ncy) if ncy not in ("", None) else int(epoch)),
        "epoch": int(epoch),
        "save_every_n_epochs": _nz(w.get("save_every_n_epochs", 0)),
        "save_every_n_steps": _nz(w.get("save_every_n_steps", 0)),
        "sample_every_n_epochs": _nz(w.get("sample_every_n_epochs", 0)),
        "sample_every_n_steps": _nz(w.get("sample_every_n_steps", 0)),
        "flip_aug": w.get("flip_aug", False),
        "color_aug": w.get("color_aug", False),
        "shuffle_caption": w.get("shuffle_caption", False),
        "cache_latents": w.get("cache_latents", False),
        "random_crop": w.get("random_crop", False),
        "learning_rate": w.get("learning_rate", None),
    }
    drop = (rules.get("drop_tab") or {}).get(tab, rules.get("drop"))
    if drop == "empty_or_false":   # v24.0.0-v24.0.3 (DreamBooth v25+, fine-tune v26+): zeros stay
        a = {k: v for k, v in raw.items() if v != "" and v is not False and v is not None}
    else:
        a = {k: v for k, v in raw.items() if v not in ["", False, None]}
    a["max_data_loader_n_workers"] = int(w.get("max_data_loader_n_workers", 0) or 0)
    if "epoch" in a:
        notes.append(f"the args TOML the GUI writes for sd-scripts carries epoch = {a['epoch']}, "
                     f"which sd-scripts has no argument for (ignored)")
    return dict(sorted(a.items()))


def _nz(value):
    return value if value != 0 else None


def _num_processes(w: dict, rel: GuiRelease):
    rule = rel.get("send.num_processes")
    n = w.get("num_processes")
    if rule == "gt1" and n and int(n) > 1:
        return int(n)
    if rule == "gt0" and n is not None and int(n) > 0:
        return int(n)
    return None


# ----------------------------------------------------------------------------------------------
# the whole procedure

STEPS = {
    "load": ("load.null", "load.update_my_data", "widgets", "gradio"),
    "events": ("events.lr_scheduler", "events.model", "models"),
    "count": ("check.model", "count.dataset_config", "count.preflight", "count.loop", "count.exts", "count.reg_factor"),
    "formula": ("formula.max_train_steps", "formula.flip_halving", "formula.adafactor", "formula.warmup"),
    "send": ("send.transport", "send.cli", "send.toml", "send.num_processes", "scripts"),
}


def procedure(rel: GuiRelease, tab: str) -> dict:
    """For each step, the GUI source (tag file:line) of every aspect in effect at this release."""
    out = {}
    for step, aspects in STEPS.items():
        cites = {}
        for aspect in aspects:
            if aspect == "formula.flip_halving" and tab != "finetune":
                continue
            if aspect.startswith("send.") and aspect[5:] in ("cli", "toml") and \
                    rel.get("send.transport") != aspect[5:]:
                continue
            if rel.cite(aspect):
                cites[aspect] = rel.cite(aspect)
        out[step] = cites
    return out


def gui_launch(config: dict, tab: str, version: str,
               resolve_dir: Callable[[str], pathlib.Path | None],
               resolve_file: Callable[[str], pathlib.Path | None] | None = None) -> GuiLaunch:
    if tab not in TABS:
        raise ValueError(f"tab must be one of {TABS}")
    rel = resolve_version(version)
    res = GuiLaunch(version=rel.tag, tab=tab, script=None, requested_version=version,
                    version_note=rel.note, sd_scripts=dict(rel.info.get("sd_scripts") or {}),
                    transport=rel.get("send.transport"),
                    steps_mode=(rel.get("formula.max_train_steps", tab) or {}).get("when"),
                    warmup_mode=(rel.get("formula.warmup", tab) or {}).get("mode"),
                    procedure=procedure(rel, tab))
    if rel.note:
        res.notes.append(rel.note)
    try:
        loaded = load(config, tab, rel)
    except _Refused as exc:
        res.refused = str(exc)
        return res
    res.migrations = loaded.migrations
    res.notes += loaded.notes
    res.widget_defaults = dict(loaded.before)
    w = loaded.values
    res.events = fire_events(loaded, tab, rel, resolve_file)

    res.epoch = w.get("epoch")
    count = None
    try:
        res.script = choose_script(w, tab, rel)
        gradio = rel.get("gradio") or {}
        w = {k: preprocess(k, loaded.specs[k], v, gradio) for k, v in w.items()}
        res.epoch = w.get("epoch")
        dsconfig = (rel.get("count.dataset_config", tab) == "skips_count"
                    and bool(w.get("dataset_config")))
        if w.get("dataset_config") and rel.get("count.dataset_config", tab) != "skips_count":
            res.notes.append("dataset_config is not a key of this GUI version: ignored")
        check_model(w, tab, rel)
        count = Count()
        count = count_images(w, tab, rel, resolve_dir, count)
        res.notes += count.notes
        res.total_steps, res.reg_factor = count.total_steps, count.reg_factor
        if tab == "finetune" or dsconfig:
            res.reg_factor = None
        steps = compute_steps(w, tab, rel, count, dsconfig)
        res.notes += steps.notes
        res.formula = steps.text
        res.formula_pending = steps.pending
        if not steps.computed and steps.max_train_steps not in (None, "") and not dsconfig:
            how = ("typed in" if config.get("max_train_steps") is not None
                   else "(missing from the file: the widget keeps its default)")
            res.notes.append(f"max_train_steps {steps.max_train_steps} {how}: epoch {res.epoch} "
                             f"is ignored for the step count")
        if steps.computed and steps.max_train_steps == 0:
            res.notes.append("computed max_train_steps is 0")
        res.num_processes = _num_processes(w, rel)
        res.args = send(w, tab, rel, steps, dsconfig, res.notes)
        res.max_train_steps = res.args.get("max_train_steps")
        res.max_train_epochs = res.args.get("max_train_epochs")
        res.lr_warmup_steps = res.args.get("lr_warmup_steps")
        if steps.lr_warmup_steps is None:
            res.lr_warmup_steps = None
            res.notes.append("lr_warmup_steps depends on the unknown image count")
        unknown_steps = steps.max_train_steps is None and not count.counted and not dsconfig
        if res.max_train_epochs:
            res.notes.append(f"max_train_epochs {res.max_train_epochs} is sent: sd-scripts derives "
                             f"the steps from it and ignores max_train_steps")
        if res.max_train_steps is None and not res.max_train_epochs and not unknown_steps:
            res.notes.append("max_train_steps not sent: sd-scripts uses its default 1600")
        if isinstance(res.lr_warmup_steps, float):
            res.notes.append(f"lr_warmup_steps sent as the ratio {res.lr_warmup_steps}: sd-scripts "
                             f"v0.9.0+ multiplies it by its own max_train_steps (older sd-scripts "
                             f"take an int only)")
    except _Refused as exc:
        res.refused = str(exc)
        if count is not None and not count.counted:
            res.total_steps = count.total_steps  # train_model's running total when it stopped
    except ZeroDivisionError as exc:
        res.refused = f"ZeroDivisionError: {exc} (train_batch_size or gradient_accumulation_steps is 0)"
    except (TypeError, ValueError, OverflowError) as exc:
        # int()/float()/math.ceil on a value the GUI cannot compute with (inf, nan, "abc")
        res.refused = f"{type(exc).__name__}: {exc} (the GUI's train handler raises)"
    return res


def counted_names(names, exts) -> set:
    """The entries of a folder listing the GUI's own count takes: lower-cased names ending with
    one of its extensions, files and folders alike (the same test as `_list_images`)."""
    exts = tuple(exts)
    return {n for n in names if n.lower().endswith(exts)}
