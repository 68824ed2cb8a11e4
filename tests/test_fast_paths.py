"""The fast paths give the answers of the slow ones. The scan: an image its folder listing showed
as a regular file is read without a stat, and every failure still reads as read_size words it
(files changed after the listing, corrupt headers, links, names with the extension in another
case). The schedule lint computes without keeping the LR series: the same timetable and the
same refusals as with it, on the recorded trainer cases. Speed is measured in benchmarks/."""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import random
import struct
from pathlib import Path

import pytest

from helpers import make_images
from kohya_tune import api
from kohya_tune.engine import images, schedule
from kohya_tune.engine.plan import TrainerRefusal
from test_schedule_lr import FILES, write_case


def _outcome(fn, *args):
    try:
        return ("size", fn(*args))
    except images.ImageSizeError as exc:
        return ("error", exc.message, exc.unknown)


@pytest.mark.parametrize("reader", ["imagesize", "imagesize_pil", "pil"])
def test_listed_size_is_read_size(tmp_path, reader):
    folder = tmp_path / "2_dog"
    make_images(folder, [[640, 480, 3]])
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00")        # truncated header
    (folder / "text.png").write_text("not an image at all, but long enough to read", encoding="utf-8")
    (folder / "empty.png").write_bytes(b"")
    os.symlink(folder / "0000.png", folder / "link.png")
    os.symlink(folder / "missing.png", folder / "dangling.png")
    disk = images.Disk()
    listing = disk.listing(str(folder))
    found, _ = images.glob_images(listing, [".png"])
    (folder / "0001.png").unlink()                                      # gone since the listing
    for path in found:
        assert _outcome(disk.size, path, reader) == _outcome(images.read_size, path, reader), path
    assert disk.size(found[0], reader) == (640, 480)


def _jpeg(width: int, height: int, app_bytes: int) -> bytes:
    """A JPEG header: SOI, APP1 blocks of `app_bytes` in all (EXIF-like), then SOF0."""
    app = b""
    while app_bytes > 0:
        part = min(app_bytes, 65000)
        app += b"\xff\xe1" + struct.pack(">H", part + 2) + b"E" * part
        app_bytes -= part
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app + sof + b"\xff\xd9"


