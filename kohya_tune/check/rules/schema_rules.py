"""KT1xx: what the JSON Schemas (schemas/*.json) say about keys and value types."""
from __future__ import annotations

from kohya_tune.check.diagnostics import lit
from kohya_tune.engine import dataset_schema, numbers
from kohya_tune.load import documents
from kohya_tune.versions import profiles
from kohya_tune.check import schema
from kohya_tune.check.rules.base import Rule


def _issues(ctx):
    if "schema_issues" not in ctx.extra:
        ctx.extra["schema_issues"] = schema.issues(ctx.doc)
    return ctx.extra["schema_issues"]


def _level_words(level: str | None) -> str:
    return {
        "dataset": "a dataset-level key: sd-scripts accepts it in [general] or [[datasets]], "
                   "not in [[datasets.subsets]]",
        "subset-only": "a subset-only key: sd-scripts accepts it only in [[datasets.subsets]]",
        "any": "accepted at every level",
    }.get(level or "", "")


def _table_name(keypath: tuple) -> str:
    if not keypath:
        return "the top level"
    if keypath[0] == "general":
        return "[general]"
    if keypath[0] == "datasets" and len(keypath) >= 4 and keypath[2] == "subsets":
        return f"[[datasets.subsets]] (dataset {keypath[1]}, subset {keypath[3]})"
    if keypath[0] == "datasets" and len(keypath) >= 2:
        return f"[[datasets]] (dataset {keypath[1]})"
    return f"[{keypath[0]}]"


def _network_args(ctx) -> set:
    from kohya_tune.check.rules.network_rules import misplaced_network_args

    if "network_args_misplaced" not in ctx.extra:
        plan = ctx.plan
        ctx.extra["network_args_misplaced"] = (
            {k for k, _ in misplaced_network_args(ctx.doc, plan.sd)} if plan is not None else set())
    return ctx.extra["network_args_misplaced"]


class UnknownKey(Rule):
    """Unknown key.

    A key that no version of the file's kind knows. The kohya_ss GUI ignores unknown keys when
    it loads a config, and sd-scripts keeps unknown `--config_file` keys as extra attributes
    that nothing reads: either way the setting has no effect, usually because of a typo. In a
    `--dataset_config` file the trainer refuses unknown keys (`extra keys not allowed`), so there
    it is an error.

    Bad (args TOML):

        max_train_epoch = 10      # never read: the option is max_train_epochs

    Fixed:

        max_train_epochs = 10
    """
    code = "KT101"
    name = "unknown-key"
    severity = "warning"
    summary = "key that the GUI or trainer does not know (ignored, or refused in a dataset config)"

    def check(self, ctx):
        known = schema.known_keys(ctx.doc)
        table = dataset_schema.keys_table() if ctx.doc.kind == documents.DATASET else None
        for issue in _issues(ctx):
            if issue.kind != "unknown":
                continue
            if table is not None and issue.key in table["keys"]:
                continue  # a real key at the wrong level: KT102
            if ctx.doc.kind == documents.ARGS and issue.key == "epoch":
                continue  # the GUI's own key, explained by KT204
            if ctx.doc.kind == documents.ARGS and issue.key in _network_args(ctx):
                continue  # a network module option at the top level: KT110 says where it goes
            hint = schema.suggest(issue.key, known if ctx.doc.kind != documents.DATASET
                                  else list(table["keys"]) + ["general", "datasets", "subsets"])
            tail = f"; did you mean {lit(hint)}?" if hint else ""
            if ctx.doc.kind == documents.DATASET and issue.key == "$schema":
                # an editor hint the GUI and sd-scripts' argument files ignore, but the dataset
                # validator refuses (voluptuous: extra keys not allowed, checked with v0.10.1)
                tail = ("; name the schema outside the data instead: a `#:schema URL` comment (TOML) "
                        "or `kohya-tune schemas --editor vscode|taplo DIR`")
            if ctx.doc.kind == documents.DATASET:
                yield ctx.diagnostic(self, f"unknown key {lit(issue.key)} in {_table_name(issue.keypath[:-1])}: "
                                           f"the trainer stops with \"extra keys not allowed\"{tail}",
                                     keypath=issue.keypath, severity="error")
            elif ctx.doc.kind == documents.GUI:
                yield ctx.diagnostic(self, f"unknown key {lit(issue.key)}: the GUI ignores it when "
                                           f"loading this config{tail}", keypath=issue.keypath)
            else:
                yield ctx.diagnostic(self, f"unknown key {lit(issue.key)}: sd-scripts has no such "
                                           f"option and silently ignores it{tail}",
                                     keypath=issue.keypath)


