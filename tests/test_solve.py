"""`solve` rewrites a config so that `steps` on the rewritten file reports exactly the target,
touching only the edited values."""
from __future__ import annotations

import json
import shutil

import pytest

from helpers import CORPUS, case_options, golden_cases, make_images, materialize, run_cli, run_in_process, sample
from kohya_tune.load import documents
from kohya_tune.engine import normalize, steps
from kohya_tune.edit import rewrite, solve
from kohya_tune.engine.plan import Settings, TrainerRefusal

EPOCH_TARGETS = [1, 3, 10, 24]
STEP_TARGETS = [100, 777]


def settings_for(case) -> Settings:
    options = case.get("options") or {}
    return Settings(num_processes=options.get("num_processes"), gui_version=options.get("gui_version"),
                    script=options.get("script"))


def solvable_cases():
    for case in golden_cases():
        expected = case["expected"].get("sd-scripts v0.10.1", {})
        if "error" in expected or case["config"] == "dataset.toml" and "config.toml" not in case["files"]:
            continue
        if "error" in (case["expected"].get("gui") or {}):
            continue  # the GUI itself stops: nothing to solve
        yield pytest.param(case, id=case["id"])


def always_computes_steps(settings, doc) -> bool:
    """GUI releases up to v21.8 have no max_train_steps setting on these tabs: they compute it
    from epoch on every launch (gui_behaviour.json formula.max_train_steps "always"), so a step
    count is reachable only where an integer epoch gives it."""
    from kohya_tune.engine import gui

    if doc.kind != documents.GUI:
        return False
    version = settings.gui_version or (doc.gui_versions or (None, "master"))[1]
    return gui.load_profile(version)[1]["steps"]["mode"].get(doc.gui_tab) == "always"


@pytest.mark.parametrize("case", list(solvable_cases()))
def test_golden_targets(case, tmp_path, monkeypatch, full_sweep):
    """Every golden case solved for every target (`--full-sweep`) or, in CI, for one epoch and
    one step target that differ from case to case (every target is met across the cases). The
    first target's file is written and read back from disk; the others are read from its text,
    as `documents.load` would read it."""
    materialize(case, tmp_path)
    monkeypatch.chdir(tmp_path)
    settings = settings_for(case)
    original = (tmp_path / case["config"]).read_text()
    try:
        steps.compute(normalize.build_plan(documents.load(case["config"]), settings))
    except TrainerRefusal:
        # the trainer refuses the config as it is (GUI-only cases): solve says so, writes nothing
        with pytest.raises(TrainerRefusal):
            solve.Solver(documents.load(case["config"]), settings).solve("epochs", 10)
        assert (tmp_path / case["config"]).read_text() == original
        return
    on_disk = True
    for kind, targets in (("epochs", EPOCH_TARGETS), ("steps", STEP_TARGETS)):
        for target in targets if full_sweep else sample(targets, case["id"], 1):
            doc = documents.load(case["config"]) if on_disk else documents.from_text(case["config"], original)
            try:
                solution = solve.Solver(doc, settings).solve(kind, target)
            except solve.SolveError as exc:
                assert kind == "steps" and always_computes_steps(settings, doc), exc.message
                assert not exc.usage
                continue
            text = rewrite.apply_edits(doc, solution.edits) if solution.edits else doc.text
            if on_disk:
                (tmp_path / case["config"]).write_text(text)
                written = documents.load(case["config"])
                (tmp_path / case["config"]).write_text(original)
                on_disk = False
            else:
                written = documents.from_text(case["config"], text)
            report = steps.compute(normalize.build_plan(written, settings))
            got = report.num_train_epochs if kind == "epochs" else report.max_train_steps
            assert got == target, (kind, target, solution.changes)
            if kind == "steps":
                # a step target that is not a whole number of epochs: the last epoch is short
                assert report.last_epoch_steps == target - (report.num_train_epochs - 1) * report.num_update_steps_per_epoch


