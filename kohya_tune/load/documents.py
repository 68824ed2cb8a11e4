"""Load a config file, keep its text and the position of every key, and tell what kind it is.

Kinds, detected by content, never by file name:
- ``gui``: a kohya_ss GUI "Save config" JSON (LoRA, DreamBooth, fine-tune, textual inversion);
- ``args``: an sd-scripts ``--config_file`` TOML (flat, or with sections that sd-scripts flattens);
- ``dataset``: an sd-scripts ``--dataset_config`` TOML (or its JSON form);
- ``musubi_args``: a musubi-tuner ``--config_file`` TOML (it names the DiT with ``dit``, or a
  musubi dataset config);
- ``musubi_dataset``: a musubi-tuner ``--dataset_config`` (TOML or JSON): its datasets name
  ``image_directory`` / ``video_directory`` (or a JSONL file) where sd-scripts has ``image_dir``;
- ``other``: anything else (skipped by ``lint`` so that a pre-commit hook can see every file).
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from kohya_tune.versions import profiles
from kohya_tune.load import files
from kohya_tune.load.positions import (Duplicate, LineIndex, Span, json_scan, structure_problem,
                                       toml_error, toml_scan)


def _tomllib():
    """The TOML parser, imported with the first TOML file (a JSON lint does without it)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    return tomllib

GUI = "gui"
ARGS = "args"
DATASET = "dataset"
OTHER = "other"
MUSUBI_ARGS = "musubi_args"
MUSUBI_DATASET = "musubi_dataset"
MUSUBI_KINDS = (MUSUBI_ARGS, MUSUBI_DATASET)

# keys only a musubi-tuner dataset has (dataset/config_utils.py:145-178 at the pinned commit);
# an sd-scripts dataset names its images with image_dir inside [[datasets.subsets]]
MUSUBI_DATASET_KEYS = frozenset({
    "image_directory", "image_jsonl_file", "video_directory", "video_jsonl_file",
    "target_frames", "frame_extraction", "frame_stride", "frame_sample", "max_frames",
    "source_fps", "cache_directory", "fp_latent_window_size", "fp_1f_clean_indices",
    "fp_1f_target_index", "fp_1f_no_post", "multiple_target", "control_resolution",
    "no_resize_control"})
# training options of musubi-tuner's scripts that no sd-scripts script has
MUSUBI_ARGS_KEYS = frozenset({"dit", "dit_high_noise", "task", "text_encoder1", "text_encoder2",
                              "image_encoder", "t5", "latent_window_size"})

KIND_LABELS = {
    GUI: "kohya_ss GUI config (JSON)",
    ARGS: "sd-scripts --config_file TOML",
    DATASET: "sd-scripts --dataset_config",
    OTHER: "not a kohya config",
    MUSUBI_ARGS: "musubi-tuner --config_file TOML",
    MUSUBI_DATASET: "musubi-tuner --dataset_config",
}


