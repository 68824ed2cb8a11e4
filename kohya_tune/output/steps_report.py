"""Show a StepReport: the JSON contract scripts parse, and a worked example for people."""
from __future__ import annotations

import math

from kohya_tune.engine.steps import StepReport, bucket_key

BAR_WIDTH = 30


def _bucket_dict(counts: dict) -> dict:
    return {bucket_key(k): counts[k] for k in sorted(counts)}


def gui_dict(gui) -> dict | None:
    if gui is None:
        return None
    return {"version": gui.version, "tab": gui.tab, "total_steps": gui.total_steps,
            "reg_factor": gui.reg_factor, "epoch": gui.epoch,
            "max_train_steps": gui.max_train_steps, "max_train_epochs": gui.max_train_epochs,
            "lr_warmup_steps": gui.lr_warmup_steps, "formula": gui.formula,
            "formula_pending": gui.formula_pending,
            "num_processes": gui.num_processes, "notes": list(gui.notes),
            "migrations": list(getattr(gui, "migrations", []) or []),
            "version_source": None,
            "requested_version": gui.requested_version, "version_note": gui.version_note,
            "script": gui.script, "events": list(gui.events), "transport": gui.transport,
            "refused": gui.refused, "sd_scripts": dict(gui.sd_scripts),
            "procedure": {step: dict(cites) for step, cites in gui.procedure.items()}}


def header_lines(plan) -> list[str]:
    """The first lines of the report: the config, the GUI release (for a GUI JSON), the trainer
    script and the sd-scripts version. Printed also when the trainer or the GUI refuses."""
    sd = f"sd-scripts {plan.sd.shown}"
    if plan.gui is None:
        return [f"{plan.config.path}: {plan.script}.py, {sd}"]
    out = [f"{plan.config.path}: {gui_label(plan)} ({plan.gui.tab} tab) -> {plan.script}.py, {sd}"]
    if plan.sd_scripts_source:
        out.append(f"  sd-scripts: {plan.sd_scripts_source}")
    return out


def gui_label(plan) -> str:
    """The one GUI version the whole report speaks of ("GUI v24.1.7")."""
    return f"GUI {plan.gui.version}"


def subset_dict(sub) -> dict:
    return {"image_dir": sub.plan.image_dir, "directory": sub.directory,
            "folder": sub.plan.folder_name, "is_reg": sub.is_reg,
            "num_repeats": sub.plan.num_repeats, "image_count": sub.image_count,
            "used": sub.used, "ignored_because": sub.reason,
            "image_steps": sub.num_repeats * sub.image_count if sub.used and not sub.is_reg
            else sub.reg_image_steps,
            "reg_images_used": sub.reg_used_images if sub.is_reg else None,
            "files_not_found_by_trainer": {k: v for k, v in sub.not_found.items()},
            "state": sub.state, "repeats_source": sub.plan.sources.get("num_repeats"),
            "images_in_folder": len(sub.images),
            "captions_missing": sub.captions.missing if sub.captions is not None else None,
            "validation_images": len(sub.held_out)}


