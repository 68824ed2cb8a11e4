"""The README's quick start: exactly two POSIX commands, and the Windows lines doing the same,
written so that PowerShell 5.1 and cmd both run them unchanged (no `&&`, which Windows
PowerShell 5.1 rejects; no single quotes, which cmd passes on; nothing a shell expands)."""
from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
QUICK = README.split("## Quick start", 1)[1].split("### Other ways to install", 1)[0]


def test_posix_quick_start_is_two_commands():
    blocks = re.findall(r"```sh\n(.*?)```", QUICK, re.S)
    assert [b.count("\n") for b in blocks] == [1, 1]
    assert blocks[0].startswith("python3 -m venv .venv && ") and "kohya-tune steps sample_configs/lora_gui.json" in blocks[0]
    assert blocks[1].rstrip().endswith(".venv/bin/python -m pytest")


def test_windows_lines_do_what_the_posix_commands_do():
    posix = [cmd.strip() for block in re.findall(r"```sh\n(.*?)```", QUICK, re.S)
             for cmd in block.strip().split(" && ")]
    windows = [line for block in re.findall(r"```bat\n(.*?)```", QUICK, re.S) for line in block.splitlines()]
    simple = re.compile(r'^(py -m venv \.venv|\.\\\.venv\\Scripts\\(python|kohya-tune)\.exe( [\w.\\\-]+| "[\w.\[\]]+")*)$')
    for line in windows:
        assert simple.match(line), line
    # the same commands: POSIX paths and quoting written the Windows way
    translated = []
    for cmd in posix:
        if cmd == "python3 -m venv .venv":
            if "py -m venv .venv" not in translated:
                translated.append("py -m venv .venv")
            continue
        # `python -m pip` on Windows (pip.exe cannot replace itself there)
        cmd = re.sub(r"^\.venv/bin/pip ", ".venv/bin/python -m pip ", cmd)
        cmd = re.sub(r"^\.venv/bin/(\S+)", r".\\.venv\\Scripts\\\1.exe", cmd).replace("'", '"')
        translated.append(cmd.replace("sample_configs/", "sample_configs\\"))
    assert windows == translated
