"""Choose the edit that makes the real run hit a target number of epochs or optimizer steps.

The procedure, one named step each:

1. **candidates**: for the chosen setting (`epoch`, `max_train_epochs` or `max_train_steps`),
   the change sets that could give the target, with the settings that would defeat it switched
   off (a `max_train_epochs` that overrides the steps, a non-zero `max_train_steps` that makes a
   v24+ GUI ignore `epoch`);
2. **simulate**: the outcome of a change set, through the same code `steps` uses (the GUI's own
   computation for a GUI JSON, then the trainer's arithmetic). The dataset side (batches per
   epoch) does not depend on these settings, so it is scanned once;
3. **pick**: the first candidate whose simulated outcome is exactly the target. The outcome is
   monotonic in `epoch` (the GUI's formula `ceil(total / batch / ga * epoch * reg)` and the
   trainer's `ceil(S / U)` never decrease), so the epoch is found by galloping and bisection,
   never by a loop over every epoch: any target answers in a few dozen simulations;
4. **edit**: the byte edits, applied to the text and read back exactly as `steps` will read the
   written file (kind and GUI version guessed again from its keys, dataset scanned again). A
   result that differs from the simulation - for example an added key that moves the guessed GUI
   version - is refused with the reason, so `steps` on the written file always gives what
   `solve` printed.

Targets beyond what the trainer can count exactly are refused (engine/numbers.py
MAX_EXACT_COUNT).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

from kohya_tune.check.diagnostics import Edit
from kohya_tune.engine import normalize, numbers, steps
from kohya_tune.engine.plan import PlanError, Settings, TrainerRefusal
from kohya_tune.load import documents
from kohya_tune.load.documents import Document

STEP_KEYS = ("epoch", "max_train_epochs", "max_train_steps")
MAX_EPOCH_VALUE = numbers.MAX_EXACT_COUNT


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

    @property
    def numbers(self) -> tuple:
        return (self.max_train_steps, self.num_train_epochs, self.num_update_steps_per_epoch)

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
    before: Outcome | None
    after: Outcome | None
    edits: list = field(default_factory=list)       # rewrite.Edit
    changes: list = field(default_factory=list)     # (key, old, new, why)
    unscanned: str | None = None    # why the dataset could not be scanned (outcome unknown)
    text: str | None = None         # the new text, read back and checked (None: unchanged)

    @property
    def changed(self) -> bool:
        return bool(self.edits)


def _set(data, keypath, value):
    target = data
    for part in keypath[:-1]:
        target = target[part]
    if value is None:
        target.pop(keypath[-1], None)
    else:
        target[keypath[-1]] = value


def _freeze(changes: dict) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in changes.items()))


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
        self._outcomes: dict = {}

    # ------------------------------------------------------------------ where keys live
    @property
    def flat_args(self) -> bool:
        """A --config_file TOML, whose sections the trainer merges into one namespace (a subclass
        for another trainer's args file says True too)."""
        return self.doc.kind == documents.ARGS

    def keypath(self, key: str) -> tuple:
        if self.flat_args:
            found = documents.flat_arg_path(self.doc.data, key)
            if found is not None:
                return found
        return (key,)

    def present(self, key: str) -> bool:
        if self.flat_args:
            return documents.flat_arg_path(self.doc.data, key) is not None
        return key in self.doc.data

    def value(self, key: str):
        data = self.doc.data
        try:
            for part in self.keypath(key):
                data = data[part]
        except (KeyError, TypeError, IndexError):
            return None
        return data

    def add_path(self, key: str) -> tuple:
        """Where a missing key goes: beside its relatives (same section in an args TOML)."""
        if self.flat_args:
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

    def _like(self, key: str, value: int):
        """Keep the file's own type for a value: a GUI that saved a number as a string gets a
        string back. A key the file lacks gets the type its GUI version saves it with (a Textbox
        string up to v23.1.5: gui_keys.json fingerprints), so the added key does not date the
        file differently."""
        if self.doc.kind != documents.GUI:
            return value
        if self.present(key):
            return str(value) if isinstance(self.value(key), str) else value
        from kohya_tune.versions import profiles

        version = self.settings.gui_version or (self.doc.gui_versions or ("master", "master"))[1]
        for fp in profiles.gui_inventory().get("fingerprints", []):
            if (fp.get("key") == key and fp.get("condition") == "type:string" and fp.get("max_version")
                    and (not fp.get("tabs") or self.doc.gui_tab in fp["tabs"])
                    and profiles.version_key(version) <= profiles.version_key(fp["max_version"])):
                return str(value)
        return value

    # ------------------------------------------------------------------ step 2: simulate
    def _changed_doc(self, changes: dict) -> Document:
        data = copy.deepcopy(self.doc.data)
        for key, value in changes.items():
            _set(data, self.keypath(key) if self.present(key) else self.add_path(key), value)
        doc = copy.copy(self.doc)
        doc.data = data
        return doc

    def _gui_sent(self, changes: dict):
        return normalize.build_plan(self._changed_doc(changes), self.settings).gui

    def simulate(self, changes: dict) -> Outcome:
        """Outcome when keys are set (value None: removed). Cached per change set."""
        frozen = _freeze(changes)
        if frozen not in self._outcomes:
            try:
                plan = normalize.build_plan(self._changed_doc(changes), self.settings)
                if plan.gui is not None and plan.gui.refused:
                    raise TrainerRefusal(plan.gui.refused)
                n = steps.trainer_numbers(plan, self.N)
                outcome = Outcome(n["max_train_steps"], n["num_train_epochs"],
                                  n["num_update_steps_per_epoch"],
                                  plan.gui.max_train_steps if plan.gui is not None else None)
            except (TrainerRefusal, OverflowError, ValueError, ZeroDivisionError) as exc:
                outcome = exc
            self._outcomes[frozen] = outcome
        outcome = self._outcomes[frozen]
        if isinstance(outcome, TrainerRefusal):
            raise outcome
        if isinstance(outcome, Exception):
            raise TrainerRefusal(f"{type(outcome).__name__}: {outcome}")
        return outcome

    def baseline(self) -> Outcome:
        return Outcome(self.report.max_train_steps, self.report.num_train_epochs,
                       self.report.num_update_steps_per_epoch,
                       self.plan.gui.max_train_steps if self.plan.gui is not None else None)

    def hits(self, outcome: Outcome, kind: str, target: int, full: bool = False) -> bool:
        """The trainer's own epoch count (num_train_epochs) or step count is the target. With
        `full` (an epoch target, unless --by epoch is asked for) every epoch must be whole: a
        run of N epochs whose last one is cut short is not N epochs (KT203 says so), so solve
        never calls it "on target"."""
        if kind == "epochs":
            if outcome.num_train_epochs != target:
                return False
            return not full or outcome.last_epoch_steps == outcome.num_update_steps_per_epoch
        return outcome.max_train_steps == target

    # ------------------------------------------------------------------ switching settings off
    def off_values(self, key: str) -> list:
        old = self.value(key)
        if self.flat_args:
            return [None]
        return ["", 0] if isinstance(old, str) else [0, ""]

    def neutralize(self, key: str, field_name: str) -> dict:
        """Changes that stop `key` from reaching the trainer (GUI: as that version sends it)."""
        if self.flat_args:
            return {key: None} if self.present(key) else {}
        for value in self.off_values(key):
            if getattr(self._gui_sent({key: value}), field_name) is None:
                return {key: value}
        raise SolveError(f"cannot stop {key} from reaching the trainer in this GUI version")

    def epochs_sent(self) -> bool:
        if self.plan.gui is not None:
            return self.plan.gui.max_train_epochs is not None
        return self.plan.args.get("max_train_epochs") is not None

    # ------------------------------------------------------------------ step 1: candidates
    def candidates(self, by: str, kind: str, target: int) -> list[dict]:
        """Change sets for one setting, best first; SolveError when none can give the target."""
        return {"epoch": self.candidates_epoch, "max_train_epochs": self.candidates_max_train_epochs,
                "max_train_steps": self.candidates_max_train_steps}[by](kind, target)

    def candidates_max_train_epochs(self, kind: str, target: int) -> list[dict]:
        # max_train_steps = max_train_epochs * ceil(N / P / G) (train_network.py L799-802)
        per_epoch = math.ceil(self.N / self.plan.num_processes / self.report.gradient_accumulation_steps)
        if kind == "epochs":
            value = target
        else:
            if target % per_epoch:
                nearest = []
                for k in (target // per_epoch, target // per_epoch + 1):
                    if k > 0:
                        try:
                            nearest.append((k, self.simulate({"max_train_epochs": self._like("max_train_epochs", k)})))
                        except TrainerRefusal:
                            pass
                raise SolveError(
                    f"{target} steps is not a whole number of epochs ({per_epoch} steps per epoch), "
                    f"so no max_train_epochs gives it; use --by max_train_steps", nearest=nearest)
            value = target // per_epoch
        changes = {"max_train_epochs": self._like("max_train_epochs", value)}
        if self.plan.gui is not None:
            changes.update(self._gui_shows_epochs(changes, value))
        elif self.present("max_train_steps"):
            # overridden by max_train_epochs anyway; left in, it says another run (lint KT201)
            changes["max_train_steps"] = None
        return [changes]

    def _gui_shows_epochs(self, changes: dict, value: int) -> dict:
        """For a GUI JSON solved by max_train_epochs: `epoch` equal to it and a max_train_steps
        the GUI computes from epoch (0 in v24+), so that the file shows what the trainer runs and
        lint's KT201 (max_train_epochs overriding another step count) has nothing to say. The
        trainer's numbers do not change: max_train_epochs decides them."""
        extra: dict = {}
        if self.value("epoch") != value or not self.present("epoch"):
            extra["epoch"] = self._like("epoch", value)
        def computes(trial) -> bool:  # from epoch (pending: the images are not here to count)
            sent = self._gui_sent(trial)
            return sent.formula is not None or sent.formula_pending is not None

        if not computes({**changes, **extra}):
            for off in self.off_values("max_train_steps"):
                if computes({**changes, **extra, "max_train_steps": off}):
                    extra["max_train_steps"] = off
                    break
        return extra

    def candidates_max_train_steps(self, kind: str, target: int) -> list[dict]:
        want = target * self.report.num_update_steps_per_epoch if kind == "epochs" else target
        base: dict = {}
        if self.epochs_sent():
            base.update(self.neutralize("max_train_epochs", "max_train_epochs"))
        # the GUI may transform the value (fine-tune halves it with flip_aug: ceil(v / 2))
        values = [want] if self.plan.gui is None else [want, 2 * want, 2 * want - 1]
        return [dict(base, max_train_steps=self._like("max_train_steps", v)) for v in values]

    def _epoch_base(self) -> dict:
        """What must change besides `epoch` so that the GUI computes max_train_steps from it."""
        if self.plan.gui is None:
            raise SolveError("`epoch` is a GUI setting: sd-scripts has no such argument, so "
                             "changing it in an args TOML does nothing; use --by max_train_epochs",
                             usage=True)
        base: dict = {}
        if self.epochs_sent():
            base.update(self.neutralize("max_train_epochs", "max_train_epochs"))
        if self._gui_sent({**base, "epoch": 1}).formula is None:
            # 0 in v24+, "" or "0" in v22/v23 makes the GUI compute the steps from epoch
            for value in self.off_values("max_train_steps"):
                trial = {**base, "max_train_steps": value, "epoch": 1}
                if self._gui_sent(trial).formula is not None:
                    base["max_train_steps"] = value
                    break
            if self._gui_sent({**base, "epoch": 1}).formula is None:
                raise SolveError("this GUI does not compute max_train_steps from epoch for this "
                                 "config (a dataset_config is set, or no images are counted); use "
                                 "--by max_train_epochs")
        return base

    def candidates_epoch(self, kind: str, target: int) -> list[dict]:
        base = self._epoch_base()

        def at(epoch: int) -> Outcome | None:
            try:
                return self.simulate({**base, "epoch": self._like("epoch", epoch)})
            except TrainerRefusal:
                return None  # the GUI's arithmetic overflows: beyond every target

        search = _MonotoneSearch(at, guess=self._epoch_guess(at, kind, target))
        if kind == "steps":
            epoch = search.first(lambda o: o.max_train_steps >= target)
            if epoch is not None and search.outcome(epoch).max_train_steps == target:
                return [{**base, "epoch": self._like("epoch", epoch)}]
            raise SolveError(f"no integer epoch makes the trainer run exactly {target} steps",
                             nearest=search.around(epoch))
        lo = search.first(lambda o: o.num_train_epochs >= target)
        if lo is None or search.outcome(lo).num_train_epochs != target:
            raise SolveError(f"no integer epoch makes the trainer run exactly {target} epochs",
                             nearest=search.around(lo))
        # several epoch values give the same epoch count: prefer one whose last epoch is full
        # (max_train_steps = target * U), else the one that comes closest to it
        per_epoch = search.outcome(lo).num_update_steps_per_epoch
        full = search.first(lambda o: o.max_train_steps >= target * per_epoch)
        if full is not None and search.outcome(full).max_train_steps == target * per_epoch:
            chosen = full
        else:
            beyond = search.first(lambda o: o.num_train_epochs > target)
            hi = (beyond - 1) if beyond is not None else MAX_EPOCH_VALUE
            best = search.outcome(hi).max_train_steps
            chosen = search.first(lambda o: o.max_train_steps >= best)
        return [{**base, "epoch": self._like("epoch", chosen)}]

    def _epoch_guess(self, at, kind: str, target: int) -> int:
        """Where the search starts: the GUI's steps per epoch measured at a large epoch."""
        probe = 1 << 20
        outcome = at(probe)
        if outcome is None or outcome.max_train_steps <= 0:
            return 1
        per_gui_epoch = outcome.max_train_steps / probe
        want = target * outcome.num_update_steps_per_epoch if kind == "epochs" else target
        return max(1, min(MAX_EPOCH_VALUE, int(want / per_gui_epoch)))

    # ------------------------------------------------------------------ step 3: pick
    def pick(self, candidates: list[dict], kind: str, target: int,
             full: bool = False) -> tuple[dict, Outcome]:
        tried = []
        for changes in candidates:
            try:
                outcome = self.simulate(changes)
            except TrainerRefusal as exc:
                tried.append(exc.message)
                continue
            if self.hits(outcome, kind, target, full):
                return changes, outcome
            if full and self.hits(outcome, kind, target):
                values = ", ".join(f"{k} {v}" for k, v in changes.items())
                raise SolveError(f"no value gives {target} whole epochs this way: {values} gives "
                                 f"{outcome.describe()}")
            tried.append(outcome.describe())
        raise SolveError(f"no value of this setting makes the trainer run {target} {kind} here "
                         f"(this GUI version may compute the steps from epoch whatever the file "
                         f"says); use --by epoch or --by max_train_epochs")

    # ------------------------------------------------------------------ step 4: edit
    def edit(self, changes: dict, by: str, reason: str | None, kind: str, target: int,
             before: Outcome | None, after: Outcome | None) -> Solution:
        solution = Solution(self.doc, kind, target, by, before, after)
        for key, value in changes.items():
            old = self.value(key)
            if old == value and self.present(key) and type(old) is type(value):
                continue
            if value is None and not self.present(key):
                continue
            why = "target" if key == by else f"{key} would defeat the target"
            if by == "max_train_epochs" and key != by and value is None:
                why = "overridden by max_train_epochs: removed so that the file shows what the trainer runs"
            elif by == "max_train_epochs" and key != by and value in (0, ""):
                why = "so that the GUI computes its steps from epoch and shows what the trainer runs"
            elif by == "max_train_epochs" and key == "epoch":
                why = "the GUI shows the epochs the trainer runs"
            if reason and key == by:
                why = f"target; the default setting cannot: {reason}"
            kp = self.keypath(key) if self.present(key) else self.add_path(key)
            solution.edits.append(Edit(kp, value, why, after=None if self.present(key) else self.after_for(key)))
            solution.changes.append((key, old if self.present(key) else None, value, why))
        if solution.edits:
            self.read_back(solution)
        return solution

    def read_back(self, solution: Solution) -> None:
        """Apply the edits to the text and read the result exactly as `steps` will read the
        written file: its kind and GUI version are guessed again from its keys. Anything that
        differs from the simulation is a SolveError, and nothing is written."""
        from kohya_tune.edit import rewrite

        text = rewrite.apply_edits(self.doc, solution.edits)
        new = documents.from_text(self.doc.path, text)
        if new.kind != self.doc.kind or new.gui_tab != self.doc.gui_tab:
            raise SolveError(f"the edited file would no longer read as a {documents.KIND_LABELS[self.doc.kind]}; "
                             f"nothing was changed")
        old_v = (self.doc.gui_versions or ("?", "?"))[1]
        new_v = (new.gui_versions or ("?", "?"))[1]
        if self.doc.kind == documents.GUI and self.settings.gui_version is None and new_v != old_v:
            # the GUI version used is the newest the keys fit (normalize._gui_launch)
            keys = ", ".join(c[0] for c in solution.changes)
            raise SolveError(
                f"the edit ({keys}) changes the keys the GUI version is guessed from: the written "
                f"file would read as GUI {new_v} instead of {old_v}, which computes differently; "
                f"pass --gui-version {old_v} (and give it to steps too) to keep {old_v}")
        plan = normalize.build_plan(new, self.settings)
        if solution.unscanned is None:
            report = steps.compute(plan, check_order=False)
            got = Outcome(report.max_train_steps, report.num_train_epochs,
                          report.num_update_steps_per_epoch)
            if solution.after is not None and got.numbers != solution.after.numbers:
                raise SolveError(f"the written file would give {got.describe()}, not the "
                                 f"simulated {solution.after.describe()}; nothing was changed")
        else:
            sent = plan.gui.max_train_epochs if plan.gui is not None else plan.args.get("max_train_epochs")
            if sent != solution.target:
                raise SolveError("the written file would not send max_train_epochs "
                                 f"{solution.target}; nothing was changed")
        solution.text = text

    # ------------------------------------------------------------------ the procedure
    def check_target(self, kind: str, target: int) -> None:
        if target < 1:
            raise SolveError("the target must be at least 1", usage=True)
        if target > numbers.MAX_EXACT_COUNT:
            raise SolveError(f"a target of {numbers.literal(target)} {kind} is beyond what the "
                             f"trainer counts exactly: {numbers.EXACT_COUNT_WHY}", usage=True)
        if kind == "epochs" and self.report is not None:
            steps_needed = target * max(1, self.report.num_update_steps_per_epoch)
            if steps_needed > numbers.MAX_EXACT_COUNT:
                raise SolveError(f"{target} epochs of {self.report.num_update_steps_per_epoch} "
                                 f"steps are {numbers.literal(steps_needed)} steps, beyond what "
                                 f"the trainer counts exactly: {numbers.EXACT_COUNT_WHY}", usage=True)

    def default_by(self, kind: str) -> str:
        if self.flat_args:
            return "max_train_epochs" if kind == "epochs" else "max_train_steps"
        # a GUI config: keep the user's own knob (`epoch`) when the GUI turns it into steps and an
        # integer epoch hits the target exactly; otherwise the setting the trainer obeys. With
        # several processes the steps the GUI computes from epoch are a step count planned for
        # one process (lint KT206), so there max_train_epochs, which the trainer divides itself
        if kind == "epochs" and is_int_count(self.plan.num_processes) and self.plan.num_processes > 1:
            return "max_train_epochs"
        return "epoch" if kind == "epochs" else "max_train_steps"

    def fallbacks(self, kind: str, by: str) -> list[str]:
        """The other settings, in the order of least surprise, when the default cannot."""
        order = ["max_train_epochs", "max_train_steps"] if kind == "epochs" else ["epoch", "max_train_epochs"]
        return [o for o in order if o != by and not (o == "epoch" and self.plan.gui is None)]

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
            changes.update(self._gui_shows_epochs(changes, target))
        elif self.plan.args.get("max_train_epochs") == target and not self.present("max_train_steps"):
            changes = {}
        elif self.present("max_train_steps"):
            changes["max_train_steps"] = None  # overridden: as in candidates_max_train_epochs
        solution = Solution(self.doc, kind, target, "max_train_epochs", None, None)
        solution.unscanned = self.unscanned
        for key, value in changes.items():
            old = self.value(key)
            if self.present(key) and old == value and type(old) is type(value):
                continue
            if value is None and not self.present(key):
                continue
            why = ("target" if key == "max_train_epochs" else
                   "overridden by max_train_epochs: removed so that the file shows what the trainer runs"
                   if value is None else "the GUI shows the epochs the trainer runs" if key == "epoch"
                   else "so that the GUI computes its steps from epoch and shows what the trainer runs")
            kp = self.keypath(key) if self.present(key) else self.add_path(key)
            solution.edits.append(Edit(kp, value, why, after=None if self.present(key) else self.after_for(key)))
            solution.changes.append((key, old if self.present(key) else None, value, why))
        if solution.edits:
            self.read_back(solution)
        return solution

    def solve(self, kind: str, target: int, by: str | None = None) -> Solution:
        self.check_target(kind, target)
        strategies = ("epoch", "max_train_epochs", "max_train_steps")
        if by is not None and by not in strategies:
            raise SolveError(f"--by must be one of {', '.join(strategies)}", usage=True)
        if self.report is None:
            return self.solve_unscanned(kind, target, by)
        before = self.baseline()
        explicit = by is not None
        by = by or self.default_by(kind)
        # an epoch target means that many whole epochs, unless --by epoch is asked for (then the
        # GUI's estimate may leave the last epoch short, and the CLI says so)
        full = kind == "epochs" and not (explicit and by == "epoch")
        if self.hits(before, kind, target, full):
            return Solution(self.doc, kind, target, by, before, before)
        first_error: SolveError | None = None
        for setting in [by] + ([] if explicit else self.fallbacks(kind, by)):
            try:
                changes, after = self.pick(self.candidates(setting, kind, target), kind, target, full)
                if not explicit and setting == "epoch" and kind == "epochs" and \
                        _as_int(changes.get("epoch")) != target:
                    # epoch 12 giving 10 real epochs is exact, but the GUI then shows 12 (lint
                    # KT203); the default keeps the file saying what the trainer runs
                    raise SolveError(f"epoch {changes.get('epoch')} gives {target} epochs, but the "
                                     f"GUI would show epoch {changes.get('epoch')}")
                if after.max_train_steps > numbers.MAX_EXACT_COUNT:
                    raise SolveError(f"{setting} would give {numbers.literal(after.max_train_steps)} "
                                     f"steps, beyond what the trainer counts exactly: "
                                     f"{numbers.EXACT_COUNT_WHY}")
                reason = first_error.message if first_error is not None else None
                return self.edit(changes, setting, reason, kind, target, before, after)
            except SolveError as exc:
                if explicit or exc.usage:
                    raise
                if first_error is None:
                    first_error = exc
        raise first_error


def _as_int(value):
    """An epoch value as the GUI reads it (a string up to v23.1.5)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def is_int_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _MonotoneSearch:
    """Search over epoch = 1 .. MAX_EPOCH_VALUE of a non-decreasing outcome, by galloping from a
    guess and then bisecting; outcomes are cached, None stands for "beyond everything" (the
    GUI's arithmetic overflows there)."""

    def __init__(self, at, guess: int):
        self.at = at
        self.guess = max(1, min(guess, MAX_EPOCH_VALUE))
        self.cache: dict = {}

    def outcome(self, epoch: int) -> Outcome | None:
        if epoch not in self.cache:
            self.cache[epoch] = self.at(epoch)
        return self.cache[epoch]

    def _holds(self, test, epoch: int) -> bool:
        outcome = self.outcome(epoch)
        return True if outcome is None else test(outcome)

    def first(self, test) -> int | None:
        """The smallest epoch whose outcome passes `test` (a test that, once true, stays true),
        None when none up to MAX_EPOCH_VALUE does or when the outcome there is unknown."""
        g = self.guess
        if self._holds(test, g):
            hi, step = g, 1
            lo = g - 1
            while lo >= 1 and self._holds(test, lo):
                hi = lo
                step *= 2
                lo = g - step
            lo = max(lo, 0)
        else:
            lo, step = g, 1
            hi = g + 1
            while hi <= MAX_EPOCH_VALUE and not self._holds(test, hi):
                lo = hi
                step *= 2
                hi = g + step
            if hi > MAX_EPOCH_VALUE:
                hi = MAX_EPOCH_VALUE
                if not self._holds(test, hi):
                    return None
        while hi - lo > 1:  # invariant: test fails at lo (or lo == 0), holds at hi
            mid = (lo + hi) // 2
            if self._holds(test, mid):
                hi = mid
            else:
                lo = mid
        return hi if self.outcome(hi) is not None else None

    def around(self, epoch: int | None) -> list:
        """The nearest epochs on each side of where a target would be, with their outcomes."""
        out = []
        candidates = [epoch - 1, epoch] if epoch is not None else [self.guess]
        for e in candidates:
            if e is not None and 1 <= e <= MAX_EPOCH_VALUE and self.outcome(e) is not None:
                out.append((e, self.outcome(e)))
        return out


def verify(solution: Solution, new_text: str, settings: Settings) -> Outcome:
    """Re-read a rewritten text as `steps` would read the written file and recompute."""
    doc = documents.from_text(solution.doc.path, new_text)
    plan = normalize.build_plan(doc, settings)
    report = steps.compute(plan, check_order=False)
    return Outcome(report.max_train_steps, report.num_train_epochs,
                   report.num_update_steps_per_epoch)


__all__ = ["Solver", "Solution", "SolveError", "Outcome", "verify", "PlanError", "TrainerRefusal"]
