"""Turn loaded documents into a Plan: trainer arguments, then datasets and subsets.

The dataset side follows sd-scripts' `config_util.BlueprintGenerator`: a subset value is looked up
in the subset, then its dataset, then `[general]`, then the argument namespace (where
`train_batch_size` is `batch_size` and `dataset_repeats` is `num_repeats`), then the dataclass
default; the first value that is not None wins (HEAD config_util.py L454-471).
"""
from __future__ import annotations

import math
from pathlib import Path

from kohya_tune.engine import dataset_schema, images, numbers
from kohya_tune.load import documents
from kohya_tune.versions import profiles
from kohya_tune.load.documents import Document
from kohya_tune.engine.plan import (DatasetPlan, Origin, Plan, PlanError, Settings, SubsetPlan, TrainerRefusal,
                   access_problem, map_path, resolve_dir, resolve_file)

# argparse defaults of the options that feed the step count (HEAD train_util.py L3900-3979 and
# add_dataset_arguments; the same values in J23). Options a script lacks are simply absent from
# its namespace; `validation_split`/`validation_seed` exist in the train_network family only.
ARG_DEFAULTS = {
    "train_batch_size": 1,
    "max_train_steps": 1600,
    "max_train_epochs": None,
    "gradient_accumulation_steps": 1,
    "dataset_repeats": 1,
    "resolution": None,
    "enable_bucket": False,
    "min_bucket_reso": 256,
    "max_bucket_reso": 1024,
    "bucket_reso_steps": 64,
    "bucket_no_upscale": False,
    "caption_extension": ".caption",
    "train_data_dir": None,
    "reg_data_dir": None,
    "in_json": None,
    "dataset_config": None,
}

# dataclass defaults (HEAD config_util.py L55-139)
SUBSET_DEFAULTS = {"num_repeats": 1, "is_reg": False, "class_tokens": None,
                   "caption_extension": ".caption", "cache_info": False, "image_dir": None,
                   "metadata_file": None, "conditioning_data_dir": None,
                   # what is_latent_cacheable / is_text_encoder_output_cacheable look at
                   # (HEAD train_util.py L1099-1113)
                   "color_aug": False, "random_crop": False, "shuffle_caption": False,
                   "caption_dropout_rate": 0.0, "token_warmup_step": 0,
                   "caption_tag_dropout_rate": 0.0}
DATASET_DEFAULTS = {"batch_size": 1, "enable_bucket": False, "min_bucket_reso": 256,
                    "max_bucket_reso": 1024, "bucket_reso_steps": 64, "bucket_no_upscale": False,
                    "resolution": None, "validation_split": 0.0, "validation_seed": None,
                    "resize_interpolation": None}

ARG_TO_CONFIG = {"train_batch_size": "batch_size", "dataset_repeats": "num_repeats"}
# where a subset value was found, in fallback order (subset, dataset, [general], arguments)
SOURCE_LABELS = ("subset", "dataset", "general", "argument")
NETWORK_ONLY_ARGS = {"validation_split", "validation_seed"}


