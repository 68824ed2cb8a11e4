"""What the output stream can show: characters (a Windows console or a redirect under a legacy
code page such as cp1252 cannot print block characters) and colour (NO_COLOR / FORCE_COLOR,
https://no-color.org and https://force-color.org)."""
from __future__ import annotations

import codecs
import os
import sys


def can_encode(text: str, stream=None) -> bool:
    stream = stream or sys.stdout
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        codecs.lookup(encoding)
        text.encode(encoding)
    except (LookupError, UnicodeEncodeError):
        return False
    return True


def use_colour(stream=None) -> bool:
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return bool(getattr(stream, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"


class Glyphs:
    """Bar and chart characters, with ASCII stand-ins where the stream cannot print them."""

    def __init__(self, stream=None):
        fancy = can_encode("█▏▕─│→×", stream)
        self.bar = "█" if fancy else "#"
        self.arrow = "→" if fancy else "->"
        self.fancy = fancy


def _json_escape(error: UnicodeEncodeError):
    """An encoding error handler that writes each character the stream cannot encode as a
    JSON-style \\uXXXX escape (a surrogate pair above U+FFFF): no crash, no data lost, and JSON
    output stays valid JSON."""
    out = []
    for ch in error.object[error.start:error.end]:
        code = ord(ch)
        if code > 0xFFFF:
            code -= 0x10000
            out.append("\\u%04x\\u%04x" % (0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)))
        else:
            out.append("\\u%04x" % code)
    return "".join(out), error.end


def make_streams_safe() -> None:
    """Standard output and error under a legacy code page (cp1252 on Windows, or a redirect
    there) get the escape handler instead of raising UnicodeEncodeError on the trainer's
    Japanese messages or a bar character."""
    codecs.register_error("kohya-tune-escape", _json_escape)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None or can_encode("キ\U0001F600", stream):
            continue
        try:
            reconfigure(errors="kohya-tune-escape")
        except (ValueError, OSError):
            continue
