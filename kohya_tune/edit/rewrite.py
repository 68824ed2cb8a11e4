"""Minimal-edit rewriting of JSON and TOML config files (used by ``solve`` and ``lint --fix``).

A replaced value changes only the characters of its own literal (between ``value_start`` and
``value_end`` of its span); everything else - indentation, key order, CRLF, BOM, the final newline
or its absence, comments, escapes elsewhere - stays byte-identical. Added keys follow the file's own
layout; removed keys take their line (TOML) or member and comma (JSON) with them.

Every result is parsed again and compared with the old data plus exactly the intended changes
(types included: 1 is not 1.0 is not True); anything else raises `RewriteError`, so a broken or
surprising file is never written.

Offsets: edits are applied one at a time and the key positions are scanned again after each one, so
no offset ever goes stale (this also makes several additions next to each other, or an addition
next to a removal, safe).
"""
from __future__ import annotations

import copy
import difflib
import json
import math
import os
import re
import stat
import sys
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kohya_tune.check.diagnostics import Edit
from kohya_tune.load.documents import Document
from kohya_tune.load.positions import PositionError, Span, json_spans, toml_spans

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["Edit", "RewriteError", "WriteError", "apply_edits", "render_value", "unified_diff",
           "write_atomic"]


class RewriteError(Exception):
    """An edit that cannot be made safely (the file is then left alone)."""


_MISSING = object()
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


# --------------------------------------------------------------------------------------------
# value rendering

def _is_ascii(s: str) -> bool:
    return all(ord(c) < 128 for c in s)


def _float_text(value: float, like: str | None) -> str:
    text = repr(value)  # shortest round-trip form: '0.0001', '1e-05', '24.0', '1e+16'
    if like is not None and value != 0 and re.fullmatch(r"[-+]?\d[\d_]*(\.\d[\d_]*)?[eE][-+]?\d+", like.strip()):
        # the old literal was in exponent form (2e-4): keep that form (1e-4, 1.5e-4)
        text = format(Decimal(text).normalize(), "e")  # exact: Decimal of the shortest repr
        if "E" in like:
            text = text.upper()
    if not any(c in text for c in ".eEn"):  # 'inf'/'nan' contain 'n'
        text += ".0"
    return text


def _toml_basic_string(value: str) -> str:
    out = json.dumps(value, ensure_ascii=False)  # escapes ", \\, control characters (TOML-valid)
    return out.replace("\x7f", "\\u007f")        # DEL must be escaped in TOML, JSON leaves it


def render_value(doc_format: str, value: Any, like: str | None = None, *,
                 ensure_ascii: bool | None = None) -> str:
    """The literal for `value` in a JSON or TOML file. `like` is the old literal, whose style is
    kept where the new value allows it: a TOML literal string ('x') stays one when the new text has
    no quote or control character; a float written in exponent form (2e-4) keeps that form; a
    JSON string that held raw non-ASCII characters keeps them raw (otherwise \\uXXXX escapes, as
    the GUI writes with ensure_ascii=True)."""
    if isinstance(value, tuple):
        value = list(value)
    if doc_format == "json":
        if ensure_ascii is None:
            ensure_ascii = like is None or _is_ascii(like)
        return _render_json(value, like, ensure_ascii)
    if doc_format == "toml":
        return _render_toml(value, like)
    raise RewriteError(f"unknown format {doc_format!r}")


def _render_json(value: Any, like: str | None, ensure_ascii: bool) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RewriteError(f"{value!r} cannot be written as JSON")
        return _float_text(value, like)
    if isinstance(value, str):
        try:
            out = json.dumps(value, ensure_ascii=ensure_ascii)
            out.encode("utf-8")
        except UnicodeEncodeError:
            raise RewriteError(f"string {value!r} cannot be encoded as UTF-8") from None
        return out
    if isinstance(value, list):
        return "[" + ", ".join(_render_json(v, None, ensure_ascii) for v in value) + "]"
    raise RewriteError(f"cannot write a {type(value).__name__} value")


def _render_toml(value: Any, like: str | None) -> str:
    if value is None:
        raise RewriteError("TOML has no null value")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return _float_text(value, like)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise RewriteError(f"string {value!r} cannot be encoded as UTF-8") from None
        if (like is not None and like.startswith("'") and not like.startswith("'''")
                and "'" not in value
                and not any((ord(c) < 32 and c != "\t") or ord(c) == 0x7F for c in value)):
            return "'" + value + "'"
        return _toml_basic_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_render_toml(v, None) for v in value) + "]"
    raise RewriteError(f"cannot write a {type(value).__name__} value")


