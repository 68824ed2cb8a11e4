"""Shared test helpers: tiny valid PNGs, golden-case materialization, running the CLI."""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden"
CORPUS = DATA / "corpus"

_png_cache: dict = {}


def png_bytes(width: int, height: int) -> bytes:
    """A valid PNG of that size (content is one grey colour)."""
    if (width, height) not in _png_cache:
        def chunk(kind: bytes, data: bytes) -> bytes:
            return (struct.pack(">I", len(data)) + kind + data
                    + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
        raw = (b"\x00" + b"\x80" * (width * 3)) * height
        _png_cache[(width, height)] = (b"\x89PNG\r\n\x1a\n"
                                       + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                                       + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    return _png_cache[(width, height)]


def make_images(folder: Path, groups, captions=None, start: int = 0) -> int:
    """Write images named 0000.png... for [[w, h, count(, ext)], ...] with a caption each."""
    folder.mkdir(parents=True, exist_ok=True)
    index = start
    for group in groups:
        width, height, count = group[0], group[1], group[2]
        ext = group[3] if len(group) > 3 else ".png"
        for _ in range(count):
            stem = f"{index:04d}"
            (folder / f"{stem}{ext}").write_bytes(png_bytes(width, height))
            text = (captions or {}).get(stem, "a photo")
            if text is not None:
                (folder / f"{stem}.txt").write_text(text, encoding="utf-8")
            index += 1
    return index


def golden_cases() -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(GOLDEN.glob("*.json"))]


def materialize(case: dict, root: Path) -> None:
    """The golden case format (tests/data/golden/README.md)."""
    captions = case.get("captions") or {}
    for folder, groups in (case.get("dataset") or {}).items():
        per_folder = {rel.rsplit("/", 1)[1][:-4]: text for rel, text in captions.items()
                      if rel.rsplit("/", 1)[0] == folder}
        make_images(root / folder, groups, per_folder)
    for rel, text in captions.items():
        path = root / rel
        if text is not None and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for rel, text in (case.get("files") or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def case_options(case: dict, version: str | None = None) -> list[str]:
    options = case.get("options") or {}
    args = []
    if version:
        args += ["--sd-scripts", version]
    if options.get("num_processes"):
        args += ["--num-processes", str(options["num_processes"])]
    if options.get("gui_version"):
        args += ["--gui-version", str(options["gui_version"])]
    if options.get("script"):
        args += ["--script", str(options["script"])]
    return args


def run_cli(*args: str, cwd=None, input: str | None = None, env=None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the installed CLI in a subprocess (the real entry point, exit codes included)."""
    full_env = dict(os.environ)
    full_env.pop("GITHUB_ACTIONS", None)
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "kohya_tune", *args], cwd=cwd, input=input,
                          capture_output=True, text=True, env=full_env, timeout=timeout)


def run_in_process(*args: str):
    """The CLI in this process (typer's runner): fast, for loops over many files. Returns an
    object with .exit_code, .stdout and .stderr."""
    from typer.testing import CliRunner

    from kohya_tune.cli import app

    return CliRunner().invoke(app, list(args))


def sample(items: list, key: str, count: int) -> list:
    """`count` of `items`, chosen by `key` (a test id), so that the sample differs from one
    parametrized case to the next but is the same on every run."""
    if count >= len(items):
        return list(items)
    start = zlib.crc32(key.encode("utf-8")) % len(items)
    return [items[(start + i * len(items) // count) % len(items)] for i in range(count)]
