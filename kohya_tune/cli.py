"""The command line: parses options, calls the library, maps outcomes to exit codes.

Exit codes: 0 clean, 1 findings (or a config the trainer refuses), 2 usage or unreadable config,
3 internal error (a bug: please report it).

No `from __future__ import annotations` here: typer reads every command's annotations on each
start, and string annotations would have to be evaluated each time (about 10 ms).
"""
import json
import os
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
MAX_FIX_ROUNDS = 10  # lint --fix: lint again after fixing, while the fixes found change something


def _version(value: bool) -> None:
    # `kohya-tune --version` alone never gets here: __main__.main answers it before typer loads
    if value:
        from kohya_tune import version_line

        typer.echo(version_line())
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """Lint, explain and fix kohya_ss / sd-scripts training configs."""


def err(message: str) -> None:
    typer.echo(message, err=True)


def make_settings(project: settings_mod.ProjectSettings, sd_scripts, gui_version, script,
                  num_processes, path_map) -> Settings:
    from kohya_tune.versions import profiles

    pm = settings_mod.parse_path_map(path_map) if path_map else []
    if num_processes is not None and num_processes < 1:
        raise settings_mod.SettingsError("--num-processes must be at least 1")
    gui = gui_version or project.gui_version
    if gui:
        from kohya_tune.engine import gui as gui_launch  # only a GUI version needs the GUI procedure

        try:
            # a version between two releases runs as the older one, with a note (gui_releases)
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
        from kohya_tune.versions import musubi as mv

        name = name[:-3] if name.endswith(".py") else name
        known = profiles.all_scripts()
        if name not in known and not mv.is_script(name):
            raise settings_mod.SettingsError(
                f"--script: unknown sd-scripts training script {name!r}; known: {', '.join(sorted(known))}")
        script = name
    return Settings(sd_scripts=sd_scripts or project.sd_scripts,
                    gui_version=gui_version or project.gui_version,
                    script=script or project.script,
                    num_processes=num_processes if num_processes is not None else project.num_processes,
                    path_map=pm + list(project.path_map))


def _folder_of(config: str) -> Path | None:
    """The folder whose settings apply to a config (None: the current folder's)."""
    from kohya_tune.load import files

    parent = Path(config).parent
    return parent if files.is_dir(parent) else None


STDIN = "-"


def read_stdin() -> str:
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise documents.LoadError("-", f"standard input is not UTF-8 text (byte {exc.start})") from None


def load_config(config: str, stdin_filename: str | None):
    """The config named on the command line; `-` reads standard input, named --stdin-filename
    (whose folder then decides the settings and relative dataset paths)."""
    if config == STDIN:
        return documents.from_text(stdin_filename or "-", read_stdin())
    return documents.load(config)


def command_plan(config: str, stdin_filename, sd_scripts, gui_version, script, num_processes,
                 path_map):
    """steps and schedule: the settings nearest the config (or the name standard input stands
    for), the document, and the trainer's plan for it."""
    from kohya_tune.engine import normalize

    named = stdin_filename if config == STDIN and stdin_filename else config
    project = settings_mod.load(_folder_of(named))
    settings = make_settings(project, sd_scripts, gui_version, script, num_processes, path_map)
    doc = load_config(config, stdin_filename)
    if doc.kind == documents.OTHER:
        raise PlanError("not a kohya config (neither a kohya_ss GUI JSON, an sd-scripts "
                        "--config_file TOML nor a --dataset_config file)", config)
    return normalize.build_plan(doc, settings)


def expand_paths(paths) -> list[str]:
    """Files as given; a folder stands for the JSON and TOML files below it (sorted, hidden
    folders and virtual environments left out; folders we may not read are passed over)."""
    from kohya_tune.load import files

    out: list[str] = []
    seen: set = set()

    def add(name: str) -> None:
        # a file given twice (or given and inside a folder also given) is linted once
        key = os.path.realpath(name)
        if key not in seen:
            seen.add(key)
            out.append(name)

    for path in paths:
        if not files.is_dir(path):
            add(path)
            continue
        found_files = []
        for folder, dirs, names in os.walk(path, onerror=lambda exc: None):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("node_modules", "venv", "__pycache__"))
            for name in names:
                full = os.path.join(folder, name)
                if (not name.startswith(".") and Path(name).suffix.lower() in (".json", ".toml")
                        and files.is_file(full)):
                    found_files.append(full)
        for found in sorted(found_files, key=lambda f: Path(f).parts):
            add(found)
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


