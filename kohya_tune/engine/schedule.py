"""The run's timetable: epochs, checkpoints and states (their file names, which remain), samples,
and the learning rate of every parameter group at every optimizer step, as the trainer does them.

Built on the step numbers (`steps.compute`: S = max_train_steps, E = num_train_epochs, U steps per
epoch, P processes, G accumulation). The loop every supported script runs (train_network.py
v0.6.5 L608-785, v0.10.1 L1401-1725; train_db.py v0.6.5 L256-450; the others alike, see
versions/data/schedule_profiles.json "scripts"):

    for epoch in range(E):
        for batch in dataloader:                      # Nd batches per process
            with accelerator.accumulate(...):
                ... optimizer.step(); lr_scheduler.step(); ...
            if accelerator.sync_gradients:             # every G batches and at the epoch's end
                global_step += 1
                sample (every n steps, unless sample_every_n_epochs is set)
                save a step checkpoint when global_step % save_every_n_steps == 0 (+ state, removal)
            if global_step >= max_train_steps: break
        save an epoch checkpoint when (epoch+1) % save_every_n_epochs == 0 and epoch+1 < E (+ state, removal)
        sample (every n epochs)
    state at the end (save_state / save_state_on_train_end), final model

The engine never prints; `output.schedule_report` shows a Schedule.
"""
from __future__ import annotations

import ast
import math
import os
from dataclasses import dataclass, field

from kohya_tune.engine import lr_schedulers as lrs
from kohya_tune.engine import lr_values
from kohya_tune.engine.plan import Plan, TrainerRefusal
from kohya_tune.engine.steps import StepReport
from kohya_tune.versions import profiles, schedules


@dataclass
class Epoch:
    epoch: int
    first_step: int
    last_step: int

    @property
    def steps(self) -> int:
        return self.last_step - self.first_step + 1


@dataclass
class Checkpoint:
    kind: str                     # "epoch" | "step" | "final" | "state"
    epoch: int
    step: int
    file: str
    kept: bool = True
    trigger: str = ""             # for a state: "epoch" | "step" | "final"
    removed_at: int | None = None  # the step at which the trainer deletes it
    folder: bool = False          # a Diffusers model or a state: a folder, not a file


@dataclass
class Sample:
    when: str                     # "first" | "step" | "epoch"
    epoch: int
    step: int


@dataclass
class LrFacts:
    scheduler: str
    groups: list[str]
    base: list[float | None]
    warmup_steps: object           # as the scheduler receives it (scheduler steps)
    num_training_steps: int        # as the scheduler receives it
    per_step: list[list[float]]
    function: str = ""
    scheduler_steps_per_step: int = 1
    every_batch: bool = False
    extra: dict = field(default_factory=dict)
    stop_text_encoder_training: int | None = None
    warmup_optimizer_steps: float | None = None   # how many optimizer steps the warmup lasts


@dataclass
class Schedule:
    report: StepReport
    profile: str
    args: dict                    # the arguments the schedule was computed from (defaults filled)
    epochs: list[Epoch]
    checkpoints: list[Checkpoint]
    samples: list[Sample]
    lr: LrFacts | None
    save_every_n_epochs: int | None = None
    notes: list[str] = field(default_factory=list)
    lr_note: str | None = None     # why lr is None

    @property
    def plan(self) -> Plan:
        return self.report.plan

    @property
    def kept(self) -> list[Checkpoint]:
        return [c for c in self.checkpoints if c.kept]


# --------------------------------------------------------------------------------------------
# arguments


def script_facts(script: str) -> dict:
    table = profiles.load_data("schedule_profiles.json")["scripts"]
    return dict(table.get(script) or {"saver": "file", "groups": None, "sample_at_first": True,
                                       "save_model_as": "safetensors", "unknown": True})


def schedule_args(plan: Plan, report: StepReport, profile: dict) -> dict:
    """The trainer's namespace for the keys the schedule reads: argparse defaults of that version,
    then what the config (or the GUI) gives."""
    facts = script_facts(plan.script)
    args = dict(profile["argparse_defaults"])
    args["save_model_as"] = facts.get("save_model_as")
    sent = dict(plan.args)
    if plan.gui is not None:
        from kohya_tune.engine import gui_schedule

        for key, value in gui_schedule.sent_args(plan).items():
            sent.setdefault(key, value)
    for key, value in sent.items():
        if value is not None or key in args:
            args[key] = value
    args["max_train_steps"] = report.max_train_steps
    args["gradient_accumulation_steps"] = report.gradient_accumulation_steps
    return args


def _refuse(plan: Plan, name: str, message: str):
    raise TrainerRefusal(message, plan.arg_origins.get(name))


def _count(plan: Plan, args: dict, name: str):
    """An every-n / keep-n option as the loop uses it (None = off). The loop does Python
    arithmetic on the value as given: a float still works, a string or 0 stops the run."""
    value = args.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _refuse(plan, name, f"TypeError: {name} is {value!r} ({type(value).__name__}); the trainer's "
                            f"arithmetic on it fails (a config-file value is not converted)")
    return value


