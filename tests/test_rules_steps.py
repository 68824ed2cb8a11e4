"""KT2xx: step/epoch rules, driven through the CLI on small real-looking configs."""
from __future__ import annotations

import json

from helpers import CORPUS, make_images, run_cli

GUI_V24 = CORPUS / "kohya_ss" / "v24.1.7" / "test" / "config" / "locon-AdamW8bit.json"
GUI_V23 = CORPUS / "kohya_ss" / "v23.1.5" / "test" / "config" / "locon-AdamW8bit.json"

ARGS = """pretrained_model_name_or_path = "runwayml/stable-diffusion-v1-5"
train_data_dir = "img"
output_dir = "output"
output_name = "sks_dog"
resolution = "512,512"
enable_bucket = true
caption_extension = ".txt"
train_batch_size = 4
{steps}
learning_rate = 0.0001
lr_scheduler = "cosine"
lr_warmup_steps = 0
optimizer_type = "AdamW8bit"
network_module = "networks.lora"
network_dim = 16
network_alpha = 8
save_model_as = "safetensors"
{extra}
"""


def dataset(tmp_path, groups=((512, 512, 3), (640, 384, 2)), ext=".png"):
    """10_sks dog: 5 images x 10 repeats; with batch 4: buckets 30 + 20 image-steps = 13 batches."""
    make_images(tmp_path / "img" / "10_sks dog", [[w, h, n, ext] for w, h, n in groups])


def args_toml(tmp_path, steps="max_train_epochs = 4", extra=""):
    path = tmp_path / "config.toml"
    path.write_text(ARGS.format(steps=steps, extra=extra), encoding="utf-8")
    return path


def gui_json(tmp_path, base=GUI_V24, drop=(), **changes):
    data = json.loads(base.read_text(encoding="utf-8"))
    data.update({"train_data_dir": "img", "output_dir": "out", "logging_dir": "log"})
    data.update(changes)
    for key in drop:
        data.pop(key)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def line_of(path, key) -> int:
    needle = f'"{key}":' if path.suffix == ".json" else f"{key} ="
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip().startswith(needle):
            return number
    raise AssertionError(f"{key} not in {path}")


