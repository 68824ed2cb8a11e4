"""`steps` reads top-down (issue 11.5): the answer first, then the working; without the dataset,
what can be known, then exit 2 with the --path-map hint; notes speak of the file given."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from helpers import make_images, run_cli

ROOT = Path(__file__).resolve().parent.parent


def sample(tmp_path):
    shutil.copytree(ROOT / "sample_configs", tmp_path / "sample_configs")
    return "sample_configs/lora_gui.json"


def test_answer_comes_first(tmp_path):
    config = sample(tmp_path)
    proc = run_cli("steps", config, cwd=tmp_path, env={"PYTHONIOENCODING": "utf-8"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    answer = next(i for i, line in enumerate(lines) if line.startswith("GUI epoch"))
    assert lines[answer].startswith("GUI epoch 10 → the trainer runs 9 epochs (125 optimizer steps: "
                                    "8 epochs of 14, then 13)")
    assert answer < next(i for i, line in enumerate(lines) if line.startswith("Dataset 0"))
    # the answer is not repeated at the end
    assert "you asked for epoch" not in proc.stdout


def test_answer_under_a_legacy_code_page(tmp_path):
    config = sample(tmp_path)
    proc = run_cli("steps", config, cwd=tmp_path, env={"PYTHONIOENCODING": "cp1252"})
    assert proc.returncode == 0, proc.stderr
    assert "GUI epoch 10 -> the trainer runs 9 epochs" in proc.stdout


def test_args_toml_answer_names_its_own_setting(tmp_path):
    make_images(tmp_path / "img" / "2_cat", [[512, 512, 6]])
    (tmp_path / "args.toml").write_text(
        'train_data_dir = "img"\nresolution = "512,512"\ntrain_batch_size = 2\nmax_train_epochs = 3\n',
        encoding="utf-8")
    proc = run_cli("steps", "args.toml", cwd=tmp_path, env={"PYTHONIOENCODING": "utf-8"})
    assert proc.returncode == 0, proc.stderr
    # 6 images x 2 repeats / batch 2 = 6 steps per epoch
    assert "max_train_epochs 3 → the trainer runs 3 epochs (18 optimizer steps: 6 per epoch)" in proc.stdout


def test_without_the_dataset_what_can_be_known_and_exit_2(tmp_path):
    config = sample(tmp_path)
    shutil.rmtree(tmp_path / "sample_configs" / "dataset")
    proc = run_cli("steps", config, cwd=tmp_path, env={"PYTHONIOENCODING": "utf-8"})
    assert proc.returncode == 2
    assert "--path-map FROM=TO" in proc.stderr
    out = proc.stdout
    assert "depend on images not on this machine" in out
    assert "N  = sum over datasets and buckets of ceil(image-steps / batch_size)" in out
    assert "E  = ceil(S / U)" in out
    # the GUI's side: its formula with the unknown count named
    assert "max_train_steps = ceil(T / 4 / 1 * 10 * reg_factor), T = its own count" in out
    data = json.loads(run_cli("steps", config, "--format", "json", cwd=tmp_path).stdout)
    assert data["exit"] == 2 and data["gui"]["formula_pending"].startswith("ceil(T / 4")
    assert data["trainer"]["num_batches"] is None and data["missing"]


def test_notes_speak_of_the_file_given(tmp_path):
    config = sample(tmp_path)
    proc = run_cli("steps", config, cwd=tmp_path)
    assert "the args TOML the GUI writes for sd-scripts carries epoch = 10" in proc.stdout
    assert "note: the TOML carries" not in proc.stdout