def to_json(report: StepReport) -> dict:
    plan = report.plan
    datasets = []
    for d in report.datasets:
        datasets.append({
            "kind": d.plan.kind, "batch_size": d.plan.batch_size,
            "resolution": list(d.plan.resolution) if d.plan.resolution else None,
            "enable_bucket": d.plan.enable_bucket, "bucket_no_upscale": d.plan.bucket_no_upscale,
            "num_train_images": d.num_train_images, "num_reg_images": d.num_reg_images,
            "num_reg_images_used": d.num_reg_images_used, "num_batches": d.num_batches,
            "buckets": _bucket_dict(d.buckets), "subsets": [subset_dict(s) for s in d.subsets]})
    gui = gui_dict(plan.gui)
    out = {
        "config": plan.config.path, "kind": plan.config.kind,
        "dataset_config": plan.dataset_doc.path if plan.dataset_doc and plan.dataset_doc is not plan.config else None,
        "sd_scripts": plan.sd.label, "sd_scripts_profile": plan.sd.profile,
        "sd_scripts_commit": plan.sd.commit, "sd_scripts_title": plan.sd.title, "script": plan.script,
        "mode": plan.mode,
        "trainer": {
            "num_train_images": report.num_train_images, "num_reg_images": report.num_reg_images,
            "num_reg_images_used": report.num_reg_images_used, "num_batches": report.num_batches,
            "num_batches_per_epoch": report.num_batches_per_epoch,
            "num_processes": report.num_processes,
            "gradient_accumulation_steps": report.gradient_accumulation_steps,
            "num_update_steps_per_epoch": report.num_update_steps_per_epoch,
            "max_train_steps": report.max_train_steps,
            "num_train_epochs": report.num_train_epochs,
            "last_epoch_steps": report.last_epoch_steps,
            "steps_source": report.steps_source,
            "buckets": _bucket_dict(report.buckets),
            "datasets": datasets,
        },
        "gui": gui,
        "notes": list(report.notes),
    }
    if gui is not None:
        out["gui"]["version_source"] = plan.gui_version_source
    if gui is not None and plan.gui.epoch is not None:
        out["gui"]["intended_epochs"] = plan.gui.epoch
        out["gui"]["real_epochs"] = report.num_train_epochs
    return out


def shown_path(path: str) -> str:
    """A path as a user reads it: relative to the working folder when it lies below it."""
    import os

    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return rel if not rel.startswith("..") else path


def _bar(value: int, biggest: int, char: str = "█") -> str:
    if biggest <= 0:
        return ""
    n = max(1, round(BAR_WIDTH * value / biggest)) if value else 0
    return char * n


