"""solve for musubi-tuner configs: max_train_epochs / max_train_steps rewritten byte for byte, the
written file read back as `steps --script` reads it, on golden cases whose batch counts come from
the real musubi-tuner (tests/data/musubi/golden): from the cache folder alone and from the media
alone. musubi's own arithmetic (training/trainer_base.py:1640-1646, 1792-1793 at 30c658c4):
max_train_steps = max_train_epochs * ceil(N / P / G) when max_train_epochs is set, and
num_train_epochs = ceil(max_train_steps / ceil(ceil(N / P) / G))."""
from __future__ import annotations

import json
import math
import os
import stat

import pytest

from helpers import run_in_process
from musubi_helpers import musubi_cases, write_cache, write_files, write_media

SOLVABLE = [c for c in musubi_cases() if "error" not in c["expected"]]


def setup(case, tmp_path, monkeypatch, mode="cache"):
    write_files(case, tmp_path)
    (write_cache if mode == "cache" else write_media)(case, tmp_path)
    monkeypatch.chdir(tmp_path)
    return ["--script", case["script"], "--num-processes", str(case.get("num_processes", 1))]


def steps_json(opts):
    result = run_in_process("steps", "args.toml", *opts, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.splitlines(), after.splitlines()
    return [(x, y) for x, y in zip(a, b) if x != y] + [("", y) for y in b[len(a):]] + [(x, "") for x in a[len(b):]]


@pytest.mark.parametrize("case", SOLVABLE, ids=[c["id"] for c in SOLVABLE])
@pytest.mark.parametrize("target", [1, 7])
def test_target_epochs(case, target, tmp_path, monkeypatch):
    opts = setup(case, tmp_path, monkeypatch)
    before = (tmp_path / "args.toml").read_text(encoding="utf-8")
    result = run_in_process("solve", "args.toml", "--target-epochs", str(target), *opts)
    assert result.exit_code == 0, result.stderr
    after = (tmp_path / "args.toml").read_text(encoding="utf-8")
    e = case["expected"]
    P, G, N = e["num_processes"], e["gradient_accumulation_steps"], e["num_batches"]
    out = steps_json(opts)
    assert out["trainer"]["num_train_epochs"] == target
    assert out["trainer"]["max_train_steps"] == target * math.ceil(N / P / G)
    assert out["trainer"]["steps_source"] == "max_train_epochs"
    # only max_train_epochs (set or added) and a max_train_steps it overrides (removed) change
    for old, new in changed_lines(before, after):
        assert (old.startswith("max_train_epochs") or not old) and new == f"max_train_epochs = {target}" \
            or old.startswith("max_train_steps") and new in ("", f"max_train_epochs = {target}"), (old, new)


@pytest.mark.parametrize("case", SOLVABLE, ids=[c["id"] for c in SOLVABLE])
def test_target_steps_from_the_media(case, tmp_path, monkeypatch):
    opts = setup(case, tmp_path, monkeypatch, mode="media")
    result = run_in_process("solve", "args.toml", "--target-steps", "37", *opts)
    assert result.exit_code == 0, result.stderr
    out = steps_json(opts)
    e = case["expected"]
    U = math.ceil(math.ceil(e["num_batches"] / e["num_processes"]) / e["gradient_accumulation_steps"])
    assert out["trainer"]["max_train_steps"] == 37
    assert out["trainer"]["num_train_epochs"] == math.ceil(37 / U)
    text = (tmp_path / "args.toml").read_text(encoding="utf-8")
    assert "max_train_epochs" not in text  # it would override the steps
    assert "max_train_steps = 37" in text


def _case(name):
    return next(c for c in musubi_cases() if c["id"] == name)


def test_already_on_target_and_diff_writes_nothing(tmp_path, monkeypatch):
    case = _case("wan-mixed-chunk-2p-ga2-epochs")   # max_train_epochs = 3
    opts = setup(case, tmp_path, monkeypatch)
    before = (tmp_path / "args.toml").read_bytes()
    result = run_in_process("solve", "args.toml", "--target-epochs", "3", *opts)
    assert result.exit_code == 0 and "already on target" in result.stdout
    result = run_in_process("solve", "args.toml", "--target-epochs", "5", "--diff", *opts)
    assert result.exit_code == 1
    assert "-max_train_epochs = 3\n+max_train_epochs = 5" in result.stdout
    assert (tmp_path / "args.toml").read_bytes() == before


def test_sections_comments_and_crlf_are_kept(tmp_path, monkeypatch):
    case = _case("qi-images-buckets")
    opts = setup(case, tmp_path, monkeypatch)
    text = ("# my Qwen-Image run\r\n[model]\r\ndit = \"dit.safetensors\"  # the DiT\r\n"
            "network_module = \"networks.lora_qwen_image\"\r\nnetwork_dim = 4\r\n\r\n[data]\r\n"
            "dataset_config = \"dataset.toml\"\r\n\r\n[training]\r\noptimizer_type = \"AdamW\"\r\n"
            "learning_rate = 1e-4\r\nsdpa = true\r\nmax_train_steps = 500   # about right?\r\n"
            "gradient_accumulation_steps = 2\r\n")
    (tmp_path / "args.toml").write_bytes(text.encode())
    result = run_in_process("solve", "args.toml", "--target-steps", "40", *opts)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "args.toml").read_bytes() == text.replace("max_train_steps = 500", "max_train_steps = 40").encode()
    result = run_in_process("solve", "args.toml", "--target-epochs", "4", *opts)
    assert result.exit_code == 0, result.stderr
    written = (tmp_path / "args.toml").read_bytes().decode()
    # max_train_epochs goes into [training], beside the key it replaces
    assert "[training]\r\n" in written and "max_train_steps" not in written
    assert written.index("max_train_epochs = 4") > written.index("[training]")
    assert written.startswith("# my Qwen-Image run\r\n[model]\r\ndit = \"dit.safetensors\"  # the DiT\r\n")
    assert steps_json(opts)["trainer"]["num_train_epochs"] == 4


