"""The persistent size cache (engine/size_cache.py): a run with the cache gives the numbers of a
run without it whatever happened to the files in between (touched, replaced, resized in place
with the same byte count, deleted, added, captions emptied), a corrupt or unwritable cache is
ignored, --no-cache and KOHYA_TUNE_NO_CACHE write nothing, the folder stays bounded, two
writers never leave a torn file. conftest.py points the cache at a scratch folder."""
from __future__ import annotations

import json
import marshal
import os
import struct
import threading
import time
import zlib
from pathlib import Path

import pytest

from helpers import make_images, png_bytes, run_cli, run_in_process
from kohya_tune.engine import images, size_cache

CONFIG = ('pretrained_model_name_or_path = "x"\ntrain_data_dir = "img"\nresolution = "512,512"\n'
          'enable_bucket = true\ncaption_extension = ".txt"\ntrain_batch_size = 2\n'
          'max_train_epochs = 3\n')


def png_claiming(width: int, height: int, body_of=(512, 512)) -> bytes:
    """A PNG whose header says width x height and whose bytes are those of `body_of`'s PNG: two
    sizes, the same byte count."""
    data = bytearray(png_bytes(*body_of))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


def wait_until_trusted(*folders: Path) -> None:
    """The cache stores no file changed less than RACY_NS ago: wait until the newest is older."""
    newest = max(os.stat(p).st_ctime_ns for f in folders for p in [f, *f.iterdir()])
    delay = (newest + size_cache.RACY_NS - time.time_ns()) / 1e9 + 0.05
    if delay > 0:
        time.sleep(delay)


