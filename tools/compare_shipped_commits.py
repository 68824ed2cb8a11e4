#!/usr/bin/env python3
"""Which sd-scripts code a kohya_ss GUI release ships, compared with the tags around it.

    python tools/compare_shipped_commits.py --repo /path/to/sd-scripts.git [--gui-releases PATH]

For every commit gui_releases.json names that is not a tag's own commit, the functions the step
numbers come from (dataset classes, bucket code, verify_training_args, get_scheduler_fix,
ConfigSanitizer, ...) are compared, by source text (comments and log lines left out), with the
tag below the commit and the first tag that contains it: a commit equal to one of them in all of
these behaves as that tag (`behaves_as` in sd_scripts_lineage.json, after checking its scripts
and requirements.txt too); any other needs a profile of its own (issue 16). Prints one line per
commit. Nothing is imported from sd-scripts.
"""
from __future__ import annotations

import argparse
import ast
import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMES = {
    "library/train_util.py": [
        "DreamBoothDataset", "FineTuningDataset", "ControlNetDataset", "BucketManager", "glob_images",
        "get_image_size", "verify_training_args", "make_buckets", "read_caption", "prepare_dataset_args",
        "verify_bucket_reso_steps", "is_latent_cacheable", "is_text_encoder_output_cacheable",
        "register_image", "get_scheduler_fix", "split_train_val"],
    "library/model_util.py": ["make_bucket_resolutions"],
    "library/config_util.py": ["ConfigSanitizer", "BlueprintGenerator", "generate_dataset_group_by_blueprint",
                               "generate_dreambooth_subsets_config_by_subdirs", "extract_dreambooth_params"],
}


def git(repo: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True)


def functions(repo: str, rev: str, path: str) -> dict:
    proc = git(repo, "show", f"{rev}:{path}")
    if proc.returncode != 0:
        return {}
    text = proc.stdout
    out: dict = {}
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            seg = ast.get_source_segment(text, node) or ""
            kept = [line.rstrip() for line in seg.splitlines()
                    if line.strip() and not line.strip().startswith("#")
                    and "logger." not in line and "print(" not in line]
            out.setdefault(node.name, "\n".join(kept))
    return out


def signature(repo: str, rev: str) -> dict:
    sig = {}
    for path, names in NAMES.items():
        found = functions(repo, rev, path)
        for name in names:
            sig[name] = found.get(name)
    return sig


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", required=True, help="bare git mirror of kohya-ss/sd-scripts")
    ap.add_argument("--gui-releases", default=str(ROOT / "kohya_tune/versions/data/gui_releases.json"))
    ns = ap.parse_args()
    releases = json.loads(Path(ns.gui_releases).read_text(encoding="utf-8"))["releases"]
    tags = {git(ns.repo, "rev-parse", f"{t}^{{commit}}").stdout.strip(): t
            for t in git(ns.repo, "tag").stdout.split()}
    seen: dict = {}
    for rel in releases:
        info = rel["sd_scripts"]
        commit = info.get("commit")
        if not commit or git(ns.repo, "cat-file", "-t", commit).returncode != 0:
            continue
        seen.setdefault(commit, (info.get("tag"), info.get("first_tag_containing"), []))[2].append(rel["tag"])
    for commit, (below, above, shipped_by) in seen.items():
        full = git(ns.repo, "rev-parse", commit).stdout.strip()
        if full in tags:
            print(f"{commit} is the {tags[full]} tag (GUI {shipped_by[0]}..{shipped_by[-1]})")
            continue
        mine = signature(ns.repo, commit)
        parts = []
        for tag in (below, above):
            if tag:
                other = signature(ns.repo, tag)
                diff = [n for n in mine if mine[n] != other[n]]
                parts.append(f"vs {tag}: {', '.join(diff) if diff else 'the same'}")
        print(f"{commit} (GUI {shipped_by[0]}..{shipped_by[-1]}) " + "; ".join(parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