def build_plan(doc: Document, settings: Settings) -> Plan:
    if doc.kind == documents.OTHER:
        raise PlanError("not a kohya config (neither a GUI JSON, an args TOML nor a dataset "
                        "config)", doc.path)
    gui = None
    arg_origins: dict = {}
    sd_label = settings.sd_scripts
    if doc.kind == documents.GUI:
        gui = _gui_launch(doc, settings)
    sd_paired = doc.kind == documents.GUI and sd_label is None
    if sd_paired:
        # the trainer this GUI release shipped with, unless the user names one
        sd_label = gui.sd_scripts.get("tag")
    sd_note = None
    sd = profiles.sd_scripts(sd_label)
    if profiles.version_key(sd.label) < profiles.version_key(sd.profile):
        # a GUI release older than the oldest sd-scripts profile (v21.5-v21.8 bundle v0.5.3-v0.6.4)
        what = f"what GUI {gui.version} bundles" if sd_paired else "what GUI v21.5-v21.8 bundle"
        sd_note = (f"sd-scripts {sd_label} ({what}) has no profile of its "
                   f"own: using {sd.profile}'s, the oldest kohya-tune knows")
    if sd_paired:
        sd = profiles.with_scripts(sd, gui.sd_scripts.get("scripts"),
                                   f"GUI {gui.version}'s {gui.sd_scripts.get('ships')} sd-scripts "
                                   f"{gui.sd_scripts.get('commit')}",
                                   commit=gui.sd_scripts.get("commit"))
    if doc.kind == documents.GUI:
        args = dict(gui.args)
        script = settings.script or gui.script
        for key in doc.data:
            arg_origins.setdefault(key, Origin(doc, (key,)))
    elif doc.kind == documents.ARGS:
        args = documents.flatten_args(doc.data)
        for key in args:
            arg_origins[key] = Origin(doc, documents.flat_arg_path(doc.data, key))
        script = settings.script or "train_network"
    else:  # a dataset config on its own: the trainer's defaults for everything else
        args = {}
        script = settings.script or "train_network"

    if settings.num_processes is not None:
        num_processes, np_source = settings.num_processes, "--num-processes"
    elif gui is not None and gui.num_processes:
        num_processes, np_source = int(gui.num_processes), "the GUI's accelerate launch"
    else:
        num_processes, np_source = 1, "default (one process)"
    plan = Plan(config=doc, script=script, sd=sd, args=args, arg_origins=arg_origins,
                mode="folders", num_processes=num_processes, num_processes_source=np_source,
                gui=gui, path_map=list(settings.path_map))
    check_step_numbers(plan)
    if sd_note:
        plan.notes.append(sd_note)
    if gui is not None:
        plan.notes.extend(gui.notes)
        plan.gui_version_source = describe_gui_version(doc, settings)
    if settings.sd_scripts:
        plan.sd_scripts_source = "--sd-scripts"
    elif sd_paired:
        info = gui.sd_scripts
        plan.sd_scripts_source = (f"the one GUI {gui.version} runs ({info.get('ships')} commit "
                                  f"{info.get('commit')}; nearest tag at or below: {info.get('tag')}"
                                  + (")" if info.get("verified", True) else
                                     ", as named by the GUI's submodule update)"))
    else:
        plan.sd_scripts_source = "the newest profile"
    return plan


def check_step_numbers(plan: Plan) -> None:
    """The options of the trainer's step arithmetic, before anything computes with them
    (engine/numbers.py says what the trainer does with each unusable value). A boolean is a
    number to Python's arithmetic: True counts as 1, as it does in the trainer."""
    for key in numbers.TRAINER_STEP_KEYS:
        value = plan.args.get(key)
        if isinstance(value, bool):
            plan.args[key] = int(value)
            plan.notes.append(f"{key} = {str(value).lower()} is a boolean: the trainer's "
                              f"arithmetic takes it as {int(value)}")
            continue
        problem = numbers.trainer_problem(key, value)
        if problem:
            raise TrainerRefusal(problem, plan.arg_origins.get(key))


def describe_gui_version(doc: Document, settings: Settings) -> str:
    if settings.gui_version:
        return f"--gui-version {settings.gui_version}"
    lo, hi = doc.gui_versions or ("v21.5.11", "master")
    if lo == hi:
        return f"assumed: the only version the file's keys fit; pass --gui-version to choose"
    return (f"assumed: the newest version the file's keys fit ({lo} to {hi}); "
            f"pass --gui-version to choose")


