"""Editor settings that point every kohya config of a folder at its JSON Schema.

`kohya-tune schemas --editor vscode DIR` writes `DIR/.vscode/settings.json` (`json.schemas`: one
entry per schema, its `fileMatch` listing the JSON configs of that kind); `--editor taplo DIR`
writes `DIR/.taplo.toml` (one `[[rule]]` per schema, its `include` listing the TOML configs),
which the Taplo CLI and VS Code's Even Better TOML read. Each file's kind comes from
`documents.load`, as `lint` sees it: a GUI JSON gets its tab's schema, an args TOML the args
schema, a dataset config (TOML or JSON) the dataset schema; other files are left out.

Existing settings are merged, never replaced: VS Code's settings.json is JSON with comments and
trailing commas, so it is edited by splicing the few characters that change into the original
text (comments and layout stay byte for byte); `.taplo.toml` is edited with tomlkit, the
style-preserving TOML library. An entry of ours is recognised by its schema file name, its
patterns are kept and the missing ones appended, so a second run changes nothing. The result is
parsed again and compared with what was intended before it is written, atomically
(`rewrite.write_atomic`).

Where a schema file lives: `schema_path` (the installed package's copy; a source checkout's
`schemas/` folder). The settings point at it with a file URI, so nothing is ever downloaded.
"""
from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from kohya_tune.check.schema import SCHEMA_FILES, load_schema
from kohya_tune.edit import rewrite
from kohya_tune.load import documents, files
from kohya_tune.load.positions import json_spans

EDITORS = ("vscode", "taplo")
TARGETS = {"vscode": os.path.join(".vscode", "settings.json"), "taplo": ".taplo.toml"}
# what each editor's settings can cover (VS Code's json.schemas is for JSON files only; TOML
# files in VS Code are Even Better TOML's, which reads .taplo.toml)
SUFFIXES = {"vscode": ".json", "taplo": ".toml"}
SKIP_DIRS = {"node_modules", "venv", "__pycache__"}


class SettingsFileError(Exception):
    """An existing settings file that cannot be merged safely (nothing is written)."""


def schema_names() -> list[str]:
    return sorted(set(SCHEMA_FILES.values()))


def schema_path(name: str) -> Path:
    """The schema file on disk: the installed package's, or the checkout's schemas/ folder."""
    checkout = Path(__file__).resolve().parents[2] / "schemas" / name
    try:
        path = Path(str(resources.files("kohya_tune.schemas").joinpath(name)))
    except (ModuleNotFoundError, TypeError):
        path = checkout
    if not path.is_file() and checkout.is_file():
        path = checkout  # a package location that is no plain folder (e.g. a namespace path)
    return path.resolve()


def schema_uri(name: str) -> str:
    return schema_path(name).as_uri()


def schema_id(name: str) -> str:
    return load_schema(name)["$id"]


def schema_title(name: str) -> str:
    return load_schema(name).get("title", name)


# ----------------------------------------------------------------------------------------------
# which schema each file of the folder gets


@dataclass
class Found:
    path: str                # relative to the folder, with / separators
    schema: str | None       # schema file name, None when left out
    reason: str = ""         # why it was left out


def classify(folder: str) -> list[Found]:
    """Every JSON and TOML file below `folder` (hidden folders, virtual environments and the
    editors' own settings left out), with the schema of its kind."""
    out: list[Found] = []
    for here, dirs, names in os.walk(folder, onerror=lambda exc: None):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        for name in sorted(names):
            full = os.path.join(here, name)
            if name.startswith(".") or Path(name).suffix.lower() not in (".json", ".toml"):
                continue
            if not files.is_file(full):
                continue
            rel = Path(os.path.relpath(full, folder)).as_posix()
            try:
                doc = documents.load(full)
            except documents.LoadError as exc:
                out.append(Found(rel, None, f"cannot be read: {exc.message}"))
                continue
            tab = doc.gui_tab if doc.kind == documents.GUI else None
            schema = SCHEMA_FILES.get((doc.kind, tab))
            if schema is None:
                out.append(Found(rel, None, doc.other_reason if doc.kind == documents.OTHER
                                 else f"no schema for {documents.KIND_LABELS.get(doc.kind, doc.kind)}"))
            else:
                out.append(Found(rel, schema))
    return sorted(out, key=lambda f: f.path)


