"""Output formats for diagnostics: concise (default), full, json, github, sarif; the summary line,
--statistics and --show-fixes.

Concise and full follow ruff's shape (`path:line:col: CODE [*] message`) with the severity shown
as yamllint does (`CODE [*] warning: message`); a long message is cut into a short message and a
help line. github and sarif name files relative to the repository root, as code scanning wants.
"""
from __future__ import annotations

import json
import os
import urllib.parse

from kohya_tune import __version__

FORMATS = ("concise", "full", "json", "github", "sarif")

_COLOURS = {"error": "31", "warning": "33", "info": "36", "bold": "1", "dim": "2"}


class Style:
    """ANSI colour when the stream is a terminal (output.terminal.use_colour), else plain."""

    def __init__(self, colour: bool = False):
        self.colour = colour

    def __call__(self, text: str, what: str) -> str:
        if not self.colour or what not in _COLOURS:
            return text
        return f"\033[{_COLOURS[what]}m{text}\033[0m"


PLAIN = Style(False)


def _head(d, style: Style) -> str:
    star = " [*]" if d.fix and d.fix.safe else ""
    where = style(f"{d.path}:{d.line}:{d.column}:", "bold")
    return f"{where} {style(d.code, d.severity)}{star} {style(d.severity, d.severity)}: {d.short}"


def concise(diags, style: Style = PLAIN) -> str:
    lines = []
    for d in diags:
        lines.append(_head(d, style))
        if d.advice:
            lines.append(f"    {style('help', 'dim')}: {d.advice}")
    return "\n".join(lines) + ("\n" if lines else "")


def full(diags, sources: dict, style: Style = PLAIN) -> str:
    out = []
    for d in diags:
        out.append(_head(d, style))
        doc = sources.get(d.path)
        if doc is not None:
            try:
                text = doc.lines.line_text(d.line)
            except IndexError:
                text = None
            if text is not None:
                gutter = f"{d.line:>4} | "
                out.append(gutter + text)
                # the whole key or value span, up to the end of this line
                width = 1
                if d.end_line == d.line and d.end_column and d.end_column > d.column:
                    width = d.end_column - d.column
                elif d.end_line and d.end_line > d.line:
                    width = max(1, len(text) - d.column + 1)
                out.append(" " * (len(gutter) - 2) + "| " + " " * max(0, d.column - 1)
                           + style("^" * width, d.severity))
        if d.advice:
            out.append(f"  = help: {d.advice}")
        out.append(f"  = rule: {d.rule or d.code} (kohya-tune rule {d.code})")
        if d.fix:
            out.append(f"  = {'fix' if d.fix.safe else 'suggestion'}: {d.fix.description}")
        out.append("")
    return "\n".join(out) + ("\n" if out and out[-1] != "" else "")


def as_json(diags) -> str:
    return json.dumps([d.to_json() for d in diags], indent=2, ensure_ascii=False) + "\n"


def summary(diags, *, fix_applied: bool = False) -> str:
    """The last line: counts by severity (info included), or "All checks passed!"."""
    if not diags:
        return "All checks passed!"
    counts = {s: sum(d.severity == s for d in diags) for s in ("error", "warning", "info")}
    parts = [f"{n} {word}{'s' if n != 1 else ''}" for word, n in
             (("error", counts["error"]), ("warning", counts["warning"]), ("info", counts["info"]))
             if n]
    fixable = sum(d.fix is not None and d.fix.safe for d in diags)
    tail = f" ({fixable} fixable with --fix)" if fixable and not fix_applied else ""
    return f"Found {', '.join(parts)}{tail}."


def statistics(diags) -> str:
    """ruff's --statistics: one line per code, most frequent first."""
    by_code: dict = {}
    for d in diags:
        entry = by_code.setdefault(d.code, [0, d.rule or "", False, d.severity])
        entry[0] += 1
        entry[2] = entry[2] or bool(d.fix and d.fix.safe)
    rows = sorted(by_code.items(), key=lambda kv: (-kv[1][0], kv[0]))
    width = max((len(str(v[0])) for _, v in rows), default=1)
    lines = [f"{count:>{width}}  {code}  {'[*]' if fixable else '   '} {severity:<7}  {name}"
             for code, (count, name, fixable, severity) in rows]
    return "\n".join(lines) + ("\n" if lines else "")


