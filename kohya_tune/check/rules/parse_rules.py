"""KT001: the file cannot be read or parsed. The linter core reports it while loading the file
(before any rule can run), with this rule's code, name and severity."""
from __future__ import annotations

from kohya_tune.check.rules.base import Rule


class ParseError(Rule):
    """The file cannot be read or parsed.

    kohya-tune reads JSON with Python's `json` module and TOML with the standard `tomllib`, as
    the kohya_ss GUI and sd-scripts do (sd-scripts uses `toml` 0.10.2, see KT602). A file that
    does not parse is reported at the line and column of the problem and nothing else is
    checked; the command exits 2. Common causes: a trailing comma in JSON, a key written twice,
    an unquoted Windows path in TOML (`train_data_dir = C:\\data`), a file saved in another
    encoding than UTF-8.

    Bad (TOML):

        train_data_dir = img        # a bare word is not a TOML value

    Fixed:

        train_data_dir = 'img'      # a literal string: also right for C:\\training\\img
    """
    code = "KT001"
    name = "parse-error"
    severity = "error"
    summary = "the file cannot be read or parsed (nothing else is checked)"

    def check(self, ctx):
        # a file that reaches the rules has parsed: the linter core emits KT001 while loading
        return ()
