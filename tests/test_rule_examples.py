"""Every lint rule has one runnable example (tests/data/rule_examples/KTxxx.json, format in the
README there) that is also what `kohya-tune rule KTxxx` shows, so the docs and the behaviour
cannot drift apart:

- the bad example makes the rule fire;
- the fixed example passes `lint --strict` (no warning or error from ANY rule; an info finding
  only when the example lists it in `fixed_infos`), so following the docs never trades one
  finding for another;
- `lint --fix` on the bad example creates no finding the bad example did not have, and when the
  example says `fix_reaches_strict`, the fixed file passes `--strict`;
- the rule's docstring matches the example (see `test_docs_match_example`).

The list of rules comes from `kohya-tune rules`, so a new rule without an example fails here.
Everything runs in this process (typer's runner) on folders built in tmp_path.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from helpers import DATA, make_images, png_bytes, run_in_process

EXAMPLES = DATA / "rule_examples"


def rule_codes() -> list[str]:
    result = run_in_process("rules")
    assert result.exit_code == 0, result.stdout
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


CODES = rule_codes()
# KTxxx.json is the example the docs show; KTxxx-<situation>.json are further situations of the
# same rule whose one fix must be just as clean (the docs need not show them)
NAMES = sorted({p.stem for p in EXAMPLES.glob("KT*.json")} | set(CODES))


def load_example(name: str) -> dict:
    path = EXAMPLES / f"{name}.json"
    assert path.is_file(), f"{name} has no runnable example: write {path.relative_to(DATA.parent)}"
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_example_is_a_rule():
    assert {name.split("-")[0] for name in NAMES} == set(CODES)


def text_of(value) -> str:
    """A file's text: a string verbatim, or a list of lines (each ended by a newline)."""
    return value if isinstance(value, str) else "".join(line + "\n" for line in value)


def build(example: dict, root: Path, fixed: bool) -> None:
    """Write the bad (or fixed) state of the example into root: the dataset folders (images made
    by helpers.make_images, as in the golden cases), caption overrides (null: no caption file),
    single images with any name (`images`: path -> [width, height], no caption) and the config
    files. The fixed state takes `fixed_dataset` / `fixed_captions` / `fixed_images` /
    `fixed_files` where the example gives them, else the bad state's; a file whose fixed text is
    null does not exist in the fixed state."""
    def pick(key):
        if fixed and f"fixed_{key}" in example:
            return example[f"fixed_{key}"]
        return example.get(key) or {}

    captions = pick("captions")
    for folder, groups in pick("dataset").items():
        names = {rel.rsplit("/", 1)[1].rsplit(".", 1)[0]: text for rel, text in captions.items()
                 if rel.rsplit("/", 1)[0] == folder and rel.endswith(".txt")}
        make_images(root / folder, groups, names)
    for rel, text in captions.items():
        path = root / rel
        if text is None:
            continue
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for rel, (width, height) in pick("images").items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(png_bytes(width, height))
    if pick("videos"):
        # musubi-tuner examples: [[width, height, frames, fps, count]] per folder, 0000.mp4 ...
        # each with a caption file (musubi_helpers.write_media, as the musubi golden cases)
        from musubi_helpers import write_media

        write_media({"videos": pick("videos")}, root)
    files = dict(example.get("files") or {})
    if fixed:
        files.update(example.get("fixed_files") or {})
    for rel, value in files.items():
        if value is None:
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text_of(value).encode("utf-8"))
    for rel, source in pick("states").items():
        # a real saved training state recorded by the resume oracle (tests/data/resume/states)
        shutil.copytree(Path(__file__).parent / "data" / "resume" / "states" / source, root / rel)


def options(example: dict) -> list[str]:
    opts = example.get("options") or {}
    args = []
    for key, flag in (("sd_scripts", "--sd-scripts"), ("gui_version", "--gui-version"),
                      ("script", "--script"), ("num_processes", "--num-processes")):
        if opts.get(key) is not None:
            args += [flag, str(opts[key])]
    return args


