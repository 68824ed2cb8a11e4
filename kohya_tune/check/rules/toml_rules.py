"""KT6xx: how sd-scripts really reads a TOML file (the `toml` 0.10.2 parser, one-level
flattening of `--config_file` sections, argparse that never converts file values)."""
from __future__ import annotations

import datetime
import math
import re

from kohya_tune.check.diagnostics import lit
from kohya_tune.load import documents
from kohya_tune.versions import profiles
from kohya_tune.check import schema
from kohya_tune.check.diagnostics import Fix
from kohya_tune.check.diagnostics import Edit
from kohya_tune.check.rules.base import Rule

ARGS_KINDS = frozenset({"args"})

_INT_TEXT = re.compile(r"\s*[+-]?\d+\s*")
_FLOAT_TEXT = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def quoted_number(doc, keypath: tuple, value):
    """The number a quoted value of an int/float argparse option stands for (`"1600"` -> 1600),
    or None. KT601 reports these; KT104 (wrong-type) leaves them to KT601."""
    if doc.kind != documents.ARGS or not isinstance(value, str) or not keypath:
        return None
    if len(keypath) > 2 or (len(keypath) == 2 and not isinstance(doc.data.get(keypath[0]), dict)):
        return None
    prop = schema.property_schema(doc, str(keypath[-1])) or {}
    argtype = (prop.get("x-kohya-argparse") or {}).get("type")
    if (prop.get("x-kohya-argparse") or {}).get("nargs"):
        return None
    if argtype == "int" or argtype == "int_or_float" and _INT_TEXT.fullmatch(value):
        return int(value) if _INT_TEXT.fullmatch(value) else None
    if argtype in ("float", "int_or_float") and _FLOAT_TEXT.fullmatch(value):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _occurrences(data: dict) -> dict:
    """flattened key -> key paths in the order sd-scripts' read_config_from_file visits them
    (the last one wins)."""
    out: dict = {}
    for top, value in data.items():
        if isinstance(value, dict):
            for sub in value:
                out.setdefault(sub, []).append((top, sub))
        else:
            out.setdefault(top, []).append((top,))
    return out


def _where(keypath: tuple) -> str:
    return "at the top level" if len(keypath) == 1 else f"in [{keypath[0]}]"


def _short(value) -> str:
    text = lit(value)
    return text if len(text) <= 50 else text[:47] + "..."


class QuotedNumber(Rule):
    """Quoted number for a numeric option.

    sd-scripts turns a `--config_file` TOML into the argparse namespace as it is: argparse
    converts only command-line strings, never values from the file. A quoted number for an
    `int` or `float` option therefore reaches the trainer as a string, and the step arithmetic
    or the optimizer fails (or compares a string with a number).

    Bad:

        max_train_steps = "1600"
        learning_rate = "1e-4"

    Fixed:

        max_train_steps = 1600
        learning_rate = 1e-4
    """
    code = "KT601"
    name = "quoted-number"
    severity = "error"
    summary = "quoted number for an int/float option (the trainer gets a string)"
    kinds = ARGS_KINDS

    def check(self, ctx):
        for key, paths in _occurrences(ctx.doc.data).items():
            for keypath in paths:
                value = ctx.doc.data[keypath[0]] if len(keypath) == 1 else ctx.doc.data[keypath[0]][keypath[1]]
                number = quoted_number(ctx.doc, keypath, value)
                if number is None:
                    continue
                prop = schema.property_schema(ctx.doc, key) or {}
                argtype = (prop.get("x-kohya-argparse") or {}).get("type")
                kind = {"int": "an int", "float": "a float"}.get(argtype, "a number")
                fix = Fix(f"write {key} = {lit(number)} without quotes",
                          [Edit(keypath, number, "quoted number")])
                yield ctx.diagnostic(self, f"{key} = {lit(value)} is a string, but the option takes "
                                           f"{kind}: argparse does not convert values from the "
                                           f"config file, so the trainer gets the string",
                                     keypath=keypath, at_value=True, fix=fix)


def _comparable(value):
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, (datetime.date, datetime.time)):
        return "datetime"  # toml 0.10.2 drops some time zones and fractions; no option takes one
    return value


