"""The one scan: everything the trainer decides about a config's datasets, as facts.

`gather(plan)` walks the datasets the way sd-scripts builds them and never stops at the first
problem. It records, per dataset and subset, the folder, the repeats and where they came from,
the images the trainer's search finds and the files it passes over (with the reason), each
image's caption, whether the subset is registered or skipped and why, reg balancing, buckets and
batches; then the trainer's step numbers; and every refusal the trainer would raise, in the order
it raises them (the first one is what the trainer prints).

The order follows the trainer's run (HEAD train_network.py L491-594, config_util.py L408-600;
the same sequence in every trainer script and in J23):

1. the script itself, the GUI's launch (a GUI that refuses never starts the trainer);
2. arguments and the dataset config (`BlueprintGenerator.generate`: the user config is
   sanitized before the argparse namespace);
3. each training dataset's constructor, in order (`DreamBoothDataset.__init__` HEAD
   L1901-2184: resolution, bucket range, then the subsets with their captions, then reg
   balancing; `FineTuningDataset`, `ControlNetDataset`);
4. each validation dataset's constructor (v0.10.0+, validation_split);
5. `make_buckets` of each dataset (image sizes, the bucket manager, the bucket of each image);
6. the empty-dataset stop ("No data found", HEAD train_network.py L575-580);
7. `assert_extra_args` (verify_bucket_reso_steps, HEAD L169-177 and each script's override);
8. the step arithmetic (HEAD L799-805, 978-979), in `steps`.
"""
from __future__ import annotations

import copy
import json
import math
import os
import random
from dataclasses import dataclass, field

from kohya_tune.engine import buckets as bucketing
from kohya_tune.engine import captions as caps
from kohya_tune.engine import images as img
from kohya_tune.engine import normalize
from kohya_tune.engine.plan import (DatasetPlan, Origin, Plan, PlanError, SubsetPlan,
                                    TrainerRefusal, resolve_dir, resolve_file)
from kohya_tune.versions import profiles

# subset states
REGISTERED = "registered"
NO_PREFIX = "no_prefix"                  # folder mode: int() cannot parse the text before "_"
REPEATS_BELOW_ONE = "repeats_below_one"
DUPLICATE = "duplicate"                  # the same image_dir (metadata_file) is already registered
MISSING = "missing"                      # the folder (or metadata file) is not on this machine
NO_IMAGES = "no_images"                  # the trainer's search finds nothing (or no metadata entry)
NOT_A_DIRECTORY = "not_directory"        # image_dir missing while the rest of the dataset is here:
                                         # the trainer warns "not directory" and skips it

NO_DATA_MESSAGE = (
    "No data found. Please verify arguments (train_data_dir must be the parent of folders "
    "with images) / 画像がありません。引数指定を確認してください（train_data_dirには画像が"
    "あるフォルダではなく、画像があるフォルダの親フォルダを指定する必要があります）")
# FineTuningDataset without bucket info in the metadata (v0.6.5 train_util.py L1349-1351, up to
# v0.9.1; v0.10.0 no longer asserts: profile switch ft_train_resolution)
FT_RESOLUTION_REQUIRED = ("AssertionError: if metadata doesn't have bucket info, resolution is "
                          "required / メタデータにbucket情報がない場合はresolutionを指定してください")
RESOLUTION_REQUIRED = "AssertionError: resolution is required / resolution（解像度）を指定してください"
DATASET_KINDS = {"db": "dreambooth", "ft": "fine_tune", "cn": "controlnet"}


@dataclass
class Refusal:
    """One thing that stops the trainer, with its own message (`Type: message`)."""
    message: str
    origin: Origin | None = None
    stage: str = ""        # where in the run: script, gui, config, dataset N, buckets N, ...
    note: str | None = None  # kohya-tune's explanation, kept apart from the trainer's message

    def error(self) -> TrainerRefusal:
        return TrainerRefusal(self.message, self.origin, self.note)


@dataclass
class SubsetFacts:
    dataset: int
    index: int | None              # position among the dataset's subsets (None: a folder the
                                   # trainer never turns into a subset)
    plan: SubsetPlan
    state: str = REGISTERED
    reason: str | None = None      # why the trainer ignores it, in words
    duplicate_of: int | None = None
    directory: str | None = None   # the folder found here
    refusal_slot: int | None = None  # MISSING image_dir: where its refusal goes, if any
    listing: img.Listing | None = None
    images: list = field(default_factory=list)       # full paths the trainer registers
    held_out: list = field(default_factory=list)     # validation images (v0.10.0+)
    sizes: list = field(default_factory=list)        # per image: (w, h) known before make_buckets
    not_found: dict = field(default_factory=dict)    # "hidden" | "case" | "extension" -> names
    captions: caps.Captions | None = None
    held_out_captions: caps.Captions | None = None   # the validation images' captions
    from_cache: bool = False       # image list from metadata_cache.json (cache_info)
    reg_used_images: int = 0       # reg subsets: images registered after balancing
    reg_image_steps: int = 0       # reg subsets: image-steps after balancing

    @property
    def used(self) -> bool:
        return self.state == REGISTERED

    @property
    def is_reg(self) -> bool:
        return self.plan.is_reg

    @property
    def num_repeats(self):
        return self.plan.num_repeats

    @property
    def image_count(self) -> int:
        """Images the trainer registers from this subset (0 when it ignores the subset; `images`
        still lists what an ignored folder holds)."""
        return len(self.images) if self.used else 0

    @property
    def image_steps(self) -> int:
        """Image-steps per epoch: images x repeats for train subsets, after balancing for reg."""
        if not self.used:
            return 0
        return self.reg_image_steps if self.is_reg else self.num_repeats * self.image_count

    @property
    def name(self) -> str:
        """The concept name: the folder name without its repeat prefix, or the image_dir."""
        if self.plan.folder_name is not None:
            head, sep, rest = self.plan.folder_name.partition("_")
            return rest if sep else self.plan.folder_name
        return str(self.plan.image_dir if self.plan.image_dir is not None else self.plan.metadata_file)

    @property
    def label(self) -> str:
        return str(self.plan.folder_name or self.plan.image_dir or self.plan.metadata_file)

    @property
    def skipped_files(self) -> dict:
        return self.not_found


@dataclass
class FolderRoot:
    """Folder mode: train_data_dir or reg_data_dir itself (only its N_name subfolders are used)."""
    key: str                       # "train_data_dir" | "reg_data_dir"
    text: str                      # as the config writes it
    is_reg: bool
    directory: str | None          # found here
    loose_images: list = field(default_factory=list)  # images directly inside: never used


