"""What musubi-tuner's caching makes of the media: the images and videos a dataset finds, the
frames each video yields, its frame windows per extraction mode (FramePack: its sections) and the
latent cache file names the caching scripts write. Everything cites the pinned commit.

- images: `glob_images` (dataset/media_utils.py:58-82): the image extensions (case as listed),
  then, with a caption extension, only images with a caption file of the same stem; a missing
  caption drops the image without a word. Cache name `{stem}_{W:04d}x{H:04d}_{arch}` with the
  image's own size (image_video_dataset.py:152-166, 380-383).
- videos: `glob_videos` (media_utils.py:85-94), every file decoded by PyAV (here: counted by
  `video_frames.probe`); `source_fps` drops frames to the architecture's fps
  (media_utils.py:194-227); `head` reads only up to the longest target (image_video_dataset.py:669-671);
  the first frame's size is bucketed with buckets always on at caching (image_video_dataset.py:697-699,
  bucket.py:74) and that bucket size names the files.
- windows (image_video_dataset.py:741-776): head / chunk / slide / uniform / full, item key
  `{stem}_{pos:05d}-{frames:03d}`; FramePack: one file per section, `-{section:04d}` appended
  (fpack_cache_latents.py:63-69, 433-436), and a window shorter than `latent_window_size*4+1`
  stops the caching (fpack_cache_latents.py:65-69).
"""
from __future__ import annotations

import glob
import json
import math
import os
from dataclasses import dataclass, field

from kohya_tune.engine import video_frames
from kohya_tune.engine.musubi_buckets import BucketSelector
from kohya_tune.versions import musubi as mv


class CachingRefusal(Exception):
    """An error musubi's caching script raises for this dataset. `at_construction`: raised while
    the dataset object is built (a JSONL file read), so training, which builds it too, raises it
    as well even when the cache is complete."""

    def __init__(self, message: str, note: str | None = None, at_construction: bool = False):
        super().__init__(message)
        self.message = message
        self.note = note
        self.at_construction = at_construction


@dataclass
class VideoFacts:
    name: str
    frames_in_file: int | None = None     # what the decoder yields
    size: tuple | None = None             # first frame (w, h)
    frames_used: int | None = None        # after source_fps dropping and the head limit
    bucket: tuple | None = None           # the size the cache files are named with
    windows: list = field(default_factory=list)        # [(start, frames)]
    skipped_targets: list = field(default_factory=list)  # targets longer than the video
    sections: int | None = None           # FramePack: sections per window (by window frames)
    cache_files: list = field(default_factory=list)
    problem: str | None = None


@dataclass
class MediaFacts:
    """One dataset's media as the caching scripts see them."""
    source: str | None                     # the folder or JSONL file named
    found: bool                            # the folder / file is here
    images: list = field(default_factory=list)          # [(name, (w, h))]
    without_caption: list = field(default_factory=list)  # images dropped for lack of a caption
    other_files: int = 0                   # files in the folder that are not media of this kind
    videos: list = field(default_factory=list)          # [VideoFacts]
    cache_files: list = field(default_factory=list)     # predicted latent cache names (sorted, unique)
    te_files: list = field(default_factory=list)        # predicted text-encoder cache names
    unknown: str | None = None             # why the media cannot be counted here
    refusal: CachingRefusal | None = None  # what the caching would stop with
    notes: list = field(default_factory=list)


def glob_media(directory: str, extensions: list[str]) -> list[str]:
    """The files musubi's glob finds (the same pattern through Python's glob)."""
    found = set()
    for ext in extensions:
        found.update(glob.glob(os.path.join(glob.escape(directory), "*" + ext)))
    return sorted(found)


def glob_captioned(directory: str, images: list[str], caption_extension: str | None) -> tuple[list, list]:
    if caption_extension is None:
        return images, []
    bases = {os.path.splitext(os.path.basename(p))[0]
             for p in glob.glob(os.path.join(glob.escape(directory), "*" + caption_extension))}
    kept, dropped = [], []
    for p in images:
        (kept if os.path.splitext(os.path.basename(p))[0] in bases else dropped).append(p)
    return kept, dropped


def frames_after_fps(decoded: int, end_frame: int | None, source_fps, target_fps) -> int:
    """How many frames `load_video` returns from `decoded` frames (media_utils.py:152-227)."""
    if source_fps is None or target_fps is None:
        return decoded if end_frame is None else max(0, min(decoded, end_frame))
    delta = target_fps / source_fps
    fraction = 0.0
    previous = -1
    kept = 0
    for _ in range(decoded):
        index = int(fraction)
        fraction += delta
        if index == previous:
            continue
        previous = index
        if end_frame is not None and index >= end_frame:
            break
        kept += 1
    return kept


