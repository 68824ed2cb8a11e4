"""What `kohya-tune schemas` prints: the shipped schemas, and what --editor wrote."""
from __future__ import annotations

from kohya_tune.edit import editor_settings as es

FOR = {
    "gui-lora.schema.json": "kohya_ss GUI JSON, LoRA tab",
    "gui-dreambooth.schema.json": "kohya_ss GUI JSON, DreamBooth tab",
    "gui-finetune.schema.json": "kohya_ss GUI JSON, fine-tune tab",
    "gui-textual-inversion.schema.json": "kohya_ss GUI JSON, textual inversion tab",
    "args-toml.schema.json": "sd-scripts --config_file TOML",
    "dataset-toml.schema.json": "sd-scripts --dataset_config (TOML or JSON)",
}


SHOWN = 5  # files listed per schema in the summary


def listing(_module=None) -> str:
    lines = []
    for name in es.schema_names():
        lines.append(f"{name}\n  for:  {FOR.get(name, es.schema_title(name))}\n"
                     f"  $id:  {es.schema_id(name)}\n  file: {es.schema_path(name)}")
    lines.append("\nPoint an editor at them for a folder of configs: kohya-tune schemas --editor vscode DIR "
                 "(JSON) or --editor taplo DIR (TOML).")
    return "\n".join(lines) + "\n"


def _counts(plan) -> str:
    n = sum(len(v) for v in plan.matched.values())
    return f"{n} config{'s' if n != 1 else ''}"


def verdict(plan) -> str:
    if not plan.changed:
        return f"{plan.target}: up to date ({_counts(plan)})"
    what = "would be created" if plan.old_text is None else "would change"
    return f"{plan.target}: {what} ({_counts(plan)})"


def summary(plan) -> str:
    out = []
    if not plan.matched:
        kind = "JSON" if plan.editor == "vscode" else "TOML"
        out.append(f"{plan.folder}: no kohya {kind} config found; nothing written")
    elif plan.changed:
        out.append(f"{'created' if plan.old_text is None else 'updated'} {plan.target} ({_counts(plan)})")
    else:
        out.append(f"{plan.target}: up to date ({_counts(plan)}); nothing changed")
    width = max((len(n) for n in plan.matched), default=0)
    for name, paths in sorted(plan.matched.items()):
        shown = paths if len(paths) <= SHOWN + 1 else paths[:SHOWN]
        for k, path in enumerate(shown):
            out.append(f"  {(name if k == 0 else ''):<{width}}  {path}")
        if len(shown) < len(paths):
            out.append(f"  {'':<{width}}  ... and {len(paths) - len(shown)} more")
    if plan.other_kind:
        n = len(plan.other_kind)
        if plan.editor == "vscode":
            out.append(f"note: {n} TOML config{'s' if n != 1 else ''} here: VS Code's json.schemas covers JSON "
                       f"only; kohya-tune schemas --editor taplo {plan.folder} writes .taplo.toml, which "
                       f"Even Better TOML reads")
        else:
            out.append(f"note: {n} JSON config{'s' if n != 1 else ''} here: Taplo reads TOML only; "
                       f"kohya-tune schemas --editor vscode {plan.folder} covers them")
    return "\n".join(out) + "\n"
