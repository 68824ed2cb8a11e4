"""The normalized, typed view of a training setup that every later stage reads.

A Plan says which trainer script runs, with which arguments (after the GUI's translation for a
GUI JSON, after flattening for an args TOML), and which datasets and subsets the trainer builds,
with every value resolved through sd-scripts' fallback chain and remembered with its origin.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kohya_tune.versions import profiles
from kohya_tune.load import files
from kohya_tune.load.documents import Document


class PlanError(Exception):
    """The setup cannot be built into a plan (missing files, bad options). Exit code 2."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None,
                 column: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.column = column

    def __str__(self) -> str:
        if self.path and self.line:
            return f"{self.path}:{self.line}:{self.column}: {self.message}"
        if self.path:
            return f"{self.path}: {self.message}"
        return self.message


class TrainerRefusal(Exception):
    """What the trainer itself would refuse, with its own reason. Exit code 1.

    `message` is exactly what the trainer prints (`Type: text`, its own key names); `note` is
    kohya-tune's explanation (what was logged before it, where the value came from), shown apart
    from the message, never appended to it."""

    def __init__(self, message: str, origin: "Origin | None" = None, note: str | None = None):
        super().__init__(message)
        self.message = message
        self.origin = origin
        self.note = note


@dataclass(frozen=True)
class Origin:
    doc: Document
    keypath: tuple

    def where(self) -> str:
        line, col = self.doc.position(self.keypath)
        return f"{self.doc.path}:{line}:{col}"


@dataclass
class SubsetPlan:
    image_dir: str | None
    num_repeats: int
    is_reg: bool = False
    class_tokens: str | None = None
    caption_extension: str = ".caption"
    cache_info: bool = False
    metadata_file: str | None = None
    conditioning_data_dir: str | None = None
    origin: Origin | None = None
    folder_name: str | None = None   # folder mode: the N_name folder it came from
    resolved: str | None = None      # folder mode: the folder found here (after --path-map)
    values: dict = field(default_factory=dict)  # every resolved subset parameter
    sources: dict = field(default_factory=dict)  # parameter -> where its value came from


@dataclass
class DatasetPlan:
    kind: str                          # "db" | "ft" | "cn"
    batch_size: int
    resolution: tuple[int, int] | None
    enable_bucket: bool
    min_bucket_reso: int
    max_bucket_reso: int
    bucket_reso_steps: int
    bucket_no_upscale: bool
    validation_split: float = 0.0
    validation_seed: int | None = None
    subsets: list[SubsetPlan] = field(default_factory=list)
    origin: Origin | None = None
    values: dict = field(default_factory=dict)


@dataclass
class Settings:
    """Options from the command line or [tool.kohya-tune]."""
    sd_scripts: str | None = None
    gui_version: str | None = None
    script: str | None = None
    num_processes: int | None = None
    path_map: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Plan:
    config: Document
    script: str
    sd: profiles.SdScripts
    args: dict                          # the trainer's argument namespace (only keys it receives)
    arg_origins: dict                   # arg name -> Origin in the config (when it came from a file)
    mode: str                           # "folders" | "dataset_config" | "in_json"
    num_processes: int
    num_processes_source: str
    datasets: list[DatasetPlan] = field(default_factory=list)
    dataset_doc: Document | None = None
    dataset_config_kind: str | None = None  # what the dataset_config file looks like, when not a dataset config
    gui: Any = None                     # GuiLaunch for GUI configs
    gui_version_source: str | None = None  # how the GUI version was chosen
    sd_scripts_source: str | None = None   # how the sd-scripts version was chosen
    notes: list[str] = field(default_factory=list)
    missing_dirs: list[tuple[str, Origin | None]] = field(default_factory=list)
    path_map: list[tuple[str, str]] = field(default_factory=list)
    # folder mode: subfolders the trainer passes over, as (folder, name, reason, is_reg)
    skipped_folders: list[tuple[str, str, str, bool]] = field(default_factory=list)
    # folder mode: (key, text, folder found here or None, is_reg) of train_data_dir / reg_data_dir
    root_dirs: list[tuple[str, str, str | None, bool]] = field(default_factory=list)
    # folder mode: "filesystem" (Path.iterdir order, what the trainer uses here) or "sorted"
    # (the alphabetical order NTFS usually gives), to show when the order changes a number
    folder_order: str = "filesystem"

    def arg(self, name: str, default=None):
        value = self.args.get(name)
        return default if value is None else value


# --------------------------------------------------------------------------------------------
# paths

def map_path(text: str, path_map: list[tuple[str, str]]) -> str:
    """Apply --path-map FROM=TO prefix substitutions (separators compared loosely, so a Windows
    path in a config maps onto a POSIX folder)."""
    norm = text.replace("\\", "/")
    for src, dst in path_map:
        s = src.replace("\\", "/").rstrip("/")
        if norm == s or norm.startswith(s + "/"):
            return dst.rstrip("/\\") + norm[len(s):]
    return text


def resolve_dir(text: str | None, plan_like, *, base: Path | None = None) -> Path | None:
    """The folder the trainer would open, or None when it does not exist here. Relative paths are
    relative to the trainer's working directory (the current one); the config's own folder is
    tried next, since that is where users usually run from. Never raises: a path that cannot
    even be looked at (a folder on the way we may not search, a name longer than the system
    allows, a NUL character) is not a folder here; `access_problem` says why."""
    if text is None or text == "":
        return None
    mapped = map_path(str(text), plan_like.path_map)
    candidate = Path(os.path.expanduser(mapped))
    if files.is_dir(candidate):
        return candidate
    if not candidate.is_absolute() and base is not None and files.is_dir(base / candidate):
        return base / candidate
    if "\\" in mapped:
        alt = Path(mapped.replace("\\", "/"))
        if files.is_dir(alt):
            return alt
    return None


def resolve_file(text: str, path_map: list[tuple[str, str]], base: Path | None) -> Path | None:
    """A regular file the trainer would open, or None (a FIFO or a device is never one)."""
    mapped = Path(os.path.expanduser(map_path(str(text), path_map)))
    if files.is_file(mapped):
        return mapped
    if not mapped.is_absolute() and base is not None and files.is_file(base / mapped):
        return base / mapped
    return None


def access_problem(text, path_map: list[tuple[str, str]]) -> str | None:
    """Why a configured path cannot be looked at here (permission, name too long), or None."""
    if text is None or text == "":
        return None
    mapped = Path(os.path.expanduser(map_path(str(text), path_map)))
    problem = files.access_problem(mapped)
    if problem is None and files.exists(mapped) and not files.is_dir(mapped) and not files.is_file(mapped):
        problem = "not a regular file or folder (a FIFO, socket or device): it is not opened"
    return problem
