"""Aspect-ratio buckets exactly as kohya-ss/sd-scripts assigns them.

This is an independent re-implementation (no code copied) of the parts of sd-scripts that decide
which bucket an image lands in.  The step count of a training run is ``sum(ceil(count/batch))``
over buckets, so the bucket *keys* must match the trainer bit for bit.

Sources (kohya-ss/sd-scripts; line numbers are for the tags named):

* ``library/model_util.py`` ``make_bucket_resolutions``
  - v0.6.5 L1129-1157: "grid cell" algorithm (area counted in ``steps x steps`` cells).
  - v0.7.1+ (commits f8360a48 "Fix zero height buckets" and 2186e417 "fix size of bucket <
    min_size", both 2023-12), v0.10.1 L1316-1344: pixel-area algorithm, rows below min dropped.
* ``library/train_util.py`` ``BucketManager`` (v0.6.5 L105-226, v0.10.1 L216-346):
  ``set_predefined_resos``, ``round_to_steps``, ``select_bucket``; the same in both tags except
  the three ``__init__`` asserts added in v0.7.1 (commit 837a4ddd).
* ``library/train_util.py`` ``BaseDataset.make_buckets`` (v0.6.5 L598-691, v0.10.1 L987-1091):
  which resolution / min / max / steps are passed, the single bucket used when
  ``enable_bucket`` is false, bucket key = the ``reso`` tuple returned by ``select_bucket``.
* ``BaseDataset.adjust_min_max_bucket_reso_by_steps`` (v0.9.0+, commit fe2aa324;
  v0.10.1 L747-773) and the inline asserts of ``DreamBoothDataset.__init__`` (v0.6.5 L1036-1042).
* ``BaseDataset.verify_bucket_reso_steps`` (v0.7.0+, commit 6889ee2b; v0.10.1 L1093-1097) and
  the per-script ``verify_bucket_reso_steps(N)`` calls (see ``MIN_BUCKET_RESO_STEPS_BY_SCRIPT``).

Float arithmetic: every expression is evaluated in the same order and with the same Python
float (IEEE double) operations as the trainer.  The trainer's only numpy use on this path is
``np.abs(np.array(ratios) - ar).argmin()``; element-wise float64 subtraction/abs give the same
doubles as Python floats and ``argmin`` returns the first minimum, which ``_nearest_index``
reproduces with a strict ``<`` scan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional

__all__ = [
    "BucketError",
    "BucketProfile",
    "PROFILES",
    "MIN_BUCKET_RESO_STEPS_BY_SCRIPT",
    "MIN_RESO_MESSAGE",
    "MAX_RESO_MESSAGE",
    "make_bucket_resolutions",
    "adjust_min_max_bucket_reso_by_steps",
    "bucket_range_error",
    "check_bucket_range",
    "bucket_reso_steps_error",
    "check_bucket_reso_steps",
    "BucketAssigner",
]


class BucketError(ValueError):
    """A setting or image the trainer rejects.

    ``trainer_exception`` names the exception class sd-scripts raises at that point
    (``"AssertionError"``, ``"ZeroDivisionError"`` ...); ``str(err)`` is the trainer's message.
    """

    def __init__(self, message: str, *, trainer_exception: str = "AssertionError"):
        super().__init__(message)
        self.message = message
        self.trainer_exception = trainer_exception


# --------------------------------------------------------------------------------------------
# Messages (verbatim from sd-scripts; identical in v0.6.5 and v0.10.1).  Note the trainer's own
# slip in the max message: its Japanese half says "min_bucket_reso" where it means max.
# --------------------------------------------------------------------------------------------
MIN_RESO_MESSAGE = (
    "min_bucket_reso must be equal or less than resolution / "
    "min_bucket_resoは最小解像度より大きくできません。解像度を大きくするかmin_bucket_resoを小さくしてください"
)
MAX_RESO_MESSAGE = (
    "max_bucket_reso must be equal or greater than resolution / "
    "max_bucket_resoは最大解像度より小さくできません。解像度を小さくするかmin_bucket_resoを大きくしてください"
)
# FineTuningDataset.__init__ (v0.6.5 L1347-1349): metadata carries train_resolution + no_upscale
FT_NO_UPSCALE_MESSAGE = (
    "if metadata has bucket info, bucket reso is precalculated, so bucket_no_upscale cannot be used / "
    "メタデータ内にbucket情報がある場合はbucketの解像度は計算済みのため、bucket_no_upscaleは使えません"
)
# BucketManager.__init__ asserts (v0.7.1+, commit 837a4ddd; v0.10.1 L218-223)
_MANAGER_ASSERTS = (
    "the max_size should be larger than the width of max_reso",
    "the max_size should be larger than the height of max_reso",
    "the max_size should be larger than the min_size",
)
# BucketManager.select_bucket no-upscale path (both tags)
_ASPECT_ILLEGAL = "aspect is illegal"


# --------------------------------------------------------------------------------------------
# Per-version behaviour table.  Add a row to support another sd-scripts version.
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BucketProfile:
    name: str
    # make_bucket_resolutions algorithm: "v0.6" (<= v0.7.0) or "v0.7.1" (v0.7.1+)
    list_algorithm: str
    # BaseDataset.adjust_min_max_bucket_reso_by_steps exists (v0.9.0+): min floored / max ceiled
    round_min_max_to_steps: bool
    # dataset kinds whose __init__ asserts min(res) >= min_bucket_reso and max(res) <= max
    range_checked_datasets: frozenset
    # BucketManager.__init__ asserts max_size >= resolution sides and >= min_size (v0.7.1+)
    manager_init_asserts: bool
    # FineTuningDataset takes sizes from metadata "train_resolution" (<= v0.9.1)
    ft_train_resolution: bool
    # script -> tuple of verify_bucket_reso_steps(N) arguments in call order (v0.7.0+)
    min_steps_by_script: Mapping[str, tuple] = field(default_factory=dict)


# v0.10.1: every verify_bucket_reso_steps(N) call, in the order it runs.  Subclasses of
# NetworkTrainer that call super().assert_extra_args() first also run the base class's 64
# check (train_network.py L169-177): flux_train_network.py L46 then L95, lumina L40 then L46,
# hunyuan_image L322 then L352.  sdxl_train_network (L26-45), sd3_train_network (L30-66,
# super call commented out), anima_train_network (L38-80) and sdxl_train_textual_inversion
# (L22-28, "do not call parent because it checks reso steps with 64") do not.
_V0_10_1_STEPS = {
    "train_network.py": (64,),
    "train_db.py": (64,),
    "fine_tune.py": (64,),
    "train_textual_inversion.py": (64,),
    "train_textual_inversion_XTI.py": (),
    "train_control_net.py": (64,),
    "train_controlnet.py": (64,),  # deprecated wrapper around train_control_net.train
    "sdxl_train.py": (32,),
    "sdxl_train_network.py": (32,),
    "sdxl_train_textual_inversion.py": (32,),
    "sdxl_train_control_net.py": (32,),
    "sdxl_train_control_net_lllite.py": (32,),
    "sdxl_train_control_net_lllite_old.py": (32,),
    "flux_train.py": (16,),
    "flux_train_control_net.py": (16,),
    "flux_train_network.py": (64, 32),
    "sd3_train.py": (8,),
    "sd3_train_network.py": (32,),
    "lumina_train.py": (16,),
    "lumina_train_network.py": (64, 32),
    "anima_train.py": (16,),
    "anima_train_network.py": (16,),
    "hunyuan_image_train_network.py": (64, 32),
}
# v0.6.5 has no verify_bucket_reso_steps at all (added in v0.7.0) and no SDXL/FLUX scripts.
_V0_6_5_STEPS = {
    "train_network.py": (),
    "train_db.py": (),
    "fine_tune.py": (),
    "train_textual_inversion.py": (),
    "train_textual_inversion_XTI.py": (),
}

PROFILES: dict[str, BucketProfile] = {
    "v0.6.5": BucketProfile(
        name="v0.6.5",
        list_algorithm="v0.6",
        round_min_max_to_steps=False,
        range_checked_datasets=frozenset({"dreambooth"}),
        manager_init_asserts=False,
        ft_train_resolution=True,
        min_steps_by_script=_V0_6_5_STEPS,
    ),
    "v0.10.1": BucketProfile(
        name="v0.10.1",
        list_algorithm="v0.7.1",
        round_min_max_to_steps=True,
        range_checked_datasets=frozenset({"dreambooth", "fine_tune", "controlnet"}),
        manager_init_asserts=True,
        ft_train_resolution=False,
        min_steps_by_script=_V0_10_1_STEPS,
    ),
}

MIN_BUCKET_RESO_STEPS_BY_SCRIPT: dict[str, Mapping[str, tuple]] = {
    name: prof.min_steps_by_script for name, prof in PROFILES.items()
}


def _profile(profile: str | BucketProfile) -> BucketProfile:
    if isinstance(profile, BucketProfile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise KeyError(f"unknown sd-scripts bucket profile {profile!r}; known: {sorted(PROFILES)}") from None


def _zde(err: ZeroDivisionError) -> BucketError:
    # re-raise the trainer's ZeroDivisionError with the interpreter's own message text
    return BucketError(str(err), trainer_exception="ZeroDivisionError")


# --------------------------------------------------------------------------------------------
# Bucket list
# --------------------------------------------------------------------------------------------
# widths the bucket list is computed for, at most (a real range: 256..2048 in steps of 64 is 29)
MAX_BUCKET_LOOP = 1_000_000


def make_bucket_resolutions(
    max_reso: tuple[int, int], min_size: int, max_size: int, divisible: int, *, algorithm: str
) -> list[tuple[int, int]]:
    """The candidate bucket list, de-duplicated and sorted by (w, h) as ``BucketManager`` uses it.

    ``algorithm="v0.6"``: model_util.make_bucket_resolutions up to v0.7.0 (v0.6.5 L1129-1157).
    ``algorithm="v0.7.1"``: the rewrite in v0.7.1 (v0.10.1 L1316-1344).

    The old algorithm can emit zero-sized buckets (the trainer then fails in
    ``set_predefined_resos``); they are returned as-is here, as the real function does.  A
    ``ZeroDivisionError`` inside the real function (old: ``min_size < divisible``; new:
    ``min_size == 0``; either: ``divisible == 0``) becomes a ``BucketError``.
    """
    if divisible is not None and divisible < 0:
        # the real loop never ends (size += negative step)
        raise BucketError("bucket_reso_steps must be positive (the trainer would loop forever)",
                          trainer_exception="hang")
    if divisible and divisible > 0 and max_size >= min_size:
        passes = (max_size - min_size) // divisible + 1
        if passes > MAX_BUCKET_LOOP:
            # the trainer walks every width from min_bucket_reso to max_bucket_reso: with a
            # range this wide its loop does not finish in any useful time
            raise BucketError(
                f"the bucket list loop would run {passes} times (widths {min_size} to {max_size} "
                f"in steps of {divisible}): the trainer does not finish it; kohya-tune follows "
                f"at most {MAX_BUCKET_LOOP}", trainer_exception="hang")
    max_width, max_height = max_reso
    resos: set[tuple[int, int]] = set()
    try:
        if algorithm == "v0.6":
            # area counted in grid cells of divisible x divisible pixels
            cells = (max_width // divisible) * (max_height // divisible)
            side = int(math.sqrt(cells)) * divisible
            resos.add((side, side))
            width = min_size
            while width <= max_size:
                # cells // (columns of this width); every row is kept, even height 0
                height = min(max_size, (cells // (width // divisible)) * divisible)
                resos.add((width, height))
                resos.add((height, width))
                width += divisible
        elif algorithm == "v0.7.1":
            # area in pixels; float floor division for the square side, as the trainer does
            area = max_width * max_height
            side = int(math.sqrt(area) // divisible) * divisible
            resos.add((side, side))
            width = min_size
            while width <= max_size:
                height = min(max_size, int((area // width) // divisible) * divisible)
                if height >= min_size:  # rows lower than min_size are dropped (2186e417)
                    resos.add((width, height))
                    resos.add((height, width))
                width += divisible
        else:
            raise ValueError(f"unknown bucket list algorithm {algorithm!r} (use 'v0.6' or 'v0.7.1')")
    except ZeroDivisionError as e:
        raise _zde(e) from None
    return sorted(resos)


# --------------------------------------------------------------------------------------------
# min/max validation
# --------------------------------------------------------------------------------------------
def bucket_range_error(resolution: tuple[int, int], min_bucket_reso: int, max_bucket_reso: int) -> Optional[str]:
    """The trainer's assertion message for a resolution outside [min, max], else None.

    Same text and order in v0.6.5 (DreamBoothDataset.__init__ L1036-1042) and v0.10.1
    (adjust_min_max_bucket_reso_by_steps L766-771): the min check comes first.
    """
    if not min(resolution) >= min_bucket_reso:
        return MIN_RESO_MESSAGE
    if not max(resolution) <= max_bucket_reso:
        return MAX_RESO_MESSAGE
    return None


def check_bucket_range(
    resolution: tuple[int, int],
    min_bucket_reso: int,
    max_bucket_reso: int,
    bucket_reso_steps: int = 64,
    *,
    profile: str | BucketProfile,
    dataset: str = "dreambooth",
) -> tuple[int, int, list[str]]:
    """What a dataset's ``__init__`` does with min/max when ``enable_bucket`` is on.

    Returns the (min, max) the dataset stores and the warnings logged; raises ``BucketError``
    (trainer: ``AssertionError``) where the trainer asserts.  ``dataset`` is "dreambooth",
    "fine_tune" or "controlnet".  v0.6.5 checks DreamBooth only and never rounds; v0.10.1 rounds
    (v0.9.0+) then checks all three kinds.
    """
    prof = _profile(profile)
    warnings: list[str] = []
    if prof.round_min_max_to_steps and dataset in prof.range_checked_datasets:
        return adjust_min_max_bucket_reso_by_steps(resolution, min_bucket_reso, max_bucket_reso, bucket_reso_steps)
    if dataset in prof.range_checked_datasets:
        msg = bucket_range_error(resolution, min_bucket_reso, max_bucket_reso)
        if msg:
            raise BucketError(msg)
    return min_bucket_reso, max_bucket_reso, warnings


def adjust_min_max_bucket_reso_by_steps(
    resolution: tuple[int, int], min_bucket_reso: int, max_bucket_reso: int, bucket_reso_steps: int, *, check: bool = True
) -> tuple[int, int, list[str]]:
    """v0.9.0+ ``BaseDataset.adjust_min_max_bucket_reso_by_steps`` (v0.10.1 L747-773).

    min is floored and max ceiled to multiples of the steps, each change logged with a warning
    (returned here verbatim).  With ``check`` (the trainer always checks) a resolution outside
    the adjusted range raises ``BucketError`` with the trainer's assertion text.
    """
    warnings: list[str] = []
    try:
        if min_bucket_reso % bucket_reso_steps != 0:
            new_min = min_bucket_reso - min_bucket_reso % bucket_reso_steps
            warnings.append(
                "min_bucket_reso is adjusted to be multiple of bucket_reso_steps / "
                f"min_bucket_resoがbucket_reso_stepsの倍数になるように調整されました: {min_bucket_reso} -> {new_min}"
            )
            min_bucket_reso = new_min
        if max_bucket_reso % bucket_reso_steps != 0:
            new_max = max_bucket_reso + bucket_reso_steps - max_bucket_reso % bucket_reso_steps
            warnings.append(
                "max_bucket_reso is adjusted to be multiple of bucket_reso_steps / "
                f"max_bucket_resoがbucket_reso_stepsの倍数になるように調整されました: {max_bucket_reso} -> {new_max}"
            )
            max_bucket_reso = new_max
    except ZeroDivisionError as e:
        raise _zde(e) from None
    if check:
        msg = bucket_range_error(resolution, min_bucket_reso, max_bucket_reso)
        if msg:
            raise BucketError(msg)
    return min_bucket_reso, max_bucket_reso, warnings


# --------------------------------------------------------------------------------------------
# bucket_reso_steps divisibility (v0.7.0+)
# --------------------------------------------------------------------------------------------
def reso_steps_message(bucket_reso_steps: int, min_steps: int) -> str:
    """verify_bucket_reso_steps' assertion text (HEAD train_util.py L1093-1097)."""
    return (f"bucket_reso_steps is {bucket_reso_steps}. it must be divisible by {min_steps}.\n"
            f"bucket_reso_stepsが{bucket_reso_steps}です。{min_steps}で割り切れる必要があります")