# --------------------------------------------------------------------------------------------
# names


def _model_name(args: dict, default: str) -> str:
    name = args.get("output_name")
    return default if name is None else str(name)


def _format(template: str, name: str, number) -> str:
    """str.format of the trainer's EPOCH/STEP name templates ({:06d}, {:08d}): a float number
    (from a float option in a config file) makes format() raise ValueError there."""
    key = "epoch" if "{epoch" in template else "step"
    try:
        return template.replace("{name}", "{0}").replace("{" + key, "{1").format(name, number)
    except ValueError as exc:
        raise TrainerRefusal(f"ValueError: {exc} (the checkpoint name of {key} {number!r})") from None


class Namer:
    """get_epoch_ckpt_name / get_step_ckpt_name / get_last_ckpt_name and the state names
    (train_util.py v0.6.5 L72-82, L3227-3239, L3358-3415; identical through v0.10.1), with the
    extension or Diffusers folder each script writes."""

    def __init__(self, plan: Plan, args: dict, saver: str):
        self.formats = schedules.name_formats()
        self.args = args
        self.saver = saver
        self.folder = False
        self.notes: list[str] = []
        if saver == "file":
            ext = args.get("save_model_as")
            if not isinstance(ext, str):
                raise TrainerRefusal(f"TypeError: can only concatenate str (not \"{type(ext).__name__}\") "
                                     f"to str (\".\" + save_model_as, save_model_as is {ext!r})",
                                     plan.arg_origins.get("save_model_as"))
            self.ext = "." + ext
        elif saver == "sd_safetensors":
            self.ext = ".safetensors"
        else:
            # train_db.py v0.6.5 L118-123 (the same in fine_tune.py and sdxl_train.py, every version)
            fmt = args.get("save_model_as")
            if fmt is None:
                sd_format = _loads_sd_format(plan, args, self.notes)
                use_safetensors = bool(args.get("use_safetensors"))
            else:
                fmt = str(fmt).lower()
                sd_format = fmt in ("ckpt", "safetensors")
                use_safetensors = bool(args.get("use_safetensors")) or "safetensors" in fmt
            if sd_format:
                self.ext = ".safetensors" if use_safetensors else ".ckpt"
            else:
                self.ext = ""
                self.folder = True

    def epoch(self, number) -> str:
        return _format(self.formats["epoch_file"], _model_name(self.args, self.formats["default_epoch_name"]),
                       number) + self.ext

    def step(self, number) -> str:
        return _format(self.formats["step_file"], _model_name(self.args, self.formats["default_step_name"]),
                       number) + self.ext

    def last(self) -> str:
        return _model_name(self.args, self.formats["default_last_name"]) + self.ext

    def epoch_state(self, number) -> str:
        return _format(self.formats["epoch_state"], _model_name(self.args, self.formats["default_epoch_name"]),
                       number)

    def step_state(self, number) -> str:
        return _format(self.formats["step_state"], _model_name(self.args, self.formats["default_step_name"]),
                       number)

    def last_state(self) -> str:
        return self.formats["last_state"].replace("{name}", _model_name(self.args,
                                                                        self.formats["default_last_name"]))


def _loads_sd_format(plan: Plan, args: dict, notes: list[str]) -> bool:
    """load_stable_diffusion_format = os.path.isfile(pretrained_model_name_or_path)
    (train_util.py load_target_model, every version): a checkpoint file, not a Diffusers folder
    or a Hub name."""
    from kohya_tune.engine.plan import map_path

    path = args.get("pretrained_model_name_or_path")
    if not isinstance(path, str) or not path:
        notes.append("save_model_as is not set and no pretrained model is named: the trainer saves in "
                     "the loaded model's format; assumed Diffusers folders")
        return False
    mapped = map_path(path, plan.path_map)
    if os.path.isfile(mapped):
        return True
    if os.path.isdir(mapped):
        return False
    is_file = os.path.splitext(path.replace("\\", "/"))[1].lower() in (".safetensors", ".ckpt", ".pt", ".bin")
    notes.append(f"save_model_as is not set: the trainer saves in the format of {path!r} (not found here), "
                 f"taken as a {'checkpoint file' if is_file else 'Diffusers folder or Hub name'} from its name")
    return is_file


# --------------------------------------------------------------------------------------------
# the timetable