@dataclass
class DatasetFacts:
    index: int
    plan: DatasetPlan
    subsets: list = field(default_factory=list)          # SubsetFacts, one per plan subset
    skipped_folders: list = field(default_factory=list)  # folder mode: NO_PREFIX / REPEATS_BELOW_ONE
    num_train_images: int = 0      # T: train image-steps
    num_reg_images: int = 0        # R: reg image-steps found
    num_reg_images_used: int = 0   # reg image-steps after balancing
    buckets: dict = field(default_factory=dict)          # (w, h) -> image-steps
    num_batches: int = 0
    bucket_warnings: list = field(default_factory=list)
    bucketed: bool = False         # make_buckets could run: buckets and num_batches are real
    min_bucket_reso: int | None = None   # after the constructor's rounding (v0.9.0+)
    max_bucket_reso: int | None = None
    entries: list = field(default_factory=list)  # registered images: [size, path, repeats, subset]
    validation_images: int = 0
    ft_trainer_paths: dict = field(default_factory=dict)  # fine-tuning: found path -> the trainer's
    precalculated_buckets: bool = False  # fine-tuning metadata with bucket info (<= v0.9.1):
                                         # bucket_reso_steps is None, verify_bucket_reso_steps passes


@dataclass
class Facts:
    plan: Plan
    datasets: list = field(default_factory=list)
    roots: list = field(default_factory=list)            # FolderRoot
    refusals: list = field(default_factory=list)         # Refusal, in the trainer's order
    missing: list = field(default_factory=list)          # (path text, Origin) not on this machine
    problem: PlanError | None = None                     # the setup could not be read at all
    notes: list = field(default_factory=list)
    complete: bool = False         # every dataset was scanned (no config-level refusal)

    @property
    def refused(self) -> Refusal | None:
        return self.refusals[0] if self.refusals else None

    @property
    def num_batches(self) -> int:
        return sum(d.num_batches for d in self.datasets)

    def subsets(self):
        for d in self.datasets:
            yield from d.subsets

    def missing_error(self) -> PlanError | None:
        """The exit-2 error for folders that are not on this machine."""
        if self.problem is not None:
            return self.problem
        if not self.missing:
            return None
        names = ", ".join(dict.fromkeys(f"'{m[0]}'" for m in self.missing))
        origin = self.missing[0][1]
        where = origin.where() + ": " if origin else ""
        what = ("dataset file" if all(str(m[0]).lower().endswith((".json", ".jsonl"))
                                      for m in self.missing) else "dataset folder")
        return PlanError(f"{where}{what} not found here: {names}; if the config was written on "
                         f"another machine, map it with --path-map FROM=TO")


# --------------------------------------------------------------------------------------------
# the run, step by step

def gather(plan: Plan, disk: img.Disk | None = None, progress=None) -> Facts:
    """Scan the plan's datasets once and collect every fact and refusal. The plan gets its
    datasets (normalize.build_datasets) if it has none yet. The image sizes read are written
    to the persistent cache when it ends."""
    disk = disk or img.Disk(progress)
    try:
        return _gather(plan, disk)
    finally:
        disk.save()


def _gather(plan: Plan, disk: img.Disk) -> Facts:
    facts = Facts(plan=plan)
    if not _start(plan, facts):
        return facts
    if not _blueprint(plan, facts, disk):
        return facts
    rng = shared_random(plan, facts)
    _roots(plan, facts, disk)
    for d_index, dplan in enumerate(plan.datasets):
        facts.datasets.append(_construct(plan, facts, d_index, dplan, disk, rng))
    _skipped_folders(plan, facts, disk)
    _missing_subset_dirs(plan, facts)
    for dfacts in facts.datasets:
        _validation_dataset(plan, facts, dfacts, disk, rng)
    for dfacts in facts.datasets:
        _make_buckets(plan, facts, dfacts, disk)
    _script_checks(plan, facts)
    facts.complete = True
    return facts


def _missing_subset_dirs(plan: Plan, facts: Facts) -> None:
    """An image_dir that is not here while other folders of the config are: the dataset is on
    this machine, so the trainer run here meets it too. DreamBoothDataset's load_dreambooth_dir
    warns "not directory" and skips the subset; in v0.8.6 and v0.8.7 its caller unpacks three
    values from the two that branch returns and stops (profile switch missing_subset_dir). When
    no folder of the config is here, the dataset is elsewhere: exit 2 (--path-map) as before."""
    subsets = list(facts.subsets())
    gone = [sf for sf in subsets if sf.state == MISSING and sf.refusal_slot is not None]
    if not gone or plan.missing_dirs or not any(sf.directory is not None for sf in subsets):
        return
    names = {str(sf.plan.image_dir) for sf in gone}
    if any(str(m[0]) not in names for m in facts.missing):
        return  # something else is not here either (a metadata file): exit 2 as before
    facts.missing = []
    crash = plan.sd.get("missing_subset_dir") == "unpack_error"
    for sf in reversed(gone):
        sf.state = NOT_A_DIRECTORY
        sf.reason = "the folder does not exist: the trainer skips this subset (\"not directory\")"
        if crash:
            facts.refusals.insert(sf.refusal_slot, Refusal(
                "ValueError: not enough values to unpack (expected 3, got 2)", sf.plan.origin,
                f"dataset {sf.dataset}",
                f"image_dir {sf.plan.image_dir!r} does not exist (sd-scripts {plan.sd.label}'s "
                f"'not directory' branch returns two values where three are unpacked)"))


def _start(plan: Plan, facts: Facts) -> bool:
    """The script must exist in this sd-scripts version; a GUI that refuses to launch never
    starts it."""
    if plan.script not in plan.sd.scripts:
        facts.refusals.append(Refusal(
            f"FileNotFoundError: {plan.script}.py not in sd-scripts {plan.sd.label}", None, "script"))
        return False
    if plan.gui is not None and plan.gui.refused:
        facts.refusals.append(Refusal(
            f"the GUI {plan.gui.version} refuses to start: {plan.gui.refused}", None, "gui"))
        return False
    return True


def _blueprint(plan: Plan, facts: Facts, disk: img.Disk) -> bool:
    """Arguments and dataset config into datasets and subsets (normalize); a refusal here stops
    everything, as the trainer has no dataset to build."""
    if plan.datasets:
        return True
    try:
        normalize.build_datasets(plan, disk)
    except TrainerRefusal as exc:
        facts.refusals.append(Refusal(exc.message, exc.origin, "config", exc.note))
        return False
    except PlanError as exc:
        facts.problem = exc
        return False
    facts.missing.extend(plan.missing_dirs)
    return True


def _roots(plan: Plan, facts: Facts, disk: img.Disk) -> None:
    if plan.mode != "folders" or not plan.root_dirs:
        return
    for key, text, directory, is_reg in plan.root_dirs:
        root = FolderRoot(key=key, text=text, is_reg=is_reg, directory=directory)
        if directory is not None:
            listing = disk.listing(directory)
            root.loose_images, _ = img.glob_images(listing, plan.sd.image_extensions)
        facts.roots.append(root)