def _gui_launch(doc: Document, settings: Settings):
    from kohya_tune.engine import gui as gl

    version = settings.gui_version
    if version is None and doc.gui_versions:
        version = doc.gui_versions[1]

    def resolve(text):
        return resolve_dir(text, settings, base=doc.directory)

    def find_file(text):
        return resolve_file(text, settings.path_map, doc.directory)

    release = version or "master"
    try:
        return gl.gui_launch(doc.data, doc.gui_tab, release, resolve, find_file)
    except OSError as exc:
        # a dataset folder the GUI would list but we may not
        raise PlanError(f"{exc.filename}: cannot list the folder: {exc.strerror or exc}",
                        doc.path) from None
    except (OverflowError, ValueError, ZeroDivisionError, TypeError) as exc:
        # the GUI's own int()/float() arithmetic on a value it cannot convert (the GUI raises
        # the same exception in its train handler: nothing is trained)
        culprit = _gui_culprit(doc)
        where = f" ({culprit[1]})" if culprit else ""
        raise TrainerRefusal(f"the GUI {release} stops before training: "
                             f"{type(exc).__name__}: {exc}{where}",
                             Origin(doc, culprit[0]) if culprit else None) from None


def _gui_culprit(doc: Document):
    """The first value of a GUI config that the GUI cannot compute with, and why."""
    if not isinstance(doc.data, dict):
        return None
    for key, value in doc.data.items():
        problem = numbers.gui_problem(key, value)
        if problem:
            return (key,), problem
    for key, value in doc.data.items():
        if numbers.is_number(value) and numbers.literal(value) in ("NaN", "Infinity", "-Infinity"):
            return (key,), f"{key} = {numbers.literal(value)}"
    return None


# --------------------------------------------------------------------------------------------
# datasets

def namespace(plan: Plan) -> dict:
    """The argument namespace as the dataset code sees it: defaults, then the file's values."""
    ns = dict(ARG_DEFAULTS)
    family = profiles.script_family(plan.script)
    if family == "network":
        ns.setdefault("validation_split", 0.0)
        ns.setdefault("validation_seed", None)
    ns.update(plan.args)
    if "caption_extention" in plan.args and plan.args.get("caption_extention") is not None:
        ns["caption_extension"] = plan.args["caption_extention"]  # prepare_dataset_args, all versions
    return ns


RESOLUTION_ASSERT = ("resolution must be 'size' or 'width,height' / resolution（解像度）は'サイズ'または"
                     "'幅','高さ'で指定してください: {value}")
FACE_CROP_ASSERT = ("face_crop_aug_range must be two floats / face_crop_aug_rangeは'下限,上限'で指定して"
                    "ください: {value}")


def _split_numbers(value, convert, name: str, origin: Origin | None) -> tuple:
    """`tuple(convert(r) for r in value.split(","))` as prepare_dataset_args writes it; a value
    from a config file reaches it unconverted, so anything but a string has no `split`."""
    if not isinstance(value, str):
        raise TrainerRefusal(
            f"AttributeError: '{type(value).__name__}' object has no attribute 'split'", origin,
            note=f"{name} comes from the config file as it is written; prepare_dataset_args "
                 f"expects a string such as \"512,512\"")
    try:
        return tuple(convert(r) for r in value.split(","))
    except (ValueError, OverflowError) as exc:
        raise TrainerRefusal(f"{type(exc).__name__}: {exc}", origin,
                             note=f"prepare_dataset_args converts each part of {name} "
                                  f"with {convert.__name__}()") from None


def parse_resolution(value, origin: Origin | None) -> tuple[int, int] | None:
    """`prepare_dataset_args` (HEAD train_util.py L5409-5415, v0.6.5 L2990-2996, the same at
    every tag): "W,H" or "S" becomes a pair, anything else is refused with Python's own error."""
    if value is None:
        return None
    parts = _split_numbers(value, int, "resolution", origin)
    if len(parts) == 1:
        parts = (parts[0], parts[0])
    if len(parts) != 2:
        raise TrainerRefusal(f"AssertionError: {RESOLUTION_ASSERT.format(value=parts)}", origin)
    return parts


def parse_face_crop(value, origin: Origin | None) -> tuple[float, float] | None:
    """`prepare_dataset_args` (HEAD train_util.py L5417-5423, v0.6.5 L2998-3004): two floats,
    the first not above the second."""
    if value is None:
        return None
    parts = _split_numbers(value, float, "face_crop_aug_range", origin)
    if not (len(parts) == 2 and parts[0] <= parts[1]):
        raise TrainerRefusal(f"AssertionError: {FACE_CROP_ASSERT.format(value=parts)}", origin)
    return parts


