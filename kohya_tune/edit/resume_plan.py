"""The flags and config edits that make a resumed run do what the user means.

Two goals (`mode`):
- finish: end where the original plan ended: the optimizer steps the uninterrupted run had left
  (max_train_steps minus the steps the state has done) with the LR it would have had at each;
- more: N more steps (or N epochs of this config's steps) after the state, with the LR of a plan
  of (done + N) steps (the scheduler's horizon is max_train_steps x processes).

The steps done come from the state's scheduler (`last_epoch` = steps x processes, counted over
every run since the first; cross-checked with the optimizer's own step counter when it has one).
The LR then follows by itself when max_train_steps is the target total: the restored position
plus P per step, against that horizon. What is left is the number of steps the trainer's loop
makes, which depends on initial_step, skip_until_initial_step and the loop's quirks
(engine.resume): candidates are run through the loop and the exact one is picked, preferring one
that trains the same batches the uninterrupted run would have, then the fewest options. Where no
option of this trainer gives it exactly, the closest plan is given with its difference in steps
and LR. Files the run would write over get a new output_name.

The edits go through edit.rewrite (byte-preserving, atomic) and are read back: the written config
is planned and simulated again and must give the same run.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from kohya_tune.check.diagnostics import Edit
from kohya_tune.engine import resume as resume_mod
from kohya_tune.engine.plan import Settings
from kohya_tune.load import documents
from kohya_tune.load.state import SavedState


class PlanProblem(Exception):
    """The request cannot be planned (exit 2 when `usage`)."""

    def __init__(self, message: str, usage: bool = False):
        super().__init__(message)
        self.message = message
        self.usage = usage


@dataclass
class Goal:
    mode: str
    done: int | None                # optimizer steps the state has done (over every run)
    total: int | None               # the total the finished run should have
    remaining: int                  # steps the resumed run should make
    max_train_steps: int            # the max_train_steps giving that horizon
    notes: list[str] = field(default_factory=list)
    exact_possible: bool = True


@dataclass
class ResumePlan:
    mode: str
    goal: Goal
    options: dict                   # trainer arguments the plan sets (None: removed)
    flags: list[str]                # the same as command-line flags
    edits: list                     # rewrite.Edit
    changes: list                   # (key, old, new, why)
    exact: bool
    difference: dict | None
    run: resume_mod.ResumeRun | None
    text: str | None = None         # the edited config, read back (None: nothing to change)
    notes: list[str] = field(default_factory=list)


def steps_done(su: resume_mod.Setup, state: SavedState) -> tuple[int | None, list[str], bool]:
    """(optimizer steps done over every run, notes, exact) from the scheduler's position."""
    notes: list[str] = []
    sched = state.scheduler
    if sched is None or sched.last_epoch is None:
        return None, ["the scheduler's position (scheduler.bin last_epoch) is not readable"], False
    L = sched.last_epoch
    P = su.report.num_processes
    opt = state.optimizer.step if state.optimizer is not None else None
    if su.every_batch:
        if opt is not None:
            notes.append(f"accelerate {su.env.accelerate} steps the scheduler on every batch: the steps done "
                         f"come from the optimizer's counter ({opt})")
            return opt, notes, True
        return None, [f"accelerate {su.env.accelerate} steps the scheduler on every batch and the optimizer "
                      f"has no step counter: the steps done are not known"], False
    if opt is not None and opt > 0 and L != opt * P:
        if L % opt == 0:
            notes.append(f"the state was saved by a run on {L // opt} process(es) ({opt} steps, scheduler at {L}); "
                         f"this run has {P}: the scheduler counts {P} per step from here")
        else:
            notes.append(f"the scheduler is at {L} but the optimizer has made {opt} steps: a run changed the "
                         f"number of processes or skipped steps")
        return opt, notes, False
    if L % P:
        notes.append(f"the scheduler's position {L} is not a multiple of {P} processes: the state was saved by a "
                     f"run on another number of processes")
        return L // P, notes, False
    return L // P, notes, True