def reverse_listing(monkeypatch) -> None:
    """A file system that lists folders in reverse alphabetical order (`"listing": "reverse"`),
    for the rules about the trainer following the listing order (KT310), which would otherwise
    depend on the file system tmp_path is on."""
    from kohya_tune.engine import images

    real = images.list_folder

    def listed(directory):
        out = real(directory)
        out.names.sort(reverse=True)
        out.dirs.sort(reverse=True)
        return out

    monkeypatch.setattr(images, "list_folder", listed)


def lint(example: dict, root: Path, monkeypatch, *extra: str):
    """`kohya-tune lint --output-format json` in root (paths in the example are relative to it)."""
    monkeypatch.chdir(root)
    if example.get("listing") == "reverse":
        reverse_listing(monkeypatch)
    result = run_in_process("lint", "--output-format", "json", *options(example), *extra,
                            example["config"])
    text = result.stdout
    diags = json.loads(text[text.index("["):]) if "[" in text else []
    # exit 2 only for a file that cannot be read (KT001), never for a usage error or a crash
    assert result.exit_code in (0, 1) or (result.exit_code == 2 and "KT001" in found_codes(diags)), \
        (result.exit_code, result.stdout, result.stderr)
    return result.exit_code, diags


def found_codes(diags) -> set:
    return {d["code"] for d in diags}


def found(diags) -> set:
    return {(d["code"], Path(d["file"]).name) for d in diags}


@pytest.mark.parametrize("name", NAMES)
def test_bad_example_fires(name, tmp_path, monkeypatch):
    example = load_example(name)
    code = example["rule"]
    assert name.split("-")[0] == code
    build(example, tmp_path, fixed=False)
    _, diags = lint(example, tmp_path, monkeypatch)
    assert code in {d["code"] for d in diags}, diags


@pytest.mark.parametrize("name", NAMES)
def test_fixed_example_is_clean(name, tmp_path, monkeypatch):
    example = load_example(name)
    code = example["rule"]
    build(example, tmp_path, fixed=True)
    rc, diags = lint(example, tmp_path, monkeypatch, "--strict")
    blocking = [d for d in diags if d["severity"] != "info"]
    assert not blocking, blocking
    infos = sorted({d["code"] for d in diags if d["severity"] == "info"})
    assert infos == sorted(example.get("fixed_infos") or []), diags
    assert rc == 0


@pytest.mark.parametrize("name", NAMES)
def test_fix_creates_no_new_finding(name, tmp_path, monkeypatch):
    example = load_example(name)
    code = example["rule"]
    build(example, tmp_path, fixed=False)
    _, before = lint(example, tmp_path, monkeypatch)
    lint(example, tmp_path, monkeypatch, "--fix")
    rc, after = lint(example, tmp_path, monkeypatch, "--strict")
    assert found(after) <= found(before), (before, after)
    if example.get("fix_reaches_strict"):
        assert rc == 0, after
        assert code not in {d["code"] for d in after}


def parsed(path: Path):
    """The settings of a config file as kohya-tune reads them (library API)."""
    from kohya_tune import api

    return api.load(str(path)).data


SOLVED = [name for name in NAMES if (EXAMPLES / f"{name}.json").is_file() and load_example(name).get("solve")]


@pytest.mark.parametrize("name", SOLVED)
def test_solve_gives_the_fixed_example(name, tmp_path, monkeypatch):
    """Where a rule's message sends the user to `kohya-tune solve` (`"solve"`: its arguments),
    solve on the bad example writes the fixed example (same settings; key order and layout may
    differ): the rule, its --fix and solve give one answer."""
    example = load_example(name)
    build(example, tmp_path, fixed=False)
    monkeypatch.chdir(tmp_path)
    result = run_in_process("solve", *example["solve"], *options(example), example["config"])
    assert result.exit_code == 0, result.stdout + result.stderr
    want = tmp_path / "want"
    build({**example, "dataset": {}, "captions": {}, "images": {}}, want, fixed=True)
    assert parsed(tmp_path / example["config"]) == parsed(want / example["config"])
    rc, diags = lint(example, tmp_path, monkeypatch, "--strict")
    assert rc == 0 and not [d for d in diags if d["severity"] != "info"], diags


