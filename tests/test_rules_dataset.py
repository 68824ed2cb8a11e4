"""KT3xx dataset rules, driven through the CLI on tiny datasets built in tmp_path."""
from __future__ import annotations

import json
import os

import pytest

from helpers import CORPUS, make_images, run_cli

ARGS_HEAD = """pretrained_model_name_or_path = "runwayml/stable-diffusion-v1-5"
output_dir = "output"
output_name = "sks_dog"
logging_dir = "logs"
network_module = "networks.lora"
network_dim = 16
network_alpha = 8
learning_rate = 0.0001
optimizer_type = "AdamW8bit"
mixed_precision = "fp16"
save_model_as = "safetensors"
seed = 42
"""


def args_toml(*lines: str, batch: int = 2) -> str:
    body = ["train_data_dir = \"img\"", "resolution = \"512,512\"", "enable_bucket = true",
            "caption_extension = \".txt\"", f"train_batch_size = {batch}", "max_train_epochs = 10"]
    keys = {line.split("=")[0].strip() for line in lines}
    body = [b for b in body if b.split("=")[0].strip() not in keys]
    return ARGS_HEAD + "\n".join(body + list(lines)) + "\n"


def gui_json(**changes) -> str:
    data = json.loads((CORPUS / "kohya_ss/v24.1.7/test/config/locon-AdamW8bit.json").read_text())
    data.update({"train_data_dir": "img", "caption_extension": ".txt"})
    data.update(changes)
    return json.dumps(data, indent=2) + "\n"


def line_of(text: str, key: str, nth: int = 1) -> int:
    seen = 0
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith(key):
            seen += 1
            if seen == nth:
                return number
    raise AssertionError(f"{key} not in text")


def lint(tmp_path, text: str, name: str = "config.toml", *extra: str) -> list[dict]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    proc = run_cli("lint", "--output-format", "json", "--select", "KT3", *extra, str(path),
                   cwd=tmp_path)
    assert proc.stdout, proc.stderr
    diags = json.loads(proc.stdout)
    return diags if isinstance(diags, list) else diags.get("diagnostics", diags)


def codes(diags, code):
    return [d for d in diags if d["code"] == code]


def one(diags, code, line, *words, file=None):
    found = codes(diags, code)
    assert len(found) == 1, (code, diags)
    d = found[0]
    assert d["line"] == line, d
    for word in words:
        assert word in d["message"], (word, d["message"])
    if file:
        assert os.path.basename(d["file"]) == file, d
    return d


# -------------------------------------------------------------------------------------------
# KT300 trainer-refuses

def test_kt300_no_data_found(tmp_path):
    make_images(tmp_path / "img" / "sks dog", [[512, 512, 3]])
    text = args_toml()
    diags = lint(tmp_path, text)
    one(diags, "KT300", line_of(text, "train_data_dir"), "No data found", '"sks dog"')
    assert codes(diags, "KT300")[0]["severity"] == "error"


def test_kt300_not_when_trainer_runs(tmp_path):
    make_images(tmp_path / "img" / "10_sks dog", [[512, 512, 3]])
    assert not codes(lint(tmp_path, args_toml()), "KT300")


def test_kt300_defers_empty_caption_to_kt309(tmp_path):
    make_images(tmp_path / "img" / "10_sks dog", [[512, 512, 3]], captions={"0001": ""})
    text = args_toml()
    diags = lint(tmp_path, text)
    assert not codes(diags, "KT300")
    one(diags, "KT309", line_of(text, "train_data_dir"), "0001.txt")
    # KT309 not selected: KT300 reports the trainer's own message
    path = tmp_path / "config.toml"
    proc = run_cli("lint", "--output-format", "json", "--select", "KT300", str(path), cwd=tmp_path)
    only = json.loads(proc.stdout)
    one(only, "KT300", line_of(text, "train_data_dir"), "caption file is empty", "0001.txt")


