"""kohya-tune resume: the JSON contract and the text view of a resume (edit.resume_plan.ResumeReport).

JSON (stable keys; more may be added):
    {"state": {"dir", "kind", "epoch", "step", "output_name", "train_state",
               "scheduler": {"last_epoch", "base_lrs", "step_count", "last_lr"}, ...},
     "run": {"outcome", "error", "epoch_to_start", "optimizer_steps",
             "steps": [{"step", "epoch", "lr": [per group, the optimizer's order]}],
             "files": [{"name", "kind", "step", "epoch", "overwrites"}],
             "train_state_after", "bugs": [{"issue", "what"}]},
     "plan": null | {"mode", "flags", "edits", "exact", "difference"}}
`lr` is the LR the trainer logs after the step (lr_scheduler.get_last_lr()); `lr_used` the LR
the step itself used. `epoch_to_start` is the trainer's own (0-based) variable; `first_epoch` the
epoch it prints first.
"""
from __future__ import annotations

import json


def _state(report) -> dict:
    st = report.state
    sched = st.scheduler
    opt = st.optimizer
    return {
        "dir": st.dir, "name": st.name, "kind": st.kind, "output_name": st.output_name,
        "epoch": st.epoch if st.epoch is not None else st.current_epoch,
        "step": st.step if st.step is not None else st.current_step,
        "epoch_from_name": st.epoch, "step_from_name": st.step,
        "train_state": st.train_state,
        "scheduler": None if sched is None else {"last_epoch": sched.last_epoch, "base_lrs": sched.base_lrs,
                                                 "step_count": sched.step_count, "last_lr": sched.last_lr},
        "optimizer": None if opt is None else {"groups": len(opt.group_sizes), "params_per_group": opt.group_sizes,
                                               "lr": opt.group_lrs, "initial_lr": opt.initial_lrs, "step": opt.step},
        "accelerate_step": {str(k): v for k, v in sorted(st.accelerate_steps.items())},
        "files": st.files,
        "problems": [{"file": f, "problem": p} for f, p in st.problems],
    }


def _file(f) -> dict:
    out = {"name": f.name, "kind": f.kind, "step": f.step, "epoch": f.epoch,
           "overwrites": f.overwrites if f.kind != "removed" else False}
    if f.kind == "removed":
        out["of_an_earlier_run"] = f.overwrites
    if f.kind == "model":
        out["ss_epoch"] = f.ss_epoch
    if f.kind == "state":
        out["train_state"] = f.train_state
        out["scheduler_last_epoch"] = f.scheduler_position
    if f.kind == "sample":
        out["sample_epoch"] = f.sample_epoch
    if f.trigger:
        out["trigger"] = f.trigger
    return out


def run_dict(run) -> dict:
    return {
        "outcome": run.outcome, "error": run.error,
        "epoch_to_start": run.epoch_to_start,
        "first_epoch": None if run.epoch_to_start is None else run.epoch_to_start + 1,
        "optimizer_steps": run.optimizer_steps,
        "groups": run.groups,
        "steps": [{"step": s.step, "epoch": s.epoch, "lr": s.lr, "lr_used": s.lr_used,
                   "scheduler_last_epoch": s.scheduler_position} for s in run.steps],
        "files": [_file(f) for f in run.files],
        "train_state_after": run.train_state_after,
        "bugs": [{"id": b.id, "issue": b.issue, "what": b.what, "detail": b.detail} for b in run.bugs],
        "start": run.start,
        "notes": run.notes,
        "lr_note": run.lr_note,
    }


def plan_dict(plan) -> dict | None:
    if plan is None:
        return None
    g = plan.goal
    return {
        "mode": plan.mode,
        "flags": plan.flags,
        "options": plan.options,
        "edits": [{"key": k, "old": old, "new": new, "why": why} for k, old, new, why in plan.changes],
        "exact": plan.exact,
        "difference": plan.difference,
        "steps_done": g.done, "total": g.total, "remaining": g.remaining, "max_train_steps": g.max_train_steps,
        "notes": plan.notes,
        "run": None if plan.run is None else {
            "outcome": plan.run.outcome, "optimizer_steps": plan.run.optimizer_steps,
            "epoch_to_start": plan.run.epoch_to_start,
            "steps": [{"step": s.step, "epoch": s.epoch, "lr": s.lr} for s in plan.run.steps],
            "files": [_file(f) for f in plan.run.files],
            "train_state_after": plan.run.train_state_after,
            "bugs": [{"id": b.id, "issue": b.issue, "what": b.what} for b in plan.run.bugs]},
    }


def to_dict(report) -> dict:
    plan = report.plan_obj
    return {
        "config": report.config,
        "trainer": {
            "sd_scripts": plan.sd.label if plan is not None else None,
            "script": plan.script if plan is not None else None,
            "resume_code": report.loop.get("network_resume"),
            "resume_code_source": report.loop.get("source"),
            "accelerate": report.env.accelerate, "torch": report.env.torch,
            "environment_source": report.env.source,
            "num_processes": plan.num_processes if plan is not None else None,
        },
        "output_dir": report.output_dir, "output_dir_source": report.output_source,
        "state": _state(report),
        "run": run_dict(report.run),
        "plan": plan_dict(report.plan),
        "notes": report.notes,
    }


def to_json(report) -> str:
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False)


def _lrs(values) -> str:
    if values is None:
        return "-"
    return " ".join(f"{v:.6g}" for v in values)


