"""The fuzz harness: hostile configs through `lint`, `steps` and `solve --diff`, in-process.

Used by tests/test_fuzz.py (a bounded run in CI) and tools/fuzz.py (a longer run with --budget).

Inputs come from three generators, all seeded from the real configs of tests/data/corpus:
- `structured`: a corpus GUI JSON, args TOML or dataset TOML parsed, then keys the engine reads
  (and random others) set to hostile values (Infinity, NaN, 1e309, integers of thousands of
  digits, -0.0, booleans, 0, nested lists, tables, strings, deep nesting), keys removed, folder
  keys pointed at a small real dataset built in the work folder; written back as JSON or TOML
  text by the serializers below (which can write what `json.dumps` and TOML writers refuse);
- `generated`: a config built from the key inventories alone (GUI keys, sd-scripts options,
  dataset config keys) with hypothesis-drawn values;
- `mutated`: the bytes of a corpus file with deletions, insertions, duplications, truncations and
  byte flips.

Every input is run through the CLI functions with typer's CliRunner: `lint`, `lint --diff`,
`steps`, `steps --format json`, `solve --diff` with step and epoch targets, and `schedule` (text,
JSON and every --plot format). A failure is an exit code 3, an exception that escapes the command,
or a command that uses more than `TIME_LIMIT` seconds of CPU time (or `WALL_LIMIT` seconds in all,
for one blocked without using the CPU).

`balance` has its own generator and runner (`balance_inputs`, `run_balance`): a structured config
or a random folder dataset, with hostile options (weights of 1e400, --max-repeats 1e6, huge sizes,
tolerances of 0, 1 and more, text that is no number), through the plan, `--diff`, `--check` and
JSON; then `--apply` and `--undo` on a copy of the dataset, after which the copy must be byte for
byte what it was (the names, every file's bytes, nothing left behind).
"""
from __future__ import annotations

import json
import math
import os
import signal
import struct
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "data" / "corpus"
TIME_LIMIT = 10.0  # CPU seconds per command: the "no hang" bound
WALL_LIMIT = 60.0  # wall-clock seconds per command (a command blocked without using the CPU)

# ------------------------------------------------------------------------------------------
# seeds


def _corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.suffix in (".json", ".toml") and p.name != "index.json")


def _load_seed(path: Path):
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover
                import tomli as tomllib
            data = tomllib.loads(text)
    except ValueError:
        data = None
    return text, data


@dataclass(frozen=True)
class Seed:
    name: str
    format: str      # json | toml
    kind: str        # gui | args | dataset
    text: str
    data: object


def seeds() -> list[Seed]:
    out = []
    for path in _corpus_files():
        text, data = _load_seed(path)
        if not isinstance(data, dict):
            continue
        if path.suffix == ".json":
            kind = "dataset" if "datasets" in data else "gui"
        else:
            kind = "dataset" if "datasets" in data or "general" in data else "args"
        out.append(Seed(str(path.relative_to(CORPUS)), path.suffix[1:], kind, text, data))
    return out


_SEEDS: list[Seed] | None = None


def all_seeds() -> list[Seed]:
    global _SEEDS
    if _SEEDS is None:
        _SEEDS = seeds()
    return _SEEDS


def _inventory(name: str) -> dict:
    root = HERE.parent / "kohya_tune" / "versions" / "data" / name
    return json.loads(root.read_text(encoding="utf-8"))


# keys that reach the GUI's formula, the trainer's arithmetic, the buckets and the warm-up
ENGINE_KEYS = [
    "epoch", "max_train_steps", "max_train_epochs", "train_batch_size", "batch_size",
    "gradient_accumulation_steps", "num_processes", "lr_warmup", "lr_warmup_steps",
    "lr_scheduler", "lr_scheduler_num_cycles", "max_resolution", "resolution", "enable_bucket",
    "min_bucket_reso", "max_bucket_reso", "bucket_reso_steps", "bucket_no_upscale",
    "dataset_repeats", "num_repeats", "caption_extension", "caption_extention", "in_json",
    "metadata_file", "train_data_dir", "reg_data_dir", "image_folder", "image_dir", "is_reg",
    "dataset_config", "save_every_n_epochs", "save_every_n_steps", "sample_every_n_epochs",
    "sample_every_n_steps", "flip_aug", "validation_split", "validation_seed", "seed",
    "learning_rate", "optimizer", "multi_gpu", "train_dir", "use_latent_files",
    "latent_metadata_filename", "caption_metadata_filename", "sdxl", "v2", "LoRA_type",
    "max_data_loader_n_workers", "class_tokens", "conditioning_data_dir", "general", "datasets",
    "subsets", "shuffle_caption", "keep_tokens", "cache_latents", "random_crop", "color_aug",
]

# ------------------------------------------------------------------------------------------
# values


