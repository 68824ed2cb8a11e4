"""musubi-tuner's numbers for one setup: items, buckets, batches, sharding, accumulation, steps
and epochs, as `train()` will count them, from the cache folder when it is there, else from the
media as the caching scripts will write the cache; and the two compared.

The order of what can stop the run is the trainer's (training/trainer_base.py:1312-1455):
`dataset_config` / `dit` required (:1390-1393), the dataset config read and validated
(config_utils.py:396-450, 217-223), each dataset built (image_video_dataset.py:331-339, 629-642,
666-671), cache directories unique (config_utils.py:318-325), `prepare_for_training` of each,
then "No training items found" (trainer_base.py:1447-1451). Before a cache exists, the caching
scripts' own stops (captions, FramePack's short windows) come first.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kohya_tune.engine import musubi_cache, musubi_config, musubi_media
from kohya_tune.engine.plan import Origin, PlanError, TrainerRefusal, resolve_dir, resolve_file
from kohya_tune.engine.step_arithmetic import step_numbers
from kohya_tune.load import documents
from kohya_tune.versions import musubi as mv

NO_ITEMS = ("ValueError: No training items found in the dataset. Please ensure that the latent/Text "
            "Encoder cache has been created beforehand. / データセットに学習データがありません。"
            "latent/Text Encoderキャッシュを事前に作成したか確認してください")


@dataclass
class DatasetReport:
    params: musubi_config.DatasetParams          # as train() builds it
    cache_params: musubi_config.DatasetParams    # as the caching scripts build it
    cache_directory: str | None                  # as configured (or the media folder)
    cache_here: Path | None                      # that folder on this machine
    media: musubi_media.MediaFacts | None = None
    cache: musubi_cache.CacheCount | None = None       # from the cache folder
    predicted: musubi_cache.CacheCount | None = None   # from the media, once cached
    counted_from: str | None = None              # "cache" | "media" | None (unknown)
    stale: list = field(default_factory=list)    # cache files the config would not write now
    missing: list = field(default_factory=list)  # files the config would write that are not there
    other_arch: list = field(default_factory=list)  # latents of another architecture in the folder
    notes: list = field(default_factory=list)

    @property
    def counted(self) -> musubi_cache.CacheCount | None:
        return self.cache if self.counted_from == "cache" else self.predicted if self.counted_from == "media" else None


@dataclass
class MusubiReport:
    config: documents.Document
    args_doc: documents.Document | None
    dataset_doc: documents.Document | None
    script: str
    architecture: mv.Architecture | None
    architecture_reason: str
    args: dict
    datasets: list = field(default_factory=list)
    numbers: dict | None = None
    buckets: dict = field(default_factory=dict)
    num_train_items: int | None = None
    refusal: TrainerRefusal | None = None
    refusal_stage: str | None = None             # "train" | "cache_latents"
    unknown: list = field(default_factory=list)  # why some numbers cannot be known here
    notes: list = field(default_factory=list)
    settings: object = None                      # the Settings it was counted with


def _load_dataset_doc(args: dict, args_doc: documents.Document, path_map) -> documents.Document:
    path, text = musubi_config.dataset_config_path(args, args_doc, path_map)
    if path is None:
        raise PlanError(f"the dataset config {text!r} named by dataset_config is not here "
                        f"(use --path-map FROM=TO when it is elsewhere on this machine)",
                        args_doc.path, *args_doc.value_position(documents.flat_arg_path(args_doc.data, "dataset_config") or ()))
    return documents.load(str(path))


def _resolver(settings, base: Path):
    def resolve(text, is_dir=True):
        if not isinstance(text, str) or not text:
            return None
        if is_dir:
            return resolve_dir(text, settings, base=base)
        return resolve_file(text, settings.path_map, base)
    return resolve


def is_args(doc: documents.Document) -> bool:
    """A training --config_file (else the file is read as the dataset config itself)."""
    if doc.kind == documents.MUSUBI_ARGS:
        return True
    return doc.kind == documents.ARGS and isinstance(doc.data, dict) and "dataset_config" in documents.flatten_args(doc.data)


def build(config: documents.Document, script: str, settings, disk=None) -> MusubiReport:
    """Everything steps shows for a musubi setup. Raises PlanError for what is not here."""
    args_doc = config if is_args(config) else None
    args, _origins = musubi_config.training_args(args_doc)
    try:
        arch, reason = mv.script_architecture(script, args)
    except ValueError as exc:
        raise PlanError(f"--script {script}: {exc}", config.path) from None
    report = MusubiReport(config=config, args_doc=args_doc, dataset_doc=None, script=script,
                          architecture=arch, architecture_reason=reason, args=args, settings=settings)
    if args_doc is not None:
        dataset_doc = _load_dataset_doc(args, args_doc, settings.path_map)
    else:
        dataset_doc = config
        report.notes.append("a dataset config alone: the training options (steps, epochs, "
                            "accumulation) are the script's defaults; give the --config_file TOML "
                            "that names it for the run's own")
    report.dataset_doc = dataset_doc
    try:
        _gather(report, dataset_doc, settings, disk)
    except TrainerRefusal as exc:
        report.refusal = exc
        report.refusal_stage = report.refusal_stage or "train"
    return report


def _refuse(report: MusubiReport, message: str, origin=None, note=None, stage="train"):
    report.refusal_stage = stage
    raise TrainerRefusal(message, origin, note)


def _check_args(report: MusubiReport) -> None:
    if report.args_doc is None:
        return
    if report.args.get("dit") is None:
        _refuse(report, "ValueError: path to DiT model is required / DiTモデルのパスが必要です",
                Origin(report.args_doc, ()),
                note="training/trainer_base.py:1392-1393: the config names no dit")


def _construct(report: MusubiReport, ds: musubi_config.DatasetParams, doc) -> None:
    """The errors of building the dataset object (both the caching and the training build it)."""
    arch = report.architecture
    v = ds.values
    origin = Origin(doc, ds.keypath)
    if ds.is_image:
        if v["image_directory"] is None and v["image_jsonl_file"] is None:
            _refuse(report, "ValueError: image_directory or image_jsonl_file must be specified", origin)
        return
    if arch.target_fps is None:
        _refuse(report, f"ValueError: Unsupported architecture: {arch.short}", origin,
                note=f"a video dataset with {report.script}: its architecture has no video datasets "
                     f"(image_video_dataset.py:629-642)")
    if v["video_directory"] is None and v["video_jsonl_file"] is None:
        # set_start_and_end_frame (head, :671) or has_control (:678) reads the missing datasource
        _refuse(report, "AttributeError: 'VideoDataset' object has no attribute 'datasource'", origin,
                note="the dataset names neither image_directory, image_jsonl_file, video_directory "
                         "nor video_jsonl_file, so musubi builds it as a video dataset without a "
                         "source (config_utils.py:264-268, image_video_dataset.py:662-671)")
    if v["frame_extraction"] == "head" or (v["frame_extraction"] == "uniform" and v["frame_sample"] == 1):
        if len(v["target_frames"]) == 0:
            _refuse(report, "ValueError: max() arg is an empty sequence",
                    ds.origins.get("target_frames", origin),
                    note="target_frames = [] with frame_extraction head (image_video_dataset.py:671)")


def _jsonl_of(ds) -> str | None:
    v = ds.values
    return v.get("image_jsonl_file") if ds.is_image else v.get("video_jsonl_file")


def _read_jsonl_like_musubi(report: MusubiReport, ds, doc, resolve, arch) -> None:
    """The datasource is built with the dataset, by the caching scripts and by train() alike
    (a JSONL file read, datasources.py:284-325, 593-605; an image folder's multiple targets and
    control images matched, :59-206): an error there stops the caching, or, when the cache is
    already written, the training."""
    v = ds.values
    jsonl = _jsonl_of(ds)
    directory = v.get("image_directory" if ds.is_image else "video_directory")

    def stop(exc):
        cdir = v.get("cache_directory")
        if cdir is None and directory is not None:
            cdir = directory
        here = resolve(cdir) if cdir is not None else None
        cached = here is not None and bool(musubi_cache.glob_latents(str(here), arch.short))
        _refuse(report, exc.message, Origin(doc, ds.keypath), exc.note, stage="train" if cached else "cache_latents")

    control_count = mv.control_count_per_image(arch.short, v.get("fp_1f_clean_indices")) if ds.is_image else None
    if directory is not None:
        if not ds.is_image:
            return
        where = resolve(directory)
        if where is None:
            return
        control = v.get("control_directory")
        try:
            musubi_media.check_image_directory(directory, str(where), v.get("caption_extension"), control,
                                               resolve(control) if control else None, control_count,
                                               bool(v.get("multiple_target")))
        except musubi_media.CachingRefusal as exc:
            stop(exc)
        return
    if jsonl is None:
        return
    where = resolve(jsonl, is_dir=False)
    if where is None:
        report.notes.append(f"dataset {ds.index}: {jsonl} is not here: musubi opens it whenever it builds the "
                            f"dataset, for training too (datasources.py:284-287, 593-597), so training stops with "
                            f"FileNotFoundError where it is missing, even with a complete cache")
        return
    try:
        entries = musubi_media.read_jsonl(str(where), ds.is_image)
        if ds.is_image:
            musubi_media.check_jsonl_controls(entries, control_count, os.path.basename(str(where)))
    except musubi_media.CachingRefusal as exc:
        stop(exc)


def _no_cache_directory(report: MusubiReport, ds, doc, resolve) -> None:
    """A JSONL dataset without cache_directory (a folder dataset's defaults to its folder): the
    caching asserts it at the first item (image_video_dataset.py:163-171); with no item at all,
    train()'s prepare_for_training joins None with the file pattern (:474, 861)."""
    where = resolve(_jsonl_of(ds), is_dir=False) if _jsonl_of(ds) else None
    empty = False
    if where is not None:
        try:
            empty = not musubi_media.read_jsonl(str(where), ds.is_image)
        except musubi_media.CachingRefusal:
            empty = False
    if empty:
        _refuse(report, "TypeError: expected str, bytes or os.PathLike object, not NoneType",
                Origin(doc, ds.keypath),
                note="a JSONL dataset without cache_directory and without entries: the caching script's "
                     "clean-up globs None joined with the file pattern (cache_latents.py:321, "
                     "image_video_dataset.py:146-147), as train()'s prepare_for_training would (:474, 861)",
                stage="cache_latents")
    _refuse(report, "AssertionError: cache_directory is required / cache_directoryは必須です",
            Origin(doc, ds.keypath),
            note="a JSONL dataset needs cache_directory: the caching script asserts it at the first item "
                 "(image_video_dataset.py:163-171)" + ("" if where is not None else
                                                          "; its JSONL file is not here, assumed to list media"),
            stage="cache_latents")


def rounded_targets(values) -> tuple:
    """VideoDataset's target_frames: de-duplicated, each rounded down to 4N+1, again
    de-duplicated and sorted (image_video_dataset.py:644-657)."""
    stride = mv.number("vae_frame_stride")
    return tuple(sorted({(int(f) - 1) // stride * stride + 1 for f in set(values)}))


def _finish_video_params(ds: musubi_config.DatasetParams) -> None:
    v = ds.values
    if ds.is_image:
        return
    v["target_frames_given"] = tuple(v["target_frames"])
    v["target_frames"] = rounded_targets(v["target_frames"])
    v["frame_extraction_given"] = v["frame_extraction"]
    if v["frame_extraction"] == "uniform" and v["frame_sample"] == 1:
        v["frame_extraction"] = "head"


def _gather(report: MusubiReport, dataset_doc, settings, disk) -> None:
    arch = report.architecture
    _check_args(report)
    data = musubi_config.parse_like_musubi(dataset_doc)
    problem = musubi_config.sanitize(data)
    if problem is not None:
        report.refusal_stage = "train"
        raise musubi_config.refusal(dataset_doc, problem)
    train = musubi_config.blueprint(dataset_doc, data, report.args, arch.short, report.args_doc)
    cache = musubi_config.blueprint(dataset_doc, data, {}, arch.short)
    for ds in train + cache:
        _construct(report, ds, dataset_doc)
        _finish_video_params(ds)
    base = dataset_doc.directory
    resolve = _resolver(settings, base)
    for ds in train:
        _read_jsonl_like_musubi(report, ds, dataset_doc, resolve, arch)
    # cache directory defaults to the media folder; compared as written (config_utils.py:318-325)
    dirs = []
    for ds in train:
        v = ds.values
        cdir = v["cache_directory"]
        if cdir is None:
            cdir = v["image_directory"] if ds.is_image else v["video_directory"]
        dirs.append(cdir)
    if len(set(dirs)) != len(dirs):
        _refuse(report, "ValueError: cache directory should be unique for each dataset (note that cache "
                        "directory is image/video directory if not specified) / cache directory は各データ"
                        "セットごとに異なる必要があります（指定されていない場合はimage/video directoryが使われるので注意）",
                Origin(dataset_doc, ("datasets",)))

    def size_of(path):
        from kohya_tune.engine import images

        p = path if os.path.isabs(path) or os.path.exists(path) else str(base / path)
        if disk is not None:
            return disk.size(p, "imagesize_pil")
        return images.read_size(p, "imagesize_pil")

    for ds, cds, cdir in zip(train, cache, dirs):
        here = resolve(cdir) if cdir is not None else None
        dr = DatasetReport(params=ds, cache_params=cds, cache_directory=cdir, cache_here=here)
        report.datasets.append(dr)
        if cdir is None:
            _no_cache_directory(report, ds, dataset_doc, resolve)
        if here is not None:
            names = musubi_cache.glob_latents(str(here), arch.short)
            every = musubi_cache.list_cache(str(here))
            dr.other_arch = [n for n in every if n not in names and not n.endswith("_te.safetensors")]
            if names:
                try:
                    dr.cache = musubi_cache.from_folder(str(here), ds, arch)
                except musubi_cache.CacheRefusal as exc:
                    _refuse(report, exc.message, Origin(dataset_doc, ds.keypath), exc.note)
                dr.counted_from = "cache"
        dr.media = musubi_media.scan(cds, arch, resolve, size_of)
        media_ok = dr.media.found and dr.media.unknown is None and dr.media.refusal is None
        if media_ok:
            media_te = set(dr.media.te_files)
            try:
                dr.predicted = musubi_cache.count(dr.media.cache_files, ds, arch, lambda te: te in media_te)
            except musubi_cache.CacheRefusal as exc:
                _refuse(report, exc.message, Origin(dataset_doc, ds.keypath), exc.note)
        if dr.cache is not None and dr.predicted is not None:
            have = set(dr.cache.latent_files)
            want = set(dr.media.cache_files)
            dr.stale = sorted(have - want)
            dr.missing = sorted(want - have)
        if dr.counted_from is None:
            if dr.media.refusal is not None:
                report.refusal_stage = "cache_latents"
                raise TrainerRefusal(dr.media.refusal.message, Origin(dataset_doc, ds.keypath),
                                     (dr.media.refusal.note + "; " if dr.media.refusal.note else "")
                                     + "this is where the caching script stops (no cache is here yet)")
            if dr.predicted is not None:
                dr.counted_from = "media"
                dr.notes.append("no cache here yet: counted from the media as the caching will name the files")
            else:
                why = dr.media.unknown or "the media are not here"
                where = (f"the cache folder {cdir!r} is not here" if here is None
                         else f"the cache folder {cdir!r} has no *_{arch.short}.safetensors file")
                report.unknown.append(f"dataset {ds.index}: {where}, and {why}")
    counted = [dr.counted for dr in report.datasets]
    if any(c is None for c in counted):
        return
    merged: dict = {}
    for c in counted:
        for key, n in c.buckets.items():
            merged[key] = merged.get(key, 0) + n
    report.buckets = merged
    report.num_train_items = sum(c.num_train_items for c in counted)
    if report.num_train_items == 0:
        _refuse(report, NO_ITEMS, Origin(dataset_doc, ("datasets",)),
                note="; ".join(_empty_reason(dr) for dr in report.datasets))
    _check_accumulation(report)
    late = None
    try:
        report.numbers = _numbers(report, sum(c.num_batches for c in counted), settings)
    except TrainerRefusal as exc:
        late = exc   # the arithmetic fails after the model and the optimizer are built
    _check_training_start(report)
    if late is not None:
        report.refusal_stage = "train"
        raise late


def _arg_origin(report: MusubiReport, name: str) -> Origin | None:
    if report.args_doc is None or not isinstance(report.args_doc.data, dict):
        return None
    return Origin(report.args_doc, documents.flat_arg_path(report.args_doc.data, name) or ())


def _check_accumulation(report: MusubiReport) -> None:
    """accelerate 1.6.0 Accelerator.__init__ reads gradient_accumulation_steps as
    int(str(value)) (the environment variable's default): a float, a boolean or a word stops
    prepare_accelerator (training/accelerator_setup.py:114) right after the dataset is built."""
    value = report.args.get("gradient_accumulation_steps", mv.number("default_gradient_accumulation_steps"))
    try:
        int(str(value))
    except ValueError as exc:
        _refuse(report, f"ValueError: {exc}", _arg_origin(report, "gradient_accumulation_steps"),
                note="accelerate reads gradient_accumulation_steps as an integer written out "
                     "(int(str(value))): write a whole number such as 2")


def key_values(values, literal: bool):
    """musubi's `for arg in values: key, value = arg.split("=")` (+ ast.literal_eval for
    optimizer_args / lr_scheduler_args, after `len(values) > 0`): the dict, or the exception the
    trainer raises, as text (addresses of AST nodes left out, so the text is the same every run)."""
    import ast
    import re

    out: dict = {}
    if values is None:
        return out
    try:
        if literal and len(values) == 0:
            return out
        for arg in values:
            key, value = arg.split("=")
            out[key] = ast.literal_eval(value) if literal else value
    except (TypeError, AttributeError, ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        return re.sub(r" at 0x[0-9a-fA-F]+", "", f"{type(exc).__name__}: {exc}")
    return out


def _check_training_start(report: MusubiReport) -> None:
    """What train() checks after the dataset and before the first step, in its order (data:
    musubi.json "train_start"): the attention mode, network_args, optimizer_args, optimizer_type."""
    if report.args_doc is None:
        return
    args = report.args
    checks = mv.data()["train_start"]
    kind = mv.script_kind(report.script)
    attention = checks["attention"].get("network" if kind == "network" else report.script)
    if attention and not any(args.get(flag) for flag in attention["flags"]):
        _refuse(report, attention["message"], Origin(report.args_doc, ()),
                note=f"no attention implementation is chosen ({attention['source']}): set sdpa = true")
    if kind == "network":
        parsed = key_values(args.get("network_args"), literal=False)
        if isinstance(parsed, str):
            _refuse(report, parsed, _arg_origin(report, "network_args"),
                    note="network_args items are \"key=value\" strings (trainer_base.py:1560-1564)")
    optimizer = args.get("optimizer_type", "")
    if not isinstance(optimizer, str):
        _refuse(report, f"AttributeError: '{type(optimizer).__name__}' object has no attribute 'lower'",
                _arg_origin(report, "optimizer_type"), note="get_optimizer: optimizer_type.lower() (trainer_base.py:166)")
    parsed = key_values(args.get("optimizer_args"), literal=True)
    if isinstance(parsed, str):
        _refuse(report, parsed, _arg_origin(report, "optimizer_args"),
                note="optimizer_args items are \"key=value\" strings, the value a Python literal "
                     "(trainer_base.py:169-174)")
    if not optimizer:
        # parser default "" (training/parser_common.py:303-306): get_optimizer looks up
        # getattr(torch.optim, "") after the dataset and the model are built (trainer_base.py:230-242)
        _refuse(report, "AttributeError: module 'torch.optim' has no attribute ''",
                Origin(report.args_doc, ()),
                note="optimizer_type is not set; its help says AdamW is the default, but the default is \"\"")
    _check_learning_rate(report, optimizer, kind)


def _check_learning_rate(report: MusubiReport, optimizer: str, kind: str) -> None:
    """What building the optimizer does with learning_rate (trainer_base.py:1619 and 176-243):
    a LoRA group whose LR is 0 is left out, so LR 0 leaves no parameter (networks/lora.py:811-813);
    torch's AdamW (and bitsandbytes' AdamW8bit) check 0 <= lr."""
    lr = report.args.get("learning_rate", mv.schedule()["argparse_defaults"]["learning_rate"])
    origin = _arg_origin(report, "learning_rate")
    adamw = optimizer.lower() in ("adamw", "adamw8bit")
    if not isinstance(lr, (int, float)):
        _refuse(report, f"TypeError: '<=' not supported between instances of 'float' and '{type(lr).__name__}'"
                if adamw else f"TypeError: learning_rate is {lr!r} ({type(lr).__name__}); musubi-tuner does not "
                              f"convert values from a config file, so the optimizer cannot use it", origin)
    if kind == "network" and lr == 0:
        _refuse(report, "ValueError: optimizer got an empty parameter list", origin,
                note="learning_rate is 0: networks/lora.py leaves every group out ('NO LR skipping!')")
    if adamw and not lr >= 0:
        _refuse(report, f"ValueError: Invalid learning rate: {lr}", origin)


def _empty_reason(dr: DatasetReport) -> str:
    c = dr.counted
    if c is None:
        return f"dataset {dr.params.index}: unknown"
    if c.without_te:
        return f"dataset {dr.params.index}: {len(c.without_te)} latents without text-encoder cache"
    if not c.latent_files:
        return f"dataset {dr.params.index}: no *_{dr.params.values['architecture']}.safetensors file"
    return f"dataset {dr.params.index}: {len(c.latent_files)} files, num_repeats {dr.params.values['num_repeats']}"


def _number_arg(args: dict, args_doc, name: str, default=None):
    value = args.get(name, default)
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        origin = Origin(args_doc, documents.flat_arg_path(args_doc.data, name) or ()) if args_doc else None
        raise TrainerRefusal(f"TypeError: {name} is {value!r} ({type(value).__name__}); musubi-tuner "
                             f"does not convert values from a config file, so the arithmetic on it fails",
                             origin)
    return value


def run_numbers(args: dict, args_doc, num_batches: int, num_processes: int) -> dict:
    """N -> Nd -> U -> S -> E for these training args (solve simulates edited args with it).
    Raises TrainerRefusal with the trainer's error where its arithmetic fails: gradient
    accumulation 0 (trainer_base.py:1641 with max_train_epochs, else the loop's :1792), an infinite
    or NaN step count (math.ceil at :1793)."""
    G = _number_arg(args, args_doc, "gradient_accumulation_steps", mv.number("default_gradient_accumulation_steps"))
    epochs = _number_arg(args, args_doc, "max_train_epochs")
    steps = _number_arg(args, args_doc, "max_train_steps")
    if G == 0:
        origin = Origin(args_doc, documents.flat_arg_path(args_doc.data, "gradient_accumulation_steps") or ()) \
            if args_doc is not None else None
        raise TrainerRefusal("ZeroDivisionError: float division by zero" if epochs is not None
                             else "ZeroDivisionError: division by zero", origin,
                             "gradient_accumulation_steps = 0: the step count divides by it")
    try:
        return step_numbers(num_batches, num_processes, G, epochs, steps, mv.number("default_max_train_steps"))
    except (OverflowError, ValueError) as exc:
        name = "max_train_epochs" if epochs is not None else "max_train_steps"
        origin = Origin(args_doc, documents.flat_arg_path(args_doc.data, name) or ()) if args_doc is not None else None
        raise TrainerRefusal(f"{type(exc).__name__}: {exc}", origin,
                             f"{name} = {args.get(name)!r}: num_train_epochs = ceil(max_train_steps / steps per "
                             f"epoch) cannot be computed (trainer_base.py:1793)") from None


def _numbers(report: MusubiReport, num_batches: int, settings) -> dict:
    return run_numbers(report.args, report.args_doc, num_batches, settings.num_processes or 1)
