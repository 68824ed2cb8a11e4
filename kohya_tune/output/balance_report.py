"""Show a balance plan: the JSON contract scripts parse, and a table with bars for people."""
from __future__ import annotations

import math
import os

from kohya_tune.edit import rewrite
from kohya_tune.engine.steps import bucket_key
from kohya_tune.output import terminal
from kohya_tune.output.steps_report import gui_dict, to_json as steps_json

BAR_WIDTH = 20
BAR_UNICODE = "\u2588"   # full block
BAR_ASCII = "#"


def can_show_bars(stream=None) -> bool:
    """Whether the stream's encoding has the bar character (cp1252 consoles do not)."""
    return terminal.can_encode(BAR_UNICODE, stream)


def _float(value) -> float | None:
    return None if value is None else float(value)


def _gui(gui, plan) -> dict | None:
    out = gui_dict(gui)
    if out is not None:
        out["version_source"] = plan.gui_version_source
    return out


def _search(group) -> dict | None:
    if group is None:
        return None
    result = group.result
    out = {"kind": group.kind, "size": group.size, "balanced": result is not None}
    if result is None:
        return out
    choice = result.choice
    out.update({
        "aim": float(result.aim), "tolerance": float(result.tolerance),
        "band": [result.low, result.high], "reachable": list(result.reachable),
        "total_before": result.current.total, "total_after": choice.total if choice else None,
        "largest_error_before": float(result.current.error),
        "largest_error_after": float(choice.error) if choice else None,
        "limited_by_bounds": [{"name": group.rows[i].name, "dataset": group.rows[i].dataset,
                               "ideal_repeats": float(x)} for i, x in result.limited],
        "better_outside_band": None if result.outside is None else {
            "total": result.outside.total, "largest_error": float(result.outside.error),
            "repeats": list(result.outside.repeats)},
        "kept": result.kept,
        "kept_for": None if not result.kept else {
            "size": result.window_aim, "band": list(result.window)},
        "better_in_band": None if result.in_band is None else {
            "total": result.in_band.total, "largest_error": float(result.in_band.error),
            "repeats": list(result.in_band.repeats)},
    })
    return out


def to_json(bp, applied=None) -> dict:
    """The stable contract (README): config, changed, concepts, before, after, gui_before,
    gui_after, edits; then what the search found, what was left alone, notes and refusals."""
    after = applied.report if applied is not None else bp.after
    gui_after = applied.gui if applied is not None else bp.gui_after
    concepts = []
    for row in bp.rows:
        concepts.append({
            "dataset": row.dataset, "name": row.name, "image_dir": row.image_dir,
            "is_reg": row.is_reg, "images": row.images, "weight": float(row.weight),
            "repeats_before": row.repeats_before, "repeats_after": row.repeats_after,
            "image_steps_before": row.image_steps_before,
            "image_steps_after": row.image_steps_after,
            "share_goal": _float(row.share_goal), "share_after": _float(row.share_after),
            "share_before": _float(row.share_before), "error_after": _float(row.error_after),
            "balanced": row.balanced, "folder": row.folder,
            "repeats_source": row.repeats_source,
            "reg_used_before": list(row.reg_used_before) if row.reg_used_before else None,
            "reg_used_after": list(row.reg_used_after) if row.reg_used_after else None,
            "used": True, "state": "registered", "reason": None,
        })
    for item in bp.left_alone:
        concepts.append({
            "dataset": item["dataset"], "name": item["name"], "image_dir": item.get("image_dir"),
            "is_reg": item["is_reg"], "images": item["images"], "weight": None,
            "repeats_before": item.get("repeats"), "repeats_after": item.get("repeats"),
            "image_steps_before": 0, "image_steps_after": 0,
            "share_goal": None, "share_after": None, "share_before": None, "error_after": None,
            "balanced": False, "folder": item.get("folder"), "repeats_source": None,
            "reg_used_before": None, "reg_used_after": None,
            "used": False, "state": item["state"], "reason": item["reason"],
        })
    files = [{"path": f.path, "diff": rewrite.unified_diff(_shown(f.path), f.before, f.after)}
             for f in bp.files if f.before != f.after]
    return {
        "config": bp.doc.path,
        "changed": bp.changed,
        "concepts": concepts,
        "before": steps_json(bp.before)["trainer"],
        "after": steps_json(after)["trainer"] if after is not None else None,
        "gui_before": _gui(bp.gui_before, bp.plan),
        "gui_after": _gui(gui_after, bp.plan),
        "edits": {"files": files,
                  "renames": [{"from": r.source, "to": r.target} for r in bp.renames]},
        "search": {"train": _search(bp.train), "reg": _search(bp.reg)},
        "solution": None if bp.solution is None else {
            "target": bp.solution.target, "kind": bp.solution.target_kind, "by": bp.solution.by,
            "changes": [{"key": k, "old": o, "new": n, "why": w} for k, o, n, w in bp.solution.changes]},
        "left_alone": list(bp.left_alone),
        "notes": list(bp.notes) + (list(applied.notes) if applied is not None else []),
        "refused": list(bp.refused),
        "order_sensitive": bp.order_sensitive,
        "applied": applied is not None,
    }