def compute(report: StepReport, lr_series: bool = True) -> Schedule:
    """The run's timetable. With `lr_series` False (lint, whose rules read no LR value) the LR at
    every step is still computed, so a scheduler that fails mid-run refuses as it does with the
    series, but not kept: `lr.per_step` is then empty."""
    plan = report.plan
    profile_name, profile = schedules.schedule_profile(plan.sd.label)
    args = schedule_args(plan, report, profile)
    facts = script_facts(plan.script)
    notes: list[str] = []
    if facts.get("unknown"):
        notes.append(f"{plan.script}.py is not one of the scripts whose loop kohya-tune has read; the "
                     f"timetable follows train_network.py's")
    for key in ("initial_epoch", "initial_step", "resume"):
        if args.get(key):
            notes.append(f"{key} is set: the trainer starts from a later step or a saved state "
                         f"(train_network.py v0.9.1+ initial_step handling); this timetable starts at step 1")
            break
    S, E, U = report.max_train_steps, report.num_train_epochs, report.num_update_steps_per_epoch
    epochs = [Epoch(e, (e - 1) * U + 1, min(e * U, S)) for e in range(1, E + 1)]

    def epoch_of(step: int) -> int:
        return (step - 1) // U + 1 if U else 0

    every_epochs = _count(plan, args, "save_every_n_epochs")
    ratio = _count(plan, args, "save_n_epoch_ratio")
    if ratio is not None and ratio > 0:
        # train_network.py v0.6.5 L349-350 (every script): save_every_n_epochs is replaced
        every_epochs = math.floor(E / ratio) or 1
        notes.append(f"save_n_epoch_ratio {ratio}: save_every_n_epochs = floor({E} / {ratio}) or 1 = "
                     f"{every_epochs}")
    every_steps = _count(plan, args, "save_every_n_steps")
    last_n_epochs = _count(plan, args, "save_last_n_epochs")
    last_n_epochs_state = _count(plan, args, "save_last_n_epochs_state")
    last_n_steps = _count(plan, args, "save_last_n_steps")
    last_n_steps_state = _count(plan, args, "save_last_n_steps_state")
    save_state = bool(args.get("save_state"))
    state_on_end = save_state or (profile.get("save_state_on_train_end_option")
                                  and bool(args.get("save_state_on_train_end")))
    namer = Namer(plan, args, facts["saver"])
    notes.extend(namer.notes)

    for name, value in (("save_every_n_epochs", every_epochs), ("save_every_n_steps", every_steps)):
        if value == 0:
            where = "the end of epoch 1" if name == "save_every_n_epochs" else "step 1"
            _refuse(plan, name, f"ZeroDivisionError: integer modulo by zero ({name} = 0, at {where})")

    checkpoints = checkpoint_timetable(
        epochs, S, every_epochs=every_epochs, every_steps=every_steps, last_n_epochs=last_n_epochs,
        last_n_epochs_state=last_n_epochs_state, last_n_steps=last_n_steps,
        last_n_steps_state=last_n_steps_state, save_state=save_state, state_on_end=state_on_end,
        namer=namer)

    samples = _samples(plan, args, profile, facts, epochs, S, epoch_of, notes)
    lr, lr_note = None, None
    try:
        lr = lr_facts(plan, report, profile, args, facts, keep_series=lr_series)
    except (NotModelled, lr_values.NotDrawable) as exc:
        lr_note = str(exc)
    return Schedule(report=report, profile=profile_name, args=args, epochs=epochs, checkpoints=checkpoints,
                    samples=samples, lr=lr, save_every_n_epochs=every_epochs, notes=notes, lr_note=lr_note)


def checkpoint_timetable(epochs: list[Epoch], S: int, *, every_epochs, every_steps, last_n_epochs,
                         last_n_epochs_state, last_n_steps, last_n_steps_state, save_state: bool,
                         state_on_end: bool, namer) -> list[Checkpoint]:
    """Every model file and state folder the loop writes, in the order it writes them, with the
    step at which save_last_n_* removes it again. The loop and the helpers it calls are the same
    in sd-scripts (train_network.py v0.6.5 L710-722, L740-760, L778-785; train_util.py v0.6.5
    L3242-3262, L3358-3415) and musubi-tuner (training/trainer_base.py:2097-2113, 2141-2157,
    2170-2175; utils/train_utils.py:96-165 at 30c658c4); `namer` gives each trainer's names."""
    checkpoints: list[Checkpoint] = []
    by_file: dict[str, Checkpoint] = {}

    def add(cp: Checkpoint) -> None:
        old = by_file.get(cp.file)
        if old is not None and old.kept:
            old.kept = False
            old.removed_at = cp.step   # overwritten by a file of the same name
        checkpoints.append(cp)
        by_file[cp.file] = cp

    def remove(file: str, at: int) -> None:
        cp = by_file.get(file)
        if cp is not None and cp.kept:
            cp.kept = False
            cp.removed_at = at

    for span in epochs:
        e = span.epoch
        if every_steps is not None:
            for k in _multiples(span.first_step, span.last_step, every_steps):
                # train_network.py v0.6.5 L710-722: model, then state, then removal of the old model
                add(Checkpoint("step", e, k, namer.step(k), folder=namer.folder))
                if save_state:
                    add(Checkpoint("state", e, k, namer.step_state(k), trigger="step", folder=True))
                    keep = last_n_steps_state if last_n_steps_state else last_n_steps
                    if keep is not None:
                        # save_and_remove_state_stepwise (v0.6.5 L3379-3401): removed when > 0
                        old = k - keep - 1
                        old = old - (old % every_steps)
                        if old > 0:
                            remove(namer.step_state(old), k)
                if last_n_steps is not None:
                    # get_remove_step_no (v0.6.5 L3252-3262)
                    old = k - last_n_steps - 1
                    old = old - (old % every_steps)
                    if old >= 0:
                        remove(namer.step(old), k)
        if every_epochs is not None and e % every_epochs == 0 and e < len(epochs):
            k = span.last_step
            add(Checkpoint("epoch", e, k, namer.epoch(e), folder=namer.folder))
            if last_n_epochs is not None:
                # get_remove_epoch_no (v0.6.5 L3242-3249)
                old = e - every_epochs * last_n_epochs
                if old >= 0:
                    remove(namer.epoch(old), k)
            if save_state:
                # save_and_remove_state_on_epoch_end (v0.6.5 L3358-3376)
                add(Checkpoint("state", e, k, namer.epoch_state(e), trigger="epoch", folder=True))
                keep = last_n_epochs_state if last_n_epochs_state else last_n_epochs
                if keep is not None:
                    remove(namer.epoch_state(e - every_epochs * keep), k)
    if state_on_end:
        add(Checkpoint("state", len(epochs), S, namer.last_state(), trigger="final", folder=True))
    add(Checkpoint("final", len(epochs), S, namer.last(), folder=namer.folder))
    return checkpoints