class WrongLevel(Rule):
    """Dataset config key at the wrong level.

    sd-scripts' dataset config has three levels: `[general]`, `[[datasets]]` and
    `[[datasets.subsets]]`. Dataset-level keys (`batch_size`, `resolution`, `enable_bucket`,
    bucket settings, `validation_split` ...) are not accepted inside a subset; subset-only keys
    (`image_dir`, `is_reg`, `metadata_file` ...) are accepted only inside a subset. A key at the
    wrong level makes the trainer stop with voluptuous' terse
    `extra keys not allowed @ data['datasets'][0]['subsets'][0]['batch_size']`.

    Bad:

        [[datasets]]
        resolution = 512

          [[datasets.subsets]]
          image_dir = "img/10_sks dog"
          batch_size = 4

    Fixed:

        [[datasets]]
        resolution = 512
        batch_size = 4

          [[datasets.subsets]]
          image_dir = "img/10_sks dog"
    """
    code = "KT102"
    name = "dataset-key-wrong-level"
    severity = "error"
    summary = "dataset config key at a level where sd-scripts refuses it"
    kinds = frozenset({"dataset"})

    def check(self, ctx):
        table = dataset_schema.keys_table()
        for issue in _issues(ctx):
            if issue.kind != "unknown" or issue.key not in table["keys"]:
                continue
            level = table["keys"][issue.key]["level"]
            places = {"dataset": "[general] or [[datasets]]",
                      "subset-only": "[[datasets.subsets]]",
                      "any": "[general], [[datasets]] or [[datasets.subsets]]"}.get(level, "another level")
            voluptuous = f"extra keys not allowed @ {dataset_schema.data_path(issue.keypath)}"
            yield ctx.diagnostic(self, f"{lit(issue.key)} belongs in {places}, not in "
                                       f"{_table_name(issue.keypath[:-1])}: the trainer stops with "
                                       f"\"{voluptuous}\"", keypath=issue.keypath)


class MissingRequired(Rule):
    """Required key missing.

    A dataset config subset needs `image_dir` (DreamBooth style), or `metadata_file`
    (fine-tuning style), or `image_dir` and `conditioning_data_dir` (ControlNet style). Without it
    the trainer stops with `required key not provided`.

    Bad:

        [[datasets.subsets]]
        num_repeats = 10

    Fixed:

        [[datasets.subsets]]
        image_dir = "img/10_sks dog"
        num_repeats = 10
    """
    code = "KT103"
    name = "missing-required-key"
    severity = "error"
    summary = "required key missing (the trainer stops)"

    def check(self, ctx):
        for issue in _issues(ctx):
            if issue.kind == "required":
                yield ctx.diagnostic(self, f"{_table_name(issue.keypath)} has no {lit(issue.key)}: the "
                                           f"trainer stops with \"required key not provided @ "
                                           f"{dataset_schema.data_path(issue.keypath + (issue.key,))}\"",
                                     keypath=issue.keypath)


