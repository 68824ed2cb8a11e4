"""Output formats for diagnostics: concise (default), full, json, github, sarif."""
from __future__ import annotations

import json

from kohya_tune import __version__
from kohya_tune.check.diagnostics import DOCS_URL

FORMATS = ("concise", "full", "json", "github", "sarif")


def concise(diags) -> str:
    lines = []
    for d in diags:
        star = " [*]" if d.fix and d.fix.safe else ""
        lines.append(f"{d.path}:{d.line}:{d.column}: {d.code}{star} {d.message}")
    return "\n".join(lines) + ("\n" if lines else "")


def full(diags, sources: dict) -> str:
    out = []
    for d in diags:
        star = " [*]" if d.fix and d.fix.safe else ""
        out.append(f"{d.path}:{d.line}:{d.column}: {d.code}{star} {d.message}")
        doc = sources.get(d.path)
        if doc is not None:
            try:
                text = doc.lines.line_text(d.line)
            except IndexError:
                text = None
            if text is not None:
                gutter = f"{d.line:>4} | "
                out.append(gutter + text)
                out.append(" " * (len(gutter) - 2) + "| " + " " * max(0, d.column - 1) + "^")
        if d.help:
            out.append(f"  = help: {d.help}")
        if d.fix:
            out.append(f"  = {'fix' if d.fix.safe else 'suggestion'}: {d.fix.description}")
        out.append("")
    return "\n".join(out) + ("\n" if out and out[-1] != "" else "")


def as_json(diags) -> str:
    return json.dumps([d.to_json() for d in diags], indent=2, ensure_ascii=False) + "\n"


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def github(diags) -> str:
    level = {"error": "error", "warning": "warning", "info": "notice"}
    lines = []
    for d in diags:
        lines.append(f"::{level.get(d.severity, 'warning')} title={_gh_escape('kohya-tune ' + d.code, True)},"
                     f"file={_gh_escape(d.path, True)},line={d.line},col={d.column}"
                     f"::{_gh_escape(d.code + ' ' + d.message)}")
    return "\n".join(lines) + ("\n" if lines else "")


def sarif(diags, rules) -> str:
    level = {"error": "error", "warning": "warning", "info": "note"}
    used = sorted({d.code for d in diags})
    by_code = {r.code: r for r in rules}
    rule_entries = []
    index = {}
    for code in used:
        rule = by_code.get(code)
        index[code] = len(rule_entries)
        entry = {"id": code, "helpUri": DOCS_URL.format(code=code)}
        if rule is not None:
            entry["name"] = rule.name
            entry["shortDescription"] = {"text": rule.summary}
            entry["fullDescription"] = {"text": rule.docs()}
            entry["defaultConfiguration"] = {"level": level.get(rule.severity, "warning")}
        else:
            entry["shortDescription"] = {"text": "the file cannot be parsed"}
        rule_entries.append(entry)
    results = []
    for d in diags:
        results.append({
            "ruleId": d.code, "ruleIndex": index[d.code], "level": level.get(d.severity, "warning"),
            "message": {"text": d.message},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": d.path.replace("\\", "/")},
                "region": {"startLine": d.line, "startColumn": d.column}}}],
        })
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "kohya-tune", "version": __version__,
                                "informationUri": "https://kohya-tune.invalid/",
                                "rules": rule_entries}},
            "results": results,
        }],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
