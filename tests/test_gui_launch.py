"""Tests for kohya_tune.gui_launch against the golden GUI cases and GUI source behaviour."""

from __future__ import annotations

import json
import pathlib
import struct
import zlib

import pytest

from kohya_tune.engine.gui import GUI_VERSIONS, gui_launch, profile_for

GOLDEN = pathlib.Path(__file__).parent / "data" / "golden"


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    row = b"\x00" + b"\x00\x00\x00" * width
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height, 9))
            + chunk(b"IEND", b""))


def _materialize(case: dict, root: pathlib.Path) -> None:
    for folder, groups in case.get("dataset", {}).items():
        target = root / folder
        target.mkdir(parents=True, exist_ok=True)
        i = 0
        for group in groups:
            w, h, n = group[:3]
            ext = group[3] if len(group) > 3 else ".png"
            for _ in range(n):
                stem = f"{i:04d}"
                (target / f"{stem}{ext}").write_bytes(_png(w, h))
                (target / f"{stem}.txt").write_text("a photo")
                i += 1
    for rel, text in (case.get("captions") or {}).items():
        p = root / rel
        if text is None:
            p.unlink(missing_ok=True)
        else:
            p.write_text(text)
    for rel, text in case.get("files", {}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def _resolver(root: pathlib.Path):
    def resolve(s: str):
        p = pathlib.Path(s)
        p = p if p.is_absolute() else root / p
        return p if p.is_dir() else None
    return resolve


def _gui_cases():
    out = []
    for path in sorted(GOLDEN.glob("*.json")):
        case = json.loads(path.read_text())
        if "gui" in case.get("expected", {}) and case["config"].endswith(".json"):
            out.append(pytest.param(case, id=case["id"]))
    return out


def _tab(case):
    script = case.get("options", {}).get("script", "train_network")
    return {"train_db": "dreambooth", "sdxl_train": "dreambooth"}.get(script, "lora")


@pytest.mark.parametrize("case", _gui_cases())
def test_golden_gui_numbers(case, tmp_path):
    _materialize(case, tmp_path)
    config = json.loads(case["files"][case["config"]])
    got = gui_launch(config, _tab(case), case["options"]["gui_version"], _resolver(tmp_path))
    exp = case["expected"]["gui"]
    assert got.refused is None
    assert got.version == case["options"]["gui_version"]
    for key in ("total_steps", "reg_factor", "max_train_steps", "max_train_epochs", "lr_warmup_steps"):
        assert getattr(got, key) == exp[key], key
        if key == "lr_warmup_steps" and exp[key] is not None:
            assert type(getattr(got, key)) is type(exp[key])


def test_golden_cases_present():
    assert len(_gui_cases()) >= 12


# ---------------------------------------------------------------------------
# focused behaviours (not covered by the golden cases)
# ---------------------------------------------------------------------------

def _make(root: pathlib.Path, folders: dict[str, list[str]]):
    for folder, files in folders.items():
        d = root / folder
        d.mkdir(parents=True, exist_ok=True)
        for f in files:
            (d / f).write_bytes(_png(8, 8))


def _imgs(n, ext=".png"):
    return [f"{i:04d}{ext}" for i in range(n)]


BASE = {"train_data_dir": "img", "reg_data_dir": "", "train_batch_size": 1,
        "gradient_accumulation_steps": 1, "epoch": 1, "lr_scheduler": "cosine",
        "lr_warmup": 0, "max_resolution": "512,512"}


def test_profile_for():
    assert GUI_VERSIONS[0] == "v21.5.11" and GUI_VERSIONS[-1] == "master"
    assert profile_for("v24.1.3") == "v24.0.5"
    assert profile_for("v21.7.1") == "v21.5.11"
    assert profile_for("v24.1.7") == "v24.1.7"
    assert profile_for("v25.0.0") == "v24.1.7"
    assert profile_for("master") == "master"
    assert profile_for("v99.0.0") == "master" or profile_for("v99.0.0") == "v26.0.0"


def test_finetune_flip_aug_halves_default_1600_v24(tmp_path):
    # v24.1.7 finetune_gui.py:720 `if flip_aug and max_train_steps:` halves any non-zero value,
    # including the widget default 1600 (class_basic_training.py max_train_steps value=1600)
    _make(tmp_path, {"imgs": _imgs(10)})
    cfg = {"image_folder": "imgs", "train_dir": "out", "dataset_repeats": 2, "flip_aug": True,
           "train_batch_size": 1, "epoch": 1}
    got = gui_launch(cfg, "finetune", "v24.1.7", _resolver(tmp_path))
    assert got.max_train_steps == 800
    assert got.total_steps == 20
    assert got.script == "fine_tune"
    assert got.args["in_json"] == "out/meta_lat.json"
    assert got.args["dataset_repeats"] == 2
    assert got.args["train_data_dir"] == "imgs"


def test_finetune_flip_aug_halves_computed_v21(tmp_path):
    # v21.5.11 finetune_gui.py:442-453: ceil(10*3/2/1*3)=45, then ceil(45/2)=23
    _make(tmp_path, {"imgs": _imgs(10)})
    cfg = {"image_folder": "imgs", "train_dir": "t", "dataset_repeats": 3, "flip_aug": True,
           "train_batch_size": 2, "gradient_accumulation_steps": 1, "epoch": 3, "lr_warmup": 0}
    got = gui_launch(cfg, "finetune", "v21.5.11", _resolver(tmp_path))
    assert got.max_train_steps == 23


def test_v22_textbox_zero_string_computes(tmp_path):
    # v22.6.2 lora_gui.py:709 `if max_train_steps == "" or max_train_steps == "0":` computes
    _make(tmp_path, {"img/5_a": _imgs(4)})
    cfg = dict(BASE, max_train_steps="0", epoch=3)
    got = gui_launch(cfg, "lora", "v22.6.2", _resolver(tmp_path))
    assert got.max_train_steps == 60
    cfg["max_train_steps"] = "300"
    got = gui_launch(cfg, "lora", "v22.6.2", _resolver(tmp_path))
    assert got.max_train_steps == 300  # passed as typed


def test_v23_dataset_config_with_typed_value(tmp_path):
    # v23.1.5 lora_gui.py: no count with dataset_config; common_gui.py:1247-1250 sends max_train_steps
    # when != ""; warmup computed from the typed value
    (tmp_path / "ds.toml").write_text("")
    cfg = dict(BASE, dataset_config="ds.toml", train_data_dir="", max_train_steps="500", lr_warmup=10)
    got = gui_launch(cfg, "lora", "v23.1.5", _resolver(tmp_path))
    assert got.total_steps is None and got.reg_factor is None
    assert got.max_train_steps == 500
    assert got.lr_warmup_steps == 50
    cfg["max_train_steps"] = ""
    got = gui_launch(cfg, "lora", "v23.1.5", _resolver(tmp_path))
    assert got.max_train_steps is None and got.lr_warmup_steps is None


def test_v23_sends_max_train_epochs_zero_string(tmp_path):
    # v23.1.5 kohya_gui/common_gui.py:1244 `if not max_train_epochs == ""`: "0" is sent
    _make(tmp_path, {"img/5_a": _imgs(4)})
    got = gui_launch(dict(BASE, max_train_epochs="0"), "lora", "v23.1.5", _resolver(tmp_path))
    assert got.max_train_epochs == 0


def test_v21_ti_crashes_on_bad_folder_name(tmp_path):
    # v21.5.11 textual_inversion_gui.py:438: int(folder.split('_')[0]) outside any try/except
    _make(tmp_path, {"img/5_a": _imgs(2), "img/cat": _imgs(2)})
    got = gui_launch(dict(BASE), "textual_inversion", "v21.5.11", _resolver(tmp_path))
    assert got.refused and "ValueError" in got.refused
    lora = gui_launch(dict(BASE), "lora", "v21.5.11", _resolver(tmp_path))
    assert lora.refused is None and lora.total_steps == 10


def test_bmp_not_counted_Jpg_counted(tmp_path):
    # v21.5.11 lora_gui.py:533 lower_f.endswith(('.jpg', '.jpeg', '.png', '.webp'))
    _make(tmp_path, {"img/2_a": _imgs(3, ".bmp") + ["x.Jpg", "y.JPEG", "z.webp"]})
    got = gui_launch(dict(BASE), "lora", "v21.5.11", _resolver(tmp_path))
    assert got.total_steps == 6


def test_negative_prefix_subtracts(tmp_path):
    # int("-2") is valid: v24.1.7 lora_gui.py:842 counts -2 * images
    _make(tmp_path, {"img/5_a": _imgs(4), "img/-2_b": _imgs(3)})
    got = gui_launch(dict(BASE, max_train_steps=0), "lora", "v24.1.7", _resolver(tmp_path))
    assert got.total_steps == 14


def test_warmup_bankers_rounding(tmp_path):
    # round(float(int(10) * int(25) / 100)) == round(2.5) == 2 (v24.1.7 lora_gui.py:910)
    _make(tmp_path, {"img/25_a": _imgs(1)})
    got = gui_launch(dict(BASE, max_train_steps=0, lr_warmup=10), "lora", "v24.1.7", _resolver(tmp_path))
    assert got.max_train_steps == 25
    assert got.lr_warmup_steps == 2


def test_v21_warmup_not_sent_with_constant(tmp_path):
    # v21.5.11 library/common_gui.py:868-873
    _make(tmp_path, {"img/10_a": _imgs(10)})
    got = gui_launch(dict(BASE, lr_scheduler="constant", lr_warmup=10), "lora", "v21.5.11",
                     _resolver(tmp_path))
    assert got.lr_warmup_steps is None and got.max_train_steps == 100


def test_v21_db_refuses_zero_total(tmp_path):
    # v21.5.11 dreambooth_gui.py:456-462 aborts when total_steps == 0
    _make(tmp_path, {"img/10_a": []})
    got = gui_launch(dict(BASE), "dreambooth", "v21.5.11", _resolver(tmp_path))
    assert got.refused


def test_master_preflight_refuses(tmp_path):
    # master kohya_gui/common_gui.py:1356 ^\d+_.+$ must match at least one subfolder
    _make(tmp_path, {"img/cat": _imgs(2)})
    got = gui_launch(dict(BASE, max_train_steps=0), "lora", "master", _resolver(tmp_path))
    assert got.refused and "preflight" in got.refused


def test_missing_train_dir_keeps_other_fields(tmp_path):
    got = gui_launch(dict(BASE, max_train_steps=0, lr_warmup=10, max_train_epochs=4), "lora",
                     "v26.0.0", _resolver(tmp_path))
    assert got.refused is None and got.total_steps is None
    assert got.max_train_epochs == 4 and got.lr_warmup_steps == 0.1
    assert any("does not exist" in n for n in got.notes)


def test_migrations_v24(tmp_path):
    _make(tmp_path, {"img/1_a": _imgs(1)})
    cfg = dict(BASE, LoRA_type="LoCon", xformers=True, max_train_steps="",
               lora_network_weights="w.safetensors", lr_scheduler_num_cycles="")
    got = gui_launch(cfg, "lora", "v24.1.7", _resolver(tmp_path))
    text = " | ".join(got.migrations)
    assert "LyCORIS/LoCon" in text and "'xformers'" in text and "network_weights" in text
    assert got.max_train_steps == 1  # "" -> 0 -> computed
    assert got.args["lr_scheduler_num_cycles"] == 1  # "" -> 1 on load, epoch fallback unreachable


def test_v24_0_0_missing_max_train_epochs_is_1600(tmp_path):
    # v24.0.0 kohya_gui/class_basic_training.py:101 max_train_epochs value=1600 (until v24.0.4)
    _make(tmp_path, {"img/1_a": _imgs(1)})
    got = gui_launch(dict(BASE), "lora", "v24.0.0", _resolver(tmp_path))
    assert got.max_train_epochs == 1600


def test_toml_drops_zero_and_accelerate(tmp_path):
    _make(tmp_path, {"img/3_a": _imgs(3)})
    cfg = dict(BASE, max_train_steps=0, save_every_n_steps=0, num_processes=2, sdxl=True,
               enable_bucket=False)
    got = gui_launch(cfg, "lora", "v24.1.7", _resolver(tmp_path))
    assert "save_every_n_steps" not in got.args and "enable_bucket" not in got.args
    assert got.args["resolution"] == "512,512"
    assert got.num_processes == 2 and got.script == "sdxl_train_network"
    v21 = gui_launch(dict(BASE, num_processes=2), "lora", "v21.5.11", _resolver(tmp_path))
    assert v21.num_processes is None
