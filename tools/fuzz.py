"""A long fuzz run: hostile configs (sd-scripts, kohya_ss GUI and musubi-tuner) through lint, steps,
solve --diff, schedule (text, JSON, every --plot format) and balance (plan, --diff, --check, JSON,
then --apply and --undo on a copy of the dataset, which must come back byte for byte) until the
budget is spent.

    .venv/bin/python tools/fuzz.py --budget 600            # ten minutes, every generator
    .venv/bin/python tools/fuzz.py --budget 60 --only mutated --seed 7 --save findings/
    .venv/bin/python tools/fuzz.py --budget 300 --only balance

The generators and the checks are those of tests/fuzzing.py (CI runs a bounded form of the same,
tests/test_fuzz.py). Failures (exit 3, an escaping exception, a command over 10 s) are grouped by
the innermost kohya_tune frame; with --save each group's smallest input is written to a folder.
Exit 1 if anything failed.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hypothesis import HealthCheck, Phase, given, seed as hseed, settings  # noqa: E402

import fuzzing  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=300, help="seconds to run (default 300)")
    parser.add_argument("--only", choices=["structured", "generated", "mutated", "musubi_structured",
                                           "musubi_generated", "musubi_mutated", "balance"], action="append",
                        help="generators to use (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="first hypothesis seed (default 0)")
    parser.add_argument("--batch", type=int, default=50, help="examples per hypothesis round")
    parser.add_argument("--save", type=Path, help="folder for one input per failure group")
    parser.add_argument("--commands", choices=["all", "fast"], default="all",
                        help="fast: lint, steps and one solve only")
    opts = parser.parse_args()
    generators = opts.only or ["structured", "generated", "mutated", "musubi_structured", "musubi_generated",
                               "musubi_mutated", "balance"]
    commands = fuzzing.COMMANDS if opts.commands == "all" else [
        ("lint",), ("steps",), ("solve", "--diff", "--target-epochs", "7"), ("schedule",)]

    groups: dict = {}
    count = 0
    deadline = time.monotonic() + opts.budget
    with tempfile.TemporaryDirectory(prefix="kohya-fuzz-") as tmp:
        root = Path(tmp)
        workspace = fuzzing.make_workspace(root / "ws")
        musubi_ws = fuzzing.make_musubi_workspace(root / "musubi_ws")
        work = root / "run"
        work.mkdir()
        strategies = {"structured": fuzzing.structured(workspace), "generated": fuzzing.generated(workspace),
                      "mutated": fuzzing.mutated(), "musubi_structured": fuzzing.musubi_structured(musubi_ws),
                      "musubi_generated": fuzzing.musubi_generated(musubi_ws),
                      "musubi_mutated": fuzzing.musubi_mutated(musubi_ws),
                      "balance": fuzzing.balance_inputs(workspace)}
        commands_run: dict = {}
        round_no = opts.seed
        with fuzzing.in_workdir(work):
            while time.monotonic() < deadline:
                name = generators[round_no % len(generators)]

                @settings(max_examples=opts.batch, deadline=None, database=None,
                          phases=[Phase.generate], suppress_health_check=list(HealthCheck))
                @hseed(round_no)
                @given(strategies[name])
                def one(example):
                    nonlocal count
                    if time.monotonic() >= deadline:
                        return
                    count += 1
                    if name == "balance":
                        found = fuzzing.run_balance(work, root / "ws", example)
                        commands_run[name] = commands_run.get(name, 0) + len(fuzzing.BALANCE_MODES) + 2
                    else:
                        file_name, content, origin = example[:3]
                        # a musubi input carries its training script and process count
                        cmds = fuzzing.musubi_commands(*example[3:], full=opts.commands == "all") \
                            if len(example) > 3 else commands
                        found = fuzzing.run_one(work, file_name, content, origin, cmds)
                        commands_run[name] = commands_run.get(name, 0) + len(cmds)
                    for failure in found:
                        site = fuzzing.crash_site(failure)
                        known = groups.get(site)
                        if known is None or len(failure.content) < len(known.content):
                            groups[site] = failure
                        if known is None:
                            print(f"[{count}] NEW {site}\n    {' '.join(failure.command)} ({failure.origin})",
                                  flush=True)

                one()
                round_no += 1
    print(f"\n{count} inputs ({sum(commands_run.values())} command runs: "
          + ", ".join(f"{k} {v}" for k, v in sorted(commands_run.items())) + f"), {len(groups)} failure group(s)")
    for site, failure in sorted(groups.items()):
        print(f"\n== {site}\n{failure.describe()}")
    if opts.save and groups:
        opts.save.mkdir(parents=True, exist_ok=True)
        for i, (site, failure) in enumerate(sorted(groups.items())):
            (opts.save / f"{i:03d}-{failure.name}").write_bytes(failure.content)
            (opts.save / f"{i:03d}-{failure.name}.txt").write_text(failure.describe(), encoding="utf-8")
    return 1 if groups else 0


if __name__ == "__main__":
    sys.exit(main())
