"""Folder renames and file rewrites that never lose data: checks, a journal, finish and undo.

`balance --apply` renames `N_name` folders (and rewrites config files). Before anything is
touched, `check` refuses a rename whose target name exists, two names that would collide on a
case-insensitive file system (Windows, macOS), and a folder or file that cannot be written.
Then a journal (`JOURNAL_NAME`, JSON) goes into every folder whose entries are renamed (or, with
no rename, the folder of the first rewritten file), written atomically; only then do the renames
start, one `os.rename` each, followed by the file rewrites (atomic too). Whatever point a run is
killed at, every rename and every file is either in its old or its new state, and the journal
says which is which: `finish` completes the rest, `undo` restores every old name and text. A
journal stays after a successful run (state "done"), so `undo` can also take back a finished
apply as long as nothing was changed since.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import unicodedata
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

from kohya_tune.edit.rewrite import RewriteError, write_atomic

JOURNAL_NAME = ".kohya-tune-balance.json"
JOURNAL_KIND = "kohya-tune balance journal"
PENDING, DONE = "pending", "done"


class JournalError(Exception):
    """A journal that cannot be read, or a state it cannot finish or undo (nothing changed)."""


@dataclass(frozen=True)
class Rename:
    source: str      # the folder now (absolute path)
    target: str      # its new path, in the same parent folder

    @property
    def parent(self) -> str:
        return os.path.dirname(self.source)


@dataclass
class FileChange:
    path: str        # absolute path of the file
    before: str      # its text now
    after: str       # its new text


@dataclass
class Transaction:
    renames: list = field(default_factory=list)   # Rename
    files: list = field(default_factory=list)     # FileChange
    config: str = ""                              # the config the plan is for (for people)
    promised: dict = field(default_factory=dict)  # what the result must give (for people)

    @property
    def journal_dirs(self) -> list:
        dirs = list(dict.fromkeys(r.parent for r in self.renames))
        if not dirs and self.files:
            dirs = [os.path.dirname(self.files[0].path)]
        return dirs


def _fold(name: str) -> str:
    """A name as a case-insensitive file system compares it (NTFS, APFS: case and Unicode
    normalization do not tell names apart)."""
    return unicodedata.normalize("NFC", name).casefold()


def _writable(path: str) -> bool:
    return os.access(path, os.W_OK | (os.X_OK if os.path.isdir(path) else 0))


def check(tx: Transaction) -> list:
    """Why the transaction cannot be made safely (empty: it can). Touches nothing."""
    problems: list = []
    by_parent: dict = {}
    for r in tx.renames:
        by_parent.setdefault(r.parent, []).append(r)
        if os.path.dirname(r.target) != r.parent:
            problems.append(f"{r.target}: a rename must stay in the same folder")
        if not os.path.isdir(r.source):
            problems.append(f"{r.source}: the folder is not there any more")
        if os.path.lexists(r.target):
            problems.append(f"{r.target} already exists: renaming {os.path.basename(r.source)!r} "
                            f"to {os.path.basename(r.target)!r} would overwrite it; rename or "
                            f"merge it first")
        if os.path.isdir(r.source) and not _writable(r.source):
            problems.append(f"{r.source}: the folder is not writable; make it writable (and its "
                            f"parent) before balancing")
    for parent, group in by_parent.items():
        if not _writable(parent):
            problems.append(f"{parent}: the folder is not writable, so its subfolders cannot be "
                            f"renamed")
        try:
            names = os.listdir(parent)
        except OSError as exc:
            problems.append(f"{parent}: cannot list the folder: {exc.strerror or exc}")
            continue
        moving = {os.path.basename(r.source) for r in group}
        final: dict = {}
        for name in names:
            if name not in moving:
                final.setdefault(_fold(name), []).append(name)
        for r in group:
            final.setdefault(_fold(os.path.basename(r.target)), []).append(
                f"{os.path.basename(r.target)} (now {os.path.basename(r.source)})")
        for folded, clash in final.items():
            if len(clash) > 1:
                problems.append(f"{parent}: {' and '.join(repr(c) for c in clash)} would be the "
                                f"same name on a case-insensitive file system (Windows, macOS)")
    for f in tx.files:
        if not os.path.isfile(f.path):
            problems.append(f"{f.path}: the file is not there any more")
        elif not _writable(f.path) or not _writable(os.path.dirname(f.path) or "."):
            problems.append(f"{f.path}: the file (or its folder, for the atomic write) is not "
                            f"writable")
    for folder in tx.journal_dirs:
        if os.path.isdir(folder) and not _writable(folder):
            problems.append(f"{folder}: the journal cannot be written there")
    return list(dict.fromkeys(problems))


# --------------------------------------------------------------------------------------------
# the journal

def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _journal_data(tx: Transaction, state: str, ident: str, copies: list) -> dict:
    return {"kind": JOURNAL_KIND, "version": 1, "id": ident, "state": state,
            "config": tx.config, "copies": copies,
            "renames": [{"from": r.source, "to": r.target} for r in tx.renames],
            "files": [{"path": f.path, "before": f.before, "after": f.after,
                       "before_sha256": _sha(f.before), "after_sha256": _sha(f.after)}
                      for f in tx.files],
            "promised": tx.promised}


def _write_journals(data: dict) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    for path in data["copies"]:
        write_atomic(path, text)


def journal_path(directory: str) -> str:
    return os.path.join(directory, JOURNAL_NAME)


def read_journal(directory: str) -> dict:
    path = journal_path(directory) if os.path.isdir(directory) else directory
    try:
        with open(path, "r", encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise JournalError(f"{directory}: no balance journal ({JOURNAL_NAME}) here") from None
    except (OSError, ValueError) as exc:
        raise JournalError(f"{path}: cannot read the balance journal: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != JOURNAL_KIND or data.get("version") != 1:
        raise JournalError(f"{path}: not a kohya-tune balance journal (version 1)")
    try:
        data["_renames"] = [Rename(r["from"], r["to"]) for r in data["renames"]]
        data["_files"] = [FileChange(f["path"], f["before"], f["after"]) for f in data["files"]]
    except (KeyError, TypeError) as exc:
        raise JournalError(f"{path}: malformed balance journal ({exc})") from None
    data["_path"] = path
    return data


def pending_journals(directories) -> list:
    """Journals of interrupted applies (state "pending") in these folders."""
    out = []
    for directory in dict.fromkeys(directories):
        if directory and os.path.isfile(journal_path(directory)):
            try:
                data = read_journal(directory)
            except JournalError:
                continue
            if data.get("state") == PENDING:
                out.append(journal_path(directory))
    return out


# --------------------------------------------------------------------------------------------
# doing, finishing, undoing

def _rename(source: str, target: str) -> None:
    """One rename, refusing to replace anything (POSIX rename replaces an empty folder)."""
    if os.path.lexists(target):
        raise FileExistsError(f"{target} appeared while renaming: stopped")
    os.rename(source, target)


def _text_of(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def execute(tx: Transaction) -> dict:
    """Write the journal, then every rename and file. Returns the journal. Raises OSError or
    RewriteError when a step fails (the journal then says what is done: `undo` restores it)."""
    ident = uuid.uuid4().hex
    copies = [journal_path(d) for d in tx.journal_dirs]
    data = _journal_data(tx, PENDING, ident, copies)
    _write_journals(data)
    for r in tx.renames:
        _rename(r.source, r.target)
    for f in tx.files:
        write_atomic(f.path, f.after, expected=f.before)
    data["state"] = DONE
    _write_journals(data)
    return data


def _plan_states(data: dict, forward: bool) -> tuple[list, list, list]:
    """What `finish` (forward) or `undo` would do: renames, files, conflicts."""
    renames, files, conflicts = [], [], []
    for r in data["_renames"]:
        here, there = (r.source, r.target) if forward else (r.target, r.source)
        has_here, has_there = os.path.lexists(here), os.path.lexists(there)
        if has_here and not has_there:
            renames.append((here, there))
        elif has_there and not has_here:
            continue
        else:
            conflicts.append(f"{r.source} -> {r.target}: "
                             + ("both names exist" if has_here else "neither name exists"))
    for f in data["_files"]:
        now, then = (f.before, f.after) if forward else (f.after, f.before)
        current = _text_of(f.path)
        if current == now:
            files.append((f.path, then, now))
        elif current == then:
            continue
        else:
            conflicts.append(f"{f.path}: changed since the journal was written")
    return renames, files, conflicts


@dataclass
class Outcome:
    journal: str
    renames: list          # (from, to) done now
    files: list            # paths written now
    already: bool = False  # nothing was left to do
    promised: dict = field(default_factory=dict)  # what the apply promised (its journal)


def undo(directory: str) -> Outcome:
    """Put back every old name and text the journal in `directory` records; then remove the
    journal (every copy). Refuses (JournalError, nothing changed) when a name or a file is in
    neither recorded state."""
    data = read_journal(directory)
    renames, files, conflicts = _plan_states(data, forward=False)
    if conflicts:
        raise JournalError(f"{data['_path']}: cannot undo safely, nothing was changed:\n  "
                           + "\n  ".join(conflicts))
    for source, target in reversed(renames):
        _rename(source, target)
    for path, text, now in files:
        write_atomic(path, text, expected=now)
    for copy in data.get("copies") or [data["_path"]]:
        try:
            os.unlink(copy)
        except FileNotFoundError:
            pass
    return Outcome(data["_path"], renames[::-1], [p for p, _, _ in files], not renames and not files)


def finish(directory: str) -> Outcome:
    """Complete an interrupted apply: the renames and files not done yet, then state "done"."""
    data = read_journal(directory)
    renames, files, conflicts = _plan_states(data, forward=True)
    if conflicts:
        raise JournalError(f"{data['_path']}: cannot finish safely, nothing was changed:\n  "
                           + "\n  ".join(conflicts))
    for source, target in renames:
        _rename(source, target)
    for path, text, now in files:
        write_atomic(path, text, expected=now)
    data["state"] = DONE
    _write_journals({k: v for k, v in data.items() if not k.startswith("_")})
    return Outcome(data["_path"], renames, [p for p, _, _ in files], not renames and not files,
                   dict(data.get("promised") or {}))


# --------------------------------------------------------------------------------------------
# previews

class PreviewError(Exception):
    """The renamed state cannot be shown without renaming (links not allowed here)."""


def _link(source: str, link: str) -> None:
    is_dir = os.path.isdir(source)
    try:
        os.symlink(source, link, target_is_directory=is_dir)
        return
    except (OSError, NotImplementedError):
        pass
    if sys.platform == "win32":
        try:
            if is_dir:
                import _winapi

                _winapi.CreateJunction(source, link)
            else:
                os.link(source, link)
            return
        except (OSError, ImportError, AttributeError):
            pass
    if is_dir:
        raise PreviewError(f"cannot link {source} into a preview folder (symbolic links are not "
                           f"allowed here)")
    # a loose file in the root: neither the trainer nor the GUI count it; leave it out


def _remove_tree(folder: str) -> None:
    """Remove a preview folder: its entries are links, removed one by one and never followed
    (no rmtree: if a link cannot be removed, the temporary folder stays rather than risk
    reaching the images it links to)."""
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        try:
            os.unlink(path)
        except OSError:
            try:
                os.rmdir(path)   # a Windows junction
            except OSError:
                pass
    try:
        os.rmdir(folder)
    except OSError:
        pass


@contextmanager
def preview_tree(folder: str, new_names: dict):
    """A temporary folder that looks like `folder` after renaming its entries (`new_names`: old
    name -> new name): one link per entry, so listing it and the folders below shows the renamed
    state and reads the very same files. Removed afterwards."""
    folder = os.path.abspath(folder)
    shadow = tempfile.mkdtemp(prefix="kohya-tune-preview-")
    try:
        for name in os.listdir(folder):
            _link(os.path.join(folder, name), os.path.join(shadow, new_names.get(name, name)))
        yield shadow
    finally:
        _remove_tree(shadow)


@contextmanager
def preview_file(path: str, text: str):
    """A temporary copy of a file with another text, in the same folder (so relative paths in it
    resolve as in the file itself), removed afterwards."""
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    stem, ext = os.path.splitext(base)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}.kohya-tune-preview-", suffix=ext, dir=folder)
    except OSError as exc:
        raise PreviewError(f"cannot write a preview of {path} next to it: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
        yield tmp
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


__all__ = ["JOURNAL_NAME", "FileChange", "JournalError", "Outcome", "PreviewError", "Rename",
           "RewriteError", "Transaction", "check", "execute", "finish", "pending_journals",
           "preview_file", "preview_tree", "read_journal", "undo"]
