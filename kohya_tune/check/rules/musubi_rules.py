"""musubi-tuner rules (KT9xx): what its dataset validation refuses, and what it does silently.

They read musubi's own model of the setup (engine/musubi_config.py, musubi_steps.py), built once
per file: the dataset config as musubi reads it, and, when `--script` names a musubi script, the
media and cache counts. Line numbers cited are src/musubi_tuner/ at the pinned commit.
"""
from __future__ import annotations

import difflib

from kohya_tune.check.rules.base import Rule
from kohya_tune.engine.plan import PlanError, TrainerRefusal
from kohya_tune.load import documents
from kohya_tune.versions import musubi as mv

MUSUBI = frozenset({documents.MUSUBI_ARGS, documents.MUSUBI_DATASET})


class _Setup:
    """The dataset document, its value as musubi reads it, the validation problem, the datasets
    (training-time parameters) and, with a musubi --script, the steps report."""

    def __init__(self, ctx):
        from kohya_tune.engine import musubi_config as mc
        from kohya_tune.engine import musubi_steps as ms

        self.doc = ctx.doc
        self.args_doc = ctx.doc if ms.is_args(ctx.doc) else None
        self.args, _ = mc.training_args(self.args_doc)
        self.dataset_doc = None
        self.data = None
        self.problem = None
        self.refusal = None
        self.datasets = []
        self.report = None
        script = getattr(ctx.settings, "script", None)
        self.script = script[:-3] if script and script.endswith(".py") else script
        if self.args_doc is None:
            self.dataset_doc = ctx.doc
        else:
            try:
                self.dataset_doc = ms._load_dataset_doc(self.args, self.args_doc, ctx.settings.path_map)
            except (PlanError, documents.LoadError):
                self.dataset_doc = None
        if self.dataset_doc is not None and self.dataset_doc.kind != documents.GUI:
            try:
                self.data = mc.parse_like_musubi(self.dataset_doc)
            except TrainerRefusal as exc:
                self.refusal = exc
            except ValueError:
                self.data = None
            if self.data is not None:
                self.problem = mc.sanitize(self.data)
                if self.problem is None:
                    self.datasets = mc.blueprint(self.dataset_doc, self.data, self.args, "wan", self.args_doc)
        if self.problem is None and self.refusal is None and mv.is_script(self.script) and self.dataset_doc is not None:
            try:
                self.report = ms.build(ctx.doc, self.script, ctx.settings)
            except (PlanError, documents.LoadError):
                self.report = None
            if self.report is not None and self.report.refusal is not None:
                self.refusal = self.report.refusal


def setup(ctx) -> _Setup:
    if "musubi" not in ctx.extra:
        ctx.extra["musubi"] = _Setup(ctx)
    return ctx.extra["musubi"]


SOURCES = ("image_directory", "image_jsonl_file", "video_directory", "video_jsonl_file")


def _sourced(s: _Setup):
    """The datasets that name their media (a table without any is a fragment, as in musubi's
    docs; with --script KT901 reports what musubi does with it)."""
    return [d for d in s.datasets if any(d.sources.get(k) == "dataset" for k in SOURCES)]


def _video_datasets(s: _Setup):
    return [d for d in _sourced(s) if not d.is_image]


