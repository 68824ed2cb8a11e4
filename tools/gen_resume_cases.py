#!/usr/bin/env python3
"""Record the resume cases of tests/data/resume with the real sd-scripts loop.

Needs the resume oracle of ../shared/oracles/resume (the unmodified train_network.py on CPU with
stub models) and its trees/venvs ($KOHYA_ORACLE, default ~/.cache/kohya-oracle); nothing here is
a project dependency, and tests never run it.

    python tools/gen_resume_cases.py record [--only ID,...] [--out tests/data/resume]
        for each case below: the uninterrupted run (the reference), then the runs of the case in
        order in one folder (one output_dir, as users do); after every run the output folder is
        copied, so each resume's state folder is stored as that run read it
    python tools/gen_resume_cases.py finish [--only ID,...] [--out tests/data/resume]
        for each resume run of a case: `kohya-tune resume STATE CONFIG --mode finish --format
        json`, its config edits applied to the run's config, then that run made for real from
        the same state and output folder; its steps and LR must equal the reference run's tail
        (results in finish-check.json)

Per case, tests/data/resume/cases/<id>.json holds the spec, the oracle used and, per run, what
the trainer did (outcome, start, steps with full-precision LR, timeline, files before and after);
tests/data/resume/states/<id>/<run>/<state dir>/ holds the small files of the state folder that
run resumed from (every file the state has: the stub models are a few kilobytes).
"""
from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ORACLE_DIR = os.path.normpath(os.path.join(ROOT, "..", "..", "shared", "oracles", "resume"))
if not os.path.isdir(ORACLE_DIR):
    ORACLE_DIR = "/work/shared/oracles/resume"
KOHYA_ORACLE = os.path.expanduser(os.environ.get("KOHYA_ORACLE", "~/.cache/kohya-oracle"))

# the trees the oracle can run: name -> label, what the trainer pins
ORACLES = {
    "new": {"label": "sd-scripts v0.10.1", "commit": "48d368fa557731ad0488c07304dfeba8c07910eb",
            "accelerate": "1.6.0"},
    "v0.9.1": {"label": "sd-scripts v0.9.1", "commit": "8f4ee8fc343b047965cd8976fca65c3a35b7593a",
               "accelerate": "0.30.0"},
    "2e0fcc50": {"label": "sd-scripts 2e0fcc50", "commit": "2e0fcc50cb347323b4374bfd05784587c5fa7f2d",
                 "accelerate": "0.33.0"},
}

BASE = {
    "pretrained_model_name_or_path": "stub.safetensors", "train_data_dir": "img", "output_dir": "out",
    "output_name": "lora", "resolution": "64,64", "train_batch_size": 1, "network_module": "networks.lora",
    "network_dim": 4, "learning_rate": 0.001, "unet_lr": 0.001, "text_encoder_lr": 0.0005,
    "save_model_as": "safetensors", "seed": 1, "mixed_precision": "no", "caption_extension": ".txt",
}
DATASET = {"img/2_a": [[64, 64, 3]]}          # 6 batches of 1 per epoch
PROMPTS = {"prompts.txt": "a photo --n x\n"}


def case(id, about, config, runs, *, processes=1, oracle="new", legacy=False, dataset=None, files=None,
         reference=True):
    return {"id": id, "about": about, "dataset": dataset or DATASET, "files": files or {},
            "options": {"num_processes": processes, "oracle": oracle, "legacy_torch_load": legacy},
            "base_config": {**BASE, **config}, "runs": runs, "reference": reference}