def validate_fixed(doc, new_text: str) -> None:
    """`lint --fix` writes only a text that loads completely, as the same kind of config."""
    from kohya_tune.edit import rewrite

    try:
        fixed = documents.from_text(doc.path, new_text)
    except documents.LoadError as exc:
        raise rewrite.RewriteError(f"the fixed text would not load ({exc.message})") from None
    if fixed.kind != doc.kind or fixed.gui_tab != doc.gui_tab:
        raise rewrite.RewriteError("the fixed text would read as another kind of config")


def skipped_line(path: str, why: str) -> str:
    """"PATH:L:C: dataset rules skipped: why", the place said once."""
    import re

    m = re.match(re.escape(path) + r"(:\d+:\d+)?: (.*)$", why, re.S)
    if m:
        return f"{path}{m.group(1) or ''}: dataset rules skipped: {m.group(2)}"
    return f"{path}: dataset rules skipped: {why}"


def refusal_text(exc: TrainerRefusal) -> str:
    where = exc.origin.where() + ": " if getattr(exc, "origin", None) else ""
    if exc.message.startswith("the GUI "):
        return f"{where}{exc.message}: the trainer is never started"
    note = f"\n  ({exc.note})" if getattr(exc, "note", None) else ""
    return f"{where}the trainer would refuse this config: {exc.message}{note}"


# ------------------------------------------------------------------------------------------
# steps

@app.command()
def steps(
    config: str = typer.Argument(..., help="GUI JSON, args TOML or dataset TOML (- reads standard input)"),
    format: str = typer.Option("text", "--format", "-f", help="text | json"),
    num_processes: Optional[int] = typer.Option(None, "--num-processes", help="training processes (GPUs)"),
    sd_scripts: Optional[str] = typer.Option(None, "--sd-scripts", help="sd-scripts version, e.g. v0.6.5"),
    gui_version: Optional[str] = typer.Option(None, "--gui-version", help="kohya_ss GUI version, e.g. v24.1.7"),
    script: Optional[str] = typer.Option(None, "--script", help="trainer script, e.g. sdxl_train_network"),
    path_map: Optional[List[str]] = typer.Option(None, "--path-map", help="FROM=TO folder mapping"),
    stdin_filename: Optional[str] = typer.Option(None, "--stdin-filename", help="with -: the name (and folder) standard input stands for"),
) -> None:
    """The numbers the trainer will really use, explained."""
    from kohya_tune.engine import facts, images, steps as steps_mod
    from kohya_tune.output import progress, steps_report

    if format not in ("text", "json"):
        err(f"kohya-tune steps: --format must be text or json, not {format!r}")
        raise typer.Exit(EXIT_USAGE)
    if musubi_wanted(config, stdin_filename, script):
        musubi_steps(config, stdin_filename, script, num_processes, path_map, format)
        return
    plan = None
    try:
        plan = command_plan(config, stdin_filename, sd_scripts, gui_version, script,
                            num_processes, path_map)
        disk = images.Disk(progress.for_terminal())
        gathered = facts.gather(plan, disk)
        if gathered.refusals and gathered.problem is None:
            # the GUI still counts and sends its numbers: show them, then the refusal
            if format == "json":
                typer.echo(json.dumps(steps_report.refusal_json(gathered), indent=2,
                                      ensure_ascii=False))
            else:
                typer.echo(steps_report.refusal_text(gathered), nl=False)
            err(f"kohya-tune: {refusal_text(gathered.refusals[0].error())}")
            raise typer.Exit(EXIT_FINDINGS)
        missing = gathered.missing_error() if gathered.problem is None else None
        if missing is not None:
            # what can be known without the images, then the exit-2 error with the hint
            if format == "json":
                typer.echo(json.dumps(steps_report.unknown_json(gathered, str(missing)), indent=2,
                                      ensure_ascii=False))
            else:
                from kohya_tune.output.terminal import Glyphs

                typer.echo(steps_report.unknown_text(gathered, Glyphs()), nl=False)
            err(f"kohya-tune: {missing}")
            raise typer.Exit(EXIT_USAGE)
        report = steps_mod.report_from(gathered, disk=disk)
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
        from kohya_tune.output.terminal import Glyphs

        typer.echo(steps_report.to_text(report, Glyphs()), nl=False)

def musubi_wanted(config: str, stdin_filename, script) -> bool:
    """A musubi-tuner setup: --script names a musubi script, or the file reads as a musubi config."""
    from kohya_tune.versions import musubi as mv

    if mv.is_script(script):
        return True
    if script or config == STDIN:
        return False
    try:
        return documents.load(config).kind in documents.MUSUBI_KINDS
    except documents.LoadError:
        return False


