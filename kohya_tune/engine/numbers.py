"""Numbers the GUI or the trainer cannot compute with, and what each of them does instead.

Python's `json` (the GUI's loader) reads `Infinity`, `NaN` and `1e309` as floats; `tomllib` and
sd-scripts' `toml` read `inf`, `nan` and `1e309` likewise. Such values, integers beyond the float
range and zero divisors reach arithmetic that raises. This module knows which keys reach which
arithmetic and says what happens there; `normalize` turns a problem into the refusal `steps` and
`solve` report, and the KT109 rule reports every one of them at its line:col.

Sources (kohya-ss/sd-scripts v0.10.1; the same statements in v0.6.5-v0.10.1):
- train_network.py L799-802: `max_train_steps = max_train_epochs * math.ceil(len(train_dataloader)
  / num_processes / gradient_accumulation_steps)`;
- train_network.py L978-979: `num_update_steps_per_epoch = math.ceil(len(train_dataloader) /
  gradient_accumulation_steps)`; `num_train_epochs = math.ceil(max_train_steps /
  num_update_steps_per_epoch)`;
- library/train_util.py L1079 (make_buckets): `batch_count = int(math.ceil(len(bucket) /
  self.batch_size))`.
The GUI (bmaltais/kohya_ss, every version): the step formula `int(math.ceil(float(total) /
int(train_batch_size) / int(gradient_accumulation_steps) * int(epoch) * int(reg_factor)))`
(v24.1.7 lora_gui.py L886) and `int(...)` of the other numeric widgets when it builds the command.
"""
from __future__ import annotations

import math
import sys

FLOAT_MAX = sys.float_info.max

# keys whose value goes through the trainer's step arithmetic (train_network.py L799-802, L978-979)
TRAINER_STEP_KEYS = ("max_train_steps", "max_train_epochs", "gradient_accumulation_steps")
# keys the GUI converts with int() before the formula or the command line
GUI_INT_KEYS = ("epoch", "train_batch_size", "gradient_accumulation_steps", "max_train_steps",
                "max_train_epochs", "lr_warmup", "num_processes", "min_bucket_reso",
                "max_bucket_reso", "bucket_reso_steps", "dataset_repeats",
                "lr_scheduler_num_cycles", "save_every_n_epochs", "save_every_n_steps",
                "sample_every_n_epochs", "sample_every_n_steps", "max_data_loader_n_workers")
GUI_DIVISORS = ("train_batch_size", "gradient_accumulation_steps")
DATASET_DIVISORS = ("batch_size", "train_batch_size")
# dataset options of an args TOML and a dataset config (voluptuous int, config_util.py L187-244)
TRAINER_INT_KEYS = ("train_batch_size", "batch_size", "dataset_repeats", "num_repeats",
                    "min_bucket_reso", "max_bucket_reso", "bucket_reso_steps", "validation_seed")
# numbers the trainer reads elsewhere (warm-up, cadences): a NaN or an infinity fails there too
TRAINER_OTHER_KEYS = ("lr_warmup_steps", "save_every_n_epochs", "save_every_n_steps",
                      "sample_every_n_epochs", "sample_every_n_steps", "lr_scheduler_num_cycles",
                      "validation_split", "learning_rate", "resolution")


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def literal(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) > 24:
        return f"an integer of {len(str(abs(value)))} digits"
    return repr(value)


def _non_finite(value) -> str | None:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > FLOAT_MAX:
        return "huge"
    return None


def gui_problem(key: str, value) -> str | None:
    """What the GUI does with this value of `key`, when it cannot compute with it."""
    if key in GUI_DIVISORS and is_number(value) and value == 0:
        return (f"{key} = 0: the GUI's step formula divides by it (ZeroDivisionError): the "
                f"GUI stops before training")
    kind = _non_finite(value)
    if kind is None:
        return None
    if key in GUI_INT_KEYS:
        what = {"nan": "int() of NaN raises ValueError",
                "inf": "int() of an infinity raises OverflowError",
                "huge": "the step formula's float arithmetic raises OverflowError"}[kind]
        return f"{key} = {literal(value)}: {what} in the GUI: it stops before training"
    return None


