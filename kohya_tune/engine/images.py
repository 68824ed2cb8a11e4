"""What the trainer finds on disk: folder listings, its image search, image sizes.

This is the one place that lists dataset folders and reads image headers; the scan in `facts`
calls it, nothing else does.

Sources (kohya-ss/sd-scripts): `glob_images` (HEAD train_util.py L2847-2856, J23 L1496-1505),
`IMAGE_EXTENSIONS` (HEAD L104-127, versions in the sd-scripts profiles), `get_image_size`
(HEAD L1478-1491: imagesize, then PIL when imagesize gives no size; v0.6.5 L831-833: PIL only).
"""
from __future__ import annotations

import io
import marshal
import os
import stat
import struct
import sys
import time
from dataclasses import dataclass, field

import imagesize

from kohya_tune.engine import size_cache

IMAGE_INFO_CACHE_FILE = "metadata_cache.json"  # DreamBoothDataset.IMAGE_INFO_CACHE_FILE (v0.8.6+)
# glob is case-insensitive on Windows only (fnmatch.normcase); kohya-tune follows the machine it
# runs on, as the trainer does (KT306 explains mixed-case names on Linux)
CASE_INSENSITIVE_GLOB = sys.platform == "win32"
# extensions that look like images but that the trainer does not search for (.avif and .jxl only
# with optional pillow plugins, see the profiles)
OTHER_IMAGE_EXTENSIONS = (".jfif", ".gif", ".tif", ".tiff", ".heic", ".avif", ".jxl")


class ImageSizeError(Exception):
    """The size of an image cannot be read; `message` says what the trainer would do.
    `unknown`: this machine cannot tell (PIL, the trainer's fallback, is not installed here)."""

    def __init__(self, message: str, unknown: bool = False, note: str | None = None):
        super().__init__(message)
        self.message = message
        self.unknown = unknown
        self.note = note  # kohya-tune's explanation, apart from the trainer's exception text


@dataclass
class Listing:
    """One folder as the trainer's glob and caption lookups see it."""
    directory: str
    names: list[str] = field(default_factory=list)   # every entry, in os.scandir order
    files: set = field(default_factory=set)           # entries that are regular files (or links to one)
    dirs: list[str] = field(default_factory=list)     # entries that are folders (or links to one)
    special: set = field(default_factory=set)         # FIFOs, sockets, devices: never opened
    error: str | None = None                          # why the folder could not be listed

    @property
    def prefix(self) -> str:
        d = self.directory
        return d if d.endswith(os.sep) else d + os.sep


