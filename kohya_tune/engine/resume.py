"""What a resumed sd-scripts run really does: the loop of the trainer, run on the numbers.

Inputs: the resumed run's numbers (`steps.compute` on the config the user will start), the saved
state (`load.state`: the scheduler's `last_epoch` and `base_lrs`, `train_state.json`,
accelerate's step counter), the trainer version's resume code (`versions.resume`), the
accelerate and torch the run gets, and the names already in the output folder.

The loop walked here, micro-batch by micro-batch, is train_network.py's (48d368fa L1232-1418,
L1401-1725; v0.9.0 L778-1098 the same); the older versions and the other scripts run the same loop
from epoch 1, step 1 (versions/data/resume_profiles.json):

    initial_step = initial_step option | (initial_epoch - 1) * ceil(Nd / P / G) | train_state's current_step
    assert max_train_steps > initial_step                     (when initial_step > 0)
    with skip_until_initial_step: initial_step *= G; epoch_to_start = initial_step // U
        (skipped epochs: initial_step -= Nd each; global_step = initial_step)
    without it: epoch_to_start = initial_step // U; initial_step = 0
    for epoch in range(epoch_to_start, E):
        first epoch: skip_first_batches(initial_step - 1) and one more batch dropped
        for each batch: current_step = global_step; accelerate's accumulate (its `step` counter,
            restored from the state from accelerate 0.32, decides the sync; the last batch of the
            dataloader always syncs); the scheduler steps P times on a sync (every batch before
            accelerate 0.16); on a sync: global_step += 1, sample, step saves; break at max_train_steps
        epoch saves, epoch sample
    final state (save_state / save_state_on_train_end), final model

The LR after each optimizer step is what the trainer logs (`lr_scheduler.get_last_lr()`): the
restored `base_lrs` times the new run's schedule function at the restored position plus the steps
taken (torch LambdaLR.load_state_dict keeps the new function, takes last_epoch and base_lrs).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from kohya_tune.engine import lr_schedulers as lrs
from kohya_tune.engine import schedule as schedule_mod
from kohya_tune.engine.plan import Plan, TrainerRefusal
from kohya_tune.engine.steps import StepReport
from kohya_tune.load.state import SavedState
from kohya_tune.versions import resume as resume_data
from kohya_tune.versions import schedules


@dataclass
class Step:
    step: int                       # global_step as the trainer numbers it (after the increment)
    epoch: int                      # 1-based, as train_state.json and the logs have it
    lr: list | None                 # get_last_lr() after the step, per group (the logged value)
    lr_used: list | None            # the LR the optimizer step used (before the scheduler stepped)
    scheduler_position: int         # the scheduler's last_epoch after the step


@dataclass
class File:
    name: str
    kind: str                       # "model" | "state" | "sample" | "removed"
    step: int
    epoch: int | None               # the loop's epoch (1-based; None before the loop or without one)
    overwrites: bool = False
    ss_epoch: int | None = None     # the ss_epoch the trainer writes into a model's metadata
    train_state: dict | None = None  # a state's train_state.json
    scheduler_position: int | None = None
    sample_epoch: object = None      # the epoch argument of a sample (None for a step sample)
    trigger: str = ""                # "step" | "epoch" | "final" | "first"


@dataclass
class Bug:
    id: str
    issue: str | None
    what: str
    detail: str = ""


@dataclass
class ResumeRun:
    outcome: str                    # "finished" | "refused"
    error: str | None
    epoch_to_start: int | None      # the trainer's 0-based epoch_to_start
    steps: list[Step]
    files: list[File]
    train_state_after: dict | None
    bugs: list[Bug]
    groups: list[str]
    start: dict
    notes: list[str] = field(default_factory=list)
    lr_note: str | None = None

    @property
    def optimizer_steps(self) -> int:
        return len(self.steps)


class _Refused(Exception):
    pass


@dataclass
class Setup:
    """Everything the loop needs, gathered once (the planner runs the loop many times)."""
    plan: Plan
    report: StepReport
    args: dict
    profile: dict                   # the schedule profile
    loop: dict                      # versions.resume.loop_profile
    env: resume_data.Environment
    namer: schedule_mod.Namer
    lr: object                      # schedule.LrFacts of the new run, or None
    groups: list[str]
    bases_new: list | None
    lr_note: str | None
    every_batch: bool
    notes: list[str]
    sample_prefix: str
    prompts_found: bool | None
    cache: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------


def setup(report: StepReport, env: resume_data.Environment) -> Setup:
    plan = report.plan
    _, profile = schedules.schedule_profile(plan.sd.label)
    args = schedule_mod.schedule_args(plan, report, profile)
    facts = schedule_mod.script_facts(plan.script)
    gui_commit = (plan.gui.sd_scripts or {}).get("commit") if plan.gui is not None else None
    loop = resume_data.loop_profile(plan.sd.label, plan.script, gui_commit or plan.sd.get("bundle_commit"))
    notes: list[str] = []
    namer = schedule_mod.Namer(plan, args, facts["saver"])
    notes.extend(namer.notes)
    lr, groups, bases, lr_note = None, [], None, None
    try:
        lr = schedule_mod.lr_facts(plan, report, profile, args, facts, keep_series=False)
        groups, bases = list(lr.groups), list(lr.base)
        if _built(plan, report, profile, args, lr) is None:
            lr_note = f"the {lr.scheduler} scheduler's state is not a plain LambdaLR: its LR after a resume is not modelled"
            lr = None
    except schedule_mod._NotModelled as exc:
        lr_note = str(exc)
    prefix = "" if args.get("output_name") is None else f"{args.get('output_name')}_"
    prompts = args.get("sample_prompts")
    found = None
    if isinstance(prompts, str) and prompts:
        from kohya_tune.engine.plan import resolve_file

        found = resolve_file(prompts, plan.path_map, plan.config.directory) is not None
    return Setup(plan=plan, report=report, args=args, profile=profile, loop=loop, env=env, namer=namer,
                 lr=lr, groups=groups, bases_new=bases, lr_note=lr_note,
                 every_batch=env.scheduler_every_batch(), notes=notes, sample_prefix=prefix, prompts_found=found)


def _built(plan, report, profile, args, lr):
    """The new run's scheduler (the same call lr_facts made, which succeeded), or None when its
    LR after a resume is not modelled."""
    if lr.scheduler.startswith("adafactor"):
        return None
    optimizer = lrs.FakeOptimizer(args.get("learning_rate"), list(lr.base))
    try:
        built = lrs.build(profile, args, num_processes=report.num_processes, optimizer=optimizer,
                          optimizer_is_adafactor=schedule_mod.optimizer_type(args).lower() == "adafactor")
    except lrs.SchedulerError as exc:
        raise TrainerRefusal(str(exc), plan.arg_origins.get("lr_scheduler")) from None
    if built.scheduler.kind != "lambda":
        return None
    return built


def schedule_for(su: Setup, max_train_steps: int):
    """(factor, horizon) of the run's scheduler when max_train_steps is `max_train_steps`."""
    if su.lr is None:
        return None, None
    key = ("factor", max_train_steps)
    cached = su.cache.get(key)
    if cached is None:
        args = dict(su.args, max_train_steps=max_train_steps)
        built = _built(su.plan, su.report, su.profile, args, su.lr)
        cached = (built.scheduler.factor, built.num_training_steps) if built is not None else (None, None)
        su.cache[key] = cached
    return cached


