"""A persistent cache of what kohya-tune reads from inside a file (image header sizes; a video's
frame count for the musubi-tuner side), so a second run over an unchanged dataset opens no image.

Where: the user's cache folder, `kohya-tune` in `$XDG_CACHE_HOME` (else `~/.cache`) on Linux,
`~/Library/Caches` on macOS, `%LOCALAPPDATA%\\kohya-tune\\Cache` on Windows; `KOHYA_TUNE_CACHE_DIR`
moves it, `KOHYA_TUNE_NO_CACHE=1` (or `--no-cache` on the commands that scan) turns it off.

Trust: a value is given back only for the very file it was computed from. Every lookup
compares the file's `stat` now with the one taken when the value was computed: size, modification
time and status-change time in nanoseconds, inode and device (`os.stat` fills the inode and
volume on Windows too). Touching, rewriting, resizing or replacing a file (a rename gives another
inode) changes one of them. A file whose last change is less than `RACY_NS` old when it is read
is not stored: a change within the same tick of the file system's clock (2 s on FAT, about 4 ms
on ext4) could leave every stamp as it was ("racy git"). On POSIX the status-change time moves on
every write and cannot be set back by the user, so it is the stamp that counts there; Windows
has no such time (its st_ctime is the creation time), so the modification time counts.

Layout: one file per dataset folder, `<16 hex digits>.kts`, holding the folder's path and, per
kind of value, name -> the stat key packed in 40 bytes followed by the value's bytes, as
`marshal` data behind a CRC-32 (one bytes object per entry: loading makes no tuple or int). Why not one
sqlite3 database (WAL): a run loads only the folders its config names (a cache of a hundred
datasets costs nothing to a config that names one); a file is replaced whole by a rename, so a
reader never waits on a writer's lock (sqlite's WAL needs shared memory, which network drives
and some sandboxes do not give) and a crash leaves the old file or the new one; a corrupt file
is one folder read again; the bound is deleting the least recently used files, where sqlite
would need a VACUUM to give space back; and marshal loads a folder of 24,000 entries in about
10 ms, less than sqlite3's import and query on the same rows.

Two processes at once: each writes its own temporary file next to the target and renames it
over; the last rename wins whole (the other's new entries are computed again next time). Before
writing, the file on disk is read again and merged, so two runs over different datasets lose
nothing. Entries for names no longer in the folder are dropped when a folder is written.

Failures are never fatal: a cache folder that cannot be made or written turns writing off for
the run, a corrupt, truncated or foreign file reads as empty (and is replaced on the next write).
Values given to `cached` are what `marshal` stores (numbers, strings, bytes, tuples, lists,
dicts, None); the image sizes of `images.Disk` are packed by it.
"""
from __future__ import annotations

import marshal
import os
import struct
import sys
import time
import zlib

ENV_DISABLE = "KOHYA_TUNE_NO_CACHE"
ENV_DIR = "KOHYA_TUNE_CACHE_DIR"
MAX_BYTES = 128 * 1024 * 1024        # the whole cache folder; least recently used files go first
RACY_NS = 2_000_000_000              # a file changed less than this ago is not stored (see above)
STALE_TEMP_NS = 3600 * 1_000_000_000  # a temporary file this old belongs to a dead writer
SUFFIX = ".kts"
MAGIC = b"kohya-tune cache 1 marshal %d\n" % marshal.version
POSIX_CTIME = os.name == "posix"     # st_ctime is the status-change time (not the creation time)
_TOUCH_AFTER_NS = 86400 * 1_000_000_000  # mark a file used at most once a day (LRU order)

_switch = {"enabled": True}
_current: "Cache | None" = None


