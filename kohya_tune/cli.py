"""The command line: parses options, calls the library, maps outcomes to exit codes.

Exit codes: 0 clean, 1 findings (or a config the trainer refuses), 2 usage or unreadable config,
3 internal error (a bug: please report it).
"""
from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import List, Optional

import typer

from kohya_tune.load import documents
from kohya_tune import settings as settings_mod
from kohya_tune.engine.plan import PlanError, Settings, TrainerRefusal

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Lint, explain and fix kohya_ss / sd-scripts training configs.")

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def _version(value: bool) -> None:
    if value:
        from kohya_tune import __version__

        typer.echo(f"kohya-tune {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """Lint, explain and fix kohya_ss / sd-scripts training configs."""


def err(message: str) -> None:
    typer.echo(message, err=True)


def make_settings(project: settings_mod.ProjectSettings, sd_scripts, gui_version, script,
                  num_processes, path_map) -> Settings:
    from kohya_tune.engine import gui as gui_launch
    from kohya_tune.versions import profiles

    pm = settings_mod.parse_path_map(path_map) if path_map else []
    if num_processes is not None and num_processes < 1:
        raise settings_mod.SettingsError("--num-processes must be at least 1")
    gui = gui_version or project.gui_version
    if gui:
        try:
            gui_launch.profile_for(gui)
        except ValueError as exc:
            raise settings_mod.SettingsError(f"--gui-version: {exc}; use a kohya_ss tag such as "
                                             f"v21.5.11, v24.1.7 or master") from None
    sd = sd_scripts or project.sd_scripts
    if sd:
        try:
            profiles.sd_scripts(sd)
        except profiles.UnknownVersion as exc:
            raise settings_mod.SettingsError(f"--sd-scripts: {exc}") from None
    name = script or project.script
    if name:
        name = name[:-3] if name.endswith(".py") else name
        known = profiles.all_scripts()
        if name not in known:
            raise settings_mod.SettingsError(
                f"--script: unknown sd-scripts training script {name!r}; known: {', '.join(sorted(known))}")
        script = name
    return Settings(sd_scripts=sd_scripts or project.sd_scripts,
                    gui_version=gui_version or project.gui_version,
                    script=script or project.script,
                    num_processes=num_processes if num_processes is not None else project.num_processes,
                    path_map=pm + list(project.path_map))


def expand_paths(paths) -> list[str]:
    """Files as given; a folder stands for the JSON and TOML files below it (sorted, hidden
    folders and virtual environments left out)."""
    out: list[str] = []
    for path in paths:
        p = Path(path)
        if not p.is_dir():
            out.append(path)
            continue
        for found in sorted(p.rglob("*")):
            parts = found.relative_to(p).parts
            if any(part.startswith(".") or part in ("node_modules", "venv", "__pycache__") for part in parts):
                continue
            if found.suffix.lower() in (".json", ".toml") and found.is_file():
                out.append(str(found))
    return out


def describe_kind(doc) -> str:
    if doc.kind == documents.GUI:
        lo, hi = doc.gui_versions or ("?", "?")
        tab = {"lora": "LoRA", "dreambooth": "DreamBooth", "finetune": "fine-tune",
               "textual_inversion": "textual inversion"}.get(doc.gui_tab, doc.gui_tab)
        span = lo if lo == hi else f"{lo} to {hi}"
        return f"{documents.KIND_LABELS[doc.kind]}, {tab} tab, saved by GUI {span}"
    if doc.kind == documents.OTHER:
        return f"skipped ({doc.other_reason})"
    return documents.KIND_LABELS[doc.kind]


def refusal_text(exc: TrainerRefusal) -> str:
    where = exc.origin.where() + ": " if getattr(exc, "origin", None) else ""
    return f"{where}the trainer would refuse this config: {exc.message}"


# ------------------------------------------------------------------------------------------
# steps

@app.command()
def steps(
    config: str = typer.Argument(..., help="GUI JSON, args TOML or dataset TOML"),
    format: str = typer.Option("text", "--format", "-f", help="text | json"),
    num_processes: Optional[int] = typer.Option(None, "--num-processes", help="training processes (GPUs)"),
    sd_scripts: Optional[str] = typer.Option(None, "--sd-scripts", help="sd-scripts version, e.g. v0.6.5"),
    gui_version: Optional[str] = typer.Option(None, "--gui-version", help="kohya_ss GUI version, e.g. v24.1.7"),
    script: Optional[str] = typer.Option(None, "--script", help="trainer script, e.g. sdxl_train_network"),
    path_map: Optional[List[str]] = typer.Option(None, "--path-map", help="FROM=TO folder mapping"),
) -> None:
    """The numbers the trainer will really use, explained."""
    from kohya_tune.engine import normalize, steps as steps_mod
    from kohya_tune.output import steps_report

    if format not in ("text", "json"):
        err(f"kohya-tune steps: --format must be text or json, not {format!r}")
        raise typer.Exit(EXIT_USAGE)
    plan = None
    try:
        project = settings_mod.load(Path(config).parent if Path(config).parent.is_dir() else None)
        s = make_settings(project, sd_scripts, gui_version, script, num_processes, path_map)
        doc = documents.load(config)
        if doc.kind == documents.OTHER:
            raise PlanError("not a kohya config (neither a kohya_ss GUI JSON, an sd-scripts "
                            "--config_file TOML nor a --dataset_config file)", config)
        plan = normalize.build_plan(doc, s)
        report = steps_mod.compute(plan)
    except (documents.LoadError, PlanError, settings_mod.SettingsError) as exc:
        if format == "json":
            typer.echo(json.dumps({"config": config, "error": str(exc), "exit": EXIT_USAGE}))
        elif plan is not None:
            typer.echo("\n".join(steps_report.header_lines(plan)))
        err(f"kohya-tune: {exc}")
        raise typer.Exit(EXIT_USAGE)
    except Exception as exc:  # noqa: BLE001 - map known library errors below
        from kohya_tune.versions.profiles import UnknownVersion

        if isinstance(exc, UnknownVersion):
            err(f"kohya-tune: {exc}")
            raise typer.Exit(EXIT_USAGE)
        if isinstance(exc, TrainerRefusal):
            if format == "json":
                payload = {"config": config, "error": exc.message,
                           "where": exc.origin.where() if exc.origin else None}
                if plan is not None and plan.gui is not None:
                    payload["gui"] = steps_report.gui_dict(plan.gui)
                    payload["gui"]["version_source"] = plan.gui_version_source
                typer.echo(json.dumps(payload))
            elif plan is not None:
                typer.echo("\n".join(steps_report.header_lines(plan)))
            err(f"kohya-tune: {refusal_text(exc)}")
            raise typer.Exit(EXIT_FINDINGS)
        raise
    if format == "json":
        typer.echo(json.dumps(steps_report.to_json(report), indent=2, ensure_ascii=False))
    else:
        typer.echo(steps_report.to_text(report), nl=False)

# ------------------------------------------------------------------------------------------
# lint

@app.command()
def lint(
    files: List[str] = typer.Argument(..., help="config files (GUI JSON, args TOML, dataset TOML)"),
    output_format: Optional[str] = typer.Option(None, "--output-format", help="concise | full | json | github | sarif"),
    strict: bool = typer.Option(False, "--strict", help="warnings fail too"),
    fix: bool = typer.Option(False, "--fix", help="apply safe fixes"),
    diff: bool = typer.Option(False, "--diff", help="show the fixes as a diff, write nothing"),
    select: Optional[List[str]] = typer.Option(None, "--select", help="rule codes or prefixes to run"),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", help="rule codes or prefixes to skip"),
    num_processes: Optional[int] = typer.Option(None, "--num-processes"),
    sd_scripts: Optional[str] = typer.Option(None, "--sd-scripts"),
    gui_version: Optional[str] = typer.Option(None, "--gui-version"),
    script: Optional[str] = typer.Option(None, "--script"),
    path_map: Optional[List[str]] = typer.Option(None, "--path-map"),
    show_skipped: bool = typer.Option(False, "--show-skipped", help="list files that are not kohya configs"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="say what kind of config each file is"),
) -> None:
    """Check configs: schema, silent overrides, dataset traps. Exit 0 clean, 1 findings, 2 error."""
    import os

    from kohya_tune.check import linter as linter_mod
    from kohya_tune.output import lint_report as report
    from kohya_tune.edit import rewrite
    from kohya_tune.versions.profiles import UnknownVersion, sd_scripts as sd_profile

    try:
        project = settings_mod.load()
        s = make_settings(project, sd_scripts, gui_version, script, num_processes, path_map)
        sd_profile(s.sd_scripts)
    except (settings_mod.SettingsError, UnknownVersion) as exc:
        err(f"kohya-tune: {exc}")
        raise typer.Exit(EXIT_USAGE)
    fmt = output_format or project.output_format or (
        "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "concise")
    if fmt not in report.FORMATS:
        err(f"kohya-tune lint: --output-format must be one of {', '.join(report.FORMATS)}")
        raise typer.Exit(EXIT_USAGE)
    # ruff style: --select KT2,KT301 as well as repeated options
    select = [c.strip() for item in (select or []) for c in item.split(",") if c.strip()]
    ignore = [c.strip() for item in (ignore or []) for c in item.split(",") if c.strip()]
    for code in list(select or []) + list(ignore or []):
        if not linter_mod.code_matches_any_rule(code):
            err(f"kohya-tune lint: no rule matches {code!r} (see kohya-tune rules)")
            raise typer.Exit(EXIT_USAGE)
    engine = linter_mod.Linter(s, select=(select or project.select), ignore=list(ignore or []) + project.ignore,
                               per_file_ignores=project.per_file_ignores)
    results = [engine.lint_file(path) for path in expand_paths(files)]
    fatal = any(r.fatal for r in results)
    changed_any = False
    if fix or diff:
        fixes = linter_mod.collect_fixes(results)
        for path, edits in fixes.items():
            try:
                doc = documents.load(path)
                new_text = rewrite.apply_edits(doc, edits)
            except (documents.LoadError, rewrite.RewriteError) as exc:
                err(f"kohya-tune: {path}: fixes not applied: {exc}")
                continue
            if new_text == doc.text:
                continue
            changed_any = True
            if diff:
                typer.echo(rewrite.unified_diff(path, doc.text, new_text), nl=False)
            else:
                rewrite.write_atomic(path, new_text)
        if fix and not diff and changed_any:
            results = [engine.__class__(s, select=engine.select, ignore=engine.ignore,
                                        per_file_ignores=engine.per_file_ignores).lint_file(p)
                       for p in expand_paths(files)]
            fatal = any(r.fatal for r in results)
    # a dataset config linted on its own and through the config that points at it: say it once
    diags = list({(d.path, d.line, d.column, d.code, d.message): d
                  for r in results for d in r.diagnostics}.values())
    sources = {r.path: r.doc for r in results if r.doc is not None}
    if not diff:
        if fmt == "concise":
            typer.echo(report.concise(diags), nl=False)
        elif fmt == "full":
            typer.echo(report.full(diags, sources), nl=False)
        elif fmt == "json":
            typer.echo(report.as_json(diags), nl=False)
        elif fmt == "github":
            typer.echo(report.github(diags), nl=False)
        else:
            typer.echo(report.sarif(diags, linter_mod.all_rules()), nl=False)
    for r in results:
        if verbose and r.doc is not None:
            err(f"{r.path}: {describe_kind(r.doc)}")
        for info in r.infos:
            err(f"info: {info}")
        if r.skipped and show_skipped:
            err(f"{r.path}: skipped ({r.skipped})")
    if fmt in ("concise", "full") and not diff and diags:
        errors = sum(d.severity == "error" for d in diags)
        warnings = sum(d.severity == "warning" for d in diags)
        fixable = sum(d.fix is not None and d.fix.safe for d in diags)
        tail = f" ({fixable} fixable with --fix)" if fixable and not fix else ""
        err(f"Found {errors} error(s), {warnings} warning(s){tail}.")
    if fatal:
        raise typer.Exit(EXIT_USAGE)
    if diff:
        raise typer.Exit(EXIT_FINDINGS if changed_any else EXIT_OK)
    failing = [d for d in diags if d.severity == "error" or (strict or project.strict) and d.severity == "warning"]
    raise typer.Exit(EXIT_FINDINGS if failing else EXIT_OK)


# ------------------------------------------------------------------------------------------
# solve

@app.command()
def solve(
    config: str = typer.Argument(..., help="GUI JSON or args TOML to rewrite"),
    target_epochs: Optional[int] = typer.Option(None, "--target-epochs", help="epochs the real run should have"),
    target_steps: Optional[int] = typer.Option(None, "--target-steps", help="optimizer steps the real run should have"),
    by: Optional[str] = typer.Option(None, "--by", help="epoch | max_train_epochs | max_train_steps"),
    diff: bool = typer.Option(False, "--diff", help="print a unified diff, write nothing"),
    check: bool = typer.Option(False, "--check", help="print only the verdict, write nothing"),
    num_processes: Optional[int] = typer.Option(None, "--num-processes"),
    sd_scripts: Optional[str] = typer.Option(None, "--sd-scripts"),
    gui_version: Optional[str] = typer.Option(None, "--gui-version"),
    script: Optional[str] = typer.Option(None, "--script"),
    path_map: Optional[List[str]] = typer.Option(None, "--path-map"),
) -> None:
    """Rewrite epoch / max_train_epochs / max_train_steps so the real run hits a target."""
    from kohya_tune.edit import rewrite, solve as solve_mod
    from kohya_tune.versions.profiles import UnknownVersion

    if (target_epochs is None) == (target_steps is None):
        err("kohya-tune solve: give exactly one of --target-epochs N or --target-steps N")
        raise typer.Exit(EXIT_USAGE)
    if diff and check:
        err("kohya-tune solve: --diff and --check exclude each other")
        raise typer.Exit(EXIT_USAGE)
    kind, target = ("epochs", target_epochs) if target_epochs is not None else ("steps", target_steps)
    try:
        project = settings_mod.load(Path(config).parent if Path(config).parent.is_dir() else None)
        s = make_settings(project, sd_scripts, gui_version, script, num_processes, path_map)
        doc = documents.load(config)
        solver = solve_mod.Solver(doc, s)
        solution = solver.solve(kind, target, by)
        new_text = rewrite.apply_edits(doc, solution.edits) if solution.edits else doc.text
        if solution.edits and solution.unscanned is None:
            verified = solve_mod.verify(solution, new_text, s)
            if not solver.hits(verified, kind, target):
                raise solve_mod.SolveError(f"internal check failed: the rewritten file gives "
                                           f"{verified.describe()}")
    except (documents.LoadError, PlanError, settings_mod.SettingsError, UnknownVersion) as exc:
        err(f"kohya-tune: {exc}")
        raise typer.Exit(EXIT_USAGE)
    except TrainerRefusal as exc:
        err(f"kohya-tune: {refusal_text(exc)}")
        raise typer.Exit(EXIT_FINDINGS)
    except rewrite.RewriteError as exc:
        err(f"kohya-tune: {config}: cannot rewrite safely: {exc}; nothing was changed")
        raise typer.Exit(EXIT_USAGE)
    except solve_mod.SolveError as exc:
        err(f"kohya-tune: {config}: {exc.message}")
        for value, outcome in exc.nearest:
            err(f"  nearest: {value} -> {outcome.describe()}")
        if exc.nearest:
            err("  nothing was changed; choose another --by (max_train_epochs is always exact)")
        raise typer.Exit(EXIT_USAGE if exc.usage else EXIT_FINDINGS)
    what = f"{target} {kind}"
    if solution.unscanned:
        err(f"note: the dataset was not scanned ({solution.unscanned}); max_train_epochs "
            f"{target} gives {target} epochs whatever the batches per epoch")
    if not solution.changed:
        if not check and solution.before is not None:
            typer.echo(f"{config}: already on target ({solution.before.describe()})")
        else:
            typer.echo(f"{config}: already on target")
        raise typer.Exit(EXIT_OK)
    if check:
        typer.echo(f"{config}: would change to reach {what}")
        raise typer.Exit(EXIT_FINDINGS)
    if diff:
        typer.echo(rewrite.unified_diff(config, doc.text, new_text), nl=False)
        raise typer.Exit(EXIT_FINDINGS)
    rewrite.write_atomic(config, new_text)
    for key, old, new, why in solution.changes:
        old_text = "(absent)" if old is None else json.dumps(old)
        new_text_v = "(removed)" if new is None else json.dumps(new)
        note = "" if why == "target" else f"   ({why})"
        typer.echo(f"{key}: {old_text} -> {new_text_v}{note}")
    if solution.before is not None:
        typer.echo(f"before: {solution.before.describe()}")
        typer.echo(f"after:  {solution.after.describe()}")
    if solution.after is not None and kind == "epochs" and solution.after.last_epoch_steps != solution.after.num_update_steps_per_epoch:
        typer.echo(f"note: the last epoch is cut short; --by max_train_epochs gives {target} full epochs")
    typer.echo(f"wrote {config}")


# ------------------------------------------------------------------------------------------
# rules

@app.command("rules")
def rules_cmd() -> None:
    """List every rule."""
    from kohya_tune.check import linter as linter_mod

    for rule in linter_mod.all_rules():
        typer.echo(f"{rule.code}  {rule.severity:<7}  {rule.name:<32}  {rule.summary}")


@app.command("rule")
def rule_cmd(code: str = typer.Argument(..., help="a rule code such as KT201, or its name")) -> None:
    """Show one rule's documentation."""
    from kohya_tune.check import linter as linter_mod
    from kohya_tune.check.diagnostics import DOCS_URL

    rule = linter_mod.rule_by_code(code)
    if rule is None:
        err(f"kohya-tune: no rule {code!r} (see kohya-tune rules)")
        raise typer.Exit(EXIT_USAGE)
    typer.echo(f"{rule.code} ({rule.name}), {rule.severity}\n{rule.summary}\n")
    typer.echo(rule.docs())
    typer.echo(f"\n{DOCS_URL.format(code=rule.code)}")



def main() -> None:
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        err("kohya-tune: interrupted")
        sys.exit(130)
    except Exception:  # noqa: BLE001
        err("kohya-tune: internal error (this is a bug in kohya-tune; please report it):")
        err(traceback.format_exc())
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
