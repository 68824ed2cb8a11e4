"""KT5xx: the learning-rate schedule: warmup steps, their rounding, and what each sd-scripts
version accepts (sd-scripts-steps.md §3.6; kohya-gui-configs.md section (c), "LR warmup")."""
from __future__ import annotations

import math

from kohya_tune.check.diagnostics import lit
from kohya_tune.load import documents
from kohya_tune.check.diagnostics import Fix
from kohya_tune.check.rules.base import Rule
from kohya_tune.check.rules.steps_rules import GUI_AND_ARGS, first_keypath, flat_args, gui_profile, is_int, is_number


def _scheduler(ctx) -> tuple[str, bool]:
    """(scheduler name the trainer uses, whether it is written in the file)."""
    plan = ctx.plan
    if plan is not None and (plan.gui is not None or ctx.doc.kind == documents.GUI):
        value = plan.args.get("lr_scheduler") or ctx.doc.data.get("lr_scheduler")
        return (value or "constant"), bool(value)
    value = flat_args(ctx.doc).get("lr_scheduler")
    return (value if isinstance(value, str) and value else "constant"), isinstance(value, str) and bool(value)


def _warmup_keypath(ctx) -> tuple:
    """The file key that holds the warmup: lr_warmup_steps when set there, else the GUI's
    percent slider lr_warmup."""
    data = ctx.doc.data
    if ctx.doc.kind == documents.GUI:
        value = data.get("lr_warmup_steps")
        if is_number(value) and value > 0:
            return ("lr_warmup_steps",)
        return first_keypath(ctx.doc, "lr_warmup", "lr_warmup_steps")
    return first_keypath(ctx.doc, "lr_warmup_steps")


def _trainer_steps(ctx):
    """(S, P) the scheduler is built from, or (None, P) when S is unknown here."""
    plan = ctx.plan
    report = ctx.report
    if report is not None:
        return report.max_train_steps, report.num_processes
    if plan.args.get("max_train_epochs") is None:
        steps = plan.args.get("max_train_steps")
        return (steps if is_int(steps) else 1600 if steps is None else None), plan.num_processes
    return None, plan.num_processes


def _ratio_steps(ratio: float, S: int, P: int) -> int:
    # train_util.get_scheduler_fix (v0.9.0+): int(args.lr_warmup_steps * (max_train_steps * P))
    return int(ratio * (S * P))


