"""[tool.kohya-tune] in pyproject.toml and .kohya-tune.toml, and `# kohya-tune: ignore[...]`."""
from __future__ import annotations

import json

import pytest

from helpers import make_images, run_cli

ARGS = ('pretrained_model_name_or_path = "m"\noutput_dir = "out"\nresolution = "512,512"\n'
        'max_train_epochs = 1\nmax_train_epoch = 10\n')
GUI = json.dumps({"LoRA_type": "Standard", "network_dim": 8, "no_token_padding": False,
                  "output_dir": "o", "pretrained_model_name_or_path": "m"}, indent=2) + "\n"
DATASET = '[[datasets]]\nresolution = 512\nvalidation_split = 0.1\n\n  [[datasets.subsets]]\n  image_dir = "img"\n'


def write_settings(folder, style: str, body: str):
    if style == "pyproject":
        (folder / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.kohya-tune]\n' + body)
    else:
        (folder / ".kohya-tune.toml").write_text(body)


def codes(proc):
    return [d["code"] for d in json.loads(proc.stdout)]


def lint(folder, *paths, extra=()):
    return run_cli("lint", "--output-format", "json", *extra, *map(str, paths), cwd=folder)


STYLES = ["pyproject", "dotfile"]


@pytest.mark.parametrize("style", STYLES)
def test_select_and_ignore(tmp_path, style):
    cfg = tmp_path / "args.toml"
    cfg.write_text(ARGS)
    assert "KT101" in codes(lint(tmp_path, cfg))
    write_settings(tmp_path, style, 'ignore = ["KT101"]\n')
    assert "KT101" not in codes(lint(tmp_path, cfg))
    write_settings(tmp_path, style, 'select = ["KT6"]\n')
    assert all(c.startswith("KT6") for c in codes(lint(tmp_path, cfg)))
    # the command line adds to the settings' ignore list
    write_settings(tmp_path, style, 'select = ["KT1"]\n')
    assert codes(lint(tmp_path, cfg, extra=["--ignore", "KT101"])) == []


@pytest.mark.parametrize("style", STYLES)
def test_per_file_ignores(tmp_path, style):
    (tmp_path / "a.toml").write_text(ARGS)
    (tmp_path / "b.toml").write_text(ARGS)
    write_settings(tmp_path, style, '[per-file-ignores]\n"a.toml" = ["KT101"]\n' if style == "dotfile"
                   else '"per-file-ignores" = { "a.toml" = ["KT101"] }\n')
    diags = json.loads(lint(tmp_path, tmp_path / "a.toml", tmp_path / "b.toml").stdout)
    files = {d["file"].rsplit("/", 1)[-1] for d in diags if d["code"] == "KT101"}
    assert files == {"b.toml"}


@pytest.mark.parametrize("style", STYLES)
def test_sd_scripts_version(tmp_path, style):
    cfg = tmp_path / "dataset.toml"
    cfg.write_text(DATASET)
    assert "KT107" not in codes(lint(tmp_path, cfg, extra=["--select", "KT107"]))
    write_settings(tmp_path, style, 'sd-scripts = "v0.6.5"\n')
    proc = lint(tmp_path, cfg, extra=["--select", "KT107"])
    assert codes(proc) == ["KT107"] and proc.returncode == 1
    # the command line wins over the settings
    assert codes(lint(tmp_path, cfg, extra=["--select", "KT107", "--sd-scripts", "v0.10.1"])) == []


@pytest.mark.parametrize("style", STYLES)
def test_gui_version(tmp_path, style):
    cfg = tmp_path / "lora.json"
    cfg.write_text(GUI)
    assert "KT405" not in codes(lint(tmp_path, cfg, extra=["--select", "KT405"]))
    write_settings(tmp_path, style, 'gui-version = "v24.1.7"\n')
    assert codes(lint(tmp_path, cfg, extra=["--select", "KT405"])) == ["KT405"]


@pytest.mark.parametrize("style", STYLES)
def test_num_processes_and_path_map(tmp_path, style):
    make_images(tmp_path / "data" / "img" / "10_dog", [[512, 512, 4]])
    cfg = tmp_path / "args.toml"
    cfg.write_text('pretrained_model_name_or_path = "m"\ntrain_data_dir = "D:/train/img"\n'
                   'resolution = "512,512"\nmax_train_epochs = 2\noutput_dir = "o"\n')
    proc = run_cli("lint", str(cfg), cwd=tmp_path)
    assert "dataset folder not found here: 'D:/train/img'" in proc.stderr
    write_settings(tmp_path, style, 'num-processes = 2\npath-map = ["D:/train=data"]\n')
    proc = run_cli("lint", str(cfg), cwd=tmp_path)
    assert "not found here" not in proc.stderr, proc.stderr
    steps = run_cli("steps", "--format", "json", str(cfg), cwd=tmp_path)
    assert steps.returncode == 0, steps.stderr
    report = json.loads(steps.stdout)["trainer"]
    assert report["num_processes"] == 2 and report["num_train_images"] == 40
    assert report["max_train_steps"] == 40  # 40 batches / 2 processes * 2 epochs