class Raw:
    """A literal written as it is (1e309, a 5000-digit integer, a JSON NaN, a TOML date)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:40]!r})"


def _deep(depth: int, kind: str):
    return Raw("[" * depth + "]" * depth) if kind == "list" else Raw("{\"a\": " * depth + "1" + "}" * depth)


HOSTILE = [
    Raw("Infinity"), Raw("-Infinity"), Raw("NaN"), Raw("1e309"), Raw("-1e309"), Raw("1e-400"),
    Raw("9" * 5000), Raw("-" + "9" * 4400), Raw("1" + "0" * 4300), Raw("-0.0"), Raw("0.0"),
    Raw("4" * 300), Raw("2" * 20), Raw("1e308"), Raw("1.5"), Raw("1e3"),
    0, -1, 1, 2, 3, 7, 2 ** 31, 2 ** 63, 10 ** 30, -(10 ** 30), True, False, None,
    "", "0", "1", "10", "-1", "abc", "1,2", "512,512", "[8]", "1e309", "inf", "nan", " 7",
    "0x10", "1_000", "٣", "\u0000", "\x7f", "a" * 300,
    [], [0], [8], [[1], [2]], [512, 512], [1, 2, 3], ["a", "b"], [True, False], [None],
    {}, {"a": 1}, {"datasets": []},
    _deep(3000, "list"), _deep(3000, "dict"), _deep(60, "list"),
]

# TOML-only literals (dates, special floats, other integer forms)
TOML_ONLY = [Raw("inf"), Raw("-inf"), Raw("nan"), Raw("+nan"), Raw("1979-05-27"),
             Raw("1979-05-27T07:32:00Z"), Raw("07:32:00"), Raw("0x7fffffff"), Raw("0o777"),
             Raw("0b1010"), Raw("1_000_000"), Raw("1979-13-45"), Raw("01"), Raw("1 2"),
             Raw("{a = 1,}"), Raw("'''multi\nline'''"), Raw('"""x"""')]

scalar_values = st.one_of(
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=12),
    st.sampled_from(HOSTILE),
)
values = st.recursive(scalar_values,
                      lambda inner: st.one_of(st.lists(inner, max_size=4),
                                              st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3)),
                      max_leaves=8)


# ------------------------------------------------------------------------------------------
# serializers that write anything (Raw literals included)

def _json_float(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return repr(x)


def to_json(value, indent: int = 0) -> str:
    pad = "  " * (indent + 1)
    if isinstance(value, Raw):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(to_json(v, indent + 1) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}{json.dumps(str(k))}: {to_json(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    return json.dumps(str(value))


def _toml_key(key) -> str:
    key = str(key)
    import re
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_float(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    text = repr(x)
    return text if any(c in text for c in ".e") else text + ".0"


def toml_value(value) -> str:
    if isinstance(value, Raw):
        return {"Infinity": "inf", "-Infinity": "-inf", "NaN": "nan"}.get(value.text, value.text)
    if value is None:
        return '""'  # TOML has no null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _toml_float(value)
    if isinstance(value, str):
        return json.dumps(value).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))


def to_toml(data: dict) -> str:
    """Top-level scalars first, then [tables] and [[arrays of tables]] (datasets/subsets)."""
    lines: list[str] = []
    tables = []
    for key, value in data.items():
        if isinstance(value, dict) and value:
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {toml_value(value)}")

    def emit_table(prefix: str, table: dict) -> None:
        subs = []
        for key, value in table.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                subs.append((key, value))
            else:
                lines.append(f"{_toml_key(key)} = {toml_value(value)}")
        for key, items in subs:
            for item in items:
                lines.append(f"[[{prefix}.{_toml_key(key)}]]")
                emit_table(f"{prefix}.{_toml_key(key)}", item)

    for key, value in tables:
        if isinstance(value, dict):
            lines.append(f"[{_toml_key(key)}]")
            emit_table(_toml_key(key), value)
        else:
            for item in value:
                lines.append(f"[[{_toml_key(key)}]]")
                emit_table(_toml_key(key), item)
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------
# a small real dataset to point configs at


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = (b"\x00" + b"\x80" * (width * 3)) * height
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def make_workspace(root: Path) -> dict:
    """img/10_cat (3 images), img/2_dog (1), reg/1_person (2), flat/ (images directly), a
    metadata JSON and a dataset TOML: the folder values structured inputs may point at."""
    root.mkdir(parents=True, exist_ok=True)
    for folder, sizes in (("img/10_cat", [(64, 64), (96, 64), (64, 128)]), ("img/2_dog", [(80, 80)]),
                          ("reg/1_person", [(64, 64), (64, 64)]), ("flat", [(64, 64), (128, 64)])):
        d = root / folder
        d.mkdir(parents=True, exist_ok=True)
        for i, (w, h) in enumerate(sizes):
            (d / f"{i:03d}.png").write_bytes(_png(w, h))
            (d / f"{i:03d}.txt").write_text("a photo", encoding="utf-8")
    (root / "img" / "notes").mkdir(exist_ok=True)
    meta = {str(root / "flat" / "000.png"): {"caption": "x", "train_resolution": [64, 64]},
            str(root / "flat" / "001"): {"tags": "y"}}
    (root / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    (root / "dataset.toml").write_text(
        "[general]\nresolution = 64\ncaption_extension = '.txt'\n[[datasets]]\nbatch_size = 2\n"
        f"[[datasets.subsets]]\nimage_dir = {json.dumps(str(root / 'img' / '10_cat'))}\nnum_repeats = 3\n",
        encoding="utf-8")
    return {
        "train_data_dir": str(root / "img"), "reg_data_dir": str(root / "reg"),
        "image_folder": str(root / "flat"), "image_dir": str(root / "img" / "10_cat"),
        "train_dir": str(root), "in_json": str(root / "meta.json"),
        "metadata_file": str(root / "meta.json"), "dataset_config": str(root / "dataset.toml"),
        "conditioning_data_dir": str(root / "flat"),
    }


# ------------------------------------------------------------------------------------------
# strategies producing (file name, text)

def _paths_into(data, workspace: dict, draw) -> None:
    """Point folder keys at the workspace (most of the time), wherever they sit."""
    if isinstance(data, dict):
        for key in list(data):
            if key in workspace and isinstance(data[key], str) and draw(st.integers(0, 9)) < 8:
                data[key] = workspace[key]
            else:
                _paths_into(data[key], workspace, draw)
    elif isinstance(data, list):
        for item in data:
            _paths_into(item, workspace, draw)


def _keypaths(data, prefix=()):
    if isinstance(data, dict):
        for key, value in data.items():
            yield prefix + (key,)
            yield from _keypaths(value, prefix + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield prefix + (i,)
            yield from _keypaths(value, prefix + (i,))


def _set_path(data, keypath, value) -> None:
    target = data
    for part in keypath[:-1]:
        target = target[part]
    target[keypath[-1]] = value


def _del_path(data, keypath) -> None:
    target = data
    for part in keypath[:-1]:
        target = target[part]
    del target[keypath[-1]]


@st.composite
def structured(draw, workspace: dict):
    import copy

    seed = draw(st.sampled_from(all_seeds()))
    data = copy.deepcopy(seed.data)
    _paths_into(data, workspace, draw)
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_keypaths(data))
        op = draw(st.sampled_from(["set-engine", "set-engine", "set-any", "delete", "add-section"]))
        if op == "set-engine":
            key = draw(st.sampled_from(ENGINE_KEYS))
            where = [p for p in paths if p[-1] == key]
            # a copy: HOSTILE holds shared lists and tables a later operation could write into
            value = copy.deepcopy(draw(st.one_of(st.sampled_from(HOSTILE + (TOML_ONLY if seed.format == "toml" else [])),
                                                 values)))
            if where:
                _set_path(data, draw(st.sampled_from(where)), value)
            elif isinstance(data, dict):
                data[key] = value
        elif op == "set-any" and paths:
            _set_path(data, draw(st.sampled_from(paths)), copy.deepcopy(draw(values)))
        elif op == "delete" and paths:
            try:
                _del_path(data, draw(st.sampled_from(paths)))
            except (IndexError, KeyError, TypeError):
                pass
        elif op == "add-section" and isinstance(data, dict):
            name = draw(st.sampled_from(["general", "datasets", "subsets", "training", "model"]))
            data[name] = draw(st.one_of(values, st.just([{"subsets": [{"image_dir": workspace["image_dir"]}]}])))
    text = to_json(data) if seed.format == "json" else to_toml(data)
    return f"structured.{seed.format}", text, seed.name


@st.composite
def generated(draw, workspace: dict):
    kind = draw(st.sampled_from(["gui", "args", "dataset"]))
    if kind == "gui":
        keys = draw(st.lists(st.sampled_from(sorted(_gui_keys())), min_size=3, max_size=25, unique=True))
        data = {k: draw(st.one_of(values, st.sampled_from(HOSTILE))) for k in keys}
        data.setdefault("LoRA_type", draw(st.sampled_from(["Standard", "LoCon", "LyCORIS/LoKr", 3])))
        for k in ("train_data_dir", "epoch", "train_batch_size"):
            data.setdefault(k, draw(st.sampled_from([workspace.get(k, 1), 1, 10, "1", ""])))
        _paths_into(data, workspace, draw)
        return "generated.json", to_json(data), "gui keys"
    if kind == "args":
        keys = draw(st.lists(st.sampled_from(sorted(_args_keys())), min_size=2, max_size=20, unique=True))
        flat = {k: draw(st.one_of(values, st.sampled_from(HOSTILE + TOML_ONLY))) for k in keys}
        flat.setdefault("train_data_dir", workspace["train_data_dir"])
        flat.setdefault("resolution", draw(st.sampled_from(["64,64", "64", 64, [64, 64]])))
        _paths_into(flat, workspace, draw)
        if draw(st.booleans()):
            sections: dict = {}
            for k, v in flat.items():
                sections.setdefault(draw(st.sampled_from(["model", "training", "dataset"])), {})[k] = v
            flat = sections
        return "generated.toml", to_toml(flat), "sd-scripts options"
    dkeys = sorted(_dataset_keys())
    def table(n):
        return {k: draw(st.one_of(values, st.sampled_from(HOSTILE + TOML_ONLY)))
                for k in draw(st.lists(st.sampled_from(dkeys), max_size=n, unique=True))}
    subsets = [dict(table(4), image_dir=draw(st.sampled_from([workspace["image_dir"], workspace["train_data_dir"], "missing", 3])))
               for _ in range(draw(st.integers(0, 3)))]
    data = {"general": table(4),
            "datasets": [dict(table(4), subsets=subsets) for _ in range(draw(st.integers(1, 2)))]}
    return "generated_dataset.toml", to_toml(data), "dataset keys"


def _gui_keys() -> set:
    inv = _inventory("gui_keys.json")
    keys = set()
    for tab in inv.get("tabs", {}).values():
        if isinstance(tab, dict):
            for v in tab.values():
                if isinstance(v, (list, dict)):
                    keys |= {k for k in v if isinstance(k, str)}
    keys |= set(ENGINE_KEYS)
    return {k for k in keys if len(k) < 60}


def _args_keys() -> set:
    inv = _inventory("sd_scripts_args.json")
    keys = set()
    for profile in inv.get("profiles", {}).values():
        options = profile.get("options", profile) if isinstance(profile, dict) else {}
        if isinstance(options, dict):
            keys |= {k for k in options if isinstance(k, str)}
    keys |= set(ENGINE_KEYS) - {"epoch", "general", "datasets", "subsets"}
    return {k for k in keys if len(k) < 60}


def _dataset_keys() -> set:
    inv = _inventory("dataset_keys.json")
    return set(inv.get("keys", {})) or {"batch_size", "resolution", "num_repeats", "image_dir"}


MUTATIONS = ["delete", "insert", "duplicate", "truncate", "flip", "swap-token"]
INSERTS = [b"{", b"}", b"[", b"]", b",", b"\"", b"'", b"=", b"\n", b"\r", b"#", b".", b"-", b"e9",
           b"Infinity", b"NaN", b"1e309", b"9" * 4400, b"\xff", b"\x00", b"\xef\xbb\xbf", b"[[",
           b"]]", b"true", b"0", b'"a" = 1\n', b"a.b = 1\n", b"\t", b"\\", b"\"\"\"", b"'''"]


@st.composite
def mutated(draw):
    seed = draw(st.sampled_from(all_seeds()))
    data = bytearray(seed.text.encode("utf-8"))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(MUTATIONS))
        n = len(data)
        at = draw(st.integers(0, max(0, n)))
        if op == "delete" and n:
            del data[at:at + draw(st.integers(1, 16))]
        elif op == "insert":
            data[at:at] = draw(st.one_of(st.sampled_from(INSERTS), st.binary(min_size=1, max_size=4)))
        elif op == "duplicate" and n:
            length = draw(st.integers(1, 64))
            data[at:at] = data[at:at + length]
        elif op == "truncate":
            del data[at:]
        elif op == "flip" and at < n:
            data[at] = data[at] ^ (1 << draw(st.integers(0, 7)))
        elif op == "swap-token" and n:
            data[at:at + 1] = draw(st.sampled_from(INSERTS))
    suffix = "." + seed.format
    return f"mutated{suffix}", bytes(data), seed.name


# ------------------------------------------------------------------------------------------
# running


class Hang(Exception):
    pass


def _alarm(signum, frame):  # pragma: no cover - only when a command hangs
    raise Hang(f"a command ran longer than {TIME_LIMIT} s of CPU time or {WALL_LIMIT} s in all")


COMMANDS = [
    ("lint",), ("lint", "--diff"), ("steps",), ("steps", "--format", "json"),
    ("solve", "--diff", "--target-epochs", "7"), ("solve", "--diff", "--target-steps", "333"),
    ("solve", "--diff", "--target-epochs", "1000000"), ("solve", "--diff", "--target-steps", "1"),
    ("schedule",), ("schedule", "--format", "json"),
    ("schedule", "--plot", "fuzz-plot.svg"), ("schedule", "--plot", "fuzz-plot.html"),
    ("schedule", "--plot", "fuzz-plot.png"),
]


@dataclass
class Failure:
    command: tuple
    name: str
    origin: str
    exit_code: int | None
    detail: str
    content: bytes

    def describe(self) -> str:
        return (f"{' '.join(self.command)} {self.name} (from {self.origin}): exit {self.exit_code}\n"
                f"{self.detail}")


def _invoke(runner, app, args: list, label: tuple, name: str, origin: str, data: bytes):
    """One command in this process with the CPU and wall-clock alarms: (result, failure)."""
    use_alarm = hasattr(signal, "SIGALRM") and hasattr(signal, "SIGPROF")
    if use_alarm:
        # CPU time for busy loops (a loaded machine does not make a command "hang"), wall
        # time, with room, for a command blocked on something (a FIFO)
        old_prof = signal.signal(signal.SIGPROF, _alarm)
        old_alrm = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_PROF, TIME_LIMIT)
        signal.setitimer(signal.ITIMER_REAL, WALL_LIMIT)
    started = time.process_time()
    try:
        result = runner.invoke(app, args)
    except Hang as exc:  # raised outside the command's own try (rare)
        return None, Failure(label, name, origin, None, str(exc), data)
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGPROF, old_prof)
            signal.signal(signal.SIGALRM, old_alrm)
    elapsed = time.process_time() - started
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        import traceback

        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return result, Failure(label, name, origin, result.exit_code, tb[-3000:], data)
    if result.exit_code == 3:
        return result, Failure(label, name, origin, 3, (result.stderr or "")[-3000:], data)
    if elapsed > TIME_LIMIT:
        return result, Failure(label, name, origin, result.exit_code, f"took {elapsed:.1f} s", data)
    return result, None


def run_one(folder: Path, name: str, content, origin: str, commands=COMMANDS) -> list[Failure]:
    """Write the input into `folder` and run every command on it; the failures found."""
    from typer.testing import CliRunner

    from kohya_tune.cli import app

    data = content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
    path = folder / name
    failures = []
    runner = CliRunner()
    for command in commands:
        path.write_bytes(data)
        _, failure = _invoke(runner, app, [*command, str(path)], command, name, origin, data)
        if failure is not None:
            failures.append(failure)
    return failures


# ------------------------------------------------------------------------------------------
# balance: hostile options, then --apply and --undo on a copy

WEIGHT_VALUES = ["2", "0.5", "1/3", "1e400", "-1", "0", "inf", "nan", "1e-400", "1e999999999", "abc",
                 "", "1" * 80, "1e6", "1e-6", "3/0", "1_000", " 2 ", "0x10", "٣"]
TOLERANCE_VALUES = ["0", "0.1", "0.05", "1", "2.5", "1e9", "1e10", "-0.1", "abc", "1e999999999",
                    "nan", "inf", "1/3", "0.0000001"]
SIZE_VALUES = ["1", "7", "100", "1000", "100000", "1000000000", "9" * 30, "0", "-5", "1e6", "abc"]
REPEAT_VALUES = ["1", "2", "10", "100", "1000", "1000000", "0", "-1", "9" * 25]
CONCEPT_NAMES = ["cat", "dog", "person", "nope", "", "=", "a=b", "img/10_cat", "c0", "c1"]


@st.composite
def balance_options(draw) -> list:
    """A hostile balance command line (the config comes last)."""
    opts: list = []
    for _ in range(draw(st.integers(0, 3))):
        opts += ["--weight", f"{draw(st.sampled_from(CONCEPT_NAMES))}={draw(st.sampled_from(WEIGHT_VALUES))}"]
    size = draw(st.sampled_from([None, None, "--total", "--per-concept"]))
    if size:
        opts += [size, draw(st.sampled_from(SIZE_VALUES))]
    if draw(st.booleans()):
        opts += ["--tolerance", draw(st.sampled_from(TOLERANCE_VALUES))]
    if draw(st.integers(0, 3)) == 0:
        opts += ["--max-repeats", draw(st.sampled_from(REPEAT_VALUES))]
    if draw(st.integers(0, 4)) == 0:
        opts += ["--min-repeats", draw(st.sampled_from(REPEAT_VALUES))]
    if draw(st.booleans()):
        opts.append("--include-reg")
    target = draw(st.sampled_from([None, None, None, "--target-epochs", "--target-steps"]))
    if target:
        opts += [target, draw(st.sampled_from(["1", "7", "333", "1000000", "0"]))]
    if draw(st.integers(0, 3)) == 0:
        opts += ["--num-processes", draw(st.sampled_from(["1", "2", "3"]))]
    return opts


@st.composite
def folder_dataset(draw, workspace: dict):
    """A random folder dataset (N_name folders of tiny PNGs, reg folders) and an args TOML for
    it: (name, config text, origin, tree) with tree {relative path: bytes} written by the runner."""
    tree: dict = {}
    sizes = [(64, 64), (64, 96), (96, 64), (80, 80)]
    names = ["c0", "c1", "c2", "c3", "c4"]
    for i in range(draw(st.integers(1, 5))):
        repeats = draw(st.sampled_from(["1", "2", "3", "5", "10", "20", "0", "x", "007"]))
        w, h = draw(st.sampled_from(sizes))
        for k in range(draw(st.integers(0, 6))):
            tree[f"img/{repeats}_{names[i]}/{k:03d}.png"] = (w, h)
            tree[f"img/{repeats}_{names[i]}/{k:03d}.txt"] = b"a photo"
    reg = draw(st.integers(0, 2))
    for i in range(reg):
        for k in range(draw(st.integers(1, 5))):
            tree[f"reg/1_r{i}/{k:03d}.png"] = draw(st.sampled_from(sizes))
    batch = draw(st.sampled_from(["1", "2", "4", "0", '"2"']))
    text = (f'train_data_dir = "img"\n' + ('reg_data_dir = "reg"\n' if reg else "")
            + f'resolution = "64,64"\nenable_bucket = true\nmin_bucket_reso = 64\nmax_bucket_reso = 128\n'
            f'bucket_reso_steps = 16\ntrain_batch_size = {batch}\ncaption_extension = ".txt"\n'
            f'max_train_epochs = {draw(st.sampled_from(["3", "10", "0", "1.5"]))}\n'
            f'pretrained_model_name_or_path = "model.safetensors"\n')
    return "folders.toml", text, "folder dataset", tree


@st.composite
def balance_inputs(draw, workspace: dict):
    """(name, content, origin, options, tree): a structured config pointing at the workspace
    (tree None) or a random folder dataset (its tree), with hostile balance options."""
    if draw(st.booleans()):
        name, content, origin = draw(structured(workspace))
        tree = None
    else:
        name, content, origin, tree = draw(folder_dataset(workspace))
    return name, content, origin, draw(balance_options()), tree


BALANCE_MODES = [(), ("--diff",), ("--check",), ("--format", "json")]


def _snapshot(root: Path) -> dict:
    """Every name under root (folders too) with its bytes, as a byte-for-byte comparison."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = None
        for f in filenames:
            path = os.path.join(dirpath, f)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root)] = fh.read()
    return out


