"""Deliberately broken configs are reported at the line of the problem, with the right exit code."""
from __future__ import annotations

import json

from helpers import run_cli

ARGS = """pretrained_model_name_or_path = "runwayml/stable-diffusion-v1-5"
train_data_dir = "img"
output_dir = "out"
max_train_epoch = 10
learning_rate = 0.0001
max_train_steps = "1600"
resolution = 512
"""

DATASET = """[general]
enable_bucket = true
shuffle_captions = true

[[datasets]]
resolution = 512

  [[datasets.subsets]]
  image_dir = "img"
  batch_size = 4

  [[datasets.subsets]]
  num_repeats = 3

[[datasets]]
resolution = 512
validation_split = 0
"""

GUI = """{
  "LoRA_type": "Standard",
  "epoch": 10,
  "learning_rate": 0.0001,
  "max_resolution": "512,512",
  "netwrk_dim": 16,
  "output_dir": "out",
  "pretrained_model_name_or_path": "runwayml/stable-diffusion-v1-5",
  "train_batch_size": {},
  "train_data_dir": "img"
}
"""


def lint_json(tmp_path, name, text, *extra):
    path = tmp_path / name
    path.write_text(text)
    proc = run_cli("lint", "--output-format", "json", str(path), *extra, cwd=tmp_path)
    return proc, json.loads(proc.stdout)


def find(diags, code, line):
    return [d for d in diags if d["code"] == code and d["line"] == line]


def test_args_toml_typos_and_types(tmp_path):
    proc, diags = lint_json(tmp_path, "config.toml", ARGS)
    assert proc.returncode == 1
    typo = find(diags, "KT101", 4)
    assert typo and "max_train_epochs" in typo[0]["message"]  # did you mean
    quoted = find(diags, "KT601", 6)  # a quoted number: its own rule, with a fix
    assert quoted and quoted[0]["fixable"]
    assert find(diags, "KT104", 7)
    assert find(diags, "KT104", 7)[0]["column"] == 14  # the value


def test_dataset_toml_levels_required_types(tmp_path):
    proc, diags = lint_json(tmp_path, "dataset.toml", DATASET)
    assert proc.returncode == 1
    unknown = find(diags, "KT101", 3)
    assert unknown and "shuffle_caption" in unknown[0]["message"]
    level = find(diags, "KT102", 10)
    assert level and "[general] or [[datasets]]" in level[0]["message"]
    assert level[0]["key_path"] == "datasets[0].subsets[0].batch_size"
    assert find(diags, "KT103", 12)  # the subset without image_dir: its header line
    assert find(diags, "KT104", 17)  # validation_split = 0 is an int


def test_gui_unknown_key_and_wrong_type(tmp_path):
    proc, diags = lint_json(tmp_path, "lora.json", GUI)
    assert proc.returncode == 1
    typo = find(diags, "KT101", 6)
    assert typo and "network_dim" in typo[0]["message"] and typo[0]["severity"] == "warning"
    assert find(diags, "KT104", 9)


def test_clean_file_exits_0_and_not_kohya_is_skipped(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('pretrained_model_name_or_path = "x"\noutput_dir = "out"\nmax_train_epochs = 4\n'
                    'train_data_dir = "img"\nresolution = "512,512"\n')
    other = tmp_path / "package.json"
    other.write_text('{"name": "web", "version": "1.0.0"}')
    proc = run_cli("lint", "--select", "KT1", str(good), str(other), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""


def test_unparsable_and_missing_files_exit_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "epoch": 10,\n  "lr": \n}\n')
    proc = run_cli("lint", str(bad), cwd=tmp_path)
    assert proc.returncode == 2
    assert f"{bad}:4:1: KT001 error: invalid JSON" in proc.stdout
    proc = run_cli("lint", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "file not found" in proc.stdout


def test_warnings_fail_only_with_strict(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('pretrained_model_name_or_path = "x"\nmax_train_epoch = 10\nmax_train_epochs = 3\n')
    assert run_cli("lint", "--select", "KT101", str(path), cwd=tmp_path).returncode == 0
    assert run_cli("lint", "--select", "KT101", "--strict", str(path), cwd=tmp_path).returncode == 1


def test_a_folder_stands_for_its_json_and_toml_files(tmp_path):
    (tmp_path / "configs" / "sub").mkdir(parents=True)
    (tmp_path / "configs" / "sub" / "config.toml").write_text('pretrained_model_name_or_path = "x"\nmax_train_epoch = 3\n')
    (tmp_path / "configs" / "package.json").write_text('{"name": "x"}')
    (tmp_path / "configs" / ".git").mkdir()
    (tmp_path / "configs" / ".git" / "broken.json").write_text("{")
    proc = run_cli("lint", "--select", "KT101", "configs", cwd=tmp_path)
    assert proc.returncode == 0
    assert "configs/sub/config.toml:2:1: KT101" in proc.stdout


def test_schemas_found_from_a_source_checkout(monkeypatch):
    """CI runs pytest from the repository root against a non-editable install, so the
    kohya_tune imported is the source tree, where kohya_tune.schemas is not a package: the
    schemas then come from the repository's schemas/ folder."""
    from kohya_tune.check import schema

    def no_package(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(schema.resources, "files", no_package)
    schema.load_schema.cache_clear()
    try:
        for name in set(schema.SCHEMA_FILES.values()):
            assert schema.load_schema(name)["$schema"]
    finally:
        schema.load_schema.cache_clear()
