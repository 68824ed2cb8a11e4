"""`kohya-tune schedule` and `api.schedule`: the timetable of a run, checked against the trainer's
loop read line by line (sd-scripts train_network.py / train_db.py and library/train_util.py, cited
per test), on the bundled sample, corpus configs and folders built in tmp_path."""
from __future__ import annotations

import json
import math
import os
import shutil
import struct
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from helpers import CORPUS, make_images, run_cli, run_in_process
from kohya_tune import api
from kohya_tune.engine.plan import TrainerRefusal

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_configs" / "lora_gui.json"
DATA_GUI = Path(__file__).parent / "data" / "schedule" / "gui"
BASE = ('pretrained_model_name_or_path = "model.safetensors"\ntrain_data_dir = "img"\nresolution = "64,64"\n'
        'caption_extension = ".txt"\noutput_dir = "out"\n')


def config(tmp_path, text: str, images: int = 10, name: str = "config.toml") -> Path:
    if not (tmp_path / "img").exists():
        make_images(tmp_path / "img" / "1_x", [[64, 64, images]])
    path = tmp_path / name
    path.write_text(BASE + text, encoding="utf-8")
    return path


def schedule_json(*args) -> tuple[int, dict]:
    result = run_in_process("schedule", *args, "--format", "json")
    return result.exit_code, json.loads(result.stdout)


# --------------------------------------------------------------------------------------------
# the bundled sample (README worked example)


def test_sample_gui_config_timetable():
    code, out = schedule_json(str(SAMPLE))
    assert code == 0
    # 50 image-steps at batch 4 in 3 buckets: 14 batches; the GUI sends max_train_steps 125
    assert out["trainer"]["max_train_steps"] == 125 and out["trainer"]["num_train_epochs"] == 9
    assert out["epochs"][0] == {"epoch": 1, "first_step": 1, "last_step": 14, "steps": 14}
    assert out["epochs"][-1] == {"epoch": 9, "first_step": 113, "last_step": 125, "steps": 13}
    # save_every_n_epochs 1: epochs 1..8 (the 9th is the final save), output_name sks_dog
    files = [(c["kind"], c["step"], c["file"]) for c in out["checkpoints"]]
    assert files[:2] == [("epoch", 14, "sks_dog-000001.safetensors"), ("epoch", 28, "sks_dog-000002.safetensors")]
    assert files[-1] == ("final", 125, "sks_dog.safetensors")
    assert len(files) == 9 and all(c["kept"] for c in out["checkpoints"])
    # sample_every_n_steps 25 (the GUI writes the prompt file into output_dir/sample/)
    assert [s["step"] for s in out["samples"]] == [25, 50, 75, 100, 125]
    assert [s["epoch"] for s in out["samples"]] == [2, 4, 6, 8, 9]
    lr = out["lr"]
    assert lr["scheduler"] == "cosine" and lr["groups"] == ["text_encoder", "unet"]
    assert lr["base"] == [1e-4, 1e-4] and lr["warmup_steps"] == 0 and lr["num_training_steps"] == 125
    assert len(lr["per_step"]) == 125
    for k in (1, 63, 125):
        expected = 1e-4 * 0.5 * (1 + math.cos(math.pi * (k - 1) / 125))
        assert lr["per_step"][k - 1][1] == pytest.approx(expected, rel=1e-12)


def test_sample_text_reads_as_a_timetable():
    result = run_in_process("schedule", str(SAMPLE))
    assert result.exit_code == 0
    text = result.stdout
    assert "125 optimizer steps in 9 epochs: 8 of 14 steps, then 13" in text
    assert "cut short: 13 of 14 steps" in text
    assert "sks_dog-000008.safetensors" in text and "final model  sks_dog.safetensors" in text
    assert "every 25 steps: steps 25, 50, 75, 100, 125" in text
    assert "Learning rate: cosine, no warm-up" in text
    assert "█" in text and "▲" in text


def test_ascii_chart_when_the_console_is_cp1252(tmp_path):
    proc = run_cli("schedule", str(SAMPLE), env={"PYTHONIOENCODING": "cp1252"})
    assert proc.returncode == 0, proc.stderr
    assert "█" not in proc.stdout and "▲" not in proc.stdout
    assert "#" in proc.stdout and "^ checkpoint saved" in proc.stdout


