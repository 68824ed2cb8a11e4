"""The kohya_ss GUI, release by release: cases built by running the real GUI (tests/data/golden,
`expected.gui` and `options.script` from the GUI oracle), the release data, and focused
behaviours citing the GUI source line of the release where they change."""
from __future__ import annotations

import json
import pathlib

import pytest

from helpers import GOLDEN, materialize, png_bytes, run_in_process
from kohya_tune.engine.gui import GUI_VERSIONS, gui_launch, profile_for
from kohya_tune.versions import gui_releases

KEYS = ("total_steps", "reg_factor", "max_train_steps", "max_train_epochs", "lr_warmup_steps")


def _oracle_cases():
    out = []
    for path in sorted(GOLDEN.glob("gui-*.json")):
        case = json.loads(path.read_text(encoding="utf-8"))
        if "gui" in case.get("expected", {}):
            out.append(pytest.param(case, id=case["id"]))
    return out


ORACLE_CASES = _oracle_cases()


def test_oracle_cases_cover_every_oracle_release():
    tags = {c.values[0]["options"]["gui_version"] for c in ORACLE_CASES}
    assert {"v21.5.11", "v22.6.2", "v23.1.5", "v24.1.7", "v25.2.1", "v25.2.2", "v26.0.0",
            "master"} <= tags
    assert len(ORACLE_CASES) >= 150


@pytest.mark.parametrize("case", ORACLE_CASES)
def test_gui_case_through_cli(case, tmp_path, monkeypatch):
    """What the real GUI computed and sent (load, change events, count, formula, send), and the
    trainer script it launched, through `kohya-tune steps --format json`."""
    materialize(case, tmp_path)
    monkeypatch.chdir(tmp_path)
    result = run_in_process("steps", case["config"], "--format", "json",
                            "--gui-version", case["options"]["gui_version"])
    want = case["expected"]["gui"]
    out = json.loads(result.stdout)
    if "error" in want:
        assert result.exit_code == 1, result.stdout
        assert "refuses" in out["error"] or "GUI" in out["error"]
        return
    assert result.exit_code in (0, 1), result.stdout
    gui = out["gui"]
    for key in KEYS:
        assert gui[key] == want[key], key
        if want[key] is not None:
            assert type(gui[key]) is type(want[key]), key
    assert gui["version"] == case["options"]["gui_version"]
    if gui["refused"] is None:
        assert gui["script"] == case["options"].get("script", "train_network")
    else:  # stopped during the count: nothing sent
        assert result.exit_code == 1 and gui["max_train_steps"] is None


# ----------------------------------------------------------------------------------------------
# releases and versions

def test_every_release_is_its_own_profile():
    tags = gui_releases.release_tags()
    assert tags[0] == "v21.5.0" and tags[-1] == "master" and "v25.2.1" in tags
    assert "V21.8.5" in tags and "23.0.4" in tags          # tags without the usual spelling
    assert "v22.1.5" not in tags                            # same commit as v23.1.5
    for tag in ("v21.5.11", "v21.7.16", "v23.0.15", "v24.0.9", "v25.0.3", "v25.1.2", "v25.2.1"):
        assert profile_for(tag) == tag
    assert GUI_VERSIONS == tags


def test_behaviour_data_is_ordered_and_cited():
    assert gui_releases.check_order() == []


def test_version_between_releases_names_the_profile_used():
    tag, note = gui_releases.canonical("v25.1.5")
    assert tag == "v25.1.2"
    assert note == ("GUI v25.1.5 is not a kohya_ss release (between v25.1.2 and v25.2.0): "
                    "using v25.1.2's behaviour")
    # above every tag there is nothing between two releases: a usage error (issue 11.4)
    with pytest.raises(gui_releases.UnknownGuiVersion, match="no kohya_ss release has that tag"):
        gui_releases.canonical("v99.0.0")
    assert gui_releases.canonical("v22.1.5") == ("v23.1.5", "GUI tag v22.1.5 points at the same "
                                                 "commit as v23.1.5 (it was mis-tagged): using "
                                                 "v23.1.5's behaviour")
    assert gui_releases.canonical("v21.8.5") == ("V21.8.5", None)
    assert gui_releases.canonical("v24.1") == ("v24.1.0", None)
    with pytest.raises(gui_releases.UnknownGuiVersion):
        gui_releases.canonical("v20.9.0")