def build_datasets(plan: Plan, disk=None) -> None:
    """Fill plan.datasets (and plan.dataset_doc) the way the trainer builds its blueprint.
    `disk` (images.Disk) lists the folders, shared with the scan that follows."""
    ns = namespace(plan)
    origin = plan.arg_origins.get
    verify_training_args(plan)
    ns["resolution"] = parse_resolution(ns.get("resolution"), origin("resolution"))
    ns["face_crop_aug_range"] = parse_face_crop(ns.get("face_crop_aug_range"),
                                                origin("face_crop_aug_range"))
    family = profiles.script_family(plan.script)
    support = sanitizer_support(plan, ns)
    script_checks_before(plan)
    argparse_config = {ARG_TO_CONFIG.get(k, k): v for k, v in ns.items()}

    if plan.config.kind == documents.DATASET:
        plan.mode = "dataset_config"
        plan.dataset_doc = plan.config
        user_config = plan.config.data
    elif ns.get("dataset_config"):
        plan.mode = "dataset_config"
        plan.dataset_doc = load_dataset_config(plan, ns["dataset_config"])
        user_config = plan.dataset_doc.data
        if any(ns.get(k) for k in ("train_data_dir", "reg_data_dir", "in_json")) and family != "cn":
            plan.notes.append("dataset_config is set, so the trainer ignores train_data_dir, "
                              "reg_data_dir and in_json (train_network.py L518-528)")
    elif family == "ft" or (ns.get("in_json") and family != "db" and family != "cn"):
        # fine_tune.py always builds a fine-tuning subset from --in_json (HEAD L80-91); the
        # network trainers do when --in_json is given; train_db.py never reads it
        plan.mode = "in_json"
        if ns.get("in_json") is None:
            raise TrainerRefusal("MultipleInvalid: expected str for dictionary value @ "
                                 "data['datasets'][0]['subsets'][0]['metadata_file']",
                                 origin("train_data_dir"),
                                 note="fine_tune needs in_json or dataset_config")
        for key, config_key in (("in_json", "metadata_file"), ("train_data_dir", "image_dir")):
            value = ns.get(key)
            if value is not None and not isinstance(value, str):
                raise TrainerRefusal(f"MultipleInvalid: expected str for dictionary "
                                     f"value @ data['datasets'][0]['subsets'][0]['{config_key}']",
                                     origin(key), note=f"{key} = {value!r} from the config file")
        user_config = {"datasets": [{"subsets": [{"image_dir": ns.get("train_data_dir"),
                                                  "metadata_file": ns["in_json"]}]}]}
    elif family == "cn":
        # ControlNet trainers: one subset, the images directly in train_data_dir, repeats fixed
        # to 1 (HEAD config_util.py L647-672, train_control_net.py L97-109)
        plan.mode = "folders"
        base = resolve_dir(ns.get("train_data_dir"), plan, base=plan.config.directory)
        if ns.get("train_data_dir") and base is None:
            plan.missing_dirs.append((ns["train_data_dir"], origin("train_data_dir")))
        subsets = []
        if base is not None:
            subsets.append({"image_dir": ns["train_data_dir"], "_resolved": str(base),
                            "conditioning_data_dir": ns.get("conditioning_data_dir"),
                            "caption_extension": ns.get("caption_extension"), "num_repeats": 1})
        user_config = {"datasets": [{"subsets": subsets}]}
    else:
        plan.mode = "folders"
        user_config = {"datasets": [{"subsets": folder_subsets(plan, ns, disk)}]}

    # BlueprintGenerator.generate (HEAD config_util.py L408-410): the user config is sanitized
    # first, then the argparse namespace
    if plan.dataset_doc is not None:
        dataset_schema.check_user_config(plan.dataset_doc, plan.sd, support, plan.script)
    elif plan.mode == "folders" and family != "cn":
        # the subsets generate_dreambooth_subsets_config_by_subdirs writes (HEAD config_util.py
        # L635: image_dir, num_repeats, is_reg, class_tokens) are sanitized like a user config
        generated = {"datasets": [{"subsets": [{k: v for k, v in sub.items() if not k.startswith("_")}
                                               for sub in user_config["datasets"][0]["subsets"]]}]}
        dataset_schema.check_user_config(None, plan.sd, support, plan.script, data=generated,
                                         origin=_folder_origin(plan, {}))
    dataset_argparse_check(plan, ns)

    general = user_config.get("general", {}) or {}
    for d_index, dataset_config in enumerate(user_config.get("datasets", []) or []):
        subsets = dataset_config.get("subsets", []) or []
        is_db = all("metadata_file" not in s for s in subsets)
        # the ControlNet dataset class: the ControlNet scripts, train_db with masked_loss, or
        # (with masked_loss) a dataset whose every subset has conditioning_data_dir
        # (config_util.py HEAD L317-339, L533-545)
        is_cn = family == "cn" or bool(support.get("cn_only")) or (
            bool(subsets) and bool(support.get("cn"))
            and all("conditioning_data_dir" in s for s in subsets))
        kind = "cn" if is_cn else ("db" if is_db else "ft")
        chain = [dataset_config, general, argparse_config]
        d_origin = Origin(plan.dataset_doc, ("datasets", d_index)) if plan.dataset_doc else None

        def pick(name, fallbacks, defaults, labels=None):
            for i, cand in enumerate(fallbacks):
                value = cand.get(name)
                if value is not None:
                    if labels is not None:
                        labels[name] = SOURCE_LABELS[len(SOURCE_LABELS) - len(fallbacks) + i]
                    return value
            if labels is not None:
                labels[name] = "default"
            return defaults.get(name)

        values = {name: pick(name, chain, DATASET_DEFAULTS) for name in DATASET_DEFAULTS}
        if plan.sd.has_validation_split() is False:
            values["validation_split"] = 0.0
        resolution = values["resolution"]
        if isinstance(resolution, bool):
            # voluptuous' int accepts a boolean (config_util.py __validate_and_convert_scalar_or_twodim):
            # the trainer computes with True as 1
            resolution = (int(resolution), int(resolution))
        elif isinstance(resolution, int):
            resolution = (resolution, resolution)
        elif isinstance(resolution, (list, tuple)):
            resolution = (int(resolution[0]), int(resolution[1]))
        dplan = DatasetPlan(
            kind=kind, batch_size=int(values["batch_size"]), resolution=resolution,
            enable_bucket=bool(values["enable_bucket"]),
            min_bucket_reso=int(values["min_bucket_reso"]),
            max_bucket_reso=int(values["max_bucket_reso"]),
            bucket_reso_steps=int(values["bucket_reso_steps"]),
            bucket_no_upscale=bool(values["bucket_no_upscale"]),
            validation_split=float(values["validation_split"] or 0.0),
            validation_seed=values["validation_seed"], origin=d_origin, values=values)
        check_batch_size(dplan, chain, d_origin, plan)
        check_validation_split(dplan, subsets, d_origin, plan)
        for s_index, subset_config in enumerate(subsets):
            s_chain = [subset_config] + chain
            sources: dict = {}
            svalues = {name: pick(name, s_chain, SUBSET_DEFAULTS, sources) for name in SUBSET_DEFAULTS}
            if "_folder_name" in subset_config:
                sources["num_repeats"] = "folder name"
            if sources.get("num_repeats") == "argument":
                sources["num_repeats"] = "dataset_repeats argument"
            ext = svalues["caption_extension"]
            if plan.sd.get("caption_dot") and isinstance(ext, str) and ext and not ext.startswith("."):
                # DreamBoothSubset / ControlNetSubset add the dot (v0.6.5 train_util.py L351-352)
                svalues["caption_extension"] = "." + ext
            s_origin = (Origin(plan.dataset_doc, ("datasets", d_index, "subsets", s_index))
                        if plan.dataset_doc else _folder_origin(plan, subset_config))
            dplan.subsets.append(SubsetPlan(
                image_dir=svalues["image_dir"], num_repeats=svalues["num_repeats"],
                is_reg=bool(svalues["is_reg"]), class_tokens=svalues["class_tokens"],
                caption_extension=svalues["caption_extension"],
                cache_info=bool(svalues["cache_info"]), metadata_file=svalues["metadata_file"],
                conditioning_data_dir=svalues["conditioning_data_dir"], origin=s_origin,
                folder_name=subset_config.get("_folder_name"),
                resolved=subset_config.get("_resolved"), values=svalues, sources=sources))
        plan.datasets.append(dplan)


