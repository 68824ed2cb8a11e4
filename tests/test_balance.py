"""`balance` on real-looking folders: the shares it promises are what the trainer trains (the
numbers `steps` reads back after --apply), only the intended names and bytes change, an
interrupted apply can be undone or finished, and a second run changes nothing."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import make_images, run_cli, run_in_process
from kohya_tune import api
from kohya_tune.edit import renames

TRAINER_KEYS = ("num_train_images", "num_reg_images", "num_reg_images_used", "num_batches",
                "num_batches_per_epoch", "num_processes", "gradient_accumulation_steps",
                "num_update_steps_per_epoch", "max_train_steps", "num_train_epochs",
                "last_epoch_steps", "steps_source", "buckets")
CONTRACT = ("config", "changed", "concepts", "before", "after", "gui_before", "gui_after", "edits")
CONCEPT_KEYS = ("dataset", "name", "image_dir", "is_reg", "images", "weight", "repeats_before",
                "repeats_after", "image_steps_before", "image_steps_after", "share_goal", "share_after")

ARGS_TOML = """[model]
pretrained_model_name_or_path = "model.safetensors"

[dataset]
train_data_dir = "img"
reg_data_dir = "reg"
resolution = "512,512"
enable_bucket = true
train_batch_size = 2

[training]
max_train_epochs = 10
learning_rate = 1e-4
"""


def folders(root: Path) -> Path:
    """Three concepts of very different sizes in mixed buckets, two reg folders, a folder the
    trainer skips (no prefix) and one without images."""
    make_images(root / "img" / "10_sks dog", [[512, 512, 12], [512, 768, 6]])
    make_images(root / "img" / "10_sks cat", [[768, 512, 40], [512, 512, 20]])
    make_images(root / "img" / "2_style", [[512, 512, 150]])
    (root / "img" / "5_empty").mkdir()
    make_images(root / "img" / "notes", [[512, 512, 2]])
    make_images(root / "reg" / "1_dog", [[512, 512, 50]])
    make_images(root / "reg" / "1_cat", [[512, 512, 30]])
    (root / "lora.toml").write_text(ARGS_TOML, encoding="utf-8")
    return root / "lora.toml"


def balance(*args, cwd):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return run_in_process("balance", *args)
    finally:
        os.chdir(old)


def balance_json(*args, cwd) -> tuple[int, dict]:
    result = balance(*args, "--format", "json", cwd=cwd)
    return result.exit_code, json.loads(result.stdout)


def steps_json(*args, cwd) -> dict:
    old = os.getcwd()
    os.chdir(cwd)
    try:
        result = run_in_process("steps", *args, "--format", "json")
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def trainer_numbers(trainer: dict) -> dict:
    out = {k: trainer[k] for k in TRAINER_KEYS}
    out["datasets"] = [{"batch_size": d["batch_size"], "num_batches": d["num_batches"],
                        "buckets": d["buckets"],
                        "subsets": sorted((s["folder"] or s["image_dir"], s["num_repeats"],
                                           s["image_count"], s["image_steps"], s["reg_images_used"])
                                          for s in d["subsets"])}
                       for d in trainer["datasets"]]
    return out


def names(folder: Path) -> list:
    return sorted(os.listdir(folder))


# --------------------------------------------------------------------------------------------
# folder mode

def test_apply_gives_the_promised_numbers_and_a_second_run_changes_nothing(tmp_path):
    folders(tmp_path)
    code, plan = balance_json("lora.toml", "--num-processes", "2", cwd=tmp_path)
    assert code == 1 and plan["changed"] is True
    assert all(k in plan for k in CONTRACT)
    assert all(k in c for c in plan["concepts"] for k in CONCEPT_KEYS + ("used", "reason"))
    assert plan["before"] == steps_json("lora.toml", "--num-processes", "2", cwd=tmp_path)["trainer"]
    train = [c for c in plan["concepts"] if not c["is_reg"] and c["used"]]
    assert {c["name"] for c in train} == {"sks dog", "sks cat", "style"}
    # the folders the trainer skips are concepts too, with the reason (as in the text)
    skipped = {c["name"]: c for c in plan["concepts"] if not c["used"]}
    assert set(skipped) == {"empty", "notes"}
    assert skipped["empty"]["reason"].startswith("no images found") and skipped["empty"]["images"] == 0
    assert skipped["empty"]["repeats_before"] == 5 and skipped["notes"]["repeats_before"] is None
    assert all(c["image_steps_after"] == 0 and not c["balanced"] for c in skipped.values())
    # equal weights: every share within 10 % of a third (150 images at 2 repeats are coarse),
    # and the size kept: the total within the default tolerance of today's 1080
    assert all(abs(c["share_after"] - 1 / 3) / (1 / 3) < 0.1 for c in train)
    assert 972 <= plan["after"]["num_train_images"] <= 1188
    assert sum(c["image_steps_after"] for c in train) == plan["after"]["num_train_images"]
    # reg concepts are reported, not balanced; the folders the trainer skips are left alone
    assert {c["name"] for c in plan["concepts"] if c["is_reg"]} == {"dog", "cat"}
    assert all(c["repeats_after"] == c["repeats_before"] for c in plan["concepts"] if c["is_reg"])
    assert {x["label"] for x in plan["left_alone"]} == {"5_empty", "notes"}
    renamed = {os.path.basename(r["from"]): os.path.basename(r["to"]) for r in plan["edits"]["renames"]}
    assert renamed and set(renamed) <= {"10_sks dog", "10_sks cat", "2_style"}
    assert plan["edits"]["files"] == []
    before_names = names(tmp_path / "img")

    result = balance("lora.toml", "--num-processes", "2", "--apply", cwd=tmp_path)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "read back" in result.stdout
    # only the renamed folders changed name, the rest of each name kept exactly
    expected = sorted([renamed.get(n, n) for n in before_names] + [renames.JOURNAL_NAME])
    assert names(tmp_path / "img") == expected
    assert (tmp_path / "lora.toml").read_text(encoding="utf-8") == ARGS_TOML
    after = steps_json("lora.toml", "--num-processes", "2", cwd=tmp_path)["trainer"]
    assert trainer_numbers(after) == trainer_numbers(plan["after"])

    code, again = balance_json("lora.toml", "--num-processes", "2", cwd=tmp_path)
    assert code == 0 and again["changed"] is False and again["edits"]["renames"] == []
    result = balance("lora.toml", "--num-processes", "2", "--check", cwd=tmp_path)
    assert result.exit_code == 0 and "already balanced" in result.stdout
    result = balance("lora.toml", "--num-processes", "2", "--apply", cwd=tmp_path)
    assert result.exit_code == 0 and names(tmp_path / "img") == expected


def test_plan_diff_and_check_change_nothing(tmp_path):
    folders(tmp_path)
    before = names(tmp_path / "img")
    result = balance("lora.toml", cwd=tmp_path)
    assert result.exit_code == 1
    assert "would change" in result.stdout and "reverse renames" in result.stdout
    result = balance("lora.toml", "--diff", cwd=tmp_path)
    assert result.exit_code == 1 and result.stdout.startswith("rename ")
    result = balance("lora.toml", "--check", cwd=tmp_path)
    assert result.exit_code == 1 and result.stdout.count("\n") == 1
    assert names(tmp_path / "img") == before
    assert not any(p.name.startswith(".kohya-tune") for p in tmp_path.rglob("*"))


def test_total_and_per_concept_sizes_and_weights(tmp_path):
    folders(tmp_path)
    code, plan = balance_json("lora.toml", "--total", "1800", cwd=tmp_path)
    total = sum(c["image_steps_after"] for c in plan["concepts"] if not c["is_reg"])  # 0 if unused
    assert 1620 <= total <= 1980
    code, plan = balance_json("lora.toml", "--per-concept", "300", "--weight", "style=2", cwd=tmp_path)
    train = {c["name"]: c for c in plan["concepts"] if not c["is_reg"] and c["used"]}
    assert train["style"]["share_goal"] == pytest.approx(0.5)
    assert train["sks dog"]["share_goal"] == pytest.approx(0.25)
    total = sum(c["image_steps_after"] for c in train.values())
    assert 1080 <= total <= 1320   # 300 x (1 + 1 + 2), +/-10 %
    assert train["style"]["image_steps_after"] > 1.8 * train["sks cat"]["image_steps_after"]


def test_the_search_is_exact_for_a_fixed_size(tmp_path):
    """Brute force over every repeats choice (bounds kept small): no choice in the band has a
    smaller largest share error, nor the same with a total nearer the aim."""
    folders(tmp_path)
    code, plan = balance_json("lora.toml", "--total", "700", "--max-repeats", "25", cwd=tmp_path)
    train = [c for c in plan["concepts"] if not c["is_reg"] and c["used"]]
    counts = [c["images"] for c in train]

    def error(rs):
        t = sum(n * r for n, r in zip(counts, rs))
        return max(abs(n * r / t - 1 / 3) * 3 for n, r in zip(counts, rs)), abs(t - 700)

    best = min(error((a, b, c)) for a in range(1, 26) for b in range(1, 26) for c in range(1, 26)
               if 630 <= counts[0] * a + counts[1] * b + counts[2] * c <= 770)
    got = error([c["repeats_after"] for c in train])
    assert got[0] == pytest.approx(best[0]) and got[1] == best[1]


def test_unknown_weight_name_lists_the_concepts(tmp_path):
    folders(tmp_path)
    result = balance("lora.toml", "--weight", "sks bird=2", cwd=tmp_path)
    assert result.exit_code == 2
    assert "'sks bird'" in result.stderr and "'sks dog'" in result.stderr and "'style'" in result.stderr
    result = balance("lora.toml", "--weight", "dog=2", cwd=tmp_path)
    assert result.exit_code == 2 and "--include-reg" in result.stderr


def test_unreachable_size_is_refused(tmp_path):
    folders(tmp_path)
    before = names(tmp_path / "img")
    result = balance("lora.toml", "--total", "100", cwd=tmp_path)
    assert result.exit_code == 2
    assert "--min-repeats" in result.stdout and "refused" in result.stdout
    result = balance("lora.toml", "--total", "100", "--apply", cwd=tmp_path)
    assert result.exit_code == 2 and names(tmp_path / "img") == before


def test_include_reg_balances_reg_concepts_about_the_new_train_total(tmp_path):
    folders(tmp_path)
    make_images(tmp_path / "reg" / "1_dog", [[512, 512, 10]], start=50)
    code, plan = balance_json("lora.toml", "--include-reg", "--total", "1200", cwd=tmp_path)
    reg = [c for c in plan["concepts"] if c["is_reg"] and c["used"]]
    assert all(c["share_goal"] == pytest.approx(0.5) for c in reg)
    reg_total = sum(c["image_steps_after"] for c in reg)
    train_total = plan["after"]["num_train_images"]
    assert abs(reg_total - train_total) <= 0.1 * train_total
    assert all(abs(c["share_after"] - 0.5) < 0.1 for c in reg)
    result = balance("lora.toml", "--include-reg", "--total", "1200", "--apply", cwd=tmp_path)
    assert result.exit_code == 0, result.stdout + result.stderr
    after = steps_json("lora.toml", cwd=tmp_path)["trainer"]
    assert trainer_numbers(after) == trainer_numbers(plan["after"])


# --------------------------------------------------------------------------------------------
# a target, a GUI JSON

GUI_KEYS = {"LoRA_type": "Standard", "train_data_dir": "img", "reg_data_dir": "", "output_dir": "out",
            "pretrained_model_name_or_path": "model.safetensors", "max_resolution": "512,512",
            "enable_bucket": True, "min_bucket_reso": 256, "max_bucket_reso": 1024,
            "bucket_reso_steps": 64, "train_batch_size": 2, "epoch": 20, "max_train_steps": 0,
            "max_train_epochs": 0, "gradient_accumulation_steps": 1, "lr_scheduler": "cosine",
            "lr_warmup": 0, "learning_rate": 0.0001, "network_dim": 8, "network_alpha": 1,
            "save_every_n_epochs": 1, "caption_extension": ".txt", "num_processes": 1,
            "optimizer": "AdamW8bit", "mixed_precision": "fp16", "save_precision": "fp16",
            "seed": 1234, "cache_latents": True}


def gui_folders(root: Path) -> Path:
    make_images(root / "img" / "3_tok", [[512, 512, 30]])
    make_images(root / "img" / "3_other", [[512, 512, 8], [640, 384, 4]])
    make_images(root / "img" / "1_bg", [[512, 512, 45]])
    (root / "gui.json").write_text(json.dumps(GUI_KEYS, indent=2) + "\n", encoding="utf-8")
    return root / "gui.json"


def test_gui_json_its_own_estimate_before_and_after(tmp_path):
    gui_folders(tmp_path)
    options = ("--gui-version", "v24.1.7")
    code, plan = balance_json("gui.json", *options, cwd=tmp_path)
    assert code == 1
    assert plan["gui_before"]["total_steps"] == 3 * 30 + 3 * 12 + 45
    train_total = sum(c["image_steps_after"] for c in plan["concepts"])
    # the GUI counts the renamed folder names: its count is the new total, and the steps it
    # computes from epoch follow
    assert plan["gui_after"]["total_steps"] == train_total
    assert plan["gui_after"]["max_train_steps"] == plan["after"]["max_train_steps"]
    result = balance("gui.json", *options, "--apply", cwd=tmp_path)
    assert result.exit_code == 0, result.stdout + result.stderr
    read = steps_json("gui.json", *options, cwd=tmp_path)
    assert read["gui"]["total_steps"] == plan["gui_after"]["total_steps"]
    assert read["gui"]["max_train_steps"] == plan["gui_after"]["max_train_steps"]
    assert trainer_numbers(read["trainer"]) == trainer_numbers(plan["after"])


@pytest.mark.parametrize("target", [("--target-epochs", "7"), ("--target-steps", "333")])
def test_target_is_hit_exactly_after_the_repeats(tmp_path, target):
    gui_folders(tmp_path)
    options = ("--gui-version", "v24.1.7", "--num-processes", "2")
    code, plan = balance_json("gui.json", *options, *target, cwd=tmp_path)
    assert code == 1 and plan["edits"]["renames"]
    assert [f["path"] for f in plan["edits"]["files"]] == [str(tmp_path / "gui.json")]
    result = balance("gui.json", *options, *target, "--apply", cwd=tmp_path)
    assert result.exit_code == 0, result.stdout + result.stderr
    read = steps_json("gui.json", *options, cwd=tmp_path)["trainer"]
    key = "num_train_epochs" if target[0] == "--target-epochs" else "max_train_steps"
    assert read[key] == int(target[1])
    assert trainer_numbers(read) == trainer_numbers(plan["after"])
    code, again = balance_json("gui.json", *options, *target, cwd=tmp_path)
    assert code == 0 and again["changed"] is False


# --------------------------------------------------------------------------------------------
# a dataset config: two datasets, inherited repeats

DATASET_TOML = """# two datasets; data/b inherits its repeats from [general]
[general]
resolution = 512
batch_size = 2
enable_bucket = true
num_repeats = 2
caption_extension = ".txt"

