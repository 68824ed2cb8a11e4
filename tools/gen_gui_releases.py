#!/usr/bin/env python3
"""List every kohya_ss GUI release and the sd-scripts it ships, from the GUI's git history.

Nothing is imported or executed from either repository; only ``git`` plumbing is used.

Usage::

    python tools/gen_gui_releases.py --gui-git-dir /path/to/bmaltais+kohya_ss.git \\
        --sd-git-dir /path/to/kohya-ss+sd-scripts.git \\
        -o kohya_tune/versions/data/gui_releases.json

For each release tag from v21.5.0 on (plus ``master``) it records the commit, the commit date,
the Gradio pin of the tag's requirements, and the sd-scripts the release runs:

- up to v22.6.2 the trainer is *bundled* (a copy of sd-scripts in the GUI repository): the
  sd-scripts commit is the oldest one whose ``library/train_util.py`` is byte-identical to the
  bundled copy (same git blob);
- from v23.0.0 on it is the ``sd-scripts`` git submodule: the gitlink commit of the tag.

The sd-scripts tag used for the trainer profile is the nearest tag at or below that commit
(``git describe --tags --abbrev=0``); the first tag containing it is recorded too. The training
scripts the release can launch are the ``*.py`` trainer scripts at the root of the bundled copy
or of the submodule commit. When the submodule commit is not in the sd-scripts mirror, the tag
is taken from the GUI commit that moved the submodule (its message names the sd-scripts
version) and recorded with ``"verified": false``.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys

TRAINER_SCRIPT = re.compile(r"^((sdxl_|sd3_|flux_|lumina_|anima_|hunyuan_image_)?"
                            r"(train_network|train|train_db|fine_tune|train_textual_inversion"
                            r"|train_textual_inversion_XTI|train_control_net|train_controlnet"
                            r"|train_control_net_lllite))\.py$")
# tags that are not releases of their own (same commit as another tag)
MISTAGGED = {"v22.1.5": "v23.1.5"}


def git(gitdir: str, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", "-C", gitdir, *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip() if proc.returncode == 0 else ""


def version_key(tag: str) -> tuple:
    if tag == "master":
        return (10 ** 6,)
    return tuple(int(x) for x in re.findall(r"\d+", tag)[:3])


def release_tags(gui: str) -> list[str]:
    tags = [t for t in git(gui, "tag").split() if re.fullmatch(r"[vV]?\d+\.\d+(\.\d+)?", t)]
    tags = [t for t in tags if version_key(t) >= (21, 5, 0) and t not in MISTAGGED]
    return sorted(tags, key=version_key) + ["master"]


def gradio_pin(gui: str, tag: str) -> str | None:
    """The Gradio the tag installs on Linux (a line for sys_platform == 'darwin' is skipped)."""
    for path in ("requirements.txt", "requirements_linux.txt", "requirements_unix.txt",
                 "requirements_windows_torch2.txt", "requirements_windows.txt", "pyproject.toml"):
        for line in git(gui, "show", f"{tag}:{path}", check=False).splitlines():
            match = re.search(r"gradio\s*([=<>~!]=?\s*[0-9][0-9.]*)", line, re.I)
            mac_only = re.search(r"sys_platform\s*==\s*['\"]darwin", line)
            if match and not mac_only and "gradio_" not in line.lower()[:match.start() + 8]:
                return match.group(1).replace(" ", "")
    return None


def blob_index(sd: str) -> dict[str, str]:
    """train_util.py blob -> oldest sd-scripts commit having it."""
    out: dict[str, tuple[int, str]] = {}
    for commit in git(sd, "log", "--all", "--format=%H", "--", "library/train_util.py").split():
        blob = git(sd, "rev-parse", f"{commit}:library/train_util.py", check=False)
        when = int(git(sd, "log", "-1", "--format=%ct", commit))
        if blob and (blob not in out or when < out[blob][0]):
            out[blob] = (when, commit)
    return {blob: commit for blob, (_, commit) in out.items()}


def scripts_in(gitdir: str, rev: str) -> list[str]:
    names = git(gitdir, "ls-tree", "--name-only", rev, check=False).split("\n")
    return sorted(m.group(1) for m in (TRAINER_SCRIPT.match(n) for n in names) if m)


def sd_scripts_of(gui: str, sd: str, tag: str, blobs: dict) -> dict:
    link = git(gui, "ls-tree", tag, "sd-scripts", check=False).split()
    if len(link) >= 3 and link[1] == "commit":
        commit, ships = link[2], "submodule"
    else:
        blob = git(gui, "rev-parse", f"{tag}:library/train_util.py", check=False)
        commit, ships = blobs.get(blob), "bundled"
    info: dict = {"ships": ships, "commit": commit[:10] if commit else None}
    known = bool(commit) and git(sd, "cat-file", "-t", commit, check=False) == "commit"
    if known:
        info["tag"] = git(sd, "describe", "--tags", "--abbrev=0", commit, check=False) or None
        contains = sorted(git(sd, "tag", "--contains", commit, check=False).split(),
                          key=version_key)
        info["first_tag_containing"] = contains[0] if contains else None
        info["verified"] = True
    else:
        # the submodule commit is newer than the mirror: the GUI commit that moved it names it
        msg = git(gui, "log", "-1", "--format=%h %s", tag, "--", "sd-scripts", check=False)
        found = re.search(r"v0\.\d+\.\d+", msg)
        info["tag"] = found.group(0) if found else None
        info["verified"] = False
        info["source"] = f"kohya_ss commit {msg}"
    if ships == "bundled":
        info["scripts"] = scripts_in(gui, tag)
    elif known:
        info["scripts"] = scripts_in(sd, commit)
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gui-git-dir", required=True)
    ap.add_argument("--sd-git-dir", required=True)
    ap.add_argument("-o", "--output", required=True)
    opts = ap.parse_args(argv)
    gui, sd = opts.gui_git_dir, opts.sd_git_dir
    blobs = blob_index(sd)
    releases = []
    for tag in release_tags(gui):
        commit = git(gui, "rev-list", "-n", "1", tag)
        releases.append({
            "tag": tag,
            "commit": commit[:10],
            "date": git(gui, "log", "-1", "--format=%cs", commit),
            "gradio": gradio_pin(gui, tag),
            "sd_scripts": sd_scripts_of(gui, sd, tag, blobs),
        })
    data = {
        "_doc": "Every kohya_ss GUI release from v21.5.0 on (and master), generated by "
                "tools/gen_gui_releases.py from the GUI's git history: commit, date, Gradio pin "
                "and the sd-scripts it runs (bundled copy up to v22.6.2, matched by the blob of "
                "library/train_util.py; git submodule from v23.0.0). 'tag' is the nearest "
                "sd-scripts tag at or below that commit. Behaviour per release: "
                "gui_behaviour.json.",
        "mistagged": {t: {"same_commit_as": same} for t, same in MISTAGGED.items()},
        "releases": releases,
    }
    with open(opts.output, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    print(f"{len(releases)} releases -> {opts.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