def _multiples(start, end, every):
    """The steps k in [start, end] with k % every == 0, as the loop tests them (a float every
    works the same way in Python)."""
    for k in range(start, end + 1):
        if k % every == 0:
            yield k


def _samples(plan, args, profile, facts, epochs, S, epoch_of, notes) -> list[Sample]:
    """sample_images(_common): v0.6.5 L3463-3477, v0.8.4 L4763-4899 (the same checks in v0.10.1)."""
    out: list[Sample] = []
    every_steps = _count(plan, args, "sample_every_n_steps")
    every_epochs = _count(plan, args, "sample_every_n_epochs")
    first = bool(args.get("sample_at_first")) and profile.get("sample_at_first") and facts.get("sample_at_first")
    if args.get("sample_at_first") and not first:
        if not profile.get("sample_at_first"):
            notes.append(f"sample_at_first: sd-scripts {plan.sd.label} has no such option (v0.7.1+)")
        else:
            notes.append(f"sample_at_first: {plan.script}.py never samples before training")
    if first:
        out.append(Sample("first", 0, 0))
    if every_epochs is not None:
        if every_epochs == 0:
            _refuse(plan, "sample_every_n_epochs", "ZeroDivisionError: integer modulo by zero "
                                                   "(sample_every_n_epochs = 0, at the end of epoch 1)")
        if every_steps is not None:
            notes.append("sample_every_n_epochs is set, so sample_every_n_steps is ignored (sample_images)")
        for ep in epochs:
            if ep.epoch % every_epochs == 0:
                out.append(Sample("epoch", ep.epoch, ep.last_step))
    elif every_steps is not None:
        if every_steps == 0:
            _refuse(plan, "sample_every_n_steps", "ZeroDivisionError: integer modulo by zero "
                                                  "(sample_every_n_steps = 0, at step 1)")
        for k in _multiples(1, S, every_steps):
            out.append(Sample("step", epoch_of(k), k))
    if out:
        prompts = args.get("sample_prompts")
        if prompts is None or prompts == "":
            notes.append(f"samples are due but sample_prompts is not set: the trainer's "
                         f"os.path.isfile(None) raises TypeError at the first one (step {out[0].step})")
        elif isinstance(prompts, str) and plan.gui is None:
            from kohya_tune.engine.plan import resolve_file

            if resolve_file(prompts, plan.path_map, plan.config.directory) is None:
                notes.append(f"sample_prompts {prompts!r} is not found here; the trainer skips every "
                             f"sample (\"No prompt file\") if it is missing there too")
    return out


# --------------------------------------------------------------------------------------------
# the learning rate


class NotModelled(Exception):
    pass


@dataclass
class Group:
    name: str
    lr: object          # None: the optimizer's default (learning_rate)


