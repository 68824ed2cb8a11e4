"""`solve --format json`: the request, what changes and the run before and after, as one object."""
from __future__ import annotations


def outcome_dict(outcome) -> dict | None:
    if outcome is None:
        return None
    return {"max_train_steps": outcome.max_train_steps, "num_train_epochs": outcome.num_train_epochs,
            "num_update_steps_per_epoch": outcome.num_update_steps_per_epoch,
            "last_epoch_steps": outcome.last_epoch_steps,
            "gui_max_train_steps": outcome.gui_max_train_steps, "describe": outcome.describe()}


def to_json(config: str, kind: str, target: int, solution, *, mode: str, written: bool,
            diff: str | None = None) -> dict:
    """`mode`: "write", "diff" or "check"; `written`: the file was rewritten."""
    notes = []
    if solution.unscanned:
        notes.append(f"the dataset was not scanned ({solution.unscanned}); max_train_epochs {target} "
                     f"gives {target} epochs whatever the batches per epoch")
    after = solution.after
    if (after is not None and kind == "epochs" and solution.changed
            and after.last_epoch_steps != after.num_update_steps_per_epoch):
        notes.append(f"the last epoch is cut short; --by max_train_epochs gives {target} full epochs")
    return {
        "config": config, "target": {"kind": kind, "value": target}, "by": solution.by,
        "mode": mode, "changed": solution.changed, "written": written,
        "changes": [{"key": key, "old": old, "new": new, "why": why}
                    for key, old, new, why in solution.changes],
        "before": outcome_dict(solution.before), "after": outcome_dict(solution.after),
        "diff": diff, "notes": notes,
    }


def error_json(config: str, message: str, code: int, nearest=()) -> dict:
    return {"config": config, "error": message, "exit": code,
            "nearest": [{"value": value, "outcome": outcome_dict(outcome)} for value, outcome in nearest]}
