"""sd-scripts' own validation of a --dataset_config (voluptuous `ConfigSanitizer`), per version.

Which key is allowed at which level, required keys and types come from
`kohya_tune/versions/data/dataset_keys.json` (mirroring HEAD config_util.py L165-398); the version a key
appeared in comes from its `since`. Messages follow voluptuous' wording, e.g.
`extra keys not allowed @ data['datasets'][0]['subsets'][0]['batch_size']`.
"""
from __future__ import annotations

from dataclasses import dataclass

from kohya_tune.versions import profiles

MIXED_MESSAGE = ("DreamBooth subset and fine tuning subset cannot be mixed in the same dataset. "
                 "Please split them into separate datasets. / DreamBoothのサブセットとfine tuning"
                 "のサブセットを同一のデータセットに混在させることはできません。別々のデータセットに"
                 "分割してください")


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
    if vtype.startswith("ExactSequence"):
        inner = "float" if "float" in vtype else "int"
        return (isinstance(value, (list, tuple)) and len(value) == 2
                and all(type_ok(v, inner) for v in value))
    if vtype.startswith("Any(int, ExactSequence"):
        return type_ok(value, "int") or type_ok(value, "ExactSequence([int, int])")
    return True


def type_word(vtype: str) -> str:
    if vtype.startswith("Any(int, ExactSequence"):
        return "int or a list of two ints"
    if vtype.startswith("ExactSequence"):
        return "a list of two " + ("floats" if "float" in vtype else "ints")
    if vtype == "Any(float, int)":
        return "float or int"
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
    vkey = profiles.version_key(sd_version)
    out = {}
    for name in names:
        spec = keys.get(name) or (table["subsets_key"] if name == "subsets" else None)
        if spec is None:
            continue
        if profiles.version_key(spec.get("since", "v0")) > vkey:
            continue
        out[name] = spec
    return out


def namespace_types(sd_version: str, support: dict) -> dict:
    """Config name -> type that `sanitize_argparse_namespace` checks the argument namespace
    against: the [general] keys (config_util.py ConfigSanitizer.argparse_schema, v0.10.1
    L330-345). `resolution` and `face_crop_aug_range` are left out: prepare_dataset_args has
    turned them into tuples before the check."""
    out = {name: spec["type"] for name, spec in _allowed(keys_table(), support, "general", sd_version).items()}
    out.pop("resolution", None)
    out.pop("face_crop_aug_range", None)
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
                    if profiles.version_key(spec.get("since", "v0")) > profiles.version_key(sd_version):
                        out.append(Problem(kp, "version", f"extra keys not allowed @ {data_path(kp)}",
                                           key, f"since {spec['since']}"))
                        continue
                out.append(Problem(kp, "extra", f"extra keys not allowed @ {data_path(kp)}", key, where))
                continue
            if key == "subsets":
                continue
            vtype = allowed[key]["type"]
            if not type_ok(value, vtype):
                out.append(Problem(kp, "type", f"expected {type_word(vtype)} for dictionary value "
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
        if is_cn:
            kind = "controlnet"
        elif all(has_meta) and subsets_ok and support.get("ft"):
            kind = "finetuning"
        elif not any(has_meta) and support.get("db"):
            kind = "dreambooth"
        elif not any(has_meta) and support.get("cn"):
            kind = "controlnet"
        elif any(has_meta) and not all(has_meta):
            out.append(Problem(dpath, "mixed", MIXED_MESSAGE))
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


def check_user_config(doc, sd, support: dict, script: str) -> None:
    """Raise TrainerRefusal with the trainer's message for the first problem, as sd-scripts
    stops at `sanitize_user_config`."""
    from kohya_tune.engine.plan import Origin, TrainerRefusal

    found = problems(doc.data, sd.profile, support)
    if found:
        first = found[0]
        raise TrainerRefusal(f"voluptuous MultipleInvalid: {first.message} (Invalid user config / "
                             f"ユーザ設定の形式が正しくないようです)", Origin(doc, first.keypath))