class MusubiRefused(Rule):
    """musubi-tuner refuses this config.

    musubi-tuner validates the dataset config with voluptuous before it caches or trains
    (dataset/config_utils.py:127-223): `[general]` takes only the six shared keys
    (`resolution`, `caption_extension`, `batch_size`, `num_repeats`, `enable_bucket`,
    `bucket_no_upscale`); the video keys (`target_frames`, `frame_extraction`, `source_fps`, ...)
    and `cache_directory` belong in each `[[datasets]]`; an unknown key is refused with "extra keys
    not allowed"; `source_fps` must be a float, so `30` is refused where `30.0` passes. The message
    is voluptuous' own, at the offending key. With `--script`, the later refusals are reported
    too: a dataset without a source, a video dataset for an image-only architecture, a FramePack
    window too short, a video without a caption file, "No training items found".

    Bad:

        source_fps = 30

    Fixed:

        source_fps = 30.0
    """
    code = "KT901"
    name = "musubi-refused"
    severity = "error"
    summary = "musubi-tuner refuses this config (its own message)"
    kinds = MUSUBI | {documents.DATASET, documents.ARGS, documents.OTHER}

    def check(self, ctx):
        if ctx.doc.kind not in MUSUBI and not mv.is_script(getattr(ctx.settings, 'script', None)):
            return
        s = setup(ctx)
        if s.problem is not None:
            p = s.problem
            kind = "TypeError" if p.type_error else "MultipleInvalid"
            hint = ""
            key = p.keypath[-1] if p.keypath else None
            if "extra keys not allowed" in p.message and isinstance(key, str):
                if len(p.keypath) == 2 and p.keypath[0] == "general" and key in set(mv.schema()["video"]) | set(mv.schema()["image"]):
                    hint = f": `{key}` belongs in each [[datasets]] table, not in [general]"
                else:
                    known = list(mv.schema()["ascendable"]) + list(mv.schema()["video"]) + list(mv.schema()["image"])
                    close = difflib.get_close_matches(key, known, n=1)
                    hint = ": not a musubi dataset key" + (f" (did you mean `{close[0]}`?)" if close else "")
            elif "expected float" in p.message:
                hint = ": write it with a decimal point (30.0)"
            yield ctx.diagnostic(self, f"musubi-tuner refuses this dataset config: {kind}: {p.message}{hint}",
                                 keypath=p.keypath, doc=s.dataset_doc)
            return
        if s.refusal is not None:
            where = s.report.refusal_stage if s.report is not None else "train"
            stage = "the caching script stops" if where == "cache_latents" else "musubi-tuner stops"
            note = f" ({s.refusal.note})" if s.refusal.note else ""
            yield ctx.origin_diagnostic(self, f"{stage}: {s.refusal.message}{note}", s.refusal.origin)


class MusubiTargetFramesOmitted(Rule):
    """A video dataset without `target_frames` trains on the first frame of every video.

    `target_frames` defaults to `[1]` (dataset/config_utils.py:100) and `frame_extraction` to
    `head`: each video becomes one cache item, its first frame, a still image. Nothing is logged.

    Bad:

        video_directory = "vid"

    Fixed:

        video_directory = "vid"
        target_frames = [1, 25, 45]
    """
    code = "KT902"
    name = "musubi-target-frames-omitted"
    severity = "warning"
    summary = "video dataset without target_frames: only the first frame of each video is trained"
    kinds = MUSUBI

    def check(self, ctx):
        s = setup(ctx)
        for d in _video_datasets(s):
            if d.sources.get("target_frames") == "default" and d.values["frame_extraction"] != "full":
                yield ctx.diagnostic(self, "no target_frames: musubi-tuner uses [1] and trains only the "
                                           "first frame of every video; list the clip lengths to train "
                                           "(4N+1, e.g. [1, 25, 45])", keypath=d.keypath, doc=s.dataset_doc)


class MusubiTargetFramesRounded(Rule):
    """`target_frames` values that are not 4N+1 are rounded down (and duplicates dropped).

    musubi-tuner rounds every value to `(f - 1) // 4 * 4 + 1`, removes duplicates and sorts
    (dataset/image_video_dataset.py:644-657), with a log line only: `[16, 17, 20]` becomes `[13, 17]`.

    Bad:

        target_frames = [16, 33, 50]

    Fixed:

        target_frames = [13, 33, 49]
    """
    code = "KT903"
    name = "musubi-target-frames-rounded"
    severity = "warning"
    summary = "target_frames not of the form 4N+1 are rounded down"
    kinds = MUSUBI

    def check(self, ctx):
        from kohya_tune.engine.musubi_steps import rounded_targets

        s = setup(ctx)
        for d in _video_datasets(s):
            if d.sources.get("target_frames") != "dataset" or d.values["frame_extraction"] == "full":
                continue
            given = list(d.values["target_frames"])
            rounded = list(rounded_targets(given))
            if given != rounded:
                yield ctx.diagnostic(self, f"target_frames {given} are used as {rounded}: musubi-tuner "
                                           f"rounds each to 4N+1 and drops duplicates; write {rounded}",
                                     keypath=d.keypath + ("target_frames",), doc=s.dataset_doc, at_value=True)


