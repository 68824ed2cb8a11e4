"""check.schema.decide, the small evaluator that lets lint skip jsonschema for a valid file, says
what jsonschema says: on every corpus config and on variants of them with wrong types, unknown
keys, numbers-as-strings, nested tables and arrays. Where it cannot tell it says None (and lint
asks jsonschema); it must never call valid what jsonschema rejects, nor the other way round."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from kohya_tune.check import schema
from kohya_tune.load import documents

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
VALUES = [None, True, False, 0, 7, -3, 1.5, float("inf"), "", "x", "1.5", " 2e3 ", "1,2", [], ["a"],
          [1, 2.5], [True], {}, {"a": 1}, {"lr": [1, "x"]}]


def _docs():
    out = []
    for path in sorted(CORPUS.rglob("*")):
        if path.suffix not in (".json", ".toml") or not path.is_file():
            continue
        try:
            doc = documents.load(str(path))
        except documents.LoadError:
            continue
        name = schema.schema_name(doc)
        if name:
            out.append((path, name, doc.data))
    return out


DOCS = _docs()
# a sample of the corpus, with every config that is not a GUI JSON (the rarer schemas)
SAMPLE = sorted(set(range(0, len(DOCS), max(1, len(DOCS) // 25)))
                | {i for i, (_, name, _) in enumerate(DOCS) if not name.startswith("gui-")})


def _variants(data, seed: int):
    """Deterministic mutations: every few keys get each kind of value, plus an unknown key, a
    section table (args TOML) and a key removed."""
    yield data
    keys = [k for k in data]
    for i, key in enumerate(keys):
        if (i + seed) % 9:
            continue
        for value in VALUES[(i + seed) % 4::4]:
            changed = copy.deepcopy(data)
            changed[key] = value
            yield changed
        removed = copy.deepcopy(data)
        del removed[key]
        yield removed
    yield {**data, "no_such_key_anywhere": 1}
    yield {**data, "model": {keys[0] if keys else "x": "v", "nested": {"a": 1}}}
    yield {**data, "training": {k: data[k] for k in keys[:5]}}
    yield []


def _jsonschema_valid(name, instance) -> bool:
    return not any(True for _ in schema.validator(name).iter_errors(instance))


def test_the_corpus_has_every_kind_of_schema():
    names = {name for _, name, _ in DOCS}
    assert {"gui-lora.schema.json", "args-toml.schema.json", "dataset-toml.schema.json"} <= names


@pytest.mark.parametrize("index", SAMPLE)
def test_decide_agrees_with_jsonschema(index):
    path, name, data = DOCS[index]
    root = schema.load_schema(name)
    for variant in _variants(data, index):
        got = schema.decide(root, variant)
        if got is None:
            assert not name.startswith("gui-"), f"{path}: the GUI schemas are always decided"
            continue
        assert got == _jsonschema_valid(name, variant), (path, got)


def test_undecided_keywords_go_to_jsonschema():
    # a keyword the evaluator does not implement leaves the answer to jsonschema
    assert schema.decide({"minItems": 1}, []) is None
    assert schema.decide({"type": "array", "minItems": 1}, {}) is False  # the type fails anyway
    assert schema.decide({"not": {"minItems": 1}}, [1]) is None
    assert schema.decide({"$ref": "https://elsewhere/schema.json"}, 1) is None
    assert schema.decide({"x-kohya-anything": {"minItems": 1}, "type": "integer"}, 1) is True
    assert schema.decide({"type": "integer"}, True) is False and schema.decide({"type": "number"}, 1) is True