def musubi_steps(config: str, stdin_filename, script, num_processes, path_map, format: str) -> None:
    from kohya_tune.engine import images, musubi_steps as ms
    from kohya_tune.engine import video_frames
    from kohya_tune.output import musubi_steps_report as report_mod
    from kohya_tune.output import progress
    from kohya_tune.versions import musubi as mv

    def fail(message: str, code: int) -> None:
        if format == "json":
            typer.echo(json.dumps({"config": config, "error": message, "exit": code}))
        err(f"kohya-tune: {message}")
        raise typer.Exit(code)

    try:
        named = stdin_filename if config == STDIN and stdin_filename else config
        project = settings_mod.load(_folder_of(named))
        pm = settings_mod.parse_path_map(path_map) if path_map else []
        if num_processes is not None and num_processes < 1:
            raise settings_mod.SettingsError("--num-processes must be at least 1")
        settings = Settings(script=script, num_processes=num_processes if num_processes is not None else project.num_processes,
                            path_map=pm + list(project.path_map))
        doc = load_config(config, stdin_filename)
        name = script[:-3] if script and script.endswith(".py") else script
        if not name:
            raise PlanError("a musubi-tuner config: give the training script with --script "
                            f"(it decides the architecture), one of: {', '.join(mv.scripts())}", config)
        report = ms.build(doc, name, settings, images.Disk(progress.for_terminal()))
    except (documents.LoadError, PlanError, settings_mod.SettingsError) as exc:
        fail(str(exc), EXIT_USAGE)
        return
    if format == "json":
        typer.echo(json.dumps(report_mod.to_json(report), indent=2, ensure_ascii=False))
    else:
        typer.echo(report_mod.to_text(report), nl=False)
    if report.refusal is not None:
        stage = "the caching script" if report.refusal_stage == "cache_latents" else "the trainer"
        where = report.refusal.origin.where() + ": " if report.refusal.origin else ""
        note = f"\n  ({report.refusal.note})" if report.refusal.note else ""
        err(f"kohya-tune: {where}{stage} would refuse this config: {report.refusal.message}{note}")
        raise typer.Exit(EXIT_FINDINGS)
    if report.numbers is None:
        missing_extra = any(video_frames.EXTRA_HINT in u for u in report.unknown)
        err("kohya-tune: the numbers cannot be known here: " + "; ".join(report.unknown)
            + ("" if missing_extra else " (--path-map FROM=TO maps folders that are elsewhere)"))
        raise typer.Exit(EXIT_USAGE)


# ------------------------------------------------------------------------------------------
# schedule

