"""sd-scripts' own validation of a --dataset_config (voluptuous `ConfigSanitizer`), per version.

Which key is allowed at which level, required keys and types come from
`kohya_tune/versions/data/dataset_keys.json` (mirroring HEAD config_util.py L165-398); the version a key
appeared in comes from its `since`. Messages follow voluptuous' wording, e.g.
`extra keys not allowed @ data['datasets'][0]['subsets'][0]['batch_size']`.
"""
from __future__ import annotations

from dataclasses import dataclass

from kohya_tune.versions import lineage, profiles

# voluptuous.Invalid raised by validate_flex_dataset, word for word ("fine tunin" and the final
# "。" included): v0.6.5 config_util.py L239, HEAD L331-333; voluptuous adds " @ data[...]"
MIXED_MESSAGE = ("DreamBooth subset and fine tuning subset cannot be mixed in the same dataset. "
                 "Please split them into separate datasets. / DreamBoothのサブセットとfine tunin"
                 "のサブセットを同一のデータセットに混在させることはできません。別々のデータセットに"
                 "分割してください。")
# what sanitize_user_config / sanitize_argparse_namespace log before re-raising (HEAD
# config_util.py L375, L385-387): a log line, not part of the exception
USER_CONFIG_LOG = "Invalid user config / ユーザ設定の形式が正しくないようです"
NAMESPACE_LOG = ("Invalid cmdline parsed arguments. This should be a bug. / コマンドラインの"
                 "パース結果が正しくないようです。プログラムのバグの可能性が高いです。")


@dataclass
class Problem:
    keypath: tuple
    kind: str          # "extra" | "required" | "type" | "mixed" | "version" | "shape"
    message: str       # voluptuous' words
    key: str | None = None
    level: str | None = None  # where the key would be allowed ("dataset", "subset", ...)


def keys_table() -> dict:
    return profiles.load_data("dataset_keys.json")


def data_path(keypath: tuple) -> str:
    return "data" + "".join(f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in keypath)


def type_ok(value, vtype: str) -> bool:
    if vtype == "int":
        return isinstance(value, int)  # voluptuous int accepts booleans too
    if vtype == "float":
        return isinstance(value, float)
    if vtype == "bool":
        return isinstance(value, bool)
    if vtype == "str":
        return isinstance(value, str)
    if vtype == "dict":
        return isinstance(value, dict)
    if vtype == "Any(float, int)":
        return isinstance(value, (int, float))
    if vtype == "Any(None, int)":
        return value is None or isinstance(value, int)
    if vtype.startswith("ExactSequence"):
        inner = "float" if "float" in vtype else "int"
        return (isinstance(value, (list, tuple)) and len(value) == 2
                and all(type_ok(v, inner) for v in value))
    if vtype.startswith("Any(int, ExactSequence"):
        return type_ok(value, "int") or type_ok(value, "ExactSequence([int, int])")
    return True


def type_error(vtype: str, where: str) -> str:
    """voluptuous' own text for a value of the wrong type (`where` is "dictionary value" for a
    dataset config, "object value" for the argparse namespace). `Any(a, b)` reports its first
    alternative's error, a literal `None` as "not a valid value"; `ExactSequence([float, float])`
    given something else reports "expected float" at the key itself (oracle cases
    trainer-norm-resolution-toml-*, trainer-norm-toml-face-crop-ints,
    trainer-norm-args-caption-dropout-str, trainer-norm-args-max-token-float)."""
    first = vtype
    if vtype.startswith("Any(") or vtype.startswith("ExactSequence(["):
        first = vtype.split("(", 1)[1].lstrip("[").split(",")[0].strip().rstrip(")]")
    if first == "None":
        return f"not a valid value for {where}"
    return f"expected {first} for {where}"


def type_word(vtype: str) -> str:
    """The type in words, for kohya-tune's own explanations."""
    if vtype.startswith("Any(int, ExactSequence"):
        return "int or a list of two ints"
    if vtype.startswith("ExactSequence"):
        return "a list of two " + ("floats" if "float" in vtype else "ints")
    if vtype == "Any(float, int)":
        return "float or int"
    if vtype == "Any(None, int)":
        return "int"
    return vtype


def _allowed(table: dict, support: dict, level: str, sd_version: str) -> dict:
    """key -> spec for one level ("general", "dreambooth_dataset", "dreambooth_subset", ...)."""
    keys = table["keys"]
    names = set(table["allowed"].get(level, []))
    if level == "general":
        names = set()
        for name, spec in keys.items():
            if spec["level"] == "subset-only":
                continue
            groups = set(spec["groups"])
            ok = bool(groups & {"DATASET_ASCENDABLE", "SUBSET_ASCENDABLE"})
            if "DB_SUBSET_ASCENDABLE" in groups and support.get("db"):
                ok = True
            if "CN_SUBSET_ASCENDABLE" in groups and support.get("cn"):
                ok = True
            if "DO_SUBSET_ASCENDABLE" in groups:
                ok = bool(support.get("dropout"))
            if ok:
                names.add(name)
    elif not support.get("dropout", True):
        names = {n for n in names if "DO_SUBSET_ASCENDABLE" not in keys.get(n, {}).get("groups", [])}
    out = {}
    for name in names:
        spec = keys.get(name) or (table["subsets_key"] if name == "subsets" else None)
        if spec is None:
            continue
        if not lineage.applies(spec.get("since"), sd_version):
            continue
        out[name] = spec
    return out