def test_not_a_whole_number_of_epochs_by_max_train_epochs(tmp_path, monkeypatch):
    case = _case("hv-slide-source-fps")   # 9 batches, 2 processes: 5 steps per epoch
    opts = setup(case, tmp_path, monkeypatch)
    before = (tmp_path / "args.toml").read_bytes()
    result = run_in_process("solve", "args.toml", "--target-steps", "12", "--by", "max_train_epochs", *opts)
    assert result.exit_code == 1
    assert "not a whole number of epochs (5 steps per epoch)" in result.stderr
    assert "nearest: 2 -> 2 epochs, 10 steps" in result.stderr
    assert (tmp_path / "args.toml").read_bytes() == before


def test_by_epoch_and_dataset_config_are_usage_errors(tmp_path, monkeypatch):
    case = _case("wan-images-no-upscale")
    opts = setup(case, tmp_path, monkeypatch)
    result = run_in_process("solve", "args.toml", "--target-epochs", "2", "--by", "epoch", *opts)
    assert result.exit_code == 2 and "musubi-tuner has no such argument" in result.stderr
    result = run_in_process("solve", "dataset.toml", "--target-epochs", "2", *opts)
    assert result.exit_code == 2 and "is a musubi-tuner dataset config" in result.stderr
    result = run_in_process("solve", "args.toml", "--target-epochs", "2")
    assert result.exit_code == 2 and "--script" in result.stderr


def test_without_cache_or_media_only_epochs_are_exact(tmp_path, monkeypatch):
    case = _case("wan-images-no-upscale")
    write_files(case, tmp_path)   # neither media nor cache
    monkeypatch.chdir(tmp_path)
    opts = ["--script", case["script"]]
    result = run_in_process("solve", "args.toml", "--target-steps", "20", *opts)
    assert result.exit_code == 2 and "only --target-epochs" in result.stderr
    result = run_in_process("solve", "args.toml", "--target-epochs", "6", *opts)
    assert result.exit_code == 0, result.stderr
    assert "whatever the batches per epoch" in result.stderr
    text = (tmp_path / "args.toml").read_text(encoding="utf-8")
    assert "max_train_epochs = 6" in text and "max_train_steps" not in text


def test_refusal_and_read_only(tmp_path, monkeypatch):
    case = _case("refuse-no-optimizer-type")
    opts = setup(case, tmp_path, monkeypatch, mode="media")
    result = run_in_process("solve", "args.toml", "--target-epochs", "2", *opts)
    assert result.exit_code == 1 and "module 'torch.optim' has no attribute ''" in result.stderr
    case = _case("wan-images-no-upscale")
    opts = setup(case, tmp_path, monkeypatch)
    path = tmp_path / "args.toml"
    before = path.read_bytes()
    os.chmod(path, stat.S_IREAD)
    try:
        result = run_in_process("solve", "args.toml", "--target-epochs", "2", *opts)
        assert result.exit_code == 2 and "read-only" in result.stderr
        assert path.read_bytes() == before
    finally:
        os.chmod(path, stat.S_IREAD | stat.S_IWRITE)
