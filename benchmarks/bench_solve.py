"""Benchmark: `solve` for targets from 1 to 10**15 epochs and steps, against `steps` on the same
config, measured in the same run (library calls, no interpreter start-up).

    python benchmarks/bench_solve.py [--images 200] [--repeat 3] [--out benchmarks/results-solve.md]

Goal (issue 10): no linear loop over epochs or steps, so the time of a solve does not grow with
the target: every row should be a small constant ratio of one `steps` computation (the solve
reads the file back and scans the dataset again before it would write, so about 2-4x).

The config is a GUI v24.1.7 LoRA JSON over a generated dataset (valid PNG headers, captions) in a
temporary folder; `solve` uses its default setting (`epoch` for an epoch target, then the
fallbacks) and `--diff` semantics (nothing is written).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from helpers import make_images  # noqa: E402

from kohya_tune.edit import solve  # noqa: E402
from kohya_tune.engine import normalize, steps  # noqa: E402
from kohya_tune.engine.plan import Settings  # noqa: E402
from kohya_tune.load import documents  # noqa: E402

TARGETS = [1, 7, 333, 10 ** 6, 10 ** 9, 10 ** 12, 10 ** 15]


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results-solve.md")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_images(root / "img" / "10_tok", [[512, 512, opts.images // 2], [768, 512, opts.images - opts.images // 2]])
        config = root / "config.json"
        config.write_text(json.dumps({
            "LoRA_type": "Standard", "epoch": 4, "gradient_accumulation_steps": 1, "lr_scheduler": "cosine",
            "lr_warmup": 0, "max_resolution": "512,512", "max_train_epochs": 0, "max_train_steps": 0,
            "output_dir": "out", "pretrained_model_name_or_path": "x", "reg_data_dir": "",
            "train_batch_size": 2, "train_data_dir": str(root / "img"), "enable_bucket": True,
            "min_bucket_reso": 256, "max_bucket_reso": 1024, "bucket_reso_steps": 64}, indent=2))
        settings = Settings(gui_version="v24.1.7")

        def run_steps():
            steps.compute(normalize.build_plan(documents.load(str(config)), settings))

        base = best(run_steps, opts.repeat)
        rows = []
        for kind in ("epochs", "steps"):
            for target in TARGETS:
                outcome = {}

                def run_solve():
                    try:
                        s = solve.Solver(documents.load(str(config)), settings)
                        sol = s.solve(kind, target)
                        outcome["what"] = ", ".join(f"{k}={v}" for k, _, v, _ in sol.changes) or "on target"
                        outcome["sims"] = len(s._outcomes)
                    except solve.SolveError as exc:
                        outcome["what"] = "refused: " + exc.message[:60]
                        outcome["sims"] = 0

                t = best(run_solve, opts.repeat)
                rows.append((kind, target, t, t / base, outcome["sims"], outcome["what"]))
    lines = [f"# solve vs steps ({opts.images} images, best of {opts.repeat}, {platform.python_version()})", "",
             f"`steps` (library, one scan): {base * 1000:.1f} ms", "",
             "| target | solve ms | x steps | simulations | edit |", "| --- | --- | --- | --- | --- |"]
    for kind, target, t, ratio, sims, what in rows:
        lines.append(f"| {target} {kind} | {t * 1000:.1f} | {ratio:.2f} | {sims} | {what} |")
    text = "\n".join(lines) + "\n"
    opts.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
