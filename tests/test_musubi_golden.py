"""Every musubi-tuner golden case (numbers and refusals from the real musubi-tuner code, made by
tools/gen_musubi_cases.py with the musubi oracle; tests/data/musubi/README.md) through the CLI,
twice: from the media alone (before caching) and from the cache folder alone (media gone)."""
from __future__ import annotations

import json

import pytest

from helpers import run_in_process
from musubi_helpers import musubi_cases, write_cache, write_files, write_media

NUMBERS = ["num_train_items", "num_batches", "num_batches_per_epoch", "num_update_steps_per_epoch",
           "max_train_steps", "num_train_epochs", "buckets"]


def _params():
    out = []
    for case in musubi_cases():
        stage = case["expected"].get("stage")
        modes = ["media"] if stage in ("cache_latents", "cache_text_encoder") else ["media", "cache"]
        modes = case.get("modes", modes)
        out += [pytest.param(case, mode, id=f"{case['id']}[{mode}]") for mode in modes]
    return out


def test_cases_present():
    cases = musubi_cases()
    assert len(cases) >= 20
    scripts = {c["script"] for c in cases}
    assert {"wan_train_network", "hv_train_network", "qwen_image_train_network", "fpack_train_network"} <= scripts


@pytest.mark.parametrize("case,mode", _params())
def test_musubi_case(case, mode, tmp_path, monkeypatch):
    write_files(case, tmp_path)
    if mode == "media":
        write_media(case, tmp_path)
    else:
        write_cache(case, tmp_path)
    monkeypatch.chdir(tmp_path)
    args = ["steps", "args.toml", "--script", case["script"], "--format", "json"]
    if case.get("num_processes", 1) != 1:
        args += ["--num-processes", str(case["num_processes"])]
    result = run_in_process(*args)
    expected = case["expected"]
    out = json.loads(result.stdout)
    if "error" in expected:
        assert result.exit_code == 1, result.stderr
        assert out["error"] == expected["error"]
        return
    assert result.exit_code == 0, result.stderr
    for key in NUMBERS:
        assert out["trainer"][key] == expected[key], key
        assert out[key] == expected[key], key
    assert len(out["trainer"]["datasets"]) == len(expected["datasets"])
    for got, want in zip(out["trainer"]["datasets"], expected["datasets"]):
        assert got["counted_from"] == mode
        for key in ("kind", "batch_size", "num_repeats", "num_train_items", "num_batches", "buckets"):
            assert got[key] == want[key], key
        assert sorted(got["cache_files"]) == sorted(want["cache_files"])
        if "target_frames" in want:
            assert got["target_frames"] == want["target_frames"]
