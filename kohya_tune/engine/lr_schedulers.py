"""The learning-rate schedulers sd-scripts builds, re-implemented per library version.

sd-scripts' `train_util.get_scheduler_fix` (re-implemented per version in `build` below) picks a
function from diffusers' or transformers' `optimization.py` and gets a torch `LambdaLR`: every
parameter group's LR is its initial LR times `factor(last_epoch)`, `last_epoch` counting the
scheduler's steps. The functions here take the same parameter names as the library functions, so a
keyword the library would refuse (from `lr_scheduler_args`) raises the same `TypeError`, and they
compute the same floating-point expressions in the same order (results are identical to the last
bit on the oracle's series, see tests/data/schedule/README.md).

Libraries (the versions each sd-scripts tag pins in requirements.txt, see
versions/data/schedule_profiles.json):
  diffusers 0.10.2 / 0.21.2 / 0.25.0 / 0.32.1 optimization.py: the same arithmetic in all four
    (0.10.2 lacks piecewise_constant); cited at 0.25.0 line numbers.
  transformers 4.44.0 / 4.54.1 optimization.py: constant..polynomial as diffusers; inverse_sqrt,
    cosine_with_min_lr, warmup_stable_decay, reduce_lr_on_plateau; 4.54.1 changed
    warmup_stable_decay (warmup/decay types, min ratio during warmup) and added
    cosine_warmup_with_min_lr.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable


class SchedulerError(Exception):
    """What the trainer raises while building (or first stepping) the scheduler."""


@dataclass
class Lambda:
    """A LambdaLR: factor(step) multiplies each group's initial LR. A scheduler whose groups do not
    all follow base * factor (kind "values") gives every group's LR from `values(step, bases)`."""
    factor: Callable[[int], float] | None
    function: str                   # library function, for the report
    kind: str = "lambda"            # "lambda" | "adafactor" | "plateau" | "values"
    values: Callable[[int, list], list] | None = None


class FakeOptimizer:
    """What the library functions read of the optimizer: defaults["lr"] and the groups."""

    def __init__(self, default_lr, group_lrs):
        self.defaults = {"lr": default_lr}
        self.param_groups = [{"lr": lr} for lr in group_lrs]


def lambda_lr(optimizer: FakeOptimizer, lr_lambda, last_epoch=-1, *, function: str) -> Lambda:
    """torch.optim.lr_scheduler.LambdaLR (torch 2.x): base_lrs from each group's initial_lr; with
    last_epoch != -1 a group must already carry initial_lr (LRScheduler.__init__)."""
    if last_epoch != -1:
        raise KeyError("param 'initial_lr' is not specified in param_groups[0] when resuming an optimizer")
    return Lambda(lr_lambda, function)


def _warmup(current_step, num_warmup_steps, one=1):
    return float(current_step) / float(max(one, num_warmup_steps))


# --------------------------------------------------------------------------------------------
# diffusers optimization.py (0.25.0 line numbers; 0.10.2, 0.21.2 and 0.32.1 compute the same)