def show_fixes(diags, *, applied: bool) -> str:
    """--show-fixes: what --fix changed (or would change), and the suggestions it leaves."""
    fixes = [d for d in diags if d.fix is not None]
    if not fixes:
        return ""
    lines = ["Fixed:" if applied else "Fixes:"]
    for d in fixes:
        kind = "fix" if d.fix.safe else "suggestion (not applied by --fix)"
        lines.append(f"  {d.path}:{d.line}:{d.column}: {d.code} {kind}: {d.fix.description}")
    return "\n".join(lines) + "\n"


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def repo_root(start: str | None = None) -> str | None:
    """The nearest folder upward holding `.git` (a checkout or a worktree), else None."""
    here = os.path.abspath(start or os.getcwd())
    while True:
        if os.path.exists(os.path.join(here, ".git")):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def repo_path(path: str, root: str | None) -> str:
    """A path relative to the repository root, with forward slashes (as GitHub and SARIF
    consumers expect); unchanged when the file lies outside the repository."""
    absolute = os.path.abspath(path)
    if root is not None:
        rel = os.path.relpath(absolute, root)
        if not rel.startswith(".."):
            return rel.replace(os.sep, "/")
    return absolute.replace(os.sep, "/")


def github(diags, root: str | None = None) -> str:
    level = {"error": "error", "warning": "warning", "info": "notice"}
    lines = []
    for d in diags:
        path = repo_path(d.path, root)
        lines.append(f"::{level.get(d.severity, 'warning')} title={_gh_escape('kohya-tune ' + d.code, True)},"
                     f"file={_gh_escape(path, True)},line={d.line},col={d.column}"
                     + (f",endLine={d.end_line},endColumn={d.end_column}" if d.end_line else "")
                     + f"::{_gh_escape(d.code + ' ' + d.message)}")
    return "\n".join(lines) + ("\n" if lines else "")


def sarif(diags, rules, root: str | None = None) -> str:
    level = {"error": "error", "warning": "warning", "info": "note"}
    used = sorted({d.code for d in diags})
    by_code = {r.code: r for r in rules}
    rule_entries = []
    index = {}
    for code in used:
        rule = by_code.get(code)
        index[code] = len(rule_entries)
        entry = {"id": code}
        if rule is not None:
            entry["name"] = rule.name
            entry["shortDescription"] = {"text": rule.summary}
            entry["fullDescription"] = {"text": rule.docs()}
            entry["help"] = {"text": f"kohya-tune rule {code}\n\n{rule.docs()}"}
            entry["defaultConfiguration"] = {"level": level.get(rule.severity, "warning")}
        rule_entries.append(entry)
    results = []
    for d in diags:
        path = repo_path(d.path, root)
        relative = not os.path.isabs(path) and not path.startswith("/")
        location = {"uri": urllib.parse.quote(path, safe="/")}
        if relative:
            location["uriBaseId"] = "%SRCROOT%"
        region = {"startLine": d.line, "startColumn": d.column}
        if d.end_line:
            region.update(endLine=d.end_line, endColumn=d.end_column)
        results.append({
            "ruleId": d.code, "ruleIndex": index[d.code], "level": level.get(d.severity, "warning"),
            "message": {"text": d.message},
            "locations": [{"physicalLocation": {"artifactLocation": location, "region": region}}],
        })
    run = {"tool": {"driver": {"name": "kohya-tune", "version": __version__, "rules": rule_entries}},
           "results": results}
    if root is not None:
        run["originalUriBaseIds"] = {"%SRCROOT%": {"uri": "file://" + urllib.parse.quote(
            root.replace(os.sep, "/").rstrip("/") + "/", safe="/:")}}
    doc = {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
           "runs": [run]}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
