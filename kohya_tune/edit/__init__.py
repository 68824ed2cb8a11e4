"""Stage 5, edit: change a config so the real run does what the user wants.

Holds: `solve` (candidates -> simulate through the engine -> pick -> edits) and `rewrite` (apply
edits byte-preservingly, atomic writes).

May import: `kohya_tune.versions`, `kohya_tune.load`, `kohya_tune.engine`, `kohya_tune.check`
(for the `Edit` type fixes share).
"""
