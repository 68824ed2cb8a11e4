"""`kohya-tune schemas`: the shipped schemas, and the editor settings that point each config of a
folder at its schema (VS Code json.schemas, Taplo's .taplo.toml), merged into existing settings
without losing a byte; the `$schema` key agrees between lint, the schemas and the trainers."""
from __future__ import annotations

import difflib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import CORPUS, run_cli, run_in_process
from kohya_tune.edit import editor_settings as es

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).parents[1]
GUI = CORPUS / "kohya_ss" / "v24.1.7" / "test" / "config"
DATASET_TOML = ROOT / "sample_configs" / "dataset.toml"
ARGS_TOML = ROOT / "sample_configs" / "train_args.toml"


def only_inserted(old: str, new: str) -> bool:
    """Every character of `old` is still in `new`, in order (nothing deleted or replaced)."""
    ops = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    return all(tag in ("equal", "insert") for tag, *_ in ops)


@pytest.fixture
def folder(tmp_path):
    """Configs of every kind, in subfolders, plus files that are not configs."""
    (tmp_path / "lora").mkdir()
    shutil.copy(GUI / "SDXL-Standard-AdamW.json", tmp_path / "lora" / "sdxl [v2].json")
    shutil.copy(GUI / "TI-AdamW8bit.json", tmp_path / "ti.json")
    shutil.copy(ROOT / "sample_configs" / "lora_gui.json", tmp_path / "lora" / "sample.json")
    shutil.copy(DATASET_TOML, tmp_path / "dataset.toml")
    shutil.copy(ARGS_TOML, tmp_path / "train.toml")
    (tmp_path / "dataset.json").write_text(json.dumps(
        {"datasets": [{"resolution": 512, "subsets": [{"image_dir": "img", "num_repeats": 2}]}]}),
        encoding="utf-8")
    (tmp_path / "package.json").write_text('{"name": "x"}', encoding="utf-8")
    (tmp_path / "broken.json").write_text('{"a": ', encoding="utf-8")
    (tmp_path / ".hidden").mkdir()
    shutil.copy(GUI / "TI-AdamW8bit.json", tmp_path / ".hidden" / "ti.json")
    return tmp_path


def test_listing_names_every_schema_with_its_file_and_id():
    result = run_in_process("schemas")
    assert result.exit_code == 0, result.stdout
    for name in es.schema_names():
        schema = json.loads((ROOT / "schemas" / name).read_text(encoding="utf-8"))
        assert name in result.stdout and schema["$id"] in result.stdout
        assert es.schema_path(name).is_file()
        # the $id is the schema's stable name: the same file name, never fetched (.invalid)
        assert schema["$id"] == f"https://kohya-tune.invalid/schemas/{name}"


def test_vscode_settings_give_each_json_config_its_schema(folder):
    proc = run_in_process("schemas", "--editor", "vscode", str(folder))
    assert proc.exit_code == 0, proc.stderr
    settings = json.loads((folder / ".vscode" / "settings.json").read_text(encoding="utf-8"))
    by_schema = {e["url"].rsplit("/", 1)[1]: e["fileMatch"] for e in settings["json.schemas"]}
    assert by_schema == {
        "gui-lora.schema.json": ["/lora/sample.json", "/lora/sdxl ?v2?.json"],
        "gui-textual-inversion.schema.json": ["/ti.json"],
        "dataset-toml.schema.json": ["/dataset.json"],
    }
    for entry in settings["json.schemas"]:
        assert entry["url"].startswith("file:") and Path(es.schema_path(entry["url"].rsplit("/", 1)[1])).is_file()
    assert "2 TOML configs" in proc.stdout and "--editor taplo" in proc.stdout
    # a second run changes nothing
    before = (folder / ".vscode" / "settings.json").read_bytes()
    again = run_in_process("schemas", "--editor", "vscode", str(folder))
    assert again.exit_code == 0 and "up to date" in again.stdout
    assert (folder / ".vscode" / "settings.json").read_bytes() == before
    assert run_in_process("schemas", "--editor", "vscode", str(folder), "--check").exit_code == 0


USER_SETTINGS = """{
    // my own settings, kept as they are
    "editor.tabSize": 2, /* two spaces */
    "json.schemas": [
        {
            "fileMatch": ["/package.json"],
            "url": "https://json.schemastore.org/package.json" // the npm one
        },
        {
            "fileMatch": ["/old/*.json", "/ti.json"],
            "url": "file:///C:/old/site-packages/kohya_tune/schemas/gui-textual-inversion.schema.json"
        },
    ],
}
"""


