"""The learning rate of every parameter group at every optimizer step, against the real trainer.

tests/data/schedule/lr-<version>.json hold what sd-scripts' own `get_scheduler_fix`, driven by
the accelerate of that version on CPU (1, 2 and 4 real processes, gradient accumulation), gave
for each config (tests/data/schedule/README.md says how). Each case runs here through the library
API on a TOML config and a dataset of N one-image batches, and must agree to 1e-9 relative (they
agree to the last bit); a config on which the trainer raised must be refused with the same
exception type.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import DATA, make_images
from kohya_tune import api
from kohya_tune.engine.plan import TrainerRefusal

FILES = sorted((DATA / "schedule").glob("lr-*.json"))


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def write_case(root: Path, case: dict) -> Path:
    n = case["num_batches"]
    config = dict(case["config"])
    if case["script"] == "fine_tune":
        folder = root / f"ft{n}"
        if not folder.exists():
            make_images(folder, [[64, 64, n]])
            # absolute image paths as keys: found as they are up to v0.9.1 and used as they are
            # from v0.10.0 (a stem key would be image_dir/0000, which does not exist there)
            meta = {str(folder / f"{i:04d}.png"): {"caption": "x", "train_resolution": [64, 64]}
                    for i in range(n)}
            (root / f"meta{n}.json").write_text(json.dumps(meta))
        # v0.10.0+ fine_tune sets its latents caching strategy only with cache_latents, and the
        # fine-tuning dataset needs one (fine_tune.py HEAD L61-65, train_util.py L2287-2290)
        config.update(train_data_dir=str(folder), in_json=str(root / f"meta{n}.json"),
                      cache_latents=True)
    else:
        folder = root / f"img{n}"
        if not folder.exists():
            make_images(folder / "1_x", [[64, 64, n]])
        config.update(train_data_dir=str(folder))
    config.update(resolution="64,64", caption_extension=".txt", pretrained_model_name_or_path="model.safetensors")
    path = root / f"{case['id']}.toml"
    path.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in config.items()), encoding="utf-8")
    return path


def test_every_version_has_reference_data():
    labels = {json.loads(p.read_text())["sd_scripts"] for p in FILES}
    assert {"v0.6.5", "v0.7.0", "v0.8.4", "v0.8.7", "v0.9.1", "v0.10.1"} <= labels


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_lr_per_step_matches_the_trainer(path, tmp_path):
    doc = json.loads(path.read_text())
    failures = []
    compared = 0
    for case in doc["cases"]:
        config = write_case(tmp_path, case)
        expected = case["expected"]
        try:
            sched = api.schedule(str(config), sd_scripts=doc["sd_scripts"], script=case["script"],
                                 num_processes=case["num_processes"])
        except TrainerRefusal as exc:
            if "error" not in expected:
                failures.append(f"{case['id']}: refused ({exc.message}) but the trainer ran")
            elif exc.message.split(":")[0] != expected["error"].split(":")[0]:
                failures.append(f"{case['id']}: {exc.message!r} vs the trainer's {expected['error']!r}")
            continue
        if "error" in expected:
            failures.append(f"{case['id']}: the trainer raised {expected['error']!r}, kohya-tune did not")
            continue
        if sched.lr is None:
            failures.append(f"{case['id']}: no LR ({sched.lr_note})")
            continue
        assert sched.report.max_train_steps == expected["max_train_steps"], case["id"]
        assert sched.report.num_train_epochs == expected["num_train_epochs"], case["id"]
        got, want = sched.lr.per_step, expected["per_step"]
        if len(got) != len(want) or any(len(g) != len(w) for g, w in zip(got, want)):
            failures.append(f"{case['id']}: {len(got)} steps x {sched.lr.groups} vs {len(want)} x {len(want[0])}")
            continue
        for k, (g, w) in enumerate(zip(got, want), start=1):
            bad = [(a, b) for a, b in zip(g, w) if (b == 0 and a != 0) or (b != 0 and abs(a - b) > 1e-9 * abs(b))]
            if bad:
                failures.append(f"{case['id']}: step {k}: {g} vs {w}")
                break
        compared += 1
    assert not failures, "\n".join(failures)
    assert compared >= len(doc["cases"]) * 0.8