class WarmupWithConstant(Rule):
    """LR warmup with the "constant" scheduler.

    The "constant" scheduler has no warmup. sd-scripts' `get_scheduler_fix` refuses a non-zero
    `lr_warmup_steps` with it: the trainer stops with `ValueError: constant does not require
    num_warmup_steps. Set None or 0.` (every version since v0.6). `constant` is also sd-scripts'
    default when `lr_scheduler` is not set. The v21-v23 GUI drops the warmup instead ("Can't use
    LR warmup with LR Scheduler constant... ignoring..."); the v24+ GUI computes it and sends it
    (its UI zeroes the slider only when you switch the scheduler to constant).

    Bad:

        lr_scheduler = "constant"
        lr_warmup_steps = 100

    Fixed:

        lr_scheduler = "constant_with_warmup"
        lr_warmup_steps = 100
    """
    code = "KT501"
    name = "warmup-with-constant"
    severity = "warning"
    summary = "LR warmup with the constant scheduler (dropped by the GUI, refused by sd-scripts)"
    kinds = GUI_AND_ARGS
    needs = "plan"

    def check(self, ctx):
        from kohya_tune.check.diagnostics import Edit

        plan = ctx.plan
        scheduler, written = _scheduler(ctx)
        if scheduler != "constant" or plan.args.get("lr_scheduler_type"):
            return
        where = "lr_scheduler is \"constant\"" if written else \
            "lr_scheduler is not set, so it is sd-scripts' default \"constant\""
        fix = None
        sched_path = first_keypath(ctx.doc, "lr_scheduler")
        if sched_path:
            fix = Fix("use lr_scheduler \"constant_with_warmup\"",
                      [Edit(sched_path, "constant_with_warmup", "constant has no warmup")], safe=False)
        if ctx.doc.kind == documents.GUI:
            data = ctx.doc.data
            # a number saved as a string by an old GUI ("10", KT105) is the same number to it
            asked = [f"{k} {lit(data[k])}" for k in ("lr_warmup", "lr_warmup_steps")
                     if (_legacy_number(data.get(k)) or 0) > 0]
            if not asked:
                return
            sent = plan.args.get("lr_warmup_steps")
            if sent is None or sent == 0 or (isinstance(sent, float) and not _ratio_nonzero(ctx, sent)):
                zeroed = any("lr_scheduler_changed" in e for e in plan.gui.events)
                how = ("its lr_scheduler change event sets the warmup to 0 when the file is "
                       "loaded" if zeroed else
                       "\"Can't use LR warmup with LR Scheduler constant\"")
                yield ctx.diagnostic(self, f"{' and '.join(asked)} with {where}: GUI "
                                           f"{plan.gui.version} drops the warmup ({how}), so there "
                                           f"is none; use constant_with_warmup to warm up",
                                     keypath=_warmup_keypath(ctx), fix=fix)
                return
            yield ctx.diagnostic(self, f"{' and '.join(asked)} with {where}: the GUI sends "
                                       f"lr_warmup_steps {lit(sent)} and sd-scripts stops with "
                                       f"\"ValueError: constant does not require num_warmup_steps\"; "
                                       f"use constant_with_warmup to keep the warmup the file asks for",
                                 keypath=_warmup_keypath(ctx), fix=fix, severity="error")
            return
        warm = flat_args(ctx.doc).get("lr_warmup_steps")
        if warm is None or warm == 0 or warm is False:
            return
        if isinstance(warm, float) and not _ratio_nonzero(ctx, warm):
            return
        yield ctx.diagnostic(self, f"lr_warmup_steps = {lit(warm)} with {where}: sd-scripts stops "
                                   f"with \"ValueError: constant does not require num_warmup_steps. "
                                   f"Set None or 0.\"; use constant_with_warmup to keep the warmup the file asks for",
                             keypath=_warmup_keypath(ctx), fix=fix, severity="error")


def _ratio_nonzero(ctx, ratio: float) -> bool:
    """Whether a float warmup becomes a non-zero step count in the trainer."""
    if ratio >= 1 or not ctx.plan.sd.get("lr_warmup_ratio"):
        return ratio != 0
    S, P = _trainer_steps(ctx)
    if S is None:
        return True
    return _ratio_steps(ratio, S, P) != 0


def _legacy_number(value):
    """A GUI number, also when an old GUI saved it as a string ("10"); None otherwise."""
    if is_number(value):
        return value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


