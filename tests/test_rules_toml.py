"""KT601-KT605: how sd-scripts reads TOML files (toml_rules.py)."""
from __future__ import annotations

import pytest
import toml

from helpers import run_cli

from kohya_tune.load import documents
from kohya_tune.edit import rewrite
from kohya_tune.check.linter import FileResult, Linter, collect_fixes
from kohya_tune.engine.plan import Settings

HEAD = 'pretrained_model_name_or_path = "m"\noutput_dir = "out"\nresolution = "512,512"\n'


def lint(tmp_path, text, name="args.toml", script=None, select=("KT1", "KT6")):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = Linter(Settings(script=script), select=list(select)).lint_file(str(path))
    assert result.kind is not None, result
    return path, result.diagnostics


def codes(diags, code):
    return [d for d in diags if d.code == code]


def line_of(text, needle):
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# ---------------------------------------------------------------- KT601
def test_quoted_numbers_one_finding_each_with_fix(tmp_path):
    text = HEAD + 'max_train_steps = "1600"\nlearning_rate = "1e-4"\nnetwork_alpha = "8"\n'
    path, diags = lint(tmp_path, text)
    found = {d.keypath[-1]: d for d in codes(diags, "KT601")}
    assert set(found) == {"max_train_steps", "learning_rate", "network_alpha"}
    assert found["max_train_steps"].severity == "error"
    assert (found["max_train_steps"].line, found["max_train_steps"].column) == (4, 19)
    assert not codes(diags, "KT104")  # KT104 leaves quoted numbers to KT601
    fixes = collect_fixes([FileResult(str(path), "args", diags)])
    new = rewrite.apply_edits(documents.load(str(path)), fixes[str(path)])
    assert "max_train_steps = 1600\n" in new and "network_alpha = 8.0\n" in new
    data = toml.loads(new)
    assert data["learning_rate"] == pytest.approx(1e-4)


def test_quoted_number_in_a_section(tmp_path):
    text = HEAD + '[training]\nmax_train_epochs = "10"\n'
    _, diags = lint(tmp_path, text)
    assert [d.keypath for d in codes(diags, "KT601")] == [("training", "max_train_epochs")]


def test_not_a_number_stays_kt104(tmp_path):
    text = HEAD + 'max_train_steps = "many"\n'
    _, diags = lint(tmp_path, text)
    assert not codes(diags, "KT601") and len(codes(diags, "KT104")) == 1


def test_string_option_is_not_quoted_number(tmp_path):
    text = HEAD + 'output_name = "1600"\n'
    _, diags = lint(tmp_path, text)
    assert not codes(diags, "KT601")


# ---------------------------------------------------------------- KT602
@pytest.mark.parametrize("snippet", [
    'network_args = ["conv_dim=4", 4]',
    'lr_scheduler_args = [1, 0.5]',
    'optimizer_args = [true, 1]',
    "output_name = '''x''''",
])
def test_toml_parser_rejects(tmp_path, snippet):
    text = HEAD + snippet + "\nmax_train_epochs = 1\n"
    with pytest.raises(toml.TomlDecodeError):
        toml.loads(text)
    _, diags = lint(tmp_path, text, select=("KT602",))
    found = codes(diags, "KT602")
    assert len(found) == 1 and found[0].severity == "error"
    assert "toml 0.10.2" in found[0].message
    if "homogeneous" in found[0].message:
        assert found[0].line == 4


def test_toml_parser_rejects_in_a_dataset_config(tmp_path):
    text = '[general]\nflip_aug = true\n\n[[datasets]]\nresolution = [512, 512.0]\n\n  [[datasets.subsets]]\n  image_dir = "img"\n'
    _, diags = lint(tmp_path, text, name="dataset.toml", select=("KT602",))
    assert [d.line for d in codes(diags, "KT602")] == [5]


def test_toml_parser_reads_differently(tmp_path):
    text = HEAD + "max_train_epochs . x = 1\n"
    assert "max_train_epochs " in toml.loads(text)  # the key keeps its trailing space
    _, diags = lint(tmp_path, text, select=("KT602",))
    assert "differently" in codes(diags, "KT602")[0].message


def test_valid_for_both_parsers(tmp_path):
    _, diags = lint(tmp_path, HEAD + 'network_args = ["a=1", "b=2"]\nmax_train_epochs = 1\n',
                    select=("KT602",))
    assert not diags


# ---------------------------------------------------------------- KT603 / KT604
def test_section_key_override_points_at_the_losers(tmp_path):
    text = HEAD + 'train_batch_size = 1\n\n[a]\ntrain_batch_size = 2\n\n[b]\ntrain_batch_size = 4\n'
    _, diags = lint(tmp_path, text)
    found = codes(diags, "KT603")
    assert [d.line for d in found] == [4, 7]
    assert all("train_batch_size = 4 in [b]" in d.message for d in found)
    assert "at the top level" in found[0].message


def test_nested_section_ignored(tmp_path):
    text = HEAD + '[training]\nmax_train_epochs = 10\n\n[training.optimizer]\nlearning_rate = 1e-4\n'
    _, diags = lint(tmp_path, text)
    found = codes(diags, "KT604")
    assert len(found) == 1 and found[0].line == line_of(text, "[training.optimizer]")
    assert "learning_rate" in found[0].message
    assert not codes(diags, "KT104")  # the nested table is KT604's


# ---------------------------------------------------------------- KT605
def test_option_of_another_script(tmp_path):
    text = HEAD + "cache_text_encoder_outputs = true\nnetwork_dim = 8\n"
    _, diags = lint(tmp_path, text)
    found = codes(diags, "KT605")
    assert [d.keypath for d in found] == [("cache_text_encoder_outputs",)]
    assert found[0].severity == "info" and "sdxl_train_network" in found[0].message
    _, diags = lint(tmp_path, text, script="sdxl_train_network")
    assert not codes(diags, "KT605")
    _, diags = lint(tmp_path, text, script="sdxl_train")
    assert [d.keypath for d in codes(diags, "KT605")] == [("network_dim",)]


def test_cli_exit_codes_and_ignore_comment(tmp_path):
    path = tmp_path / "args.toml"
    path.write_text(HEAD + 'max_train_steps = "1600"\n', encoding="utf-8")
    proc = run_cli("lint", "--select", "KT6", str(path), cwd=tmp_path)
    assert proc.returncode == 1 and f"{path}:4:19: KT601 [*]" in proc.stdout
    path.write_text(HEAD + 'max_train_steps = "1600"  # kohya-tune: ignore[KT601]\n', encoding="utf-8")
    proc = run_cli("lint", "--select", "KT6", str(path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout
