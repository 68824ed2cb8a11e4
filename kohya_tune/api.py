"""The library API: what the commands do, callable from Python.

    from kohya_tune import api

    report = api.steps("config.json", num_processes=2)      # the trainer's numbers
    report.max_train_steps, report.num_train_epochs

    timetable = api.schedule("config.json")                  # epochs, checkpoints, samples, LR
    [c.file for c in timetable.checkpoints if c.kept], timetable.lr.per_step[0]

Each function takes a config path and the same options as the command line (`sd_scripts`,
`gui_version`, `script`, `num_processes`, `path_map`) and raises the library's errors:
`LoadError` (unreadable or unparsable file), `PlanError` (missing folders, bad options) and
`TrainerRefusal` (the trainer itself would stop; its message is the trainer's).

The stage modules behind it (`kohya_tune.engine.steps.compute` and friends) stay importable for
finer control; this module is the stable surface.
"""
from __future__ import annotations

from kohya_tune.engine.plan import Plan, PlanError, Settings, TrainerRefusal
from kohya_tune.load.documents import Document, LoadError


def settings(*, sd_scripts: str | None = None, gui_version: str | None = None,
             script: str | None = None, num_processes: int | None = None,
             path_map: list[tuple[str, str]] | None = None) -> Settings:
    return Settings(sd_scripts=sd_scripts, gui_version=gui_version, script=script,
                    num_processes=num_processes, path_map=list(path_map or []))


def load(path: str) -> Document:
    """Parse a config, keeping positions; `Document.kind` says what it is."""
    from kohya_tune.load import documents

    return documents.load(path)


def plan(path: str, **options) -> Plan:
    """The normalized view: the trainer's arguments, script, versions (datasets not yet read)."""
    from kohya_tune.engine import normalize

    return normalize.build_plan(load(path), settings(**options))


def facts(path: str, **options):
    """Everything the trainer decides about the datasets (`engine.facts.Facts`), from one scan,
    without stopping at the first problem: every subset with its images, the files the trainer
    passes over and why, captions, reg balancing, buckets, and `refusals` in the trainer's order."""
    from kohya_tune.engine import facts as facts_mod

    return facts_mod.gather(plan(path, **options))


def steps(path: str, **options):
    """The trainer's numbers (`StepReport`), computed from one scan of the dataset."""
    from kohya_tune.engine import steps as steps_mod

    return steps_mod.compute(plan(path, **options))


def schedule(path: str, **options):
    """The run's timetable (`Schedule`): epochs, checkpoints and states with their file names and
    which remain, samples, and the learning rate of every parameter group at every optimizer step
    (`Schedule.lr`, None with `Schedule.lr_note` when no scheduler is built or it is not modelled).
    Raises `TrainerRefusal` when the trainer would stop (also while building its scheduler)."""
    from kohya_tune.engine import schedule as schedule_mod

    return schedule_mod.compute(steps(path, **options))


def balance(path: str, *, weights: dict | None = None, per_concept: int | None = None,
            total: int | None = None, tolerance=0.1, min_repeats: int = 1,
            max_repeats: int = 100, target_epochs: int | None = None,
            target_steps: int | None = None, by: str | None = None, include_reg: bool = False,
            **options):
    """The balance plan (`edit.balance.BalancePlan`), changing nothing: per concept the repeats
    before and after (`plan.rows`), the trainer's numbers before and after (`plan.before`,
    `plan.after`, from the engine), the GUI's (`plan.gui_before`, `plan.gui_after`), the
    renames and file rewrites, and `plan.refused` (why it cannot be applied). Make the change
    with `apply_balance(plan)`. Weights and the tolerance may be numbers or strings ("0.1");
    raises BalanceError for a request that cannot be planned."""
    from kohya_tune.edit import balance as balance_mod

    if target_epochs is not None and target_steps is not None:
        raise balance_mod.BalanceError("give at most one of target_epochs and target_steps")
    target = (("epochs", target_epochs) if target_epochs is not None
              else ("steps", target_steps) if target_steps is not None else None)
    request = balance_mod.Request(
        weights=dict(weights or {}), per_concept=per_concept, total=total, tolerance=tolerance,
        min_repeats=min_repeats, max_repeats=max_repeats, target=target, by=by,
        include_reg=include_reg)
    return balance_mod.make_plan(load(path), settings(**options), request)


def apply_balance(plan):
    """Make a balance plan's renames and rewrites (journal first), read the result back
    through the engine and return it (`Applied.report`); everything is undone, and
    BalanceError raised, when the result does not give the promised numbers."""
    from kohya_tune.edit import balance as balance_mod

    return balance_mod.apply(plan)


def undo_balance(directory: str):
    """Put back what an apply recorded in the journal in `directory`."""
    from kohya_tune.edit import renames

    return renames.undo(directory)


def read_state(state_dir: str):
    """A saved training state folder (`load.state.SavedState`), read without torch: its name
    (epoch / step / last, output name), train_state.json, the scheduler's last_epoch, _step_count
    and base_lrs, the optimizer's groups and step counter, accelerate's step counter per rank,
    and `problems` (what could not be read, by file). Raises `load.state.NotAState` for a folder
    that is not a state, or whose pickles would run code (they are never run)."""
    from kohya_tune.load import state as state_mod

    return state_mod.read(state_dir)


def resume(state_dir: str, config: str, *, mode: str | None = None, more_epochs: int | None = None,
           more_steps: int | None = None, accelerate: str | None = None, torch: str | None = None,
           **options):
    """What a run of `config` resumed from `state_dir` will do, and with `mode` ("finish": end
    where the original plan ended; "more": `more_epochs` / `more_steps` after the state) the
    options and config edits that make it do that (`edit.resume_plan.ResumeReport`):
    `.run` (outcome, error, epoch_to_start, steps with the step number, epoch and LR of every
    group as the trainer logs them, files in order with what they overwrite, train_state_after,
    bugs with their issue numbers), `.plan` (options, flags, edits, exact, difference, and the
    planned run), `.state`, `.env` (the accelerate and torch assumed; `accelerate` / `torch`
    override them). Write the plan's edits with `apply_resume_plan(report)`.
    Raises ResumeInputError (not a state, not a training config), LoadError, PlanError."""
    from kohya_tune.edit import resume_plan

    return resume_plan.build(state_dir, config, settings(**options), mode=mode, more_epochs=more_epochs,
                             more_steps=more_steps, accelerate=accelerate, torch=torch)


def apply_resume_plan(report, *, force: bool = False) -> str:
    """Write the plan's config edits (atomic, byte-preserving, read back first); returns the path."""
    from kohya_tune.edit import resume_plan, rewrite

    plan = report.plan
    if plan is None or plan.text is None:
        return report.config
    resume_plan.read_back(plan, report.config, plan.text, report.settings, report.state, report.existing,
                          report.env)
    rewrite.write_atomic(report.config, plan.text, expected=report.doc.text, force=force)
    return report.config


__all__ = ["Document", "LoadError", "Plan", "PlanError", "Settings", "TrainerRefusal",
           "apply_balance", "apply_resume_plan", "balance", "facts", "load", "plan", "read_state", "resume",
           "schedule", "settings", "steps", "undo_balance"]
