"""`balance`: choose every concept's repeats so it gets its share of an epoch, then hit a target.

The plan, step by step (each number it shows comes from the engine):

1. One scan of the config (`facts.gather`): the concepts are the train subsets the trainer
   registers (folders `N_name`, or `[[datasets.subsets]]` of a dataset config), with the images
   the trainer really finds; reg subsets are concepts too with `include_reg`. Subsets the trainer
   ignores (no images, no repeat prefix, repeats < 1, duplicates) are listed and left alone.
2. The share search (`shares`) on the image counts alone: shares of train image-steps per epoch,
   across every dataset of the config.
3. The edits: `num_repeats` on each changed subset of a dataset config (added to the subset when
   it was inherited), or the renames `N_name` -> `M_name` in folder mode.
4. With a target (epochs or steps), `solve` on the config as it will be after the edits (a
   preview folder of links for renamed folders, a preview copy of a rewritten dataset config),
   with the same rules for which key it sets and which it switches off.
5. The outcome after the edits from the engine (`engine.repeats`: the plan with the new repeats,
   gathered from the same Disk), and for a GUI JSON the GUI's own count and steps, re-planned
   from the renamed folder names.

`apply` makes the edits through `renames` (journal first), reads the result back through the
engine, and undoes everything when it does not give the promised numbers.
"""
from __future__ import annotations

import math
import os
import re
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from fractions import Fraction

from kohya_tune.edit import renames as renames_mod
from kohya_tune.edit import rewrite, shares
from kohya_tune.edit import solve as solve_mod
from kohya_tune.engine import facts as facts_mod
from kohya_tune.engine import images, normalize, repeats, steps
from kohya_tune.engine.plan import PlanError, Settings, TrainerRefusal, resolve_dir
from kohya_tune.check.diagnostics import Edit
from kohya_tune.load import documents
from kohya_tune.load.documents import Document