def _since_text(since) -> str:
    """'v0.10.0', or 'v0.9.0 / b8896aad' for a key that came to two lines of sd-scripts."""
    return " / ".join(since) if isinstance(since, (list, tuple)) else str(since)


def namespace_types(sd_version: str, support: dict) -> dict:
    """Config name -> type that `sanitize_argparse_namespace` checks the argument namespace
    against: the [general] keys (config_util.py ConfigSanitizer.argparse_schema, v0.10.1
    L330-345). `resolution` and `face_crop_aug_range` are left out: prepare_dataset_args has
    turned them into tuples before the check."""
    table = keys_table()
    out = {name: spec["type"] for name, spec in _allowed(table, support, "general", sd_version).items()}
    out.pop("resolution", None)
    out.pop("face_crop_aug_range", None)
    out.update({k: v for k, v in table.get("argparse_specific", {}).items() if not k.startswith("_")})
    return out


def problems(data, sd_version: str, support: dict) -> list[Problem]:
    """Every way the trainer's validator rejects this user config (empty when it accepts it)."""
    table = keys_table()
    keys = table["keys"]
    out: list[Problem] = []
    if not isinstance(data, dict):
        return [Problem((), "shape", "expected a dictionary @ data")]

    def check_table(table_value: dict, level: str, path: tuple) -> None:
        allowed = _allowed(table, support, level, sd_version)
        for key, value in table_value.items():
            kp = path + (key,)
            if key not in allowed:
                spec = keys.get(key)
                where = None
                if spec is not None:
                    where = spec["level"]
                    if not lineage.applies(spec.get("since"), sd_version):
                        out.append(Problem(kp, "version", f"extra keys not allowed @ {data_path(kp)}",
                                           key, f"since {_since_text(spec['since'])}"))
                        continue
                out.append(Problem(kp, "extra", f"extra keys not allowed @ {data_path(kp)}", key, where))
                continue
            if key == "subsets":
                continue
            vtype = allowed[key]["type"]
            if not type_ok(value, vtype):
                out.append(Problem(kp, "type", f"{type_error(vtype, 'dictionary value')} "
                                               f"@ {data_path(kp)}", key))

    for key, value in data.items():
        if key not in ("general", "datasets"):
            out.append(Problem((key,), "extra", f"extra keys not allowed @ {data_path((key,))}", key))
    general = data.get("general")
    if general is not None:
        if isinstance(general, dict):
            check_table(general, "general", ("general",))
        else:
            out.append(Problem(("general",), "type", "expected a dictionary for dictionary value @ data['general']"))
    datasets = data.get("datasets")
    if datasets is None:
        return out
    if not isinstance(datasets, list):
        return out + [Problem(("datasets",), "type", "expected a list for dictionary value @ data['datasets']")]
    for d_index, dataset in enumerate(datasets):
        dpath = ("datasets", d_index)
        if not isinstance(dataset, dict):
            out.append(Problem(dpath, "type", f"expected a dictionary @ {data_path(dpath)}"))
            continue
        subsets = dataset.get("subsets", [])
        if not isinstance(subsets, list):
            out.append(Problem(dpath + ("subsets",), "type",
                               f"expected a list for dictionary value @ {data_path(dpath + ('subsets',))}"))
            continue
        subsets_ok = [s for s in subsets if isinstance(s, dict)]
        has_meta = [("metadata_file" in s) for s in subsets_ok]
        is_cn = bool(support.get("cn")) and all("conditioning_data_dir" in s for s in subsets_ok) and subsets_ok
        if support.get("cn_only"):
            kind = "controlnet"  # train_db with masked_loss (HEAD config_util.py L335-339)
        elif is_cn:
            kind = "controlnet"
        elif all(has_meta) and subsets_ok and support.get("ft"):
            kind = "finetuning"
        elif not any(has_meta) and support.get("db"):
            kind = "dreambooth"
        elif not any(has_meta) and support.get("cn"):
            kind = "controlnet"
        elif any(has_meta) and not all(has_meta):
            out.append(Problem(dpath, "mixed", f"{MIXED_MESSAGE} @ {data_path(dpath)}"))
            continue
        elif all(has_meta) and subsets_ok and not support.get("ft"):
            kind = "dreambooth"  # the DB schema then reports metadata_file as an extra key
        else:
            kind = "finetuning" if support.get("ft") else "dreambooth"
        check_table(dataset, f"{kind}_dataset", dpath)
        for s_index, subset in enumerate(subsets):
            spath = dpath + ("subsets", s_index)
            if not isinstance(subset, dict):
                out.append(Problem(spath, "type", f"expected a dictionary @ {data_path(spath)}"))
                continue
            check_table(subset, f"{kind}_subset", spath)
            for req in table["required"].get(f"{kind}_subset", []):
                if req not in subset:
                    rp = spath + (req,)
                    out.append(Problem(rp, "required", f"required key not provided @ {data_path(rp)}", req))
    return out


def check_user_config(doc, sd, support: dict, script: str, data=None, origin=None) -> None:
    """Raise TrainerRefusal with the trainer's message for the first problem, as sd-scripts
    stops at `sanitize_user_config` (`data`: a config the trainer generates itself, reported at
    `origin`)."""
    from kohya_tune.engine.plan import Origin, TrainerRefusal

    found = problems(doc.data if data is None else data, sd.label, support)
    if found:
        first = found[0]
        raise TrainerRefusal(f"MultipleInvalid: {first.message}",
                             Origin(doc, first.keypath) if doc is not None else origin,
                             note=f"the trainer logs \"{USER_CONFIG_LOG}\" first")
