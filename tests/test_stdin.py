"""Standard input: `-` as the config of steps, schedule and lint, named by --stdin-filename
(whose folder gives the settings and relative dataset paths, as ruff does)."""
from __future__ import annotations

import json

from helpers import make_images, run_cli

GUI = {"LoRA_type": "Standard", "train_data_dir": "img", "epoch": 4, "train_batch_size": 2,
       "max_train_steps": "", "max_train_epochs": "", "gradient_accumulation_steps": 1,
       "lr_scheduler": "constant", "lr_warmup": 0, "enable_bucket": False}


def project(tmp_path):
    make_images(tmp_path / "img" / "3_cat", [[512, 512, 5]])
    text = json.dumps(GUI, indent=2)
    (tmp_path / "cfg.json").write_text(text, encoding="utf-8")
    return text


def test_steps_from_stdin_equals_steps_of_the_file(tmp_path):
    text = project(tmp_path)
    by_file = run_cli("steps", "cfg.json", "--format", "json", cwd=tmp_path)
    by_stdin = run_cli("steps", "-", "--stdin-filename", "cfg.json", "--format", "json",
                       cwd=tmp_path, input=text)
    assert by_file.returncode == by_stdin.returncode == 0, by_stdin.stderr
    assert json.loads(by_file.stdout)["trainer"] == json.loads(by_stdin.stdout)["trainer"]


def test_stdin_filename_decides_the_settings(tmp_path):
    text = project(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".kohya-tune.toml").write_text("num-processes = 2\n", encoding="utf-8")
    one = run_cli("steps", "-", "--format", "json", cwd=tmp_path, input=text)
    two = run_cli("steps", "-", "--stdin-filename", "sub/cfg.json", "--format", "json",
                  cwd=tmp_path, input=text.replace('"img"', '"../img"'))
    assert one.returncode == two.returncode == 0, two.stderr
    assert json.loads(two.stdout)["trainer"]["num_processes"] == 2
    assert json.loads(one.stdout)["trainer"]["num_processes"] == 1


def test_lint_stdin_names_the_file_and_fix_prints_the_fixed_text(tmp_path):
    text = project(tmp_path).replace('"epoch": 4', '"epoch": "4"')
    (tmp_path / "cfg.json").write_text(text, encoding="utf-8")
    proc = run_cli("lint", "-", "--stdin-filename", "cfg.json", "--select", "KT105",
                   cwd=tmp_path, input=text)
    assert "cfg.json:" in proc.stdout and "KT105" in proc.stdout
    fixed = run_cli("lint", "--fix", "-", "--select", "KT105", cwd=tmp_path, input=text)
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)["epoch"] == 4
    # every other byte as it came in
    assert fixed.stdout == text.replace('"epoch": "4"', '"epoch": 4')
    # and nothing written
    assert (tmp_path / "cfg.json").read_text(encoding="utf-8") == text


def test_stdin_that_is_not_utf8_is_a_usage_error(tmp_path):
    proc = run_cli("steps", "-", cwd=tmp_path, input=None)
    assert proc.returncode == 2
    import subprocess
    import sys

    bad = subprocess.run([sys.executable, "-m", "kohya_tune", "lint", "-"], input=b"\xff\xfe{",
                         capture_output=True, cwd=tmp_path)
    assert bad.returncode == 2 and b"not UTF-8" in bad.stderr