def test_vscode_merge_keeps_every_byte_of_the_users_settings(folder):
    target = folder / ".vscode" / "settings.json"
    target.parent.mkdir()
    target.write_bytes(USER_SETTINGS.replace("\n", "\r\n").encode("utf-8"))
    diff = run_in_process("schemas", "--editor", "vscode", str(folder), "--diff")
    assert diff.exit_code == 1 and "+" in diff.stdout
    assert target.read_bytes() == USER_SETTINGS.replace("\n", "\r\n").encode("utf-8")  # --diff writes nothing
    proc = run_in_process("schemas", "--editor", "vscode", str(folder))
    assert proc.exit_code == 0, proc.stderr
    new = target.read_bytes().decode("utf-8")
    old = USER_SETTINGS.replace("\n", "\r\n")
    # the url of our old entry is updated to this install; nothing else of the user's is lost
    old_url = "file:///C:/old/site-packages/kohya_tune/schemas/gui-textual-inversion.schema.json"
    assert only_inserted(old.replace(old_url, ""), new.replace(es.schema_uri("gui-textual-inversion.schema.json"), ""))
    data = es._Jsonc(new, "settings.json").data
    entries = data["json.schemas"]
    assert entries[0] == {"fileMatch": ["/package.json"], "url": "https://json.schemastore.org/package.json"}
    # the user's own pattern in our entry stays; the files found are there once
    assert entries[1]["fileMatch"] == ["/old/*.json", "/ti.json"]
    assert entries[1]["url"] == es.schema_uri("gui-textual-inversion.schema.json")
    assert [e["url"].rsplit("/", 1)[1] for e in entries[2:]] == ["dataset-toml.schema.json", "gui-lora.schema.json"]
    assert data["editor.tabSize"] == 2
    again = run_in_process("schemas", "--editor", "vscode", str(folder))
    assert again.exit_code == 0 and target.read_bytes().decode("utf-8") == new


def test_vscode_settings_that_cannot_be_merged_are_left_alone(folder):
    target = folder / ".vscode" / "settings.json"
    target.parent.mkdir()
    for text, words in (('{\n  "a": 1,\n  "b" 2\n}\n', "settings.json:3:"),
                        ('{"json.schemas": {"x": 1}}', '"json.schemas" is not a list'),
                        ('["not", "an", "object"]', "not a JSON object")):
        target.write_text(text, encoding="utf-8")
        proc = run_in_process("schemas", "--editor", "vscode", str(folder))
        assert proc.exit_code == 2 and words in proc.stderr and "nothing was changed" in proc.stderr
        assert target.read_text(encoding="utf-8") == text


USER_TAPLO = """# formatting for the whole repository
include = ["**/*.toml"]

[formatting]
align_entries = true   # keep this

[[rule]]
include = ["pyproject.toml"]
[rule.schema]
url = "https://json.schemastore.org/pyproject.json"
"""


def test_taplo_settings_merge_and_second_run(folder):
    target = folder / ".taplo.toml"
    target.write_text(USER_TAPLO, encoding="utf-8")
    proc = run_in_process("schemas", "--editor", "taplo", str(folder))
    assert proc.exit_code == 0, proc.stderr
    new = target.read_text(encoding="utf-8")
    assert only_inserted(USER_TAPLO, new)
    data = tomllib.loads(new)
    assert data["formatting"] == {"align_entries": True} and data["include"] == ["**/*.toml"]
    rules = {r["schema"].get("url", "").rsplit("/", 1)[1]: r["include"] for r in data["rule"]}
    assert rules == {"pyproject.json": ["pyproject.toml"], "args-toml.schema.json": ["train.toml"],
                     "dataset-toml.schema.json": ["dataset.toml"]}
    assert "4 JSON configs" in proc.stdout  # the GUI JSONs and the JSON dataset config
    again = run_in_process("schemas", "--editor", "taplo", str(folder))
    assert again.exit_code == 0 and "up to date" in again.stdout
    assert target.read_text(encoding="utf-8") == new
    # a config added later is appended to our rule; the rest stays
    shutil.copy(DATASET_TOML, folder / "lora" / "more.toml")
    assert run_in_process("schemas", "--editor", "taplo", str(folder)).exit_code == 0
    newer = target.read_text(encoding="utf-8")
    assert only_inserted(new, newer)
    assert ["dataset.toml", "lora/more.toml"] in [r["include"] for r in tomllib.loads(newer)["rule"]]


def test_usage_errors():
    assert run_in_process("schemas", "--editor", "emacs", ".").exit_code == 2
    assert run_in_process("schemas", "--editor", "vscode").exit_code == 2
    assert run_in_process("schemas", ".").exit_code == 2
    assert run_in_process("schemas", "--editor", "vscode", "no-such-folder").exit_code == 2


