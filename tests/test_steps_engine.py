"""Behaviours of `kohya-tune steps` that the golden cases do not show, each citing sd-scripts."""
from __future__ import annotations

import json
from pathlib import Path

from helpers import make_images, run_cli

ARGS = ('pretrained_model_name_or_path = "x"\ntrain_data_dir = "img"\nresolution = "512,512"\n'
        'caption_extension = ".txt"\n')


def steps_json(tmp_path, *args):
    proc = run_cli("steps", *args, "--format", "json", cwd=tmp_path)
    return proc, json.loads(proc.stdout) if proc.stdout.strip() else None


def test_fine_tune_train_resolution_forces_buckets_before_v0_10(tmp_path):
    # J23 FineTuningDataset: when every metadata entry has train_resolution, bucketing is switched
    # on and the buckets are exactly those resolutions; HEAD reads sizes like any dataset
    make_images(tmp_path / "img", [[512, 512, 4], [768, 512, 3]])
    md = {f"{i:04d}": {"caption": "x", "train_resolution": [512, 512] if i < 4 else [640, 384]} for i in range(7)}
    (tmp_path / "meta.json").write_text(json.dumps(md))
    (tmp_path / "config.toml").write_text(ARGS + 'in_json = "meta.json"\ntrain_batch_size = 2\n'
                                                 'dataset_repeats = 3\nmax_train_epochs = 2\n')
    _, old = steps_json(tmp_path, "config.toml", "--script", "fine_tune", "--sd-scripts", "v0.6.5")
    assert old["trainer"]["buckets"] == {"512x512": 12, "640x384": 9}
    assert old["trainer"]["num_batches"] == 11
    # HEAD ignores train_resolution; fine_tune sets no latents caching strategy without
    # cache_latents (fine_tune.py HEAD L61-65), and the dataset asks it for its cache suffix
    # (train_util.py L2287-2290; oracle case trainer-ft-sizes-stems)
    _, new = steps_json(tmp_path, "config.toml", "--script", "fine_tune", "--sd-scripts", "v0.10.1")
    assert new["error"] == "AttributeError: 'NoneType' object has no attribute 'cache_suffix'"
    # with the strategy, a stem key is joined to image_dir as it is: img/0000 does not exist,
    # and make_buckets opens it to read its size (oracle case trainer-ft-sizes-stems-cached)
    (tmp_path / "config.toml").write_text(ARGS + 'in_json = "meta.json"\ntrain_batch_size = 2\n'
                                                 'dataset_repeats = 3\nmax_train_epochs = 2\n'
                                                 'cache_latents = true\n')
    _, new = steps_json(tmp_path, "config.toml", "--script", "fine_tune", "--sd-scripts", "v0.10.1")
    assert new["error"] == "FileNotFoundError: [Errno 2] No such file or directory: 'img/0000'"
    md = {f"{i:04d}.png": {"caption": "x"} for i in range(7)}
    (tmp_path / "meta.json").write_text(json.dumps(md))
    _, new = steps_json(tmp_path, "config.toml", "--script", "fine_tune", "--sd-scripts", "v0.10.1")
    assert new["trainer"]["buckets"] == {"512x512": 21}
    assert new["trainer"]["num_train_images"] == 21


def test_validation_split_counts_after_the_split_and_never_splits_reg(tmp_path):
    # HEAD split_train_val: the training copy keeps ceil(n * (1 - v)) of each non-reg subset
    make_images(tmp_path / "a", [[512, 512, 10]])
    make_images(tmp_path / "b", [[512, 512, 7]])
    make_images(tmp_path / "r", [[512, 512, 5]])
    (tmp_path / "dataset.toml").write_text(
        '[general]\ncaption_extension = ".txt"\n[[datasets]]\nresolution = 512\nvalidation_split = 0.2\n'
        'validation_seed = 3\n[[datasets.subsets]]\nimage_dir = "a"\nnum_repeats = 10\n'
        '[[datasets.subsets]]\nimage_dir = "b"\nnum_repeats = 3\n'
        '[[datasets.subsets]]\nimage_dir = "r"\nis_reg = true\n')
    _, out = steps_json(tmp_path, "dataset.toml")
    assert out["trainer"]["num_train_images"] == 8 * 10 + 6 * 3  # 98, as the reference measured
    assert out["trainer"]["num_reg_images"] == 5
    _, old = steps_json(tmp_path, "dataset.toml", "--sd-scripts", "v0.8.7")
    assert old["error"] == ("MultipleInvalid: extra keys not allowed @ "
                            "data['datasets'][0]['validation_split']")