CASES = [
    case("epoch-ga1-cosine", "epoch states, GA 1, cosine with warm-up; resume from epoch 2 while epoch 3 "
         "was under way, then a second resume from a state the first resume wrote (run-local step)",
         {"lr_scheduler": "cosine", "lr_warmup_steps": 2, "max_train_epochs": 5, "save_every_n_epochs": 1,
          "save_state": True},
         [{"name": "first", "interrupt_at_step": 14},
          {"name": "resume", "config": {"resume": "out/lora-000002-state"}, "interrupt_at_step": 8},
          {"name": "second", "config": {"resume": "out/lora-000003-state"}}]),
    case("step-noskip-linear", "a step state in the middle of epoch 2, resumed without "
         "skip_until_initial_step: epoch 2 is trained again and the run goes past the horizon",
         {"lr_scheduler": "linear", "max_train_epochs": 4, "save_every_n_steps": 4, "save_state": True,
          "save_last_n_steps": 8},
         [{"name": "first", "interrupt_at_step": 10},
          {"name": "resume", "config": {"resume": "out/lora-step00000008-state"}}]),
    case("step-skip-linear", "the same state resumed with skip_until_initial_step (GA 1: the skip is right, "
         "the step numbers restart inside the epoch)",
         {"lr_scheduler": "linear", "max_train_epochs": 4, "save_every_n_steps": 4, "save_state": True,
          "save_last_n_steps": 8},
         [{"name": "first", "interrupt_at_step": 10},
          {"name": "resume", "config": {"resume": "out/lora-step00000008-state",
                                        "skip_until_initial_step": True}}]),
    case("ga2-step-skip", "GA 2 and skip_until_initial_step (#2407): whole epochs skipped, negative step "
         "numbers, samples and saves at them",
         {"lr_scheduler": "cosine", "gradient_accumulation_steps": 2, "max_train_epochs": 5,
          "save_every_n_steps": 2, "save_state": True, "sample_every_n_steps": 2, "sample_prompts": "prompts.txt"},
         [{"name": "first", "interrupt_at_step": 5},
          {"name": "resume", "config": {"resume": "out/lora-step00000004-state", "skip_until_initial_step": True}}],
         files=PROMPTS),
    case("ga2-step-noskip", "GA 2, a step state resumed without skip: the epoch of the state is trained again",
         {"lr_scheduler": "cosine", "gradient_accumulation_steps": 2, "max_train_epochs": 5,
          "save_every_n_steps": 2, "save_state": True, "sample_every_n_steps": 2, "sample_prompts": "prompts.txt"},
         [{"name": "first", "interrupt_at_step": 5},
          {"name": "resume", "config": {"resume": "out/lora-step00000004-state"}}],
         files=PROMPTS),
    case("ga2-epoch-skip", "GA 2, an epoch state resumed with skip: the start epoch from initial_step x GA "
         "skips two untrained epochs; the final train_state.json holds a negative step",
         {"lr_scheduler": "linear", "gradient_accumulation_steps": 2, "max_train_epochs": 6,
          "save_every_n_epochs": 1, "save_state": True},
         [{"name": "first", "interrupt_at_step": 8},
          {"name": "resume", "config": {"resume": "out/lora-000002-state", "skip_until_initial_step": True}},
          {"name": "second", "config": {"resume": "out/lora-state", "skip_until_initial_step": True}}]),
    case("p2-initial-epoch", "2 processes: initial_epoch 3 on an epoch-2 state divides by the processes twice "
         "and starts at epoch 2",
         {"lr_scheduler": "cosine", "max_train_epochs": 5, "save_every_n_epochs": 1, "save_state": True},
         [{"name": "first", "interrupt_at_step": 7},
          {"name": "resume", "config": {"resume": "out/lora-000002-state", "initial_epoch": 3}}],
         processes=2),
    case("p2-ga2-step-skip", "2 processes, GA 2, step state resumed with skip",
         {"lr_scheduler": "linear", "gradient_accumulation_steps": 2, "max_train_epochs": 5,
          "save_every_n_steps": 3, "save_state": True},
         [{"name": "first", "interrupt_at_step": 5},
          {"name": "resume", "config": {"resume": "out/lora-step00000003-state", "skip_until_initial_step": True}}],
         processes=2),
    case("p2-epoch-plain", "2 processes, epoch state, plain resume; then a second resume",
         {"lr_scheduler": "cosine", "lr_warmup_steps": 1, "max_train_epochs": 4, "save_every_n_epochs": 1,
          "save_state": True},
         [{"name": "first", "interrupt_at_step": 5},
          {"name": "resume", "config": {"resume": "out/lora-000001-state"}, "interrupt_at_step": 4},
          {"name": "second", "config": {"resume": "out/lora-000002-state"}}],
         processes=2),
    case("finished-runs", "a finished run resumed with the same epochs (#1999 assertion), then with more "
         "epochs (linear: the LR jumps up)",
         {"lr_scheduler": "linear", "max_train_epochs": 3, "save_every_n_epochs": 1, "save_state": True},
         [{"name": "first"},
          {"name": "same", "config": {"resume": "out/lora-state"}},
          {"name": "more", "config": {"resume": "out/lora-state", "max_train_epochs": 5}}]),
    case("changed-lr-cosine-past", "a changed learning rate is ignored, and a re-trained epoch runs the cosine "
         "past its end",
         {"lr_scheduler": "cosine", "max_train_epochs": 3, "save_every_n_steps": 4, "save_state": True},
         [{"name": "first", "interrupt_at_step": 10},
          {"name": "resume", "config": {"resume": "out/lora-step00000008-state", "learning_rate": 0.01,
                                        "unet_lr": 0.01, "text_encoder_lr": 0.004}}]),
    case("sample-removal", "samples, step and epoch saves with save_last_n_*: the resumed run's numbers "
         "overwrite and remove the first run's files",
         {"lr_scheduler": "constant_with_warmup", "lr_warmup_steps": 3, "max_train_epochs": 4,
          "save_every_n_steps": 2, "save_last_n_steps": 4, "save_last_n_steps_state": 2,
          "save_every_n_epochs": 1, "save_last_n_epochs": 2, "save_state": True,
          "sample_every_n_steps": 3, "sample_at_first": True, "sample_prompts": "prompts.txt"},
         [{"name": "first", "interrupt_at_step": 15},
          {"name": "resume", "config": {"resume": "out/lora-step00000014-state"}}],
         files=PROMPTS),
    case("sample-epochs-skip", "sample_every_n_epochs and a skip resume from a step state",
         {"lr_scheduler": "cosine_with_restarts", "lr_scheduler_num_cycles": 2, "max_train_epochs": 4,
          "save_every_n_steps": 5, "save_state": True, "sample_every_n_epochs": 1, "sample_prompts": "prompts.txt"},
         [{"name": "first", "interrupt_at_step": 12},
          {"name": "resume", "config": {"resume": "out/lora-step00000010-state", "skip_until_initial_step": True}}],
         files=PROMPTS),
    case("steps-partial-epoch", "max_train_steps that ends inside an epoch (20 of 4 x 6), step state, skip",
         {"lr_scheduler": "linear", "lr_warmup_steps": 2, "max_train_steps": 20, "save_every_n_steps": 3,
          "save_state": True},
         [{"name": "first", "interrupt_at_step": 14},
          {"name": "resume", "config": {"resume": "out/lora-step00000009-state", "skip_until_initial_step": True}}]),
    case("default-names-end-state", "no output_name (at/epoch/last names), save_state_on_train_end only, "
         "initial_step given by hand",
         {"output_name": None, "lr_scheduler": "polynomial", "lr_scheduler_power": 2.0, "max_train_epochs": 3,
          "save_every_n_epochs": 1, "save_state_on_train_end": True},
         [{"name": "first"},
          {"name": "more", "config": {"resume": "out/last-state", "max_train_epochs": 5, "initial_step": 12}}]),
    case("changed-ga", "the state of a GA 1 run resumed with GA 2 (accelerate restores its step counter)",
         {"lr_scheduler": "linear", "max_train_epochs": 4, "save_every_n_steps": 3, "save_state": True},
         [{"name": "first", "interrupt_at_step": 8},
          {"name": "resume", "config": {"resume": "out/lora-step00000003-state", "gradient_accumulation_steps": 2}}]),
    case("gui-2e0fcc50-p2", "the v25 GUI's trainer (accelerate 0.33, torch < 2.6 loading): 2 processes stop "
         "with KeyError: 'step' when resuming",
         {"lr_scheduler": "cosine", "max_train_epochs": 3, "save_every_n_epochs": 1, "save_state": True},
         [{"name": "first", "interrupt_at_step": 8},
          {"name": "resume", "config": {"resume": "out/lora-000001-state"}}],
         processes=2, oracle="2e0fcc50", legacy=True),
    case("gui-2e0fcc50-p1", "the same trainer on one process resumes (torch < 2.6 loading)",
         {"lr_scheduler": "cosine", "max_train_epochs": 3, "save_every_n_steps": 4, "save_state": True},
         [{"name": "first", "interrupt_at_step": 9},
          {"name": "resume", "config": {"resume": "out/lora-step00000008-state", "skip_until_initial_step": True}}],
         oracle="2e0fcc50", legacy=True),
    case("gui-2e0fcc50-torch26", "the same trainer with torch >= 2.6 default loading: KeyError: 'step' on one "
         "process too (kohya_ss #3112)",
         {"lr_scheduler": "cosine", "max_train_epochs": 3, "save_every_n_epochs": 1, "save_state": True},
         [{"name": "first", "interrupt_at_step": 8},
          {"name": "resume", "config": {"resume": "out/lora-000001-state"}}],
         oracle="2e0fcc50", legacy=False),
    case("readme-ga2-p2", "the README's worked example: 10 epochs, GA 2, 2 GPUs, interrupted in epoch 6; the "
         "epoch-5 state resumed with skip_until_initial_step (nothing is trained), then plainly",
         {"lr_scheduler": "cosine", "lr_warmup_steps": 0.05, "gradient_accumulation_steps": 2,
          "max_train_epochs": 10, "save_every_n_epochs": 1, "save_state": True},
         [{"name": "first", "interrupt_at_step": 57},
          {"name": "skip", "config": {"resume": "out/lora-000005-state", "skip_until_initial_step": True}},
          {"name": "plain", "config": {"resume": "out/lora-000005-state"}}],
         processes=2, dataset={"img/5_a": [[64, 64, 8]]}),
    case("v091-p1-skip", "sd-scripts v0.9.1 (accelerate 0.30: no step counter saved), GA 2, skip (an interrupted "
         "2-process run of this tree hangs in the oracle: the other rank waits for the stopped one)",
         {"lr_scheduler": "linear", "gradient_accumulation_steps": 2, "max_train_epochs": 4,
          "save_every_n_steps": 2, "save_state": True},
         [{"name": "first", "interrupt_at_step": 5},
          {"name": "resume", "config": {"resume": "out/lora-step00000004-state", "skip_until_initial_step": True}}],
         oracle="v0.9.1"),
]