def _materialize(root: Path, tree: dict) -> None:
    for rel, value in tree.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_png(*value) if isinstance(value, tuple) else value)
    (root / "img").mkdir(exist_ok=True)


def run_balance(folder: Path, workspace_root: Path, example) -> list[Failure]:
    """The plan views on the input, then --apply and --undo on a copy of its dataset (the
    workspace, or the example's own tree): the copy must come back byte for byte."""
    import shutil
    import tempfile

    from typer.testing import CliRunner

    from kohya_tune.cli import app

    name, content, origin, options, tree = example
    data = content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
    runner = CliRunner()
    failures = []
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        copy = Path(tmp) / "ws"
        if tree is None:
            shutil.copytree(workspace_root, copy, symlinks=True)
            data = data.replace(str(workspace_root).encode(), str(copy).encode())
            for inner in ("dataset.toml", "meta.json"):     # their paths into the copy too
                path = copy / inner
                if path.is_file():
                    path.write_bytes(path.read_bytes().replace(str(workspace_root).encode(),
                                                               str(copy).encode()))
        else:
            copy.mkdir()
            _materialize(copy, tree)
        config = copy / name
        config.write_bytes(data)
        for mode in BALANCE_MODES:
            label = ("balance", *mode, *options)
            _, failure = _invoke(runner, app, ["balance", *mode, *options, str(config)], label, name,
                                 origin, data)
            if failure is not None:
                failures.append(failure)
        before = _snapshot(copy)
        label = ("balance", "--apply", *options)
        result, failure = _invoke(runner, app, ["balance", "--apply", *options, str(config)], label,
                                  name, origin, data)
        if failure is not None:
            failures.append(failure)
            return failures
        if result is not None and result.exit_code == 0 and _snapshot(copy) != before:
            undo, failure = _invoke(runner, app, ["balance", "--undo", str(config)],
                                    ("balance", "--undo"), name, origin, data)
            if failure is not None:
                failures.append(failure)
        after = _snapshot(copy)
        if after != before:
            changed = sorted(k for k in set(before) | set(after) if before.get(k, 0) != after.get(k, 0))
            failures.append(Failure(("balance", "--apply", "--undo", *options), name, origin,
                                    result.exit_code if result is not None else None,
                                    "the tree did not come back byte for byte: " + ", ".join(changed[:12]),
                                    data))
    return failures