def test_unknown_version_note_in_steps_output(tmp_path, monkeypatch):
    _make(tmp_path, {"img/5_a": _imgs(4)})
    (tmp_path / "c.json").write_text(json.dumps(dict(BASE, LoRA_type="Standard", max_train_steps=0)))
    monkeypatch.chdir(tmp_path)
    result = run_in_process("steps", "c.json", "--gui-version", "v25.1.5")
    text = result.stdout
    assert result.exit_code == 0, (result.output, result.exception)
    assert "GUI v25.1.5 is not a kohya_ss release (between v25.1.2 and v25.2.0): using " \
           "v25.1.2's behaviour" in text
    assert text.splitlines()[0].startswith("c.json: GUI v25.1.2 (lora tab) -> train_network.py")


def test_sd_scripts_each_release_runs():
    # v21.8.8 bundles the SDXL branch of sd-scripts (1161a5c6, after v0.6.5, merged as v0.7.0)
    info = gui_releases.sd_scripts_of("v21.8.8")
    assert (info["ships"], info["commit"], info["tag"]) == ("bundled", "1161a5c6da", "v0.6.5")
    assert "sdxl_train_network" in info["scripts"]
    # submodules: v23.1.5 bfb352bc, v24.1.7 b8896aad, v25.2.2 2e0fcc50 (v0.9.1 + 566 commits)
    assert gui_releases.sd_scripts_of("v23.1.5")["commit"] == "bfb352bc43"
    assert gui_releases.sd_scripts_of("v24.1.7")["tag"] == "v0.8.7"
    assert gui_releases.sd_scripts_of("v25.2.2")["tag"] == "v0.9.1"
    assert gui_releases.sd_scripts_of("v26.0.0")["tag"] == "v0.11.1"


# ----------------------------------------------------------------------------------------------
# focused behaviours, on folders built here

def _make(root: pathlib.Path, folders: dict[str, list[str]]):
    for folder, files in folders.items():
        d = root / folder
        d.mkdir(parents=True, exist_ok=True)
        for f in files:
            (d / f).write_bytes(png_bytes(512, 512))


def _imgs(n, ext=".png"):
    return [f"{i:04d}{ext}" for i in range(n)]


def _resolver(root: pathlib.Path):
    def resolve(s: str):
        p = pathlib.Path(s)
        p = p if p.is_absolute() else root / p
        return p if p.is_dir() else None
    return resolve


BASE = {"train_data_dir": "img", "reg_data_dir": "", "train_batch_size": 1,
        "gradient_accumulation_steps": 1, "epoch": 1, "lr_scheduler": "cosine",
        "lr_warmup": 0, "max_resolution": "512,512"}


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


def test_textbox_zero_computes_v22(tmp_path):
    # v22.6.2 lora_gui.py:709 `if max_train_steps == "" or max_train_steps == "0":` computes; the
    # Textbox turns a saved 0 into "0" (Gradio Textbox.postprocess str())
    _make(tmp_path, {"img/5_a": _imgs(4)})
    for typed in ("0", 0, ""):
        got = gui_launch(dict(BASE, max_train_steps=typed, epoch=3), "lora", "v22.6.2",
                         _resolver(tmp_path))
        assert got.max_train_steps == 60, typed
    got = gui_launch(dict(BASE, max_train_steps="300"), "lora", "v22.6.2", _resolver(tmp_path))
    assert got.max_train_steps == 300  # passed as typed


def test_no_max_train_steps_widget_before_v21_8_8(tmp_path):
    # v21.8.7 lora_gui.py computes always; v21.8.8 adds the Textbox (class_basic_training.py)
    _make(tmp_path, {"img/5_a": _imgs(4)})
    cfg = dict(BASE, max_train_steps="300", epoch=2)
    assert gui_launch(cfg, "lora", "v21.8.7", _resolver(tmp_path)).max_train_steps == 40
    assert gui_launch(cfg, "lora", "v21.8.8", _resolver(tmp_path)).max_train_steps == 300