class WarmupRounding(Rule):
    """The exact number of LR warmup steps.

    The GUI's "LR warmup (% of total steps)" is not applied as a percentage of the real run:

    * v21-v24 turn it into steps with Python's `round(pct * max_train_steps / 100)`, which rounds
      halves to even (10 % of 25 steps is 2, not 3), from the GUI's own `max_train_steps`, which
      is not the trainer's when `max_train_epochs` overrides it;
    * v25+ send the ratio `pct / 100`, which sd-scripts (v0.9.0+) turns into
      `int(ratio * max_train_steps * num_processes)` scheduler steps, rounding down (29 % of 100
      steps is 28, floating point).

    A ratio written in an args TOML (`lr_warmup_steps = 0.1`) is floored the same way.

    Bad (GUI v24, expects 3 warmup steps):

        "lr_warmup": 10,          # of 25 steps: round(2.5) = 2

    Fixed (a percentage that gives whole steps; v25+ also has the "lr_warmup_steps" field):

        "lr_warmup": 12,          # of 25 steps: 3
    """
    code = "KT502"
    name = "warmup-rounding"
    severity = "info"
    summary = "the exact number of warmup steps after the GUI's and trainer's rounding"
    kinds = GUI_AND_ARGS
    needs = "plan"

    def check(self, ctx):
        plan = ctx.plan
        scheduler, _ = _scheduler(ctx)
        if scheduler == "constant":
            return  # KT501
        sent = plan.args.get("lr_warmup_steps")
        if isinstance(sent, str):
            return  # KT503
        S, P = _trainer_steps(ctx)
        if ctx.doc.kind == documents.GUI:
            gui = plan.gui
            prof = gui_profile(plan)
            pct = ctx.doc.data.get("lr_warmup")
            if gui is None or gui.refused or prof is None or not is_number(pct) or pct <= 0:
                return
            if is_int(sent) and sent > 0 and prof["send"]["warmup"] == "pct_steps":
                base = gui.max_train_steps if is_int(gui.max_train_steps) else None
                if base is None:
                    # dataset_config or the steps were not sent: the GUI used its own field value
                    base = ctx.doc.data.get("max_train_steps")
                if not is_number(base) or base <= 0:
                    return
                exact = int(pct) * int(base) / 100
                parts = []
                if int(pct) != pct:
                    parts.append(f"lr_warmup {pct}% is cut to {int(pct)}% by the GUI (int())")
                if sent != math.floor(exact + 0.5):
                    parts.append(f"lr_warmup {int(pct)}% of max_train_steps {base} = {exact:g}, "
                                 f"which the GUI rounds half to even: {sent} warmup steps, not "
                                 f"{math.floor(exact + 0.5)}")
                elif parts:
                    parts.append(f"{int(pct)}% of max_train_steps {base} gives {sent} warmup steps")
                if S is not None and S != base:
                    share = 100 * sent / S if S else 0
                    if not parts:
                        parts.append(f"lr_warmup {pct}% of the GUI's max_train_steps {base} is "
                                     f"{sent} warmup steps")
                    parts.append(f"the trainer runs {S} steps, so the warmup is {share:.3g}% of "
                                 f"the run, not {pct}%")
                if parts:
                    yield ctx.diagnostic(self, "; ".join(parts), keypath=_warmup_keypath(ctx))
                return
        if isinstance(sent, float) and 0 < sent < 1 and plan.sd.get("lr_warmup_ratio"):
            if S is None:
                return
            exact = sent * S * P
            steps = _ratio_steps(sent, S, P)
            if steps == exact:
                return
            proc = f" x {P} processes" if P > 1 else ""
            text = (f"lr_warmup_steps ratio {lit(sent)}: sd-scripts uses int({lit(sent)} x {S} steps{proc}) "
                    f"= {steps} warmup steps")
            text += f", rounded down from {exact:g}"
            if P > 1:
                text += f" (scheduler steps: it steps once per process, {S * P} in all)"
            if ctx.doc.kind == documents.GUI:
                text = f"lr_warmup {lit(ctx.doc.data.get('lr_warmup'))}% is sent as the " + text
            yield ctx.diagnostic(self, text, keypath=_warmup_keypath(ctx))


