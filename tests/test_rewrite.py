"""Tests of kohya_tune.rewrite: minimal edits of JSON and TOML config files.

Every test writes a file, loads it with documents.load, applies edits and compares the result byte
for byte with what the file should become (usually built independently of the rewriter, e.g. with
json.dumps the way the GUI writes its files).
"""
from __future__ import annotations

import difflib
import json
import os
import stat
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kohya_tune.load import documents
from kohya_tune.edit.rewrite import Edit, RewriteError, apply_edits, render_value, unified_diff, write_atomic

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "corpus"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def edit(tmp_path: Path, name: str, text: str, edits: list[Edit]) -> str:
    path = write(tmp_path, name, text)
    return apply_edits(documents.load(str(path)), edits)


def changed_lines(old: str, new: str) -> list[tuple[str, list[bytes], list[bytes]]]:
    """Non-equal opcodes of a byte-level line diff (lines keep their endings)."""
    a = old.encode("utf-8").splitlines(keepends=True)
    b = new.encode("utf-8").splitlines(keepends=True)
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            out.append((tag, a[i1:i2], b[j1:j2]))
    return out


# --------------------------------------------------------------------------------------------
# JSON

GUI_LIKE = {
    "LoRA_type": "Standard",
    "caption_extension": ".txt",
    "epoch": 10,
    "learning_rate": 0.0001,
    "max_resolution": "512,512",
    "max_train_steps": "",
    "network_dim": 8,
    "output_name": "caf\u00e9",
    "train_data_dir": "C:\\data\\img",
    "unet_lr": 1e-05,
    "xformers": "xformers",
}


def gui_dump(data: dict) -> str:
    # what the GUI (v21.8+) writes: json.dump(indent=2, sort_keys=True), no final newline
    return json.dumps(data, indent=2, sort_keys=True)


def test_json_gui_sorted_replace_add_and_string_to_int(tmp_path):
    old = gui_dump(GUI_LIKE)
    new = edit(tmp_path, "gui.json", old, [
        Edit(("epoch",), 24),
        Edit(("max_train_epochs",), 10, after=("epoch",)),
        Edit(("max_train_steps",), 0),
    ])
    want = dict(GUI_LIKE, epoch=24, max_train_epochs=10, max_train_steps=0)
    assert new == gui_dump(want)
    assert list(json.loads(new)) == sorted(want)
    # the escapes elsewhere are untouched
    assert '"C:\\\\data\\\\img"' in new and '"caf\\u00e9"' in new


def test_json_sorted_add_first_and_last_position(tmp_path):
    old = gui_dump(GUI_LIKE)
    new = edit(tmp_path, "gui.json", old, [Edit(("A_first",), True), Edit(("zz_last",), "z")])
    assert new == gui_dump(dict(GUI_LIKE, A_first=True, zz_last="z"))


def test_json_add_two_keys_at_the_same_sorted_position(tmp_path):
    old = gui_dump(GUI_LIKE)
    new = edit(tmp_path, "gui.json", old, [Edit(("max_train_z",), 2), Edit(("max_train_a",), 1)])
    assert new == gui_dump(dict(GUI_LIKE, max_train_a=1, max_train_z=2))


OLD_STYLE = {  # kohya_ss v21.5 presets: insertion order, 4-space indent
    "pretrained_model_name_or_path": "runwayml/stable-diffusion-v1-5",
    "v2": False,
    "max_resolution": "576,576",
    "learning_rate": "1.0",
    "epoch": 1,
    "save_every_n_epochs": 1,
    "seed": "31337",
}


def test_json_unsorted_add_after_and_at_end(tmp_path):
    old = json.dumps(OLD_STYLE, indent=4)
    new = edit(tmp_path, "old.json", old, [
        Edit(("max_train_epochs",), 10, after=("epoch",)),
        Edit(("max_train_steps",), 0, after=("max_train_epochs",)),
        Edit(("zeta",), 1.5),  # no `after`: at the end (comma on the previous member)
        Edit(("learning_rate",), "2.0"),
    ])
    want = {}
    for key, value in OLD_STYLE.items():
        want[key] = value
        if key == "epoch":
            want["max_train_epochs"] = 10
            want["max_train_steps"] = 0
    want["learning_rate"] = "2.0"
    want["zeta"] = 1.5
    assert new == json.dumps(want, indent=4)