def verify_training_args(plan: Plan) -> None:
    """`train_util.verify_training_args`, the first thing every script runs: the version's
    argument combinations it refuses, in its order (profile data verify_training_args)."""
    tests = {"set": lambda v: v is not None, "unset": lambda v: v is None,
             "true": truthy, "false": lambda v: not truthy(v)}
    for check in plan.sd.get("verify_training_args") or []:
        if all(tests[want](plan.args.get(key)) for key, want in check["when"].items()):
            first = next(iter(check["when"]))
            raise TrainerRefusal(check["message"], plan.arg_origins.get(first))


def truthy(value) -> bool:
    """A flag as `if args.x:` reads it: values from a config file are not converted, so the
    string "false" is true."""
    try:
        return bool(value)
    except Exception:  # noqa: BLE001 - an object whose truth value raises: not a TOML value
        return True


def sanitizer_support(plan: Plan, ns: dict) -> dict:
    """The dataset kinds the script's ConfigSanitizer accepts; with masked_loss (v0.8.6+) the
    network trainers, sdxl_train, train_db and the TI scripts accept ControlNet-style datasets
    too, and train_db takes the ControlNet schema for every dataset (HEAD config_util.py
    L335-339; profile switch masked_loss_widening)."""
    family = profiles.script_family(plan.script)
    support = dict(profiles.SANITIZER_SUPPORT[family])
    if plan.sd.get("masked_loss_widening") and family in ("network", "big", "db", "ti") \
            and truthy(ns.get("masked_loss")):
        support["cn"] = True
        if not support.get("ft"):
            support["cn_only"] = True
    return support