# --------------------------------------------------------------------------------------------
# checkpoints and states (train_network.py v0.10.1 L1497-1509, L1676-1712; train_util.py
# get_epoch_ckpt_name / get_remove_epoch_no / get_remove_step_no / save_and_remove_state_*)


def test_save_last_n_epochs_removes_older_checkpoints(tmp_path):
    path = config(tmp_path, 'output_name = "m"\nmax_train_epochs = 6\nsave_every_n_epochs = 1\n'
                            'save_last_n_epochs = 2\n')
    sched = api.schedule(str(path))
    epochs = [c for c in sched.checkpoints if c.kind == "epoch"]
    # epoch e removes epoch e - 1 * 2 (get_remove_epoch_no), the 6th epoch is the final save
    assert [c.file for c in epochs] == [f"m-{e:06d}.safetensors" for e in range(1, 6)]
    assert [c.kept for c in epochs] == [False, False, False, True, True]
    assert [c.removed_at for c in epochs[:3]] == [30, 40, 50]
    assert [c.file for c in sched.kept] == ["m-000004.safetensors", "m-000005.safetensors", "m.safetensors"]


def test_save_last_n_steps_counts_steps_not_files(tmp_path):
    path = config(tmp_path, 'max_train_steps = 20\nsave_every_n_steps = 5\nsave_last_n_steps = 3\n')
    sched = api.schedule(str(path))
    steps = [c for c in sched.checkpoints if c.kind == "step"]
    # no output_name: "at-step{:08d}"; at step k the trainer removes (k-3-1) rounded down to a
    # multiple of 5, so step 10 removes step 5, 15 removes 10, 20 removes 15
    assert [c.file for c in steps] == [f"at-step{k:08d}.safetensors" for k in (5, 10, 15, 20)]
    assert [c.kept for c in steps] == [False, False, False, True]
    assert sched.checkpoints[-1].file == "last.safetensors"
    lint = run_in_process("lint", str(path), "--select", "KT702")
    assert "KT702" in lint.stdout and "counts steps, not files" in lint.stdout
    # a count of steps (two save intervals) keeps what it says: no warning
    path.write_text(path.read_text().replace("save_last_n_steps = 3", "save_last_n_steps = 10"))
    assert [c.step for c in api.schedule(str(path)).kept] == [10, 15, 20, 20]
    assert "KT702" not in run_in_process("lint", str(path), "--select", "KT702").stdout


def test_save_last_n_epochs_zero_deletes_every_epoch_file(tmp_path):
    path = config(tmp_path, 'max_train_epochs = 4\nsave_every_n_epochs = 1\nsave_last_n_epochs = 0\n')
    sched = api.schedule(str(path))
    assert [c.kept for c in sched.checkpoints if c.kind == "epoch"] == [False, False, False]
    lint = run_in_process("lint", str(path), "--select", "KT702")
    assert "save_last_n_epochs = 0" in lint.stdout


def test_states_and_their_names(tmp_path):
    path = config(tmp_path, 'max_train_epochs = 5\nsave_every_n_epochs = 2\nsave_every_n_steps = 25\n'
                            'save_state = true\nsave_last_n_epochs_state = 1\n')
    sched = api.schedule(str(path))
    states = [(c.trigger, c.file, c.kept) for c in sched.checkpoints if c.kind == "state"]
    # epoch states "{epoch name}-{:06d}-state" (epoch 4 removes 4 - 2 * 1 = 2), step states
    # "at-step{:08d}-state", the final state "last-state" (save_state_on_train_end, v0.6.5 L3404)
    # (10 steps an epoch: epoch saves at steps 20 and 40, step saves at 25 and 50)
    assert states == [("epoch", "epoch-000002-state", False), ("step", "at-step00000025-state", True),
                      ("epoch", "epoch-000004-state", True), ("step", "at-step00000050-state", True),
                      ("final", "last-state", True)]


def test_save_state_on_train_end_exists_from_v0_8_6(tmp_path):
    path = config(tmp_path, 'max_train_steps = 10\nsave_state_on_train_end = true\n')
    new = api.schedule(str(path), sd_scripts="v0.8.7")
    old = api.schedule(str(path), sd_scripts="v0.8.4")
    assert [c.file for c in new.checkpoints if c.kind == "state"] == ["last-state"]
    assert [c for c in old.checkpoints if c.kind == "state"] == []


