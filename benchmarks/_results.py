"""Shared by the benchmarks: run commands interleaved, take medians, write a section of
benchmarks/RESULTS.md (each benchmark owns one section, between its own markers)."""
from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
HEADER = "# Benchmark results\n"


def child_env(bytecode: bool) -> dict:
    """The environment every measured process gets, baseline and subject alike. With
    `bytecode`, compiled modules are cached (as in an installed package) in a private folder,
    whatever PYTHONDONTWRITEBYTECODE this shell has; without, every module is compiled on
    every start on both sides."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPYCACHEPREFIX", None)
    if bytecode:
        env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "kohya-tune-bench-pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_once(cmd, env, cwd=None, ok=(0,)) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(map(str, cmd))} exited {proc.returncode}: "
                         f"{proc.stderr.decode(errors='replace')}")
    return elapsed


class Timings(list):
    """The median time of each function (a list), with every round kept in `.rounds`."""

    def __init__(self, rounds: list):
        super().__init__(statistics.median(t) for t in rounds)
        self.rounds = rounds

    def ratio(self, i: int, j: int) -> float:
        """Median over the rounds of time i / time j, each pair measured one after the other:
        steadier than a ratio of medians when the load of the machine drifts during the run."""
        return statistics.median(a / b for a, b in zip(self.rounds[i], self.rounds[j]))


def interleaved(fns, runs: int) -> Timings:
    """Median time of each function, running them in turn `runs` times after one warm-up each,
    so that a slow moment of the (shared) machine falls on every side alike."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(runs):
        for i, fn in enumerate(fns):
            t = fn()
            if t is None:
                raise AssertionError("a measured function returns its time")
            times[i].append(t)
    return Timings(times)


def timed(fn):
    """A function made to return its own wall time."""
    def run():
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    return run


def machine_note() -> str:
    return (f"{platform.machine()}, {os.cpu_count()} cores shared with other users (load average "
            f"{os.getloadavg()[0]:.1f} at the start), Python {platform.python_version()}")


def write_section(name: str, lines: list) -> None:
    """Replace (or add) this benchmark's section of RESULTS.md."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else HEADER
    block = start + "\n" + "\n".join(lines) + "\n" + end
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(text, encoding="utf-8")


def python_cmd() -> list:
    return [sys.executable]