def crash_site(failure: Failure) -> str:
    """The innermost kohya_tune frame of a traceback: groups failures by the code that broke."""
    import re

    if "ran longer than" in failure.detail or failure.detail.startswith("took "):
        return f"hang: {' '.join(failure.command[:3])}"
    if failure.detail.startswith("the tree did not come back"):
        return "balance --apply/--undo: tree not restored"
    frames = re.findall(r'File "([^"]*kohya_tune[^"]*)", line (\d+), in (\w+)', failure.detail)
    if not frames:
        return failure.detail.strip().splitlines()[-1][:120] if failure.detail.strip() else "?"
    path, line, func = frames[-1]
    last = failure.detail.strip().splitlines()[-1]
    return f"{path.split('kohya_tune', 1)[1]}:{line} {func}: {last.split(':', 1)[0]}"


def in_workdir(folder: Path):
    """chdir into `folder` for the run (relative paths and settings lookups stay inside it)."""
    class _Ctx:
        def __enter__(self):
            self.old = os.getcwd()
            os.chdir(folder)
            return folder

        def __exit__(self, *exc):
            os.chdir(self.old)
            return False
    return _Ctx()


# ------------------------------------------------------------------------------------------
# musubi-tuner: dataset configs and training-args configs, with a small real dataset (images with
# and without captions, a video, JSONL files, cache folders of several architectures)