def test_save_n_epoch_ratio_replaces_save_every(tmp_path):
    # train_network.py v0.6.5 L349-350: floor(E / ratio) or 1
    path = config(tmp_path, 'max_train_epochs = 7\nsave_every_n_epochs = 1\nsave_n_epoch_ratio = 3\n')
    sched = api.schedule(str(path))
    assert [c.epoch for c in sched.checkpoints if c.kind == "epoch"] == [2, 4, 6]


def test_dreambooth_saves_diffusers_folders_or_the_loaded_format(tmp_path):
    # train_db.py v0.6.5 L118-123: no save_model_as -> the loaded model's format, .ckpt unless
    # use_safetensors; "diffusers" -> folders
    path = config(tmp_path, 'max_train_epochs = 2\nsave_every_n_epochs = 1\n')
    sched = api.schedule(str(path), script="train_db")
    assert [c.file for c in sched.checkpoints] == ["epoch-000001.ckpt", "last.ckpt"]
    path = config(tmp_path, 'max_train_epochs = 2\nsave_every_n_epochs = 1\nsave_model_as = "diffusers"\n',
                  name="diffusers.toml")
    sched = api.schedule(str(path), script="train_db")
    assert [(c.file, c.folder) for c in sched.checkpoints] == [("epoch-000001", True), ("last", True)]
    assert sched.lr.groups == ["unet+text_encoder"] and sched.lr.stop_text_encoder_training == 21


# --------------------------------------------------------------------------------------------
# samples (train_util.py sample_images v0.6.5 L3463-3477, sample_images_common v0.8.4 L4763-4899)


def test_sample_every_n_epochs_wins_over_steps(tmp_path):
    path = config(tmp_path, 'max_train_epochs = 3\nsample_every_n_steps = 4\nsample_every_n_epochs = 2\n'
                            'sample_prompts = "p.txt"\nsample_at_first = true\n')
    (tmp_path / "p.txt").write_text("a dog\n")
    sched = api.schedule(str(path))
    assert [(s.when, s.epoch, s.step) for s in sched.samples] == [("first", 0, 0), ("epoch", 2, 20)]
    lint = run_in_process("lint", str(path), "--select", "KT703")
    assert "KT703" in lint.stdout and "sample_every_n_steps = 4 is ignored" in lint.stdout
    old = api.schedule(str(path), sd_scripts="v0.6.5")
    assert [s.when for s in old.samples] == ["epoch"]
    assert any("no such option" in n for n in old.notes)


# --------------------------------------------------------------------------------------------
# learning rate: processes, errors, schedule-free, rules


def test_integer_warmup_on_several_processes(tmp_path):
    path = config(tmp_path, 'max_train_steps = 20\nlr_scheduler = "linear"\nlr_warmup_steps = 8\n')
    code, out = schedule_json(str(path), "--num-processes", "4")
    assert code == 0
    # num_training_steps = 20 * 4; the scheduler steps 4 times per optimizer step
    assert out["lr"]["num_training_steps"] == 80 and out["lr"]["warmup_optimizer_steps"] == 2
    assert out["lr"]["per_step"][1][0] == pytest.approx(out["lr"]["base"][0] * 4 / 8)
    lint = run_in_process("lint", str(path), "--num-processes", "4", "--select", "KT701")
    assert "KT701" in lint.stdout and "ends after 2 of the run's" in lint.stdout


def test_trainer_error_while_building_the_scheduler_is_exit_1(tmp_path):
    path = config(tmp_path, 'max_train_steps = 10\nlr_scheduler = "constant"\nlr_warmup_steps = 5\n')
    code, out = schedule_json(str(path))
    assert code == 1
    assert out["error"] == "ValueError: SchedulerType.CONSTANT does not require `num_warmup_steps`. Set None or 0."


def test_warmup_ratio_of_one_or_more_is_a_ratio_on_v0_9(tmp_path):
    # train_util.py v0.9.1 L4400-4402: any float is int(value * num_training_steps)
    path = config(tmp_path, 'max_train_steps = 10\nlr_scheduler = "cosine"\nlr_warmup_steps = 1.5\n')
    assert api.schedule(str(path)).lr.warmup_steps == 15
    lint = run_in_process("lint", str(path), "--select", "KT504")
    assert "lr_warmup_steps 1.5 (a ratio: 15 steps)" in lint.stdout


