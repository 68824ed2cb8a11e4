#!/usr/bin/env python3
"""The golden cases of the sd-scripts commits kohya_ss GUI releases ship (issue 16).

    python tools/gen_commit_cases.py specs DIR           write the case specs (no `expected`)
    python tools/gen_commit_cases.py merge OUT_DIR       copy the `sd-scripts ...` results that
                                                         ../shared/oracles/golden/build.py wrote into
                                                         OUT_DIR into tests/data/golden (new cases
                                                         whole, existing cases: the new version keys)

The numbers come from the unmodified sd-scripts code of each version, run by the oracle
(../shared/oracles/oracle, README there):

    export KOHYA_ORACLE=~/.cache/kohya-oracle
    python3 tools/gen_commit_cases.py specs /tmp/specs
    python3 ../shared/oracles/golden/build.py --out /tmp/built --versions \\
        "sd-scripts 2e0fcc50,sd-scripts v0.10.0,sd-scripts v0.10.1,sd-scripts v0.9.1,sd-scripts 8ebe858f,sd-scripts 5753b8ff,sd-scripts b8896aad" /tmp/specs/*.json
    python3 tools/gen_commit_cases.py merge /tmp/built

Each spec pins one behaviour that differs between the commits the GUI releases ship and the tags
around them (validation splits, the dataset keys of the sd3 branch, its scripts, fine-tuning
metadata, ...) or is a realistic multi-concept run (reg images, buckets, 2-4 processes,
gradient accumulation). Tests and CI never run this: they read the finished cases.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "data" / "golden"

HEAD = ('pretrained_model_name_or_path = "model.safetensors"\noutput_dir = "out"\n'
        'caption_extension = ".txt"\n')


def args(*lines: str) -> str:
    return HEAD + "".join(line + "\n" for line in lines)


def case(cid: str, about: str, dataset: dict, files: dict, config: str = "config.toml",
         num_processes: int = 1, script: str | None = None, captions: dict | None = None) -> dict:
    out = {"id": f"trainer-commits-{cid}", "about": about, "dataset": dataset}
    if captions:
        out["captions"] = captions
    out["files"] = files
    out["config"] = config
    out["options"] = {"num_processes": num_processes}
    if script:
        out["options"]["script"] = script
    return out


MIXED = [[512, 512, 5], [768, 512, 3], [512, 768, 2]]


def specs() -> list[dict]:
    c = []
    # --- validation splits ------------------------------------------------------------------
    c.append(case(
        "val-general-seed",
        "validation_split 0.25 and validation_seed in [general]: the split images leave the "
        "training count (sd3 branch 8ebe858f+, v0.10+); v0.9.1 and b8896aad refuse the keys",
        {"img/a": MIXED},
        {"config.toml": args("max_train_epochs = 3", 'dataset_config = "dataset.toml"'),
         "dataset.toml": "[general]\nresolution = 512\nenable_bucket = true\nbatch_size = 2\n"
                         "validation_split = 0.25\nvalidation_seed = 42\n\n[[datasets]]\n"
                         "[[datasets.subsets]]\nimage_dir = \"img/a\"\nnum_repeats = 3\n"}))
    c.append(case(
        "val-dataset-noseed-reg",
        "validation_split 0.3 in [[datasets]] without validation_seed (the shuffle follows --seed), "
        "two concepts and a reg subset (never split), 2 processes, accumulation 2",
        {"img/a": [[512, 512, 6], [768, 512, 4]], "img/b": [[512, 768, 4], [512, 512, 3]],
         "reg/r": [[512, 512, 6]]},
        {"config.toml": args("max_train_epochs = 4", "seed = 1234", "gradient_accumulation_steps = 2",
                             'dataset_config = "dataset.toml"'),
         "dataset.toml": "[general]\nresolution = 512\nenable_bucket = true\n\n[[datasets]]\n"
                         "batch_size = 2\nvalidation_split = 0.3\n\n[[datasets.subsets]]\n"
                         "image_dir = \"img/a\"\nnum_repeats = 2\n\n[[datasets.subsets]]\n"
                         "image_dir = \"img/b\"\nnum_repeats = 3\n\n[[datasets.subsets]]\n"
                         "image_dir = \"reg/r\"\nis_reg = true\nnum_repeats = 1\n"},
        num_processes=2))
    c.append(case(
        "val-subset-level",
        "validation_split in a subset: a dataset-level key, refused there by every version that "
        "knows it (and as an unknown key by the others)",
        {"img/a": [[512, 512, 4]]},
        {"config.toml": args("max_train_epochs = 2", 'dataset_config = "dataset.toml"'),
         "dataset.toml": "[general]\nresolution = 512\n\n[[datasets]]\n[[datasets.subsets]]\n"
                         "image_dir = \"img/a\"\nvalidation_split = 0.25\n"}))
    c.append(case(
        "val-args-folder-reg",
        "validation_split / validation_seed as arguments in folder mode with two concepts and a "
        "reg folder, buckets, 2 processes",
        {"img/5_cat": [[512, 512, 6], [768, 512, 4]], "img/3_dog": [[512, 768, 5], [512, 512, 2]],
         "reg/1_animal": [[512, 512, 20]]},
        {"config.toml": args("max_train_epochs = 3", 'train_data_dir = "img"', 'reg_data_dir = "reg"',
                             'resolution = "512,512"', "enable_bucket = true", "train_batch_size = 2",
                             "validation_split = 0.2", "validation_seed = 7")},
        num_processes=2))
    c.append(case(
        "val-args-seed-only",
        "validation_split 0.5 as an argument with --seed and no validation_seed, an odd image count "
        "(ceil keeps the larger half), folder mode with one concept (the shuffle runs on through the "
        "subsets in folder order)",
        {"img/3_a": [[512, 512, 3], [768, 512, 2], [512, 768, 2]]},
        {"config.toml": args("max_train_epochs = 2", "seed = 99", 'train_data_dir = "img"',
                             'resolution = "512,512"', "enable_bucket = true",
                             "validation_split = 0.5")}))
    c.append(case(
        "val-split-one",
        "validation_split 1.0: every image is held out, so the training dataset is empty",
        {"img/2_a": [[512, 512, 4]]},
        {"config.toml": args("max_train_epochs = 2", "seed = 5", 'train_data_dir = "img"',
                             'resolution = "512,512"', "validation_split = 1.0")}))
    c.append(case(
        "val-split-above-one",
        "validation_split 1.5: no validation dataset (out of range), but the training split still "
        "slices with ceil(n * (1 - 1.5)), a negative index",
        {"img/a": [[512, 512, 4], [768, 512, 4]]},
        {"config.toml": args("max_train_epochs = 2", 'dataset_config = "dataset.toml"'),
         "dataset.toml": "[general]\nresolution = 512\nenable_bucket = true\nvalidation_split = 1.5\n"
                         "validation_seed = 3\n\n[[datasets]]\n[[datasets.subsets]]\n"
                         "image_dir = \"img/a\"\nnum_repeats = 2\n"}))
    c.append(case(
        "val-train-db-args",
        "train_db with validation_split in its args TOML: the script has no such option, but the "
        "namespace carries the file's key into the dataset blueprint",
        {"img/4_a": [[512, 512, 4], [768, 512, 4]]},
        {"config.toml": args("max_train_epochs = 2", 'train_data_dir = "img"', 'resolution = "512,512"',
                             "enable_bucket = true", "validation_split = 0.25", "validation_seed = 11")},
        script="train_db"))
    c.append(case(
        "val-seed-string",
        "validation_seed = \"1\" in [general]: the schema wants an int",
        {"img/a": [[512, 512, 2]]},
        {"config.toml": args("max_train_epochs = 2", 'dataset_config = "dataset.toml"'),
         "dataset.toml": "[general]\nresolution = 512\nvalidation_split = 0.5\nvalidation_seed = \"1\"\n\n"
                         "[[datasets]]\n[[datasets.subsets]]\nimage_dir = \"img/a\"\n"}))
    c.append(case(
        "val-empty-subset",
        "validation_split with a subset that has no image: split_train_val unpacks nothing",
        {"img/a": [[512, 512, 4]], "img/empty": []},
        {"config.toml": args("max_train_epochs = 2", 'dataset_config = "dataset.toml"'),
         "dataset.toml": "[general]\nresolution = 512\nvalidation_split = 0.25\nvalidation_seed = 1\n\n"
                         "[[datasets]]\n[[datasets.subsets]]\nimage_dir = \"img/a\"\n\n"
                         "[[datasets.subsets]]\nimage_dir = \"img/empty\"\n"}))
    # --- dataset keys of the sd3 branch --------------------------------------------------------
    c.append(case(
        "key-resize-interp-valid",
        "resize_interpolation in [general] and a subset (valid names, box included): accepted from "
        "5753b8ff on; 8ebe858f, b8896aad and v0.9.1 refuse the key",
        {"img/a": MIXED, "img/b": [[512, 512, 3]]},
        {"config.toml": args("max_train_epochs = 2", 'dataset_config = "dataset.toml"'),
         "dataset.toml": "[general]\nresolution = 512\nenable_bucket = true\nresize_interpolation = \"lanczos\"\n\n"
                         "[[datasets]]\n[[datasets.subsets]]\nimage_dir = \"img/a\"\nnum_repeats = 2\n"
                         "resize_interpolation = \"box\"\n\n[[datasets.subsets]]\nimage_dir = \"img/b\"\n"}))
    c.append(case(
        "key-resize-interp-dataset-bogus",
        "resize_interpolation = \"bogus\" in [[datasets]]: BaseDataset asserts the dataset's value",
        {"img/a": [[512, 512, 2]]},
        {"config.toml": args("max_train_epochs = 2", 'dataset_config = "dataset.toml"'),
         "dataset.toml": "[general]\nresolution = 512\n\n[[datasets]]\nresize_interpolation = \"bogus\"\n"
                         "[[datasets.subsets]]\nimage_dir = \"img/a\"\n"}))
    c.append(case(
        "key-resize-interp-subset-bogus",
        "resize_interpolation = \"bogus\" in a subset only: the dataset's own value (None) is what "
        "BaseDataset checks, so the dataset is built",
        {"img/a": [[512, 512, 3]]},
        {"config.toml": args("max_train_epochs = 2", 'dataset_config = "dataset.toml"'),
         "dataset.toml": "[general]\nresolution = 512\n\n[[datasets]]\n[[datasets.subsets]]\n"
                         "image_dir = \"img/a\"\nresize_interpolation = \"bogus\"\n"}))
    c.append(case(
        "key-resize-interp-args",
        "resize_interpolation = \"bogus\" in the args TOML (argparse choices do not see config "
        "values): the dataset takes it from the namespace and asserts",
        {"img/2_a": [[512, 512, 3]]},
        {"config.toml": args("max_train_epochs = 2", 'train_data_dir = "img"', 'resolution = "512,512"',
                             'resize_interpolation = "bogus"')}))
    c.append(case(
        "key-custom-attributes",
        "custom_attributes tables in [general] and a subset (sd3 branch 8ebe858f+, v0.10+)",
        {"img/a": [[512, 512, 3]], "img/b": [[768, 512, 2]]},
        {"config.toml": args("max_train_epochs = 2", 'dataset_config = "dataset.toml"'),
         "dataset.toml": "[general]\nresolution = 512\nenable_bucket = true\n\n[general.custom_attributes]\n"
                         "style = \"x\"\n\n[[datasets]]\n[[datasets.subsets]]\nimage_dir = \"img/a\"\n"
                         "custom_attributes = { weight = 2 }\n\n[[datasets.subsets]]\nimage_dir = \"img/b\"\n"
                         "num_repeats = 3\n"}))
    c.append(case(
        "key-custom-attributes-str",
        "custom_attributes = \"x\": the schema wants a table (dict)",
        {"img/a": [[512, 512, 2]]},
        {"config.toml": args("max_train_epochs = 2", 'dataset_config = "dataset.toml"'),
         "dataset.toml": "[general]\nresolution = 512\n\n[[datasets]]\n[[datasets.subsets]]\n"
                         "image_dir = \"img/a\"\ncustom_attributes = \"x\"\n"}))
    c.append(case(
        "key-alpha-mask-caption-separator",
        "alpha_mask and caption_separator in a subset: on the sd3 branch since b8896aad, on main "
        "since v0.9.0",
        {"img/a": [[512, 512, 3]]},
        {"config.toml": args("max_train_epochs = 2", 'dataset_config = "dataset.toml"'),
         "dataset.toml": "[general]\nresolution = 512\n\n[[datasets]]\n[[datasets.subsets]]\n"
                         "image_dir = \"img/a\"\nalpha_mask = true\ncaption_separator = \";\"\n"}))
    # --- scripts of the sd3 branch ------------------------------------------------------------
    c.append(case(
        "flux-network-2gpu",
        "flux_train_network, two concepts with buckets at 1024 (steps 64), 2 processes, "
        "accumulation 2 (the script exists from 8ebe858f; v0.9.1 and b8896aad do not have it)",
        {"img/3_a": [[1024, 1024, 4], [1216, 832, 3]], "img/2_b": [[832, 1216, 5]]},
        {"config.toml": args("max_train_epochs = 5", 'train_data_dir = "img"', 'resolution = "1024,1024"',
                             "enable_bucket = true", "min_bucket_reso = 512", "max_bucket_reso = 2048",
                             "train_batch_size = 2", "gradient_accumulation_steps = 2")},
        num_processes=2, script="flux_train_network"))
    c.append(case(
        "flux-network-steps-32",
        "flux_train_network with bucket_reso_steps 32: the base check (64) comes first",
        {"img/2_a": [[1024, 1024, 2], [1216, 832, 1]]},
        {"config.toml": args("max_train_epochs = 2", 'train_data_dir = "img"', 'resolution = "1024,1024"',
                             "enable_bucket = true", "min_bucket_reso = 512", "max_bucket_reso = 2048",
                             "bucket_reso_steps = 32")},
        script="flux_train_network"))
    c.append(case(
        "flux-network-npz",
        "flux_train_network with latents caches named _WxH_flux.npz: sizes from the names",
        {"img/1_x": [[512, 512, 3]]},
        {"config.toml": args("max_train_epochs = 2", 'train_data_dir = "img"', 'resolution = "512,512"',
                             "enable_bucket = true", "min_bucket_reso = 256", "max_bucket_reso = 1024"),
         "img/1_x/0000_0768x0512_flux.npz": "", "img/1_x/0001_0512x0768_flux.npz": ""},
        script="flux_train_network"))
    c.append(case(
        "sd3-network-steps-32",
        "sd3_train_network, dataset config with two datasets (steps 32 and 64), reg subset",
        {"img/a": [[1024, 1024, 3], [1216, 832, 2]], "img/b": [[832, 1216, 4]], "reg/r": [[1024, 1024, 4]]},
        {"config.toml": args("max_train_epochs = 3", 'dataset_config = "dataset.toml"'),
         "dataset.toml": "[general]\nresolution = 1024\nenable_bucket = true\nmin_bucket_reso = 512\n"
                         "max_bucket_reso = 2048\n\n[[datasets]]\nbatch_size = 2\nbucket_reso_steps = 32\n\n"
                         "[[datasets.subsets]]\nimage_dir = \"img/a\"\nnum_repeats = 2\n\n"
                         "[[datasets.subsets]]\nimage_dir = \"reg/r\"\nis_reg = true\n\n[[datasets]]\n"
                         "batch_size = 1\n\n[[datasets.subsets]]\nimage_dir = \"img/b\"\nnum_repeats = 3\n"},
        script="sd3_train_network"))
    c.append(case(
        "sd3-network-te-cache-shuffle",
        "sd3_train_network caching text-encoder outputs with shuffle_caption: refused",
        {"img/2_a": [[1024, 1024, 2]]},
        {"config.toml": args("max_train_epochs = 2", 'train_data_dir = "img"', 'resolution = "1024,1024"',
                             "network_train_unet_only = true", "cache_text_encoder_outputs = true",
                             "shuffle_caption = true")},
        script="sd3_train_network"))
    c.append(case(
        "sdxl-cn-buckets",
        "sdxl_train_control_net with conditioning images and buckets (steps 32), batch 2",
        {"img": [[1024, 1024, 3], [1216, 832, 2]], "cond": [[1024, 1024, 3], [1216, 832, 2]]},
        {"config.toml": args("max_train_epochs = 3", 'train_data_dir = "img"', 'conditioning_data_dir = "cond"',
                             'resolution = "1024,1024"', "enable_bucket = true", "min_bucket_reso = 512",
                             "max_bucket_reso = 2048", "bucket_reso_steps = 32", "train_batch_size = 2")},
        script="sdxl_train_control_net"))
    c.append(case(
        "flux-cn-buckets",
        "flux_train_control_net with conditioning images and buckets (steps 16), 2 processes",
        {"img": [[1024, 1024, 3], [1216, 832, 2]], "cond": [[1024, 1024, 3], [1216, 832, 2]]},
        {"config.toml": args("max_train_epochs = 2", 'train_data_dir = "img"', 'conditioning_data_dir = "cond"',
                             'resolution = "1024,1024"', "enable_bucket = true", "min_bucket_reso = 512",
                             "max_bucket_reso = 2048", "bucket_reso_steps = 16")},
        num_processes=2, script="flux_train_control_net"))
    c.append(case(
        "train-control-net-npz",
        "train_control_net with _sd.npz latents caches: v0.10+ sets its caching strategy before "
        "the dataset and takes sizes from the names; the sd3-branch commits do not",
        {"img": [[512, 512, 3]], "cond": [[512, 512, 3]]},
        {"config.toml": args("max_train_epochs = 2", 'train_data_dir = "img"', 'conditioning_data_dir = "cond"',
                             'resolution = "512,512"', "enable_bucket = true", "min_bucket_reso = 256",
                             "max_bucket_reso = 1024"),
         "img/0000_0768x0512_sd.npz": "", "img/0001_0512x0768_sd.npz": ""},
        script="train_control_net"))
    c.append(case(
        "sdxl-network-npz",
        "sdxl_train_network with _sdxl.npz caches next to the images: sizes from the names on the "
        "sd3 branch and v0.10+, from the headers before",
        {"img/2_x": [[512, 512, 3]]},
        {"config.toml": args("max_train_epochs = 2", 'train_data_dir = "img"', 'resolution = "512,512"',
                             "enable_bucket = true", "min_bucket_reso = 256", "max_bucket_reso = 1024"),
         "img/2_x/0000_0768x0512_sdxl.npz": "", "img/2_x/0002_1024x0384_sdxl.npz": ""},
        script="sdxl_train_network"))
    c.append(case(
        "sd3-train-steps-8",
        "sd3_train (full) with bucket_reso_steps 8 and in_json-free folder mode",
        {"img/2_a": [[1024, 1024, 2], [1216, 832, 2]]},
        {"config.toml": args("max_train_epochs = 2", 'train_data_dir = "img"', 'resolution = "1024,1024"',
                             "enable_bucket = true", "min_bucket_reso = 512", "max_bucket_reso = 2048",
                             "bucket_reso_steps = 8")},
        script="sd3_train"))
    # --- fine-tuning metadata -----------------------------------------------------------------
    c.append(case(
        "ft-json-train-resolution",
        "fine_tune with a metadata JSON holding train_resolution (bucket info, read up to the sd3 "
        "branch) and relative keys",
        {"img": [[512, 512, 2], [768, 512, 2]]},
        {"config.toml": args("max_train_epochs = 2", 'train_data_dir = "img"', 'in_json = "meta.json"',
                             'resolution = "512,512"', "enable_bucket = true"),
         "meta.json": json.dumps({"0000.png": {"caption": "a", "train_resolution": [512, 512]},
                                  "0001.png": {"caption": "b", "train_resolution": [512, 512]},
                                  "0002.png": {"caption": "c", "train_resolution": [640, 384]},
                                  "0003.png": {"caption": "d", "train_resolution": [640, 384]}})},
        script="fine_tune"))
    c.append(case(
        "ft-jsonl",
        "fine_tune with a .jsonl metadata file (read as JSON Lines from v0.10.0; json.load fails "
        "before)",
        {"img": [[512, 512, 2], [768, 512, 1]]},
        {"config.toml": args("max_train_epochs = 2", 'train_data_dir = "img"', 'in_json = "meta.jsonl"',
                             'resolution = "512,512"', "enable_bucket = true", "cache_latents = true"),
         "meta.jsonl": "".join(json.dumps(e) + "\n" for e in [
             {"image_path": "0000.png", "caption": "a"},
             {"image_path": "0001.png", "caption": "b", "image_size": [512, 768]},
             {"image_path": "0002.png", "caption": "c"}])},
        script="fine_tune"))
    c.append(case(
        "ft-keys-without-extension",
        "fine_tune metadata keys without extension: found by glob up to the sd3 branch, joined to "
        "image_dir as they are from v0.10.0",
        {"img": [[512, 512, 2], [768, 512, 1]]},
        {"config.toml": args("max_train_epochs = 2", 'train_data_dir = "img"', 'in_json = "meta.json"',
                             'resolution = "512,512"', "enable_bucket = true", "cache_latents = true"),
         "meta.json": json.dumps({"0000": {"caption": "a"}, "0001": {"caption": "b"},
                                  "0002": {"caption": "c"}})},
        script="fine_tune"))
    c.append(case(
        "ft-image-size",
        "train_network with in_json whose entries carry image_size (used from v0.10.0; before, the "
        "headers), 2 processes, accumulation 2",
        {"img": [[512, 512, 4], [768, 512, 2]]},
        {"config.toml": args("max_train_epochs = 3", 'train_data_dir = "img"', 'in_json = "meta.json"',
                             'resolution = "512,512"', "enable_bucket = true", "train_batch_size = 2",
                             "gradient_accumulation_steps = 2", "dataset_repeats = 3"),
         "meta.json": json.dumps({f"{i:04d}.png": ({"caption": "x", "image_size": [512, 768]} if i < 3
                                                   else {"caption": "y"}) for i in range(6)})},
        num_processes=2))
    c.append(case(
        "ft-dataset-config-two-subsets",
        "fine-tuning dataset config with two metadata subsets (one with image_dir, one with keys "
        "relative to the current folder) and repeats",
        {"img": [[512, 512, 3]], "more": [[768, 512, 2]]},
        {"config.toml": args("max_train_epochs = 2", 'dataset_config = "dataset.toml"'),
         "dataset.toml": "[general]\nresolution = 512\nenable_bucket = true\n\n[[datasets]]\nbatch_size = 2\n\n"
                         "[[datasets.subsets]]\nmetadata_file = \"meta_a.json\"\nimage_dir = \"img\"\n"
                         "num_repeats = 2\n\n[[datasets.subsets]]\nmetadata_file = \"meta_b.json\"\n"
                         "image_dir = \"more\"\nnum_repeats = 3\n",
         "meta_a.json": json.dumps({f"{i:04d}.png": {"caption": "a"} for i in range(3)}),
         "meta_b.json": json.dumps({f"{i:04d}.png": {"caption": "b"} for i in range(2)})},
        script="fine_tune"))
    # --- realistic runs -----------------------------------------------------------------------
    c.append(case(
        "real-two-datasets-reg-2gpu",
        "two datasets: one with three concepts, a reg subset and buckets at 768 (batch 2), one "
        "without buckets at 512; 2 processes, accumulation 2, 6 epochs",
        {"train/sks_dog": [[768, 768, 7], [1024, 768, 5], [768, 1024, 4]],
         "train/sks_cat": [[768, 768, 12], [896, 640, 3]],
         "train/style": [[1024, 576, 9], [576, 1024, 6]],
         "reg/dog": [[768, 768, 30]], "small": [[512, 512, 5], [600, 400, 3]]},
        {"config.toml": args("max_train_epochs = 6", "gradient_accumulation_steps = 2",
                             'dataset_config = "dataset.toml"'),
         "dataset.toml": "[general]\nenable_bucket = true\nmin_bucket_reso = 384\nmax_bucket_reso = 1280\n"
                         "caption_extension = \".txt\"\n\n[[datasets]]\nresolution = 768\nbatch_size = 2\n\n"
                         "[[datasets.subsets]]\nimage_dir = \"train/sks_dog\"\nnum_repeats = 8\n"
                         "class_tokens = \"sks dog\"\n\n[[datasets.subsets]]\nimage_dir = \"train/sks_cat\"\n"
                         "num_repeats = 4\n\n[[datasets.subsets]]\nimage_dir = \"train/style\"\nnum_repeats = 2\n\n"
                         "[[datasets.subsets]]\nimage_dir = \"reg/dog\"\nis_reg = true\nnum_repeats = 2\n\n"
                         "[[datasets]]\nresolution = 512\nbatch_size = 1\nenable_bucket = false\n\n"
                         "[[datasets.subsets]]\nimage_dir = \"small\"\nnum_repeats = 5\n"},
        num_processes=2))
    c.append(case(
        "real-folders-4gpu-ga3",
        "folder mode, four concepts and two reg folders (one image size, so the reg folders' listing "
        "order changes no bucket), buckets, batch 4, 4 processes, accumulation 3, max_train_steps 900",
        {"img/10_alice": [[768, 1024, 9], [1024, 768, 4]], "img/6_bob": [[1024, 1024, 11]],
         "img/15_logo": [[640, 640, 5]], "img/2_scenery": [[1280, 720, 20], [720, 1280, 6]],
         "reg/1_person": [[1024, 1024, 40]], "reg/1_woman": [[1024, 1024, 25]]},
        {"config.toml": args("max_train_steps = 900", 'train_data_dir = "img"', 'reg_data_dir = "reg"',
                             'resolution = "1024,1024"', "enable_bucket = true", "min_bucket_reso = 512",
                             "max_bucket_reso = 2048", "train_batch_size = 4",
                             "gradient_accumulation_steps = 3")},
        num_processes=4))
    c.append(case(
        "real-sdxl-val-3gpu",
        "sdxl_train_network, dataset config with validation_split 0.1 and a seed, two concepts, reg, "
        "bucket steps 32, batch 3, 3 processes, accumulation 2",
        {"img/a": [[1024, 1024, 12], [1152, 896, 8], [896, 1152, 5]], "img/b": [[1344, 768, 10]],
         "reg/r": [[1024, 1024, 30]]},
        {"config.toml": args("max_train_epochs = 8", "gradient_accumulation_steps = 2",
                             'dataset_config = "dataset.toml"'),
         "dataset.toml": "[general]\nresolution = 1024\nenable_bucket = true\nmin_bucket_reso = 512\n"
                         "max_bucket_reso = 2048\nbucket_reso_steps = 32\nvalidation_split = 0.1\n"
                         "validation_seed = 2024\n\n[[datasets]]\nbatch_size = 3\n\n[[datasets.subsets]]\n"
                         "image_dir = \"img/a\"\nnum_repeats = 4\n\n[[datasets.subsets]]\nimage_dir = \"img/b\"\n"
                         "num_repeats = 6\n\n[[datasets.subsets]]\nimage_dir = \"reg/r\"\nis_reg = true\n"},
        num_processes=3, script="sdxl_train_network"))
    c.append(case(
        "real-flux-gui-v25",
        "flux_train_network as the v25 GUI writes it (args TOML with many options, dataset config "
        "with resize_interpolation), 2 processes",
        {"img/char": [[1024, 1024, 10], [832, 1216, 6]], "img/outfit": [[1216, 832, 7]]},
        {"config.toml": HEAD + "\n".join([
            'ae = "ae.safetensors"', 'clip_l = "clip_l.safetensors"', 't5xxl = "t5xxl.safetensors"',
            "cache_latents = true", "cache_latents_to_disk = true", "cache_text_encoder_outputs = true",
            "cache_text_encoder_outputs_to_disk = true", "network_train_unet_only = true",
            'network_module = "networks.lora_flux"', "network_dim = 16", "network_alpha = 16",
            'optimizer_type = "AdamW8bit"', "learning_rate = 0.0003", 'lr_scheduler = "cosine"',
            "lr_warmup_steps = 0.05", "max_train_epochs = 10", "save_every_n_epochs = 2",
            'mixed_precision = "bf16"', "gradient_checkpointing = true", "fp8_base = true",
            'timestep_sampling = "shift"', "discrete_flow_shift = 3.1582", 'model_prediction_type = "raw"',
            "guidance_scale = 1.0", "seed = 42", 'dataset_config = "dataset.toml"']) + "\n",
         "dataset.toml": "[general]\nshuffle_caption = false\ncaption_extension = \".txt\"\nkeep_tokens = 1\n\n"
                         "[[datasets]]\nresolution = 1024\nbatch_size = 2\nenable_bucket = true\n"
                         "min_bucket_reso = 256\nmax_bucket_reso = 2048\nbucket_reso_steps = 64\n"
                         "resize_interpolation = \"lanczos\"\n\n[[datasets.subsets]]\nimage_dir = \"img/char\"\n"
                         "num_repeats = 5\nclass_tokens = \"ohwx woman\"\n\n[[datasets.subsets]]\n"
                         "image_dir = \"img/outfit\"\nnum_repeats = 3\n"},
        num_processes=2, script="flux_train_network"))
    c.append(case(
        "real-lora-gui-folders-epochs",
        "train_network as the v25 GUI writes it from folders (two concepts, reg, buckets, "
        "max_train_steps with max_train_epochs winning), 2 processes",
        {"img/20_face": [[512, 512, 14], [512, 768, 6]], "img/8_body": [[512, 768, 12]],
         "reg/1_person": [[512, 512, 50]]},
        {"config.toml": args("max_train_steps = 3000", "max_train_epochs = 12", 'train_data_dir = "img"',
                             'reg_data_dir = "reg"', 'resolution = "512,512"', "enable_bucket = true",
                             "min_bucket_reso = 256", "max_bucket_reso = 2048", "bucket_reso_steps = 64",
                             "train_batch_size = 2", "gradient_accumulation_steps = 1", "cache_latents = true",
                             'lr_scheduler = "cosine_with_restarts"', "lr_warmup_steps = 0.1")},
        num_processes=2))
    # --- second batch: what the GUI default and b8896aad's sd3_train need ---------------------
    c.append(case(
        "val-gui-default",
        "what a GUI v25 LoRA JSON with a dataset_config sends (no max_train_steps: the trainer's "
        "1600), the dataset config holding validation_split 0.25 and validation_seed and every "
        "dataset-level bucket value, so that none of the GUI's own arguments reaches the dataset "
        "(tests/test_sd_scripts_versions.py runs the GUI JSON against these numbers)",
        {"img/a": MIXED},
        {"config.toml": args('dataset_config = "dataset.toml"'),
         "dataset.toml": "[general]\nresolution = 512\nenable_bucket = true\nbatch_size = 2\n"
                         "bucket_no_upscale = false\nmin_bucket_reso = 256\nmax_bucket_reso = 1024\n"
                         "bucket_reso_steps = 64\nvalidation_split = 0.25\nvalidation_seed = 42\n\n"
                         "[[datasets]]\n[[datasets.subsets]]\nimage_dir = \"img/a\"\nnum_repeats = 3\n"
                         "caption_extension = \".txt\"\n"}))
    c.append(case(
        "sd3-train-no-te-cache",
        "sd3_train without cache_text_encoder_outputs: b8896aad's sd3_train asserts it is set "
        "before building the dataset; the later versions train the text encoders",
        {"img/2_a": [[1024, 1024, 2], [1216, 832, 2]]},
        {"config.toml": args("max_train_epochs = 2", 'train_data_dir = "img"', 'resolution = "1024,1024"',
                             "enable_bucket = true", "min_bucket_reso = 512", "max_bucket_reso = 2048",
                             "bucket_reso_steps = 8")},
        script="sd3_train"))
    c.append(case(
        "sd3-train-te-cache-to-disk-only",
        "sd3_train with only cache_text_encoder_outputs_to_disk: b8896aad's assert reads "
        "cache_text_encoder_outputs itself",
        {"img/2_a": [[1024, 1024, 3]]},
        {"config.toml": args("max_train_epochs = 2", 'train_data_dir = "img"', 'resolution = "1024,1024"',
                             "cache_text_encoder_outputs_to_disk = true")},
        script="sd3_train"))
    c.append(case(
        "sd3-train-weighted-captions",
        "sd3_train with weighted_captions (and the text-encoder cache on)",
        {"img/2_a": [[1024, 1024, 3]]},
        {"config.toml": args("max_train_epochs = 2", 'train_data_dir = "img"', 'resolution = "1024,1024"',
                             "cache_text_encoder_outputs = true", "weighted_captions = true")},
        script="sd3_train"))
    c.append(case(
        "sd3-train-te-cache-shuffle",
        "sd3_train caching text-encoder outputs with shuffle_caption, two concepts with buckets",
        {"img/2_a": [[1024, 1024, 3]], "img/3_b": [[1216, 832, 2]]},
        {"config.toml": args("max_train_epochs = 3", 'train_data_dir = "img"', 'resolution = "1024,1024"',
                             "enable_bucket = true", "min_bucket_reso = 512", "max_bucket_reso = 2048",
                             "bucket_reso_steps = 64", "cache_text_encoder_outputs = true",
                             "shuffle_caption = true")},
        script="sd3_train"))
    c.append(case(
        "sd3-train-ok-2gpu",
        "sd3_train with the text-encoder cache, buckets (steps 64), two concepts, 2 processes",
        {"img/2_a": [[1024, 1024, 4], [1216, 832, 3]], "img/5_b": [[832, 1216, 2]]},
        {"config.toml": args("max_train_epochs = 4", 'train_data_dir = "img"', 'resolution = "1024,1024"',
                             "enable_bucket = true", "min_bucket_reso = 512", "max_bucket_reso = 2048",
                             "cache_text_encoder_outputs = true", "train_batch_size = 2")},
        num_processes=2, script="sd3_train"))
    c.append(case(
        "ft-train-resolution-stems",
        "fine_tune with metadata keys without extension (found by glob up to the sd3 branch) and "
        "train_resolution bucket info for every entry: precalculated buckets there; v0.10+ joins "
        "the keys to image_dir and reads image_size only",
        {"img": [[512, 512, 2], [768, 512, 2]]},
        {"config.toml": args("max_train_epochs = 2", 'train_data_dir = "img"', 'in_json = "meta.json"',
                             'resolution = "512,512"', "cache_latents = true", "train_batch_size = 2"),
         "meta.json": json.dumps({"0000": {"caption": "a", "train_resolution": [512, 512]},
                                  "0001": {"caption": "b", "train_resolution": [512, 512]},
                                  "0002": {"caption": "c", "train_resolution": [640, 384]},
                                  "0003": {"caption": "d", "train_resolution": [640, 384]}})},
        script="fine_tune"))
    c.append(case(
        "train-control-net-folders",
        "train_control_net with conditioning images, buckets at 512 (steps 64): on the sd3 branch "
        "(8ebe858f..2e0fcc50) the script calls train_util.load_tokenizer, which that train_util no "
        "longer has",
        {"img": [[512, 512, 3], [768, 512, 2]], "cond": [[512, 512, 3], [768, 512, 2]]},
        {"config.toml": args("max_train_epochs = 3", 'train_data_dir = "img"', 'conditioning_data_dir = "cond"',
                             'resolution = "512,512"', "enable_bucket = true", "train_batch_size = 2")},
        script="train_control_net"))
    c.append(case(
        "missing-subset-dir",
        "a dataset config whose second image_dir is not there while the first is: skipped ('not "
        "directory') from v0.8.8; v0.8.6-v0.8.7 and b8896aad (sd3 branch before the fix) stop",
        {"img/a": [[512, 512, 3]]},
        {"config.toml": args("max_train_epochs = 2", 'dataset_config = "dataset.toml"'),
         "dataset.toml": "[general]\nresolution = 512\n\n[[datasets]]\n[[datasets.subsets]]\n"
                         "image_dir = \"img/a\"\n\n[[datasets.subsets]]\nimage_dir = \"img/gone\"\n"}))
    return c


def write_specs(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for spec in specs():
        (target / f"{spec['id']}.json").write_text(json.dumps(spec, ensure_ascii=False, indent=1) + "\n",
                                                   encoding="utf-8")
    print(f"{len(specs())} specs in {target}")


def _dump(case_data: dict) -> str:
    """The layout ../shared/oracles/golden/build.py writes (first levels expanded)."""
    def fmt(value, depth, indent=0):
        if isinstance(value, dict) and value and depth > 0:
            pad = " " * (indent + 2)
            items = [f"{pad}{json.dumps(k, ensure_ascii=False)}: {fmt(v, depth - 1, indent + 2)}"
                     for k, v in value.items()]
            return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
        return json.dumps(value, ensure_ascii=False)
    depths = {"dataset": 1, "captions": 1, "files": 1, "expected": 2}
    order = ["id", "about", "dataset", "captions", "files", "config", "options", "expected"]
    items = [f"  {json.dumps(k)}: {fmt(case_data[k], depths.get(k, 0), 2)}" for k in order if k in case_data]
    return "{\n" + ",\n".join(items) + "\n}\n"


def merge(built: Path) -> None:
    """New cases are copied whole; an existing case gets the built versions it lacks (its
    stored versions are kept as they are)."""
    added = updated = 0
    for path in sorted(built.glob("*.json")):
        new = json.loads(path.read_text(encoding="utf-8"))
        target = GOLDEN / path.name
        if target.exists():
            old = json.loads(target.read_text(encoding="utf-8"))
            extra = {k: v for k, v in new["expected"].items() if k.startswith("sd-scripts ")
                     and k not in old["expected"]}
            if not extra:
                continue
            old["expected"] = {**old["expected"], **extra}
            target.write_text(_dump(old), encoding="utf-8")
            updated += 1
        else:
            target.write_text(_dump(new), encoding="utf-8")
            added += 1
    print(f"merge: {added} new cases, {updated} cases with new versions")


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("specs", "merge"):
        print(__doc__)
        return 2
    if argv[0] == "specs":
        write_specs(Path(argv[1]))
    else:
        merge(Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
