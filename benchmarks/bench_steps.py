"""Benchmark: `kohya-tune steps` and `kohya-tune lint` on a large dataset against a bare loop that
lists the same folders and reads each image header with imagesize, measured in the same run.

    python benchmarks/bench_steps.py [--images 24000] [--runs 7] [--no-bytecode]

Goals (issue 21): `steps` as a whole command <= 1.5x the bare loop in its own process with a
cold size cache, <= 0.5x with a warm one; `lint` <= 1.1x `steps` on the same config (the rules
read the scan `steps` makes, they do not scan again). The cache is put in a scratch folder, never
the user's.

The dataset is generated once under benchmarks/data/ (git-ignored): valid PNG files of mixed
sizes in N_name folders, each with a caption. Times are medians of --runs runs, all commands in
turn after one warm-up run of each, so both sides read from the page cache and a slow moment of
the shared machine falls on every side. `steps` runs as a subprocess (what a user runs,
interpreter start-up included), with compiled bytecode cached as in an installed package (on
both sides; --no-bytecode compiles at every start instead). The section "bench_steps" of
benchmarks/RESULTS.md is rewritten.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

import imagesize

from _results import HERE, Timings, child_env, interleaved, machine_note, run_once, timed, write_section

ENV = child_env(bytecode=True)
SIZES = [(512, 512), (768, 512), (512, 768), (640, 480), (480, 640), (1024, 1024), (1920, 1080),
         (1080, 1920), (300, 900), (1200, 800), (832, 1216), (4000, 3000)]


def png(width: int, height: int) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    # a 1x1 image body is enough for a valid file; the header carries the size that matters
    raw = b"\x00\x80\x80\x80"
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def generate(root: Path, images: int, folders: int = 10) -> None:
    marker = root / f".complete-{images}"
    if marker.exists():
        return
    blobs = [png(w, h) for w, h in SIZES]
    per = images // folders
    for f in range(folders):
        folder = root / "img" / f"{f % 5 + 1}_subject{f}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per):
            stem = folder / f"{i:06d}"
            (stem.with_suffix(".png")).write_bytes(blobs[(i * 7 + f) % len(blobs)])
            (stem.with_suffix(".txt")).write_text("a photo of subject")
    (root / "config.toml").write_text(
        'pretrained_model_name_or_path = "runwayml/stable-diffusion-v1-5"\n'
        'train_data_dir = "img"\nresolution = "512,512"\nenable_bucket = true\n'
        'caption_extension = ".txt"\ntrain_batch_size = 4\nmax_train_epochs = 10\n')
    marker.write_text("ok")


def bare_loop(root: Path) -> int:
    """What any tool must do at least: list the folders, read every header."""
    total = 0
    base = root / "img"
    for sub in os.listdir(base):
        folder = os.path.join(base, sub)
        for name in os.listdir(folder):
            if name.endswith(".png"):
                w, h = imagesize.get(os.path.join(folder, name))
                total += w > 0
    return total


def cache_env(cache: Path | None, before: str | None = None) -> dict:
    """The child environment with the size cache in `cache` (None: --no-cache's environment
    switch); `before`: a source tree put ahead of the installed package (PYTHONPATH)."""
    env = dict(ENV)
    if before:
        env["PYTHONPATH"] = before
    env.pop("KOHYA_TUNE_NO_CACHE", None)
    if cache is None:
        env["KOHYA_TUNE_NO_CACHE"] = "1"
    else:
        env["KOHYA_TUNE_CACHE_DIR"] = str(cache)
    return env


def run_steps(root: Path, cache: Path | None, cold: bool = False, before: str | None = None) -> float:
    if cold:
        shutil.rmtree(cache, ignore_errors=True)  # before the clock starts
    return run_once([sys.executable, "-m", "kohya_tune", "steps", "config.toml", "--format", "json"],
                    cache_env(cache, before), cwd=root)


def run_lint(root: Path, cache: Path | None, cold: bool = False, before: str | None = None) -> float:
    if cold:
        shutil.rmtree(cache, ignore_errors=True)
    return run_once([sys.executable, "-m", "kohya_tune", "lint", "config.toml"],
                    cache_env(cache, before), cwd=root, ok=(0, 1))


def library_steps(root: Path) -> None:
    """The same computation through the library API, in this process (no interpreter start-up)."""
    from kohya_tune.load import documents
    from kohya_tune.engine import normalize, plan, steps

    cwd = os.getcwd()
    os.chdir(root)
    try:
        steps.compute(normalize.build_plan(documents.load("config.toml"), plan.Settings()))
    finally:
        os.chdir(cwd)


def bare_loop_process(root: Path) -> float:
    """The bare loop in its own interpreter too, so start-up cost is on both sides."""
    code = ("import os, imagesize\nbase='img'\n"
            "for sub in os.listdir(base):\n f=os.path.join(base,sub)\n"
            " for n in os.listdir(f):\n  n.endswith('.png') and imagesize.get(os.path.join(f,n))\n")
    return run_once([sys.executable, "-c", code], ENV, cwd=root)


def floor_process(root: Path) -> float:
    """What a warm run cannot go below: list the folders and stat every image (is it the file
    whose size is cached?) and every caption (is it empty?), in its own interpreter."""
    code = ("import os\nbase='img'\n"
            "for sub in os.listdir(base):\n f=os.path.join(base,sub)\n"
            " for n in os.listdir(f):\n  os.stat(os.path.join(f,n))\n")
    return run_once([sys.executable, "-c", code], ENV, cwd=root)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=24000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-bytecode", action="store_true")
    parser.add_argument("--before", metavar="DIR",
                        help="also time steps and lint of another source tree (a folder holding a "
                             "kohya_tune package, e.g. `git archive REV kohya_tune schemas`)")
    args = parser.parse_args()
    if args.no_bytecode:
        ENV.clear()
        ENV.update(child_env(bytecode=False))
    note = machine_note()
    root = HERE / "data" / f"n{args.images}"
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    generate(root, args.images)
    gen = time.perf_counter() - t0
    # the cache stores no file changed less than RACY_NS ago: a fresh dataset waits that long
    from kohya_tune.engine import size_cache

    newest = max(os.stat(root / "img" / d).st_mtime_ns for d in os.listdir(root / "img"))
    time.sleep(max(0.0, (newest + size_cache.RACY_NS - time.time_ns()) / 1e9 + 0.1))
    scratch = Path(tempfile.mkdtemp(prefix="kohya-tune-bench-cache-"))
    warm, cold = scratch / "warm", scratch / "cold"
    os.environ["KOHYA_TUNE_CACHE_DIR"] = str(warm)  # the in-process library run: warm, never the user's
    os.environ.pop("KOHYA_TUNE_NO_CACHE", None)
    try:
        cpu_rounds: list = [[] for _ in range(10)]

        def with_cpu(i, fn):
            """fn (a child process run) with the CPU time the child used recorded too."""
            def run():
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                wall = fn()
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu_rounds[i].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
                return wall
            return run

        timings = interleaved(
            [with_cpu(0, lambda: bare_loop_process(root)),
             with_cpu(1, lambda: floor_process(root)),
             with_cpu(2, lambda: run_steps(root, None)),              # --no-cache (environment)
             with_cpu(3, lambda: run_steps(root, cold, cold=True)),
             with_cpu(4, lambda: run_steps(root, warm)),
             with_cpu(5, lambda: run_lint(root, None)),
             with_cpu(6, lambda: run_lint(root, cold, cold=True)),
             with_cpu(7, lambda: run_lint(root, warm)),
             timed(lambda: bare_loop(root)),                          # 8: in this process
             timed(lambda: library_steps(root))]                      # 9: in this process, warm
            + ([with_cpu(8, lambda: run_steps(root, None, before=args.before)),   # 10
                with_cpu(9, lambda: run_lint(root, None, before=args.before))]    # 11
               if args.before else []), args.runs)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    r = timings.ratio  # median of the per-round ratios
    t = timings
    cpu = Timings([rounds[1:] or [0.0] for rounds in cpu_rounds])  # without the warm-up run
    c = cpu.ratio
    import kohya_tune

    lines = [
        f"## steps and lint on {args.images} images ({time.strftime('%Y-%m-%d %H:%M')}, "
        f"`benchmarks/bench_steps.py`)",
        "",
        f"- machine: {note}",
        f"- kohya-tune from {Path(kohya_tune.__file__).parent}",
        f"- dataset: {args.images} PNG images in 10 folders, {len(SIZES)} sizes, a caption each "
        f"(generated in {gen:.1f} s); median of {args.runs} runs of each, interleaved, after a "
        f"warm-up (ratios: median of the per-round ratios); bytecode "
        f"{'compiled at every start' if args.no_bytecode else 'cached (as installed)'}",
        "- size cache: *cold* = an empty cache folder before each run (the run reads every header "
        "and writes the cache), *warm* = the cache the previous run left, *off* = "
        "`KOHYA_TUNE_NO_CACHE=1` (as `--no-cache`)",
        "",
        "| what (each in its own process) | wall s | ratio to bare loop | CPU s | CPU ratio |",
        "| --- | --- | --- | --- | --- |",
        f"| bare loop: listdir + imagesize.get | {t[0]:.3f} | 1.00 | {cpu[0]:.3f} | 1.00 |",
        f"| floor of a warm run: listdir + one stat per image and per caption | {t[1]:.3f} | "
        f"{r(1, 0):.2f} | {cpu[1]:.3f} | {c(1, 0):.2f} |",
        f"| `kohya-tune steps config.toml --format json`, cache off | {t[2]:.3f} | {r(2, 0):.2f} | "
        f"{cpu[2]:.3f} | {c(2, 0):.2f} |",
        f"| `kohya-tune steps ...`, cold cache | {t[3]:.3f} | **{r(3, 0):.2f}** (goal <= 1.5) | "
        f"{cpu[3]:.3f} | {c(3, 0):.2f} |",
        f"| `kohya-tune steps ...`, warm cache | {t[4]:.3f} | **{r(4, 0):.2f}** (goal <= 0.5) | "
        f"{cpu[4]:.3f} | {c(4, 0):.2f} |",
        f"| `kohya-tune lint config.toml`, cache off | {t[5]:.3f} | {r(5, 0):.2f} | {cpu[5]:.3f} | {c(5, 0):.2f} |",
        f"| `kohya-tune lint ...`, cold cache | {t[6]:.3f} | {r(6, 0):.2f} | {cpu[6]:.3f} | {c(6, 0):.2f} |",
        f"| `kohya-tune lint ...`, warm cache | {t[7]:.3f} | {r(7, 0):.2f} | {cpu[7]:.3f} | {c(7, 0):.2f} |",
        *([f"| before ({args.before}): `kohya-tune steps ...` | {t[10]:.3f} | {r(10, 0):.2f} | "
           f"{cpu[8]:.3f} | {c(8, 0):.2f} |",
           f"| before: `kohya-tune lint ...` | {t[11]:.3f} | {r(11, 0):.2f} | {cpu[9]:.3f} | "
           f"{c(9, 0):.2f} |"] if args.before else []),
        "",
        f"`lint` / `steps` on the same config (goal <= 1.1), wall (CPU): cache off **{r(5, 2):.2f}** "
        f"({c(5, 2):.2f}), cold **{r(6, 3):.2f}** ({c(6, 3):.2f}), warm **{r(7, 4):.2f}** ({c(7, 4):.2f}).",
        "",
        "CPU = user + system time of the child process: on a machine other jobs share, the wall "
        "time also counts the waits for a core, the CPU time much less so.",
        "",
        "| in this process (no interpreter start-up on either side) | seconds | ratio |",
        "| --- | --- | --- |",
        f"| bare loop | {t[8]:.3f} | 1.00 |",
        f"| library: `steps.compute(normalize.build_plan(documents.load(...)))`, warm cache "
        f"| {t[9]:.3f} | **{r(9, 8):.2f}** |",
        "",
        "The commands pay a fixed start-up (Python, typer, the package) that the bare loop does "
        "not. `steps` does more than the bare loop: it also checks every caption file the trainer "
        "reads (an empty one aborts training), assigns buckets and writes the report. A warm run "
        "still stats every image (to know it is the file whose size is cached) and every caption.",
    ]
    write_section("bench_steps" + ("-no-bytecode" if args.no_bytecode else ""), lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
