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

from . import documents, settings as settings_mod
from .plan import PlanError, Settings, TrainerRefusal

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Lint, explain and fix kohya_ss / sd-scripts training configs.")

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


@app.callback()
def _root() -> None:
    """Lint, explain and fix kohya_ss / sd-scripts training configs."""


def err(message: str) -> None:
    typer.echo(message, err=True)


def make_settings(project: settings_mod.ProjectSettings, sd_scripts, gui_version, script,
                  num_processes, path_map) -> Settings:
    pm = settings_mod.parse_path_map(path_map) if path_map else []
    if num_processes is not None and num_processes < 1:
        raise settings_mod.SettingsError("--num-processes must be at least 1")
    return Settings(sd_scripts=sd_scripts or project.sd_scripts,
                    gui_version=gui_version or project.gui_version,
                    script=script or project.script,
                    num_processes=num_processes if num_processes is not None else project.num_processes,
                    path_map=pm + list(project.path_map))


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
    from . import normalize, steps as steps_mod, steps_report

    if format not in ("text", "json"):
        err(f"kohya-tune steps: --format must be text or json, not {format!r}")
        raise typer.Exit(EXIT_USAGE)
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
        err(f"kohya-tune: {exc}")
        raise typer.Exit(EXIT_USAGE)
    except Exception as exc:  # noqa: BLE001 - map known library errors below
        from .profiles import UnknownVersion

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
    if format == "json":
        typer.echo(json.dumps(steps_report.to_json(report), indent=2, ensure_ascii=False))
    else:
        typer.echo(steps_report.to_text(report), nl=False)


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