class Diffusers:
    def get_constant_schedule(self, optimizer, last_epoch=-1):
        # L40-53: LambdaLR(optimizer, lambda _: 1)
        return lambda_lr(optimizer, lambda _: 1, last_epoch, function="diffusers get_constant_schedule")

    def get_constant_schedule_with_warmup(self, optimizer, num_warmup_steps, last_epoch=-1):
        # L56-78: linear ramp over num_warmup_steps (max(1.0, w)), then 1.0
        def factor(step):
            if step < num_warmup_steps:
                return _warmup(step, num_warmup_steps, 1.0)
            return 1.0
        return lambda_lr(optimizer, factor, last_epoch, function="diffusers get_constant_schedule_with_warmup")

    def get_piecewise_constant_schedule(self, optimizer, step_rules, last_epoch=-1):
        # L81-120: "m1:s1,m2:s2,...,m_last": multiplier m_i while step < s_i (s_i sorted), then m_last
        rules = {}
        parts = step_rules.split(",")
        for rule in parts[:-1]:
            value_text, steps_text = rule.split(":")
            rules[int(steps_text)] = float(value_text)
        last = float(parts[-1])

        def factor(step):
            for bound in sorted(rules):
                if step < bound:
                    return rules[bound]
            return last
        return lambda_lr(optimizer, factor, last_epoch, function="diffusers get_piecewise_constant_schedule")

    def get_linear_schedule_with_warmup(self, optimizer, num_warmup_steps, num_training_steps, last_epoch=-1):
        # L123-151
        def factor(step):
            if step < num_warmup_steps:
                return _warmup(step, num_warmup_steps)
            return max(0.0, float(num_training_steps - step) / float(max(1, num_training_steps - num_warmup_steps)))
        return lambda_lr(optimizer, factor, last_epoch, function="diffusers get_linear_schedule_with_warmup")

    def get_cosine_schedule_with_warmup(self, optimizer, num_warmup_steps, num_training_steps, num_cycles=0.5,
                                        last_epoch=-1):
        # L154-185: half a cosine by default (num_cycles 0.5)
        def factor(step):
            if step < num_warmup_steps:
                return _warmup(step, num_warmup_steps)
            progress = float(step - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
            return max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress)))
        return lambda_lr(optimizer, factor, last_epoch, function="diffusers get_cosine_schedule_with_warmup")

    def get_cosine_with_hard_restarts_schedule_with_warmup(self, optimizer, num_warmup_steps, num_training_steps,
                                                           num_cycles=1, last_epoch=-1):
        # L188-220: num_cycles full cosine descents, each restarting at the top; 0 once progress >= 1
        def factor(step):
            if step < num_warmup_steps:
                return _warmup(step, num_warmup_steps)
            progress = float(step - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
            if progress >= 1.0:
                return 0.0
            return max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((float(num_cycles) * progress) % 1.0))))
        return lambda_lr(optimizer, factor, last_epoch,
                         function="diffusers get_cosine_with_hard_restarts_schedule_with_warmup")

    def get_polynomial_decay_schedule_with_warmup(self, optimizer, num_warmup_steps, num_training_steps,
                                                  lr_end=1e-7, power=1.0, last_epoch=-1):
        # L223-271: decays from the optimizer's default LR (not each group's) to lr_end; the
        # factor is relative to that default LR, so groups with their own LR keep their ratio
        lr_init = optimizer.defaults["lr"]
        if not (lr_init > lr_end):
            raise ValueError(f"lr_end ({lr_end}) must be be smaller than initial lr ({lr_init})")
        return lambda_lr(optimizer, _polynomial(num_warmup_steps, num_training_steps, lr_end, power, lr_init),
                         last_epoch, function="diffusers get_polynomial_decay_schedule_with_warmup")


def _polynomial(num_warmup_steps, num_training_steps, lr_end, power, lr_init):
    def factor(step):
        if step < num_warmup_steps:
            return _warmup(step, num_warmup_steps)
        if step > num_training_steps:
            return lr_end / lr_init
        lr_range = lr_init - lr_end
        decay_steps = num_training_steps - num_warmup_steps
        pct_remaining = 1 - (step - num_warmup_steps) / decay_steps
        decay = lr_range * pct_remaining ** power + lr_end
        return decay / lr_init
    return factor


# --------------------------------------------------------------------------------------------
# transformers optimization.py 4.44.0 (line numbers) / 4.54.1