MUSUBI_CORPUS = HERE / "data" / "musubi" / "corpus"
MUSUBI_SCRIPTS = ["wan_train_network", "qwen_image_train_network", "hv_train_network", "fpack_train_network",
                  "flux_kontext_train_network", "qwen_image_train", "hv_train", "zimage_train_network"]
# keys musubi's dataset code and training loop read (dataset/config_utils.py, parser_common.py)
MUSUBI_DATASET_KEYS = ["resolution", "caption_extension", "batch_size", "num_repeats", "enable_bucket",
                       "bucket_no_upscale", "cache_directory", "image_directory", "image_jsonl_file",
                       "video_directory", "video_jsonl_file", "control_directory", "target_frames",
                       "frame_extraction", "frame_stride", "frame_sample", "max_frames", "source_fps",
                       "fp_latent_window_size", "multiple_target", "debug_dataset", "general", "datasets"]
MUSUBI_ARGS_KEYS = ["dataset_config", "dit", "task", "model_version", "max_train_steps", "max_train_epochs",
                    "gradient_accumulation_steps", "learning_rate", "optimizer_type", "optimizer_args",
                    "lr_scheduler", "lr_warmup_steps", "lr_decay_steps", "lr_scheduler_num_cycles",
                    "lr_scheduler_power", "lr_scheduler_timescale", "lr_scheduler_min_lr_ratio",
                    "lr_scheduler_type", "lr_scheduler_args", "network_module", "network_args", "output_dir",
                    "output_name", "save_every_n_epochs", "save_every_n_steps", "save_last_n_epochs",
                    "save_last_n_epochs_state", "save_last_n_steps", "save_last_n_steps_state", "save_state",
                    "save_state_on_train_end", "sample_every_n_steps", "sample_every_n_epochs",
                    "sample_at_first", "sample_prompts", "resume", "mixed_precision", "sdpa"]