def optimizer_kwargs(args: dict) -> dict:
    """get_optimizer: optimizer_args "key=value" items through ast.literal_eval (v0.6.5 L2655-2670,
    v0.10.1 L4838-4853)."""
    values = args.get("optimizer_args")
    out: dict = {}
    if not values:
        return out
    if isinstance(values, str):
        values = values.split()
    for item in values:
        if "=" not in str(item):
            continue
        key, value = str(item).split("=", 1)
        try:
            out[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            out[key.strip()] = value.strip()
    return out


def optimizer_type(args: dict) -> str:
    """get_optimizer's choice (v0.10.1 L4826-4850): use_8bit_adam / use_lion_optimizer, else
    optimizer_type, else AdamW."""
    name = args.get("optimizer_type") or ""
    if args.get("use_8bit_adam") and not name:
        return "AdamW8bit"
    if args.get("use_lion_optimizer") and not name:
        return "Lion"
    return str(name) if name else "AdamW"


def _text_encoder_trained(plan: Plan, profile: dict, args: dict) -> bool:
    """train_network.py is_train_text_encoder: v0.7.0 L312 / v0.8.4 L113-114: not
    network_train_unet_only and not cached text-encoder outputs (only SDXL caches); v0.10.1 L221-222:
    not network_train_unet_only."""
    if args.get("network_train_unet_only"):
        return False
    if plan.script == "sdxl_train_network" and profile["get_scheduler_fix"] in ("v0.7", "v0.9") \
            and args.get("cache_text_encoder_outputs"):
        return False
    return True


def _lora_groups(plan: Plan, profile: dict, args: dict, notes: list[str]) -> list[Group]:
    module = args.get("network_module") or "networks.lora"
    parsed = _network_args(args)
    if any(k in parsed for k in ("down_lr_weight", "mid_lr_weight", "up_lr_weight", "block_lr_zero_threshold")):
        raise NotModelled("per-block learning rates (down/mid/up_lr_weight) split the U-Net into one "
                           "group per block: not modelled")
    if module != "networks.lora":
        notes.append(f"network_module {module}: the parameter groups are those networks.lora builds "
                     f"(a text-encoder group and a U-Net group); that module may split them differently")
    train_unet = not args.get("network_train_text_encoder_only")
    train_te = _text_encoder_trained(plan, profile, args)
    te_lr = args.get("text_encoder_lr")
    if isinstance(te_lr, (list, tuple)):
        # v0.10.1 train_network.py L733-742: first value for networks without one LR per encoder
        te_lr = None if len(te_lr) == 0 else te_lr[0]
    unet_lr = args.get("unet_lr")
    default = args.get("learning_rate")
    groups: list[Group] = []
    if not profile.get("lora_drops_zero_lr_groups"):
        # networks/lora.py v0.6.5..v0.8.7 prepare_optimizer_params
        if train_te:
            groups.append(Group("text_encoder", te_lr))
        if train_unet:
            groups.append(Group("unet", unet_lr))
        return groups

    def ratio(key):
        value = parsed.get(key)
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            raise TrainerRefusal(f"ValueError: could not convert string to float: {value!r} "
                                 f"(network_args {key})", plan.arg_origins.get("network_args")) from None

    plus_all = ratio("loraplus_lr_ratio")
    plus_te = ratio("loraplus_text_encoder_lr_ratio") or plus_all
    plus_unet = ratio("loraplus_unet_lr_ratio") or plus_all

    def assemble(name, lr, plus):
        # networks/lora.py v0.9.1 assemble_params: lora_down (and lora_up without LoRA+) in one
        # group, lora_up in a "plus" group at lr * ratio; a group with LR 0 or None is skipped
        out = []
        for part, value in (("", lr), ("_plus", None if plus is None or lr is None else lr * plus)):
            if part == "_plus" and plus is None:
                continue
            if value == 0 or value is None:
                notes.append(f"the {name}{part.replace('_', ' ')} group has LR {value}: the trainer leaves "
                             f"it out of the optimizer (networks/lora.py: 'NO LR skipping!')")
                continue
            out.append(Group(name + part, value))
        return out

    if train_te:
        groups.extend(assemble("text_encoder", te_lr if te_lr is not None else default, plus_te))
    if train_unet:
        groups.extend(assemble("unet", unet_lr if unet_lr is not None else default, plus_unet))
    return groups


def _network_args(args: dict) -> dict:
    values = args.get("network_args") or []
    if isinstance(values, str):
        values = values.split()
    out = {}
    for item in values:
        if "=" in str(item):
            k, v = str(item).split("=", 1)
            out[k.strip()] = v.strip()
    return out


# per script: (network module, the text encoders with a LoRA set: (group name, needs train_t5xxl))
MULTI_TE = {
    "flux_train_network": ("networks.lora_flux", [("text_encoder1", False), ("text_encoder2", True)]),
    "sd3_train_network": ("networks.lora_sd3", [("text_encoder1", False), ("text_encoder2", False),
                                                ("text_encoder3", True)]),
}


def _multi_te_lrs(te, default, n):
    """prepare_optimizer_params_with_multiple_te_lrs: text_encoder_lr as one value per encoder
    (lora_flux.py v0.10.1 L1195-1203: None or [] -> learning_rate each, a number -> each, one item
    -> each; lora_sd3.py L634-644 also: two items -> [a, b, b])."""
    if te is None or (isinstance(te, list) and len(te) == 0):
        return [default] * n
    if isinstance(te, (int, float)) and not isinstance(te, bool):
        return [float(te)] * n
    if len(te) == 1:
        return [te[0]] * n
    if n == 3 and len(te) == 2:
        return [te[0], te[1], te[1]]
    return list(te)


def _multi_te_groups(plan: Plan, profile: dict, args: dict, notes: list[str]) -> list[Group]:
    """flux_train_network.py / sd3_train_network.py v0.10.1 with networks/lora_flux.py /
    lora_sd3.py: LoRA modules for CLIP-L (and CLIP-G for SD3) and, with network_args
    train_t5xxl=True, T5XXL (lora_flux.py L935-947, lora_sd3.py L418-428), kept when the text
    encoders are trained (is_train_text_encoder: not network_train_unet_only, train_network.py
    L221-222); one group per encoder at its LR, LoRA+ 'plus' groups, a group with LR 0 or None
    skipped (lora_flux.py L1195-1327, lora_sd3.py L634-720)."""
    wanted, encoders = MULTI_TE[plan.script]
    module = args.get("network_module") or wanted
    if module != wanted:
        raise NotModelled(f"network_module {module} with {plan.script}.py: not modelled")
    if plan.script == "flux_train_network" and str(args.get("model_type") or "").lower() == "chroma" \
            and "model_type" in profiles.sd_scripts_args_profile(plan.sd.label).get("args", {}):
        # --model_type exists from v0.10.0 (the sd3-branch commits have no Chroma)
        raise NotModelled("Chroma (no CLIP-L): the parameter groups are not modelled")
    parsed = _network_args(args)
    if parsed.get("network_reg_lrs") and \
            "network_reg_lrs" in (profiles.network_args_keys(plan.sd, module) or []):
        # lora_flux reads network_reg_lrs from v0.10.0 (network_args.json); before, it is ignored
        raise NotModelled("network_reg_lrs gives regex-matched modules their own groups: not modelled")
    default = args.get("learning_rate")
    te = _multi_te_lrs(args.get("text_encoder_lr"), default, len(encoders))
    def ratio(key):
        if key not in parsed:
            return None
        try:
            return float(parsed[key])
        except ValueError:
            raise TrainerRefusal(f"ValueError: could not convert string to float: {parsed[key]!r} "
                                 f"(network_args {key})", plan.arg_origins.get("network_args")) from None

    plus_all = ratio("loraplus_lr_ratio")
    plus_te = ratio("loraplus_text_encoder_lr_ratio") or plus_all
    plus_unet = ratio("loraplus_unet_lr_ratio") or plus_all
    t5 = parsed.get("train_t5xxl") == "True"
    groups: list[Group] = []

    def assemble(name, lr, plus):
        for part, value in (("", lr), ("_plus", None if plus is None or lr is None else lr * plus)):
            if part == "_plus" and plus is None:
                continue
            if value == 0 or value is None:
                notes.append(f"the {name}{part.replace('_', ' ')} group has LR {value}: the trainer leaves "
                             f"it out of the optimizer ('NO LR skipping!')")
                continue
            groups.append(Group(name + part, value))

    if not args.get("network_train_unet_only"):
        for (name, needs_t5), lr in zip(encoders, te):
            if needs_t5 and not t5:
                continue
            assemble(name, lr, plus_te)
    if not args.get("network_train_text_encoder_only"):
        unet_lr = args.get("unet_lr")
        assemble("unet", unet_lr if unet_lr is not None else default, plus_unet)
    return groups


def _groups(plan: Plan, profile: dict, args: dict, facts: dict, notes: list[str]) -> list[Group]:
    kind = facts.get("groups")
    lr = args.get("learning_rate")
    if kind == "lora":
        return _lora_groups(plan, profile, args, notes)
    if kind == "lora_multi_te":
        return _multi_te_groups(plan, profile, args, notes)
    if kind == "db":
        stop = args.get("stop_text_encoder_training")
        train_te = stop is None or stop >= 0
        if not train_te:
            return [Group("unet", None)]
        if profile.get("train_db_learning_rate_te") and args.get("learning_rate_te") is not None:
            return [Group("unet", lr), Group("text_encoder", args.get("learning_rate_te"))]
        return [Group("unet+text_encoder", None)]
    if kind == "ft":
        train_te = bool(args.get("train_text_encoder"))
        if profile.get("train_db_learning_rate_te") and train_te and args.get("learning_rate_te") is not None:
            return [Group("unet", lr), Group("text_encoder", args.get("learning_rate_te"))]
        return [Group("unet+text_encoder" if train_te else "unet", None)]
    if kind == "sdxl_train":
        if args.get("block_lr"):
            raise NotModelled("block_lr gives the U-Net one group per block: not modelled")
        train_te = bool(args.get("train_text_encoder"))
        if profile.get("sdxl_train_groups") == "one":
            return [Group("unet+text_encoder1+text_encoder2" if train_te else "unet", None)]
        # sdxl_train.py v0.8.4 L271-288: "> 0"; v0.9.1 L275-288: "!= 0"
        if profile.get("sdxl_train_lr_test") == "nonzero":
            test = lambda v: v != 0  # noqa: E731
        else:
            test = lambda v: v > 0  # noqa: E731
        groups = []
        if test(lr):
            groups.append(Group("unet", lr))
        if train_te:
            for i, key in ((1, "learning_rate_te1"), (2, "learning_rate_te2")):
                value = args.get(key) if args.get(key) is not None else lr
                if test(value):
                    groups.append(Group(f"text_encoder{i}", args.get(key) or lr))
        return groups
    if kind == "ti":
        return [Group("embeddings", None)]
    if kind == "controlnet":
        return [Group("controlnet" if "lllite" not in plan.script else "lllite", None)]
    raise NotModelled(f"the parameter groups of {plan.script}.py are not modelled")


def lr_facts(plan: Plan, report: StepReport, profile: dict, args: dict, facts: dict,
             keep_series: bool = True) -> LrFacts:
    notes: list[str] = []
    if args.get("lr_scheduler_type"):
        warm = args.get("lr_warmup_steps")
        if isinstance(warm, float) and profile["warmup_ratio"]:
            warm = int(warm * report.max_train_steps * report.num_processes)
        if warm is not None and warm != 0:
            # get_scheduler_fix: a custom scheduler refuses a warmup (v0.6.5 L2939-2946)
            raise TrainerRefusal(f"ValueError: {args.get('lr_scheduler')} does not require `num_warmup_steps`. "
                                 f"Set None or 0.", plan.arg_origins.get("lr_warmup_steps"))
        raise NotModelled(f"custom lr_scheduler_type {args['lr_scheduler_type']!r}: not modelled")
    # the learning rates as the trainer holds them (lr_values: a config-file string stays a
    # string and fails, argparse converts command-line text, NaN / infinity draw no curve)
    args = lr_values.checked(plan, args, plan.script)
    opt = optimizer_type(args)
    if profile.get("schedulefree") and opt.lower().endswith("schedulefree"):
        raise NotModelled(f"{opt} is a schedule-free optimizer: the trainer builds no scheduler "
                           f"(get_dummy_scheduler) and the LR stays as set; the optimizer's own "
                           f"warmup_steps argument shapes the step size")
    groups = _groups(plan, profile, args, facts, notes)
    if not groups:
        raise TrainerRefusal("ValueError: optimizer got an empty parameter list (no group is trained: "
                             "check network_train_unet_only / network_train_text_encoder_only and the "
                             "learning rates)")
    default_lr = args.get("learning_rate")
    kwargs = optimizer_kwargs(args)
    adafactor = opt.lower() == "adafactor"
    lr_args = dict(args)
    relative_step = adafactor and kwargs.get("relative_step", True) is not False
    if adafactor and kwargs.get("warmup_init") and not relative_step:
        relative_step = True   # get_optimizer: warmup_init forces relative_step
    if relative_step:
        # get_optimizer Adafactor (v0.10.1 L5047-5082): the groups' LRs are dropped, the scheduler
        # becomes "adafactor:<learning_rate>"
        lr_args["lr_scheduler"] = f"adafactor:{default_lr}"
        notes.append(f"Adafactor with relative_step: the trainer replaces lr_scheduler by "
                     f"adafactor:{default_lr} and ignores unet_lr / text_encoder_lr")
        groups = [Group(g.name, None) for g in groups]
    bases = [g.lr if g.lr is not None else default_lr for g in groups]
    if relative_step:
        bases = [None for _ in groups]
    optimizer = lrs.FakeOptimizer(default_lr, bases)
    P = report.num_processes
    try:
        built = lrs.build(profile, lr_args, num_processes=P, optimizer=optimizer, optimizer_is_adafactor=adafactor)
    except lrs.SchedulerError as exc:
        name = "lr_warmup_steps" if "num_warmup_steps" in str(exc) else "lr_scheduler"
        origin = plan.arg_origins.get(name) or plan.arg_origins.get("lr_scheduler")
        raise TrainerRefusal(str(exc), origin) from None
    S = report.max_train_steps
    every_batch = bool(profile["scheduler_steps_every_batch"]) and report.gradient_accumulation_steps > 1
    per_step: list[list[float]] = []
    if built.scheduler.kind == "adafactor":
        per_step = adafactor_series(plan, report, profile, kwargs, built, len(groups))
    elif every_batch:
        factor = built.scheduler.factor
        for k in range(1, S + 1):
            step = lrs.scheduler_step_count(
                k, num_processes=P, every_batch=every_batch,
                gradient_accumulation_steps=report.gradient_accumulation_steps,
                num_batches_per_epoch=report.num_batches_per_epoch,
                num_update_steps_per_epoch=report.num_update_steps_per_epoch)
            try:
                f = factor(step)
                per_step.append([b * f for b in bases])
            except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
                raise TrainerRefusal(_scheduler_failure(exc, k), plan.arg_origins.get("lr_warmup_steps")) from None
    else:
        per_step = per_step_values(built.scheduler, bases, S, P, keep_series,
                                   plan.arg_origins.get("lr_warmup_steps"))
    if not keep_series:
        per_step = []
    problem = lr_values.series_problem(per_step)
    if problem:
        raise lr_values.NotDrawable(problem)
    stop = None
    if facts.get("groups") == "db":
        value = args.get("stop_text_encoder_training")
        stop = S + 1 if value is None else value
    warm = built.num_warmup_steps
    warm_steps = None
    if isinstance(warm, (int, float)) and not isinstance(warm, bool):
        warm_steps = warm / P if not every_batch else warm / (P * report.gradient_accumulation_steps)
    return LrFacts(scheduler=built.name, groups=[g.name for g in groups], base=bases, warmup_steps=warm,
                   num_training_steps=built.num_training_steps, per_step=per_step,
                   function=built.scheduler.function, scheduler_steps_per_step=P, every_batch=every_batch,
                   extra={**built.extra, "notes": notes}, stop_text_encoder_training=stop,
                   warmup_optimizer_steps=warm_steps)



def per_step_values(scheduler: lrs.Lambda, bases: list, S: int, P: int, keep_series: bool = True,
                    origin=None) -> list[list[float]]:
    """The LR of every group at optimizer steps 1..S when the scheduler steps P times per
    optimizer step (accelerate >= 0.23 AcceleratedScheduler.step: only on sync steps, once per
    process; sd-scripts v0.7+ and musubi-tuner): entry k-1 is the value after (k-1) * P scheduler
    steps. Without `keep_series` every value is computed (the same operations can fail) and none
    kept. A failure is the trainer's exception at that step (TrainerRefusal at `origin`)."""
    per_step: list[list[float]] = []
    if scheduler.kind == "values":
        # a scheduler whose groups do not all follow base * factor (musubi's RexLR)
        k = 0
        try:
            for k, step in enumerate(range(0, S * P, P), 1):
                row = scheduler.values(step, bases)
                if keep_series:
                    per_step.append(row)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            raise TrainerRefusal(_scheduler_failure(exc, k), origin) from None
        return per_step
    # one call per step, since S can be hundreds of thousands
    factor = scheduler.factor
    steps = range(0, S * P, P)
    append = per_step.append
    k = 0
    try:
        if not keep_series:
            # every value computed as below (the same operations can fail), none stored
            if len(bases) == 1:
                base = bases[0]
                for k, step in enumerate(steps, 1):
                    base * factor(step)  # noqa: B018 - evaluated for the errors it may raise
            elif len(bases) == 2:
                first, second = bases
                for k, step in enumerate(steps, 1):
                    f = factor(step)
                    first * f  # noqa: B018
                    second * f  # noqa: B018
            else:
                for k, step in enumerate(steps, 1):
                    f = factor(step)
                    for b in bases:
                        b * f  # noqa: B018
        elif len(bases) == 1:
            base = bases[0]
            for k, step in enumerate(steps, 1):
                append([base * factor(step)])
        elif len(bases) == 2:
            first, second = bases
            for k, step in enumerate(steps, 1):
                f = factor(step)
                append([first * f, second * f])
        else:
            for k, step in enumerate(steps, 1):
                f = factor(step)
                append([b * f for b in bases])
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
        raise TrainerRefusal(_scheduler_failure(exc, k), origin) from None
    return per_step if keep_series else []


def _scheduler_failure(exc: Exception, k: int) -> str:
    return f"{type(exc).__name__}: {exc} (in the LR scheduler at optimizer step {k})"


def adafactor_series(plan, report, profile, kwargs, built, n_groups) -> list[list[float]]:
    """transformers AdafactorSchedule (4.26..4.54): param_groups' LR is initial_lr until the first
    optimizer step, then Adafactor._get_lr of the group's first parameter: min(1e-2 (or 1e-6 *
    step with warmup_init), 1 / sqrt(step)), times max(eps2, RMS(parameter)) with scale_parameter
    (its default) - which depends on the weights."""
    if kwargs.get("scale_parameter", True) is not False:
        raise NotModelled("Adafactor with relative_step and scale_parameter (their defaults): its step "
                           "size is scaled by each parameter's RMS, which depends on the weights; set "
                           "scale_parameter=False in optimizer_args for a predictable LR")
    if profile["scheduler_steps_every_batch"] and report.gradient_accumulation_steps > 1:
        raise TrainerRefusal("KeyError: 'step' (accelerate 0.15 steps the AdafactorSchedule before the "
                             "first optimizer step when accumulating gradients)")
    initial = built.extra["initial_lr"]
    out = [[initial] * n_groups]
    warmup_init = bool(kwargs.get("warmup_init", False))
    for k in range(2, report.max_train_steps + 1):
        state_step = k - 1
        min_step = 1e-6 * state_step if warmup_init else 1e-2
        value = min(min_step, 1.0 / math.sqrt(state_step))
        out.append([1.0 * value] * n_groups)
    return out