class Transformers444(Diffusers):
    """constant, constant_with_warmup, linear, cosine, cosine_with_restarts: the same expressions
    as diffusers (4.44.0 L36-219, 4.54.1 L33-216); polynomial: the same, with a different
    error text (L243-286)."""

    def get_polynomial_decay_schedule_with_warmup(self, optimizer, num_warmup_steps, num_training_steps,
                                                  lr_end=1e-7, power=1.0, last_epoch=-1):
        lr_init = optimizer.defaults["lr"]
        if not (lr_init > lr_end):
            raise ValueError(f"lr_end ({lr_end}) must be smaller than initial lr ({lr_init})")
        return lambda_lr(optimizer, _polynomial(num_warmup_steps, num_training_steps, lr_end, power, lr_init),
                         last_epoch, function="transformers get_polynomial_decay_schedule_with_warmup")

    def get_inverse_sqrt_schedule(self, optimizer, num_warmup_steps, timescale=None, last_epoch=-1):
        # L289-324: after the warmup, 1 / sqrt((step + timescale - warmup) / timescale); timescale
        # defaults to the warmup, or 10_000 without one
        if timescale is None:
            timescale = num_warmup_steps or 10_000

        def factor(step):
            if step < num_warmup_steps:
                return _warmup(step, num_warmup_steps)
            shift = timescale - num_warmup_steps
            return 1.0 / math.sqrt((step + shift) / timescale)
        return lambda_lr(optimizer, factor, last_epoch, function="transformers get_inverse_sqrt_schedule")

    def get_reduce_on_plateau_schedule(self, optimizer, **kwargs):
        # L57-72: ReduceLROnPlateau(optimizer, **kwargs): sd-scripts passes num_warmup_steps etc.
        for key in kwargs:
            if key not in _PLATEAU_ARGS:
                raise TypeError(f"ReduceLROnPlateau.__init__() got an unexpected keyword argument '{key}'")
        return Lambda(lambda _: 1.0, "torch ReduceLROnPlateau", kind="plateau")

    def get_cosine_with_min_lr_schedule_with_warmup(self, optimizer, num_warmup_steps, num_training_steps,
                                                    num_cycles=0.5, last_epoch=-1, min_lr=None, min_lr_rate=None):
        # L327-387: the cosine, scaled into [min_lr_rate, 1]
        if min_lr is not None and min_lr_rate is not None:
            raise ValueError("Only one of min_lr or min_lr_rate should be set")
        elif min_lr is not None:
            min_lr_rate = min_lr / optimizer.defaults["lr"]
        elif min_lr_rate is None:
            raise ValueError("One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`")

        def factor(step):
            if step < num_warmup_steps:
                return _warmup(step, num_warmup_steps)
            progress = float(step - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
            value = 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))
            value = value * (1 - min_lr_rate) + min_lr_rate
            return max(0, value)
        return lambda_lr(optimizer, factor, last_epoch,
                         function="transformers get_cosine_with_min_lr_schedule_with_warmup")

    def get_wsd_schedule(self, optimizer, num_warmup_steps, num_stable_steps, num_decay_steps,
                         min_lr_ratio=0, num_cycles=0.5, last_epoch=-1):
        # 4.44.0 L390-468: linear warmup from 0, stable at 1, cosine decay to min_lr_ratio, then
        # min_lr_ratio
        def factor(step):
            if step < num_warmup_steps:
                return _warmup(step, num_warmup_steps)
            if step < num_warmup_steps + num_stable_steps:
                return 1.0
            if step < num_warmup_steps + num_stable_steps + num_decay_steps:
                progress = float(step - num_warmup_steps - num_stable_steps) / float(max(1, num_decay_steps))
                value = max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress)))
                return (1.0 - min_lr_ratio) * value + min_lr_ratio
            return min_lr_ratio
        return lambda_lr(optimizer, factor, last_epoch, function="transformers get_wsd_schedule")


_PLATEAU_ARGS = {"mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps",
                 "verbose"}