def to_text(report: StepReport, glyphs=None) -> str:
    """The worked example. `glyphs` (output.terminal.Glyphs) says which characters the stream
    can print; by default the block bar."""
    bar = glyphs.bar if glyphs is not None else "█"
    plan = report.plan
    lines: list[str] = []
    add = lines.append
    lines.extend(header_lines(plan))
    add("")
    lines.extend(answer_lines(report, glyphs.arrow if glyphs is not None else "→"))
    add("")
    add("How the trainer gets there:")
    if plan.dataset_doc is not None and plan.dataset_doc is not plan.config:
        add(f"  datasets from {shown_path(plan.dataset_doc.path)}")
    for i, d in enumerate(report.datasets):
        dp = d.plan
        res = f"{dp.resolution[0]}x{dp.resolution[1]}" if dp.resolution else "-"
        bucket_mode = ("buckets off (one bucket)" if not dp.enable_bucket else
                       "buckets, no upscale" if dp.bucket_no_upscale else
                       f"buckets {dp.min_bucket_reso}-{dp.max_bucket_reso} step {dp.bucket_reso_steps}")
        if i:
            add("")
        add(f"Dataset {i}: batch_size {dp.batch_size}, resolution {res}, {bucket_mode}")
        for s in d.subsets:
            name = s.plan.folder_name or s.plan.image_dir
            tag = "reg  " if s.is_reg else "train"
            if not s.used:
                add(f"  {tag} {name}: ignored ({s.reason})")
                continue
            if s.is_reg:
                add(f"  {tag} {name}: {s.image_count} images x {s.num_repeats} = "
                    f"{s.image_count * s.num_repeats}; after balancing {s.reg_used_images} images "
                    f"used, {s.reg_image_steps} image-steps")
            else:
                add(f"  {tag} {name}: {s.image_count} images x {s.num_repeats} repeats = "
                    f"{s.image_count * s.num_repeats}")
                if s.held_out:
                    seed = (f", validation_seed {dp.validation_seed}" if dp.validation_seed is not None
                            else "")
                    add(f"        {len(s.held_out)} more held out for validation "
                        f"(validation_split {dp.validation_split}{seed}): not in the training count")
            for reason, files in s.skipped_files.items():
                if reason in ("hidden", "case", "extension"):
                    what = {"hidden": "hidden", "case": "extension spelled in a case the trainer "
                            "does not match", "extension": "extension the trainer does not "
                            "search for"}[reason]
                    add(f"        not found by the trainer ({what}): {', '.join(sorted(files)[:5])}"
                        + (f" and {len(files) - 5} more" if len(files) > 5 else ""))
        add(f"  train image-steps T = {d.num_train_images}")
        if d.num_reg_images:
            add(f"  reg image-steps R = {d.num_reg_images} found, {d.num_reg_images_used} used "
                f"({'R >= T: balancing stops at the first prefix sum >= T' if d.num_reg_images >= d.num_train_images else 'R < T: reg images repeated up to T'})")
        biggest = max(d.buckets.values(), default=0)
        add(f"  {'bucket':>11}  {'image-steps':>11}  {'batches':>7}")
        for key in sorted(d.buckets):
            count = d.buckets[key]
            add(f"  {bucket_key(key):>11}  {count:>11}  {math.ceil(count / dp.batch_size):>7}  "
                f"{_bar(count, biggest, bar)}")
        add(f"  batches = sum of ceil(image-steps / {dp.batch_size}) per bucket = {d.num_batches}")
    add("")
    P, G = report.num_processes, report.gradient_accumulation_steps
    add(f"num_batches (all datasets)           N  = {report.num_batches}")
    add(f"num_batches_per_epoch (per process)  Nd = ceil(N / {P}) = {report.num_batches_per_epoch}"
        f"   [{P} process{'es' if P != 1 else ''}: {plan.num_processes_source}]")
    add(f"num_update_steps_per_epoch           U  = ceil(Nd / {G}) = "
        f"{report.num_update_steps_per_epoch}   [gradient_accumulation_steps {G}]")
    if report.steps_source == "max_train_epochs":
        add(f"max_train_steps                      S  = max_train_epochs {plan.args.get('max_train_epochs')} "
            f"x ceil(N / {P} / {G}) = {report.max_train_steps}"
            + ("   (max_train_epochs overrides max_train_steps)" if plan.args.get("max_train_steps") is not None else ""))
    elif report.steps_source == "max_train_steps":
        how = "sent by the GUI" if plan.gui is not None else "set"
        add(f"max_train_steps                      S  = {report.max_train_steps} ({how})")
    else:
        add("max_train_steps                      S  = 1600 (neither max_train_steps nor "
            "max_train_epochs reaches the trainer: its default)")
    add(f"num_train_epochs                     E  = ceil(S / U) = {report.num_train_epochs}")
    last = report.last_epoch_steps
    if report.num_train_epochs:
        if last == report.num_update_steps_per_epoch:
            add(f"  every epoch runs {report.num_update_steps_per_epoch} optimizer steps")
        else:
            add(f"  {report.num_train_epochs - 1} full epochs of {report.num_update_steps_per_epoch} "
                f"steps, then {last} steps in the last epoch")
    lines.extend(gui_lines(plan, report))
    gui = plan.gui
    for note in report.notes:
        if gui is not None and note == gui.version_note:
            continue  # shown in the GUI section
        add(f"note: {note}")
    return "\n".join(lines) + "\n"


