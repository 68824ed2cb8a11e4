"""sd-scripts versions: the release tags and the commits kohya_ss GUI releases ship between
them (issue 16). What each commit does is pinned by the golden cases built with its real code
(tests/data/golden/trainer-commits-*, tools/gen_commit_cases.py); here: how a version is named,
chosen and shown, and the version data's own consistency."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import GOLDEN, materialize, png_bytes, run_cli, run_in_process
from kohya_tune.versions import gui_releases, lineage, profiles, schedules

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_configs" / "lora_gui.json"

TOML = ('pretrained_model_name_or_path = "model.safetensors"\noutput_dir = "out"\n'
        'caption_extension = ".txt"\nmax_train_epochs = 2\ntrain_data_dir = "img"\n'
        'resolution = "512,512"\n')


def _folder_config(root: Path) -> Path:
    img = root / "img" / "2_x"
    img.mkdir(parents=True)
    for i in range(3):
        (img / f"{i:04d}.png").write_bytes(png_bytes(512, 512))
        (img / f"{i:04d}.txt").write_text("a photo", encoding="utf-8")
    config = root / "config.toml"
    config.write_text(TOML, encoding="utf-8")
    return config


# ----------------------------------------------------------------------------- naming a version

@pytest.mark.parametrize("text", ["2e0fcc50", "2e0fcc50cb", "2E0FCC50CB",
                                  "2e0fcc50cb347323b4374bfd05784587c5fa7f2d",
                                  "2E0FCC50CB347323B4374BFD05784587C5FA7F2D"])
def test_commit_short_or_full_any_case(text, tmp_path, monkeypatch):
    _folder_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = run_in_process("steps", "config.toml", "--format", "json", "--sd-scripts", text)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["sd_scripts"], out["sd_scripts_profile"]) == ("2e0fcc50", "2e0fcc50")
    assert out["sd_scripts_commit"] == "2e0fcc50cb347323b4374bfd05784587c5fa7f2d"
    assert out["sd_scripts_title"] == "2e0fcc50 (sd3 branch, between v0.9.1 and v0.10.0)"


def test_header_names_the_commit(tmp_path, monkeypatch):
    _folder_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = run_in_process("steps", "config.toml", "--sd-scripts", "8ebe858f")
    assert result.stdout.splitlines()[0] == \
        "config.toml: train_network.py, sd-scripts 8ebe858f (sd3 branch, between v0.9.1 and v0.10.0)"
    result = run_in_process("steps", "config.toml", "--sd-scripts", "v0.8.3")
    assert result.stdout.splitlines()[0] == "config.toml: train_network.py, sd-scripts v0.8.3 (profile v0.8.2)"


def test_tag_commit_names_the_tag(tmp_path, monkeypatch):
    # v0.10.0 is 966e9d7f (git rev-parse v0.10.0^{commit})
    _folder_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    out = json.loads(run_in_process("steps", "config.toml", "--format", "json", "--sd-scripts",
                                    "966E9D7F").stdout)
    assert (out["sd_scripts"], out["sd_scripts_commit"]) == ("v0.10.0", None)


@pytest.mark.parametrize("command", [
    ["steps"], ["lint"], ["schedule"], ["solve", "--target-epochs", "4", "--diff"], ["balance"]])
@pytest.mark.parametrize("version", ["v0.9.5", "v0.11.0", "v0.9.9", "abcdef12", "2e0fcc5x"])
def test_unknown_version_is_a_usage_error_everywhere(command, version, tmp_path):
    _folder_config(tmp_path)
    proc = run_cli(*command, "config.toml", "--sd-scripts", version, cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "--sd-scripts" in proc.stderr
    # never the nearest neighbour in silence: the known versions are listed
    for known in ("v0.6.5", "v0.10.1", "b8896aad", "2e0fcc50"):
        assert known in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", [
    ["steps", "--format", "json"], ["lint"], ["schedule", "--format", "json"],
    ["solve", "--target-epochs", "4", "--diff"], ["balance", "--format", "json"]])
def test_commit_accepted_everywhere(command, tmp_path, monkeypatch):
    _folder_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = run_in_process(*command, "config.toml", "--sd-scripts", "5753B8FF")
    assert result.exit_code in (0, 1), result.output
    if "json" in command:
        assert json.loads(result.stdout)["sd_scripts" if command[0] != "balance" else "config"]


def test_old_tag_a_gui_names_is_accepted_with_a_note(tmp_path, monkeypatch):
    # GUI v21.8.0 bundles a copy kohya-tune names v0.6.4; --sd-scripts v0.6.4 gives the same run
    _folder_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    out = json.loads(run_in_process("steps", "config.toml", "--format", "json",
                                    "--sd-scripts", "v0.6.4").stdout)
    assert (out["sd_scripts"], out["sd_scripts_profile"]) == ("v0.6.4", "v0.6.5")
    assert any("v0.6.4 has no profile of its own: using v0.6.5's" in n for n in out["notes"])
    proc = run_cli("steps", "config.toml", "--sd-scripts", "v0.4.5", cwd=tmp_path)
    assert proc.returncode == 2 and "older than the oldest profile" in proc.stderr


def test_v0_11_1_is_the_unverified_commit_gui_v26_ships(tmp_path, monkeypatch):
    _folder_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    for text in ("v0.11.1", "6721028c"):
        out = json.loads(run_in_process("steps", "config.toml", "--format", "json",
                                        "--sd-scripts", text).stdout)
        assert (out["sd_scripts"], out["sd_scripts_profile"]) == ("6721028c", "v0.10.1")
        assert any("unverified" in n for n in out["notes"])


# ----------------------------------------------------------------------------- GUI releases

RELEASES = [("v24.1.5", "b8896aad"), ("v24.1.7", "b8896aad"), ("v25.0.0", "8ebe858f"),
            ("v25.0.3", "8ebe858f"), ("v25.1.0", "5753b8ff"), ("v25.1.2", "5753b8ff"),
            ("v25.2.0", "61eda762"), ("v25.2.1", "3e6935a0"), ("v25.2.2", "2e0fcc50"),
            ("v26.0.0", "6721028c"), ("master", "6721028c"), ("v24.1.4", "v0.8.7"),
            ("v23.0.0", "v0.8.4"), ("v21.8.8", "v0.6.5"), ("v22.1.1", "59201492")]


@pytest.mark.parametrize("release,label", RELEASES)
def test_gui_release_runs_its_own_commit(release, label):
    result = run_in_process("steps", str(SAMPLE), "--format", "json", "--gui-version", release)
    out = json.loads(result.stdout)
    assert out["sd_scripts"] == label
    shipped = gui_releases.sd_scripts_of(release)["commit"]
    if label in lineage.commits():
        assert lineage.commits()[label]["commit"].startswith(shipped)
        assert out["sd_scripts_commit"].startswith(shipped)


def test_gui_header_names_the_commit():
    result = run_in_process("steps", str(SAMPLE), "--gui-version", "v25.2.2")
    lines = result.stdout.splitlines()
    assert lines[0].endswith("-> train_network.py, sd-scripts 2e0fcc50 (sd3 branch, between v0.9.1 "
                             "and v0.10.0)")
    assert lines[1] == "  sd-scripts: the one GUI v25.2.2 runs (submodule commit 2e0fcc50cb)"


def test_gui_default_commit_splits_validation(tmp_path, monkeypatch):
    """A GUI v25.2.2 JSON (saved by that release, tests/data/golden/gui-v25.2.2-lora-basic) whose
    dataset_config holds validation_split: by default it runs with 2e0fcc50, whose numbers the
    oracle gave for the same dataset and arguments (trainer-commits-val-gui-default); v24.1.7's
    b8896aad refuses the key, as that oracle case says too."""
    base = json.loads((GOLDEN / "gui-v25.2.2-lora-basic.json").read_text(encoding="utf-8"))
    oracle = json.loads((GOLDEN / "trainer-commits-val-gui-default.json").read_text(encoding="utf-8"))
    config = json.loads(base["files"]["config.json"])
    config.update(dataset_config="dataset.toml", train_data_dir="")
    case = {"dataset": oracle["dataset"],
            "files": {"config.json": json.dumps(config, indent=2),
                      "dataset.toml": oracle["files"]["dataset.toml"]}}
    materialize(case, tmp_path)
    monkeypatch.chdir(tmp_path)
    out = json.loads(run_in_process("steps", "config.json", "--format", "json",
                                    "--gui-version", "v25.2.2").stdout)
    want = oracle["expected"]["sd-scripts 2e0fcc50"]
    assert out["sd_scripts"] == "2e0fcc50"
    for key in ("num_train_images", "num_batches", "num_update_steps_per_epoch",
                "max_train_steps", "num_train_epochs", "buckets"):
        assert out["trainer"][key] == want[key], key
    result = run_in_process("steps", "config.json", "--format", "json", "--gui-version", "v24.1.7")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"] == oracle["expected"]["sd-scripts b8896aad"]["error"]


# ----------------------------------------------------------------------------- the data itself

def _all_labels():
    return list(lineage.tags()) + list(lineage.commits())


def test_lineage_is_consistent():
    tags = lineage.tags()
    for a, b in zip(tags, tags[1:]):
        assert a in lineage.contains(b) and b not in lineage.contains(a)
    for label, info in lineage.commits().items():
        mine = lineage.contains(label)
        assert info["after"] in mine
        first = info.get("first_tag")
        if first:
            assert label in lineage.contains(first)
            before = tags[tags.index(first) - 1]
            assert label not in lineage.contains(before)
        for other in info.get("contains", []):
            assert lineage.contains(other) <= mine
        # every commit is one some GUI release ships
        assert any(gui_releases.sd_scripts_of(rel)["commit"] and
                   info["commit"].startswith(gui_releases.sd_scripts_of(rel)["commit"])
                   for rel in info["shipped_by"])
    # the sd3 branch: b8896aad has v0.8.7, not v0.8.8; 2e0fcc50 has v0.9.1, not v0.10.0
    assert lineage.applies("v0.8.7", "b8896aad") and not lineage.applies("v0.8.8", "b8896aad")
    assert lineage.applies("v0.9.1", "2e0fcc50") and not lineage.applies("v0.10.0", "2e0fcc50")
    assert lineage.applies("8ebe858f", "v0.10.0") and not lineage.applies("8ebe858f", "v0.9.1")
    # 59201492 (GUI v22.1.x) has v0.7.0's code: v0.7.0's entries apply to it
    assert lineage.applies("v0.7.0", "59201492") and schedules.schedule_profile("59201492")[0] == "v0.7.0"


def test_every_shipped_commit_has_a_profile():
    table = profiles.load_data("sd_scripts_profiles.json")
    for label, info in lineage.commits().items():
        assert info["profile"] in table["profiles"], label
        sd = profiles.sd_scripts(label)
        assert sd.scripts and sd.image_extensions
        name, _ = schedules.schedule_profile(label)
        assert name


@pytest.mark.parametrize("label", _all_labels()[_all_labels().index("v0.6.5"):])
def test_every_table_has_one_newest_entry(label):
    """No version meets two entries of a table neither of which contains the other."""
    table = profiles.load_data("sd_scripts_profiles.json")
    for entries in table["script_checks"]["scripts"].values():
        lineage.newest(label, [e["since"] for e in entries])
    lineage.newest(label, list(profiles.load_data("schedule_profiles.json")["profiles"]))
    lineage.newest(label, list(profiles.load_data("network_args.json")["tags"]))
    args = profiles.load_data("sd_scripts_args.json")
    lineage.newest(label, list(args["profiles"]) + list(args.get("more_profiles", [])))


def test_commit_script_checks_differ_where_the_source_does():
    # sdxl_train_textual_inversion still calls the TI base check (64) on the sd3 branch
    # (2e0fcc50 sdxl_train_textual_inversion.py L22-28); v0.10.0 dropped it
    sd3 = profiles.script_checks(profiles.sd_scripts("2e0fcc50"), "sdxl_train_textual_inversion")
    v10 = profiles.script_checks(profiles.sd_scripts("v0.10.0"), "sdxl_train_textual_inversion")
    assert sd3["after"][0] == "V:64" and "V:64" not in v10["after"]
    # train_control_net sets no latents caching strategy before its dataset on the sd3 branch
    assert "latents_strategy" not in profiles.script_checks(profiles.sd_scripts("2e0fcc50"),
                                                            "train_control_net")
    # b8896aad's sd3_train asserts before building the dataset
    assert profiles.script_checks(profiles.sd_scripts("b8896aad"), "sd3_train")["before"] == \
        ["sd3_weighted", "sd3_te_required"]


def test_schedule_profiles_of_the_commits():
    # 8ebe858f..2e0fcc50: v0.10's get_scheduler_fix (schedule-free) with transformers 4.44
    name, prof = schedules.schedule_profile("2e0fcc50")
    assert name == "8ebe858f" and prof["schedulefree"] and prof["get_scheduler_fix"] == "v0.10"
    assert "cosine_warmup_with_min_lr" not in prof["schedulers"]
    assert prof["libraries"]["transformers"] == "4.44.0"
    # b8896aad: v0.8.7's scheduler, LoRA groups as v0.9 (networks/lora.py)
    name, prof = schedules.schedule_profile("b8896aad")
    assert name == "b8896aad" and prof["get_scheduler_fix"] == "v0.7"
    assert prof["lora_drops_zero_lr_groups"] and not prof["schedulefree"]


SCHED = ('pretrained_model_name_or_path = "m.safetensors"\noutput_dir = "out"\ncaption_extension = ".txt"\n'
         'max_train_epochs = 2\ntrain_data_dir = "img"\nresolution = "512,512"\n')


def test_schedule_of_a_commit(tmp_path, monkeypatch):
    """get_scheduler_fix of the sd3 branch (8ebe858f train_util.py): the schedule-free dummy
    first, then the transformers 4.44 schedulers its requirements.txt pins (no
    cosine_warmup_with_min_lr, which v0.10's transformers 4.54 has)."""
    _folder_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.toml").write_text(SCHED + 'lr_scheduler = "cosine_warmup_with_min_lr"\n'
                                     'lr_warmup_steps = 1\n', encoding="utf-8")
    result = run_in_process("schedule", "a.toml", "--format", "json", "--sd-scripts", "2e0fcc50")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"].startswith(
        "ValueError: cosine_warmup_with_min_lr is not a valid SchedulerType, please select one of "
        "['linear', 'cosine', 'cosine_with_restarts', 'polynomial', 'constant', ")
    (tmp_path / "b.toml").write_text(SCHED + 'optimizer_type = "AdamWScheduleFree"\n', encoding="utf-8")
    out = json.loads(run_in_process("schedule", "b.toml", "--format", "json", "--sd-scripts",
                                    "2e0fcc50").stdout)
    assert out["schedule_profile"] == "8ebe858f" and out["lr"] is None
    out = json.loads(run_in_process("schedule", "b.toml", "--format", "json", "--sd-scripts",
                                    "v0.9.1").stdout)
    assert out["lr"]["scheduler"] == "constant"