_GLOB_SPECIAL = re.compile(r"[*?\[\]{}!,]")


def glob_literal(rel: str) -> str:
    """A pattern that matches this path: the glob characters of a file name cannot be escaped
    in VS Code's fileMatch, so each becomes `?` (any one character)."""
    return _GLOB_SPECIAL.sub("?", rel)


# ----------------------------------------------------------------------------------------------
# the plan


@dataclass
class Plan:
    editor: str
    folder: str
    target: str                      # the settings file
    old_text: str | None             # None: the file does not exist yet
    new_text: str
    matched: dict = field(default_factory=dict)     # schema name -> [relative paths]
    other_kind: list = field(default_factory=list)  # configs this editor's settings cannot cover
    skipped: list = field(default_factory=list)     # Found left out

    @property
    def changed(self) -> bool:
        return self.old_text != self.new_text


def make_plan(folder: str, editor: str) -> Plan:
    if editor not in EDITORS:
        raise ValueError(f"unknown editor {editor!r}")
    if not files.is_dir(folder):
        raise SettingsFileError(f"{folder}: not a folder")
    found = classify(folder)
    suffix = SUFFIXES[editor]
    matched: dict = {}
    other: list = []
    for f in found:
        if f.schema is None:
            continue
        if f.path.lower().endswith(suffix):
            matched.setdefault(f.schema, []).append(f.path)
        else:
            other.append(f)
    target = os.path.join(folder, TARGETS[editor])
    old = _read(target)
    if editor == "vscode":
        new = merge_vscode(old, matched, target)
    else:
        new = merge_taplo(old, matched, target)
    return Plan(editor, folder, target, old, new, matched, other,
                [f for f in found if f.schema is None])


