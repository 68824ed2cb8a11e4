"""Stage 4, check: diagnostics about a config.

Holds: the diagnostic types (`diagnostics`, including the `Edit`s a fix carries), JSON Schema
validation with positions (`schema`), the lint core (`linter`), and the rules (`rules/`, one
module per family; the core discovers them and knows none by name). Rules read the engine's
facts; they never list folders or open images themselves.

May import: `kohya_tune.versions`, `kohya_tune.load`, `kohya_tune.engine`.
"""