# --------------------------------------------------------------------------------------------

def _oracle_module():
    spec = importlib.util.spec_from_file_location("resume_oracle", os.path.join(ORACLE_DIR, "resume_oracle.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _materialize(case_spec, root):
    sys.path.insert(0, os.path.join(ORACLE_DIR, "..", "golden"))
    from materialize import materialize

    materialize({k: case_spec[k] for k in ("dataset", "files") if k in case_spec}, root)


def config_text(config: dict) -> str:
    oracle = _oracle_module()
    return "".join(f"{k} = {oracle.toml_value(v)}\n" for k, v in config.items() if v is not None)


def run_once(case_spec, root, index, config, interrupt, log):
    """One training process (or torchrun group) in `root`; returns the oracle's record."""
    opts = case_spec["options"]
    name = opts["oracle"]
    src = os.path.join(KOHYA_ORACLE, f"src-{name}")
    py = os.path.join(KOHYA_ORACLE, f"venv-{name}", "bin", "python")
    text = config_text(config)
    with open(os.path.join(root, f"run{index}.toml"), "w", encoding="utf-8") as f:
        f.write(text)
    path = os.path.join(root, f".oracle-run{index}.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"num_processes = {opts['num_processes']}\n" + text)
    script = os.path.join(ORACLE_DIR, "resume_oracle.py")
    if opts["num_processes"] > 1:
        torchrun = os.path.join(os.path.dirname(py), "torchrun")
        cmd = [torchrun, "--nproc_per_node", str(opts["num_processes"]), "--master_port",
               str(29500 + os.getpid() % 1000), script, "run", "--src", src, "--args", path]
    else:
        cmd = [py, "-W", "ignore", script, "run", "--src", src, "--args", path]
    if opts.get("legacy_torch_load"):
        cmd.append("--legacy-torch-load")
    if interrupt is not None:
        cmd += ["--interrupt-at-step", str(interrupt)]
    p = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log.write(p.stderr)
    if p.returncode != 0 or not p.stdout.strip():
        sys.stderr.write(p.stderr[-4000:])
        raise SystemExit(f"{case_spec['id']} run {index} failed (rc {p.returncode})")
    result = json.loads(p.stdout.strip().splitlines()[-1])
    if opts["num_processes"] > 1 and result["outcome"].startswith("error"):
        # only rank 0 reports; when another rank failed first, rank 0 dies of the broken process
        # group: keep the first traceback's exception, the error the user reads
        first = _first_exception(p.stderr)
        if first:
            result["first_error"] = first
    return result


def _first_exception(text: str) -> str | None:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last)"):
            for later in lines[i + 1:]:
                m = re.match(r"^([A-Za-z_][\w.]*(?:Error|Exception)): (.*)$", later)
                if m:
                    return f"{m.group(1)}: {m.group(2)}"
    return None


def compact_run(r: dict) -> dict:
    steps = [[e["global_step"], e["epoch"], *e["lr"]] for e in r["events"] if e["type"] == "step"]
    oracle = _oracle_module()
    _, timeline = oracle.compact(r["events"])
    per: dict = {}
    for e in r["events"]:
        if e["type"] == "step":
            per[str(e["epoch"])] = per.get(str(e["epoch"]), 0) + e["micro_batches"]
    files = []
    for e in r["events"]:
        if e["type"] == "save_model":
            files.append({"name": e["name"], "kind": "model", "step": e.get("global_step"),
                          "epoch": e.get("epoch_loop"), "ss_epoch": e.get("ss_epoch"), "ss_steps": e.get("ss_steps"),
                          "overwrites": bool(e.get("overwrote"))})
        elif e["type"] == "save_state":
            files.append({"name": e["name"], "kind": "state", "step": e.get("global_step"),
                          "train_state": e.get("train_state"), "scheduler_last_epoch": e.get("scheduler_last_epoch"),
                          "overwrites": bool(e.get("overwrote"))})
        elif e["type"] == "sample":
            files.append({"kind": "sample", "step": e["steps"], "epoch": e["epoch"]})
        elif e["type"] == "removed":
            files.append({"name": e["name"], "kind": "removed"})
    return {"outcome": r["outcome"], "first_error": r.get("first_error"), "resumed_from": r["resumed_from"],
            "start": r["start"], "steps": steps,
            "trained_batches_per_epoch": per, "timeline": timeline, "files": files,
            "files_before": r["files_before"], "files_after": r["files_after"]}


def record(case_spec, out_dir, log):
    result = copy.deepcopy(case_spec)
    opts = case_spec["options"]
    result["oracle"] = ORACLES[opts["oracle"]]
    result["results"] = []
    with tempfile.TemporaryDirectory(prefix="resume-case-") as tmp:
        if case_spec.get("reference"):
            ref_root = os.path.join(tmp, "reference")
            _materialize(case_spec, ref_root)
            r = run_once(case_spec, ref_root, 0, dict(case_spec["base_config"]), None, log)
            result["reference"] = compact_run(r)
        root = os.path.join(tmp, "case")
        _materialize(case_spec, root)
        states_root = os.path.join(out_dir, "states", case_spec["id"])
        shutil.rmtree(states_root, ignore_errors=True)
        for i, run in enumerate(case_spec["runs"], 1):
            config = dict(case_spec["base_config"])
            config.update(run.get("config", {}))
            resume = config.get("resume")
            if resume:
                src = os.path.join(root, resume)
                dst = os.path.join(states_root, run["name"], os.path.basename(os.path.normpath(resume)))
                if os.path.isdir(src):
                    shutil.copytree(src, dst)
            r = run_once(case_spec, root, i, config, run.get("interrupt_at_step"), log)
            got = compact_run(r)
            got["name"] = run["name"]
            got["config"] = {k: v for k, v in config.items() if v is not None}
            result["results"].append(got)
            sys.stderr.write(f"  {case_spec['id']} {run['name']}: {r['outcome'][:100]}\n")
    path = os.path.join(out_dir, "cases", case_spec["id"] + ".json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(_oracle_module().dumps(result) + "\n")


RESUME_KEYS = {"resume", "skip_until_initial_step", "initial_step", "initial_epoch"}


def finish_check(case_path, out_dir, log):
    """Every resume run of a recorded case whose config is the base config plus resume options:
    kohya-tune's --mode finish plan applied, run for real, compared with the reference run."""
    case = json.load(open(case_path))
    ref = case.get("reference")
    results = []
    if not ref:
        return results
    ref_steps = ref["steps"]
    for i, run in enumerate(case["results"], 1):
        cfg = run["config"]
        if not cfg.get("resume"):
            continue
        base = {k: v for k, v in case["base_config"].items() if v is not None}
        if {k: v for k, v in cfg.items() if k not in RESUME_KEYS} != base:
            continue
        state_src = os.path.join(out_dir, "states", case["id"], run["name"], os.path.basename(cfg["resume"]))
        if not os.path.isdir(state_src):
            continue
        with tempfile.TemporaryDirectory(prefix="resume-finish-") as root:
            _materialize(case, root)
            out = os.path.join(root, "out")
            os.makedirs(out, exist_ok=True)
            for name in run["files_before"]:
                path = os.path.join(out, name)
                if name.endswith("-state"):
                    os.makedirs(path, exist_ok=True)
                else:
                    open(path, "w").close()
            shutil.rmtree(os.path.join(root, cfg["resume"]), ignore_errors=True)
            shutil.copytree(state_src, os.path.join(root, cfg["resume"]))
            conf = os.path.join(root, f"run{i}.toml")
            with open(conf, "w", encoding="utf-8") as f:
                f.write(config_text(cfg))
            opts = case["options"]
            env = ["--accelerate", case["oracle"]["accelerate"], "--torch", "2.5.0" if opts.get("legacy_torch_load") else "2.13.0"]
            sd = case["oracle"]["label"].split()[-1]
            sd = sd if sd.startswith("v") else "v0.9.1"
            cmd = [sys.executable, "-m", "kohya_tune", "resume", cfg["resume"], os.path.basename(conf), "--mode", "finish",
                   "--apply", "--format", "json", "--num-processes", str(opts["num_processes"]), "--sd-scripts", sd, *env]
            p = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                answer = json.loads(p.stdout)
            except ValueError:
                results.append({"case": case["id"], "run": run["name"], "error": p.stderr[-500:]})
                continue
            plan = answer["plan"]
            entry = {"case": case["id"], "run": run["name"], "plan_exact": plan["exact"], "flags": plan["flags"],
                     "steps_done": plan["steps_done"], "remaining": plan["remaining"], "difference": plan["difference"]}
            if answer["run"]["outcome"] == "refused" or plan["remaining"] <= 0 or plan["run"] is None:
                entry["skipped"] = answer["run"]["error"] or "nothing to finish"
                results.append(entry)
                continue
            with open(conf, encoding="utf-8") as f:
                import tomllib
                edited = tomllib.loads(f.read())
            r = run_once(case, root, i, edited, None, log)
            got = compact_run(r)
            done = plan["steps_done"]
            want = ref_steps[done:]
            lr_ok = len(got["steps"]) == len(want) and all(
                all(abs(a - b) <= 1e-9 * max(abs(b), 1e-30) for a, b in zip(g[2:], w[2:]))
                for g, w in zip(got["steps"], want))
            predicted = plan["run"]["steps"]
            pred_ok = len(predicted) == len(got["steps"]) and all(
                p_["step"] == g[0] and p_["epoch"] == g[1] and all(abs(a - b) <= 1e-9 * max(abs(b), 1e-30)
                                                                 for a, b in zip(p_["lr"], g[2:]))
                for p_, g in zip(predicted, got["steps"]))
            entry.update(real_steps=len(got["steps"]), want_steps=len(want), lr_and_count_equal_reference=lr_ok,
                         predicted_equal_real=pred_ok, outcome=got["outcome"],
                         overwrites=[f["name"] for f in got["files"] if f.get("overwrites")])
            results.append(entry)
            sys.stderr.write(f"  finish {case['id']} {run['name']}: exact={plan['exact']} real==reference {lr_ok} "
                             f"predicted==real {pred_ok}\n")
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["record", "finish", "list"])
    ap.add_argument("--only")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "resume"))
    opts = ap.parse_args(argv)
    only = set(opts.only.split(",")) if opts.only else None
    chosen = [c for c in CASES if only is None or c["id"] in only]
    if opts.what == "list":
        for c in chosen:
            print(c["id"], "-", c["about"])
        return
    with open(os.path.join(tempfile.gettempdir(), "gen_resume_cases.log"), "w") as log:
        if opts.what == "finish":
            results = []
            for c in chosen:
                path = os.path.join(opts.out, "cases", c["id"] + ".json")
                if os.path.exists(path):
                    results.extend(finish_check(path, opts.out, log))
            with open(os.path.join(opts.out, "finish-check.json"), "w", encoding="utf-8") as f:
                json.dump(results, f, indent=1)
                f.write("\n")
            return
        for c in chosen:
            record(c, opts.out, log)


if __name__ == "__main__":
    main()
