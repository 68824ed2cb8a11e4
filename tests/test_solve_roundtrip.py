"""`solve` then `steps` on the written file agree, for every corpus GUI JSON and args TOML, and
targets 1, 7, 333 and 10**6 epochs or steps where reachable; absurd targets are refused and
nothing is written.

With `--full-sweep` every file is solved for all eight targets; in CI each file for one
epoch and one step target that differ from file to file (every target is met across the corpus).
The files share one small dataset, which solve never changes.
"""
from __future__ import annotations

import json
import re
import shutil

import pytest

from helpers import CORPUS, make_images, run_cli, run_in_process, sample
from kohya_tune.load import documents

TARGETS = [("epochs", 1), ("epochs", 7), ("epochs", 333), ("epochs", 10 ** 6),
           ("steps", 1), ("steps", 7), ("steps", 333), ("steps", 10 ** 6)]


def corpus_configs():
    kohya = json.loads((CORPUS / "kohya_ss" / "index.json").read_text())["files"]
    paths = [CORPUS / "kohya_ss" / e["tag"] / e["path"] for e in kohya if e["kind"] == "GUI config (JSON)"]
    sd = json.loads((CORPUS / "sd-scripts" / "index.json").read_text())["files"]
    paths += [CORPUS / "sd-scripts" / e["file"] for e in sd
              if e.get("kind") == "training-args config (--config_file)"]
    for path in paths:
        yield pytest.param(path, id=str(path.relative_to(CORPUS)))


@pytest.fixture(scope="module")
def shared_data(tmp_path_factory):
    data = tmp_path_factory.mktemp("roundtrip") / "data"
    make_images(data / "10_tok", [[512, 512, 4], [768, 512, 2]])
    return data


def _options(path, data_dir) -> list[str]:
    doc = documents.load(str(path))
    flat = documents.flatten_args(doc.data) if doc.kind == "args" else doc.data
    args = []
    for key in ("train_data_dir", "image_folder"):
        value = flat.get(key)
        if isinstance(value, str) and value:
            args += ["--path-map", f"{value}={data_dir}"]
    return args


def _printed(stdout: str) -> tuple[int, int, int]:
    m = re.search(r"^after:\s+(\d+) epochs, (\d+) steps, (\d+) steps per epoch", stdout, re.M)
    assert m, stdout
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


@pytest.mark.parametrize("source", list(corpus_configs()))
def test_solve_then_steps_agree(source, tmp_path, monkeypatch, shared_data, full_sweep):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / source.name
    shutil.copyfile(source, path)
    original = path.read_bytes()
    options = _options(path, shared_data)
    key = str(source.relative_to(CORPUS))
    targets = TARGETS if full_sweep else sample(TARGETS[:4], key, 1) + sample(TARGETS[4:], key, 1)
    for kind, target in targets:
        path.write_bytes(original)
        result = run_in_process("solve", f"--target-{kind}", str(target), str(path), *options)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert result.exit_code in (0, 1, 2), result.output
        if result.exit_code != 0:
            assert path.read_bytes() == original, result.output
            continue
        if "already on target" in result.stdout:
            assert path.read_bytes() == original
            continue
        if "the dataset was not scanned" in result.stderr:
            # no dataset here: only max_train_epochs, which is exact whatever the batches;
            # steps cannot count either, and says why
            assert "max_train_epochs" in result.stdout and kind == "epochs"
            out = run_in_process("steps", str(path), *options)
            assert out.exit_code == 2, out.output
            continue
        epochs, steps, per_epoch = _printed(result.stdout)
        assert (epochs if kind == "epochs" else steps) == target
        out = run_in_process("steps", "--format", "json", str(path), *options)
        assert out.exit_code == 0, out.output
        trainer = json.loads(out.stdout)["trainer"]
        assert (trainer["num_train_epochs"], trainer["max_train_steps"],
                trainer["num_update_steps_per_epoch"]) == (epochs, steps, per_epoch), (kind, target)


def _gui_case(tmp_path, **overrides):
    make_images(tmp_path / "img" / "10_tok", [[512, 512, 10]])
    data = {"LoRA_type": "Standard", "epoch": 4, "gradient_accumulation_steps": 1,
            "lr_scheduler": "cosine", "lr_warmup": 0, "max_resolution": "512,512",
            "max_train_epochs": 0, "max_train_steps": 0, "output_dir": "out",
            "pretrained_model_name_or_path": "runwayml/stable-diffusion-v1-5", "reg_data_dir": "",
            "train_batch_size": 1, "train_data_dir": "img"}
    data.update(overrides)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data, indent=2))
    return path


@pytest.mark.parametrize("option,target", [("--target-steps", 2 ** 53 + 1),
                                           ("--target-epochs", 2 ** 53 + 1),
                                           ("--target-epochs", 2 ** 50),
                                           ("--target-steps", 10 ** 400)])
def test_absurd_targets_are_refused(tmp_path, option, target):
    path = _gui_case(tmp_path)
    before = path.read_bytes()
    proc = run_cli("solve", option, str(target), str(path), "--gui-version", "v24.1.7", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert path.read_bytes() == before


def test_large_targets_answer_without_a_loop(tmp_path):
    """10**6 and 10**12 epochs through the GUI's own epoch: a linear search would take hours."""
    path = _gui_case(tmp_path)
    for target in (10 ** 6, 10 ** 12):
        proc = run_cli("solve", "--target-epochs", str(target), "--by", "epoch", "--diff", str(path),
                       "--gui-version", "v24.1.7", cwd=tmp_path, timeout=60)
        assert proc.returncode == 1, proc.stderr
        assert f'+  "epoch": {target},' in proc.stdout


def test_a_written_file_read_as_another_gui_version_is_refused(tmp_path, monkeypatch):
    """The check before writing reads the edited text as `steps` will (kind and GUI version
    guessed again from its keys). When the guess differs from the version solve simulated with,
    nothing is written and the message says how to keep the version. With today's fingerprints
    no corpus file gets there (an added key takes the type its version saves), so the file's
    dating is moved by hand here, as a file whose keys straddle two versions would be."""
    from kohya_tune.edit import solve
    from kohya_tune.engine.plan import Settings

    monkeypatch.chdir(tmp_path)
    path = _gui_case(tmp_path)
    doc = documents.load(str(path))
    assert doc.gui_versions[1] != "v24.1.7"
    doc.gui_versions = ("v24.1.7", "v24.1.7")  # as if the keys dated it to v24.1.7
    with pytest.raises(solve.SolveError) as err:
        solve.Solver(doc, Settings()).solve("epochs", 3, "max_train_epochs")
    assert "--gui-version v24.1.7" in err.value.message and "instead of v24.1.7" in err.value.message
    # with the version given, the same edit is written and steps agrees
    proc = run_cli("solve", "--target-epochs", "3", "--by", "max_train_epochs", "--gui-version", "v24.1.7",
                   str(path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(run_cli("steps", "--format", "json", "--gui-version", "v24.1.7", str(path), cwd=tmp_path).stdout)
    assert out["trainer"]["num_train_epochs"] == 3