def default_directory() -> str | None:
    """The platform's per-user cache folder for kohya-tune (None when there is no home)."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(os.path.expanduser("~"), "AppData", "Local")
        parts = ("kohya-tune", "Cache")
    elif sys.platform == "darwin":
        base, parts = os.path.join(os.path.expanduser("~"), "Library", "Caches"), ("kohya-tune",)
    else:
        base = os.environ.get("XDG_CACHE_HOME", "")
        if not os.path.isabs(base):  # the XDG spec: a relative value is invalid and ignored
            base = os.path.join(os.path.expanduser("~"), ".cache")
        parts = ("kohya-tune",)
    if base.startswith("~"):  # no home to expand
        return None
    return os.path.join(base, *parts)


def configure(enabled: bool = True) -> None:
    """Turn the cache on or off for this process (`--no-cache`); the environment can still turn
    it off."""
    _switch["enabled"] = bool(enabled)


def directory() -> str | None:
    """Where the cache lives now, or None when it is off."""
    if not _switch["enabled"]:
        return None
    if os.environ.get(ENV_DISABLE, "").strip().lower() not in ("", "0", "false", "no", "off"):
        return None
    chosen = os.environ.get(ENV_DIR, "").strip()
    return os.path.abspath(os.path.expanduser(chosen)) if chosen else default_directory()


def current() -> "Cache | None":
    """The process's cache as configured now (None when off). Asking again after the folder or
    the switch changed gives a new one; the old one is saved first."""
    global _current
    where = directory()
    if _current is not None and _current.directory != where:
        _current.save()
        _current = None
    if where is None:
        return None
    if _current is None:
        _current = Cache(where)
        if not _atexit_registered:
            _register_atexit()
    return _current


_atexit_registered = False


def _register_atexit() -> None:
    global _atexit_registered
    import atexit

    atexit.register(_save_current)
    _atexit_registered = True


def _save_current() -> None:
    if _current is not None:
        _current.save()


def forget() -> None:
    """Save, then drop what this process holds in memory (the next `current()` reads the files
    again)."""
    global _current
    if _current is not None:
        _current.save()
        _current = None


KEY_FORMAT = "<QqqQQ"
_KEY = struct.Struct(KEY_FORMAT)
KEY_BYTES = _KEY.size
pack_key = _KEY.pack  # (st_size, st_mtime_ns, st_ctime_ns, st_ino, st_dev) -> key bytes


def key_of(st) -> bytes | None:
    """What must be equal for a stored value to be given back (see the module's docstring),
    packed; None for a stat that does not fit 64 bits (such a file is never cached)."""
    try:
        return pack_key(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
    except struct.error:
        return None


def trusted(st, since: int) -> bool:
    """Whether the file changed long enough before `since` (time.time_ns() taken before `st`
    was) for its stamps to tell every later change: a change after the stat lands in a later
    tick of the file system's clock than the one `st` shows."""
    changed = st.st_ctime_ns if POSIX_CTIME else st.st_mtime_ns
    return since - changed >= RACY_NS


def cached(path: str, kind: str, compute, st=None):
    """The value `compute()` gives for the file at `path`, from the cache while the file is
    unchanged. `kind` names what is computed and how (say "frames/pyav-12"): a change of the
    method is a new kind. `st`: the file's `os.stat`/`os.fstat` result if the caller has one,
    taken just before this call and before the file is read. An exception from `compute` is passed on, nothing stored.
    With the cache off this is `compute()`. The values are written when the scan ends
    (`save`) or at exit."""
    cache = current()
    return compute() if cache is None else cache.cached(path, kind, compute, st)


def save() -> None:
    """Write what this process added to the cache (the scan calls it when it ends; it runs at
    exit too)."""
    if _current is not None:
        _current.save()


class Table:
    """The cached values of one folder: kind -> name -> stat key (KEY_BYTES) + value bytes."""

    __slots__ = ("folder", "file", "kinds", "dirty", "loaded", "present")

    def __init__(self, folder: str, file: str):
        self.folder = folder
        self.file = file
        self.kinds: dict = {}
        self.dirty = False
        self.loaded = None  # (size, mtime_ns) of the file as read
        self.present = None  # the folder's names, when the caller listed it (else listed on save)

    def entries(self, kind: str) -> dict:
        """name -> key + value bytes, of one kind (the dict itself: the scan's hot loop reads it
        and compares the first KEY_BYTES with `key_of` the file's stat)."""
        got = self.kinds.get(kind)
        if got is None:
            got = self.kinds[kind] = {}
        return got

    def get(self, kind: str, name: str, st) -> bytes | None:
        """The value bytes stored for the file `name` whose stat is `st`, if it is that file."""
        rec = self.kinds.get(kind, {}).get(name)
        if rec is None:
            return None
        key = key_of(st)
        return rec[KEY_BYTES:] if key is not None and rec.startswith(key) else None

    def put(self, kind: str, name: str, st, value: bytes, since: int) -> None:
        """Store value bytes computed from the file whose stat (taken before it was read, after
        time.time_ns() gave `since`) is `st`, unless it changed too recently to trust its
        stamps."""
        key = key_of(st)
        if key is None or not trusted(st, since):
            return
        self.entries(kind)[name] = key + value
        self.dirty = True


class Cache:
    """The tables of the folders this process looked at, loaded on first use, written by
    `save`."""

    def __init__(self, where: str):
        self.directory = where
        self._tables: dict = {}
        self._writable = True

    def table(self, folder: str) -> Table:
        """The table of a folder, by its real path: a relative path means another folder after
        a change of the working directory, and a folder seen through a link (balance's preview
        tree) is the folder it links to (the entries' inode and device say which file)."""
        try:
            absolute = os.path.normcase(os.path.realpath(folder or "."))
        except (OSError, ValueError):
            absolute = os.path.normcase(os.path.abspath(folder or "."))
        got = self._tables.get(absolute)
        if got is None:
            got = self._tables[absolute] = self._load(absolute)
        return got

    def cached(self, path: str, kind: str, compute, st=None):
        """`cached` (the module function) with this cache; values kept as marshal bytes."""
        since = time.time_ns()  # before the stat (a given `st` was taken just before the call)
        if st is None:
            try:
                st = os.stat(path)
            except OSError:
                return compute()
        folder, name = os.path.split(path)
        table = self.table(folder)
        stored = table.get(kind, name, st)
        if stored is not None:
            try:
                return marshal.loads(stored)
            except Exception:  # noqa: BLE001 - a damaged value is computed again
                pass
        value = compute()
        try:
            table.put(kind, name, st, marshal.dumps(value), since)
        except ValueError:
            pass  # not a value marshal can keep: computed each time
        return value

    def file_for(self, folder: str) -> str:
        raw = folder.encode("utf-8", "surrogatepass")
        digest = "%08x%08x" % (zlib.crc32(raw), zlib.adler32(raw))
        return os.path.join(self.directory, digest + SUFFIX)

    def _load(self, folder: str) -> Table:
        table = Table(folder, self.file_for(folder))
        found = _read_file(table.file, folder)
        if found is not None:
            table.kinds, table.loaded, mtime = found
            if time.time_ns() - mtime > _TOUCH_AFTER_NS and self._writable:
                try:
                    os.utime(table.file)  # least recently used goes first when pruning
                except OSError:
                    pass
        return table

    def save(self) -> None:
        """Write every table that got new entries (atomically, merged with what another process
        wrote meanwhile), then keep the folder under MAX_BYTES. Never raises."""
        dirty = [t for t in self._tables.values() if t.dirty]
        if not dirty or not self._writable:
            return
        try:
            os.makedirs(self.directory, exist_ok=True)
        except OSError:
            self._writable = False
            return
        wrote = False
        for table in dirty:
            table.dirty = False
            try:
                self._write(table)
                wrote = True
            except OSError:
                self._writable = False
                return
            except (ValueError, TypeError, RecursionError):
                continue  # cannot happen with bytes values; never a reason to fail a run
        if wrote:
            prune(self.directory)

    def _write(self, table: Table) -> None:
        kinds = table.kinds
        on_disk = _read_file(table.file, table.folder)
        if on_disk is not None and on_disk[1] != table.loaded:
            merged: dict = {}
            for kind, names in on_disk[0].items():
                merged[kind] = dict(names)
            for kind, names in kinds.items():
                merged.setdefault(kind, {}).update(names)
            kinds = table.kinds = merged
        present = table.present
        if present is None:
            try:
                present = set(os.listdir(table.folder))
            except OSError:
                pass
        if present is not None:
            for names in kinds.values():
                for name in [n for n in names if n not in present]:
                    del names[name]
        payload = marshal.dumps((table.folder, kinds))
        data = MAGIC + zlib.crc32(payload).to_bytes(4, "big") + payload
        if len(data) > MAX_BYTES // 4:
            return  # one folder may not take most of the cache
        _write_atomic(table.file, data)
        try:
            st = os.stat(table.file)
            table.loaded = (st.st_size, st.st_mtime_ns)
        except OSError:
            table.loaded = None


def _read_file(file: str, folder: str):
    """(kinds, (size, mtime_ns), mtime_ns) of a cache file for `folder`, or None when it is
    missing, unreadable, corrupt, too big or another folder's."""
    try:
        with open(file, "rb") as fh:
            st = os.fstat(fh.fileno())
            if st.st_size > MAX_BYTES:
                return None
            data = fh.read()
    except OSError:
        return None
    head = len(MAGIC)
    if not data.startswith(MAGIC) or len(data) < head + 4:
        return None
    payload = data[head + 4:]
    if zlib.crc32(payload) != int.from_bytes(data[head:head + 4], "big"):
        return None
    try:
        stored_folder, kinds = marshal.loads(payload)
    except Exception:  # noqa: BLE001 - whatever a damaged file gives, it is no cache
        return None
    if stored_folder != folder or type(kinds) is not dict:
        return None
    for kind, names in kinds.items():
        if type(kind) is not str or type(names) is not dict or not set(map(type, names.values())) <= {bytes} \
                or not set(map(type, names)) <= {str}:
            return None
    return kinds, (st.st_size, st.st_mtime_ns), st.st_mtime_ns


def _write_atomic(file: str, data: bytes) -> None:
    """A temporary file in the cache folder, renamed over the target. Raises OSError."""
    folder = os.path.dirname(file)
    tmp = os.path.join(folder, ".%s.%d.%s.tmp" % (os.path.basename(file), os.getpid(), os.urandom(6).hex()))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, file)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def prune(where: str, limit: int = MAX_BYTES) -> None:
    """Keep the cache folder under `limit` bytes: remove the least recently used cache files
    (and temporary files a dead writer left behind). Never raises."""
    now = time.time_ns()
    files = []
    total = 0
    try:
        with os.scandir(where) as it:
            for entry in it:
                name = entry.name
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if name.endswith(".tmp") and name.startswith("."):
                    if now - st.st_mtime_ns > STALE_TEMP_NS:
                        _unlink(entry.path)
                    continue
                if name.endswith(SUFFIX):
                    files.append((st.st_mtime_ns, st.st_size, entry.path))
                    total += st.st_size
    except OSError:
        return
    if total <= limit:
        return
    for _, size, path in sorted(files):
        if total <= limit:
            break
        if _unlink(path):
            total -= size


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except OSError:
        return False