class MusubiUniformSampleOne(Rule):
    """`frame_extraction = "uniform"` with `frame_sample = 1` is `head`.

    musubi-tuner switches the mode to `head` when `frame_sample` is 1, its default
    (dataset/image_video_dataset.py:666-668): one window from the start of each video.

    Bad:

        frame_extraction = "uniform"

    Fixed:

        frame_extraction = "uniform"
        frame_sample = 4
    """
    code = "KT904"
    name = "musubi-uniform-sample-one"
    severity = "warning"
    summary = "uniform extraction with frame_sample 1 extracts like head"
    kinds = MUSUBI

    def check(self, ctx):
        s = setup(ctx)
        for d in _video_datasets(s):
            if d.values["frame_extraction"] == "uniform" and d.values["frame_sample"] == 1:
                yield ctx.diagnostic(self, "frame_extraction \"uniform\" with frame_sample 1 (the default) "
                                           "is changed to \"head\": set frame_sample to the number of "
                                           "windows per video", keypath=d.keypath + ("frame_extraction",),
                                     doc=s.dataset_doc)


class MusubiFullIgnoresTargets(Rule):
    """`frame_extraction = "full"` ignores `target_frames` and rounds `max_frames` down.

    In `full` mode each video gives one window from frame 0 of `min(frames, max_frames)` frames
    rounded down to 4N+1 (dataset/image_video_dataset.py:765-769); `target_frames` is not read.

    Bad:

        frame_extraction = "full"
        target_frames = [1, 25]
        max_frames = 48

    Fixed:

        frame_extraction = "full"
        max_frames = 45
    """
    code = "KT905"
    name = "musubi-full-ignores-targets"
    severity = "warning"
    summary = "full extraction ignores target_frames; max_frames is rounded to 4N+1"
    kinds = MUSUBI

    def check(self, ctx):
        s = setup(ctx)
        for d in _video_datasets(s):
            if d.values["frame_extraction"] != "full":
                continue
            if d.sources.get("target_frames") == "dataset":
                yield ctx.diagnostic(self, "frame_extraction \"full\" does not read target_frames: remove it",
                                     keypath=d.keypath + ("target_frames",), doc=s.dataset_doc)
            mf = d.values["max_frames"]
            if isinstance(mf, int) and (mf - 1) % 4 != 0:
                rounded = (mf - 1) // 4 * 4 + 1
                yield ctx.diagnostic(self, f"max_frames {mf} is used as {rounded} (4N+1) in full mode",
                                     keypath=d.keypath + ("max_frames",), doc=s.dataset_doc, at_value=True)


class MusubiBucketsOff(Rule):
    """`enable_bucket` is off: every image and video is resized and cropped to `resolution`.

    musubi-tuner's `enable_bucket` defaults to false (dataset/config_utils.py:68): training puts
    every item into one bucket of `resolution` (bucket.py:86-89), so portrait and landscape items
    are cropped to the same shape. Videos are cached at their own bucket but trained at
    `resolution`.

    Bad:

        resolution = [960, 544]

    Fixed:

        resolution = [960, 544]
        enable_bucket = true
    """
    code = "KT906"
    name = "musubi-buckets-off"
    severity = "warning"
    summary = "enable_bucket is off by default: every item is cropped to resolution"
    kinds = MUSUBI

    def check(self, ctx):
        s = setup(ctx)
        for d in _sourced(s):
            if d.sources.get("enable_bucket") == "default":
                yield ctx.diagnostic(self, "enable_bucket is not set (musubi-tuner's default is false): "
                                           "every item is resized and cropped to the one resolution; set "
                                           "enable_bucket = true in [general]", keypath=d.keypath,
                                     doc=s.dataset_doc)
                return


