"""Scan the dataset folders as the trainer does: image discovery, captions, reg balancing,
buckets and batches per dataset.

Sources (kohya-ss/sd-scripts): `glob_images` (HEAD train_util.py L2847-2856, J23 L1496-1505),
`DreamBoothDataset.__init__` (HEAD L1895-2184, J23 L1010-1181), `split_train_val` (HEAD L142-178),
`BaseDataset.make_buckets` (HEAD L987-1084), FineTuningDataset (HEAD L2187-2371).
"""
from __future__ import annotations

import json
import math
import os
import random
import sys
from dataclasses import dataclass, field

import imagesize

from kohya_tune.engine import buckets as bucketing
from kohya_tune.engine.plan import DatasetPlan, Plan, SubsetPlan, TrainerRefusal, resolve_dir, resolve_file

IMAGE_INFO_CACHE_FILE = "metadata_cache.json"  # DreamBoothDataset.IMAGE_INFO_CACHE_FILE (v0.8.6+)
CASE_INSENSITIVE_GLOB = sys.platform == "win32"


@dataclass
class SubsetResult:
    plan: SubsetPlan
    used: bool
    reason: str | None            # why the trainer ignores it
    directory: str | None         # the folder scanned here
    image_count: int = 0          # images found (after the validation split)
    num_repeats: int = 0
    is_reg: bool = False
    images: list[str] = field(default_factory=list)
    sizes: list = field(default_factory=list)
    reg_used_images: int = 0      # reg subsets: images registered after balancing
    reg_image_steps: int = 0      # reg subsets: image-steps after balancing
    skipped_files: dict = field(default_factory=dict)  # reason -> list of file names


@dataclass
class DatasetResult:
    plan: DatasetPlan
    subsets: list[SubsetResult]
    num_train_images: int          # T: train image-steps
    num_reg_images: int            # R: raw reg image-steps
    num_reg_images_used: int       # reg image-steps after balancing
    buckets: dict                  # (w, h) -> image-steps
    num_batches: int
    bucket_warnings: list[str] = field(default_factory=list)


