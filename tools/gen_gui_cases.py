#!/usr/bin/env python3
"""Build the GUI golden cases (tests/data/golden/gui-<tag>-<tab>-<case>.json) with the real GUI.

Needs the GUI oracle of ../shared/oracles/gui_oracle and its venvs/source trees
($KOHYA_GUI_ORACLE, default ~/.cache/kohya-gui-oracle); nothing here is a project dependency.

    python tools/gen_gui_cases.py bases --out BASES [--tags v24.1.7,...]
        the config a fresh tab of each release saves (the GUI's own Save button, through
        tools/gui_save_defaults.py run with that release's venv), one per tab
    python tools/gen_gui_cases.py specs --bases BASES --out SPECS [--tags ...] [--only ids]
        one spec per release and scenario (below), built on those saved configs, values typed as
        that release saves them (a Textbox release gets "0", a Number release 0)
    python tools/gen_gui_cases.py run --out CASES [--raw RAW] SPECS/*.json
        runs the GUI oracle on each spec (load, change events, print training command) and writes
        the case with expected.gui and options.script (the script in the GUI's command)
    python tools/gen_gui_cases.py install CASES/*.json --golden tests/data/golden

Scenarios: two folders (basic); a reg folder with grad-acc 2; max_train_steps typed, "0" as a
string, or missing; max_train_epochs with epoch; the constant scheduler with warm-up (and warm-up
steps); Adafactor (v21); an SDXL preset model with the checkbox off; a custom .safetensors model
with it on; dataset_config with and without typed steps; warm-up steps and percent together;
negative/zero/missing/hidden folder prefixes and .Jpg/.bmp/.JPEG/.webp files; numbers saved as
strings; a float epoch; nulls; two GPUs; DreamBooth with reg/empty/hidden/bad folders; fine-tune
with and without flip_aug and typed steps, and without an lr_warmup key; textual inversion with a bad
folder name; dataset_config with lr_warmup_steps (max_train_steps 0 or typed); the FLUX.1 checkbox
with LoRA_type Standard / Flux1 and with SDXL as well; images directly in train_data_dir and a reg
folder without N_name subfolders, and DreamBooth with images directly in train_data_dir (v25+);
DreamBooth with lr_warmup 0; Kohya LoHa with and without SDXL, LoRA_type Lumina without its
checkbox (v26+).
"""
from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
# ../shared next to the project checkout (or next to the folder holding git worktrees)
ORACLE_DIR = next((p for p in (os.path.normpath(os.path.join(HERE, *up, "shared", "oracles", "gui_oracle"))
                               for up in ((".", ".."), ("..", "..", "..")))
                   if os.path.isdir(p)), os.path.join(HERE, "..", "..", "shared", "oracles", "gui_oracle"))
ROOT = os.path.expanduser(os.environ.get("KOHYA_GUI_ORACLE", "~/.cache/kohya-gui-oracle"))
TABS = ("lora", "dreambooth", "finetune", "ti")
_OUT = [""]


