"""`kohya-tune resume --mode finish|more`: the options and config edits, their read-back, --diff
and --apply; and the plans the real trainer was run with (tests/data/resume/finish-check.json:
each plan applied and run through the oracle's loop, its steps and LR equal to the uninterrupted
run's) are the plans kohya-tune still writes."""
from __future__ import annotations

import json
import os
import stat

import pytest

from helpers import run_in_process
from resume_cases import DATA, build, cases, options

BY_ID = {c["id"]: c for c in cases()}


def _setup(cid: str, run_name: str, root):
    case = BY_ID[cid]
    index, run = next((i, r) for i, r in enumerate(case["results"], 1) if r["name"] == run_name)
    config, state = build(case, index, run, root)
    return case, run, config, state


def _plan(case, config, state, *extra):
    result = run_in_process("resume", str(state), config.name, "--format", "json", *options(case), *extra)
    assert result.exit_code in (0, 1), result.stdout + result.stderr
    return json.loads(result.stdout)


def test_finish_with_ga1_skips_to_the_state_exactly(tmp_path, monkeypatch):
    """A step state inside epoch 2 (GA 1): skip_until_initial_step with the state's step gives the
    uninterrupted run's remaining steps and LR (the reference run of the same case)."""
    case, run, config, state = _setup("step-noskip-linear", "resume", tmp_path)
    monkeypatch.chdir(tmp_path)
    answer = _plan(case, config, state, "--mode", "finish")
    plan = answer["plan"]
    assert plan["exact"] is True
    assert plan["steps_done"] == 8 and plan["remaining"] == 16
    assert plan["options"]["skip_until_initial_step"] is True
    ref = case["reference"]["steps"][8:]
    got = plan["run"]["steps"]
    assert len(got) == len(ref) == 16
    for s, r in zip(got, ref):
        assert s["epoch"] == r[1]
        assert all(abs(a - b) <= 1e-9 * abs(b) for a, b in zip(s["lr"], r[2:]))
    # the first run's step files would be written over: a new output_name
    assert plan["options"]["output_name"] == "lora-resumed"
    assert not any(f["overwrites"] for f in plan["run"]["files"] if f["kind"] in ("model", "state"))


def test_ga2_skip_cannot_be_exact_and_says_by_how_much(tmp_path, monkeypatch):
    case, run, config, state = _setup("ga2-step-skip", "resume", tmp_path)
    monkeypatch.chdir(tmp_path)
    plan = _plan(case, config, state, "--mode", "finish")["plan"]
    assert plan["exact"] is False
    assert plan["difference"]["steps"] == 1
    assert "sd-scripts#2407" in plan["difference"]["why"]
    assert "batch" in plan["difference"]["data"]
    # the closest plan drops the skip that skips whole epochs
    assert plan["options"].get("skip_until_initial_step", "kept") is None


def test_finished_run_more_epochs_and_nothing_to_finish(tmp_path, monkeypatch):
    case, run, config, state = _setup("finished-runs", "same", tmp_path)
    monkeypatch.chdir(tmp_path)
    answer = _plan(case, config, state)
    assert answer["run"]["outcome"] == "refused"
    assert answer["run"]["error"].startswith("AssertionError: max_train_steps should be greater than initial step")
    finish = _plan(case, config, state, "--mode", "finish")["plan"]
    assert finish["remaining"] <= 0 and finish["edits"] == [] and finish["exact"] is True
    more = _plan(case, config, state, "--mode", "more", "--more-epochs", "2")["plan"]
    assert more["exact"] is True and more["remaining"] == 12
    assert {e["key"]: e["new"] for e in more["edits"]} == {"max_train_epochs": 5, "output_name": "lora-resumed"}
    assert more["flags"] == ["--max_train_epochs", "5", "--output_name", "lora-resumed"]


