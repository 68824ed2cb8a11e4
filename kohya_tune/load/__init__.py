"""Stage 2, load: read a config file into a Document.

Holds: parsing JSON and TOML with the standard parsers while keeping the source position of every
key and value (`positions`), and telling what kind of kohya config a file is (`documents`: GUI
JSON, sd-scripts args TOML, dataset config; the GUI tab and the GUI versions its keys fit).

May import: `kohya_tune.versions` (the GUI key fingerprints that date a GUI JSON).
"""