def test_json_two_adds_after_the_same_key_keep_edit_order(tmp_path):
    old = json.dumps(OLD_STYLE, indent=4)
    new = edit(tmp_path, "old.json", old, [Edit(("a",), 1, after=("v2",)), Edit(("b",), 2, after=("v2",))])
    keys = list(json.loads(new))
    assert keys[keys.index("v2"):keys.index("v2") + 3] == ["v2", "a", "b"]


def test_json_crlf_and_final_newline_kept(tmp_path):
    old = json.dumps(GUI_LIKE, indent=2, sort_keys=True).replace("\n", "\r\n") + "\r\n"
    new = edit(tmp_path, "crlf.json", old, [Edit(("epoch",), 24)])
    ops = changed_lines(old, new)
    assert ops == [("replace", [b'  "epoch": 10,\r\n'], [b'  "epoch": 24,\r\n'])]
    new = edit(tmp_path, "crlf.json", old, [Edit(("max_train_epochs",), 10)])
    assert changed_lines(old, new) == [("insert", [], [b'  "max_train_epochs": 10,\r\n'])]
    assert new.endswith("}\r\n") and "\n" not in new.replace("\r\n", "")


def test_json_bom_kept(tmp_path):
    old = "\ufeff" + gui_dump(GUI_LIKE)
    path = write(tmp_path, "bom.json", old)
    new = apply_edits(documents.load(str(path)), [Edit(("epoch",), 24), Edit(("a_new",), 1)])
    assert new == "\ufeff" + gui_dump(dict(GUI_LIKE, epoch=24, a_new=1))
    write_atomic(str(path), new)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf{\n")


def test_json_no_final_newline_and_last_member(tmp_path):
    old = '{\n  "a": 1,\n  "epoch": 10\n}'
    assert edit(tmp_path, "x.json", old, [Edit(("epoch",), 24)]) == '{\n  "a": 1,\n  "epoch": 24\n}'
    assert edit(tmp_path, "x.json", old, [Edit(("z",), 2)]) == '{\n  "a": 1,\n  "epoch": 10,\n  "z": 2\n}'


def test_json_empty_objects(tmp_path):
    assert edit(tmp_path, "e.json", "{}", [Edit(("a",), 1)]) == '{"a": 1}'
    assert edit(tmp_path, "e.json", "{}\n", [Edit(("a",), 1)]) == '{"a": 1}\n'
    old = '{\n  "o": {},\n  "p": 1\n}\n'
    assert edit(tmp_path, "e.json", old, [Edit(("o", "k"), "v")]) == '{\n  "o": {\n    "k": "v"\n  },\n  "p": 1\n}\n'
    old = '{\r\n    "o": {\r\n    }\r\n}'
    assert edit(tmp_path, "e.json", old, [Edit(("o", "k"), 1)]) == '{\r\n    "o": {\r\n        "k": 1\r\n    }\r\n}'


def test_json_one_line_file(tmp_path):
    old = '{"b": 1, "d": 2}'
    assert edit(tmp_path, "o.json", old, [Edit(("c",), 3)]) == '{"b": 1, "c": 3, "d": 2}'
    assert edit(tmp_path, "o.json", old, [Edit(("e",), 3)]) == '{"b": 1, "d": 2, "e": 3}'
    assert edit(tmp_path, "o.json", '{"b":1}', [Edit(("c",), 3)]) == '{"b":1, "c":3}'


def test_json_non_ascii_added_as_escapes(tmp_path):
    old = gui_dump({"a": 1, "b": 2})
    new = edit(tmp_path, "u.json", old, [Edit(("a",), "\u00e9t\u00e9"), Edit(("c",), "\u65e5")])
    assert new == gui_dump({"a": "\u00e9t\u00e9", "b": 2, "c": "\u65e5"})  # ensure_ascii=True
    # a file written with raw UTF-8 text keeps writing raw text
    old = json.dumps({"a": "caf\u00e9", "b": 1}, indent=2, ensure_ascii=False)
    new = edit(tmp_path, "u.json", old, [Edit(("b",), "\u00e9")])
    assert new == json.dumps({"a": "caf\u00e9", "b": "\u00e9"}, indent=2, ensure_ascii=False)


def test_json_remove_members(tmp_path):
    data = {"a": 1, "b": 2, "c": 3}
    old = json.dumps(data, indent=2)
    for key in data:
        rest = {k: v for k, v in data.items() if k != key}
        assert edit(tmp_path, "r.json", old, [Edit((key,), None)]) == json.dumps(rest, indent=2)
    assert edit(tmp_path, "r.json", old, [Edit(("a",), None), Edit(("b",), None)]) == json.dumps({"c": 3}, indent=2)
    assert edit(tmp_path, "r.json", '{\n  "a": 1\n}', [Edit(("a",), None)]) == "{}"
    assert edit(tmp_path, "r.json", old, [Edit(("missing",), None)]) == old


def test_json_nested_dataset_form(tmp_path):
    data = {"datasets": [{"subsets": [{"image_dir": "a", "num_repeats": 1}]},
                         {"subsets": [{"image_dir": "b", "num_repeats": 2}]}]}
    old = json.dumps(data, indent=2)
    new = edit(tmp_path, "ds.json", old, [Edit(("datasets", 1, "subsets", 0, "num_repeats"), 5)])
    data["datasets"][1]["subsets"][0]["num_repeats"] = 5
    assert new == json.dumps(data, indent=2)


# --------------------------------------------------------------------------------------------
# TOML

COMMENTED = """\
# training arguments
# (hand-written)

pretrained_model_name_or_path = "C:\\\\models\\\\sd15.safetensors"
# how long to train
max_train_epochs = 10 # was 8
learning_rate = 1e-4   # SD 1.5
output_name = 'caf\\u00e9 run'  # a literal string: the backslash stays
caption = "caf\\u00e9"
"""


def test_toml_comments_on_and_around_the_line(tmp_path):
    new = edit(tmp_path, "c.toml", COMMENTED, [Edit(("max_train_epochs",), 24)])
    assert new == COMMENTED.replace("max_train_epochs = 10 # was 8", "max_train_epochs = 24 # was 8")
    new = edit(tmp_path, "c.toml", COMMENTED, [Edit(("learning_rate",), 5e-05)])
    assert new == COMMENTED.replace("learning_rate = 1e-4   #", "learning_rate = 5e-5   #")
    new = edit(tmp_path, "c.toml", COMMENTED, [Edit(("output_name",), "new")])
    assert new == COMMENTED.replace("'caf\\u00e9 run'", "'new'")
    new = edit(tmp_path, "c.toml", COMMENTED, [Edit(("output_name",), "it's")])
    assert new == COMMENTED.replace("'caf\\u00e9 run'", '"it\'s"')


def test_toml_add_after_and_at_end_of_root(tmp_path):
    new = edit(tmp_path, "c.toml", COMMENTED, [Edit(("max_train_steps",), 0, after=("max_train_epochs",))])
    assert new == COMMENTED.replace("# was 8\n", "# was 8\nmax_train_steps = 0\n")
    new = edit(tmp_path, "c.toml", COMMENTED, [Edit(("seed",), 42)])
    assert new == COMMENTED + "seed = 42\n"


def test_toml_remove_line_with_its_comment(tmp_path):
    new = edit(tmp_path, "c.toml", COMMENTED, [Edit(("max_train_epochs",), None)])
    assert new == COMMENTED.replace("max_train_epochs = 10 # was 8\n", "")
    old = "a = 1\nb = 2 # last"
    assert edit(tmp_path, "r.toml", old, [Edit(("b",), None)]) == "a = 1"
    assert edit(tmp_path, "r.toml", old, [Edit(("a",), None)]) == "b = 2 # last"


SECTIONED = """\
[model]
pretrained_model_name_or_path = "model.safetensors"

[training]
  max_train_steps = 1600  # steps
  learning_rate = 0.0001

[saving]
output_dir = "out"
"""


def test_toml_sectioned(tmp_path):
    new = edit(tmp_path, "s.toml", SECTIONED, [
        Edit(("training", "max_train_steps"), 2000),
        Edit(("training", "max_train_epochs"), 10, after=("training", "max_train_steps")),
        Edit(("saving", "save_every_n_epochs"), 1),
    ])
    want = SECTIONED.replace(
        "  max_train_steps = 1600  # steps\n",
        "  max_train_steps = 2000  # steps\n  max_train_epochs = 10\n",
    ).replace('output_dir = "out"\n', 'output_dir = "out"\nsave_every_n_epochs = 1\n')
    assert new == want
    # no `after`: after the last key of the table, before the blank line and the next header
    new = edit(tmp_path, "s.toml", SECTIONED, [Edit(("training", "seed"), 1)])
    assert new == SECTIONED.replace("  learning_rate = 0.0001\n", "  learning_rate = 0.0001\n  seed = 1\n")


def test_toml_root_without_keys(tmp_path):
    new = edit(tmp_path, "s.toml", SECTIONED, [Edit(("max_train_epochs",), 10)])
    assert new == "max_train_epochs = 10\n" + SECTIONED
    old = "# header comment\n# second line\n\n# about the model\n" + SECTIONED
    new = edit(tmp_path, "s.toml", old, [Edit(("max_train_epochs",), 10)])
    assert new == "# header comment\n# second line\nmax_train_epochs = 10\n\n# about the model\n" + SECTIONED
    assert tomllib.loads(new)["max_train_epochs"] == 10
    assert edit(tmp_path, "e.toml", "", [Edit(("a",), 1)]) == "a = 1\n"
    assert edit(tmp_path, "e.toml", "# only a comment", [Edit(("a",), 1)]) == "# only a comment\na = 1"


def test_toml_root_with_keys_before_tables(tmp_path):
    old = "a = 1 # x\n\n[t]\nb = 2\n"
    assert edit(tmp_path, "r.toml", old, [Edit(("c",), 3)]) == "a = 1 # x\nc = 3\n\n[t]\nb = 2\n"


DATASET = """\
[general]
enable_bucket = true                        # whether to use Aspect Ratio Bucketing

[[datasets]]
resolution = 512
batch_size = 4

  [[datasets.subsets]]
  image_dir = 'C:\\hoge'
  num_repeats = 10

[[datasets]]
resolution = [768, 768]
batch_size = 2

  [[datasets.subsets]]
  image_dir = 'C:\\fuga'
  num_repeats = 1 # few images

  [[datasets.subsets]]
  image_dir = 'C:\\piyo'
  is_reg = true
"""


def test_toml_array_of_tables(tmp_path):
    new = edit(tmp_path, "d.toml", DATASET, [Edit(("datasets", 1, "subsets", 0, "num_repeats"), 3)])
    assert new == DATASET.replace("num_repeats = 1 # few images", "num_repeats = 3 # few images")
    new = edit(tmp_path, "d.toml", DATASET, [
        Edit(("datasets", 1, "subsets", 1, "num_repeats"), 2),
        Edit(("datasets", 0, "keep_tokens"), 1, after=("datasets", 0, "resolution")),
        Edit(("datasets", 1, "subsets", 0, "image_dir"), "D:\\new"),
    ])
    want = (DATASET
            .replace("  is_reg = true\n", "  is_reg = true\n  num_repeats = 2\n")
            .replace("resolution = 512\n", "resolution = 512\nkeep_tokens = 1\n")
            .replace("'C:\\fuga'", "'D:\\new'"))
    assert new == want


def test_toml_crlf(tmp_path):
    old = DATASET.replace("\n", "\r\n")
    new = edit(tmp_path, "d.toml", old, [Edit(("datasets", 1, "subsets", 0, "num_repeats"), 3)])
    assert changed_lines(old, new) == [("replace", [b"  num_repeats = 1 # few images\r\n"],
                                        [b"  num_repeats = 3 # few images\r\n"])]
    new = edit(tmp_path, "d.toml", old, [Edit(("general", "shuffle_caption"), True)])
    assert changed_lines(old, new) == [("insert", [], [b"shuffle_caption = true\r\n"])]


def test_toml_no_final_newline(tmp_path):
    old = "a = 1\r\nb = 2"
    assert edit(tmp_path, "n.toml", old, [Edit(("b",), 3)]) == "a = 1\r\nb = 3"
    assert edit(tmp_path, "n.toml", old, [Edit(("c",), 3)]) == "a = 1\r\nb = 2\r\nc = 3"


def test_toml_bom(tmp_path):
    old = "\ufeffa = 1\n[t]\nb = 2\n"
    assert edit(tmp_path, "b.toml", old, [Edit(("a",), 2), Edit(("t", "c"), 3)]) == "\ufeffa = 2\n[t]\nb = 2\nc = 3\n"
    assert edit(tmp_path, "b.toml", "\ufeff[t]\n", [Edit(("a",), 1)]) == "\ufeffa = 1\n[t]\n"


def test_toml_bom_without_final_newline(tmp_path):
    assert edit(tmp_path, "b.toml", "\ufeffa = 0", [Edit(("b",), 1)]) == "\ufeffa = 0\nb = 1"
    assert edit(tmp_path, "b.toml", "\ufeffa = 0\r\nb = 1", [Edit(("b",), None)]) == "\ufeffa = 0"


def test_toml_values_inside_arrays_and_inline_tables(tmp_path):
    old = "resolution = [512, 768] # w, h\nopt = { lr = 1.0, beta = 0.9 }\n"
    new = edit(tmp_path, "v.toml", old, [Edit(("resolution", 1), 512), Edit(("opt", "lr"), 0.5)])
    assert new == "resolution = [512, 512] # w, h\nopt = { lr = 0.5, beta = 0.9 }\n"
    with pytest.raises(RewriteError):
        edit(tmp_path, "v.toml", old, [Edit(("opt", "new"), 1)])  # inline tables are not extended


# --------------------------------------------------------------------------------------------
# errors, rendering, diff, writing

def test_errors(tmp_path):
    old = gui_dump(GUI_LIKE)
    with pytest.raises(RewriteError):
        edit(tmp_path, "e.json", old, [Edit(("epoch",), 1), Edit(("epoch",), 2)])
    with pytest.raises(RewriteError):
        edit(tmp_path, "e.json", old, [Edit(("epoch",), float("nan"))])
    with pytest.raises(RewriteError):
        edit(tmp_path, "e.json", old, [Edit(("epoch", "x"), 1)])  # epoch is no object
    with pytest.raises(RewriteError):
        edit(tmp_path, "e.toml", "a = 1\n", [Edit(("a",), {"x": 1})])
    with pytest.raises(RewriteError):
        edit(tmp_path, "e.toml", "a = 1\n", [Edit(("t", "b"), 1)])  # no such table


def test_unchanged_value_keeps_literal(tmp_path):
    old = "lr = 1e-4\n"
    assert edit(tmp_path, "u.toml", old, [Edit(("lr",), 0.0001)]) == old


def test_render_value():
    assert render_value("json", "10", like='"8"') == '"10"'
    assert render_value("json", 10, like='"8"') == "10"
    assert render_value("json", 1e-05) == "1e-05"
    assert render_value("json", "\u00e9") == '"\\u00e9"'
    assert render_value("json", "C:\\x") == '"C:\\\\x"'
    assert render_value("json", 3.0, like="1e-4") == "3e+0"
    assert render_value("toml", "x", like="'y'") == "'x'"
    assert render_value("toml", "it's", like="'y'") == '"it\'s"'
    assert render_value("toml", "a\tb\x7f") == '"a\\tb\\u007f"'
    assert render_value("toml", True) == "true"
    assert render_value("toml", 1e-05) == "1e-05"
    assert render_value("toml", 1.5e-4, like="2E-4") == "1.5E-4"
    assert render_value("toml", 24.0) == "24.0"
    assert render_value("toml", float("inf")) == "inf"
    assert render_value("toml", [1, "a"]) == '[1, "a"]'
    for value in (0.1, 1e-05, 1e16, 1e300, 5e-324, -0.0, 24.0, 123456789.0):
        for like in (None, "1e-4", "0.5"):
            text = render_value("toml", value, like=like)
            assert any(c in text for c in ".eE"), text
            assert tomllib.loads(f"v = {text}")["v"] == value
            assert json.loads(render_value("json", value, like=like)) == value


def test_unified_diff_crlf_and_no_final_newline():
    old = "a = 1\r\nb = 2\r\n"
    new = "a = 1\r\nb = 3\r\n"
    diff = unified_diff("cfg/x.toml", old, new)
    assert diff.startswith("--- a/cfg/x.toml\n+++ b/cfg/x.toml\n@@ -1,2 +1,2 @@\n")
    assert " a = 1\r\n-b = 2\r\n+b = 3\r\n" in diff
    assert diff.count("\n") == 6  # no line split at the '\r'
    diff = unified_diff("x.json", "{\n}", "{\n }")
    assert diff.endswith("-}\n\\ No newline at end of file\n+ }\n\\ No newline at end of file\n")
    assert unified_diff("x", old, old) == ""


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_write_atomic_keeps_mode_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "cfg.toml"
    path.write_bytes(b"a = 1\r\n")
    os.chmod(path, 0o640)
    text = "\ufeffa = 2\r\nb = '\u00e9'\n"
    write_atomic(str(path), text)
    assert path.read_bytes() == text.encode("utf-8")  # exact: BOM, CRLF and LF as given
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.toml"]
    # through a symlink: the link stays, its target is replaced
    link = tmp_path / "link.toml"
    link.symlink_to(path)
    write_atomic(str(link), "a = 3\n")
    assert link.is_symlink() and path.read_text() == "a = 3\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.toml", "link.toml"]