def changed_since(su: resume_mod.Setup, state: SavedState, done: int | None) -> str | None:
    """Whether the run's steps per epoch differ from the run that saved the state: an epoch
    state of a first run has made `epoch x steps per epoch` steps."""
    U = su.report.num_update_steps_per_epoch
    if done is None or state.kind != "epoch" or not state.epoch or state.current_step != done:
        return None
    if done % state.epoch:
        return None
    old = done // state.epoch
    if old != U:
        return (f"the state was saved after epoch {state.epoch} at step {done}: {old} steps per epoch, this "
                f"config makes {U} (the dataset, batch size, gradient accumulation or number of processes "
                f"changed since)")
    return None


def goal(su: resume_mod.Setup, state: SavedState, mode: str, more_epochs: int | None,
         more_steps: int | None) -> Goal:
    done, notes, exact = steps_done(su, state)
    changed = changed_since(su, state, done)
    if changed:
        notes.append(changed)
        exact = False
    report = su.report
    if mode == "finish":
        total = report.max_train_steps
        remaining = total - done if done is not None else 0
        return Goal("finish", done, total, remaining, total, notes, exact)
    if more_steps is None and more_epochs is None:
        raise PlanProblem("--mode more needs --more-epochs N or --more-steps N", usage=True)
    if more_steps is not None and more_epochs is not None:
        raise PlanProblem("give one of --more-epochs and --more-steps", usage=True)
    n = more_steps if more_steps is not None else more_epochs * report.num_update_steps_per_epoch
    if n < 1:
        raise PlanProblem("--more-epochs / --more-steps must be at least 1", usage=True)
    if done is None:
        raise PlanProblem("the steps the state has done are not known (" + "; ".join(notes) + ")")
    return Goal("more", done, done + n, n, done + n, notes, exact)


def _target_lrs(su: resume_mod.Setup, state: SavedState, g: Goal) -> list | None:
    factor, _ = resume_mod.schedule_for(su, g.max_train_steps)
    sched = state.scheduler
    if factor is None or sched is None or sched.base_lrs is None or sched.last_epoch is None:
        return None
    P = su.report.num_processes
    out = []
    for k in range(1, g.remaining + 1):
        try:
            f = factor(sched.last_epoch + k * P)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            return None
        out.append([b * f for b in sched.base_lrs])
    return out