def test_reg_factor_and_grad_acc_arrive_in_lora(tmp_path):
    # LoRA: no reg factor before v21.5.8 (lora_gui.py `# * int(reg_factor)`), no
    # gradient_accumulation_steps in the formula before v21.5.10
    _make(tmp_path, {"img/5_a": _imgs(4), "reg/1_r": _imgs(2)})
    cfg = dict(BASE, reg_data_dir="reg", gradient_accumulation_steps=2, epoch=2)
    assert gui_launch(cfg, "lora", "v21.5.7", _resolver(tmp_path)).max_train_steps == 40
    assert gui_launch(cfg, "lora", "v21.5.8", _resolver(tmp_path)).max_train_steps == 80
    assert gui_launch(cfg, "lora", "v21.5.10", _resolver(tmp_path)).max_train_steps == 40
    # DreamBooth had the reg factor from the start (v21.5.0 dreambooth_gui.py reg_factor = 2)
    assert gui_launch(cfg, "dreambooth", "v21.5.7", _resolver(tmp_path)).max_train_steps == 80


def test_v23_dataset_config_with_typed_value(tmp_path):
    # v23.1.5 lora_gui.py: no count with dataset_config; common_gui.py sends max_train_steps
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


def test_v23_1_sends_max_train_epochs_zero_string(tmp_path):
    # v23.1.0 kohya_gui/common_gui.py `if not max_train_epochs == ""`: "0" is sent; v23.0.15
    # still sends it only when truthy (`if max_train_epochs and not max_train_epochs == ""`), and
    # the string "0" is truthy
    _make(tmp_path, {"img/5_a": _imgs(4)})
    for tag in ("v23.0.15", "v23.1.5"):
        got = gui_launch(dict(BASE, max_train_epochs="0"), "lora", tag, _resolver(tmp_path))
        assert got.max_train_epochs == 0, tag
        got = gui_launch(dict(BASE, max_train_epochs=""), "lora", tag, _resolver(tmp_path))
        assert got.max_train_epochs is None, tag


def test_ti_crashes_on_bad_folder_name_until_v24(tmp_path):
    # textual_inversion_gui.py: int(folder.split('_')[0]) outside any try/except up to v23.1.5;
    # v24.0.0 textual_inversion_gui.py wraps it in try/except ValueError
    _make(tmp_path, {"img/5_a": _imgs(2), "img/cat": _imgs(2)})
    for tag in ("v21.5.11", "v23.1.5"):
        got = gui_launch(dict(BASE), "textual_inversion", tag, _resolver(tmp_path))
        assert got.refused and "ValueError" in got.refused, tag
    got = gui_launch(dict(BASE, max_train_steps=0), "textual_inversion", "v24.0.0", _resolver(tmp_path))
    assert got.refused is None and got.total_steps == 10
    # LoRA crashed the same way before v21.5.5 (lora_gui.py gained try/except ValueError there)
    assert "ValueError" in gui_launch(dict(BASE), "lora", "v21.5.4", _resolver(tmp_path)).refused
    assert gui_launch(dict(BASE), "lora", "v21.5.5", _resolver(tmp_path)).total_steps == 10


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


def test_constant_scheduler_and_warmup_per_release(tmp_path):
    _make(tmp_path, {"img/10_a": _imgs(10)})
    cfg = dict(BASE, lr_scheduler="constant", lr_warmup=10, max_train_steps=0, lr_warmup_steps=5)
    # v21-v23: computed, then not sent (library/common_gui.py "Can't use LR warmup with LR
    # Scheduler constant... ignoring...")
    got = gui_launch(dict(cfg, max_train_steps=""), "lora", "v23.1.5", _resolver(tmp_path))
    assert got.lr_warmup_steps is None and got.max_train_steps == 100
    # v24: the lr_scheduler change event on load zeroes the slider (class_basic_training.py
    # lr_scheduler_changed): nothing to send
    got = gui_launch(cfg, "lora", "v24.1.7", _resolver(tmp_path))
    assert got.lr_warmup_steps is None and any("lr_scheduler_changed" in e for e in got.events)
    # v25: the event zeroes lr_warmup_steps as well
    got = gui_launch(cfg, "lora", "v25.2.2", _resolver(tmp_path))
    assert got.lr_warmup_steps is None and len(got.events) == 2
    # the fine-tune tab shows 'constant' already: no change event, the warm-up is sent
    _make(tmp_path, {"ft": _imgs(10)})
    ft = {"image_folder": "ft", "train_dir": "t", "dataset_repeats": 1, "lr_scheduler": "constant",
          "lr_warmup": 10, "max_train_steps": 0, "epoch": 1, "train_batch_size": 1}
    got = gui_launch(ft, "finetune", "v24.1.7", _resolver(tmp_path))
    assert got.events == [] and got.lr_warmup_steps == 1


