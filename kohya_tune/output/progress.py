"""A one-line progress count on stderr for long scans, only on a terminal (nothing is written
when output is piped or in CI). The engine calls it back; it never prints itself."""
from __future__ import annotations

import sys


class Progress:
    def __init__(self, label: str = "reading image sizes", threshold: int = 5000, stream=None):
        self.label = label
        self.threshold = threshold
        self.stream = stream or sys.stderr
        self.active = bool(getattr(self.stream, "isatty", lambda: False)())
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self.active or total < self.threshold:
            return
        if done >= total:
            if self.shown:
                self.stream.write("\r" + " " * (len(self.label) + 30) + "\r")
                self.stream.flush()
                self.shown = False
            return
        self.stream.write(f"\r{self.label}: {done}/{total} ({100 * done // total}%)")
        self.stream.flush()
        self.shown = True


def for_terminal():
    """A Progress when stderr is a terminal, else None (so the scan skips the callbacks)."""
    progress = Progress()
    return progress if progress.active else None