def _skipped_folders(plan: Plan, facts: Facts, disk: img.Disk) -> None:
    """Folder mode: the subfolders the trainer never makes a subset of, with the images they
    hold (so a rule can say what is lost)."""
    if not plan.skipped_folders or not facts.datasets:
        return
    dfacts = facts.datasets[0]
    for base, name, reason, is_reg in plan.skipped_folders:
        repeats, tokens = normalize.parse_folder_name(name)
        splan = SubsetPlan(image_dir=os.path.join(base, name), num_repeats=repeats or 0,
                           is_reg=is_reg, class_tokens=tokens, folder_name=name,
                           resolved=os.path.join(base, name))
        sf = SubsetFacts(dataset=0, index=None, plan=splan,
                         state=NO_PREFIX if repeats is None else REPEATS_BELOW_ONE,
                         reason=reason, directory=splan.resolved)
        sf.listing = disk.listing(splan.resolved)
        sf.images, sf.not_found = img.glob_images(sf.listing, plan.sd.image_extensions)
        dfacts.skipped_folders.append(sf)


def _construct(plan: Plan, facts: Facts, d_index: int, dplan: DatasetPlan, disk: img.Disk,
               rng: random.Random) -> DatasetFacts:
    """The training dataset's constructor: resolution and bucket range, the subsets in order
    (images, captions), then reg balancing."""
    dfacts = DatasetFacts(index=d_index, plan=dplan)
    stage = f"dataset {d_index}"
    interpolation = dplan.values.get("resize_interpolation") if dplan.values else None
    allowed = plan.sd.get("resize_interpolations")
    if allowed is not None and interpolation is not None and interpolation not in allowed:
        facts.refusals.append(Refusal(
            f'AssertionError: Resize interpolation "{interpolation}" is not a valid interpolation',
            dplan.origin, stage, note="valid: " + ", ".join(allowed)))
    if dplan.kind == "cn" and plan.sd.get("cn_random_crop_assert") and any(
            normalize.truthy(sp.values.get("random_crop")) for sp in dplan.subsets):
        facts.refusals.append(Refusal(
            "AssertionError: random_crop is not supported in ControlNetDataset / "
            "random_cropはControlNetDatasetではサポートされていません", dplan.origin, stage))
    if dplan.kind == "ft":
        _construct_ft(plan, facts, dfacts, disk)
        return dfacts
    if dplan.resolution is None:
        facts.refusals.append(Refusal(RESOLUTION_REQUIRED, dplan.origin, stage))
    else:
        _bucket_range(plan, facts, dfacts)
    seen: dict = {}
    for s_index, splan in enumerate(dplan.subsets):
        sf = _subset(plan, facts, dfacts, s_index, splan, seen, disk, rng)
        dfacts.subsets.append(sf)
    if dplan.kind == "cn":
        _check_conditioning(plan, facts, dfacts, disk)
    _balance_reg(dfacts)
    return dfacts


def _bucket_range(plan: Plan, facts: Facts, dfacts: DatasetFacts) -> None:
    """The constructor's min/max checks (v0.9.0+: after rounding to bucket_reso_steps)."""
    dplan = dfacts.plan
    dfacts.min_bucket_reso, dfacts.max_bucket_reso = dplan.min_bucket_reso, dplan.max_bucket_reso
    if not dplan.enable_bucket:
        return
    try:
        lo, hi, warnings = bucketing.check_bucket_range(
            dplan.resolution, dplan.min_bucket_reso, dplan.max_bucket_reso, dplan.bucket_reso_steps,
            profile=bucket_profile(plan), dataset=DATASET_KINDS[dplan.kind])
    except bucketing.BucketError as exc:
        facts.refusals.append(Refusal(f"{exc.trainer_exception}: {exc.message}", dplan.origin,
                                      f"dataset {dfacts.index}"))
        return
    dfacts.min_bucket_reso, dfacts.max_bucket_reso = lo, hi
    dfacts.bucket_warnings.extend(warnings)


def _subset(plan: Plan, facts: Facts, dfacts: DatasetFacts, s_index: int, splan: SubsetPlan,
            seen: dict, disk: img.Disk, rng: random.Random) -> SubsetFacts:
    """One DreamBooth/ControlNet subset (HEAD L2112-2163): repeats < 1, then a duplicate
    image_dir, then the folder's images (after the validation split) and captions."""
    dplan = dfacts.plan
    sf = SubsetFacts(dataset=dfacts.index, index=s_index, plan=splan)
    sf.directory = _subset_directory(plan, splan)
    if sf.directory is not None:
        sf.listing = disk.listing(sf.directory)
    repeats = splan.num_repeats
    if repeats < 1:
        sf.state = REPEATS_BELOW_ONE
        sf.reason = f"num_repeats is {repeats} (less than 1): the trainer ignores this subset"
        _list_only(plan, sf)
        return sf
    if splan.image_dir in seen:
        sf.state, sf.duplicate_of = DUPLICATE, seen[splan.image_dir]
        sf.reason = "the same image_dir is already a subset of this dataset: ignored"
        _list_only(plan, sf)
        return sf
    if sf.directory is None:
        facts.missing.append((str(splan.image_dir), splan.origin))
        sf.state, sf.reason = MISSING, "folder not found here"
        sf.refusal_slot = len(facts.refusals)
        return sf
    try:
        images, sizes, cached_captions = _discover(plan, sf)
    except TrainerRefusal as exc:
        facts.refusals.append(Refusal(exc.message, exc.origin, f"dataset {dfacts.index}", exc.note))
        sf.state, sf.reason = NO_IMAGES, "the trainer stops reading this subset"
        return sf
    if dplan.validation_split > 0.0 and not splan.is_reg:
        if not images:
            # split_train_val unpacks zip(*[]) (HEAD L164): an empty subset stops the trainer
            facts.refusals.append(Refusal(
                "ValueError: not enough values to unpack (expected 2, got 0)", splan.origin,
                f"dataset {dfacts.index}",
                note=f"split_train_val on subset {splan.image_dir!r}, which has no image, with "
                     f"validation_split {dplan.validation_split}"))
        else:
            kept = split_train_val(images, sizes, dplan, rng, training=True)
            if cached_captions is not None:
                by_path = dict(zip(images, cached_captions))
                cached_captions = [by_path[p] for p in kept[0]]
            keep = set(kept[0])
            sf.held_out = [p for p in images if p not in keep]
            images, sizes = kept
    sf.images, sf.sizes = images, sizes
    if cached_captions is not None:
        sf.captions = caps.from_cache(cached_captions)
    else:
        sf.captions = caps.read(images, sf.listing, splan.caption_extension or ".caption")
        for path in sf.captions.empty:
            facts.refusals.append(Refusal(caps.EMPTY_CAPTION_MESSAGE.format(path=path),
                                          splan.origin, f"dataset {dfacts.index}"))
    if not images:
        sf.state = NO_IMAGES
        sf.reason = "no images found: the trainer ignores this subset"
        return sf
    seen[splan.image_dir] = s_index
    return sf