def bucket_reso_steps_error(
    bucket_reso_steps: Optional[int], *, script: str, profile: str | BucketProfile, enable_bucket: bool = True
) -> Optional[str]:
    """Message of the first failing ``verify_bucket_reso_steps(N)`` the script runs, else None.

    The check sees ``bucket_reso_steps=None`` (always passes) when bucketing is off.  Unknown
    scripts raise KeyError; scripts absent from a profile did not exist in that version.
    """
    prof = _profile(profile)
    if script not in prof.min_steps_by_script:
        raise KeyError(f"{script!r} is not a training script of sd-scripts {prof.name}")
    if not enable_bucket or bucket_reso_steps is None:
        return None
    for min_steps in prof.min_steps_by_script[script]:
        if bucket_reso_steps % min_steps != 0:
            return reso_steps_message(bucket_reso_steps, min_steps)
    return None


def check_bucket_reso_steps(
    bucket_reso_steps: Optional[int], *, script: str, profile: str | BucketProfile, enable_bucket: bool = True
) -> None:
    msg = bucket_reso_steps_error(bucket_reso_steps, script=script, profile=profile, enable_bucket=enable_bucket)
    if msg:
        raise BucketError(msg)


# --------------------------------------------------------------------------------------------
# Assigning images
# --------------------------------------------------------------------------------------------
def _nearest_index(ratios: list[float], aspect: float) -> int:
    # np.abs(ratios - aspect).argmin(): first index of the smallest |r - aspect| in float64
    best_i = 0
    best = abs(ratios[0] - aspect)
    for i in range(1, len(ratios)):
        d = abs(ratios[i] - aspect)
        if d < best:
            best = d
            best_i = i
    return best_i


