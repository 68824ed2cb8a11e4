"""Windows-safe output: under a legacy code page (cp1252, as a Windows console or a redirect
there gives) nothing crashes, bars fall back to ASCII, JSON stays valid; Windows paths work."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from helpers import make_images, run_cli

CP1252 = {"PYTHONIOENCODING": "cp1252"}
SAMPLE = Path(__file__).resolve().parent.parent / "sample_configs"


def _sample(tmp_path) -> Path:
    shutil.copytree(SAMPLE, tmp_path / "s")
    return tmp_path / "s"


def test_steps_bars_fall_back_to_ascii(tmp_path):
    root = _sample(tmp_path)
    proc = run_cli("steps", "lora_gui.json", cwd=root, env=CP1252)
    assert proc.returncode == 0, proc.stderr
    assert "#" * 10 in proc.stdout and "█" not in proc.stdout
    utf8 = run_cli("steps", "lora_gui.json", cwd=root, env={"PYTHONIOENCODING": "utf-8"})
    assert "█" in utf8.stdout


def test_japanese_trainer_messages_do_not_crash(tmp_path):
    # the trainer's messages are bilingual; cp1252 cannot encode the Japanese half
    make_images(tmp_path / "img" / "1_a", [[512, 512, 2]], captions={"0001": ""})
    (tmp_path / "config.toml").write_text('train_data_dir = "img"\nresolution = "512,512"\n'
                                          'caption_extension = ".txt"\n')
    text = run_cli("steps", "config.toml", cwd=tmp_path, env=CP1252)
    assert text.returncode == 1 and "Traceback" not in text.stderr
    assert "caption file is empty / \\u30ad" in text.stderr
    as_json = run_cli("steps", "config.toml", "--format", "json", cwd=tmp_path, env=CP1252)
    assert as_json.returncode == 1
    assert "キャプション" in json.loads(as_json.stdout)["error"]
    lint = run_cli("lint", "--output-format", "full", "config.toml", cwd=tmp_path, env=CP1252)
    assert lint.returncode == 1 and "Traceback" not in lint.stderr


def test_windows_paths_and_crlf(tmp_path):
    # a config written on Windows: backslash paths (mapped with --path-map) and CRLF line ends
    make_images(tmp_path / "data" / "10_tok", [[512, 512, 3]])
    text = ('train_data_dir = "D:\\\\lora\\\\data"\r\nresolution = "512,512"\r\n'
            'caption_extension = ".txt"\r\nmax_train_epochs = 2\r\n')
    (tmp_path / "config.toml").write_bytes(text.encode())
    proc = run_cli("steps", "config.toml", "--format", "json", "--path-map",
                   f"D:\\lora\\data={tmp_path / 'data'}", cwd=tmp_path, env=CP1252)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["trainer"]["num_train_images"] == 30
    solve = run_cli("solve", "--target-epochs", "3", "config.toml", "--path-map",
                    f"D:\\lora\\data={tmp_path / 'data'}", cwd=tmp_path, env=CP1252)
    assert solve.returncode == 0, solve.stderr
    assert (tmp_path / "config.toml").read_bytes() == text.replace("= 2", "= 3").encode()