def test_standalone_dataset_config_is_a_usage_error(tmp_path):
    case = next(c for c in golden_cases() if c["id"] == "toml-standalone")
    materialize(case, tmp_path)
    proc = run_cli("solve", "--target-epochs", "10", "dataset.toml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "dataset config" in proc.stderr


def test_cli_solve_gui_epoch_and_diff(tmp_path):
    case = next(c for c in golden_cases() if c["id"] == "gui-v26-buckets")
    materialize(case, tmp_path)
    before = (tmp_path / "config.json").read_bytes()
    # by default the GUI keeps showing the epochs the trainer runs: epoch 12 would also give 10
    # real epochs, but lint's KT203 would then say the GUI shows 12 (one answer with KT203)
    proc = run_cli("solve", "--target-epochs", "10", "--diff", "config.json", *case_options(case), cwd=tmp_path)
    assert proc.returncode == 1
    assert '-  "max_train_epochs": 0,' in proc.stdout and '+  "max_train_epochs": 10,' in proc.stdout
    assert '"epoch": 12' not in proc.stdout
    # --by epoch: the user's own knob, the epoch value that gives 10 full epochs
    proc = run_cli("solve", "--target-epochs", "10", "--by", "epoch", "--diff", "config.json",
                   *case_options(case), cwd=tmp_path)
    assert proc.returncode == 1
    assert '-  "epoch": 10,' in proc.stdout and '+  "epoch": 12,' in proc.stdout
    assert (tmp_path / "config.json").read_bytes() == before
    proc = run_cli("solve", "--target-epochs", "10", "--by", "epoch", "--check", "config.json",
                   *case_options(case), cwd=tmp_path)
    assert proc.returncode == 1 and "would change" in proc.stdout
    proc = run_cli("solve", "--target-epochs", "10", "--by", "epoch", "config.json", *case_options(case), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "epoch: 10 -> 12" in proc.stdout
    out = json.loads(run_cli("steps", "config.json", "--format", "json", *case_options(case), cwd=tmp_path).stdout)
    assert out["trainer"]["num_train_epochs"] == 10
    after = (tmp_path / "config.json").read_bytes()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert changed == [(b'  "epoch": 10,', b'  "epoch": 12,')]
    proc = run_cli("solve", "--target-epochs", "10", "--check", "config.json", *case_options(case), cwd=tmp_path)
    assert proc.returncode == 0 and "already on target" in proc.stdout


GUI_2GPU = {
    "LoRA_type": "Standard", "epoch": 4, "gradient_accumulation_steps": 1, "lr_scheduler": "cosine",
    "lr_warmup": 0, "max_resolution": "512,512", "max_train_epochs": 0, "max_train_steps": 0,
    "num_processes": 2, "output_dir": "out", "pretrained_model_name_or_path": "runwayml/stable-diffusion-v1-5",
    "reg_data_dir": "", "save_as_bool": False, "train_batch_size": 1, "train_data_dir": "img",
}


def test_by_epoch_unreachable_changes_nothing(tmp_path):
    make_images(tmp_path / "img" / "10_tok", [[512, 512, 10]])
    path = tmp_path / "config.json"
    path.write_text(json.dumps(GUI_2GPU, indent=2))
    before = path.read_bytes()
    # the GUI's estimate ignores the 2 processes: every epoch of the GUI is 2 real epochs
    proc = run_cli("solve", "--target-epochs", "5", "--by", "epoch", "--num-processes", "2",
                   "--gui-version", "v24.1.7", str(path), cwd=tmp_path)
    assert proc.returncode == 1
    assert "no integer epoch" in proc.stderr
    assert "nearest: 2 -> 4 epochs" in proc.stderr and "nearest: 3 -> 6 epochs" in proc.stderr
    assert path.read_bytes() == before
    # without --by, the setting the trainer obeys exactly is used instead
    proc = run_cli("solve", "--target-epochs", "5", "--num-processes", "2", "--gui-version", "v24.1.7",
                   str(path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "max_train_epochs: 0 -> 5" in proc.stdout


def test_conflicting_settings_are_changed_and_listed(tmp_path):
    make_images(tmp_path / "img" / "10_tok", [[512, 512, 10]])
    data = dict(GUI_2GPU, num_processes=1, max_train_steps=300, max_train_epochs=7)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    proc = run_cli("solve", "--target-epochs", "6", "--gui-version", "v24.1.7", str(path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "max_train_epochs: 7 -> 0" in proc.stdout
    assert "max_train_steps: 300 -> 0" in proc.stdout
    assert "epoch: 4 -> 6" in proc.stdout
    out = json.loads(run_cli("steps", str(path), "--format", "json", "--gui-version", "v24.1.7", cwd=tmp_path).stdout)
    assert out["trainer"]["num_train_epochs"] == 6


def test_crlf_toml_with_comments_keeps_every_other_byte(tmp_path):
    make_images(tmp_path / "img" / "5_tok", [[512, 512, 8]])
    text = ('# training args\r\npretrained_model_name_or_path = "x"  # model\r\ntrain_data_dir = "img"\r\n'
            'resolution = "512,512"\r\ntrain_batch_size = 2\r\nmax_train_steps = 1000 # steps\r\n')
    path = tmp_path / "config.toml"
    path.write_bytes(text.encode())
    proc = run_cli("solve", "--target-steps", "250", str(path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert path.read_bytes() == text.replace("1000", "250").encode()
    proc = run_cli("solve", "--target-epochs", "3", str(path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # the new key goes next to its relative, with the file's line ending; the max_train_steps it
    # overrides goes (else lint's KT201 asks for that: one answer)
    assert path.read_bytes() == text.replace("1000", "250").replace(
        "max_train_steps = 250 # steps\r\n", "max_train_epochs = 3\r\n").encode()


def corpus_configs():
    kohya = json.loads((CORPUS / "kohya_ss" / "index.json").read_text())["files"]
    for entry in kohya:
        if entry["kind"] == "GUI config (JSON)":
            yield pytest.param(CORPUS / "kohya_ss" / entry["tag"] / entry["path"], id=f"{entry['tag']}/{entry['path']}")
    sd = json.loads((CORPUS / "sd-scripts" / "index.json").read_text())["files"]
    for entry in sd:
        if entry.get("kind") == "training-args config (--config_file)":
            yield pytest.param(CORPUS / "sd-scripts" / entry["file"], id=entry["file"])


@pytest.fixture(scope="module")
def shared_data(tmp_path_factory):
    """One small dataset for the corpus files (solve never changes a dataset)."""
    data = tmp_path_factory.mktemp("corpus-solve") / "data"
    make_images(data / "10_tok", [[512, 512, 4], [768, 512, 2]])
    return data


@pytest.mark.parametrize("source", list(corpus_configs()))
def test_corpus_solve_changes_only_edited_lines(source, tmp_path, shared_data):
    path = tmp_path / source.name
    shutil.copyfile(source, path)
    doc = documents.load(str(path))
    flat = documents.flatten_args(doc.data) if doc.kind == "args" else doc.data
    args = ["solve", "--target-epochs", "10", str(path)]
    for key in ("train_data_dir", "image_folder"):
        value = flat.get(key)
        if isinstance(value, str) and value:
            args += ["--path-map", f"{value}={shared_data}"]
    before = path.read_bytes()
    result = run_in_process(*args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 1, 2), result.output
    after = path.read_bytes()
    if result.exit_code != 0:
        assert after == before, result.output
        return
    old_lines, new_lines = before.splitlines(keepends=True), after.splitlines(keepends=True)
    import difflib
    edited = {"epoch", "max_train_epochs", "max_train_steps"}
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        for line in old_lines[i1:i2] + new_lines[j1:j2]:
            text = line.decode()
            key = text.strip().split("=")[0].split(":")[0].strip().strip('"')
            # the only other change allowed: a comma added after the previous last member
            assert key in edited or text.rstrip("\r\n").endswith(",") and text.rstrip("\r\n,") in [
                l.decode().rstrip("\r\n") for l in old_lines], text
