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
                          architecture=arch, architecture_reason=reason, args=args)
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
    base = dataset_doc.directory
    resolve = _resolver(settings, base)

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
            _refuse(report, "TypeError: expected str, bytes or os.PathLike object, not NoneType",
                    Origin(dataset_doc, ds.keypath),
                    note="a JSONL dataset without cache_directory: prepare_for_training joins None "
                         "with the file pattern (image_video_dataset.py:474, 861)")
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
    report.numbers = _numbers(report, sum(c.num_batches for c in counted), settings)
    if report.args_doc is not None and mv.script_kind(report.script) == "network" and not report.args.get("optimizer_type"):
        # parser default "" (training/parser_common.py:303-306): get_optimizer looks up
        # getattr(torch.optim, "") after the dataset and the model are built (trainer_base.py:230-242)
        _refuse(report, "AttributeError: module 'torch.optim' has no attribute ''",
                Origin(report.args_doc, ()),
                note="optimizer_type is not set; its help says AdamW is the default, but the default is \"\"")


def _empty_reason(dr: DatasetReport) -> str:
    c = dr.counted
    if c is None:
        return f"dataset {dr.params.index}: unknown"
    if c.without_te:
        return f"dataset {dr.params.index}: {len(c.without_te)} latents without text-encoder cache"
    if not c.latent_files:
        return f"dataset {dr.params.index}: no *_{dr.params.values['architecture']}.safetensors file"
    return f"dataset {dr.params.index}: {len(c.latent_files)} files, num_repeats {dr.params.values['num_repeats']}"


def _number_arg(report: MusubiReport, name: str, default=None):
    value = report.args.get(name, default)
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        origin = Origin(report.args_doc, documents.flat_arg_path(report.args_doc.data, name) or ()) if report.args_doc else None
        raise TrainerRefusal(f"TypeError: {name} is {value!r} ({type(value).__name__}); musubi-tuner "
                             f"does not convert values from a config file, so the arithmetic on it fails",
                             origin)
    return value


def _numbers(report: MusubiReport, num_batches: int, settings) -> dict:
    P = settings.num_processes or 1
    G = _number_arg(report, "gradient_accumulation_steps", mv.number("default_gradient_accumulation_steps"))
    epochs = _number_arg(report, "max_train_epochs")
    steps = _number_arg(report, "max_train_steps")
    return step_numbers(num_batches, P, G, epochs, steps, mv.number("default_max_train_steps"))