def gui_lines(plan, report) -> list[str]:
    """What the GUI counts, computes and sends (it does so even when the trainer then refuses:
    `report` is None then)."""
    gui = plan.gui
    if gui is None:
        return []
    lines = ["", f"{gui_label(plan)} ({gui.tab} tab; {plan.gui_version_source}):"]
    add = lines.append
    if gui.version_note:
        add(f"  {gui.version_note}")
    if gui.refused:
        add(f"  refuses to start: {gui.refused}")
        return lines
    if gui.script and gui.script != plan.script:
        add(f"  the GUI would launch {gui.script}.py; {plan.script}.py is used (--script)")
    elif gui.script:
        add(f"  launches {gui.script}.py")
    for event in gui.events:
        add(f"  on load: {event}")
    if gui.total_steps is not None:
        add(f"  its own count: {gui.total_steps} image-steps, reg_factor {gui.reg_factor}")
    if gui.formula:
        add(f"  max_train_steps = {gui.formula}")
    elif gui.formula_pending:
        add(f"  max_train_steps = {gui.formula_pending}")
    if gui.max_train_steps is not None:
        sent = [f"max_train_steps {gui.max_train_steps}"]
    elif gui.formula_pending:
        sent = ["max_train_steps from that formula"]
    else:
        sent = ["no max_train_steps"]
    if gui.max_train_epochs is not None:
        sent.append(f"max_train_epochs {gui.max_train_epochs}")
    if gui.lr_warmup_steps is not None:
        sent.append(f"lr_warmup_steps {gui.lr_warmup_steps}")
    add("  sends: " + ", ".join(sent))
    return lines


def asked(plan) -> str:
    """What the file asks for, in the words of the file given."""
    gui = plan.gui
    if gui is not None and gui.epoch not in (None, ""):
        return f"GUI epoch {_num(gui.epoch)}"
    args = plan.args
    if args.get("max_train_epochs") is not None:
        return f"max_train_epochs {_num(args['max_train_epochs'])}"
    if args.get("max_train_steps") is not None:
        return f"max_train_steps {_num(args['max_train_steps'])}"
    return "no max_train_steps or max_train_epochs (sd-scripts' default: 1600 steps)"


