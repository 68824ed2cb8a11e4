"""Predict what a kohya_ss GUI config makes the GUI send to sd-scripts.

Re-implements (does not copy) the step logic of bmaltais/kohya_ss ``train_model``
and ``update_my_data`` per GUI version.  Every per-version difference is a switch in
``kohya_tune/versions/data/gui_profiles.json`` (with file:line citations per tag); this module
only interprets those switches.

Main references (file:line at the tag):
  * image count / formula: v21.5.11 lora_gui.py:513-562, v24.1.7 lora_gui.py:830-895,
    master lora_gui.py:1650-1735; fine-tune v21.5.11 finetune_gui.py:425-453,
    v24.1.7 finetune_gui.py:700-725.
  * what is sent: v21.5.11 library/common_gui.py:857-918,1134-1240; v22.6.2
    library/common_gui.py:679+; v23.1.5 kohya_gui/common_gui.py:1196-1250;
    v24.1.7 lora_gui.py:1091-1248 (TOML, `value not in ["", False, None]`).
  * warmup: v25.2.2 lora_gui.py (lr_warmup_steps > 0 / lr_warmup / 100);
    master kohya_gui/common_gui.py:1185 resolve_lr_warmup_steps.
"""

from __future__ import annotations

import copy
import json
import math
import os
import pathlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable

_PROFILES_PATH = pathlib.Path(__file__).parent.parent / "versions" / "data" / "gui_profiles.json"
_RAW = json.loads(_PROFILES_PATH.read_text(encoding="utf-8"))

GUI_VERSIONS: list[str] = list(_RAW["versions"])
TABS = ("lora", "dreambooth", "finetune", "textual_inversion")


@dataclass
class GuiLaunch:
    version: str
    tab: str
    script: str
    total_steps: int | None = None
    reg_factor: int | None = None
    epoch: int | None = None
    max_train_steps: int | None = None
    max_train_epochs: int | None = None
    lr_warmup_steps: int | float | None = None
    formula: str | None = None
    args: dict = field(default_factory=dict)
    num_processes: int | None = None
    notes: list[str] = field(default_factory=list)
    refused: str | None = None
    migrations: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------
# versions / profiles
# ----------------------------------------------------------------------------