@app.command()
def schedule(
    config: str = typer.Argument(..., help="GUI JSON, args TOML or dataset TOML (- reads standard input)"),
    format: str = typer.Option("text", "--format", "-f", help="text | json"),
    plot: Optional[str] = typer.Option(None, "--plot", help="write a picture of the LR curve: FILE.svg, FILE.html or FILE.png"),
    num_processes: Optional[int] = typer.Option(None, "--num-processes", help="training processes (GPUs)"),
    sd_scripts: Optional[str] = typer.Option(None, "--sd-scripts", help="sd-scripts version, e.g. v0.6.5"),
    gui_version: Optional[str] = typer.Option(None, "--gui-version", help="kohya_ss GUI version, e.g. v24.1.7"),
    script: Optional[str] = typer.Option(None, "--script", help="trainer script, e.g. sdxl_train_network"),
    path_map: Optional[List[str]] = typer.Option(None, "--path-map", help="FROM=TO folder mapping"),
    stdin_filename: Optional[str] = typer.Option(None, "--stdin-filename", help="with -: the name (and folder) standard input stands for"),
) -> None:
    """When each epoch ends, which checkpoints and samples are made and kept, and the LR at every step."""
    from kohya_tune.engine import numbers, schedule as schedule_mod, steps as steps_mod
    from kohya_tune.output import plot as plot_mod, progress, schedule_report, terminal

    if format not in ("text", "json"):
        err(f"kohya-tune schedule: --format must be text or json, not {format!r}")
        raise typer.Exit(EXIT_USAGE)
    if plot is not None:
        problem = plot_mod.check_target(plot)
        if problem:
            err(f"kohya-tune schedule: --plot {plot}: {problem}")
            raise typer.Exit(EXIT_USAGE)
    try:
        plan = command_plan(config, stdin_filename, sd_scripts, gui_version, script,
                            num_processes, path_map)
        report = steps_mod.compute(plan, progress=progress.for_terminal())
        numbers.check_schedulable(report)
        result = schedule_mod.compute(report)
    except (documents.LoadError, PlanError, settings_mod.SettingsError) as exc:
        if format == "json":
            typer.echo(json.dumps({"config": config, "error": str(exc), "exit": EXIT_USAGE}))
        err(f"kohya-tune: {exc}")
        raise typer.Exit(EXIT_USAGE)
    except Exception as exc:  # noqa: BLE001 - map known library errors below
        from kohya_tune.versions.profiles import UnknownVersion

        if isinstance(exc, UnknownVersion):
            err(f"kohya-tune: {exc}")
            raise typer.Exit(EXIT_USAGE)
        if isinstance(exc, TrainerRefusal):
            if format == "json":
                typer.echo(json.dumps({"config": config, "error": exc.message,
                                       "where": exc.origin.where() if exc.origin else None}))
            err(f"kohya-tune: {refusal_text(exc)}")
            raise typer.Exit(EXIT_FINDINGS)
        raise
    if plot is not None:
        try:
            plot_mod.write(result, plot)
        except plot_mod.PlotError as exc:
            err(f"kohya-tune schedule: --plot {plot}: {exc}")
            raise typer.Exit(EXIT_USAGE)
    if format == "json":
        typer.echo(json.dumps(schedule_report.to_json(result), indent=1, ensure_ascii=False))
    else:
        # block characters only where the stream can print them (not under cp1252); other
        # characters it cannot encode are escaped by terminal.make_streams_safe (main)
        unicode = terminal.can_encode("".join(schedule_report.UNICODE.values()))
        typer.echo(schedule_report.to_text(result, unicode=unicode), nl=False)
    if plot is not None:
        err(f"wrote {plot}")


# ------------------------------------------------------------------------------------------
# lint

