"""The engine's one scan (kohya_tune.engine.facts): every subset, file, caption and refusal, in
the trainer's order, through the library API and the CLI. Each behaviour cites sd-scripts."""
from __future__ import annotations

import json
import os

import pytest

from helpers import make_images, png_bytes, run_cli
from kohya_tune import api
from kohya_tune.engine import facts as F

ARGS = ('pretrained_model_name_or_path = "x"\ntrain_data_dir = "img"\nresolution = "512,512"\n'
        'caption_extension = ".txt"\n')


def gather(tmp_path, text, name="config.toml", **options):
    (tmp_path / name).write_text(text, encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        return api.facts(name, **options)
    finally:
        os.chdir(cwd)


def test_every_refusal_in_the_trainers_order(tmp_path):
    # DreamBoothDataset.__init__ (HEAD train_util.py L1901-2163): the bucket range assert runs
    # before any subset is read; then each subset's captions in subset order, each empty caption
    # file stopping the trainer (read_caption L1964) once the one before is fixed
    make_images(tmp_path / "img" / "1_a", [[512, 512, 3]], captions={"0001": ""})
    make_images(tmp_path / "img" / "2_b", [[512, 512, 2]], captions={"0000": "", "0001": ""})
    text = ARGS + "enable_bucket = true\nmin_bucket_reso = 640\n"
    facts = gather(tmp_path, text)
    messages = [r.message for r in facts.refusals]
    assert messages[0].startswith("AssertionError: min_bucket_reso must be equal or less than resolution")
    empties = [m.rsplit("/", 2)[-2:] for m in messages[1:]]
    assert sorted(empties) == [["1_a", "0001.txt"], ["2_b", "0000.txt"], ["2_b", "0001.txt"]]
    # the CLI prints the first, the trainer's own message
    proc = run_cli("steps", "config.toml", cwd=tmp_path)
    assert proc.returncode == 1
    assert "min_bucket_reso must be equal or less than resolution" in proc.stderr
    assert "then, once that is fixed" in proc.stdout


def test_no_data_comes_before_the_bucket_step_check(tmp_path):
    # train_network.py HEAD L575-590: the empty-dataset stop, then assert_extra_args
    (tmp_path / "img" / "sks dog").mkdir(parents=True)
    text = ARGS + "enable_bucket = true\nbucket_reso_steps = 48\n"
    facts = gather(tmp_path, text)
    assert facts.refusals[0].message.startswith("No data found")
    assert facts.refusals[1].message.startswith("AssertionError: bucket_reso_steps is 48")


def test_subset_states_files_and_captions(tmp_path):
    img = tmp_path / "img"
    make_images(img / "3_sks dog", [[512, 512, 2], [512, 512, 1, ".Png"], [512, 512, 1, ".gif"]],
                captions={"0001": None})
    (img / "3_sks dog" / ".0009.png").write_bytes(png_bytes(64, 64))
    make_images(img / "dog", [[512, 512, 2]])            # no repeat prefix
    make_images(img / "0_cat", [[512, 512, 4]])           # repeats below one
    (img / "5_empty").mkdir()
    facts = gather(tmp_path, ARGS)
    (d,) = facts.datasets
    by_name = {s.plan.folder_name: s for s in d.subsets + d.skipped_folders}
    dog = by_name["3_sks dog"]
    assert dog.state == F.REGISTERED and dog.name == "sks dog"
    assert dog.plan.sources["num_repeats"] == "folder name"
    assert [os.path.basename(p) for p in dog.images] == ["0000.png", "0001.png"]
    assert dog.not_found == {"case": ["0002.Png"], "extension": ["0003.gif"], "hidden": [".0009.png"]}
    assert [dog.captions.state(i) for i in range(2)] == ["read", "missing"]
    assert by_name["dog"].state == F.NO_PREFIX and len(by_name["dog"].images) == 2
    assert by_name["0_cat"].state == F.REPEATS_BELOW_ONE and len(by_name["0_cat"].images) == 4
    assert by_name["5_empty"].state == F.NO_IMAGES
    assert facts.refusals == []
    report = api.steps(str(tmp_path / "config.toml"))
    assert report.num_train_images == 6


def test_repeats_sources_follow_the_fallback_chain(tmp_path):
    # BlueprintGenerator: subset, then [[datasets]], then [general], then the arguments
    # (dataset_repeats), then the dataclass default (HEAD config_util.py L454-471)
    for name in "abcd":
        make_images(tmp_path / name, [[512, 512, 1]])
    text = ('[general]\ncaption_extension = ".txt"\nnum_repeats = 3\n'
            '[[datasets]]\nresolution = 512\n'
            '[[datasets.subsets]]\nimage_dir = "a"\nnum_repeats = 7\n'
            '[[datasets.subsets]]\nimage_dir = "b"\n'
            '[[datasets]]\nresolution = 512\nnum_repeats = 5\n'
            '[[datasets.subsets]]\nimage_dir = "c"\n')
    facts = gather(tmp_path, text, name="dataset.toml")
    sources = [(s.plan.image_dir, s.num_repeats, s.plan.sources["num_repeats"]) for s in facts.subsets()]
    assert sources == [("a", 7, "subset"), ("b", 3, "general"), ("c", 5, "dataset")]


def test_duplicate_image_dir_is_recorded(tmp_path):
    make_images(tmp_path / "a", [[512, 512, 2]])
    text = ('[[datasets]]\nresolution = 512\n[[datasets.subsets]]\nimage_dir = "a"\n'
            'caption_extension = ".txt"\n[[datasets.subsets]]\nimage_dir = "a"\nnum_repeats = 4\n')
    facts = gather(tmp_path, text, name="dataset.toml")
    first, second = facts.datasets[0].subsets
    assert first.state == F.REGISTERED and second.state == F.DUPLICATE and second.duplicate_of == 0


def test_empty_subset_with_validation_split_stops_the_trainer(tmp_path):
    # split_train_val unpacks zip(*[]) for a subset with no image (HEAD train_util.py L164)
    make_images(tmp_path / "a", [[512, 512, 4]])
    (tmp_path / "b").mkdir()
    text = ('[general]\ncaption_extension = ".txt"\n[[datasets]]\nresolution = 512\n'
            'validation_split = 0.25\nvalidation_seed = 1\n'
            '[[datasets.subsets]]\nimage_dir = "a"\n[[datasets.subsets]]\nimage_dir = "b"\n')
    facts = gather(tmp_path, text, name="dataset.toml")
    assert facts.refusals[0].message.startswith("ValueError: not enough values to unpack")


def test_validation_images_have_their_captions_read(tmp_path):
    # the validation dataset is built after every training dataset and reads the captions of the
    # images it keeps (config_util.py HEAD L495-519, read_caption)
    make_images(tmp_path / "a", [[512, 512, 4]])
    text = ('[general]\ncaption_extension = ".txt"\n[[datasets]]\nresolution = 512\n'
            'validation_split = 0.25\nvalidation_seed = 1\n[[datasets.subsets]]\nimage_dir = "a"\n')
    facts = gather(tmp_path, text, name="dataset.toml")
    (sub,) = facts.datasets[0].subsets
    assert len(sub.images) == 3 and len(sub.held_out) == 1
    held = sub.held_out[0]
    (tmp_path / "a" / (os.path.basename(held)[:-4] + ".txt")).write_text("")
    facts = gather(tmp_path, text, name="dataset.toml")
    assert [r.stage for r in facts.refusals] == ["validation dataset 0"]


def test_a_fifo_in_the_dataset_is_not_opened(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    make_images(tmp_path / "img" / "1_a", [[512, 512, 2]])
    os.mkfifo(tmp_path / "img" / "1_a" / "0002.png")
    facts = gather(tmp_path, ARGS + "enable_bucket = true\n")
    assert any("not a regular file" in r.message for r in facts.refusals)
    proc = run_cli("lint", "config.toml", cwd=tmp_path)
    assert proc.returncode == 1 and "not a regular file" in proc.stdout


def test_gui_numbers_are_shown_when_the_trainer_refuses(tmp_path):
    make_images(tmp_path / "img" / "10_tok", [[512, 512, 4]], captions={"0002": ""})
    config = {"LoRA_type": "Standard", "train_data_dir": str(tmp_path / "img"), "epoch": 4,
              "train_batch_size": 2, "max_resolution": "512,512", "caption_extension": ".txt",
              "network_dim": 8, "max_train_steps": 0, "lr_scheduler": "constant"}
    (tmp_path / "c.json").write_text(json.dumps(config))
    proc = run_cli("steps", "c.json", "--format", "json", "--gui-version", "v24.1.7", cwd=tmp_path)
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["gui"]["max_train_steps"] == 80 and "caption file is empty" in out["error"]
    assert out["refusals"][0]["stage"] == "dataset 0"
    text = run_cli("steps", "c.json", "--gui-version", "v24.1.7", cwd=tmp_path)
    assert "max_train_steps = ceil(40 / 2 / 1 * 4 * 1) = 80" in text.stdout
    assert text.stdout.index("GUI v24.1.7") < text.stdout.index("caption file is empty")


def test_lint_lists_each_folder_once_and_reads_each_header_once(tmp_path, monkeypatch):
    from kohya_tune.check.linter import Linter
    from kohya_tune.engine import images as images_mod
    from kohya_tune.engine.plan import Settings

    make_images(tmp_path / "img" / "2_a", [[512, 512, 3], [640, 480, 2]])
    make_images(tmp_path / "img" / "1_b", [[512, 512, 2]], captions={"0000": None})
    make_images(tmp_path / "reg" / "1_r", [[512, 512, 8]])
    make_images(tmp_path / "reg" / "1_s", [[512, 512, 8]])
    (tmp_path / "config.toml").write_text(ARGS + 'reg_data_dir = "reg"\nenable_bucket = true\n')
    listed, opened = [], []
    real_scandir, real_get = images_mod.os.scandir, images_mod.imagesize.get
    monkeypatch.setattr(images_mod.os, "scandir", lambda d: (listed.append(str(d)), real_scandir(d))[1])
    monkeypatch.setattr(images_mod.imagesize, "get", lambda p: (opened.append(p), real_get(p))[1])
    monkeypatch.chdir(tmp_path)
    result = Linter(Settings()).lint_file("config.toml")
    assert {d.code for d in result.diagnostics} >= {"KT313", "KT304"}
    image_folders = [d for d in listed if os.path.basename(d) in ("2_a", "1_b", "1_r", "1_s")]
    assert sorted(image_folders) == sorted(set(image_folders)) and len(image_folders) == 4
    # T = 2 x 5 + 1 x 2 = 12 train image-steps: 7 train images, then the first 12 reg images in
    # the file system's folder order; KT310's alphabetical variant may use other reg images, but
    # no header is read twice
    assert len(opened) == len(set(opened))
    assert 7 + 12 <= len(opened) <= 7 + 16


def test_image_size_reader_follows_the_version(tmp_path):
    # get_image_size: imagesize.get as it is from v0.8.6 to v0.9.x, so an unknown header gives
    # (-1, -1), which select_bucket puts in the square bucket (aspect -1 / -1 = 1.0); from
    # v0.10.0 PIL is asked instead (and up to v0.8.5 PIL is the only reader)
    make_images(tmp_path / "img" / "2_a", [[512, 512, 1]])
    (tmp_path / "img" / "2_a" / "0001.png").write_bytes(b"not an image at all, just text")
    (tmp_path / "config.toml").write_text(ARGS + "enable_bucket = true\n")
    proc = run_cli("steps", "config.toml", "--format", "json", "--sd-scripts", "v0.9.1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["trainer"]["buckets"] == {"512x512": 4}
    try:
        import PIL  # noqa: F401
    except ImportError:
        for version in ("v0.10.1", "v0.8.4"):
            proc = run_cli("steps", "config.toml", "--sd-scripts", version, cwd=tmp_path)
            assert proc.returncode == 2 and "PIL" in proc.stderr
    else:
        proc = run_cli("steps", "config.toml", "--sd-scripts", "v0.10.1", cwd=tmp_path)
        assert proc.returncode == 1 and "ZeroDivisionError" in proc.stderr
        proc = run_cli("steps", "config.toml", "--sd-scripts", "v0.8.4", cwd=tmp_path)
        assert proc.returncode == 1 and "UnidentifiedImageError" in proc.stderr


def test_corrupt_headers_and_deep_metadata_are_reported(tmp_path):
    # imagesize 1.4.1 raises IndexError on a lossless WebP shorter than its header: so would the
    # trainer's get_image_size (v0.8.6+); a metadata JSON nested 100,000 deep cannot be read
    make_images(tmp_path / "img" / "10_a", [[512, 512, 1]])
    (tmp_path / "img" / "10_a" / "l.webp").write_bytes(b"RIFF\x10\x00\x00\x00WEBPVP8L\x00")
    (tmp_path / "config.toml").write_text(ARGS + "enable_bucket = true\n")
    proc = run_cli("steps", "config.toml", cwd=tmp_path)
    assert proc.returncode == 1 and "IndexError" in proc.stderr and "l.webp" in proc.stderr
    (tmp_path / "deep.json").write_text("[" * 100000 + "]" * 100000)
    (tmp_path / "ft.toml").write_text(ARGS.replace('"img"', '"img/10_a"') + 'in_json = "deep.json"\n')
    proc = run_cli("steps", "ft.toml", "--script", "fine_tune", cwd=tmp_path)
    assert proc.returncode == 2 and "RecursionError" in proc.stderr and "deep.json" in proc.stderr