MUSUBI_SCHEDULERS = ["constant", "linear", "cosine", "cosine_with_restarts", "polynomial", "constant_with_warmup",
                     "inverse_sqrt", "cosine_with_min_lr", "warmup_stable_decay", "piecewise_constant", "rex",
                     "REX", "adafactor", "adafactor:1e-4", "reduce_lr_on_plateau", "cosine_warmup_with_min_lr"]


def make_musubi_workspace(root: Path) -> dict:
    """img/ (3 captioned PNGs, one without caption), vid/ (a real 12-frame clip when PyAV is
    installed, and a file that is not a video), JSONL files, cache folders with the latents and
    text-encoder caches of wan / qi / hv / fp, a musubi dataset config and training config."""
    root.mkdir(parents=True, exist_ok=True)
    img, vid = root / "img", root / "vid"
    img.mkdir(exist_ok=True)
    vid.mkdir(exist_ok=True)
    for i, (w, h) in enumerate([(64, 64), (96, 64), (64, 128), (80, 80)]):
        (img / f"{i:04d}.png").write_bytes(_png(w, h))
        if i < 3:
            (img / f"{i:04d}.txt").write_text("a photo", encoding="utf-8")
    try:
        from musubi_helpers import write_video

        write_video(vid / "0000.mp4", 64, 48, 12, 30)
    except ImportError:  # pragma: no cover - without the [video] extra
        pass
    (vid / "0000.txt").write_text("a clip", encoding="utf-8")
    (vid / "0001.mp4").write_bytes(b"not a video")
    (vid / "0001.txt").write_text("broken", encoding="utf-8")
    (root / "images.jsonl").write_text("".join(json.dumps({"image_path": str(img / f"{i:04d}.png"), "caption": "x"}) + "\n"
                                               for i in range(3)), encoding="utf-8")
    (root / "videos.jsonl").write_text(json.dumps({"video_path": str(vid / "0000.mp4"), "caption": "y"}) + "\n",
                                       encoding="utf-8")
    empty = b"\x02\x00\x00\x00\x00\x00\x00\x00{}"
    for folder, names in (("cache_img", ["0000_0064x0064", "0001_0096x0064", "0002_0064x0128"]),
                          ("cache_vid", ["0000_00000-009_0064x0048", "0000_00000-001_0064x0048"])):
        d = root / folder
        d.mkdir(exist_ok=True)
        for arch in ("wan", "qi", "hv", "fp"):
            for n in names:
                (d / f"{n}_{arch}.safetensors").write_bytes(empty)
                (d / f"{n.split('_')[0]}_{arch}_te.safetensors").write_bytes(empty)
    dataset = root / "musubi_dataset.toml"
    dataset.write_text(
        "[general]\nresolution = [64, 64]\ncaption_extension = \".txt\"\nbatch_size = 2\nenable_bucket = true\n\n"
        f"[[datasets]]\nimage_directory = {json.dumps(str(img))}\ncache_directory = {json.dumps(str(root / 'cache_img'))}\n"
        "num_repeats = 3\n\n"
        f"[[datasets]]\nvideo_directory = {json.dumps(str(vid))}\ncache_directory = {json.dumps(str(root / 'cache_vid'))}\n"
        "target_frames = [1, 9]\nframe_extraction = \"head\"\n", encoding="utf-8")
    images_only = root / "musubi_images.toml"   # for the architectures without video datasets
    images_only.write_text(
        "[general]\nresolution = [64, 64]\ncaption_extension = \".txt\"\nbatch_size = 2\nenable_bucket = true\n\n"
        f"[[datasets]]\nimage_directory = {json.dumps(str(img))}\ncache_directory = {json.dumps(str(root / 'cache_img'))}\n"
        "num_repeats = 3\n", encoding="utf-8")
    args = root / "musubi_args.toml"
    args.write_text(f"dataset_config = {json.dumps(str(dataset))}\ndit = \"dit.safetensors\"\ntask = \"t2v-1.3B\"\n"
                    "network_module = \"networks.lora_wan\"\noptimizer_type = \"AdamW\"\nlearning_rate = 1e-4\n"
                    "sdpa = true\nmax_train_epochs = 4\noutput_dir = \"out\"\noutput_name = \"lora\"\n"
                    "lr_scheduler = \"cosine\"\nlr_warmup_steps = 0.1\nsave_every_n_epochs = 1\n"
                    "sample_every_n_steps = 3\nsample_prompts = \"prompts.txt\"\n", encoding="utf-8")
    return {"image_directory": str(img), "video_directory": str(vid), "cache_directory": str(root / "cache_img"),
            "image_jsonl_file": str(root / "images.jsonl"), "video_jsonl_file": str(root / "videos.jsonl"),
            "control_directory": str(img), "dataset_config": str(dataset), "args": str(args),
            "cache_vid": str(root / "cache_vid"), "images_config": str(images_only)}