def oracle_build(oracle_dir: str, extra_venvs: list[str] | None = None):
    """The oracle's build.py (run_oracle, project, TAG_VENV), imported under another name;
    extra_venvs ("v21.8.8=v22") runs more tags (their tree in $KOHYA_GUI_ORACLE/src/<tag>)."""
    spec = importlib.util.spec_from_file_location("gui_oracle_build", os.path.join(oracle_dir, "build.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for item in extra_venvs or []:
        tag, era = item.split("=", 1)
        mod.TAG_VENV[tag] = era
    return mod


def vkey(t):
    if t == "master": return (999,)
    return tuple(int(x) for x in t.lstrip("vV").split("."))

def typed(base, key, n):
    """value as this version's widget saves it (Textbox -> str)"""
    if key in base and isinstance(base[key], str):
        return str(n)
    return n

def lora_common(cfg):
    cfg.update({"train_data_dir": "img", "output_dir": "model", "logging_dir": "log", "output_name": "case",
                "reg_data_dir": ""})
    return cfg

def mk(tag, tab, sid, about, cfg, dataset, files=None, captions=None, tabopt=None):
    case = {"id": f"gui-{tag}-{tab}-{sid}".replace("ti-", "ti-"), "about": f"{tag} {tab}: {about}",
            "dataset": dataset, "files": dict(files or {}), "config": "config.json",
            "options": {"num_processes": 1, "gui_version": tag}, "expected": {}}
    if captions: case["captions"] = captions
    if tabopt: case["options"]["gui_tab"] = tabopt
    case["files"]["config.json"] = json.dumps(cfg, indent=2, sort_keys=True)
    case["files"]["outputs/.keep"] = ""
    with open(os.path.join(_OUT[0], case["id"] + ".json"), "w") as f:
        json.dump(case, f, indent=1)

def nonull(d):
    return {k: ("" if v is None else v) for k, v in d.items()}

META = json.dumps({f"{i:04d}": {"caption": "a photo", "train_resolution": [512, 512], "image_size": [512, 512]} for i in range(7)}, indent=1)

def setn(cfg, base, key, n):
    if key in base:
        cfg[key] = typed(base, key, n)



def write_specs(bases: str, out: str, TAGS: list[str], ONLY: set | None) -> None:
    _OUT[0] = out
    os.makedirs(out, exist_ok=True)
    for tag in TAGS:
        v = vkey(tag)
        # ---------------- LoRA ----------------
        base = nonull(json.load(open(f"{bases}/{tag}-lora.json")))
        def L(): 
            c = lora_common(copy.deepcopy(base)); setn(c, base, "lr_warmup", 10); return c
        DS = {"img/5_a": [[512, 512, 4]], "img/3_b": [[768, 512, 2]]}
        sc = {}
        c = L(); setn(c, base, "train_batch_size", 2); setn(c, base, "epoch", 3)
        if "max_train_steps" in base: c["max_train_steps"] = typed(base, "max_train_steps", 0) if v >= (24,) else ""
        sc["basic"] = ("two folders, batch 2, epoch 3, 10% warmup, max_train_steps computed", c, DS)
        c = L(); c["reg_data_dir"] = "reg"; setn(c, base, "epoch", 2); setn(c, base, "gradient_accumulation_steps", 2)
        if "max_train_steps" in base: c["max_train_steps"] = typed(base, "max_train_steps", 0) if v >= (24,) else ""
        sc["reg-ga2"] = ("reg folder, GA 2, epoch 2", c, dict(DS, **{"reg/1_r": [[512, 512, 6]]}))
        if "max_train_steps" in base:
            c = L(); setn(c, base, "epoch", 5); c["max_train_steps"] = typed(base, "max_train_steps", 123); setn(c, base, "lr_warmup", 20)
            sc["steps-typed"] = ("max_train_steps 123 typed in, epoch 5, 20% warmup", c, DS)
            c = L(); setn(c, base, "epoch", 4); c["max_train_steps"] = "0"
            sc["steps-str0"] = ('max_train_steps "0" as a string, epoch 4', c, DS)
            c = L(); setn(c, base, "epoch", 4); c.pop("max_train_steps", None); c.pop("lr_scheduler_num_cycles", None)
            sc["steps-missing"] = ("an older file without max_train_steps / lr_scheduler_num_cycles keys", c, DS)
        c = L(); setn(c, base, "epoch", 10); setn(c, base, "gradient_accumulation_steps", 2); c["max_train_epochs"] = typed(base, "max_train_epochs", 3)
        if "max_train_steps" in base: c["max_train_steps"] = typed(base, "max_train_steps", 0) if v >= (24,) else ""
        sc["epochs-set"] = ("max_train_epochs 3 with epoch 10 and GA 2", c, DS)
        c = L(); c["lr_scheduler"] = "constant"; setn(c, base, "epoch", 2)
        if "lr_warmup_steps" in base: c["lr_warmup_steps"] = 5
        if "max_train_steps" in base: c["max_train_steps"] = typed(base, "max_train_steps", 0) if v >= (24,) else ""
        sc["constant-warmup"] = ("constant scheduler with 10% warmup (and 5 warmup steps where the key exists)", c, DS)
        if v < (22,):
            c = L(); c["optimizer"] = "Adafactor"; setn(c, base, "epoch", 2)
            if "max_train_steps" in base: c["max_train_steps"] = ""
            sc["adafactor"] = ("Adafactor optimizer with 10% warmup", c, DS)
        c = L(); c["pretrained_model_name_or_path"] = "stabilityai/stable-diffusion-xl-base-1.0"
        if "sdxl" in base: c["sdxl"] = False
        if "model_list" in base and v < (23,): c["model_list"] = "stabilityai/stable-diffusion-xl-base-1.0"
        if "max_train_steps" in base: c["max_train_steps"] = typed(base, "max_train_steps", 0) if v >= (24,) else ""
        sc["sdxl-preset"] = ("the SDXL base model picked by name with the SDXL checkbox off", c, DS)
        if "sdxl" in base:
            c = L(); c["pretrained_model_name_or_path"] = "models/custom-sdxl.safetensors"; c["sdxl"] = True
            if "max_train_steps" in base: c["max_train_steps"] = typed(base, "max_train_steps", 0) if v >= (24,) else ""
            sc["sdxl-custom"] = ("a custom .safetensors model path (an empty file: no model type to read) with the SDXL checkbox on", c, DS, {"models/custom-sdxl.safetensors": ""})
        if "dataset_config" in base:
            toml = '[general]\nenable_bucket = true\ncaption_extension = ".txt"\n\n[[datasets]]\nresolution = 512\nbatch_size = 2\n\n  [[datasets.subsets]]\n  image_dir = "img/5_a"\n  num_repeats = 3\n'
            c = L(); c["dataset_config"] = "dataset.toml"; c["train_data_dir"] = ""; setn(c, base, "epoch", 6)
            c["max_train_steps"] = typed(base, "max_train_steps", 0) if v >= (24,) else ""
            sc["dsconfig"] = ("dataset_config set, max_train_steps left to compute", c, DS, {"dataset.toml": toml})
            c = L(); c["dataset_config"] = "dataset.toml"; c["train_data_dir"] = ""; setn(c, base, "epoch", 6)
            c["max_train_steps"] = typed(base, "max_train_steps", 400)
            sc["dsconfig-steps"] = ("dataset_config set with max_train_steps 400", c, DS, {"dataset.toml": toml})
        if "dataset_config" in base and "lr_warmup_steps" in base:
            for sid, steps, about in (("dsconfig-warmup-steps", 0, "max_train_steps left at 0"),
                                      ("dsconfig-warmup-steps-typed", 400, "max_train_steps 400")):
                c = L(); c["dataset_config"] = "dataset.toml"; c["train_data_dir"] = ""; setn(c, base, "epoch", 6)
                c["max_train_steps"] = typed(base, "max_train_steps", steps); c["lr_warmup_steps"] = 7
                sc[sid] = (f"dataset_config set, lr_warmup_steps 7 with 10% warmup, {about}", c, DS, {"dataset.toml": toml})
        if "flux1_checkbox" in base:
            c = L(); setn(c, base, "epoch", 2); c["flux1_checkbox"] = True; c["pretrained_model_name_or_path"] = "models/flux"
            if "max_train_steps" in base: c["max_train_steps"] = typed(base, "max_train_steps", 0)
            sc["flux-standard"] = ("the FLUX.1 checkbox on with LoRA_type Standard, a model folder", c, DS, {"models/flux/.keep": ""})
            c = copy.deepcopy(c); c["LoRA_type"] = "Flux1"
            sc["flux-lora"] = ("the FLUX.1 checkbox on with LoRA_type Flux1, a model folder", c, DS, {"models/flux/.keep": ""})
            c = copy.deepcopy(c); c["sdxl"] = True
            sc["flux-and-sdxl"] = ("both the FLUX.1 and the SDXL checkboxes on, LoRA_type Flux1", c, DS, {"models/flux/.keep": ""})
        if "lumina_checkbox" in base:
            for sid, kind, sdxl, about in (("loha-sd15", "Kohya LoHa", False, "LoRA_type Kohya LoHa on the default SD 1.5 model"),
                                           ("loha-sdxl", "Kohya LoHa", True, "LoRA_type Kohya LoHa with the SDXL base model and checkbox"),
                                           ("lumina-type", "Lumina", False, "LoRA_type Lumina without the Lumina checkbox")):
                c = L(); setn(c, base, "epoch", 2); c["LoRA_type"] = kind; c["sdxl"] = sdxl
                if sdxl: c["pretrained_model_name_or_path"] = "stabilityai/stable-diffusion-xl-base-1.0"
                if "max_train_steps" in base: c["max_train_steps"] = typed(base, "max_train_steps", 0)
                sc[sid] = (about, c, DS)
        if v >= (25,):
            c = L(); setn(c, base, "epoch", 2)
            if "max_train_steps" in base: c["max_train_steps"] = typed(base, "max_train_steps", 0)
            sc["flat-folder"] = ("images directly in train_data_dir next to a folder without repeat prefix",
                                 c, {"img": [[512, 512, 3]], "img/cat": [[512, 512, 2]]})
            c = L(); c["reg_data_dir"] = "reg"; setn(c, base, "epoch", 2)
            if "max_train_steps" in base: c["max_train_steps"] = typed(base, "max_train_steps", 0)
            sc["reg-flat"] = ("a reg folder whose only subfolder has no repeat prefix", c, dict(DS, **{"reg/r": [[512, 512, 3]]}))
        if "lr_warmup_steps" in base:
            c = L(); c["lr_warmup_steps"] = 7; setn(c, base, "epoch", 3); c["max_train_steps"] = 0
            sc["warmup-both"] = ("lr_warmup_steps 7 and lr_warmup 10 both set", c, DS)
            c = L(); c["lr_warmup_steps"] = 7; c["lr_warmup"] = 0; setn(c, base, "epoch", 3); c["max_train_steps"] = 0
            sc["warmup-abs"] = ("lr_warmup_steps 7 with lr_warmup 0", c, DS)
        c = L(); setn(c, base, "epoch", 2)
        if "max_train_steps" in base: c["max_train_steps"] = typed(base, "max_train_steps", 0) if v >= (24,) else ""
        odd = {"img/5_a": [[512, 512, 4]], "img/-2_b": [[512, 512, 3]], "img/0_c": [[512, 512, 2]], "img/noprefix": [[512, 512, 2]],
               "img/.4_hidden": [[512, 512, 2]], "img/4_d": [[512, 512, 2, ".Jpg"], [512, 512, 1, ".bmp"], [512, 512, 1, ".JPEG"], [512, 512, 1, ".webp"]]}
        sc["odd-folders"] = ("negative, zero, missing and hidden repeat prefixes; .Jpg/.bmp/.JPEG/.webp files", c, odd)
        c = L(); c["epoch"] = "3"; c["lr_warmup"] = "10"; c["train_batch_size"] = 2; c["max_train_epochs"] = ""; c["gradient_accumulation_steps"] = "1"
        if "max_train_steps" in base: c["max_train_steps"] = ""
        if "lr_scheduler_num_cycles" in base: c["lr_scheduler_num_cycles"] = ""
        sc["legacy-strings"] = ('numbers saved as strings by an old GUI ("3", "10", ""), loaded here', c, DS)
        c = L(); c["epoch"] = 2.7; c["train_batch_size"] = 1
        if "max_train_steps" in base: c["max_train_steps"] = typed(base, "max_train_steps", 0) if v >= (24,) else ""
        sc["float-epoch"] = ("epoch 2.7 (a float)", c, DS)
        c = L(); setn(c, base, "epoch", 2); c["max_train_epochs"] = None; c["lr_warmup"] = None
        if "max_train_steps" in base: c["max_train_steps"] = None
        sc["nulls"] = ("null max_train_epochs / max_train_steps / lr_warmup", c, DS)
        if "num_processes" in base:
            c = L(); setn(c, base, "epoch", 2); c["num_processes"] = 2; c["multi_gpu"] = True
            if "max_train_steps" in base: c["max_train_steps"] = typed(base, "max_train_steps", 0) if v >= (24,) else ""
            sc["two-gpus"] = ("num_processes 2 with multi_gpu", c, DS)
        for sid, spec in sc.items():
            if ONLY and sid not in ONLY: continue
            about, cfg, ds = spec[:3]; files = spec[3] if len(spec) > 3 else None
            mk(tag, "lora", sid, about, cfg, ds, files)
        # ---------------- DreamBooth ----------------
        base = nonull(json.load(open(f"{bases}/{tag}-dreambooth.json")))
        c = copy.deepcopy(base); c.update({"train_data_dir": "img", "output_dir": "model", "logging_dir": "log", "output_name": "case", "reg_data_dir": "reg"})
        setn(c, base, "epoch", 3); setn(c, base, "train_batch_size", 2); setn(c, base, "lr_warmup", 10)
        if "max_train_steps" in base: c["max_train_steps"] = typed(base, "max_train_steps", 0) if v >= (24,) else ""
        ds = {"img/5_a": [[512, 512, 4]], "img/2_empty": [], "img/.3_hidden": [[512, 512, 2]], "img/cat": [[512, 512, 2]], "reg/1_r": [[512, 512, 3]]}
        if not ONLY or "db-basic" in ONLY:
            mk(tag, "dreambooth", "db-basic", "reg dir, an empty folder, a hidden folder and a folder without repeat prefix", c, ds, tabopt="dreambooth")
        if not ONLY or "db-no-warmup" in ONLY:
            c0 = copy.deepcopy(c); setn(c0, base, "lr_warmup", 0)
            mk(tag, "dreambooth", "db-no-warmup", "as db-basic with lr_warmup 0", c0, ds, tabopt="dreambooth")
        if v >= (25,) and (not ONLY or "db-flat" in ONLY):
            mk(tag, "dreambooth", "db-flat", "images directly in train_data_dir next to a folder without repeat prefix", c,
               {"img": [[512, 512, 3]], "img/cat": [[512, 512, 2]], "reg/1_r": [[512, 512, 3]]}, tabopt="dreambooth")
        # ---------------- fine-tune ----------------
        base = nonull(json.load(open(f"{bases}/{tag}-finetune.json")))
        for sid, flip, steps in (("ft-basic", False, None), ("ft-flip", True, None), ("ft-flip-steps", True, 101),
                                 ("ft-no-warmup", False, None)):
            if ONLY and sid not in ONLY: continue
            if steps and "max_train_steps" not in base: continue
            c = copy.deepcopy(base); c.update({"image_folder": "img", "train_dir": "ft", "output_dir": "model", "logging_dir": "log", "output_name": "case"})
            setn(c, base, "dataset_repeats", 3); setn(c, base, "train_batch_size", 2); setn(c, base, "epoch", 3); c["flip_aug"] = flip
            c["lr_scheduler"] = "cosine"; setn(c, base, "lr_warmup", 10)
            if sid == "ft-no-warmup":  # an older file without the key: the widget's default stays
                c.pop("lr_warmup", None)
            if "max_train_steps" in base:
                c["max_train_steps"] = typed(base, "max_train_steps", steps if steps is not None else 0) if (v >= (24,) or steps) else ""
            mk(tag, "finetune", sid, f"image_folder with 7 images, dataset_repeats 3, batch 2, epoch 3, flip_aug {flip}, max_train_steps {steps}" + (", no lr_warmup key" if "lr_warmup" not in c else ""), c,
               {"img": [[512, 512, 7]]}, files={"ft/meta_lat.json": META, "ft/meta_cap.json": META}, tabopt="finetune")
        # ---------------- TI ----------------
        base = nonull(json.load(open(f"{bases}/{tag}-ti.json")))
        for sid, extra in (("ti-basic", {}), ("ti-badname", {"img/cat": [[512, 512, 2]]})):
            if ONLY and sid not in ONLY: continue
            c = copy.deepcopy(base); c.update({"train_data_dir": "img", "output_dir": "model", "logging_dir": "log", "output_name": "case", "reg_data_dir": "",
                                               "token_string": "tok", "init_word": "*"})
            setn(c, base, "epoch", 3); setn(c, base, "train_batch_size", 1); setn(c, base, "lr_warmup", 10)
            if "max_train_steps" in base: c["max_train_steps"] = typed(base, "max_train_steps", 0) if v >= (24,) else ""
            mk(tag, "ti", sid, "TI tab, one folder" + (" plus a folder without repeat prefix" if extra else ""), c, dict({"img/5_a": [[512, 512, 4]]}, **extra), tabopt="ti")


def script_of(command: str | None) -> str | None:
    found = re.findall(r"sd-scripts/([A-Za-z0-9_]+)\.py|\"?\.?/?([A-Za-z0-9_]*(?:train|network|_db"
                       r"|textual_inversion|fine_tune)[A-Za-z0-9_]*)\.py", command or "")
    for a, b in found:
        return a or b
    return None


def cmd_bases(opts) -> int:
    build = oracle_build(opts.oracle, opts.venv)
    os.makedirs(opts.out, exist_ok=True)
    for tag in opts.tags.split(",") if opts.tags else list(build.TAG_VENV):
        py = os.path.join(ROOT, "venv-" + build.TAG_VENV[tag], "bin", "python")
        for tab in TABS:
            target = os.path.join(opts.out, f"{tag}-{tab}.json")
            if os.path.exists(target):
                continue
            proc = subprocess.run([py, "-W", "ignore", os.path.join(HERE, "gui_save_defaults.py"),
                                   "--oracle", opts.oracle, "--src", os.path.join(ROOT, "src", tag),
                                   "--tab", tab, target], capture_output=True, text=True)
            print(tag, tab, (proc.stdout.strip().splitlines() or [proc.stderr[-300:]])[-1])
    return 0


def cmd_specs(opts) -> int:
    tags = opts.tags.split(",")
    write_specs(opts.bases, opts.out, tags, set(opts.only.split(",")) if opts.only else None)
    return 0


def cmd_run(opts) -> int:
    build = oracle_build(opts.oracle, opts.venv)
    os.makedirs(opts.out, exist_ok=True)
    if opts.raw:
        os.makedirs(opts.raw, exist_ok=True)

    def one(path):
        case = json.load(open(path, encoding="utf-8"))
        target = os.path.join(opts.out, case["id"] + ".json")
        if os.path.exists(target):
            return case["id"], "exists"
        try:
            out = build.run_oracle(case)
        except Exception as exc:  # reported per case
            return case["id"], f"FAIL {exc}"[:400]
        if opts.raw:
            with open(os.path.join(opts.raw, case["id"] + ".json"), "w", encoding="utf-8") as f:
                json.dump(out, f, indent=1, default=str)
        case["expected"] = dict(case.get("expected") or {}, gui=build.project(out))
        script = script_of(out.get("command"))
        if script:
            case["options"]["script"] = script
        with open(target, "w", encoding="utf-8") as f:
            json.dump(case, f, indent=1)
        return case["id"], json.dumps(case["expected"]["gui"]) + f" script={script}"

    with ThreadPoolExecutor(opts.jobs) as pool:
        for cid, res in pool.map(one, opts.specs):
            print(cid, res, flush=True)
    return 0


def cmd_install(opts) -> int:
    for path in opts.cases:
        case = json.load(open(path, encoding="utf-8"))
        case.pop("oracle", None)
        with open(os.path.join(opts.golden, case["id"] + ".json"), "w", encoding="utf-8") as f:
            json.dump(case, f, indent=1)
            f.write("\n")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--oracle", default=ORACLE_DIR, help="the gui_oracle folder")
    ap.add_argument("--venv", action="append", default=[],
                    help="TAG=ERA: run a tag outside the oracle's list with venv-ERA")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("bases"); p.add_argument("--out", required=True); p.add_argument("--tags")
    p = sub.add_parser("specs"); p.add_argument("--bases", required=True); p.add_argument("--out", required=True)
    p.add_argument("--tags", required=True); p.add_argument("--only")
    p = sub.add_parser("run"); p.add_argument("--out", required=True); p.add_argument("--raw")
    p.add_argument("--jobs", type=int, default=2); p.add_argument("specs", nargs="+")
    p = sub.add_parser("install"); p.add_argument("--golden", required=True); p.add_argument("cases", nargs="+")
    opts = ap.parse_args(argv)
    return {"bases": cmd_bases, "specs": cmd_specs, "run": cmd_run, "install": cmd_install}[opts.cmd](opts)


if __name__ == "__main__":
    sys.exit(main())