# --------------------------------------------------------------------------------------------
# property test: replacing one int in a random flat file changes exactly that value

KEYS = st.from_regex(r"[a-z_][a-z0-9_]{0,7}", fullmatch=True)
SCALARS = st.one_of(
    st.integers(-10**6, 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8) | st.sampled_from(["C:\\data\\img", "caf\u00e9", 'q"q']),
)
STYLE = st.fixed_dictionaries({
    "indent": st.sampled_from(["", " ", "  ", "    ", "\t"]),
    "newline": st.sampled_from(["\n", "\r\n"]),
    "final_newline": st.booleans(),
    "bom": st.booleans(),
    "eq": st.sampled_from([" = ", "=", "  =  "]),
    "comments": st.booleans(),
    "ensure_ascii": st.booleans(),
})


def json_text(data: dict, style: dict) -> str:
    if not style["indent"]:
        text = json.dumps(data, ensure_ascii=style["ensure_ascii"])
    else:
        text = json.dumps(data, indent=style["indent"], ensure_ascii=style["ensure_ascii"])
    text = text.replace("\n", style["newline"])  # json.dumps escapes newlines inside strings
    return ("\ufeff" if style["bom"] else "") + text + (style["newline"] if style["final_newline"] else "")


def toml_text(data: dict, style: dict) -> str:
    lines = ["# generated"] if style["comments"] else []
    for i, (key, value) in enumerate(data.items()):
        line = style["indent"] + key + style["eq"] + render_value("toml", value)
        if style["comments"] and i % 2 == 0:
            line += f"  # note {i} = 7"
        lines.append(line)
    text = style["newline"].join(lines)
    return ("\ufeff" if style["bom"] else "") + text + (style["newline"] if style["final_newline"] else "")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.dictionaries(KEYS, SCALARS, min_size=0, max_size=8), target=KEYS,
       old_value=st.integers(-10**9, 10**9), new_value=st.integers(-10**9, 10**9),
       position=st.integers(0, 8), style=STYLE, fmt=st.sampled_from(["json", "toml"]))
