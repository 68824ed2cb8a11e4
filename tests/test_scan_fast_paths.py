"""The scan's fast paths give the answers of the slow ones: an image its folder listing showed
as a regular file is read without a stat, and every failure still reads as read_size words it
(files changed after the listing, corrupt headers, links, names with the extension in another
case). Speed is measured in benchmarks/bench_steps.py, not here."""
from __future__ import annotations

import os

import pytest

from helpers import make_images
from kohya_tune.engine import images


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


def test_glob_reports_what_it_passes_over(tmp_path):
    folder = tmp_path / "1_cat"
    make_images(folder, [[512, 512, 2], [512, 512, 1, ".PNG"], [512, 512, 1, ".gif"]])
    (folder / ".hidden.png").write_bytes((folder / "0000.png").read_bytes())
    found, passed = images.glob_images(images.list_folder(str(folder)), [".png", ".jpg"])
    assert [os.path.basename(p) for p in found] == ["0000.png", "0001.png"]
    expected_case = [] if images.CASE_INSENSITIVE_GLOB else ["0002.PNG"]
    assert passed.get("case", []) == expected_case
    assert passed["extension"] == ["0003.gif"] and passed["hidden"] == [".hidden.png"]