# -------------------------------------------------------------------------------------------
# KT301 folder-no-repeat-prefix

def test_kt301_folder_without_prefix(tmp_path):
    make_images(tmp_path / "img" / "sks dog", [[512, 512, 4]])
    make_images(tmp_path / "img" / "dog_10", [[512, 512, 2]])
    make_images(tmp_path / "img" / "5_cat", [[512, 512, 4]])
    (tmp_path / "img" / ".ipynb_checkpoints").mkdir()
    text = args_toml()
    found = codes(lint(tmp_path, text), "KT301")
    assert len(found) == 2
    assert {d["line"] for d in found} == {line_of(text, "train_data_dir")}
    messages = " | ".join(d["message"] for d in found)
    assert '"img/sks dog"' in messages and "4 images" in messages
    assert '"img/dog_10"' in messages and "2 images" in messages
    assert "ipynb" not in messages


def test_kt301_ok_with_prefix(tmp_path):
    make_images(tmp_path / "img" / "10_sks dog", [[512, 512, 4]])
    make_images(tmp_path / "img" / "5_cat", [[512, 512, 4]])
    assert not codes(lint(tmp_path, args_toml()), "KT301")


# -------------------------------------------------------------------------------------------
# KT302 folder-repeats-below-one

def test_kt302_zero_prefix_args(tmp_path):
    make_images(tmp_path / "img" / "0_dog", [[512, 512, 3]])
    make_images(tmp_path / "img" / "5_cat", [[512, 512, 4]])
    text = args_toml()
    one(lint(tmp_path, text), "KT302", line_of(text, "train_data_dir"), '"img/0_dog"',
        "repeat prefix 0", "3 images")


def test_kt302_negative_prefix_gui(tmp_path):
    make_images(tmp_path / "img" / "-1_dog", [[512, 512, 3]])
    make_images(tmp_path / "img" / "5_cat", [[512, 512, 4]])
    text = gui_json()
    diags = lint(tmp_path, text, "config.json", "--gui-version", "v24.1.7")
    one(diags, "KT302", line_of(text, '"train_data_dir"'), '"img/-1_dog"',
        "subtracts 3 steps")


def test_kt302_dataset_toml_num_repeats_zero(tmp_path):
    make_images(tmp_path / "img" / "dog", [[512, 512, 3]])
    make_images(tmp_path / "img" / "cat", [[512, 512, 3]])
    text = ("[general]\nenable_bucket = true\ncaption_extension = \".txt\"\n\n[[datasets]]\n"
            "resolution = 512\nbatch_size = 2\n\n  [[datasets.subsets]]\n  image_dir = \"img/dog\"\n"
            "  num_repeats = 0\n\n  [[datasets.subsets]]\n  image_dir = \"img/cat\"\n"
            "  num_repeats = 2\n")
    one(lint(tmp_path, text, "dataset.toml"), "KT302", line_of(text, "num_repeats = 0"),
        '"img/dog"', "num_repeats 0")


def test_kt302_ok(tmp_path):
    make_images(tmp_path / "img" / "1_dog", [[512, 512, 3]])
    assert not codes(lint(tmp_path, args_toml()), "KT302")


# -------------------------------------------------------------------------------------------
# KT303 subset-without-images

def test_kt303_empty_folder_and_loose_images(tmp_path):
    make_images(tmp_path / "img" / "10_sks dog", [[512, 512, 3]])
    make_images(tmp_path / "img" / "5_cat", [[512, 512, 2, ".gif"]])
    make_images(tmp_path / "img", [[512, 512, 2]], start=100)
    text = args_toml()
    found = codes(lint(tmp_path, text), "KT303")
    assert len(found) == 2 and {d["line"] for d in found} == {line_of(text, "train_data_dir")}
    messages = " | ".join(d["message"] for d in found)
    assert '"img/5_cat"' in messages and "0000.gif" in messages
    assert '2 images sit directly in train_data_dir "img"' in messages and "0100.png" in messages