class Transformers454(Transformers444):
    def get_cosine_with_min_lr_schedule_with_warmup_lr_rate(self, optimizer, num_warmup_steps, num_training_steps,
                                                            num_cycles=0.5, last_epoch=-1, min_lr=None,
                                                            min_lr_rate=None, warmup_lr_rate=None):
        # 4.54.1 L387-465 (cosine_warmup_with_min_lr); sd-scripts v0.10 reaches it only through its
        # last branch, which passes num_decay_steps: a TypeError (see build)
        if min_lr is not None and min_lr_rate is not None:
            raise ValueError("Only one of min_lr or min_lr_rate should be set")
        elif min_lr is not None:
            min_lr_rate = min_lr / optimizer.defaults["lr"]
        elif min_lr_rate is None:
            raise ValueError("One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`")

        def factor(step):
            step = float(step)
            warm = float(num_warmup_steps)
            total = float(num_training_steps)
            if step < warm:
                if warmup_lr_rate is None:
                    return (step + 1.0) / max(1.0, warm)
                rate = float(warmup_lr_rate)
                return rate + (1.0 - rate) * step / max(1, warm - 1)
            progress = (step - warm + 1.0) / max(1.0, total - warm)
            value = 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress))
            value = value * (1 - min_lr_rate) + min_lr_rate
            return max(0, value)
        return lambda_lr(optimizer, factor, last_epoch,
                         function="transformers get_cosine_with_min_lr_schedule_with_warmup_lr_rate")

    def get_wsd_schedule(self, optimizer, num_warmup_steps, num_decay_steps, num_training_steps=None,
                         num_stable_steps=None, warmup_type="linear", decay_type="cosine", min_lr_ratio=0,
                         num_cycles=0.5, last_epoch=-1):
        # 4.54.1 L468-578: warmup from min_lr_ratio (linear / cosine / 1-sqrt), stable at 1, decay
        # (linear / cosine / 1-sqrt) to min_lr_ratio, then min_lr_ratio
        if num_training_steps is None and num_stable_steps is None:
            raise ValueError("Either num_training_steps or num_stable_steps must be specified.")
        if warmup_type not in ["linear", "cosine", "1-sqrt"]:
            raise ValueError(f"Unknown warmup type: {warmup_type}, expected 'linear', 'cosine' or '1-sqrt'")
        if decay_type not in ["linear", "cosine", "1-sqrt"]:
            raise ValueError(f"Unknown decay type: {decay_type}, expected 'linear', 'cosine' or '1-sqrt'")
        if num_stable_steps is None:
            num_stable_steps = num_training_steps - num_warmup_steps - num_decay_steps

        def shaped(kind, progress, rising):
            if kind == "linear":
                return progress if rising else 1.0 - progress
            if kind == "cosine":
                return (0.5 * (1.0 - math.cos(math.pi * progress)) if rising
                        else 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress)))
            return 1.0 - math.sqrt(1.0 - progress) if rising else 1.0 - math.sqrt(progress)

        def factor(step):
            if step < num_warmup_steps:
                progress = float(step) / float(max(1, num_warmup_steps))
                value = shaped(warmup_type, progress, True)
                value = value * (1.0 - min_lr_ratio) + min_lr_ratio
                return max(0.0, value)
            if step < num_warmup_steps + num_stable_steps:
                return 1.0
            if step < num_warmup_steps + num_stable_steps + num_decay_steps:
                progress = float(step - num_warmup_steps - num_stable_steps) / float(max(1, num_decay_steps))
                value = shaped(decay_type, progress, False)
                value = value * (1.0 - min_lr_ratio) + min_lr_ratio
                return max(0.0, value)
            return min_lr_ratio
        return lambda_lr(optimizer, factor, last_epoch, function="transformers get_wsd_schedule")



class RexLR:
    """musubi-tuner's REX scheduler (modules/lr_schedulers.py:4-67 at 30c658c4), a torch
    LRScheduler whose get_lr is a closed form of last_epoch: during a warm-up of more than one step
    every group gets the same absolute LR, from min_lr up to max_lr (not its own LR times a factor);
    after it, each group's initial LR times the REX factor. The constructor checks min_lr and the
    warm-up as RexLR.__init__ does (same names, so an unknown lr_scheduler_args key raises the same
    TypeError); torch's LRScheduler.__init__ then steps once, so a given last_epoch L makes
    scheduler step s read last_epoch L + 1 + s."""

    def __init__(self, optimizer, max_lr, min_lr=0.0, num_steps=0, num_warmup_steps=0, rex_alpha=0.1, rex_beta=0.9,
                 last_epoch=-1):
        if min_lr > max_lr:
            raise ValueError(f'Value of "min_lr" should be less than value of "max_lr". Got min_lr={min_lr} and max_lr={max_lr}')
        if num_warmup_steps > num_steps:
            raise ValueError(f"num_warmup_steps ({num_warmup_steps}) must be less than or equal to num_steps ({num_steps})")
        self.min_lr, self.max_lr, self.num_steps = min_lr, max_lr, num_steps
        self.num_warmup_steps, self.rex_alpha, self.rex_beta = num_warmup_steps, rex_alpha, rex_beta
        self.offset = last_epoch + 1
        self.lambda_ = Lambda(None, "musubi-tuner RexLR", kind="values", values=self.lrs)
        # LRScheduler.__init__ -> _initial_step -> get_lr at last_epoch 0 (+ offset)
        self.lrs(0, [1.0])

    def lrs(self, step, bases):
        last = step + self.offset
        w = self.num_warmup_steps
        if w == 1 and last == 1:
            return [self.min_lr for _ in bases]
        elif w > 1 and last >= 1 and last <= (w - 1):
            return [self.min_lr + (self.max_lr - self.min_lr) * (last - 1) / (w - 1) for _ in bases]
        step_after = last - w
        remaining = self.num_steps - w
        if step_after >= remaining or step_after == -1 or remaining <= 0:
            return [self.min_lr for _ in bases]
        rex_z = (remaining - (step_after % remaining)) / remaining
        rex_factor = self.min_lr / self.max_lr + (1.0 - self.min_lr / self.max_lr) * (
            rex_z / (self.rex_alpha + self.rex_beta * rex_z))
        return [base_lr * rex_factor for base_lr in bases]