def test_check_jsonschema_validates_corpus_files_with_the_written_settings(tmp_path):
    """The settings' schema files, given to the real check-jsonschema, accept the corpus GUI
    JSONs (every tab) and the sample TOMLs, and reject an unknown key."""
    exe = shutil.which("check-jsonschema") or (Path(sys.executable).parent / "check-jsonschema")
    if not Path(exe).exists():
        pytest.skip("check-jsonschema is not installed (pip install 'kohya-tune[test]')")
    for name in ("SDXL-Standard-AdamW.json", "TI-AdamW8bit.json", "dreambooth-AdamW.json", "finetune-AdamW.json"):
        shutil.copy(GUI / name, tmp_path / name)
    shutil.copy(DATASET_TOML, tmp_path / "dataset.toml")
    shutil.copy(ARGS_TOML, tmp_path / "train.toml")
    assert run_in_process("schemas", "--editor", "vscode", str(tmp_path)).exit_code == 0
    assert run_in_process("schemas", "--editor", "taplo", str(tmp_path)).exit_code == 0
    settings = json.loads((tmp_path / ".vscode" / "settings.json").read_text(encoding="utf-8"))
    pairs = [(e["url"], [p.lstrip("/") for p in e["fileMatch"]]) for e in settings["json.schemas"]]
    pairs += [(r["schema"]["url"], r["include"])
              for r in tomllib.loads((tmp_path / ".taplo.toml").read_text(encoding="utf-8"))["rule"]]
    assert len(pairs) == 6
    for url, names in pairs:
        proc = subprocess.run([str(exe), "--schemafile", url, *names], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, (url, proc.stdout, proc.stderr)
    data = json.loads((tmp_path / "TI-AdamW8bit.json").read_text(encoding="utf-8"))
    (tmp_path / "TI-AdamW8bit.json").write_text(json.dumps({**data, "max_train_epoch": 3}), encoding="utf-8")
    url = next(u for u, n in pairs if "TI-AdamW8bit.json" in n)
    proc = subprocess.run([str(exe), "--schemafile", url, "TI-AdamW8bit.json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "max_train_epoch" in proc.stdout


def test_taplo_cli_reads_the_written_settings(folder):
    """When the Taplo CLI is installed (npm install -g @taplo/cli), it validates the configs
    against the rules written to .taplo.toml: the sample dataset passes, an unknown key fails."""
    taplo = shutil.which("taplo")
    if taplo is None:
        pytest.skip("the Taplo CLI is not installed (npm install -g @taplo/cli)")
    assert run_in_process("schemas", "--editor", "taplo", str(folder)).exit_code == 0
    ok = subprocess.run([taplo, "lint", "dataset.toml", "train.toml"], cwd=folder,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    (folder / "dataset.toml").write_text(DATASET_TOML.read_text(encoding="utf-8")
                                         .replace("batch_size = 2", "batch_size = 2\nbogus = 1"), encoding="utf-8")
    bad = subprocess.run([taplo, "lint", "dataset.toml"], cwd=folder, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "bogus" in bad.stderr + bad.stdout


# --- "$schema": what the GUI, sd-scripts and the dataset validator do with it


def test_schema_key_is_no_finding_where_gui_and_sd_scripts_ignore_it(tmp_path):
    """The GUI reads only its own keys (kohya_ss master kohya_gui/lora_gui.py:800-804) and
    sd-scripts' read_config_from_file keeps every key as a Namespace attribute (v0.10.1
    train_util.py:4747-4760): "$schema" changes nothing, so lint and the schemas accept it."""
    gui = json.loads((ROOT / "sample_configs" / "lora_gui.json").read_text(encoding="utf-8"))
    (tmp_path / "lora.json").write_text(json.dumps({"$schema": es.schema_uri("gui-lora.schema.json"), **gui},
                                                   indent=2), encoding="utf-8")
    (tmp_path / "train.toml").write_text('"$schema" = "args-toml.schema.json"\n' + ARGS_TOML.read_text(encoding="utf-8"),
                                         encoding="utf-8")
    proc = run_cli("lint", "--select", "KT1", "lora.json", "train.toml", cwd=tmp_path)
    assert proc.returncode == 0 and "KT1" not in proc.stdout, proc.stdout
    for name in ("gui-lora.schema.json", "args-toml.schema.json"):
        schema = json.loads((ROOT / "schemas" / name).read_text(encoding="utf-8"))
        assert schema["properties"]["$schema"]["type"] == "string"


def test_schema_key_in_a_dataset_config_is_the_trainers_error(tmp_path):
    """sd-scripts v0.10.1 (voluptuous 0.15.2) and musubi-tuner 30c658c4 both refuse it:
    `MultipleInvalid: extra keys not allowed @ data['$schema']`; a `#:schema` comment is a
    comment to toml 0.10.2 and passes."""
    text = DATASET_TOML.read_text(encoding="utf-8")
    (tmp_path / "key.toml").write_text('"$schema" = "x.json"\n' + text, encoding="utf-8")
    (tmp_path / "comment.toml").write_text("#:schema x.json\n" + text, encoding="utf-8")
    proc = run_cli("lint", "--select", "KT1", "key.toml", "comment.toml", cwd=tmp_path)
    assert proc.returncode == 1
    assert 'key.toml:1:1: KT101 error: unknown key "$schema"' in proc.stdout
    assert "#:schema" in proc.stdout and "comment.toml" not in proc.stdout
    schema = json.loads((ROOT / "schemas" / "dataset-toml.schema.json").read_text(encoding="utf-8"))
    assert "$schema" not in schema["properties"] and schema["additionalProperties"] is False