def test_solve_as_recommended_on_the_golden_cases(tmp_path, monkeypatch):
    """Beyond the examples: on every golden case (real trainer and GUI numbers) where a step rule
    (KT2xx) recommends `kohya-tune solve --target-epochs N`, running exactly that leaves no
    warning or error from the step, LR and timetable rules (KT2, KT5, KT7): a rule never
    recommends an edit that another rule (or the same one) then reports."""
    from helpers import case_options, golden_cases, materialize

    checked, left = 0, []
    for case in golden_cases():
        root = tmp_path / case["id"]
        materialize(case, root)
        monkeypatch.chdir(root)
        opts = case_options(case)
        result = run_in_process("lint", "--output-format", "json", "--select", "KT2", *opts, case["config"])
        if result.exit_code not in (0, 1):
            continue  # the file is refused before the step rules run (golden cases of refusals)
        diags = json.loads(result.stdout[result.stdout.index("["):])
        targets = {m.group(1) for d in diags
                   for m in [re.search(r"solve --target-epochs (\d+)`", d["message"] + (d.get("help") or ""))] if m}
        for target in sorted(targets):
            checked += 1
            solved = run_in_process("solve", "--target-epochs", target, *opts, case["config"])
            after = run_in_process("lint", "--output-format", "json", "--select", "KT2,KT5,KT7", *opts,
                                   case["config"])
            found_after = json.loads(after.stdout[after.stdout.index("["):]) if "[" in after.stdout else []
            blocking = [(d["code"], d["message"]) for d in found_after if d["severity"] != "info"]
            if solved.exit_code != 0 or blocking:
                left.append((case["id"], target, solved.stdout + solved.stderr, blocking))
    assert checked >= 10  # the golden cases do exercise the recommendation
    assert left == []


# ------------------------------------------------------------------------------------------
# the docs and the example


def snippets(docs: str, label: str) -> list[list[str]]:
    """The indented blocks after each paragraph line starting with `label` ("Bad", "Fixed")."""
    blocks, current, inside = [], None, False
    for line in docs.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            inside = line.startswith(label)
            current = [] if inside else None
            if inside:
                blocks.append(current)
            continue
        if inside:
            current.append(line)
    return blocks


def normal(line: str) -> str:
    """A line as compared: no comment (` # ...` after two spaces or at the start), no trailing
    comma, runs of blanks as one space."""
    line = re.sub(r"(^|\s)#\s.*$", "", line.strip())
    line = re.sub(r"\s+", " ", line).strip().rstrip(",").strip()
    return line


def example_lines(example: dict, fixed: bool) -> set:
    """What a docs snippet may quote: every line of the config files, and the dataset as a
    listing (`folder/NNNN.ext` per image, `folder/ N images` per folder, `folder/NNNN.txt` per
    caption file) of the bad or fixed state."""
    files = dict(example.get("files") or {})
    if fixed:
        files.update(example.get("fixed_files") or {})
    lines = {normal(line) for value in files.values() if value is not None
             for line in text_of(value).splitlines()}
    def pick(key):
        return (example.get(f"fixed_{key}") if fixed and f"fixed_{key}" in example
                else example.get(key)) or {}

    captions = pick("captions")
    for folder, groups in pick("dataset").items():
        index = 0
        for group in groups:
            ext = group[3] if len(group) > 3 else ".png"
            for _ in range(group[2]):
                lines.add(f"{folder}/{index:04d}{ext}")
                if captions.get(f"{folder}/{index:04d}.txt", "") is not None:
                    lines.add(f"{folder}/{index:04d}.txt")
                index += 1
        lines.add(f"{folder}/ {index} images")
    lines |= set(pick("images"))
    return lines


def changed_lines(example: dict) -> tuple[set, set]:
    """The lines the fix removes from and adds to the bad example's config files (normalized;
    punctuation-only lines such as `{` left out). A file the fix creates is not counted: the
    docs name it rather than quote it."""
    removed, added = set(), set()
    for rel, value in (example.get("fixed_files") or {}).items():
        if rel not in (example.get("files") or {}):
            continue
        before = {normal(l) for l in text_of((example.get("files") or {}).get(rel) or "").splitlines()}
        after = {normal(l) for l in text_of(value or "").splitlines()}
        removed |= before - after
        added |= after - before
    keep = lambda s: {l for l in s if re.search(r"\w", l)}  # noqa: E731
    return keep(removed), keep(added)


