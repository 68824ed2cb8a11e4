"""musubi-tuner's `schedule`: the timetable text (the same sections and chart as sd-scripts', with
musubi's samples) and the JSON contract (sd-scripts' schedule keys for the timetable, musubi's
steps JSON for the numbers, `sampled_twice`, and the error that stops the run part-way)."""
from __future__ import annotations

from kohya_tune.engine.musubi_schedule import MusubiSchedule
from kohya_tune.output import musubi_steps_report, schedule_report
from kohya_tune.output.schedule_report import CHART_WIDTH, _list_steps

STEPS_KEYS = ("config", "kind", "dataset_config", "trainer_family", "musubi_tuner", "script", "architecture",
              "architecture_reason", "trainer")


def to_json(schedule: MusubiSchedule) -> dict:
    base = musubi_steps_report.to_json(schedule.report.musubi)
    out = {k: base[k] for k in STEPS_KEYS}
    out["schedule_profile"] = schedule.profile
    out.update(schedule_report.timetable_json(schedule, base["notes"]))
    out["sampled_twice"] = list(schedule.sampled_twice)
    if schedule.failure is not None:
        f = schedule.failure
        out["error"] = f.message
        out["note"] = f.note
        out["where"] = f.origin.where() if f.origin else None
        out["error_at_step"] = schedule.failure_step
    return out


def samples_lines(schedule: MusubiSchedule) -> list[str]:
    lines = ["", "Samples"]
    add = lines.append
    if not schedule.samples:
        if schedule.failure is not None:
            add(f"  none before the run stops (step {schedule.failure_step})")
        else:
            add("  none (sample_every_n_steps / sample_every_n_epochs / sample_at_first not set)")
        return lines
    by: dict = {}
    for s in schedule.samples:
        by.setdefault(s.when, []).append(s)
    if "first" in by:
        add("  before training (sample_at_first): step 0")
    if "step" in by:
        add(f"  every {schedule.args.get('sample_every_n_steps')} steps: steps "
            f"{_list_steps([s.step for s in by['step']])}")
    if "epoch" in by:
        why = []
        if schedule.args.get("sample_every_n_epochs") is not None:
            why.append(f"every {schedule.args.get('sample_every_n_epochs')} epochs")
        if schedule.sampled_twice:
            why.append(f"a last step that is a multiple of sample_every_n_steps "
                       f"{schedule.args.get('sample_every_n_steps')}")
        add(f"  at the end of epochs {_list_steps([s.epoch for s in by['epoch']])} (steps "
            f"{_list_steps([s.step for s in by['epoch']], 6)}): {', or '.join(why)}")
    if schedule.sampled_twice:
        add(f"  sampled twice at steps {_list_steps(schedule.sampled_twice)} (in the step and again at "
            f"the epoch's end)")
    return lines


def to_text(schedule: MusubiSchedule, *, unicode: bool = True, width: int = CHART_WIDTH) -> str:
    run = schedule.report
    musubi = run.musubi
    arch = musubi.architecture
    lines = [f"{musubi.config.path}: {musubi.script}.py ({arch.full}), {schedule.profile}"]
    P, G = run.num_processes, run.gradient_accumulation_steps
    S, E, U = run.max_train_steps, run.num_train_epochs, run.num_update_steps_per_epoch
    text = (f"{S} optimizer steps in {E} epoch{'s' if E != 1 else ''} of {U} steps"
            if run.last_epoch_steps == U else
            f"{S} optimizer steps in {E} epochs: {E - 1} of {U} steps, then {run.last_epoch_steps}")
    lines.append(f"  {text}; {P} process{'es' if P != 1 else ''}, gradient_accumulation_steps {G}")
    lines.append(f"  (how these numbers come about: kohya-tune steps {musubi.config.path} --script {musubi.script})")
    if schedule.failure is not None:
        lines.append(f"  the run stops at step {schedule.failure_step}: {schedule.failure.message}")
    lines.extend(schedule_report.body_lines(schedule, unicode=unicode, width=width, samples=samples_lines))
    return "\n".join(lines) + "\n"
