"""musubi-tuner's reading of a dataset config and a training config, as its own code does it.

- `load_dataset_config`: the file as `load_user_config` reads it (toml 0.10.2 for .toml, json for
  .json; any other suffix refused), deprecated keys renamed (dataset/config_utils.py:396-450).
- `sanitize`: `ConfigSanitizer.sanitize_user_config` (config_utils.py:127-223, voluptuous 0.15.2):
  the first error in the file's key order, worded as voluptuous words it
  (`MultipleInvalid: expected float for dictionary value @ data['datasets'][0]['source_fps']`),
  with the key path so lint and steps can place it. A non-table dataset that Python's `in`
  cannot search stops earlier with a TypeError (config_utils.py:195-199).
- `blueprint`: `BlueprintGenerator.generate` (config_utils.py:255-297): each dataset is an image
  dataset when it has `image_directory` or `image_jsonl_file`, otherwise a video dataset; every
  parameter of that kind is searched in the dataset, [general], the script's argument namespace
  (every key of the training --config_file lands there, read_config_from_file in
  training/parser_common.py:780-811), then the architecture; the first value that is not None wins.
- `training_args`: the --config_file as the training script reads it (sections flattened one level,
  no type conversion) with argparse's defaults for what matters to the counts.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from kohya_tune.engine.plan import Origin, PlanError, TrainerRefusal
from kohya_tune.load import documents
from kohya_tune.versions import musubi as mv


@dataclass
class DatasetParams:
    """One dataset as the trainer builds it: resolved values, where each came from, and its place."""
    index: int
    is_image: bool
    values: dict
    sources: dict                   # name -> "dataset" | "general" | "training args" | "default" | "architecture"
    keypath: tuple                  # ("datasets", i) in the dataset config
    origins: dict = field(default_factory=dict)   # name -> Origin of the value (when from a file)

    def __getitem__(self, name):
        return self.values[name]

    @property
    def kind(self) -> str:
        return "image" if self.is_image else "video"


# ------------------------------------------------------------------------------------------
# reading the file

def parse_like_musubi(doc: documents.Document):
    """The value musubi's `load_user_config` gets from this file (toml 0.10.2 / json), or the
    error it raises, with deprecated keys renamed as it renames them."""
    name = Path(doc.path).name.lower()
    if name.endswith(".json") or (doc.format == "json" and not name.endswith(".toml")):
        data = json.loads(doc.text[1:] if doc.text.startswith("\ufeff") else doc.text)
    else:
        import toml

        try:
            data = toml.loads(doc.text[1:] if doc.text.startswith("\ufeff") else doc.text)
        except Exception as exc:  # noqa: BLE001 - toml's own error is what musubi prints
            raise TrainerRefusal(f"{type(exc).__name__}: {exc}", Origin(doc, ()),
                                 note="musubi-tuner reads the dataset config with toml 0.10.2 "
                                      "(dataset/config_utils.py:410-417)") from None
    return rename_deprecated(data)


def rename_deprecated(data):
    renames = mv.schema()["deprecated_keys"]

    def fix(section: dict) -> None:
        for old, new in renames.items():
            if old.startswith("_") or old not in section:
                continue
            if new not in section:
                section[new] = section[old]
            del section[old]

    if isinstance(data, dict):
        data = dict(data)
        if isinstance(data.get("general"), dict):
            data["general"] = dict(data["general"])
            fix(data["general"])
        if isinstance(data.get("datasets"), list):
            data["datasets"] = [dict(d) if isinstance(d, dict) else d for d in data["datasets"]]
            for d in data["datasets"]:
                if isinstance(d, dict):
                    fix(d)
    return data


# ------------------------------------------------------------------------------------------
# ConfigSanitizer

class Invalid(Exception):
    def __init__(self, message: str, keypath: tuple, type_error: bool = False):
        super().__init__(message)
        self.message = message
        self.keypath = keypath
        self.type_error = type_error


def _path_text(keypath: tuple) -> str:
    return "data" + "".join(f"[{k!r}]" for k in keypath)


def _check_type(kind: str, value, keypath: tuple) -> Invalid | None:
    """The first voluptuous error of one value, or None."""
    if kind == "str":
        ok = isinstance(value, str)
    elif kind == "int":
        ok = isinstance(value, int)          # a bool is an int for voluptuous
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "float":
        ok = isinstance(value, float)        # 30 is not a float: config_utils.py:176
    elif kind == "int_or_pair":
        ok = isinstance(value, int) or (isinstance(value, (list, tuple)) and len(value) == 2
                                         and all(isinstance(v, int) for v in value))
        kind = "int"
    elif kind == "int_list":
        if not isinstance(value, list):
            return Invalid(f"expected a list for dictionary value @ {_path_text(keypath)}", keypath)
        for i, item in enumerate(value):
            if not isinstance(item, int):
                return Invalid(f"expected int @ {_path_text(keypath + (i,))}", keypath + (i,))
        return None
    else:  # pragma: no cover - data error
        raise ValueError(kind)
    if ok:
        return None
    return Invalid(f"expected {kind} for dictionary value @ {_path_text(keypath)}", keypath)


def _check_mapping(section: dict, schema: dict, keypath: tuple) -> Invalid | None:
    for key, value in section.items():
        kind = schema.get(key) if isinstance(key, str) else None
        if kind is None:
            return Invalid(f"extra keys not allowed @ {_path_text(keypath + (key,))}", keypath + (key,))
        problem = _check_type(kind, value, keypath + (key,))
        if problem is not None:
            return problem
    return None


def dataset_schema(dataset: dict) -> dict:
    s = mv.schema()
    out = dict(s["ascendable"])
    out.update(s["video"] if ("video_directory" in dataset or "video_jsonl_file" in dataset) else s["image"])
    return out


def sanitize(data) -> Invalid | None:
    """The error ConfigSanitizer raises first for this value, or None when it passes."""
    s = mv.schema()
    first: Invalid | None = None
    if not isinstance(data, dict):
        return Invalid("expected a dictionary", ())
    for key, value in data.items():
        problem = None
        if key == "general":
            if not isinstance(value, dict):
                problem = Invalid(f"expected a dictionary for dictionary value @ {_path_text(('general',))}",
                                  ("general",))
            else:
                problem = _check_mapping(value, s["ascendable"], ("general",))
        elif key == "datasets":
            if not isinstance(value, list):
                problem = Invalid(f"expected a list for dictionary value @ {_path_text(('datasets',))}",
                                  ("datasets",))
            else:
                for i, dataset in enumerate(value):
                    path = ("datasets", i)
                    if not isinstance(dataset, (str, list, dict, tuple)):
                        # `"video_directory" in dataset` raises before voluptuous sees it
                        return Invalid(f"argument of type '{type(dataset).__name__}' is not iterable",
                                       path, type_error=True)
                    if not isinstance(dataset, dict):
                        err = Invalid(f"expected a dictionary @ {_path_text(path)}", path)
                    else:
                        err = _check_mapping(dataset, dataset_schema(dataset), path)
                    if err is not None and problem is None:
                        problem = err
        else:
            problem = Invalid(f"extra keys not allowed @ {_path_text((key,))}", (key,))
        if problem is not None and first is None:
            first = problem
    return first


def refusal(doc: documents.Document, problem: Invalid) -> TrainerRefusal:
    kind = "TypeError" if problem.type_error else "MultipleInvalid"
    return TrainerRefusal(f"{kind}: {problem.message}", Origin(doc, problem.keypath),
                          note="musubi-tuner logs \"Invalid user config\" and stops "
                               "(dataset/config_utils.py:217-223)")


# ------------------------------------------------------------------------------------------
# BlueprintGenerator

def blueprint(doc: documents.Document, data: dict, args: dict, arch_short: str,
              args_doc: documents.Document | None = None) -> list[DatasetParams]:
    """The datasets musubi builds, each parameter through the fallback chain."""
    general = data.get("general") or {}
    out = []
    for i, dataset in enumerate(data.get("datasets") or []):
        is_image = "image_directory" in dataset or "image_jsonl_file" in dataset
        defaults = mv.defaults("image" if is_image else "video")
        values, sources, origins = {}, {}, {}
        for name, default in defaults.items():
            if dataset.get(name) is not None:
                values[name], sources[name] = dataset[name], "dataset"
                origins[name] = Origin(doc, ("datasets", i, name))
            elif general.get(name) is not None:
                values[name], sources[name] = general[name], "general"
                origins[name] = Origin(doc, ("general", name))
            elif args.get(name) is not None:
                values[name], sources[name] = args[name], "training args"
                if args_doc is not None:
                    origins[name] = Origin(args_doc, documents.flat_arg_path(args_doc.data, name) or ())
            else:
                values[name], sources[name] = (tuple(default) if isinstance(default, list) else default), "default"
        values["architecture"] = arch_short
        sources["architecture"] = "architecture"
        # the sanitizer turns resolution into a pair (config_utils.py:136-142); a value from the
        # training args is not sanitized and stays as written
        for name in ("resolution", "control_resolution"):
            v = values.get(name)
            if sources.get(name) in ("dataset", "general") and isinstance(v, int):
                values[name] = (v, v)
            elif isinstance(v, list):
                values[name] = tuple(v)
        out.append(DatasetParams(index=i, is_image=is_image, values=values, sources=sources,
                                 keypath=("datasets", i), origins=origins))
    return out


# ------------------------------------------------------------------------------------------
# the training --config_file

def training_args(doc: documents.Document | None) -> tuple[dict, dict]:
    """(args, origins): the --config_file's keys as the namespace gets them, flattened one level
    (parser_common.py:794-806)."""
    if doc is None:
        return {}, {}
    data = doc.data if isinstance(doc.data, dict) else {}
    flat = documents.flatten_args(data)
    origins = {k: Origin(doc, documents.flat_arg_path(data, k) or ()) for k in flat}
    return flat, origins


def dataset_config_path(args: dict, args_doc: documents.Document, path_map) -> tuple[Path | None, str]:
    """The dataset config the training config names, resolved here (None: not found)."""
    from kohya_tune.engine.plan import resolve_file

    text = args.get("dataset_config")
    if not isinstance(text, str) or not text:
        raise PlanError("the training config names no dataset_config (musubi-tuner stops with "
                        "\"ValueError: dataset_config is required\", training/trainer_base.py:1391)",
                        args_doc.path)
    return resolve_file(text, path_map, args_doc.directory), text