def _render_toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_basic_string(key)


# --------------------------------------------------------------------------------------------
# helpers over text

def _line_start(text: str, i: int) -> int:
    start = max(text.rfind("\n", 0, i), text.rfind("\r", 0, i)) + 1
    if start == 0 and text.startswith("\ufeff") and i > 0:
        start = 1  # the BOM is not part of the first line's indentation
    return start


def _line_end(text: str, i: int) -> int:
    """Offset of the newline ending the line that holds `i` (len(text) on the last line)."""
    n = len(text)
    while i < n and text[i] not in "\r\n":
        i += 1
    return i


def _newline_at(text: str, i: int) -> str | None:
    if text.startswith("\r\n", i):
        return "\r\n"
    if i < len(text) and text[i] in "\r\n":
        return text[i]
    return None


def _newline_near(text: str, i: int) -> str:
    """The newline at `i`, else the one ending the line before (a last line without newline),
    else the file's first one."""
    nl = _newline_at(text, i)
    if nl is None:
        ls = _line_start(text, i)
        if ls > 0 and text[ls - 1] in "\r\n":
            nl = "\r\n" if text.endswith("\r\n", 0, ls) else text[ls - 1]
    return nl or _doc_newline(text)


def _doc_newline(text: str) -> str:
    m = re.search(r"\r\n|\n|\r", text)
    return m.group(0) if m else "\n"


def _get(data: Any, path: tuple) -> Any:
    for part in path:
        if isinstance(data, dict) and isinstance(part, str) and part in data:
            data = data[part]
        elif (isinstance(data, list) and isinstance(part, int) and not isinstance(part, bool)
              and -len(data) <= part < len(data)):
            data = data[part]
        else:
            return _MISSING
    return data


def _fmt(path: tuple) -> str:
    return ".".join(str(p) for p in path) or "(root)"