class MusubiNoOptimizerType(Rule):
    """No `optimizer_type`: the training script stops when it builds the optimizer.

    The help says AdamW is the default, but the argument defaults to `""`
    (training/parser_common.py:303-306); `get_optimizer` then looks up `torch.optim.""`
    (training/trainer_base.py:230-242) and fails after the model is loaded.

    Bad:

        learning_rate = 1e-4

    Fixed:

        learning_rate = 1e-4
        optimizer_type = "AdamW"
    """
    code = "KT907"
    name = "musubi-no-optimizer-type"
    severity = "error"
    summary = "optimizer_type left out: the script fails although its help says AdamW is the default"
    kinds = frozenset({documents.MUSUBI_ARGS})

    def check(self, ctx):
        s = setup(ctx)
        if not s.args.get("optimizer_type"):
            yield ctx.diagnostic(self, "optimizer_type is not set: musubi-tuner looks up torch.optim.\"\" "
                                       "and stops (AttributeError); write optimizer_type = \"AdamW\"")


class MusubiDefaultSteps(Rule):
    """Neither `max_train_steps` nor `max_train_epochs`: musubi-tuner trains 1600 steps.

    `--max_train_steps` defaults to 1600 (training/parser_common.py:164), whatever the dataset.

    Bad:

        learning_rate = 1e-4

    Fixed:

        learning_rate = 1e-4
        max_train_epochs = 16
    """
    code = "KT908"
    name = "musubi-default-steps"
    severity = "warning"
    summary = "no max_train_steps or max_train_epochs: the default 1600 steps"
    kinds = frozenset({documents.MUSUBI_ARGS})

    def check(self, ctx):
        s = setup(ctx)
        if s.args.get("max_train_steps") is None and s.args.get("max_train_epochs") is None:
            yield ctx.diagnostic(self, "neither max_train_steps nor max_train_epochs is set: musubi-tuner "
                                       "trains its default 1600 steps; set max_train_epochs")


class MusubiVideoTooShort(Rule):
    """A video shorter than a target is skipped for that target (with --script).

    In `head`, `slide` and `uniform` modes a target longer than the video's frames (after
    `source_fps` dropping) gives no window for that video (dataset/image_video_dataset.py:742-764),
    silently: a 124-frame clip trains nothing for a 129-frame target.

    Bad:

        target_frames = [1, 33]

    Fixed:

        target_frames = [1, 17]
    """
    code = "KT909"
    name = "musubi-video-too-short"
    severity = "warning"
    summary = "videos shorter than a target_frames value are skipped for it"
    kinds = MUSUBI

    def check(self, ctx):
        s = setup(ctx)
        if s.report is None:
            return
        for dr in s.report.datasets:
            m = dr.media
            if m is None or dr.params.is_image:
                continue
            short = [vf for vf in m.videos if vf.skipped_targets]
            if not short:
                continue
            targets = sorted({t for vf in short for t in vf.skipped_targets})
            names = ", ".join(f"{vf.name} ({vf.frames_used} frames)" for vf in short[:3])
            more = f" and {len(short) - 3} more" if len(short) > 3 else ""
            yield ctx.diagnostic(self, f"{len(short)} video(s) are shorter than target_frames {targets} and get "
                                       f"no window for them: {names}{more}",
                                 keypath=dr.params.keypath + ("target_frames",) if dr.params.sources.get("target_frames") == "dataset" else dr.params.keypath,
                                 doc=s.dataset_doc)


