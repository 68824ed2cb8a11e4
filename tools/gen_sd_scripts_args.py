#!/usr/bin/env python3
"""Extract the argparse options of kohya-ss/sd-scripts training scripts, statically.

Nothing from sd-scripts is imported or executed: each training script's
``setup_parser()`` is *interpreted* over its Python AST. The interpreter follows
calls that receive (or return) an ``argparse`` parser -- the ``add_*_arguments``
helpers in ``library/*.py`` and the parent trainer's ``setup_parser`` for
subclassed trainers -- binds their boolean parameters (``support_dreambooth``,
``support_caption_dropout``, ``support_text_encoder_caching`` ...) and evaluates
``if`` tests on them, so that only the options a given script really registers
are recorded.

Usage::

    python tools/gen_sd_scripts_args.py --git-dir /path/to/sd-scripts.git \\
        --profile v0.6.5=v0.6.5 --profile v0.10.1=v0.10.1 \\
        -o kohya_tune/versions/data/sd_scripts_args.json

``--profile NAME=REF`` may be repeated; REF is any git revision. With no
``--profile`` the two default profiles above are used (falling back to
``main`` for v0.10.1 if that tag is missing).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

# Scripts we try to cover; the ones missing at a ref are recorded as such.
SCRIPTS_OLD = [
    "train_network",
    "sdxl_train_network",
    "train_db",
    "fine_tune",
    "sdxl_train",
    "train_textual_inversion",
    "sdxl_train_textual_inversion",
]
SCRIPTS_NEW = SCRIPTS_OLD + [
    "flux_train_network",
    "sd3_train_network",
    "lumina_train_network",
    "flux_train",
    "sd3_train",
]
# ControlNet trainers: not GUI targets, but docs/train_lllite_README*.md ships a --config_file example
# for sdxl_train_control_net_lllite (cond_emb_dim ...), so the newest profile covers them too
SCRIPTS_CONTROLNET = [
    "sdxl_train_control_net_lllite",
    "sdxl_train_control_net",
    "train_control_net",
    "flux_train_control_net",
]

MAX_DEPTH = 12


class _Unknown:
    """A value the static interpreter cannot know."""

    def __init__(self, expr: str = "?"):
        self.expr = expr

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<unknown {self.expr}>"


class _Parser:
    """Marker for an ArgumentParser (or an argument group of one)."""


PARSER = _Parser()


def is_unknown(v: Any) -> bool:
    return isinstance(v, _Unknown)


class _Ref:
    """A reference to something importable: a module, or a name inside a module."""

    def __init__(self, module: str, name: str | None = None):
        self.module = module
        self.name = name

    def __repr__(self) -> str:  # pragma: no cover
        return f"<ref {self.module}:{self.name}>"


# --------------------------------------------------------------------------- git access


class GitTree:
    def __init__(self, git_dir: str, ref: str):
        self.git_dir = git_dir
        self.ref = ref
        self.commit = self._git("rev-parse", f"{ref}^{{commit}}").strip()
        self.date = self._git("log", "-1", "--format=%cI", self.commit).strip()
        self._cache: dict[str, str | None] = {}
        self.files = set(self._git("ls-tree", "-r", "--name-only", self.commit).split("\n"))

    def _git(self, *args: str) -> str:
        return subprocess.run(
            ["git", f"--git-dir={self.git_dir}", *args], check=True, capture_output=True, text=True
        ).stdout

    def read(self, path: str) -> str | None:
        if path not in self._cache:
            if path in self.files:
                self._cache[path] = self._git("show", f"{self.commit}:{path}")
            else:
                self._cache[path] = None
        return self._cache[path]


# --------------------------------------------------------------------------- modules


class Module:
    def __init__(self, name: str, tree: ast.Module, loader: "Loader"):
        self.name = name
        self.tree = tree
        self.loader = loader
        self.functions: dict[str, ast.FunctionDef] = {}
        self.constants: dict[str, ast.expr] = {}
        self.imports: dict[str, _Ref] = {}
        self._const_cache: dict[str, Any] = {}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                self.functions[node.name] = node
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                self.constants[node.targets[0].id] = node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                self.constants[node.target.id] = node.value
        pkg = name.rsplit(".", 1)[0] if "." in name else ""
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        self.imports[a.asname] = _Ref(a.name)
                    else:
                        top = a.name.split(".")[0]
                        self.imports.setdefault(top, _Ref(top))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = pkg.split(".") if pkg else []
                    parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                    base = ".".join([p for p in parts if p] + ([base] if base else []))
                for a in node.names:
                    local = a.asname or a.name
                    sub = f"{base}.{a.name}" if base else a.name
                    if loader.module_exists(sub):
                        self.imports[local] = _Ref(sub)
                    else:
                        self.imports[local] = _Ref(base, a.name)

    def constant(self, name: str) -> Any:
        if name not in self._const_cache:
            self._const_cache[name] = _Unknown(name)  # guards recursion
            if name in self.constants:
                self._const_cache[name] = Evaluator(self, {}).eval(self.constants[name])
        return self._const_cache[name]


class Loader:
    def __init__(self, tree: GitTree):
        self.tree = tree
        self.modules: dict[str, Module | None] = {}

    @staticmethod
    def path_of(modname: str) -> str:
        return modname.replace(".", "/") + ".py"

    def module_exists(self, modname: str) -> bool:
        return self.path_of(modname) in self.tree.files

    def get(self, modname: str) -> Module | None:
        if modname not in self.modules:
            src = self.tree.read(self.path_of(modname))
            self.modules[modname] = Module(modname, ast.parse(src), self) if src is not None else None
        return self.modules[modname]


# --------------------------------------------------------------------------- interpreter


class Evaluator:
    """Evaluates expressions and executes statements of one function frame."""

    def __init__(self, module: Module, env: dict[str, Any], collector: "Collector | None" = None, depth: int = 0):
        self.module = module
        self.env = env
        self.collector = collector
        self.depth = depth

    # ---- expressions
    def eval(self, node: ast.expr | None) -> Any:
        if node is None:
            return None
        try:
            return self._eval(node)
        except Exception:  # any failure means "we cannot know"
            return _Unknown(ast.unparse(node))

    def _eval(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.env:
                return self.env[node.id]
            if node.id in ("True", "False", "None"):
                return {"True": True, "False": False, "None": None}[node.id]
            if node.id in self.module.constants:
                return self.module.constant(node.id)
            if node.id in self.module.functions:
                return _Ref(self.module.name, node.id)
            if node.id in self.module.imports:
                return self.module.imports[node.id]
            if node.id in ("int", "float", "str", "bool", "list", "tuple", "dict"):
                return _Ref("builtins", node.id)
            return _Unknown(node.id)
        if isinstance(node, ast.Attribute):
            base = self._eval(node.value)
            if isinstance(base, _Ref) and base.name is None:
                sub = f"{base.module}.{node.attr}"
                if self.module.loader.module_exists(sub):
                    return _Ref(sub)
                mod = self.module.loader.get(base.module)
                if mod is not None:
                    if node.attr in mod.constants:
                        return mod.constant(node.attr)
                return _Ref(base.module, node.attr)
            return _Unknown(ast.unparse(node))
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items = [self._eval(e) for e in node.elts]
            if any(is_unknown(i) for i in items):
                return _Unknown(ast.unparse(node))
            return list(items)
        if isinstance(node, ast.Dict):
            return {self._eval(k): self._eval(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.UnaryOp):
            v = self._eval(node.operand)
            if is_unknown(v):
                return v
            if isinstance(node.op, ast.USub):
                return -v
            if isinstance(node.op, ast.UAdd):
                return +v
            if isinstance(node.op, ast.Not):
                return not v
        if isinstance(node, ast.BinOp):
            a, b = self._eval(node.left), self._eval(node.right)
            if is_unknown(a) or is_unknown(b):
                return _Unknown(ast.unparse(node))
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Mult):
                return a * b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Div):
                return a / b
            if isinstance(node.op, ast.Mod):
                return a % b
        if isinstance(node, ast.BoolOp):
            vals = [self._eval(v) for v in node.values]
            if any(is_unknown(v) for v in vals):
                return _Unknown(ast.unparse(node))
            if isinstance(node.op, ast.And):
                return all(vals)
            return any(vals)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            a, b = self._eval(node.left), self._eval(node.comparators[0])
            if is_unknown(a) or is_unknown(b):
                return _Unknown(ast.unparse(node))
            op = node.ops[0]
            table = {
                ast.Eq: lambda x, y: x == y,
                ast.NotEq: lambda x, y: x != y,
                ast.Is: lambda x, y: x is y,
                ast.IsNot: lambda x, y: x is not y,
                ast.In: lambda x, y: x in y,
                ast.NotIn: lambda x, y: x not in y,
            }
            if type(op) in table:
                return table[type(op)](a, b)
        if isinstance(node, ast.JoinedStr):
            out = []
            for part in node.values:
                if isinstance(part, ast.Constant):
                    out.append(str(part.value))
                elif isinstance(part, ast.FormattedValue):
                    v = self._eval(part.value)
                    out.append("{" + ast.unparse(part.value) + "}" if is_unknown(v) or isinstance(v, _Ref) else str(v))
            return "".join(out)
        if isinstance(node, ast.Call):
            # "...".format(...) and ", ".join([...]) inside help strings
            if isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join"):
                base = self._eval(node.func.value)
                if isinstance(base, str):
                    args = [self._eval(a) for a in node.args]
                    if not any(is_unknown(a) for a in args):
                        return getattr(base, node.func.attr)(*args)
            return self.call(node)
        if isinstance(node, ast.Lambda):
            return _Unknown("lambda")
        return _Unknown(ast.unparse(node))

    # ---- calls
    def resolve_function(self, func: ast.expr) -> tuple[Module, ast.FunctionDef] | None:
        v = self._eval(func) if not isinstance(func, ast.Name) or func.id not in self.env else self.env[func.id]
        if isinstance(v, _Ref) and v.name is not None:
            mod = self.module.loader.get(v.module)
            if mod is not None and v.name in mod.functions:
                return mod, mod.functions[v.name]
        return None

    def call(self, node: ast.Call) -> Any:
        func = node.func
        # parser methods
        if isinstance(func, ast.Attribute):
            owner = self.eval(func.value)
            if owner is PARSER:
                if func.attr == "add_argument":
                    if self.collector is not None:
                        self.collector.add_argument(self, node)
                    return None
                if func.attr in ("add_argument_group", "add_mutually_exclusive_group"):
                    return PARSER
                if func.attr == "set_defaults" and self.collector is not None:
                    self.collector.set_defaults(self, node)
                return None
            if isinstance(owner, _Ref) and owner.module == "argparse" and func.attr == "ArgumentParser":
                return PARSER
        if isinstance(func, ast.Name) and func.id == "ArgumentParser":
            ref = self.module.imports.get("ArgumentParser")
            if ref is not None and ref.module == "argparse":
                return PARSER
        target = self.resolve_function(func)
        if target is None:
            return _Unknown(ast.unparse(node))
        mod, fdef = target
        args = [self.eval(a) for a in node.args if not isinstance(a, ast.Starred)]
        kwargs = {k.arg: self.eval(k.value) for k in node.keywords if k.arg}
        passes_parser = any(a is PARSER for a in args) or any(v is PARSER for v in kwargs.values())
        if not passes_parser and fdef.name != "setup_parser":
            return _Unknown(ast.unparse(node))
        if self.depth >= MAX_DEPTH:
            return _Unknown(ast.unparse(node))
        env = bind_params(mod, fdef, args, kwargs)
        frame = Evaluator(mod, env, self.collector, self.depth + 1)
        return frame.run_body(fdef.body)

    # ---- statements
    def run_body(self, body: list[ast.stmt]) -> Any:
        for stmt in body:
            r = self.run_stmt(stmt)
            if r is not None:
                return r[0]
        return None

    def run_stmt(self, stmt: ast.stmt) -> tuple[Any] | None:
        """Returns (value,) on ``return``; None otherwise."""
        if isinstance(stmt, ast.Expr):
            if isinstance(stmt.value, ast.Call):
                self.eval(stmt.value)
            return None
        if isinstance(stmt, ast.Assign):
            v = self.eval(stmt.value)
            for t in stmt.targets:
                if isinstance(t, ast.Name):
                    self.env[t.id] = v
            return None
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            self.env[stmt.target.id] = self.eval(stmt.value) if stmt.value else None
            return None
        if isinstance(stmt, ast.Return):
            return (self.eval(stmt.value),)
        if isinstance(stmt, ast.If):
            cond = self.eval(stmt.test)
            if is_unknown(cond) or isinstance(cond, _Ref):
                # cannot decide: options in both branches may be registered
                if self.collector is not None:
                    self.collector.note(f"undecidable if in {self.module.name}: {ast.unparse(stmt.test)}")
                r1 = self.run_body(stmt.body)
                r2 = self.run_body(stmt.orelse)
                return (r1,) if r1 is not None else ((r2,) if r2 is not None else None)
            r = self.run_body(stmt.body if cond else stmt.orelse)
            return (r,) if r is not None else None
        if isinstance(stmt, (ast.For, ast.While)):
            if isinstance(stmt, ast.For) and isinstance(stmt.target, ast.Name):
                it = self.eval(stmt.iter)
                if isinstance(it, list):
                    for item in it:
                        self.env[stmt.target.id] = item
                        self.run_body(stmt.body)
                    return None
                self.env[stmt.target.id] = _Unknown(stmt.target.id)
            self.run_body(stmt.body)
            return None
        if isinstance(stmt, ast.With):
            r = self.run_body(stmt.body)
            return (r,) if r is not None else None
        if isinstance(stmt, ast.Try):
            r = self.run_body(stmt.body)
            return (r,) if r is not None else None
        return None


def bind_params(mod: Module, fdef: ast.FunctionDef, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    env: dict[str, Any] = {}
    a = fdef.args
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    ev = Evaluator(mod, {})
    for i, p in enumerate(positional):
        if i < len(args):
            env[p.arg] = args[i]
        elif p.arg in kwargs:
            env[p.arg] = kwargs[p.arg]
        elif defaults[i] is not None:
            env[p.arg] = ev.eval(defaults[i])
        else:
            env[p.arg] = _Unknown(p.arg)
    for p, d in zip(a.kwonlyargs, a.kw_defaults):
        env[p.arg] = kwargs.get(p.arg, ev.eval(d) if d is not None else _Unknown(p.arg))
    return env


# --------------------------------------------------------------------------- collecting options

_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")


def english_first_sentence(text: Any, limit: int = 120) -> str:
    if not isinstance(text, str):
        return ""
    text = " ".join(text.split())
    # sd-scripts writes "English / 日本語"; keep the part before the first " / " that leads to CJK
    parts = text.split(" / ")
    eng = parts[0]
    for i in range(1, len(parts)):
        if _CJK.search(parts[i]):
            break
        eng = eng + " / " + parts[i]
    if _CJK.search(eng):
        # no clean split: keep the ASCII-only prefix
        m = _CJK.search(eng)
        eng = eng[: m.start()].rstrip(" /(（")
    m = re.search(r"(?<=[.!?])\s", eng)
    if m:
        eng = eng[: m.start()]
    eng = eng.strip()
    if len(eng) > limit:
        eng = eng[: limit - 3].rstrip() + "..."
    return eng


def jsonable(v: Any) -> Any:
    if is_unknown(v):
        return {"$expr": v.expr}
    if isinstance(v, _Ref):
        return {"$ref_expr": f"{v.module}.{v.name}" if v.name else v.module}
    if isinstance(v, (list, tuple, set)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, float) and v != v:
        return None
    return v


def type_name(v: Any, node: ast.expr | None) -> str | None:
    if node is None:
        return None
    if isinstance(v, _Ref):
        return v.name or v.module
    return ast.unparse(node)


class Collector:
    def __init__(self, script: str):
        self.script = script
        self.options: dict[str, dict[str, Any]] = {}
        self.notes: list[str] = []

    def note(self, msg: str) -> None:
        if msg not in self.notes:
            self.notes.append(msg)

    def add_argument(self, ev: Evaluator, node: ast.Call) -> None:
        flags = [ev.eval(a) for a in node.args]
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        vals = {k: ev.eval(v) for k, v in kw.items()}
        flags = [f for f in flags if isinstance(f, str)]
        if not flags:
            self.note(f"add_argument with unresolvable name in {ev.module.name}: {ast.unparse(node)[:80]}")
            return
        if "dest" in vals and isinstance(vals["dest"], str):
            dest = vals["dest"]
        else:
            longs = [f for f in flags if f.startswith("--")]
            first = longs[0] if longs else flags[0]
            dest = first.lstrip("-").replace("-", "_")
        action = vals.get("action")
        nargs = vals.get("nargs")
        raw_type = type_name(vals.get("type"), kw.get("type"))
        # argparse "type" callables: builtins map to themselves, pathlib.Path is a string in TOML,
        # int_or_float (train_util) is kept as its own kind
        base = {"int": "int", "float": "float", "str": "str", "Path": "str", "int_or_float": "int_or_float"}.get(
            raw_type or "", raw_type
        )
        if action in ("store_true", "store_false"):
            typ = "bool"
            default = vals.get("default", action == "store_false")
        elif action == "store_const":
            typ = "const"
            default = vals.get("default")
        elif action == "count":
            typ = "int"
            default = vals.get("default")
        else:
            default = vals.get("default")
            typ = "list" if (nargs is not None and nargs != "?") or action in ("append", "extend") else (base or "str")
        entry = {
            "option_strings": flags,
            "type": typ,
            "item_type": (base or "str") if typ == "list" else None,
            "default": jsonable(default),
            "choices": jsonable(vals.get("choices")),
            "nargs": jsonable(nargs),
            "action": jsonable(action),
            "required": bool(vals.get("required")) if not is_unknown(vals.get("required")) else None,
            "help": english_first_sentence(vals.get("help")),
            "defined_in": ev.module.name,
        }
        if raw_type and raw_type not in ("int", "float", "str", "int_or_float"):
            entry["argparse_type"] = raw_type
        if dest in self.options:
            self.note(f"duplicate dest {dest} in {ev.module.name}")
        self.options[dest] = entry

    def set_defaults(self, ev: Evaluator, node: ast.Call) -> None:
        for k in node.keywords:
            if k.arg and k.arg in self.options:
                self.options[k.arg]["default"] = jsonable(ev.eval(k.value))


def extract_script(loader: Loader, script: str) -> Collector | None:
    mod = loader.get(script)
    if mod is None or "setup_parser" not in mod.functions:
        return None
    col = Collector(script)
    ev = Evaluator(mod, {}, col)
    result = ev.run_body(mod.functions["setup_parser"].body)
    if result is not PARSER:
        col.note("setup_parser did not return a parser")
    return col


# --------------------------------------------------------------------------- profiles

FIELDS = (
    "type", "item_type", "argparse_type", "default", "choices", "nargs", "action", "required", "help",
    "option_strings", "defined_in",
)


def build_profile(git_dir: str, ref: str, scripts: list[str]) -> dict[str, Any]:
    tree = GitTree(git_dir, ref)
    loader = Loader(tree)
    per_script: dict[str, dict[str, dict[str, Any]]] = {}
    missing: list[str] = []
    notes: dict[str, list[str]] = {}
    for s in scripts:
        col = extract_script(loader, s)
        if col is None:
            missing.append(s)
            continue
        per_script[s] = col.options
        if col.notes:
            notes[s] = col.notes
    args: dict[str, dict[str, Any]] = {}
    all_dests = sorted({d for opts in per_script.values() for d in opts})
    for dest in all_dests:
        holders = [s for s in per_script if dest in per_script[s]]
        entry: dict[str, Any] = {}
        for field in FIELDS:
            variants = Counter(json.dumps(per_script[s][dest].get(field), sort_keys=True) for s in holders)
            best = variants.most_common(1)[0][0]
            entry[field] = json.loads(best)
            if len(variants) > 1 and field in ("type", "default", "choices", "nargs", "action", "item_type"):
                entry.setdefault("variants", {})[field] = {
                    v: [s for s in holders if json.dumps(per_script[s][dest].get(field), sort_keys=True) == v]
                    for v in variants
                }
        entry["scripts"] = holders
        for opt in ("item_type", "argparse_type"):
            if entry[opt] is None:
                del entry[opt]
        args[dest] = entry
    return {
        "ref": ref,
        "commit": tree.commit,
        "commit_date": tree.date,
        "scripts_missing": missing,
        "scripts": {s: sorted(per_script[s]) for s in per_script},
        "arg_count": len(args),
        "args": args,
        "notes": notes,
    }


# --------------------------------------------------------------------------- --config_file TOML schema

ARGS_SCHEMA_ID = "https://kohya-tune.invalid/schemas/args-toml.schema.json"

# nargs options whose consumer explicitly also accepts a scalar coming from a config file:
# train_network.py (v0.10.x) keeps text_encoder_lr as is when it is None/float/int, else takes [0]
SCALAR_OR_LIST = {"text_encoder_lr"}

_JSON_TYPE = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "int_or_float": {"type": "number"},
    "str": {"type": "string"},
    "bool": {"type": "boolean"},
}


def toml_type_schema(dest: str, a: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema for the value a TOML file may give to one argparse option.

    Values read by ``read_config_from_file`` are put in the argparse Namespace as they are:
    argparse converts nothing (no ``type=``, no ``choices`` check, no nargs handling), so the
    TOML value must already have the Python type the training code expects.
    """
    t = a["type"]
    if t == "list":
        item = dict(_JSON_TYPE.get(a.get("item_type") or "str", {}))
        arr: dict[str, Any] = {"type": "array", "items": item}
        if dest in SCALAR_OR_LIST:
            return {"anyOf": [item, arr]}
        return arr
    if t in _JSON_TYPE:
        return dict(_JSON_TYPE[t])
    return {}