# --------------------------------------------------------------------------------------------


def simulate(su: Setup, state: SavedState, existing: set[str] | None, overrides: dict | None = None,
             resume_path: str | None = None, quick: bool = False) -> ResumeRun:
    """The resumed run. `overrides`: argument values that replace the config's (the planner's
    candidates: initial_step, skip_until_initial_step, initial_epoch, max_train_steps, output_name).
    `quick`: only the steps' numbers and epochs (no LR, no files), for the planner's search."""
    args = dict(su.args)
    if overrides:
        args.update(overrides)
    report = su.report
    bugs: list[Bug] = []
    notes: list[str] = list(su.notes)
    start: dict = {}

    def add_bug(bug_id: str, detail: str = ""):
        if not any(b.id == bug_id for b in bugs):
            info = resume_data.bug(bug_id)
            bugs.append(Bug(bug_id, info["issue"], info["what"], detail))

    def refused(message: str, epoch_to_start=None) -> ResumeRun:
        return ResumeRun("refused", message, epoch_to_start, [], [], None, bugs, su.groups, start, notes, su.lr_note)

    where = resume_path or state.dir
    P = report.num_processes
    G = report.gradient_accumulation_steps
    Nd = report.num_batches_per_epoch
    U = report.num_update_steps_per_epoch
    S = args.get("max_train_steps", report.max_train_steps)
    if overrides and "max_train_steps" in overrides:
        E = math.ceil(S / U) if U else 0
    else:
        E = report.num_train_epochs
    initial_loop = su.loop["network_resume"] == "initial_step"
    factor, horizon = schedule_for(su, S) if not quick else (None, None)

    # ---- accelerator.load_state: sd-scripts' pre-hook, then accelerate's loads in its order
    steps_from_state = None
    if initial_loop and "train_state.json" in state.files:
        problem = state.problem("train_state.json")
        if state.train_state is None:
            return refused(f"JSONDecodeError: {problem} (train_state.json in {where})")
        if "current_step" not in state.train_state:
            return refused("KeyError: 'current_step'")
        steps_from_state = state.train_state["current_step"]
    if "model.safetensors" not in state.files and "pytorch_model.bin" not in state.files:
        return refused(f"FileNotFoundError: [Errno 2] No such file or directory: "
                       f"'{os.path.join(where, 'pytorch_model.bin')}'")
    if "optimizer.bin" not in state.files:
        return refused(f"FileNotFoundError: [Errno 2] No such file or directory: '{os.path.join(where, 'optimizer.bin')}'")
    if state.optimizer is not None and su.groups and len(state.optimizer.group_sizes) != len(su.groups):
        notes.append(f"the state's optimizer has {len(state.optimizer.group_sizes)} parameter group(s), this "
                     f"config's {len(su.groups)} ({', '.join(su.groups)})")
        return refused("ValueError: loaded state dict has a different number of parameter groups")
    if "scheduler.bin" not in state.files:
        return refused(f"FileNotFoundError: [Errno 2] No such file or directory: '{os.path.join(where, 'scheduler.bin')}'")
    acc_step = 0
    lost = []
    for rank in range(P):
        name = f"random_states_{rank}.pkl"
        loadable = name in state.files and su.env.random_states_load_under_torch() \
            and state.problem(name) is None
        if not loadable:
            lost.append(rank)
        elif rank == 0 and su.env.saves_step():
            value = state.accelerate_steps.get(0)
            acc_step = value if isinstance(value, int) else 0
    if lost:
        why = []
        if any(f"random_states_{r}.pkl" not in state.files for r in lost):
            why.append(f"random_states_{{rank}}.pkl is missing for rank(s) "
                       f"{', '.join(str(r) for r in lost if f'random_states_{r}.pkl' not in state.files)} "
                       f"(only the main process saves it)")
        if not su.env.random_states_load_under_torch():
            why.append(f"torch {su.env.torch} loads with weights_only=True and accelerate {su.env.accelerate} "
                       f"does not allow numpy's arrays")
        if su.env.step_keyerror():
            add_bug("step-keyerror", "; ".join(why))
            return refused("KeyError: 'step'")
        add_bug("random-states-lost", "; ".join(why))
    start["accelerate_step_after_load"] = acc_step
    sched = state.scheduler
    L = sched.last_epoch if sched is not None else None
    base = sched.base_lrs if sched is not None else None
    start["scheduler_last_epoch_at_start"] = L
    start["scheduler_base_lrs"] = base
    if base is not None and su.bases_new is not None and len(base) == len(su.bases_new):
        changed = [i for i, (a, b) in enumerate(zip(base, su.bases_new)) if b is not None and a != b]
        if changed:
            add_bug("lr-restored", ", ".join(f"{su.groups[i]}: the config says {su.bases_new[i]}, the state "
                                             f"restores {base[i]}" for i in changed))

    # ---- initial_step (train_network.py v0.9.0+)
    initial_step = 0
    epoch_to_start = 0
    global_step = 0
    skip = bool(args.get("skip_until_initial_step")) if initial_loop else False
    if initial_loop:
        opt_step, opt_epoch = args.get("initial_step"), args.get("initial_epoch")
        for key, value in (("initial_step", opt_step), ("initial_epoch", opt_epoch)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                return refused(f"TypeError: {key} is {value!r} ({type(value).__name__}), the trainer's arithmetic "
                               f"needs an integer")
        if opt_epoch is not None or opt_step is not None:
            if steps_from_state is not None:
                notes.append("train_state.json is ignored: initial_step or initial_epoch is set "
                             "(\"steps from the state is ignored because initial_step is specified\")")
            if opt_step is not None:
                initial_step = opt_step
            else:
                initial_step = (opt_epoch - 1) * math.ceil(Nd / P / G)
                if P > 1:
                    add_bug("initial-epoch-processes",
                            f"initial_epoch {opt_epoch} gives initial_step ({opt_epoch} - 1) x ceil({Nd} / {P} / {G}) "
                            f"= {initial_step}, not ({opt_epoch} - 1) x {U} = {(opt_epoch - 1) * U}")
        elif steps_from_state is not None:
            if isinstance(steps_from_state, bool) or not isinstance(steps_from_state, int):
                return refused(f"TypeError: train_state.json current_step is {steps_from_state!r}, not an integer")
            initial_step = steps_from_state
        start["initial_step"] = initial_step
        if initial_step > 0 and not S > initial_step:
            add_bug("assert-finished", f"max_train_steps {S}, initial step {initial_step}")
            return refused(f"AssertionError: max_train_steps should be greater than initial step / "
                           f"max_train_stepsは初期ステップより大きい必要があります: {S} vs {initial_step}")
        if initial_step > 0:
            if skip:
                initial_step *= G
                epoch_to_start = initial_step // U
                if G > 1:
                    add_bug("skip-ga", f"initial_step x {G} = {initial_step} batches, epoch_to_start = "
                                       f"{initial_step} // {U} = {epoch_to_start} (epoch {epoch_to_start + 1})")
            else:
                epoch_to_start = initial_step // U
                initial_step = 0
    else:
        add_bug("restart", "this trainer " + ("script" if su.loop.get("other_loop") else "version")
                + " reads no train_state.json: the loop starts at epoch 1, step 1")
        if any(args.get(k) is not None and args.get(k) is not False
               for k in ("initial_step", "initial_epoch", "skip_until_initial_step")):
            notes.append(f"initial_step / initial_epoch / skip_until_initial_step have no effect on "
                         f"{su.plan.script}.py of sd-scripts {su.plan.sd.label}")
    start["epoch_to_start"] = epoch_to_start
    start["initial_step_after_GA_multiply"] = initial_step

    # ---- the loop
    every_epochs = _count(args, "save_every_n_epochs")
    ratio = _count(args, "save_n_epoch_ratio")
    if ratio is not None and ratio > 0:
        every_epochs = math.floor(E / ratio) or 1
    every_steps = _count(args, "save_every_n_steps")
    last_n_epochs = _count(args, "save_last_n_epochs")
    last_n_epochs_state = _count(args, "save_last_n_epochs_state")
    last_n_steps = _count(args, "save_last_n_steps")
    last_n_steps_state = _count(args, "save_last_n_steps_state")
    save_state = bool(args.get("save_state"))
    state_on_end = save_state or (su.profile.get("save_state_on_train_end_option")
                                  and bool(args.get("save_state_on_train_end")))
    sample_n_steps = _count(args, "sample_every_n_steps")
    sample_n_epochs = _count(args, "sample_every_n_epochs")
    sample_first = bool(args.get("sample_at_first")) and bool(su.profile.get("sample_at_first"))
    namer = su.namer if not overrides or "output_name" not in overrides else \
        schedule_mod.Namer(su.plan, args, schedule_mod.script_facts(su.plan.script)["saver"])
    prefix = "" if args.get("output_name") is None else f"{args.get('output_name')}_"
    pattern = resume_data.sample_pattern(su.plan.sd.label)
    for name, value in (("save_every_n_epochs", every_epochs), ("save_every_n_steps", every_steps),
                        ("sample_every_n_steps", sample_n_steps), ("sample_every_n_epochs", sample_n_epochs)):
        if value == 0:
            return refused(f"ZeroDivisionError: integer modulo by zero ({name} = 0)")

    present = set(existing or ())
    before = frozenset(present)
    files: list[File] = []
    steps: list[Step] = []
    cur = {"epoch": 0, "step": 0}
    position = L if L is not None else 0
    train_state_after = None

    def write(name: str, kind: str, step: int, ss_epoch=None, trigger="", state_dir=False):
        nonlocal train_state_after
        f = File(name, kind, step, cur["epoch"] or None, overwrites=name in present, ss_epoch=ss_epoch, trigger=trigger)
        if kind == "state":
            f.scheduler_position = position
            if su.loop.get("train_state"):
                f.train_state = {"current_epoch": cur["epoch"], "current_step": cur["step"] + 1}
                train_state_after = f.train_state
        present.add(name)
        files.append(f)

    def remove(name: str, step: int):
        if name in present:
            present.discard(name)
            # overwrites: the removed file is one the run found (a file of an earlier run)
            files.append(File(name, "removed", step, cur["epoch"] or None, overwrites=name in before))

    def sample(epoch_arg, steps_arg):
        # sample_images_common (v0.7.1+ with the steps == 0 / sample_at_first check; 48d368fa L6380-6393)
        if steps_arg == 0 and su.profile.get("sample_at_first"):
            if not sample_first:
                return
        else:
            if sample_n_steps is None and sample_n_epochs is None:
                return
            if sample_n_epochs is not None:
                if epoch_arg is None or epoch_arg % sample_n_epochs != 0:
                    return
            elif steps_arg % sample_n_steps != 0 or epoch_arg is not None:
                return
        if su.prompts_found is None:
            return
        number = f"e{epoch_arg:06d}" if epoch_arg is not None else f"{steps_arg:06d}"
        name = "sample/" + pattern.format(prefix=prefix, number=number, index="NN", time="<time>")
        f = File(name, "sample", steps_arg, cur["epoch"] or None, sample_epoch=epoch_arg,
                 trigger="first" if epoch_arg == 0 else ("epoch" if epoch_arg is not None else "step"))
        files.append(f)

    lr_error = None

    def lr_at(pos):
        nonlocal lr_error
        if factor is None or base is None or lr_error is not None:
            return None
        try:
            f = factor(pos)
            return [b * f for b in base]
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            lr_error = f"{type(exc).__name__}: {exc} (in the LR scheduler at position {pos})"
            return None

    # sample at first (steps == 0), before the loop (v0.7.1+, the scripts that call it)
    if su.profile.get("sample_at_first") and schedule_mod.script_facts(su.plan.script).get("sample_at_first"):
        sample(0, 0)
    if initial_step > 0:
        for _ in range(epoch_to_start):
            initial_step -= Nd
        global_step = initial_step
    start["global_step_at_first_batch"] = global_step
    lr_before = lr_at(position)
    first_batch = None
    for epoch in range(epoch_to_start, E):
        cur["epoch"] = epoch + 1
        yielded = range(Nd)
        if initial_step > 0:
            yielded = range(initial_step - 1, Nd)
            initial_step = 1
        for index, batch_index in enumerate(yielded):
            cur["step"] = global_step
            if initial_step > 0:
                initial_step -= 1
                continue
            if first_batch is None:
                first_batch = (epoch, batch_index)
            last = index == len(yielded) - 1
            if last:
                acc_step = 0
                sync = True
            else:
                acc_step += 1
                sync = acc_step % G == 0
            if sync or su.every_batch:
                position += P
            if sync:
                global_step += 1
                lr_after = lr_at(position)
                steps.append(Step(global_step, epoch + 1, lr_after, lr_before, position))
                lr_before = lr_after
                if quick:
                    if global_step >= S:
                        break
                    continue
                sample(None, global_step)
                if every_steps is not None and global_step % every_steps == 0:
                    write(namer.step(global_step), "model", global_step, ss_epoch=epoch, trigger="step")
                    if save_state:
                        write(namer.step_state(global_step), "state", global_step, trigger="step")
                        keep = last_n_steps_state if last_n_steps_state else last_n_steps
                        if keep is not None:
                            old = global_step - keep - 1
                            old = old - (old % every_steps)
                            if old > 0:
                                remove(namer.step_state(old), global_step)
                    if last_n_steps is not None:
                        old = global_step - last_n_steps - 1
                        old = old - (old % every_steps)
                        if old >= 0:
                            remove(namer.step(old), global_step)
            elif su.every_batch:
                lr_before = lr_at(position)
            if global_step >= S:
                break
        if quick:
            continue
        if every_epochs is not None and (epoch + 1) % every_epochs == 0 and (epoch + 1) < E:
            write(namer.epoch(epoch + 1), "model", global_step, ss_epoch=epoch + 1, trigger="epoch")
            if last_n_epochs is not None:
                old = epoch + 1 - every_epochs * last_n_epochs
                if old >= 0:
                    remove(namer.epoch(old), global_step)
            if save_state:
                write(namer.epoch_state(epoch + 1), "state", global_step, trigger="epoch")
                keep = last_n_epochs_state if last_n_epochs_state else last_n_epochs
                if keep is not None:
                    remove(namer.epoch_state(epoch + 1 - every_epochs * keep), global_step)
        sample(epoch + 1, global_step)
    if state_on_end and not quick:
        write(namer.last_state(), "state", global_step, trigger="final")
    if not quick:
        write(namer.last(), "model", global_step, ss_epoch=E, trigger="final")
    start["first_trained_batch"] = first_batch     # (0-based epoch, batch index in it)

    run = ResumeRun("finished", None, epoch_to_start, steps, files, train_state_after, bugs, su.groups, start,
                    notes, su.lr_note)
    if quick:
        return run
    if lr_error:
        run.outcome, run.error = "refused", lr_error
    _name_bugs(su, run, state, args, horizon, P, add_bug)
    return run


def _count(args: dict, name: str):
    value = args.get(name)
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _name_bugs(su: Setup, run: ResumeRun, state: SavedState, args: dict, horizon, P: int, add_bug) -> None:
    """The known trainer behaviours this run shows, named with their issues."""
    if not run.steps:
        return
    if any(s.step <= 0 for s in run.steps) or any(f.step < 0 for f in run.files):
        add_bug("skip-ga")
    if any(f.kind in ("model", "state", "removed") and f.overwrites for f in run.files):
        add_bug("run-local-names", ", ".join(f.name for f in run.files if f.overwrites or f.kind == "removed")[:300])
    if run.train_state_after is not None and state.scheduler is not None and state.scheduler.last_epoch is not None:
        last = run.steps[-1].scheduler_position
        if P and last % P == 0 and run.train_state_after.get("current_step") != last // P:
            add_bug("run-local-step", f"the last state written holds current_step "
                                      f"{run.train_state_after.get('current_step')}; the scheduler has "
                                      f"made {last // P} optimizer steps")
    if horizon is not None and any(s.scheduler_position > horizon for s in run.steps):
        first = next(s for s in run.steps if s.scheduler_position > horizon)
        add_bug("past-horizon", f"from step {first.step} the scheduler is past max_train_steps x processes = {horizon}")
    if state.scheduler is not None and state.scheduler.last_lr and run.steps and run.steps[0].lr_used:
        before = state.scheduler.last_lr
        after = run.steps[0].lr_used
        if len(before) == len(after) and any(a > 0 and a > b * (1 + 1e-9) for a, b in zip(after, before)):
            add_bug("lr-jump", f"the state's last LR {before[-1]:.6g}, the first step of this run uses {after[-1]:.6g}")
    if su.loop["network_resume"] == "initial_step" and run.epoch_to_start is not None:
        ts = state.train_state or {}
        options = args.get("initial_step") is not None or args.get("initial_epoch") is not None
        if not args.get("skip_until_initial_step") and not options and isinstance(ts.get("current_step"), int):
            U = su.report.num_update_steps_per_epoch
            if U and ts["current_step"] % U:
                add_bug("epoch-retrained", f"the state is {ts['current_step'] % U} step(s) into epoch "
                                           f"{ts['current_step'] // U + 1}, which starts again from its first batch")


# --------------------------------------------------------------------------------------------
# the whole analysis of a state and a config (kohya-tune resume, api.resume, lint KT804)


class ResumeInputError(Exception):
    """A state folder or config that cannot be used (exit 2)."""


@dataclass
class ResumeReport:
    state: SavedState
    state_arg: str
    config: str
    plan_obj: object                 # engine.plan.Plan of the config
    env: object                      # versions.resume.Environment
    loop: dict
    run: ResumeRun
    output_dir: str | None
    output_source: str
    plan: object = None              # edit.resume_plan.ResumePlan
    notes: list[str] = field(default_factory=list)
    doc: object = None
    settings: object = None
    setup: Setup | None = None
    existing: set = field(default_factory=set)
    plan_resume: str = ""            # the resume value a plan writes


def output_listing(plan, state: SavedState) -> tuple[str | None, str, set]:
    """The names in the folder the run writes to: the config's output_dir when it is here, else
    the folder holding the state (where the first run wrote it)."""
    from kohya_tune.engine.plan import resolve_dir

    out = plan.args.get("output_dir") if plan is not None else None
    if isinstance(out, str) and out:
        found = resolve_dir(out, plan, base=plan.config.directory)
        if found is not None:
            try:
                return str(found), "the config's output_dir", set(os.listdir(found))
            except OSError:
                pass
    parent = os.path.dirname(os.path.abspath(state.dir))
    try:
        names = set(os.listdir(parent))
    except OSError:
        names = set()
    why = "the state's folder (the config's output_dir is not found here)" if out else \
        "the state's folder (the config has no output_dir)"
    return parent, why, names


def analyse(state_dir: str, doc, settings, *, accelerate: str | None = None, torch: str | None = None,
            plan=None, report=None) -> ResumeReport:
    """Read the state, plan the config (or take `plan` / `report` already built), and run the
    resumed loop. ResumeInputError for a folder that is not a state (or would run code) or a
    config that is not a training config."""
    from kohya_tune.engine import normalize, steps
    from kohya_tune.load import documents
    from kohya_tune.load import state as state_mod

    try:
        state = state_mod.read(state_dir)
    except state_mod.NotAState as exc:
        raise ResumeInputError(f"{state_dir}: {exc}") from None
    if doc.kind not in (documents.GUI, documents.ARGS):
        raise ResumeInputError(f"{doc.path}: not a training config (a kohya_ss GUI JSON or an sd-scripts "
                               f"--config_file TOML): the resumed run's options are in it")
    if plan is None:
        plan = normalize.build_plan(doc, settings)
    env = resume_data.environment(plan.sd.label, plan.gui.version if plan.gui is not None else None,
                                  accelerate, torch)
    gui_commit = (plan.gui.sd_scripts or {}).get("commit") if plan.gui is not None else None
    loop = resume_data.loop_profile(plan.sd.label, plan.script, gui_commit or plan.sd.get("bundle_commit"))
    output_dir, output_source, existing = output_listing(plan, state)
    notes = []
    configured = plan.args.get("resume")
    resume_path = configured if isinstance(configured, str) and configured else state_dir
    plan_resume = os.path.abspath(state_dir)
    if isinstance(configured, str) and configured:
        from kohya_tune.engine.plan import map_path

        mapped = os.path.abspath(os.path.expanduser(map_path(configured, plan.path_map)))
        if not os.path.isdir(mapped) and not os.path.isabs(os.path.expanduser(configured)):
            mapped = os.path.abspath(os.path.join(str(plan.config.directory), configured))
        if os.path.realpath(mapped) != os.path.realpath(state_dir):
            notes.append(f"the config resumes from {configured!r}; this answer is for {state_dir}")
        else:
            plan_resume = configured
    else:
        notes.append(f"the config does not set resume: the answer is for --resume {state_dir}")
    result = ResumeReport(state, state_dir, doc.path, plan, env, loop, None, output_dir, output_source,
                          notes=notes, doc=doc, settings=settings, existing=existing, plan_resume=plan_resume)
    try:
        if report is None:
            report = steps.compute(plan)
        su = setup(report, env)
    except TrainerRefusal as exc:
        result.run = ResumeRun("refused", exc.message, None, [], [], None, [], [], {}, [], None)
        return result
    result.setup = su
    result.run = simulate(su, state, existing, resume_path=resume_path)
    return result