def _header_cases() -> dict:
    """Files whose size imagesize reads from more or less of the file (or not at all)."""
    rng = random.Random(21)
    cases = {
        # the SOF block before, at and beyond each read the scan makes (4 KiB, 64 KiB, 1 MiB)
        **{f"jpeg{n}.jpg": _jpeg(640 + n % 7, 480, n) for n in
           (10, 4000, 4080, 4090, 4096, 5000, 65500, 65536, 70000, 1 << 20, (1 << 20) + 10)},
        "netpbm.png": b"P6\n# a comment\n# another\n640 480\n255\n" + b"\0" * 50,
        "netpbm-long.png": b"P6\n#" + b"c" * 5000 + b"\n 33 44\n255\n",
        "svg.png": b'<svg xmlns="x" width="120" height="80"></svg>',
        "gif.png": b"GIF89a" + struct.pack("<hh", 300, 200) + b"\0" * 20,
        "webp.png": b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 10 + struct.pack("<HH", 320, 240) + b"\0" * 8,
        "old-png.png": b"\x89PNG\r\n\x1a\n" + struct.pack(">LL", 100, 50) + b"\0" * 4,
    }
    prefixes = [b"\xff\xd8", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"P5", b"II*\x00", b"MM\x00*",
                b"RIFF\0\0\0\0WEBP", b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"<svg", b""]
    for i in range(160):
        body = bytes(rng.randrange(256) for _ in range(rng.choice([0, 3, 20, 40, 300, 5000])))
        cases[f"random{i:03d}.png"] = rng.choice(prefixes) + body
    for name, data in list(cases.items())[:12]:   # truncated copies of the real headers
        cases["cut-" + name] = data[: len(data) // 2]
    return cases


@pytest.mark.parametrize("reader", ["imagesize", "imagesize_pil", "pil"])
def test_the_scan_reads_every_header_as_imagesize_reads_the_file(tmp_path, reader):
    """The scan gives imagesize the first bytes of a file and reads more when imagesize reaches
    their end: the same answer (or the same failure) as imagesize on the whole file."""
    folder = tmp_path / "1_x"
    folder.mkdir()
    for name, data in _header_cases().items():
        (folder / name).write_bytes(data)
    disk = images.Disk()
    disk.listing(str(folder))
    for name in sorted(_header_cases()):
        path = str(folder / name)
        assert _outcome(disk.size, path, reader) == _outcome(images.read_size, path, reader), name


def test_glob_reports_what_it_passes_over(tmp_path):
    folder = tmp_path / "1_cat"
    make_images(folder, [[512, 512, 2], [512, 512, 1, ".PNG"], [512, 512, 1, ".gif"]])
    (folder / ".hidden.png").write_bytes((folder / "0000.png").read_bytes())
    found, passed = images.glob_images(images.list_folder(str(folder)), [".png", ".jpg"])
    assert [os.path.basename(p) for p in found] == ["0000.png", "0001.png"]
    expected_case = [] if images.CASE_INSENSITIVE_GLOB else ["0002.PNG"]
    assert passed.get("case", []) == expected_case
    assert passed["extension"] == ["0003.gif"] and passed["hidden"] == [".hidden.png"]


def _timetable(report, lr_series):
    try:
        return schedule.compute(report, lr_series=lr_series)
    except TrainerRefusal as exc:
        return ("refused", exc.message)


@pytest.mark.parametrize("path", FILES[::3], ids=[p.stem for p in FILES[::3]])
def test_schedule_without_the_series_is_the_same_timetable(path, tmp_path):
    doc = json.loads(Path(path).read_text())
    for case in doc["cases"]:
        config = write_case(tmp_path, case)
        try:
            report = api.steps(str(config), sd_scripts=doc["sd_scripts"], script=case["script"],
                               num_processes=case["num_processes"])
        except TrainerRefusal:
            continue
        full, lean = _timetable(report, True), _timetable(report, False)
        if isinstance(full, tuple) or full.lr is None:
            assert lean == full if isinstance(full, tuple) else lean.lr is None, case["id"]
            continue
        assert lean.lr.per_step == [] and len(full.lr.per_step) == report.max_train_steps
        assert dataclasses.replace(lean.lr, per_step=full.lr.per_step) == full.lr, case["id"]
        assert dataclasses.replace(lean, lr=full.lr) == full, case["id"]


def _reference_aspects(tag: str) -> dict:
    """Each aspect at a release, written plainly (deep copies everywhere): the data's meaning."""
    from kohya_tune.versions import gui_releases

    def merge(base, over):
        if not isinstance(base, dict) or not isinstance(over, dict):
            return copy.deepcopy(over)
        out = copy.deepcopy(base)
        for key, value in over.items():
            if value is None:
                out.pop(key, None)
            elif isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
        return out

    key = gui_releases.version_key(tag)
    out = {}
    for name, spec in copy.deepcopy(gui_releases._behaviour())["aspects"].items():
        value = None
        for change in spec["changes"]:
            if gui_releases.version_key(change["since"]) > key:
                break
            if "value" in change:
                value = change["value"]
            if "merge" in change:
                value = merge(value if value is not None else {}, change["merge"])
        out[name] = value
    return out


def test_gui_release_aspects_are_the_data_and_each_caller_gets_its_own_copy():
    from kohya_tune.versions import gui_releases

    for tag in gui_releases.release_tags():
        first = gui_releases.resolve(tag)
        assert first.aspects == _reference_aspects(tag), tag
        for value in first.aspects.values():   # a caller changing its copy changes nothing else
            if isinstance(value, (dict, list)):
                value.clear()
        assert gui_releases.resolve(tag).aspects == _reference_aspects(tag), tag