def script_checks_before(plan: Plan) -> None:
    """The script's own asserts right after the arguments, before any dataset work
    (sd_scripts_profiles.json script_checks "before")."""
    for name in profiles.script_checks(plan.sd, plan.script).get("before", []):
        if argument_check_fails(plan, name):
            message = profiles.check_message(name)
            key = {"sdxl_v2": "v2"}.get(name, "weighted_captions")
            raise TrainerRefusal(message, plan.arg_origins.get(key))


def cache_te(plan: Plan) -> bool:
    """cache_text_encoder_outputs as the scripts with a text-encoder cache check see it: every
    one of them turns it on when cache_text_encoder_outputs_to_disk is set (sdxl_train_util.py
    verify_sdxl_training_args v0.7.0 L360-361; flux_train.py HEAD L69-73, ...)."""
    to_disk = profiles.script_checks(plan.sd, plan.script).get("te_to_disk", True)
    return truthy(plan.args.get("cache_text_encoder_outputs")) or \
        (to_disk and truthy(plan.args.get("cache_text_encoder_outputs_to_disk")))


def argument_check_fails(plan: Plan, name: str) -> bool:
    """Whether an argument-only assert of a script (sdxl_*, unet_only) fires."""
    if name == "sdxl_v2":
        return truthy(plan.args.get("v2"))
    if name == "sdxl_weighted":
        return truthy(plan.args.get("weighted_captions"))
    if name == "sdxl_train_weighted_te":
        return truthy(plan.args.get("weighted_captions")) and cache_te(plan)
    if name == "unet_only":
        return cache_te(plan) and not truthy(plan.args.get("network_train_unet_only"))
    raise KeyError(name)


