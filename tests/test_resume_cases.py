"""`kohya-tune resume STATE CONFIG --format json` against what the real sd-scripts loop did
(tests/data/resume: the resume oracle's runs): every step number, epoch and LR (1e-9 relative),
the start epoch, every file in order with its overwrite, the final train_state.json, refusals."""
from __future__ import annotations

import json
import math

import pytest

from helpers import run_in_process
from resume_cases import build, cases, options, resume_runs

RUNS = resume_runs()


def _close(a, b) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0) or a == b


def test_cases_present():
    assert len(cases()) >= 15
    assert len(RUNS) >= 20
    outcomes = {run["outcome"].split(":")[0] for _, _, run in RUNS}
    assert {"finished", "interrupted", "error"} <= outcomes


def _removals_grouped(files: list) -> list:
    """The oracle sees a removal when it next lists the output folder, so removals made between
    two saves arrive together, sorted by name; the trainer's own order within such a group (the
    old state, then the old checkpoint) is what kohya-tune gives. Compared as groups."""
    out, group = [], []
    for f in files:
        if f[0] == "removed":
            group.append(f)
            continue
        if group:
            out.append(tuple(sorted(group)))
            group = []
        out.append(f)
    if group:
        out.append(tuple(sorted(group)))
    return out


def _expected_files(run) -> list:
    out = []
    for f in run["files"]:
        if f["kind"] == "sample":
            out.append(("sample", f["step"], f["epoch"]))
        elif f["kind"] == "removed":
            out.append(("removed", f["name"]))
        elif f["kind"] == "model":
            out.append(("model", f["name"], f["step"], f["epoch"], f["ss_epoch"], f["overwrites"]))
        else:
            out.append(("state", f["name"], f["step"], json.dumps(f["train_state"]), f["overwrites"]))
    return out


def _got_files(files) -> list:
    out = []
    for f in files:
        if f["kind"] == "sample":
            out.append(("sample", f["step"], f["sample_epoch"]))
        elif f["kind"] == "removed":
            out.append(("removed", f["name"]))
        elif f["kind"] == "model":
            out.append(("model", f["name"], f["step"], f["epoch"], f["ss_epoch"], f["overwrites"]))
        else:
            out.append(("state", f["name"], f["step"], json.dumps(f["train_state"]), f["overwrites"]))
    return out


@pytest.mark.parametrize("case,index,run", RUNS, ids=[f"{c['id']}-{r['name']}" for c, _, r in RUNS])
def test_resume_case(case, index, run, tmp_path, monkeypatch):
    config, state = build(case, index, run, tmp_path)
    monkeypatch.chdir(tmp_path)
    result = run_in_process("resume", str(state.relative_to(tmp_path)), config.name, "--format", "json",
                            *options(case))
    assert result.exit_code in (0, 1), result.stdout + result.stderr
    got = json.loads(result.stdout)["run"]
    outcome = run["outcome"]
    if outcome.startswith("error: "):
        # several processes: the first process to fail gives the error (rank 0 then dies of the
        # broken process group; the oracle keeps the first traceback's exception)
        assert got["outcome"] == "refused"
        assert got["error"] == (run.get("first_error") or outcome[len("error: "):])
        return
    assert got["outcome"] == "finished", got["error"]
    start = run["start"]
    assert got["epoch_to_start"] == start["epoch_to_start"]
    assert got["start"]["scheduler_last_epoch_at_start"] == start["scheduler_last_epoch_at_start"]
    assert got["start"]["accelerate_step_after_load"] == run["resumed_from"]["accelerator_step_after_load"]
    for want, base in zip(start["scheduler_base_lrs"], got["start"]["scheduler_base_lrs"]):
        assert _close(base, want)
    steps = got["steps"]
    expected = run["steps"]
    interrupted = outcome.startswith("interrupted")
    if interrupted:
        steps = steps[:len(expected)]
    assert [(s["step"], s["epoch"]) for s in steps] == [tuple(e[:2]) for e in expected]
    for s, e in zip(steps, expected):
        assert len(s["lr"]) == len(e) - 2
        assert all(_close(a, b) for a, b in zip(s["lr"], e[2:])), (s, e)
    files = _got_files(got["files"])
    want = _expected_files(run)
    if interrupted:
        files = files[:len(want)]
    assert _removals_grouped(files) == _removals_grouped(want)
    if not interrupted:
        assert got["optimizer_steps"] == len(expected)
        states = [f for f in run["files"] if f["kind"] == "state"]
        assert got["train_state_after"] == (states[-1]["train_state"] if states else None)


def test_named_bugs_carry_their_issue(tmp_path, monkeypatch):
    """The GA skip case names sd-scripts#2407; a two-process accelerate 0.33 resume stops with the
    trainer's KeyError and names kohya_ss#3112."""
    by_id = {c["id"]: c for c in cases()}
    seen = {}
    for cid in ("ga2-step-skip", "gui-2e0fcc50-p2"):
        case = by_id[cid]
        index, run = next((i, r) for i, r in enumerate(case["results"], 1) if r["config"].get("resume"))
        root = tmp_path / cid
        root.mkdir()
        config, state = build(case, index, run, root)
        monkeypatch.chdir(root)
        result = run_in_process("resume", str(state), config.name, "--format", "json", *options(case))
        seen[cid] = json.loads(result.stdout)["run"]
    assert "sd-scripts#2407" in {b["issue"] for b in seen["ga2-step-skip"]["bugs"]}
    assert seen["gui-2e0fcc50-p2"]["error"] == "KeyError: 'step'"
    assert "kohya_ss#3112" in {b["issue"] for b in seen["gui-2e0fcc50-p2"]["bugs"]}