def _vkey(version: str) -> tuple:
    v = version.strip().lower()
    if v in ("master", "main", "head", "latest"):
        return (10**6,)
    m = re.match(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", v)
    if not m:
        raise ValueError(f"not a GUI version: {version!r}")
    return tuple(int(x or 0) for x in m.groups())


def profile_for(version: str) -> str:
    """Nearest profile label at or below ``version`` (e.g. v24.1.3 -> v24.0.5)."""
    key = _vkey(version)
    best = None
    for label in GUI_VERSIONS:
        if _vkey(label) <= key:
            best = label
    if best is None:
        raise ValueError(f"{version!r} is older than the oldest profile {GUI_VERSIONS[0]}")
    return best


def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _profile(label: str) -> dict:
    raw = _RAW["profiles"][label]
    if "inherit" in raw:
        base = _profile(raw["inherit"])
        base["patches"] = []
        over = {k: v for k, v in raw.items() if k != "inherit"}
        return _deep_merge(base, over)
    return copy.deepcopy(raw)


def load_profile(version: str) -> tuple[str, dict]:
    label = profile_for(version)
    prof = _profile(label)
    exact = _vkey(version)
    for patch in prof.get("patches", []):
        if exact >= _vkey(patch["since"]):
            if "load" in patch:
                prof["load"].update(patch["load"])
            if "load_int_coerce" in patch:
                prof["load"]["int_coerce"].update(patch["load_int_coerce"])
    return label, prof


# ----------------------------------------------------------------------------
# update_my_data (load migrations)
# ----------------------------------------------------------------------------

def _update_my_data(data: dict, load: dict) -> list[str]:
    mig: list[str] = []
    if "optimizer" not in data:
        opt = "AdamW8bit" if data.get("use_8bit_adam", False) else "AdamW"
        data["optimizer"] = opt
        mig.append(f"optimizer missing -> {opt!r} (from use_8bit_adam)")
    if data.get("model_list") != "custom":
        # ALL_PRESET_MODELS only lists Hub names; local paths always become custom
        data["model_list"] = "custom"
        mig.append("model_list -> 'custom'")
    # v21-v23: digit strings -> int, falsy (and missing!) -> 0
    for key in load.get("legacy_digit_keys", []):
        had = key in data
        value = data.get(key, 0)
        if isinstance(value, str) and value.strip().isdigit():
            data[key] = int(value)
            mig.append(f"{key} {value!r} -> {int(value)}")
        elif not value:
            data[key] = 0
            if not had:
                mig.append(f"{key} missing -> 0 (update_my_data creates it)")
            elif value != 0 or value is False or value is None:
                mig.append(f"{key} {value!r} -> 0")
    mode = load.get("legacy_float_mode", "none")
    for key in load.get("legacy_float_keys", []):
        had = key in data
        value = data.get(key, 0)
        if isinstance(value, str) and mode == "isdigit" and value.strip().isdigit():
            data[key] = float(value)
            mig.append(f"{key} {value!r} -> {float(value)}")
        elif isinstance(value, str) and mode == "try_float":
            try:
                data[key] = float(value)
            except ValueError:
                data[key] = 0
            mig.append(f"{key} {value!r} -> {data[key]!r}")
        elif not value:
            data[key] = 0
            if not had or value != 0 or value is None:
                mig.append(f"{key} {value!r} -> 0" if had else f"{key} missing -> 0")
    for coerce, conv in (("int_coerce", int), ("float_coerce", float)):
        for key, fallback in load.get(coerce, {}).items():
            value = data.get(key)
            if value is None:
                continue
            try:
                new = conv(value)
            except (ValueError, TypeError):
                new = fallback
            if type(new) is not type(value) or new != value:
                mig.append(f"{key} {value!r} -> {new!r}")
            data[key] = new
    if data.get("LoRA_type", "Standard") == "LoCon":
        data["LoRA_type"] = "LyCORIS/LoCon"
        mig.append("LoRA_type 'LoCon' -> 'LyCORIS/LoCon'")
    if "save_model_as" in data or not load.get("save_model_as_needs_key", True):
        if (data.get("LoRA_type") or data.get("num_vectors_per_token")) and data.get(
            "save_model_as"
        ) not in ["safetensors", "ckpt"]:
            mig.append(f"save_model_as {data.get('save_model_as')!r} -> 'safetensors'")
            data["save_model_as"] = "safetensors"
    if load.get("xformers_bool") and isinstance(data.get("xformers"), bool):
        new = "xformers" if data["xformers"] else "none"
        mig.append(f"xformers {data['xformers']!r} -> {new!r}")
        data["xformers"] = new
    if load.get("use_wandb") and "use_wandb" in data:
        if data["use_wandb"] is not None and data["use_wandb"] == "True":
            data["log_with"] = "wandb"
            mig.append("use_wandb 'True' -> log_with 'wandb'")
        data.pop("use_wandb")
        mig.append("use_wandb dropped")
    if load.get("rename_lora_network_weights") and "lora_network_weights" in data:
        data["network_weights"] = data.pop("lora_network_weights")
        mig.append("lora_network_weights -> network_weights")
    return mig


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------

class _Refused(Exception):
    pass


def _gui_steps(total, batch, ga, epoch, reg) -> int:
    # exact evaluation order: v21.5.11 lora_gui.py:562, v24.1.7 lora_gui.py:886
    return int(math.ceil(float(total) / int(batch) / int(ga) * int(epoch) * int(reg)))


def _truthy_int(v):
    return v


def _cli_int(value, name, notes):
    """sd-scripts argparse type=int applied to the string the GUI wrote."""
    try:
        return int(str(value).strip().strip('"'))
    except ValueError:
        notes.append(f"--{name}={value!r} is not an int: sd-scripts' argparse exits with an error")
        return value


def _send(rule: str, value) -> bool:
    if rule == "truthy":
        return bool(value)
    if rule == "nonempty":
        return value is not None and not (value == "")
    if rule == "nonzero":
        try:
            return int(value) != 0
        except (TypeError, ValueError):
            return False
    raise ValueError(rule)


def _per_tab(spec, tab):
    if isinstance(spec, dict):
        return spec.get(tab, spec.get("default"))
    return spec


def _list_images(path: pathlib.Path, exts) -> int:
    # (file, file.lower()) ... lower_f.endswith(exts): case-insensitive, files and dirs alike
    return sum(1 for f in os.listdir(path) if f.lower().endswith(tuple(exts)))


def _count(train_dir: pathlib.Path, tab: str, count: dict, notes: list[str]) -> int:
    names = sorted(os.listdir(train_dir))
    subfolders = [n for n in names if (train_dir / n).is_dir()]
    is_db = tab == "dreambooth"
    if is_db and count.get("db_skip_hidden"):
        # v21.5.11 dreambooth_gui.py:401-406
        subfolders = [n for n in subfolders if not n.startswith(".")]
        if not subfolders:
            raise _Refused(f"No subfolders were found in {train_dir} can't train")
    bad = _per_tab(count["bad_name"], tab)
    total = 0
    for folder in subfolders:
        try:
            repeats = int(folder.split("_")[0])
        except ValueError:
            if bad == "crash":
                # v21.5.11 textual_inversion_gui.py:438 (no try/except)
                raise _Refused(
                    f"ValueError: invalid literal for int() with base 10: {folder.split('_')[0]!r} "
                    f"(folder {folder!r}; the TI train handler has no try/except and crashes)"
                )
            notes.append(f"folder {folder!r} has no numeric repeat prefix: skipped by the GUI count")
            continue
        n = _list_images(train_dir / folder, count["exts"])
        if is_db and count.get("db_skip_empty") and n == 0:
            notes.append(f"folder {folder!r} contains no images, skipped")
            continue
        if repeats < 1:
            notes.append(
                f"folder {folder!r}: repeats {repeats} counted as {repeats * n} steps by the GUI "
                f"(sd-scripts skips num_repeats < 1)"
            )
        total += repeats * n
    if is_db and count.get("db_refuse_zero") and total == 0:
        # v21.5.11 dreambooth_gui.py:456-462
        raise _Refused(f"No images were found in folder {train_dir}... please rectify!")
    return total


def _preflight(path: pathlib.Path, regex: str, label: str) -> None:
    # master kohya_gui/common_gui.py:1356-1420
    subs = [n for n in os.listdir(path) if (path / n).is_dir()]
    if not any(re.match(regex, n) for n in subs):
        detail = (
            f"Found subfolders that do not match <repeats>_<name>: {', '.join(sorted(subs))}. "
            if subs
            else "No concept subfolders found. "
        )
        raise _Refused(f"{label} preflight failed for '{path}'. {detail}")


# ----------------------------------------------------------------------------
# main entry
# ----------------------------------------------------------------------------

def gui_launch(
    config: dict,
    tab: str,
    version: str,
    resolve_dir: Callable[[str], pathlib.Path | None],
) -> GuiLaunch:
    if tab not in TABS:
        raise ValueError(f"tab must be one of {TABS}")
    label, prof = load_profile(version)
    load, defaults = prof["load"], prof["defaults"]
    count, steps_cfg, send = prof["count"], prof["steps"], prof["send"]

    data = copy.deepcopy(config)
    migrations = _update_my_data(data, load)
    notes: list[str] = []

    def val(key, default=None):
        if key in data and (data[key] is not None or not load["null_is_missing"]):
            return data[key]
        return defaults.get(key, default)

    if not load["null_is_missing"]:
        nulls = sorted(k for k, v in data.items() if v is None)
        if nulls:
            notes.append(f"null values are pushed into the widgets (v21 loader): {', '.join(nulls)}")

    # script from the model checkboxes
    script = None
    for checkbox, name in prof["scripts"][tab]:
        if not checkbox or val(checkbox, False):
            script = name
            break

    res = GuiLaunch(version=label, tab=tab, script=script, migrations=migrations, notes=notes)
    finetune = tab == "finetune"
    dataset_config = val("dataset_config", "") or ""
    dc_active = bool(dataset_config) and count.get("dataset_config_skips_count", False)
    if dataset_config and not count.get("dataset_config_skips_count", False):
        notes.append("dataset_config is not a key of this GUI version: ignored")
        dataset_config = ""

    epoch = val("epoch", 1)
    res.epoch = epoch if isinstance(epoch, int) or epoch is None else epoch
    batch = val("train_batch_size", 1)
    ga = val("gradient_accumulation_steps", 1)
    lr_warmup = val("lr_warmup", 0)
    if prof.get("adafactor_zeroes_warmup") and val("optimizer") == "Adafactor":
        notes.append("optimizer Adafactor: the GUI forces LR warmup to 0")
        lr_warmup = 0
    mode = steps_cfg["mode"][tab]
    mts_raw = val("max_train_steps", defaults.get("max_train_steps"))
    if mode == "always" and not finetune and "max_train_steps" in config:
        notes.append("this tab has no max_train_steps widget in this version: the key is ignored")
    mts = mts_raw
    total = None
    computed = False

    try:
        # ---------------- count ----------------
        if not dc_active:
            src_key = "image_folder" if finetune else "train_data_dir"
            src = val(src_key, "") or ""
            path = resolve_dir(src) if src else None
            if src == "":
                raise _Refused(f"{src_key} is empty ('Image folder path is missing')")
            if path is None:
                notes.append(f"{src_key} {src!r} does not exist here: image count unknown")
            else:
                if count.get("preflight_regex") and not finetune:
                    _preflight(path, count["preflight_regex"], "Image folder")
                    reg = val("reg_data_dir", "") or ""
                    rp = resolve_dir(reg) if reg else None
                    if rp is not None:
                        _preflight(rp, count["preflight_regex"], "Regularisation folder")
                if finetune:
                    # fine-tune counts files directly in image_folder (finetune_gui.py:425-440)
                    n = _list_images(path, count["exts"])
                    total = int(n) * int(val("dataset_repeats", 1))
                else:
                    total = _count(path, tab, count, notes)
        if not finetune and not dc_active:
            res.reg_factor = 1 if (val("reg_data_dir", "") or "") == "" else 2
        res.total_steps = total

        # ---------------- max_train_steps ----------------
        def compute():
            nonlocal computed
            computed = True
            if finetune:
                v = int(math.ceil(float(total) / int(batch) / int(ga) * int(epoch)))
                res.formula = f"ceil({total} / {batch} / {ga} * {epoch}) = {v}"
            else:
                v = _gui_steps(total, batch, ga, epoch, res.reg_factor)
                res.formula = f"ceil({total} / {batch} / {ga} * {epoch} * {res.reg_factor}) = {v}"
            return v

        if mode == "always":
            want = not dc_active
        elif mode == "textbox_empty":
            want = mts_raw == ""
        elif mode == "textbox":
            want = (mts_raw == "" or mts_raw == "0") and not dc_active
        elif mode == "zero":
            want = mts_raw == 0 and not dc_active
        else:
            raise ValueError(mode)
        if want:
            if total is None:
                notes.append("max_train_steps would be computed from the image count, which is unknown")
                mts = None
            else:
                mts = compute()
        elif mode == "textbox_empty":
            mts = int(mts_raw)
        if not computed and mts not in (None, "") and not dc_active and mode != "always":
            how = "typed in" if "max_train_steps" in config and config["max_train_steps"] is not None \
                else "(missing from the file: the widget keeps its default)"
            notes.append(f"max_train_steps {mts} {how}: epoch {epoch} is ignored for the step count")
        halve = steps_cfg.get("flip_halving")
        if finetune and val("flip_aug", False) and mts not in (None, "") and not dc_active:
            if (halve == "computed" and computed) or (halve == "truthy" and mts):
                new = int(math.ceil(float(mts) / 2))
                notes.append(f"flip_aug: the GUI halves max_train_steps {mts} -> {new}")
                if res.formula:
                    res.formula += f"; flip_aug: ceil({mts} / 2) = {new}"
                mts = new
        if dc_active:
            notes.append("dataset_config set: the GUI counts no images")
        if computed and mts == 0:
            notes.append("computed max_train_steps is 0")

        # ---------------- warmup ----------------
        wmode = send["warmup"]
        if wmode == "pct_steps":
            # round(float(int(lr_warmup) * int(max_train_steps) / 100)): v21.5.11 lora_gui.py:573,
            # v24.1.7 lora_gui.py:910; v23 sets 0 when max_train_steps == "" (dataset_config)
            if mts is None:
                warm = None if int(lr_warmup or 0) else 0
            elif mts == "":
                warm = 0
            else:
                warm = round(float(int(lr_warmup) * int(mts) / 100))
        else:
            abs_steps = val("lr_warmup_steps", 0)
            pct = lr_warmup
            if dc_active:
                if isinstance(mts, (int, float)) and mts > 0:
                    if wmode == "ratio_master":
                        try:
                            a = float(abs_steps) if abs_steps not in ("", None) else 0.0
                        except (TypeError, ValueError):
                            a = 0.0
                        if a <= 0 and pct not in ("", None) and float(pct) != 0:
                            abs_steps = round(float(pct) * int(mts) / 100)
                            pct = 0
                    else:
                        abs_steps = round(float(int(pct) * int(mts) / 100)) if pct != 0 else 0
                else:
                    abs_steps = 0
            a = float(abs_steps) if abs_steps not in ("", None) else 0.0
            p = float(pct) if pct not in ("", None) else 0.0
            if a > 0:
                warm = int(a)
                if p > 0:
                    notes.append("Both lr_warmup and lr_warmup_steps are set. lr_warmup_steps will be used.")
            elif p != 0:
                warm = pct / 100
            else:
                warm = 0
        if warm is None:
            notes.append("lr_warmup_steps depends on the unknown image count")

        # ---------------- num_processes ----------------
        acc = prof["accelerate"]["num_processes"]
        nproc = val("num_processes", 1)
        if acc == "gt1" and nproc and int(nproc) > 1:
            res.num_processes = int(nproc)
        elif acc == "gt0" and int(nproc or 0) > 0:
            res.num_processes = int(nproc)

        # ---------------- args ----------------
        res.args = _build_args(prof, tab, val, mts, warm, epoch, notes, dc_active)
        res.max_train_steps = res.args.get("max_train_steps") if "max_train_steps" in res.args else None
        res.max_train_epochs = res.args.get("max_train_epochs") if "max_train_epochs" in res.args else None
        res.lr_warmup_steps = res.args.get("lr_warmup_steps") if "lr_warmup_steps" in res.args else None
        if warm is None:
            res.lr_warmup_steps = None
        if mts is None and total is None and want:
            res.max_train_steps = None
        if res.max_train_epochs:
            notes.append(
                f"max_train_epochs {res.max_train_epochs} is sent: sd-scripts derives the steps from it "
                f"and ignores max_train_steps"
            )
        if res.max_train_steps is None and not res.max_train_epochs and not (mts is None and want):
            notes.append("max_train_steps not sent: sd-scripts uses its default 1600")
        if isinstance(res.lr_warmup_steps, float):
            notes.append(
                f"lr_warmup_steps sent as the ratio {res.lr_warmup_steps}: sd-scripts >= 2e0fcc50 "
                f"multiplies it by its own max_train_steps (older sd-scripts take int only)"
            )
        if send["warmup_send"] == "truthy_not_constant" and warm and val("lr_scheduler") == "constant":
            notes.append("Can't use LR warmup with LR Scheduler constant... ignoring...")
    except _Refused as exc:
        res.refused = str(exc)
    except ZeroDivisionError as exc:
        res.refused = f"ZeroDivisionError: {exc} (train_batch_size or gradient_accumulation_steps is 0)"
    except (TypeError, ValueError) as exc:
        res.refused = f"{type(exc).__name__}: {exc} (the GUI's train handler raises)"
    return res


def _build_args(prof, tab, val, mts, warm, epoch, notes, dc_active) -> dict:
    send = prof["send"]
    finetune = tab == "finetune"
    cli = send["transport"] == "cli"
    a: dict[str, Any] = {}
    train_dir = val("image_folder", "") if finetune else val("train_data_dir", "")
    enable_bucket = True if finetune else bool(val("enable_bucket", True))
    in_json = None
    if finetune:
        md = val("latent_metadata_filename", "meta_lat.json") if val("use_latent_files", "Yes") == "Yes" \
            else val("caption_metadata_filename", "meta_cap.json")
        in_json = f"{val('train_dir', '')}/{md}"

    epochs_rule = _per_tab(send["max_train_epochs"], tab)
    mte = val("max_train_epochs", "")
    sched = val("lr_scheduler", "")

    if cli:
        # v21-v23: a CLI string parsed by sd-scripts' argparse (types as argparse gives them)
        def put(k, v):
            a[k] = v

        if train_dir:
            put("train_data_dir", train_dir)
        reg = val("reg_data_dir", "") or ""
        if not finetune and len(reg):
            put("reg_data_dir", reg)
        if val("dataset_config", ""):
            put("dataset_config", val("dataset_config"))
        if in_json:
            put("in_json", in_json)
        if val("max_resolution", ""):
            put("resolution", str(val("max_resolution")).strip('"'))
        if enable_bucket:
            put("enable_bucket", True)
            mm = _per_tab(send["min_max_bucket"], tab)
            if mm == "always" or (mm == "with_enable_bucket" and val("min_bucket_reso") and val("max_bucket_reso")):
                put("min_bucket_reso", _cli_int(val("min_bucket_reso"), "min_bucket_reso", notes))
                put("max_bucket_reso", _cli_int(val("max_bucket_reso"), "max_bucket_reso", notes))
        brs = val("bucket_reso_steps", 64)
        if send["bucket_reso_steps"] == "always" or brs:
            put("bucket_reso_steps", int(brs))
        if val("bucket_no_upscale", False):
            put("bucket_no_upscale", True)
        if val("train_batch_size"):
            put("train_batch_size", _cli_int(val("train_batch_size"), "train_batch_size", notes))
        ga = val("gradient_accumulation_steps", 1)
        if ga and int(ga) > 1:
            put("gradient_accumulation_steps", int(ga))
        if mts is not None and _send(send["max_train_steps"], mts):
            put("max_train_steps", _cli_int(mts, "max_train_steps", notes))
        if _send(epochs_rule, mte):
            put("max_train_epochs", _cli_int(mte, "max_train_epochs", notes))
        if finetune and val("dataset_repeats"):
            put("dataset_repeats", _cli_int(val("dataset_repeats"), "dataset_repeats", notes))
        if val("caption_extension", ""):
            put("caption_extension", val("caption_extension"))
        if sched:
            put("lr_scheduler", sched)
        if warm and sched != "constant":
            put("lr_warmup_steps", int(warm))
        ncy = val("lr_scheduler_num_cycles", "")
        if send["num_cycles"] == "nonempty_else_epoch":
            put("lr_scheduler_num_cycles", _cli_int(ncy if ncy != "" else epoch, "lr_scheduler_num_cycles", notes))
        elif ncy and ncy != "":
            put("lr_scheduler_num_cycles", _cli_int(ncy, "lr_scheduler_num_cycles", notes))
        elif epoch:
            put("lr_scheduler_num_cycles", int(epoch))
        if val("save_every_n_epochs"):
            put("save_every_n_epochs", int(val("save_every_n_epochs")))
        sns = val("save_every_n_steps", 0)
        if sns and int(sns) > 0:
            put("save_every_n_steps", int(sns))
        se, ss = val("sample_every_n_epochs", 0), val("sample_every_n_steps", 0)
        if not (se == 0 and ss == 0):
            if se != 0:
                put("sample_every_n_epochs", _cli_int(se, "sample_every_n_epochs", notes))
            if ss != 0:
                put("sample_every_n_steps", _cli_int(ss, "sample_every_n_steps", notes))
        for flag in ("flip_aug", "color_aug", "shuffle_caption", "cache_latents", "random_crop"):
            if val(flag, False):
                put(flag, True)
        lr = val("learning_rate", "")
        if lr:
            try:
                put("learning_rate", float(lr))
            except (TypeError, ValueError):
                put("learning_rate", lr)
        return a

    # v24+: flat TOML, entries equal to "", False or None dropped (0 == False, so 0 and 0.0 too)
    def nz(v):
        return v if v != 0 else None

    ncy = val("lr_scheduler_num_cycles", 1)
    raw = {
        "train_data_dir": train_dir,
        "reg_data_dir": None if finetune else val("reg_data_dir", ""),
        "dataset_config": val("dataset_config", ""),
        "in_json": in_json,
        "resolution": val("max_resolution", ""),
        "enable_bucket": enable_bucket,
        "min_bucket_reso": int(val("min_bucket_reso", 256)),
        "max_bucket_reso": int(val("max_bucket_reso")) if finetune else val("max_bucket_reso"),
        "bucket_reso_steps": val("bucket_reso_steps", 64),
        "bucket_no_upscale": val("bucket_no_upscale", False),
        "train_batch_size": val("train_batch_size", 1),
        "gradient_accumulation_steps": int(val("gradient_accumulation_steps", 1)),
        "max_train_steps": (int(mts) if mts is not None and int(mts) != 0 else None),
        "max_train_epochs": int(mte) if int(mte) != 0 else None,
        "dataset_repeats": int(val("dataset_repeats", 1)) if finetune else None,
        "caption_extension": val("caption_extension", ""),
        "lr_scheduler": sched,
        "lr_warmup_steps": warm,
        "lr_scheduler_num_cycles": int(ncy) if ncy != "" else int(epoch),
        "epoch": int(epoch),
        "save_every_n_epochs": nz(val("save_every_n_epochs", 0)),
        "save_every_n_steps": nz(val("save_every_n_steps", 0)),
        "sample_every_n_epochs": nz(val("sample_every_n_epochs", 0)),
        "sample_every_n_steps": nz(val("sample_every_n_steps", 0)),
        "flip_aug": val("flip_aug", False),
        "color_aug": val("color_aug", False),
        "shuffle_caption": val("shuffle_caption", False),
        "cache_latents": val("cache_latents", False),
        "random_crop": val("random_crop", False),
        "learning_rate": val("learning_rate", None),
    }
    a = {k: v for k, v in raw.items() if v not in ["", False, None]}
    a["max_data_loader_n_workers"] = int(val("max_data_loader_n_workers", 0) or 0)
    if "epoch" in a:
        notes.append(f"the TOML carries epoch = {a['epoch']}, which sd-scripts has no argument for (ignored)")
    return dict(sorted(a.items()))


def counted_names(names, exts) -> set:
    """The entries of a folder listing the GUI's own count takes: lower-cased names ending with
    one of its extensions, files and folders alike (the same test as `_list_images`)."""
    exts = tuple(exts)
    return {n for n in names if n.lower().endswith(exts)}
