"""The lint core: load each file, run the selected rules, collect diagnostics.

It knows no rule by name: rules are discovered in kohya_tune.rules (see rules/base.py).
"""
from __future__ import annotations

import fnmatch
import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from kohya_tune.load import documents
from kohya_tune.check.diagnostics import Diagnostic
from kohya_tune.engine.plan import PlanError, Settings, TrainerRefusal
from kohya_tune.check.rules.base import Context, Rule

IGNORE_COMMENT = re.compile(r"kohya-tune:\s*ignore(?:\[([A-Z0-9, ]+)\])?")


@lru_cache(maxsize=1)
def all_rules() -> tuple:
    from kohya_tune.check import rules as package

    found: dict[str, type] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name == "base":
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Rule) and obj is not Rule and obj.code:
                if obj.code in found and found[obj.code] is not obj:
                    raise RuntimeError(f"two rules share the code {obj.code}")
                found[obj.code] = obj
    return tuple(found[c]() for c in sorted(found))


def rule_by_code(code: str):
    for rule in all_rules():
        if rule.code == code.upper() or rule.name == code:
            return rule
    return None


def code_matches(code: str, patterns) -> bool:
    return any(code == p or (p and code.startswith(p)) or p == "ALL" for p in patterns)


@dataclass
class FileResult:
    path: str
    kind: str | None
    diagnostics: list = field(default_factory=list)
    skipped: str | None = None     # why the file was not linted (not a kohya config)
    fatal: bool = False            # unreadable or unparsable (exit 2)
    infos: list = field(default_factory=list)  # one-line notes (e.g. the plan could not be built)
    preset: bool = False           # a GUI preset: no image folder, so no dataset rules
    dataset_missing: str | None = None  # why the dataset rules did not run (folders not here)
    doc: object = None


class Linter:
    def __init__(self, settings: Settings, select=None, ignore=None, per_file_ignores=None,
                 root: str | None = None):
        self.settings = settings
        self.select = [s.upper() for s in (select or [])]
        self.ignore = [s.upper() for s in (ignore or [])]
        self.per_file_ignores = per_file_ignores or {}
        # per-file-ignores patterns are relative to the folder of the settings file (ruff)
        self.root = root
        self._plans: dict = {}
        self._facts: dict = {}
        self._disks: dict = {}
        self._reports: dict = {}

    # -- lazy plan and step report per document
    def plan_for(self, ctx: Context):
        key = id(ctx.doc)
        if key not in self._plans:
            from kohya_tune.engine import normalize

            try:
                plan = normalize.build_plan(ctx.doc, self.settings)
            except (PlanError, TrainerRefusal) as exc:
                ctx.extra.setdefault("plan_problems", []).append(exc)
                plan = None
            except Exception as exc:  # noqa: BLE001 - version errors and the like
                ctx.extra.setdefault("plan_problems", []).append(exc)
                plan = None
            self._plans[key] = plan
        return self._plans[key]

    def facts_for(self, ctx: Context):
        """The one scan of the dataset (engine facts), shared by every rule of the file."""
        key = id(ctx.doc)
        if key not in self._facts:
            from kohya_tune.engine import facts, images

            plan = self.plan_for(ctx)
            found = None
            if plan is not None:
                self._disks[key] = images.Disk()
                found = facts.gather(plan, self._disks[key])
                if found.refused is not None:
                    ctx.extra["refusal"] = found.refused.error()
            self._facts[key] = found
        return self._facts[key]

    def report_for(self, ctx: Context):
        key = id(ctx.doc)
        if key not in self._reports:
            from kohya_tune.engine import steps

            found = self.facts_for(ctx)
            report = None
            if found is not None:
                try:
                    report = steps.report_from(found, disk=self._disks.get(key))
                except PlanError as exc:
                    ctx.extra["steps_skipped"] = str(exc)
                except TrainerRefusal as exc:
                    ctx.extra["refusal"] = exc
            self._reports[key] = report
        return self._reports[key]

    def rules_for(self, path: str) -> list:
        ignored = list(self.ignore)
        names = [path, Path(path).name]
        if self.root is not None:
            import os

            names.append(os.path.relpath(os.path.abspath(path), self.root).replace(os.sep, "/"))
        for pattern, codes in self.per_file_ignores.items():
            if any(fnmatch.fnmatch(name, pattern) for name in names):
                ignored += [c.upper() for c in codes]
        out = []
        for rule in all_rules():
            if self.select and not code_matches(rule.code, self.select):
                continue
            if code_matches(rule.code, ignored):
                continue
            out.append(rule)
        return out

    def lint_file(self, path: str, text: str | None = None) -> FileResult:
        """Lint a file, or `text` as if it were that file (standard input)."""
        try:
            doc = documents.load(path) if text is None else documents.from_text(path, text)
        except documents.LoadError as exc:
            rule = rule_by_code("KT001")
            return FileResult(path, None, [Diagnostic(code=rule.code, severity=rule.severity,
                                                      message=exc.message, path=path,
                                                      line=exc.line or 1, column=exc.column or 1,
                                                      rule=rule.name, help=rule.summary)],
                              fatal=True)
        if doc.kind == documents.OTHER:
            return FileResult(path, doc.kind, skipped=doc.other_reason, doc=doc)
        result = FileResult(path, doc.kind, doc=doc)
        ctx = Context(doc=doc, settings=self.settings, linter=self)
        for rule in self.rules_for(path):
            if doc.kind not in rule.kinds:
                continue
            if rule.needs in ("plan", "steps"):
                if self.plan_for(ctx) is None:
                    continue
            if rule.needs == "steps" and self.report_for(ctx) is None:
                continue
            try:
                found = list(rule.check(ctx) or ())
            except (ArithmeticError, ValueError) as exc:
                # arithmetic on a number KT109 reports (Infinity, NaN, beyond the float range,
                # a zero divisor): the rule has nothing to say about such a file; anywhere
                # else the exception is a bug and goes up
                if not self._has_unusable_numbers(ctx):
                    raise
                result.infos.append(f"{path}: {rule.code} skipped: it cannot compute with the "
                                    f"numbers KT109 reports ({type(exc).__name__}: {exc})")
                continue
            result.diagnostics.extend(found)
        for problem in ctx.extra.get("plan_problems", []):
            result.infos.append(f"{path}: rules that need the training plan were skipped: {problem}")
        result.preset = bool(ctx.extra.get("preset"))
        if ctx.extra.get("steps_skipped") and not result.preset:
            result.dataset_missing = ctx.extra["steps_skipped"]
        unique: dict = {}
        for d in result.diagnostics:
            unique.setdefault((d.path, d.line, d.column, d.code, d.message), d)
        result.diagnostics = self._apply_ignore_comments(list(unique.values()), doc)
        result.diagnostics.sort(key=lambda d: d.sort_key)
        return result

    def _has_unusable_numbers(self, ctx) -> bool:
        from kohya_tune.engine import numbers

        docs = [ctx.doc]
        plan = self._plans.get(id(ctx.doc))
        if plan is not None and plan.dataset_doc is not None:
            docs.append(plan.dataset_doc)
        return any(numbers.unusable(d.data) for d in docs)

    def _apply_ignore_comments(self, diagnostics: list, doc) -> list:
        out = []
        cache: dict = {doc.path: doc if doc.format == "toml" else None}
        for d in diagnostics:
            if d.path not in cache:
                try:
                    cache[d.path] = documents.load(d.path) if d.path.endswith(".toml") else None
                except documents.LoadError:
                    cache[d.path] = None
            doc = cache[d.path]
            if doc is not None:
                comment = doc.comment_on_line(d.line)
                m = IGNORE_COMMENT.search(comment or "")
                if m and (m.group(1) is None or d.code in {c.strip() for c in m.group(1).split(",")}):
                    continue
            out.append(d)
        return out


