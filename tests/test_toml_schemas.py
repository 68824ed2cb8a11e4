"""Tests of the two sd-scripts TOML schemas (schemas/args-toml.schema.json and
schemas/dataset-toml.schema.json) against the corpus and hand-made negative cases.

The dataset schema mirrors sd-scripts' voluptuous ConfigSanitizer (library/config_util.py, v0.10.1).
voluptuous checks Python types with isinstance, so it tells 1 from 1.0; jsonschema's default type
checker does not (1.0 "is an integer"). ``strict_validator`` below redefines "integer" the Python way,
which is how the schemas are meant to be used.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
DATA = ROOT / "kohya_tune" / "versions" / "data"
CORPUS = ROOT / "tests" / "data" / "corpus"

ARGS_SCHEMA = json.loads((SCHEMAS / "args-toml.schema.json").read_text(encoding="utf-8"))
DATASET_SCHEMA = json.loads((SCHEMAS / "dataset-toml.schema.json").read_text(encoding="utf-8"))


def _python_int(checker, instance) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


StrictValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _python_int),
)


def strict_validator(schema: dict) -> jsonschema.protocols.Validator:
    return StrictValidator(schema)


ARGS = strict_validator(ARGS_SCHEMA)
DATASET = strict_validator(DATASET_SCHEMA)


def errors(validator, instance) -> list[jsonschema.ValidationError]:
    return sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))


def fmt(errs) -> str:
    return "\n".join(f"{list(e.absolute_path)}: {e.message[:200]}" for e in errs)


# ----------------------------------------------------------------------------- corpus selection

# The only corpus TOMLs that are not valid TOML: two alternative `network_args = [...]` lines each
# (duplicate key). See tests/data/corpus/README.md.
NOT_VALID_TOML = {
    "sd-scripts/docs/train_network_README-ja.block1.toml",
    "sd-scripts/docs/train_network_README-ja.block2.toml",
}

# Documentation examples that the real sd-scripts v0.10.1 rejects. Each was run through the
# unmodified ConfigSanitizer(True, True, True, True) of library/config_util.py with voluptuous 0.15.2
# (the version sd-scripts pins) after parsing with toml 0.10.2; the message it raised is kept here.
# The schema must reject each of them too, at the same place.
REJECTED_BY_SD_SCRIPTS = {
    # top-level keys without a [general] header
    "sd-scripts/docs/flux_train_network.block2.toml": ([], "extra keys not allowed @ data['validation_seed']"),
    # interpolation_type is not a key (the real key is resize_interpolation)
    "sd-scripts/docs/flux_train_network.block3.toml": (
        ["datasets", 0], "extra keys not allowed @ data['datasets'][0]['interpolation_type']"),
    # fragments: [[datasets.subsets]] without [[datasets]] makes `datasets` a table, not an array
    "sd-scripts/docs/masked_loss_README-ja.block1.toml": (["datasets"], "expected a list for dictionary value @ data['datasets']"),
    "sd-scripts/docs/masked_loss_README-ja.block2.toml": (["datasets"], "expected a list for dictionary value @ data['datasets']"),
    "sd-scripts/docs/train_lllite_README-ja.block1.toml": (["datasets"], "expected a list for dictionary value @ data['datasets']"),
    # validation_split is a dataset-level key; docs/validation.md shows it in subsets
    "sd-scripts/docs/validation.block1.toml": (
        ["datasets", 0, "subsets", 1], "extra keys not allowed @ data['datasets'][0]['subsets'][1]['validation_split']"),
    "sd-scripts/docs/validation.block2.toml": (
        ["datasets", 0, "subsets", 0], "extra keys not allowed @ data['datasets'][0]['subsets'][0]['validation_split']"),
    "sd-scripts/docs/validation.block3.toml": (
        ["datasets", 0, "subsets", 1], "extra keys not allowed @ data['datasets'][0]['subsets'][1]['validation_split']"),
    "sd-scripts/docs/validation.block4.toml": (
        ["datasets", 0, "subsets", 0], "extra keys not allowed @ data['datasets'][0]['subsets'][0]['validation_split']"),
    # ... and resolution = "1024,1024" (a string) in a dataset table; also subset-level validation_split
    "sd-scripts/docs/validation.block5.toml": (
        ["datasets", 0, "resolution"], "expected int for dictionary value @ data['datasets'][0]['resolution']"),
    "sd-scripts/docs/validation.block6.toml": (
        ["datasets", 0, "resolution"], "expected int for dictionary value @ data['datasets'][0]['resolution']"),
}


def _corpus_files() -> tuple[list[str], list[str]]:
    """(dataset TOMLs, args TOMLs) as paths relative to CORPUS, chosen by index.json `kind`."""
    if not (CORPUS / "sd-scripts" / "index.json").exists():
        return [], []
    dataset, args = [], []
    for f in json.loads((CORPUS / "sd-scripts" / "index.json").read_text(encoding="utf-8"))["files"]:
        if "file" not in f:  # byte-identical duplicate of an earlier block
            continue
        rel = f"sd-scripts/{f['file']}"
        kind = f.get("kind", "")
        if kind.startswith("dataset_config"):
            dataset.append(rel)
        elif kind.startswith("training-args config"):
            args.append(rel)
        elif rel not in NOT_VALID_TOML:
            raise AssertionError(f"unexpected kind {kind!r} for {rel}")
    for f in json.loads((CORPUS / "kohya_ss" / "index.json").read_text(encoding="utf-8"))["files"]:
        if f["path"].startswith("test/config/") and f["path"].endswith(".toml"):
            if f["kind"] == "sd-scripts dataset_config TOML":
                dataset.append(f"kohya_ss/{f['tag']}/{f['path']}")
            # the other kohya_ss TOMLs under test/config are LECO prompt files: neither schema applies
    return dataset, args


DATASET_FILES, ARGS_FILES = _corpus_files()
needs_corpus = pytest.mark.skipif(not DATASET_FILES, reason="tests/data/corpus not present")


def load(rel: str) -> dict:
    return tomllib.loads((CORPUS / rel).read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- schema sanity


@pytest.mark.parametrize("schema", [ARGS_SCHEMA, DATASET_SCHEMA], ids=["args", "dataset"])
def test_check_schema(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_ids():
    assert ARGS_SCHEMA["$id"] == "https://kohya-tune.invalid/schemas/args-toml.schema.json"
    assert DATASET_SCHEMA["$id"] == "https://kohya-tune.invalid/schemas/dataset-toml.schema.json"


@needs_corpus
def test_corpus_selection_counts():
    assert len(ARGS_FILES) == 2
    assert len([f for f in DATASET_FILES if f.startswith("sd-scripts/")]) == 26
    assert len([f for f in DATASET_FILES if f.startswith("kohya_ss/")]) == 14
    for rel in NOT_VALID_TOML:
        with pytest.raises(tomllib.TOMLDecodeError):
            load(rel)


# ----------------------------------------------------------------------------- corpus: dataset TOML


@needs_corpus
@pytest.mark.parametrize("rel", [f for f in DATASET_FILES if f not in REJECTED_BY_SD_SCRIPTS] or ["-"])
def test_corpus_dataset_toml_valid(rel):
    errs = errors(DATASET, load(rel))
    assert not errs, fmt(errs)


@needs_corpus
@pytest.mark.parametrize("rel", sorted(REJECTED_BY_SD_SCRIPTS))
def test_corpus_dataset_toml_rejected_like_sd_scripts(rel):
    path, _vol_message = REJECTED_BY_SD_SCRIPTS[rel]
    errs = errors(DATASET, load(rel))
    assert errs, f"{rel} is rejected by sd-scripts but passes the schema"
    assert any(list(e.absolute_path) == path for e in errs), fmt(errs)


@needs_corpus
def test_corpus_dataset_toml_with_toml_0_10_2():
    """sd-scripts parses with toml==0.10.2; the verdict must not depend on the parser."""
    toml = pytest.importorskip("toml")
    for rel in DATASET_FILES:
        data = toml.loads((CORPUS / rel).read_text(encoding="utf-8"))
        assert bool(errors(DATASET, data)) == (rel in REJECTED_BY_SD_SCRIPTS), rel


# ----------------------------------------------------------------------------- corpus: args TOML


@needs_corpus
@pytest.mark.parametrize("rel", ARGS_FILES or ["-"])
def test_corpus_args_toml_valid(rel):
    errs = errors(ARGS, load(rel))
    assert not errs, fmt(errs)


# ----------------------------------------------------------------------------- negative cases


def ds(text: str) -> list[jsonschema.ValidationError]:
    return errors(DATASET, tomllib.loads(text))


def ar(text: str) -> list[jsonschema.ValidationError]:
    return errors(ARGS, tomllib.loads(text))


BASE_DS = """
[general]
shuffle_caption = true
[[datasets]]
resolution = 512
batch_size = 4
  [[datasets.subsets]]
  image_dir = "img"
  num_repeats = 10
