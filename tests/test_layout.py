"""The package layout is the data flow: a stage imports only from itself and earlier stages."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "kohya_tune"
ORDER = ["versions", "load", "engine", "check", "edit", "output"]


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
        elif isinstance(node, ast.ImportFrom) and node.level:
            yield node.lineno, "." * node.level + (node.module or "")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name


def test_stages_import_only_earlier_stages():
    problems = []
    for stage in ORDER:
        allowed = set(ORDER[: ORDER.index(stage) + 1])
        for path in sorted((PACKAGE / stage).rglob("*.py")):
            for line, module in _imports(path):
                if module.startswith("."):
                    problems.append(f"{path.relative_to(PACKAGE)}:{line}: relative import {module}")
                    continue
                parts = module.split(".")
                if parts[0] != "kohya_tune" or len(parts) < 2:
                    continue
                if parts[1] not in allowed:
                    problems.append(f"{path.relative_to(PACKAGE)}:{line}: {stage} imports {module}")
    assert not problems, "\n".join(problems)


def test_every_module_belongs_to_a_stage():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "api.py", "cli.py", "settings.py"]
    for stage in ORDER:
        assert (PACKAGE / stage / "__init__.py").read_text(encoding="utf-8").startswith('"""Stage')