def test_kt303_dataset_toml_position(tmp_path):
    make_images(tmp_path / "img" / "dog", [[512, 512, 3]])
    (tmp_path / "img" / "empty").mkdir()
    text = ("[general]\ncaption_extension = \".txt\"\n\n[[datasets]]\nresolution = 512\n\n"
            "  [[datasets.subsets]]\n  image_dir = \"img/dog\"\n\n  [[datasets.subsets]]\n"
            "  image_dir = \"img/empty\"\n")
    one(lint(tmp_path, text, "dataset.toml"), "KT303", line_of(text, "image_dir", 2),
        '"img/empty"', "no image")


def test_kt303_ok(tmp_path):
    make_images(tmp_path / "img" / "10_sks dog", [[512, 512, 3]])
    assert not codes(lint(tmp_path, args_toml()), "KT303")


# -------------------------------------------------------------------------------------------
# KT304 / KT305 reg balancing

def reg_setup(tmp_path, reg_count):
    make_images(tmp_path / "img" / "5_sks dog", [[512, 512, 2]])     # T = 10
    make_images(tmp_path / "reg" / "1_dog", [[512, 512, reg_count]])
    return args_toml("reg_data_dir = \"reg\"")


def test_kt304_reg_unused(tmp_path):
    text = reg_setup(tmp_path, 30)
    diags = lint(tmp_path, text)
    d = one(diags, "KT304", line_of(text, "reg_data_dir"), "30 reg image-steps found, 10 used",
            '"reg/1_dog": 10 of 30 images')
    assert d["severity"] == "info"
    assert not codes(diags, "KT305")


def test_kt304_whole_reg_folder_unused_is_warning(tmp_path):
    text = ("[[datasets]]\nresolution = 512\ncaption_extension = \".txt\"\n\n"
            "  [[datasets.subsets]]\n  image_dir = \"img\"\n  num_repeats = 2\n\n"
            "  [[datasets.subsets]]\n  image_dir = \"reg_a\"\n  is_reg = true\n\n"
            "  [[datasets.subsets]]\n  image_dir = \"reg_b\"\n  is_reg = true\n")
    make_images(tmp_path / "img", [[512, 512, 2]])                  # T = 4
    make_images(tmp_path / "reg_a", [[512, 512, 6]])
    make_images(tmp_path / "reg_b", [[512, 512, 6]])
    d = one(lint(tmp_path, text, "dataset.toml"), "KT304", line_of(text, "image_dir", 2),
            "12 reg image-steps found, 4 used", '"reg_b" is not used at all')
    assert d["severity"] == "warning"


def test_kt305_reg_repeated(tmp_path):
    text = reg_setup(tmp_path, 4)
    diags = lint(tmp_path, text)
    one(diags, "KT305", line_of(text, "reg_data_dir"), "4 reg image-steps found for 10",
        "used 2 to 3 times", '"reg/1_dog"')
    assert not codes(diags, "KT304")


def test_kt304_kt305_balanced(tmp_path):
    diags = lint(tmp_path, reg_setup(tmp_path, 10))
    assert not codes(diags, "KT304") and not codes(diags, "KT305")


# -------------------------------------------------------------------------------------------
# KT306 / KT307 files the glob misses

def test_kt306_extensions(tmp_path):
    folder = tmp_path / "img" / "10_sks dog"
    make_images(folder, [[512, 512, 2], [512, 512, 1, ".Jpg"], [512, 512, 1, ".jfif"],
                         [512, 512, 1, ".avif"]])
    text = args_toml()
    one(lint(tmp_path, text), "KT306", line_of(text, "train_data_dir"), '"img/10_sks dog"',
        "0002.Jpg", "0003.jfif", "0004.avif", "pillow_avif")