def _subset_directory(plan: Plan, splan: SubsetPlan) -> str | None:
    if splan.resolved is not None:
        return splan.resolved
    if splan.image_dir is None:
        return None
    found = resolve_dir(splan.image_dir, plan, base=_base(plan))
    return str(found) if found is not None else None


def _base(plan: Plan):
    return plan.config.directory if plan.dataset_doc is None else plan.dataset_doc.directory


def _list_only(plan: Plan, sf: SubsetFacts) -> None:
    """What an ignored subset holds, for the explanation (no captions, no sizes)."""
    if sf.listing is not None:
        sf.images, sf.not_found = img.glob_images(sf.listing, plan.sd.image_extensions)


def _discover(plan: Plan, sf: SubsetFacts):
    """The subset's images: from metadata_cache.json with cache_info (v0.8.6+, HEAD
    L1977-1996), else the trainer's glob. Returns (images, sizes, cached captions or None)."""
    splan = sf.plan
    cache_file = os.path.join(sf.directory, img.IMAGE_INFO_CACHE_FILE)
    if splan.cache_info and plan.sd.get("cache_info", True) and \
            img.IMAGE_INFO_CACHE_FILE in sf.listing.files:
        try:
            with open(cache_file, "r", encoding="utf-8") as fh:
                metas = json.load(fh)
            images = list(metas.keys())
            sizes = [tuple(m["resolution"]) if m.get("resolution") else None for m in metas.values()]
            captions = [m.get("caption") for m in metas.values()]
        except (OSError, ValueError, TypeError, AttributeError, KeyError, RecursionError) as exc:
            raise PlanError(f"{cache_file}: cannot read the image info cache: "
                            f"{type(exc).__name__}: {exc}") from None
        sf.from_cache = True
        sf.not_found = {"from metadata_cache.json": [cache_file]}
        return images, sizes, captions
    images, sf.not_found = img.glob_images(sf.listing, plan.sd.image_extensions)
    sizes = [None] * len(images)
    suffix = _cache_suffix(plan)
    if suffix and images:
        try:
            if profiles.script_checks(plan.sd, plan.script).get("latents_strategy") == "new_caching":
                sizes = _sizes_from_first_cache(images, sf, suffix)
            else:
                sizes = _sizes_from_cache_names(images, sf, suffix)
        except (ValueError, IndexError) as exc:
            # get_image_size_from_disk_cache_path on a name without "_WxH" (strategy_base.py
            # L412-414): the trainer stops while building the dataset
            raise TrainerRefusal(f"{type(exc).__name__}: {exc}", splan.origin,
                                 note=f"a latents cache file name in {sf.directory} that ends "
                                      f"with {suffix} has no _WIDTHxHEIGHT size part") from None
    return images, sizes, None


def _cache_suffix(plan: Plan) -> str | None:
    """v0.10.0+ (and the sd3 branch from 8ebe858f): the latents cache suffix when the script has
    set its caching strategy before building the datasets (data: npz_size_names, script_checks
    latents_strategy/cache_suffix); b8896aad's sd3_train sets one with --new_caching only."""
    entry = profiles.script_checks(plan.sd, plan.script)
    if entry.get("latents_strategy") == "new_caching":
        return entry.get("cache_suffix") if normalize.truthy(plan.args.get("new_caching")) else None
    if not plan.sd.get("npz_size_names"):
        return None
    if entry.get("latents_strategy") == "cache_latents" and not _cache_latents(plan):
        return None
    return entry.get("cache_suffix")


def _sizes_from_cache_names(images: list, sf: SubsetFacts, suffix: str) -> list:
    """load_dreambooth_dir's cache-name sizes (HEAD train_util.py L2002-2034): the cache files
    (glob '*' + suffix, in listing order, stably sorted by the path before its last two '_'),
    walked once; an image takes the size in the name of the first cache whose path starts with
    the image's path without extension (a string prefix: a neighbour's cache can match), the
    walk stops at the first name beyond it. Paths as the trainer writes them (image_dir + name),
    so the sort sees the same characters."""
    trainer_dir = str(sf.plan.image_dir) if sf.plan.image_dir is not None else sf.listing.directory
    names = [n for n in sf.listing.names if n[:1] != "." and n.endswith(suffix)]
    if not names:
        return [None] * len(images)
    npz = [os.path.join(trainer_dir, n) for n in names]
    npz.sort(key=lambda p: p.rsplit("_", maxsplit=2)[0])
    sizes: list = []
    i = 0
    for image in images:
        path = os.path.join(trainer_dir, os.path.basename(image))
        n = len(os.path.splitext(path)[0])
        found = None
        while i < len(npz):
            if npz[i][:n] > path[:n]:
                break
            if npz[i][:n] == path[:n]:
                found = npz[i]
                break
            i += 1
        if found is None:
            sizes.append(None)
            continue
        w, h = os.path.splitext(found)[0].split("_")[-2].split("x")
        sizes.append((int(w), int(h)))
    return sizes


def _sizes_from_first_cache(images: list, sf: SubsetFacts, suffix: str) -> list:
    """b8896aad sd3_train --new_caching (train_util.py L1750-1760, sd3_train_utils.py L293-298):
    per image, glob.glob(path without extension + '_*' + suffix) and the size in the first name
    it returns (the folder's listing order; hidden names never match '*'); an image without one
    keeps its header size. A name without '_WIDTHxHEIGHT' raises as the trainer does."""
    sizes: list = []
    names = [n for n in sf.listing.names if n[:1] != "." and n.endswith(suffix)]
    for image in images:
        stem = os.path.splitext(os.path.basename(image))[0] + "_"
        match = next((n for n in names if n.startswith(stem) and len(n) >= len(stem) + len(suffix)),
                     None)
        if match is None:
            sizes.append(None)
            continue
        w, h = os.path.splitext(match)[0].split("_")[-2].split("x")
        sizes.append((int(w), int(h)))
    return sizes


def split_train_val(images, sizes, dplan: DatasetPlan, rng: random.Random, *, training: bool):
    """`split_train_val` (HEAD L142-178): shuffle, then the training copy keeps the first
    ceil(n * (1 - v)), the validation copy the last round(n * v). With a validation_seed the
    shuffle uses a generator seeded with it (the trainer saves, seeds and restores the global
    state); without one, the trainer's global generator runs on through the subsets: `rng`
    plays that part."""
    pairs = list(zip(images, sizes))
    if dplan.validation_seed is not None:
        random.Random(dplan.validation_seed).shuffle(pairs)
    else:
        rng.shuffle(pairs)
    n = len(pairs)
    if training:
        pairs = pairs[:math.ceil(n * (1 - dplan.validation_split))]
    else:
        pairs = pairs[n - round(n * dplan.validation_split):]
    return [p for p, _ in pairs], [s for _, s in pairs]


