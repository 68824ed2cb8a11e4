"""KT7xx: what the run's timetable shows (kohya-tune schedule): warm-up on several processes,
checkpoints removed sooner than expected, sample cadences the trainer ignores.

The rules read `engine.schedule.compute`, the same timetable the `schedule` command prints. Related
rules elsewhere: KT207/KT208 (save or sample cadence longer than the run), KT501-KT504 (warm-up
with constant, its rounding, ratios, a warm-up at least as long as the run).
"""
from __future__ import annotations

from kohya_tune.check.rules.base import Rule
from kohya_tune.check.rules.steps_rules import GUI_AND_ARGS, first_keypath


def timetable(ctx):
    """The Schedule of this config, computed once per file (None when the trainer refuses it).
    No rule reads the LR of each step, so the series is evaluated but not kept (lr.per_step is
    empty): on a long run keeping it costs more than the dataset scan."""
    if "schedule" not in ctx.extra:
        from kohya_tune.engine import schedule
        from kohya_tune.engine.plan import TrainerRefusal

        from kohya_tune.engine import numbers

        try:
            numbers.check_schedulable(ctx.report)
            ctx.extra["schedule"] = schedule.compute(ctx.report, lr_series=False)
        except TrainerRefusal:
            ctx.extra["schedule"] = None
    return ctx.extra["schedule"]


class WarmupSplitAcrossProcesses(Rule):
    """An integer LR warm-up on several GPUs lasts warmup / num_processes optimizer steps.

    Under `accelerate launch --num_processes P` the trainer builds its scheduler for
    `max_train_steps x P` steps (`get_scheduler_fix`: `num_training_steps = max_train_steps *
    num_processes`) and accelerate steps it P times per optimizer step (`AcceleratedScheduler`,
    unless `split_batches`). A warm-up written as a step count is counted in those scheduler
    steps, so with 4 GPUs `lr_warmup_steps = 100` is over after 25 optimizer steps: the learning
    rate reaches its peak four times sooner than on one GPU. (sd-scripts v0.6.x with gradient
    accumulation steps the scheduler on every batch, so the warm-up is warmup / (P x G) steps.)
    A ratio (v0.9.0+: `lr_warmup_steps = 0.1`, or the GUI's percent in v25+) scales with the run
    and is not affected.

    No integer is right for every reading of the file (400 written for 100 optimizer steps on 4
    GPUs looks the same as 400 meant as 400), so the one fix is the ratio: the trainer turns it
    into `int(ratio x max_train_steps x P)` scheduler steps (train_util.py `get_scheduler_fix`,
    sd-scripts v0.10.1 L5274-5276), i.e. the same share of the run whatever P. The message gives
    the ratio that keeps the warm-up the integer was meant to be in optimizer steps. Where the
    chosen sd-scripts has no ratio (before v0.9.0), or for a GUI JSON (the GUI sends the integer
    it computes), no edit can say it better: the finding is an info with the integer to write
    for the warm-up meant.

    Bad (4 GPUs, 1000 optimizer steps, meant as 100 optimizer steps of warm-up):

        lr_warmup_steps = 100      # over after 25 optimizer steps

    Fixed (sd-scripts v0.9.0+):

        lr_warmup_steps = 0.1      # int(0.1 x 1000 x 4) = 400 scheduler steps = 100 optimizer steps
    """
    code = "KT701"
    name = "warmup-split-across-processes"
    severity = "warning"
    summary = "integer warm-up on several GPUs lasts warmup / num_processes optimizer steps"
    kinds = GUI_AND_ARGS
    needs = "steps"

    def check(self, ctx):
        sched = timetable(ctx)
        if sched is None or sched.lr is None:
            return
        lr = sched.lr
        written = sched.args.get("lr_warmup_steps")
        if isinstance(written, bool) or not isinstance(written, int) or written <= 0:
            return
        factor = lr.scheduler_steps_per_step * (sched.report.gradient_accumulation_steps if lr.every_batch else 1)
        if factor <= 1 or lr.scheduler in ("constant", "piecewise_constant"):
            return
        P = sched.report.num_processes
        per = f"{P} processes" + (f" x {sched.report.gradient_accumulation_steps} accumulation steps "
                                  f"(sd-scripts {sched.plan.sd.label} steps the scheduler on every batch)"
                                  if lr.every_batch else "")
        gui = sched.plan.gui is not None
        who = "the GUI sends lr_warmup_steps" if gui else "lr_warmup_steps"
        S = sched.report.max_train_steps
        text = (f"{who} = {written} is counted in scheduler steps, {factor} per optimizer step "
                f"with {per}: the warm-up ends after {written / factor:g} of the run's {S} "
                f"optimizer steps")
        ratio = (_warmup_ratio(written, S, factor) if sched.plan.sd.get("lr_warmup_ratio") and not gui
                 and not lr.every_batch else None)
        if ratio is not None:
            # the one fix: a ratio is the same share of the run on any number of processes
            yield ctx.diagnostic(
                self, f"{text}; write the ratio lr_warmup_steps = {ratio} for {written} optimizer "
                      f"steps (int({ratio} x {S} x {factor}) = {written * factor} scheduler steps)",
                keypath=first_keypath(ctx.doc, "lr_warmup_steps", "lr_warmup"))
            return
        # no ratio here: no integer is right for every reading, so this is a fact to know
        yield ctx.diagnostic(
            self, f"{text}; write {written * factor} for {written} optimizer steps",
            severity="info", keypath=first_keypath(ctx.doc, "lr_warmup_steps", "lr_warmup"))