def check_batch_size(dplan: DatasetPlan, chain: list, d_origin: Origin | None, plan: Plan) -> None:
    """make_buckets divides each bucket's image count by the batch size (sd-scripts v0.10.1
    library/train_util.py L1079: `batch_count = int(math.ceil(len(bucket) / self.batch_size))`):
    0 raises ZeroDivisionError; a negative size gives no batch at all, so the trainer finds no
    data (train_network.py L575)."""
    batch = dplan.batch_size
    if batch >= 1:
        return
    origin = d_origin
    if plan.dataset_doc is None or not any(c.get("batch_size") is not None for c in chain[:2]):
        origin = plan.arg_origins.get("train_batch_size", d_origin)
    if batch == 0:
        raise TrainerRefusal("ZeroDivisionError: division by zero", origin,
                             note="batch_size is 0: make_buckets divides each bucket's image "
                                  "count by it (train_util.py L1079)")
    empty = next((step for step in profiles.script_checks(plan.sd, plan.script).get("after", [])
                  if step.startswith("E:")), "E:network")
    raise TrainerRefusal(profiles.check_message(empty), origin,
                         note=f"batch_size {batch} is negative: every bucket gets ceil(n / {batch}) "
                              f"< 1 batches (train_util.py L1079), so the dataset is empty")


def check_validation_split(dplan: DatasetPlan, subsets: list, d_origin: Origin | None, plan: Plan) -> None:
    """split_train_val (sd-scripts HEAD library/train_util.py L142-178, called for every non-reg
    subset when validation_split > 0.0, L2045-2057) computes `math.ceil(len(paths) * (1 -
    validation_split))`: an infinite split raises OverflowError (ValueError for a subset without
    images, where 0 * -inf is NaN), so the trainer stops there."""
    split = dplan.validation_split
    if not (isinstance(split, float) and math.isinf(split) and split > 0):
        return
    if not any(not bool((s or {}).get("is_reg")) for s in subsets) and subsets:
        return
    origin = d_origin if plan.dataset_doc is not None else plan.arg_origins.get("validation_split", d_origin)
    raise TrainerRefusal("OverflowError: cannot convert float infinity to integer", origin,
                         note="validation_split is infinite: split_train_val computes "
                              "math.ceil(len(paths) * (1 - validation_split)) (train_util.py L173)")


def _folder_origin(plan: Plan, subset_config: dict) -> Origin | None:
    key = "reg_data_dir" if subset_config.get("is_reg") else "train_data_dir"
    return plan.arg_origins.get(key) or plan.arg_origins.get(
        "image_folder" if key == "train_data_dir" else key)


def dataset_argparse_check(plan: Plan, ns: dict) -> None:
    """`sanitize_argparse_namespace` (HEAD config_util.py L380-389): the namespace's options
    must have the schema's types (`[general]` keys, ARGPARSE_SPECIFIC_SCHEMA, and
    train_batch_size / dataset_repeats with batch_size / num_repeats' types), checked under
    their argparse names. Values from a config file reach it unconverted, so a string, a list
    or a float where the schema wants an int stops the trainer here."""
    family = profiles.script_family(plan.script)
    types = dataset_schema.namespace_types(plan.sd.profile, profiles.SANITIZER_SUPPORT[family])
    order = ["train_batch_size", "dataset_repeats", "min_bucket_reso", "max_bucket_reso",
             "bucket_reso_steps", "enable_bucket", "bucket_no_upscale"]
    names = order + sorted(k for k in ns if k not in order)
    for name in names:
        value = ns.get(name)
        vtype = types.get(name) or types.get(ARG_TO_CONFIG.get(name, ""))
        if value is None or vtype is None or dataset_schema.type_ok(value, vtype):
            continue
        raise TrainerRefusal(
            f"MultipleInvalid: {dataset_schema.type_error(vtype, 'object value')} @ data['{name}']",
            plan.arg_origins.get(name),
            note=f"the trainer logs \"{dataset_schema.NAMESPACE_LOG}\" first; the value "
                 f"{value!r} comes from the config file unconverted")