def _first_difference(a, b, path=()):
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a:
            if key not in b:
                return path + (key,)
            found = _first_difference(a[key], b[key], path + (key,))
            if found is not None:
                return found
        for key in b:
            if key not in a:
                return path + (key,)
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            found = _first_difference(x, y, path + (i,))
            if found is not None:
                return found
        return None
    return None if a == b and type(a) is type(b) else path


def _get(data, path):
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


class TomlParserRejects(Rule):
    """TOML that sd-scripts' parser rejects.

    sd-scripts and the kohya_ss GUI read TOML with the `toml` package 0.10.2, which predates
    TOML 1.0. Some valid TOML 1.0 fails there: arrays that mix types (`[1, "a"]`, `[1, 2.0]`,
    `[true, 1]`), a multi-line string that ends in extra quotes (`'''x''''`). The trainer then
    stops before training with a `TomlDecodeError`. In a few other cases `toml` 0.10.2 reads a
    different value (`a . b = 1` gives the key `"a "`, `[{x = 1}, 2]` loses its last item).

    Bad:

        network_args = ["conv_dim=4", 4]

    Fixed (every item a "key=value" string):

        network_args = ["conv_dim=4", "conv_alpha=4"]
    """
    code = "KT602"
    name = "toml-parser-rejects"
    severity = "error"
    summary = "TOML that sd-scripts' parser (toml 0.10.2) rejects or reads differently"
    kinds = frozenset({"args", "dataset"})

    def check(self, ctx):
        doc = ctx.doc
        if doc.format != "toml":
            return
        try:
            import toml
        except ImportError:  # pragma: no cover - a declared dependency
            return
        body = doc.text[1:] if doc.text.startswith("\ufeff") else doc.text
        try:
            parsed = toml.loads(body)
        except toml.TomlDecodeError as exc:
            line = max(1, int(getattr(exc, "lineno", 1) or 1))
            column = max(1, int(getattr(exc, "colno", 1) or 1))
            line = min(line, len(doc.lines.starts))
            keypath = self._key_on_line(doc, line)
            if keypath is not None:
                line, column = doc.position(keypath)
            msg = getattr(exc, "msg", None) or str(exc)
            extra = ""
            if "homogeneous" in msg:
                extra = " (TOML 1.0 allows mixed types in an array; toml 0.10.2 does not)"
            yield ctx.diagnostic(self, f"sd-scripts' TOML parser (toml 0.10.2) rejects this file: "
                                       f"{msg}{extra}; the trainer stops with TomlDecodeError",
                                 keypath=keypath or (), line=line, column=column)
            return
        except Exception as exc:  # noqa: BLE001 - toml 0.10.2 raises odd errors on odd input
            yield ctx.diagnostic(self, f"sd-scripts' TOML parser (toml 0.10.2) fails on this file: "
                                       f"{type(exc).__name__}: {exc}", line=1, column=1)
            return
        path = _first_difference(_comparable(doc.data), _comparable(parsed))
        if path is None:
            return
        ours = _get(doc.data, path)
        theirs = _get(parsed, path)
        shown = ".".join(str(p) for p in path) or "the document"
        yield ctx.diagnostic(self, f"sd-scripts' TOML parser (toml 0.10.2) reads {shown} "
                                   f"differently: {_short(theirs)} instead of {_short(ours)}",
                             keypath=tuple(path))

    @staticmethod
    def _key_on_line(doc, line: int):
        best = None
        for keypath, span in doc.spans.items():
            if not keypath:
                continue
            kl, _ = doc.lines.line_col(span.key_start)
            if kl == line and (best is None or span.key_start < doc.spans[best].key_start):
                best = keypath
        return best


