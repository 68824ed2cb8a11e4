#!/usr/bin/env python
"""Generate tests/data/buckets/real_sd_scripts_buckets.json from the REAL sd-scripts code.

How it was produced (reproduce with):

    # 1. a bare clone of kohya-ss/sd-scripts (any clone works; tags v0.6.5 and v0.10.1 needed)
    #    here: /work/.mirror/kohya-ss+sd-scripts/repo
    # 2. a scratch venv with numpy (NOT a kohya-tune dependency)
    python -m venv /tmp/sdvenv && /tmp/sdvenv/bin/pip install numpy
    # 3. run from the repo root
    /tmp/sdvenv/bin/python tools/gen_bucket_fixtures.py \
        --repo /work/.mirror/kohya-ss+sd-scripts/repo --out tests/data/buckets/real_sd_scripts_buckets.json
    # optional: compare kohya_tune/buckets.py with the real code on many more random sizes
    /tmp/sdvenv/bin/python tools/gen_bucket_fixtures.py --repo ... --check 3000
    # (last run: "checked 216588 cases, 0 mismatches")

The real code is taken with `git show TAG:library/model_util.py` / `library/train_util.py`; the
needed definitions are cut out with `ast` and executed unmodified in a namespace holding numpy,
math, random and stubs for the logger/tqdm (torch, transformers ... are never imported):

* model_util.make_bucket_resolutions
* train_util.BucketManager (whole class), BucketBatchIndex
* BaseDataset.make_buckets, BaseDataset.adjust_min_max_bucket_reso_by_steps (v0.9.0+),
  BaseDataset.verify_bucket_reso_steps (v0.7.0+)
* v0.6.5: the min/max `assert` statements of DreamBoothDataset.__init__, wrapped in a function.

For each profile the dataset-side flow is replayed as DreamBoothDataset.__init__ + make_buckets
do it: check/round min and max, build BucketManager(no_upscale, (W, H), min, max, steps), call
make_buckets() for predefined buckets, then select_bucket(w, h) per image size.  Errors are
recorded as {"error": exception class name, "message": str(exception)}.

Written for kohya-tune; not part of the package.
"""
from __future__ import annotations

import argparse
import ast
import collections
import json
import math
import random
import subprocess
import sys
import types
import typing
from pathlib import Path

import numpy as np

TAGS = {"v0.6.5": "v0.6.5", "v0.10.1": "v0.10.1"}

SETTINGS = [
    # (res_w, res_h, min, max, steps)    common ones first
    (512, 512, 256, 1024, 64),
    (768, 768, 256, 1024, 64),
    (1024, 1024, 256, 2048, 64),
    (1024, 1024, 256, 2048, 32),
    (768, 768, 384, 1280, 128),
    # odd ones
    (500, 500, 256, 1024, 64),
    (512, 512, 320, 1024, 64),
    (512, 512, 200, 1024, 64),
    (512, 768, 256, 1024, 64),
    (768, 512, 256, 1024, 64),
    (1024, 1024, 256, 768, 64),     # max < res (DreamBooth rejects)
    (1024, 1024, 640, 2048, 64),
    (512, 512, 256, 1000, 64),      # max not a multiple of steps
    (256, 256, 64, 1280, 64),       # zero-height rows in the old algorithm
    (512, 512, 32, 1024, 64),       # min < steps
    (896, 1152, 256, 2048, 32),
    (1024, 1024, 256, 2048, 16),
    (640, 640, 256, 1024, 8),
    (512, 512, 600, 1024, 64),      # min > res (DreamBooth rejects)
    (720, 720, 300, 1100, 64),
]
LIST_ONLY_SETTINGS = [
    (512, 512, 256, 1024, 0),
    (512, 512, 0, 1024, 64),
    (32, 32, 256, 1024, 64),
    (1024, 1024, 256, 4096, 64),
    (2048, 2048, 256, 4096, 64),
    (1536, 640, 256, 2048, 64),
    (333, 777, 111, 999, 7),
]


class _Log:
    def __init__(self):
        self.records = []

    def _rec(self, level):
        return lambda msg, *a, **k: self.records.append((level, str(msg)))

    def __getattr__(self, name):
        if name in ("info", "warning", "error", "debug"):
            return self._rec(name)
        raise AttributeError(name)