def folder_subsets(plan: Plan, ns: dict, disk=None) -> list[dict]:
    """Folder mode (`generate_dreambooth_subsets_config_by_subdirs`, HEAD config_util.py
    L607-644, the same in J23 L442-470): immediate subfolders named N_name, in the order the file
    system lists them (Path.iterdir), train folders first, then reg folders."""
    out: list[dict] = []
    for key, is_reg in (("train_data_dir", False), ("reg_data_dir", True)):
        text = ns.get(key)
        if text is None or text == "":
            continue
        if not isinstance(text, str):
            raise TrainerRefusal(f"TypeError: {key} must be a string, got {text!r}",
                                 plan.arg_origins.get(key))
        base = resolve_dir(text, plan, base=plan.config.directory)
        plan.root_dirs.append((key, text, str(base) if base is not None else None, is_reg))
        if base is None:
            problem = access_problem(text, plan.path_map)
            if problem:
                origin = plan.arg_origins.get(key)
                where = origin.where() + ": " if origin else ""
                raise PlanError(f"{where}{key} {text!r}: cannot look at it here: {problem}")
            plan.missing_dirs.append((text, plan.arg_origins.get(key)))
            continue
        trainer_base = Path(map_path(text, plan.path_map))  # what str(Path(...)) looks like
        listing = (disk or images.Disk()).listing(str(base))
        if listing.error:
            # Path.iterdir raises in generate_dreambooth_subsets_config_by_subdirs
            raise TrainerRefusal(f"OSError: cannot list the folder {str(base)!r}: {listing.error}",
                                 plan.arg_origins.get(key))
        subfolders = set(listing.dirs)
        names = list(listing.names)
        if plan.folder_order == "sorted":
            names = sorted(names)
        for name in names:
            full = base / name
            if name not in subfolders:
                continue
            repeats, class_tokens = parse_folder_name(name)
            if repeats is None:
                plan.skipped_folders.append((str(base), name, "no repeat prefix: int() cannot "
                                             "parse the text before the first '_'", is_reg))
                continue
            if repeats < 1:
                plan.skipped_folders.append((str(base), name, f"repeat prefix {repeats} is less "
                                             f"than 1", is_reg))
                continue
            out.append({"image_dir": str(trainer_base / name), "num_repeats": repeats,
                        "is_reg": is_reg, "class_tokens": class_tokens,
                        "_folder_name": name, "_resolved": str(full)})
    return out


def parse_folder_name(name: str) -> tuple[int | None, str]:
    """`int()` of the text before the first "_" (Python int accepts "+3", " 7", "٣"), the rest
    is the class token. None when int() raises."""
    tokens = name.split("_")
    try:
        repeats = int(tokens[0])
    except ValueError:
        return None, ""
    return repeats, "_".join(tokens[1:])


def load_dataset_config(plan: Plan, text) -> Document:
    origin = plan.arg_origins.get("dataset_config")
    if not isinstance(text, str):
        raise TrainerRefusal(f"TypeError: dataset_config must be a path string, got {text!r}", origin)
    path = resolve_file(text, plan.path_map, plan.config.directory)
    if path is None and access_problem(text, plan.path_map):
        where = origin.where() + ": " if origin else ""
        raise PlanError(f"{where}dataset_config {text!r}: cannot look at it here: "
                        f"{access_problem(text, plan.path_map)}")
    if path is None:
        where = origin.where() + ": " if origin else ""
        raise PlanError(f"{where}dataset_config file {text!r} not found here; if it lives on "
                        f"another machine, map its folder with --path-map FROM=TO")
    if not path.name.lower().endswith((".json", ".toml")):
        raise TrainerRefusal(f"ValueError: not supported config file format / 対応していない設定"
                             f"ファイルの形式です: {text}", origin)
    try:
        doc = documents.load(str(path))
    except documents.LoadError as exc:
        raise PlanError(str(exc)) from None
    if doc.kind != documents.DATASET and isinstance(doc.data, dict):
        # the trainer reads whatever the file holds as a dataset config; remember what it looks
        # like (an args TOML or a GUI JSON given here is a common mistake, KT111)
        plan.dataset_config_kind = doc.kind
        doc.kind = documents.DATASET
    return doc
