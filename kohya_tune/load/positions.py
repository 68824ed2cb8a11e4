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
# limits a real config never reaches, checked before any recursive parser runs

MAX_DEPTH = 64  # kohya configs nest at most 4 levels ([[datasets.subsets]] with an inline table)


def _string_end(text: str, i: int, toml: bool) -> int:
    """Offset after the string literal starting at `i` (JSON, or any of TOML's four kinds); the
    end of the text when it is not closed (the parsers report that)."""
    n = len(text)
    if toml and text.startswith(('"""', "\'\'\'"), i):
        quote = text[i:i + 3]
        j = i + 3
        while True:
            k = text.find(quote, j)
            if k < 0:
                return n
            if quote == '"""':
                b, slashes = k - 1, 0
                while b >= j and text[b] == "\\":
                    slashes += 1
                    b -= 1
                if slashes % 2:
                    j = k + 1
                    continue
            end = k + 3
            while end < n and text[end] == quote[0] and end - k < 5:
                end += 1
            return end
    q = text[i]
    j = i + 1
    while j < n:
        ch = text[j]
        if ch == "\\" and q == '"':
            j += 2
            continue
        if ch == q:
            return j + 1
        if toml and ch in "\r\n":
            return j
        j += 1
    return n


def structure_problem(text: str, fmt: str) -> PositionError | None:
    """Nesting deeper than MAX_DEPTH, or an integer literal longer than Python reads
    (`sys.get_int_max_str_digits()`, 4300 by default: `int()` raises ValueError, so Python's
    `json` - which the GUI loads configs with - and `tomllib` both fail on it). Found by one pass
    over the text outside strings and comments, before any recursive parser can hit its
    RecursionError."""
    import sys

    toml = fmt == "toml"
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)() or 0
    n = len(text)
    depth = 0
    i = 0
    digits_start = -1
    digits = 0
    while i < n:
        ch = text[i]
        if ch == '"' or (toml and ch == "'"):
            i = _string_end(text, i, toml)
            digits = 0
            continue
        if toml and ch == "#":
            while i < n and text[i] not in "\r\n":
                i += 1
            continue
        if ch.isdigit() and ch.isascii():
            if digits == 0:
                digits_start = i
            digits += 1
            if limit and digits > limit:
                j = i
                while j < n and (text[j].isdigit() or text[j] == "_"):
                    j += 1
                before = text[max(0, digits_start - 2):digits_start]
                after = text[j:j + 1]
                fraction_or_exponent = before.endswith((".", "e", "E", "e+", "e-", "E+", "E-"))
                mantissa = after in (".", "e", "E") and after != ""
                bare_key = toml and text[j:j + 200].lstrip(" \t").startswith(("=", "."))
                if fraction_or_exponent or mantissa or bare_key:
                    # a fraction, a float's mantissa or exponent (float() has no such limit),
                    # or a TOML bare key made of digits
                    i = j
                    digits = 0
                    continue
                return PositionError(
                    f"an integer of more than {limit} digits: Python's int() refuses it "
                    f"(ValueError), so neither the GUI's json nor the trainer's TOML reader can "
                    f"load this file", digits_start)
        elif not (toml and ch == "_" and digits):
            digits = 0
        if ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return PositionError(
                    f"nested more than {MAX_DEPTH} levels deep: no kohya config nests more than 4 "
                    f"(Python's json and tomllib stop with RecursionError at about 1000 levels)", i)
        elif ch in "]}":
            depth = max(0, depth - 1)
        i += 1
    return None


# --------------------------------------------------------------------------------------------
# JSON

_WS = " \t\r\n"
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Duplicate:
    """A JSON key given twice in one object: Python's json keeps the last value."""
    keypath: Path
    first: int    # offset of the first occurrence's key
    later: int    # offset of the occurrence that wins


def json_spans(text: str) -> dict[Path, Span]:
    """Spans of every key and value of a JSON text (which `json.loads` has already accepted).
    With duplicate keys, the last one wins, as in `json.loads`."""
    return json_scan(text)[0]