def test_schedule_free_optimizer_gets_no_scheduler(tmp_path):
    path = config(tmp_path, 'max_train_steps = 10\noptimizer_type = "AdamWScheduleFree"\nlr_warmup_steps = 3\n')
    code, out = schedule_json(str(path))
    assert code == 0 and out["lr"] is None
    assert any("schedule-free" in n for n in out["notes"])


def test_custom_scheduler_type_is_not_modelled(tmp_path):
    path = config(tmp_path, 'max_train_steps = 10\nlr_scheduler_type = "CosineAnnealingLR"\n'
                            'lr_scheduler_args = ["T_max=10"]\n')
    sched = api.schedule(str(path))
    assert sched.lr is None and "not modelled" in sched.lr_note


def test_network_train_unet_only_leaves_one_group(tmp_path):
    path = config(tmp_path, 'max_train_steps = 5\nnetwork_train_unet_only = true\nunet_lr = 3e-4\n')
    assert api.schedule(str(path)).lr.groups == ["unet"]
    # v0.9.0+ networks/lora.py drops a group whose LR is 0; v0.8.7 keeps it
    path = config(tmp_path, 'max_train_steps = 5\ntext_encoder_lr = 0.0\n', name="te0.toml")
    assert api.schedule(str(path)).lr.groups == ["unet"]
    assert api.schedule(str(path), sd_scripts="v0.8.7").lr.groups == ["text_encoder", "unet"]


def test_refusal_before_the_schedule_is_reported(tmp_path):
    path = config(tmp_path, 'max_train_steps = 10\nsave_every_n_steps = "5"\n')
    with pytest.raises(TrainerRefusal):
        api.schedule(str(path))


# --------------------------------------------------------------------------------------------
# a corpus GUI config (kohya_ss v24.1.7 test/config/Standard-AdamW.json), its dataset built here


def test_corpus_gui_config(tmp_path):
    src = CORPUS / "kohya_ss" / "v24.1.7" / "test" / "config" / "Standard-AdamW.json"
    shutil.copy(src, tmp_path / "Standard-AdamW.json")
    make_images(tmp_path / "test" / "img" / "10_darius kawasaki person", [[512, 512, 8]])
    result = run_in_process("schedule", str(tmp_path / "Standard-AdamW.json"), "--format", "json",
                            "--gui-version", "v24.1.7", "--path-map", f"./test={tmp_path / 'test'}")
    assert result.exit_code == 0, result.stdout + result.stderr
    out = json.loads(result.stdout)
    # GUI v24.1.7 ships the sd3-branch commit b8896aad (v0.8.7's schedule code, issue 16)
    assert out["sd_scripts"] == "b8896aad" and out["schedule_profile"] == "b8896aad"
    # 80 image-steps, batch 4: 20 steps an epoch; the file has no max_train_steps, so the v24.1.7
    # widget keeps its default 1600, which the GUI sends (engine/gui.py): 80 epochs
    assert out["trainer"]["max_train_steps"] == 1600 and out["trainer"]["num_train_epochs"] == 80
    files = [c["file"] for c in out["checkpoints"]]
    assert files[0] == "Standard-Adamw-000001.safetensors" and files[78] == "Standard-Adamw-000079.safetensors"
    assert files[-1] == "Standard-Adamw.safetensors" and len(files) == 80
    assert [s["step"] for s in out["samples"]][:3] == [20, 40, 60] and len(out["samples"]) == 80
    assert out["lr"]["groups"] == ["text_encoder", "unet"] and out["lr"]["base"] == [1e-4, 1e-4]


# --------------------------------------------------------------------------------------------
# pictures


def test_plot_svg_and_html(tmp_path):
    svg = tmp_path / "lr.svg"
    result = run_in_process("schedule", str(SAMPLE), "--plot", str(svg))
    assert result.exit_code == 0
    root = ET.fromstring(svg.read_text(encoding="utf-8"))
    assert root.tag.endswith("svg") and root.get("width") == "960" and root.get("height") == "480"
    # the sample's text encoder and U-Net have the same LR at every step: one line, said so
    lines = root.findall(".//{http://www.w3.org/2000/svg}polyline")
    assert len(lines) == 1
    assert lines[0].find("{http://www.w3.org/2000/svg}title").text.startswith(
        "text_encoder = unet (identical curves")
    page = tmp_path / "lr.html"
    assert run_in_process("schedule", str(SAMPLE), "--plot", str(page)).exit_code == 0
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and "sks_dog.safetensors" in text