LIBRARIES = {"diffusers": Diffusers(), "transformers_4_44": Transformers444(),
             "transformers_4_54": Transformers454()}

# scheduler name -> library function name (the TYPE_TO_SCHEDULER_FUNCTION tables)
FUNCTIONS = {
    "constant": "get_constant_schedule",
    "constant_with_warmup": "get_constant_schedule_with_warmup",
    "linear": "get_linear_schedule_with_warmup",
    "cosine": "get_cosine_schedule_with_warmup",
    "cosine_with_restarts": "get_cosine_with_hard_restarts_schedule_with_warmup",
    "polynomial": "get_polynomial_decay_schedule_with_warmup",
    "piecewise_constant": "get_piecewise_constant_schedule",
    "inverse_sqrt": "get_inverse_sqrt_schedule",
    "reduce_lr_on_plateau": "get_reduce_on_plateau_schedule",
    "cosine_with_min_lr": "get_cosine_with_min_lr_schedule_with_warmup",
    "cosine_warmup_with_min_lr": "get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
    "warmup_stable_decay": "get_wsd_schedule",
}


def function_for(implementation: str):
    """'diffusers.linear' -> the bound function."""
    library, name = implementation.split(".")
    return getattr(LIBRARIES[library], FUNCTIONS[name])


# --------------------------------------------------------------------------------------------
# get_scheduler_fix, per sd-scripts version


@dataclass
class Built:
    scheduler: Lambda
    name: str                       # the scheduler name as the trainer resolved it
    num_warmup_steps: object
    num_training_steps: int
    extra: dict                     # num_cycles, power, ... as the function received them


def enum_text(name: str, version: str) -> str:
    """How f"{name}" prints after `name = SchedulerType(name)`: diffusers' plain Enum (v0.6-v0.8) and
    transformers' str Enum under Python 3.11 (v0.9+) both give 'SchedulerType.NAME'."""
    return f"SchedulerType.{name.upper()}"


def _valid_names_error(name, profile):
    names = list(profile["schedulers"])
    if profile["get_scheduler_fix"] in ("v0.9", "v0.10", "musubi"):
        allowed = [n for n in names if n != "piecewise_constant"]
        return f"{name} is not a valid SchedulerType, please select one of {allowed}"
    return f"{name!r} is not a valid SchedulerType"


