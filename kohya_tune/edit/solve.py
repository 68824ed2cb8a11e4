"""Choose the edit that makes the real run hit a target number of epochs or optimizer steps.

The dataset side (batches per epoch) does not depend on `epoch`, `max_train_epochs` or
`max_train_steps`, so it is computed once; every candidate edit is then simulated through the
same code that `steps` uses (the GUI's own computation for a GUI JSON, then the trainer's
arithmetic), and only an edit whose simulated outcome is exactly the target is accepted.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

from kohya_tune.load import documents
from kohya_tune.engine import normalize, steps
from kohya_tune.load.documents import Document
from kohya_tune.engine.plan import PlanError, Settings, TrainerRefusal
from kohya_tune.check.diagnostics import Edit

STEP_KEYS = ("epoch", "max_train_epochs", "max_train_steps")


class SolveError(Exception):
    """The target cannot be reached with the chosen setting (exit 1), or the request makes no
    sense for this file (exit 2, `usage=True`)."""

    def __init__(self, message: str, usage: bool = False, nearest: list | None = None):
        super().__init__(message)
        self.message = message
        self.usage = usage
        self.nearest = nearest or []


@dataclass
class Outcome:
    max_train_steps: int
    num_train_epochs: int
    num_update_steps_per_epoch: int
    gui_max_train_steps: int | None = None

    @property
    def last_epoch_steps(self) -> int:
        if not self.num_train_epochs:
            return 0
        return self.max_train_steps - (self.num_train_epochs - 1) * self.num_update_steps_per_epoch

    def describe(self) -> str:
        text = (f"{self.num_train_epochs} epochs, {self.max_train_steps} steps, "
                f"{self.num_update_steps_per_epoch} steps per epoch")
        if self.num_train_epochs and self.last_epoch_steps != self.num_update_steps_per_epoch:
            text += (f" ({self.num_train_epochs - 1} full epochs, then {self.last_epoch_steps} "
                     f"steps in the last one)")
        return text


@dataclass
class Solution:
    doc: Document
    target_kind: str                 # "epochs" | "steps"
    target: int
    by: str
    before: Outcome
    after: Outcome
    edits: list = field(default_factory=list)       # rewrite.Edit
    changes: list = field(default_factory=list)     # (key, old, new, why)
    unscanned: str | None = None    # why the dataset could not be scanned (outcome unknown)

    @property
    def changed(self) -> bool:
        return bool(self.edits)


def _get(data, keypath):
    for part in keypath:
        data = data[part]
    return data


def _set(data, keypath, value):
    target = data
    for part in keypath[:-1]:
        target = target[part]
    if value is None:
        target.pop(keypath[-1], None)
    else:
        target[keypath[-1]] = value


class Solver:
    def __init__(self, doc: Document, settings: Settings):
        if doc.kind == documents.DATASET:
            raise SolveError(f"{doc.path} is a dataset config: it holds no epoch or step setting; "
                             f"solve the args TOML or GUI JSON that points at it", usage=True)
        if doc.kind not in (documents.GUI, documents.ARGS):
            raise SolveError(f"{doc.path} is not a kohya config", usage=True)
        self.doc = doc
        self.settings = settings
        self.plan = normalize.build_plan(doc, settings)
        self.unscanned: str | None = None
        try:
            self.report = steps.compute(self.plan)
        except PlanError as exc:
            # the dataset is not on this machine: only an edit whose outcome does not depend on
            # it can be proven (max_train_epochs fixes the epoch count whatever the batches)
            self.report = None
            self.unscanned = str(exc)
        self.N = self.report.num_batches if self.report is not None else None

    # -- where keys live in this file
    def keypath(self, key: str) -> tuple:
        if self.doc.kind == documents.ARGS:
            found = documents.flat_arg_path(self.doc.data, key)
            if found is not None:
                return found
        return (key,)

    def present(self, key: str) -> bool:
        if self.doc.kind == documents.ARGS:
            return documents.flat_arg_path(self.doc.data, key) is not None
        return key in self.doc.data

    def value(self, key: str):
        kp = self.keypath(key)
        try:
            return _get(self.doc.data, kp)
        except (KeyError, TypeError, IndexError):
            return None

    def add_path(self, key: str) -> tuple:
        """Where a missing key goes: beside its relatives (same section in an args TOML)."""
        if self.doc.kind == documents.ARGS:
            for relative in ("max_train_steps", "max_train_epochs", "train_batch_size",
                             "gradient_accumulation_steps", "learning_rate"):
                found = documents.flat_arg_path(self.doc.data, relative)
                if found is not None:
                    return found[:-1] + (key,)
        return (key,)

    def after_for(self, key: str) -> tuple | None:
        for relative in ("max_train_steps", "max_train_epochs", "train_batch_size", "epoch"):
            if relative != key and self.present(relative):
                return self.keypath(relative)
        return None

    # -- simulation
    def simulate(self, changes: dict) -> Outcome:
        """Outcome when keys are set (value None: removed)."""
        data = copy.deepcopy(self.doc.data)
        for key, value in changes.items():
            kp = self.keypath(key) if self.present(key) else self.add_path(key)
            _set(data, kp, value)
        doc = copy.copy(self.doc)
        doc.data = data
        plan = normalize.build_plan(doc, self.settings)
        if plan.gui is not None and plan.gui.refused:
            raise TrainerRefusal(plan.gui.refused)
        numbers = steps.trainer_numbers(plan, self.N)
        return Outcome(numbers["max_train_steps"], numbers["num_train_epochs"],
                       numbers["num_update_steps_per_epoch"],
                       plan.gui.max_train_steps if plan.gui is not None else None)

    def baseline(self) -> Outcome:
        return Outcome(self.report.max_train_steps, self.report.num_train_epochs,
                       self.report.num_update_steps_per_epoch,
                       self.plan.gui.max_train_steps if self.plan.gui is not None else None)

    def hits(self, outcome: Outcome, kind: str, target: int) -> bool:
        """The trainer's own epoch count (num_train_epochs) or step count is the target. The
        last epoch may be cut short (said in the outcome); max_train_epochs and max_train_steps
        edits always give full epochs."""
        if kind == "epochs":
            return outcome.num_train_epochs == target
        return outcome.max_train_steps == target

    # -- candidate values that switch a setting off, as this GUI version reads them
    def off_values(self, key: str) -> list:
        old = self.value(key)
        if self.doc.kind == documents.ARGS:
            return [None]
        return ["", 0] if isinstance(old, str) else [0, ""]

    def neutralize(self, key: str, field_name: str) -> dict:
        """Changes that stop `key` from reaching the trainer (GUI: as that version sends it)."""
        if self.doc.kind == documents.ARGS:
            return {key: None} if self.present(key) else {}
        for value in self.off_values(key):
            if getattr(self._gui_sent({key: value}), field_name) is None:
                return {key: value}
        raise SolveError(f"cannot stop {key} from reaching the trainer in this GUI version")

    def _gui_sent(self, base_changes: dict):
        data = copy.deepcopy(self.doc.data)
        for key, value in base_changes.items():
            _set(data, self.keypath(key) if self.present(key) else self.add_path(key), value)
        doc = copy.copy(self.doc)
        doc.data = data
        return normalize.build_plan(doc, self.settings).gui

    def epochs_sent(self) -> bool:
        if self.plan.gui is not None:
            return self.plan.gui.max_train_epochs is not None
        return self.plan.args.get("max_train_epochs") is not None

    # -- strategies
    def by_max_train_epochs(self, kind: str, target: int) -> dict:
        per_epoch = math.ceil(self.N / self.plan.num_processes / self.report.gradient_accumulation_steps)
        if kind == "epochs":
            value = target
        else:
            if target % per_epoch:
                raise SolveError(
                    f"{target} steps is not a whole number of epochs ({per_epoch} steps per epoch), "
                    f"so no max_train_epochs gives it; use --by max_train_steps",
                    nearest=[(k, self.simulate({"max_train_epochs": k}))
                             for k in (target // per_epoch, target // per_epoch + 1) if k > 0])
            value = target // per_epoch
        changes = {"max_train_epochs": self._like("max_train_epochs", value)}
        return changes

    def by_max_train_steps(self, kind: str, target: int) -> dict:
        U = self.report.num_update_steps_per_epoch
        want = target * U if kind == "epochs" else target
        changes: dict = {}
        if self.epochs_sent():
            changes.update(self.neutralize("max_train_epochs", "max_train_epochs"))
        # the GUI may transform the value (fine-tune halves it with flip_aug): search the value
        # that makes the GUI send `want`
        for candidate in self._steps_candidates(want):
            trial = dict(changes)
            trial["max_train_steps"] = self._like("max_train_steps", candidate)
            outcome = self.simulate(trial)
            if outcome.max_train_steps == want:
                return trial
        raise SolveError(f"no max_train_steps value makes the trainer run {want} steps here "
                         f"(this GUI version may compute it from epoch whatever the file says); "
                         f"use --by epoch or --by max_train_epochs")

    def _steps_candidates(self, want: int):
        yield want
        yield 2 * want
        yield 2 * want - 1

    def by_epoch(self, kind: str, target: int) -> dict:
        if self.plan.gui is None:
            raise SolveError("`epoch` is a GUI setting: sd-scripts has no such argument, so "
                             "changing it in an args TOML does nothing; use --by max_train_epochs",
                             usage=True)
        changes: dict = {}
        if self.epochs_sent():
            changes.update(self.neutralize("max_train_epochs", "max_train_epochs"))
        # the GUI must compute max_train_steps from epoch: find the value of max_train_steps that
        # makes it do so (0 in v24+, "" or "0" in v22/v23) when it does not already
        probe = self._gui_sent({**changes, "epoch": 1})
        if probe.formula is None:
            if True:
                for value in self.off_values("max_train_steps"):
                    trial = {**changes, "max_train_steps": value, "epoch": 1}
                    if self._gui_sent(trial).formula is not None:
                        changes["max_train_steps"] = value
                        break
            if self._gui_sent({**changes, "epoch": 1}).formula is None:
                raise SolveError("this GUI does not compute max_train_steps from epoch for this "
                                 "config (a dataset_config is set, or no images are counted); use "
                                 "--by max_train_epochs", usage=False)
        below = above = None
        per_epoch = max(1, self.report.num_update_steps_per_epoch)
        upper = max(4 * target + 10, 50) if kind == "epochs" else max(4 * target // per_epoch + 10, 50)
        matches = []
        for epoch in range(1, upper + 1):
            outcome = self.simulate({**changes, "epoch": self._like("epoch", epoch)})
            value = outcome.num_train_epochs if kind == "epochs" else outcome.max_train_steps
            if value == target:
                matches.append((epoch, outcome))
            elif value < target:
                below = (epoch, outcome)
            elif above is None:
                above = (epoch, outcome)
            if value > target and (matches or above is not None) and epoch > 2:
                break
        if not matches:
            nearest = [n for n in (below, above) if n is not None]
            raise SolveError(f"no integer epoch makes the trainer run exactly {target} {kind}",
                             nearest=nearest)
        # several epoch values can give the same epoch count: prefer one whose last epoch is full,
        # else the one that comes closest to it
        full = [m for m in matches if m[1].last_epoch_steps == m[1].num_update_steps_per_epoch]
        chosen = full[0] if full else max(matches, key=lambda m: m[1].max_train_steps)
        changes["epoch"] = self._like("epoch", chosen[0])
        return changes

    def _like(self, key: str, value: int):
        """Keep the file's own type for a value: a GUI that saved a number as a string gets a
        string back."""
        old = self.value(key)
        if isinstance(old, str) and self.doc.kind == documents.GUI:
            return str(value)
        return value

    def default_by(self, kind: str) -> str:
        if self.doc.kind == documents.ARGS:
            return "max_train_epochs" if kind == "epochs" else "max_train_steps"
        # a GUI config: keep the user's own knob (`epoch`) when the GUI turns it into steps and an
        # integer epoch hits the target exactly; otherwise the setting the trainer obeys
        if kind == "epochs":
            return "epoch"
        return "max_train_steps"

    def solve_unscanned(self, kind: str, target: int, by: str | None) -> Solution:
        if kind != "epochs" or by not in (None, "max_train_epochs"):
            raise SolveError(f"cannot compute the real outcome: {self.unscanned}; only "
                             f"--target-epochs with --by max_train_epochs is exact without the "
                             f"dataset", usage=True)
        changes = {"max_train_epochs": self._like("max_train_epochs", target)}
        if self.plan.gui is not None:
            sent = self._gui_sent(changes)
            if sent.max_train_epochs != target:
                raise SolveError("this GUI version would not send max_train_epochs", usage=True)
        elif self.plan.args.get("max_train_epochs") == target:
            changes = {}
        solution = Solution(self.doc, kind, target, "max_train_epochs", None, None)
        solution.unscanned = self.unscanned
        for key, value in changes.items():
            old = self.value(key)
            if self.present(key) and old == value:
                continue
            kp = self.keypath(key) if self.present(key) else self.add_path(key)
            solution.edits.append(Edit(kp, value, "target", after=None if self.present(key) else self.after_for(key)))
            solution.changes.append((key, old if self.present(key) else None, value, "target"))
        return solution

    def solve(self, kind: str, target: int, by: str | None = None) -> Solution:
        if target < 1:
            raise SolveError("the target must be at least 1", usage=True)
        if self.report is None:
            return self.solve_unscanned(kind, target, by)
        before = self.baseline()
        explicit = by is not None
        by = by or self.default_by(kind)
        strategies = {"epoch": self.by_epoch, "max_train_epochs": self.by_max_train_epochs,
                      "max_train_steps": self.by_max_train_steps}
        if by not in strategies:
            raise SolveError(f"--by must be one of {', '.join(strategies)}", usage=True)
        if self.hits(before, kind, target) and (kind == "steps" or before.last_epoch_steps ==
                                                before.num_update_steps_per_epoch or by == "epoch"):
            return Solution(self.doc, kind, target, by, before, before)
        reason = None
        try:
            changes = strategies[by](kind, target)
        except SolveError as exc:
            if explicit or exc.usage:
                raise
            # the default setting cannot hit the target exactly: try the others, in the order
            # of least surprise, and say why the default was not used
            order = (["max_train_epochs", "max_train_steps"] if kind == "epochs"
                     else ["epoch", "max_train_epochs"])
            for other in order:
                if other == by or (other == "epoch" and self.plan.gui is None):
                    continue
                try:
                    changes = strategies[other](kind, target)
                except SolveError:
                    continue
                by, reason = other, exc.message
                break
            else:
                raise exc
        after = self.simulate(changes)
        if not self.hits(after, kind, target):
            raise SolveError(f"internal check failed: the edit gives {after.describe()}")
        solution = Solution(self.doc, kind, target, by, before, after)
        for key, value in changes.items():
            old = self.value(key)
            if old == value and self.present(key):
                continue
            if value is None and not self.present(key):
                continue
            why = "target" if key == by else f"{key} would defeat the target"
            if reason and key == by:
                why = f"target; the default setting cannot: {reason}"
            kp = self.keypath(key) if self.present(key) else self.add_path(key)
            solution.edits.append(Edit(kp, value, why, after=None if self.present(key) else self.after_for(key)))
            solution.changes.append((key, old if self.present(key) else None, value, why))
        return solution


def verify(solution: Solution, new_text: str, settings: Settings) -> Outcome:
    """Re-read the rewritten text and recompute: the file on disk must give the target."""
    doc = copy.copy(solution.doc)
    if solution.doc.format == "json":
        data, spans, _ = documents.parse_json(solution.doc.path, new_text)
        comments = {}
    else:
        data, spans, comments = documents.parse_toml(solution.doc.path, new_text)
    doc.text, doc.data, doc.spans, doc.comments, doc._lines = new_text, data, spans, comments, None
    plan = normalize.build_plan(doc, settings)
    report = steps.compute(plan, check_order=False)
    return Outcome(report.max_train_steps, report.num_train_epochs,
                   report.num_update_steps_per_epoch)


__all__ = ["Solver", "Solution", "SolveError", "Outcome", "verify", "PlanError", "TrainerRefusal"]