def test_property_replace_one_int(data, target, old_value, new_value, position, style, fmt):
    items = [(k, v) for k, v in data.items() if k != target]
    items.insert(min(position, len(items)), (target, old_value))
    before = dict(items)
    after = dict(before)
    after[target] = new_value
    make = json_text if fmt == "json" else toml_text
    old, want = make(before, style), make(after, style)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"cfg.{fmt}"
        path.write_bytes(old.encode("utf-8"))
        doc = documents.load(str(path))
        assert doc.data == before
        new = apply_edits(doc, [Edit((target,), new_value)])
    assert new == want


# --------------------------------------------------------------------------------------------
# the corpus: every GUI JSON and args TOML takes "max_train_epochs = 10" in one line

def corpus_files() -> list[Path]:
    files = []
    index = json.loads((CORPUS / "kohya_ss" / "index.json").read_text(encoding="utf-8"))
    for entry in index["files"]:
        if entry["kind"] == "GUI config (JSON)":
            files.append(CORPUS / "kohya_ss" / entry["tag"] / entry["path"])
    index = json.loads((CORPUS / "sd-scripts" / "index.json").read_text(encoding="utf-8"))
    for entry in index["files"]:
        if entry.get("kind") == "training-args config (--config_file)":
            files.append(CORPUS / "sd-scripts" / entry["file"])
    return files