class WrongType(Rule):
    """Value of the wrong type.

    sd-scripts never converts values that come from a file: a `--config_file` TOML becomes the
    argparse namespace as it is, and the dataset config is checked by voluptuous, which rejects
    an integer where it wants a float (`validation_split = 0`) and a float where it wants an int.
    `resolution` in an args TOML must be a string such as "512,512".

    Bad:

        max_train_steps = "1600"   # a string: the step arithmetic fails
        resolution = 512           # an int: prepare_dataset_args calls .split(",") on it

    Fixed:

        max_train_steps = 1600
        resolution = "512,512"
    """
    code = "KT104"
    name = "wrong-type"
    severity = "error"
    summary = "value type the trainer rejects or misreads"

    def check(self, ctx):
        for issue in _issues(ctx):
            if issue.kind not in ("type", "shape"):
                continue
            key = issue.key or "value"
            value = _value_at(ctx.doc.data, issue.keypath)
            if ctx.doc.kind == documents.ARGS:
                from kohya_tune.check.rules.toml_rules import quoted_number

                if quoted_number(ctx.doc, issue.keypath, value) is not None:
                    continue  # a quoted number: KT601 reports it (with a fix)
                if len(issue.keypath) == 2 and (isinstance(value, dict) or isinstance(value, list)
                                                and value and all(isinstance(v, dict) for v in value)):
                    continue  # a table nested two levels deep: KT604 reports it
            if ctx.doc.kind == documents.GUI and len(issue.keypath) == 1:
                from kohya_tune.check.rules.gui_legacy_rules import coerced_on_load

                found = coerced_on_load(ctx.settings, issue.keypath[0], value)
                if found is not None and found[2] == "invalid":
                    continue  # KT406 says what the GUI turns it into
            if ctx.doc.kind == documents.DATASET and issue.keypath == ("datasets",) and isinstance(value, dict):
                yield ctx.diagnostic(self, "datasets is a table, not a list of tables: "
                                           "[[datasets.subsets]] appears without a [[datasets]] header "
                                           "before it; add [[datasets]] (the trainer stops with "
                                           "\"expected a list for dictionary value @ data['datasets']\")",
                                     keypath=issue.keypath)
                continue
            if numbers.literal(value) in ("NaN", "Infinity", "-Infinity"):
                continue  # KT109 says what the GUI or trainer does with it
            counted = ""
            if isinstance(value, bool) and issue.expected and ("integer" in issue.expected
                                                               or "number" in issue.expected):
                counted = (f"; Python counts {str(value).lower()} as {int(value)}, and the "
                           f"trainer does not convert values from a file")
            value = _short(value)
            expected = f" (expected {issue.expected})" if issue.expected else ""
            if ctx.doc.kind == documents.GUI:
                yield ctx.diagnostic(self, f"{key} = {lit(value)} has a type no GUI version saves"
                                           f"{expected}", keypath=issue.keypath, at_value=True)
            else:
                yield ctx.diagnostic(self, f"{key} = {lit(value)}: wrong type{expected}; "
                                           f"{issue.message}{counted}", keypath=issue.keypath, at_value=True)


class LegacyValueType(Rule):
    """Legacy value type in a GUI config.

    Older kohya_ss versions saved some numbers as strings (Textbox widgets: `"clip_skip": "1"`,
    `"max_train_steps": ""`) and `max_token_length` as a string. Every GUI version reads these
    values the same way (the old ones as the strings they wrote, the new ones convert them on
    load), so this is information: re-saving the config from a current GUI, or `kohya-tune lint
    --fix` where a safe conversion exists, writes the current type. A value that a GUI turns into
    something else on load (an invalid string becomes 0, a fraction is truncated) is KT406.

    Bad:

        "clip_skip": "2",
        "max_token_length": "150"

    Fixed:

        "clip_skip": 2,
        "max_token_length": 150
    """
    code = "KT105"
    name = "legacy-value-type"
    severity = "info"   # every GUI version reads these the same; a warning where versions differ
    summary = "GUI value saved with a type only old GUI versions wrote"
    kinds = frozenset({"gui"})

    def check(self, ctx):
        from kohya_tune.check.diagnostics import Fix
        from kohya_tune.check.diagnostics import Edit
        from kohya_tune.check.rules.gui_legacy_rules import coerced_on_load

        for key, value in ctx.doc.data.items():
            if key == "xformers" and isinstance(value, bool):
                continue  # a boolean xformers is KT404 (boolean-xformers)
            found = coerced_on_load(ctx.settings, key, value)
            if found is not None:
                continue  # a value the GUI turns into something else on load: KT406 says so
            prop = schema.property_schema(ctx.doc, key)
            if not prop:
                continue
            canonical = prop.get("x-kohya-type")
            legacy = prop.get("x-kohya-legacy-types") or []
            actual = profiles.json_type(value)
            if not canonical or actual == canonical or actual not in legacy:
                continue
            if canonical == "number" and actual == "integer":
                continue
            fixed = _convert(value, canonical, key)
            fix = None
            if fixed is not _NO:
                fix = Fix(f"write {key} as {lit(fixed)}", [Edit((key,), fixed, f"legacy {actual}")])
            article = "an" if canonical[0] in "aeiou" else "a"
            yield ctx.diagnostic(self, f"{key} is saved as a {actual} ({lit(value)}); current GUI "
                                       f"versions save {article} {canonical}", keypath=(key,),
                                 at_value=True, fix=fix)