def steps(root: Path, *extra) -> dict:
    """`steps --format json` in this process (typer's runner), the cache's memory dropped first
    so that it reads its files as a new process would."""
    size_cache.forget()
    cwd = os.getcwd()
    os.chdir(root)
    try:
        result = run_in_process("steps", "config.toml", "--format", "json", *extra)
    finally:
        os.chdir(cwd)
    assert result.exit_code in (0, 1), result.stdout
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return json.loads(result.stdout)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache folder of the test's own, trusting files changed 0.2 s ago (the default, 2 s,
    is tested by test_two_real_processes)."""
    where = tmp_path / "cache"
    monkeypatch.setenv("KOHYA_TUNE_CACHE_DIR", str(where))
    monkeypatch.setattr(size_cache, "RACY_NS", 200_000_000)
    size_cache.configure(enabled=True)  # a --no-cache run in this process leaves it off
    size_cache.forget()
    yield where
    size_cache.forget()


def cache_files(where: Path) -> list:
    return sorted(p for p in where.glob("*" + size_cache.SUFFIX))


def stored_names(where: Path, folder: Path, reader: str = "imagesize_pil") -> set:
    table = size_cache.Cache(str(where)).table(str(folder))
    return set(table.entries(images.size_kind(reader)))


def build(root: Path) -> None:
    make_images(root / "img" / "3_dog", [[512, 512, 3], [768, 512, 2], [512, 768, 2]])
    make_images(root / "img" / "2_cat", [[640, 480, 2], [1024, 1024, 2]])
    (root / "config.toml").write_text(CONFIG, encoding="utf-8")


def test_a_warm_run_equals_a_cold_one_after_every_kind_of_change(tmp_path, cache):
    root = tmp_path / "run"
    build(root)
    dog, cat = root / "img" / "3_dog", root / "img" / "2_cat"
    wait_until_trusted(dog, cat)
    first = steps(root)
    assert first == steps(root, "--no-cache")
    assert stored_names(cache, dog) == {p.name for p in dog.glob("*.png")}
    assert stored_names(cache, cat) == {p.name for p in cat.glob("*.png")}
    assert steps(root) == first  # warm, nothing changed

    # every change right after the run that stored the sizes (same clock tick as far as the
    # file system can tell), each one a different way a file can change
    os.utime(dog / "0000.png")                                        # touched only
    (dog / "0001.png").write_bytes(png_claiming(1024, 512))           # same byte count, new size
    assert len(png_claiming(1024, 512)) == (dog / "0002.png").stat().st_size
    st = (dog / "0002.png").stat()
    (dog / "0002.png").write_bytes(png_claiming(512, 1024))           # same count, mtime put back
    os.utime(dog / "0002.png", ns=(st.st_atime_ns, st.st_mtime_ns))
    (dog / "0003.png").write_bytes(png_bytes(1024, 768))              # resized in place
    tmp = dog / "new.tmp"
    tmp.write_bytes(png_bytes(768, 1024))
    os.replace(tmp, dog / "0004.png")                                 # replaced by a rename
    (dog / "0005.png").unlink()                                       # deleted (caption stays)
    (cat / "0007.png").write_bytes(png_bytes(832, 1216))              # added, with a caption
    (cat / "0007.txt").write_text("a cat", encoding="utf-8")
    second = steps(root)
    cold = steps(root, "--no-cache")
    assert second == cold
    assert second != first
    assert second["trainer"]["num_train_images"] == first["trainer"]["num_train_images"] - 3 + 2

    (cat / "0000.txt").write_text("", encoding="utf-8")               # an empty caption stops it
    assert "caption file is empty" in steps(root)["error"]
    (cat / "0000.txt").write_text("a cat", encoding="utf-8")
    assert steps(root) == cold

    wait_until_trusted(dog, cat)
    assert steps(root) == cold                                        # the new files stored
    assert stored_names(cache, dog) == {p.name for p in dog.glob("*.png")}
    assert "0005.png" not in stored_names(cache, dog)                 # a deleted name is dropped
    assert steps(root) == cold


def test_two_real_processes(tmp_path):
    """The default trust delay, and the cache carried from one process to the next."""
    root = tmp_path / "run"
    where = tmp_path / "cache"
    build(root)
    dog = root / "img" / "3_dog"
    env = {"KOHYA_TUNE_CACHE_DIR": str(where)}
    too_new = run_cli("steps", "config.toml", "--format", "json", cwd=root, env=env)
    assert too_new.returncode == 0, too_new.stderr
    assert not stored_names(where, dog)  # changed less than 2 s ago: not trusted yet
    wait_until_trusted(root / "img" / "3_dog", root / "img" / "2_cat")
    cold = run_cli("steps", "config.toml", "--format", "json", cwd=root, env=env)
    assert stored_names(where, dog) == {p.name for p in dog.glob("*.png")}
    (dog / "0001.png").write_bytes(png_claiming(1024, 512))
    warm = run_cli("steps", "config.toml", "--format", "json", cwd=root, env=env)
    assert cold.stdout == too_new.stdout != warm.stdout
    assert json.loads(warm.stdout) == steps(root, "--no-cache")
    assert "Traceback" not in cold.stderr + warm.stderr


def test_sizes_come_from_the_cache_without_opening_the_image(tmp_path, monkeypatch, cache):
    folder = tmp_path / "2_dog"
    make_images(folder, [[640, 480, 2], [512, 768, 1]])
    wait_until_trusted(folder)
    disk = images.Disk()
    found, _ = images.glob_images(disk.listing(str(folder)), [".png"])
    sizes = [disk.size(p, "imagesize_pil") for p in found]
    disk.save()
    size_cache.forget()

    def no_reading(*args, **kwargs):
        raise AssertionError("an image was opened")

    monkeypatch.setattr(images.imagesize, "get", no_reading)
    monkeypatch.setattr(images.os, "open", no_reading)
    warm = images.Disk()
    warm.listing(str(folder))
    assert [warm.size(p, "imagesize_pil") for p in found] == sizes == [(640, 480), (640, 480), (512, 768)]
    # another reader is another kind: not answered from the imagesize_pil entries
    other = images.Disk()
    other.listing(str(folder))
    with pytest.raises(AssertionError, match="opened"):
        other.size(found[0], "imagesize")
    size_cache.forget()


def test_a_changed_file_is_read_again_in_process(tmp_path, monkeypatch, cache):
    folder = tmp_path / "1_a"
    make_images(folder, [[640, 480, 1]])
    wait_until_trusted(folder)
    path = str(folder / "0000.png")
    for expected, data in [((640, 480), None), ((480, 640), png_claiming(480, 640, (640, 480))),
                           ((640, 480), png_bytes(640, 480))]:
        if data is not None:
            Path(path).write_bytes(data)
        disk = images.Disk()
        disk.listing(str(folder))
        assert disk.size(path, "imagesize_pil") == expected
        disk.save()
    size_cache.forget()


def test_a_size_read_by_pil_is_kept_for_the_same_pil_only(tmp_path, monkeypatch, cache):
    pil = pytest.importorskip("PIL.Image")
    folder = tmp_path / "1_bmp"
    folder.mkdir()
    pil.new("RGB", (300, 200)).save(folder / "a.bmp")    # imagesize 1.4.1 cannot read BMP
    wait_until_trusted(folder)
    disk = images.Disk()
    disk.listing(str(folder))
    assert disk.size(str(folder / "a.bmp"), "imagesize_pil") == (300, 200)
    disk.save()
    size_cache.forget()
    table = size_cache.Cache(str(cache)).table(str(folder))
    (stored,) = table.entries(images.size_kind("imagesize_pil")).values()
    assert marshal.loads(stored[size_cache.KEY_BYTES + 1:]) == (300, 200, images._pil_version())
    monkeypatch.setattr(images, "_PIL_VERSION", ["0.0-another"])
    calls = []
    real = images._pil_size
    monkeypatch.setattr(images, "_pil_size", lambda *a: calls.append(a) or real(*a))
    again = images.Disk()
    again.listing(str(folder))
    assert again.size(str(folder / "a.bmp"), "imagesize_pil") == (300, 200)
    assert calls  # another PIL: read again
    size_cache.forget()


DAMAGES = ["garbage", "truncated", "crc", "folder", "directory", "empty"]


def test_a_damaged_cache_is_ignored(tmp_path, cache):
    root = tmp_path / "run"
    build(root)
    wait_until_trusted(root / "img" / "3_dog", root / "img" / "2_cat")
    expected = steps(root, "--no-cache")
    assert steps(root) == expected
    files = cache_files(cache)
    assert len(files) == 2
    good = {f: f.read_bytes() for f in files}
    for damage in DAMAGES:
        for file, data in good.items():
            if file.is_dir():
                file.rmdir()
            if damage == "garbage":
                file.write_bytes(os.urandom(len(data)))
            elif damage == "truncated":
                file.write_bytes(data[: len(data) // 2])
            elif damage == "crc":   # a valid header and checksum over a payload that is no table
                payload = b"\xff" * 40
                file.write_bytes(size_cache.MAGIC + zlib.crc32(payload).to_bytes(4, "big") + payload)
            elif damage == "folder":  # the valid file of another folder under this name
                file.write_bytes(good[files[1] if file == files[0] else files[0]])
            elif damage == "directory":
                file.unlink(missing_ok=True)
                file.mkdir()
            else:
                file.write_bytes(b"")
        assert steps(root) == expected, damage
        assert steps(root) == expected, damage


def test_an_unwritable_cache_folder_is_ignored(tmp_path, monkeypatch):
    root = tmp_path / "run"
    build(root)
    expected = steps(root, "--no-cache")
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o500)
    monkeypatch.setattr(size_cache, "RACY_NS", 0)
    try:
        for where in (blocker, blocker / "cache", read_only):
            monkeypatch.setenv("KOHYA_TUNE_CACHE_DIR", str(where))
            assert steps(root) == expected
    finally:
        read_only.chmod(0o700)
        size_cache.forget()


def test_no_cache_option_and_environment_write_nothing(tmp_path, cache):
    root = tmp_path / "run"
    build(root)
    wait_until_trusted(root / "img" / "3_dog", root / "img" / "2_cat")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        for command in ("steps", "lint", "schedule", "balance"):
            result = run_in_process(command, "config.toml", "--no-cache")
            assert result.exit_code in (0, 1), result.stdout
            size_cache.save()
        assert not cache.exists()
        for value in ("1", "true", "yes"):
            os.environ["KOHYA_TUNE_NO_CACHE"] = value
            run_in_process("steps", "config.toml")
            size_cache.save()
        assert not cache.exists()
        os.environ["KOHYA_TUNE_NO_CACHE"] = "0"
        run_in_process("steps", "config.toml")
        size_cache.save()
        assert len(cache_files(cache)) == 2
    finally:
        os.environ.pop("KOHYA_TUNE_NO_CACHE", None)
        os.chdir(cwd)
    for command in ("steps", "lint", "schedule", "balance", "solve", "resume", "report"):
        assert "--no-cache" in run_in_process(command, "--help").stdout


def test_the_option_is_switched_back_on_by_the_next_command(tmp_path, monkeypatch):
    root = tmp_path / "run"
    build(root)
    monkeypatch.chdir(root)
    run_in_process("steps", "config.toml", "--no-cache")
    assert size_cache.directory() is None
    run_in_process("steps", "config.toml")
    assert size_cache.directory() == os.environ["KOHYA_TUNE_CACHE_DIR"]


def test_default_folders_follow_each_platform(monkeypatch):
    monkeypatch.delenv("KOHYA_TUNE_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", "/home/u")
    monkeypatch.setattr(size_cache.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert size_cache.directory() == os.path.join("/xdg", "kohya-tune")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert size_cache.directory() == os.path.join("/home/u", ".cache", "kohya-tune")
    monkeypatch.setattr(size_cache.sys, "platform", "darwin")
    assert size_cache.directory() == os.path.join("/home/u", "Library", "Caches", "kohya-tune")
    monkeypatch.setattr(size_cache.sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", "/appdata")
    assert size_cache.directory() == os.path.join("/appdata", "kohya-tune", "Cache")
    monkeypatch.setenv("KOHYA_TUNE_CACHE_DIR", "/elsewhere")
    assert size_cache.directory() == "/elsewhere"


def test_the_generic_cached_function(tmp_path, monkeypatch):
    monkeypatch.setenv("KOHYA_TUNE_CACHE_DIR", str(tmp_path / "cache"))
    size_cache.forget()
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"x" * 100)
    old = time.time_ns() - 10 * size_cache.RACY_NS
    os.utime(video, ns=(old, old))
    calls = []

    def frames():
        calls.append(1)
        return 81

    if os.name == "posix":  # the status-change time counts there: it is now, so nothing is kept
        assert size_cache.cached(str(video), "frames/test", frames) == 81
        assert size_cache.cached(str(video), "frames/test", frames) == 81
        assert len(calls) == 2
        monkeypatch.setattr(size_cache, "RACY_NS", 0)
    calls.clear()
    assert [size_cache.cached(str(video), "frames/test", frames) for _ in range(3)] == [81] * 3
    assert len(calls) == 1
    size_cache.forget()
    assert size_cache.cached(str(video), "frames/test", frames) == 81 and len(calls) == 1
    assert size_cache.cached(str(video), "frames/other", frames) == 81 and len(calls) == 2
    with video.open("ab") as fh:
        fh.write(b"more")
    assert size_cache.cached(str(video), "frames/test", frames) == 81 and len(calls) == 3
    monkeypatch.setenv("KOHYA_TUNE_NO_CACHE", "1")
    assert size_cache.cached(str(video), "frames/test", frames) == 81 and len(calls) == 4
    size_cache.forget()


def test_the_folder_stays_under_its_bound(tmp_path, monkeypatch):
    where = tmp_path / "cache"
    where.mkdir()
    now = time.time_ns()
    for i in range(10):
        f = where / f"{i:016x}{size_cache.SUFFIX}"
        f.write_bytes(b"x" * 1000)
        os.utime(f, ns=(now - (10 - i) * 10**9, now - (10 - i) * 10**9))
    stale = where / ".x.kts.1.1.tmp"
    stale.write_bytes(b"half")
    os.utime(stale, ns=(now - 2 * size_cache.STALE_TEMP_NS,) * 2)
    fresh = where / ".y.kts.2.2.tmp"
    fresh.write_bytes(b"being written")
    other = where / "notes.txt"
    other.write_text("not ours")
    size_cache.prune(str(where), limit=4500)
    left = sorted(p.name for p in where.iterdir())
    assert left == [".y.kts.2.2.tmp", *[f"{i:016x}.kts" for i in range(6, 10)], "notes.txt"]


def test_two_writers_at_once_never_leave_a_torn_file(tmp_path, monkeypatch):
    monkeypatch.setattr(size_cache, "RACY_NS", 0)
    where = tmp_path / "cache"
    folder = tmp_path / "data"
    folder.mkdir()
    names = [f"{i:05d}.png" for i in range(300)]
    for name in names:
        (folder / name).write_bytes(b"")
    stats = {name: os.stat(folder / name) for name in names}
    errors = []

    def writer(seed: int):
        try:
            for round_ in range(15):
                cache = size_cache.Cache(str(where))
                table = cache.table(str(folder))
                for name in names[seed::2]:
                    table.put("k", name, stats[name], b"%d %d" % (seed, round_), time.time_ns())
                cache.save()
                reread = size_cache.Cache(str(where)).table(str(folder))
                assert reread.loaded is not None  # always a whole, valid file
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(s,)) for s in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    final = size_cache.Cache(str(where)).table(str(folder)).entries("k")
    assert set(final) <= set(names) and len(final) >= 150
    assert not list(where.glob(".*.tmp"))


@pytest.mark.parametrize("reader", ["imagesize", "imagesize_pil"])
def test_every_stored_size_reads_back_as_read_size(tmp_path, monkeypatch, cache, reader):
    """Whatever imagesize answers (floats for an SVG, -1 for an unknown header, PIL's answer),
    the value read back from the cache is the one read_size gives."""
    from test_fast_paths import _header_cases, _outcome

    folder = tmp_path / "1_x"
    folder.mkdir()
    for name, data in _header_cases().items():
        (folder / name).write_bytes(data)
    wait_until_trusted(folder)
    names = sorted(_header_cases())
    first = images.Disk()
    first.listing(str(folder))
    expected = {n: _outcome(images.read_size, str(folder / n), reader) for n in names}
    assert {n: _outcome(first.size, str(folder / n), reader) for n in names} == expected
    first.save()
    size_cache.forget()
    stored = stored_names(cache, folder, reader)
    assert {n for n in names if expected[n][0] == "size"} == stored  # every size, no error
    monkeypatch.setattr(images.imagesize, "get", lambda *a: pytest.fail("a header was read"))
    monkeypatch.setattr(images, "_pil_size", lambda *a: pytest.fail("PIL was asked"))
    again = images.Disk()
    again.listing(str(folder))
    assert {n: again.size(str(folder / n), reader) for n in stored} == \
        {n: expected[n][1] for n in stored}


def test_a_folder_is_known_by_its_real_path(tmp_path, monkeypatch, cache):
    """A relative path names another folder once the working directory changes; a link to a
    folder (balance's preview tree) shares the folder's entries."""
    for name in ("a", "b"):
        make_images(tmp_path / name / "1_x", [[640, 480, 1]] if name == "a" else [[512, 768, 1]])
    (tmp_path / "link").symlink_to(tmp_path / "a" / "1_x", target_is_directory=True)
    wait_until_trusted(tmp_path / "a" / "1_x", tmp_path / "b" / "1_x")
    where = size_cache.Cache(str(cache))
    monkeypatch.chdir(tmp_path / "a")
    first = where.table("1_x")
    monkeypatch.chdir(tmp_path / "b")
    assert where.table("1_x") is not first
    assert where.table(str(tmp_path / "link")) is first
    disk = images.Disk()
    disk.listing(str(tmp_path / "link"))
    assert disk.size(str(tmp_path / "link" / "0000.png"), "imagesize_pil") == (640, 480)
    disk.save()
    size_cache.forget()
    assert stored_names(cache, tmp_path / "a" / "1_x") == {"0000.png"}
    assert not stored_names(cache, tmp_path / "b" / "1_x")


def test_video_frame_counts_are_cached(tmp_path, monkeypatch, cache):
    """The musubi side's frame counts (engine/video_frames.probe) go through the same cache."""
    pytest.importorskip("av")
    from musubi_helpers import write_video

    from kohya_tune.engine import video_frames

    folder = tmp_path / "videos"
    folder.mkdir()
    clip = folder / "clip.mp4"
    write_video(clip, 64, 48, 17, 24)
    wait_until_trusted(folder)
    first = video_frames.probe(clip)
    assert first.frames == 17 and (first.width, first.height) == (64, 48)
    size_cache.save()
    size_cache.forget()
    with monkeypatch.context() as patch:
        patch.setattr(video_frames, "_probe", lambda *a: pytest.fail("the video was read"))
        assert video_frames.probe(clip) == first
    write_video(clip, 64, 48, 9, 24)                                  # rewritten: counted again
    assert video_frames.probe(clip).frames == 9