[[datasets]]

  [[datasets.subsets]]
  image_dir = "data/a"   # the main concept
  num_repeats = 5

  [[datasets.subsets]]
  image_dir = "data/b"

[[datasets]]
batch_size = 1

  [[datasets.subsets]]
  image_dir = "data/c"
  num_repeats = 3
"""
CONFIG_TOML = """pretrained_model_name_or_path = "model.safetensors"
dataset_config = "dataset.toml"
gradient_accumulation_steps = 2
max_train_steps = 2000
learning_rate = 1e-4
"""


def dataset_config(root: Path) -> None:
    make_images(root / "data" / "a", [[512, 512, 20]])
    make_images(root / "data" / "b", [[768, 512, 6]])
    make_images(root / "data" / "c", [[512, 512, 40], [512, 768, 10]])
    (root / "dataset.toml").write_bytes(DATASET_TOML.replace("\n", "\r\n").encode())
    (root / "config.toml").write_text(CONFIG_TOML, encoding="utf-8")


def test_dataset_config_only_num_repeats_bytes_change(tmp_path):
    import tomllib

    dataset_config(tmp_path)
    options = ("--num-processes", "2", "--target-epochs", "6")
    code, plan = balance_json("config.toml", *options, cwd=tmp_path)
    assert code == 1 and plan["edits"]["renames"] == []
    assert {c["name"]: c["dataset"] for c in plan["concepts"]} == {"data/a": 0, "data/b": 0, "data/c": 1}
    sources = {c["name"]: c["repeats_source"] for c in plan["concepts"]}
    assert sources == {"data/a": "subset", "data/b": "general", "data/c": "subset"}
    old = (tmp_path / "dataset.toml").read_bytes()
    result = balance("config.toml", *options, "--apply", cwd=tmp_path)
    assert result.exit_code == 0, result.stdout + result.stderr
    new = (tmp_path / "dataset.toml").read_bytes()
    old_data, new_data = tomllib.loads(old.decode()), tomllib.loads(new.decode())
    wanted = {c["name"]: c["repeats_after"] for c in plan["concepts"]}
    for d in new_data["datasets"]:
        for s in d["subsets"]:
            assert s["num_repeats"] == wanted[s["image_dir"]]
    # everything else identical: the data without num_repeats, and the bytes of every line
    # that is not a num_repeats line (comments, CRLF, indentation)
    for data in (old_data, new_data):
        for d in data["datasets"]:
            for s in d["subsets"]:
                s.pop("num_repeats", None)
    assert old_data == new_data
    keep = lambda b: [line for line in b.split(b"\r\n") if not line.strip().startswith(b"num_repeats")]
    assert keep(old) == keep(new)
    assert b"\n" not in new.replace(b"\r\n", b"")
    read = steps_json("config.toml", "--num-processes", "2", cwd=tmp_path)["trainer"]
    assert read["num_train_epochs"] == 6
    assert trainer_numbers(read) == trainer_numbers(plan["after"])
    assert not any(".kohya-tune-preview" in p.name for p in tmp_path.iterdir())
    # the journal next to the dataset config undoes both files
    result = run_in_process("balance", "--undo", str(tmp_path))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert (tmp_path / "dataset.toml").read_bytes() == old
    assert (tmp_path / "config.toml").read_text(encoding="utf-8") == CONFIG_TOML


def test_dataset_config_on_its_own_with_a_target_is_a_usage_error(tmp_path):
    dataset_config(tmp_path)
    result = balance("dataset.toml", "--target-epochs", "3", cwd=tmp_path)
    assert result.exit_code == 2 and "dataset config" in result.stderr


# --------------------------------------------------------------------------------------------
# never losing data

class Killed(BaseException):
    """A hard stop in the middle of the renames (nothing below catches it)."""


def kill_after(monkeypatch, calls: int) -> None:
    real = renames._rename
    done = []

    def rename(source, target):
        if len(done) == calls:
            raise Killed()
        done.append(source)
        real(source, target)

    monkeypatch.setattr(renames, "_rename", rename)


def interrupted(tmp_path, monkeypatch) -> tuple[list, dict]:
    folders(tmp_path)
    before = names(tmp_path / "img")
    code, plan = balance_json("lora.toml", "--total", "1200", cwd=tmp_path)
    assert len(plan["edits"]["renames"]) >= 2
    kill_after(monkeypatch, 1)
    with pytest.raises(Killed):
        balance("lora.toml", "--total", "1200", "--apply", cwd=tmp_path)
    monkeypatch.undo()
    now = names(tmp_path / "img")
    assert now != before and renames.JOURNAL_NAME in now
    return before, plan


def test_interrupted_apply_is_refused_then_undone_then_rerun(tmp_path, monkeypatch):
    before, plan = interrupted(tmp_path, monkeypatch)
    result = balance("lora.toml", "--total", "1200", cwd=tmp_path)
    assert result.exit_code == 2 and "interrupted" in result.stdout and "--undo" in result.stdout
    result = run_in_process("balance", "--undo", str(tmp_path / "img"))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert names(tmp_path / "img") == before
    result = run_in_process("balance", "--undo", str(tmp_path / "img"))
    assert result.exit_code == 2 and "no balance journal" in result.stderr
    result = balance("lora.toml", "--total", "1200", "--apply", cwd=tmp_path)
    assert result.exit_code == 0, result.stdout + result.stderr
    read = steps_json("lora.toml", cwd=tmp_path)["trainer"]
    assert trainer_numbers(read) == trainer_numbers(plan["after"])


def test_interrupted_apply_is_finished_by_apply(tmp_path, monkeypatch):
    before, plan = interrupted(tmp_path, monkeypatch)
    result = balance("lora.toml", "--total", "1200", "--apply", cwd=tmp_path)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "finished the interrupted apply" in result.stderr
    assert "already balanced" in result.stdout
    read = steps_json("lora.toml", cwd=tmp_path)["trainer"]
    assert trainer_numbers(read) == trainer_numbers(plan["after"])
    # the finished apply can still be taken back as a whole
    result = run_in_process("balance", "--undo", str(tmp_path / "img"))
    assert result.exit_code == 0 and names(tmp_path / "img") == before


def test_undo_refuses_when_a_folder_changed_since(tmp_path):
    folders(tmp_path)
    result = balance("lora.toml", "--total", "1200", "--apply", cwd=tmp_path)
    assert result.exit_code == 0
    journal = json.loads((tmp_path / "img" / renames.JOURNAL_NAME).read_text(encoding="utf-8"))
    first = journal["renames"][0]
    os.rename(first["to"], first["to"] + " moved")
    now = names(tmp_path / "img")
    result = run_in_process("balance", "--undo", str(tmp_path / "img"))
    assert result.exit_code == 2 and "neither name exists" in result.stderr
    assert names(tmp_path / "img") == now


def test_a_result_that_reads_back_differently_is_rolled_back(tmp_path, monkeypatch):
    """Someone adds an image while the folders are renamed: the read-back no longer gives the
    promised numbers, so every rename is undone and the exit code says it (3)."""
    folders(tmp_path)
    before = names(tmp_path / "img")
    real = renames.execute

    def execute(tx):
        journal = real(tx)
        make_images(Path(tx.renames[0].target), [[512, 512, 1]], start=900)
        return journal

    monkeypatch.setattr(renames, "execute", execute)
    result = balance("lora.toml", "--total", "1200", "--apply", cwd=tmp_path)
    assert result.exit_code == 3, result.stdout + result.stderr
    assert "everything was undone" in result.stderr
    assert names(tmp_path / "img") == before


def target_name(tmp_path, concept: str) -> str:
    code, plan = balance_json("lora.toml", "--total", "1200", cwd=tmp_path)
    for r in plan["edits"]["renames"]:
        if os.path.basename(r["from"]).endswith("_" + concept):
            return os.path.basename(r["to"])
    raise AssertionError(f"{concept} is not renamed")


@pytest.mark.parametrize("spelling", [str, str.upper], ids=["existing", "case-insensitive"])
def test_a_colliding_target_name_is_refused_before_anything_changes(tmp_path, spelling):
    folders(tmp_path)
    target = target_name(tmp_path, "sks cat")
    prefix, _, rest = target.partition("_")
    (tmp_path / "img" / f"{prefix}_{spelling(rest)}").mkdir()   # no images: left alone
    before = names(tmp_path / "img")
    result = balance("lora.toml", "--total", "1200", "--apply", cwd=tmp_path)
    assert result.exit_code == 2
    assert ("already exists" if spelling is str else "case-insensitive") in result.stderr + result.stdout
    assert names(tmp_path / "img") == before


def _make_unwritable(folder: Path):
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):  # root: only an immutable folder is unwritable
        folder.chmod(0o755)
        if shutil.which("chattr") is None or subprocess.run(
                ["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
            return None
        return lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)
    return lambda: folder.chmod(0o755)


def test_an_unwritable_folder_is_refused_before_anything_changes(tmp_path):
    folders(tmp_path)
    restore = _make_unwritable(tmp_path / "img")
    if restore is None:
        pytest.skip("cannot make a folder unwritable here (root without chattr)")
    try:
        before = names(tmp_path / "img")
        result = balance("lora.toml", "--total", "1200", "--apply", cwd=tmp_path)
        assert result.exit_code == 2
        assert "not writable" in result.stderr + result.stdout
        assert names(tmp_path / "img") == before
    finally:
        restore()


# --------------------------------------------------------------------------------------------
# output

def test_bars_fall_back_to_ascii_on_a_cp1252_console(tmp_path):
    folders(tmp_path)
    make_images(tmp_path / "img" / "3_ねこ", [[512, 512, 4]])
    proc = run_cli("balance", "lora.toml", cwd=tmp_path, env={"PYTHONIOENCODING": "cp1252"})
    assert proc.returncode == 1, proc.stderr
    assert "#" in proc.stdout and "\\u306d\\u3053" in proc.stdout and "Traceback" not in proc.stderr
    proc = run_cli("balance", "lora.toml", cwd=tmp_path, env={"PYTHONIOENCODING": "utf-8"})
    assert "\u2588" in proc.stdout and "ねこ" in proc.stdout


def test_library_api(tmp_path, monkeypatch):
    folders(tmp_path)
    monkeypatch.chdir(tmp_path)
    plan = api.balance("lora.toml", total=1200, weights={"style": "0.5"})
    rows = {r.name: r for r in plan.rows}
    assert rows["style"].share_goal == pytest.approx(0.2)
    assert plan.changed and not plan.refused
    applied = api.apply_balance(plan)
    assert applied.report.num_train_images == plan.after.num_train_images
    assert not api.balance("lora.toml", total=1200, weights={"style": "0.5"}).changed
    api.undo_balance(str(tmp_path / "img"))
    assert api.balance("lora.toml", total=1200, weights={"style": "0.5"}).changed