def _num(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


def answer_lines(report: StepReport, arrow: str = "→") -> list[str]:
    """The answer, before the working: what the file asks for and what the trainer really runs
    ("GUI epoch 10 → the trainer runs 9 epochs (125 optimizer steps)")."""
    E, S, U = report.num_train_epochs, report.max_train_steps, report.num_update_steps_per_epoch
    last = report.last_epoch_steps
    shape = (f"{U} per epoch" if not E or last == U else
             f"{E - 1} epoch{'s' if E - 1 != 1 else ''} of {U}, then {last}")
    out = [f"{asked(report.plan)} {arrow} the trainer runs {E} epoch{'s' if E != 1 else ''} "
           f"({S} optimizer steps: {shape})"]
    gui = report.plan.gui
    if gui is not None and isinstance(gui.epoch, (int, float)) and not isinstance(gui.epoch, bool):
        if report.steps_source == "max_train_steps" and (gui.epoch != E or last != U):
            out.append(f"  the GUI sends max_train_steps {S} from its own image count; the "
                       f"trainer's batches give {U} steps per epoch, so {S} steps end after "
                       f"{E} epoch{'s' if E != 1 else ''}")
    return out


def unknown_text(facts, glyphs=None) -> str:
    """The dataset is not on this machine: what can still be known (the GUI's side, and the
    trainer's formulas with the unknown batch count named), before the exit-2 error."""
    arrow = glyphs.arrow if glyphs is not None else "→"
    plan = facts.plan
    lines = header_lines(plan)
    add = lines.append
    names = ", ".join(_missing(facts))
    add("")
    add(f"{asked(plan)} {arrow} the trainer's epochs and steps depend on images not on this "
        f"machine ({names})")
    add("")
    add("What the trainer computes, with N unknown:")
    P, G = plan.num_processes, _grad_acc(plan)
    add("num_batches (all datasets)           N  = sum over datasets and buckets of "
        "ceil(image-steps / batch_size)   [unknown: needs the images]")
    add(f"num_batches_per_epoch (per process)  Nd = ceil(N / {P})   [{P} process"
        f"{'es' if P != 1 else ''}: {plan.num_processes_source}]")
    add(f"num_update_steps_per_epoch           U  = ceil(Nd / {G})   [gradient_accumulation_steps {G}]")
    epochs, steps_ = plan.args.get("max_train_epochs"), plan.args.get("max_train_steps")
    if epochs is not None:
        add(f"max_train_steps                      S  = max_train_epochs {_num(epochs)} x "
            f"ceil(N / {P} / {G})")
        add(f"num_train_epochs                     E  = ceil(S / U) = {_num(epochs)}")
    else:
        if steps_ is not None:
            how = "sent by the GUI" if plan.gui is not None else "set"
            add(f"max_train_steps                      S  = {steps_} ({how})")
        elif plan.gui is not None and plan.gui.formula_pending:
            add("max_train_steps                      S  = what the GUI computes from its own "
                "count of the same images (unknown)")
        else:
            add("max_train_steps                      S  = 1600 (neither max_train_steps nor "
                "max_train_epochs reaches the trainer: its default)")
        add("num_train_epochs                     E  = ceil(S / U)")
    lines.extend(gui_lines(plan, None))
    for note in plan.notes:
        if plan.gui is not None and note == plan.gui.version_note:
            continue
        add(f"note: {note}")
    return "\n".join(lines) + "\n"


def _missing(facts) -> list[str]:
    """The dataset paths not on this machine, each once, in the trainer's order."""
    return list(dict.fromkeys(str(m[0]) for m in facts.missing))


def _grad_acc(plan) -> int:
    """gradient_accumulation_steps as the trainer's formulas take it (unset or 0: 1)."""
    return plan.args.get("gradient_accumulation_steps", 1) or 1


def unknown_json(facts, error: str) -> dict:
    plan = facts.plan
    gui = gui_dict(plan.gui)
    if gui is not None:
        gui["version_source"] = plan.gui_version_source
    return {"config": plan.config.path, "error": error, "exit": 2,
            "missing": _missing(facts),
            "sd_scripts": plan.sd.label, "sd_scripts_commit": plan.sd.commit,
            "sd_scripts_title": plan.sd.title, "script": plan.script, "gui": gui,
            "trainer": {"num_processes": plan.num_processes,
                        "gradient_accumulation_steps": _grad_acc(plan),
                        "max_train_steps": plan.args.get("max_train_steps"),
                        "max_train_epochs": plan.args.get("max_train_epochs"),
                        "num_batches": None},
            "notes": list(plan.notes)}


def refusal_text(facts) -> str:
    """A config the trainer refuses: the header, what the GUI would still send, then every
    refusal in the order the trainer raises them (it prints the first)."""
    plan = facts.plan
    lines = header_lines(plan)
    lines.extend(gui_lines(plan, None))
    lines.append("")
    lines.extend(refusal_lines(facts))
    return "\n".join(lines) + "\n"


def refusal_lines(facts, limit: int = 5) -> list[str]:
    out = []
    for i, refusal in enumerate(facts.refusals[:limit]):
        where = refusal.origin.where() + ": " if refusal.origin is not None else ""
        if refusal.stage == "gui":
            out.append(f"{where}{refusal.message}: the trainer is never started")
            continue
        head = "the trainer stops with" if i == 0 else "then, once that is fixed"
        out.append(f"{head}: {where}{refusal.message}")
        if getattr(refusal, "note", None):
            out.append(f"  ({refusal.note})")
    if len(facts.refusals) > limit:
        out.append(f"... and {len(facts.refusals) - limit} more refusal(s)")
    return out


def refusal_json(facts) -> dict:
    plan = facts.plan
    first = facts.refusals[0]
    gui = gui_dict(plan.gui)
    if gui is not None:
        gui["version_source"] = plan.gui_version_source
    return {"config": plan.config.path, "error": first.message, "note": first.note,
            "where": first.origin.where() if first.origin is not None else None,
            "sd_scripts": plan.sd.label, "sd_scripts_commit": plan.sd.commit,
            "sd_scripts_title": plan.sd.title, "script": plan.script, "gui": gui,
            "refusals": [{"message": r.message, "stage": r.stage, "note": r.note,
                          "where": r.origin.where() if r.origin is not None else None}
                         for r in facts.refusals]}