def test_new_caching_sizes_b8896aad(tmp_path, monkeypatch):
    """b8896aad sd3_train --new_caching: each image's size is the one in the first
    `stem_*_sd3.npz` name (train_util.py L1750-1760, sd3_train_utils.py L293-298); without
    --new_caching, or in another version's sd3_train (v0.10: `stem_WxH_sd3.npz` by prefix, with
    the strategy set only with cache_latents), the header size."""
    img = tmp_path / "img" / "1_x"
    img.mkdir(parents=True)
    for i in range(2):
        (img / f"{i:04d}.png").write_bytes(png_bytes(512, 512))
        (img / f"{i:04d}.txt").write_text("a", encoding="utf-8")
    (img / "0000_0768x0512_sd3.npz").write_bytes(b"")
    base = SCHED.replace('max_train_epochs = 2\n', 'max_train_epochs = 1\n') + \
        "enable_bucket = true\ncache_text_encoder_outputs = true\n"
    monkeypatch.chdir(tmp_path)
    for extra, want in (("new_caching = true\n", {"512x512": 1, "640x384": 1}), ("", {"512x512": 2})):
        (tmp_path / "c.toml").write_text(base + extra, encoding="utf-8")
        out = json.loads(run_in_process("steps", "c.toml", "--format", "json", "--sd-scripts",
                                        "b8896aad", "--script", "sd3_train").stdout)
        assert out["trainer"]["buckets"] == want, extra


def test_steps_text_shows_the_held_out_images(tmp_path, monkeypatch):
    """The oracle case trainer-commits-val-general-seed: 10 images, validation_split 0.25, so
    the training copy keeps ceil(10 x 0.75) = 8 (split_train_val, 2e0fcc50 train_util.py
    L142-178) and the text says where the other 2 went."""
    case = json.loads((GOLDEN / "trainer-commits-val-general-seed.json").read_text(encoding="utf-8"))
    materialize(case, tmp_path)
    monkeypatch.chdir(tmp_path)
    text = run_in_process("steps", "config.toml", "--sd-scripts", "2e0fcc50").stdout
    assert "  train img/a: 8 images x 3 repeats = 24" in text
    assert ("        2 more held out for validation (validation_split 0.25, validation_seed 42): "
            "not in the training count") in text
    assert case["expected"]["sd-scripts 2e0fcc50"]["num_train_images"] == 24
