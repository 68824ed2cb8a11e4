"""How the trainer finds and reads each image's caption.

`DreamBoothDataset.read_caption` (HEAD train_util.py L1946-1970; J23 L1053-1074): for an image
`<stem>.<ext>` it tries `<stem><caption_extension>`, then the face-crop stem (the stem without its
last four "_" parts) when the stem has five or more parts; the first one that `os.path.isfile`
accepts is read. A file with no lines (0 bytes) stops the trainer with an AssertionError; an image
without a caption file is trained with the subset's class tokens (or an empty caption).

Caption files with `cache_info` come from `metadata_cache.json` instead (HEAD L1977-2000).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from kohya_tune.engine.images import Listing

EMPTY_CAPTION_MESSAGE = "AssertionError: caption file is empty / キャプションファイルが空です: {path}"

MISSING, EMPTY, READ = "missing", "empty", "read"


def candidates(image_path: str, caption_extension: str) -> list[str]:
    """The caption files `read_caption` tries for an image, in order. The face-crop fallback
    splits the whole path without its extension on "_" (HEAD L1948-1952), so underscores in the
    folder names count too and the fallback file can lie outside the image's folder."""
    base = os.path.splitext(image_path)[0]
    names = [base + caption_extension]
    tokens = base.split("_")
    if len(tokens) >= 5:
        names.append("_".join(tokens[:-4]) + caption_extension)
    return names


@dataclass
class Captions:
    """The caption of each image of a subset, as the trainer reads it."""
    files: list = field(default_factory=list)   # per image: the caption file read, or None
    empty: list = field(default_factory=list)   # caption files with no lines, in image order

    def state(self, index: int) -> str:
        path = self.files[index]
        if path is None:
            return MISSING
        return EMPTY if path in self._empty_set else READ

    @property
    def _empty_set(self) -> set:
        return set(self.empty)

    @property
    def missing(self) -> int:
        return sum(1 for f in self.files if f is None)


def read(images: list[str], listing: Listing, caption_extension: str) -> Captions:
    """The caption file of every image (full paths in `listing`'s folder). One `stat` per caption
    file found, for its size; the folder listing answers "does it exist" and "is it a file"."""
    prefix = listing.prefix
    cut = len(prefix)
    files = listing.files
    stat = os.stat
    out = Captions()
    append = out.files.append
    for img in images:
        name = img[cut:]
        dot = name.rfind(".")
        cand = (name[:dot] if dot > 0 else name) + caption_extension
        if cand in files:
            path = prefix + cand
        else:
            path = _fallback(img, caption_extension, prefix, files)
            if path is None:
                append(None)
                continue
        append(path)
        try:
            size = stat(path).st_size
        except OSError:
            continue
        if size == 0:
            out.empty.append(path)
    return out


def _fallback(image_path: str, caption_extension: str, prefix: str, files: set) -> str | None:
    """The face-crop candidate, when the first one does not exist."""
    for cand in candidates(image_path, caption_extension)[1:]:
        if cand.startswith(prefix) and os.sep not in cand[len(prefix):]:
            if cand[len(prefix):] in files:
                return cand
        elif os.path.isfile(cand):
            return cand
    return None


def from_cache(captions: list) -> Captions:
    """Captions taken from metadata_cache.json: an image whose cached caption is empty counts as
    missing (the trainer warns and trains it with an empty caption)."""
    return Captions(files=[None if not c else "metadata_cache.json" for c in captions])