def test_kt306_upper_case_is_found(tmp_path):
    make_images(tmp_path / "img" / "10_sks dog", [[512, 512, 2], [512, 512, 1, ".PNG"],
                                                  [512, 512, 1, ".JPG"]])
    assert not codes(lint(tmp_path, args_toml()), "KT306")


def test_kt307_hidden(tmp_path):
    folder = tmp_path / "img" / "10_sks dog"
    make_images(folder, [[512, 512, 2]])
    (folder / ".0009.png").write_bytes((folder / "0000.png").read_bytes())
    text = args_toml()
    one(lint(tmp_path, text), "KT307", line_of(text, "train_data_dir"), ".0009.png",
        '"img/10_sks dog"')


def test_kt307_ok(tmp_path):
    make_images(tmp_path / "img" / "10_sks dog", [[512, 512, 2]])
    assert not codes(lint(tmp_path, args_toml()), "KT307")


# -------------------------------------------------------------------------------------------
# KT308 gui-count-mismatch

def test_kt308_extensions(tmp_path):
    make_images(tmp_path / "img" / "10_tok", [[512, 512, 4], [512, 512, 3, ".bmp"],
                                              [512, 512, 2, ".Jpg"]])
    text = gui_json()
    one(lint(tmp_path, text, "config.json", "--gui-version", "v24.1.7"), "KT308",
        line_of(text, '"train_data_dir"'), "GUI counts 60", "trainer uses 70", "0004.bmp",
        "0007.Jpg")


def test_kt308_reg_factor_without_reg_images(tmp_path):
    make_images(tmp_path / "img" / "10_tok", [[512, 512, 4]])
    make_images(tmp_path / "reg" / "1_dog", [[512, 512, 2, ".gif"]])
    text = gui_json(reg_data_dir="reg")
    d = one(lint(tmp_path, text, "config.json", "--gui-version", "v24.1.7"), "KT308",
            line_of(text, '"reg_data_dir"'), "reg factor 2", '"reg"')
    assert "no usable reg image" in d["message"]


def test_kt308_ok(tmp_path):
    make_images(tmp_path / "img" / "10_tok", [[512, 512, 4], [512, 512, 2, ".jpg"]])
    text = gui_json()
    assert not codes(lint(tmp_path, text, "config.json", "--gui-version", "v24.1.7"), "KT308")


# -------------------------------------------------------------------------------------------
# KT309 empty-caption-file

DATASET_CAPTIONS = """[general]
enable_bucket = true
caption_extension = ".txt"

[[datasets]]
resolution = 512
batch_size = 2

  [[datasets.subsets]]
  image_dir = "img/dog"
  num_repeats = 10
"""


def test_kt309_lists_every_empty_caption(tmp_path):
    make_images(tmp_path / "img" / "dog", [[512, 512, 4]], captions={"0001": "", "0003": ""})
    text = args_toml("dataset_config = \"dataset.toml\"")
    (tmp_path / "dataset.toml").write_text(DATASET_CAPTIONS)
    diags = lint(tmp_path, text)
    d = one(diags, "KT309", line_of(DATASET_CAPTIONS, "image_dir"), "2 empty caption files",
            "0001.txt", "0003.txt", file="dataset.toml")
    assert d["severity"] == "error"
    assert not codes(diags, "KT300")


def test_kt309_other_extension_not_read(tmp_path):
    make_images(tmp_path / "img" / "dog", [[512, 512, 4]], captions={"0001": ""})
    text = DATASET_CAPTIONS.replace('caption_extension = ".txt"', 'caption_extension = ".caption"')
    diags = lint(tmp_path, text, "dataset.toml")
    assert not codes(diags, "KT309")
    # the .txt files are not read at all: KT313 says so and suggests the extension
    one(diags, "KT313", line_of(text, "image_dir"), "4 of 4 images", "no .caption caption file",
        'caption_extension = ".txt"')


# -------------------------------------------------------------------------------------------
# KT310 reg-folder-order

