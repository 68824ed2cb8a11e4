"""What musubi-tuner's `train()` makes of a cache folder: `prepare_for_training`
(dataset/image_video_dataset.py:473-533 images, :857-895 videos, pinned commit).

It globs `*_{arch}.safetensors` in the cache directory (the path itself is not escaped, so a
folder name with `[` or `*` matches other names or none), reads the size and, for videos, the
frame count from each name, skips a file whose text-encoder cache `{item}_{arch}_te.safetensors`
is missing (a warning only), buckets the size with the training's bucket flags and puts the
item `num_repeats` times into its bucket; batches per bucket are ceil(items / batch_size)
(bucket.py:168-186). Image datasets of Wan and FramePack add `fp_latent_window_size` to the key;
an image latent with control latents adds their shapes (read from the file header).

`count(names, ...)` does this on any list of names, so the same code counts a real cache folder
and the names the caching would write from the media.
"""
from __future__ import annotations

import glob
import json
import math
import os
import struct
from dataclasses import dataclass, field

from kohya_tune.engine.musubi_buckets import BucketSelector
from kohya_tune.versions import musubi as mv


class CacheRefusal(Exception):
    def __init__(self, message: str, note: str | None = None):
        super().__init__(message)
        self.message = message
        self.note = note


@dataclass
class CacheCount:
    latent_files: list = field(default_factory=list)     # names globbed (sorted)
    items: list = field(default_factory=list)            # [(name, bucket key)] counted
    without_te: list = field(default_factory=list)       # latents skipped: no text-encoder cache
    buckets: dict = field(default_factory=dict)          # key -> items with repeats
    num_train_items: int = 0
    num_batches: int = 0


def list_cache(cache_directory: str) -> list[str]:
    """The names `glob.glob(os.path.join(cache_directory, "*_{arch}.safetensors"))` finds,
    for every architecture (the caller filters)."""
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(cache_directory, "*.safetensors")))


def glob_latents(cache_directory: str, arch: str) -> list[str]:
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(cache_directory, f"*_{arch}.safetensors")))


def header_keys(path: str) -> list[str]:
    """The tensor names in a safetensors header (8-byte length, then JSON)."""
    with open(path, "rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(length))
    return [k for k in header if k != "__metadata__"]


def _strip_dtype(name: str) -> str:
    for dtype in mv.data()["dtype_suffixes"]["names"]:
        if name.endswith("_" + dtype):
            return name[: -len(dtype) - 1]
    return name


def count(names: list[str], params, arch: mv.Architecture, te_exists, control_keys=None) -> CacheCount:
    """Items and buckets of these latent cache names, as prepare_for_training counts them.

    `te_exists(name)` says whether a text-encoder cache file is there; `control_keys(name)`
    gives the `latents_control_*` keys of an image latent (None: none)."""
    v = params.values
    try:
        selector = BucketSelector(v["resolution"], bool(v["enable_bucket"]),
                                  bool(v["bucket_no_upscale"]) if v["enable_bucket"] else False,
                                  arch.reso_steps)
    except (ZeroDivisionError, ValueError, OverflowError) as exc:
        raise CacheRefusal(f"{type(exc).__name__}: {exc}",
                           note=f"resolution {list(v['resolution'])}: musubi's BucketSelector cannot make "
                                f"buckets of it (bucket.py:74-103)") from None
    out = CacheCount(latent_files=list(names))
    buckets: dict = {}
    repeats = v["num_repeats"]
    for name in names:
        tokens = name.split("_")
        try:
            w, h = map(int, tokens[-2].split("x"))
            size = (w, h)
            if params.is_image:
                item_key = "_".join(tokens[:-2])
                frames = None
            else:
                pos, frames = tokens[-3].split("-")[:2]
                pos, frames = int(pos), int(frames)
                item_key = "_".join(tokens[:-3])
        except (ValueError, IndexError) as exc:
            raise CacheRefusal(f"{type(exc).__name__}: {exc}",
                               note=f"the cache file {name} is not named as a "
                                    f"{'image' if params.is_image else 'video'} latent of musubi "
                                    f"(image_video_dataset.py:{'478-485' if params.is_image else '866-875'})") from None
        te = f"{item_key}_{arch.short}_te.safetensors"
        if not te_exists(te):
            out.without_te.append(name)
            continue
        try:
            key = selector.select(size)
        except ZeroDivisionError as exc:
            raise CacheRefusal(f"ZeroDivisionError: {exc}",
                               note=f"the cache file {name} names a size of zero height (bucket.py:117)") from None
        if params.is_image:
            if arch.image_key_window:
                key = tuple(key) + (v["fp_latent_window_size"],)
                if v.get("fp_1f_clean_indices") is not None:
                    key = key + (len(v["fp_1f_clean_indices"]), v["fp_1f_no_post"])
            controls = control_keys(name) if control_keys else None
            if controls:
                key = tuple(key) + tuple(_strip_dtype(k) for k in sorted(controls))
        else:
            key = tuple(key) + (frames,)
        out.items.append((name, tuple(key)))
        # `for _ in range(num_repeats)`: a count below 1 adds the bucket but no item
        buckets[tuple(key)] = buckets.get(tuple(key), 0) + max(0, repeats)
    out.buckets = buckets
    out.num_train_items = sum(buckets.values())
    bs = v["batch_size"]
    if buckets and bs == 0:
        raise CacheRefusal("ZeroDivisionError: division by zero",
                           note="batch_size = 0: BucketBatchManager divides by it (bucket.py:183)")
    out.num_batches = sum(math.ceil(n / bs) for n in buckets.values())
    return out


def from_folder(cache_directory: str, params, arch: mv.Architecture) -> CacheCount:
    names = glob_latents(cache_directory, arch.short)

    def te_exists(te: str) -> bool:
        return os.path.exists(os.path.join(cache_directory, te))

    def controls(name: str):
        try:
            keys = header_keys(os.path.join(cache_directory, name))
        except (OSError, ValueError, struct.error) as exc:
            raise CacheRefusal(f"cannot read the header of {name}: {exc}",
                               note="musubi reads every image latent's header for control latents "
                                    "(image_video_dataset.py:510)") from None
        return [k for k in keys if k.startswith("latents_control_")]

    return count(names, params, arch, te_exists, controls if params.is_image else None)
