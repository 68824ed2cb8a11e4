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


# ------------------------------------------------------------------------------------------
# what the oracle cases do not show: the text, the picture, the full fine-tune scripts, limits

def _setup(tmp_path, monkeypatch, extra: str, N: int = 6, no_output_dir=False):
    case = {"num_batches": N, "no_output_dir": no_output_dir,
            "args": 'dit = "d.safetensors"\nnetwork_module = "networks.lora_qwen_image"\noptimizer_type = "AdamW"\n'
                    'learning_rate = 1e-4\nsdpa = true\n' + extra}
    monkeypatch.chdir(tmp_path)
    return write_setup(tmp_path, case)


def test_text_names_the_double_samples_and_draws_the_curve(tmp_path, monkeypatch):
    path = _setup(tmp_path, monkeypatch, 'output_name = "mylora"\nmax_train_epochs = 4\nlr_scheduler = "rex"\n'
                  'lr_warmup_steps = 3\nsave_every_n_epochs = 1\nsave_last_n_epochs = 2\nsample_every_n_steps = 3\n'
                  'sample_prompts = "prompts.txt"\n')
    (tmp_path / "prompts.txt").write_text("a cat\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["schedule", path, "--script", "qwen_image_train_network"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "24 optimizer steps in 4 epochs of 6 steps" in out
    assert "mylora-000001.safetensors   removed at step 18" in out
    assert "mylora-000003.safetensors" in out and "mylora.safetensors" in out
    assert "sampled twice at steps 6, 12, 18, 24" in out
    assert "Learning rate: rex, warm-up 3 scheduler steps" in out
    assert "▲" in out and "not found here" not in out


def test_ascii_chart_and_svg_picture(tmp_path, monkeypatch):
    from helpers import run_cli

    path = _setup(tmp_path, monkeypatch, 'output_name = "x"\nmax_train_steps = 30\nlr_scheduler = "cosine"\n'
                  'lr_warmup_steps = 0.1\nsave_every_n_steps = 10\n')
    proc = run_cli("schedule", path, "--script", "qwen_image_train_network", "--plot", str(tmp_path / "lr.svg"),
                   cwd=tmp_path, env={"PYTHONIOENCODING": "cp1252"})
    assert proc.returncode == 0, proc.stderr
    assert "^" in proc.stdout and "▲" not in proc.stdout
    svg = (tmp_path / "lr.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "qwen_image_train_network.py, musubi-tuner v0.3.4" in svg


def test_full_fine_tune_scripts(tmp_path, monkeypatch):
    """qwen_image_train: one parameter group at learning_rate (qwen_image_train.py:272-273);
    hv_train: no samples (its sample_images does nothing, hv_train.py:669-670) and no rex (its own
    get_scheduler)."""
    path = _setup(tmp_path, monkeypatch, 'output_name = "full"\nmax_train_steps = 12\nlr_scheduler = "linear"\n'
                  'sample_every_n_steps = 4\nsample_prompts = "p.txt"\nnetwork_args = ["loraplus_lr_ratio=4"]\n')
    result = CliRunner().invoke(app, ["schedule", path, "--script", "qwen_image_train", "--format", "json"])
    out = json.loads(result.stdout)
    assert out["lr"]["groups"] == ["dit"] and out["lr"]["per_step"][0] == [1e-4]
    assert [s["step"] for s in out["samples"]] == [4, 8, 12, 12]
    (tmp_path / "dataset.toml").write_text((tmp_path / "dataset.toml").read_text().replace("img", "vid"))
    for f in (tmp_path / "cache").iterdir():
        f.rename(f.with_name(f.name.replace("_qi", "_hv")))
    result = CliRunner().invoke(app, ["schedule", path, "--script", "hv_train", "--format", "json"])
    out = json.loads(result.stdout)
    assert out["samples"] == [] and any("never samples" in n for n in out["notes"])
    (tmp_path / "args.toml").write_text((tmp_path / "args.toml").read_text().replace('"linear"', '"rex"'))
    result = CliRunner().invoke(app, ["schedule", path, "--script", "hv_train", "--format", "json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["error"].startswith(
        "ValueError: rex is not a valid SchedulerType")


def test_a_run_too_long_to_list_and_a_missing_dataset(tmp_path, monkeypatch):
    path = _setup(tmp_path, monkeypatch, "max_train_steps = 300000\n")
    result = CliRunner().invoke(app, ["schedule", path, "--script", "qwen_image_train_network"])
    assert result.exit_code == 2 and "at most 250,000 steps" in result.stderr
    for f in (tmp_path / "cache").iterdir():
        f.unlink()
    result = CliRunner().invoke(app, ["schedule", path, "--script", "qwen_image_train_network", "--format", "json"])
    assert result.exit_code == 2 and "cannot be known here" in result.stderr
    assert json.loads(result.stdout)["unknown"]


def test_a_dataset_config_alone_has_no_output_name(tmp_path, monkeypatch):
    _setup(tmp_path, monkeypatch, "max_train_steps = 10\n")
    result = CliRunner().invoke(app, ["schedule", "dataset.toml", "--script", "qwen_image_train_network", "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    # the script's defaults: 1600 steps of 6 batches, constant LR 2e-6, only the final file
    assert out["trainer"]["max_train_steps"] == 1600 and out["lr"]["per_step"][-1] == [2e-06]
    assert [c["file"] for c in out["checkpoints"]] == ["<output_name>.safetensors"]
    assert "error" not in out and any("output_name" in n for n in out["notes"])
