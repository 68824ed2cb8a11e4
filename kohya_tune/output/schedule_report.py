"""Show a Schedule: the JSON contract, a compact timetable and a terminal chart of the LR."""
from __future__ import annotations

from kohya_tune.engine.schedule import Schedule
from kohya_tune.output import steps_report

CHART_WIDTH = 60
CHART_HEIGHT = 8

UNICODE = {"blocks": " ▁▂▃▄▅▆▇█", "axis_v": "│", "axis_h": "─", "corner": "└", "save": "▲",
           "sample": "●", "epoch": "┬"}
ASCII = {"blocks": " .:-=+*#@", "axis_v": "|", "axis_h": "-", "corner": "+", "save": "^",
         "sample": "o", "epoch": "+"}


# --------------------------------------------------------------------------------------------
# JSON


def to_json(schedule: Schedule) -> dict:
    base = steps_report.to_json(schedule.report)
    plan = schedule.plan
    out = {
        "config": base["config"], "kind": base["kind"], "sd_scripts": base["sd_scripts"],
        "sd_scripts_profile": base["sd_scripts_profile"], "sd_scripts_commit": base["sd_scripts_commit"],
        "sd_scripts_title": base["sd_scripts_title"], "schedule_profile": schedule.profile,
        "script": base["script"], "trainer": base["trainer"], "gui": base["gui"],
        **timetable_json(schedule, base["notes"]),
    }
    if plan.gui is not None:
        out["gui"]["version_source"] = plan.gui_version_source
    return out


def timetable_json(schedule: Schedule, notes_before=()) -> dict:
    """The timetable's part of the JSON contract (both trainer families): output_dir, epochs,
    checkpoints, samples, lr and the notes (`notes_before` first)."""
    lr = schedule.lr
    out = {
        "output_dir": schedule.args.get("output_dir"),
        "epochs": [{"epoch": e.epoch, "first_step": e.first_step, "last_step": e.last_step, "steps": e.steps}
                   for e in schedule.epochs],
        "checkpoints": [{"kind": c.kind, "epoch": c.epoch, "step": c.step, "file": c.file, "kept": c.kept,
                         **({"trigger": c.trigger} if c.kind == "state" else {}),
                         "folder": c.folder, "removed_at_step": c.removed_at}
                        for c in schedule.checkpoints],
        "samples": [{"when": s.when, "epoch": s.epoch, "step": s.step} for s in schedule.samples],
        "lr": None,
        "notes": list(notes_before) + list(schedule.notes),
    }
    if lr is not None:
        out["lr"] = {
            "scheduler": lr.scheduler, "function": lr.function, "groups": list(lr.groups),
            "base": list(lr.base), "warmup_steps": lr.warmup_steps,
            "num_training_steps": lr.num_training_steps,
            "scheduler_steps_per_step": lr.scheduler_steps_per_step,
            "steps_on_every_batch": lr.every_batch,
            "warmup_optimizer_steps": lr.warmup_optimizer_steps,
            "stop_text_encoder_training": lr.stop_text_encoder_training,
            "arguments": {k: v for k, v in lr.extra.items() if k != "notes"},
            "per_step": [list(row) for row in lr.per_step],
        }
        out["notes"].extend(lr.extra.get("notes", []))
    else:
        out["notes"].append(f"lr: {schedule.lr_note}")
    return out


# --------------------------------------------------------------------------------------------
# text


def _lr_text(value) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    return f"{value:.3g}" if abs(value) >= 1e-3 else f"{value:.2e}"


def _steps_range(first: int, last: int) -> str:
    return f"{first}" if first == last else f"{first}-{last}"


def _compress_epochs(schedule: Schedule) -> list[str]:
    lines = []
    eps = schedule.epochs
    if not eps:
        return ["  (no epoch: no batches)"]
    U = schedule.report.num_update_steps_per_epoch
    full = [e for e in eps if e.steps == U]
    last = eps[-1]
    if len(eps) <= 6:
        for e in eps:
            tail = "" if e.steps == U else f"   cut short: {e.steps} of {U} steps (max_train_steps {last.last_step})"
            lines.append(f"  epoch {e.epoch:>3}  steps {_steps_range(e.first_step, e.last_step):>11}{tail}")
        return lines
    for e in eps[:2]:
        lines.append(f"  epoch {e.epoch:>3}  steps {_steps_range(e.first_step, e.last_step):>11}")
    lines.append(f"  ...      {len(eps) - 4} more epochs of {U} steps")
    for e in eps[-2:]:
        tail = "" if e.steps == U else f"   cut short: {e.steps} of {U} steps (max_train_steps {last.last_step})"
        lines.append(f"  epoch {e.epoch:>3}  steps {_steps_range(e.first_step, e.last_step):>11}{tail}")
    del full
    return lines