class SectionKeyOverride(Rule):
    """Same option in several sections.

    sd-scripts flattens a `--config_file` TOML one level: the keys of every section are copied
    to the top level in file order, so when two sections (or the top level and a section) set the
    same option, the last one in the file wins and the others are silently ignored.

    Bad:

        [training]
        train_batch_size = 2

        [dataset]
        train_batch_size = 4   # this one is used

    Fixed: set it once.

        [training]
        train_batch_size = 4
    """
    code = "KT603"
    name = "section-key-override"
    severity = "warning"
    summary = "option set in several sections; the last one silently wins"
    kinds = ARGS_KINDS

    def check(self, ctx):
        data = ctx.doc.data
        for key, paths in _occurrences(data).items():
            if len(paths) < 2:
                continue
            winner = paths[-1]
            won = _get(data, winner)
            for keypath in paths[:-1]:
                lost = _get(data, keypath)
                wl, _ = ctx.doc.position(winner)
                same = " (the same value)" if lost == won and type(lost) is type(won) else ""
                yield ctx.diagnostic(self, f"{key} = {_short(lost)} {_where(keypath)} is overridden "
                                           f"by {key} = {_short(won)} {_where(winner)} (line {wl}){same}: "
                                           f"sd-scripts merges all sections and the last one wins",
                                     keypath=keypath)


class NestedSectionIgnored(Rule):
    """Section nested two levels deep.

    sd-scripts flattens only one level of a `--config_file` TOML. The keys of `[a.b]` are not
    copied to the top level: they reach argparse as one option `b` whose value is a table, which
    nothing reads, so every setting in it is ignored.

    Bad:

        [training]
        max_train_epochs = 10

        [training.optimizer]
        learning_rate = 1e-4

    Fixed:

        [training]
        max_train_epochs = 10
        learning_rate = 1e-4
    """
    code = "KT604"
    name = "nested-section-ignored"
    severity = "warning"
    summary = "table nested two levels deep in an args TOML (its keys are ignored)"
    kinds = ARGS_KINDS

    def check(self, ctx):
        for top, value in ctx.doc.data.items():
            if not isinstance(value, dict):
                continue
            for sub, inner in value.items():
                tables = None
                if isinstance(inner, dict):
                    header, tables = f"[{top}.{sub}]", [inner]
                elif isinstance(inner, list) and inner and all(isinstance(t, dict) for t in inner):
                    header, tables = f"[[{top}.{sub}]]", inner
                if tables is None:
                    continue
                keys = list(dict.fromkeys(k for t in tables for k in t))
                shown = ", ".join(keys[:6]) + (", ..." if len(keys) > 6 else "")
                yield ctx.diagnostic(self, f"{header} is nested two levels deep: sd-scripts "
                                           f"flattens only one level, so its keys ({shown or 'none'}) "
                                           f"reach argparse as one table-valued option {lit(sub)} and "
                                           f"are ignored; move them into [{top}]",
                                     keypath=(top, sub))



def _args_profile(settings) -> dict:
    return profiles.sd_scripts_args_profile(profiles.sd_scripts(getattr(settings, "sd_scripts", None)).label)


class UnknownScriptOption(Rule):
    """Option that the chosen training script does not define.

    Each sd-scripts script defines its own options on top of the shared ones: the SDXL options
    (`cache_text_encoder_outputs`, `text_encoder_lr1` ...) exist only in the `sdxl_*` scripts,
    `network_dim` only in the network trainers, and so on. An option of another script is kept
    as an extra attribute that nothing reads. The script is `train_network` unless `--script`
    or `script` in the settings names another one.

    Bad (with train_network):

        cache_text_encoder_outputs = true

    Fixed: run `sdxl_train_network`, or drop the option.
    """
    code = "KT605"
    name = "unknown-script-option"
    severity = "info"
    summary = "sd-scripts option that the chosen script does not define"
    kinds = ARGS_KINDS

    def check(self, ctx):
        profile = _args_profile(ctx.settings)
        script = getattr(ctx.settings, "script", None) or "train_network"
        scripts = profile.get("scripts", {})
        if script not in scripts:
            return  # this sd-scripts version has no such script (or we do not know it)
        args = profile.get("args", {})
        own = set(scripts[script])
        for key, paths in _occurrences(ctx.doc.data).items():
            arg = args.get(key)
            if arg is None or key in own or isinstance(_get(ctx.doc.data, paths[-1]), dict):
                continue
            users = [s for s in arg.get("scripts", []) if s in scripts]
            shown = ", ".join(users[:4]) + (", ..." if len(users) > 4 else "")
            yield ctx.diagnostic(self, f"{key} is not an option of {script} (sd-scripts "
                                       f"{profile.get('ref', '')}; it belongs to {shown}): "
                                       f"{script} keeps it as an unused attribute",
                                 keypath=paths[-1])