class OutsideChoices(Rule):
    """Value outside the dropdown's choices.

    From GUI v23 on (Gradio 4), a dropdown refuses a value that is not one of its choices unless
    it allows custom values: loading such a config fails or leaves the widget unchanged.

    Bad:

        "caption_extension": ".none-use-foldername"

    Fixed:

        "caption_extension": ".txt"
    """
    code = "KT106"
    name = "value-outside-choices"
    severity = "warning"
    summary = "GUI dropdown value that is not one of its choices"
    kinds = frozenset({"gui"})

    def check(self, ctx):
        for key, value in ctx.doc.data.items():
            prop = schema.property_schema(ctx.doc, key)
            if not prop or prop.get("x-kohya-allow-custom", True):
                continue
            choices = prop.get("x-kohya-choices")
            if not choices or not isinstance(value, str) or value in choices:
                continue
            if value.strip() in {str(c) for c in choices}:
                continue  # a number saved as a string: KT105 reports the legacy type
            if key == "xformers" and isinstance(value, bool):
                continue
            if key == "LoRA_type" and value == "LoCon":
                continue  # the GUI migrates it: KT403 (lora-type-locon)
            yield ctx.diagnostic(self, f"{key} = {lit(value)} is not one of the GUI's choices "
                                       f"({', '.join(map(str, choices))})", keypath=(key,), at_value=True)


class KeyTooNew(Rule):
    """Dataset config key newer than the chosen sd-scripts version.

    sd-scripts added dataset config keys over time (`caption_prefix` v0.7.0,
    `keep_tokens_separator` v0.7.1, `network_multiplier` v0.8.2, `cache_info`,
    `secondary_separator` and `enable_wildcard` v0.8.6, `caption_separator` and `alpha_mask`
    v0.9.0, `validation_split`, `validation_seed`, `custom_attributes` and
    `resize_interpolation` v0.10.0). An older trainer refuses them with
    `extra keys not allowed`. Choose the version with `--sd-scripts` or `[tool.kohya-tune]`.

    Bad (with `--sd-scripts v0.6.5`):

        [[datasets]]
        validation_split = 0.1

    Fixed: update sd-scripts, or drop the key.
    """
    code = "KT107"
    name = "dataset-key-too-new"
    severity = "error"
    summary = "dataset config key that the chosen sd-scripts version refuses"
    kinds = frozenset({"dataset"})

    def check(self, ctx):
        from kohya_tune.versions import profiles

        sd = profiles.sd_scripts(ctx.settings.sd_scripts)
        support = profiles.SANITIZER_SUPPORT[profiles.script_family(ctx.settings.script or "train_network")]
        for problem in dataset_schema.problems(ctx.doc.data, sd.profile, support):
            if problem.kind == "version":
                yield ctx.diagnostic(self, f"{lit(problem.key)} exists {problem.level} of sd-scripts; "
                                           f"sd-scripts {sd.label} stops with \"{problem.message}\"",
                                     keypath=problem.keypath)


_NO = object()


def _convert(value, canonical: str, key: str):
    if canonical in ("integer", "number") and isinstance(value, str):
        text = value.strip()
        if text == "":
            return _NO
        try:
            number = float(text)
        except ValueError:
            return _NO
        if canonical == "integer" or number.is_integer() and "." not in text and "e" not in text.lower():
            return int(number) if number.is_integer() else _NO
        return number
    if key == "xformers" and isinstance(value, bool):
        return "xformers" if value else "none"
    return _NO


class _Short:
    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text


def _short(value):
    text = lit(value)
    return _Short(text if len(text) <= 60 else text[:57] + "...")


def _value_at(data, keypath):
    for part in keypath:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data