class BucketAssigner:
    """Bucket key of each image size, as ``BaseDataset.make_buckets`` + ``select_bucket`` give it.

    Construction follows the trainer's procedure, one named step each:

    1. ``_single_bucket``: buckets off, one bucket of the resolution (make_buckets' else branch);
    2. ``_dataset_range``: the dataset constructor's min/max rounding and asserts for the given
       ``dataset`` kind (skipped with ``validate=False`` when the caller ran them already, at
       the constructor's place in the run);
    3. ``_manager_asserts``: ``BucketManager.__init__`` (v0.7.1+);
    4. ``_no_upscale``: bucket_no_upscale, buckets made per image size;
    5. ``_bucket_list``: ``make_buckets`` of the manager, then ``set_predefined_resos``.

    ``bucket_for(w, h)`` returns the bucket key (``select_bucket``).  Results (and errors) are
    cached per size.  Zero-width buckets ``(0, h)`` in no-upscale mode are accepted by the trainer
    at this stage (only ``h == 0`` divides by zero), so they are returned; sizes that produced one
    are kept in ``zero_sized_buckets`` so a caller can warn.  Every step raises ``BucketError``
    where the trainer raises.
    """

    def __init__(
        self,
        resolution: tuple[int, int],
        enable_bucket: bool,
        no_upscale: bool,
        min_size: Optional[int],
        max_size: Optional[int],
        steps: Optional[int],
        *,
        profile: str | BucketProfile,
        dataset: str = "dreambooth",
        validate: bool = True,
    ):
        prof = _profile(profile)
        self.profile = prof
        self.resolution = (resolution[0], resolution[1])
        self.enable_bucket = bool(enable_bucket)
        self.no_upscale = bool(no_upscale) and self.enable_bucket
        self.warnings: list[str] = []
        self.adjust_warnings: list[str] = []
        self.zero_sized_buckets: set[tuple[int, int]] = set()
        self._cache: dict[tuple[int, int], object] = {}
        self.predefined: list[tuple[int, int]] = []
        self.max_area = self.resolution[0] * self.resolution[1]
        if not self.enable_bucket:
            self._single_bucket()
            return
        if validate:
            min_size, max_size = self._dataset_range(min_size, max_size, steps, dataset)
        self.min_size, self.max_size, self.steps = min_size, max_size, steps
        self._manager_asserts()
        if self.no_upscale:
            self._no_upscale()
            return
        self._bucket_list()

    def _single_bucket(self) -> None:
        # make_buckets, else branch: one bucket == resolution, whatever the image size
        self.min_size = self.max_size = self.steps = None
        self.predefined = [self.resolution]

    def _dataset_range(self, min_size, max_size, steps, dataset: str) -> tuple:
        min_size, max_size, warnings = check_bucket_range(
            self.resolution, min_size, max_size, steps, profile=self.profile, dataset=dataset)
        self.warnings.extend(warnings)
        self.adjust_warnings = list(warnings)  # only the min/max rounding warnings (v0.9.0+)
        return min_size, max_size

    def _manager_asserts(self) -> None:
        # BucketManager.__init__ (v0.7.1+, 837a4ddd; v0.10.1 L218-223)
        if not self.profile.manager_init_asserts or self.max_size is None:
            return
        if not self.max_size >= self.resolution[0]:
            raise BucketError(_MANAGER_ASSERTS[0])
        if not self.max_size >= self.resolution[1]:
            raise BucketError(_MANAGER_ASSERTS[1])
        if self.min_size is not None and not self.max_size >= self.min_size:
            raise BucketError(_MANAGER_ASSERTS[2])

    def _no_upscale(self) -> None:
        # make_buckets (v0.10.1 L1023-1027): the manager is told nothing about min/max
        self.warnings.append(
            "min_bucket_reso and max_bucket_reso are ignored if bucket_no_upscale is set, because bucket reso "
            "is defined by image size automatically / bucket_no_upscaleが指定された場合は、bucketの解像度は画像サイズから"
            "自動計算されるため、min_bucket_resoとmax_bucket_resoは無視されます"
        )
        # steps == 0 fails per image (x % 0 in select_bucket), as in the trainer

    def _bucket_list(self) -> None:
        self.predefined = make_bucket_resolutions(
            self.resolution, self.min_size, self.max_size, self.steps, algorithm=self.profile.list_algorithm)
        self._set_predefined(self.predefined)

    # BucketManager.set_predefined_resos: w / h of every bucket (ZeroDivisionError on h == 0)
    def _set_predefined(self, resos: list[tuple[int, int]]) -> None:
        try:
            self._ratios = [w / h for w, h in resos]
        except ZeroDivisionError as e:
            raise _zde(e) from None
        self._predefined_set = set(resos)
        self._exact_only = False

    @classmethod
    def for_train_resolution(
        cls, sizes: Iterable[tuple[int, int]], *, no_upscale: bool = False, profile: str | BucketProfile
    ) -> "BucketAssigner":
        """FineTuningDataset whose metadata has ``train_resolution`` for every entry (<= v0.9.1).

        Bucketing is forced on and the bucket list is the set of those sizes (v0.6.5
        L1315-1353), so each image goes to its own ``train_resolution``.
        """
        prof = _profile(profile)
        if not prof.ft_train_resolution:
            raise ValueError(f"sd-scripts {prof.name} does not use metadata train_resolution")
        if no_upscale:
            raise BucketError(FT_NO_UPSCALE_MESSAGE)
        self = cls.__new__(cls)
        self.profile = prof
        self.resolution = None
        self.enable_bucket = True
        self.no_upscale = False
        self.warnings = []
        self.adjust_warnings = []
        self.zero_sized_buckets = set()
        self._cache = {}
        self.min_size = self.max_size = self.steps = self.max_area = None
        resos = sorted({(int(w), int(h)) for w, h in sizes})
        self.predefined = resos
        self._set_predefined(resos)
        # the trainer keeps these resos as a set; indexing it for a size that is not in it would
        # raise TypeError, which cannot happen there because every size comes from the metadata
        self._exact_only = True
        return self

    # ----------------------------------------------------------------------------------------
    def bucket_for(self, width: int, height: int) -> tuple[int, int]:
        key = (width, height)
        hit = self._cache.get(key)
        if hit is None:
            try:
                hit = self._select(width, height)
            except BucketError as e:
                hit = e
            self._cache[key] = hit
        if isinstance(hit, BucketError):
            raise hit
        return hit  # type: ignore[return-value]

    def _select(self, width: int, height: int) -> tuple[int, int]:
        try:
            aspect = width / height  # select_bucket's first line, in every mode
            if not self.enable_bucket:
                return self.resolution
            if not self.no_upscale:
                return self._select_predefined(width, height, aspect)
            return self._select_no_upscale(width, height, aspect)
        except ZeroDivisionError as e:
            raise _zde(e) from None

    def _select_predefined(self, width: int, height: int, aspect: float) -> tuple[int, int]:
        # an exact size match wins (fine-tuning data pre-bucketed with no_upscale)
        if (width, height) in self._predefined_set:
            return (width, height)
        if self._exact_only:
            raise BucketError("'set' object is not subscriptable", trainer_exception="TypeError")
        return self.predefined[_nearest_index(self._ratios, aspect)]

    def _rts(self, x: float) -> int:
        # BucketManager.round_to_steps: round half up to an int, then floor to the step
        x = int(x + 0.5)
        return x - x % self.steps

    def _select_no_upscale(self, width: int, height: int, aspect: float) -> tuple[int, int]:
        steps = self.steps
        if width * height > self.max_area:
            # shrink to the resolution's area keeping the aspect, then try two roundings
            rw = math.sqrt(self.max_area * aspect)
            rh = self.max_area / rw
            if not abs(rw / rh - aspect) < 1e-2:
                raise BucketError(_ASPECT_ILLEGAL)
            # (a) round the width first
            bw_a = self._rts(rw)
            bh_a = self._rts(bw_a / aspect)
            ar_a = bw_a / bh_a
            # (b) round the height first
            bh_b = self._rts(rh)
            bw_b = self._rts(bh_b * aspect)
            ar_b = bw_b / bh_b
            if abs(ar_a - aspect) < abs(ar_b - aspect):
                resized = (bw_a, int(bw_a / aspect + 0.5))
            else:  # ties go to (b)
                resized = (int(bh_b * aspect + 0.5), bh_b)
        else:
            resized = (width, height)  # no upscaling
        reso = (resized[0] - resized[0] % steps, resized[1] - resized[1] % steps)
        # select_bucket's last line: ar_error = reso[0] / reso[1] - aspect
        reso[0] / reso[1]
        if reso[0] == 0:
            self.zero_sized_buckets.add((width, height))
        return reso

    # ----------------------------------------------------------------------------------------
    def assign(self, sizes: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        """Bucket key for each size, in order."""
        f = self.bucket_for
        return [f(w, h) for w, h in sizes]

    def count(self, sizes_and_repeats: Iterable[tuple[tuple[int, int], int]]) -> dict[tuple[int, int], int]:
        """Images per bucket including repeats (the trainer's ``bucket_info`` counts), sorted by key."""
        counts: dict[tuple[int, int], int] = {}
        f = self.bucket_for
        for (w, h), n in sizes_and_repeats:
            k = f(w, h)
            counts[k] = counts.get(k, 0) + n
        return dict(sorted(counts.items()))

    def batches(self, sizes_and_repeats: Iterable[tuple[tuple[int, int], int]], batch_size: int) -> int:
        """``len(dataset)``: sum over buckets of ceil(count / batch_size) (make_buckets, end)."""
        return sum(-(-c // batch_size) for c in self.count(sizes_and_repeats).values() if c > 0)