def _list_steps(steps: list[int], limit: int = 12) -> str:
    if len(steps) <= limit:
        return ", ".join(str(s) for s in steps)
    return ", ".join(str(s) for s in steps[:limit - 2]) + f", ... ({len(steps)} in all), " + str(steps[-1])


def to_text(schedule: Schedule, *, unicode: bool = True, width: int = CHART_WIDTH) -> str:
    report, plan = schedule.report, schedule.plan
    lines: list[str] = []
    add = lines.append
    head = f"{plan.config.path}: {plan.script}.py, sd-scripts {plan.sd.shown}"
    if plan.gui is not None:
        head += f", as GUI {plan.gui.version} sends it"
    add(head)
    P, G = report.num_processes, report.gradient_accumulation_steps
    S, E, U = report.max_train_steps, report.num_train_epochs, report.num_update_steps_per_epoch
    run = (f"{S} optimizer steps in {E} epoch{'s' if E != 1 else ''} of {U} steps"
           if report.last_epoch_steps == U else
           f"{S} optimizer steps in {E} epochs: {E - 1} of {U} steps, then {report.last_epoch_steps}")
    add(f"  {run}; {P} process{'es' if P != 1 else ''}, gradient_accumulation_steps {G}")
    add(f"  (how these numbers come about: kohya-tune steps {plan.config.path})")
    lines.extend(body_lines(schedule, unicode=unicode, width=width))
    return "\n".join(lines) + "\n"


def body_lines(schedule: Schedule, *, unicode: bool = True, width: int = CHART_WIDTH,
               samples=None) -> list[str]:
    """Everything after the header: epochs, checkpoints, samples (`samples(schedule)` gives
    a trainer's own lines), the LR and its chart, the notes."""
    report = schedule.report
    S = report.max_train_steps
    lines: list[str] = []
    add = lines.append
    add("")
    add("Epochs")
    lines.extend(_compress_epochs(schedule))

    add("")
    out_dir = schedule.args.get("output_dir")
    add("Checkpoints" + (f" (in {out_dir})" if out_dir else ""))
    shown = schedule.checkpoints
    if len(shown) > 16:
        removed = [c for c in shown if not c.kept]
        if removed:
            add(f"  {len(removed)} of the {len(shown)} files are removed again during the run "
                f"(save_last_n_*); the {len(shown) - len(removed)} that remain:")
            shown = [c for c in shown if c.kept]
    rows = []
    for c in shown:
        what = {"epoch": "epoch save", "step": "step save", "final": "final model",
                "state": f"state ({c.trigger})"}[c.kind]
        fate = "" if c.kept else f"   removed at step {c.removed_at}"
        rows.append(f"  {c.step:>6}  {c.epoch:>5}  {what:<12} {c.file}{'/' if c.folder else ''}{fate}")
    add(f"  {'step':>6}  {'epoch':>5}  {'what':<12} file")
    if len(rows) > 16:
        rows = rows[:6] + [f"  {'...':>6}  {'':>5}  {len(rows) - 12} more"] + rows[-6:]
    lines.extend(rows)
    kept = schedule.kept
    models = [c for c in kept if c.kind != "state"]
    states = [c for c in kept if c.kind == "state"]
    tail = f"  at the end: {len(models)} model file{'s' if len(models) != 1 else ''}"
    if states:
        tail += f" and {len(states)} state folder{'s' if len(states) != 1 else ''}"
    add(tail + (" remains" if len(models) + len(states) == 1 else " remain"))

    lines.extend((samples or samples_lines)(schedule))
    add("")
    lr = schedule.lr
    if lr is None:
        add(f"Learning rate: {schedule.lr_note}")
    else:
        warm = lr.warmup_steps
        warm_text = "no warm-up" if not warm else f"warm-up {warm} scheduler steps"
        written = schedule.args.get("lr_warmup_steps")
        if isinstance(written, float) and warm != written:
            warm_text += f" (lr_warmup_steps {written:g} x {lr.num_training_steps})"
        if warm and lr.warmup_optimizer_steps is not None and lr.scheduler_steps_per_step != 1:
            warm_text += f" = {lr.warmup_optimizer_steps:g} optimizer steps"
        add(f"Learning rate: {lr.scheduler}, {warm_text}; the scheduler counts "
            f"{lr.num_training_steps} steps ({lr.scheduler_steps_per_step} per optimizer step"
            + (", on every batch" if lr.every_batch else "") + ")")
        for name, base in zip(lr.groups, lr.base):
            index = lr.groups.index(name)
            values = [row[index] for row in lr.per_step]
            if not values:
                continue
            peak = max(values)
            at_peak = values.index(peak) + 1
            add(f"  {name:<22} base {_lr_text(base):>9}   step 1: {_lr_text(values[0]):>9}   "
                f"peak {_lr_text(peak):>9} (step {at_peak})   last: {_lr_text(values[-1]):>9}")
        if lr.stop_text_encoder_training is not None and lr.stop_text_encoder_training <= S:
            add(f"  the text encoder stops training at step {lr.stop_text_encoder_training} "
                f"(stop_text_encoder_training)")
        add("")
        lines.extend(chart(schedule, width=width, unicode=unicode))
    notes = list(report.notes) + list(schedule.notes) + (list(lr.extra.get("notes", [])) if lr else [])
    if notes:
        add("")
        for note in dict.fromkeys(notes):
            add(f"note: {note}")
    return lines


