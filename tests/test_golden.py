"""Every golden case (numbers produced by running the real sd-scripts dataset code, and the real
GUI step code for GUI cases) is reproduced exactly through the CLI."""
from __future__ import annotations

import json

import pytest

from helpers import case_options, golden_cases, materialize, run_cli

TRAINER_KEYS = ["num_train_images", "num_reg_images", "num_reg_images_used", "num_batches",
                "num_batches_per_epoch", "num_update_steps_per_epoch", "max_train_steps",
                "num_train_epochs", "buckets"]
GUI_KEYS = ["total_steps", "reg_factor", "max_train_steps", "max_train_epochs", "lr_warmup_steps"]

PARAMS = [pytest.param(case, label, id=f"{case['id']}[{label.split()[-1]}]")
          for case in golden_cases() for label in case["expected"] if label != "gui"]


def test_cases_present():
    assert len(PARAMS) >= 70


def _split(message: str) -> tuple:
    kind, _, text = message.partition(": ")
    return kind.replace("voluptuous ", "").split(".")[-1], text


def same_error(got: str, want: str) -> bool:
    """The trainer's exception type and the start of its message (paths in it differ: the
    oracle runs in its own folder)."""
    got_kind, got_text = _split(got)
    want_kind, want_text = _split(want)
    if want.startswith("No data found"):
        return got.startswith("No data found")
    head = want_text.split("/")[0][:40]
    return got_kind == want_kind and got_text.startswith(head)


@pytest.mark.parametrize("case,label", PARAMS)
def test_golden_case(case, label, tmp_path):
    materialize(case, tmp_path)
    version = label.split()[-1]
    proc = run_cli("steps", case["config"], "--format", "json", *case_options(case, version),
                   cwd=tmp_path)
    expected = case["expected"][label]
    if "error" in expected:
        assert proc.returncode == 1, proc.stderr
        got = json.loads(proc.stdout)["error"]
        assert same_error(got, expected["error"]), (got, expected["error"])
        return
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    trainer = out["trainer"]
    for key in TRAINER_KEYS:
        assert trainer[key] == expected[key], key
    for got, want in zip(trainer["datasets"], expected.get("datasets", [])):
        assert got["batch_size"] == want["batch_size"]
        assert got["num_batches"] == want["num_batches"]
        assert got["buckets"] == want["buckets"]
    if "gui" in case["expected"]:
        for key in GUI_KEYS:
            assert out["gui"][key] == case["expected"]["gui"][key], key
