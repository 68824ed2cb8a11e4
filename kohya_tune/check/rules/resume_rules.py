"""KT8xx: configs that resume a run (`resume`, `initial_step`, `initial_epoch`,
`skip_until_initial_step`): the traps of sd-scripts' resume code, at the offending line.

What each version does is data (versions/data/resume_profiles.json); when the state folder named
by `resume` is on this machine, KT804 runs the resumed loop itself (engine.resume, the same as
`kohya-tune resume STATE CONFIG`). The command gives the options that make the run finish the
original plan or train N more.
"""
from __future__ import annotations

import math
import os

from kohya_tune.check.diagnostics import Edit, Fix, lit
from kohya_tune.check.rules.base import Rule
from kohya_tune.check.rules.steps_rules import arg_keypath

ARGS_ONLY = frozenset({"args"})
OPTIONS = ("initial_step", "initial_epoch", "skip_until_initial_step")


def _loop(plan) -> dict:
    from kohya_tune.versions import resume as resume_data

    commit = (plan.gui.sd_scripts or {}).get("commit") if plan.gui is not None else None
    return resume_data.loop_profile(plan.sd.label, plan.script, commit or plan.sd.get("bundle_commit"))


def _set(value) -> bool:
    return value is not None and value is not False


def _int(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class SkipWithAccumulation(Rule):
    """skip_until_initial_step with gradient accumulation skips whole epochs (sd-scripts#2407).

    With `skip_until_initial_step` the trainer multiplies initial_step (the state's step, or
    `initial_step`) by `gradient_accumulation_steps` to count batches, then divides that by the
    optimizer steps per epoch to find the epoch to start at (train_network.py v0.9.0+, 48d368fa
    L1266-1269). The start epoch comes out `gradient_accumulation_steps` times too late: whole
    epochs are never trained, the step counter starts negative (checkpoints and samples at
    negative and repeated step numbers), and the final model is still written as if the run had
    finished. With accumulation 1 the skip is right.

    The one fix here is to remove the option: the resumed run then starts the state's epoch
    from its first batch (a few batches twice instead of epochs never). `kohya-tune resume STATE
    CONFIG --mode finish` computes the options that end exactly where the plan ended.

    Bad:

        gradient_accumulation_steps = 4
        skip_until_initial_step = true

    Fixed:

        gradient_accumulation_steps = 4
    """
    code = "KT801"
    name = "resume-skip-with-accumulation"
    severity = "warning"
    summary = "skip_until_initial_step with gradient_accumulation_steps > 1 skips whole epochs (sd-scripts#2407)"
    kinds = ARGS_ONLY
    needs = "plan"

    def check(self, ctx):
        plan = ctx.plan
        if plan is None or not plan.args.get("skip_until_initial_step"):
            return
        G = _int(plan.args.get("gradient_accumulation_steps"))
        if G is None or G <= 1 or _loop(plan)["network_resume"] != "initial_step":
            return
        yield ctx.diagnostic(
            self, f"skip_until_initial_step with gradient_accumulation_steps = {G}: the trainer starts at "
                  f"epoch (initial_step x {G}) // steps per epoch, {G} times too late, so whole epochs are "
                  f"skipped and the step numbers go negative (sd-scripts#2407); remove skip_until_initial_step",
            keypath=arg_keypath(ctx.doc, "skip_until_initial_step"),
            fix=Fix("remove skip_until_initial_step",
                    [Edit(arg_keypath(ctx.doc, "skip_until_initial_step"), None, "sd-scripts#2407")]))


class InitialEpochOnSeveralProcesses(Rule):
    """initial_epoch on several GPUs starts at an earlier epoch than it says.

    The trainer turns `initial_epoch` into a step count with `(initial_epoch - 1) x
    ceil(len(train_dataloader) / num_processes / gradient_accumulation_steps)`
    (train_network.py v0.9.0+, 48d368fa L1243-1245), but `len(train_dataloader)` is already the
    number of batches of one process: the processes are divided twice, and the run starts (and
    skips, with `skip_until_initial_step`) at an earlier epoch.

    The one fix is `initial_step = (initial_epoch - 1) x steps per epoch`, which the message
    computes from this config's dataset; `initial_step` wins over `initial_epoch`.

    Bad (2 GPUs, 100 steps per epoch; meant: start at epoch 5):

        initial_epoch = 5

    Fixed:

        initial_step = 400
    """
    code = "KT802"
    name = "resume-initial-epoch-processes"
    severity = "warning"
    summary = "initial_epoch on several processes divides by the processes twice and starts too early"
    kinds = ARGS_ONLY
    needs = "steps"

    def check(self, ctx):
        plan, report = ctx.plan, ctx.report
        if plan is None or report is None or _int(plan.args.get("initial_epoch")) is None:
            return
        if plan.args.get("initial_step") is not None or _loop(plan)["network_resume"] != "initial_step":
            return
        P, G = report.num_processes, report.gradient_accumulation_steps
        if P <= 1:
            return
        epoch = plan.args["initial_epoch"]
        U, Nd = report.num_update_steps_per_epoch, report.num_batches_per_epoch
        got = (epoch - 1) * math.ceil(Nd / P / G)
        starts = got // U + 1 if U else 1
        meant = (epoch - 1) * U
        if starts == epoch:
            return
        kp = arg_keypath(ctx.doc, "initial_epoch")
        yield ctx.diagnostic(
            self, f"initial_epoch = {epoch} on {P} processes gives initial_step ({epoch} - 1) x ceil({Nd} / {P} / "
                  f"{G}) = {got}: the run starts at epoch {starts}, not {epoch} (the processes are divided "
                  f"twice); write initial_step = {meant}",
            keypath=kp,
            fix=Fix(f"write initial_step = {meant} instead of initial_epoch",
                    [Edit(kp[:-1] + ("initial_step",), meant, "the steps before that epoch", after=kp),
                     Edit(kp, None, "divides by the processes twice")]))


class ResumeOptionIgnored(Rule):
    """initial_step, initial_epoch and skip_until_initial_step do nothing on this trainer.

    Only the network trainers of sd-scripts v0.9.0 and later (train_network.py and the
    *_train_network.py scripts built on it; also the commit GUI v24.1.5-v24.1.7 ship) read these
    options and train_state.json. Every other script (train_db, fine_tune, sdxl_train,
    textual inversion, ControlNet) and every older version ignore them: a resumed run starts
    again at epoch 1, step 1, while the restored LR scheduler continues from its saved
    position (sd-scripts#14). The options are leftovers that promise what the run will not do.

    Bad (train_db.py):

        resume = "out/db-000004-state"
        initial_epoch = 5

    Fixed:

        resume = "out/db-000004-state"
    """
    code = "KT803"
    name = "resume-option-ignored"
    severity = "warning"
    summary = "initial_step / initial_epoch / skip_until_initial_step are ignored by this script or version"
    kinds = ARGS_ONLY
    needs = "plan"

    def check(self, ctx):
        plan = ctx.plan
        if plan is None:
            return
        given = [k for k in OPTIONS if _set(plan.args.get(k))]
        if not given or _loop(plan)["network_resume"] == "initial_step":
            return
        edits = [Edit(arg_keypath(ctx.doc, k), None, "ignored by this trainer") for k in given
                 if arg_keypath(ctx.doc, k)]
        yield ctx.diagnostic(
            self, f"{', '.join(given)}: {plan.script}.py of sd-scripts {plan.sd.label} has no such option and "
                  f"starts a resumed run at epoch 1, step 1 (sd-scripts#14); remove "
                  f"{'it' if len(given) == 1 else 'them'}",
            keypath=arg_keypath(ctx.doc, given[0]),
            fix=Fix(f"remove {', '.join(given)}", edits) if edits else None)


class InitialStepWithoutResume(Rule):
    """initial_step or initial_epoch without resume starts a fresh network at a later step.

    Without `resume` nothing is restored: the network starts from its initial weights and the
    LR scheduler from its first step (the trainer says "lr scheduler will be started from the
    beginning"), while `initial_step` / `initial_epoch` make the loop start at a later epoch and
    run fewer steps (train_network.py v0.9.0+, 48d368fa L1232-1273). A run meant to continue
    needs `resume` (the state folder); a fresh run needs neither option.

    Bad:

        initial_epoch = 5

    Fixed (a fresh run):

        max_train_epochs = 10
    """
    code = "KT805"
    name = "initial-step-without-resume"
    severity = "warning"
    summary = "initial_step / initial_epoch without resume: fresh weights and LR, fewer steps"
    kinds = ARGS_ONLY
    needs = "plan"

    def check(self, ctx):
        plan = ctx.plan
        if plan is None or _set(plan.args.get("resume")):
            return
        given = [k for k in ("initial_step", "initial_epoch") if _int(plan.args.get(k))]
        given = [k for k in given if plan.args[k] > (0 if k == "initial_step" else 1)]
        if not given or _loop(plan)["network_resume"] != "initial_step":
            return
        yield ctx.diagnostic(
            self, f"{given[0]} = {plan.args[given[0]]} without resume: the network and the LR scheduler start "
                  f"fresh while the loop starts at a later epoch and makes fewer steps; set resume to the "
                  f"state folder to continue a run, or remove {given[0]}",
            keypath=arg_keypath(ctx.doc, given[0]))


class ResumedRunGoesWrong(Rule):
    """The state named by `resume` is here, and the resumed run would not do what it should.

    kohya-tune runs the trainer's resume code on the state (its scheduler, train_state.json and
    accelerate's counter, read without torch) and this config, as `kohya-tune resume STATE
    CONFIG` does, and reports at the `resume` line:

    * an error when the run stops: the finished-run assertion (sd-scripts#1999), accelerate
      0.32-0.33's KeyError: 'step' on several processes or with torch >= 2.6 (kohya_ss#3112), a
      state folder without its optimizer or scheduler, a config whose parameter groups differ;
    * a warning when it runs but trains epochs again or skips them, goes past the end of the
      schedule, or writes over the first run's checkpoints and states (each named with its
      issue).

    The fix is the options `kohya-tune resume STATE CONFIG --mode finish --apply` writes (or
    `--mode more --more-epochs N`): initial_step / skip_until_initial_step as this trainer needs
    them, and a new output_name when files would be overwritten.

    Bad (a finished run resumed with the same steps):

        output_name = "lora"
        max_train_epochs = 3
        resume = "out/lora-state"

    Fixed (train 2 more epochs, as --mode more --more-epochs 2 writes):

        max_train_epochs = 5
        resume = "out/lora-state"
        output_name = "lora-resumed"
    """
    code = "KT804"
    name = "resumed-run-goes-wrong"
    severity = "warning"
    summary = "the state named by resume is here and the resumed run would stop, repeat, skip or overwrite"
    kinds = frozenset({"gui", "args"})
    needs = "steps"
    # named by `kohya-tune resume` but not worth a finding here: they follow from any resume
    # (the run's own step in train_state.json, the restored LRs, a longer schedule's LR) or are
    # KT803's
    QUIET = {"random-states-lost", "lr-restored", "restart", "run-local-step", "lr-jump"}

    def check(self, ctx):
        plan, report = ctx.plan, ctx.report
        if plan is None or report is None:
            return
        resume = plan.args.get("resume")
        if not isinstance(resume, str) or not resume or plan.args.get("resume_from_huggingface"):
            return
        from kohya_tune.engine.plan import resolve_dir

        folder = resolve_dir(resume, plan, base=plan.config.directory)
        if folder is None:
            return
        from kohya_tune.engine import resume as resume_mod

        try:
            answer = resume_mod.analyse(str(folder), ctx.doc, ctx.settings, plan=plan, report=report)
        except resume_mod.ResumeInputError as exc:
            yield ctx.diagnostic(self, f"resume = {lit(resume)}: {str(exc).split(': ', 1)[-1]}", severity="error",
                                 keypath=arg_keypath(ctx.doc, "resume") or ("resume",))
            return

        run = answer.run
        where = arg_keypath(ctx.doc, "resume") or ("resume",)
        hint = f"`kohya-tune resume {resume} {os.path.basename(ctx.doc.path)} --mode finish` writes the options " \
               f"that finish the plan"
        if run.outcome == "refused":
            named = [b.issue for b in run.bugs if b.issue]
            yield ctx.diagnostic(self, f"the run resumed from {lit(resume)} stops: {run.error}"
                                       f"{' (' + ', '.join(named) + ')' if named else ''}; {hint}",
                                 severity="error", keypath=where)
            return
        bugs = [b for b in run.bugs if b.id not in self.QUIET]
        if not bugs:
            return
        parts = [f"{b.id}{' (' + b.issue + ')' if b.issue else ''}" for b in bugs]
        first = run.epoch_to_start + 1 if run.epoch_to_start is not None else 1
        yield ctx.diagnostic(
            self, f"the run resumed from {lit(resume)} starts at epoch {first} and makes {run.optimizer_steps} "
                  f"steps with {', '.join(parts)}; {hint}",
            keypath=where)
