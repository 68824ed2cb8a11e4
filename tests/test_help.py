"""--help that teaches: every command's usage names its CONFIG, every option is explained, the
choices are written out, examples and exit codes close each page; --format wherever there is an
output format; Ctrl-C exits 130 with one line."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer

from helpers import run_cli, run_in_process
from kohya_tune import cli

ROOT = Path(__file__).parents[1]
COMMANDS = typer.main.get_command(cli.app).commands
WITH_CONFIG = ("steps", "schedule", "lint", "solve", "balance", "report")


def help_of(name: str) -> str:
    result = run_in_process(name, "--help")
    assert result.exit_code == 0, result.stdout
    return result.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_is_explained(name):
    for param in COMMANDS[name].params:
        assert (param.help or "").strip(), f"{name} {param.opts}: no help text"
    page = help_of(name)
    assert "Examples:" in page and f"kohya-tune {name}" in page.split("Examples:", 1)[1]
    assert "Exit codes:" in page
    assert "<str>" not in page and "<int>" not in page and "{" not in page.split("\n", 1)[0]
    if name in WITH_CONFIG:
        usage = page.split("\n", 1)[0]
        assert re.search(r"\bCONFIG\b", usage), usage
        assert "130 interrupted (Ctrl-C" in " ".join(page.split())


@pytest.mark.parametrize("name", ["steps", "schedule", "balance", "solve"])
def test_choices_are_written_out(name):
    page = help_of(name)
    assert "--format [text|json]" in page
    if name in ("balance", "solve"):
        assert "--by [epoch|max_train_epochs|max_train_steps]" in page


def test_lint_and_schemas_choices_and_profile_explained():
    lint = help_of("lint")
    assert "--output-format, --format [concise|full|json|github|sarif]" in lint
    for name in ("steps", "lint", "solve", "schedule", "balance", "report"):
        page = " ".join(help_of(name).split())
        assert "A profile is the tag whose behaviour" in page and "at or below it" in page, name
    assert "--editor [vscode|taplo]" in help_of("schemas")


def test_top_level_help_says_where_to_start():
    page = run_in_process("--help").stdout
    assert "Start here:" in page and "kohya-tune steps YOUR_CONFIG.json" in page
    for name in COMMANDS:
        line = next(l for l in page.splitlines() if l.strip().startswith(name + " "))
        assert not line.rstrip().endswith("..."), line  # the short help is whole


def test_format_everywhere(tmp_path):
    for item in (ROOT / "sample_configs").iterdir():
        (shutil.copytree if item.is_dir() else shutil.copy)(item, tmp_path / item.name)
    gui = str(tmp_path / "lora_gui.json")
    # lint: --format is --output-format (ruff's name stays)
    a = run_in_process("lint", gui, "--format", "json")
    b = run_in_process("lint", gui, "--output-format", "json")
    assert a.stdout == b.stdout and json.loads(a.stdout)[0]["code"] == "KT203"
    # solve --format json: the request, the changes and the run before and after
    out = run_in_process("solve", "--target-epochs", "10", gui, "--diff", "--format", "json")
    assert out.exit_code == 1, out.stdout
    data = json.loads(out.stdout)
    assert data["target"] == {"kind": "epochs", "value": 10} and data["changed"] and not data["written"]
    assert data["before"]["num_train_epochs"] == 9 and data["after"]["num_train_epochs"] == 10
    assert [c["key"] for c in data["changes"]] == ["max_train_epochs"] and data["diff"].startswith("--- a/")
    wrote = json.loads(run_in_process("solve", "--target-epochs", "10", gui, "-f", "json").stdout)
    assert wrote["written"] and json.loads((tmp_path / "lora_gui.json").read_text(encoding="utf-8"))["max_train_epochs"] == 10
    again = run_in_process("solve", "--target-epochs", "10", gui, "-f", "json")
    assert again.exit_code == 0 and json.loads(again.stdout)["changed"] is False
    bad = run_in_process("solve", "--target-epochs", "10", str(tmp_path / "nowhere.json"), "-f", "json")
    assert bad.exit_code == 2 and json.loads(bad.stdout)["exit"] == 2
    # a choice outside the list is a usage error that names the choices (the real entry point)
    wrong = run_cli("steps", gui, "--format", "yaml")
    assert wrong.returncode == 2 and "'text', 'json'" in wrong.stderr


def test_sd_scripts_accepts_the_versions_kohya_tune_names():
    """GUI v21.5.x files run sd-scripts v0.6.4 (the steps header says so); --sd-scripts takes it
    (the oldest profile stands for it, with a note); v0.9 is v0.9.0."""
    sample = str(ROOT / "sample_configs" / "train_args.toml")
    old = run_in_process("steps", sample, "--sd-scripts", "v0.6.4")
    assert old.exit_code == 0, old.stdout
    assert "sd-scripts v0.6.4 (profile v0.6.5)" in old.stdout and "has no profile of its own" in old.stdout
    assert "sd-scripts v0.9 (profile v0.9.0)" in run_in_process("steps", sample, "--sd-scripts", "v0.9").stdout
    older = run_in_process("steps", sample, "--sd-scripts", "v0.4.0")
    assert older.exit_code == 2 and "older than the oldest profile" in older.stderr


@pytest.mark.skipif(os.name == "nt", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_exits_130_quietly():
    proc = subprocess.Popen([sys.executable, "-m", "kohya_tune", "steps", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2.5)  # started and waiting for standard input
        proc.send_signal(signal.SIGINT)
        out, errs = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert errs == "kohya-tune: interrupted\n" and out == ""
