"""kohya-tune: lint, explain and fix kohya_ss / sd-scripts training configs.

The package is laid out as the data flows, one stage per subpackage; a stage imports only from
itself and the stages before it (tests/test_layout.py checks this):

    versions -> load -> engine -> check -> edit -> output

`cli` (and `settings`, the project settings it reads) sits on top and only wires them.
"""

__version__ = "0.1.0"


def version_line() -> str:
    """What `kohya-tune --version` prints."""
    return f"kohya-tune {__version__}"