class Disk:
    """Folder listings and image sizes, each read at most once per run (the scan of the
    alphabetical-order variant and solve's simulations reuse them). Sizes also come from the
    persistent cache (`size_cache`) while an image is unchanged; `save` writes what was added."""

    def __init__(self, progress=None):
        self._listings: dict[str, Listing] = {}
        self._sizes: dict[str, tuple] = {}
        self.progress = progress  # callable(done, total) or None
        self._cache = size_cache.current()
        self._last_folder: str | None = None
        self._last_reader: str | None = None
        self._last_files: set | None = None
        self._last_table = None
        self._last_entries: dict | None = None
        self._trusted_before = 0

    def listing(self, directory: str) -> Listing:
        hit = self._listings.get(directory)
        if hit is None:
            hit = self._listings[directory] = list_folder(directory)
        return hit

    def size(self, path: str, reader: str) -> tuple[int, int]:
        hit = self._sizes.get(path)
        if hit is None:
            hit = self._sizes[path] = self._measure(path, reader)
        return hit

    def _measure(self, path: str, reader: str) -> tuple[int, int]:
        """An image's size: from the cache when its stat is the one stored, else read (an
        image its folder listing showed as a regular file needs no `stat` first: it is opened
        and `fstat`ed, which gives the cache key too)."""
        head, sep, name = path.rpartition(os.sep)
        if head != self._last_folder or reader != self._last_reader:
            self._enter(head, sep, reader)
        entries = self._last_entries
        if entries is not None:
            rec = entries.get(name)
            if rec is not None:
                try:
                    st = os.stat(path)
                    if rec.startswith(_pack_key(st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                                                st.st_ino, st.st_dev)):
                        if len(rec) == _PLAIN_LEN and rec[_TAG] == _PLAIN_TAG:
                            return _unpack_size(rec, _TAG + 1)
                        value = _stored_size(rec)
                        if value is not None:
                            return value
                except (OSError, struct.error):
                    pass  # read below, which says what the trainer meets
        files = self._last_files
        if files is None or name not in files:
            size, st, pil = _measure_unlisted(path, reader)
        else:
            size, st, pil = _measure_listed(path, reader)
        if st is not None and entries is not None and \
                (st.st_ctime_ns if _POSIX_CTIME else st.st_mtime_ns) <= self._trusted_before:
            try:
                if pil is not None:
                    raise TypeError
                # the key, "i" and the size in one pack (the usual case)
                entries[name] = _pack_plain(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
                                            st.st_dev, _PLAIN_TAG, size[0], size[1])
            except (TypeError, struct.error):
                key = size_cache.key_of(st)
                if key is None:
                    return size
                entries[name] = key + _size_bytes(size, pil)
            self._last_table.dirty = True
        return size

    def _enter(self, head: str, sep: str, reader: str) -> None:
        """The folder (and reader) of the next images: its listing's files and its cache table
        kept at hand, since the images of a folder come one after another."""
        self._last_folder, self._last_reader = head, reader
        listing = self._listings.get(head) or self._listings.get(head + sep) if sep else None
        self._last_files = listing.files if listing is not None and listing.error is None else None
        if self._cache is None:
            return
        self._last_table = self._cache.table(head or sep or ".")
        self._last_entries = self._last_table.entries(size_kind(reader))
        if self._last_files is not None:
            self._last_table.present = self._last_files  # names gone from it are dropped on save
        # a size is stored only for a file changed before this (size_cache.trusted): taken
        # before the folder's images are read, so it is never later than any of those reads
        self._trusted_before = time.time_ns() - size_cache.RACY_NS

    def cached(self, path: str, kind: str, compute, st=None):
        """`size_cache.cached` with this Disk's cache (the one of its run; None: computed)."""
        if self._cache is None:
            return compute()
        return self._cache.cached(path, kind, compute, st)

    def save(self) -> None:
        """Write the sizes read in this run to the persistent cache (never raises)."""
        if self._cache is not None:
            self._cache.save()

    def after_renames(self, renames) -> "Disk":
        """A Disk for the same files after folders were renamed (`renames`: (old folder path,
        new folder path) pairs): every folder is listed again, and the image sizes already read
        are carried over to the images' new paths (renaming a folder does not change a file)."""
        fresh = Disk(self.progress)
        moved = [(os.path.join(old, ""), os.path.join(new, "")) for old, new in renames]
        for path, size in self._sizes.items():
            for old, new in moved:
                if path.startswith(old):
                    path = new + path[len(old):]
                    break
            fresh._sizes[path] = size
        return fresh


def size_kind(reader: str) -> str:
    """The cache's name for a size read with `reader` by this imagesize."""
    return f"image-size/{reader}/imagesize-{imagesize.__version__}"


# an image size in the cache, after the stat key: "i" + two signed 64-bit integers, or (any
# other value: imagesize gives floats for SVG; PIL's sizes carry its version) "m" + marshal bytes
_TAG = size_cache.KEY_BYTES
_PLAIN_TAG = ord("i")
_SIZE = struct.Struct("<qq")
_PLAIN_LEN = _TAG + 1 + _SIZE.size
_pack_plain = struct.Struct(size_cache.KEY_FORMAT + "Bqq").pack  # key + "i" + size
_unpack_size = _SIZE.unpack_from
_pack_key = size_cache.pack_key
_POSIX_CTIME = size_cache.POSIX_CTIME


def _size_bytes(size: tuple, pil: str | None) -> bytes:
    if pil is None and type(size[0]) is int and type(size[1]) is int:
        try:
            return b"i" + _SIZE.pack(size[0], size[1])
        except struct.error:
            pass
    return b"m" + marshal.dumps(tuple(size) if pil is None else (size[0], size[1], pil))


def _stored_size(rec: bytes) -> tuple | None:
    """A stored size that is not two plain integers, or None when it cannot be used (damaged,
    or read by another PIL than this one: PIL's answer is only good for the same PIL)."""
    if rec[_TAG:_TAG + 1] != b"m":
        return None
    try:
        value = marshal.loads(rec[_TAG + 1:])
    except Exception:  # noqa: BLE001 - damaged: read again
        return None
    if type(value) is not tuple or not all(type(v) in (int, float) for v in value[:2]):
        return None
    if len(value) == 2:
        return value
    if len(value) == 3 and value[2] == _pil_version():
        return value[:2]
    return None