def trainer_problem(key: str, value) -> str | None:
    """What the trainer does with this value of `key` (an args TOML option or a dataset config
    key), when it cannot compute with it."""
    if key in DATASET_DIVISORS and is_number(value) and value == 0:
        return (f"{key} = 0: the trainer divides each bucket's image count by the batch size "
                f"(train_util.py L1079): ZeroDivisionError")
    kind = _non_finite(value)
    if kind is None:
        return None
    if key in TRAINER_STEP_KEYS:
        what = {"nan": "math.ceil() of NaN raises ValueError",
                "inf": "math.ceil() of an infinity raises OverflowError",
                "huge": "it is too large for the float division (OverflowError)"}[kind]
        return (f"{key} = {literal(value)}: the trainer's step count (train_network.py L799-802, "
                f"L978-979) fails: {what}")
    if key in TRAINER_INT_KEYS and kind == "huge":
        return None  # an int: the schema accepts it; it only makes the numbers absurd
    if key in TRAINER_INT_KEYS:
        return (f"{key} = {literal(value)}: not a finite number; the trainer's config check wants "
                f"an int here and stops (voluptuous: expected int)")
    if key in TRAINER_OTHER_KEYS:
        return (f"{key} = {literal(value)}: not a finite number; the trainer computes with the "
                f"float {literal(value)} here")
    return None


def unusable(data) -> bool:
    """Whether a document holds a number nobody can compute with (KT109's findings: a NaN or
    an infinity, an integer beyond the float range, 0 in a key the GUI or trainer divides by),
    or an integer beyond 64 bits, whose products leave the float range."""
    for _, key, value in walk_numbers(data):
        if isinstance(value, bool):
            continue
        if _non_finite(value) is not None or (isinstance(value, int) and abs(value) > 2 ** 63):
            return True
        if value == 0 and (key in GUI_DIVISORS or key in DATASET_DIVISORS):
            return True
    return False


def walk_numbers(data, path=()):
    """(keypath, key, value) of every number and boolean in a document (lists included)."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from walk_numbers(value, path + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from walk_numbers(value, path + (index,))
    elif isinstance(data, (int, float)):
        key = next((p for p in reversed(path) if isinstance(p, str)), "")
        yield path, key, data


# The trainer counts steps in Python ints but divides them in floating point
# (train_network.py L979: num_train_epochs = math.ceil(max_train_steps / num_update_steps_per_epoch);
# the GUI's formula is float arithmetic throughout): above 2**53 a float no longer holds every
# integer, so an epoch or step count there is rounded, and far above it the division overflows.
MAX_EXACT_COUNT = 2 ** 53
EXACT_COUNT_WHY = ("above 2**53 (9007199254740992) steps the trainer's float division "
                   "(train_network.py L979, math.ceil(max_train_steps / num_update_steps_per_epoch)) "
                   "rounds, so no setting can be proven to give it")


def check_schedulable(report) -> None:
    """The trainer's loop is `tqdm(range(max_train_steps))` (train_network.py v0.6.5 L566,
    v0.10.1 L1357-1359; every trainer script has one): a step count that is not an integer (a
    float max_train_steps, or a float max_train_epochs times the batches) stops it there with
    TypeError, so there is no timetable to show."""
    from kohya_tune.engine.plan import TrainerRefusal

    steps = report.max_train_steps
    if isinstance(steps, int) and not isinstance(steps, bool):
        return
    source = report.steps_source if report.steps_source in ("max_train_steps", "max_train_epochs") else "max_train_steps"
    raise TrainerRefusal(f"TypeError: {type(steps).__name__!r} object cannot be interpreted as an "
                         f"integer (max_train_steps is {steps!r}, from {source}: the training "
                         f"loop is tqdm(range(max_train_steps)))",
                         report.plan.arg_origins.get(source))
