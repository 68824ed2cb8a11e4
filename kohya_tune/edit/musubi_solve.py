"""solve for musubi-tuner: rewrite `max_train_epochs` / `max_train_steps` of a musubi
`--config_file` so that the real run has the target epochs or steps.

The procedure is edit.solve's (candidates, simulate, pick, edit + read-back); only what differs
for musubi is here: the numbers come from musubi's own count (engine.musubi_steps: cache folder or
media, its sharding and accumulation), and the read-back reads the written text again as
`kohya-tune steps --script <musubi script>` will. musubi's precedence is sd-scripts' one:
`max_train_epochs`, when set, replaces max_train_steps by `max_train_epochs * ceil(len(dataloader)
/ num_processes / gradient_accumulation_steps)` (training/trainer_base.py:1640-1646; hv_train.py:854-860
and the other full fine-tune scripts the same), else `max_train_steps` (default 1600,
parser_common.py:164); `num_train_epochs = ceil(max_train_steps / ceil(len(sharded dataloader) /
gradient_accumulation_steps))` (trainer_base.py:1792-1793). musubi has no `epoch` setting.
"""
from __future__ import annotations

from dataclasses import dataclass

from kohya_tune.edit.solve import Outcome, Solution, SolveError, Solver
from kohya_tune.engine import musubi_steps
from kohya_tune.engine.plan import PlanError, Settings, TrainerRefusal
from kohya_tune.load import documents
from kohya_tune.load.documents import Document


@dataclass
class _Numbers:
    """The report attributes the shared solver reads."""
    max_train_steps: int
    num_train_epochs: int
    num_update_steps_per_epoch: int
    gradient_accumulation_steps: int
    num_batches: int


@dataclass
class _Plan:
    args: dict
    num_processes: int
    gui = None


class MusubiSolver(Solver):
    def __init__(self, doc: Document, settings: Settings, script: str):
        if not musubi_steps.is_args(doc):
            raise SolveError(f"{doc.path} is a musubi-tuner dataset config: it holds no epoch or step "
                             f"setting; solve the --config_file TOML that names it (dataset_config)",
                             usage=True)
        self.doc = doc
        self.settings = settings
        self.script = script
        self._outcomes: dict = {}
        self.musubi = musubi_steps.build(doc, script, settings)
        if self.musubi.refusal is not None:
            raise self.musubi.refusal
        self.plan = _Plan(dict(self.musubi.args), settings.num_processes or 1)
        self.unscanned: str | None = None
        n = self.musubi.numbers
        if n is None:
            # neither the cache nor the media are here: only max_train_epochs is exact
            self.report = None
            self.unscanned = "; ".join(self.musubi.unknown) or "the datasets are not here"
            self.N = None
            return
        self.report = _Numbers(n["max_train_steps"], n["num_train_epochs"], n["num_update_steps_per_epoch"],
                               n["gradient_accumulation_steps"], n["num_batches"])
        self.N = n["num_batches"]

    @property
    def flat_args(self) -> bool:
        return True   # read_config_from_file merges the sections (parser_common.py:794-806)

    def _changed_args(self, changes: dict) -> dict:
        args = dict(self.plan.args)
        for key, value in changes.items():
            if value is None:
                args.pop(key, None)
            else:
                args[key] = value
        return args

    def simulate(self, changes: dict) -> Outcome:
        frozen = tuple(sorted((k, repr(v)) for k, v in changes.items()))
        if frozen not in self._outcomes:
            try:
                n = musubi_steps.run_numbers(self._changed_args(changes), self.doc, self.N, self.plan.num_processes)
                self._outcomes[frozen] = Outcome(n["max_train_steps"], n["num_train_epochs"],
                                                 n["num_update_steps_per_epoch"])
            except (TrainerRefusal, OverflowError, ValueError, ZeroDivisionError) as exc:
                self._outcomes[frozen] = exc
        outcome = self._outcomes[frozen]
        if isinstance(outcome, TrainerRefusal):
            raise outcome
        if isinstance(outcome, Exception):
            raise TrainerRefusal(f"{type(outcome).__name__}: {outcome}")
        return outcome

    def baseline(self) -> Outcome:
        return Outcome(self.report.max_train_steps, self.report.num_train_epochs,
                       self.report.num_update_steps_per_epoch)

    def candidates_epoch(self, kind: str, target: int) -> list[dict]:
        raise SolveError("`epoch` is a kohya_ss GUI setting: musubi-tuner has no such argument; use "
                         "--by max_train_epochs or --by max_train_steps", usage=True)

    def default_by(self, kind: str) -> str:
        return "max_train_epochs" if kind == "epochs" else "max_train_steps"

    def fallbacks(self, kind: str, by: str) -> list[str]:
        return [o for o in ("max_train_epochs", "max_train_steps") if o != by]

    def read_back(self, solution: Solution) -> None:
        """Apply the edits and read the text as `steps --script <musubi script>` will read the
        written file; anything that differs from the simulation is refused, nothing written."""
        from kohya_tune.edit import rewrite

        text = rewrite.apply_edits(self.doc, solution.edits)
        new = documents.from_text(self.doc.path, text)
        if not musubi_steps.is_args(new):
            raise SolveError("the edited file would no longer read as a musubi-tuner --config_file; "
                             "nothing was changed")
        if solution.unscanned is None:
            try:
                report = musubi_steps.build(new, self.script, self.settings)
            except PlanError as exc:
                raise SolveError(f"the written file could not be read back ({exc}); nothing was changed") from None
            if report.refusal is not None or report.numbers is None:
                why = report.refusal.message if report.refusal is not None else "; ".join(report.unknown)
                raise SolveError(f"the written file would not count ({why}); nothing was changed")
            n = report.numbers
            got = Outcome(n["max_train_steps"], n["num_train_epochs"], n["num_update_steps_per_epoch"])
            if solution.after is not None and got.numbers != solution.after.numbers:
                raise SolveError(f"the written file would give {got.describe()}, not the simulated "
                                 f"{solution.after.describe()}; nothing was changed")
        else:
            args = documents.flatten_args(new.data) if isinstance(new.data, dict) else {}
            if args.get("max_train_epochs") != solution.target:
                raise SolveError(f"the written file would not set max_train_epochs {solution.target}; "
                                 f"nothing was changed")
        solution.text = text


__all__ = ["MusubiSolver"]