class WarmupRatioUnsupported(Rule):
    """A warmup ratio or percent string that the trainer cannot use.

    Only sd-scripts v0.9.0 and later read a float `lr_warmup_steps` below 1 as a ratio of the
    run. Older versions use the value as a step count, so `0.1` means a warmup of 0.1 steps: none
    at all (the GUI v25+ sends such a ratio). A string such as `"10%"` is parsed only on the
    command line; in a `--config_file` TOML sd-scripts keeps the string, and the scheduler fails
    comparing it with the step number (TypeError).

    Bad (sd-scripts v0.8.7):

        lr_warmup_steps = 0.1

    Fixed:

        lr_warmup_steps = 40      # 10 % of 400 steps
    """
    code = "KT503"
    name = "warmup-ratio-unsupported"
    severity = "error"
    summary = "warmup ratio or percent string the chosen sd-scripts cannot use"
    kinds = GUI_AND_ARGS
    needs = "plan"

    def check(self, ctx):
        plan = ctx.plan
        sent = plan.args.get("lr_warmup_steps")
        if isinstance(sent, str):
            yield ctx.diagnostic(self, f"lr_warmup_steps = {lit(sent)} is a string: sd-scripts does "
                                       f"not convert config-file values (only the command line "
                                       f"parses \"10%\"), so the LR scheduler stops with a "
                                       f"TypeError; write a step count or (v0.9.0+) a ratio "
                                       f"such as 0.1", keypath=_warmup_keypath(ctx))
            return
        if not isinstance(sent, float) or not 0 < sent < 1 or plan.sd.get("lr_warmup_ratio"):
            return
        S, P = _trainer_steps(ctx)
        hint = ""
        if S:
            hint = f"; write the step count instead: {int(sent * S)} for {S} steps"
        origin = ""
        if ctx.doc.kind == documents.GUI:
            origin = (f" (GUI {plan.gui.version} sends lr_warmup {lit(ctx.doc.data.get('lr_warmup'))}% "
                      f"as a ratio)")
        yield ctx.diagnostic(self, f"lr_warmup_steps {lit(sent)} is a ratio{origin}, which sd-scripts "
                                   f"reads only from v0.9.0; sd-scripts {plan.sd.label} takes it as "
                                   f"{lit(sent)} steps, so there is no warmup{hint}",
                             keypath=_warmup_keypath(ctx))


class WarmupExceedsSteps(Rule):
    """LR warmup as long as the whole run.

    When the warmup is at least the number of steps the trainer runs, the learning rate never
    reaches its set value: the run ends inside the warmup. This happens when the warmup is an
    absolute count written for a longer run, or when the GUI computed it from its own
    `max_train_steps` and `max_train_epochs` then shortened the run.

    Bad (the run has 400 steps):

        lr_warmup_steps = 1000

    Fixed:

        lr_warmup_steps = 40
    """
    code = "KT504"
    name = "warmup-exceeds-steps"
    severity = "warning"
    summary = "warmup steps >= the steps the trainer runs"
    kinds = GUI_AND_ARGS
    needs = "steps"

    def check(self, ctx):
        from kohya_tune.versions.schedules import schedule_profile

        plan, report = ctx.plan, ctx.report
        scheduler, _ = _scheduler(ctx)
        if scheduler == "constant":
            return  # KT501
        warm = plan.args.get("lr_warmup_steps")
        S, P = report.max_train_steps, report.num_processes
        profile = schedule_profile(plan.sd.label)[1]
        # num_training_steps as get_scheduler_fix builds it: v0.6.x also multiplies by the
        # accumulation steps (train_util.py v0.6.5 L2906)
        total = S * P * (report.gradient_accumulation_steps if profile["training_steps_include_accumulation"] else 1)
        ratio = None
        if isinstance(warm, float) and profile["warmup_ratio"] and warm >= 1:
            # v0.9.0+: a float is a ratio of num_training_steps, whatever its size (L4400-4402)
            ratio, warm = warm, int(warm * total)
        if not is_int(warm) or warm <= 0:
            return
        if warm < total:
            return
        per = f" ({S} steps x {P} processes)" if P > 1 else ""
        if total != S * P:
            per = f" ({S} steps x {P} processes x {report.gradient_accumulation_steps} accumulation steps)"
        what = f"lr_warmup_steps {warm}" if ratio is None else f"lr_warmup_steps {ratio} (a ratio: {warm} steps)"
        yield ctx.diagnostic(self, f"{what} >= the {total} scheduler steps of the "
                                   f"run{per}: the learning rate never leaves the warmup",
                             keypath=_warmup_keypath(ctx))
