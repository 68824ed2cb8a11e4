"""Diagnostics: what a check found, where, and how to fix it."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

SEVERITIES = ("error", "warning", "info")
# where a rule is documented: a command that always exists, not a web page that may not
DOCS = "kohya-tune rule {code}"
# a message longer than this is shown as a short message and a help line (its last clause)
LONG_MESSAGE = 100


def lit(value) -> str:
    """A config value as the file would write it: a JSON literal (`null`, `true`, `"yes"`,
    `[1, 2]`), which is also the TOML spelling of strings, numbers, booleans and arrays. Messages
    use this, never Python's repr (`None`, `True`, `'yes'`)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, tuple):
        value = list(value)
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


@dataclass(frozen=True)
class Edit:
    """One change to a config, applied byte-preservingly by kohya_tune.edit.rewrite."""
    keypath: tuple              # where the value lives (or should be added)
    value: object               # new value (int, float, bool, str, list); None removes the key
    reason: str = ""
    after: tuple | None = None  # for an added key: put it next to this existing key if possible


@dataclass
class Fix:
    """A safe, byte-preserving fix: edits for kohya_tune.rewrite, on `path`."""
    description: str
    edits: list                    # list[Edit]
    path: str | None = None        # the file the edits apply to (default: the diagnostic's file)
    safe: bool = True


@dataclass
class Diagnostic:
    code: str
    severity: str
    message: str
    path: str
    line: int = 1
    column: int = 1
    keypath: tuple = ()
    rule: str | None = None        # the rule's name
    fix: Fix | None = None
    help: str | None = None        # the rule's one-line summary
    end_line: int | None = None
    end_column: int | None = None
    related: list = field(default_factory=list)  # [(path, line, col, text)]

    def _split(self) -> tuple:
        text = self.message
        if len(text) <= LONG_MESSAGE:
            return text, None
        cut = text.rfind("; ")
        if cut >= 30:
            return text[:cut], text[cut + 2:]
        cut = text.find(": ", 30)
        if 0 < cut < len(text) - 10:
            return text[:cut], text[cut + 2:]
        return text, None

    @property
    def short(self) -> str:
        """The message without its last clause when it is long (that clause is `advice`)."""
        return self._split()[0]

    @property
    def advice(self) -> str | None:
        return self._split()[1]

    @property
    def sort_key(self):
        return (self.path, self.line, self.column, self.code)

    def key_path_text(self) -> str:
        out = ""
        for part in self.keypath:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out

    def to_json(self) -> dict:
        return {
            "code": self.code, "severity": self.severity, "message": self.message,
            "file": self.path, "line": self.line, "column": self.column,
            "end_line": self.end_line, "end_column": self.end_column,
            "key_path": self.key_path_text(), "key_path_parts": list(self.keypath),
            "rule": self.rule, "fixable": self.fix is not None and self.fix.safe,
            "fix": self.fix.description if self.fix else None,
            "fix_safe": self.fix.safe if self.fix else None,
            "short": self.short, "help": self.advice,
            "docs": DOCS.format(code=self.code),
        }
