"""Make the musubi-tuner golden cases (a case may add oracle-only lines, `oracle_head`): run the musubi oracle (the real musubi-tuner code of the
pinned commit, ../shared/oracles/musubi) on each case of tools/musubi_cases.json and store its
output with the case under tests/data/musubi/golden/<id>.json.

    python3 tools/gen_musubi_cases.py [--oracle ~/.cache/musubi-oracle] [ID ...]

Per case: the media are written by the oracle's materialize.py (PNG images, mpeg4 videos whose
frame count is checked by decoding), the oracle runs the caching scripts and train(), and the
names of every file the caching wrote (latents and text-encoder caches) are recorded, so the test
can rebuild the cache folder without the media. The tests never run the oracle.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tools" / "musubi_cases.json"
OUT = ROOT / "tests" / "data" / "musubi" / "golden"
ARCH_OF_SCRIPT = {"wan_train_network": "wan", "hv_train_network": "hv", "qwen_image_train_network": "qi",
                  "fpack_train_network": "fp"}


def run_case(case: dict, oracle: Path) -> dict:
    py = oracle / "venv" / "bin" / "python"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        oracle_head = (f'architecture = "{ARCH_OF_SCRIPT[case["script"]]}"\n'
                       f'num_processes = {case.get("num_processes", 1)}\n' + case.get("oracle_head", ""))
        files = dict(case["files"])
        files["oracle_args.toml"] = oracle_head + files["args.toml"]
        spec = {"images": case.get("images", {}), "videos": case.get("videos", {}),
                "captions": case.get("captions", {}), "files": files}
        (root / "case.json").write_text(json.dumps(spec), encoding="utf-8")
        subprocess.run([str(py), str(oracle / "materialize.py"), str(root / "case.json"), str(root / "m")],
                       check=True)
        proc = subprocess.run([str(py), "-W", "ignore", str(oracle / "oracle.py"), "--src", str(oracle / "src"),
                               "--args", "oracle_args.toml"], cwd=root / "m", capture_output=True, text=True)
        if proc.returncode not in (0, 2):
            raise RuntimeError(f"{case['id']}: oracle failed:\n{proc.stderr[-3000:]}")
        expected = json.loads(proc.stdout.strip().splitlines()[-1])
        cache_files = sorted(str(p.relative_to(root / "m")) for p in (root / "m").rglob("*.safetensors")
                             if "oracle-stub" not in p.name)
    out = {k: v for k, v in case.items() if k != "files"}
    out["files"] = case["files"]
    out["cache_files"] = cache_files
    out["expected"] = expected
    out["made_by"] = "tools/gen_musubi_cases.py with the musubi oracle (musubi-tuner 30c658c4, v0.3.4)"
    return out


def main(argv: list[str]) -> None:
    oracle = Path(os.path.expanduser("~/.cache/musubi-oracle"))
    if "--oracle" in argv:
        i = argv.index("--oracle")
        oracle = Path(argv[i + 1])
        del argv[i:i + 2]
    wanted = set(argv[1:])
    OUT.mkdir(parents=True, exist_ok=True)
    for case in json.loads(CASES.read_text(encoding="utf-8")):
        if wanted and case["id"] not in wanted:
            continue
        result = run_case(case, oracle)
        (OUT / f"{case['id']}.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n",
                                                encoding="utf-8")
        exp = result["expected"]
        print(case["id"], exp.get("error") or {k: exp.get(k) for k in ("num_train_items", "num_batches", "max_train_steps", "num_train_epochs")},
              flush=True)


if __name__ == "__main__":
    main(sys.argv)