def test_plot_png(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "lr.png"
    result = run_in_process("schedule", str(SAMPLE), "--plot", str(png))
    assert result.exit_code == 0, result.stdout
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (960, 480)
    assert result.stdout.startswith(str(SAMPLE))


def test_plot_png_without_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = run_in_process("schedule", str(SAMPLE), "--plot", str(tmp_path / "lr.png"))
    assert result.exit_code == 2
    assert "pip install 'kohya-tune[plot]'" in result.stderr
    assert result.stdout == ""       # refused before the schedule is computed and printed
    assert not (tmp_path / "lr.png").exists()


def test_plot_rejects_unknown_formats(tmp_path):
    result = run_in_process("schedule", str(SAMPLE), "--plot", str(tmp_path / "lr.jpg"))
    assert result.exit_code == 2 and ".svg, .html or .png" in result.stderr


def test_readme_example_is_the_real_output():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("On the bundled sample (`kohya-tune schedule")
    block = readme[readme.index("```\n", start) + 4:]
    block = block[:block.index("```")]
    result = run_cli("schedule", "sample_configs/lora_gui.json", cwd=ROOT)
    assert result.returncode == 0
    assert block == result.stdout


def test_timetable_rules_have_docs():
    for code in ("KT701", "KT702", "KT703"):
        result = run_in_process("rule", code)
        assert result.exit_code == 0
        assert "Bad" in result.stdout and "Fixed" in result.stdout


def test_gui_lora_with_zero_text_encoder_lr_trains_the_unet_only(tmp_path):
    # kohya_ss v22.6.2 (CLI): text_encoder_lr 0 and unet_lr 0.002 make the GUI send --unet_lr and
    # --network_train_unet_only (v21.5.11 lora_gui.py L700-709): one group, unet
    src = CORPUS / "kohya_ss" / "v22.6.2" / "test" / "config" / "loha-Prodigy.json"
    shutil.copy(src, tmp_path / "loha.json")
    make_images(tmp_path / "img" / "10_frog", [[512, 512, 3]])
    result = run_in_process("schedule", str(tmp_path / "loha.json"), "--format", "json", "--gui-version", "v22.6.2",
                            "--path-map", f"E:\\froggy\\img={tmp_path / 'img'}")
    assert result.exit_code == 0, result.stdout + result.stderr
    out = json.loads(result.stdout)
    assert out["lr"]["groups"] == ["unet"] and out["lr"]["base"] == [0.002]
    assert out["checkpoints"][-1]["file"] == "froddy-loha-sx_v1.0a.safetensors"
    assert any("networks.lora" in n for n in out["notes"])  # LyCORIS: groups as networks.lora's


# --------------------------------------------------------------------------------------------
# the GUI side: a GUI JSON has the schedule of the TOML the real GUI writes for it
# (tests/data/schedule/gui/: written by the unmodified kohya_ss GUI of that tag under its own
# Gradio, ../shared/oracles/gui_oracle, loading the JSON and pressing "start training")


def _same_schedule(a, b):
    assert [(e.first_step, e.last_step) for e in a.epochs] == [(e.first_step, e.last_step) for e in b.epochs]
    assert [(c.kind, c.step, c.file, c.kept) for c in a.checkpoints] == \
        [(c.kind, c.step, c.file, c.kept) for c in b.checkpoints]
    assert [(s.when, s.step) for s in a.samples] == [(s.when, s.step) for s in b.samples]
    assert (a.lr.groups, a.lr.base, a.lr.per_step) == (b.lr.groups, b.lr.base, b.lr.per_step)


def test_gui_master_json_schedules_like_the_toml_it_writes(tmp_path):
    shutil.copytree(ROOT / "sample_configs", tmp_path / "s")
    shutil.copy(DATA_GUI / "master-lora_gui.toml", tmp_path / "s" / "written.toml")
    gui = api.schedule(str(tmp_path / "s" / "lora_gui.json"))
    written = api.schedule(str(tmp_path / "s" / "written.toml"), sd_scripts="v0.10.1")
    _same_schedule(gui, written)
    assert written.args["text_encoder_lr"] == [1e-4, 1e-4]
    assert gui.args["sample_prompts"] == written.args["sample_prompts"] == "output/sample/prompt.txt"


def test_gui_v24_json_schedules_like_the_toml_it_writes(tmp_path):
    shutil.copy(CORPUS / "kohya_ss" / "v24.1.7" / "test" / "config" / "Standard-AdamW.json", tmp_path / "c.json")
    shutil.copy(DATA_GUI / "v24.1.7-Standard-AdamW.toml", tmp_path / "written.toml")
    make_images(tmp_path / "test" / "img" / "10_darius kawasaki person", [[512, 512, 8]])
    gui = api.schedule(str(tmp_path / "c.json"), gui_version="v24.1.7", path_map=[("./test", str(tmp_path / "test"))])
    written = api.schedule(str(tmp_path / "written.toml"), sd_scripts="v0.8.7",
                           path_map=[("./test", str(tmp_path / "test"))])
    _same_schedule(gui, written)
    assert gui.args["sample_prompts"] == written.args["sample_prompts"] == "./test/output/prompt.txt"


@pytest.mark.parametrize("version, folder", [("v21.5.11", "sample"), ("v22.6.2", "sample"),
                                             ("v24.1.7", ""), ("v25.2.1", "sample")])
def test_gui_prompt_file_folder_per_release(tmp_path, version, folder):
    # class_sample_images.py L31: output_dir/prompt.txt in v24.x, output_dir/sample/prompt.txt
    # from v25.0.0 (and v21.5 - v23: v21.5.0 library/sampler_gui.py:77, class_sample_images.py
    # L29-40; the v21.5.11 GUI oracle sends --sample_prompts="model/sample/prompt.txt"); data:
    # send.schedule prompt_dir in gui_behaviour.json
    from kohya_tune import api
    from kohya_tune.engine import gui_schedule

    make_images(tmp_path / "img" / "2_cat", [[512, 512, 2]])
    (tmp_path / "c.json").write_text(json.dumps({
        "LoRA_type": "Standard", "train_data_dir": str(tmp_path / "img"), "output_dir": "out",
        "epoch": 2, "train_batch_size": 1, "sample_every_n_epochs": 1, "sample_prompts": "a cat"}))
    plan = api.plan(str(tmp_path / "c.json"), gui_version=version)
    expected = os.path.join("out", folder, "prompt.txt") if folder else os.path.join("out", "prompt.txt")
    assert gui_schedule.sent_args(plan)["sample_prompts"] == expected


def test_integer_warmup_on_several_processes_one_fix(tmp_path):
    # the ratio KT701 proposes gives the meant warm-up (train_util.py v0.10.1 L5274-5276:
    # int(ratio * max_train_steps * num_processes)) and KT701 then has nothing to say; before
    # v0.9.0 there is no ratio and no integer is right for every reading: an info, not a warning
    path = config(tmp_path, 'max_train_steps = 20\nlr_scheduler = "linear"\nlr_warmup_steps = 8\n')
    lint = run_in_process("lint", str(path), "--num-processes", "4", "--select", "KT701")
    assert "KT701 warning" in lint.stdout and "lr_warmup_steps = 0.4 for 8 optimizer steps" in lint.stdout
    code, out = schedule_json(str(path), "--num-processes", "4")
    path.write_text(path.read_text(encoding="utf-8").replace("lr_warmup_steps = 8", "lr_warmup_steps = 0.4"),
                    encoding="utf-8")
    code2, out2 = schedule_json(str(path), "--num-processes", "4")
    assert out2["lr"]["warmup_optimizer_steps"] == 8 and out["lr"]["warmup_optimizer_steps"] == 2
    assert run_in_process("lint", str(path), "--num-processes", "4", "--select", "KT701").exit_code == 0
    path.write_text(path.read_text(encoding="utf-8").replace("lr_warmup_steps = 0.4", "lr_warmup_steps = 8"),
                    encoding="utf-8")
    old = run_in_process("lint", str(path), "--num-processes", "4", "--select", "KT701",
                         "--sd-scripts", "v0.8.7", "--strict")
    assert "KT701 info" in old.stdout and "write 32 for 8 optimizer steps" in old.stdout
    assert old.exit_code == 0