def _steps_lines(run, limit: int = 12) -> list[str]:
    lines = []
    steps = run.steps
    shown = steps if len(steps) <= limit else steps[: limit // 2] + [None] + steps[-limit // 2:]
    for s in shown:
        if s is None:
            lines.append(f"    ... {len(steps) - 2 * (limit // 2)} more steps ...")
            continue
        lines.append(f"    step {s.step:>6}  epoch {s.epoch:>3}  lr {_lrs(s.lr)}")
    return lines


def _files_lines(run) -> list[str]:
    lines = []
    for f in run.files:
        if f.kind == "removed":
            lines.append(f"    removed   {f.name}   (at step {f.step}"
                         + (", a file of an earlier run)" if f.overwrites else ")"))
            continue
        over = "   OVERWRITES the existing file" if f.overwrites else ""
        extra = ""
        if f.kind == "state" and f.train_state is not None:
            extra = f"   train_state.json {json.dumps(f.train_state)}"
        lines.append(f"    {f.kind:<8}  {f.name}   step {f.step}, epoch {f.epoch}{extra}{over}")
    return lines


def to_text(report) -> str:
    st = report.state
    run = report.run
    out: list[str] = []
    plan = report.plan_obj
    sched = st.scheduler
    out.append(f"state {st.dir}")
    desc = {"epoch": f"saved after epoch {st.epoch}", "step": f"saved at step {st.step}",
            "last": "saved at the end of a run"}.get(st.kind or "", "a state folder of another name")
    out.append(f"  {desc}" + (f" (output_name {st.output_name})" if st.output_name else ""))
    if st.train_state is not None:
        out.append(f"  train_state.json: epoch {st.current_epoch}, step {st.current_step} (the run's own count)")
    if sched is not None:
        out.append(f"  scheduler: {sched.last_epoch} scheduler steps, base LRs {_lrs(sched.base_lrs)}")
    if st.optimizer is not None and st.optimizer.step is not None:
        out.append(f"  optimizer: {st.optimizer.step} steps made")
    for file, problem in st.problems:
        out.append(f"  ! {file}: {problem}")
    if plan is not None:
        out.append(f"trainer: sd-scripts {plan.sd.label} {plan.script}.py on {plan.num_processes} process(es); "
                   f"{report.env.source}")
    out.append("")
    if run.outcome == "refused":
        out.append(f"the resumed run stops: {run.error}")
    else:
        first = run.epoch_to_start + 1 if run.epoch_to_start is not None else 1
        out.append(f"the resumed run starts at epoch {first} and makes {run.optimizer_steps} optimizer steps "
                   f"(numbered {run.steps[0].step} to {run.steps[-1].step})" if run.steps else
                   f"the resumed run starts at epoch {first} and makes no optimizer step")
        out.extend(_steps_lines(run))
        if run.lr_note:
            out.append(f"  LR: {run.lr_note}")
        out.append("  files, in order:")
        out.extend(_files_lines(run))
        if run.train_state_after is not None:
            out.append(f"  the last state holds train_state.json {json.dumps(run.train_state_after)}")
    if run.bugs:
        out.append("")
        out.append("known trainer behaviour in this run:")
        for b in run.bugs:
            tag = f"[{b.issue}] " if b.issue else ""
            out.append(f"  - {tag}{b.what}" + (f"\n      here: {b.detail}" if b.detail else ""))
    for note in report.notes + run.notes:
        out.append(f"note: {note}")
    if report.plan is not None:
        out.append("")
        out.extend(plan_lines(report.plan))
    return "\n".join(out) + "\n"


def plan_lines(plan) -> list[str]:
    g = plan.goal
    out = []
    if plan.mode == "finish":
        out.append(f"to finish the original plan: {g.remaining} more steps "
                   f"({g.done} of {g.total} done)" if g.done is not None else "to finish the original plan:")
    else:
        out.append(f"to train {g.remaining} more steps after the {g.done} done (a plan of {g.total} steps)")
    if plan.run is None and not plan.options:
        for note in plan.notes:
            out.append(f"  {note}")
        if plan.difference:
            out.append(f"  cannot plan: {plan.difference.get('why')}")
        return out
    if plan.flags:
        out.append(f"  command line: {' '.join(plan.flags)}")
    for key, old, new, why in plan.changes:
        old_t = "(absent)" if old is None else json.dumps(old)
        new_t = "(removed)" if new is None else json.dumps(new)
        out.append(f"  {key}: {old_t} -> {new_t}" + (f"   ({why})" if why else ""))
    if plan.exact:
        out.append(f"  exact: {plan.run.optimizer_steps} steps with the LR of the uninterrupted run"
                   if plan.mode == "finish" else f"  exact: {plan.run.optimizer_steps} steps")
    else:
        d = plan.difference or {}
        parts = []
        if d.get("steps"):
            parts.append(f"{d['steps']:+d} step(s)")
        if d.get("lr_max_relative"):
            parts.append(f"LR off by up to {d['lr_max_relative']:.3g} (relative)")
        if d.get("data"):
            parts.append(d["data"])
        out.append("  not exact on this trainer: " + ("; ".join(parts) if parts else "see notes")
                   + (f" - {d['why']}" if d.get("why") else ""))
    why = (plan.difference or {}).get("why") or ""
    for note in plan.notes:
        if note not in why:
            out.append(f"  note: {note}")
    return out
