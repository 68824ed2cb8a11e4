"""`python -m kohya_tune` and the `kohya-tune` script (pyproject's entry point is main here).

`--version` (or `-V`) alone is answered before the command line machinery is imported (typer
and the package cost several times the interpreter's own start-up): scripts, package managers
and editors probe the tool with it. Every other command line goes to cli.main, whose --version
prints the same line.
"""
import sys

from kohya_tune import version_line

VERSION_FLAGS = ("--version", "-V")


def main() -> None:
    if len(sys.argv) == 2 and sys.argv[1] in VERSION_FLAGS:
        sys.stdout.write(version_line() + "\n")
        sys.stdout.flush()
        return
    from kohya_tune.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