def _aligned(su: resume_mod.Setup, g: Goal, first_batch) -> bool:
    """Whether the run's first trained batch is the one the uninterrupted run trains after
    `done` steps (epoch done // U, batch (done % U) x G)."""
    if g.done is None or first_batch is None:
        return False
    U, G = su.report.num_update_steps_per_epoch, su.report.gradient_accumulation_steps
    return first_batch == (g.done // U, (g.done % U) * G)


def _candidates(su: resume_mod.Setup, g: Goal) -> list[dict]:
    """Overrides to try; each sets every resume option, so the config's own values do not leak."""
    base = {"max_train_steps": g.max_train_steps}
    if su.loop["network_resume"] != "initial_step":
        out = [dict(base, max_train_steps=g.remaining)]
        if g.remaining != g.max_train_steps:
            out.append(dict(base))
        return out
    plain = dict(base, initial_step=None, initial_epoch=None, skip_until_initial_step=False)
    S = g.max_train_steps
    U, G, Nd = su.report.num_update_steps_per_epoch, su.report.gradient_accumulation_steps, su.report.num_batches_per_epoch
    D = g.done or 0
    E = math.ceil(S / U) if U else 0
    values = {D, D + E * U - S, D - 1, D + 1}
    for e in range(E + 1):
        values.add(e * U)
        values.add(math.ceil(e * Nd / G))
        values.add(math.ceil(e * U / G))
    for j in range(-2 * U, 2 * U + 1):
        values.add(D + j)
    if S * max(1, E) <= 400_000:
        values.update(range(0, S))
    out = [plain, dict(plain, skip_until_initial_step=True)]
    for value in sorted(v for v in values if 0 <= v < S):
        for skip in (True, False):
            out.append(dict(plain, initial_step=value, skip_until_initial_step=skip))
    return out


def search(su: resume_mod.Setup, state: SavedState, existing: set[str], g: Goal, resume_path: str | None):
    """The best overrides: exact count first, then trained data aligned, then the fewest changes
    to the config, then the fewest options."""
    scored = []
    current = {"initial_step": su.args.get("initial_step"), "initial_epoch": su.args.get("initial_epoch"),
               "skip_until_initial_step": bool(su.args.get("skip_until_initial_step")),
               "max_train_steps": su.report.max_train_steps}
    for cand in _candidates(su, g):
        run = resume_mod.simulate(su, state, existing, overrides=cand, resume_path=resume_path, quick=True)
        if run.outcome != "finished":
            continue
        count = run.optimizer_steps
        aligned = _aligned(su, g, run.start.get("first_trained_batch"))
        changes = sum(1 for k, v in cand.items() if k in current and bool(v) != bool(current[k])
                      or (k in current and v != current[k] and not isinstance(v, bool)))
        options = sum(1 for k, v in cand.items() if k != "max_train_steps" and v not in (None, False))
        scored.append(((abs(count - g.remaining), not aligned, changes, options,
                        abs((cand.get("initial_step") or 0) - (g.done or 0))), cand, count, aligned))
    if not scored:
        return None
    scored.sort(key=lambda item: item[0])
    return scored[0]


def _new_output_name(su: resume_mod.Setup, existing: set[str], overrides: dict, state, resume_path) -> str | None:
    base = su.args.get("output_name")
    stem = str(base) if base is not None else "last"
    for i in range(1, 100):
        name = f"{stem}-resumed" if i == 1 else f"{stem}-resumed{i}"
        run = resume_mod.simulate(su, state, existing, overrides=dict(overrides, output_name=name),
                                  resume_path=resume_path)
        if not any(f.overwrites for f in run.files if f.kind in ("model", "state")):
            return name
    return None


def lr_difference(run: resume_mod.ResumeRun, target: list | None) -> dict:
    if target is None:
        return {"lr": "not modelled"}
    worst, where = 0.0, None
    for i, (s, t) in enumerate(zip(run.steps, target)):
        if s.lr is None:
            return {"lr": "not modelled"}
        for a, b in zip(s.lr, t):
            rel = abs(a - b) / abs(b) if b else abs(a)
            if rel > worst:
                worst, where = rel, i + 1
    return {"lr_max_relative": worst, "lr_first_step_off": where}


def make_plan(su: resume_mod.Setup, state: SavedState, existing: set[str], mode: str, *,
              more_epochs: int | None = None, more_steps: int | None = None, doc=None,
              settings: Settings | None = None, state_arg: str | None = None) -> ResumePlan:
    g = goal(su, state, mode, more_epochs, more_steps)
    notes = list(g.notes)
    resume_path = state_arg or state.dir
    if g.done is None:
        return ResumePlan(mode, g, {}, [], [], [], False, {"why": "; ".join(notes)}, None, notes=notes)
    if g.remaining <= 0:
        notes.append(f"the state has made {g.done} of {g.total} steps: the run is finished, there is nothing to "
                     f"resume (resuming with this config stops at the trainer's assertion, sd-scripts#1999); "
                     f"use --mode more to train longer")
        return ResumePlan(mode, g, {}, [], [], [], True, None, None, notes=notes)
    best = search(su, state, existing, g, resume_path)
    if best is None:
        return ResumePlan(mode, g, {}, [], [], [], False, {"why": "every candidate is refused by the trainer"}, None,
                          notes=notes)
    _, overrides, count, aligned = best
    run = resume_mod.simulate(su, state, existing, overrides=overrides, resume_path=resume_path)
    if any(f.overwrites for f in run.files if f.kind in ("model", "state")):
        name = _new_output_name(su, existing, overrides, state, resume_path)
        if name is not None:
            overrides = dict(overrides, output_name=name)
            run = resume_mod.simulate(su, state, existing, overrides=overrides, resume_path=resume_path)
            notes.append(f"output_name {name}: with the config's name the run writes over files of the first run")
    target = _target_lrs(su, state, g)
    diff = lr_difference(run, target)
    exact = count == g.remaining and g.exact_possible and diff.get("lr_max_relative", 1) <= 1e-12
    difference = None
    if not exact:
        difference = {"steps": count - g.remaining, **diff}
        if not g.exact_possible:
            difference["why"] = "; ".join(g.notes)
        if su.loop["network_resume"] != "initial_step":
            difference["why"] = (f"{su.plan.script}.py of sd-scripts {su.plan.sd.label} restarts at epoch 1 (no "
                                 f"initial_step): the step count is set with max_train_steps, which is also the "
                                 f"scheduler's horizon")
        elif su.report.gradient_accumulation_steps > 1:
            difference["why"] = "skip_until_initial_step counts gradient accumulation twice (sd-scripts#2407)"
    if not aligned and g.done is not None:
        U = su.report.num_update_steps_per_epoch
        fb = run.start.get("first_trained_batch")
        want = (g.done // U + 1, (g.done % U) * su.report.gradient_accumulation_steps + 1)
        text = (f"the first batch trained is epoch {fb[0] + 1} batch {fb[1] + 1}; the uninterrupted run would "
                f"train epoch {want[0]} batch {want[1]} next") if fb else "no batch is trained"
        if difference is None:
            notes.append("same steps and LR; " + text)
        else:
            difference["data"] = text
    if any(b.id == "run-local-step" for b in run.bugs) and run.train_state_after is not None:
        notes.append(f"the states this run writes hold its own step count (train_state.json "
                     f"{run.train_state_after}, sd-scripts#2248): to resume from one of them, ask kohya-tune "
                     f"resume again rather than resuming as is")
    options = _options(su, overrides, resume_path)
    flags = _flags(options, su)
    plan = ResumePlan(mode, g, options, flags, [], [], exact, difference, run, notes=notes)
    if doc is not None and settings is not None:
        _edits(plan, su, doc, settings)
    return plan


def _options(su, overrides: dict, resume_path: str) -> dict:
    """The trainer arguments to set (compared with the config's)."""
    args = su.args
    out: dict = {}
    if args.get("resume") != resume_path:
        out["resume"] = resume_path
    if "initial_step" in overrides:
        want = overrides.get("initial_step")
        if want != args.get("initial_step"):
            out["initial_step"] = want                       # None: removed
        if bool(overrides.get("skip_until_initial_step")) != bool(args.get("skip_until_initial_step")):
            out["skip_until_initial_step"] = True if overrides.get("skip_until_initial_step") else None
        if args.get("initial_epoch") is not None:
            out["initial_epoch"] = None
    if overrides.get("max_train_steps") != su.report.max_train_steps:
        out["max_train_steps"] = overrides["max_train_steps"]
    if "output_name" in overrides:
        out["output_name"] = overrides["output_name"]
    return {k: v for k, v in out.items() if not (v is None and args.get(k) is None)}


def _flags(options: dict, su) -> list[str]:
    """The options as trainer command-line flags. A step total for a config that counts epochs
    (max_train_epochs wins over max_train_steps) is given as epochs when it is whole epochs."""
    out = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        if key == "max_train_steps" and su.args.get("max_train_epochs") is not None:
            U = su.report.num_update_steps_per_epoch
            if U and value % U == 0:
                key, value = "max_train_epochs", value // U
        if value is True:
            out.append(f"--{key}")
        else:
            out.extend([f"--{key}", str(value)])
    return out


def _edits(plan: ResumePlan, su, doc, settings: Settings) -> None:
    """Config edits for the plan's options (the args TOML's own keys; a GUI JSON's fields, and its
    additional_parameters for the options the GUI has no field for), read back."""
    from kohya_tune.edit import solve as solve_mod

    options = dict(plan.options)
    edits: list = []
    changes: list = []
    solver = solve_mod.Solver(doc, settings)
    if "max_train_steps" in options:
        target = options.pop("max_train_steps")
        U = su.report.num_update_steps_per_epoch
        if solver.present("max_train_epochs") and U and target % U == 0 and doc.kind == documents.ARGS:
            # the config counts epochs: keep counting them when the target is whole epochs
            solution = solver.solve("epochs", target // U, "max_train_epochs")
        else:
            solution = solver.solve("steps", target, None)
        edits.extend(solution.edits)
        changes.extend(solution.changes)
    gui = doc.kind == documents.GUI
    extra = []
    for key, value in options.items():
        if gui and key in ("initial_step", "skip_until_initial_step", "initial_epoch"):
            if value not in (None, False):
                extra.append(f"--{key}" if value is True else f"--{key} {value}")
            continue
        present = solver.present(key)
        old = solver.value(key) if present else None
        if value is None and not present:
            continue
        if value is None:
            why = {"initial_step": "train_state.json gives the same start",
                   "skip_until_initial_step": ("with gradient accumulation it skips whole epochs (sd-scripts#2407)"
                                               if su.report.gradient_accumulation_steps > 1 else
                                               "not needed for this start"),
                   "initial_epoch": "initial_step says the start exactly"}.get(key, "not needed")
        else:
            why = {"resume": "the state to resume", "initial_step": "the steps the state has done",
                   "skip_until_initial_step": "skip to the state's batch instead of starting its epoch again",
                   "output_name": "the run would otherwise write over the first run's files"}.get(key, "")
        kp = solver.keypath(key) if present else solver.add_path(key)
        edits.append(Edit(kp, value, why, after=None if present else solver.after_for(key)))
        changes.append((key, old, value, why))
    if extra:
        old = solver.value("additional_parameters") if solver.present("additional_parameters") else ""
        value = (str(old or "").strip() + " " + " ".join(extra)).strip()
        edits.append(Edit(("additional_parameters",), value, "the GUI has no field for these trainer options",
                          after=None))
        changes.append(("additional_parameters", old, value, "the GUI has no field for these trainer options"))
    plan.edits, plan.changes = edits, changes
    if edits:
        from kohya_tune.edit import rewrite

        plan.text = rewrite.apply_edits(doc, edits)


def read_back(plan: ResumePlan, path: str, text: str, settings: Settings, state: SavedState,
              existing: set[str], env) -> None:
    """Plan and simulate the edited config as the written file will be read; anything that
    differs from the plan's run raises PlanProblem (and nothing is written)."""
    from kohya_tune.engine import normalize, steps

    new = documents.from_text(path, text)
    report = steps.compute(normalize.build_plan(new, settings), check_order=False)
    su = resume_mod.setup(report, env)
    run = resume_mod.simulate(su, state, existing, resume_path=plan.options.get("resume") or su.args.get("resume"))
    if new.kind == documents.GUI:
        # the GUI's additional_parameters are not read by kohya-tune: the options are applied here
        extra = {k: v for k, v in plan.options.items() if k in ("initial_step", "skip_until_initial_step")}
        run = resume_mod.simulate(su, state, existing, overrides=extra or None,
                                  resume_path=plan.options.get("resume") or su.args.get("resume"))
    if plan.run is None:
        return
    got = [(s.step, s.epoch, s.lr) for s in run.steps]
    want = [(s.step, s.epoch, s.lr) for s in plan.run.steps]
    if got != want or [f.name for f in run.files] != [f.name for f in plan.run.files]:
        raise PlanProblem(f"the edited {os.path.basename(path)} would not run as planned "
                          f"({len(got)} steps instead of {len(want)}); nothing was changed")


# --------------------------------------------------------------------------------------------
# the whole answer (api.resume, kohya-tune resume)

ResumeInputError = resume_mod.ResumeInputError
ResumeReport = resume_mod.ResumeReport


def build(state_dir: str, config: str, settings: Settings, *, mode: str | None = None,
          more_epochs: int | None = None, more_steps: int | None = None, accelerate: str | None = None,
          torch: str | None = None) -> ResumeReport:
    if mode not in (None, "finish", "more"):
        raise PlanProblem(f"--mode must be finish or more, not {mode!r}", usage=True)
    if mode != "more" and (more_epochs is not None or more_steps is not None):
        raise PlanProblem("--more-epochs / --more-steps go with --mode more", usage=True)
    doc = documents.load(config)
    result = resume_mod.analyse(state_dir, doc, settings, accelerate=accelerate, torch=torch)
    if mode is not None and result.setup is not None:
        result.plan = make_plan(result.setup, result.state, result.existing, mode, more_epochs=more_epochs,
                                more_steps=more_steps, doc=doc, settings=settings, state_arg=result.plan_resume)
    return result