def musubi_seeds(workspace: dict) -> list[Seed]:
    out = []
    for path in sorted(MUSUBI_CORPUS.rglob("*.toml")):
        text, data = _load_seed(path)
        if isinstance(data, dict):
            kind = "args" if "dataset_config" in data or "dit" in data else "dataset"
            out.append(Seed("musubi/" + path.name, "toml", kind, text, data))
    for key in ("dataset_config", "images_config", "args"):
        path = Path(workspace[key])
        text, data = _load_seed(path)
        out.append(Seed("workspace/" + path.name, "toml", "args" if key == "args" else "dataset", text, data))
    return out


def _musubi_paths(data, workspace: dict, draw) -> None:
    """Point a musubi config's folders and files at the workspace (most of the time)."""
    if isinstance(data, dict):
        for key in list(data):
            value = data[key]
            if key in workspace and isinstance(value, str) and draw(st.integers(0, 9)) < 8:
                data[key] = workspace[key]
                if key == "cache_directory" and "video_directory" in data:
                    data[key] = workspace["cache_vid"]
                if key == "dataset_config" and draw(st.booleans()):
                    data[key] = workspace["images_config"]
            else:
                _musubi_paths(value, workspace, draw)
    elif isinstance(data, list):
        for item in data:
            _musubi_paths(item, workspace, draw)


def _musubi_script(draw) -> tuple[str, int]:
    return draw(st.sampled_from(MUSUBI_SCRIPTS)), draw(st.sampled_from([1, 1, 2, 4]))


@st.composite
def musubi_structured(draw, workspace: dict):
    """A musubi corpus or workspace config with the keys musubi reads set to hostile values."""
    import copy

    seed = draw(st.sampled_from(musubi_seeds(workspace)))
    data = copy.deepcopy(seed.data)
    _musubi_paths(data, workspace, draw)
    keys = MUSUBI_ARGS_KEYS if seed.kind == "args" else MUSUBI_DATASET_KEYS
    # mostly values a user could write (so the counts and the timetable are reached), some hostile
    for _ in range(draw(st.integers(0, 4))):
        paths = list(_keypaths(data))
        op = draw(st.sampled_from(["set-key", "set-valid", "set-valid", "set-valid", "set-any", "delete"]))
        if op in ("set-key", "set-valid"):
            key = draw(st.sampled_from(keys))
            # copies: HOSTILE holds shared lists and tables a later operation could write into
            if op == "set-valid":
                value = copy.deepcopy(draw(_musubi_plausible(key)))
            else:
                value = copy.deepcopy(draw(st.one_of(st.sampled_from(HOSTILE + TOML_ONLY), values)))
            where = [p for p in paths if p[-1] == key]
            if where:
                _set_path(data, draw(st.sampled_from(where)), value)
            elif seed.kind == "dataset" and isinstance(data.get("datasets"), list) and data["datasets"] \
                    and isinstance(data["datasets"][0], dict) and draw(st.booleans()):
                data["datasets"][0][key] = value
            else:
                data[key] = value
        elif op == "set-any" and paths:
            _set_path(data, draw(st.sampled_from(paths)), copy.deepcopy(draw(values)))
        elif op == "delete" and paths:
            try:
                _del_path(data, draw(st.sampled_from(paths)))
            except (IndexError, KeyError, TypeError):
                pass
    as_json = seed.kind == "dataset" and draw(st.integers(0, 4)) == 0  # musubi reads JSON dataset configs
    text = to_json(data) if as_json else to_toml(data)
    script, processes = _musubi_script(draw)
    return f"musubi_structured.{'json' if as_json else 'toml'}", text, seed.name, script, processes