def _balance_reg(dfacts: DatasetFacts) -> None:
    """T and R, then reg balancing (HEAD L2166-2183, J23 L1163-1181): the first pass registers
    each reg image with its own repeats until T is reached; later passes add one repeat per image,
    round-robin, until the reg image-steps equal T."""
    train: list = []
    reg: list = []
    T = R = 0
    for sf in dfacts.subsets:
        if not sf.used:
            continue
        repeats = sf.num_repeats
        entries = [[size, path, repeats, sf] for path, size in zip(sf.images, sf.sizes)]
        if sf.is_reg:
            R += sf.num_repeats * len(sf.images)
            reg.extend(entries)
        else:
            T += sf.num_repeats * len(sf.images)
            train.extend(entries)
    registered: list = []
    if R > 0 and T > 0:
        # the trainer's loop, with its later passes (one repeat per image, in order) counted in
        # closed form: q whole passes, then the first `rest` images once more. A loop of T
        # steps hung on a train total of 10^9 (a folder named 1000000000_x).
        n = 0
        for entry in reg:
            registered.append(entry)
            n += entry[2]
            if n >= T:
                break
        if n < T:
            passes, rest = divmod(T - n, len(reg))
            for i, entry in enumerate(reg):
                entry[2] += passes + (1 if i < rest else 0)
    for entry in registered:
        entry[3].reg_used_images += 1
        entry[3].reg_image_steps += entry[2]
    dfacts.num_train_images, dfacts.num_reg_images = T, R
    dfacts.num_reg_images_used = sum(e[2] for e in registered)
    dfacts.entries = train + registered


def _check_conditioning(plan: Plan, facts: Facts, dfacts: DatasetFacts, disk: img.Disk) -> None:
    """ControlNetDataset: every image needs a conditioning image with the same stem, and no
    conditioning image may be left over (HEAD train_util.py L2455-2492)."""
    exts = plan.sd.image_extensions
    if plan.sd.get("cn_pairing") == "basename":
        _check_conditioning_by_name(plan, facts, dfacts, disk)
        return
    missing: list = []
    paired: set = set()
    dirs: list = []
    for sf in dfacts.subsets:
        if not sf.used or not sf.plan.conditioning_data_dir:
            continue
        found = resolve_dir(sf.plan.conditioning_data_dir, plan, base=_base(plan))
        if found is None:
            continue  # the trainer logs "not directory" and skips the pairing
        listing = disk.listing(str(found))
        dirs.append(listing)
        names = set(listing.names)
        for image in sf.images:
            stem = os.path.splitext(os.path.basename(image))[0]
            match = [stem + e for e in exts if stem + e in names]
            if not match:
                missing.append(stem)
                continue
            paired.add(os.path.splitext(os.path.abspath(os.path.join(str(found), sorted(match)[0])))[0])
    extra = []
    for listing in dirs:
        for path in img.glob_images(listing, exts)[0]:
            if os.path.splitext(os.path.abspath(path))[0] not in paired:
                extra.append(os.path.abspath(path))
    stage = f"dataset {dfacts.index}"
    if missing:
        facts.refusals.append(Refusal(
            f"AssertionError: missing conditioning data for {len(missing)} images / "
            f"制御用画像が見つかりませんでした: {missing}", dfacts.plan.origin, stage))
    if extra:
        facts.refusals.append(Refusal(
            f"AssertionError: extra conditioning data for {len(extra)} images / "
            f"余分な制御用画像があります: {extra}", dfacts.plan.origin, stage))


def _check_conditioning_by_name(plan: Plan, facts: Facts, dfacts: DatasetFacts, disk: img.Disk) -> None:
    """ControlNetDataset up to v0.8.5: the conditioning image is conditioning_data_dir/<the
    image's file name> (any existing file); every image of the conditioning folders must be one
    of those (v0.8.4 train_util.py L1815-1845; profile switch cn_pairing)."""
    missing: list = []
    paired: set = set()
    extra: list = []
    for sf in dfacts.subsets:
        cond = sf.plan.conditioning_data_dir
        if not sf.used or not cond:
            continue
        found = resolve_dir(cond, plan, base=_base(plan))
        if found is None:
            continue  # "not directory": no pairing
        names = set(disk.listing(str(found)).names)
        for image in sf.images:
            name = os.path.basename(image)
            if name not in names:
                missing.append(name)
            paired.add(os.path.join(str(cond), name))
    for sf in dfacts.subsets:
        cond = sf.plan.conditioning_data_dir
        found = resolve_dir(cond, plan, base=_base(plan)) if cond else None
        if found is None:
            continue
        for path in img.glob_images(disk.listing(str(found)), plan.sd.image_extensions)[0]:
            shown = os.path.join(str(cond), os.path.basename(path))
            if shown not in paired:
                extra.append(shown)
    stage = f"dataset {dfacts.index}"
    if missing:
        facts.refusals.append(Refusal(
            f"AssertionError: missing conditioning data for {len(missing)} images: {missing}",
            dfacts.plan.origin, stage))
    if extra:
        facts.refusals.append(Refusal(
            f"AssertionError: extra conditioning data for {len(extra)} images: {extra}",
            dfacts.plan.origin, stage))


def _validation_dataset(plan: Plan, facts: Facts, dfacts: DatasetFacts, disk: img.Disk,
                        rng: random.Random) -> None:
    """v0.10.0+: a dataset with 0 < validation_split <= 1 is built a second time as the
    validation dataset, after every training dataset (config_util.py HEAD L495-519): every
    subset with 1 repeat (num_repeats is not used there), reg subsets empty, the last
    round(n * v) images of each shuffled subset, whose captions are read too."""
    dplan = dfacts.plan
    if dplan.kind == "ft" or not (0.0 < dplan.validation_split <= 1.0):
        return
    seen: set = set()
    for sf in dfacts.subsets:
        splan = sf.plan
        if splan.is_reg or sf.directory is None or sf.listing is None or splan.image_dir in seen:
            continue
        try:
            images, sizes, cached = _discover(plan, copy.copy(sf))
        except TrainerRefusal:
            continue  # already refused while building the training dataset
        if not images:
            continue
        val, _ = split_train_val(images, sizes, dplan, rng, training=False)
        if not val:
            continue
        seen.add(splan.image_dir)
        dfacts.validation_images += len(val)
        if cached is None:
            found = caps.read(val, sf.listing, splan.caption_extension or ".caption")
            sf.held_out_captions = found
            for path in found.empty:
                facts.refusals.append(Refusal(caps.EMPTY_CAPTION_MESSAGE.format(path=path),
                                              splan.origin, f"validation dataset {dfacts.index}"))