def build(profile: dict, args: dict, *, num_processes: int, optimizer: FakeOptimizer,
          optimizer_is_adafactor: bool, parse_kwargs=None) -> Built:
    """sd-scripts get_scheduler_fix(args, optimizer, num_processes) of the profile's version.
    Raises SchedulerError with the trainer's exception text. A custom lr_scheduler_type and
    schedule-free optimizers are handled by the caller (not modelled / no scheduler)."""
    variant = profile["get_scheduler_fix"]
    name = args.get("lr_scheduler")
    S = args["max_train_steps"]
    if profile["training_steps_include_accumulation"]:
        # v0.6.5 L2906
        num_training_steps = S * num_processes * args.get("gradient_accumulation_steps", 1)
    else:
        num_training_steps = S * num_processes
    warm = args.get("lr_warmup_steps")
    num_cycles = args.get("lr_scheduler_num_cycles")
    power = args.get("lr_scheduler_power")
    decay = None
    stable = None
    kwargs: dict = {}
    try:
        if variant in ("v0.9", "v0.10", "musubi"):
            # v0.9.1 L4400-4411 (musubi trainer_base.py:287-295): float warmup/decay are ratios of
            # num_training_steps
            if isinstance(warm, float):
                warm = int(warm * num_training_steps)
            decay = args.get("lr_decay_steps")
            if isinstance(decay, float):
                decay = int(decay * num_training_steps)
            stable = num_training_steps - warm - decay
        if profile["scheduler_kwargs"]:
            # after the warm-up / decay arithmetic (v0.10.1 L5271-5290; musubi trainer_base.py:287-306)
            kwargs = (parse_kwargs or parse_scheduler_args)(args.get("lr_scheduler_args"))
        if not isinstance(name, str):
            raise AttributeError(f"'{type(name).__name__}' object has no attribute 'startswith'")

        def needless(result, shown):
            if warm is not None and warm != 0:
                raise ValueError(f"{shown} does not require `num_warmup_steps`. Set None or 0.")
            return result

        if name.startswith("adafactor"):
            # v0.6.5 L2947-2953 / v0.10.1 L5306-5312
            if not optimizer_is_adafactor:
                raise AssertionError("adafactor scheduler must be used with Adafactor optimizer / adafactor "
                                     "schedulerはAdafactorオプティマイザと同時に使ってください")
            initial_lr = float(name.split(":")[1])
            return Built(needless(Lambda(lambda _: initial_lr, "transformers AdafactorSchedule", kind="adafactor"),
                                  name), name, warm, num_training_steps, {"initial_lr": initial_lr})
        if profile.get("rex") and name.lower() == "rex":
            # musubi trainer_base.py:335-345: max_lr learning_rate, min_lr learning_rate *
            # (lr_scheduler_min_lr_ratio or 0.01), num_steps the scheduler horizon; no warm-up check
            lr = args.get("learning_rate")
            ratio = args.get("lr_scheduler_min_lr_ratio")
            min_lr = lr * ratio if ratio is not None else lr * 0.01
            rex = RexLR(optimizer, max_lr=lr, min_lr=min_lr, num_steps=num_training_steps,
                        num_warmup_steps=warm, **kwargs)
            return Built(rex.lambda_, name, warm, num_training_steps,
                         {"max_lr": lr, "min_lr": min_lr, "rex_alpha": rex.rex_alpha, "rex_beta": rex.rex_beta})
        impl = profile["schedulers"].get(name)
        if impl is None:
            raise ValueError(_valid_names_error(name, profile))
        func = function_for(impl)
        shown = enum_text(name, variant)
        extra: dict = {}
        if name == "constant":
            return Built(needless(func(optimizer, **kwargs), shown), name, warm, num_training_steps, extra)
        if name == "piecewise_constant":
            return Built(func(optimizer, **kwargs), name, warm, num_training_steps, dict(kwargs))
        if warm is None:
            raise ValueError(f"{shown} requires `num_warmup_steps`, please provide that argument.")
        if name == "constant_with_warmup":
            return Built(func(optimizer, num_warmup_steps=warm, **kwargs), name, warm, num_training_steps, extra)
        if name == "inverse_sqrt":
            timescale = args.get("lr_scheduler_timescale")
            extra = {"timescale": timescale if timescale is not None else (warm or 10_000)}
            return Built(func(optimizer, num_warmup_steps=warm, timescale=timescale, **kwargs), name, warm,
                         num_training_steps, extra)
        if name == "cosine_with_restarts":
            extra = {"num_cycles": num_cycles}
            return Built(func(optimizer, num_warmup_steps=warm, num_training_steps=num_training_steps,
                              num_cycles=num_cycles, **kwargs), name, warm, num_training_steps, extra)
        if name == "polynomial":
            extra = {"power": power, "lr_end": kwargs.get("lr_end", 1e-7)}
            return Built(func(optimizer, num_warmup_steps=warm, num_training_steps=num_training_steps,
                              power=power, **kwargs), name, warm, num_training_steps, extra)
        if name == "cosine_with_min_lr":
            ratio = args.get("lr_scheduler_min_lr_ratio")
            extra = {"num_cycles": num_cycles / 2, "min_lr_rate": ratio}
            return Built(func(optimizer, num_warmup_steps=warm, num_training_steps=num_training_steps,
                              num_cycles=num_cycles / 2, min_lr_rate=ratio, **kwargs), name, warm,
                         num_training_steps, extra)
        if name in ("linear", "cosine"):
            return Built(func(optimizer, num_warmup_steps=warm, num_training_steps=num_training_steps, **kwargs),
                         name, warm, num_training_steps, extra)
        if decay is None:
            raise ValueError(f"{shown} requires `num_decay_steps`, please provide that argument.")
        if name == "warmup_stable_decay":
            ratio = args.get("lr_scheduler_min_lr_ratio")
            ratio = ratio if ratio is not None else 0.0
            extra = {"num_stable_steps": stable, "num_decay_steps": decay, "num_cycles": num_cycles / 2,
                     "min_lr_ratio": ratio}
            return Built(func(optimizer, num_warmup_steps=warm, num_stable_steps=stable, num_decay_steps=decay,
                              num_cycles=num_cycles / 2, min_lr_ratio=ratio, **kwargs), name, warm,
                         num_training_steps, extra)
        # the last branch (v0.9.1 L4517-4524): reduce_lr_on_plateau, cosine_warmup_with_min_lr
        return Built(func(optimizer, num_warmup_steps=warm, num_training_steps=num_training_steps,
                          num_decay_steps=decay, **kwargs), name, warm, num_training_steps, extra)
    except SchedulerError:
        raise
    except (TypeError, ValueError, KeyError, AssertionError, AttributeError, IndexError, OverflowError,
            ZeroDivisionError) as exc:
        raise SchedulerError(f"{type(exc).__name__}: {_exc_text(exc)}") from None