def _unsorted_reg_names(reg):
    """Two reg folder names that this file system lists out of alphabetical order."""
    for a, b in [("1_a", "1_b"), ("1_b", "1_a"), ("1_dog", "1_cat"), ("1_x", "1_y"),
                 ("1_cat", "1_dog"), ("1_m", "1_n"), ("1_p", "1_q"), ("1_k", "1_z")]:
        (reg / a).mkdir(parents=True)
        (reg / b).mkdir()
        if os.listdir(reg) != sorted(os.listdir(reg)):
            return os.listdir(reg)
        (reg / a).rmdir()
        (reg / b).rmdir()
    pytest.skip("this file system lists these folders alphabetically")


def test_kt310_reg_folder_order(tmp_path):
    make_images(tmp_path / "img" / "10_tok", [[512, 512, 1]])       # T = 10
    first, second = _unsorted_reg_names(tmp_path / "reg")
    make_images(tmp_path / "reg" / first, [[512, 512, 10]])
    make_images(tmp_path / "reg" / second, [[768, 512, 10]])
    text = args_toml("reg_data_dir = \"reg\"", batch=4)
    d = one(lint(tmp_path, text), "KT310", line_of(text, "reg_data_dir"), first, second,
            "alphabetical order", "batches")
    assert "5 batches" in d["message"] and "6 batches" in d["message"]


def test_kt310_single_reg_folder(tmp_path):
    make_images(tmp_path / "img" / "10_tok", [[512, 512, 1]])
    make_images(tmp_path / "reg" / "1_dog", [[512, 512, 10], [768, 512, 10]])
    assert not codes(lint(tmp_path, args_toml("reg_data_dir = \"reg\"", batch=4)), "KT310")


# -------------------------------------------------------------------------------------------
# KT311 bucket-settings-rejected

def test_kt311_min_above_resolution_args(tmp_path):
    make_images(tmp_path / "img" / "10_tok", [[512, 512, 2]])
    text = args_toml("min_bucket_reso = 640")
    diags = lint(tmp_path, text)
    d = one(diags, "KT311", line_of(text, "min_bucket_reso"), "min_bucket_reso 640",
            "512x512")
    assert d["severity"] == "error"
    assert not codes(diags, "KT300")


def test_kt311_steps_and_odd_resolution(tmp_path):
    make_images(tmp_path / "img" / "10_tok", [[512, 512, 2]])
    text = args_toml("bucket_reso_steps = 48")
    one(lint(tmp_path, text), "KT311", line_of(text, "bucket_reso_steps"), "divisible by 64")
    text = args_toml("resolution = \"500,500\"")
    d = one(lint(tmp_path, text), "KT311", line_of(text, "resolution"), "500x500",
            "not a multiple of bucket_reso_steps 64")
    assert d["severity"] == "warning"


def test_kt311_dataset_toml_and_gui(tmp_path):
    make_images(tmp_path / "img" / "dog", [[512, 512, 2]])
    text = DATASET_CAPTIONS.replace("batch_size = 2", "batch_size = 2\nmax_bucket_reso = 384")
    one(lint(tmp_path, text, "dataset.toml"), "KT311", line_of(text, "max_bucket_reso"),
        "max_bucket_reso 384")
    make_images(tmp_path / "img" / "10_tok", [[512, 512, 2]])
    gui = gui_json(min_bucket_reso=768, bucket_no_upscale=False)
    one(lint(tmp_path, gui, "config.json", "--gui-version", "v24.1.7"), "KT311",
        line_of(gui, '"min_bucket_reso"'), "min_bucket_reso 768")


def test_kt311_ok(tmp_path):
    make_images(tmp_path / "img" / "10_tok", [[512, 512, 2]])
    assert not codes(lint(tmp_path, args_toml("min_bucket_reso = 320")), "KT311")