class LoadError(Exception):
    """A file that cannot be read or parsed. Carries the place for the message."""

    def __init__(self, path: str, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.path = path
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        place = f"{self.path}:{self.line}:{self.column}" if self.line else self.path
        return f"{place}: {self.message}"


@dataclass
class Document:
    path: str                     # as the user named it
    text: str                     # decoded text, BOM kept as character 0
    format: str                   # "json" | "toml"
    data: Any                     # the parsed value (json / tomllib)
    spans: dict                   # key path -> Span
    kind: str = OTHER
    gui_tab: str | None = None    # for GUI files: lora | dreambooth | finetune | textual_inversion
    gui_versions: tuple[str, str] | None = None  # (oldest, newest) GUI version the keys fit
    gui_version_reasons: list[str] = field(default_factory=list)
    comments: dict = field(default_factory=dict)  # TOML: line-start offset -> comment
    duplicates: list = field(default_factory=list)  # JSON: keys given twice (the last one wins)
    other_reason: str = "not a kohya config"
    _lines: LineIndex | None = None

    @property
    def lines(self) -> LineIndex:
        if self._lines is None:
            self._lines = LineIndex(self.text)
        return self._lines

    @property
    def newline(self) -> str:
        return "\r\n" if "\r\n" in self.text else "\n"

    @property
    def directory(self) -> FsPath:
        return FsPath(self.path).resolve().parent

    def span(self, keypath: tuple) -> Span | None:
        return self.spans.get(tuple(keypath))

    def position(self, keypath: tuple = ()) -> tuple[int, int]:
        """(line, column) of a key, or of the nearest enclosing key that has a position."""
        keypath = tuple(keypath)
        while keypath and keypath not in self.spans:
            keypath = keypath[:-1]
        span = self.spans.get(keypath)
        if span is None:
            return 1, 1
        return self.lines.line_col(span.key_start)

    def value_position(self, keypath: tuple) -> tuple[int, int]:
        span = self.spans.get(tuple(keypath))
        if span is None:
            return self.position(keypath)
        return self.lines.line_col(span.value_start)

    def comment_on_line(self, line: int) -> str | None:
        start = self.lines.starts[line - 1]
        end = self.lines.starts[line] if line < len(self.lines.starts) else len(self.text)
        for offset, text in self.comments.items():
            if start <= offset < end:
                return text
        return None


def read_text(path: str) -> str:
    """The decoded text of a config file. Only a regular file is opened (a FIFO or a device such
    as /dev/zero is refused by its type first, see `files.read_config_bytes`)."""
    try:
        raw = files.read_config_bytes(path)
    except files.FileProblem as exc:
        raise LoadError(path, exc.message) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        column = len(raw[line_start:exc.start].decode("utf-8", "replace")) + 1
        raise LoadError(path, f"not UTF-8 text (byte {exc.start}, 0x{raw[exc.start]:02x}): save the "
                              f"file as UTF-8", line, column) from None


def _guess_format(path: str, text: str) -> str:
    suffix = FsPath(path).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix == ".toml":
        return "toml"
    return "json" if text.lstrip("\ufeff \t\r\n").startswith(("{", "[")) else "toml"


def _check_structure(path: str, text: str, fmt: str) -> None:
    problem = structure_problem(text, fmt)
    if problem is not None:
        line, col = LineIndex(text).line_col(problem.offset)
        raise LoadError(path, f"invalid {fmt.upper()}: {problem.message}", line, col)


def parse_json(path: str, text: str) -> tuple[Any, dict, list[Duplicate]]:
    """Data, spans and duplicate keys of a JSON text, as Python's json (the GUI's loader) reads
    it: NaN and Infinity are accepted there, the last of duplicate keys wins."""
    _check_structure(path, text, "json")
    body = text[1:] if text.startswith("\ufeff") else text
    offset = len(text) - len(body)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        line, col = LineIndex(text).line_col(exc.pos + offset)
        raise LoadError(path, f"invalid JSON: {exc.msg}", line, col) from None
    except (ValueError, RecursionError) as exc:  # limits structure_problem did not foresee
        raise LoadError(path, f"invalid JSON: Python's json cannot read it: {exc}", 1, 1) from None
    try:
        spans, duplicates = json_scan(text)
    except (ValueError, IndexError):
        spans, duplicates = {(): Span(0, 0, len(text))}, []
    return data, spans, duplicates


def _place_first_definition(message: str, index: LineIndex) -> str:
    """"(first defined at offset N)" of the scanner's messages, as a line and column."""
    if "first defined at offset" not in message:
        return message
    head, _, tail = message.partition(" (first defined at offset ")
    try:
        fl, fc = index.line_col(int(tail.rstrip(")")))
    except ValueError:
        return head
    return f"{head} (first defined at line {fl}, column {fc})"


def parse_toml(path: str, text: str) -> tuple[Any, dict, dict]:
    """Data, spans and comments of a TOML text. A parse error is placed at its line and column
    on every Python (3.11-3.13's tomllib puts the position in the message only, and points past
    the value for a key defined twice: see positions.toml_error)."""
    _check_structure(path, text, "toml")
    body = text[1:] if text.startswith("\ufeff") else text
    index = LineIndex(text)
    scan, scan_problem = toml_scan(text)
    tomllib = _tomllib()
    try:
        data = tomllib.loads(body)
    except tomllib.TOMLDecodeError as exc:
        message, offset = toml_error(text, exc, scan, scan_problem)
        line, col = index.line_col(offset)
        raise LoadError(path, f"invalid TOML: {_place_first_definition(message, index)}", line, col) from None
    except (ValueError, RecursionError) as exc:  # limits structure_problem did not foresee
        raise LoadError(path, f"invalid TOML: Python's tomllib cannot read it: {exc}", 1, 1) from None
    if scan_problem is not None:
        # tomllib accepted what the position scanner did not understand: keep the values and
        # fall back to file-level positions rather than refusing a valid file
        return data, {(): Span(0, 0, len(text))}, {}
    return data, scan.spans, scan.comments


def detect_kind(doc: Document) -> None:
    data = doc.data
    if not isinstance(data, dict):
        doc.kind = OTHER
        return
    keys = set(data)
    datasets = data.get("datasets")
    if is_musubi_dataset(data):
        doc.kind = MUSUBI_DATASET
        return
    if keys and keys <= {"general", "datasets"}:
        doc.kind = DATASET
        return
    if isinstance(datasets, list) and datasets and all(isinstance(d, dict) for d in datasets):
        # a dataset config with stray top-level keys (sd-scripts refuses those: the schema says so)
        doc.kind = DATASET
        return
    if doc.format == "toml" and profiles.looks_like_gui_defaults(data):
        doc.kind = OTHER
        doc.other_reason = "kohya_ss GUI defaults file (config.toml): it sets initial widget values, it is not a training config"
        return
    if doc.format == "json":
        tab, score = profiles.guess_gui_tab(keys)
        if tab is not None:
            doc.kind = GUI
            doc.gui_tab = tab
            doc.gui_versions, doc.gui_version_reasons = profiles.guess_gui_versions(data, tab)
        return
    flat = flatten_args(data)
    if MUSUBI_ARGS_KEYS & set(flat):
        doc.kind = MUSUBI_ARGS
        return
    if profiles.looks_like_args(flat, data):
        doc.kind = ARGS


def is_musubi_dataset(data) -> bool:
    """A dataset config whose datasets (or [general]) use musubi-tuner's keys and none of the
    sd-scripts subsets."""
    if not isinstance(data, dict):
        return False
    datasets = data.get("datasets")
    tables = [d for d in datasets if isinstance(d, dict)] if isinstance(datasets, list) else []
    if any("subsets" in d or "image_dir" in d for d in tables):
        return False
    general = data.get("general")
    if isinstance(general, dict) and MUSUBI_DATASET_KEYS & set(general):
        return True
    return any(MUSUBI_DATASET_KEYS & set(d) for d in tables)


def flatten_args(data: dict) -> dict:
    """sd-scripts `read_config_from_file`: top-level tables are merged into the top level, one
    level deep, the last section in file order winning (sd-scripts train_util.py, all versions)."""
    flat: dict = {}
    for key, value in data.items():
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                flat[sub] = subvalue
        else:
            flat[key] = value
    return flat


def flat_arg_path(data: dict, key: str) -> tuple | None:
    """The key path, in the original document, of the value that wins for a flattened arg."""
    found = None
    for top, value in data.items():
        if isinstance(value, dict):
            if key in value:
                found = (top, key)
        elif top == key:
            found = (top,)
    return found


def load(path: str) -> Document:
    return from_text(path, read_text(path))


def from_text(path: str, text: str) -> Document:
    """The Document `load(path)` gives when the file holds `text` (solve reads its result so,
    before writing it)."""
    fmt = _guess_format(path, text)
    comments: dict = {}
    duplicates: list = []
    if fmt == "json":
        data, spans, duplicates = parse_json(path, text)
    else:
        data, spans, comments = parse_toml(path, text)
    doc = Document(path=path, text=text, format=fmt, data=data, spans=spans, comments=comments,
                   duplicates=duplicates)
    detect_kind(doc)
    return doc