def _shown(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def _pct(value) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"


def _signed_pct(value) -> str:
    return "-" if value is None else f"{100 * float(value):+.1f}%"


def _bar(share, biggest, char: str) -> str:
    if share is None or not biggest:
        return ""
    n = round(BAR_WIDTH * float(share) / float(biggest))
    return char * max(1, n) if share else ""


def _arrow(before, after, width: int = 0) -> str:
    if before == after:
        return f"{before}".rjust(width)
    return f"{before} -> {after}".rjust(width)


def to_text(bp, applied=None, *, bars: bool = True) -> str:
    char = BAR_UNICODE if bars else BAR_ASCII
    plan = bp.plan
    after = applied.report if applied is not None else bp.after
    gui_after = applied.gui if applied is not None else bp.gui_after
    lines: list[str] = []
    add = lines.append
    P = bp.before.num_processes
    add(f"{bp.doc.path}: balance for {plan.script}.py, sd-scripts {plan.sd.shown}, "
        f"{P} process{'es' if P != 1 else ''}")
    if plan.dataset_doc is not None and plan.dataset_doc is not plan.config:
        add(f"  datasets from {plan.dataset_doc.path}")
    for group in (bp.train, bp.reg):
        if group is None:
            continue
        add(f"{group.kind} size: {group.size}")
        result = group.result
        if result is not None:
            add(f"  within +/-{100 * float(result.tolerance):g} %: totals {result.low}..{result.high}")
            weights = {r.name: r.weight for r in group.rows}
            if len(set(weights.values())) > 1:
                add("  goal: shares by weight: " + ", ".join(
                    f"{name} {float(w):g}" for name, w in weights.items()))
            else:
                add("  goal: every concept the same share of the image-steps per epoch")
    add("")
    lines.extend(_concept_table(bp, char))
    if bp.left_alone:
        add("")
        add("left alone (the trainer does not use them):")
        for item in bp.left_alone:
            add(f"  dataset {item['dataset']}: {item['label']}: {item['reason']}")
    add("")
    lines.extend(_search_lines(bp))
    if after is not None:
        add("")
        lines.extend(_outcome_table(bp, after, gui_after))
    if bp.solution is not None:
        add("")
        kind, target = bp.request.target
        if bp.solution.changes:
            add(f"to hit {target} {kind}:")
            for key, old, new, why in bp.solution.changes:
                old_t = "(absent)" if old is None else repr(old)
                new_t = "(removed)" if new is None else repr(new)
                add(f"  {key}: {old_t} -> {new_t}" + ("" if why == "target" else f"   ({why})"))
        else:
            add(f"the step settings already give {target} {kind}")
    if bp.renames:
        add("")
        done = applied is not None
        add("renamed:" if done else "renames:")
        for r in bp.renames:
            add(f"  {r.source} -> {os.path.basename(r.target)}")
        add("to put the old names back:" if done else "reverse renames (to undo by hand):")
        for r in reversed(bp.renames):
            add(f"  {r.target} -> {os.path.basename(r.source)}")
    files = [f for f in bp.files if f.before != f.after]
    if files:
        add("")
        add(("rewrote: " if applied is not None else "rewrites: ") + ", ".join(_shown(f.path) for f in files))
    if applied is not None and applied.journal is not None:
        folder = os.path.dirname(applied.journal["copies"][0])
        add(f"journal: {applied.journal['copies'][0]}; undo all of it with: "
            f"kohya-tune balance --undo {_quote(folder)}")
    notes = list(bp.notes) + (list(applied.notes) if applied is not None else [])
    for note in list(after.notes if after is not None else []) + notes:
        add(f"note: {note}")
    add("")
    add(verdict(bp, applied))
    return "\n".join(lines) + "\n"


def _quote(path: str) -> str:
    return f'"{path}"' if any(c in path for c in " '\"") else path


def _concept_table(bp, char: str) -> list:
    rows = bp.rows
    name_w = max([len(r.name) for r in rows] + [7]) + 2
    lines = [f"  {'concept':<{name_w}}{'images':>7}  {'repeats':>10}  {'image-steps':>15}  "
             f"{'share':>7}  {'goal':>7}  {'error':>7}"]
    datasets = sorted({r.dataset for r in rows})
    for kind in ("train", "reg"):
        group = [r for r in rows if (r.is_reg == (kind == "reg"))]
        if not group:
            continue
        balanced = any(r.balanced for r in group)
        biggest = max([float(r.share_after or 0) for r in group] + [float(r.share_goal or 0) for r in group])
        if kind == "reg":
            lines.append(f"  reg{'' if balanced else ' (not balanced)'}")
        for d in datasets:
            members = [r for r in group if r.dataset == d]
            if not members:
                continue
            if len(datasets) > 1:
                lines.append(f"  dataset {d}")
            for r in members:
                steps_text = _arrow(r.image_steps_before, r.image_steps_after, 15)
                line = (f"  {r.name:<{name_w}}{r.images:>7}  "
                        f"{_arrow(r.repeats_before, r.repeats_after, 10)}  {steps_text}  "
                        f"{_pct(r.share_after):>7}  {_pct(r.share_goal):>7}  "
                        f"{_signed_pct(r.error_after):>7}  {_bar(r.share_after, biggest, char)}")
                lines.append(line.rstrip())
                if r.is_reg and r.reg_used_before is not None:
                    used_b, used_a = r.reg_used_before, r.reg_used_after or r.reg_used_before
                    lines.append(f"  {'':<{name_w}}used by the trainer: {_arrow(used_b[0], used_a[0])} "
                                 f"images, {_arrow(used_b[1], used_a[1])} image-steps")
    return lines


def _search_lines(bp) -> list:
    lines = []
    for group in (bp.train, bp.reg):
        if group is None or group.result is None or group.result.choice is None:
            continue
        result = group.result
        choice = result.choice
        lines.append(f"{group.kind}: largest share error {_pct(result.current.error)} before, "
                     f"{_pct(choice.error)} after; total {result.current.total} -> {choice.total}")
        if result.kept and result.window is not None:
            low, high = result.window
            lines.append(f"  already balanced: no repeats with a total in {low}..{high} (a size of "
                         f"{result.window_aim} +/-{100 * float(result.tolerance):g} %, which holds the "
                         f"current total {result.current.total}) give a smaller largest share error, "
                         f"so they are kept")
            if result.in_band is not None:
                better = result.in_band
                lines.append(f"  for comparison, a total of {better.total} in the band gives a largest "
                             f"error of {_pct(better.error)} (repeats "
                             f"{', '.join(str(r) for r in better.repeats)}): --total {better.total} "
                             f"takes it")
        for i, ideal in result.limited:
            row = group.rows[i]
            bound = "--max-repeats" if ideal > bp.request.max_repeats else "--min-repeats"
            limit = bp.request.max_repeats if bound == "--max-repeats" else bp.request.min_repeats
            need = f"{float(ideal):.2f}" if ideal < 10 else f"{float(ideal):.1f}"
            lines.append(f"  limited by the bounds: {row.name} ({row.images} images) would need "
                         f"{need} repeats for its goal share at this total; {bound} is {limit}")
        if result.outside is not None:
            out = result.outside
            where = "above" if out.total > result.high else "below"
            lines.append(f"  limited by the tolerance: for comparison, a total of {out.total} "
                         f"({where} the band) gives a largest error of {_pct(out.error)} "
                         f"(repeats {', '.join(str(r) for r in out.repeats)})")
    return lines


def _outcome_table(bp, after, gui_after) -> list:
    before = bp.before
    rows = []

    def row(label, b, a):
        rows.append((label, "-" if b is None else str(b), "-" if a is None else str(a)))

    row("train image-steps per epoch (T)", before.num_train_images, after.num_train_images)
    if before.num_reg_images or after.num_reg_images:
        row("reg image-steps found", before.num_reg_images, after.num_reg_images)
        row("reg image-steps used", before.num_reg_images_used, after.num_reg_images_used)
    for d_b, d_a in zip(before.datasets, after.datasets):
        bs = d_a.plan.batch_size
        row(f"dataset {d_a.index} batches (batch_size {bs})", d_b.num_batches, d_a.num_batches)
        for key in sorted(set(d_b.buckets) | set(d_a.buckets)):
            cb, ca = d_b.buckets.get(key, 0), d_a.buckets.get(key, 0)
            row(f"  bucket {bucket_key(key)}: image-steps, batches",
                f"{cb}, {math.ceil(cb / d_b.plan.batch_size)}", f"{ca}, {math.ceil(ca / bs)}")
    row("batches per epoch, all datasets (N)", before.num_batches, after.num_batches)
    row(f"batches per process (Nd, {after.num_processes} process{'es' if after.num_processes != 1 else ''})",
        before.num_batches_per_epoch, after.num_batches_per_epoch)
    row(f"update steps per epoch (U, accumulation {after.gradient_accumulation_steps})",
        before.num_update_steps_per_epoch, after.num_update_steps_per_epoch)
    row(f"max_train_steps (S, from {after.steps_source})", before.max_train_steps, after.max_train_steps)
    row("epochs (E)", before.num_train_epochs, after.num_train_epochs)
    if bp.gui_before is not None or gui_after is not None:
        g_b, g_a = bp.gui_before, gui_after
        row(f"GUI {g_b.version} own count (image-steps)", g_b.total_steps, g_a.total_steps if g_a else None)
        row("GUI max_train_steps it sends", g_b.max_train_steps, g_a.max_train_steps if g_a else None)
        if g_b.max_train_epochs is not None or (g_a and g_a.max_train_epochs is not None):
            row("GUI max_train_epochs it sends", g_b.max_train_epochs, g_a.max_train_epochs if g_a else None)
    w0 = max(len(r[0]) for r in rows) + 2
    w1 = max([len(r[1]) for r in rows] + [6])
    w2 = max([len(r[2]) for r in rows] + [5])
    out = [f"  {'':<{w0}}{'before':>{w1}}   {'after':>{w2}}"]
    for label, b, a in rows:
        out.append(f"  {label:<{w0}}{b:>{w1}}   {a:>{w2}}" + ("" if a == b else "  *"))
    return out


def verdict(bp, applied=None) -> str:
    path = bp.doc.path
    if bp.refused and applied is None:
        return f"{path}: refused, nothing was changed: " + "; ".join(_reason(r) for r in bp.refused)
    parts = []
    if bp.renames:
        parts.append(f"{len(bp.renames)} folder{'s' if len(bp.renames) != 1 else ''} renamed")
    files = [f for f in bp.files if f.before != f.after]
    if files:
        parts.append(f"{len(files)} file{'s' if len(files) != 1 else ''} rewritten")
    if not parts:
        return f"{path}: already balanced, nothing to change"
    what = ", ".join(parts)
    if applied is not None:
        return f"{path}: balanced ({what}); the result was read back and gives the numbers above"
    return f"{path}: would change ({what}); run with --apply to make the change"


def _reason(text: str) -> str:
    """A refusal in the verdict line: the trailing "; nothing was changed" said once."""
    for tail in ("; nothing was changed", ": nothing was changed"):
        if text.endswith(tail):
            text = text[: -len(tail)]
    return text.rstrip(".")


def diff_text(bp) -> str:
    out = []
    for f in bp.files:
        if f.before != f.after:
            out.append(rewrite.unified_diff(_shown(f.path), f.before, f.after))
    for r in bp.renames:
        out.append(f"rename {r.source} -> {r.target}\n")
    return "".join(out)


def undo_text(outcome) -> str:
    lines = []
    for source, target in outcome.renames:
        lines.append(f"renamed {source} -> {os.path.basename(target)}")
    for path in outcome.files:
        lines.append(f"restored {path}")
    if outcome.already:
        lines.append("nothing left to undo: every name and file is already as before")
    lines.append(f"removed the journal {outcome.journal}")
    return "\n".join(lines) + "\n"
