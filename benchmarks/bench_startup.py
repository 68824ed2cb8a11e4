"""Benchmark: start-up of `kohya-tune --version` and `kohya-tune lint ONE_FILE.json`, as ratios
against baselines measured in the same run.

    python benchmarks/bench_startup.py [--runs 15] [--config sample_configs/lora_gui.json]
                                       [--kohya-tune PATH] [--check-jsonschema PATH] [--no-bytecode]

Goals (issues 8 and 11.7): `kohya-tune --version` <= 3x `python -c pass` (the same interpreter);
`kohya-tune lint FILE` <= 0.4x `check-jsonschema --schemafile schemas/gui-lora.schema.json FILE`
(the same file; check-jsonschema is a peer tool that only validates the schema, installed
separately: it is no dependency of kohya-tune; without it that ratio is skipped).

Every command runs as its own process, all of them in turn, --runs times after one warm-up each;
the times are medians. By default compiled bytecode is cached (as in an installed package, in a
private temporary folder, on both sides); --no-bytecode measures every module compiled at each
start instead. The section "bench_startup" of benchmarks/RESULTS.md is rewritten ("-other-install"
with --kohya-tune, "-no-bytecode" with --no-bytecode).

--kohya-tune names the script of another installation, e.g. a regular (not editable) install in
a scratch venv: an editable install adds its import hook to every start of its interpreter (both
`python -c pass` and kohya-tune pay it, check-jsonschema does not). `python -c pass` is then run
with that installation's interpreter.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from _results import HERE, child_env, interleaved, machine_note, run_once, write_section

ROOT = HERE.parent


def console_script(name: str) -> list:
    """The installed script next to this interpreter (what a user runs), else `python -m`."""
    for folder in (Path(sys.executable).parent,):
        for candidate in (folder / name, folder / f"{name}.exe"):
            if candidate.exists():
                return [str(candidate)]
    return [sys.executable, "-m", name.replace("-", "_")]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--config", default="sample_configs/lora_gui.json")
    parser.add_argument("--schema", default="schemas/gui-lora.schema.json")
    parser.add_argument("--kohya-tune", default=None,
                        help="the kohya-tune script to measure (default: next to this interpreter)")
    parser.add_argument("--check-jsonschema", default=None,
                        help="the check-jsonschema program (default: found on PATH)")
    parser.add_argument("--no-bytecode", action="store_true")
    args = parser.parse_args()
    env = child_env(bytecode=not args.no_bytecode)
    config = str((ROOT / args.config).resolve())
    schema = str((ROOT / args.schema).resolve())
    kt = [str(Path(args.kohya_tune).absolute())] if args.kohya_tune else console_script("kohya-tune")
    python = sys.executable
    if args.kohya_tune:
        python = str(Path(args.kohya_tune).absolute().parent / Path(sys.executable).name)
    cjs = args.check_jsonschema or shutil.which("check-jsonschema")
    note = machine_note()

    subjects = [
        ("`python -c pass`", [python, "-c", "pass"], (0,)),
        ("`kohya-tune --version`", kt + ["--version"], (0,)),
        ("`python -m kohya_tune --version`", [python, "-m", "kohya_tune", "--version"], (0,)),
        (f"`kohya-tune lint {args.config}`", kt + ["lint", config], (0, 1)),
    ]
    if cjs:
        subjects.append((f"`check-jsonschema --schemafile {args.schema} {args.config}`",
                         [cjs, "--schemafile", schema, config], (0, 1)))
    fns = [lambda cmd=cmd, ok=ok: run_once(cmd, env, cwd=ROOT, ok=ok) for _, cmd, ok in subjects]
    medians = interleaved(fns, args.runs)
    t = dict(zip([s[0] for s in subjects], medians))
    base = medians[0]
    version_ratio = medians.ratio(1, 0)
    lines = [
        f"## Start-up, {'the installation given with --kohya-tune' if args.kohya_tune else 'this checkout'} "
        f"({time.strftime('%Y-%m-%d %H:%M')}, `benchmarks/bench_startup.py`)",
        "",
        f"- machine: {note}",
        f"- median of {args.runs} runs of each command, interleaved, after one warm-up each (the "
        f"ratios in bold: median of the per-round ratios); "
        f"bytecode {'not cached (compiled at every start)' if args.no_bytecode else 'cached (as installed)'}",
        f"- kohya-tune: {' '.join(kt)} (Python: {python})",
        "",
        "| command | median s | ratio |",
        "| --- | --- | --- |",
    ]
    for i, (label, _, _) in enumerate(subjects):
        lines.append(f"| {label} | {medians[i]:.3f} | {medians.ratio(i, 0):.2f}x `python -c pass` |")
    lines += ["", f"- `kohya-tune --version` / `python -c pass`: **{version_ratio:.2f}** (goal <= 3)"]
    if cjs:
        lint_ratio = medians.ratio(3, 4)
        lines.append(f"- `kohya-tune lint` / `check-jsonschema` on the same file: **{lint_ratio:.2f}** "
                     f"(goal <= 0.4)")
    else:
        lines.append("- check-jsonschema is not installed here (not on PATH, no --check-jsonschema): "
                     "the lint ratio was skipped")
    write_section("bench_startup" + ("-other-install" if args.kohya_tune else "")
                  + ("-no-bytecode" if args.no_bytecode else ""), lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