def _make_buckets(plan: Plan, facts: Facts, dfacts: DatasetFacts, disk: img.Disk) -> None:
    """`make_buckets` (HEAD L987-1091, v0.6.5 L598-691): read every size that is not known yet,
    build the bucket manager and its list, then put each image in its bucket."""
    dplan = dfacts.plan
    if dplan.kind == "ft":
        return  # done with the metadata in _construct_ft
    stage = f"buckets {dfacts.index}"
    if dplan.resolution is None:
        return  # the constructor already stopped
    before = len(facts.refusals)
    sizes = _read_sizes(plan, facts, dfacts, disk, stage)
    if len(facts.refusals) > before:
        return
    try:
        assigner = bucketing.BucketAssigner(
            dplan.resolution, dplan.enable_bucket, dplan.bucket_no_upscale,
            dfacts.min_bucket_reso, dfacts.max_bucket_reso, dplan.bucket_reso_steps,
            profile=bucket_profile(plan), dataset=DATASET_KINDS[dplan.kind], validate=False)
    except bucketing.BucketError as exc:
        facts.refusals.append(Refusal(f"{exc.trainer_exception}: {exc.message}", dplan.origin, stage))
        return
    dfacts.bucket_warnings.extend(w for w in assigner.warnings if w not in dfacts.bucket_warnings)
    counts: dict = {}
    per_size: dict = {}
    first_path: dict = {}
    for (size, path), entry in zip(sizes, dfacts.entries):
        if size in per_size:
            per_size[size] += entry[2]
        else:
            per_size[size] = entry[2]
            first_path[size] = path
    if not dplan.enable_bucket:
        total = sum(per_size.values())
        if total:
            counts[tuple(dplan.resolution)] = total
    else:
        for size, repeats in per_size.items():
            try:
                key = assigner.bucket_for(size[0], size[1])
            except bucketing.BucketError as exc:
                facts.refusals.append(Refusal(
                    f"{exc.trainer_exception}: {exc.message}", dplan.origin, stage,
                    note=f"image {first_path[size]}, {size[0]}x{size[1]}"))
                return
            counts[key] = counts.get(key, 0) + repeats
    dfacts.buckets = counts
    dfacts.num_batches = sum(math.ceil(c / dplan.batch_size) for c in counts.values())
    dfacts.bucketed = True


