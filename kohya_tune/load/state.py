"""A saved training state folder (`--save_state`), read without torch.

What sd-scripts and accelerate put in it (accelerate `save_state`, sd-scripts' pre-hook):
- the folder name: `{name}-{epoch:06d}-state` (after an epoch), `{name}-step{step:08d}-state`
  (every n steps), `{name}-state` (at the end); train_util.py EPOCH_STATE_NAME, STEP_STATE_NAME,
  LAST_STATE_NAME (v0.6.5 L72-82, v0.10.1 L90-100);
- `train_state.json` {"current_epoch", "current_step"}: train_network.py v0.9.0+ only
  (save_model_hook: the run's own epoch and global_step, not the total);
- `scheduler.bin`: the LR scheduler's state_dict (`last_epoch`, `_step_count`, `base_lrs`,
  `_last_lr`, ...), `optimizer.bin`: the optimizer's (per group `lr`, `initial_lr`; per
  parameter a `step` counter for Adam-like optimizers), `random_states_<rank>.pkl`: RNG states
  and, from accelerate 0.32, accelerate's micro-batch counter `step`; `model.safetensors` (or
  `pytorch_model.bin`): the trained network.

Everything is read with `torch_pickle` (no code from the files runs). A value that cannot be read
is recorded as a problem with the file's name, never guessed. A musubi-tuner state has the same
accelerate files; a sibling reader for its own additions can reuse `read_torch_value`.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field

from kohya_tune.load import files, torch_pickle

STATE_FILES = ("model.safetensors", "pytorch_model.bin", "optimizer.bin", "scheduler.bin", "train_state.json")
MAX_JSON_BYTES = 1024 * 1024

_EPOCH = re.compile(r"^(?P<name>.*)-(?P<num>\d{6,})-state$")
_STEP = re.compile(r"^(?P<name>.*)-step(?P<num>-?\d{7,})-state$")
_LAST = re.compile(r"^(?P<name>.*)-state$")


class NotAState(Exception):
    """The folder is not a training state (exit 2), or a file in it would run code."""


@dataclass
class SchedulerState:
    last_epoch: int | None
    step_count: int | None
    base_lrs: list | None
    last_lr: list | None
    keys: list[str]


@dataclass
class OptimizerState:
    group_lrs: list
    initial_lrs: list
    group_sizes: list[int]
    step: float | None            # the first parameter's optimizer step counter (Adam-like), if any
    step_source: str = ""


@dataclass
class SavedState:
    dir: str
    name: str                     # the folder's name
    kind: str | None              # "epoch" | "step" | "last" | None (another name)
    output_name: str | None
    epoch: int | None             # from the name
    step: int | None              # from the name
    files: list[str]
    train_state: dict | None = None
    scheduler: SchedulerState | None = None
    optimizer: OptimizerState | None = None
    accelerate_steps: dict = field(default_factory=dict)   # rank -> accelerate's step counter (or None)
    problems: list[tuple[str, str]] = field(default_factory=list)   # (file, what cannot be read)

    def problem(self, file: str) -> str | None:
        for name, text in self.problems:
            if name == file:
                return text
        return None

    @property
    def current_step(self):
        ts = self.train_state
        return ts.get("current_step") if isinstance(ts, dict) else None

    @property
    def current_epoch(self):
        ts = self.train_state
        return ts.get("current_epoch") if isinstance(ts, dict) else None


def parse_name(name: str) -> tuple[str | None, str | None, int | None]:
    """(kind, output name, number) of a state folder's name."""
    m = _STEP.match(name)
    if m:
        return "step", m.group("name"), int(m.group("num"))
    m = _EPOCH.match(name)
    if m:
        return "epoch", m.group("name"), int(m.group("num"))
    m = _LAST.match(name)
    if m:
        return "last", m.group("name"), None
    return None, None, None


def _is_state_like(names) -> bool:
    return any(n in names for n in ("scheduler.bin", "optimizer.bin", "train_state.json")) or \
        any(re.fullmatch(r"random_states_\d+\.pkl", n) for n in names)


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        raise NotAState(f"cannot list the folder ({exc.strerror or exc})") from None


def read(path: str) -> SavedState:
    """Read a state folder. NotAState when it is not one (with what it is instead) or a file in
    it asks to run code."""
    if not files.is_dir(path):
        if files.exists(path):
            raise NotAState("is a file, not a state folder (give the folder --save_state wrote, "
                            "e.g. NAME-000004-state)")
        raise NotAState("not found" + _where_hint(path))
    names = _listdir(path)
    if not _is_state_like(names):
        inner = [n for n in names if n.endswith("-state") and files.is_dir(os.path.join(path, n))
                 and _is_state_like(_listdir_quiet(os.path.join(path, n)))]
        if inner:
            raise NotAState(f"is not a training state folder; it holds state folders: {', '.join(inner[:6])}"
                            f"{' ...' if len(inner) > 6 else ''} (give one of them)")
        raise NotAState("is not a training state folder: it has none of scheduler.bin, optimizer.bin, "
                        "random_states_0.pkl, train_state.json (what --save_state writes)")
    base = os.path.basename(os.path.normpath(path))
    kind, output_name, number = parse_name(base)
    state = SavedState(dir=path, name=base, kind=kind, output_name=output_name,
                       epoch=number if kind == "epoch" else None, step=number if kind == "step" else None,
                       files=names)
    _read_train_state(state)
    _read_scheduler(state)
    _read_optimizer(state)
    _read_random_states(state)
    for required in ("optimizer.bin", "scheduler.bin"):
        if required not in names:
            state.problems.append((required, "missing"))
    if "model.safetensors" not in names and "pytorch_model.bin" not in names:
        state.problems.append(("model.safetensors", "missing (neither model.safetensors nor pytorch_model.bin)"))
    return state


