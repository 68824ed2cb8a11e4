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
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from typer.core import TyperCommand

from kohya_tune.load import documents
from kohya_tune import settings as settings_mod
from kohya_tune.engine.plan import PlanError, Settings, TrainerRefusal

class _Command(TyperCommand):
    """Usage lines as click writes them (CONFIG, [DIR], FILE...), without typer's {braces}."""

    def collect_usage_pieces(self, ctx):
        import re

        return [re.sub(r"\{([^{}]*)\}", r"\1", piece) for piece in super().collect_usage_pieces(ctx)]


class _App(typer.Typer):
    def command(self, *args, cls=None, **kwargs):
        return super().command(*args, cls=cls or _Command, **kwargs)


# plain click help (rich_markup_mode=None): the same on every console (cp1252 included), choices
# written out as [text|json], examples kept line by line (\b paragraphs)
app = _App(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
           rich_markup_mode=None,
           context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
MAX_FIX_ROUNDS = 10  # lint --fix: lint again after fixing, while the fixes found change something
EXIT_CODES = ("Exit codes: 0 done; 1 findings or a config the trainer would refuse; 2 usage "
              "error, unreadable file or dataset not on this machine; 3 a bug in kohya-tune "
              "(please report it); 130 interrupted (Ctrl-C).")


def _version(value: bool) -> None:
    # `kohya-tune --version` alone never gets here: __main__.main answers it before typer loads
    if value:
        from kohya_tune import version_line

        typer.echo(version_line())
        raise typer.Exit(EXIT_OK)


@app.callback(epilog=(
    "\b\nStart here:\n"
    "  kohya-tune steps YOUR_CONFIG.json     what the trainer will really run, and why\n"
    "  kohya-tune lint YOUR_CONFIG.json      the traps in it (--fix repairs the safe ones)\n"
    "  kohya-tune report YOUR_CONFIG.json    one HTML page of it all, to keep or share\n"
    "\n"
    "YOUR_CONFIG is a kohya_ss GUI JSON (Save config), an sd-scripts --config_file TOML or a "
    "--dataset_config TOML. Each command's --help has examples; kohya-tune rule KT203 explains "
    "a finding.\n\n" + EXIT_CODES))
def _root(version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """Lint, explain and fix the training configs of kohya_ss (the GUI) and sd-scripts: the real epochs and steps, the traps, the fixes."""


def _cache_switch(no_cache: bool) -> None:
    # called on every run of a scanning command, with or without the option, so one run's
    # --no-cache does not outlive it in a process that runs several (tests, the api)
    from kohya_tune.engine import size_cache

    size_cache.configure(enabled=not no_cache)


def no_cache_option():
    return typer.Option(False, "--no-cache", callback=_cache_switch,
                        help="read every image header (and video) again: neither use nor write "
                             "the cache of sizes and frame counts kept from earlier runs "
                             "(KOHYA_TUNE_NO_CACHE=1 does the same; where it is: README)")


def err(message: str) -> None:
    typer.echo(message, err=True)


# ------------------------------------------------------------------------------------------
# the options several commands share: declared once, with the one text --help shows for them

CONFIG_HELP = ("a kohya_ss GUI JSON (saved by the GUI's Save config), an sd-scripts --config_file "
               "TOML (its dataset_config is followed) or a --dataset_config TOML/JSON on its own; "
               "- reads standard input")
PROFILE_HELP = ("A profile is the tag whose behaviour kohya-tune models: a version between two tags "
                "behaves as the tag at or below it, and the output says which (\"sd-scripts v0.11.1 "
                "(profile v0.10.1)\").")


def config_argument(help: str = CONFIG_HELP):
    return typer.Argument(..., metavar="CONFIG", show_default=False, help=help)


class TextOrJson(str, Enum):
    # choices as an Enum: typer writes them out in --help ([text|json]) and refuses others (exit 2)
    text = "text"
    json = "json"


class LintFormat(str, Enum):
    concise = "concise"
    full = "full"
    json = "json"
    github = "github"
    sarif = "sarif"


class By(str, Enum):
    epoch = "epoch"
    max_train_epochs = "max_train_epochs"
    max_train_steps = "max_train_steps"


class Editor(str, Enum):
    vscode = "vscode"
    taplo = "taplo"


def _value(choice):
    """The plain string of a choice (None stays None)."""
    return choice.value if isinstance(choice, Enum) else choice


def format_option(help: str = "text: the answer and its working, for people; json: a stable "
                                "object for scripts (its fields: README)"):
    return typer.Option(TextOrJson.text, "--format", "-f", metavar="[text|json]", help=help)


BY_HELP = ("the setting to change: epoch (a GUI JSON's epoch box), max_train_epochs (exact whatever "
           "the batches) or max_train_steps. Default: max_train_epochs for an epoch target (epoch "
           "for a GUI JSON when it gives exactly N epochs on one process), max_train_steps for a "
           "step target")


def num_processes_option():
    return typer.Option(None, "--num-processes", metavar="P",
                        help="training processes (GPUs, accelerate's --num_processes): each process "
                             "gets its share of the batches, so an epoch has fewer optimizer steps. "
                             "Default: what the GUI passes to accelerate launch for a GUI JSON, else 1")


def sd_scripts_option():
    return typer.Option(None, "--sd-scripts", metavar="VERSION",
                        help="the sd-scripts version the trainer is (a tag such as v0.8.7, v0.10.1, "
                             "or master). Default: for a GUI JSON, the sd-scripts that GUI release "
                             "runs (its bundled copy or submodule, as the nearest tag); for a TOML, "
                             "the newest. " + PROFILE_HELP)


def gui_version_option():
    return typer.Option(None, "--gui-version", metavar="VERSION",
                        help="the kohya_ss GUI release that saved and runs a GUI JSON (v21.5.0 to "
                             "master; each release is its own profile, a version between releases "
                             "uses the release below). Default: the newest release whose keys the "
                             "file fits (the output says which); ignored for a TOML")


def script_option():
    return typer.Option(None, "--script", metavar="NAME",
                        help="the training script (train_network, sdxl_train_network, train_db, "
                             "fine_tune, flux_train_network, ...; .py may be given). Default: "
                             "train_network for a TOML; for a GUI JSON, the one its tab and model "
                             "checkboxes launch. A musubi-tuner config needs its script "
                             "(wan_train_network, hv_train_network, fpack_train_network, "
                             "qwen_image_train_network, ...): it decides the architecture")


def path_map_option():
    return typer.Option(None, "--path-map", metavar="FROM=TO",
                        help="read folders of a config written on another machine: a path that "
                             "starts with FROM is read under TO (repeatable; for example "
                             "--path-map \"E:\\data=/mnt/data\")")


def stdin_filename_option():
    return typer.Option(None, "--stdin-filename", metavar="PATH",
                        help="with CONFIG -: the file name standard input stands for (its folder "
                             "gives the settings and the base of relative dataset paths)")



def epilog(*examples: str, exits: str = EXIT_CODES) -> str:
    """The end of a command's --help: examples, then the exit codes."""
    # \b: click keeps the lines of that paragraph as they are (no rewrapping)
    return "\b\nExamples:\n" + "\n".join(f"  {e}" for e in examples) + "\n\n" + exits


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

@app.command(short_help="The epochs and steps the trainer will really run, and why.", epilog=epilog(
    "kohya-tune steps my_lora.json",
    "kohya-tune steps train.toml --num-processes 2 --format json",
    "kohya-tune steps my_lora.json --path-map \"E:\\training=/data/training\"",
    exits="Exit codes: 0 the numbers are shown; 1 the trainer (or the GUI) would refuse the config "
          "(its reason is shown); 2 usage error, unreadable file, or the dataset is not on this "
          "machine (what can be known is shown); 3 a bug in kohya-tune; 130 interrupted (Ctrl-C)."))
def steps(
    config: str = config_argument(),
    format: TextOrJson = format_option(),
    num_processes: Optional[int] = num_processes_option(),
    sd_scripts: Optional[str] = sd_scripts_option(),
    gui_version: Optional[str] = gui_version_option(),
    script: Optional[str] = script_option(),
    path_map: Optional[List[str]] = path_map_option(),
    stdin_filename: Optional[str] = stdin_filename_option(),
    no_cache: bool = no_cache_option(),
) -> None:
    """The epochs and optimizer steps the trainer will really run, and why.

    The answer first (what the config asks for, what the trainer runs), then the working: each
    dataset's subsets and buckets, the batches, N -> Nd -> U -> S -> E, and for a GUI JSON what
    that GUI release counts, computes and sends.
    """
    from kohya_tune.engine import facts, images, steps as steps_mod
    from kohya_tune.output import progress, steps_report

    format = _value(format)

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


def musubi_report(config: str, stdin_filename, script, num_processes, path_map, fail):
    """The MusubiReport of a musubi-tuner setup (steps, schedule); `fail(message, code)` for a
    config or option that cannot be used."""
    from kohya_tune.engine import images, musubi_steps as ms
    from kohya_tune.output import progress
    from kohya_tune.versions import musubi as mv

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
        return ms.build(doc, name, settings, images.Disk(progress.for_terminal()))
    except (documents.LoadError, PlanError, settings_mod.SettingsError) as exc:
        fail(str(exc), EXIT_USAGE)


def musubi_stop(report) -> None:
    """What the trainer (or the caching) refuses, or the numbers that cannot be known here: the
    message on standard error and the exit code."""
    from kohya_tune.engine import video_frames

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


def musubi_steps(config: str, stdin_filename, script, num_processes, path_map, format: str) -> None:
    from kohya_tune.output import musubi_steps_report as report_mod

    def fail(message: str, code: int) -> None:
        if format == "json":
            typer.echo(json.dumps({"config": config, "error": message, "exit": code}))
        err(f"kohya-tune: {message}")
        raise typer.Exit(code)

    report = musubi_report(config, stdin_filename, script, num_processes, path_map, fail)
    if format == "json":
        typer.echo(json.dumps(report_mod.to_json(report), indent=2, ensure_ascii=False))
    else:
        typer.echo(report_mod.to_text(report), nl=False)
    musubi_stop(report)


def musubi_schedule(config: str, stdin_filename, script, num_processes, path_map, format: str, plot) -> None:
    """schedule for a musubi-tuner setup: the report as steps builds it, then its timetable."""
    from kohya_tune.engine import musubi_schedule as msched
    from kohya_tune.output import musubi_schedule_report as report_mod, musubi_steps_report
    from kohya_tune.output import plot as plot_mod, schedule_report, terminal

    def fail(message: str, code: int, payload=None) -> None:
        if format == "json":
            typer.echo(json.dumps(payload or {"config": config, "error": message, "exit": code}))
        err(f"kohya-tune: {message}")
        raise typer.Exit(code)

    report = musubi_report(config, stdin_filename, script, num_processes, path_map, fail)
    if report.refusal is not None or report.numbers is None:
        if format == "json":
            steps_json = musubi_steps_report.to_json(report)
            typer.echo(json.dumps({k: steps_json.get(k) for k in ("config", "error", "note", "where", "stage", "unknown")
                                   if steps_json.get(k) is not None}, ensure_ascii=False))
        musubi_stop(report)
    try:
        result = msched.compute(report)
    except PlanError as exc:
        fail(str(exc), EXIT_USAGE)
    except TrainerRefusal as exc:
        fail(refusal_text(exc), EXIT_FINDINGS,
             {"config": config, "error": exc.message, "note": exc.note,
              "where": exc.origin.where() if exc.origin else None})
    if plot is not None:
        try:
            plot_mod.write(result, plot)
        except plot_mod.PlotError as exc:
            err(f"kohya-tune schedule: --plot {plot}: {exc}")
            raise typer.Exit(EXIT_USAGE)
    if format == "json":
        typer.echo(json.dumps(report_mod.to_json(result), indent=1, ensure_ascii=False))
    else:
        unicode = terminal.can_encode("".join(schedule_report.UNICODE.values()))
        typer.echo(report_mod.to_text(result, unicode=unicode), nl=False)
    if plot is not None:
        err(f"wrote {plot}")
    if result.failure is not None:
        err(f"kohya-tune: {refusal_text(result.failure)}")
        raise typer.Exit(EXIT_FINDINGS)


# ------------------------------------------------------------------------------------------
# schedule

@app.command(short_help="Epochs, checkpoints and samples, and the LR at every step.", epilog=epilog(
    "kohya-tune schedule my_lora.json",
    "kohya-tune schedule train.toml --plot lr.html",
    "kohya-tune schedule my_lora.json --format json",
    exits="Exit codes: 0 the timetable is shown; 1 the trainer would refuse the config (also while "
          "building its LR scheduler); 2 usage error, unreadable file, dataset not on this machine, "
          "or a --plot file that cannot be written; 3 a bug in kohya-tune; 130 interrupted (Ctrl-C)."))
def schedule(
    config: str = config_argument(),
    format: TextOrJson = format_option(),
    plot: Optional[str] = typer.Option(None, "--plot", metavar="FILE",
                                       help="also write a picture of the LR curve with the epochs, "
                                            "checkpoints and samples: FILE.svg, FILE.html (picture "
                                            "and checkpoint table) or FILE.png (needs kohya-tune[plot])"),
    num_processes: Optional[int] = num_processes_option(),
    sd_scripts: Optional[str] = sd_scripts_option(),
    gui_version: Optional[str] = gui_version_option(),
    script: Optional[str] = script_option(),
    path_map: Optional[List[str]] = path_map_option(),
    stdin_filename: Optional[str] = stdin_filename_option(),
    no_cache: bool = no_cache_option(),
) -> None:
    """The run's timetable: when each epoch ends, which checkpoints and samples are made and kept, and the LR at every step.

    Checkpoint and state file names are those the script writes; the learning rate of every
    parameter group at every optimizer step comes from the scheduler of that sd-scripts version.
    """
    from kohya_tune.engine import numbers, schedule as schedule_mod, steps as steps_mod
    from kohya_tune.output import plot as plot_mod, progress, schedule_report, terminal

    format = _value(format)

    if format not in ("text", "json"):
        err(f"kohya-tune schedule: --format must be text or json, not {format!r}")
        raise typer.Exit(EXIT_USAGE)
    if plot is not None:
        problem = plot_mod.check_target(plot)
        if problem:
            err(f"kohya-tune schedule: --plot {plot}: {problem}")
            raise typer.Exit(EXIT_USAGE)
    if musubi_wanted(config, stdin_filename, script):
        musubi_schedule(config, stdin_filename, script, num_processes, path_map, format, plot)
        return
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

@app.command(short_help="Check configs: keys, silent overrides, dataset traps.", epilog=epilog(
    "kohya-tune lint my_lora.json",
    "kohya-tune lint configs/ --strict",
    "kohya-tune lint train.toml --fix",
    "kohya-tune lint my_lora.json --select KT2 --format json",
    exits="Exit codes: 0 clean (warnings alone pass unless --strict); 1 errors, or warnings with "
          "--strict (--diff: a fix would change something); 2 usage error, or a file that cannot "
          "be read or parsed (its line:col is shown); 3 a bug in kohya-tune; 130 interrupted (Ctrl-C)."))
def lint(
    files: List[str] = typer.Argument(..., metavar="CONFIG...",
                                      help="config files, or folders (their JSON and TOML files; files "
                                           "that are not kohya configs are skipped); - reads standard input"),
    output_format: Optional[LintFormat] = typer.Option(
        None, "--output-format", "--format", metavar="[concise|full|json|github|sarif]",
        help="concise: one line per finding (default); full: with the source line; json: for "
             "scripts; github: GitHub Actions annotations (the default when GITHUB_ACTIONS=true); "
             "sarif: code scanning"),
    strict: bool = typer.Option(False, "--strict", help="warnings fail too (exit 1); without it only errors do"),
    fix: bool = typer.Option(False, "--fix", help="apply the safe fixes ([*] in the output), atomically, "
                                                  "then lint again; the file must still load as the same kind of config"),
    diff: bool = typer.Option(False, "--diff", help="show the safe fixes as a diff, write nothing"),
    force: bool = typer.Option(False, "--force", help="with --fix: replace read-only files too (they stay read-only)"),
    select: Optional[List[str]] = typer.Option(None, "--select", metavar="CODES",
                                               help="only these rules: codes or prefixes, comma-separated "
                                                    "or repeated (KT2, KT301); kohya-tune rules lists them"),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", metavar="CODES",
                                               help="skip these rules: codes or prefixes (KT105)"),
    num_processes: Optional[int] = num_processes_option(),
    sd_scripts: Optional[str] = sd_scripts_option(),
    gui_version: Optional[str] = gui_version_option(),
    script: Optional[str] = script_option(),
    path_map: Optional[List[str]] = path_map_option(),
    show_skipped: bool = typer.Option(False, "--show-skipped", help="list the files that were skipped as not kohya configs"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="say what kind of config each file is (and which GUI versions saved it)"),
    statistics: bool = typer.Option(False, "--statistics", help="count the findings per rule instead of listing them"),
    show_fixes: bool = typer.Option(False, "--show-fixes", help="list the fixes (those applied, with --fix)"),
    stdin_filename: Optional[str] = stdin_filename_option(),
    no_cache: bool = no_cache_option(),
) -> None:
    """Check configs: keys and types, silent overrides of the step settings, dataset traps, old GUI keys, warm-up and TOML traps.

    Findings are printed ruff-style, path:line:col: CODE severity: message, with a help line;
    errors are things the trainer rejects or misreads, warnings things it accepts that probably
    surprise you. kohya-tune rule CODE explains one.
    """
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
    fmt = _value(output_format) or project.output_format or (
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

@app.command(short_help="Rewrite the step settings so the run hits N epochs or steps.", epilog=epilog(
    "kohya-tune solve --target-epochs 10 my_lora.json",
    "kohya-tune solve --target-steps 3000 train.toml --diff",
    "kohya-tune solve --target-epochs 8 my_lora.json --num-processes 2 --by max_train_epochs",
    exits="Exit codes: 0 written, or already on target; 1 --diff/--check: something would change, "
          "or no value of --by reaches the target (the nearest are shown), or the trainer would "
          "refuse the config; 2 usage error, unreadable file, or the file cannot be rewritten "
          "safely (nothing is written); 3 a bug in kohya-tune; 130 interrupted (Ctrl-C)."))
def solve(
    config: str = config_argument("the GUI JSON or args TOML to rewrite (a dataset config holds no step setting)"),
    target_epochs: Optional[int] = typer.Option(None, "--target-epochs", metavar="N", help="the epochs the real run should have"),
    target_steps: Optional[int] = typer.Option(None, "--target-steps", metavar="N", help="the optimizer steps the real run should have"),
    by: Optional[By] = typer.Option(None, "--by", metavar="[epoch|max_train_epochs|max_train_steps]", help=BY_HELP),
    diff: bool = typer.Option(False, "--diff", help="print the change as a unified diff, write nothing"),
    check: bool = typer.Option(False, "--check", help="print only the verdict, write nothing"),
    force: bool = typer.Option(False, "--force", help="replace a read-only config too (it stays read-only)"),
    format: TextOrJson = format_option("text: what changes, before and after; json: the same as one "
                                       "object (config, target, by, changes, before, after, diff, written)"),
    num_processes: Optional[int] = num_processes_option(),
    sd_scripts: Optional[str] = sd_scripts_option(),
    gui_version: Optional[str] = gui_version_option(),
    script: Optional[str] = script_option(),
    path_map: Optional[List[str]] = path_map_option(),
    no_cache: bool = no_cache_option(),
) -> None:
    """Rewrite epoch, max_train_epochs or max_train_steps so the real run has exactly N epochs or N optimizer steps.

    Every candidate is simulated as steps computes it (buckets, reg images, processes,
    accumulation; the GUI's own arithmetic for a GUI JSON); settings that would defeat the target
    are switched off too and listed. Only the bytes of the changed values change; the write is
    atomic and the file is read back first.
    """
    from kohya_tune.edit import rewrite, solve as solve_mod
    from kohya_tune.output import solve_report
    from kohya_tune.versions.profiles import UnknownVersion

    format, by = _value(format), _value(by)

    def fail(message: str, code: int, nearest=()) -> None:
        if format == "json":
            typer.echo(json.dumps(solve_report.error_json(config, message, code, nearest), indent=2,
                                  ensure_ascii=False))
        err(f"kohya-tune: {message}")
        raise typer.Exit(code)

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
        if musubi_wanted(config, None, script):
            solver = musubi_solver(doc, s, config)
        else:
            solver = solve_mod.Solver(doc, s)
        solution = solver.solve(kind, target, by)
        new_text = solution.text if solution.edits else doc.text
    except (documents.LoadError, PlanError, settings_mod.SettingsError, UnknownVersion) as exc:
        fail(str(exc), EXIT_USAGE)
    except TrainerRefusal as exc:
        fail(refusal_text(exc), EXIT_FINDINGS)
    except rewrite.RewriteError as exc:
        fail(f"{config}: cannot rewrite safely: {exc}; nothing was changed", EXIT_USAGE)
    except solve_mod.SolveError as exc:
        if format != "json":
            err(f"kohya-tune: {config}: {exc.message}")
            for value, outcome in exc.nearest:
                err(f"  nearest: {value} -> {outcome.describe()}")
            if exc.nearest:
                err("  nothing was changed; choose another --by (max_train_epochs is always exact)")
            raise typer.Exit(EXIT_USAGE if exc.usage else EXIT_FINDINGS)
        fail(f"{config}: {exc.message}", EXIT_USAGE if exc.usage else EXIT_FINDINGS, exc.nearest)
    what = f"{target} {kind}"
    mode = "diff" if diff else "check" if check else "write"
    if format == "json":
        written = False
        diff_text = rewrite.unified_diff(config, doc.text, new_text) if diff and solution.changed else None
        if mode == "write" and solution.changed:
            try:
                rewrite.write_atomic(config, new_text, expected=doc.text, force=force)
            except rewrite.WriteError as exc:
                fail(str(exc), EXIT_USAGE)
            written = True
        typer.echo(json.dumps(solve_report.to_json(config, kind, target, solution, mode=mode,
                                                   written=written, diff=diff_text),
                              indent=2, ensure_ascii=False))
        raise typer.Exit(EXIT_FINDINGS if solution.changed and mode != "write" else EXIT_OK)
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


def musubi_solver(doc, settings, config: str):
    """The solver of a musubi-tuner --config_file (its script decides the architecture)."""
    from kohya_tune.edit import musubi_solve
    from kohya_tune.versions import musubi as mv

    if not mv.is_script(settings.script):
        raise PlanError("a musubi-tuner config: give the training script with --script "
                        f"(it decides the architecture), one of: {', '.join(mv.scripts())}", config)
    return musubi_solve.MusubiSolver(doc, settings, settings.script)


# ------------------------------------------------------------------------------------------
# resume

class ResumeMode(str, Enum):
    finish = "finish"
    more = "more"


@app.command(short_help="What a resumed run will really do, and the flags that make it do what you mean.",
             epilog=epilog(
    "kohya-tune resume out/my_lora-000006-state train.toml",
    "kohya-tune resume out/my_lora-000006-state train.toml --mode finish --diff",
    "kohya-tune resume out/my_lora-state my_lora.json --mode more --more-epochs 4 --apply",
    exits="Exit codes: 0 the resumed run does what the plan asks (or --apply wrote an exact plan); "
          "1 the trainer would refuse or a known resume bug applies, or the plan is not exact, or "
          "--diff shows a change; 2 usage error, unreadable config or a folder that is no "
          "training state (a pickle that would run code is refused); 3 a bug in kohya-tune; "
          "130 interrupted (Ctrl-C)."))
def resume(
    state_dir: str = typer.Argument(..., metavar="STATE_DIR", show_default=False,
                                    help="the state folder saved with --save_state "
                                         "(NAME-000004-state, NAME-step00000500-state, NAME-state)"),
    config: str = config_argument("the config of the resumed run as you would start it (GUI JSON "
                                  "or sd-scripts --config_file TOML), with or without resume set"),
    mode: Optional[ResumeMode] = typer.Option(None, "--mode", metavar="[finish|more]",
                                              help="what you mean: finish = end exactly where the "
                                                   "original plan ended (same steps, same LR curve); "
                                                   "more = train --more-epochs/--more-steps after "
                                                   "the state. Without it: only what the run will do"),
    more_epochs: Optional[int] = typer.Option(None, "--more-epochs", metavar="N",
                                              help="with --mode more: epochs to train after the state"),
    more_steps: Optional[int] = typer.Option(None, "--more-steps", metavar="N",
                                             help="with --mode more: optimizer steps to train after the state"),
    diff: bool = typer.Option(False, "--diff", help="print the plan's config edits as a diff, write nothing"),
    apply: bool = typer.Option(False, "--apply", help="write the plan's config edits (atomic, read back)"),
    force: bool = typer.Option(False, "--force", help="with --apply: replace a read-only config too"),
    format: TextOrJson = format_option(),
    num_processes: Optional[int] = num_processes_option(),
    sd_scripts: Optional[str] = sd_scripts_option(),
    gui_version: Optional[str] = gui_version_option(),
    script: Optional[str] = script_option(),
    path_map: Optional[List[str]] = path_map_option(),
    accelerate: Optional[str] = typer.Option(None, "--accelerate", metavar="VERSION",
                                             help="the accelerate version installed where the run "
                                                  "resumes (default: the one the trainer version or "
                                                  "GUI release installs); resume bugs depend on it"),
    torch: Optional[str] = typer.Option(None, "--torch", metavar="VERSION",
                                        help="the torch version installed where the run resumes "
                                             "(default: the one the trainer version or GUI release "
                                             "installs); torch >= 2.6 loads states weights-only"),
    no_cache: bool = no_cache_option(),
) -> None:
    """What a resumed run will really do, and the flags that make it finish the plan or train more."""
    from kohya_tune.edit import resume_plan, rewrite
    from kohya_tune.output import resume_report
    from kohya_tune.versions.profiles import UnknownVersion

    format, mode = _value(format), _value(mode)
    if diff and apply:
        err("kohya-tune resume: --diff and --apply exclude each other")
        raise typer.Exit(EXIT_USAGE)
    if (diff or apply) and mode is None:
        err("kohya-tune resume: --diff / --apply write the edits of a plan: give --mode finish or --mode more")
        raise typer.Exit(EXIT_USAGE)
    try:
        project = settings_mod.load(_folder_of(config))
        s = make_settings(project, sd_scripts, gui_version, script, num_processes, path_map)
        report = resume_plan.build(state_dir, config, s, mode=mode, more_epochs=more_epochs,
                                   more_steps=more_steps, accelerate=accelerate, torch=torch)
    except (documents.LoadError, PlanError, settings_mod.SettingsError, UnknownVersion,
            resume_plan.ResumeInputError) as exc:
        if format == "json":
            typer.echo(json.dumps({"state": state_dir, "config": config, "error": str(exc), "exit": EXIT_USAGE}))
        err(f"kohya-tune: {exc}")
        raise typer.Exit(EXIT_USAGE)
    except resume_plan.PlanProblem as exc:
        err(f"kohya-tune resume: {exc.message}")
        raise typer.Exit(EXIT_USAGE if exc.usage else EXIT_FINDINGS)
    except rewrite.RewriteError as exc:
        err(f"kohya-tune: {config}: cannot rewrite safely: {exc}; nothing was changed")
        raise typer.Exit(EXIT_USAGE)
    plan = report.plan
    if diff:
        if plan.text is not None:
            typer.echo(rewrite.unified_diff(config, report.doc.text, plan.text), nl=False)
        else:
            typer.echo(f"{config}: no change needed")
        raise typer.Exit(EXIT_FINDINGS if plan.text is not None or not plan.exact else EXIT_OK)
    if format == "json":
        typer.echo(resume_report.to_json(report))
    else:
        typer.echo(resume_report.to_text(report), nl=False)
    if apply and plan.text is not None:
        from kohya_tune import api

        try:
            api.apply_resume_plan(report, force=force)
        except (rewrite.WriteError, resume_plan.PlanProblem, rewrite.RewriteError) as exc:
            err(f"kohya-tune: {getattr(exc, 'message', exc)}")
            raise typer.Exit(EXIT_USAGE)
        err(f"wrote {config}")
    if plan is not None:
        raise typer.Exit(EXIT_OK if plan.exact and (apply or plan.text is None) else EXIT_FINDINGS)
    # a state's train_state.json always holds its run's own step, and only rank 0 saves random
    # states: named in the output, but no finding by themselves
    inherent = {"run-local-step", "random-states-lost"}
    if report.run.outcome == "refused" or any(b.id not in inherent for b in report.run.bugs):
        raise typer.Exit(EXIT_FINDINGS)


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


@app.command(short_help="Choose the repeats so every concept gets its share of each epoch.", epilog=epilog(
    "kohya-tune balance my_lora.json",
    "kohya-tune balance dataset.toml --total 1200 --diff",
    "kohya-tune balance my_lora.json --weight \"sks dog=2\" --target-epochs 8 --apply",
    "kohya-tune balance --undo my_lora.json",
    exits="Exit codes: 0 --apply done, or already balanced; 1 something would change (run with "
          "--apply), or the trainer would refuse the config; 2 usage error, unreadable file, or "
          "the plan is refused (nothing was changed); 3 a bug in kohya-tune, or an --apply whose "
          "result did not read back as promised (undone); 130 interrupted (Ctrl-C: --apply again "
          "finishes, --undo rolls back)."))
def balance(
    config: Optional[str] = typer.Argument(None, metavar="CONFIG", show_default=False,
                                           help="a GUI JSON, args TOML or dataset config whose concepts (N_name "
                                                "folders or [[datasets.subsets]]) to balance"),
    weight: Optional[List[str]] = typer.Option(None, "--weight", metavar="NAME=W",
                                               help="a concept's weight (default 1): it gets W times the share "
                                                    "of a weight-1 concept; NAME is the folder name without "
                                                    "its repeat prefix, or the image_dir (repeatable)"),
    per_concept: Optional[int] = typer.Option(None, "--per-concept", metavar="K", help="size: a weight-1 concept gets about K image-steps per epoch"),
    total: Optional[int] = typer.Option(None, "--total", metavar="K", help="size: all train image-steps per epoch about K (default: about the current total)"),
    tolerance: str = typer.Option("0.1", "--tolerance", metavar="F", help="how far the total may be from the size aim (0.1: +/-10 %; 1 or more: any total from 1)"),
    min_repeats: int = typer.Option(1, "--min-repeats", metavar="N", help="the smallest repeats a concept may get"),
    max_repeats: int = typer.Option(100, "--max-repeats", metavar="N", help="the largest repeats a concept may get"),
    target_epochs: Optional[int] = typer.Option(None, "--target-epochs", metavar="N", help="then solve the step settings (as solve does) for N epochs"),
    target_steps: Optional[int] = typer.Option(None, "--target-steps", metavar="N", help="then solve the step settings for N optimizer steps"),
    by: Optional[By] = typer.Option(None, "--by", metavar="[epoch|max_train_epochs|max_train_steps]",
                                    help="with a target: " + BY_HELP),
    include_reg: bool = typer.Option(False, "--include-reg", help="balance the reg concepts among themselves too (their total about the new train total)"),
    diff: bool = typer.Option(False, "--diff", help="print the config diff and the renames, change nothing"),
    check: bool = typer.Option(False, "--check", help="print only the verdict, change nothing"),
    apply: bool = typer.Option(False, "--apply", help="rename the folders / rewrite the files (journal first, read back after)"),
    format: TextOrJson = format_option(),
    undo: Optional[str] = typer.Option(None, "--undo", metavar="PATH", help="put back what an --apply did: PATH is the journal's folder, a folder above it, or the config that was balanced; takes no CONFIG"),
    num_processes: Optional[int] = num_processes_option(),
    sd_scripts: Optional[str] = sd_scripts_option(),
    gui_version: Optional[str] = gui_version_option(),
    script: Optional[str] = script_option(),
    path_map: Optional[List[str]] = path_map_option(),
    no_cache: bool = no_cache_option(),
) -> None:
    """Choose every concept's repeats so it gets its share of each epoch, counted as the trainer counts; then hit a target.

    Shows the plan and changes nothing unless --apply: N_name folders are renamed, or num_repeats
    edited in a dataset config; the run's numbers before and after come from the same code as
    steps.
    """
    from kohya_tune.edit import balance as balance_mod
    from kohya_tune.edit import renames
    from kohya_tune.output import balance_report, progress
    from kohya_tune.versions.profiles import UnknownVersion

    format, by = _value(format), _value(by)

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
# report

@app.command("report", short_help="One self-contained HTML page of the run, to keep or share.", epilog=epilog(
    "kohya-tune report my_lora.json -o run.html",
    "kohya-tune report train.toml --num-processes 2",
    exits="Exit codes: 0 the page is written; 1 the trainer would refuse the config (the page "
          "says why); 2 usage error, unreadable file, dataset not on this machine, or the page "
          "cannot be written; 3 a bug in kohya-tune; 130 interrupted (Ctrl-C)."))
def report_cmd(
    config: str = config_argument(),
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE.html",
                                         help="where to write the page (default: CONFIG's name with .report.html, "
                                              "in the current folder; - prints it)"),
    num_processes: Optional[int] = num_processes_option(),
    sd_scripts: Optional[str] = sd_scripts_option(),
    gui_version: Optional[str] = gui_version_option(),
    script: Optional[str] = script_option(),
    path_map: Optional[List[str]] = path_map_option(),
    stdin_filename: Optional[str] = stdin_filename_option(),
    no_cache: bool = no_cache_option(),
) -> None:
    """One self-contained HTML page of the run: the answer, the findings, the buckets, the LR curve, the files.

    The answer first (what the trainer will run, beside what the GUI believes), the lint
    findings, the subsets and buckets as bar charts, the LR curve with checkpoints and samples,
    the epochs and the file names. No script and nothing fetched: it opens in any browser,
    offline, and prints.
    """
    from kohya_tune import version_line
    from kohya_tune.check import linter as linter_mod
    from kohya_tune.edit import rewrite
    from kohya_tune.engine import facts, images, numbers, schedule as schedule_mod, steps as steps_mod
    from kohya_tune.output import progress, report_page
    from kohya_tune.versions.profiles import UnknownVersion

    named = stdin_filename if config == STDIN and stdin_filename else config
    target = output if output is not None else (Path(named).stem if named != STDIN else "stdin") + ".report.html"
    if target != "-" and Path(target).parent != Path("") and not Path(target).parent.is_dir():
        err(f"kohya-tune report: -o {target}: folder {str(Path(target).parent)!r} does not exist")
        raise typer.Exit(EXIT_USAGE)
    version = version_line().split()[-1]
    command = "kohya-tune report " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else f"kohya-tune report {config}"
    text = None
    plan = None
    code = EXIT_OK
    try:
        plan = command_plan(config, stdin_filename, sd_scripts, gui_version, script, num_processes, path_map)
        disk = images.Disk(progress.for_terminal())
        gathered = facts.gather(plan, disk)
        project = settings_mod.load(_folder_of(named))
        linter = linter_mod.Linter(make_settings(project, sd_scripts, gui_version, script, num_processes, path_map),
                                   select=project.select, ignore=project.ignore,
                                   per_file_ignores=project.per_file_ignores,
                                   root=os.path.dirname(project.source) if project.source else None)
        diags = linter.lint_file(plan.config.path, plan.config.text if config == STDIN else None).diagnostics
        if gathered.refusals and gathered.problem is None:
            refusal = refusal_text(gathered.refusals[0].error())
            text = report_page.refused_page(plan, refusal, diags, version=version, command=command)
            code = EXIT_FINDINGS
        else:
            missing = gathered.missing_error() if gathered.problem is None else gathered.problem
            if missing is not None:
                raise missing
            report = steps_mod.report_from(gathered, disk=disk)
            numbers.check_schedulable(report)
            try:
                result = schedule_mod.compute(report)
            except TrainerRefusal as exc:
                text = report_page.refused_page(plan, refusal_text(exc), diags, version=version, command=command)
                code = EXIT_FINDINGS
            else:
                text = report_page.page(result, diags, version=version, command=command)
    except (documents.LoadError, PlanError, settings_mod.SettingsError, UnknownVersion) as exc:
        err(f"kohya-tune: {exc}")
        raise typer.Exit(EXIT_USAGE)
    except TrainerRefusal as exc:
        if plan is None:
            err(f"kohya-tune: {refusal_text(exc)}")
            raise typer.Exit(EXIT_FINDINGS)
        text = report_page.refused_page(plan, refusal_text(exc), None, version=version, command=command)
        code = EXIT_FINDINGS
    if target == "-":
        typer.echo(text, nl=False)
    else:
        try:
            rewrite.write_atomic(target, text)
        except rewrite.RewriteError as exc:
            err(f"kohya-tune: {exc}")
            raise typer.Exit(EXIT_USAGE)
        err(f"wrote {target}" + (" (the trainer would refuse this config: the page says why)" if code else ""))
    raise typer.Exit(code)


# ------------------------------------------------------------------------------------------
# schemas

@app.command("schemas", short_help="The JSON Schemas, and editor settings that use them.", epilog=epilog(
    "kohya-tune schemas",
    "kohya-tune schemas --editor vscode my_configs",
    "kohya-tune schemas --editor taplo my_configs --diff",
    exits="Exit codes: 0 done (or nothing to change); 1 with --diff/--check: something would "
          "change; 2 usage error, or a settings file that cannot be merged safely (nothing is "
          "written); 3 a bug in kohya-tune; 130 interrupted (Ctrl-C)."))
def schemas_cmd(
    folder: Optional[str] = typer.Argument(None, metavar="[DIR]", help="the folder of configs (your editor's workspace folder) for --editor"),
    editor: Optional[Editor] = typer.Option(None, "--editor", metavar="[vscode|taplo]",
                                         help="write the settings that give each config of DIR its schema: "
                                              "vscode: DIR/.vscode/settings.json (json.schemas, for the JSON configs); "
                                              "taplo: DIR/.taplo.toml (for the TOML configs; read by the Taplo CLI and "
                                              "VS Code's Even Better TOML)"),
    diff: bool = typer.Option(False, "--diff", help="print the change as a diff, write nothing (exit 1 if something would change)"),
    check: bool = typer.Option(False, "--check", help="print only the verdict, write nothing (exit 1 if something would change)"),
) -> None:
    """List the JSON Schemas kohya-tune ships, or point an editor at them for a folder of configs.

    Without options: each schema's name, what it is for, its $id and the installed file (for check-jsonschema --schemafile). With --editor: the settings file is created or merged (your own settings and comments are kept byte for byte; a second run changes nothing).
    """
    from kohya_tune.edit import editor_settings as es
    from kohya_tune.edit import rewrite
    from kohya_tune.output import schemas_report

    editor = _value(editor)

    if editor is None:
        if folder is not None or diff or check:
            err("kohya-tune schemas: DIR, --diff and --check need --editor vscode or --editor taplo")
            raise typer.Exit(EXIT_USAGE)
        typer.echo(schemas_report.listing(es), nl=False)
        raise typer.Exit(EXIT_OK)
    if editor not in es.EDITORS:
        err(f"kohya-tune schemas: --editor must be vscode or taplo, not {editor!r}")
        raise typer.Exit(EXIT_USAGE)
    if folder is None:
        err(f"kohya-tune schemas: --editor {editor} needs the folder of your configs (DIR)")
        raise typer.Exit(EXIT_USAGE)
    if diff and check:
        err("kohya-tune schemas: --diff and --check exclude each other")
        raise typer.Exit(EXIT_USAGE)
    try:
        plan = es.make_plan(folder, editor)
    except es.SettingsFileError as exc:
        err(f"kohya-tune: {exc}")
        raise typer.Exit(EXIT_USAGE)
    if diff:
        if plan.changed:
            typer.echo(rewrite.unified_diff(plan.target, plan.old_text or "", plan.new_text), nl=False)
        raise typer.Exit(EXIT_FINDINGS if plan.changed else EXIT_OK)
    if check:
        typer.echo(schemas_report.verdict(plan))
        raise typer.Exit(EXIT_FINDINGS if plan.changed else EXIT_OK)
    try:
        es.write(plan)
    except rewrite.RewriteError as exc:
        err(f"kohya-tune: {exc}")
        raise typer.Exit(EXIT_USAGE)
    typer.echo(schemas_report.summary(plan), nl=False)


# ------------------------------------------------------------------------------------------
# rules

@app.command("rules", epilog=epilog("kohya-tune rules", "kohya-tune rule KT203",
                                    exits="Exit codes: 0."))
def rules_cmd() -> None:
    """List every rule: code, severity, name and what it catches."""
    from kohya_tune.check import linter as linter_mod

    for rule in linter_mod.all_rules():
        typer.echo(f"{rule.code}  {rule.severity:<7}  {rule.name:<32}  {rule.summary}")


@app.command("rule", short_help="Show one rule's documentation and example.", epilog=epilog("kohya-tune rule KT203", "kohya-tune rule gui-estimate-differs",
                                   exits="Exit codes: 0 shown; 2 no such rule."))
def rule_cmd(code: str = typer.Argument(..., metavar="CODE", help="a rule code such as KT201, or its name")) -> None:
    """Show one rule's documentation: why it matters, an example and its fix."""
    from kohya_tune.check import linter as linter_mod

    rule = linter_mod.rule_by_code(code)
    if rule is None:
        err(f"kohya-tune: no rule {code!r} (see kohya-tune rules)")
        raise typer.Exit(EXIT_USAGE)
    typer.echo(f"{rule.code} ({rule.name}), {rule.severity}\n{rule.summary}\n")
    typer.echo(rule.docs())



EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as shells report a command stopped by it


def main() -> None:
    """The entry point. click runs in non-standalone mode so that kohya-tune, not click or
    typer, decides what Ctrl-C does (every version the same: one line, exit 130, no traceback
    and no "Aborted!") and how an exit code leaves."""
    import importlib

    import typer.core

    from kohya_tune.output.terminal import make_streams_safe

    # the click typer runs on: its own copy from typer 0.2x on, the click package before
    click = getattr(typer.core, "_click", None) or importlib.import_module("click")
    make_streams_safe()
    try:
        code = app(standalone_mode=False)
    except SystemExit:
        raise
    except (KeyboardInterrupt, typer.Abort):
        err("kohya-tune: interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.ClickException as exc:
        exc.show()  # usage errors: the usage line and the problem, exit 2
        sys.exit(exc.exit_code)
    except Exception:  # noqa: BLE001
        err("kohya-tune: internal error (this is a bug in kohya-tune; please report it):")
        err(traceback.format_exc())
        sys.exit(EXIT_INTERNAL)
    if code == EXIT_INTERRUPTED:
        # typer >= 0.2x turns Ctrl-C into a quiet exit 130 by itself: say it as well
        err("kohya-tune: interrupted")
    sys.exit(code if isinstance(code, int) else EXIT_OK)


if __name__ == "__main__":
    main()