def _same(a: Any, b: Any) -> bool:
    """Equality that tells bool, int and float apart (and lets NaN equal NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _parse(fmt: str, text: str) -> Any:
    body = text[1:] if text.startswith("\ufeff") else text
    if fmt == "json":
        return json.loads(body)
    return tomllib.loads(body)


def _spans(fmt: str, text: str) -> dict:
    try:
        if fmt == "json":
            return json_spans(text)
        return toml_spans(text)[0]
    except PositionError as exc:
        raise RewriteError(f"cannot locate keys in the file: {exc.message}") from None


# --------------------------------------------------------------------------------------------
# JSON

def _json_members(text: str, spans: dict, container: tuple, obj: dict) -> list[tuple[str, Span]]:
    members = [(k, spans[container + (k,)]) for k in obj if container + (k,) in spans]
    members.sort(key=lambda m: m[1].key_start)
    return members


def _json_key_end(text: str, span: Span) -> int:
    return json.decoder.scanstring(text, span.key_start + 1)[1]


def _json_indent_unit(text: str) -> str:
    best = None
    for m in re.finditer(r"(?m)^([ \t]+)\"", text):
        ws = m.group(1)
        if best is None or len(ws) < len(best):
            best = ws
    return best or "  "


def _json_add(text: str, spans: dict, data: Any, keypath: tuple, value: Any,
              after: tuple | None, ensure_ascii: bool) -> str:
    container, key = keypath[:-1], keypath[-1]
    obj = _get(data, container)
    cspan = spans.get(container)
    if not isinstance(key, str) or not isinstance(obj, dict) or cspan is None:
        raise RewriteError(f"cannot add {_fmt(keypath)}: {_fmt(container)} is not an object")
    cs, ce = cspan.value_start, cspan.value_end
    if text[cs] != "{" or text[ce - 1] != "}":
        raise RewriteError(f"cannot add {_fmt(keypath)}: object not found in the text")
    new_key = json.dumps(key, ensure_ascii=ensure_ascii)
    literal = _render_json(value, None, ensure_ascii)
    members = _json_members(text, spans, container, obj)

    if not members:
        inner = text[cs + 1:ce - 1]
        if inner.strip():
            raise RewriteError(f"cannot add {_fmt(keypath)}: object not understood")
        member = f"{new_key}: {literal}"
        body = text[1:] if text.startswith("\ufeff") else text
        if "\n" not in inner and not re.search(r"[\r\n]", body.rstrip("\r\n")):
            return text[:cs] + "{" + member + "}" + text[ce:]  # a one-line file: stay on one line
        ls = _line_start(text, cs)
        base = re.match(r"[ \t]*", text[ls:cs]).group(0)
        nl = _doc_newline(text)
        unit = _json_indent_unit(text)
        return text[:cs] + "{" + nl + base + unit + member + nl + base + "}" + text[ce:]

    kv_sep = text[_json_key_end(text, members[0][1]):members[0][1].value_start]
    if "\n" in kv_sep or "\r" in kv_sep:
        kv_sep = ": "
    member = new_key + kv_sep + literal

    def sep_before(i: int) -> str:
        """Whitespace in front of member i (after the comma, or after '{' for the first)."""
        if i == 0:
            return text[cs + 1:members[0][1].key_start]
        prev_end = members[i - 1][1].value_end
        comma = text.index(",", prev_end, members[i][1].key_start)
        return text[comma + 1:members[i][1].key_start]

    keys = [k for k, _ in members]
    if keys == sorted(keys):
        position = sum(1 for k in keys if k < key)  # code point order, as sort_keys=True
    else:
        position = len(members)
        if after is not None:
            name = after[-1] if (tuple(after[:-1]) == container or len(after) == 1) else None
            if name in keys:
                position = keys.index(name) + 1
    if position < len(members):
        # in front of an existing member: reuse its own leading whitespace after our comma
        sep = sep_before(position)
        at = members[position][1].key_start
        return text[:at] + member + "," + sep + text[at:]
    # after the last member
    if len(members) >= 2:
        sep = sep_before(len(members) - 1)
    else:
        sep = sep_before(0)
        if "\n" not in sep and "\r" not in sep:
            sep = " "
    at = members[-1][1].value_end
    return text[:at] + "," + sep + member + text[at:]


def _json_remove(text: str, spans: dict, data: Any, keypath: tuple) -> str:
    container, key = keypath[:-1], keypath[-1]
    obj = _get(data, container)
    cspan = spans.get(container)
    if not isinstance(obj, dict) or cspan is None:
        raise RewriteError(f"cannot remove {_fmt(keypath)}: only object members can be removed")
    members = _json_members(text, spans, container, obj)
    index = [k for k, _ in members].index(key)
    span = members[index][1]
    if len(members) == 1:
        return text[:cspan.value_start + 1] + text[cspan.value_end - 1:]  # -> {}
    if index > 0:
        return text[:members[index - 1][1].value_end] + text[span.value_end:]
    return text[:span.key_start] + text[members[1][1].key_start:]


# --------------------------------------------------------------------------------------------
# TOML

class _TomlLayout:
    """Statements (key = value lines) and table headers of a TOML text, from its spans."""

    def __init__(self, text: str, spans: dict):
        self.text = text
        self.spans = spans
        candidates = sorted((s for s in spans.values() if s.key_start < s.value_start),
                            key=lambda s: s.key_start)
        self.statements: list[Span] = []
        reach = -1
        for s in candidates:  # skip members of inline tables (inside another statement's value)
            if s.key_start >= reach:
                self.statements.append(s)
                reach = s.value_end
        self.statement_starts = {s.key_start for s in self.statements}
        ranges = [(s.value_start, s.value_end) for s in self.statements]
        headers = set()
        for s in spans.values():
            if (s.key_start == s.value_start and text.startswith("[", s.key_start)
                    and not any(a <= s.key_start < b for a, b in ranges)):
                headers.add(s.key_start)
        self.headers = sorted(headers)

    def is_header(self, span: Span | None) -> bool:
        return span is not None and span.key_start == span.value_start and span.key_start in self.headers

    def block(self, container: tuple) -> tuple[int, int]:
        """[start, end) of the lines that belong to a table (root: up to the first header)."""
        text = self.text
        if container == ():
            start = 1 if text.startswith("\ufeff") else 0
        else:
            span = self.spans.get(container)
            if not self.is_header(span):
                raise RewriteError(f"{_fmt(container)} is not a [table] of its own (inline or "
                                   "dotted tables are not edited)")
            start = _line_end(text, span.value_end)
        end = next((h for h in self.headers if h >= start), len(text))
        return start, end

    def statements_in(self, start: int, end: int) -> list[Span]:
        return [s for s in self.statements if start <= s.key_start < end]


def _toml_add(text: str, spans: dict, data: Any, keypath: tuple, value: Any,
              after: tuple | None) -> str:
    container, key = keypath[:-1], keypath[-1]
    obj = _get(data, container)
    if not isinstance(key, str) or not isinstance(obj, dict):
        raise RewriteError(f"cannot add {_fmt(keypath)}: {_fmt(container)} is not a table")
    layout = _TomlLayout(text, spans)
    start, end = layout.block(container)
    statements = layout.statements_in(start, end)
    line = _render_toml_key(key) + " = " + _render_toml(value, None)

    anchor = None
    if after is not None:
        after = tuple(after)
        if after[:-1] != container and len(after) == 1:
            after = container + after
        s = spans.get(after)
        if s is not None and after[:-1] == container and s in statements:
            anchor = s
    if anchor is None and statements:
        anchor = max(statements, key=lambda s: s.value_end)

    if anchor is not None:
        ls = _line_start(text, anchor.key_start)
        indent = text[ls:anchor.key_start]
        if indent.strip():
            raise RewriteError(f"cannot add {_fmt(keypath)}: unusual layout near its table")
        at = _line_end(text, anchor.value_end)
        nl = _newline_near(text, at)
        return text[:at] + nl + indent + line + text[at:]

    if container != ():
        # an empty table: right under its header
        at = start
        nl = _newline_near(text, at)
        header_ls = _line_start(text, spans[container].key_start)
        indent = text[header_ls:spans[container].key_start]
        return text[:at] + nl + indent + line + text[at:]

    # a root without keys: at the top, after the leading comment lines
    at = start
    n = len(text)
    while at < n:
        le = _line_end(text, at)
        if not text[at:le].strip().startswith("#"):
            break
        nl = _newline_at(text, le)
        if nl is None:  # a last comment line without a newline
            return text + _doc_newline(text) + line
        at = le + len(nl)
    nl = _doc_newline(text)
    return text[:at] + line + nl + text[at:]


def _toml_remove(text: str, spans: dict, keypath: tuple) -> str:
    span = spans.get(keypath)
    layout = _TomlLayout(text, spans)
    if span is None or span not in layout.statements:
        raise RewriteError(f"cannot remove {_fmt(keypath)}: only a `key = value` line can be removed")
    ls = _line_start(text, span.key_start)
    if text[ls:span.key_start].strip():
        raise RewriteError(f"cannot remove {_fmt(keypath)}: another statement shares its line")
    le = _line_end(text, span.value_end)
    nl = _newline_at(text, le)
    if nl is not None:
        return text[:ls] + text[le + len(nl):]
    # the last line, with no newline after it: take the newline before it instead
    cut = ls
    if cut > 0 and text[cut - 1] == "\n":
        cut -= 1
        if cut > 0 and text[cut - 1] == "\r":
            cut -= 1
    elif cut > 0 and text[cut - 1] == "\r":
        cut -= 1
    return text[:cut]


# --------------------------------------------------------------------------------------------
# edits

def _normalise(edit: Edit) -> tuple[tuple, Any, tuple | None]:
    keypath = tuple(edit.keypath)
    if not keypath:
        raise RewriteError("an edit needs a non-empty key path")
    value = list(edit.value) if isinstance(edit.value, tuple) else edit.value
    after = edit.after
    if isinstance(after, str):
        after = keypath[:-1] + (after,)
    return keypath, value, tuple(after) if after is not None else None


def apply_edits(doc: Document, edits: list[Edit]) -> str:
    """The text of `doc` with `edits` made; raises RewriteError (and changes nothing) when an edit
    cannot be made or the result would not parse to exactly the intended data."""
    fmt = doc.format
    if fmt not in ("json", "toml"):
        raise RewriteError(f"unknown format {fmt!r}")
    seen: set = set()
    plan = []
    for edit in edits:
        keypath, value, after = _normalise(edit)
        if keypath in seen:
            raise RewriteError(f"two edits of the same key {_fmt(keypath)}")
        seen.add(keypath)
        plan.append((keypath, value, after))

    text = doc.text
    data = _parse(fmt, text)
    spans = _spans(fmt, text)  # never the file-level fallback spans of documents.parse_toml
    if fmt == "toml" and not isinstance(data, dict):
        raise RewriteError("not a TOML document")
    expected = copy.deepcopy(data)
    body = text[1:] if text.startswith("\ufeff") else text
    ensure_ascii = _is_ascii(body)  # a file with raw non-ASCII text was not written ensure_ascii
    added_after: dict = {}  # (container, after key) -> last key added there, to keep edit order

    for keypath, value, after in plan:
        old = _get(data, keypath)
        container = keypath[:-1]
        if value is None:
            if old is _MISSING:
                continue  # already absent
            if not isinstance(_get(data, container), dict):
                raise RewriteError(f"cannot remove {_fmt(keypath)}: not a key of a table/object")
            if fmt == "json":
                text = _json_remove(text, spans, data, keypath)
            else:
                text = _toml_remove(text, spans, keypath)
            del _get(expected, container)[keypath[-1]]
        elif old is not _MISSING:
            if isinstance(old, dict) or isinstance(value, dict):
                raise RewriteError(f"cannot replace the table/object {_fmt(keypath)}")
            _get(expected, container)[keypath[-1]] = value
            if _same(old, value):
                continue  # nothing to change: keep the old literal as it is
            span = spans.get(keypath)
            if span is None or span.value_end <= span.value_start:
                raise RewriteError(f"cannot locate the value of {_fmt(keypath)} in the text")
            like = text[span.value_start:span.value_end]
            if fmt == "json":
                literal = _render_json(value, like, ensure_ascii and _is_ascii(like))
            else:
                literal = _render_toml(value, like)
            text = text[:span.value_start] + literal + text[span.value_end:]
        else:
            parent = _get(data, container)
            if not isinstance(parent, dict) or not isinstance(keypath[-1], str):
                raise RewriteError(f"cannot add {_fmt(keypath)}: {_fmt(container)} is not a "
                                   "table/object")
            if after is not None:
                slot = (container, after[-1])
                chained = added_after.get(slot)
                added_after[slot] = keypath[-1]
                if chained is not None:
                    after = container + (chained,)
            if fmt == "json":
                text = _json_add(text, spans, data, keypath, value, after, ensure_ascii)
            else:
                text = _toml_add(text, spans, data, keypath, value, after)
            _get(expected, container)[keypath[-1]] = value
        # fresh positions and data for the next edit
        try:
            data = _parse(fmt, text)
        except ValueError as exc:  # json.JSONDecodeError and TOMLDecodeError are ValueErrors
            raise RewriteError(f"editing {_fmt(keypath)} would break the file: {exc}") from None
        spans = _spans(fmt, text)

    if text != doc.text:
        try:
            final = _parse(fmt, text)
        except ValueError as exc:
            raise RewriteError(f"the edited file does not parse: {exc}") from None
        if not _same(final, expected):
            raise RewriteError("the edited file does not hold the intended values")
    return text


# --------------------------------------------------------------------------------------------
# diff and write

def _diff_lines(text: str) -> list[str]:
    """Lines split at '\\n' only, each keeping its ending (so a CRLF line keeps its '\\r')."""
    return re.findall(r"[^\n]*\n|[^\n]+\Z", text)


def unified_diff(path: str, old: str, new: str) -> str:
    """A unified diff (a/ and b/ headers, like git). CRLF lines keep their '\\r' so the diff shows
    and applies them as they are; a last line without newline gets the usual marker."""
    if old == new:
        return ""
    path = path.replace(os.sep, "/")
    out = []
    for line in difflib.unified_diff(_diff_lines(old), _diff_lines(new),
                                     fromfile=f"a/{path}", tofile=f"b/{path}", lineterm="\n"):
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        out.append(line)
    return "".join(out)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class WriteError(RewriteError):
    """The file cannot be written (read-only, folder not writable, changed meanwhile): nothing
    was changed. Exit code 2."""


TEMP_MARK = ".kohya-tune-"   # temp files are named .NAME.kohya-tune-XXXXXXXX.tmp


def temp_prefix(target: str) -> str:
    return "." + os.path.basename(target) + TEMP_MARK


def _lock(fd: int, blocking: bool = True) -> bool:
    """An advisory lock on an open file: fcntl.flock on POSIX, msvcrt.locking on Windows."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        mode = msvcrt.LK_LOCK if blocking else msvcrt.LK_NBLCK
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, mode, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        return True
    except OSError:
        return False