def list_folder(directory: str) -> Listing:
    """One `os.scandir` of a folder: the entry types come with the listing on Linux and Windows,
    so telling files from folders and FIFOs costs no extra system call."""
    out = Listing(directory)
    entries: list = []
    try:
        with os.scandir(directory) as it:
            entries.extend(it)  # what was listed before an error is kept, as it always was
    except OSError as exc:
        out.error = exc.strerror or str(exc)
    out.names = [entry.name for entry in entries]
    try:
        out.files = {entry.name for entry in entries if entry.is_file()}
    except OSError:  # an entry that needs a stat which fails: one by one, skipping it
        out.files = set()
        for entry in entries:
            try:
                if entry.is_file():
                    out.files.add(entry.name)
            except OSError:
                continue
    if len(out.files) != len(entries):
        for entry in entries:
            name = entry.name
            if name in out.files:
                continue
            try:
                if entry.is_dir():
                    out.dirs.append(name)
                elif not entry.is_symlink():
                    out.special.add(name)
            except OSError:
                continue
    return out


def glob_images(listing: Listing, extensions: list[str]) -> tuple[list[str], dict]:
    """`glob_images(dir, "*")`: for each extension, `dir/*<ext>` (never names starting with "."),
    de-duplicated, sorted by full path string. Returns the paths and the image-like files the
    search passes over, by reason: "hidden" (a name starting with "."), "case" (a known
    extension in a spelling the case-sensitive glob does not match) and "extension" (an
    extension the trainer never searches for)."""
    prefix = listing.prefix
    names = listing.names
    if CASE_INSENSITIVE_GLOB:
        lowered = tuple(e.lower() for e in extensions)
        hits = [n for n in names if n.lower().endswith(lowered) and n[:1] != "."]
    else:
        exts = tuple(extensions)
        hits = [n for n in names if n.endswith(exts) and n[:1] != "."]
    if len(hits) != len(names):
        matched = set(hits)
        rest = [n for n in names if n not in matched]
    else:
        rest = []
    found = [prefix + n for n in hits]
    not_found: dict = {}
    if rest:
        known = {e.lower() for e in extensions}
        image_like = tuple(known | set(OTHER_IMAGE_EXTENSIONS))
        for name in rest:
            lower = name.lower()
            if not lower.endswith(image_like):
                continue
            if name.startswith("."):
                reason = "hidden"
            elif any(lower.endswith(e) for e in known):
                reason = "case"
            else:
                reason = "extension"
            not_found.setdefault(reason, []).append(name)
    found.sort()
    return found, not_found


def read_size(path: str, reader: str = "imagesize_pil") -> tuple[int, int]:
    """The size `get_image_size` reads, without EXIF rotation, with the version's reader:

    - "pil" (up to v0.8.5, v0.6.5 L831-833): PIL's `Image.open(path).size`;
    - "imagesize" (v0.8.6 to v0.9.x, v0.9.1 L1158-1159): `imagesize.get` as it is, so a header it
      does not know gives (-1, -1), which the bucket code then uses;
    - "imagesize_pil" (v0.10.0+, HEAD L1478-1491): imagesize, then PIL when the width is <= 0,
      then (0, 0) with a warning when PIL fails too.

    Raises ImageSizeError where the trainer fails (or where this machine cannot tell)."""
    w, h, _ = _read_size(path, reader)
    return w, h