def build_args_schema(newest: dict[str, Any], oldest: dict[str, Any] | None, newest_name: str,
                      oldest_name: str | None) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for dest in sorted(newest["args"]):
        a = newest["args"][dest]
        p = toml_type_schema(dest, a)
        desc = a.get("help") or dest
        p["description"] = desc
        if a.get("default") is not None and not isinstance(a.get("default"), dict):
            p["default"] = a["default"]
        p["x-kohya-scripts"] = a["scripts"]
        p["x-kohya-since"] = oldest_name if oldest is not None and dest in oldest["args"] else newest_name
        p["x-kohya-argparse"] = {
            k: a[k] for k in ("type", "item_type", "argparse_type", "nargs", "action", "choices", "option_strings")
            if a.get(k) is not None
        }
        if a.get("choices"):
            # argparse does not check choices for values that come from the config file,
            # so they are an annotation for the linter, not a schema constraint
            p["x-kohya-choices"] = a["choices"]
        if "variants" in a:
            p["x-kohya-variants"] = a["variants"]
        props[dest] = p
    # the editor hint "$schema" = "<url>" (Taplo reads it like a `#:schema` comment): no
    # argparse option, and read_config_from_file puts every key into the Namespace, where
    # nothing reads it (checked with v0.10.1's read_config_from_file and toml 0.10.2)
    props = {"$schema": {
        "type": "string",
        "description": ("Editor hint naming this file's JSON Schema (Taplo / Even Better TOML). "
                        "sd-scripts keeps it as an attribute nothing reads; a `#:schema URL` comment "
                        "on the first line does the same without a key."),
    }, **props}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": ARGS_SCHEMA_ID,
        "title": "sd-scripts --config_file TOML (training arguments)",
        "description": (
            "Argument file read by sd-scripts train_util.read_config_from_file: top-level keys that are not "
            "tables are used as they are; the keys of every top-level table (any section name) are copied to "
            "the top level (one level only, last occurrence wins). Values are NOT converted by argparse: an int "
            "option needs a TOML integer, resolution needs a string such as \"512,512\", nargs options need "
            "arrays. Unknown keys are ignored by sd-scripts; this schema rejects them so that a linter can "
            "report them. Generated by tools/gen_sd_scripts_args.py from sd-scripts "
            f"{newest['ref']} ({newest['commit']})."
        ),
        "$comment": "GENERATED FILE - regenerate with tools/gen_sd_scripts_args.py --args-schema",
        "type": "object",
        "properties": props,
        "additionalProperties": {"$ref": "#/$defs/section"},
        "$defs": {
            "section": {
                "description": (
                    "A top-level table such as [model] or [training]: its keys are flattened to the top "
                    "level, so they must be known arguments; a table nested in it is not flattened. "
                    "The table type and the argument list come from the root schema through $ref."
                ),
                "$ref": "#",
                "additionalProperties": {"not": {"type": "object"}},
            }
        },
        "x-kohya-profile": {"name": newest_name, "ref": newest["ref"], "commit": newest["commit"]},
    }


