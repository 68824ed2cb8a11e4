"""The rule framework. A rule is a small class in a module of this package:

    class MaxEpochsOverride(Rule):
        '''Docs shown by `kohya-tune rule KT201`, with a bad and a fixed example.'''
        code = "KT201"
        name = "max-epochs-override"
        severity = "warning"
        summary = "max_train_epochs silently overrides max_train_steps"
        kinds = {GUI, ARGS}
        needs = "steps"          # "document" | "plan" | "steps"

        def check(self, ctx):
            yield ctx.diagnostic(self, "message", keypath=("max_train_steps",))

The linter core discovers every Rule subclass in kohya_tune.rules.*; it knows none by name.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Iterable

from kohya_tune.check.diagnostics import Diagnostic, Fix


class Rule:
    code: str = ""
    name: str = ""
    severity: str = "warning"
    summary: str = ""
    kinds: frozenset = frozenset({"gui", "args", "dataset"})
    needs: str = "document"

    def check(self, ctx: "Context") -> Iterable[Diagnostic]:  # pragma: no cover - interface
        raise NotImplementedError

    @classmethod
    def docs(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or cls.summary)


@dataclass
class Context:
    """What a rule sees. `plan`, `facts` and `report` are computed lazily by the linter, once
    per file: `facts` exists whenever the plan does (even when the trainer would refuse), `report`
    (the trainer's numbers) only when the trainer would run. They are None when they cannot be
    built (then rules needing them do not run)."""
    doc: object                        # documents.Document
    settings: object                   # plan.Settings
    linter: object = None              # the Linter, for lazy plan/report
    extra: dict = field(default_factory=dict)

    @property
    def plan(self):
        return self.linter.plan_for(self) if self.linter else None

    @property
    def facts(self):
        """The engine's facts (every subset, image, caption, refusal), or None without a plan."""
        return self.linter.facts_for(self) if self.linter else None

    @property
    def report(self):
        return self.linter.report_for(self) if self.linter else None

    def diagnostic(self, rule: Rule, message: str, *, keypath: tuple = (), doc=None,
                   severity: str | None = None, fix: Fix | None = None, at_value: bool = False,
                   line: int | None = None, column: int | None = None) -> Diagnostic:
        doc = doc or self.doc
        end_line = end_column = None
        if line is None:
            if at_value:
                line, column = doc.value_position(keypath)
            else:
                line, column = doc.position(keypath)
            span = doc.span(tuple(keypath)) if keypath else None
            if span is not None:
                # the whole value (at_value) or the whole `key = value` entry
                end_line, end_column = doc.lines.line_col(span.value_end)
        return Diagnostic(code=rule.code, severity=severity or rule.severity, message=message,
                          path=doc.path, line=line, column=column or 1, keypath=tuple(keypath),
                          rule=rule.name, fix=fix, help=rule.summary, end_line=end_line,
                          end_column=end_column)

    def origin_diagnostic(self, rule: Rule, message: str, origin, *, severity=None, fix=None):
        """A diagnostic at a plan Origin (which may be in a dataset config the file points at)."""
        if origin is None:
            return self.diagnostic(rule, message, severity=severity, fix=fix)
        return self.diagnostic(rule, message, keypath=origin.keypath, doc=origin.doc,
                               severity=severity, fix=fix)