def test_model_picker_ticks_sdxl(tmp_path):
    # v23.0.0+ pretrained_model_name_or_path.change -> set_pretrained_model_name_or_path_input:
    # a preset SDXL name ticks SDXL, a preset v1 name unticks it
    _make(tmp_path, {"img/5_a": _imgs(2)})
    xl = dict(BASE, max_train_steps=0, sdxl=False,
              pretrained_model_name_or_path="stabilityai/stable-diffusion-xl-base-1.0")
    assert gui_launch(xl, "lora", "v24.1.7", _resolver(tmp_path)).script == "sdxl_train_network"
    v1 = dict(xl, sdxl=True, pretrained_model_name_or_path="CompVis/stable-diffusion-v1-4")
    assert gui_launch(v1, "lora", "v24.1.7", _resolver(tmp_path)).script == "train_network"
    # the default name shows already: no event, the checkbox decides
    same = dict(xl, sdxl=True, pretrained_model_name_or_path="runwayml/stable-diffusion-v1-5")
    assert gui_launch(same, "lora", "v24.1.7", _resolver(tmp_path)).script == "sdxl_train_network"
    # v21.8-v22: the quick-pick model_list drives it (update_my_data keeps a preset model_list)
    xl22 = dict(xl, model_list="stabilityai/stable-diffusion-xl-base-1.0", max_train_steps="")
    assert gui_launch(xl22, "lora", "v22.6.2", _resolver(tmp_path)).script == "sdxl_train_network"
    assert gui_launch(dict(xl22, model_list="custom"), "lora", "v22.6.2",
                      _resolver(tmp_path)).script == "train_network"


def test_model_picker_reads_safetensors_from_v25(tmp_path):
    # v25.0.0 common_gui.py: a .safetensors path is read by SDModelType (sd_modeltype.py) and the
    # v2/SDXL/SD3/FLUX boxes follow the file: an unreadable file unticks SDXL, an SDXL file
    # ("conditioner." tensors) ticks it; a file that is not here keeps the saved boxes (noted)
    _make(tmp_path, {"img/5_a": _imgs(2)})
    cfg = dict(BASE, max_train_steps=0, sdxl=True, pretrained_model_name_or_path="m/x.safetensors")

    def files(text):
        p = tmp_path / text
        return p if p.is_file() else None

    got = gui_launch(cfg, "lora", "v25.2.2", _resolver(tmp_path), files)
    assert got.script == "sdxl_train_network" and "the file is not here" in got.events[0]
    (tmp_path / "m").mkdir()
    (tmp_path / "m/x.safetensors").write_bytes(b"")
    got = gui_launch(cfg, "lora", "v25.2.2", _resolver(tmp_path), files)
    assert got.script == "train_network" and "SDModelType reads no model type" in got.events[0]
    assert gui_launch(cfg, "lora", "v24.1.7", _resolver(tmp_path), files).script == "sdxl_train_network"
    header = json.dumps({"conditioner.embedders.0.w": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}})
    (tmp_path / "m/x.safetensors").write_bytes(len(header).to_bytes(8, "little") + header.encode() + b"\0\0")
    assert gui_launch(cfg, "lora", "v25.2.2", _resolver(tmp_path), files).script == "sdxl_train_network"


def test_preflight_v21_7_7_and_master(tmp_path):
    # v21.7.7 common_gui.py verify_image_folder_pattern: every entry must be a N_name folder;
    # v21.7.8 ignores dot-files; v21.7.9 never refuses ("temporarily set to true"); master
    # refuses only when no subfolder matches ^\d+_.+$
    _make(tmp_path, {"img/5_a": _imgs(2)})
    (tmp_path / "img/.DS_Store").write_text("")
    assert "proper name patterns" in gui_launch(dict(BASE), "lora", "v21.7.7", _resolver(tmp_path)).refused
    assert gui_launch(dict(BASE), "lora", "v21.7.8", _resolver(tmp_path)).refused is None
    (tmp_path / "img/notes.txt").write_text("")
    assert gui_launch(dict(BASE), "lora", "v21.7.8", _resolver(tmp_path)).refused
    assert gui_launch(dict(BASE), "lora", "v21.7.9", _resolver(tmp_path)).refused is None
    _make(tmp_path, {"cats/cat": _imgs(2)})
    got = gui_launch(dict(BASE, train_data_dir="cats", max_train_steps=0), "lora", "master",
                     _resolver(tmp_path))
    assert got.refused and "preflight" in got.refused
    assert gui_launch(dict(BASE, max_train_steps=0), "lora", "master", _resolver(tmp_path)).refused is None


