"""What the trainer finds on disk: folder listings, its image search, image sizes.

This is the one place that lists dataset folders and reads image headers; the scan in `facts`
calls it, nothing else does.

Sources (kohya-ss/sd-scripts): `glob_images` (HEAD train_util.py L2847-2856, J23 L1496-1505),
`IMAGE_EXTENSIONS` (HEAD L104-127, versions in the sd-scripts profiles), `get_image_size`
(HEAD L1478-1491: imagesize, then PIL when imagesize gives no size; v0.6.5 L831-833: PIL only).
"""
from __future__ import annotations

import os
import stat
import struct
import sys
from dataclasses import dataclass, field

import imagesize

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
    alphabetical-order variant and solve's simulations reuse them)."""

    def __init__(self, progress=None):
        self._listings: dict[str, Listing] = {}
        self._sizes: dict[str, tuple] = {}
        self.progress = progress  # callable(done, total) or None
        self._last_folder: str | None = None
        self._last_files: set | None = None

    def listing(self, directory: str) -> Listing:
        hit = self._listings.get(directory)
        if hit is None:
            hit = self._listings[directory] = list_folder(directory)
        return hit

    def size(self, path: str, reader: str) -> tuple[int, int]:
        hit = self._sizes.get(path)
        if hit is None:
            if self._listed_file(path):
                hit = self._sizes[path] = read_listed_size(path, reader)
            else:
                hit = self._sizes[path] = read_size(path, reader)
        return hit

    def _listed_file(self, path: str) -> bool:
        """Whether `path` is a regular file (or a link to one) of a folder this Disk listed: its
        listing already answered what read_size would ask `os.stat`. (The images of a folder
        come one after another: the last folder's files are kept at hand.)"""
        head, sep, name = path.rpartition(os.sep)
        if not sep:
            return False
        if head != self._last_folder:
            listing = self._listings.get(head) or self._listings.get(head + sep)
            self._last_folder = head
            self._last_files = listing.files if listing is not None and listing.error is None else None
        files = self._last_files
        return files is not None and name in files

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


def list_folder(directory: str) -> Listing:
    """One `os.scandir` of a folder: the entry types come with the listing on Linux and Windows,
    so telling files from folders and FIFOs costs no extra system call."""
    out = Listing(directory)
    try:
        with os.scandir(directory) as it:
            for entry in it:
                name = entry.name
                out.names.append(name)
                try:
                    if entry.is_file():
                        out.files.add(name)
                    elif entry.is_dir():
                        out.dirs.append(name)
                    elif not entry.is_symlink():
                        out.special.add(name)
                except OSError:
                    continue
    except OSError as exc:
        out.error = exc.strerror or str(exc)
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
        hits = [n for n in names if n[:1] != "." and n.lower().endswith(lowered)]
    else:
        exts = tuple(extensions)
        hits = [n for n in names if n[:1] != "." and n.endswith(exts)]
    found = [prefix + n for n in hits]
    not_found: dict = {}
    if len(found) != len(names):
        known = {e.lower() for e in extensions}
        image_like = tuple(known | set(OTHER_IMAGE_EXTENSIONS))
        matched = set(hits)
        for name in names:
            lower = name.lower()
            if not lower.endswith(image_like) or name in matched:
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
        return w, h
    if w > 0 and h > 0:
        # PIL reads the same size from any header imagesize can parse (neither rotates by EXIF)
        return w, h
    return _pil_size(path, reader)


def read_listed_size(path: str, reader: str = "imagesize_pil") -> tuple[int, int]:
    """read_size for a file a folder listing found to be a regular file: the same answer
    without the `os.stat` (one system call per image, a fifth of a scan). Whenever imagesize
    does not read a size, read_size runs from the start, so every failure is reported as it
    always was (a file removed since the listing: "cannot open")."""
    try:
        w, h = imagesize.get(path)
    except Exception:  # noqa: BLE001 - read_size says what it is
        return read_size(path, reader)
    if w > 0 and h > 0 or reader == "imagesize":
        return w, h
    return read_size(path, reader)


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
