"""kohya_tune.buckets against answers of the real sd-scripts code (v0.6.5 and v0.10.1).

The data file tests/data/buckets/real_sd_scripts_buckets.json was produced by
tools/gen_bucket_fixtures.py, which runs the unmodified sd-scripts functions
(make_bucket_resolutions, BucketManager, BaseDataset.make_buckets, adjust_min_max_bucket_reso_by_steps,
verify_bucket_reso_steps) pulled out of the tagged sources with ast.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # allow a bare `pytest` run from the repo root
    sys.path.insert(0, str(ROOT))

from kohya_tune.engine import buckets as kb  # noqa: E402
from kohya_tune.engine.buckets import (  # noqa: E402
    MAX_RESO_MESSAGE,
    MIN_RESO_MESSAGE,
    PROFILES,
    BucketAssigner,
    BucketError,
    BucketProfile,
    adjust_min_max_bucket_reso_by_steps,
    bucket_range_error,
    bucket_reso_steps_error,
    make_bucket_resolutions,
)

DATA = json.loads((ROOT / "tests/data/buckets/real_sd_scripts_buckets.json").read_text(encoding="utf-8"))
PROFILE_NAMES = sorted(DATA["profiles"])


def _same_error(expected: dict, err: BucketError) -> bool:
    """Exception class must match; for assertions the text too.  ZeroDivisionError wording
    comes from the interpreter (it changed between CPython versions), so only the class counts."""
    if err.trainer_exception != expected["error"]:
        return False
    return expected["error"] == "ZeroDivisionError" or str(err) == expected["message"]


def _outcome(fn):
    try:
        return fn()
    except BucketError as e:
        return e


# ------------------------------------------------------------------------------------------
# data-file cases
# ------------------------------------------------------------------------------------------
def test_data_file_covers_both_profiles():
    assert set(PROFILE_NAMES) == {"v0.6.5", "v0.10.1"}
    for p in PROFILE_NAMES:
        n = sum(len(c.get("sizes", [])) for c in DATA["profiles"][p]["assign"])
        assert n >= 300, (p, n)


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_bucket_lists_match_real_code(profile):
    algo = PROFILES[profile].list_algorithm
    for case in DATA["profiles"][profile]["lists"]:
        w, h, mn, mx, st = case["setting"]
        got = _outcome(lambda: make_bucket_resolutions((w, h), mn, mx, st, algorithm=algo))
        if "error" in case:
            assert isinstance(got, BucketError) and _same_error(case, got), (case, got)
        else:
            assert got == [tuple(r) for r in case["resos"]], case["setting"]


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_assignment_matches_real_code(profile):
    checked = 0
    for case in DATA["profiles"][profile]["assign"]:
        w, h, mn, mx, st = case["setting"]
        enable = case.get("enable_bucket", True)
        a = _outcome(lambda: BucketAssigner((w, h), enable, case["no_upscale"], mn, mx, st, profile=profile))
        setup = case["setup"]
        if "error" in setup:
            assert isinstance(a, BucketError) and _same_error(setup, a), (case["setting"], case["no_upscale"], a)
            continue
        assert not isinstance(a, BucketError), (case["setting"], a)
        if enable:
            assert (a.min_size, a.max_size, a.adjust_warnings) == (setup["min"], setup["max"], setup["warnings"])
        for size, exp in zip(case["sizes"], case["expected"]):
            got = _outcome(lambda: a.bucket_for(*size))
            if isinstance(exp, dict):
                assert isinstance(got, BucketError) and _same_error(exp, got), (case["setting"], size, exp, got)
            else:
                assert got == tuple(exp), (profile, case["setting"], case["no_upscale"], size, exp, got)
            checked += 1
    assert checked >= 300


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_whole_dataset_bucket_counts_match_real_make_buckets(profile):
    for case in DATA["profiles"][profile]["datasets"]:
        w, h, mn, mx, st = case["setting"]
        a = BucketAssigner((w, h), case["enable_bucket"], case["no_upscale"], mn, mx, st, profile=profile)
        pairs = [(tuple(s), r) for s, r in zip(case["sizes"], case["repeats"])]
        counts = a.count(pairs)
        assert [[list(k), v] for k, v in counts.items()] == case["bucket_counts"], case["name"]
        assert a.batches(pairs, case["batch_size"]) == case["length"], case["name"]


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_verify_bucket_reso_steps_message(profile):
    for steps, min_steps, msg in DATA["profiles"][profile]["verify_steps"]:
        prof = BucketProfile("t", "v0.7.1", True, frozenset(), True, False, {"x.py": (min_steps,)})
        assert bucket_reso_steps_error(steps, script="x.py", profile=prof) == msg


# ------------------------------------------------------------------------------------------
# readable hand tests (reference sd-scripts-steps.md §2.6)
# ------------------------------------------------------------------------------------------
BASE_512 = [(256, 832), (256, 896), (256, 960), (256, 1024), (320, 704), (320, 768), (384, 640), (448, 576), (512, 512)]


@pytest.mark.parametrize("algo", ["v0.6", "v0.7.1"])
def test_list_512_256_1024_64(algo):
    expected = sorted(set(BASE_512) | {(h, w) for w, h in BASE_512})
    assert make_bucket_resolutions((512, 512), 256, 1024, 64, algorithm=algo) == expected
    assert len(expected) == 17


@pytest.mark.parametrize("res,mn,mx,st", [(512, 256, 1024, 64), (768, 256, 1024, 64), (1024, 256, 2048, 64), (1024, 256, 2048, 32)])
def test_common_settings_same_in_both_algorithms(res, mn, mx, st):
    assert make_bucket_resolutions((res, res), mn, mx, st, algorithm="v0.6") == make_bucket_resolutions(
        (res, res), mn, mx, st, algorithm="v0.7.1"
    )


def test_min_320_old_algorithm_has_8_extra_buckets():
    old = make_bucket_resolutions((512, 512), 320, 1024, 64, algorithm="v0.6")
    new = make_bucket_resolutions((512, 512), 320, 1024, 64, algorithm="v0.7.1")
    # 17 vs 9 are the list lengths INCLUDING transposes (9 = 4 shapes x 2 + the square)
    assert (len(old), len(new)) == (17, 9)
    extra = {(256, 832), (256, 896), (256, 960), (256, 1024)}
    assert set(old) - set(new) == extra | {(h, w) for w, h in extra}
    assert set(new) <= set(old)
    # the old algorithm ignores min_size for the heights it derives: 256 < 320 is listed
    assert min(min(r) for r in old) == 256 and min(min(r) for r in new) == 320


def test_min_640_res_1024_33_vs_19():
    assert len(make_bucket_resolutions((1024, 1024), 640, 2048, 64, algorithm="v0.6")) == 33
    assert len(make_bucket_resolutions((1024, 1024), 640, 2048, 64, algorithm="v0.7.1")) == 19


def test_min_200_not_rounded_in_v0_6_5_but_rounded_in_v0_10_1():
    old = BucketAssigner((512, 512), True, False, 200, 1024, 64, profile="v0.6.5")
    assert old.predefined[:3] == [(200, 1024), (256, 840), (256, 904)]  # widths 200, 264, ...
    new = BucketAssigner((512, 512), True, False, 200, 1024, 64, profile="v0.10.1")
    assert (new.min_size, new.max_size) == (192, 1024)
    assert new.adjust_warnings == [
        "min_bucket_reso is adjusted to be multiple of bucket_reso_steps / "
        "min_bucket_resoがbucket_reso_stepsの倍数になるように調整されました: 200 -> 192"
    ]
    assert all(w % 64 == 0 and h % 64 == 0 for w, h in new.predefined)


def test_adjust_rounds_max_up():
    mn, mx, warns = adjust_min_max_bucket_reso_by_steps((512, 512), 256, 1000, 64)
    assert (mn, mx) == (256, 1024) and warns[0].endswith(": 1000 -> 1024")
    assert adjust_min_max_bucket_reso_by_steps((512, 512), 256, 1024, 64) == (256, 1024, [])


def test_range_errors_per_version():
    assert bucket_range_error((512, 512), 600, 1024) == MIN_RESO_MESSAGE
    assert bucket_range_error((1024, 1024), 256, 768) == MAX_RESO_MESSAGE
    for profile in ("v0.6.5", "v0.10.1"):
        with pytest.raises(BucketError) as ei:
            BucketAssigner((1024, 1024), True, True, 256, 768, 64, profile=profile)
        assert str(ei.value) == MAX_RESO_MESSAGE and ei.value.trainer_exception == "AssertionError"
    # v0.10.1 rounds first: min 520 -> 512 passes for res 512; v0.6.5 rejects it
    BucketAssigner((512, 512), True, False, 520, 1024, 64, profile="v0.10.1")
    with pytest.raises(BucketError, match="min_bucket_reso must be equal or less"):
        BucketAssigner((512, 512), True, False, 520, 1024, 64, profile="v0.6.5")
    # v0.6.5 fine-tuning datasets are not checked at all; v0.10.1 ones are
    kb.check_bucket_range((1024, 1024), 256, 768, profile="v0.6.5", dataset="fine_tune")
    with pytest.raises(BucketError):
        kb.check_bucket_range((1024, 1024), 256, 768, profile="v0.10.1", dataset="fine_tune")
    # bucketing off: nothing is checked
    assert BucketAssigner((1024, 1024), False, False, 256, 768, 64, profile="v0.6.5").bucket_for(5, 7) == (1024, 1024)


def test_zero_height_buckets_crash_old_version():
    # res 256 = 16 cells, max 1280 = 20 columns -> height 0 rows -> w / 0 in set_predefined_resos
    assert (1280, 0) in make_bucket_resolutions((256, 256), 64, 1280, 64, algorithm="v0.6")
    with pytest.raises(BucketError) as ei:
        BucketAssigner((256, 256), True, False, 64, 1280, 64, profile="v0.6.5")
    assert ei.value.trainer_exception == "ZeroDivisionError"
    assert (1280, 0) not in BucketAssigner((256, 256), True, False, 64, 1280, 64, profile="v0.10.1").predefined


SECTION_2_6_IMAGES = (
    [(512, 512)] * 3 + [(1024, 1024)] * 2 + [(768, 512)] * 5 + [(512, 768)] + [(640, 480)] * 4 + [(300, 900)]
)


@pytest.mark.parametrize("profile", ["v0.6.5", "v0.10.1"])
def test_section_2_6_example(profile):
    pairs = [(s, 2) for s in SECTION_2_6_IMAGES]
    assert len(pairs) == 16
    pre = BucketAssigner((512, 512), True, False, 256, 1024, 64, profile=profile)
    assert pre.count(pairs) == {(256, 832): 2, (384, 640): 2, (512, 512): 10, (576, 448): 8, (640, 384): 10}
    assert pre.batches(pairs, 2) == 16
    nu = BucketAssigner((512, 512), True, True, 256, 1024, 64, profile=profile)
    assert nu.count(pairs) == {(256, 768): 2, (384, 576): 2, (512, 384): 8, (512, 512): 10, (576, 384): 10}
    assert nu.batches(pairs, 2) == 16
    off = BucketAssigner((512, 512), False, False, 256, 1024, 64, profile=profile)
    assert off.count(pairs) == {(512, 512): 32} and off.batches(pairs, 2) == 16


def test_predefined_exact_match_and_tie_goes_to_first_sorted():
    a = BucketAssigner((512, 512), True, False, 256, 1024, 64, profile="v0.10.1")
    assert a.bucket_for(320, 704) == (320, 704)  # exact size wins
    # 403x585 is, in float64, exactly as far from 384/640 as from 448/576 -> argmin keeps the
    # first in (w, h) order; same for 580x160 between 896x256 and 960x256 (real code agrees)
    assert abs(384 / 640 - 403 / 585) == abs(448 / 576 - 403 / 585)
    assert a.bucket_for(403, 585) == (384, 640)
    assert abs(896 / 256 - 580 / 160) == abs(960 / 256 - 580 / 160)
    assert a.bucket_for(580, 160) == (896, 256)
    # 8:7 is half-way between 1 and 9/7 only on paper: float rounding makes 512x512 strictly nearer
    assert abs(1 - 8 / 7) < abs(576 / 448 - 8 / 7) and a.bucket_for(800, 700) == (512, 512)
    assert a.bucket_for(1, 5000) == (256, 1024) and a.bucket_for(5000, 1) == (1024, 256)


def test_no_upscale_rounding_and_errors():
    a = BucketAssigner((512, 512), True, True, 256, 1024, 64, profile="v0.10.1")
    assert a.bucket_for(64, 64) == (64, 64)  # small images keep their size
    assert a.bucket_for(4000, 3000) == (512, 384)  # 4:3, like 640x480 in §2.6
    assert a.bucket_for(512, 512) == (512, 512)
    # a side below the step floors to 0: width 0 is accepted by the trainer, height 0 divides by zero
    assert a.bucket_for(30, 500) == (0, 448) and (30, 500) in a.zero_sized_buckets
    with pytest.raises(BucketError) as ei:
        a.bucket_for(500, 30)
    assert ei.value.trainer_exception == "ZeroDivisionError"
    # very thin large images: the rounded height becomes 0 -> ZeroDivisionError in the ar test
    with pytest.raises(BucketError):
        a.bucket_for(20000, 20)


def test_steps_checks_per_script():
    assert bucket_reso_steps_error(48, script="sdxl_train_network.py", profile="v0.10.1").startswith(
        "bucket_reso_steps is 48. it must be divisible by 32.\n"
    )
    assert bucket_reso_steps_error(64, script="sdxl_train.py", profile="v0.10.1") is None
    assert bucket_reso_steps_error(32, script="train_network.py", profile="v0.10.1") is not None
    # NetworkTrainer subclasses that call super() first inherit the 64 check
    assert "divisible by 64" in bucket_reso_steps_error(32, script="flux_train_network.py", profile="v0.10.1")
    assert bucket_reso_steps_error(16, script="flux_train.py", profile="v0.10.1") is None
    assert bucket_reso_steps_error(8, script="sd3_train.py", profile="v0.10.1") is None
    assert bucket_reso_steps_error(32, script="train_network.py", profile="v0.10.1", enable_bucket=False) is None
    assert bucket_reso_steps_error(8, script="train_network.py", profile="v0.6.5") is None  # no check before v0.7.0
    with pytest.raises(KeyError):
        bucket_reso_steps_error(64, script="sdxl_train.py", profile="v0.6.5")


def test_finetune_train_resolution_v0_6_5():
    sizes = [(512, 768), (640, 640), (512, 768)]
    a = BucketAssigner.for_train_resolution(sizes, profile="v0.6.5")
    assert [a.bucket_for(*s) for s in sizes] == sizes
    with pytest.raises(BucketError, match="bucket_no_upscale cannot be used"):
        BucketAssigner.for_train_resolution(sizes, no_upscale=True, profile="v0.6.5")
    with pytest.raises(ValueError):
        BucketAssigner.for_train_resolution(sizes, profile="v0.10.1")


def test_50000_images_fast():
    rng = random.Random(7)
    sizes = [(rng.randint(1, 6000), rng.randint(1, 6000)) for _ in range(20000)]
    sizes += [(rng.choice((512, 768, 1024, 3000)), rng.choice((512, 768, 1024, 4000))) for _ in range(30000)]
    for no_up in (False, True):
        a = BucketAssigner((1024, 1024), True, no_up, 256, 2048, 32, profile="v0.10.1")
        t = time.perf_counter()
        for w, h in sizes:
            try:
                a.bucket_for(w, h)
            except BucketError:
                pass
        assert time.perf_counter() - t < 5.0
    assert math.isfinite(t)