def json_scan(text: str) -> tuple[dict[Path, Span], list[Duplicate]]:
    """Spans, and the duplicate keys in the order they appear. The nesting must be within
    MAX_DEPTH (`structure_problem`), which keeps the recursion here bounded."""
    spans: dict[Path, Span] = {}
    duplicates: list[Duplicate] = []
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
            seen: dict = {}
            if text[i] == "}":
                i += 1
            else:
                while True:
                    i = skip(i)
                    kstart = i
                    key, i = json.decoder.scanstring(text, i + 1)
                    if key in seen:
                        duplicates.append(Duplicate(path + (key,), seen[key], kstart))
                        # the earlier value's own entries do not survive json.loads either
                        for stale in [p for p in spans if p[:len(path) + 1] == path + (key,)]:
                            del spans[stale]
                    seen[key] = kstart
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
    return spans, duplicates


# --------------------------------------------------------------------------------------------
# TOML
#
# The scanner follows the TOML v1.0.0 specification (https://toml.io/en/v1.0.0), one method per
# section of it; it reads only as far as it needs to place keys and values. `tomllib` stays the
# judge of validity: where the two disagree, the values come from tomllib and an error's
# position from whichever of the two saw the problem first (see `toml_error`).

_BARE = re.compile(r"[A-Za-z0-9_-]+")
# integers, floats (inf, nan), booleans and date-times are one run of these characters
# (§Integer, §Float, §Boolean, §Offset Date-Time ... §Local Time)
_SCALAR = re.compile(r"[A-Za-z0-9_+\-.:]+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_TIME_AFTER_SPACE = re.compile(r" \d{2}:")


def _dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


class _TomlScanner:
    """Where each key and value of a TOML document sits: `scan` reads the document as a sequence
    of expressions (§Spec: one per line: blank, comment, key/value pair or table header)."""

    def __init__(self, text: str):
        self.text = text
        self.n = len(text)
        self.spans: dict[Path, Span] = {}
        self.comments: dict[int, str] = {}       # offset of a comment -> its text
        self.starts: list[int] = []               # offset of every statement and header, in order
        self.aot_last: dict[Path, int] = {}       # array of tables -> index of its last table
        self.tables: set[Path] = set()            # tables opened by a [header]
        self.values: set[Path] = set()            # keys bound to a value (inline tables included)
        self.dotted: dict[Path, int] = {}         # tables created by dotted keys -> first key (§Keys)
        self.table: Path = ()                     # the table the next key/value pairs go to
        self.soft: list[PositionError] = []       # TOML 1.0 errors that TOML 1.1 allows

    # --- §Spec: the document
    def scan(self) -> dict[Path, Span]:
        i = 1 if self.text.startswith("\ufeff") else 0
        while True:
            i = self.blank_lines(i)
            if i >= self.n:
                return self.spans
            self.starts.append(i)
            if self.text[i] == "[":
                i = self.table_header(i)
            else:
                i = self.keyval(i, self.table)
            i = self.end_of_line(i)

    # --- §Comment
    def comment(self, i: int) -> int:
        """From '#' to the end of the line."""
        j = i
        while j < self.n and self.text[j] not in "\r\n":
            j += 1
        self.comments[i] = self.text[i:j]
        return j

    def blank_lines(self, i: int) -> int:
        """Whitespace, newlines and comments between expressions (and inside arrays)."""
        while i < self.n:
            ch = self.text[i]
            if ch in " \t\r\n":
                i += 1
            elif ch == "#":
                i = self.comment(i)
            else:
                break
        return i

    def ws(self, i: int) -> int:
        """Whitespace inside a line: spaces and tabs (§Spec)."""
        while i < self.n and self.text[i] in " \t":
            i += 1
        return i

    def end_of_line(self, i: int) -> int:
        """After an expression: only whitespace and a comment before the newline (§Key/Value
        Pair: "there must be a newline after a key/value pair")."""
        i = self.ws(i)
        if i < self.n and self.text[i] == "#":
            i = self.comment(i)
        if i < self.n and self.text[i] not in "\r\n":
            raise PositionError("expected the end of the line after a value", i)
        return i

    # --- §Keys
    def key(self, i: int) -> tuple[list[str], int]:
        """A bare, quoted or dotted key: its parts and the offset after it (whitespace around
        the dots is allowed)."""
        parts = []
        while True:
            part, i = self.simple_key(self.ws(i))
            parts.append(part)
            j = self.ws(i)
            if j < self.n and self.text[j] == ".":
                i = j + 1
                continue
            return parts, j

    def simple_key(self, i: int) -> tuple[str, int]:
        if i < self.n and self.text[i] in "\"'":
            if self.text.startswith(('"""', "\'\'\'"), i):
                raise PositionError("a key cannot be a multi-line string", i)
            return self.string(i)
        m = _BARE.match(self.text, i)
        if not m:
            raise PositionError("expected a key", i)
        return m.group(0), m.end()

    # --- §Key/Value Pair
    def keyval(self, i: int, table: Path) -> int:
        """`key = value`: the key may not be defined before, nor extend a value (§Keys: "Defining
        a key multiple times is invalid"; §Table: dotted keys create tables)."""
        key_start = i
        parts, j = self.key(i)
        if j >= self.n or self.text[j] != "=":
            raise PositionError("expected '=' after a key", j)
        path = table + tuple(parts)
        self.claim_key(path, len(table), key_start)
        return self.value(self.ws(j + 1), path, key_start)

    def claim_key(self, path: Path, base: int, key_start: int) -> None:
        for cut in range(base + 1, len(path)):
            prefix = path[:cut]
            if prefix in self.values:
                raise PositionError(f"{_dotted(prefix)} is already a value and cannot hold "
                                    f"{_dotted(path)}" + self._first(prefix), key_start)
            if prefix in self.tables and prefix not in self.dotted:
                # §Table: a dotted key may not add to a table opened by a [header] elsewhere
                raise PositionError(f"table {_dotted(prefix)} is defined by a [header]; a dotted "
                                    f"key cannot add to it" + self._first(prefix), key_start)
            self.dotted.setdefault(prefix, key_start)
        if path in self.spans or path in self.tables or path in self.dotted:
            raise PositionError(f"duplicate key {_dotted(path)}" + self._first(path), key_start)

    def _first(self, path: Path) -> str:
        span = self.spans.get(path)
        first = span.key_start if span is not None else self.dotted.get(path)
        return f" (first defined at offset {first})" if first is not None else ""

    # --- values (§Spec: String, Integer, Float, Boolean, Date-Time, Array, Inline Table)
    def value(self, i: int, path: Path, key_start: int, depth: int = 0) -> int:
        if depth > MAX_DEPTH:
            raise PositionError(f"nested more than {MAX_DEPTH} levels deep", i)
        start = i
        ch = self.text[i] if i < self.n else ""
        if ch and ch in "\"'":
            _, i = self.string(i)
        elif ch == "[":
            i = self.array(i, path, depth)
        elif ch == "{":
            i = self.inline_table(i, path, depth)
        else:
            i = self.scalar(i)
        self.spans[path] = Span(key_start, start, i)
        self.values.add(path)
        return i

    # --- §String: basic, multi-line basic, literal, multi-line literal
    def string(self, i: int) -> tuple[str, int]:
        t = self.text
        if t.startswith(('"""', "\'\'\'"), i):
            return self.multiline_string(i)
        q = t[i]
        j = i + 1
        while j < self.n:
            ch = t[j]
            if ch == q:
                raw = t[i + 1:j]
                if q == '"':
                    try:
                        raw = json.loads('"' + raw + '"')
                    except ValueError:
                        pass  # an escape JSON does not have (\e, \U...): the key text as written
                return raw, j + 1
            if ch in "\r\n":
                raise PositionError("unterminated string", i)
            j += 2 if ch == "\\" and q == '"' else 1
        raise PositionError("unterminated string", i)

    def multiline_string(self, i: int) -> tuple[str, int]:
        """Closed by the first unescaped triple quote; up to two more quotes right before it
        belong to the content (§String: "one or two adjacent quotes ... at the end")."""
        end = _string_end(self.text, i, True)
        quote = self.text[i:i + 3]
        if end >= self.n and not self.text.endswith(quote):
            raise PositionError("unterminated multi-line string", i)
        return self.text[i + 3:end - 3], end

    # --- §Integer, §Float, §Boolean, §Offset Date-Time, §Local Date-Time, §Local Date, §Local Time
    def scalar(self, i: int) -> int:
        """One token; a date and a time may be separated by one space (§Offset Date-Time:
        "you may replace the T delimiter ... with a space character")."""
        m = _SCALAR.match(self.text, i)
        if not m:
            raise PositionError("expected a value", i)
        j = m.end()
        if _DATE.match(m.group(0)) and _TIME_AFTER_SPACE.match(self.text, j):
            j = _SCALAR.match(self.text, j + 1).end()
        return j

    # --- §Array
    def array(self, i: int, path: Path, depth: int) -> int:
        """`[` values separated by commas, newlines and comments allowed, a trailing comma too."""
        i += 1
        index = 0
        while True:
            i = self.blank_lines(i)
            if i < self.n and self.text[i] == "]":
                return i + 1
            if i >= self.n:
                raise PositionError("unterminated array (expected ']')", i)
            i = self.value(i, path + (index,), i, depth + 1)
            index += 1
            i = self.blank_lines(i)
            if i < self.n and self.text[i] == ",":
                i += 1
            elif i < self.n and self.text[i] != "]":
                raise PositionError("expected ',' or ']' in an array", i)

    # --- §Inline Table
    def inline_table(self, i: int, path: Path, depth: int) -> int:
        """`{ key = value, ... }`. TOML v1.0.0: on one line, no trailing comma ("No newlines are
        allowed ... A terminating comma (also called trailing comma) is not permitted"); TOML
        v1.1 allows both, and so do the parsers that follow it (tomli >= 2.3 on Python 3.10), so
        these are noted as `soft` problems and reported only when the parser refuses the file."""
        i = self.inline_blank(i + 1)
        if i < self.n and self.text[i] == "}":
            return i + 1
        while True:
            kstart = i
            parts, i = self.key(i)
            if i >= self.n or self.text[i] != "=":
                raise PositionError("expected '=' in an inline table", i)
            sub = path + tuple(parts)
            self.claim_key(sub, len(path), kstart)
            i = self.inline_blank(self.value(self.ws(i + 1), sub, kstart, depth + 1))
            if i < self.n and self.text[i] == "}":
                return i + 1
            if i >= self.n or self.text[i] != ",":
                raise PositionError("expected ',' or '}' in an inline table", i)
            comma = i
            i = self.inline_blank(i + 1)
            if i < self.n and self.text[i] == "}":
                self.soft.append(PositionError("trailing comma in an inline table (TOML 1.0 "
                                               "does not allow it)", comma))
                return i + 1

    def inline_blank(self, i: int) -> int:
        j = self.blank_lines(i)
        if "\n" in self.text[i:j] or "\r" in self.text[i:j]:
            self.soft.append(PositionError("newline inside an inline table (TOML 1.0 does not "
                                           "allow it)", i))
        return j

    # --- §Table and §Array of Tables
    def table_header(self, i: int) -> int:
        if self.text.startswith("[[", i):
            return self.array_table_header(i)
        return self.std_table_header(i)

    def std_table_header(self, i: int) -> int:
        """`[a.b]`: a table may be opened once, and not where a key already holds a value."""
        parts, j = self.key(i + 1)
        if not self.text.startswith("]", j):
            raise PositionError("expected ']' after a table name", j)
        table = self.resolve(parts)
        if table in self.tables or table in self.values:
            raise PositionError(f"table [{'.'.join(parts)}] defined twice" + self._first(table), i)
        if table in self.dotted:
            raise PositionError(f"table [{'.'.join(parts)}] is already defined by a dotted key"
                                + self._first(table), i)
        for cut in range(1, len(table)):
            if table[:cut] in self.values and not isinstance(table[cut], int):
                raise PositionError(f"{_dotted(table[:cut])} is already a value and cannot hold "
                                    f"a table" + self._first(table[:cut]), i)
        self.tables.add(table)
        self.table = table
        self.spans.setdefault(table, Span(i, i, j + 1))
        return j + 1

    def array_table_header(self, i: int) -> int:
        """`[[a.b]]`: each header appends one table to the array `a.b`; the parts before the
        last name follow the latest table of any array on the way (§Array of Tables)."""
        parts, j = self.key(i + 2)
        if not self.text.startswith("]]", j):
            raise PositionError("expected ']]' after an array-of-tables name", j)
        base = self.resolve(parts[:-1]) + (parts[-1],)
        if base not in self.aot_last and (base in self.values or base in self.tables or base in self.dotted):
            raise PositionError(f"{_dotted(base)} is already defined and is not an array of "
                                f"tables" + self._first(base), i)
        index = self.aot_last.get(base, -1) + 1
        self.aot_last[base] = index
        if index == 0:
            self.spans[base] = Span(i, i, j + 2)
        self.table = base + (index,)
        self.tables.add(self.table)
        self.spans.setdefault(self.table, Span(i, i, j + 2))
        return j + 2

    def resolve(self, parts: list[str]) -> Path:
        """A header's path with the index of the latest table of each array of tables in it."""
        path: Path = ()
        for part in parts:
            path = path + (part,)
            if path in self.aot_last:
                path = path + (self.aot_last[path],)
        return path


@dataclass
class TomlScan:
    spans: dict
    comments: dict
    starts: list       # offsets of the statements and headers read before any error
    soft: list         # PositionErrors for what TOML 1.0 refuses and TOML 1.1 allows


def toml_scan(text: str) -> tuple[TomlScan, PositionError | None]:
    """Scan as far as possible: what was found, and the first problem (None for none)."""
    scanner = _TomlScanner(text)
    try:
        scanner.scan()
        problem = None
    except PositionError as exc:
        problem = exc
    return TomlScan(scanner.spans, scanner.comments, scanner.starts, scanner.soft), problem


def toml_spans(text: str) -> tuple[dict[Path, Span], dict[int, str]]:
    """Spans of every key of a TOML text, and its comments by offset.

    Raises PositionError for duplicate keys or tables (which `tomllib` reports at the end of the
    value; this points at the key itself)."""
    scan, problem = toml_scan(text)
    if problem is not None:
        raise problem
    return scan.spans, scan.comments


# --------------------------------------------------------------------------------------------
# TOML parser errors with a position on every Python

_AT_LINE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_AT_END = re.compile(r"\s*\(at end of document\)\s*$")
# tomllib/tomli report these after reading the whole statement or header, pointing past it
_AFTER_THE_FACT = ("Cannot overwrite a value", "Cannot declare", "Cannot mutate", "Cannot append")


def toml_decode_position(body: str, exc: Exception) -> tuple[str, int]:
    """The message and the offset (into `body`, the text without BOM) of a TOMLDecodeError, from
    its attributes (tomli >= 2.1, Python >= 3.14: msg, pos) or from the text of its message
    (tomllib 3.11-3.13 and older tomli: "... (at line L, column C)" or "(at end of document)")."""
    text = str(exc)
    msg = getattr(exc, "msg", None)
    pos = getattr(exc, "pos", None)
    if isinstance(msg, str) and isinstance(pos, int):
        return msg, max(0, min(pos, len(body)))
    m = _AT_LINE.search(text)
    if m:
        line, col = int(m.group(1)), int(m.group(2))
        starts = LineIndex(body).starts
        line = max(1, min(line, len(starts)))
        return text[:m.start()], min(starts[line - 1] + col - 1, len(body))
    m = _AT_END.search(text)
    if m:
        return text[:m.start()], len(body)
    return text, len(body)


def toml_error(text: str, exc: Exception, scan: TomlScan, problem: PositionError | None
               ) -> tuple[str, int]:
    """Message and offset (into `text`, BOM included) for a TOML file tomllib refused.

    tomllib reads in order, so everything before its position was valid to it: the scanner's
    problem wins only when it is not later (a duplicate key is found at the key, where tomllib
    points past the value). Errors tomllib raises after a whole statement ("Cannot overwrite a
    value", "Cannot declare ... twice") are moved to the start of that statement."""
    bom = 1 if text.startswith("\ufeff") else 0
    message, offset = toml_decode_position(text[bom:], exc)
    offset += bom
    earlier = [p for p in [problem, *scan.soft] if p is not None and p.offset <= offset]
    if earlier:
        first = min(earlier, key=lambda p: p.offset)
        return first.message, first.offset
    if message.startswith(_AFTER_THE_FACT):
        before = [s for s in scan.starts if s < offset]
        if before:
            offset = before[-1]
    return message, offset