class BalanceError(Exception):
    """A request that cannot be planned (usage: exit 2) or a plan that failed its own check
    (exit 3)."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass
class Request:
    weights: dict = field(default_factory=dict)    # concept name -> Fraction
    per_concept: int | None = None
    total: int | None = None
    tolerance: Fraction = Fraction(1, 10)
    min_repeats: int = 1
    max_repeats: int = 100
    target: tuple | None = None                    # ("epochs" | "steps", N)
    by: str | None = None
    include_reg: bool = False

    def validate(self) -> None:
        """The request's values, checked where they enter (the API passes them unparsed)."""
        if self.per_concept is not None and self.total is not None:
            raise BalanceError("give at most one of --per-concept K and --total K")
        for name, value in (("--per-concept", self.per_concept), ("--total", self.total),
                            ("--min-repeats", self.min_repeats), ("--max-repeats", self.max_repeats)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise BalanceError(f"{name} must be a whole number, not {value!r}")
        for name, value in (("--per-concept", self.per_concept), ("--total", self.total)):
            if value is not None and value < 1:
                raise BalanceError(f"{name} must be at least 1")
        self.tolerance = number(self.tolerance, "--tolerance", low=Fraction(0), high=MAX_NUMBER,
                                low_ok=True)
        if self.min_repeats < 1:
            raise BalanceError("--min-repeats must be at least 1 (the trainer ignores subsets "
                               "with fewer than 1 repeat)")
        if self.max_repeats < self.min_repeats:
            raise BalanceError("--max-repeats must be at least --min-repeats")
        for name, weight in list(self.weights.items()):
            self.weights[name] = number(weight, f"--weight {name}=", low=MIN_WEIGHT, high=MAX_WEIGHT)
        if self.target is not None:
            kind, value = self.target
            if isinstance(value, bool) or not isinstance(value, int):
                raise BalanceError(f"the target must be a whole number, not {value!r}")
            if value < 1:
                raise BalanceError("the target must be at least 1")


# the numbers a user gives: plain decimals or fractions, short enough to read exactly
MAX_NUMBER = Fraction(10 ** 9)
MIN_WEIGHT, MAX_WEIGHT = Fraction(1, 10 ** 6), Fraction(10 ** 6)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?|[+-]?\d{1,30}/\d{1,30}")


def number(value, option: str, *, low: Fraction, high: Fraction, low_ok: bool = False) -> Fraction:
    """A weight or tolerance as an exact Fraction: a decimal ("0.1", "2", "1e-3"), a fraction
    ("1/3") or a number; refused (BalanceError) when it is not one, not finite, or outside
    [low, high] (low itself only with low_ok). The text is checked before Fraction reads it,
    so "1e999999999" cannot make it compute a billion-digit power of ten."""
    shown = f"{option}{value}" if option.endswith("=") else f"{option} {value}"
    if isinstance(value, bool):
        raise BalanceError(f"{shown}: not a number")
    if isinstance(value, Fraction):
        result = value
    elif isinstance(value, int):
        result = Fraction(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise BalanceError(f"{shown}: not a finite number")
        result = Fraction(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > 64 or not _NUMBER.fullmatch(text):
            raise BalanceError(f"{shown}: not a number (write it like 2, 0.5, 1e-3 or 1/3)")
        try:
            result = Fraction(text)
        except (ValueError, ZeroDivisionError):
            raise BalanceError(f"{shown}: not a number (write it like 2, 0.5, 1e-3 or 1/3)") from None
    else:
        raise BalanceError(f"{shown}: not a number")
    if result < low or (result == low and not low_ok) or result > high:
        what = "at least" if low_ok else "above"
        raise BalanceError(f"{shown}: must be {what} {_plain(low)} and at most {_plain(high)}")
    return result


def _plain(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):g}"


@dataclass
class ConceptRow:
    key: tuple                 # (dataset index, subset index)
    dataset: int
    name: str
    image_dir: str | None
    folder: str | None         # folder mode: the folder name now
    directory: str | None      # the folder found here
    is_reg: bool
    images: int
    repeats_source: str | None
    weight: Fraction = Fraction(1)
    balanced: bool = True      # reg concepts: only with include_reg
    repeats_before: int = 0
    repeats_after: int = 0
    share_goal: Fraction | None = None
    share_before: Fraction | None = None
    share_after: Fraction | None = None
    reg_used_before: tuple | None = None    # reg: (images used, image-steps used)
    reg_used_after: tuple | None = None

    @property
    def image_steps_before(self) -> int:
        return self.images * self.repeats_before

    @property
    def image_steps_after(self) -> int:
        return self.images * self.repeats_after

    @property
    def changed(self) -> bool:
        return self.repeats_after != self.repeats_before

    @property
    def error_after(self) -> Fraction | None:
        if self.share_goal is None or self.share_after is None:
            return None
        return (self.share_after - self.share_goal) / self.share_goal

    @property
    def error_before(self) -> Fraction | None:
        if self.share_goal is None or self.share_before is None:
            return None
        return (self.share_before - self.share_goal) / self.share_goal


@dataclass
class Group:
    kind: str                   # "train" | "reg"
    rows: list
    size: str                   # how the size aim was chosen, in words
    result: shares.Result | None = None


@dataclass
class BalancePlan:
    doc: Document
    settings: Settings
    request: Request
    plan: object                # engine Plan, gathered
    disk: images.Disk
    before: steps.StepReport
    after: steps.StepReport | None = None
    train: Group | None = None
    reg: Group | None = None
    left_alone: list = field(default_factory=list)   # dicts: dataset, name, label, state, reason
    renames: list = field(default_factory=list)      # renames_mod.Rename
    files: list = field(default_factory=list)        # renames_mod.FileChange
    solution: solve_mod.Solution | None = None
    gui_before: object = None
    gui_after: object = None
    notes: list = field(default_factory=list)
    refused: list = field(default_factory=list)      # why it cannot be applied (exit 2)
    order_sensitive: bool = False
    pending: list = field(default_factory=list)      # journals of interrupted applies

    @property
    def rows(self) -> list:
        return (self.train.rows if self.train else []) + (self.reg.rows if self.reg else [])

    @property
    def changes(self) -> dict:
        return {r.key: r.repeats_after for r in self.rows if r.changed}

    @property
    def changed(self) -> bool:
        return bool(self.renames or any(f.before != f.after for f in self.files))

    @property
    def journal_dirs(self) -> list:
        return _journal_dirs(self.plan)


# --------------------------------------------------------------------------------------------
# the plan

def make_plan(doc: Document, settings: Settings, request: Request, progress=None) -> BalancePlan:
    """Everything `balance` shows, without changing anything. Raises BalanceError (usage),
    PlanError (missing folders, exit 2) and TrainerRefusal (the trainer refuses the config as
    it is, exit 1)."""
    request.validate()
    if doc.kind == documents.OTHER:
        raise PlanError("not a kohya config (neither a kohya_ss GUI JSON, an sd-scripts "
                        "--config_file TOML nor a --dataset_config file)", doc.path)
    if request.target is not None and doc.kind == documents.DATASET:
        raise BalanceError(f"{doc.path} is a dataset config: it holds no epoch or step setting, "
                           f"so a target needs the args TOML or GUI JSON that points at it")
    plan = normalize.build_plan(doc, settings)
    disk = images.Disk(progress)
    gathered = facts_mod.gather(plan, disk)
    if gathered.problem is not None:
        raise gathered.problem
    missing = gathered.missing_error()
    if missing is not None:
        raise missing
    if gathered.refusals:
        raise gathered.refusals[0].error()
    before = steps.report_from(gathered, disk=disk)
    _check_mode(plan)
    bp = BalancePlan(doc=doc, settings=settings, request=request, plan=plan, disk=disk,
                     before=before, gui_before=plan.gui)
    bp.pending = renames_mod.pending_journals(bp.journal_dirs)
    train_rows, reg_rows = _concepts(bp, gathered)
    _weights(request, train_rows, reg_rows)
    bp.train = _balance_group("train", train_rows, request)
    if bp.train.result.choice is None:
        bp.refused.append(_unreachable(bp.train))
        _keep(train_rows)
    else:
        _assign(train_rows, bp.train.result.choice.repeats)
    if reg_rows:
        bp.reg = _reg_group(reg_rows, request, sum(r.image_steps_after for r in train_rows))
        if bp.reg.result is not None and bp.reg.result.choice is None:
            bp.refused.append(_unreachable(bp.reg))
    _edits(bp)
    _outcome(bp)
    if bp.renames or bp.files:
        tx = transaction(bp)
        bp.refused.extend(renames_mod.check(tx))
    if bp.pending:
        bp.refused.append("an earlier --apply was interrupted (" + ", ".join(bp.pending) + "): "
                          "finish it with --apply, or roll it back with --undo "
                          + os.path.dirname(bp.pending[0]))
    return bp


def _check_mode(plan) -> None:
    if plan.mode == "in_json":
        raise BalanceError(
            f"{plan.config.path}: the subset comes from in_json with dataset_repeats for the whole "
            f"metadata file: there is nothing to balance; use a dataset config with one subset per "
            f"concept")
    if plan.mode == "folders":
        for d in plan.datasets:
            if any(s.folder_name is None for s in d.subsets):
                raise BalanceError(
                    f"{plan.config.path}: {plan.script} reads its images from train_data_dir itself "
                    f"with 1 repeat (no N_name folders): there is nothing to balance")


def journal_folder(path: str, settings: Settings) -> str:
    """The folder whose balance journal `--undo PATH` means: PATH itself when it holds one; for
    a config, the folders an --apply of it writes its journal into (the folders of the renamed
    `N_name` folders, the dataset config's and the config's own folder); for another folder,
    its sub-folders. BalanceError naming where it looked when there is none, or listing them
    when there are several."""
    journal = renames_mod.JOURNAL_NAME
    if os.path.isdir(path):
        if os.path.isfile(renames_mod.journal_path(path)):
            return path
        try:
            entries = sorted(e.path for e in os.scandir(path) if e.is_dir(follow_symlinks=False))
        except OSError as exc:
            raise BalanceError(f"{path}: cannot list the folder: {exc.strerror or exc}") from None
        found = [d for d in entries if os.path.isfile(renames_mod.journal_path(d))]
        looked = f"{path} or its sub-folders"
    elif os.path.isfile(path):
        doc = documents.load(path)
        if doc.kind == documents.OTHER:
            raise BalanceError(f"{path}: not a kohya config and not a folder: give the folder of "
                               f"the balance journal ({journal}) or the config that was balanced")
        plan = normalize.build_plan(doc, settings)
        dirs = []
        for key in ("train_data_dir", "reg_data_dir"):
            text = plan.args.get(key)
            if isinstance(text, str) and text:
                folder = resolve_dir(text, plan, base=plan.config.directory)
                if folder is not None:
                    dirs.append(os.path.abspath(folder))
        dirs = list(dict.fromkeys(dirs + _journal_dirs(plan)))
        found = [d for d in dirs if os.path.isfile(renames_mod.journal_path(d))]
        looked = ", ".join(dirs)
    else:
        raise BalanceError(f"{path}: no such file or folder (give the folder of the balance "
                           f"journal, {journal}, or the config that was balanced)")
    # one apply writes a copy of its journal into every folder it renames in: one id
    ids = {}
    for folder in found:
        try:
            ids.setdefault(renames_mod.read_journal(folder).get("id"), folder)
        except renames_mod.JournalError:
            ids.setdefault(("unreadable", folder), folder)
    found = list(ids.values())
    if len(found) == 1:
        return found[0]
    if not found:
        raise BalanceError(f"no balance journal ({journal}) in {looked}: nothing to undo (an --apply "
                           f"writes it next to the folders it renames, or next to the file it "
                           f"rewrites, and --undo removes it)")
    raise BalanceError(f"{path}: several balance journals ({', '.join(found)}): give one of these "
                       f"folders to --undo")


def _journal_dirs(plan) -> list:
    dirs = [os.path.abspath(directory) for _, _, directory, _ in plan.root_dirs if directory]
    if plan.dataset_doc is not None:
        dirs.append(str(plan.dataset_doc.directory))
    dirs.append(str(plan.config.directory))
    return list(dict.fromkeys(dirs))


def _concepts(bp: BalancePlan, gathered) -> tuple[list, list]:
    train, reg = [], []
    for d in gathered.datasets:
        for sf in d.subsets:
            if not sf.used:
                bp.left_alone.append(_left_alone(sf))
                continue
            row = ConceptRow(key=(sf.dataset, sf.index), dataset=sf.dataset, name=sf.name,
                             image_dir=sf.plan.image_dir, folder=sf.plan.folder_name,
                             directory=os.path.abspath(sf.directory) if sf.directory else None,
                             is_reg=sf.is_reg, images=sf.image_count,
                             repeats_source=sf.plan.sources.get("num_repeats"),
                             repeats_before=sf.num_repeats, repeats_after=sf.num_repeats)
            if sf.is_reg:
                row.balanced = bp.request.include_reg
                row.reg_used_before = (sf.reg_used_images, sf.reg_image_steps)
                reg.append(row)
            else:
                train.append(row)
        for sf in d.skipped_folders:
            bp.left_alone.append(_left_alone(sf))
    return train, reg


def _left_alone(sf) -> dict:
    repeats = sf.plan.num_repeats
    return {"dataset": sf.dataset, "name": sf.name, "label": sf.label, "is_reg": sf.is_reg,
            "state": sf.state, "reason": sf.reason, "images": len(sf.images),
            "image_dir": sf.plan.image_dir, "folder": sf.plan.folder_name,
            "repeats": repeats if isinstance(repeats, int) and not isinstance(repeats, bool)
            and sf.state != facts_mod.NO_PREFIX else None}


def _weights(request: Request, train_rows: list, reg_rows: list) -> None:
    balanced = train_rows + [r for r in reg_rows if request.include_reg]
    known = {r.name for r in balanced}
    for name, weight in request.weights.items():
        matched = [r for r in balanced if r.name == name]
        if not matched:
            matched = [r for r in balanced if r.image_dir is not None
                       and os.path.basename(str(r.image_dir).rstrip("/\\")) == name]
            if len({r.name for r in matched}) > 1:
                matched = []
        if not matched:
            hint = ""
            if any(r.name == name for r in reg_rows) and not request.include_reg:
                hint = " (it is a reg concept: add --include-reg to balance reg concepts)"
            raise BalanceError(f"--weight {name}=...: no concept named {name!r}{hint}; the "
                               f"concepts are: {', '.join(repr(n) for n in sorted(known))}")
        for r in matched:
            r.weight = weight


def _size(request: Request, rows: list) -> tuple[str, Fraction | None]:
    if request.per_concept is not None:
        weights = sum(r.weight for r in rows)
        aim = request.per_concept * weights
        return (f"--per-concept {request.per_concept}: a weight-1 concept about "
                f"{request.per_concept} image-steps per epoch, all about {_num(aim)}"), aim
    if request.total is not None:
        return f"--total {request.total}: all train image-steps per epoch about {request.total}", \
            Fraction(request.total)
    current = sum(r.image_steps_before for r in rows)
    return f"about the current total, {current} image-steps per epoch", None


def _num(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):.1f}"


def _to_concepts(rows: list) -> list:
    return [shares.Concept(r.images, r.weight, r.repeats_before) for r in rows]


def _balance_group(kind: str, rows: list, request: Request) -> Group:
    if not rows:
        raise BalanceError(f"no {kind} concept has images the trainer uses: nothing to balance")
    size, aim = _size(request, rows)
    concepts = _to_concepts(rows)
    lo, hi = request.min_repeats, request.max_repeats
    with _bounded(kind, len(rows)):
        if aim is None:
            result = shares.settle(concepts, request.tolerance, lo, hi)
        else:
            result = shares.search(concepts, aim, request.tolerance, lo, hi)
    group = Group(kind, rows, size, result)
    weights = sum(r.weight for r in rows)
    for r in rows:
        r.share_goal = r.weight / weights
    return group


@contextmanager
def _bounded(kind: str, count: int):
    """The share search within its work limit; past it, a refusal that says what to change."""
    try:
        yield
    except shares.TooLarge as exc:
        raise BalanceError(
            f"the {kind} concepts cannot be balanced within the search's limit (about a second): "
            f"{count} concepts, totals up to {exc.largest} image-steps with repeats up to "
            f"{exc.hi}; lower --max-repeats, give a smaller --total or --per-concept, or balance "
            f"fewer concepts at a time; nothing was changed") from None


def _assign(rows: list, chosen) -> None:
    for r, value in zip(rows, chosen):
        r.repeats_after = value
    _shares(rows)


def _keep(rows: list) -> None:
    for r in rows:
        r.repeats_after = r.repeats_before
    _shares(rows)


def _shares(rows: list) -> None:
    before = sum(r.image_steps_before for r in rows)
    after = sum(r.image_steps_after for r in rows)
    for r in rows:
        r.share_before = Fraction(r.image_steps_before, before) if before else None
        r.share_after = Fraction(r.image_steps_after, after) if after else None


def _reg_group(rows: list, request: Request, train_total: int) -> Group:
    """Reg concepts: left alone, or (include_reg) balanced among themselves with their total
    about the new train total (the trainer uses reg image-steps up to the train total, so then
    every reg image is used and none repeated), or about their current total when that cannot
    be reached."""
    if not request.include_reg:
        group = Group("reg", rows, "not balanced (the trainer balances reg images against the "
                                   "train total; --include-reg balances them among themselves)")
        _keep(rows)
        for r in rows:
            r.share_goal = None
        return group
    weights = sum(r.weight for r in rows)
    for r in rows:
        r.share_goal = r.weight / weights
    concepts = _to_concepts(rows)
    lo, hi = request.min_repeats, request.max_repeats
    with _bounded("reg", len(rows)):
        result = shares.search(concepts, Fraction(train_total), request.tolerance, lo, hi)
    size = (f"about the new train total, {train_total} image-steps per epoch (then every reg "
            f"image is used and none repeated)")
    if result.choice is None:
        with _bounded("reg", len(rows)):
            result = shares.settle(concepts, request.tolerance, lo, hi)
        size = (f"about the current reg total, {sum(r.image_steps_before for r in rows)} "
                f"image-steps (the train total {train_total} cannot be reached within the bounds)")
    group = Group("reg", rows, size, result)
    if result.choice is None:
        _keep(rows)
    else:
        _assign(rows, result.choice.repeats)
    return group


def _unreachable(group: Group) -> str:
    result = group.result
    lo_text = f"{result.low}..{result.high}"
    smallest, largest = result.reachable
    if largest < result.low:
        why = (f"even with every concept at --max-repeats the total is {largest}, below "
               f"{lo_text}: raise --max-repeats or lower the size")
    elif smallest > result.high:
        why = (f"even with every concept at --min-repeats the total is {smallest}, above "
               f"{lo_text}: lower --min-repeats, raise the size or the --tolerance")
    else:
        near = " or ".join(str(t) for t in result.nearest)
        why = (f"no whole repeats give a total in {lo_text}"
               + (f" (the nearest reachable: {near})" if near else "") + ": raise the --tolerance")
    return f"the {group.kind} concepts cannot be balanced: {why}"


# --------------------------------------------------------------------------------------------
# edits

def _edits(bp: BalancePlan) -> None:
    changes = bp.changes
    if not changes:
        return
    rows = {r.key: r for r in bp.rows}
    if bp.plan.mode == "folders":
        for key, value in changes.items():
            row = rows[key]
            source = row.directory
            target = os.path.join(os.path.dirname(source),
                                  repeats.folder_name_with_repeats(row.folder, value))
            bp.renames.append(renames_mod.Rename(source, target))
        return
    dataset_doc = bp.plan.dataset_doc
    edits = []
    for key, value in sorted(changes.items()):
        splan = bp.plan.datasets[key[0]].subsets[key[1]]
        table = splan.origin.keypath
        subset = dataset_doc.data
        for part in table:
            subset = subset[part]
        after = table + ("image_dir",) if "image_dir" in subset else None
        edits.append(Edit(table + ("num_repeats",), value, "balance", after=after))
    try:
        text = rewrite.apply_edits(dataset_doc, edits)
    except rewrite.RewriteError as exc:
        bp.refused.append(f"{dataset_doc.path}: cannot set num_repeats safely: {exc}")
        return
    bp.files.append(renames_mod.FileChange(os.path.abspath(dataset_doc.path), dataset_doc.text, text))


def transaction(bp: BalancePlan) -> renames_mod.Transaction:
    return renames_mod.Transaction(renames=list(bp.renames), files=list(bp.files),
                                   config=bp.doc.path, promised=promise(bp.after, bp.gui_after))


# --------------------------------------------------------------------------------------------
# the outcome, from the engine

def _outcome(bp: BalancePlan) -> None:
    plan = bp.plan
    changes = bp.changes
    with ExitStack() as stack:
        try:
            preview = _preview(bp, stack)
        except renames_mod.PreviewError as exc:
            if bp.request.target is None and bp.doc.kind != documents.GUI:
                preview = None
            else:
                raise BalanceError(f"cannot show the outcome before renaming: {exc}") from None
        doc_after = bp.doc
        if bp.request.target is not None:
            doc_after = _solve(bp, preview or bp.settings)
        launch = normalize.build_plan(doc_after, preview or bp.settings) \
            if (preview is not None or doc_after is not bp.doc) else None
    after_plan = repeats.with_repeats(plan, changes, launch=launch)
    bp.after = repeats.report(after_plan, bp.disk)
    bp.gui_after = after_plan.gui
    _promise_check(bp)
    if bp.renames and plan.mode == "folders":
        variant = repeats.report(repeats.with_repeats(plan, changes, launch=launch, order="sorted"),
                                 bp.disk)
        if _reg_order_matters(bp):
            bp.order_sensitive = True
            bp.notes.append(
                "the reg balancing depends on the order the file system lists the renamed reg "
                "folders (the trainer stops adding reg images part-way through them, and they hold "
                "images of different buckets); the numbers after --apply are read back from the disk")
            if bp.request.target is not None:
                bp.refused.append(
                    "the steps after renaming the reg folders depend on the order the file system "
                    "will list them, so no target can be promised: run --apply without the target, "
                    "then `kohya-tune solve` for it (or leave the reg folders alone: no --include-reg)")
        elif _signature(variant) != _signature(bp.after):
            bp.order_sensitive = True
            bp.notes.append(
                "the reg balancing depends on the order the file system lists the renamed folders "
                f"(in alphabetical order: {variant.num_batches} batches, {variant.num_train_epochs} "
                f"epochs); the numbers after --apply are read back from the disk")
    if bp.request.target is not None and bp.solution is not None:
        kind, target = bp.request.target
        got = bp.after.num_train_epochs if kind == "epochs" else bp.after.max_train_steps
        if got != target and not bp.order_sensitive:
            raise BalanceError(f"internal check failed: the plan gives {got} {kind}, not the "
                               f"target {target}", exit_code=3)
    for group in (bp.train, bp.reg):
        if group is not None:
            _reg_use(bp, group)


def _preview(bp: BalancePlan, stack: ExitStack) -> Settings | None:
    """Settings under which the config reads as it will after the edits (None: no preview is
    needed): renamed folders through a folder of links, a rewritten dataset config through a
    copy next to it, each mapped with --path-map ahead of the user's own mappings."""
    extra: list = []
    if bp.request.target is None and bp.plan.gui is None:
        return None   # only solve and the GUI's own count read the config's folders again
    if bp.renames:
        by_root: dict = {}
        for r in bp.renames:
            by_root.setdefault(r.parent, {})[os.path.basename(r.source)] = os.path.basename(r.target)
        for key, text, directory, is_reg in bp.plan.root_dirs:
            if directory and os.path.abspath(directory) in by_root:
                shadow = stack.enter_context(renames_mod.preview_tree(
                    directory, by_root[os.path.abspath(directory)]))
                extra.append((text, shadow))
    elif bp.files and bp.request.target is not None:
        text = bp.plan.args.get("dataset_config")
        if text and bp.plan.dataset_doc is not None and bp.plan.dataset_doc is not bp.doc:
            copy_path = stack.enter_context(renames_mod.preview_file(bp.files[0].path, bp.files[0].after))
            extra.append((text, copy_path))
    if not extra:
        return None
    return Settings(sd_scripts=bp.settings.sd_scripts, gui_version=bp.settings.gui_version,
                    script=bp.settings.script, num_processes=bp.settings.num_processes,
                    path_map=extra + list(bp.settings.path_map))


def _solve(bp: BalancePlan, settings: Settings) -> Document:
    """The step settings for the target, solved on the config as it will be; returns the config
    with them (a new Document) and records the solution and the file change."""
    kind, target = bp.request.target
    try:
        solver = solve_mod.Solver(bp.doc, settings)
        solution = solver.solve(kind, target, bp.request.by)
    except solve_mod.SolveError as exc:
        nearest = "".join(f"; nearest: {v} -> {o.describe()}" for v, o in exc.nearest)
        raise BalanceError(f"{bp.doc.path}: {exc.message}{nearest}",
                           exit_code=2 if exc.usage else 1) from None
    bp.solution = solution
    if not solution.edits:
        return bp.doc
    try:
        text = rewrite.apply_edits(bp.doc, solution.edits)
    except rewrite.RewriteError as exc:
        raise BalanceError(f"{bp.doc.path}: cannot rewrite the step settings safely: {exc}") from None
    bp.files.append(renames_mod.FileChange(os.path.abspath(bp.doc.path), bp.doc.text, text))
    return reparse(bp.doc, text)


def reparse(doc: Document, text: str) -> Document:
    """The config as `steps` will read it once `text` is written (kind and GUI version guessed
    again, as for the file)."""
    return documents.from_text(doc.path, text)


def _promise_check(bp: BalancePlan) -> None:
    """The engine's outcome must hold the image-steps the search promised, subset by subset."""
    for row in bp.rows:
        d, s = row.key
        sub = bp.after.datasets[d].subsets[s]
        if sub.num_repeats != row.repeats_after or sub.image_count != row.images:
            raise BalanceError(f"internal check failed: {row.name}: the engine gives "
                               f"{sub.image_count} x {sub.num_repeats}, the plan "
                               f"{row.images} x {row.repeats_after}", exit_code=3)
        if row.is_reg:
            row.reg_used_after = (sub.reg_used_images, sub.reg_image_steps)
    promised = sum(r.image_steps_after for r in bp.rows if not r.is_reg)
    if bp.after.num_train_images != promised:
        raise BalanceError(f"internal check failed: the engine gives {bp.after.num_train_images} "
                           f"train image-steps, the plan {promised}", exit_code=3)


def _reg_use(bp: BalancePlan, group: Group) -> None:
    """Say when the new train total leaves most reg images unused or repeats them."""
    if group.kind != "reg":
        return
    for d_before, d_after in zip(bp.before.datasets, bp.after.datasets):
        R, T, used = d_after.num_reg_images, d_after.num_train_images, d_after.num_reg_images_used
        if not R:
            continue
        images_total = sum(s.image_count for s in d_after.subsets if s.is_reg and s.used)
        images_used = sum(s.reg_used_images for s in d_after.subsets if s.is_reg and s.used)
        label = f"dataset {d_after.index}"
        if R > T and images_used * 2 < images_total:
            bp.notes.append(f"{label}: the train total {T} is below the reg image-steps {R}, so "
                            f"only {images_used} of {images_total} reg images are used")
        elif R < T:
            bp.notes.append(f"{label}: the reg image-steps {R} are below the train total {T}, so "
                            f"the trainer repeats reg images up to {used} image-steps")


def _reg_order_matters(bp: BalancePlan) -> bool:
    """sd-scripts' reg balancing (DreamBoothDataset.__init__, train_util.py v0.10.1 L2169-2182, v0.6.5 L1167-1180,
    the same loop since v0.4): the reg images in subset order, each registered with its
    repeats until the train total is reached, then one more repeat each, in order, until it
    is. Which images it ends on depends on the order of the reg subsets (the order the file
    system lists the folders) unless the loop stops at the end of a full pass, or every reg
    image has the same size. True when renamed reg folders make that order unknown."""
    renamed = {os.path.abspath(r.source) for r in bp.renames}
    rows = {r.key: r for r in bp.rows}
    for d in bp.after.datasets:
        regs = [s for s in d.subsets if s.is_reg and s.used]
        if len(regs) < 2 or not any(rows.get((s.dataset, s.index)) is not None
                                    and rows[(s.dataset, s.index)].directory in renamed for s in regs):
            continue
        T = d.num_train_images
        R = sum(s.image_count * s.num_repeats for s in regs)
        N = sum(s.image_count for s in regs)
        if not N or (T >= R and (T - R) % N == 0):
            continue
        sizes = {tuple(size) for s in regs for size in s.sizes if size is not None}
        if len(sizes) > 1 or any(size is None for s in regs for size in s.sizes):
            return True
    return False


def _signature(report: steps.StepReport) -> tuple:
    """The numbers a plan promises (what the trainer will do), without paths."""
    datasets = []
    for d in report.datasets:
        # keyed by name: the file system may list renamed folders in another order
        subsets = tuple(sorted((s.is_reg, str(s.plan.folder_name or s.plan.image_dir), s.num_repeats,
                                s.image_count, s.image_steps, s.reg_used_images, s.state)
                               for s in d.subsets))
        datasets.append((d.num_train_images, d.num_reg_images, d.num_reg_images_used,
                         d.num_batches, tuple(sorted(d.buckets.items())), subsets))
    return (report.num_train_images, report.num_reg_images, report.num_reg_images_used,
            report.num_batches, report.num_batches_per_epoch, report.num_update_steps_per_epoch,
            report.max_train_steps, report.num_train_epochs, tuple(datasets))


def _gui_signature(gui) -> tuple | None:
    if gui is None:
        return None
    return (gui.total_steps, gui.reg_factor, gui.max_train_steps, gui.max_train_epochs,
            gui.lr_warmup_steps, gui.refused)


def promise(report: steps.StepReport | None, gui) -> dict:
    if report is None:
        return {}
    return {"num_train_images": report.num_train_images,
            "num_reg_images_used": report.num_reg_images_used,
            "num_batches": report.num_batches,
            "num_update_steps_per_epoch": report.num_update_steps_per_epoch,
            "max_train_steps": report.max_train_steps,
            "num_train_epochs": report.num_train_epochs,
            "gui_max_train_steps": gui.max_train_steps if gui is not None else None}


# --------------------------------------------------------------------------------------------
# apply

@dataclass
class Applied:
    plan: BalancePlan
    report: steps.StepReport            # read back from the disk
    gui: object                         # the GUI's numbers read back
    journal: dict | None
    finished: list = field(default_factory=list)   # interrupted applies finished first
    notes: list = field(default_factory=list)


def finish_pending(bp: BalancePlan) -> list:
    """Complete the interrupted applies found for this config (their journals)."""
    out = []
    for path in bp.pending:
        try:
            out.append(renames_mod.finish(os.path.dirname(path)))
        except renames_mod.JournalError as exc:
            raise BalanceError(str(exc)) from None
    return out


def check_finished(bp: BalancePlan, finished: list) -> None:
    """After finishing interrupted applies, the config (planned again as `bp`) must give what
    their journals promised; else undo them and stop (exit 3)."""
    got = promise(bp.before, bp.gui_before)
    for outcome in finished:
        if outcome.promised and outcome.promised != got:
            try:
                renames_mod.undo(os.path.dirname(outcome.journal))
            except renames_mod.JournalError:
                pass
            raise BalanceError(f"internal check failed: the finished apply gives {got}, its journal "
                               f"promised {outcome.promised}; it was undone", exit_code=3)


def apply(bp: BalancePlan) -> Applied:
    """Make the plan's edits (journal first), read the result back through the engine, and
    undo everything (exit 3) when it does not give the promised numbers."""
    if bp.refused:
        raise BalanceError("nothing was changed: " + "; ".join(bp.refused))
    if not bp.changed:
        return Applied(bp, bp.before, bp.gui_before, None)
    tx = transaction(bp)
    problems = renames_mod.check(tx)
    if problems:
        raise BalanceError("nothing was changed: " + "; ".join(problems))
    try:
        journal = renames_mod.execute(tx)
    except (OSError, rewrite.RewriteError) as exc:
        _roll_back(tx)
        raise BalanceError(f"the apply stopped ({exc}); everything done so far was undone", 2) from None
    try:
        report, gui = read_back(bp)
    except (PlanError, TrainerRefusal, documents.LoadError) as exc:
        _roll_back(tx)
        raise BalanceError(f"internal check failed: the result cannot be read back ({exc}); "
                           f"everything was undone", exit_code=3) from None
    applied = Applied(bp, report, gui, journal)
    if _signature(report) != _signature(bp.after) or _gui_signature(gui) != _gui_signature(bp.gui_after):
        if bp.order_sensitive and _train_signature(report) == _train_signature(bp.after) \
                and bp.request.target is None:
            applied.notes.append("the file system lists the renamed folders in another order than "
                                 "assumed: the reg balancing (so the batches) is as read back here")
        else:
            _roll_back(tx)
            raise BalanceError(
                "internal check failed: the result read back from the disk gives "
                f"{report.num_batches} batches, {report.max_train_steps} steps, "
                f"{report.num_train_epochs} epochs, not the promised {bp.after.num_batches}, "
                f"{bp.after.max_train_steps}, {bp.after.num_train_epochs}; everything was undone",
                exit_code=3)
    return applied


def _train_signature(report) -> tuple:
    return (report.num_train_images, tuple(
        tuple(sorted((str(s.plan.folder_name or s.plan.image_dir), s.num_repeats, s.image_count)
                     for s in d.subsets if not s.is_reg))
        for d in report.datasets))


def _roll_back(tx: renames_mod.Transaction) -> None:
    for folder in tx.journal_dirs:
        if os.path.isfile(renames_mod.journal_path(folder)):
            try:
                renames_mod.undo(folder)
            except renames_mod.JournalError:
                pass
            return


def read_back(bp: BalancePlan):
    """The trainer's numbers from the files and folders as they are now (image sizes carried
    over the renames, everything else read again)."""
    doc = documents.load(bp.doc.path)
    plan = normalize.build_plan(doc, bp.settings)
    disk = bp.disk.after_renames([(r.source, r.target) for r in bp.renames])
    report = steps.report_from(facts_mod.gather(plan, disk), check_order=False)
    return report, plan.gui


__all__ = ["Applied", "BalanceError", "BalancePlan", "ConceptRow", "Group", "Request", "apply",
           "check_finished", "finish_pending", "make_plan", "read_back"]