def _git_show(repo: str, tag: str, path: str) -> str:
    return subprocess.run(["git", f"--git-dir={repo}", "show", f"{tag}:{path}"], check=True,
                          capture_output=True, text=True).stdout


def _find(tree, kind, name):
    for node in ast.walk(tree):
        if isinstance(node, kind) and node.name == name:
            return node
    return None


def load_real(repo: str, tag: str):
    """Namespace with the real sd-scripts definitions of `tag`."""
    mu = ast.parse(_git_show(repo, tag, "library/model_util.py"))
    tu = ast.parse(_git_show(repo, tag, "library/train_util.py"))
    log = _Log()
    ns = {
        "math": math, "np": np, "random": random, "logger": log, "print": lambda *a, **k: None,
        "tqdm": lambda x, *a, **k: x, "__name__": f"real_{tag}",
    }
    for n in ("Tuple", "List", "Optional", "NamedTuple", "Dict", "Union", "Any", "Sequence"):
        ns[n] = getattr(typing, n)
    mod = ast.Module(body=[_find(mu, ast.FunctionDef, "make_bucket_resolutions")], type_ignores=[])
    exec(compile(mod, f"{tag}:library/model_util.py", "exec"), ns)
    ns["model_util"] = types.SimpleNamespace(make_bucket_resolutions=ns["make_bucket_resolutions"])

    body = [_find(tu, ast.ClassDef, "BucketManager"), _find(tu, ast.ClassDef, "BucketBatchIndex")]
    base = _find(tu, ast.ClassDef, "BaseDataset")
    methods = {}
    for name in ("make_buckets", "adjust_min_max_bucket_reso_by_steps", "verify_bucket_reso_steps"):
        fn = next((n for n in base.body if isinstance(n, ast.FunctionDef) and n.name == name), None)
        if fn is not None:
            methods[name] = fn
    mod = ast.Module(body=body + list(methods.values()), type_ignores=[])
    exec(compile(mod, f"{tag}:library/train_util.py", "exec"), ns)

    # v0.6.5: DreamBoothDataset.__init__'s inline min/max asserts, as a function
    db = _find(tu, ast.ClassDef, "DreamBoothDataset")
    init = next(n for n in db.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    asserts = [n for n in ast.walk(init) if isinstance(n, ast.Assert) and "bucket_reso" in ast.unparse(n.test)]
    fn = ast.parse("def db_init_range_asserts(resolution, min_bucket_reso, max_bucket_reso):\n    pass").body[0]
    fn.body = asserts or [ast.Pass()]
    exec(compile(ast.fix_missing_locations(ast.Module(body=[fn], type_ignores=[])), f"{tag}:DreamBoothDataset", "exec"), ns)
    ns["has_adjust"] = "adjust_min_max_bucket_reso_by_steps" in methods
    ns["log"] = log
    return ns


def _err(e):
    return {"error": type(e).__name__, "message": str(e)}


def real_dataset_setup(ns, setting, no_upscale):
    """DreamBoothDataset.__init__ (bucket part) + make_buckets up to the image loop.
    Returns (manager or None, {"min","max","warnings"} or error dict)."""
    w, h, mn, mx, st = setting
    log = ns["log"]
    log.records.clear()
    try:
        if ns["has_adjust"]:
            mn, mx = ns["adjust_min_max_bucket_reso_by_steps"](None, (w, h), mn, mx, st)
        else:
            ns["db_init_range_asserts"]((w, h), mn, mx)
        bm = ns["BucketManager"](no_upscale, (w, h), mn, mx, st)
        if not no_upscale:
            bm.make_buckets()
    except Exception as e:  # noqa: BLE001
        return None, _err(e)
    warns = [m for lvl, m in log.records if lvl == "warning"]
    return bm, {"min": mn, "max": mx, "warnings": warns}


def real_select(bm, size):
    try:
        reso, _, _ = bm.select_bucket(*size)
        return [int(reso[0]), int(reso[1])]
    except Exception as e:  # noqa: BLE001
        return _err(e)


def tie_sizes(resos):
    """Image sizes whose aspect is the exact midpoint of two neighbouring bucket aspects."""
    out = []
    rs = sorted(set(resos), key=lambda r: r[0] / r[1] if r[1] else 1e9)
    for (w1, h1), (w2, h2) in zip(rs, rs[1:]):
        if not h1 or not h2:
            continue
        num, den = w1 * h2 + w2 * h1, 2 * h1 * h2
        g = math.gcd(num, den)
        num, den = num // g, den // g
        k = max(1, 600 // max(num, den))
        out.append((num * k, den * k))
    return out


def sizes_for(setting, resos, rng, n_random, compact=False):
    w, h, mn, mx, st = setting
    area = w * h
    fixed = [(1, 5000), (5000, 1), (1, 1), (8, 8), (64, 64), (4000, 3000), (3000, 4000), (512, 512),
             (768, 512), (512, 768), (1024, 1024), (640, 480), (300, 900), (1920, 1080), (1080, 1920),
             (w, h), (h, w), (w + 1, h), (st - 1 if st and st > 1 else 1, 700), (700, st - 1 if st and st > 1 else 1),
             (10, 3000), (3000, 10), (st or 1, 5000), (int(math.isqrt(area)), int(math.isqrt(area)) + 1)]
    k = 3 if compact else 6
    fixed += [tuple(r) for r in resos[:k]] + [(r[0] * 3, r[1] * 3) for r in resos[-k:]]
    fixed += tie_sizes(resos)[:: 2 if compact else 1][: 8 if compact else 40]
    rnd = []
    for _ in range(n_random):
        kind = rng.random()
        if kind < 0.5:
            rnd.append((rng.randint(1, 5000), rng.randint(1, 5000)))
        elif kind < 0.8:
            s = rng.randint(200, 4000)
            ar = math.exp(rng.uniform(-1.5, 1.5))
            rnd.append((max(1, int(s * ar)), s))
        else:
            rnd.append((rng.randint(16, 1200), rng.randint(16, 1200)))
    return fixed + rnd


def build(repo, n_random, seed):
    rng = random.Random(seed)
    out = {"generated_by": "tools/gen_bucket_fixtures.py", "repo_tags": {}, "profiles": {}}
    reals = {p: load_real(repo, t) for p, t in TAGS.items()}
    for p, t in TAGS.items():
        out["repo_tags"][p] = subprocess.run(["git", f"--git-dir={repo}", "rev-parse", f"{t}^{{commit}}"],
                                             capture_output=True, text=True, check=True).stdout.strip()
    for p, ns in reals.items():
        prof = {"lists": [], "assign": [], "datasets": [], "verify_steps": []}
        for s in SETTINGS + LIST_ONLY_SETTINGS:
            try:
                lst = ns["make_bucket_resolutions"]((s[0], s[1]), s[2], s[3], s[4])
                prof["lists"].append({"setting": list(s), "resos": [list(r) for r in lst]})
            except Exception as e:  # noqa: BLE001
                prof["lists"].append({"setting": list(s), **_err(e)})
        for s in SETTINGS:
            for no_up in (False, True):
                bm, info = real_dataset_setup(ns, s, no_up)
                case = {"setting": list(s), "no_upscale": no_up, "setup": info}
                if bm is not None:
                    resos = list(getattr(bm, "predefined_resos", [])) or [(s[0], s[1])]
                    sizes = sizes_for(s, resos, rng, n_random, compact=True)
                    case["sizes"] = [list(z) for z in sizes]
                    case["expected"] = [real_select(bm, z) for z in sizes]
                prof["assign"].append(case)
        # enable_bucket = false: the make_buckets else-branch
        for s in SETTINGS[:3] + [(512, 768, 256, 1024, 64)]:
            bm = ns["BucketManager"](False, (s[0], s[1]), None, None, None)
            bm.set_predefined_resos([(s[0], s[1])])
            sizes = [(1, 5000), (512, 512), (4000, 3000), (333, 999), (s[0], s[1])]
            prof["assign"].append({"setting": list(s), "enable_bucket": False, "no_upscale": False,
                                   "setup": {"min": None, "max": None, "warnings": []},
                                   "sizes": [list(z) for z in sizes], "expected": [real_select(bm, z) for z in sizes]})
        # whole BaseDataset.make_buckets runs: bucket counts and len(dataset)
        ds_cases = [("section_2_6", (512, 512, 256, 1024, 64), 2,
                     [(512, 512)] * 3 + [(1024, 1024)] * 2 + [(768, 512)] * 5 + [(512, 768)]
                     + [(640, 480)] * 4 + [(300, 900)], [2] * 16)]
        for i in range(6):
            s = SETTINGS[i]
            n = rng.randint(5, 40)
            ds_cases.append((f"random_{i}", s, rng.randint(1, 6),
                             [(rng.randint(200, 3000), rng.randint(200, 3000)) for _ in range(n)],
                             [rng.randint(1, 10) for _ in range(n)]))
        for name, s, bs, sizes, reps in ds_cases:
            for enable, no_up in ((True, False), (True, True), (False, False)):
                prof["datasets"].append({"name": name, "setting": list(s), "batch_size": bs, "enable_bucket": enable,
                                         "no_upscale": no_up, "sizes": [list(z) for z in sizes], "repeats": reps,
                                         **real_make_buckets(ns, s, bs, sizes, reps, enable, no_up)})
        if "verify_bucket_reso_steps" in ns:
            for steps in (None, 8, 16, 24, 32, 48, 64, 96, 128):
                for min_steps in (8, 16, 32, 64):
                    fake = types.SimpleNamespace(bucket_reso_steps=steps)
                    try:
                        ns["verify_bucket_reso_steps"](fake, min_steps)
                        r = None
                    except AssertionError as e:
                        r = str(e)
                    prof["verify_steps"].append([steps, min_steps, r])
        out["profiles"][p] = prof
    return out, reals


def real_make_buckets(ns, s, bs, sizes, reps, enable, no_up):
    w, h, mn, mx, st = s
    if enable and ns["has_adjust"]:  # DreamBoothDataset.__init__, v0.9.0+
        mn, mx = ns["adjust_min_max_bucket_reso_by_steps"](None, (w, h), mn, mx, st)
    elif enable:  # DreamBoothDataset.__init__, older
        ns["db_init_range_asserts"]((w, h), mn, mx)
    Info = types.SimpleNamespace
    fake = types.SimpleNamespace(
        image_data={str(i): Info(image_key=str(i), image_size=z, num_repeats=r, absolute_path=str(i))
                    for i, (z, r) in enumerate(zip(sizes, reps))},
        enable_bucket=enable, bucket_manager=None, bucket_no_upscale=no_up, width=w, height=h,
        min_bucket_reso=mn if enable else None, max_bucket_reso=mx if enable else None,
        bucket_reso_steps=st if enable else None, batch_size=bs, shuffle_buckets=lambda: None)
    ns["make_buckets"](fake)
    counts = [[list(r), len(b)] for r, b in zip(fake.bucket_manager.resos, fake.bucket_manager.buckets) if len(b)]
    return {"bucket_counts": counts, "length": fake._length}


def check(reals, n, seed):
    """Compare kohya_tune.buckets with the real code on n random sizes per setting/mode/profile."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from kohya_tune.engine import buckets as kb
    rng = random.Random(seed)
    total = bad = 0
    for p, ns in reals.items():
        algo = kb.PROFILES[p].list_algorithm
        for s in SETTINGS + LIST_ONLY_SETTINGS:
            try:
                real = [tuple(r) for r in ns["make_bucket_resolutions"]((s[0], s[1]), s[2], s[3], s[4])]
            except Exception as e:  # noqa: BLE001
                real = type(e).__name__ + ": " + str(e)
            try:
                mine = kb.make_bucket_resolutions((s[0], s[1]), s[2], s[3], s[4], algorithm=algo)
            except kb.BucketError as e:
                mine = e.trainer_exception + ": " + str(e)
            total += 1
            if real != mine:
                bad += 1
                print("LIST MISMATCH", p, s, real, mine)
        for s in SETTINGS:
            for no_up in (False, True):
                bm, info = real_dataset_setup(ns, s, no_up)
                try:
                    a = kb.BucketAssigner((s[0], s[1]), True, no_up, s[2], s[3], s[4], profile=p)
                    mine_setup = None
                except kb.BucketError as e:
                    a, mine_setup = None, {"error": e.trainer_exception, "message": str(e)}
                if a is not None:
                    mine_setup = {"min": a.min_size, "max": a.max_size, "warnings": a.adjust_warnings}
                total += 1
                if (bm is None) != (a is None) or info != mine_setup:
                    bad += 1
                    print("SETUP MISMATCH", p, s, no_up, info, mine_setup)
                    continue
                if bm is None:
                    continue
                resos = list(getattr(bm, "predefined_resos", [])) or [(s[0], s[1])]
                for z in sizes_for(s, resos, rng, n):
                    r = real_select(bm, z)
                    try:
                        m = list(a.bucket_for(*z))
                    except kb.BucketError as e:
                        m = {"error": e.trainer_exception, "message": str(e)}
                    total += 1
                    if r != m:
                        bad += 1
                        if bad < 30:
                            print("ASSIGN MISMATCH", p, s, no_up, z, r, m)
        # random settings (resolution, min, max, steps), both modes
        for i in range(n // 5):
            st = rng.choice((8, 16, 32, 64, 64, 64, 128, 7, 50))
            s = (rng.randint(1, 40) * rng.choice((st, 8, 1)), rng.randint(1, 40) * rng.choice((st, 8, 1)),
                 rng.randint(1, 1024), rng.randint(256, 4096), st)
            for no_up in (False, True):
                bm, info = real_dataset_setup(ns, s, no_up)
                try:
                    a = kb.BucketAssigner((s[0], s[1]), True, no_up, s[2], s[3], s[4], profile=p)
                    mine_setup = {"min": a.min_size, "max": a.max_size, "warnings": a.adjust_warnings}
                except kb.BucketError as e:
                    a, mine_setup = None, {"error": e.trainer_exception, "message": str(e)}
                total += 1
                if info != mine_setup:
                    bad += 1
                    print("RANDOM SETUP MISMATCH", p, s, no_up, info, mine_setup)
                    continue
                if bm is None:
                    continue
                for _ in range(20):
                    z = (rng.randint(1, 6000), rng.randint(1, 6000))
                    r = real_select(bm, z)
                    try:
                        m = list(a.bucket_for(*z))
                    except kb.BucketError as e:
                        m = {"error": e.trainer_exception, "message": str(e)}
                    total += 1
                    if r != m:
                        bad += 1
                        print("RANDOM ASSIGN MISMATCH", p, s, no_up, z, r, m)
        # whole datasets through the real BaseDataset.make_buckets
        for i in range(n // 10):
            s = rng.choice(SETTINGS)
            enable, no_up = rng.choice(((True, False), (True, True), (False, False)))
            m = rng.randint(1, 60)
            sizes = [(rng.randint(64, 4000), rng.randint(64, 4000)) for _ in range(m)]
            reps = [rng.randint(1, 10) for _ in range(m)]
            bs = rng.randint(1, 8)
            try:
                real = real_make_buckets(ns, s, bs, sizes, reps, enable, no_up)
            except Exception as e:  # noqa: BLE001
                real = type(e).__name__
            try:
                a = kb.BucketAssigner((s[0], s[1]), enable, no_up, s[2], s[3], s[4], profile=p)
                cnt = a.count(zip(sizes, reps))
                mine = {"bucket_counts": [[list(k), v] for k, v in cnt.items()], "length": a.batches(zip(sizes, reps), bs)}
            except kb.BucketError as e:
                mine = e.trainer_exception
            total += 1
            if real != mine:
                bad += 1
                print("DATASET MISMATCH", p, s, enable, no_up, real, mine)
    print(f"checked {total} cases, {bad} mismatches")
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", default="/work/.mirror/kohya-ss+sd-scripts/repo")
    ap.add_argument("--out", default=None)
    ap.add_argument("--random-per-setting", type=int, default=4)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--check", type=int, default=0, metavar="N",
                    help="also compare kohya_tune.buckets with the real code on N random sizes per setting")
    a = ap.parse_args()
    data, reals = build(a.repo, a.random_per_setting, a.seed)
    if a.out:
        txt = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        Path(a.out).write_text(txt + "\n", encoding="utf-8")
        print(f"wrote {a.out}: {len(txt)} bytes")
    if a.check:
        sys.exit(1 if check(reals, a.check, a.seed + 1) else 0)


if __name__ == "__main__":
    main()
