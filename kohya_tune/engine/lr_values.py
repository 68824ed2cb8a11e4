"""The learning rates the schedule computes with, checked where they enter (as `numbers` does
for the step keys): what the trainer holds for each value, or what it does instead.

The keys: learning_rate (the optimizer's default), unet_lr, text_encoder_lr (a number, or a
list with one value per text encoder in v0.10+ TOMLs), learning_rate_te (train_db),
learning_rate_te1 / learning_rate_te2 (sdxl_train). Where a value comes from decides its type:

- a config file (an args TOML, or the TOML a GUI v24+ writes): sd-scripts reads it with `toml`
  and sets it on the argparse namespace unconverted (train_util.py read_config_from_file,
  v0.10.1 L4700-4761: `argparse.Namespace(**ignore_nesting_dict)` then `parse_args(namespace=)`),
  so a string stays a string and the first arithmetic on it raises: torch's LambdaLR multiplies
  each group's initial LR by the lambda (`base_lr * lmbda(epoch)`), the optimizer's step
  multiplies it again; `"1e-4" * 0.5` raises TypeError ("can't multiply sequence by non-int of
  type 'float'"), a table raises "unsupported operand type(s)".
- the command line a GUI v21-v23 builds (`--learning_rate=...`): argparse's `type=float`
  converts the text; text that float() refuses stops the script with "error: argument
  --learning_rate: invalid float value: 'abc'" (exit status 2).
- an integer beyond the float range: its first multiplication by a float raises OverflowError
  ("int too large to convert to float").
- NaN or an infinity: the optimizer decides (torch's AdamW, bitsandbytes' AdamW8bit and Prodigy
  check `0.0 <= lr` for the default LR and raise "ValueError: Invalid learning rate: nan"; a group
  LR is not checked and the weights become NaN). No curve can be drawn: the schedule says so
  (`lr` null with the reason), the timetable stays.
"""
from __future__ import annotations

import math
import sys

from kohya_tune.engine.plan import TrainerRefusal

LR_KEYS = ("learning_rate", "unet_lr", "text_encoder_lr", "learning_rate_te", "learning_rate_te1",
           "learning_rate_te2")
FLOAT_MAX = sys.float_info.max


class NotDrawable(Exception):
    """The LR values are numbers the trainer may run with, but not finite ones: no curve."""


def from_command_line(plan) -> bool:
    """Whether the values reached sd-scripts as command-line text (a GUI release that sends
    its arguments with the CLI transport, v21-v23)."""
    if plan.gui is None:
        return False
    from kohya_tune.versions import gui_releases

    try:
        return gui_releases.resolve(plan.gui.version).get("send.transport") != "toml"
    except Exception:  # noqa: BLE001 - an unknown release: the args are as given
        return False


def _literal(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) > 24:
        return f"an integer of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _python_error(value) -> str:
    """The TypeError Python raises for `value * 0.5` (LambdaLR's `base_lr * lmbda(epoch)`)."""
    try:
        value * 0.5
    except TypeError as exc:
        return f"TypeError: {exc}"
    except OverflowError as exc:  # pragma: no cover - handled before
        return f"OverflowError: {exc}"
    return f"TypeError: unsupported operand type(s) for *: '{type(value).__name__}' and 'float'"


def checked(plan, args: dict, script: str) -> dict:
    """`args` with every LR value as the trainer holds it; TrainerRefusal where the trainer stops
    on it, NotDrawable where it runs with a value that is not a finite number. A GUI's number
    text is a number (its Number widgets and its float() before the command line or the TOML,
    e.g. v24.1.7 lora_gui.py `learning_rate_float = float(learning_rate)`)."""
    out = dict(args)
    cli = from_command_line(plan)
    gui = plan.gui is not None
    for key in LR_KEYS:
        value = out.get(key)
        if value is None:
            continue
        origin = plan.arg_origins.get(key)
        if key == "text_encoder_lr" and isinstance(value, (list, tuple)):
            out[key] = [_one(key, item, origin, cli, script, gui) for item in value]
        else:
            out[key] = _one(key, value, origin, cli, script, gui)
    return out


def _one(key: str, value, origin, cli: bool, script: str, gui: bool):
    if isinstance(value, str) and gui and not cli:
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, str) and cli:
        try:
            value = float(value)
        except ValueError:
            raise TrainerRefusal(f"{script}.py: error: argument --{key}: invalid float value: {value!r}",
                                 origin, note="argparse's type=float refuses the text the GUI put on the "
                                              "command line; the script exits with status 2") from None
    if isinstance(value, bool):
        return value            # Python arithmetic: True is 1, False is 0
    if isinstance(value, int):
        if abs(value) > FLOAT_MAX:
            raise TrainerRefusal("OverflowError: int too large to convert to float", origin,
                                 note=f"{key} is {_literal(value)}: the LR scheduler multiplies it "
                                      f"by a float")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotDrawable(
                f"{key} is {_literal(value)}, not a finite number: the optimizer decides what happens "
                f"(torch's AdamW refuses it as the default LR: ValueError: Invalid learning rate: "
                f"{value}; a group's LR is not checked and the weights become NaN); no LR curve")
        return value
    raise TrainerRefusal(_python_error(value), origin,
                         note=f"{key} is {_literal(value)} ({type(value).__name__}): sd-scripts does "
                              f"not convert config-file values, and the LR scheduler and the optimizer "
                              f"compute with it")


def series_problem(per_step) -> str | None:
    """A step whose LR is not a finite number (a finite LR times a scheduler factor above 1,
    e.g. piecewise_constant multipliers), or None."""
    for k, row in enumerate(per_step, start=1):
        for v in row:
            if isinstance(v, float) and not math.isfinite(v):
                return (f"the LR reaches {_literal(v)} at optimizer step {k}, not a finite number: "
                        f"no LR curve")
    return None
