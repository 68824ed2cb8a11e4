"""The recorded resume cases (tests/data/resume, see its README): building a case's folder as the
resumed run found it, and the options that describe the oracle's trainer."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from helpers import materialize

DATA = Path(__file__).parent / "data" / "resume"


def cases() -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((DATA / "cases").glob("*.json"))]


def resume_runs() -> list[tuple[dict, int, dict]]:
    """(case, 1-based run index, run) for every run that resumed."""
    out = []
    for case in cases():
        for i, run in enumerate(case["results"], 1):
            if run["config"].get("resume"):
                out.append((case, i, run))
    return out


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return repr(v)


def config_text(config: dict) -> str:
    return "".join(f"{k} = {toml_value(v)}\n" for k, v in config.items() if v is not None)


def build(case: dict, index: int, run: dict, root: Path) -> tuple[Path, Path]:
    """The case folder as run `index` found it: the dataset, its config (run<i>.toml), the output
    folder's names before the run (empty stand-ins), and the real state folder it resumed from.
    Returns (config, state folder)."""
    materialize({k: case[k] for k in ("dataset", "files") if k in case}, root)
    config = root / f"run{index}.toml"
    config.write_text(config_text(run["config"]), encoding="utf-8")
    out = root / "out"
    out.mkdir(exist_ok=True)
    for name in run["files_before"]:
        path = out / name
        if name.endswith("-state"):
            path.mkdir(exist_ok=True)
        else:
            path.write_bytes(b"")
    state = root / run["config"]["resume"]
    if state.exists():
        shutil.rmtree(state)
    src = DATA / "states" / case["id"] / run["name"] / state.name
    if src.is_dir():
        shutil.copytree(src, state)
    return config, state


def options(case: dict) -> list[str]:
    """The trainer the oracle ran: sd-scripts version, processes, accelerate and torch."""
    label = case["oracle"]["label"].split()[-1]
    sd = label if label.startswith("v") else "v0.9.1"       # a commit after v0.9.1 (GUI v25's trainer)
    torch = "2.5.0" if case["options"].get("legacy_torch_load") else "2.13.0"
    return ["--sd-scripts", sd, "--num-processes", str(case["options"]["num_processes"]),
            "--accelerate", case["oracle"]["accelerate"], "--torch", torch]