def _exc_text(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return f'"{exc.args[0]}"' if isinstance(exc.args[0], str) and " " in exc.args[0] else repr(exc.args[0])
    text = str(exc)
    for cls in ("Diffusers.", "Transformers444.", "Transformers454."):
        # the library functions are plain functions there: no class in the TypeError text
        text = text.replace(cls, "")
    return text


def parse_scheduler_args(values) -> dict:
    """lr_scheduler_args: "key=value" strings, each value through ast.literal_eval
    (train_util.py v0.7.0 L3626-3631, v0.10.1 L5285-5290)."""
    import ast

    out: dict = {}
    if values is None:
        return out
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple)):
        # the trainer's `len(args.lr_scheduler_args)` (a TOML scalar that is not a string)
        raise SchedulerError(f"TypeError: object of type '{type(values).__name__}' has no len()")
    if len(values) == 0:
        return out
    for item in values:
        if not isinstance(item, str):
            # the trainer's `arg.split("=")` on a TOML number, boolean, array or table
            raise SchedulerError(f"AttributeError: '{type(item).__name__}' object has no "
                                 f"attribute 'split'")
        try:
            key, value = item.split("=")
        except ValueError:
            raise SchedulerError(f"ValueError: lr_scheduler_args item {item!r} is not key=value "
                                 f"(not enough values to unpack)") from None
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError) as exc:
            raise SchedulerError(f"{type(exc).__name__}: lr_scheduler_args {item!r}: {exc}") from None
    return out


def scheduler_step_count(k: int, *, num_processes: int, every_batch: bool, gradient_accumulation_steps: int,
                         num_batches_per_epoch: int, num_update_steps_per_epoch: int) -> int:
    """How many times the scheduler has stepped before optimizer step k (1-based) runs.

    accelerate >= 0.23 (AcceleratedScheduler.step): only on sync steps, num_processes times each:
    (k - 1) * P. accelerate 0.15.0 (sd-scripts v0.6.x): num_processes times after every batch,
    accumulating or not; optimizer step k runs on batch m = min(j * G, Nd) of its epoch (j = its
    index in the epoch; the last, short group syncs at the end of the dataloader)."""
    if not every_batch:
        return (k - 1) * num_processes
    U, G, Nd = num_update_steps_per_epoch, gradient_accumulation_steps, num_batches_per_epoch
    epoch, j = divmod(k - 1, U)
    batch = min((j + 1) * G, Nd)
    return num_processes * (epoch * Nd + batch - 1)