class MusubiImagesWithoutCaption(Rule):
    """Images without a caption file are dropped without a word (with --script).

    With a caption extension, musubi-tuner keeps only the images whose caption file exists
    (dataset/media_utils.py:67-79); the others are neither cached nor trained, and nothing is
    logged.

    Bad:

        img/0001.png

    Fixed:

        img/0001.png
        img/0001.txt
    """
    code = "KT910"
    name = "musubi-images-without-caption"
    severity = "warning"
    summary = "images without a caption file are dropped silently"
    kinds = MUSUBI

    def check(self, ctx):
        s = setup(ctx)
        if s.report is None:
            return
        for dr in s.report.datasets:
            m = dr.media
            if m is None or not m.without_caption:
                continue
            names = ", ".join(m.without_caption[:3]) + (f" and {len(m.without_caption) - 3} more" if len(m.without_caption) > 3 else "")
            yield ctx.diagnostic(self, f"{len(m.without_caption)} image(s) have no caption file and are dropped: {names}",
                                 keypath=dr.params.keypath, doc=s.dataset_doc)


class MusubiCacheOutOfDate(Rule):
    """The cache folder does not match the config (with --script).

    Training reads the cache folder, not the media (image_video_dataset.py:857-895): files an
    earlier config wrote are still trained, windows the current config would make are missing
    until the caching runs again, and a latent without its text-encoder cache is skipped.

    Bad:

        target_frames = [1, 25]

    Fixed:

        target_frames = [1, 25]
    """
    code = "KT911"
    name = "musubi-cache-out-of-date"
    severity = "warning"
    summary = "the cache folder holds stale or missing files for this config"
    kinds = MUSUBI

    def check(self, ctx):
        s = setup(ctx)
        if s.report is None:
            return
        for dr in s.report.datasets:
            c = dr.cache
            parts = []
            if dr.stale:
                parts.append(f"{len(dr.stale)} stale file(s) the config would not write now (e.g. {dr.stale[0]})")
            if dr.missing:
                parts.append(f"{len(dr.missing)} file(s) the config would write are missing (e.g. {dr.missing[0]})")
            if c is not None and c.without_te:
                parts.append(f"{len(c.without_te)} latent(s) without a text-encoder cache, skipped")
            if parts:
                yield ctx.diagnostic(self, f"the cache folder {dr.cache_directory} is out of date: "
                                           + "; ".join(parts) + "; run the caching scripts again",
                                     keypath=dr.params.keypath, doc=s.dataset_doc)


class MusubiOutputUnset(Rule):
    """`output_dir` or `output_name` left out of a musubi-tuner training config.

    Neither has a default (training/parser_common.py:605-614). Without `output_dir` the first
    checkpoint save (or sample, with sample_prompts) joins None into a path and the run stops with
    "TypeError: expected str, bytes or os.PathLike object, not NoneType" (trainer_base.py:834,
    1939): nothing is saved. Without `output_name` the checkpoints are named
    `None-000001.safetensors` (utils/train_utils.py:17-24, 84-89), and after the last step the
    final save computes `output_name + ".safetensors"` and stops with a TypeError (:92-93): the
    finished LoRA is never written. (A `--output_dir` / `--output_name` given on the command line
    next to `--config_file` fills them.) `kohya-tune schedule` shows where the run stops.

    Bad:

        max_train_epochs = 16

    Fixed:

        max_train_epochs = 16
        output_dir = "output"
        output_name = "my_lora"
    """
    code = "KT912"
    name = "musubi-output-unset"
    severity = "warning"
    summary = "output_dir or output_name not set: the run fails at its first or its final save"
    kinds = frozenset({documents.MUSUBI_ARGS})

    def check(self, ctx):
        s = setup(ctx)
        missing = [k for k in ("output_dir", "output_name") if s.args.get(k) is None]
        if "output_dir" in missing:
            yield ctx.diagnostic(self, "output_dir is not set and musubi-tuner has no default: unless the command "
                                       "line gives --output_dir, the first checkpoint save fails with TypeError "
                                       "and nothing is saved; set output_dir")
        if "output_name" in missing:
            yield ctx.diagnostic(self, "output_name is not set: checkpoints are named None-000001.safetensors and "
                                       "the final save fails with TypeError after the last step, so the finished "
                                       "model is never written; set output_name")
