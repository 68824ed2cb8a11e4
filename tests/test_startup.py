"""Start-up: `--version` answered before typer loads, and what a command imports.

Speed itself is measured in benchmarks/bench_startup.py (ratios, by hand); these tests check the
behaviour the fast paths must keep, and the imports that make them fast (no timing)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import kohya_tune
from helpers import run_cli, run_in_process

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_configs" / "lora_gui.json"


def _modules_after(argv: list, cwd=None) -> tuple:
    """Run __main__.main with argv in a fresh interpreter; its exit code, output and the
    kohya_tune / typer / jsonschema modules it had imported by the end."""
    code = ("import json, sys\n"
            f"sys.argv = {['kohya-tune'] + argv!r}\n"
            "from kohya_tune.__main__ import main\n"
            "try:\n    main()\n    code = 0\n"
            "except SystemExit as exc:\n    code = exc.code or 0\n"
            "mods = sorted(m for m in sys.modules if m.split('.')[0] in ('kohya_tune', 'typer', 'jsonschema', 'pydantic'))\n"
            "sys.stderr.write('\\nMODULES ' + json.dumps([code, mods]) + '\\n')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120)
    marker = proc.stderr.rsplit("\nMODULES ", 1)
    assert len(marker) == 2, proc.stderr
    code, mods = json.loads(marker[1])
    return code, proc.stdout, set(mods)


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_fast_path_prints_what_typer_prints(flag):
    expected = f"kohya-tune {kohya_tune.__version__}\n"
    proc = run_cli(flag)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, expected, "")
    # the same flag through typer (what any longer command line reaches)
    typer_side = run_in_process(flag)
    assert (typer_side.exit_code, typer_side.stdout) == (0, expected)


def test_version_alone_imports_no_typer():
    code, out, mods = _modules_after(["--version"])
    assert (code, out) == (0, f"kohya-tune {kohya_tune.__version__}\n")
    assert mods == {"kohya_tune", "kohya_tune.__main__"}


def test_version_with_more_arguments_goes_through_typer():
    # eager --version in front of a command still prints the version (typer's own behaviour)
    code, out, mods = _modules_after(["--version", "rules"])
    assert (code, out) == (0, f"kohya-tune {kohya_tune.__version__}\n")
    assert "typer" in mods


def test_console_script_entry_point_is_the_fast_path():
    from importlib import metadata

    (entry,) = [e for e in metadata.entry_points(group="console_scripts") if e.name == "kohya-tune"]
    assert entry.value == "kohya_tune.__main__:main"


def test_lint_imports_only_what_linting_needs(tmp_path):
    # a plain lint loads no fix or balance machinery
    code, out, mods = _modules_after(["lint", str(SAMPLE)])
    assert code == 0 and "KT203" in out
    assert not {m for m in mods if m.startswith(("kohya_tune.edit", "kohya_tune.output.steps_report"))}
    # a GUI JSON the small schema check proves valid needs no jsonschema
    assert "jsonschema" not in mods
    other = tmp_path / "notes.json"
    other.write_text('{"hello": 1}', encoding="utf-8")
    code, _, mods = _modules_after(["lint", str(other)])
    assert code == 0
    assert "jsonschema" not in mods and "kohya_tune.engine.facts" not in mods