def code_matches_any_rule(code: str) -> bool:
    code = code.upper()
    return code == "ALL" or any(r.code.startswith(code) for r in all_rules())


def collect_fixes(results) -> dict:
    """path -> edits of every safe fix, the first fix winning when two touch the same key."""
    return {path: [e for group in groups for e in group]
            for path, groups in collect_fix_groups(results).items()}


def collect_fix_groups(results) -> dict:
    """path -> the edits of each safe fix as one group (a fix is applied whole or not at all),
    the first fix winning when two touch the same key."""
    out: dict = {}
    seen: set = set()
    for result in results:
        for d in result.diagnostics:
            if d.fix is None or not d.fix.safe:
                continue
            path = d.fix.path or d.path
            group = []
            for edit in d.fix.edits:
                if (path, tuple(edit.keypath)) in seen:
                    continue
                seen.add((path, tuple(edit.keypath)))
                group.append(edit)
            if group:
                out.setdefault(path, []).append(group)
    return out


def keeping_the_gui_version(doc, groups, apply, settings) -> tuple[list, int]:
    """The fix groups that keep a GUI JSON dated to the GUI version its analysis assumed, and
    how many were left out. Without --gui-version the version is the newest the file's keys fit
    (gui_keys.json fingerprints); a fix that modernises a key or a value type can date the file
    to a newer GUI, whose GUI and sd-scripts behave differently (other findings, and a file an
    older GUI reads otherwise). `apply(edits)` gives the fixed text."""
    if doc.kind != documents.GUI or getattr(settings, "gui_version", None) or not doc.gui_versions:
        return [e for g in groups for e in g], 0
    assumed = doc.gui_versions[1]
    kept: list = []
    left = 0
    for group in groups:
        trial = kept + group
        try:
            fixed = documents.from_text(doc.path, apply(trial))
        except documents.LoadError:
            left += 1
            continue
        if fixed.gui_versions and fixed.gui_versions[1] == assumed:
            kept = trial
        else:
            left += 1
    return kept, left
