"""The trainer's arithmetic: batches, sharding, accumulation, max steps and epochs.

sd-scripts (train_network.py HEAD L799-805, L978-979; the same statements in every trainer and in
J23/E24, see sd-scripts-steps.md §1 and §3):

    N   = sum of the datasets' batches               len(train_dataloader) before prepare
    Nd  = ceil(N / P)                                after accelerator.prepare (even_batches)
    U   = ceil(Nd / G)                               num_update_steps_per_epoch
    S   = max_train_epochs * ceil(N / P / G)         when max_train_epochs is not None
        = max_train_steps (default 1600)             otherwise
    E   = ceil(S / U)                                num_train_epochs
"""
from __future__ import annotations

from dataclasses import dataclass, field

from kohya_tune.engine import facts as facts_mod
from kohya_tune.engine import images
from kohya_tune.engine.plan import Plan, TrainerRefusal
from kohya_tune.engine.step_arithmetic import step_numbers


@dataclass
class StepReport:
    plan: Plan
    datasets: list                 # facts.DatasetFacts
    num_train_images: int
    num_reg_images: int
    num_reg_images_used: int
    num_batches: int               # N
    num_batches_per_epoch: int     # Nd
    num_processes: int
    gradient_accumulation_steps: int
    num_update_steps_per_epoch: int
    max_train_steps: int
    num_train_epochs: int
    steps_source: str              # "max_train_epochs" | "max_train_steps" | "default"
    buckets: dict                  # (w, h) -> image-steps over all datasets
    notes: list = field(default_factory=list)
    order_variant: "StepReport | None" = None   # the outcome with alphabetical folder order
    facts: object = None           # the facts.Facts the numbers come from

    @property
    def last_epoch_steps(self) -> int:
        if self.num_update_steps_per_epoch == 0 or self.num_train_epochs == 0:
            return 0
        rem = self.max_train_steps - (self.num_train_epochs - 1) * self.num_update_steps_per_epoch
        return rem


def _int_arg(plan: Plan, name: str, value):
    """A number as the trainer's arithmetic sees it. Values from a config file are not converted
    by argparse: a float or a boolean still works in Python arithmetic (and is computed as such;
    lint reports the type), a string makes it fail."""
    if value is None:
        return None
    if not isinstance(value, (int, float)):
        raise TrainerRefusal(
            f"TypeError: {name} is {value!r} ({type(value).__name__}); sd-scripts does not convert "
            f"values from a config file, so the arithmetic on it fails", plan.arg_origins.get(name))
    return value


def trainer_numbers(plan: Plan, num_batches: int) -> dict:
    """Apply the formulas to N. Raises TrainerRefusal for values the trainer cannot use."""
    P = plan.num_processes
    G = _int_arg(plan, "gradient_accumulation_steps",
                 plan.args.get("gradient_accumulation_steps", 1))
    if G is None:
        G = 1
    if G < 1:
        raise TrainerRefusal(f"ValueError: gradient_accumulation_steps must be at least 1, got {G}",
                             plan.arg_origins.get("gradient_accumulation_steps"))
    epochs = _int_arg(plan, "max_train_epochs", plan.args.get("max_train_epochs"))
    steps = _int_arg(plan, "max_train_steps", plan.args.get("max_train_steps"))
    # the arithmetic itself is shared with musubi-tuner (engine/step_arithmetic.py)
    return step_numbers(num_batches, P, G, epochs, steps)


def compute(plan: Plan, *, check_order: bool = True, disk=None, progress=None) -> StepReport:
    """The trainer's numbers from one scan of the dataset (`facts.gather`). Raises the first
    refusal the trainer would raise (TrainerRefusal), or PlanError when the dataset is not on
    this machine; `report_from` does the same from facts already gathered."""
    disk = disk or images.Disk(progress)
    return report_from(facts_mod.gather(plan, disk), check_order=check_order, disk=disk)


def report_from(facts, *, check_order: bool = True, disk=None) -> StepReport:
    """The StepReport of gathered facts, or the error the command reports for them."""
    plan = facts.plan
    if facts.problem is not None:
        raise facts.problem
    if facts.refusals:
        raise facts.refusals[0].error()
    missing = facts.missing_error()
    if missing is not None:
        raise missing
    report = _report(facts, trainer_numbers(plan, facts.num_batches))
    if check_order and plan.mode == "folders":
        other = order_variant(plan, disk)
        if other is not None and _numbers(other) != _numbers(report):
            report.order_variant = other
            report.notes.append(
                "the folders are used in the order the file system lists them; in alphabetical "
                "order (as on Windows/NTFS) the reg balancing gives "
                f"{other.num_batches} batches and {other.num_train_epochs} epochs instead of "
                f"{report.num_batches} and {report.num_train_epochs}")
    return report


def _numbers(report: "StepReport") -> tuple:
    return (report.num_batches, report.num_reg_images_used, report.max_train_steps,
            report.num_train_epochs, tuple(sorted(report.buckets.items())))


def order_variant(plan: Plan, disk=None) -> "StepReport | None":
    """The same plan with subfolders in alphabetical order, when that order differs from the
    file system's and several reg folders make it matter (reg balancing follows folder order).
    Folder listings and image sizes come from the first scan (`disk`)."""
    import copy

    reg_folders = [s for d in plan.datasets for s in d.subsets if s.is_reg]
    if len(reg_folders) < 2:
        return None
    if [s.folder_name for s in reg_folders] == sorted(s.folder_name for s in reg_folders):
        return None
    variant = copy.copy(plan)
    variant.datasets = []
    variant.notes = []
    variant.missing_dirs = []
    variant.skipped_folders = []
    variant.root_dirs = []
    variant.folder_order = "sorted"
    facts = facts_mod.gather(variant, disk)
    if facts.problem is not None or facts.refusals or facts.missing:
        return None
    try:
        return _report(facts, trainer_numbers(variant, facts.num_batches))
    except TrainerRefusal:
        return None


def _report(facts, numbers: dict) -> StepReport:
    plan = facts.plan
    merged: dict = {}
    for d in facts.datasets:
        for key, count in d.buckets.items():
            merged[key] = merged.get(key, 0) + count
    return StepReport(
        plan=plan, datasets=facts.datasets, facts=facts,
        num_train_images=sum(d.num_train_images for d in facts.datasets),
        num_reg_images=sum(d.num_reg_images for d in facts.datasets),
        num_reg_images_used=sum(d.num_reg_images_used for d in facts.datasets),
        num_batches=numbers["num_batches"], num_batches_per_epoch=numbers["num_batches_per_epoch"],
        num_processes=plan.num_processes,
        gradient_accumulation_steps=numbers["gradient_accumulation_steps"],
        num_update_steps_per_epoch=numbers["num_update_steps_per_epoch"],
        max_train_steps=numbers["max_train_steps"], num_train_epochs=numbers["num_train_epochs"],
        steps_source=numbers["steps_source"], buckets=merged,
        notes=list(plan.notes) + list(facts.notes))


def bucket_key(key) -> str:
    return f"{key[0]}x{key[1]}"
