"""KT401-KT406: GUI configs written by older kohya_ss versions (gui_legacy_rules.py)."""
from __future__ import annotations

import json

from helpers import run_cli

from kohya_tune.load import documents
from kohya_tune.check.linter import Linter
from kohya_tune.engine.plan import Settings


def lint(tmp_path, text, name="cfg.json", gui_version=None, select=("KT1", "KT4")):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = Linter(Settings(gui_version=gui_version), select=list(select)).lint_file(str(path))
    return path, result.diagnostics


def codes(diags, code):
    return [d for d in diags if d.code == code]


def gui(**keys) -> str:
    base = {"LoRA_type": "Standard", "network_dim": 16, "output_dir": "out",
            "pretrained_model_name_or_path": "m", "train_data_dir": "img"}
    base.update(keys)
    return json.dumps(dict(sorted(base.items())), indent=2) + "\n"


def fix_text(path, diags) -> str:
    from kohya_tune.edit import rewrite
    from kohya_tune.check.linter import FileResult, collect_fixes

    fixes = collect_fixes([FileResult(str(path), "gui", diags)])
    return rewrite.apply_edits(documents.load(str(path)), fixes[str(path)])


# ---------------------------------------------------------------- KT401
def test_renamed_key_reported_at_its_line_and_fixed_in_sorted_place(tmp_path):
    path, diags = lint(tmp_path, gui(lora_network_weights="w.safetensors"), gui_version="v24.1.7")
    found = codes(diags, "KT401")
    assert len(found) == 1
    line = path.read_text().splitlines().index('  "lora_network_weights": "w.safetensors",') + 1
    assert (found[0].line, found[0].column) == (line, 3)
    assert "network_weights" in found[0].message and found[0].fix is not None
    new = fix_text(path, found)
    data = json.loads(new)
    assert data["network_weights"] == "w.safetensors" and "lora_network_weights" not in data
    assert list(data) == sorted(data)  # the new key went to its sorted place


def test_renamed_key_unsorted_file_keeps_position(tmp_path):
    text = '{\n  "output_dir": "out",\n  "stop_text_encoder_training_pct": 20,\n  "LoRA_type": "Standard",\n  "network_dim": 8\n}\n'
    path, diags = lint(tmp_path, text)
    new = fix_text(path, codes(diags, "KT401"))
    assert new == ('{\n  "output_dir": "out",\n  "stop_text_encoder_training": 20,\n'
                   '  "LoRA_type": "Standard",\n  "network_dim": 8\n}\n')


def test_no_fix_when_new_key_present(tmp_path):
    _, diags = lint(tmp_path, gui(lora_network_weights="a", network_weights="b"))
    found = codes(diags, "KT401")
    assert len(found) == 1 and found[0].fix is None
    assert '"b"' in found[0].message


def test_use_wandb_boolean_true_becomes_log_with(tmp_path):
    path, diags = lint(tmp_path, gui(use_wandb=True), gui_version="v24.1.7")
    found = codes(diags, "KT401")
    assert "boolean true is dropped" in found[0].message
    data = json.loads(fix_text(path, found))
    assert data["log_with"] == "wandb" and "use_wandb" not in data


def test_conv_dims_and_autosave_names(tmp_path):
    _, diags = lint(tmp_path, gui(conv_dims="1,2", conv_alphas="1,1", stop_text_encoder_training_pct=0))
    assert {d.keypath[0] for d in codes(diags, "KT401")} == {"conv_dims", "conv_alphas",
                                                             "stop_text_encoder_training_pct"}


def test_finetune_autosave_names(tmp_path):
    text = json.dumps({"image_folder": "img", "train_dir": "t", "dataset_repeats": "40",
                       "generate_caption_database": True, "generate_image_buckets": True,
                       "output_dir": "o", "pretrained_model_name_or_path": "m"}, indent=2)
    path, diags = lint(tmp_path, text)
    assert documents.load(str(path)).gui_tab == "finetune"
    data = json.loads(fix_text(path, codes(diags, "KT401")))
    assert data["create_caption"] is True and data["create_buckets"] is True
    assert "generate_caption_database" not in data


def test_rename_not_reported_for_an_older_chosen_gui(tmp_path):
    _, diags = lint(tmp_path, gui(lora_network_weights="w"), gui_version="v23.1.5")
    assert not codes(diags, "KT401")


# ---------------------------------------------------------------- KT402
def test_use_8bit_adam_without_optimizer(tmp_path):
    path, diags = lint(tmp_path, gui(use_8bit_adam=True))
    found = codes(diags, "KT402")
    assert len(found) == 1 and '"AdamW8bit"' in found[0].message
    data = json.loads(fix_text(path, found))
    assert data["optimizer"] == "AdamW8bit" and "use_8bit_adam" not in data


def test_use_8bit_adam_false_gives_adamw(tmp_path):
    path, diags = lint(tmp_path, gui(use_8bit_adam=False))
    assert json.loads(fix_text(path, codes(diags, "KT402")))["optimizer"] == "AdamW"


def test_use_8bit_adam_with_optimizer_is_ignored(tmp_path):
    path, diags = lint(tmp_path, gui(use_8bit_adam=True, optimizer="Lion"))
    found = codes(diags, "KT402")
    assert "ignored" in found[0].message
    data = json.loads(fix_text(path, found))
    assert data["optimizer"] == "Lion" and "use_8bit_adam" not in data