def _listdir_quiet(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


def _where_hint(path: str) -> str:
    parent = os.path.dirname(os.path.normpath(path)) or "."
    if files.is_dir(parent):
        near = [n for n in _listdir_quiet(parent) if n.endswith("-state")]
        if near:
            return f" (state folders beside it: {', '.join(sorted(near)[:6])})"
    return ""


def _read_train_state(state: SavedState) -> None:
    if "train_state.json" not in state.files:
        return
    path = os.path.join(state.dir, "train_state.json")
    try:
        if os.path.getsize(path) > MAX_JSON_BYTES:
            state.problems.append(("train_state.json", "larger than 1 MB: not what sd-scripts writes"))
            return
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        state.problems.append(("train_state.json", f"not readable JSON ({exc})"))
        return
    if not isinstance(data, dict):
        state.problems.append(("train_state.json", "not a JSON object"))
        return
    state.train_state = data
    step = data.get("current_step")
    if "current_step" not in data:
        # the trainer reads data["current_step"] (KeyError); kept so the run can say so
        state.problems.append(("train_state.json", "no current_step"))
    elif isinstance(step, bool) or not isinstance(step, int):
        state.problems.append(("train_state.json", f"current_step is {step!r}, not an integer"))


def read_torch_value(state: SavedState, name: str):
    """(object, archive) of a torch file of the state, or (None, None) with a problem recorded.
    PickleRefused becomes NotAState: a state whose pickles would run code is not used at all."""
    path = os.path.join(state.dir, name)
    try:
        return torch_pickle.load_file(path, name)
    except torch_pickle.PickleRefused as exc:
        raise NotAState(str(exc)) from None
    except torch_pickle.NotTorchFile as exc:
        state.problems.append((name, str(exc)))
        return None, None


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _read_scheduler(state: SavedState) -> None:
    if "scheduler.bin" not in state.files:
        return
    obj, archive = read_torch_value(state, "scheduler.bin")
    if archive is not None:
        archive.close()
    if obj is None:
        return
    if not isinstance(obj, dict):
        state.problems.append(("scheduler.bin", f"holds a {type(obj).__name__}, not a scheduler state_dict"))
        return
    last = obj.get("last_epoch")
    count = obj.get("_step_count")
    base = obj.get("base_lrs")
    last_lr = obj.get("_last_lr")
    if not isinstance(last, int) or isinstance(last, bool):
        state.problems.append(("scheduler.bin", "no integer last_epoch"))
        last = None
    if base is not None and not (isinstance(base, list) and all(_number(b) is not None for b in base)):
        state.problems.append(("scheduler.bin", "base_lrs is not a list of numbers"))
        base = None
    if base is None:
        state.problems.append(("scheduler.bin", "no base_lrs (not a LambdaLR-style scheduler)"))
    state.scheduler = SchedulerState(
        last_epoch=last, step_count=count if isinstance(count, int) and not isinstance(count, bool) else None,
        base_lrs=[float(b) for b in base] if base is not None else None,
        last_lr=[float(x) for x in last_lr] if isinstance(last_lr, list) and all(_number(x) is not None for x in last_lr)
        else None, keys=sorted(str(k) for k in obj))


def _read_optimizer(state: SavedState) -> None:
    if "optimizer.bin" not in state.files:
        return
    obj, archive = read_torch_value(state, "optimizer.bin")
    try:
        if obj is None:
            return
        groups = obj.get("param_groups") if isinstance(obj, dict) else None
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            state.problems.append(("optimizer.bin", "no param_groups"))
            return
        sizes = [len(g.get("params") or []) for g in groups]
        lrs = [_number(g.get("lr")) for g in groups]
        initial = [_number(g.get("initial_lr")) for g in groups]
        step = None
        source = ""
        per_param = obj.get("state") if isinstance(obj.get("state"), dict) else {}
        first_ids = [g.get("params")[0] for g in groups if g.get("params")]
        for pid in first_ids[:1]:
            entry = per_param.get(pid)
            if isinstance(entry, dict) and "step" in entry:
                value = entry["step"]
                try:
                    step = value.item() if isinstance(value, torch_pickle.Tensor) else _number(value)
                    source = "the optimizer's step counter of the first parameter"
                except ValueError as exc:
                    state.problems.append(("optimizer.bin", f"step counter not read ({exc})"))
        if step is not None and (not math.isfinite(step) or step != int(step)):
            step = None
        state.optimizer = OptimizerState(group_lrs=lrs, initial_lrs=initial, group_sizes=sizes,
                                         step=int(step) if step is not None else None, step_source=source)
    finally:
        if archive is not None:
            archive.close()


def _read_random_states(state: SavedState) -> None:
    for name in state.files:
        m = re.fullmatch(r"random_states_(\d+)\.pkl", name)
        if not m:
            continue
        obj, archive = read_torch_value(state, name)
        if archive is not None:
            archive.close()
        if obj is None:
            state.accelerate_steps[int(m.group(1))] = None
            continue
        value = obj.get("step") if isinstance(obj, dict) else None
        state.accelerate_steps[int(m.group(1))] = value if isinstance(value, int) and not isinstance(value, bool) \
            else None