def lint(tmp_path, path, *extra, select="KT2"):
    proc = run_cli("lint", "--output-format", "json", "--select", select, str(path), *extra,
                   cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def codes(diags, code):
    return [d for d in diags if d["code"] == code]


# -- KT201

def test_kt201_epochs_override_steps_args(tmp_path):
    dataset(tmp_path)
    path = args_toml(tmp_path, "max_train_steps = 3000\nmax_train_epochs = 4")
    found = codes(lint(tmp_path, path), "KT201")
    assert [d["line"] for d in found] == [line_of(path, "max_train_epochs")]
    assert "3000" in found[0]["message"] and "52 steps" in found[0]["message"]  # 4 x 13

    path = args_toml(tmp_path, "max_train_epochs = 4")
    assert not codes(lint(tmp_path, path), "KT201")


def test_kt201_gui_sends_both(tmp_path):
    dataset(tmp_path)
    path = gui_json(tmp_path, max_train_epochs=3)
    found = codes(lint(tmp_path, path, "--gui-version", "v24.1.7"), "KT201")
    assert [d["line"] for d in found] == [line_of(path, "max_train_epochs")]
    assert "100" in found[0]["message"] and "39 steps" in found[0]["message"]  # GUI 100, 3 x 13

    path = gui_json(tmp_path, max_train_epochs=0)
    assert not codes(lint(tmp_path, path, "--gui-version", "v24.1.7"), "KT201")


# -- KT202

def test_kt202_args_without_steps(tmp_path):
    dataset(tmp_path)
    path = args_toml(tmp_path, "")
    found = codes(lint(tmp_path, path), "KT202")
    assert [d["line"] for d in found] == [1]
    assert "1600" in found[0]["message"] and "124 epochs" in found[0]["message"]  # ceil(1600/13)

    path = args_toml(tmp_path, "max_train_epochs = 10")
    assert not codes(lint(tmp_path, path), "KT202")


def test_kt202_gui_counts_no_images(tmp_path):
    # the GUI counts only .jpg .jpeg .png .webp: 0 image-steps, computed 0 is not sent
    dataset(tmp_path, ext=".bmp")
    path = gui_json(tmp_path)
    found = codes(lint(tmp_path, path, "--gui-version", "v24.1.7"), "KT202")
    assert [d["line"] for d in found] == [line_of(path, "max_train_steps")]
    assert "1600" in found[0]["message"] and "no images" in found[0]["message"]

    dataset(tmp_path / "png")
    path = gui_json(tmp_path / "png")
    assert not codes(lint(tmp_path / "png", path, "--gui-version", "v24.1.7"), "KT202")


# -- KT203

def test_kt203_gui_estimate_cut_short(tmp_path):
    # epoch 8, batch 4: the GUI computes ceil(50 / 4 * 8) = 100; the trainer needs 13 per epoch
    dataset(tmp_path)
    path = gui_json(tmp_path)
    found = codes(lint(tmp_path, path, "--gui-version", "v24.1.7"), "KT203")
    assert [d["line"] for d in found] == [line_of(path, "epoch")]
    message = found[0]["message"]
    assert "max_train_steps 100" in message and "13 steps per epoch" in message
    assert "--target-epochs 8" in message


def test_kt203_buckets_and_gui_agree(tmp_path):
    dataset(tmp_path, groups=((512, 512, 4),))  # 40 image-steps, 10 batches, 80 = 8 x 10
    path = gui_json(tmp_path)
    assert not codes(lint(tmp_path, path, "--gui-version", "v24.1.7"), "KT203")


def test_kt203_buckets_reason(tmp_path):
    # 3 + 3 images in two buckets: 30 + 30 image-steps, 8 + 8 batches, where 60 / 4 = 15
    dataset(tmp_path, groups=((512, 512, 3), (640, 384, 3)))
    path = gui_json(tmp_path, epoch=10)
    found = codes(lint(tmp_path, path, "--gui-version", "v24.1.7"), "KT203")
    assert found and "buckets" in found[0]["message"]
    assert "runs 10 epochs" not in found[0]["message"] and "150" in found[0]["message"]


# -- KT204

def test_kt204_epoch_in_args(tmp_path):
    dataset(tmp_path)
    path = args_toml(tmp_path, "epoch = 10")
    found = codes(lint(tmp_path, path), "KT204")
    assert [d["line"] for d in found] == [line_of(path, "epoch")]
    assert "max_train_epochs = 10" in found[0]["message"] and found[0]["fixable"]
    diff = run_cli("lint", "--diff", "--select", "KT204", str(path), cwd=tmp_path)
    assert "+max_train_epochs = 10" in diff.stdout and "-epoch = 10" in diff.stdout

    path = args_toml(tmp_path, "max_train_epochs = 10")
    assert not codes(lint(tmp_path, path), "KT204")


# -- KT205

def test_kt205_old_config_without_max_train_steps(tmp_path):
    dataset(tmp_path)
    path = gui_json(tmp_path, drop=("max_train_steps",))
    found = codes(lint(tmp_path, path, "--gui-version", "v24.1.7"), "KT205")
    assert [d["line"] for d in found] == [line_of(path, "epoch")]
    assert "1600" in found[0]["message"] and "epoch 8" in found[0]["message"]
    assert found[0]["fixable"]


def test_kt205_typed_steps(tmp_path):
    dataset(tmp_path)
    path = gui_json(tmp_path, max_train_steps=300)
    found = codes(lint(tmp_path, path, "--gui-version", "v24.1.7"), "KT205")
    assert [d["line"] for d in found] == [line_of(path, "max_train_steps")]
    assert "300" in found[0]["message"] and "would compute 100" in found[0]["message"]

    path = gui_json(tmp_path, max_train_steps=0)
    assert not codes(lint(tmp_path, path, "--gui-version", "v24.1.7"), "KT205")

    # a legacy string the v24 GUI loads as the number (its Number widget): the same finding,
    # so KT105's fix of the type never reveals a KT205 the original did not have
    path = gui_json(tmp_path, max_train_steps="300")
    found = codes(lint(tmp_path, path, "--gui-version", "v24.1.7"), "KT205")
    assert len(found) == 1 and "max_train_steps is 300" in found[0]["message"]


# -- KT206

def test_kt206_multi_gpu_fixed_steps(tmp_path):
    dataset(tmp_path)
    path = args_toml(tmp_path, "max_train_steps = 104")  # 8 epochs of 13 on one GPU
    found = codes(lint(tmp_path, path, "--num-processes", "2"), "KT206")
    assert [d["line"] for d in found] == [line_of(path, "max_train_steps")]
    message = found[0]["message"]
    assert "15 epochs" in message and "8 epochs of 13 steps" in message  # ceil(104 / 7)

    assert not codes(lint(tmp_path, path, "--num-processes", "1"), "KT206")
    path = args_toml(tmp_path, "max_train_epochs = 8")
    assert not codes(lint(tmp_path, path, "--num-processes", "2"), "KT206")


def test_one_finding_when_two_gpus_meet_the_gui_estimate(tmp_path):
    """KT203 and KT206 never both report one cause: the processes alone (the GUI's estimate is
    right on one process) is KT206; an estimate off on one process too is KT203, which then also
    names the processes."""
    gui = dict(epoch=10, max_train_steps=0, max_train_epochs=0, train_batch_size=4,
               gradient_accumulation_steps=1, enable_bucket=True)
    dataset(tmp_path, groups=((512, 512, 4),))       # 40 image-steps, 10 batches: exact on one GPU
    path = gui_json(tmp_path, **gui)
    found = lint(tmp_path, path, "--gui-version", "v24.1.7", "--num-processes", "2")
    assert [d["code"] for d in found if d["code"] in ("KT203", "KT206")] == ["KT206"]

    (tmp_path / "img").rename(tmp_path / "img-old")
    dataset(tmp_path)                                 # 13 batches where the GUI counts 12.5
    found = lint(tmp_path, path, "--gui-version", "v24.1.7", "--num-processes", "2")
    both = [d for d in found if d["code"] in ("KT203", "KT206")]
    assert [d["code"] for d in both] == ["KT203"]
    assert "2 processes" in both[0]["message"] and "not 10" in both[0]["message"]


# -- KT207 / KT208

def test_kt207_save_every_beyond_run(tmp_path):
    dataset(tmp_path)
    path = args_toml(tmp_path, extra="save_every_n_epochs = 4")
    found = codes(lint(tmp_path, path), "KT207")
    assert [d["line"] for d in found] == [line_of(path, "save_every_n_epochs")]
    assert "4 epochs" in found[0]["message"]

    path = args_toml(tmp_path, extra="save_every_n_epochs = 2")
    assert not codes(lint(tmp_path, path), "KT207")


def test_kt207_save_ratio_replaces_every(tmp_path):
    dataset(tmp_path)
    path = args_toml(tmp_path, extra="save_every_n_epochs = 1\nsave_n_epoch_ratio = 2")
    found = codes(lint(tmp_path, path), "KT207")
    assert [d["line"] for d in found] == [line_of(path, "save_every_n_epochs")]
    assert "every floor(4 / 2) or 1 = 2 epochs" in found[0]["message"]


def test_kt208_sample_beyond_run(tmp_path):
    dataset(tmp_path)
    path = args_toml(tmp_path, extra="sample_every_n_epochs = 5")
    found = codes(lint(tmp_path, path), "KT208")
    assert [d["line"] for d in found] == [line_of(path, "sample_every_n_epochs")]

    path = args_toml(tmp_path, extra="sample_every_n_steps = 60")  # the run has 52 steps
    found = codes(lint(tmp_path, path), "KT208")
    assert [d["line"] for d in found] == [line_of(path, "sample_every_n_steps")]
    assert "52 steps" in found[0]["message"]

    path = args_toml(tmp_path, extra="sample_every_n_steps = 50")
    assert not codes(lint(tmp_path, path), "KT208")


# -- KT209

def test_kt209_zero_epochs(tmp_path):
    dataset(tmp_path)
    path = args_toml(tmp_path, "max_train_epochs = 0")
    found = codes(lint(tmp_path, path), "KT209")
    assert [d["line"] for d in found] == [line_of(path, "max_train_epochs")]
    assert found[0]["severity"] == "error"

    path = args_toml(tmp_path, "max_train_epochs = 1")
    assert not codes(lint(tmp_path, path), "KT209")


def test_kt209_v23_gui_sends_computed_zero(tmp_path):
    dataset(tmp_path, ext=".bmp")  # the GUI counts no .bmp: 0 steps, and v23 sends "0"
    path = gui_json(tmp_path, base=GUI_V23)
    found = codes(lint(tmp_path, path, "--gui-version", "v23.1.5"), "KT209")
    assert [d["line"] for d in found] == [line_of(path, "max_train_steps")]

    dataset(tmp_path / "png")
    path = gui_json(tmp_path / "png", base=GUI_V23)
    assert not codes(lint(tmp_path / "png", path, "--gui-version", "v23.1.5"), "KT209")