def _musubi_plausible(key: str):
    """Values a user could mean (so the schedule and the counts are reached, not only refusals)."""
    ints = st.integers(min_value=-2, max_value=40)
    table = {
        "lr_scheduler": st.sampled_from(MUSUBI_SCHEDULERS),
        "lr_warmup_steps": st.one_of(ints, st.sampled_from([0.0, 0.05, 0.5, 1.5, 3.0])),
        "lr_decay_steps": st.one_of(ints, st.sampled_from([0.1, 0.9])),
        "lr_scheduler_args": st.sampled_from([["lr_end=1e-6"], ["step_rules='1:3,0.5'"], ["rex_alpha=0.2"],
                                              ["min_lr_rate=0.1"], ["foo"], ["a=b=c"], [], ["last_epoch=3"]]),
        "network_args": st.sampled_from([["loraplus_lr_ratio=4"], ["loraplus_lr_ratio=x"], ["a"], []]),
        "optimizer_type": st.sampled_from(["AdamW", "Adafactor", "AdamW8bit", "RAdamScheduleFree", ""]),
        "optimizer_args": st.sampled_from([["scale_parameter=False"], ["relative_step=False"], ["warmup_init=True"]]),
        "frame_extraction": st.sampled_from(["head", "chunk", "slide", "uniform", "full", "other"]),
        "target_frames": st.lists(st.integers(-3, 40), max_size=4),
        "output_name": st.sampled_from(["lora", "", None, 3]),
        "learning_rate": st.sampled_from([1e-4, 0.0, 1.0, -1e-4, 1e-3]),
    }
    return table.get(key, st.one_of(ints, st.booleans(), st.sampled_from([0.5, 2.5, "x"])))


@st.composite
def musubi_generated(draw, workspace: dict):
    """A musubi dataset config or training config built from the keys alone."""
    if draw(st.booleans()):
        flat = {k: draw(st.one_of(_musubi_plausible(k), values, st.sampled_from(HOSTILE)))
                for k in draw(st.lists(st.sampled_from(MUSUBI_ARGS_KEYS), min_size=2, max_size=20, unique=True))}
        flat["dataset_config"] = draw(st.sampled_from([workspace["dataset_config"], workspace["images_config"],
                                                       workspace["images_config"], "missing.toml", 3]))
        flat.setdefault("dit", "dit.safetensors")
        flat.setdefault("sdpa", True)
        flat.setdefault("optimizer_type", "AdamW")
        return "musubi_generated_args.toml", to_toml(flat), "musubi args keys", *_musubi_script(draw)
    general = {k: draw(st.one_of(_musubi_plausible(k), values))
               for k in draw(st.lists(st.sampled_from(["resolution", "caption_extension", "batch_size",
                                                       "num_repeats", "enable_bucket", "bucket_no_upscale"]),
                                      max_size=4, unique=True))}
    datasets = []
    for _ in range(draw(st.integers(0, 3))):
        table = {k: draw(st.one_of(_musubi_plausible(k), values, st.sampled_from(HOSTILE)))
                 for k in draw(st.lists(st.sampled_from(MUSUBI_DATASET_KEYS[:-2]), max_size=6, unique=True))}
        source = draw(st.sampled_from(["image_directory", "video_directory", "image_jsonl_file", "video_jsonl_file"]))
        table.setdefault(source, workspace[source])
        table.setdefault("cache_directory", workspace["cache_vid" if "video" in source else "cache_directory"])
        datasets.append(table)
    data = {"general": general, "datasets": datasets}
    return "musubi_generated_dataset.toml", to_toml(data), "musubi dataset keys", *_musubi_script(draw)


@st.composite
def musubi_mutated(draw, workspace: dict):
    seed = draw(st.sampled_from(musubi_seeds(workspace)))
    name, content, _origin = draw(mutated_text(seed))
    return "musubi_" + name, content, seed.name, *_musubi_script(draw)


@st.composite
def mutated_text(draw, seed: Seed):
    """`mutated`'s byte operations on one seed."""
    data = bytearray(seed.text.encode("utf-8"))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(MUTATIONS))
        n = len(data)
        at = draw(st.integers(0, max(0, n)))
        if op == "delete" and n:
            del data[at:at + draw(st.integers(1, 16))]
        elif op == "insert":
            data[at:at] = draw(st.one_of(st.sampled_from(INSERTS), st.binary(min_size=1, max_size=4)))
        elif op == "duplicate" and n:
            length = draw(st.integers(1, 64))
            data[at:at] = data[at:at + length]
        elif op == "truncate":
            del data[at:]
        elif op == "flip" and at < n:
            data[at] = data[at] ^ (1 << draw(st.integers(0, 7)))
        elif op == "swap-token" and n:
            data[at:at + 1] = draw(st.sampled_from(INSERTS))
    return f"mutated.{seed.format}", bytes(data), seed.name


def musubi_commands(script: str, processes: int, full: bool = True) -> list[tuple]:
    """The commands a musubi input goes through (the script decides the architecture)."""
    opts = ("--script", script, "--num-processes", str(processes))
    cmds = [("lint", "--script", script), ("steps", "--format", "json", *opts),
            ("solve", "--diff", "--target-epochs", "7", *opts), ("schedule", "--format", "json", *opts)]
    if full:
        cmds += [("steps", *opts), ("solve", "--diff", "--target-steps", "1000000", *opts),
                 ("solve", "--diff", "--target-steps", "1", "--by", "max_train_epochs", *opts), ("schedule", *opts)]
    return cmds
