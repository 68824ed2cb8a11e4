"""KT108-KT109: what Python's json and the TOML readers let through that the GUI or the trainer
cannot use: duplicate JSON keys and numbers nobody can compute with."""
from __future__ import annotations

from kohya_tune.check.rules.base import Rule
from kohya_tune.engine import numbers
from kohya_tune.load import documents


class DuplicateJsonKey(Rule):
    """JSON key given twice.

    JSON allows an object to repeat a key; Python's `json`, which the kohya_ss GUI loads configs
    with, silently keeps the last value. `kohya-tune solve` edits that last one too.

    Bad:

        "epoch": 4,
        "max_train_epochs": 10,
        "max_train_steps": 0,
        "epoch": 10               # the GUI trains with this one

    Fixed (one epoch key, the value the GUI used):

        "max_train_epochs": 10,
        "max_train_steps": 0,
        "epoch": 10
    """
    code = "KT108"
    name = "duplicate-json-key"
    severity = "warning"
    summary = "JSON key given twice: Python's json (the GUI) keeps the last value"
    kinds = frozenset({"gui", "dataset"})

    def check(self, ctx):
        doc = ctx.doc
        if doc.format != "json":
            return
        for dup in doc.duplicates:
            first_line, first_col = doc.lines.line_col(dup.first)
            line, col = doc.lines.line_col(dup.later)
            key = dup.keypath[-1]
            yield ctx.diagnostic(self, f"{key!r} is given twice (first at line {first_line}, column "
                                       f"{first_col}): Python's json keeps this later value and "
                                       f"ignores the first", keypath=dup.keypath, line=line, column=col)


class UnusableNumber(Rule):
    """Number the GUI or the trainer cannot compute with.

    Python's `json` reads `Infinity`, `-Infinity`, `NaN` and numbers beyond the float range such
    as `1e309` (as infinity) although JSON has no such numbers; TOML has `inf` and `nan`. In the
    step arithmetic they raise: `int()` of an infinity raises OverflowError, `math.ceil()` of
    NaN raises ValueError, an integer beyond the float range cannot be divided in floating
    point. A batch size of 0 makes the trainer's bucket count divide by zero (sd-scripts
    library/train_util.py L1079), a train_batch_size or gradient_accumulation_steps of 0 the
    GUI's step formula.

    Bad (GUI JSON; a dataset config's `batch_size = 0` is reported the same way):

        "epoch": Infinity,

    Fixed:

        "epoch": 10,
    """
    code = "KT109"
    name = "unusable-number"
    severity = "error"
    summary = "Infinity, NaN, a number beyond the float range or a zero divisor where the GUI or trainer computes"

    def check(self, ctx):
        doc = ctx.doc
        gui = doc.kind == documents.GUI
        flat_args = doc.kind == documents.ARGS
        for keypath, key, value in numbers.walk_numbers(doc.data):
            if isinstance(value, bool):
                continue
            in_section = len(keypath) == 1 or (flat_args and len(keypath) == 2)
            severity = None
            if gui and len(keypath) == 1:
                problem, severity = self.gui_consequence(ctx, key, value)
            elif flat_args and in_section or doc.kind == documents.DATASET:
                problem = numbers.trainer_problem(key, value)
            else:
                problem = None
            if problem is None and numbers.literal(value) in ("NaN", "Infinity", "-Infinity"):
                reader = "Python's json" if doc.format == "json" else "the TOML reader"
                problem = (f"{key or 'value'} = {numbers.literal(value)}: {reader} accepts it as a "
                           f"float, but it is not a finite number")
            if problem:
                yield ctx.diagnostic(self, problem, keypath=keypath, at_value=True, severity=severity)

    @staticmethod
    def gui_consequence(ctx, key: str, value):
        """What this GUI version does with the value, from the engine's own run of the GUI: it
        stops (the refusal names the key), it replaces the value on load (v24+ int()/float()
        with a fallback: a warning, the value never reaches the trainer), or it computes on."""
        problem = numbers.gui_problem(key, value)
        if problem is None:
            return None, None
        from kohya_tune.engine.plan import TrainerRefusal

        plan = ctx.plan
        for exc in ctx.extra.get("plan_problems", []):
            origin = getattr(exc, "origin", None)
            if isinstance(exc, TrainerRefusal) and origin is not None and tuple(origin.keypath) == (key,):
                return f"{key} = {numbers.literal(value)}: {exc.message}", None
        if plan is not None and plan.gui is not None:
            for migration in plan.gui.migrations:
                if migration.startswith(f"{key} "):
                    return (f"{key} = {numbers.literal(value)}: the GUI {plan.gui.version} replaces "
                            f"it when it loads the config ({migration}): the trainer never sees "
                            f"the value written here", "warning")
        return problem, None