@app.command()
def lint(
    files: List[str] = typer.Argument(..., help="config files or folders (GUI JSON, args TOML, dataset TOML); - reads standard input"),
    output_format: Optional[str] = typer.Option(None, "--output-format", help="concise | full | json | github | sarif"),
    strict: bool = typer.Option(False, "--strict", help="warnings fail too"),
    fix: bool = typer.Option(False, "--fix", help="apply safe fixes"),
    diff: bool = typer.Option(False, "--diff", help="show the fixes as a diff, write nothing"),
    force: bool = typer.Option(False, "--force", help="with --fix: replace read-only files too"),
    select: Optional[List[str]] = typer.Option(None, "--select", help="rule codes or prefixes to run"),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", help="rule codes or prefixes to skip"),
    num_processes: Optional[int] = typer.Option(None, "--num-processes"),
    sd_scripts: Optional[str] = typer.Option(None, "--sd-scripts"),
    gui_version: Optional[str] = typer.Option(None, "--gui-version"),
    script: Optional[str] = typer.Option(None, "--script"),
    path_map: Optional[List[str]] = typer.Option(None, "--path-map"),
    show_skipped: bool = typer.Option(False, "--show-skipped", help="list files that are not kohya configs"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="say what kind of config each file is"),
    statistics: bool = typer.Option(False, "--statistics", help="count the findings per rule"),
    show_fixes: bool = typer.Option(False, "--show-fixes", help="list the fixes (applied with --fix)"),
    stdin_filename: Optional[str] = typer.Option(None, "--stdin-filename", help="with -: the name (and folder) standard input stands for"),
) -> None:
    """Check configs: schema, silent overrides, dataset traps. Exit 0 clean, 1 findings, 2 error."""
    import os

    from kohya_tune.check import linter as linter_mod
    from kohya_tune.output import lint_report as report
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
    # each file gets the settings nearest to it (ruff): one linter per settings file
    linters: dict = {}
    by_folder: dict = {}

    def linter_for(path: str):
        folder = _folder_of(path)
        key = str(folder.resolve()) if folder is not None else None
        if key not in by_folder:
            local = settings_mod.load(folder)
            if local.source not in linters:
                local_s = make_settings(local, sd_scripts, gui_version, script, num_processes, path_map)
                root = os.path.dirname(local.source) if local.source else None
                linters[local.source] = (linter_mod.Linter(
                    local_s, select=(select or local.select), ignore=list(ignore or []) + local.ignore,
                    per_file_ignores=local.per_file_ignores, root=root), local)
            by_folder[key] = linters[local.source]
        return by_folder[key]

    # standard input (-) is linted as the file --stdin-filename names (ruff): its settings,
    # its dataset paths; with --fix the fixed text goes to standard output
    texts: dict = {}
    if STDIN in files:
        if len(files) > 1:
            err("kohya-tune lint: - (standard input) cannot be mixed with other files")
            raise typer.Exit(EXIT_USAGE)
        try:
            texts[stdin_filename or STDIN] = read_stdin()
        except documents.LoadError as exc:
            err(f"kohya-tune: {exc}")
            raise typer.Exit(EXIT_USAGE)
        paths = list(texts)
    else:
        paths = expand_paths(files)
    try:
        owners = {path: linter_for(path) for path in paths}
    except (settings_mod.SettingsError, UnknownVersion) as exc:
        err(f"kohya-tune: {exc}")
        raise typer.Exit(EXIT_USAGE)
    results = [owners[path][0].lint_file(path, texts.get(path)) for path in paths]
    strict_for = {r.path: strict or owners[r.path][1].strict for r in results}
    fatal = any(r.fatal for r in results)
    changed_any = False
    fixed_diags = [d for r in results for d in r.diagnostics if d.fix is not None and d.fix.safe]
    write_failed = False
    # --fix applies the safe fixes, lints again and applies the safe fixes found then, until
    # nothing changes (ruff does the same): a fix that makes another one necessary (a key renamed
    # for current GUI versions, which then read a missing max_train_steps as 1600: KT205) leaves
    # no finding it caused. --diff shows the first round (what it prints is applied to the files
    # as they are).
    if fix or diff:
        from kohya_tune.edit import rewrite  # only fixes need the rewriter
    rounds = MAX_FIX_ROUNDS if fix and not diff else 1
    for round_no in range(rounds if fix or diff else 0):
        changed_round = False
        if round_no:
            fixed_diags += [d for r in results for d in r.diagnostics if d.fix is not None and d.fix.safe]
        fixes = linter_mod.collect_fix_groups(results)
        for path, groups in fixes.items():
            try:
                doc = documents.from_text(path, texts[path]) if path in texts else documents.load(path)
                owner = owners.get(path)
                edits, left = linter_mod.keeping_the_gui_version(
                    doc, groups, lambda e: rewrite.apply_edits(doc, e),
                    owner[0].settings if owner else s)
                if left and round_no == 0:
                    err(f"info: {path}: {left} fix{'es' if left != 1 else ''} not applied: "
                        f"{'they' if left != 1 else 'it'} would date the file to a newer GUI than "
                        f"the {doc.gui_versions[1]} its keys fit; name your GUI with --gui-version "
                        f"to apply {'them' if left != 1 else 'it'}")
                new_text = rewrite.apply_edits(doc, edits)
                if new_text != doc.text:
                    validate_fixed(doc, new_text)
            except (documents.LoadError, rewrite.RewriteError) as exc:
                err(f"kohya-tune: {path}: fixes not applied: {exc}")
                continue
            if new_text == doc.text:
                continue
            changed_any = changed_round = True
            if diff:
                typer.echo(rewrite.unified_diff(path, doc.text, new_text), nl=False)
                continue
            if path in texts:
                texts[path] = new_text
                continue
            try:
                rewrite.write_atomic(path, new_text, expected=doc.text, force=force)
            except rewrite.WriteError as exc:
                err(f"kohya-tune: {exc}")
                write_failed = True
        if not (fix and not diff and changed_round) or write_failed:
            break
        results = [linter_mod.Linter(e.settings, select=e.select, ignore=e.ignore,
                                     per_file_ignores=e.per_file_ignores, root=e.root).lint_file(p, texts.get(p))
                   for p in paths for e in (owners[p][0],)]
        fatal = any(r.fatal for r in results)
    # a dataset config linted on its own and through the config that points at it: say it once
    # (the same file named relatively and absolutely, e.g. a dataset_config path: the path as
    # the user gave it is kept)
    once: dict = {}
    real: dict = {}  # one realpath per file, not per finding
    for r in results:
        for d in r.diagnostics:
            if d.path not in real:
                real[d.path] = os.path.realpath(d.path) if d.path else d.path
            key = (real[d.path], d.line, d.column, d.code, d.message)
            if key not in once or (os.path.isabs(once[key].path or "") and not os.path.isabs(d.path or "")):
                once[key] = d
    diags = list(once.values())
    given = {r.path for r in results}
    for d in diags:
        # a file reached through another (dataset_config) is shown as the user would type it;
        # the files named on the command line stay as given
        if d.path and os.path.isabs(d.path) and d.path not in given:
            rel = os.path.relpath(d.path) if os.path.splitdrive(d.path)[0] == os.path.splitdrive(os.getcwd())[0] else d.path
            if not rel.startswith(".."):
                d.path = rel
    sources = {r.path: r.doc for r in results if r.doc is not None}
    from kohya_tune.output.terminal import use_colour

    style = report.Style(use_colour())
    # lint --fix - : standard output carries the fixed text, the findings go to standard error
    fixed_stdin = bool(texts) and fix and not diff
    if fixed_stdin:
        typer.echo(next(iter(texts.values())), nl=False)
    if diff:
        # the diff is the output; a file that cannot be read is still said (on stderr)
        for r in results:
            if r.fatal:
                err(report.concise(r.diagnostics).rstrip("\n"))
    elif statistics:
        typer.echo(report.statistics(diags), nl=False, err=fixed_stdin)
    else:
        if fmt == "concise":
            typer.echo(report.concise(diags, style), nl=False, color=style.colour, err=fixed_stdin)
        elif fmt == "full":
            typer.echo(report.full(diags, sources, style), nl=False, color=style.colour, err=fixed_stdin)
        elif fmt == "json":
            typer.echo(report.as_json(diags), nl=False, err=fixed_stdin)
        elif fmt == "github":
            typer.echo(report.github(diags, report.repo_root()), nl=False, err=fixed_stdin)
        else:
            typer.echo(report.sarif(diags, linter_mod.all_rules(), report.repo_root()), nl=False,
                       err=fixed_stdin)
    if show_fixes:
        shown = fixed_diags if fix and not diff else diags
        text = report.show_fixes(shown, applied=fix and not diff)
        if text:
            err(text.rstrip("\n"))
    for r in results:
        if verbose and r.doc is not None:
            err(f"{r.path}: {describe_kind(r.doc)}")
        for info in r.infos:
            err(f"info: {info}")
        if verbose and r.dataset_missing:
            err(f"info: {skipped_line(r.path, r.dataset_missing)}")
        if r.skipped and show_skipped:
            err(f"{r.path}: skipped ({r.skipped})")
    presets = sum(r.preset for r in results)
    missing = [r for r in results if r.dataset_missing]
    if presets:
        err(f"info: {presets} GUI preset{'s' if presets != 1 else ''} without an image folder: the "
            f"dataset rules (KT3xx) need train_data_dir and its folders")
    if missing and not verbose:
        if len(missing) == 1:
            err(f"info: {skipped_line(missing[0].path, missing[0].dataset_missing)}")
        else:
            err(f"info: dataset rules skipped for {len(missing)} files whose dataset is not on this "
                f"machine (map folders with --path-map FROM=TO; -v lists them)")
    linted = [r for r in results if r.kind not in (None, documents.OTHER) or r.fatal]
    if not linted and not fatal:
        err(f"kohya-tune lint: no kohya config among {len(results)} file(s) "
            f"({', '.join(files)}): nothing to check (--show-skipped lists them)")
    elif fmt in ("concise", "full") and not diff:
        err(report.summary(diags, fix_applied=fix))
    if fatal or write_failed:
        raise typer.Exit(EXIT_USAGE)
    if diff:
        raise typer.Exit(EXIT_FINDINGS if changed_any else EXIT_OK)
    origin = {id(d): r.path for r in results for d in r.diagnostics}
    failing = [d for d in diags if d.severity == "error" or
               strict_for.get(origin.get(id(d), d.path), strict or project.strict) and d.severity == "warning"]
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
    force: bool = typer.Option(False, "--force", help="replace a read-only config too"),
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
        project = settings_mod.load(_folder_of(config))
        s = make_settings(project, sd_scripts, gui_version, script, num_processes, path_map)
        doc = documents.load(config)
        solver = solve_mod.Solver(doc, s)
        solution = solver.solve(kind, target, by)
        new_text = solution.text if solution.edits else doc.text
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
    try:
        rewrite.write_atomic(config, new_text, expected=doc.text, force=force)
    except rewrite.WriteError as exc:
        err(f"kohya-tune: {exc}")
        raise typer.Exit(EXIT_USAGE)
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
# balance