def _read_size(path: str, reader: str) -> tuple[int, int, str | None]:
    """read_size, and the version of PIL when PIL gave the size (else None)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise ImageSizeError(f"cannot open {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise ImageSizeError(f"{path} is not a regular file (a FIFO, socket or device): the "
                             f"trainer would block or fail reading it as an image")
    try:
        w, h = imagesize.get(path)
    except Exception as exc:  # noqa: BLE001 - imagesize 1.4.1 lets struct.error, IndexError...
        if reader != "pil":
            # imagesize 1.4.1 lets a short or corrupt header escape; so does the trainer
            raise ImageSizeError(f"{type(exc).__name__}: {exc}",
                                 note=f"reading the header of {path}: the file is truncated or "
                                      f"corrupt") from None
        w, h = -1, -1
    if reader == "imagesize":
        return w, h, None
    if w > 0 and h > 0:
        # PIL reads the same size from any header imagesize can parse (neither rotates by EXIF)
        return w, h, None
    w, h = _pil_size(path, reader)
    return w, h, _pil_version()


# The scan opens an image once: os.open (O_NONBLOCK, so a file that became a FIFO since the
# listing cannot block), fstat (the cache key, and "is it still a regular file"), then the first
# HEAD_BYTES given to imagesize as a BytesIO, which imagesize 1.4.1 reads as it reads a file.
# When imagesize reads up to the end of those bytes and the file has more, more is read (up to
# MAX_HEAD) and imagesize runs again; anything else unusual goes to read_size, from the start.
HEAD_BYTES = 4096
MAX_HEAD = 1 << 20
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


class _Head(io.BytesIO):
    """The first `end` bytes of a longer file; `beyond` tells whether a read reached their end
    (then imagesize's answer might need bytes it did not get). A whole file is a plain BytesIO."""
    end = 0
    beyond = False

    def read(self, size=-1):
        out = io.BytesIO.read(self, size)
        if self.tell() >= self.end:
            self.beyond = True
        return out

    def readline(self, size=-1):
        out = io.BytesIO.readline(self, size)
        if self.tell() >= self.end:
            self.beyond = True
        return out


def _header_size(fd: int, file_size: int) -> tuple | None:
    """imagesize's answer from the open file `fd`, or None (read_size answers instead)."""
    want = HEAD_BYTES
    data = b""
    while True:
        complete = False
        while len(data) < want:
            more = os.read(fd, want - len(data))
            data += more
            if not more or len(data) >= file_size:
                complete = True  # the end of the file (as fstat saw it, or as read finds it)
                break
        if complete:
            buf = io.BytesIO(data)
        else:
            buf = _Head(data)
            buf.end = len(data)
        try:
            size = imagesize.get(buf)
        except Exception:  # noqa: BLE001 - read_size reports it, from the start
            size = None
        if complete or not buf.beyond:
            return size
        if want >= MAX_HEAD:
            return None
        want *= 16


def _measure_listed(path: str, reader: str):
    """(size, its fstat or None, PIL version or None) of an image its folder listing showed as
    a regular file (or a link to one). The same answers as read_size (tests/test_fast_paths)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return read_size(path, reader), None, None  # gone since the listing: read_size says so
    try:
        st = os.fstat(fd)
        regular = stat.S_ISREG(st.st_mode)
        size = _header_size(fd, st.st_size) if regular else None
    except OSError:
        regular, size = False, None
    finally:
        os.close(fd)
    if not regular:
        return read_size(path, reader), None, None
    if size is not None and (reader == "imagesize" or size[0] > 0 and size[1] > 0):
        return size, st, None
    w, h, pil = _read_size(path, reader)
    return (w, h), st, pil


def _measure_unlisted(path: str, reader: str):
    """The same for an image outside the folders listed (a fine-tuning metadata entry): stat
    first, as the trainer's reader never opens what is not a regular file."""
    try:
        st = os.stat(path)
    except OSError:
        return read_size(path, reader), None, None
    if not stat.S_ISREG(st.st_mode):
        return read_size(path, reader), None, None
    return _measure_listed(path, reader)


_PIL_VERSION: list = []


def _pil_version() -> str | None:
    """The installed PIL's version (None: not installed), asked once."""
    if not _PIL_VERSION:
        try:
            import PIL
            _PIL_VERSION.append(getattr(PIL, "__version__", "?"))
        except ImportError:
            _PIL_VERSION.append(None)
    return _PIL_VERSION[0]


def _pil_size(path: str, reader: str) -> tuple[int, int]:
    try:
        from PIL import Image  # optional: the trainer's fallback (and the only reader up to v0.8.5)
    except ImportError:
        raise ImageSizeError(f"imagesize cannot read the header of {path}; the trainer would ask "
                             f"PIL, which is not installed here (pip install pillow), so its "
                             f"size is unknown", unknown=True) from None
    try:
        with Image.open(path) as im:
            return im.size
    except Exception as exc:  # noqa: BLE001 - any failure here is the trainer's failure too
        if reader == "imagesize_pil":
            return 0, 0  # HEAD: "failed to get image size" warning, then (0, 0)
        raise ImageSizeError(f"{type(exc).__name__}: {exc}", note=f"opening {path}") from None