# ---------------------------------------------------------------- KT403 / KT404
def test_lora_type_locon_one_finding_with_fix(tmp_path):
    path, diags = lint(tmp_path, gui(LoRA_type="LoCon"))
    assert [d.code for d in diags if d.keypath == ("LoRA_type",)] == ["KT403"]  # not also KT106
    assert json.loads(fix_text(path, diags))["LoRA_type"] == "LyCORIS/LoCon"


def test_boolean_xformers_one_finding(tmp_path):
    path, diags = lint(tmp_path, gui(xformers=False))
    assert [d.code for d in diags if d.keypath == ("xformers",)] == ["KT404"]  # not also KT105
    new = fix_text(path, diags)
    assert '"xformers": "none"' in new


# ---------------------------------------------------------------- KT405
def test_removed_key_needs_a_known_version(tmp_path):
    # a partial preset: nothing says which GUI wrote it
    _, diags = lint(tmp_path, gui(no_token_padding=False))
    assert not codes(diags, "KT405")
    _, diags = lint(tmp_path, gui(no_token_padding=False), gui_version="v24.1.7")
    found = codes(diags, "KT405")
    assert len(found) == 1 and "v22.6.1" in found[0].message
    _, diags = lint(tmp_path, gui(no_token_padding=False), gui_version="v22.6.0")
    assert not codes(diags, "KT405")


def test_removed_key_from_the_files_own_markers(tmp_path):
    _, diags = lint(tmp_path, gui(no_token_padding=False, save_as_bool=False))
    assert len(codes(diags, "KT405")) == 1


def test_removed_key_still_present_in_dreambooth(tmp_path):
    text = json.dumps({"learning_rate_te": 1e-5, "no_token_padding": False, "output_dir": "o",
                       "pretrained_model_name_or_path": "m", "train_data_dir": "img"}, indent=2)
    _, diags = lint(tmp_path, text, gui_version="v24.1.7")
    assert not codes(diags, "KT405")


# ---------------------------------------------------------------- KT406
def test_invalid_number_becomes_zero(tmp_path):
    path, diags = lint(tmp_path, gui(max_train_steps="abc", epoch="", lr_scheduler_num_cycles="x",
                                     max_token_length="long", learning_rate="fast"))
    found = {d.keypath[0]: d for d in codes(diags, "KT406")}
    assert set(found) == {"max_train_steps", "epoch", "lr_scheduler_num_cycles",
                          "max_token_length", "learning_rate"}
    assert "replaces it with 0 " in found["max_train_steps"].message
    assert "with 1 " in found["lr_scheduler_num_cycles"].message
    assert "with 75 " in found["max_token_length"].message
    assert "with 0.0 " in found["learning_rate"].message
    line = path.read_text().splitlines().index('  "max_train_steps": "abc",') + 1
    assert (found["max_train_steps"].line, found["max_train_steps"].column) == (line, 22)
    # one finding per value: KT104/KT105 leave these to KT406
    assert not [d for d in diags if d.code in ("KT104", "KT105") and d.keypath[0] in found]


def test_valid_and_empty_strings_are_not_kt406(tmp_path):
    _, diags = lint(tmp_path, gui(max_train_steps="1600", seed="", max_train_epochs="",
                                  learning_rate="1e-4"))
    assert not codes(diags, "KT406")


def test_fraction_in_int_key_is_truncated(tmp_path):
    _, diags = lint(tmp_path, gui(epoch=2.5))
    assert "truncates it to 2" in codes(diags, "KT406")[0].message


def test_old_gui_does_not_coerce(tmp_path):
    _, diags = lint(tmp_path, gui(max_train_steps="abc"), gui_version="v23.1.5")
    assert not codes(diags, "KT406")


# ---------------------------------------------------------------- CLI
def test_cli_fix_migrates_an_old_config(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(gui(use_8bit_adam=True, xformers=True, LoRA_type="LoCon",
                        lora_network_weights="w"), encoding="utf-8")
    proc = run_cli("lint", "--fix", "--select", "KT4", "--gui-version", "v24.1.7", str(path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(path.read_text())
    assert data["optimizer"] == "AdamW8bit" and data["xformers"] == "xformers"
    assert data["LoRA_type"] == "LyCORIS/LoCon" and data["network_weights"] == "w"
    assert list(data) == sorted(data)


def test_rule_docs_have_examples():
    from kohya_tune.check.linter import all_rules

    for rule in all_rules():
        if rule.code.startswith(("KT4", "KT6")) and rule.code[2] in "46" and len(rule.code) == 5:
            if rule.__module__.endswith(("gui_legacy_rules", "toml_rules")):
                docs = rule.docs()
                assert "Bad" in docs and "Fixed" in docs, rule.code


def test_fix_that_would_date_the_file_to_another_gui_waits_for_gui_version(tmp_path):
    """A file with lora_network_weights fits GUI versions up to v24.0.5 (the rename came in
    v24.0.6): for the GUI its keys date it to, the old key is right, and renaming it would date
    the file to a newer GUI whose analysis differs. Without --gui-version, --fix leaves it and
    says so; named, it renames."""
    path = tmp_path / "cfg.json"
    path.write_text(gui(lora_network_weights="w.safetensors"), encoding="utf-8")
    proc = run_cli("lint", "--fix", "--select", "KT401", str(path), cwd=tmp_path)
    assert "lora_network_weights" in json.loads(path.read_text())
    assert "1 fix not applied: it would date the file to a newer GUI" in proc.stderr
    proc = run_cli("lint", "--fix", "--select", "KT401", "--gui-version", "v25.2.1", str(path), cwd=tmp_path)
    data = json.loads(path.read_text())
    assert "network_weights" in data and "lora_network_weights" not in data, proc.stderr