def parse_weights(items) -> dict:
    """NAME=W pairs; the values are checked by the balance request (edit.balance.number)."""
    out: dict = {}
    for item in items or []:
        name, sep, value = item.rpartition("=")
        if not sep or not name:
            raise settings_mod.SettingsError(f"--weight {item!r} must look like NAME=W (for example "
                                             f"--weight 'sks dog=2')")
        out[name] = value
    return out


@app.command()
def balance(
    config: Optional[str] = typer.Argument(None, help="GUI JSON, args TOML or dataset TOML"),
    weight: Optional[List[str]] = typer.Option(None, "--weight", help="NAME=W: a concept's weight (default 1)"),
    per_concept: Optional[int] = typer.Option(None, "--per-concept", help="image-steps per epoch of a weight-1 concept"),
    total: Optional[int] = typer.Option(None, "--total", help="all train image-steps per epoch"),
    tolerance: str = typer.Option("0.1", "--tolerance", help="how far the total may be from the size aim (0.1: +/-10 %)"),
    min_repeats: int = typer.Option(1, "--min-repeats", help="smallest repeats a concept may get"),
    max_repeats: int = typer.Option(100, "--max-repeats", help="largest repeats a concept may get"),
    target_epochs: Optional[int] = typer.Option(None, "--target-epochs", help="then solve the step settings for N epochs"),
    target_steps: Optional[int] = typer.Option(None, "--target-steps", help="then solve the step settings for N steps"),
    by: Optional[str] = typer.Option(None, "--by", help="with a target: epoch | max_train_epochs | max_train_steps"),
    include_reg: bool = typer.Option(False, "--include-reg", help="balance reg concepts among themselves too"),
    diff: bool = typer.Option(False, "--diff", help="print the config diff and the renames, change nothing"),
    check: bool = typer.Option(False, "--check", help="print only the verdict, change nothing"),
    apply: bool = typer.Option(False, "--apply", help="rename the folders / rewrite the files"),
    format: str = typer.Option("text", "--format", "-f", help="text | json"),
    undo: Optional[str] = typer.Option(None, "--undo", help="PATH: put back what an --apply did (the journal's folder, or the config that was balanced)"),
    num_processes: Optional[int] = typer.Option(None, "--num-processes", help="training processes (GPUs)"),
    sd_scripts: Optional[str] = typer.Option(None, "--sd-scripts", help="sd-scripts version, e.g. v0.6.5"),
    gui_version: Optional[str] = typer.Option(None, "--gui-version", help="kohya_ss GUI version, e.g. v24.1.7"),
    script: Optional[str] = typer.Option(None, "--script", help="trainer script, e.g. sdxl_train_network"),
    path_map: Optional[List[str]] = typer.Option(None, "--path-map", help="FROM=TO folder mapping"),
) -> None:
    """Choose every concept's repeats so it gets its share of each epoch; then hit a target."""
    from kohya_tune.edit import balance as balance_mod
    from kohya_tune.edit import renames
    from kohya_tune.output import balance_report, progress
    from kohya_tune.versions.profiles import UnknownVersion

    if format not in ("text", "json"):
        err(f"kohya-tune balance: --format must be text or json, not {format!r}")
        raise typer.Exit(EXIT_USAGE)
    if sum((diff, check, apply)) > 1:
        err("kohya-tune balance: --diff, --check and --apply exclude each other")
        raise typer.Exit(EXIT_USAGE)
    if undo is not None:
        if config is not None:
            err("kohya-tune balance: --undo PATH takes no CONFIG (give the config itself to "
                "--undo: kohya-tune balance --undo CONFIG)")
            raise typer.Exit(EXIT_USAGE)
        try:
            project = settings_mod.load(Path(undo).parent if Path(undo).parent.is_dir() else None)
            s = make_settings(project, sd_scripts, gui_version, script, num_processes, path_map)
            outcome = renames.undo(balance_mod.journal_folder(undo, s))
        except (renames.JournalError, balance_mod.BalanceError, documents.LoadError, PlanError,
                TrainerRefusal, settings_mod.SettingsError, UnknownVersion) as exc:
            message = exc.message if isinstance(exc, (balance_mod.BalanceError, TrainerRefusal)) else str(exc)
            if format == "json":
                typer.echo(json.dumps({"undo": undo, "error": message, "exit": EXIT_USAGE}))
            err(f"kohya-tune: {message}")
            raise typer.Exit(EXIT_USAGE)
        if format == "json":
            typer.echo(json.dumps({"undone": outcome.journal, "renames": [{"from": s, "to": t} for s, t in outcome.renames],
                              "files": outcome.files}, indent=2, ensure_ascii=False))
        else:
            typer.echo(balance_report.undo_text(outcome), nl=False)
        raise typer.Exit(EXIT_OK)
    if config is None:
        err("kohya-tune balance: give a CONFIG (or --undo PATH)")
        raise typer.Exit(EXIT_USAGE)
    if target_epochs is not None and target_steps is not None:
        err("kohya-tune balance: give at most one of --target-epochs N and --target-steps N")
        raise typer.Exit(EXIT_USAGE)
    if by is not None and target_epochs is None and target_steps is None:
        err("kohya-tune balance: --by needs --target-epochs or --target-steps")
        raise typer.Exit(EXIT_USAGE)
    if per_concept is not None and total is not None:
        err("kohya-tune balance: give at most one of --per-concept K and --total K")
        raise typer.Exit(EXIT_USAGE)
    target = (("epochs", target_epochs) if target_epochs is not None
              else ("steps", target_steps) if target_steps is not None else None)
    applied = None
    finished: list = []
    try:
        project = settings_mod.load(Path(config).parent if Path(config).parent.is_dir() else None)
        s = make_settings(project, sd_scripts, gui_version, script, num_processes, path_map)
        request = balance_mod.Request(
            weights=parse_weights(weight), per_concept=per_concept, total=total,
            tolerance=tolerance, min_repeats=min_repeats,
            max_repeats=max_repeats, target=target, by=by, include_reg=include_reg)
        doc = documents.load(config)
        bp = balance_mod.make_plan(doc, s, request, progress.for_terminal())
        if apply and bp.pending:
            finished = balance_mod.finish_pending(bp)
            bp = balance_mod.make_plan(documents.load(config), s, request, progress.for_terminal())
            balance_mod.check_finished(bp, finished)
        if apply and not bp.refused:
            try:
                applied = balance_mod.apply(bp)
            except KeyboardInterrupt:
                folders = ", ".join(balance_mod.transaction(bp).journal_dirs)
                err(f"kohya-tune: interrupted; the journal in {folders} records what was done: "
                    f"finish with --apply again, or roll back with --undo DIR")
                raise typer.Exit(130)
    except (documents.LoadError, PlanError, settings_mod.SettingsError, UnknownVersion) as exc:
        if format == "json":
            typer.echo(json.dumps({"config": config, "error": str(exc), "exit": EXIT_USAGE}))
        err(f"kohya-tune: {exc}")
        raise typer.Exit(EXIT_USAGE)
    except TrainerRefusal as exc:
        if format == "json":
            typer.echo(json.dumps({"config": config, "error": exc.message, "note": exc.note,
                                   "where": exc.origin.where() if exc.origin else None}))
        err(f"kohya-tune: {refusal_text(exc)}")
        raise typer.Exit(EXIT_FINDINGS)
    except balance_mod.BalanceError as exc:
        if format == "json":
            typer.echo(json.dumps({"config": config, "error": exc.message, "exit": exc.exit_code}))
        err(f"kohya-tune: {exc.message}")
        raise typer.Exit(exc.exit_code)
    for outcome in finished:
        err(f"kohya-tune: finished the interrupted apply of {outcome.journal}"
            + (f" ({len(outcome.renames)} renames, {len(outcome.files)} files)" if not outcome.already else ""))
    code = EXIT_USAGE if bp.refused else (
        EXIT_OK if applied is not None or not bp.changed else EXIT_FINDINGS)
    if format == "json":
        data = balance_report.to_json(bp, applied)
        if check:
            data = {"config": data["config"], "changed": data["changed"], "refused": data["refused"],
                    "verdict": balance_report.verdict(bp, applied)}
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif check:
        typer.echo(balance_report.verdict(bp))   # a refusal's reasons end the verdict line
    elif diff:
        typer.echo(balance_report.diff_text(bp), nl=False)
        for reason in bp.refused:
            err(f"kohya-tune: refused: {reason}")
    else:
        # a refused plan ends with its verdict line, which carries the reasons
        typer.echo(balance_report.to_text(bp, applied, bars=balance_report.can_show_bars()), nl=False)
    raise typer.Exit(code)


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

    rule = linter_mod.rule_by_code(code)
    if rule is None:
        err(f"kohya-tune: no rule {code!r} (see kohya-tune rules)")
        raise typer.Exit(EXIT_USAGE)
    typer.echo(f"{rule.code} ({rule.name}), {rule.severity}\n{rule.summary}\n")
    typer.echo(rule.docs())



def main() -> None:
    from kohya_tune.output.terminal import make_streams_safe

    make_streams_safe()
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
