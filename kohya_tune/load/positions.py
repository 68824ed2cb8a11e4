"""Source positions: where each key and value of a JSON or TOML document sits in its text.

Both scanners here read the text only to find spans; the values themselves come from the standard
parsers (`json`, `tomllib`), which stay the authority on what the file means. A span is kept for
every key path: a tuple of keys and list indices, e.g. ("datasets", 0, "subsets", 1, "image_dir").

Offsets are indices into the decoded text (a BOM, if any, is character 0), so a rewrite can splice
the original string and keep every other character, CRLF line endings included.
"""
from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass

Path = tuple  # tuple[str | int, ...]


@dataclass(frozen=True)
class Span:
    """Where one entry sits. `key_start` is the first character of the key (or of the value for
    list items and the root), `value_start`/`value_end` delimit the value's own text."""

    key_start: int
    value_start: int
    value_end: int


class LineIndex:
    """Maps an offset to 1-based (line, column); columns count characters."""

    def __init__(self, text: str):
        self.text = text
        self.starts = [0]
        for m in re.finditer(r"\r\n|\r|\n", text):
            self.starts.append(m.end())

    def line_col(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1

    def line_text(self, line: int) -> str:
        start = self.starts[line - 1]
        end = self.starts[line] if line < len(self.starts) else len(self.text)
        return self.text[start:end].rstrip("\r\n")


class PositionError(ValueError):
    """A syntax problem found while locating spans (offset of the culprit)."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message = message
        self.offset = offset


# --------------------------------------------------------------------------------------------
# JSON

_WS = " \t\r\n"
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")


def json_spans(text: str) -> dict[Path, Span]:
    """Spans of every key and value of a JSON text (which `json.loads` has already accepted).
    With duplicate keys, the last one wins, as in `json.loads`."""
    spans: dict[Path, Span] = {}
    pos = 1 if text.startswith("\ufeff") else 0

    def skip(i: int) -> int:
        while i < len(text) and text[i] in _WS:
            i += 1
        return i

    def value(i: int, path: Path, key_start: int) -> int:
        i = skip(i)
        start = i
        ch = text[i]
        if ch == "{":
            i = skip(i + 1)
            if text[i] == "}":
                i += 1
            else:
                while True:
                    i = skip(i)
                    kstart = i
                    key, i = json.decoder.scanstring(text, i + 1)
                    i = skip(i)
                    i = value(i + 1, path + (key,), kstart)  # past ':'
                    i = skip(i)
                    if text[i] == ",":
                        i += 1
                        continue
                    i += 1  # '}'
                    break
        elif ch == "[":
            i = skip(i + 1)
            if text[i] == "]":
                i += 1
            else:
                index = 0
                while True:
                    i = skip(i)
                    i = value(i, path + (index,), i)
                    index += 1
                    i = skip(i)
                    if text[i] == ",":
                        i += 1
                        continue
                    i += 1
                    break
        elif ch == '"':
            _, i = json.decoder.scanstring(text, i + 1)
        elif text.startswith("true", i):
            i += 4
        elif text.startswith("false", i):
            i += 5
        elif text.startswith("null", i):
            i += 4
        elif text.startswith("NaN", i):
            i += 3
        elif text.startswith("Infinity", i):
            i += 8
        elif text.startswith("-Infinity", i):
            i += 9
        else:
            m = _NUMBER.match(text, i)
            if not m:
                raise PositionError("unexpected character", i)
            i = m.end()
        spans[path] = Span(key_start, start, i)
        return i

    start = skip(pos)
    value(start, (), start)
    return spans


# --------------------------------------------------------------------------------------------
# TOML

_BARE = re.compile(r"[A-Za-z0-9_-]+")


class _TomlScanner:
    """A small TOML tokenizer that knows just enough (strings, comments, arrays, inline tables,
    headers, dotted keys) to find where each key and value sits. `tomllib` parses the values."""

    def __init__(self, text: str):
        self.text = text
        self.n = len(text)
        self.spans: dict[Path, Span] = {}
        self.aot_last: dict[Path, int] = {}  # array-of-tables path -> index of its last element
        self.tables: set[Path] = set()
        self.comments: dict[int, str] = {}  # offset of line start -> comment text on that line

    # --- low level
    def ws(self, i: int) -> int:
        while i < self.n and self.text[i] in " \t":
            i += 1
        return i

    def ws_nl_comments(self, i: int) -> int:
        while i < self.n:
            ch = self.text[i]
            if ch in " \t\r\n":
                i += 1
            elif ch == "#":
                i = self.comment(i)
            else:
                break
        return i

    def comment(self, i: int) -> int:
        j = i
        while j < self.n and self.text[j] not in "\r\n":
            j += 1
        self.comments[i] = self.text[i:j]
        return j

    def string(self, i: int) -> tuple[str, int]:
        t = self.text
        for quote in ('"""', "'''"):
            if t.startswith(quote, i):
                j = i + 3
                while True:
                    k = t.find(quote, j)
                    if k < 0:
                        raise PositionError("unterminated multi-line string", i)
                    if quote == '"""':
                        # an escaped quote does not close: count backslashes before k
                        b = k - 1
                        slashes = 0
                        while b >= j and t[b] == "\\":
                            slashes += 1
                            b -= 1
                        if slashes % 2:
                            j = k + 1
                            continue
                    end = k + 3
                    while end < self.n and t[end] == quote[0] and end - k < 5:
                        end += 1
                    return t[i + 3:end - 3], end
        q = t[i]
        j = i + 1
        out = []
        while j < self.n:
            ch = t[j]
            if ch == q:
                text = "".join(out)
                if q == '"':
                    try:
                        text = json.loads('"' + t[i + 1:j] + '"')
                    except ValueError:
                        text = t[i + 1:j]
                return text, j + 1
            if ch in "\r\n":
                raise PositionError("unterminated string", i)
            if ch == "\\" and q == '"':
                out.append(t[j:j + 2])
                j += 2
                continue
            out.append(ch)
            j += 1
        raise PositionError("unterminated string", i)

    def key(self, i: int) -> tuple[list[str], int]:
        """A possibly dotted key; returns its parts and the offset after it."""
        parts = []
        while True:
            i = self.ws(i)
            if i < self.n and self.text[i] in "\"'":
                part, i = self.string(i)
            else:
                m = _BARE.match(self.text, i)
                if not m:
                    raise PositionError("expected a key", i)
                part, i = m.group(0), m.end()
            parts.append(part)
            j = self.ws(i)
            if j < self.n and self.text[j] == ".":
                i = j + 1
                continue
            return parts, j

    def resolve(self, parts: list[str]) -> Path:
        """Header path with array-of-tables indices filled in."""
        path: Path = ()
        for part in parts:
            path = path + (part,)
            if path in self.aot_last:
                path = path + (self.aot_last[path],)
        return path

    def check_new(self, path: Path, key_start: int) -> None:
        if path in self.spans:
            first = self.spans[path].key_start
            raise PositionError(f"duplicate key {'.'.join(str(p) for p in path)!s} "
                                f"(first defined at offset {first})", key_start)

    def record(self, path: Path, span: Span) -> None:
        if path in self.spans:
            first = self.spans[path].key_start
            raise PositionError(f"duplicate key {'.'.join(str(p) for p in path)!s} "
                                f"(first defined at offset {first})", span.key_start)
        self.spans[path] = span

    # --- values
    def value(self, i: int, path: Path, key_start: int) -> int:
        t = self.text
        start = i
        ch = t[i] if i < self.n else ""
        if ch in "\"'":
            _, i = self.string(i)
        elif ch == "[":
            i += 1
            index = 0
            while True:
                i = self.ws_nl_comments(i)
                if i < self.n and t[i] == "]":
                    i += 1
                    break
                i = self.value(i, path + (index,), i)
                index += 1
                i = self.ws_nl_comments(i)
                if i < self.n and t[i] == ",":
                    i += 1
        elif ch == "{":
            i += 1
            while True:
                i = self.ws(i)
                if i < self.n and t[i] == "}":
                    i += 1
                    break
                kstart = i
                parts, i = self.key(i)
                i = self.ws(i)
                if i >= self.n or t[i] != "=":
                    raise PositionError("expected '=' in inline table", i)
                i = self.ws(i + 1)
                sub = path + tuple(parts)
                self.check_new(sub, kstart)
                i = self.value(i, sub, kstart)
                i = self.ws(i)
                if i < self.n and t[i] == ",":
                    i += 1
        else:
            j = i
            while j < self.n and t[j] not in ",]}#\r\n":
                j += 1
            # dates may hold a space ("1979-05-27 07:32:00"); trailing blanks are not the value
            while j > i and t[j - 1] in " \t":
                j -= 1
            if j == i:
                raise PositionError("expected a value", i)
            i = j
        self.record(path, Span(key_start, start, i))
        return i

    # --- document
    def scan(self) -> dict[Path, Span]:
        t = self.text
        i = 1 if t.startswith("\ufeff") else 0
        table: Path = ()
        while True:
            i = self.ws_nl_comments(i)
            if i >= self.n:
                break
            if t[i] == "[":
                hstart = i
                aot = t.startswith("[[", i)
                parts, j = self.key(i + (2 if aot else 1))
                close = "]]" if aot else "]"
                if not t.startswith(close, j):
                    raise PositionError("expected ']' after a table name", j)
                j += len(close)
                if aot:
                    parent = self.resolve(parts[:-1])
                    base = parent + (parts[-1],)
                    index = self.aot_last.get(base, -1) + 1
                    self.aot_last[base] = index
                    table = base + (index,)
                    if index == 0:
                        self.spans[base] = Span(hstart, hstart, j)
                else:
                    table = self.resolve(parts)
                    if table in self.tables:
                        raise PositionError(f"table [{'.'.join(parts)}] defined twice", hstart)
                    self.tables.add(table)
                self.spans.setdefault(table, Span(hstart, hstart, j))
                i = self.end_of_line(j)
                continue
            kstart = i
            parts, j = self.key(i)
            if j >= self.n or t[j] != "=":
                raise PositionError("expected '=' after a key", j)
            j = self.ws(j + 1)
            self.check_new(table + tuple(parts), kstart)
            j = self.value(j, table + tuple(parts), kstart)
            i = self.end_of_line(j)
        return self.spans

    def end_of_line(self, i: int) -> int:
        i = self.ws(i)
        if i < self.n and self.text[i] == "#":
            i = self.comment(i)
        if i < self.n and self.text[i] not in "\r\n":
            raise PositionError("expected the end of the line", i)
        return i


def toml_spans(text: str) -> tuple[dict[Path, Span], dict[int, str]]:
    """Spans of every key of a TOML text, and its comments by offset.

    Raises PositionError for duplicate keys or tables (which `tomllib` reports at the end of the
    value; this points at the key itself)."""
    scanner = _TomlScanner(text)
    spans = scanner.scan()
    return spans, scanner.comments