def uniform_starts(frame_count: int, target: int, samples: int) -> list[int]:
    """np.linspace(0, frame_count - target, samples, dtype=int) in float64, floored as numpy 2 does."""
    stop = frame_count - target
    if samples < 0:
        raise CachingRefusal(f"ValueError: Number of samples, {samples}, must be non-negative.")
    if samples == 0:
        return []
    if samples == 1:
        return [0]
    div = samples - 1
    step = stop / div
    if step == 0:
        values = [0.0] * samples
    else:
        values = [k * step for k in range(samples)]
    values[-1] = float(stop)
    return [int(math.floor(v)) for v in values]


def windows(mode: str, frame_count: int, targets: tuple, stride: int, samples: int,
            max_frames: int, vae_stride: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    if mode == "head":
        out = [(0, t) for t in targets if frame_count >= t]
    elif mode == "chunk":
        for t in targets:
            if t == 0:
                raise CachingRefusal("ValueError: range() arg 3 must not be zero")
            for i in range(0, frame_count, t):
                if i + t <= frame_count:
                    out.append((i, t))
    elif mode == "slide":
        for t in targets:
            if frame_count >= t:
                if stride == 0:
                    raise CachingRefusal("ValueError: range() arg 3 must not be zero")
                out.extend((i, t) for i in range(0, frame_count - t + 1, stride))
    elif mode == "uniform":
        for t in targets:
            if frame_count >= t:
                out.extend((i, t) for i in uniform_starts(frame_count, t, samples))
    elif mode == "full":
        t = min(frame_count, max_frames)
        out = [(0, (t - 1) // vae_stride * vae_stride + 1)]
    else:
        raise CachingRefusal(f"ValueError: frame_extraction {mode} is not supported")
    return out


def fp_sections(frames: int, window: int) -> int:
    latent_f = (frames - 1) // 4 + 1
    return math.floor((latent_f - 1) / window)


def read_jsonl(path: str, is_image: bool) -> list:
    """The entries of an image_jsonl_file / video_jsonl_file as the datasource's constructor reads
    them (datasources.py:284-306 ImageJsonlDatasource, 593-605 VideoJsonlDatasource: every line
    through json.loads, then each entry looked into for control paths). Raises CachingRefusal
    (at_construction) with the error musubi raises there."""
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.readlines()
    except UnicodeDecodeError as exc:
        raise CachingRefusal(f"UnicodeDecodeError: {exc}", note=f"{name} is not UTF-8 text",
                             at_construction=True) from None
    except OSError as exc:
        raise CachingRefusal(f"{type(exc).__name__}: {exc}", note=f"musubi opens {name} when it builds the dataset",
                             at_construction=True) from None
    entries = []
    for number, line in enumerate(lines, 1):
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise CachingRefusal(f"JSONDecodeError: {exc}",
                                 note=f"line {number} of {name} is not one JSON value (an empty line counts)",
                                 at_construction=True) from None
        except RecursionError:
            raise CachingRefusal("RecursionError: maximum recursion depth exceeded while decoding a JSON array "
                                 "from a unicode string", note=f"line {number} of {name}",
                                 at_construction=True) from None
    for number, item in enumerate(entries, 1):
        where = f"entry {number} of {name} is {type(item).__name__}, not a JSON object"
        if not isinstance(item, (dict, list, str)):
            raise CachingRefusal(f"TypeError: argument of type '{type(item).__name__}' is not iterable",
                                 note=where, at_construction=True)
        if is_image and not isinstance(item, dict):
            raise CachingRefusal(f"AttributeError: '{type(item).__name__}' object has no attribute "
                                 f"'{'pop' if isinstance(item, str) and 'control_path' in item else 'keys'}'",
                                 note=where, at_construction=True)
    return entries


def check_image_directory(directory_text: str, where: str, caption_extension, control_text, control_where,
                          control_count, multiple_target: bool) -> None:
    """What ImageDirectoryDatasource's constructor checks (datasources.py:59-206), by caching and
    training alike: with `multiple_target`, the uncaptioned `<stem>_<digits>` images of each
    captioned image (the same number for every image that has some, at least one somewhere);
    with a control directory, the `<stem>.*` / `<stem>_<digits>.*` control images of every image.
    Paths in the messages are as musubi joins them (the folder as the config writes it).
    Raises CachingRefusal (at_construction)."""
    exts = mv.extensions("image")
    here = glob_media(where, exts)
    kept, _ = glob_captioned(where, here, caption_extension)

    def as_written(path: str) -> str:
        return os.path.join(directory_text, os.path.basename(path))

    images = [as_written(p) for p in kept]
    if multiple_target:
        ordered = sorted(images, key=lambda p: len(os.path.basename(p)), reverse=True)
        candidates = {as_written(p) for p in here} - set(images)
        if candidates:
            targets: dict = {}
            for image in ordered:
                stem = os.path.splitext(image)[0]
                found = [p for p in candidates if p.startswith(stem + "_")]
                if found:
                    for p in found:
                        suffix = os.path.splitext(p)[0].rsplit("_", 1)[-1]
                        if not suffix.isdigit():
                            raise CachingRefusal(
                                f"ValueError: Invalid digits suffix in '{os.path.splitext(p)[0]}'. Expected a numeric "
                                f"suffix after '_' (e.g., '_0', '_1', '_2') for proper sorting of multiple target images.",
                                at_construction=True)
                    targets[image] = found
                    candidates.difference_update(found)
            count = 0
            for image, paths in targets.items():
                if count == 0:
                    count = len(paths)
                elif count != len(paths):
                    raise CachingRefusal(
                        "ValueError: All multiple-target images must have the same number of targets / "
                        f"全ての複数ターゲット画像は同じ数のターゲットを持つ必要があります: {image}", at_construction=True)
            if count == 0:
                raise CachingRefusal("ValueError: no multiple-target images found, but multiple_target is set to True",
                                     at_construction=True)
    if control_text is None:
        return
    if control_where is None:
        return   # the control folder is not here: nothing to check
    controls = set(glob_media(control_where, exts))
    matched = {}
    for image in sorted(images, key=lambda p: len(os.path.basename(p)), reverse=True):
        stem = os.path.splitext(os.path.basename(image))[0]
        found = [p for p in controls if os.path.basename(p).startswith(stem + ".")
                 or os.path.basename(p).startswith(stem + "_")]
        controls.difference_update(found)
        if not found:
            continue
        for p in found:
            name = os.path.splitext(os.path.basename(p))[0]
            if name != stem and not name.rsplit("_", 1)[-1].isdigit():
                raise CachingRefusal(f"ValueError: Invalid digits suffix in {name}", at_construction=True)
        if control_count is not None and len(found) < control_count:
            raise CachingRefusal(f"ValueError: Not enough control images for {image}: found {len(found)}, expected "
                                 f"{control_count}", at_construction=True)
        matched[image] = found
    missing = len(images) - len(matched)
    if missing > 0:
        raise CachingRefusal(f"ValueError: Could not find matching control images for {missing} images",
                             note=f"the control folder {control_text} has no <stem>.* / <stem>_<n>.* image for "
                                  f"{missing} of the images", at_construction=True)


def check_jsonl_controls(entries: list, control_count, name: str) -> None:
    """ImageJsonlDatasource's constructor (datasources.py:297-325): control_path renamed
    control_path_0, then, when some entry has one and a count is required, every entry needs it."""
    has_control = False
    for item in entries:
        keys = [k for k in item if k == "control_path" or k.startswith("control_path_")]
        if keys:
            has_control = True
    if not has_control or control_count is None:
        return
    missing = []
    for item in entries:
        present = {("control_path_0" if k == "control_path" else k) for k in item
                   if k == "control_path" or k.startswith("control_path_")}
        if len(present) < control_count:
            missing.append(item.get("image_path"))
    if missing:
        raise CachingRefusal(f"ValueError: Some images do not have control paths in JSONL data: {missing}",
                             note=f"{name}: every entry needs control_path when one has it", at_construction=True)


def _jsonl_entries(where: str, is_image: bool, facts: MediaFacts) -> list[tuple[str, None]]:
    """(media path, None) per entry, in order, as the caching reads them; the first entry the
    caching stops at becomes facts.refusal (datasources.py:333-370 get_image_data: the image path,
    then the caption; 614-632 get_video_data: video_path, then the caption)."""
    out = []
    for number, item in enumerate(read_jsonl(where, is_image), 1):
        name = os.path.basename(where)
        if is_image:
            path = item.get("image_path", item.get("image_path_0"))
            if not isinstance(path, str):
                facts.refusal = facts.refusal or CachingRefusal(
                    f"AttributeError: '{type(path).__name__}' object has no attribute 'read'",
                    note=f"entry {number} of {name} has no image_path (nor image_path_0) string: "
                         f"PIL's Image.open gets {path!r}")
                continue
        else:
            if not isinstance(item, dict):
                facts.refusal = facts.refusal or CachingRefusal(
                    "TypeError: list indices must be integers or slices, not str" if isinstance(item, list)
                    else "TypeError: string indices must be integers, not 'str'",
                    note=f"entry {number} of {name} is not a JSON object")
                continue
            if "video_path" not in item:
                facts.refusal = facts.refusal or CachingRefusal("KeyError: 'video_path'",
                                                                note=f"entry {number} of {name}")
                continue
            path = item["video_path"]
            if not isinstance(path, str):
                facts.refusal = facts.refusal or CachingRefusal(
                    f"video_path {path!r} is not a string", note=f"entry {number} of {name}")
                continue
        if "caption" not in item:
            facts.refusal = facts.refusal or CachingRefusal("KeyError: 'caption'",
                                                            note=f"entry {number} of {name} has no caption")
        out.append((path, None))
    return out


def scan(params, arch: mv.Architecture, resolve, size_of) -> MediaFacts:
    """The media of one dataset (cache-time parameters), never raising for what is not here.

    `resolve(text)` gives the folder/file here or None; `size_of(path)` an image's size."""
    v = params.values
    is_image = params.is_image
    directory = v.get("image_directory" if is_image else "video_directory")
    jsonl = v.get("image_jsonl_file" if is_image else "video_jsonl_file")
    facts = MediaFacts(source=directory if directory is not None else jsonl, found=False)
    if directory is None and jsonl is None:
        facts.unknown = "the dataset names no image_directory / video_directory / JSONL file"
        return facts
    where = resolve(directory if directory is not None else jsonl, is_dir=directory is not None)
    if where is None:
        facts.unknown = f"{facts.source} is not here"
        return facts
    facts.found = True
    try:
        if is_image:
            _scan_images(facts, params, arch, str(where), directory is not None, size_of)
        else:
            _scan_videos(facts, params, arch, str(where), directory is not None, size_of)
    except CachingRefusal as exc:   # the JSONL file itself (musubi_steps reports it first)
        facts.refusal = exc
    facts.cache_files = sorted(set(facts.cache_files))
    facts.te_files = sorted(set(facts.te_files))
    return facts


def _cache_name(stem: str, size: tuple, arch: str) -> str:
    return f"{stem}_{size[0]:04d}x{size[1]:04d}_{arch}.safetensors"


def _selector(v: dict, arch, enable_bucket: bool, no_upscale: bool) -> BucketSelector:
    """The caching's BucketSelector (image_video_dataset.py:363 for images; :698, buckets always on,
    for videos); what it cannot make buckets of stops the caching, as in bucket.py:74-103."""
    try:
        return BucketSelector(v["resolution"], enable_bucket, no_upscale, arch.reso_steps)
    except (ZeroDivisionError, ValueError, OverflowError) as exc:
        raise CachingRefusal(f"{type(exc).__name__}: {exc}",
                             note=f"resolution {list(v['resolution'])}: musubi's BucketSelector cannot make "
                                  f"buckets of it (bucket.py:74-103)") from None


def _scan_images(facts, params, arch, where, is_dir, size_of) -> None:
    v = params.values
    _selector(v, arch, bool(v["enable_bucket"]), bool(v["bucket_no_upscale"]))
    if is_dir:
        listed = glob_media(where, mv.extensions("image"))
        kept, dropped = glob_captioned(where, listed, v["caption_extension"])
        facts.without_caption = [os.path.basename(p) for p in dropped]
        entries = [(p, None) for p in kept]
    else:
        entries = _jsonl_entries(where, True, facts)
    for path, _caption in entries:
        name = os.path.basename(path)
        stem = os.path.splitext(name)[0]
        try:
            size = size_of(path)
        except Exception as exc:  # noqa: BLE001 - reported, the rest still counted
            facts.unknown = f"cannot read the size of {name}: {exc}"
            continue
        facts.images.append((name, size))
        facts.cache_files.append(_cache_name(stem, size, arch.short))
        facts.te_files.append(f"{stem}_{arch.short}_te.safetensors")
    if arch.video_sections and facts.images and facts.refusal is None:
        # fpack_cache_latents.encode_and_save_batch computes (frame_count - 1) // 4 + 1 and an
        # image has no frame count: only --one_frame caches images (fpack_cache_latents.py:38-61)
        facts.refusal = CachingRefusal(
            "TypeError: unsupported operand type(s) for -: 'NoneType' and 'int'",
            note="FramePack's caching script caches an image dataset only with --one_frame "
                 "(fpack_cache_latents.py:38-61); kohya-tune assumes the default caching")
    if is_dir and v["caption_extension"] is None and entries:
        facts.refusal = CachingRefusal(
            "FileNotFoundError: [Errno 2] No such file or directory: ''",
            note="no caption_extension is set for this dataset (nor in [general]): musubi reads the "
                 "caption from the path '' (datasources.py:241-246)")


def _scan_videos(facts, params, arch, where, is_dir, size_of) -> None:
    v = params.values
    if arch.target_fps is None:
        return  # the dataset itself is refused (VideoDataset: Unsupported architecture)
    targets = tuple(v["target_frames"])
    mode = v["frame_extraction"]
    end_frame = max(targets) if mode == "head" and targets else None
    source_fps = v["source_fps"]
    target_fps = arch.target_fps if source_fps is not None else None
    selector = _selector(v, arch, True, False)
    if is_dir:
        entries = [(p, None) for p in glob_media(where, mv.extensions("video"))]
    else:
        entries = _jsonl_entries(where, False, facts)
    caption_ext = v["caption_extension"]
    stride = mv.number("vae_frame_stride")
    for path, _caption in entries:
        name = os.path.basename(path)
        body, ext = os.path.splitext(name)
        vf = VideoFacts(name=name)
        facts.videos.append(vf)
        if is_dir:
            cap = os.path.splitext(path)[0] + caption_ext if caption_ext else ""
            if not os.path.isfile(cap) and facts.refusal is None:
                facts.refusal = CachingRefusal(
                    f"FileNotFoundError: [Errno 2] No such file or directory: {cap!r}",
                    note=f"{name} has no caption file: musubi reads every video's caption "
                         f"(datasources.py:550-555) and stops")
        try:
            if os.path.isdir(path):
                frames_list = glob_media(path, mv.extensions("image"))
                info = video_frames.VideoInfo(len(frames_list), *(size_of(frames_list[0]) if frames_list else (0, 0)))
            else:
                info = video_frames.probe(path)
        except video_frames.VideoExtraMissing as exc:
            facts.unknown = str(exc)
            vf.problem = str(exc)
            continue
        except (video_frames.VideoUnreadable, OSError) as exc:
            vf.problem = str(exc)
            if facts.refusal is None:
                facts.refusal = CachingRefusal(f"{name}: {exc}")
            continue
        vf.frames_in_file = info.frames
        vf.size = (info.width, info.height)
        try:
            used = frames_after_fps(info.frames, end_frame, source_fps, target_fps)
        except ZeroDivisionError:
            facts.refusal = facts.refusal or CachingRefusal("ZeroDivisionError: float division by zero")
            continue
        vf.frames_used = used
        if used == 0:
            facts.refusal = facts.refusal or CachingRefusal(
                "IndexError: list index out of range",
                note=f"{name} yields no frame (image_video_dataset.py:824 reads its first frame)")
            continue
        try:
            vf.bucket = selector.select(vf.size)
            vf.bucket = selector.select(vf.bucket)  # fetch_and_resize buckets the resized frames again (:824-827)
        except ZeroDivisionError as exc:
            facts.refusal = facts.refusal or CachingRefusal(f"ZeroDivisionError: {exc}",
                                                            note=f"{name}: a frame or bucket of zero height")
            continue
        try:
            vf.windows = windows(mode, used, targets, v["frame_stride"], v["frame_sample"], v["max_frames"], stride)
        except CachingRefusal as exc:
            facts.refusal = facts.refusal or exc
            continue
        if mode in ("head", "slide", "uniform"):
            vf.skipped_targets = [t for t in targets if used < t]
        for pos, count in vf.windows:
            stem = f"{body}_{int(pos):05d}-{count:03d}"
            base = _cache_name(stem, vf.bucket, arch.short)
            if arch.video_sections:
                sections = fp_sections(count, v["fp_latent_window_size"])
                if sections < 1:
                    window = v["fp_latent_window_size"]
                    latent_f = (count - 1) // 4 + 1
                    facts.refusal = facts.refusal or CachingRefusal(
                        f"ValueError: Not enough frames for FramePack: {count} frames ({latent_f} latent "
                        f"frames), minimum required: {window * 4 + 1} frames ({window + 1} latent frames)",
                        note=f"{name}, window at frame {pos}: fpack_cache_latents.py:63-69")
                    continue
                for sec in range(sections):
                    vf.cache_files.append(f"{stem}-{sec:04d}_{vf.bucket[0]:04d}x{vf.bucket[1]:04d}_{arch.short}.safetensors")
            else:
                vf.cache_files.append(base)
        facts.cache_files.extend(vf.cache_files)
        facts.te_files.append(f"{body}_{arch.short}_te.safetensors")