"""


def test_base_dataset_ok():
    assert not ds(BASE_DS)


def test_batch_size_in_subset_fails():
    errs = ds(BASE_DS + "  batch_size = 2\n")
    assert errs
    assert any(list(e.absolute_path) == ["datasets", 0, "subsets", 0] and "batch_size" in e.message for e in errs)


def test_validation_split_int_fails_float_ok():
    bad = BASE_DS.replace("batch_size = 4", "batch_size = 4\nvalidation_split = 0")
    errs = ds(bad)
    assert any(list(e.absolute_path) == ["datasets", 0, "validation_split"] for e in errs), fmt(errs)
    assert not ds(BASE_DS.replace("batch_size = 4", "batch_size = 4\nvalidation_split = 0.0"))
    assert not ds(BASE_DS.replace("batch_size = 4", "batch_size = 4\nnetwork_multiplier = 1.0"))
    assert ds(BASE_DS.replace("batch_size = 4", "batch_size = 4\nnetwork_multiplier = 1"))


def test_unknown_key_in_general_fails():
    errs = ds(BASE_DS.replace("shuffle_caption = true", "shuffle_caption = true\nfoo = 1"))
    assert any(list(e.absolute_path) == ["general"] and "foo" in e.message for e in errs), fmt(errs)


def test_unknown_top_level_table_fails():
    assert ds(BASE_DS + "[training]\nx = 1\n")


def test_required_keys_and_kinds():
    # DreamBooth subset without image_dir
    assert any("image_dir" in e.message for e in ds("[[datasets]]\n[[datasets.subsets]]\nnum_repeats = 1\n"))
    # fine-tuning subset: metadata_file, image_dir optional; class_tokens not allowed at FT dataset level
    assert not ds('[[datasets]]\n[[datasets.subsets]]\nmetadata_file = "m.json"\n')
    assert ds('[[datasets]]\nclass_tokens = "x"\n[[datasets.subsets]]\nmetadata_file = "m.json"\n')
    assert not ds('[[datasets]]\nclass_tokens = "x"\n[[datasets.subsets]]\nimage_dir = "i"\n')
    # DreamBooth and fine-tuning subsets mixed in one dataset
    mixed = ds('[[datasets]]\n[[datasets.subsets]]\nimage_dir = "i"\n[[datasets.subsets]]\nmetadata_file = "m"\n')
    assert any(e.schema.get("x-kohya-error", "").startswith("DreamBooth subset and fine tuning") or
               "DreamBooth subset and fine tuning" in e.message for e in mixed), fmt(mixed)
    # ControlNet / masked-loss subsets need both dirs; is_reg is DreamBooth-only
    assert not ds('[[datasets]]\n[[datasets.subsets]]\nimage_dir = "i"\nconditioning_data_dir = "c"\n')
    assert ds('[[datasets]]\n[[datasets.subsets]]\nimage_dir = "i"\nconditioning_data_dir = "c"\nis_reg = true\n')


def test_pairs_and_resolution():
    assert not ds("[general]\nresolution = [512, 768]\nface_crop_aug_range = [2.0, 4.0]\n")
    assert ds("[general]\nresolution = [512, 768, 1]\n")
    assert ds('[general]\nresolution = "512,512"\n')
    assert ds("[general]\nface_crop_aug_range = [2, 4]\n")  # float pair rejects integers
    assert ds("[general]\nface_crop_aug_range = [2.0]\n")


def test_voluptuous_int_accepts_bool():
    # voluptuous quirk mirrored on purpose (bool is a subclass of int); annotated in the schema
    assert not ds("[general]\nkeep_tokens = true\n")
    assert DATASET_SCHEMA["$defs"]["key.keep_tokens"]["x-kohya-accepts-bool"] is True
    assert ds("[general]\nshuffle_caption = 1\n")  # bool rejects 1
    assert ds("[general]\nmin_bucket_reso = 256.0\n")  # int rejects floats


def test_args_quoted_int_fails():
    errs = ar('max_train_steps = "1600"\n')
    assert any(list(e.absolute_path) == ["max_train_steps"] for e in errs), fmt(errs)
    assert not ar("max_train_steps = 1600\n")


def test_args_int_resolution_fails():
    assert ar("resolution = 512\n")
    assert not ar('resolution = "512,512"\n')


def test_args_sections_flattened_one_level():
    assert not ar('[model]\npretrained_model_name_or_path = "m.safetensors"\n[training]\nmax_train_steps = 10\n')
    assert ar('[training]\nmax_train_steps = "10"\n')
    assert ar("[training]\nnot_an_arg = 1\n")
    assert ar("not_an_arg = 1\n")
    assert ar("[training.inner]\nmax_train_steps = 10\n")  # only one level is flattened


def test_args_types():
    assert not ar('network_args = ["conv_dim=4", "conv_alpha=1"]\noptimizer_args = []\n')
    assert ar('network_args = "conv_dim=4"\n')  # nargs options need arrays
    assert not ar("lr_warmup_steps = 0.1\n")  # int_or_float
    assert not ar("learning_rate = 1\n")  # a float option accepts a TOML integer (Python arithmetic)
    assert not ar("xformers = true\n")
    assert ar('xformers = "true"\n')
    assert not ar("text_encoder_lr = 1e-4\n") and not ar("text_encoder_lr = [1e-4, 5e-5]\n")


# ----------------------------------------------------------------------------- data files agree with schemas


def test_dataset_keys_json_matches_schema():
    kt = json.loads((DATA / "dataset_keys.json").read_text(encoding="utf-8"))
    defs = DATASET_SCHEMA["$defs"]
    assert set(kt["keys"]) == {k[4:] for k in defs if k.startswith("key.")}
    for key, info in kt["keys"].items():
        d = defs[f"key.{key}"]
        assert d["x-kohya-level"] == info["level"], key
        assert d["x-kohya-since"] == info["since"], key
        assert d["x-kohya-groups"] == info["groups"], key
        assert d["description"]
    for kind, allowed in kt["allowed"].items():
        assert list(defs[kind]["properties"]) == allowed, kind
        assert defs[kind]["additionalProperties"] is False
    for kind, req in kt["required"].items():
        assert defs[kind]["required"] == req
    dd = kt["dataclass_defaults"]
    assert dd["num_repeats"] == 1 and dd["caption_extension"] == ".caption" and dd["batch_size"] == 1
    assert (dd["min_bucket_reso"], dd["max_bucket_reso"], dd["bucket_reso_steps"]) == (256, 1024, 64)
    assert dd["enable_bucket"] is False and dd["bucket_no_upscale"] is False


def test_sd_scripts_args_json_matches_args_schema():
    data = json.loads((DATA / "sd_scripts_args.json").read_text(encoding="utf-8"))
    old, new = data["profiles"]["v0.6.5"], data["profiles"]["v0.10.1"]
    assert len(old["commit"]) == len(new["commit"]) == 40
    # "$schema" is the editor hint (tools/gen_sd_scripts_args.py), no argparse option
    assert set(ARGS_SCHEMA["properties"]) - {"$schema"} == set(new["args"])
    assert ARGS_SCHEMA["properties"]["$schema"]["type"] == "string"
    for dest, p in ARGS_SCHEMA["properties"].items():
        if dest == "$schema":
            continue
        assert p["x-kohya-since"] == ("v0.6.5" if dest in old["args"] else "v0.10.1"), dest
        assert p["x-kohya-scripts"] == new["args"][dest]["scripts"]
    for script, dests in new["scripts"].items():
        assert set(dests) <= set(new["args"]), script
    # spot checks against sd-scripts' argparse definitions
    a = new["args"]
    assert a["max_train_steps"]["type"] == "int" and a["max_train_steps"]["default"] == 1600
    assert a["lr_warmup_steps"]["type"] == "int_or_float"
    assert a["network_args"]["type"] == "list" and a["network_args"]["nargs"] == "*"
    assert a["xformers"]["type"] == "bool" and a["xformers"]["action"] == "store_true"
    assert a["resolution"]["type"] == "str"
    assert "network_dim" in new["scripts"]["train_network"] and "network_dim" not in new["scripts"]["train_db"]
    assert "caption_dropout_rate" not in new["scripts"]["train_textual_inversion"]
    assert "weighted_captions" not in new["scripts"]["train_textual_inversion"]
    assert "cache_text_encoder_outputs" not in new["scripts"]["sdxl_train_textual_inversion"]
    assert "validation_split" not in old["args"]