def samples_lines(schedule: Schedule) -> list[str]:
    lines: list[str] = []
    add = lines.append
    add("")
    add("Samples")
    if not schedule.samples:
        add("  none (sample_every_n_steps / sample_every_n_epochs / sample_at_first not set)")
    else:
        by = {}
        for s in schedule.samples:
            by.setdefault(s.when, []).append(s)
        if "first" in by:
            add("  before training (sample_at_first): step 0")
        if "step" in by:
            add(f"  every {schedule.args.get('sample_every_n_steps')} steps: steps "
                f"{_list_steps([s.step for s in by['step']])}")
        if "epoch" in by:
            add(f"  every {schedule.args.get('sample_every_n_epochs')} epochs: after epochs "
                f"{_list_steps([s.epoch for s in by['epoch']])} (steps "
                f"{_list_steps([s.step for s in by['epoch']], 6)})")
    return lines


def chart(schedule: Schedule, *, width: int = CHART_WIDTH, height: int = CHART_HEIGHT,
          unicode: bool = True) -> list[str]:
    """Columns of block characters: the LR of the group with the highest base LR (every group
    follows the same curve, scaled), with epoch ticks, saves and samples marked below."""
    chars = UNICODE if unicode else ASCII
    lr = schedule.lr
    S = len(lr.per_step)
    if S == 0:
        return []
    index = max(range(len(lr.groups)), key=lambda i: max(row[i] for row in lr.per_step))
    values = [row[index] for row in lr.per_step]
    top = max(values)
    if not top > 0:
        top = 1.0
    cols = min(width, S)

    def col_of(step: int) -> int:
        return min(cols - 1, (step - 1) * cols // S)

    # each column shows the mean LR of its steps, as a fraction of the top (no sum of values
    # near the float maximum overflows; a negative LR shows as empty)
    sums = [0.0] * cols
    counts = [0] * cols
    for k, v in enumerate(values, start=1):
        c = col_of(k)
        sums[c] += v / top
        counts[c] += 1
    means = [sums[i] / counts[i] if counts[i] else 0.0 for i in range(cols)]
    levels = [round(max(0.0, min(1.0, m)) * height * 8) for m in means]
    label_w = 9
    same = [g for i, g in enumerate(lr.groups) if i != index and [row[i] for row in lr.per_step] == values]
    scaled = [g for i, g in enumerate(lr.groups) if i != index and g not in same]
    said = []
    if same:
        said.append(f"{', '.join(same)}: identical")
    if scaled:
        said.append(f"{', '.join(scaled)}: the same curve, scaled to "
                    f"{'their' if len(scaled) > 1 else 'its'} base LR")
    out = [f"  LR of {lr.groups[index]}" + (f" ({'; '.join(said)})" if said else "")]
    for row in range(height, 0, -1):
        label = _lr_text(top) if row == height else ("0" if row == 1 else "")
        line = []
        for lv in levels:
            filled = lv - (row - 1) * 8
            line.append(chars["blocks"][max(0, min(8, filled))])
        out.append(f"  {label:>{label_w}} {chars['axis_v']}{''.join(line)}".rstrip())
    axis = [chars["axis_h"]] * cols
    for e in schedule.epochs[:-1]:
        axis[col_of(e.last_step)] = chars["epoch"]
    out.append(f"  {'':>{label_w}} {chars['corner']}{''.join(axis)}")
    saves = [" "] * cols
    for c in schedule.checkpoints:
        if c.kind in ("epoch", "step"):
            saves[col_of(c.step)] = chars["save"]
    samples = [" "] * cols
    for s in schedule.samples:
        if s.step >= 1:
            samples[col_of(s.step)] = chars["sample"]
    if any(ch != " " for ch in saves):
        out.append(f"  {'saves':>{label_w}}  {''.join(saves).rstrip()}")
    if any(ch != " " for ch in samples):
        out.append(f"  {'samples':>{label_w}}  {''.join(samples).rstrip()}")
    right = f"step {S}"
    out.append(f"  {'':>{label_w}}  1{right:>{max(len(right), cols - 1)}}")
    legend = f"  {chars['epoch']} epoch end"
    if any(ch != " " for ch in saves):
        legend += f"   {chars['save']} checkpoint saved"
    if any(ch != " " for ch in samples):
        legend += f"   {chars['sample']} sample images"
    if S > cols:
        legend += f"   (one column = {S / cols:.3g} steps)"
    out.append(legend)
    return out