def test_empty_caption_file_is_a_refusal(tmp_path):
    # read_caption asserts len(lines) > 0 (HEAD train_util.py L1964)
    make_images(tmp_path / "img" / "10_tok", [[512, 512, 3]], captions={"0001": ""})
    (tmp_path / "config.toml").write_text(ARGS)
    proc, out = steps_json(tmp_path, "config.toml")
    assert proc.returncode == 1
    assert "caption file is empty" in out["error"] and "0001.txt" in out["error"]
    # with another caption_extension, the empty .txt is never read
    (tmp_path / "config.toml").write_text(ARGS.replace('".txt"', '".caption"'))
    proc, out = steps_json(tmp_path, "config.toml")
    assert proc.returncode == 0


def test_missing_folder_exits_2_and_path_map_fixes_it(tmp_path):
    make_images(tmp_path / "local" / "5_tok", [[512, 512, 2]])
    (tmp_path / "config.toml").write_text(ARGS.replace('"img"', '"E:\\\\training\\\\img"'))
    proc = run_cli("steps", "config.toml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "E:\\training\\img" in proc.stderr and "--path-map" in proc.stderr
    proc, out = steps_json(tmp_path, "config.toml", "--path-map", f"E:\\training\\img={tmp_path / 'local'}")
    assert proc.returncode == 0, proc.stderr
    assert out["trainer"]["num_train_images"] == 10


def test_extensions_case_hidden_and_no_recursion(tmp_path):
    # glob_images on Linux: lower or upper case spellings only, never hidden files, no recursion
    folder = tmp_path / "img" / "2_tok"
    make_images(folder, [[512, 512, 2], [512, 512, 1, ".PNG"], [512, 512, 1, ".Png"], [512, 512, 1, ".jfif"]])
    make_images(folder / "sub", [[512, 512, 3]])
    (folder / ".hidden.png").write_bytes((folder / "0000.png").read_bytes())
    make_images(tmp_path / "img", [[512, 512, 2]])  # images directly in train_data_dir: unused
    (tmp_path / "config.toml").write_text(ARGS)
    _, out = steps_json(tmp_path, "config.toml")
    subset = out["trainer"]["datasets"][0]["subsets"][0]
    assert subset["image_count"] == 3
    assert subset["files_not_found_by_trainer"]["case"] == ["0003.Png"]
    assert subset["files_not_found_by_trainer"]["extension"] == ["0004.jfif"]
    assert subset["files_not_found_by_trainer"]["hidden"] == [".hidden.png"]


def test_max_train_epochs_zero_and_string_steps(tmp_path):
    make_images(tmp_path / "img" / "1_tok", [[512, 512, 4]])
    (tmp_path / "config.toml").write_text(ARGS + "max_train_epochs = 0\n")
    _, out = steps_json(tmp_path, "config.toml")
    assert out["trainer"]["max_train_steps"] == 0 and out["trainer"]["num_train_epochs"] == 0
    (tmp_path / "config.toml").write_text(ARGS + 'max_train_steps = "100"\n')
    proc, out = steps_json(tmp_path, "config.toml")
    assert proc.returncode == 1 and "TypeError" in out["error"]


def test_bucket_step_rejected_only_where_the_version_checks_it(tmp_path):
    # verify_bucket_reso_steps(64) in the SD1 scripts from v0.9.0 (fe2aa324); SDXL (32) from v0.7.0
    make_images(tmp_path / "img" / "1_tok", [[512, 512, 4]])
    (tmp_path / "config.toml").write_text(ARGS + "enable_bucket = true\nbucket_reso_steps = 32\n")
    assert run_cli("steps", "config.toml", "--sd-scripts", "v0.8.7", cwd=tmp_path).returncode == 0
    proc, out = steps_json(tmp_path, "config.toml", "--sd-scripts", "v0.10.1")
    assert proc.returncode == 1 and "divisible by 64" in out["error"]
    proc, out = steps_json(tmp_path, "config.toml", "--sd-scripts", "v0.10.1", "--script", "sdxl_train_network")
    assert proc.returncode == 0


def test_text_output_explains(tmp_path):
    make_images(tmp_path / "img" / "10_tok", [[512, 512, 3], [768, 512, 2]])
    make_images(tmp_path / "reg" / "1_cls", [[512, 512, 4]])
    (tmp_path / "config.toml").write_text(ARGS + 'reg_data_dir = "reg"\nenable_bucket = true\n'
                                                 'train_batch_size = 2\nmax_train_steps = 90\n')
    proc = run_cli("steps", "config.toml", cwd=tmp_path)
    assert proc.returncode == 0
    text = proc.stdout
    assert "5 images x 10 repeats = 50" in text
    assert "after balancing 4 images used, 50 image-steps" in text
    assert "640x384" in text and "█" in text
    assert "num_train_epochs" in text and "steps in the last epoch" in text


def test_script_decides_where_the_subsets_come_from(tmp_path):
    make_images(tmp_path / "img", [[512, 512, 6]])
    make_images(tmp_path / "cond", [[512, 512, 6]])
    (tmp_path / "c.toml").write_text(ARGS + 'conditioning_data_dir = "cond"\ndataset_repeats = 5\n'
                                            'max_train_epochs = 2\n')
    # ControlNet trainers: images directly in train_data_dir, repeats fixed to 1
    # (config_util.py generate_controlnet_subsets_config_by_subdirs)
    _, out = steps_json(tmp_path, "c.toml", "--script", "train_control_net")
    assert out["trainer"]["num_train_images"] == 6 and out["trainer"]["max_train_steps"] == 12
    # train_network: folder mode, where images directly in train_data_dir are never used
    proc, out = steps_json(tmp_path, "c.toml")
    assert proc.returncode == 1 and out["error"].startswith("No data found")
    # fine_tune.py always builds a metadata subset (fine_tune.py L80-91)
    proc, out = steps_json(tmp_path, "c.toml", "--script", "fine_tune")
    assert proc.returncode == 1 and "metadata_file" in out["error"]


def test_bad_options_are_usage_errors(tmp_path):
    make_images(tmp_path / "img" / "1_tok", [[512, 512, 2]])
    (tmp_path / "config.toml").write_text(ARGS)
    for option in (["--gui-version", "banana"], ["--gui-version", "v19"], ["--sd-scripts", "v9"],
                   ["--sd-scripts", "v0.5.0"], ["--script", "nonexistent"], ["--num-processes", "0"]):
        proc = run_cli("steps", "config.toml", *option, cwd=tmp_path)
        assert proc.returncode == 2, option
        assert "Traceback" not in proc.stderr and option[0] in proc.stderr or "version" in proc.stderr


def test_controlnet_needs_one_conditioning_image_per_image(tmp_path):
    # ControlNetDataset asserts no missing and no extra conditioning image (HEAD L2455-2492)
    make_images(tmp_path / "img", [[512, 512, 4]])
    make_images(tmp_path / "cond", [[512, 512, 4]])
    (tmp_path / "c.toml").write_text(ARGS + 'conditioning_data_dir = "cond"\nmax_train_epochs = 1\n')
    proc, out = steps_json(tmp_path, "c.toml", "--script", "train_control_net")
    assert proc.returncode == 0 and out["trainer"]["num_train_images"] == 4
    (tmp_path / "cond" / "0003.png").unlink()
    proc, out = steps_json(tmp_path, "c.toml", "--script", "train_control_net")
    assert proc.returncode == 1 and "missing conditioning data for 1 images" in out["error"]
    make_images(tmp_path / "cond", [[512, 512, 2]], start=3)  # 0003 back, plus an extra 0004
    proc, out = steps_json(tmp_path, "c.toml", "--script", "train_control_net")
    assert proc.returncode == 1 and "extra conditioning data for 1 images" in out["error"]


def test_refusal_message_is_the_trainers_and_the_explanation_is_apart(tmp_path):
    # sanitize_argparse_namespace (sd-scripts HEAD library/config_util.py L380-389) re-raises
    # voluptuous' MultipleInvalid under the argparse name; the logged line is not part of it
    make_images(tmp_path / "img" / "2_x", [[512, 512, 2]])
    (tmp_path / "config.toml").write_text(ARGS + "train_batch_size = 2.0\n")
    proc, out = steps_json(tmp_path, "config.toml")
    assert proc.returncode == 1
    assert out["error"] == "MultipleInvalid: expected int for object value @ data['train_batch_size']"
    assert "Invalid cmdline parsed arguments" in out["note"] and "2.0" in out["note"]
    text = run_cli("steps", "config.toml", cwd=tmp_path)
    lines = text.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("the trainer stops with"))
    assert lines[first].endswith("MultipleInvalid: expected int for object value @ data['train_batch_size']")
    assert lines[first + 1].strip().startswith("(the trainer logs")
