"""Run musubi-tuner's real ConfigSanitizer on dataset configs and print what it says.

    $MUSUBI_ORACLE/venv/bin/python tools/musubi_validation_probe.py CASES.json OUT.json [--src SRC]

CASES.json: a list of dataset-config values (the parsed TOML/JSON). OUT.json: for each, either
{"ok": true} or {"error": "Type: message"} (str of the MultipleInvalid the real code raises).
Needs the musubi oracle's venv (voluptuous 0.15.2) and source tree; the tests never run it.
"""
import json
import os
import sys


def main(argv):
    src = os.path.expanduser("~/.cache/musubi-oracle/src")
    if "--src" in argv:
        src = argv[argv.index("--src") + 1]
    sys.path.insert(0, os.path.join(src, "src"))
    import logging

    logging.disable(logging.CRITICAL)
    from musubi_tuner.dataset.config_utils import ConfigSanitizer  # noqa: E402

    sanitizer = ConfigSanitizer()
    with open(argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    out = []
    for case in cases:
        try:
            sanitizer.sanitize_user_config(case)
            out.append({"ok": True})
        except Exception as exc:  # noqa: BLE001 - the message is the product
            out.append({"error": f"{type(exc).__name__}: {exc}"})
    with open(argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main(sys.argv)
