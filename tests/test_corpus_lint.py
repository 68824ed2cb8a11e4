"""Every real config of the corpus (tests/data/corpus, copied from kohya_ss and sd-scripts, see
its README) goes through `kohya-tune lint` without a traceback, and the schema never reports an
error on a file the real tools accept."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import CORPUS, run_cli

ALL_FILES = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".json", ".toml") and p.name != "index.json")

# sd-scripts documentation blocks that sd-scripts v0.10.1 itself refuses (checked by running its
# ConfigSanitizer on them): the expected finding and line for each.
REFUSED_BY_TRAINER = {
    "validation.block1.toml": ("KT102", 10), "validation.block2.toml": ("KT102", 5),
    "validation.block3.toml": ("KT102", 10), "validation.block4.toml": ("KT102", 5),
    "validation.block5.toml": ("KT104", 6), "validation.block6.toml": ("KT104", 6),
    "flux_train_network.block2.toml": ("KT102", 1), "flux_train_network.block3.toml": ("KT101", 4),
    "masked_loss_README-ja.block1.toml": ("KT104", 1), "masked_loss_README-ja.block2.toml": ("KT104", 1),
    "train_lllite_README-ja.block1.toml": ("KT104", 1),
    # kohya_ss master/v26 test config: bucket_reso_steps = 1 with bucketing on; the SDXL textual
    # inversion trainer of sd-scripts v0.10.1 (the one those GUIs launch) stops in
    # verify_bucket_reso_steps(32) (sdxl_train_textual_inversion.py L22-28)
    "TI-AdamW8bit-SDXL.json": ("KT311", 6),
    # kohya_ss v24.1.7/v26/master test config with caption_extension ".none-use-foldername": its
    # keys fit every release up to master, which is assumed; master's Gradio 6 (like Gradio 5
    # from v25.0.0) refuses a Dropdown value outside the choices before train_model runs
    # (gradio components/dropdown.py Dropdown.preprocess; choices at master
    # kohya_gui/class_basic_training.py:126)
    "SDXL-Standard-Adafactor.json": ("KT300", 141),
}
INVALID_TOML = {"train_network_README-ja.block1.toml": (3, 1), "train_network_README-ja.block2.toml": (3, 1)}


@pytest.fixture(scope="module")
def corpus_lint(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("lint")
    proc = run_cli("lint", "--output-format", "json", "--show-skipped", *map(str, ALL_FILES), cwd=cwd)
    return proc


def test_corpus_is_there():
    assert len(ALL_FILES) > 360


def test_no_traceback(corpus_lint):
    assert "Traceback" not in corpus_lint.stderr
    assert "internal error" not in corpus_lint.stderr
    assert corpus_lint.returncode == 2  # the two invalid network_args fragments


def test_errors_only_where_the_real_tools_refuse(corpus_lint):
    """All rules: no error on a file that the real GUI/trainer of its version runs as intended
    (the GUI presets included); every expected refusal is found at its line."""
    diags = json.loads(corpus_lint.stdout)
    errors = [d for d in diags if d["severity"] == "error"]
    by_file: dict = {}
    for d in errors:
        by_file.setdefault(d["file"].rsplit("/", 1)[-1], []).append(d)
    expected = set(REFUSED_BY_TRAINER) | set(INVALID_TOML)
    assert set(by_file) == expected
    for name, (code, line) in REFUSED_BY_TRAINER.items():
        assert any(d["code"] == code and d["line"] == line for d in by_file[name]), by_file[name]


def test_duplicate_keys_exit_2_with_position(tmp_path):
    for name, (line, col) in INVALID_TOML.items():
        path = CORPUS / "sd-scripts" / "docs" / name
        proc = run_cli("lint", str(path), cwd=tmp_path)
        assert proc.returncode == 2
        assert f"{path}:{line}:{col}: KT001" in proc.stdout
        assert "duplicate key network_args" in proc.stdout


def test_gui_configs_detected_with_their_tab(corpus_lint):
    index = json.loads((CORPUS / "kohya_ss" / "index.json").read_text())
    from kohya_tune.load import documents

    entries = index["files"] if isinstance(index, dict) and "files" in index else index
    if isinstance(entries, dict):
        entries = [v for v in entries.values() if isinstance(v, list)][0]
    checked = 0
    for entry in entries:
        if entry.get("kind") != "GUI config (JSON)":
            continue
        doc = documents.load(str(CORPUS / "kohya_ss" / entry["tag"] / entry["path"]))
        assert doc.kind == "gui", entry["path"]
        assert doc.gui_tab == entry["gui_guess"], entry["path"]
        checked += 1
    assert checked == 315


def test_warnings_are_actionable(corpus_lint):
    """A warning means behaviour differs from what the file says. Legacy value types every GUI
    reads the same (KT105), ignored keys holding an unset value (KT401/KT405) and the old
    xformers checkbox that every GUI reads as meant (KT404) are info; a preset gets no KT300."""
    diags = json.loads(corpus_lint.stdout)
    warnings = [d for d in diags if d["severity"] == "warning"]
    assert not [d for d in warnings if d["code"] in ("KT105", "KT404", "KT300")]
    for d in warnings:
        if d["code"] in ("KT401", "KT405"):
            data = json.loads(open(d["file"], encoding="utf-8").read())
            value = data[d["key_path"]]
            assert value not in ("", None, False, 0, []), d
    assert len(warnings) < len(diags) / 10


def test_one_summary_line_for_presets_and_missing_folders(corpus_lint):
    assert "dataset rules skipped:" not in corpus_lint.stderr
    assert corpus_lint.stderr.count("GUI presets without an image folder") == 1


# files whose --fix once added a warning: renames and value types dated them to a newer GUI
# (KT205, KT311, KT300 then appeared), or a legacy string hid KT205 until its type was fixed
FIX_DATING = ["kohya_ss/master/test/config/TI-AdamW8bit-toml.json",
              "kohya_ss/master/test/config/dreambooth-Prodigy.json",
              "kohya_ss/master/test/config/SDXL-Standard-AdamW8bit.json",
              "kohya_ss/v24.1.7/test/config/SDXL-Standard-AdamW.json",
              "kohya_ss/v23.1.5/test/config/finetune-AdamW-toml.json",
              "kohya_ss/v22.6.2/test/config/SDXL-Standard-Adafactor.json",
              "kohya_ss/v21.5.11/presets/lora/lion_optimizer.json",
              "kohya_ss/v21.5.11/presets/finetune/adafactor.json"]


@pytest.mark.parametrize("name", FIX_DATING)
def test_fix_adds_no_warning_on_real_configs(tmp_path, monkeypatch, name):
    import shutil

    from helpers import run_in_process

    target = tmp_path / Path(name).name
    shutil.copy(CORPUS / name, target)
    monkeypatch.chdir(tmp_path)

    def warnings():
        out = run_in_process("lint", "--output-format", "json", target.name).stdout
        return {d["code"] for d in json.loads(out) if d["severity"] != "info"}

    before = warnings()
    original = target.read_bytes()
    proc = run_in_process("lint", "--fix", target.name)
    # something was fixed, or the fixes that would re-date it were held back (and said so)
    assert target.read_bytes() != original or "not applied: " in proc.stderr
    assert warnings() <= before