# -------------------------------------------------------------------------------------------
# KT312 duplicate-subset

def test_kt312_train_equals_reg(tmp_path):
    make_images(tmp_path / "img" / "10_tok", [[512, 512, 2]])
    text = args_toml("reg_data_dir = \"img\"")
    one(lint(tmp_path, text), "KT312", line_of(text, "reg_data_dir"), '"img/10_tok"',
        "no reg image is used")


def test_kt312_dataset_toml(tmp_path):
    make_images(tmp_path / "img" / "dog", [[512, 512, 2]])
    text = DATASET_CAPTIONS + "\n  [[datasets.subsets]]\n  image_dir = \"img/dog\"\n  num_repeats = 3\n"
    one(lint(tmp_path, text, "dataset.toml"), "KT312", line_of(text, "image_dir", 2), '"img/dog"',
        "3 repeats", "ignores it")


def test_kt312_ok(tmp_path):
    make_images(tmp_path / "img" / "10_tok", [[512, 512, 2]])
    make_images(tmp_path / "reg" / "1_tok", [[512, 512, 2]])
    assert not codes(lint(tmp_path, args_toml("reg_data_dir = \"reg\"")), "KT312")


# -------------------------------------------------------------------------------------------
# KT313 missing-caption-files

def test_kt313_missing_captions(tmp_path):
    make_images(tmp_path / "img" / "10_sks dog", [[512, 512, 3]], captions={"0002": None})
    text = args_toml()
    d = one(lint(tmp_path, text), "KT313", line_of(text, "train_data_dir"), "1 of 3 images",
            "0002.png", '"sks dog"', '"img/10_sks dog"')
    assert d["severity"] == "info"


def test_kt313_ok(tmp_path):
    make_images(tmp_path / "img" / "10_sks dog", [[512, 512, 3]])
    assert not codes(lint(tmp_path, args_toml()), "KT313")


def test_kt300_gui_preset_without_folder_is_one_summary_line(tmp_path):
    # a preset is partial by design: no KT300 at 1:1, no line per file, one summary line
    text = gui_json(train_data_dir="")
    for name in ("a.json", "b.json"):
        (tmp_path / name).write_text(text, encoding="utf-8")
    proc = run_cli("lint", "--output-format", "json", "--gui-version", "v24.1.7", "a.json",
                   "b.json", cwd=tmp_path)
    assert not codes(json.loads(proc.stdout), "KT300")
    assert proc.stderr.count("GUI preset") == 1 and "2 GUI presets" in proc.stderr
    assert "dataset rules skipped" not in proc.stderr


def test_missing_subset_dir_beside_present_ones_is_skipped_as_the_trainer_does(tmp_path):
    # DreamBoothDataset load_dreambooth_dir: "not directory" -> the subset is skipped (HEAD
    # train_util.py L1973-1975); when nothing of the dataset is here it stays exit 2
    make_images(tmp_path / "img", [[512, 512, 2]])
    (tmp_path / "dataset.toml").write_text(
        '[general]\nresolution = 512\n\n[[datasets]]\n[[datasets.subsets]]\nimage_dir = "img"\n\n'
        '[[datasets.subsets]]\nimage_dir = "nothere"\n', encoding="utf-8")
    proc = run_cli("lint", "dataset.toml", cwd=tmp_path)
    assert "KT303" in proc.stdout and "does not exist while the rest of the dataset is here" in proc.stdout
    steps = run_cli("steps", "dataset.toml", "--format", "json", cwd=tmp_path)
    assert steps.returncode == 0 and json.loads(steps.stdout)["trainer"]["num_batches"] == 2
    (tmp_path / "dataset.toml").write_text(
        '[general]\nresolution = 512\n\n[[datasets]]\n[[datasets.subsets]]\nimage_dir = "gone"\n',
        encoding="utf-8")
    assert run_cli("steps", "dataset.toml", cwd=tmp_path).returncode == 2