@pytest.mark.parametrize("style", STYLES)
def test_unknown_setting_exits_2_naming_the_file(tmp_path, style):
    cfg = tmp_path / "args.toml"
    cfg.write_text(ARGS)
    write_settings(tmp_path, style, 'selcet = ["KT1"]\n')
    proc = run_cli("lint", str(cfg), cwd=tmp_path)
    assert proc.returncode == 2
    name = "pyproject.toml" if style == "pyproject" else ".kohya-tune.toml"
    assert name in proc.stderr and "selcet" in proc.stderr


def test_settings_found_in_a_parent_folder(tmp_path):
    write_settings(tmp_path, "pyproject", 'ignore = ["KT101"]\n')
    sub = tmp_path / "configs"
    sub.mkdir()
    cfg = sub / "args.toml"
    cfg.write_text(ARGS)
    assert "KT101" not in codes(lint(sub, cfg))


def test_pyproject_without_the_section_is_passed_over(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    cfg = tmp_path / "args.toml"
    cfg.write_text(ARGS)
    proc = lint(tmp_path, cfg)
    assert proc.returncode == 0 and "KT101" in codes(proc)


def test_ignore_comment_on_a_toml_line(tmp_path):
    cfg = tmp_path / "args.toml"
    cfg.write_text(ARGS.replace("max_train_epoch = 10\n", "max_train_epoch = 10  # kohya-tune: ignore[KT101]\n"))
    assert "KT101" not in codes(lint(tmp_path, cfg))
    cfg.write_text(ARGS.replace("max_train_epoch = 10\n", "max_train_epoch = 10  # kohya-tune: ignore[KT601]\n"))
    assert "KT101" in codes(lint(tmp_path, cfg))  # another code: still reported
    cfg.write_text(ARGS.replace("max_train_epoch = 10\n", "max_train_epoch = 10  # kohya-tune: ignore\n"))
    assert "KT101" not in codes(lint(tmp_path, cfg))


def test_each_file_gets_its_nearest_settings(tmp_path):
    # ruff: the settings nearest to each file, whatever the current folder
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
        (folder / "args.toml").write_text(ARGS)
    write_settings(a, "dotfile", 'ignore = ["KT101"]\n')
    write_settings(b, "pyproject", 'strict = true\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = run_cli("lint", "--output-format", "json", str(a / "args.toml"), str(b / "args.toml"),
                   cwd=elsewhere)
    found = {(d["file"].split("/")[-2], d["code"]) for d in json.loads(proc.stdout)}
    assert ("a", "KT101") not in found and ("b", "KT101") in found
    assert proc.returncode == 1  # b's settings make its warning fail


def test_per_file_ignores_are_relative_to_the_settings_file(tmp_path):
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "x.toml").write_text(ARGS)
    (tmp_path / "x.toml").write_text(ARGS)
    write_settings(tmp_path, "pyproject", '[tool.kohya-tune.per-file-ignores]\n"presets/*.toml" = ["KT101"]\n')
    sub = tmp_path / "presets"
    proc = run_cli("lint", "--output-format", "json", "x.toml", "../x.toml", cwd=sub)
    found = {(d["file"], d["code"]) for d in json.loads(proc.stdout)}
    assert ("x.toml", "KT101") not in found and ("../x.toml", "KT101") in found


def test_unknown_gui_version_is_a_usage_error(tmp_path):
    (tmp_path / "c.json").write_text(GUI)
    proc = run_cli("lint", "--gui-version", "v99", "c.json", cwd=tmp_path)
    assert proc.returncode == 2 and "no kohya_ss release has that tag" in proc.stderr
    assert "the newest kohya-tune knows is v26.0.0" in proc.stderr
    proc = run_cli("lint", "--gui-version", "v21.0.0", "c.json", cwd=tmp_path)
    assert proc.returncode == 2 and "older than the oldest release" in proc.stderr
    proc = run_cli("steps", "--gui-version", "abc", "c.json", cwd=tmp_path)
    assert proc.returncode == 2 and "not a kohya_ss GUI version: 'abc'" in proc.stderr
    # between two releases: the older one's behaviour, said (tests/test_gui_launch.py)
    proc = run_cli("steps", "--gui-version", "v24.1.99", "c.json", cwd=tmp_path)
    assert "GUI v24.1.99 is not a kohya_ss release (between v24.1.7 and v25.0.0)" in proc.stdout + proc.stderr
