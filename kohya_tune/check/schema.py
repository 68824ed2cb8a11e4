"""JSON Schema validation (schemas/*.json, shipped in the package) with source positions.

The validator's "integer" means a Python int that is not a bool, and "number" an int or float
that is not a bool: that is how TOML/JSON values reach sd-scripts (jsonschema's default would
call 1.0 an integer).

jsonschema finds and words every problem. Importing it costs more than the rest of a lint of
one file, so `issues` first asks `decide`, a small exact evaluator of the few keywords the
shipped schemas use (type, pattern, properties, additionalProperties, required, items, anyOf,
not, local $ref): a document it proves valid has no issues, and jsonschema is not loaded. Any
other outcome (invalid, or a keyword it does not know) goes to jsonschema as before.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from kohya_tune.load import documents


def _is_int(checker, value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(checker, value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@lru_cache(maxsize=1)
def validator_class():
    """Draft 2020-12 with the integer and number types above (jsonschema imported here)."""
    import jsonschema
    from jsonschema import Draft202012Validator

    types = Draft202012Validator.TYPE_CHECKER.redefine_many({"integer": _is_int, "number": _is_number})
    return jsonschema.validators.extend(Draft202012Validator, type_checker=types)

SCHEMA_FILES = {
    ("gui", "lora"): "gui-lora.schema.json",
    ("gui", "dreambooth"): "gui-dreambooth.schema.json",
    ("gui", "finetune"): "gui-finetune.schema.json",
    ("gui", "textual_inversion"): "gui-textual-inversion.schema.json",
    ("args", None): "args-toml.schema.json",
    ("dataset", None): "dataset-toml.schema.json",
}


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    """A schema from the installed package, or from the repository's schemas/ folder when the
    code runs from a source checkout (where kohya_tune.schemas is not a package)."""
    try:
        source = resources.files("kohya_tune.schemas").joinpath(name)
    except ModuleNotFoundError:
        # kohya_tune/check/schema.py -> the repository root holds schemas/
        source = Path(__file__).resolve().parents[2] / "schemas" / name
    with source.open("r", encoding="utf-8") as fh:
        return json.load(fh)


def schema_name(doc) -> str | None:
    tab = doc.gui_tab if doc.kind == documents.GUI else None
    return SCHEMA_FILES.get((doc.kind, tab))


@lru_cache(maxsize=None)
def validator(name: str):
    return validator_class()(load_schema(name))


# -- the fast exact check: True (valid), False (invalid) or None (not decided here)

# keywords that only annotate: jsonschema ignores them, as it ignores any "x-" extension
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$defs", "title", "description", "default",
                          "examples", "deprecated", "readOnly", "writeOnly"})
# jsonschema's Draft 2020-12 type checker, with the integer and number above
_TYPE_TESTS = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}
_PATTERNS: dict = {}


def _search(pattern: str, text: str) -> bool:
    # jsonschema's pattern keyword is re.search (jsonschema/_keywords.py)
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        compiled = _PATTERNS[pattern] = re.compile(pattern)
    return compiled.search(text) is not None


def _and(results) -> bool | None:
    """All must hold: False as soon as one fails, None when one is undecided."""
    undecided = False
    for result in results:
        if result is False:
            return False
        if result is None:
            undecided = True
    return None if undecided else True


def _ref(ref: str, root: dict):
    if ref == "#":
        return root
    if ref.startswith("#/$defs/") and "/" not in ref[8:] and "~" not in ref[8:]:
        return root.get("$defs", {}).get(ref[8:], None)
    return None


def decide(schema, instance, root=None, depth: int = 0) -> bool | None:
    """Whether jsonschema (Draft 2020-12, the types above) finds `instance` valid against
    `schema`: True or False where this evaluator is exact, None where the schema uses a keyword
    it does not implement (or nests deeper than it follows)."""
    root = schema if root is None else root
    if schema is True:
        return True
    if schema is False:
        return False
    if not isinstance(schema, dict) or depth > 64:
        return None
    undecided = False
    for keyword, value in schema.items():
        if keyword in _ANNOTATIONS or keyword.startswith("x-"):
            continue
        result = _keyword(keyword, value, schema, instance, root, depth)
        if result is False:
            return False
        if result is None:
            undecided = True
    return None if undecided else True


def _keyword(keyword, value, schema, instance, root, depth) -> bool | None:
    if keyword == "type":
        names = value if isinstance(value, list) else [value]
        tests = [_TYPE_TESTS.get(n) if isinstance(n, str) else None for n in names]
        if None in tests:
            return None
        return any(test(instance) for test in tests)
    if keyword == "pattern":
        if not isinstance(value, str):
            return None
        return not isinstance(instance, str) or _search(value, instance)
    if keyword == "properties":
        if not isinstance(value, dict):
            return None
        if not isinstance(instance, dict):
            return True
        return _and(decide(sub, instance[key], root, depth + 1)
                    for key, sub in value.items() if key in instance)
    if keyword == "additionalProperties":
        if "patternProperties" in schema:
            return None
        if not isinstance(instance, dict):
            return True
        known = schema.get("properties", {})
        extras = [key for key in instance if key not in known]
        if value is False:
            return not extras
        return _and(decide(value, instance[key], root, depth + 1) for key in extras)
    if keyword == "required":
        if not isinstance(value, list):
            return None
        return not isinstance(instance, dict) or all(key in instance for key in value)
    if keyword == "items":
        if "prefixItems" in schema:
            return None
        if not isinstance(instance, list):
            return True
        return _and(decide(value, item, root, depth + 1) for item in instance)
    if keyword == "anyOf":
        if not isinstance(value, list) or not value:
            return None
        results = [decide(sub, instance, root, depth + 1) for sub in value]
        if True in results:
            return True
        return None if None in results else False
    if keyword == "not":
        result = decide(value, instance, root, depth + 1)
        return None if result is None else not result
    if keyword == "$ref":
        target = _ref(value, root) if isinstance(value, str) else None
        return None if target is None else decide(target, instance, root, depth + 1)
    return None


@dataclass
class SchemaIssue:
    kind: str            # unknown | required | type | value | shape
    keypath: tuple       # where it is (the unknown key itself, the value, or the parent)
    message: str
    key: str | None = None
    expected: str | None = None
    at_value: bool = True


def property_schema(doc, key: str) -> dict | None:
    name = schema_name(doc)
    if not name:
        return None
    schema = load_schema(name)
    props = schema.get("properties", {})
    if key in props:
        return props[key]
    section = schema.get("$defs", {}).get("section", {})
    return section.get("properties", {}).get(key)


def known_keys(doc) -> set:
    name = schema_name(doc)
    if not name:
        return set()
    schema = load_schema(name)
    keys = set(schema.get("properties", {}))
    keys |= set(schema.get("$defs", {}).get("section", {}).get("properties", {}))
    return keys


def suggest(key: str, candidates) -> str | None:
    match = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.75)
    if not match:
        lowered = {c.lower(): c for c in candidates}
        if key.lower() in lowered:
            return lowered[key.lower()]
        return None
    return match[0]


def _type_names(schema: dict) -> list:
    t = schema.get("type")
    if isinstance(t, list):
        names = list(t)
    elif t:
        names = [t]
    else:
        names = []
        for sub in schema.get("anyOf") or schema.get("oneOf") or []:
            names += _type_names(sub)
    if "integer" in names and "boolean" in names:
        names.remove("boolean")  # voluptuous' int accepts booleans, but nobody means that
    return list(dict.fromkeys(names))


def _describe_type(schema: dict) -> str:
    names = _type_names(schema)
    words = {"array": "a list", "object": "a table", "integer": "an integer",
             "number": "a number", "string": "a string", "boolean": "a boolean"}
    return " or ".join(words.get(n, n) for n in names) or "a different value"


def issues(doc) -> list[SchemaIssue]:
    """Schema problems of a loaded document, each with the key path it is about."""
    name = schema_name(doc)
    if not name:
        return []
    if decide(load_schema(name), doc.data) is True:
        return []
    out: list[SchemaIssue] = []
    seen_unknown: set = set()
    v = validator(name)
    args_known = known_keys(doc) if doc.kind == documents.ARGS else None
    for error in v.iter_errors(doc.data):
        path = tuple(error.absolute_path)
        kind = error.validator
        if kind == "additionalProperties" or kind == "unevaluatedProperties":
            allowed = set(error.schema.get("properties", {}))
            extra = [k for k in error.instance if k not in allowed] if isinstance(error.instance, dict) else []
            for key in extra:
                kp = path + (key,)
                if kp in seen_unknown:
                    continue
                seen_unknown.add(kp)
                out.append(SchemaIssue("unknown", kp, f"unknown key {key!r}", key=key, at_value=False))
            continue
        if kind == "false" or (error.schema is False):
            kp = path
            if kp not in seen_unknown:
                seen_unknown.add(kp)
                out.append(SchemaIssue("unknown", kp, f"unknown key {kp[-1]!r}", key=str(kp[-1]), at_value=False))
            continue
        if (args_known is not None and len(path) == 1 and path[0] not in args_known
                and not isinstance(error.instance, dict)):
            # an unknown flat key of an args TOML: the section schema complains it is not a table
            if path not in seen_unknown:
                seen_unknown.add(path)
                out.append(SchemaIssue("unknown", path, f"unknown key {path[0]!r}", key=str(path[0]),
                                       at_value=False))
            continue
        if kind == "required":
            missing = [k for k in error.validator_value if isinstance(error.instance, dict) and k not in error.instance]
            for key in missing:
                out.append(SchemaIssue("required", path, f"required key {key!r} is missing",
                                       key=key, at_value=False))
            continue
        key = next((p for p in reversed(path) if isinstance(p, str)), None)
        if kind in ("type", "pattern", "not", "anyOf", "oneOf", "minItems", "maxItems", "enum",
                    "const", "minimum", "maximum", "exclusiveMinimum", "items", "prefixItems"):
            expected = _describe_type(error.schema) if kind in ("type", "not", "anyOf", "oneOf") else None
            if kind == "not":
                expected = "a float (written with a decimal point)"
            if kind == "pattern":
                expected = "a number"
            out.append(SchemaIssue("type", path, error.message, key=key, expected=expected))
            continue
        out.append(SchemaIssue("shape", path, error.message, key=key))
    return out