def _read(path: str) -> str | None:
    if not os.path.lexists(path):
        return None
    if not files.is_file(path):
        raise SettingsFileError(f"{path}: not a regular file")
    try:
        data = files.read_config_bytes(path)
    except OSError as exc:
        raise SettingsFileError(f"{path}: cannot be read ({exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SettingsFileError(f"{path}: not UTF-8 text (byte {exc.start}); nothing was changed") from None


def write(plan: Plan) -> None:
    """Write the merged settings (atomic; refused if the file changed since it was read)."""
    if not plan.changed:
        return
    folder = os.path.dirname(plan.target)
    if not os.path.isdir(folder):
        try:
            os.makedirs(folder)
        except OSError as exc:
            raise rewrite.WriteError(f"cannot create {folder}: {exc.strerror or exc}") from None
    rewrite.write_atomic(plan.target, plan.new_text, expected=plan.old_text)


def _ours(location: object, name: str) -> bool:
    """An entry of a settings file that points at this kohya-tune schema (any install)."""
    if not isinstance(location, str):
        return False
    tail = location.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return tail == name and (location == schema_uri(name) or "kohya" in location.lower())


# ----------------------------------------------------------------------------------------------
# VS Code: .vscode/settings.json, JSON with comments


def blank_jsonc(text: str) -> tuple[str, set]:
    """The same text with comments and trailing commas turned into spaces (line breaks kept),
    so that every offset still points at the same character and `json.loads` reads it; and the
    offsets of the trailing commas."""
    out = list(text)
    i, n = 0, len(text)
    if text.startswith("\ufeff"):
        out[0] = " "
        i = 1
    trailing: set = set()
    last_comma = None   # offset of a comma not yet followed by a value
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            last_comma = None
            continue
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            for k in range(i, j):
                if out[k] != "\r":
                    out[k] = " "
            i = j
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if out[k] not in "\r\n":
                    out[k] = " "
            i = j
            continue
        if c == ",":
            last_comma = i
        elif c in "]}":
            if last_comma is not None:
                out[last_comma] = " "
                trailing.add(last_comma)
            last_comma = None
        elif not c.isspace():
            last_comma = None
        i += 1
    return "".join(out), trailing


class _Jsonc:
    """A JSONC text read: its data, the blanked text, the spans and the trailing commas."""

    def __init__(self, text: str, where: str):
        self.text = text
        self.blank, self.trailing = blank_jsonc(text)
        try:
            self.data = json.loads(self.blank)
        except ValueError as exc:
            line = getattr(exc, "lineno", None)
            place = f":{line}:{getattr(exc, 'colno', '')}" if line else ""
            raise SettingsFileError(f"{where}{place}: cannot be read as JSON with comments "
                                    f"({getattr(exc, 'msg', exc)}); nothing was changed") from None
        self.spans = json_spans(self.blank)


def _indent_unit(text: str) -> str:
    m = re.search(r"\n([ \t]+)[^\s]", text)
    return m.group(1) if m else "    "


def _line_indent(text: str, offset: int) -> str:
    start = text.rfind("\n", 0, offset) + 1
    return re.match(r"[ \t]*", text[start:]).group(0)


def _append(doc: _Jsonc, path: tuple, items: list, unit: str) -> str:
    """The text with `items` ((key, value) pairs for an object, (None, value) for an array)
    added at the end of the container at `path`, in its own layout; comments stay where they
    are, a trailing comma stays trailing."""
    text, blank = doc.text, doc.blank
    span = doc.spans[path]
    start, close = span.value_start, span.value_end - 1
    j = close - 1
    while j > start and blank[j].isspace():
        j -= 1
    last = j + 1 if j > start else None        # the end of the last member or element
    trailing = any(start < k < close for k in doc.trailing if last is not None and k >= last)
    closing_line = text.rfind("\n", 0, close) + 1
    own_line = "\n" in text[start:close] and not text[closing_line:close].strip()

    def one(key, value, inner: str | None) -> str:
        if inner is None:
            rendered = json.dumps(value, ensure_ascii=False)
        else:
            rendered = json.dumps(value, indent=unit, ensure_ascii=False).replace("\n", "\n" + inner)
        return rendered if key is None else f"{json.dumps(key, ensure_ascii=False)}: {rendered}"

    if own_line or last is None:
        base = _line_indent(text, close) if own_line else _line_indent(text, start)
        inner = base + unit
        body = ",\n".join(inner + one(k, v, inner) for k, v in items)
        if own_line:
            insert = body + (",\n" if trailing else "\n")
            text = text[:closing_line] + insert + text[closing_line:]
        else:  # an empty one-line container: open it up
            text = text[:close].rstrip(" \t") + "\n" + body + "\n" + base + text[close:]
        if last is not None and not trailing:
            text = text[:last] + "," + text[last:]
        return text
    # a one-line container with members: compact, before the closing bracket
    body = ", ".join(one(k, v, None) for k, v in items)
    if trailing:
        return text[:close] + body + ", " + text[close:]
    return text[:last] + ", " + body + text[last:]


def _vscode_entries(matched: dict) -> dict:
    return {name: {"fileMatch": ["/" + glob_literal(p) for p in paths], "url": schema_uri(name)}
            for name, paths in sorted(matched.items())}


def merge_vscode(old: str | None, matched: dict, where: str = "settings.json") -> str | None:
    """settings.json with a `json.schemas` entry per schema; the user's own content kept."""
    wanted = _vscode_entries(matched)
    if old is None or not old.strip():
        if not wanted:
            return old
        return json.dumps({"json.schemas": list(wanted.values())}, indent=4, ensure_ascii=False) + "\n"
    doc = _Jsonc(old, where)
    if not isinstance(doc.data, dict):
        raise SettingsFileError(f"{where}: the settings are not a JSON object; nothing was changed")
    expected = copy.deepcopy(doc.data)
    unit = _indent_unit(old)
    for name, entry in wanted.items():
        doc = _Jsonc(doc.text, where)
        schemas = doc.data.get("json.schemas")
        if "json.schemas" not in doc.data:
            expected["json.schemas"] = [entry]
            doc.text = _append(doc, (), [("json.schemas", [entry])], unit)
            continue
        if not isinstance(schemas, list):
            raise SettingsFileError(f"{where}: \"json.schemas\" is not a list; nothing was changed")
        index = next((k for k, e in enumerate(schemas)
                      if isinstance(e, dict) and _ours(e.get("url"), name)), None)
        if index is None:
            expected["json.schemas"].append(entry)
            doc.text = _append(doc, ("json.schemas",), [(None, entry)], unit)
            continue
        current, target = schemas[index], expected["json.schemas"][index]
        if current.get("url") != entry["url"]:
            sp = doc.spans[("json.schemas", index, "url")]
            target["url"] = entry["url"]
            doc = _Jsonc(doc.text[:sp.value_start] + json.dumps(entry["url"], ensure_ascii=False)
                         + doc.text[sp.value_end:], where)
        patterns = current.get("fileMatch")
        if patterns is None:
            target["fileMatch"] = entry["fileMatch"]
            doc.text = _append(doc, ("json.schemas", index), [("fileMatch", entry["fileMatch"])], unit)
            continue
        if not isinstance(patterns, list):
            raise SettingsFileError(f"{where}: \"fileMatch\" of the {name} entry is not a list; "
                                    f"nothing was changed")
        missing = [p for p in entry["fileMatch"] if p not in patterns]
        if missing:
            target["fileMatch"] = patterns + missing
            doc.text = _append(doc, ("json.schemas", index, "fileMatch"), [(None, p) for p in missing], unit)
    if _Jsonc(doc.text, where).data != expected:
        raise SettingsFileError(f"{where}: the merged settings would not read back as intended; "
                                f"nothing was changed")
    return doc.text


# ----------------------------------------------------------------------------------------------
# Taplo / Even Better TOML: .taplo.toml


def merge_taplo(old: str | None, matched: dict, where: str = ".taplo.toml") -> str | None:
    """.taplo.toml with a `[[rule]]` per schema (include = the TOML configs of that kind)."""
    import tomlkit  # only this command needs it
    from tomlkit.exceptions import TOMLKitError

    if not matched and old is None:
        return None
    text = old or ""
    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise SettingsFileError(f"{where}: cannot be read as TOML ({exc}); nothing was changed") from None
    if doc.as_string() != text:
        raise SettingsFileError(f"{where}: tomlkit cannot keep this file byte for byte; nothing was changed")
    expected = doc.unwrap()
    rules = doc.get("rule")
    if rules is not None and not isinstance(rules, list):
        raise SettingsFileError(f"{where}: \"rule\" is not an array of tables; nothing was changed")
    for name, paths in sorted(matched.items()):
        uri = schema_uri(name)
        patterns = [glob_literal(p) for p in paths]
        rules = doc.get("rule")
        index = None
        for k, rule in enumerate(rules or []):
            sch = rule.get("schema") if isinstance(rule, dict) else None
            if isinstance(sch, dict) and (_ours(sch.get("url"), name) or _ours(sch.get("path"), name)):
                index = k
                break
        if index is None:
            rule = tomlkit.table()
            include = tomlkit.array()
            include.extend(patterns)
            include.multiline(True)
            rule["include"] = include
            sch = tomlkit.table()
            sch["url"] = uri
            rule["schema"] = sch
            if rules is None:
                aot = tomlkit.aot()
                aot.append(rule)
                if text and not text.endswith("\n"):
                    doc.add(tomlkit.nl())
                doc.append("rule", aot)
            else:
                if not rules.as_string().endswith("\n\n"):
                    rule.trivia.indent = "\n"  # a blank line before the new [[rule]]
                rules.append(rule)
            expected.setdefault("rule", []).append({"include": patterns, "schema": {"url": uri}})
            continue
        rule = rules[index]
        want = expected["rule"][index]
        sch = rule["schema"]
        key = "url" if "url" in sch else "path"
        location = uri if key == "url" else str(schema_path(name))
        if sch[key] != location:
            sch[key] = location
            want["schema"][key] = location
        include = rule.get("include")
        if include is None:
            arr = tomlkit.array()
            arr.extend(patterns)
            arr.multiline(True)
            rule["include"] = arr
            want["include"] = patterns
            continue
        if not isinstance(include, list):
            raise SettingsFileError(f"{where}: \"include\" of the {name} rule is not an array; nothing was changed")
        missing = [p for p in patterns if p not in include]
        for p in missing:
            include.append(p)
        want["include"] = list(want["include"]) + missing
    new = doc.as_string()
    try:
        back = documents._tomllib().loads(new)
    except Exception:  # noqa: BLE001 - any parser error means the merge went wrong
        back = None
    if back != expected:
        raise SettingsFileError(f"{where}: the merged settings would not read back as intended; "
                                f"nothing was changed")
    return new
