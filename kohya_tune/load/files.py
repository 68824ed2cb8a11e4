"""The file system as a hostile input: reading a config and asking about paths without hanging
or raising.

- A config is read only when it is a regular file: FIFOs, sockets and devices (``/dev/zero``,
  ``/dev/tty``) are refused by their type before anything opens them, and the file is opened
  non-blocking and checked again on the open descriptor (the path may change in between).
- Questions about a path (``is_dir``, ``is_file``) never raise: ``pathlib`` raises ``OSError``
  for a name longer than the system allows (ENAMETOOLONG) or a folder we may not search
  (EACCES); here such a path is simply "not a folder/file here", and `access_problem` says why
  when a caller wants to tell the user.
"""
from __future__ import annotations

import errno
import os
import stat

MAX_CONFIG_BYTES = 32 * 1024 * 1024  # the largest GUI config of the corpus is 12 kB


class FileProblem(Exception):
    """A config that cannot be read, with a message for the user (no path in it)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory, not a config file"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), not a config file: it is not opened"
    if stat.S_ISCHR(mode):
        return "is a character device, not a config file: it is not opened"
    if stat.S_ISBLK(mode):
        return "is a block device, not a config file: it is not opened"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a config file: it is not opened"
    return "is not a regular file: it is not opened"


def _os_message(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "file not found"
    if exc.errno == errno.ENAMETOOLONG:
        return "cannot read: the name is longer than this system allows (ENAMETOOLONG)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "cannot read: permission denied"
    if exc.errno == errno.ENOTDIR:
        return "file not found (a part of the path is not a folder)"
    if exc.errno == errno.ELOOP:
        return "cannot read: too many levels of symbolic links"
    return f"cannot read: {exc.strerror or exc}"


def read_config_bytes(path: str) -> bytes:
    """The bytes of a config file; FileProblem for anything that is not a readable regular file
    of a sensible size."""
    try:
        st = os.stat(path)
    except (OSError, ValueError) as exc:  # ValueError: an embedded NUL in the name
        if isinstance(exc, ValueError):
            raise FileProblem("cannot read: the name holds a NUL character") from None
        raise FileProblem(_os_message(exc)) from None
    problem = _kind(st.st_mode)
    if problem:
        raise FileProblem(problem)
    if st.st_size > MAX_CONFIG_BYTES:
        raise FileProblem(f"is {st.st_size} bytes long: not a kohya config (those are a few kB); "
                          f"kohya-tune reads at most {MAX_CONFIG_BYTES} bytes")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise FileProblem(_os_message(exc)) from None
    try:
        fst = os.fstat(fd)
        problem = _kind(fst.st_mode)  # replaced by a FIFO or device since the stat above
        if problem:
            raise FileProblem(problem)
        chunks = []
        total = 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > MAX_CONFIG_BYTES:
                raise FileProblem(f"is longer than {MAX_CONFIG_BYTES} bytes: not a kohya config")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise FileProblem("is a directory, not a config file") from None
        raise FileProblem(_os_message(exc)) from None
    finally:
        os.close(fd)


def _stat(path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (OSError, ValueError):
        return None


def is_dir(path) -> bool:
    """Like Path.is_dir, but False (never an exception) for names too long, unsearchable
    folders and NUL characters."""
    st = _stat(path)
    return st is not None and stat.S_ISDIR(st.st_mode)


def is_file(path) -> bool:
    st = _stat(path)
    return st is not None and stat.S_ISREG(st.st_mode)


def exists(path) -> bool:
    return _stat(path) is not None


def access_problem(path) -> str | None:
    """Why `path` cannot be looked at (None when it can, or when it simply does not exist)."""
    try:
        os.stat(path)
    except ValueError:
        return "the name holds a NUL character"
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        return _os_message(exc).replace("cannot read: ", "")
    return None
