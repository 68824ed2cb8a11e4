"""musubi-tuner's dataset validation, word for word: each config of tests/data/musubi/validation.json
(refused or accepted by the real ConfigSanitizer, see its _about) as a JSON dataset config through
`kohya-tune steps` and `kohya-tune lint`."""
from __future__ import annotations

import json

import pytest

from helpers import DATA, run_in_process

CASES = json.loads((DATA / "musubi" / "validation.json").read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_validation_message(case, tmp_path, monkeypatch):
    (tmp_path / "dataset.json").write_text(json.dumps(case["config"]), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = run_in_process("steps", "dataset.json", "--script", "wan_train_network", "--format", "json")
    out = json.loads(result.stdout)
    if "error" in case:
        assert result.exit_code == 1, result.stdout
        assert out["error"] == case["error"]
        if not set(case["config"]) or not set(case["config"]) <= {"general", "datasets"}:
            return  # stray top-level keys: lint does not take it for a dataset config (steps was told by --script)
        lint = run_in_process("lint", "--output-format", "json", "--script", "wan_train_network", "dataset.json")
        diags = json.loads(lint.stdout[lint.stdout.index("["):])
        assert any(d["code"] == "KT901" and case["error"] in d["message"] for d in diags), diags
    else:
        # accepted by the validation: whatever stops it later is not a validation message
        assert not (out.get("error") or "").startswith("MultipleInvalid")


def test_source_fps_refusal_is_placed_at_the_value(tmp_path, monkeypatch):
    (tmp_path / "dataset.toml").write_text(
        '[general]\nresolution = 256\n\n[[datasets]]\nvideo_directory = "v"\nsource_fps = 30\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    lint = run_in_process("lint", "dataset.toml")
    assert "dataset.toml:6:1: KT901" in lint.stdout
    assert "expected float for dictionary value @ data['datasets'][0]['source_fps']" in lint.stdout
