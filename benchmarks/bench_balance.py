"""Benchmark: `kohya-tune balance` against `kohya-tune steps` on the same large dataset, measured
in the same run.

    python benchmarks/bench_balance.py [--images 20000] [--repeat 5] [--out benchmarks/balance_results.md]

What it shows: the plan scans the dataset once (as `steps` does) and takes the outcome after the
new repeats from that scan (`engine.repeats`), so `balance` should cost about one `steps` plus
the search. With a target, `solve` runs on a preview of the renamed folders and scans them
again: about two scans. Concepts of very different sizes (geometric), so the search has work.
The dataset is generated once under benchmarks/data/ (git-ignored).
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_steps import SIZES, interleaved, png  # noqa: E402

HERE = Path(__file__).resolve().parent
FOLDERS = 12


def generate(root: Path, images: int) -> list:
    weights = [2 ** (i / 2) for i in range(FOLDERS)]
    counts = [max(3, round(images * w / sum(weights))) for w in weights]
    marker = root / f".complete-{images}"
    if not marker.exists():
        blobs = [png(w, h) for w, h in SIZES]
        for f, count in enumerate(counts):
            folder = root / "img" / f"{(f % 4) + 2}_concept{f:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                stem = folder / f"{i:06d}"
                stem.with_suffix(".png").write_bytes(blobs[(i * 7 + f) % len(blobs)])
                stem.with_suffix(".txt").write_text("a photo")
        (root / "config.toml").write_text(
            'pretrained_model_name_or_path = "model.safetensors"\n'
            'train_data_dir = "img"\nresolution = "512,512"\nenable_bucket = true\n'
            'caption_extension = ".txt"\ntrain_batch_size = 4\nmax_train_epochs = 10\n')
        marker.write_text("ok")
    return counts


def command(root: Path, *args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "kohya_tune", *args, "config.toml", "--format", "json"],
                          cwd=root, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"kohya-tune {' '.join(args)} failed: {proc.stderr}")


def in_process(root: Path, fn):
    def run():
        cwd = os.getcwd()
        os.chdir(root)
        try:
            fn()
        finally:
            os.chdir(cwd)
    return run


def library_steps() -> None:
    from kohya_tune.engine import normalize, plan, steps
    from kohya_tune.load import documents

    steps.compute(normalize.build_plan(documents.load("config.toml"), plan.Settings()))


def library_balance(target=None):
    def run():
        from kohya_tune.edit import balance
        from kohya_tune.engine import plan
        from kohya_tune.load import documents

        balance.make_plan(documents.load("config.toml"), plan.Settings(),
                          balance.Request(target=target))
    return run


def library_search(counts):
    def run():
        from fractions import Fraction

        from kohya_tune.edit import shares

        concepts = [shares.Concept(n, Fraction(1), (f % 4) + 2) for f, n in enumerate(counts)]
        shares.settle(concepts, Fraction(1, 10))
    return run


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=str(HERE / "balance_results.md"))
    args = parser.parse_args()
    root = HERE / "data" / f"balance-{args.images}"
    start = time.perf_counter()
    counts = generate(root, args.images)
    made = time.perf_counter() - start

    own = interleaved([lambda: command(root, "steps"), lambda: command(root, "balance"),
                       lambda: command(root, "balance", "--target-epochs", "8")], args.repeat)
    lib = interleaved([in_process(root, library_steps), in_process(root, library_balance()),
                       in_process(root, library_balance(("epochs", 8))),
                       library_search(counts)], args.repeat)
    lines = [
        f"# kohya-tune balance benchmark ({time.strftime('%Y-%m-%d %H:%M')})",
        "",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        f"- dataset: {sum(counts)} PNG images in {FOLDERS} folders of very different sizes "
        f"({min(counts)} to {max(counts)} images), 12 sizes, a caption each (generated in "
        f"{made:.1f} s); best of {args.repeat} runs after a warm-up, the sides in turn",
        "",
        "| command (own process) | seconds | ratio to steps |",
        "| --- | --- | --- |",
        f"| `kohya-tune steps config.toml --format json` | {own[0]:.3f} | 1.00 |",
        f"| `kohya-tune balance config.toml --format json` | {own[1]:.3f} | **{own[1] / own[0]:.2f}** |",
        f"| `kohya-tune balance config.toml --target-epochs 8 --format json` | {own[2]:.3f} | **{own[2] / own[0]:.2f}** |",
        "",
        "| in this process | seconds | ratio to steps |",
        "| --- | --- | --- |",
        f"| library: `steps.compute(...)` | {lib[0]:.3f} | 1.00 |",
        f"| library: `balance.make_plan(...)` | {lib[1]:.3f} | **{lib[1] / lib[0]:.2f}** |",
        f"| library: `balance.make_plan(...)` with a target | {lib[2]:.3f} | **{lib[2] / lib[0]:.2f}** |",
        f"| the share search alone (`shares.settle`, {FOLDERS} concepts) | {lib[3]:.3f} | {lib[3] / lib[0]:.2f} |",
        "",
        "`balance` scans once and takes the outcome after the new repeats from that scan; the rest",
        "of its cost over `steps` is the search and the alphabetical-order check of `steps`' own",
        "report. With a target, `solve` reads the renamed state through a preview folder of links:",
        "a second scan.",
    ]
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
