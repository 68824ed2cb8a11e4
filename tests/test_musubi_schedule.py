"""`schedule` for musubi-tuner against the real training loop: every case of
tests/data/musubi/schedule/oracle.json (made by running musubi-tuner's own `_run_training_loop`, see
the README there) through `kohya-tune schedule ARGS --script qwen_image_train_network
--num-processes P --format json`, on a cache folder of one image with `num_repeats = N` (N batches
of one). Compared, exactly (every LR to the last bit): the step numbers, the LR of every group at every step, every checkpoint and
state in the order written (file name and step), the removals (name and step), the files left in
output_dir, every sample call (epoch argument and step), and the error that stops the run, word for
word, with the step it happens at."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from helpers import DATA
from musubi_helpers import SAFETENSORS_EMPTY

from kohya_tune.cli import app

ORACLE = json.loads((DATA / "musubi" / "schedule" / "oracle.json").read_text(encoding="utf-8"))
CASES = ORACLE["cases"]


def write_setup(root, case) -> str:
    cache = root / "cache"
    cache.mkdir(exist_ok=True)
    # the names the real caching wrote for one 256x256 image (tests/data/musubi/schedule/README.md)
    (cache / "0000_0256x0256_qi.safetensors").write_bytes(SAFETENSORS_EMPTY)
    (cache / "0000_qi_te.safetensors").write_bytes(SAFETENSORS_EMPTY)
    (root / "dataset.toml").write_text(
        '[general]\nresolution = [256, 256]\ncaption_extension = ".txt"\nbatch_size = 1\n\n'
        f'[[datasets]]\nimage_directory = "img"\ncache_directory = "cache"\nnum_repeats = {case["num_batches"]}\n',
        encoding="utf-8")
    head = 'dataset_config = "dataset.toml"\n' + ("" if case.get("no_output_dir") else 'output_dir = "out"\n')
    (root / "args.toml").write_text(head + case["args"], encoding="utf-8")
    return str(root / "args.toml")


def run(tmp_path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    path = write_setup(tmp_path, case)
    result = CliRunner().invoke(app, ["schedule", path, "--script", case["script"], "--num-processes",
                                      str(case["num_processes"]), "--format", "json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result, json.loads(result.stdout)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_schedule_matches_the_real_loop(tmp_path, monkeypatch, case):
    result, out = run(tmp_path, monkeypatch, case)
    if "error" in case and case.get("max_train_steps") is None:
        # refused before the loop starts (the scheduler, the optimizer)
        assert result.exit_code == 1, result.output
        assert out["error"] == case["error"]
        return
    if "trainer" not in out:
        # no timetable: the loop stops on an option it divides by (kohya-tune says so up front)
        assert "error" in case and result.exit_code == 1 and out["error"] == case["error"], result.output
        return
    assert out["trainer"]["max_train_steps"] == case["max_train_steps"]
    assert out["trainer"]["num_train_epochs"] == case["num_train_epochs"]
    assert out["trainer"]["num_batches_per_epoch"] == case["num_batches_per_epoch"]
    lr = out["lr"]["per_step"]
    # an error inside the loop: the LR recorded up to there
    assert len(lr) >= len(case["per_step"])
    for k, (mine, real) in enumerate(zip(lr, case["per_step"]), 1):
        assert len(mine) == len(real) and mine == real, (k, mine, real)
    if "error" not in case:
        assert len(lr) == len(case["per_step"])
    # saves and states in the order written
    real_saves = [(e[0], e[1], e[2]) for e in case["events"] if e[0] in ("save", "state")]
    mine_saves = [("state" if c["kind"] == "state" else "save", c["file"], c["step"]) for c in out["checkpoints"]]
    assert mine_saves == real_saves
    real_removed = sorted((e[1], e[2]) for e in case["events"] if e[0] in ("remove", "remove_state"))
    mine_removed = sorted((c["file"], c["removed_at_step"]) for c in out["checkpoints"] if not c["kept"])
    assert mine_removed == real_removed
    if "files" in case:
        kept = sorted(c["file"] + ("/" if c["folder"] or c["kind"] == "state" else "") for c in out["checkpoints"] if c["kept"])
        assert kept == case["files"]
    events = list(case["events"])
    if "error" in case and events and events[-1][0] == "sample" and events[-1][4]:
        events.pop()  # the call that failed (output_dir not set): no sample is made
    real_samples = [(e[1], e[2]) for e in events if e[0] == "sample"]
    mine_samples = [(0 if s["when"] == "first" else None if s["when"] == "step" else s["epoch"], s["step"])
                    for s in out["samples"]]
    assert mine_samples == real_samples
    twice = sorted(k for k in {s for _, s in real_samples} if sum(1 for _, t in real_samples if t == k) > 1)
    assert sorted(out["sampled_twice"]) == [k for k in twice if k > 0]
    if "error" in case:
        assert result.exit_code == 1
        assert out["error"] == case["error"] and out["error_at_step"] == case["error_at_step"]
    else:
        assert result.exit_code == 0, result.output
