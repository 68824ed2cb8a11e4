"""Stage 5, edit: change a config so the real run does what the user wants.

Holds: `solve` (candidates -> simulate through the engine -> pick -> edits), `rewrite` (apply
edits byte-preservingly, atomic writes), `shares` (balance's exact share search over integer
repeats), `balance` (the balance plan: concepts, edits, the outcome from the engine, apply) and
`renames` (folder renames with checks, a journal, finish and undo).

May import: `kohya_tune.versions`, `kohya_tune.load`, `kohya_tune.engine`, `kohya_tune.check`
(for the `Edit` type fixes share).
"""
