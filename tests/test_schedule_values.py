"""Learning rates the schedule cannot draw or the trainer cannot use (issue 21.1): checked where
they enter (engine/lr_values.py), so text, JSON, every --plot format and lint answer without a
traceback. The crash sites: a GUI JSON whose LR is a string, 1e308 (the chart's sums overflowed),
NaN / infinity, integers beyond the float range, save_last_n_steps = inf in a GUI JSON."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import run_in_process

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_configs"


def gui(tmp_path: Path, **changes) -> Path:
    if not (tmp_path / "dataset").exists():
        shutil.copytree(SAMPLE / "dataset", tmp_path / "dataset")
    data = json.loads((SAMPLE / "lora_gui.json").read_text(encoding="utf-8"))
    data.update(changes)
    path = tmp_path / "gui.json"
    path.write_text(json.dumps(data, indent=1, allow_nan=True), encoding="utf-8")
    return path


def args_toml(tmp_path: Path, learning_rate: str) -> Path:
    if not (tmp_path / "dataset").exists():
        shutil.copytree(SAMPLE / "dataset", tmp_path / "dataset")
    shutil.copy(SAMPLE / "dataset.toml", tmp_path / "dataset.toml")
    text = (SAMPLE / "train_args.toml").read_text(encoding="utf-8")
    text = "\n".join(f"learning_rate = {learning_rate}" if line.startswith("learning_rate =") else line
                     for line in text.splitlines()) + "\n"
    path = tmp_path / "args.toml"
    path.write_text(text, encoding="utf-8")
    return path


def every_output(path: Path, tmp_path: Path) -> dict:
    """Exit codes of schedule (text, JSON, SVG, HTML, PNG) and lint; none may be 3."""
    codes = {}
    for name, extra in (("text", []), ("json", ["--format", "json"]), ("svg", ["--plot", str(tmp_path / "p.svg")]),
                        ("html", ["--plot", str(tmp_path / "p.html")]), ("png", ["--plot", str(tmp_path / "p.png")])):
        result = run_in_process("schedule", str(path), *extra)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert result.exit_code != 3, result.stderr
        codes[name] = result.exit_code
    result = run_in_process("lint", str(path))
    assert result.exit_code != 3, result.stderr
    codes["lint"] = result.exit_code
    return codes


@pytest.mark.parametrize("value", ["1e-4", "0.0005", " 2e-4 "])
def test_gui_number_text_is_the_number_the_gui_sends(tmp_path, value):
    path = gui(tmp_path, learning_rate=value, unet_lr=value, text_encoder_lr=value)
    result = run_in_process("schedule", str(path), "--format", "json")
    assert result.exit_code == 0, result.stderr
    lr = json.loads(result.stdout)["lr"]
    assert lr["base"] == [float(value), float(value)]
    pytest.importorskip("matplotlib")
    assert every_output(path, tmp_path)["png"] == 0


def test_gui_lr_text_that_is_no_number_is_the_trainers_type_error(tmp_path):
    # the GUI sends learning_rate as the text it holds; with no unet/text-encoder LR of their
    # own, both groups train at it, and the trainer's arithmetic on the text fails
    path = gui(tmp_path, learning_rate="abc", unet_lr=0, text_encoder_lr=0)
    codes = every_output(path, tmp_path)
    assert codes["text"] == codes["json"] == 1
    # the text-encoder / U-Net LR text the GUI cannot read as a number is not sent (defaults)
    path = gui(tmp_path, unet_lr="abc", text_encoder_lr="abc")
    assert every_output(path, tmp_path)["text"] == 0


def test_huge_finite_lr_draws(tmp_path):
    pytest.importorskip("matplotlib")
    path = gui(tmp_path, learning_rate=1e308, unet_lr=1e308, text_encoder_lr=1e-4)
    codes = every_output(path, tmp_path)
    assert codes["text"] == codes["json"] == codes["svg"] == codes["png"] == 0
    assert "x 1e308" in (tmp_path / "p.svg").read_text(encoding="utf-8") or (tmp_path / "p.svg").exists()


@pytest.mark.parametrize("value", ["1e400", "nan", "-inf"])
def test_non_finite_lr_keeps_the_timetable_without_a_curve(tmp_path, value):
    path = gui(tmp_path, unet_lr=value, text_encoder_lr=1e-4)
    codes = every_output(path, tmp_path)
    assert codes["text"] == codes["json"] == 0
    assert codes["svg"] == codes["png"] == 2          # no learning-rate curve to draw (said why)
    out = json.loads(run_in_process("schedule", str(path), "--format", "json").stdout)
    assert out["lr"] is None and out["checkpoints"]
    assert any("not a finite number" in n for n in out["notes"])


def test_config_file_strings_stay_strings(tmp_path):
    path = args_toml(tmp_path, '"1e-4"')
    result = run_in_process("schedule", str(path))
    assert result.exit_code == 1
    assert "TypeError: can't multiply sequence by non-int of type 'float'" in result.stderr
    assert "does not convert config-file values" in result.stderr
    every_output(path, tmp_path)


def test_integers_beyond_the_float_range(tmp_path):
    path = args_toml(tmp_path, "9" * 400)
    result = run_in_process("schedule", str(path))
    assert result.exit_code == 1 and "OverflowError: int too large to convert to float" in result.stderr
    every_output(path, tmp_path)


def test_negative_lr_draws(tmp_path):
    path = args_toml(tmp_path, "-1e-4")
    codes = every_output(path, tmp_path)
    assert codes["text"] == 0 and codes["svg"] == 0


def test_gui_cli_release_save_last_n_steps_infinity(tmp_path):
    path = gui(tmp_path, save_last_n_steps=float("inf"))
    result = run_in_process("schedule", str(path), "--gui-version", "v23.1.5")
    assert result.exit_code == 1 and "OverflowError: cannot convert float infinity to integer" in result.stderr
    result = run_in_process("schedule", str(path))            # a TOML release sends it as it is
    assert result.exit_code != 3


def test_gui_default_learning_rate_text_is_a_number(tmp_path):
    """A GUI JSON without learning_rate: the widget's default text ("0.0001") is the number the
    GUI sends; the schedule used to call that the trainer's TypeError."""
    shutil.copytree(SAMPLE / "dataset", tmp_path / "dataset")
    path = tmp_path / "gui.json"
    path.write_text(json.dumps({"LoRA_type": "Standard", "pretrained_model_name_or_path": "model.safetensors",
                                "train_data_dir": "dataset/img", "output_dir": "out", "epoch": 10,
                                "max_train_epochs": 0, "max_train_steps": 0}), encoding="utf-8")
    result = run_in_process("schedule", str(path), "--gui-version", "v24.1.7", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["lr"]["base"] == [0.0001, 0.0001]
