"""The 15 configs of musubi-tuner's documentation (tests/data/musubi/corpus) lint without a false
error: the only error is the fragment that is not TOML; the warnings are what musubi really does
with them (target_frames rounded to 4N+1: KT903; buckets off by default: KT906)."""
from __future__ import annotations

import json

from helpers import DATA, run_in_process

FILES = sorted((DATA / "musubi" / "corpus" / "docs").glob("*.toml"))


def test_corpus_lints_without_a_false_error(tmp_path, monkeypatch):
    assert len(FILES) == 15
    monkeypatch.chdir(tmp_path)
    result = run_in_process("lint", "--output-format", "json", *map(str, FILES))
    assert result.exit_code == 2, result.stderr   # the one file that is not TOML
    diags = json.loads(result.stdout)
    errors = [(d["file"].rsplit("/", 1)[-1], d["code"], d["line"], d["column"]) for d in diags if d["severity"] == "error"]
    assert errors == [("advanced_config.block2.toml", "KT001", 1, 47)]
    assert {d["code"] for d in diags if d["severity"] == "warning"} <= {"KT903", "KT906"}


def test_corpus_configs_are_read_as_musubi():
    from kohya_tune.load import documents

    kinds = {f.name: documents.load(str(f)).kind for f in FILES if f.name != "advanced_config.block2.toml"}
    assert kinds.pop("advanced_config.block1.toml") == documents.MUSUBI_ARGS
    assert set(kinds.values()) == {documents.MUSUBI_DATASET}