def test_v21_db_refuses_zero_total(tmp_path):
    # v21.5.11 dreambooth_gui.py:456-462 aborts when total_steps == 0
    _make(tmp_path, {"img/10_a": []})
    got = gui_launch(dict(BASE), "dreambooth", "v21.5.11", _resolver(tmp_path))
    assert got.refused


def test_null_pushed_in_dreambooth_missing_in_lora(tmp_path):
    # lora_gui.py v21.8.0+ `json_value if json_value is not None else value` keeps the widget;
    # dreambooth_gui.py (every release) pushes None into it: Number(None) reaches train_model
    _make(tmp_path, {"img/5_a": _imgs(2)})
    cfg = dict(BASE, epoch=None, max_train_steps=0)
    assert gui_launch(cfg, "lora", "v24.1.7", _resolver(tmp_path)).max_train_steps == 10
    assert "TypeError" in gui_launch(cfg, "dreambooth", "v24.1.7", _resolver(tmp_path)).refused


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
    # v24.0.5-v24.0.7: an invalid max_train_steps became 1600 (common_gui.py int(1600))
    assert gui_launch(cfg, "lora", "v24.0.5", _resolver(tmp_path)).max_train_steps == 1600
    assert gui_launch(cfg, "lora", "v24.0.8", _resolver(tmp_path)).max_train_steps == 1


def test_v24_0_0_missing_max_train_epochs_is_1600(tmp_path):
    # v24.0.0 kohya_gui/class_basic_training.py max_train_epochs value=1600 (until v24.0.4)
    _make(tmp_path, {"img/1_a": _imgs(1)})
    got = gui_launch(dict(BASE), "lora", "v24.0.0", _resolver(tmp_path))
    assert got.max_train_epochs == 1600


def test_v24_0_0_toml_keeps_zero_warmup(tmp_path):
    # v24.0.0-v24.0.3 lora_gui.py keeps every value but "" and False (0 stays); v24.0.4 drops
    # "", False and None (0 == False)
    _make(tmp_path, {"img/3_a": _imgs(3)})
    cfg = dict(BASE, max_train_steps=0, max_train_epochs=0, lr_warmup=0)
    assert gui_launch(cfg, "lora", "v24.0.3", _resolver(tmp_path)).args["lr_warmup_steps"] == 0
    assert "lr_warmup_steps" not in gui_launch(cfg, "lora", "v24.0.4", _resolver(tmp_path)).args


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


def test_gui_version_in_header_and_body(tmp_path, monkeypatch):
    _make(tmp_path, {"img/5_a": _imgs(4)})
    (tmp_path / "c.json").write_text(json.dumps(dict(BASE, LoRA_type="Standard", sdxl=True,
                                                     max_train_steps="")))
    monkeypatch.chdir(tmp_path)
    text = run_in_process("steps", "c.json", "--gui-version", "v21.8.8").stdout
    lines = text.splitlines()
    assert lines[0] == ("c.json: GUI v21.8.8 (lora tab) -> sdxl_train_network.py, sd-scripts v0.6.5")
    assert "GUI v21.8.8 (lora tab; --gui-version v21.8.8):" in lines
    assert "  launches sdxl_train_network.py" in lines