def _warmup_ratio(steps: int, max_train_steps: int, factor: int):
    """The shortest decimal r with int(r x S x P) = steps x P (get_scheduler_fix), or None."""
    if max_train_steps <= 0 or steps >= max_train_steps:
        return None
    for digits in range(1, 10):
        r = round(steps / max_train_steps, digits)
        if 0 < r < 1 and int(r * max_train_steps * factor) == steps * factor:
            return r
    return None


class SaveLastNKeepsFewer(Rule):
    """save_last_n_epochs / save_last_n_steps keep fewer checkpoints than they say.

    After each save the trainer deletes one older file (`get_remove_epoch_no`,
    `get_remove_step_no` in train_util.py):

    * `save_last_n_epochs = N` deletes epoch `e - save_every_n_epochs x N`, so N files stay;
      but `save_last_n_epochs = 0` deletes the file it has just written (epoch `e - 0`): every
      epoch checkpoint is gone at the end;
    * `save_last_n_steps = N` counts steps, not files: it deletes the checkpoint of step
      `k - N - 1` rounded down to a multiple of `save_every_n_steps`, so only the checkpoints of
      the last N steps stay. `save_last_n_steps = 2` with `save_every_n_steps = 100` keeps one
      file, not two.

    The `_state` variants (`save_last_n_epochs_state`, `save_last_n_steps_state`) do the same with
    the state folders. `kohya-tune schedule` lists the files that remain.

    Bad (meant: keep the last 3 step checkpoints):

        save_every_n_steps = 500
        save_last_n_steps = 3

    Fixed:

        save_every_n_steps = 500
        save_last_n_steps = 1500
    """
    code = "KT702"
    name = "save-last-n-keeps-fewer"
    severity = "warning"
    summary = "save_last_n_epochs / save_last_n_steps keep fewer checkpoints than the number says"
    kinds = GUI_AND_ARGS
    needs = "steps"

    def check(self, ctx):
        sched = timetable(ctx)
        if sched is None:
            return
        args = sched.args
        for kind, key, every_key, unit in (("epoch", "save_last_n_epochs", "save_every_n_epochs", "epoch"),
                                           ("step", "save_last_n_steps", "save_every_n_steps", "step")):
            n = args.get(key)
            if isinstance(n, bool) or not isinstance(n, (int, float)):
                continue
            saved = [c for c in sched.checkpoints if c.kind == kind]
            if not saved:
                continue
            kept = [c for c in saved if c.kept]
            every = sched.save_every_n_epochs if kind == "epoch" else args.get(every_key)
            # fewer than expected: 0 deletes each file at once; a step count below one save
            # interval (a file count, probably) leaves only the newest step checkpoint
            if not (n == 0 or (kind == "step" and 0 < n < every)) or len(kept) >= len(saved):
                continue
            names = ", ".join(c.file for c in kept) or "none"
            if n == 0:
                why = (f"{key} = 0 makes the trainer delete each {unit} checkpoint right after writing it "
                       f"(it removes {unit} e - {every} x 0)")
            else:
                why = (f"{key} = {n} counts steps, not files: after each save the trainer removes the "
                       f"checkpoint of step k - {n} - 1 (rounded down to a multiple of {every}), so only "
                       f"the saves of the last {n} steps stay; write {int(n) * every} to keep {int(n)}")
            yield ctx.diagnostic(self, f"{why}: {len(kept)} of the {len(saved)} {unit} checkpoints remain "
                                       f"at the end ({names})",
                                 keypath=first_keypath(ctx.doc, key))


class SampleStepsIgnored(Rule):
    """sample_every_n_steps is ignored when sample_every_n_epochs is set.

    The trainer's sampler (`sample_images` in train_util.py, every version) returns at once for a
    step when `sample_every_n_epochs` is set: samples come only at the end of every
    `sample_every_n_epochs` epochs, never every N steps. Setting both gives the epoch cadence
    alone. (KT208 reports a cadence longer than the run.)

    Bad:

        sample_every_n_steps = 100
        sample_every_n_epochs = 1

    Fixed (samples every 100 steps):

        sample_every_n_steps = 100
    """
    code = "KT703"
    name = "sample-steps-ignored"
    severity = "warning"
    summary = "sample_every_n_steps is ignored because sample_every_n_epochs is set"
    kinds = GUI_AND_ARGS
    needs = "steps"

    def check(self, ctx):
        sched = timetable(ctx)
        if sched is None:
            return
        steps = sched.args.get("sample_every_n_steps")
        epochs = sched.args.get("sample_every_n_epochs")
        if steps is None or epochs is None or steps == 0:
            return
        made = [s for s in sched.samples if s.when == "epoch"]
        yield ctx.diagnostic(self, f"sample_every_n_steps = {steps} is ignored: sample_every_n_epochs = "
                                   f"{epochs} is set, so the trainer samples only after epochs "
                                   f"{', '.join(str(s.epoch) for s in made) or '(none)'}; remove "
                                   f"sample_every_n_epochs to sample every {steps} steps",
                             keypath=first_keypath(ctx.doc, "sample_every_n_steps"))
