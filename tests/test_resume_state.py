"""Reading a saved state without torch: the real state folders the oracle's trainers wrote
(torch 2.13 zip pickles, accelerate 0.30 / 0.33 / 1.6) read exactly, and a pickle that would run
code is refused before anything of it runs."""
from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import pytest

from helpers import run_cli
from kohya_tune import api
from kohya_tune.load import state as state_mod
from kohya_tune.load import torch_pickle
from resume_cases import DATA, resume_runs

STATES = [(case, run) for case, _, run in resume_runs()
          if (DATA / "states" / case["id"] / run["name"]).is_dir()]


def _state_dir(case, run) -> Path:
    return DATA / "states" / case["id"] / run["name"] / Path(run["config"]["resume"]).name


def test_states_stored():
    assert len(STATES) >= 20


@pytest.mark.parametrize("case,run", STATES, ids=[f"{c['id']}-{r['name']}" for c, r in STATES])
def test_real_state_reads_exactly(case, run):
    """What the trainer loaded (the oracle's record) is what the reader finds."""
    state = api.read_state(str(_state_dir(case, run)))
    loaded = run["resumed_from"]
    assert sorted(state.files) == sorted(loaded["files"])
    assert state.train_state == loaded["train_state"]
    if run["start"] is not None:
        assert state.scheduler.last_epoch == run["start"]["scheduler_last_epoch_at_start"]
        assert state.scheduler.base_lrs == run["start"]["scheduler_base_lrs"]
        # accelerate >= 0.32 restores its step counter from random_states_0.pkl
        if case["oracle"]["accelerate"] >= "0.32" and case["options"]["num_processes"] == 1:
            assert state.accelerate_steps[0] == loaded["accelerator_step_after_load"]
    assert not state.problems
    name = Path(run["config"]["resume"]).name
    kind, output_name, number = state_mod.parse_name(name)
    assert state.kind == kind and state.output_name == output_name


def test_optimizer_counts_every_step_of_every_run():
    """AdamW's step counter and the scheduler count all runs; train_state.json counts only the
    run that wrote it (the second resume of epoch-ga1-cosine reads a state a resume wrote)."""
    case = next(c for c, r in STATES if c["id"] == "epoch-ga1-cosine" and r["name"] == "second")
    run = next(r for c, r in STATES if c is case and r["name"] == "second")
    state = api.read_state(str(_state_dir(case, run)))
    assert state.scheduler.last_epoch == 18
    assert state.optimizer.step == 18
    assert state.train_state == {"current_epoch": 3, "current_step": 6}
    assert len(state.optimizer.group_sizes) == 2


def _torch_zip(path: Path, payload: bytes, prefix: str = "scheduler") -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{prefix}/data.pkl", payload)
        z.writestr(f"{prefix}/version", "3\n")
        z.writestr(f"{prefix}/byteorder", "little")


class _System:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        import os

        return (os.system, (self.command,))


class _Eval:
    def __reduce__(self):
        return (eval, ("__import__('os').system('true')",))


def _copy_state(tmp_path: Path) -> Path:
    case, run = STATES[0]
    import shutil

    dst = tmp_path / "lora-000002-state"
    shutil.copytree(_state_dir(case, run), dst)
    return dst


@pytest.mark.parametrize("payload", [
    "system", "eval", "protocol0", "ext", "popen"])
def test_malicious_pickle_is_refused_without_running(tmp_path, payload):
    state = _copy_state(tmp_path)
    marker = tmp_path / "pwned"
    if payload == "system":
        data = pickle.dumps({"last_epoch": _System(f"touch {marker}")}, protocol=2)
    elif payload == "eval":
        data = pickle.dumps([_Eval()], protocol=4)
    elif payload == "protocol0":
        data = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    elif payload == "popen":
        data = f"csubprocess\nPopen\n((S'touch'\nS'{marker}'\nltR.".encode()
    else:
        # a copyreg extension code (registered in this process): resolved through find_class too
        data = b"\x80\x02" + b"\x84" + (0xF00D).to_bytes(4, "little") + b"X\x04\x00\x00\x00true\x85R."
    _torch_zip(state / "scheduler.bin", data)
    import copyreg

    copyreg.add_extension("os", "system", 0xF00D)
    try:
        with pytest.raises(state_mod.NotAState) as info:
            api.read_state(str(state))
    finally:
        copyreg.remove_extension("os", "system", 0xF00D)
    assert "scheduler.bin" in str(info.value) and "refused" in str(info.value)
    assert not marker.exists()


def test_malicious_state_is_exit_2_naming_the_file(tmp_path):
    state = _copy_state(tmp_path)
    marker = tmp_path / "pwned"
    _torch_zip(state / "optimizer.bin", pickle.dumps(_System(f"touch {marker}"), protocol=2), "optimizer")
    config = tmp_path / "run.toml"
    config.write_text('output_dir = "out"\n', encoding="utf-8")
    proc = run_cli("resume", str(state), str(config))
    assert proc.returncode == 2
    assert "optimizer.bin asks for" in proc.stderr and "posix.system" in proc.stderr or "os.system" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not marker.exists()


def test_unreadable_files_are_named_not_guessed(tmp_path):
    state = _copy_state(tmp_path)
    (state / "scheduler.bin").write_bytes(b"\x80\x02}q\x00.")        # a bare pickle, not a torch zip
    (state / "train_state.json").write_text("{not json", encoding="utf-8")
    read = api.read_state(str(state))
    problems = dict(read.problems)
    assert "not a torch zip archive" in problems["scheduler.bin"]
    assert "not readable JSON" in problems["train_state.json"]
    assert read.scheduler is None and read.train_state is None


def test_truncated_zip_and_huge_entry(tmp_path):
    state = _copy_state(tmp_path)
    good = (state / "scheduler.bin").read_bytes()
    (state / "scheduler.bin").write_bytes(good[: len(good) // 2])
    read = api.read_state(str(state))
    assert read.problem("scheduler.bin")
    # a data.pkl larger than the reader takes is refused by its declared size, before reading it
    big = io.BytesIO()
    with zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("scheduler/data.pkl", b"\x80\x02" + b"N" * (torch_pickle.MAX_PICKLE_BYTES + 10) + b".")
    (state / "scheduler.bin").write_bytes(big.getvalue())
    read = api.read_state(str(state))
    assert "more than" in read.problem("scheduler.bin")


def test_not_a_state_folder_is_exit_2(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('output_dir = "out"\n', encoding="utf-8")
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_cli("resume", str(empty), str(config), "--format", "json")
    assert proc.returncode == 2
    assert "is not a training state folder" in proc.stderr
    assert json.loads(proc.stdout)["exit"] == 2
    # the output folder given instead of one of its states: they are named
    out = tmp_path / "out"
    _copy_state(out)
    proc = run_cli("resume", str(out), str(config))
    assert proc.returncode == 2 and "lora-000002-state" in proc.stderr
    proc = run_cli("resume", str(tmp_path / "nowhere"), str(config))
    assert proc.returncode == 2 and "not found" in proc.stderr


def test_folder_names():
    assert state_mod.parse_name("lora-000004-state") == ("epoch", "lora", 4)
    assert state_mod.parse_name("lora-step00000120-state") == ("step", "lora", 120)
    assert state_mod.parse_name("lora-step-0000004-state") == ("step", "lora", -4)   # sd-scripts#2407
    assert state_mod.parse_name("my-lora-state") == ("last", "my-lora", None)
    assert state_mod.parse_name("at-step00000010-state") == ("step", "at", 10)
    assert state_mod.parse_name("whatever") == (None, None, None)