def test_model_checkboxes_against_lora_type(tmp_path):
    # v25.0.0 kohya_gui/lora_gui.py:977: the FLUX.1 checkbox needs LoRA_type Flux1, Flux1 OFT or a
    # LyCORIS type; v26.0.0 kohya_gui/lora_gui.py:1316 LoRA_type Lumina needs its checkbox, :1323
    # Kohya LoHa/LoKr need SDXL or Anima; v24.1.7 has no such check (and no FLUX.1 checkbox)
    _make(tmp_path, {"img/5_a": _imgs(2)})
    flux = dict(BASE, max_train_steps=0, flux1_checkbox=True, LoRA_type="Standard")
    got = gui_launch(flux, "lora", "master", _resolver(tmp_path))
    assert "LoRA type must be set to 'Flux1'" in got.refused and got.total_steps is None
    assert "v26.0.0 kohya_gui/lora_gui.py:1280" in got.refused
    assert "v25.0.0 kohya_gui/lora_gui.py:977" in gui_launch(flux, "lora", "v25.0.3", _resolver(tmp_path)).refused
    for kind in ("Flux1", "LyCORIS/LoCon"):
        got = gui_launch(dict(flux, LoRA_type=kind), "lora", "master", _resolver(tmp_path))
        assert got.refused is None and got.script == "flux_train_network", kind
    loha = dict(BASE, max_train_steps=0, LoRA_type="Kohya LoHa")
    assert "requires SDXL or Anima" in gui_launch(loha, "lora", "master", _resolver(tmp_path)).refused
    assert gui_launch(loha, "lora", "v25.2.2", _resolver(tmp_path)).refused is None
    got = gui_launch(dict(loha, sdxl=True), "lora", "master", _resolver(tmp_path))
    assert got.refused is None and got.script == "sdxl_train_network"
    assert "not supported with Flux1" in gui_launch(dict(loha, sdxl=True, sd3_checkbox=True), "lora",
                                                    "master", _resolver(tmp_path)).refused
    # the FLUX.1 check comes first (lora_gui.py:1461)
    assert "LoRA type must be set to 'Flux1'" in gui_launch(dict(loha, sdxl=True, flux1_checkbox=True),
                                                            "lora", "master", _resolver(tmp_path)).refused
    lumina = dict(BASE, max_train_steps=0, LoRA_type="Lumina")
    assert "Lumina model checkbox must be checked" in gui_launch(lumina, "lora", "master",
                                                                 _resolver(tmp_path)).refused
    got = gui_launch(dict(lumina, lumina_checkbox=True), "lora", "master", _resolver(tmp_path))
    assert got.refused is None and got.script == "lumina_train_network"
    # the other tabs have no LoRA type
    assert gui_launch(flux, "dreambooth", "master", _resolver(tmp_path)).refused is None


def test_dataset_config_warmup_steps_master_and_v25(tmp_path):
    # master kohya_gui/lora_gui.py:1622 dataset_config branch: max_train_steps > 0 keeps a set
    # lr_warmup_steps (:1649 converts the percent only without one); else lr_warmup_steps = 0
    # (:1654), and resolve_lr_warmup_steps (:1747) then sends the percent as a ratio.
    # v25.2.2 kohya_gui/lora_gui.py:1107 converts the percent whenever max_train_steps > 0.
    (tmp_path / "ds.toml").write_text("")
    cfg = dict(BASE, dataset_config="ds.toml", train_data_dir="", lr_warmup=10, lr_warmup_steps=7)
    assert gui_launch(dict(cfg, max_train_steps=0), "lora", "master", _resolver(tmp_path)).lr_warmup_steps == 0.1
    assert gui_launch(dict(cfg, max_train_steps=400), "lora", "master", _resolver(tmp_path)).lr_warmup_steps == 7
    assert gui_launch(dict(cfg, max_train_steps=0), "lora", "v25.2.2", _resolver(tmp_path)).lr_warmup_steps == 0.1
    assert gui_launch(dict(cfg, max_train_steps=400), "lora", "v25.2.2", _resolver(tmp_path)).lr_warmup_steps == 40


def test_zero_warmup_sent_per_tab(tmp_path):
    # config_toml_data filters: LoRA `value not in ["", False, None]` drops 0 (0 == False; master
    # kohya_gui/lora_gui.py:2565); DreamBooth from v25.0.0 (dreambooth_gui.py:1090) and fine-tune
    # from v26.0.0 (finetune_gui.py:1449) filter by identity with False and keep it
    _make(tmp_path, {"img/5_a": _imgs(2), "ft": _imgs(2)})
    cfg = dict(BASE, max_train_steps=0, lr_warmup=0)
    ft = {"image_folder": "ft", "train_dir": "t", "dataset_repeats": 1, "lr_warmup": 0,
          "max_train_steps": 0, "epoch": 1, "train_batch_size": 1}
    want = {("lora", "master"): None, ("dreambooth", "v24.1.7"): None, ("dreambooth", "v25.0.3"): 0,
            ("dreambooth", "master"): 0, ("finetune", "v25.2.2"): None, ("finetune", "v26.0.0"): 0,
            ("finetune", "master"): 0}
    for (tab, tag), value in want.items():
        got = gui_launch(ft if tab == "finetune" else cfg, tab, tag, _resolver(tmp_path))
        assert got.refused is None and got.lr_warmup_steps == value, (tab, tag)