@pytest.mark.parametrize("code", CODES)
def test_docs_match_example(code):
    """`kohya-tune rule KTxxx` shows the example: every line of its Bad snippets is a line of the
    bad example (config lines, or the dataset listing), every line of its Fixed snippets a line of
    the fixed example, every config line the fix adds appears in a Fixed snippet and every line it
    removes in a Bad snippet. Lines are compared after dropping comments, trailing commas and
    repeated blanks, so the docs may annotate (`# wins: ...`) and abridge (a JSON snippet shows
    only the keys that matter) without drifting: a value changed in one place and not the other
    fails."""
    example = load_example(code)
    result = run_in_process("rule", code)
    assert result.exit_code == 0
    docs = result.stdout
    bad = [normal(l) for block in snippets(docs, "Bad") for l in block]
    fixed = [normal(l) for block in snippets(docs, "Fixed") for l in block]
    bad, fixed = [l for l in bad if l], [l for l in fixed if l]
    assert bad, f"{code}: the docs have no Bad snippet"
    bad_lines, fixed_lines = example_lines(example, False), example_lines(example, True)
    assert [l for l in bad if l not in bad_lines] == [], bad_lines
    assert [l for l in fixed if l not in fixed_lines] == [], fixed_lines
    removed, added = changed_lines(example)
    if fixed or added:
        assert sorted(added - set(fixed)) == [], f"{code}: the Fixed snippet does not show these"
    assert sorted(removed - set(bad) - set(fixed)) == [], f"{code}: the Bad snippet does not show these"


# ------------------------------------------------------------------------------------------
# --fix on real configs


def test_fix_until_nothing_changes(tmp_path, monkeypatch):
    """A kohya_ss config saved by v21.8-v22.6 (corpus). Without --gui-version its keys date it to
    GUI v24.0.5 and the renames of old keys are not safe fixes (they would date it to a newer GUI),
    so --fix leaves them and adds no warning. Named GUI v24.1.7 (which reads the missing
    max_train_steps as 1600 and ignores epoch: KT205), `lint --fix` renames, lints again and
    applies that safe fix too, so the fixed file passes --strict."""
    from helpers import CORPUS

    src = CORPUS / "kohya_ss" / "master" / "test" / "config" / "dreambooth.json"
    path = tmp_path / "dreambooth.json"
    path.write_bytes(src.read_bytes())
    monkeypatch.chdir(tmp_path)
    before = run_in_process("lint", "--output-format", "json", path.name)
    assert not [d for d in json.loads(before.stdout) if d["severity"] != "info"]
    run_in_process("lint", "--fix", path.name)
    assert "use_wandb" in json.loads(path.read_text(encoding="utf-8"))
    after = run_in_process("lint", "--output-format", "json", "--strict", path.name)
    assert after.exit_code == 0, after.stdout

    path.write_bytes(src.read_bytes())
    named = ("--gui-version", "v24.1.7")
    run_in_process("lint", "--fix", *named, path.name)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["log_with"] == "" and "use_wandb" not in data and data["max_train_steps"] == 0
    after = run_in_process("lint", "--output-format", "json", "--strict", *named, path.name)
    assert after.exit_code == 0, after.stdout


def test_legacy_string_numbers_are_read_as_the_gui_reads_them(tmp_path, monkeypatch):
    """An old GUI's "lr_warmup": "10" with the constant scheduler is the warmup it drops (KT501)
    before KT105's fix turns it into 10, not only after it (the fix must not reveal a finding
    the original already deserved)."""
    from helpers import golden_cases, materialize, case_options

    case = next(c for c in golden_cases() if c["id"] == "gui-v21.5.11-lora-constant-warmup")
    materialize(case, tmp_path)
    monkeypatch.chdir(tmp_path)
    result = run_in_process("lint", "--output-format", "json", *case_options(case), case["config"])
    assert "KT501" in {d["code"] for d in json.loads(result.stdout)}