def test_diff_apply_and_read_back(tmp_path, monkeypatch):
    case, run, config, state = _setup("step-noskip-linear", "resume", tmp_path)
    monkeypatch.chdir(tmp_path)
    before = config.read_bytes()
    result = run_in_process("resume", str(state), config.name, "--mode", "finish", "--diff", *options(case))
    assert result.exit_code == 1
    # train_state.json holds the state's step (a first run's state): skip_until_initial_step is enough
    assert "+skip_until_initial_step = true" in result.stdout and "\ninitial_step =" not in result.stdout and "+initial_step" not in result.stdout
    assert config.read_bytes() == before
    os.chmod(config, stat.S_IREAD)
    result = run_in_process("resume", str(state), config.name, "--mode", "finish", "--apply", *options(case))
    assert result.exit_code == 2 and "read-only" in result.stderr
    assert config.read_bytes() == before
    os.chmod(config, stat.S_IREAD | stat.S_IWRITE)
    result = run_in_process("resume", str(state), config.name, "--mode", "finish", "--apply", *options(case))
    assert result.exit_code == 0, result.stdout + result.stderr
    after = config.read_text(encoding="utf-8")
    # every byte kept but the edits
    assert after.startswith(before.decode("utf-8").split("output_name")[0])
    assert "skip_until_initial_step = true" in after and 'output_name = "lora-resumed"' in after
    # the written config, read again, is the planned run, and needs no further change
    again = _plan(case, config, state, "--mode", "finish")
    assert again["plan"]["edits"] == [] and again["plan"]["exact"] is True
    assert again["run"]["optimizer_steps"] == 16 and not again["run"]["bugs"] or \
        {b["id"] for b in again["run"]["bugs"]} <= {"run-local-step", "random-states-lost"}


def test_a_changed_dataset_makes_the_plan_inexact(tmp_path, monkeypatch):
    """An epoch state of a first run says how many steps an epoch had: with more images since,
    the plan says the steps per epoch changed and is not exact."""
    case, run, config, state = _setup("epoch-ga1-cosine", "resume", tmp_path)
    from helpers import make_images

    make_images(tmp_path / "img" / "2_a", [[64, 64, 2]], start=3)
    monkeypatch.chdir(tmp_path)
    plan = _plan(case, config, state, "--mode", "finish")["plan"]
    assert plan["exact"] is False
    assert "6 steps per epoch, this config makes 10" in plan["difference"]["why"]


def test_usage_errors(tmp_path, monkeypatch):
    case, run, config, state = _setup("step-noskip-linear", "resume", tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run_in_process("resume", str(state), config.name, "--apply").exit_code == 2
    assert run_in_process("resume", str(state), config.name, "--mode", "sideways").exit_code == 2
    assert run_in_process("resume", str(state), config.name, "--mode", "more").exit_code == 2
    assert run_in_process("resume", str(state), config.name, "--more-steps", "5").exit_code == 2
    assert run_in_process("resume", str(state), "nothing.toml").exit_code == 2


FINISH = json.loads((DATA / "finish-check.json").read_text(encoding="utf-8")) \
    if (DATA / "finish-check.json").exists() else []
CHECKED = [e for e in FINISH if "real_steps" in e]


def test_finish_plans_were_run_for_real():
    assert len(CHECKED) >= 10
    for entry in CHECKED:
        # the plan's own prediction is what the trainer did
        assert entry["predicted_equal_real"], entry
        # an exact plan reproduced the uninterrupted run's steps and LR
        if entry["plan_exact"]:
            assert entry["lr_and_count_equal_reference"], entry
            assert entry["overwrites"] == [], entry


@pytest.mark.parametrize("entry", CHECKED, ids=[f"{e['case']}-{e['run']}" for e in CHECKED])
def test_finish_plan_is_the_one_run_for_real(entry, tmp_path, monkeypatch):
    case, run, config, state = _setup(entry["case"], entry["run"], tmp_path)
    monkeypatch.chdir(tmp_path)
    plan = _plan(case, config, state, "--mode", "finish")["plan"]
    assert plan["flags"] == [f if not f.startswith("/") else f for f in entry["flags"]] or \
        [f for f in plan["flags"] if not os.path.isabs(f)] == [f for f in entry["flags"] if not os.path.isabs(f)]
    assert plan["exact"] == entry["plan_exact"]