CORPUS_FILES = corpus_files()


def test_corpus_has_files():
    assert sum(p.suffix == ".json" for p in CORPUS_FILES) > 300
    assert sum(p.suffix == ".toml" for p in CORPUS_FILES) == 2


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[str(p.relative_to(CORPUS)) for p in CORPUS_FILES])
def test_corpus_set_max_train_epochs(path, tmp_path):
    doc = documents.load(str(path))
    assert doc.text.encode("utf-8") == path.read_bytes()
    before = doc.data
    new = apply_edits(doc, [Edit(("max_train_epochs",), 10, after=("max_train_steps",))])
    parsed = json.loads(new.lstrip("\ufeff")) if doc.format == "json" else tomllib.loads(new.lstrip("\ufeff"))
    assert parsed == dict(before, max_train_epochs=10)
    assert type(parsed["max_train_epochs"]) is int
    ops = changed_lines(doc.text, new)
    if before.get("max_train_epochs") == 10 and type(before["max_train_epochs"]) is int:
        assert ops == []
    elif "max_train_epochs" in before:
        assert len(ops) == 1 and ops[0][0] == "replace" and len(ops[0][1]) == len(ops[0][2]) == 1
        old_line, new_line = ops[0][1][0], ops[0][2][0]
        sep = b":" if doc.format == "json" else b"="
        assert b"max_train_epochs" in old_line and new_line.split(sep)[0] == old_line.split(sep)[0]
        assert b"10" in new_line.split(sep, 1)[1]
    else:
        assert len(ops) == 1
        tag, removed, added = ops[0]
        if tag == "insert":
            assert len(added) == 1 and b"max_train_epochs" in added[0]
        else:  # appended after the last JSON member: that member's line gains a comma
            assert tag == "replace" and len(removed) == 1 and len(added) == 2
            assert added[0] == removed[0].rstrip(b"\r\n") + b"," + removed[0][len(removed[0].rstrip(b"\r\n")):]
            assert b"max_train_epochs" in added[1]
    # the written file is exactly the new text
    out = tmp_path / path.name
    out.write_bytes(path.read_bytes())
    write_atomic(str(out), new)
    assert out.read_bytes() == new.encode("utf-8")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.dictionaries(KEYS, SCALARS, max_size=6),
       changes=st.dictionaries(KEYS, st.none() | SCALARS, max_size=4),
       afters=st.lists(KEYS, min_size=4, max_size=4),
       style=STYLE, fmt=st.sampled_from(["json", "toml"]), sort=st.booleans())
def test_property_several_edits(data, changes, afters, style, fmt, sort):
    """Adds, removals and replacements together give exactly the intended data, keep the BOM and
    the newline style, and keep a sorted JSON object sorted."""
    if sort:
        data = dict(sorted(data.items()))
    make = json_text if fmt == "json" else toml_text
    old = make(data, style)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"cfg.{fmt}"
        path.write_bytes(old.encode("utf-8"))
        edits = [Edit((k,), v, after=(a,)) for (k, v), a in zip(changes.items(), afters)]
        new = apply_edits(documents.load(str(path)), edits)
    want = dict(data)
    for key, value in changes.items():
        if value is None:
            want.pop(key, None)
        else:
            want[key] = value
    body = new[1:] if new.startswith("\ufeff") else new
    got = json.loads(body) if fmt == "json" else tomllib.loads(body)
    assert got == want
    assert new.startswith("\ufeff") == style["bom"]
    if style["newline"] == "\r\n" and "\n" in old:  # a file with no newline cannot tell its style
        assert "\n" not in new.replace("\r\n", "")
    if sort and fmt == "json":
        assert list(got) == sorted(got)
