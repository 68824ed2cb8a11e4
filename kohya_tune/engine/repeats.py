"""The trainer's numbers for other repeats, without reading the dataset again.

`with_repeats(plan, changes)` is the same plan (datasets already built) with some subsets'
`num_repeats` changed, as the config would give them after the edit: in a dataset config the
value is then set on the subset itself; in folder mode the folder is renamed `N_name` ->
`M_name`, so its folder name and the trainer's image_dir change too, while the folder found
here (`resolved`) stays the one already scanned. `report(plan, disk)` gathers the facts of such
a plan from the same `images.Disk`, so folder listings and image sizes come from the first scan,
and returns the trainer's numbers (reg balancing, buckets, batches, sharding, accumulation) from
`facts` and `steps`, exactly as for the config itself.

In folder mode the trainer registers the subfolders in the order the file system lists them
(normalize.folder_subsets); a renamed folder may take another place in that order. `order`
chooses the order to assume: "same" (each renamed folder keeps its place) or "sorted"
(the folders of a root with a renamed folder in alphabetical order of the new names, as NTFS
usually lists them; other roots keep their order). The order changes a number only when reg
balancing or a validation split depends on it.
"""
from __future__ import annotations

import copy
import os

from kohya_tune.engine import facts as facts_mod
from kohya_tune.engine import steps
from kohya_tune.engine.plan import Plan


def folder_name_with_repeats(name: str, repeats: int) -> str:
    """The folder name `name` with the repeat prefix `repeats`: the text before the first "_"
    (what the trainer parses with int(), normalize.parse_folder_name) is replaced, the rest of
    the name is kept exactly ("007_sks dog" -> "5_sks dog", "3" -> "10")."""
    head, sep, rest = name.partition("_")
    return f"{repeats}{sep}{rest}"


def with_repeats(plan: Plan, changes: dict, *, launch: Plan | None = None,
                 order: str = "same") -> Plan:
    """A copy of `plan` in which the subsets `(dataset index, subset index) -> num_repeats` of
    `changes` have those repeats. `plan` must have its datasets (it has been gathered).

    `launch`: the config built again (normalize.build_plan) after other edits, e.g. the step
    settings solve changed, or a GUI JSON whose GUI re-counted the renamed folders: its
    arguments, GUI launch and notes replace the plan's. The datasets always come from `plan`."""
    if not plan.datasets:
        raise ValueError("with_repeats needs a plan whose datasets are built (gather it first)")
    if order not in ("same", "sorted"):
        raise ValueError(f"order must be 'same' or 'sorted', not {order!r}")
    out = copy.copy(plan)
    if launch is not None:
        out.config = launch.config
        out.script = launch.script
        out.sd = launch.sd
        out.args = launch.args
        out.arg_origins = launch.arg_origins
        out.num_processes = launch.num_processes
        out.num_processes_source = launch.num_processes_source
        out.gui = launch.gui
        out.gui_version_source = launch.gui_version_source
        out.notes = list(launch.notes)
    else:
        out.notes = list(plan.notes)
    out.datasets = []
    for d_index, dplan in enumerate(plan.datasets):
        new_d = copy.copy(dplan)
        new_d.subsets = []
        for s_index, splan in enumerate(dplan.subsets):
            new_s = copy.copy(splan)
            new_s.values = dict(splan.values)
            new_s.sources = dict(splan.sources)
            repeats = changes.get((d_index, s_index))
            if repeats is not None and repeats != splan.num_repeats:
                new_s.num_repeats = repeats
                new_s.values["num_repeats"] = repeats
                if splan.folder_name is not None:
                    new_name = folder_name_with_repeats(splan.folder_name, repeats)
                    new_s.folder_name = new_name
                    if splan.image_dir is not None:
                        new_s.image_dir = os.path.join(os.path.dirname(splan.image_dir), new_name)
                    new_s.sources["num_repeats"] = "folder name"
                else:
                    new_s.sources["num_repeats"] = "subset"
            new_d.subsets.append(new_s)
        if order == "sorted" and plan.mode == "folders":
            # folder_subsets: train folders first, then reg folders, each in listing order
            renamed = {dplan.subsets[s].is_reg for (d, s), r in changes.items()
                       if d == d_index and r != dplan.subsets[s].num_repeats}
            groups = []
            for is_reg in (False, True):
                members = [s for s in new_d.subsets if s.is_reg == is_reg]
                if is_reg in renamed:
                    members.sort(key=lambda s: s.folder_name or "")
                groups.extend(members)
            new_d.subsets = groups
        out.datasets.append(new_d)
    return out


def gather(plan: Plan, disk) -> "facts_mod.Facts":
    """The facts of a plan made by `with_repeats`, from the listings and sizes in `disk`."""
    return facts_mod.gather(plan, disk)


def report(plan: Plan, disk) -> steps.StepReport:
    """The trainer's numbers for a plan made by `with_repeats` (raises what `steps.report_from`
    raises: the first refusal, or the missing-folder error)."""
    return steps.report_from(gather(plan, disk), check_order=False)