def _read_sizes(plan: Plan, facts: Facts, dfacts: DatasetFacts, disk: img.Disk, stage: str) -> list:
    """(size, path) of every registered image, in registration order (train images by subset,
    then the reg images balancing kept). make_buckets reads the sizes even with buckets off
    (HEAD L993-995, v0.6.5 L603-606), so a file whose size cannot be read stops the trainer
    either way."""
    reader = plan.sd.get("image_size_reader", "imagesize_pil")
    out = []
    total = len(dfacts.entries)
    progress = disk.progress
    step = max(1, total // 100)
    for done, entry in enumerate(dfacts.entries, 1):
        size, path = entry[0], entry[1]
        if progress is not None and done % step == 0:
            progress(done, total)
        if size is None:
            try:
                size = disk.size(path, reader)
            except img.ImageSizeError as exc:
                if exc.unknown:
                    facts.problem = facts.problem or PlanError(exc.message)
                else:
                    facts.refusals.append(Refusal(exc.message, dfacts.plan.origin, stage, exc.note))
                continue
        else:
            size = (size[0], size[1])
        out.append((size, path))
    if progress is not None and total:
        progress(total, total)
    return out


def _script_checks(plan: Plan, facts: Facts) -> None:
    """What the script checks once its datasets are built, in its own order (data:
    sd_scripts_profiles.json script_checks, SPEC A.3): the empty-dataset stop with the script's
    text, the latent-cache and text-encoder-cache checks, verify_bucket_reso_steps(N) and the
    SDXL / network asserts of assert_extra_args. ControlNet-style datasets never fail L, T or V
    (ControlNetDataset keeps its subsets and bucket_reso_steps in a delegate, HEAD L2374-2500)."""
    checked = [d for d in facts.datasets if d.plan.kind != "cn"]
    for step in profiles.script_checks(plan.sd, plan.script).get("after", []):
        kind, _, arg = step.partition(":")
        message = None
        origin = None
        if kind == "E":
            if not any(d.entries for d in facts.datasets) and not facts.missing:
                message, origin = profiles.check_message(step), _data_origin(plan)
        elif kind == "L":
            if _cache_latents(plan) and any(
                    normalize.truthy(sf.plan.values.get("color_aug"))
                    or normalize.truthy(sf.plan.values.get("random_crop"))
                    for d in checked for sf in d.subsets if sf.used):
                message = profiles.check_message(step)
                origin = plan.arg_origins.get("cache_latents") or plan.arg_origins.get("cache_latents_to_disk")
        elif kind == "T":
            dropout_ok = arg.startswith("anima")
            if normalize.cache_te(plan) and any(
                    _te_uncacheable(sf.plan.values, dropout_ok)
                    for d in checked for sf in d.subsets if sf.used):
                message = profiles.check_message(step)
                origin = (plan.arg_origins.get("cache_text_encoder_outputs")
                          or plan.arg_origins.get("cache_text_encoder_outputs_to_disk"))
        elif kind == "V":
            for dfacts in checked:
                steps = dfacts.plan.bucket_reso_steps
                if dfacts.plan.enable_bucket and not dfacts.precalculated_buckets and \
                        steps is not None and steps % int(arg) != 0:
                    message = f"AssertionError: {bucketing.reso_steps_message(steps, int(arg))}"
                    origin = dfacts.plan.origin or plan.arg_origins.get("bucket_reso_steps")
                    break
        elif normalize.argument_check_fails(plan, step):
            message = profiles.check_message(step)
        if message:
            facts.refusals.append(Refusal(message, origin, step))


def bucket_steps_error(plan: Plan, dplan: DatasetPlan) -> str | None:
    """The first verify_bucket_reso_steps(N) of the script (data: script_checks) this dataset
    fails, as the assertion text; None when it passes (bucketing off, ControlNet-style)."""
    steps = dplan.bucket_reso_steps
    if dplan.kind == "cn" or not dplan.enable_bucket or not isinstance(steps, int) or steps == 0:
        return None
    for step in profiles.script_checks(plan.sd, plan.script).get("after", []):
        kind, _, arg = step.partition(":")
        if kind == "V" and steps % int(arg) != 0:
            return bucketing.reso_steps_message(steps, int(arg))
    return None


def _cache_latents(plan: Plan) -> bool:
    """cache_latents after verify_training_args (cache_latents_to_disk turns it on, v0.6.3+)."""
    if normalize.truthy(plan.args.get("cache_latents")):
        return True
    return bool(plan.sd.get("cache_latents_to_disk_implies_cache_latents")) and \
        normalize.truthy(plan.args.get("cache_latents_to_disk"))


def _no_latents_strategy(plan: Plan) -> bool:
    """v0.10.0+: the script sets no LatentsCachingStrategy before its datasets (data:
    script_checks latents_strategy)."""
    entry = profiles.script_checks(plan.sd, plan.script)
    return entry.get("latents_strategy") == "cache_latents" and not _cache_latents(plan)


def _te_uncacheable(values: dict, dropout_ok: bool) -> bool:
    """BaseDataset.is_text_encoder_output_cacheable's per-subset test (HEAD train_util.py
    L1102-1113)."""
    def num(name):
        value = values.get(name)
        return value if isinstance(value, (int, float)) else 0
    return bool((num("caption_dropout_rate") > 0 and not dropout_ok)
                or normalize.truthy(values.get("shuffle_caption"))
                or num("token_warmup_step") > 0 or num("caption_tag_dropout_rate") > 0)


# --------------------------------------------------------------------------------------------
# fine-tuning datasets

def load_metadata(plan: Plan, splan: SubsetPlan) -> dict | None:
    """A fine-tuning subset's metadata as FineTuningDataset reads it, or None when the file is
    not on this machine: a file ending in .jsonl as JSON Lines where the version does (profile
    switch ft_jsonl, v0.10.0 train_util.py L2240-2258: json.loads of every line as it is,
    image_path the key), anything else with json.load (v0.6.5 L1230-1232, v0.9.1, the sd3-branch
    commits). What the trainer's own parsing raises is its refusal (TrainerRefusal), an
    unreadable file a PlanError."""
    path = resolve_file(splan.metadata_file, plan.path_map, _base(plan))
    if path is None:
        return None
    try:
        with open(path, "rt", encoding="utf-8") as fh:
            if str(splan.metadata_file).endswith(".jsonl") and plan.sd.get("ft_jsonl"):
                metadata = {}
                for line in fh:
                    item = json.loads(line)
                    entry = {"caption": item.get("caption", "")}
                    if "image_size" in item:
                        entry["image_size"] = item["image_size"]
                    metadata[item["image_path"]] = entry
                return metadata
            return json.load(fh)
    except RecursionError as exc:
        raise PlanError(f"{path}: cannot read the fine-tuning metadata: {type(exc).__name__}: "
                        f"{exc}") from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        if isinstance(exc, UnicodeDecodeError):
            raise PlanError(f"{path}: cannot read the fine-tuning metadata: {type(exc).__name__}: "
                            f"{exc}") from None
        raise TrainerRefusal(f"{type(exc).__name__}: {exc}", splan.origin,
                             note=f"reading the metadata file {splan.metadata_file!r}") from None
    except OSError as exc:
        raise PlanError(f"{path}: cannot read the fine-tuning metadata: {type(exc).__name__}: "
                        f"{exc}") from None


def _ft_image_path(plan: Plan, splan: SubsetPlan, key: str) -> str | None:
    """Where the trainer finds a metadata entry's image. Up to v0.9.x: the key itself if it
    exists, else `glob_images(image_dir, key)` (J23 FineTuningDataset); from v0.10.0:
    image_dir/key for a relative key (HEAD L2270-2283)."""
    image_dir = splan.image_dir
    # image_dir "" is the current folder (os.path.join("", key) is the key itself)
    resolved = (resolve_dir(image_dir or ".", plan, base=plan.config.directory)
                if image_dir is not None else None)
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


def _construct_ft(plan: Plan, facts: Facts, dfacts: DatasetFacts, disk: img.Disk) -> None:
    """FineTuningDataset (J23 L1184-1353; HEAD L2187-2371): every metadata entry is an image with
    the subset's repeats; no reg images; entries of two subsets with the same key collapse in
    the dataset (num_train_images still counts both). Its buckets come from the metadata's
    sizes (or the images), so make_buckets is done here too."""
    dplan = dfacts.plan
    stage = f"dataset {dfacts.index}"
    seen: set = set()
    T = 0
    entries: dict = {}  # image key -> (size or None, path, repeats)
    for s_index, splan in enumerate(dplan.subsets):
        sf = SubsetFacts(dataset=dfacts.index, index=s_index, plan=splan, directory=splan.image_dir)
        dfacts.subsets.append(sf)
        if splan.num_repeats < 1:
            sf.state, sf.reason = REPEATS_BELOW_ONE, f"num_repeats is {splan.num_repeats} (less than 1): ignored"
            continue
        if splan.metadata_file in seen:
            sf.state, sf.reason = DUPLICATE, "the same metadata_file is already a subset of this dataset: ignored"
            continue
        try:
            metadata = load_metadata(plan, splan)
        except PlanError as exc:
            facts.problem = facts.problem or exc
            sf.state, sf.reason = MISSING, str(exc)
            continue
        except TrainerRefusal as exc:
            # FineTuningDataset reads each metadata file in its constructor: its parse error
            # stops the trainer there
            facts.refusals.append(Refusal(exc.message, exc.origin, stage, exc.note))
            sf.state, sf.reason = NO_IMAGES, "the trainer stops reading this metadata file"
            continue
        if metadata is None:
            facts.missing.append((str(splan.metadata_file), splan.origin))
            sf.state, sf.reason = MISSING, "metadata file not found here"
            continue
        if len(metadata) < 1:
            sf.state, sf.reason = NO_IMAGES, "no image entries in the metadata: ignored"
            continue
        seen.add(splan.metadata_file)
        if not plan.sd.get("ft_train_resolution") and _no_latents_strategy(plan) and (
                splan.image_dir is not None or any(os.path.isabs(k) for k in metadata)):
            # v0.10.0+: the cache names are globbed with strategy.cache_suffix (HEAD
            # train_util.py L2287-2290), and this script sets no strategy without cache_latents
            facts.refusals.append(Refusal(
                "AttributeError: 'NoneType' object has no attribute 'cache_suffix'", splan.origin,
                stage, note=f"{plan.script} sets its latents caching strategy only with "
                            f"cache_latents, and the fine-tuning dataset needs it"))
            continue
        try:
            cache_sizes = _ft_cache_sizes(plan, splan, metadata, disk)
        except (ValueError, IndexError) as exc:
            facts.refusals.append(Refusal(f"{type(exc).__name__}: {exc}", splan.origin, stage,
                                          note="a latents cache file name without a _WIDTHxHEIGHT part"))
            continue
        for key, md in metadata.items():
            md = md if isinstance(md, dict) else {}
            size = md.get("train_resolution") if plan.sd.get("ft_train_resolution") else md.get("image_size")
            if size is None and key in cache_sizes:
                size = cache_sizes[key]
            path = _ft_image_path(plan, splan, key)
            if path is None and plan.sd.get("ft_train_resolution"):
                facts.refusals.append(Refusal(f"AssertionError: no image / 画像がありません: {key}",
                                              splan.origin, stage))
                continue
            entries[key] = (tuple(size) if size else None, path, splan.num_repeats)
            if splan.image_dir is not None and not plan.sd.get("ft_train_resolution"):
                dfacts.ft_trainer_paths[key] = key if os.path.isabs(key) else os.path.join(splan.image_dir, key)
            sf.images.append(path or key)
            dfacts.entries.append([entries[key][0], path, splan.num_repeats, sf])
        T += len(metadata) * splan.num_repeats
    dfacts.num_train_images = T
    _ft_buckets(plan, facts, dfacts, entries, disk)


def _ft_cache_sizes(plan: Plan, splan: SubsetPlan, metadata: dict, disk: img.Disk) -> dict:
    """v0.10.0+ FineTuningDataset (HEAD train_util.py L2270-2356): the cache files
    ('*' + suffix) of image_dir and of the folder of every absolute key, longest name first;
    each key without image_size, longest first, takes the first cache whose path starts with
    the key without its extension (a string prefix on the path as written: a relative key
    matches only when image_dir is ""), which is then used up. Returns key -> (w, h)."""
    suffix = _cache_suffix(plan)
    if plan.sd.get("ft_train_resolution") or not suffix:
        return {}
    dirs = []
    if splan.image_dir is not None:
        dirs.append(str(splan.image_dir))
    for key in metadata:
        if os.path.isabs(key) and os.path.dirname(key) not in dirs:
            dirs.append(os.path.dirname(key))
    candidates = []
    for d in dirs:
        found = resolve_dir(d or ".", plan, base=_base(plan))
        if found is None:
            continue
        listing = disk.listing(str(found))
        candidates.extend(os.path.join(d, n) for n in listing.names
                          if n[:1] != "." and n.endswith(suffix))
    candidates.sort(key=lambda p: len(os.path.basename(p)), reverse=True)
    out: dict = {}
    for key in sorted(metadata, key=len, reverse=True):
        md = metadata[key] if isinstance(metadata[key], dict) else {}
        if md.get("image_size") is not None:
            continue
        stem = os.path.splitext(key)[0]
        match = next((c for c in candidates if c.startswith(stem)), None)
        if match is None:
            continue
        candidates.remove(match)
        w, h = os.path.splitext(match)[0].split("_")[-2].split("x")
        out[key] = (int(w), int(h))
    return out


def _ft_buckets(plan: Plan, facts: Facts, dfacts: DatasetFacts, entries: dict, disk: img.Disk) -> None:
    dplan = dfacts.plan
    stage = f"dataset {dfacts.index}"
    counts: dict = {}
    if not entries:
        dfacts.bucketed = True
        return
    reader = plan.sd.get("image_size_reader", "imagesize_pil")
    try:
        if plan.sd.get("ft_train_resolution") and all(v[0] is not None for v in entries.values()):
            # bucket info in the metadata: bucketing is on, with exactly those resolutions
            if dplan.bucket_no_upscale:
                raise TrainerRefusal(f"AssertionError: {bucketing.FT_NO_UPSCALE_MESSAGE}", dplan.origin)
            dfacts.precalculated_buckets = True
            assigner = bucketing.BucketAssigner.for_train_resolution(
                [v[0] for v in entries.values()], profile=bucket_profile(plan))
            for size, _, repeats in entries.values():
                key = assigner.bucket_for(size[0], size[1])
                counts[key] = counts.get(key, 0) + repeats
        else:
            if dplan.resolution is None:
                if plan.sd.get("ft_train_resolution"):
                    raise TrainerRefusal(FT_RESOLUTION_REQUIRED, dplan.origin)
                if dplan.enable_bucket and plan.sd.get("ft_missing_resolution_error"):
                    raise TrainerRefusal(plan.sd.get("ft_missing_resolution_error"), dplan.origin,
                                         note="resolution is not set and the metadata's sizes "
                                              "are not used from v0.10.0")
                raise TrainerRefusal(FT_RESOLUTION_REQUIRED, dplan.origin,
                                     note="kohya-tune's reading: this sd-scripts has no assert "
                                          "here, but cannot bucket without a resolution")
            assigner = bucketing.BucketAssigner(
                dplan.resolution, dplan.enable_bucket, dplan.bucket_no_upscale,
                dplan.min_bucket_reso, dplan.max_bucket_reso, dplan.bucket_reso_steps,
                profile=bucket_profile(plan), dataset="fine_tune")
            dfacts.bucket_warnings = list(assigner.warnings)
            for entry_key, (size, path, repeats) in entries.items():
                # make_buckets reads every size not known yet, bucketing or not (HEAD
                # train_util.py L993-995)
                if size is None:
                    if path is None or not os.path.exists(path):
                        shown = dfacts.ft_trainer_paths.get(entry_key, path or entry_key)
                        raise TrainerRefusal(
                            f"FileNotFoundError: [Errno 2] No such file or directory: {shown!r}",
                            dplan.origin, note="the image of a metadata entry is not there: "
                                               "make_buckets opens it to read its size")
                    try:
                        size = disk.size(path, reader)
                    except img.ImageSizeError as exc:
                        raise TrainerRefusal(exc.message, dplan.origin, exc.note) from None
                if not dplan.enable_bucket:
                    key = tuple(dplan.resolution)
                else:
                    key = assigner.bucket_for(size[0], size[1])
                counts[key] = counts.get(key, 0) + repeats
    except bucketing.BucketError as exc:
        facts.refusals.append(Refusal(f"{exc.trainer_exception}: {exc.message}", dplan.origin, stage))
        return
    except TrainerRefusal as exc:
        facts.refusals.append(Refusal(exc.message, exc.origin, stage, exc.note))
        return
    dfacts.buckets = counts
    dfacts.num_batches = sum(math.ceil(c / dplan.batch_size) for c in counts.values())
    dfacts.bucketed = True


# --------------------------------------------------------------------------------------------
# helpers shared with the rules

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


def shared_random(plan: Plan, facts: Facts | None = None) -> random.Random:
    """The trainer's global generator after set_seed(--seed); unseeded when --seed is not set
    (the trainer then draws a random seed, so which images a validation split keeps varies)."""
    seed = plan.args.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        return random.Random(seed)
    if facts is not None and any(d.validation_split > 0 and d.validation_seed is None
                                 for d in plan.datasets):
        facts.notes.append("validation_split without validation_seed or seed: the trainer picks a "
                           "random seed, so which images stay in training (and so the buckets) "
                           "can change from run to run; the counts do not")
    return random.Random()


def _data_origin(plan: Plan) -> Origin | None:
    if plan.mode == "dataset_config":
        return plan.arg_origins.get("dataset_config")
    if plan.mode == "folders":
        return plan.arg_origins.get("train_data_dir") or plan.arg_origins.get("image_folder")
    return None