def ref_exists(git_dir: str, ref: str) -> bool:
    r = subprocess.run(["git", f"--git-dir={git_dir}", "rev-parse", "-q", "--verify", f"{ref}^{{commit}}"],
                       capture_output=True, text=True)
    return r.returncode == 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--git-dir", required=True, help="bare git dir (or .git) of kohya-ss/sd-scripts")
    ap.add_argument("--profile", action="append", default=[], metavar="NAME=REF",
                    help="profile name and git ref; repeatable")
    ap.add_argument("-o", "--output", default="kohya_tune/versions/data/sd_scripts_args.json")
    ap.add_argument("--args-schema", default=None, metavar="PATH",
                    help="also write the --config_file TOML JSON Schema for the last profile "
                    "(x-kohya-since refers to the first profile)")
    ns = ap.parse_args(argv)

    profiles: list[tuple[str, str, list[str]]] = []
    if not ns.profile:
        new_ref = "v0.10.1" if ref_exists(ns.git_dir, "v0.10.1") else "main"
        ns.profile = ["v0.6.5=v0.6.5", f"v0.10.1={new_ref}"]
    for p in ns.profile:
        name, _, ref = p.partition("=")
        ref = ref or name
        # scripts of the new DiT families are only looked for in post-0.6 profiles
        profiles.append((name, ref, SCRIPTS_OLD if name.startswith("v0.6") else SCRIPTS_NEW + SCRIPTS_CONTROLNET))

    out: dict[str, Any] = {
        "generator": "tools/gen_sd_scripts_args.py",
        "source": "https://github.com/kohya-ss/sd-scripts",
        "profiles": {},
    }
    for name, ref, scripts in profiles:
        prof = build_profile(ns.git_dir, ref, scripts)
        out["profiles"][name] = prof
        print(f"{name}: ref {ref} commit {prof['commit'][:12]} ({prof['commit_date']}), "
              f"{prof['arg_count']} args; scripts: "
              + ", ".join(f"{s}={len(v)}" for s, v in prof["scripts"].items())
              + (f"; missing: {', '.join(prof['scripts_missing'])}" if prof["scripts_missing"] else ""),
              file=sys.stderr)
    if ns.args_schema:
        names = list(out["profiles"])
        schema = build_args_schema(out["profiles"][names[-1]], out["profiles"][names[0]] if len(names) > 1 else None,
                                   names[-1], names[0] if len(names) > 1 else None)
        Path(ns.args_schema).parent.mkdir(parents=True, exist_ok=True)
        Path(ns.args_schema).write_text(json.dumps(schema, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    Path(ns.output).parent.mkdir(parents=True, exist_ok=True)
    Path(ns.output).write_text(json.dumps(out, indent=1, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