def _unlock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass
        return
    fcntl.flock(fd, fcntl.LOCK_UN)


def remove_stale_temp_files(target: str) -> list[str]:
    """Temp files of ours for `target` whose writer is gone (killed mid-write): a live writer
    holds a lock on its temp file, so one we can lock is stale. Returns the names removed."""
    folder = os.path.dirname(target) or "."
    prefix = temp_prefix(target)
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        full = os.path.join(folder, name)
        try:
            fd = os.open(full, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode) or not _lock(fd, blocking=False):
                continue
            os.unlink(full)
            removed.append(name)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def is_read_only(path: str) -> bool:
    """No write permission bit set, or not writable for us."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return not (st.st_mode & 0o222) or not os.access(path, os.W_OK)


def _read_locked(target: str):
    """Open the target and lock it, making sure the lock is on the file now at that path (a
    concurrent writer may have renamed a new one over it while we waited)."""
    for _ in range(50):
        try:
            fd = os.open(target, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            return None
        _lock(fd)
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(target))
        except OSError:
            same = False
        if same:
            return fd
        _unlock(fd)
        os.close(fd)
    raise WriteError(f"{target}: the file keeps being replaced by another program; nothing was written")


def _read_all(fd: int) -> bytes:
    chunks = []
    os.lseek(fd, 0, os.SEEK_SET)
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def write_atomic(path: str, text: str | bytes, *, expected: str | None = None,
                 force: bool = False) -> None:
    """Write `text` as UTF-8 (or bytes as they are), exactly (no newline translation), through a temporary file in the
    same folder that replaces the target: readers see the old or the new file, never half of one.
    The file's permission bits (and owner and group, where allowed) are kept; a symlink is kept
    and its target is replaced.

    Safety: a read-only target is refused unless `force`; the temp file is named
    `.NAME.kohya-tune-XXXX.tmp` and locked while it is written, so the next write removes one
    that a killed run left behind; the target is locked (fcntl/msvcrt) from the final check to
    the rename, and when `expected` (the text the edits were computed from) is given, a target
    that changed meanwhile is refused, so a concurrent update is never lost. WriteError says
    why nothing was written."""
    try:
        data = text if isinstance(text, bytes) else text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RewriteError(f"text cannot be encoded as UTF-8: {exc}") from None
    target = os.path.realpath(path)
    folder = os.path.dirname(target) or "."
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {exc.strerror or exc}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise WriteError(f"cannot write {path}: not a regular file")
    if st is not None and is_read_only(target) and not force:
        raise WriteError(f"{path} is read-only: not changed (use --force to replace it anyway; "
                         f"it stays read-only)")
    remove_stale_temp_files(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target), suffix=".tmp", dir=folder)
    except OSError as exc:
        raise WriteError(f"cannot write in {folder}: {exc.strerror or exc} (the new file is "
                         f"written there first, then renamed over {os.path.basename(target)})") from None
    lock_fd = None
    try:
        _lock(fd)
        with os.fdopen(fd, "wb", closefd=False) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if st is not None:
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
            if hasattr(os, "chown"):
                tst = os.stat(tmp)
                if (tst.st_uid, tst.st_gid) != (st.st_uid, st.st_gid):
                    try:
                        os.chown(tmp, st.st_uid, st.st_gid)
                    except OSError:
                        pass  # not allowed (not root): the new file keeps our owner
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        if st is not None:
            lock_fd = _read_locked(target)
            if lock_fd is not None and expected is not None:
                current = _read_all(lock_fd)
                if current != expected.encode("utf-8", "surrogatepass"):
                    raise WriteError(f"{path} changed since it was read (another program wrote "
                                     f"it): not overwritten; run again on the new content")
            if lock_fd is not None and os.name == "nt":  # pragma: no cover - Windows
                # Windows cannot rename over a file that is open: checked, then released
                _unlock(lock_fd)
                os.close(lock_fd)
                lock_fd = None
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise WriteError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    finally:
        os.close(fd)
        if lock_fd is not None:
            _unlock(lock_fd)
            os.close(lock_fd)
    try:  # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
