"""Project settings: `[tool.kohya-tune]` of the nearest pyproject.toml, or `.kohya-tune.toml`.

Command-line options win over settings. Unknown settings are an error (exit 2).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from kohya_tune.load import files

KNOWN = {"select", "ignore", "per-file-ignores", "gui-version", "sd-scripts", "num-processes",
         "path-map", "script", "strict", "output-format"}


class SettingsError(Exception):
    pass


@dataclass
class ProjectSettings:
    source: str | None = None
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    gui_version: str | None = None
    sd_scripts: str | None = None
    num_processes: int | None = None
    path_map: list[tuple[str, str]] = field(default_factory=list)
    script: str | None = None
    strict: bool = False
    output_format: str | None = None


def find_settings_file(start: Path) -> tuple[Path, dict] | None:
    try:
        start = start.resolve()
    except (OSError, RuntimeError):
        return None
    for folder in [start, *start.parents]:
        dotfile = folder / ".kohya-tune.toml"
        if files.is_file(dotfile):
            return dotfile, _read(dotfile)
        pyproject = folder / "pyproject.toml"
        if files.is_file(pyproject):
            data = _read(pyproject)
            section = data.get("tool", {}).get("kohya-tune")
            if section is not None:
                return pyproject, {"tool": {"kohya-tune": section}}
    return None


def _read(path: Path) -> dict:
    # imported with the first settings file found: most folders have none
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read settings: {exc}") from None


def parse_path_map(items) -> list[tuple[str, str]]:
    out = []
    for item in items or []:
        if "=" not in item:
            raise SettingsError(f"path-map entry {item!r} must look like FROM=TO")
        src, dst = item.split("=", 1)
        out.append((src, dst))
    return out


def load(start: Path | None = None) -> ProjectSettings:
    found = find_settings_file(start or Path.cwd())
    if found is None:
        return ProjectSettings()
    path, data = found
    if path.name == "pyproject.toml":
        data = data["tool"]["kohya-tune"]
    elif "tool" in data and "kohya-tune" in data.get("tool", {}):
        data = data["tool"]["kohya-tune"]
    unknown = sorted(set(data) - KNOWN)
    if unknown:
        raise SettingsError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: "
                            f"{', '.join(sorted(KNOWN))}")
    s = ProjectSettings(source=str(path))
    try:
        s.select = list(data.get("select", []))
        s.ignore = list(data.get("ignore", []))
        s.per_file_ignores = {k: list(v) for k, v in data.get("per-file-ignores", {}).items()}
        s.gui_version = data.get("gui-version")
        s.sd_scripts = data.get("sd-scripts")
        np = data.get("num-processes")
        if np is not None and (not isinstance(np, int) or isinstance(np, bool) or np < 1):
            raise SettingsError(f"{path}: num-processes must be a whole number >= 1")
        s.num_processes = np
        pm = data.get("path-map", [])
        if isinstance(pm, dict):
            s.path_map = [(k, v) for k, v in pm.items()]
        else:
            s.path_map = parse_path_map(pm)
        s.script = data.get("script")
        s.strict = bool(data.get("strict", False))
        s.output_format = data.get("output-format")
    except (TypeError, AttributeError, ValueError) as exc:
        raise SettingsError(f"{path}: malformed [tool.kohya-tune] settings: {exc}") from None
    return s