class Progress:
    """A one-line progress count on stderr, only when stderr is a terminal and the scan is long
    (nothing is written when output is piped or in CI)."""

    def __init__(self, total: int, label: str, threshold: int = 5000):
        self.total = total
        self.label = label
        self.active = total >= threshold and sys.stderr.isatty()
        self.step = max(1, total // 100)

    def update(self, done: int) -> None:
        if self.active and done % self.step == 0:
            sys.stderr.write(f"\r{self.label}: {done}/{self.total} ({100 * done // self.total}%)")
            sys.stderr.flush()

    def close(self) -> None:
        if self.active:
            sys.stderr.write("\r" + " " * (len(self.label) + 30) + "\r")
            sys.stderr.flush()


def image_extensions(plan: Plan) -> list[str]:
    return plan.sd.image_extensions


def list_images(directory: str, extensions: list[str], names: list[str] | None = None
                ) -> tuple[list[str], dict]:
    """`glob_images(dir, "*")`: for each extension, `dir/*<ext>` (never names starting with "."),
    de-duplicated, sorted by full path string. Returns the paths and the files passed over, by
    reason, so rules can explain them."""
    if names is None:
        try:
            names = os.listdir(directory)
        except OSError:
            return [], {}
    prefix = directory if directory.endswith(os.sep) else directory + os.sep
    if CASE_INSENSITIVE_GLOB:
        lowered = tuple(e.lower() for e in extensions)
        found = [prefix + n for n in names if n[:1] != "." and n.lower().endswith(lowered)]
    else:
        exts = tuple(extensions)
        found = [prefix + n for n in names if n[:1] != "." and n.endswith(exts)]
    skipped: dict = {}
    if len(found) != len(names):
        # explain the rest (rare): hidden images, extensions the glob does not match
        lower_all = tuple({e.lower() for e in extensions} | {".jfif", ".gif", ".tif", ".tiff",
                                                             ".avif", ".jxl", ".heic"})
        matched = set(found)
        for name in names:
            if prefix + name in matched or not name.lower().endswith(lower_all):
                continue
            skipped.setdefault("hidden" if name.startswith(".") else "extension", []).append(name)
    found.sort()
    return found, skipped


def read_size(path: str) -> tuple[int, int]:
    """Header size without EXIF rotation (HEAD train_util.py L1478-1491 uses imagesize, then PIL
    when it returns <= 0)."""
    try:
        w, h = imagesize.get(path)
    except (OSError, ValueError):
        w, h = -1, -1
    if w <= 0 or h <= 0:
        try:
            from PIL import Image  # optional, as in the trainer's fallback

            with Image.open(path) as im:
                return im.size
        except Exception:  # noqa: BLE001 - any failure means the trainer fails on it too
            raise TrainerRefusal(f"cannot read the image size of {path}: imagesize does not "
                                 f"recognise its header (the trainer would fail to open it)")
    return w, h


def caption_candidates(image_name: str, caption_extension: str) -> list[str]:
    """The caption file names `read_caption` tries for an image, in order: `<stem><ext>`, then
    the face-crop stem (the name without its last four "_" parts) when the stem has 5+ parts
    (HEAD train_util.py L1946-1957)."""
    dot = image_name.rfind(".")
    stem = image_name[:dot] if dot > 0 else image_name
    names = [stem + caption_extension]
    tokens = stem.split("_")
    if len(tokens) >= 5:
        names.append("_".join(tokens[:-4]) + caption_extension)
    return names


def caption_file(image: str, names: set, directory: str, caption_extension: str) -> str | None:
    """The caption file the trainer reads for an image (None: it uses the class tokens)."""
    prefix = directory if directory.endswith(os.sep) else directory + os.sep
    for cand in caption_candidates(os.path.basename(image), caption_extension):
        if cand in names and os.path.isfile(prefix + cand):
            return prefix + cand
    return None


def check_captions(images: list[str], names: set, directory: str, caption_extension: str) -> None:
    """An empty caption file that the trainer reads stops it with an AssertionError (HEAD
    L1946-1970; J23 L1053-1074). The folder listing `names` saves a stat per missing caption;
    this loop runs once per image, so it is written out rather than calling caption_candidates."""
    prefix = directory if directory.endswith(os.sep) else directory + os.sep
    cut = len(prefix)
    stat = os.stat
    for img in images:
        name = img[cut:]
        dot = name.rfind(".")
        stem = name[:dot] if dot > 0 else name
        cand = stem + caption_extension
        if cand not in names:
            found = None
            for other in caption_candidates(name, caption_extension)[1:]:
                if other in names:
                    found = other
                    break
            if found is None:
                continue
            cand = found
        try:
            size = stat(prefix + cand).st_size
        except FileNotFoundError:
            continue
        if size == 0:
            raise TrainerRefusal(
                f"AssertionError: caption file is empty / キャプションファイルが空です: {prefix + cand}")


def scan_subset(plan: Plan, dplan: DatasetPlan, splan: SubsetPlan, seen_dirs: set,
                shared_rng) -> SubsetResult:
    repeats = splan.num_repeats
    result = SubsetResult(plan=splan, used=False, reason=None, directory=None,
                          num_repeats=repeats, is_reg=splan.is_reg)
    if repeats < 1:
        result.reason = f"num_repeats is {repeats} (less than 1): the trainer ignores this subset"
        return result
    if splan.image_dir in seen_dirs:
        result.reason = "the same image_dir is already a subset of this dataset: ignored"
        return result
    directory = splan.resolved
    if directory is None and splan.image_dir is not None:
        found = resolve_dir(splan.image_dir, plan, base=plan.config.directory
                            if plan.dataset_doc is None else plan.dataset_doc.directory)
        directory = str(found) if found is not None else None
    if directory is None:
        plan.missing_dirs.append((str(splan.image_dir), splan.origin))
        result.reason = "folder not found here"
        return result
    result.directory = directory
    images: list[str]
    sizes: list
    cache_file = os.path.join(directory, IMAGE_INFO_CACHE_FILE)
    names: set | None = None  # the folder listing, when the images come from the disk
    if splan.cache_info and os.path.isfile(cache_file) and plan.sd.get("cache_info", True):
        # v0.8.6+: the image list comes from the cache, not from the disk (HEAD L1977-2000)
        with open(cache_file, "r", encoding="utf-8") as fh:
            metas = json.load(fh)
        images = list(metas.keys())
        sizes = [tuple(m["resolution"]) if m.get("resolution") else None for m in metas.values()]
        result.skipped_files["from metadata_cache.json"] = [cache_file]
    else:
        try:
            listing = os.listdir(directory)
        except OSError:
            listing = []
        names = set(listing)
        images, result.skipped_files = list_images(directory, image_extensions(plan), listing)
        sizes = [None] * len(images)
    if dplan.validation_split > 0.0 and not splan.is_reg and images:
        images, sizes = split_train(images, sizes, dplan, shared_rng)
    if not images:
        result.reason = "no images found: the trainer ignores this subset"
        return result
    if names is not None:
        check_captions(images, names, directory, splan.caption_extension or ".caption")
    seen_dirs.add(splan.image_dir)
    result.used = True
    result.images = images
    result.sizes = sizes
    result.image_count = len(images)
    return result


def split_train(images, sizes, dplan: DatasetPlan, shared_rng):
    """`split_train_val` for the training copy: shuffle, keep ceil(n * (1 - v)) (HEAD L142-178).
    With a validation_seed, each subset is shuffled by a generator seeded with it (the trainer
    saves, seeds and restores the global state); without one, the trainer's global generator,
    seeded by set_seed(--seed) just before the datasets are built (train_network.py L505-556),
    runs on through the subsets in order: `shared_rng` plays that part."""
    pairs = list(zip(images, sizes))
    if dplan.validation_seed is not None:
        random.Random(dplan.validation_seed).shuffle(pairs)
    else:
        shared_rng.shuffle(pairs)
    keep = math.ceil(len(pairs) * (1 - dplan.validation_split))
    pairs = pairs[:keep]
    return [p for p, _ in pairs], [s for _, s in pairs]


def bucket_profile(plan: Plan) -> bucketing.BucketProfile:
    """The bucket behaviour of the chosen sd-scripts version, from its profile switches."""
    sd = plan.sd
    steps_table = bucketing.PROFILES["v0.10.1" if sd.get("verify_bucket_reso_steps") else "v0.6.5"]
    scripts = {f"{name}.py" for name in sd.scripts}
    table = dict(steps_table.min_steps_by_script)
    if not sd.get("verify_sd1_bucket_reso_steps", True):
        # before v0.9.0 only the SDXL scripts verified the step (32)
        table = {k: tuple(n for n in v if n != 64) for k, v in table.items()}
    return bucketing.BucketProfile(
        name=sd.profile,
        list_algorithm=sd.get("bucket_list_algorithm"),
        round_min_max_to_steps=sd.rounds_min_max(),
        range_checked_datasets=frozenset(sd.get("bucket_range_checked")),
        manager_init_asserts=bool(sd.get("bucket_manager_asserts")),
        ft_train_resolution=bool(sd.get("ft_train_resolution")),
        min_steps_by_script={k: v for k, v in table.items()
                             if k in scripts or not sd.get("verify_bucket_reso_steps")}
        | {f"{s}.py": () for s in sd.scripts if f"{s}.py" not in table})


def check_conditioning(plan: Plan, subsets: list) -> None:
    """ControlNetDataset: every image needs a conditioning image with the same stem, and no
    conditioning image may be left over (HEAD train_util.py L2455-2492)."""
    exts = image_extensions(plan)
    missing: list = []
    paired: set = set()
    dirs: list = []
    for res in subsets:
        if not res.used or not res.plan.conditioning_data_dir:
            continue
        found = resolve_dir(res.plan.conditioning_data_dir, plan, base=plan.config.directory
                            if plan.dataset_doc is None else plan.dataset_doc.directory)
        if found is None:
            continue  # the trainer logs "not directory" and skips the pairing
        cond_dir = str(found)
        dirs.append(cond_dir)
        listing = set(os.listdir(cond_dir))
        for image in res.images:
            stem = os.path.splitext(os.path.basename(image))[0]
            match = [stem + e for e in exts if stem + e in listing]
            if not match:
                missing.append(stem)
                continue
            paired.add(os.path.splitext(os.path.abspath(os.path.join(cond_dir, sorted(match)[0])))[0])
    extra = []
    for cond_dir in dirs:
        for path in list_images(cond_dir, exts)[0]:
            if os.path.splitext(os.path.abspath(path))[0] not in paired:
                extra.append(os.path.abspath(path))
    if missing:
        raise TrainerRefusal(f"AssertionError: missing conditioning data for {len(missing)} images / "
                             f"制御用画像が見つかりませんでした: {missing}")
    if extra:
        raise TrainerRefusal(f"AssertionError: extra conditioning data for {len(extra)} images / "
                             f"余分な制御用画像があります: {extra}")


def shared_random(plan: Plan) -> random.Random:
    """The trainer's global generator after set_seed(--seed); unseeded when --seed is not set
    (the trainer then draws a random seed, so which images a validation split keeps varies)."""
    seed = plan.args.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        return random.Random(seed)
    if any(d.validation_split > 0 and d.validation_seed is None for d in plan.datasets):
        plan.notes.append("validation_split without validation_seed or seed: the trainer picks a "
                          "random seed, so which images stay in training (and so the buckets) can "
                          "change from run to run; the counts do not")
    return random.Random()


def load_metadata(plan: Plan, splan: SubsetPlan) -> dict | None:
    """A fine-tuning subset's metadata (JSON, or JSON Lines from v0.10.0), or None when the file
    is not on this machine."""
    path = resolve_file(splan.metadata_file, plan.path_map, plan.dataset_doc.directory
                        if plan.dataset_doc is not None else plan.config.directory)
    if path is None:
        plan.missing_dirs.append((str(splan.metadata_file), splan.origin))
        return None
    with open(path, "r", encoding="utf-8") as fh:
        if str(path).endswith(".jsonl") and plan.sd.has_validation_split():
            metadata = {}
            for line in fh:
                if line.strip():
                    item = json.loads(line)
                    entry = {"caption": item.get("caption")}
                    if "image_size" in item:
                        entry["image_size"] = item["image_size"]
                    metadata[item["image_path"]] = entry
            return metadata
        return json.load(fh)


def _ft_image_path(plan: Plan, splan: SubsetPlan, key: str) -> str | None:
    """Where the trainer finds a metadata entry's image. Up to v0.9.x: the key itself if it
    exists, else `glob_images(image_dir, key)` (J23 FineTuningDataset); from v0.10.0:
    image_dir/key for a relative key (HEAD L2270-2283)."""
    image_dir = splan.image_dir
    resolved = resolve_dir(image_dir, plan, base=plan.config.directory) if image_dir else None
    if plan.sd.get("ft_train_resolution"):
        if os.path.exists(key):
            return key
        if resolved is not None:
            base = os.path.join(str(resolved), key)
            for ext in plan.sd.image_extensions:
                if os.path.exists(base + ext):
                    return base + ext
        return None
    if os.path.isabs(key):
        return key
    if resolved is None:
        return None
    return os.path.join(str(resolved), key)


def scan_ft_dataset(plan: Plan, dplan: DatasetPlan) -> DatasetResult:
    """FineTuningDataset (J23 L1184-1353; HEAD L2187-2371): every metadata entry is an image with
    the subset's repeats; no reg images; entries of two subsets with the same key collapse in the
    dataset (num_train_images still counts both)."""
    seen: set = set()
    results = []
    T = 0
    images: dict = {}  # image key -> (size or None, path, repeats)
    for splan in dplan.subsets:
        res = SubsetResult(plan=splan, used=False, reason=None, directory=splan.image_dir,
                           num_repeats=splan.num_repeats, is_reg=False)
        results.append(res)
        if splan.num_repeats < 1:
            res.reason = f"num_repeats is {splan.num_repeats} (less than 1): ignored"
            continue
        if splan.metadata_file in seen:
            res.reason = "the same metadata_file is already a subset of this dataset: ignored"
            continue
        metadata = load_metadata(plan, splan)
        if metadata is None:
            res.reason = "metadata file not found here"
            continue
        if len(metadata) < 1:
            res.reason = "no image entries in the metadata: ignored"
            continue
        seen.add(splan.metadata_file)
        for key, md in metadata.items():
            size = md.get("train_resolution") if plan.sd.get("ft_train_resolution") else md.get("image_size")
            path = _ft_image_path(plan, splan, key)
            if path is None and plan.sd.get("ft_train_resolution"):
                raise TrainerRefusal(f"AssertionError: no image / 画像がありません: {key}", splan.origin)
            images[key] = (tuple(size) if size else None, path, splan.num_repeats)
        T += len(metadata) * splan.num_repeats
        res.used = True
        res.image_count = len(metadata)
    counts: dict = {}
    warnings: list = []
    if images and plan.sd.get("ft_train_resolution") and all(v[0] is not None for v in images.values()):
        # bucket info in the metadata: bucketing is on, with exactly those resolutions
        if dplan.bucket_no_upscale:
            raise TrainerRefusal("AssertionError: if metadata has bucket info, bucket reso is "
                                 "precalculated, so bucket_no_upscale cannot be used", dplan.origin)
        assigner = bucketing.BucketAssigner.for_train_resolution(
            [v[0] for v in images.values()], profile=bucket_profile(plan))
        for size, _, repeats in images.values():
            key = assigner.bucket_for(size[0], size[1])
            counts[key] = counts.get(key, 0) + repeats
    elif images:
        if dplan.resolution is None:
            raise TrainerRefusal("AssertionError: if metadata doesn't have bucket info, resolution "
                                 "is required", dplan.origin)
        profile = bucket_profile(plan)
        try:
            assigner = bucketing.BucketAssigner(
                dplan.resolution, dplan.enable_bucket, dplan.bucket_no_upscale,
                dplan.min_bucket_reso, dplan.max_bucket_reso, dplan.bucket_reso_steps,
                profile=profile, dataset="fine_tune")
        except bucketing.BucketError as exc:
            raise TrainerRefusal(f"{exc.trainer_exception}: {exc.message}", dplan.origin) from None
        warnings = list(assigner.warnings)
        for size, path, repeats in images.values():
            if not dplan.enable_bucket:
                key = tuple(dplan.resolution)
            else:
                if size is None:
                    if path is None or not os.path.exists(path):
                        raise TrainerRefusal(f"cannot read the size of {path or 'an image'}: the "
                                             f"image of a metadata entry is not there", dplan.origin)
                    size = read_size(path)
                key = assigner.bucket_for(size[0], size[1])
            counts[key] = counts.get(key, 0) + repeats
    num_batches = sum(math.ceil(c / dplan.batch_size) for c in counts.values())
    return DatasetResult(plan=dplan, subsets=results, num_train_images=T, num_reg_images=0,
                         num_reg_images_used=0, buckets=counts, num_batches=num_batches,
                         bucket_warnings=warnings)


def scan_dataset(plan: Plan, dplan: DatasetPlan, index: int, shared_rng=None) -> DatasetResult:
    if dplan.kind == "ft":
        return scan_ft_dataset(plan, dplan)
    seen: set = set()
    if shared_rng is None:
        shared_rng = shared_random(plan)
    subsets = [scan_subset(plan, dplan, s, seen, shared_rng) for s in dplan.subsets]
    if dplan.kind == "cn":
        check_conditioning(plan, subsets)
    T = R = 0
    train: list[tuple[tuple[int, int] | None, str, int]] = []
    reg: list[list] = []  # [size, path, repeats, subset_result]
    for res in subsets:
        if not res.used:
            continue
        if res.is_reg:
            R += res.num_repeats * res.image_count
            for path, size in zip(res.images, res.sizes):
                reg.append([size, path, res.num_repeats, res])
        else:
            T += res.num_repeats * res.image_count
            for path, size in zip(res.images, res.sizes):
                train.append((size, path, res.num_repeats))

    # reg balancing (HEAD L2166-2183, J23 L1163-1181): first pass registers each reg image with
    # its own repeats until T is reached; later passes add one repeat per image, round-robin
    registered_reg: list = []
    if R > 0:
        n = 0
        first = True
        while n < T:
            for entry in reg:
                if first:
                    registered_reg.append(entry)
                    n += entry[2]
                else:
                    entry[2] += 1
                    n += 1
                if n >= T:
                    break
            first = False
    for entry in registered_reg:
        entry[3].reg_used_images += 1
        entry[3].reg_image_steps += entry[2]
    reg_used = sum(e[2] for e in registered_reg)

    # buckets
    profile = bucket_profile(plan)
    resolution = dplan.resolution
    if resolution is None:
        resolution = (512, 512)
    try:
        assigner = bucketing.BucketAssigner(
            resolution, dplan.enable_bucket, dplan.bucket_no_upscale, dplan.min_bucket_reso,
            dplan.max_bucket_reso, dplan.bucket_reso_steps, profile=profile,
            dataset={"db": "dreambooth", "ft": "fine_tune", "cn": "controlnet"}[dplan.kind])
    except bucketing.BucketError as exc:
        raise TrainerRefusal(f"{exc.trainer_exception}: {exc.message}", dplan.origin) from None
    # verify_bucket_reso_steps (v0.7.0+), run by the trainer on every dataset
    message = bucketing.bucket_reso_steps_error(
        dplan.bucket_reso_steps, script=f"{plan.script}.py", profile=profile,
        enable_bucket=dplan.enable_bucket)
    if message:
        raise TrainerRefusal(f"AssertionError: {message}", dplan.origin)
    counts: dict = {}
    entries = [(s, p, r) for s, p, r in train] + [(e[0], e[1], e[2]) for e in registered_reg]
    if not dplan.enable_bucket:
        total = sum(r for _, _, r in entries)
        if total:
            counts[tuple(resolution)] = total
    else:
        # image-steps per distinct size first (the bucket depends on the size only), then one
        # bucket lookup per size: the per-image loop stays as lean as the header reads allow
        get_size = imagesize.get
        per_size: dict = {}
        first_path: dict = {}
        progress = Progress(len(entries), "reading image sizes")
        tick = progress.update if progress.active else None
        for done, (size, path, repeats) in enumerate(entries, 1):
            if tick is not None:
                tick(done)
            if size is None:
                try:
                    size = get_size(path)
                except (OSError, ValueError):
                    size = (-1, -1)
                if size[0] <= 0 or size[1] <= 0:
                    size = read_size(path)
            else:
                size = (size[0], size[1])
            if size in per_size:
                per_size[size] += repeats
            else:
                per_size[size] = repeats
                first_path[size] = path
        progress.close()
        for size, repeats in per_size.items():
            try:
                key = assigner.bucket_for(size[0], size[1])
            except bucketing.BucketError as exc:
                raise TrainerRefusal(f"{exc.trainer_exception}: {exc.message} (image "
                                     f"{first_path[size]}, {size[0]}x{size[1]})", dplan.origin) from None
            counts[key] = counts.get(key, 0) + repeats
    batch = dplan.batch_size
    num_batches = sum(math.ceil(c / batch) for c in counts.values())
    return DatasetResult(plan=dplan, subsets=subsets, num_train_images=T, num_reg_images=R,
                         num_reg_images_used=reg_used, buckets=counts, num_batches=num_batches,
                         bucket_warnings=list(assigner.warnings))
