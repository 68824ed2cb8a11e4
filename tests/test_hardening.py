"""Hostile and broken input through the CLI on real files: numbers nobody can compute with,
broken structure, parse errors with their line:col on every command, the file system, writes.
Exit codes: 1 findings or a refusal, 2 unreadable input; never 3, never a traceback."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from helpers import CORPUS, make_images, run_cli, run_in_process

GUI_SOURCE = CORPUS / "kohya_ss" / "v24.1.7" / "presets" / "lora" / "SDXL - LoRA AI_characters standard v1.0.json"


def no_crash(result):
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output


def gui_config(tmp_path, raw_values: dict) -> Path:
    """The corpus GUI JSON pointed at a small dataset, with values written as raw JSON text."""
    make_images(tmp_path / "img" / "10_tok", [[512, 512, 4]])
    data = json.loads(GUI_SOURCE.read_text(encoding="utf-8"))
    data.update({"train_data_dir": str(tmp_path / "img"), "reg_data_dir": "", "max_train_steps": 0,
                 "max_train_epochs": 0})
    lines = ["{"]
    items = list(data.items()) + [(k, None) for k in raw_values if k not in data]
    for i, (key, value) in enumerate(items):
        text = raw_values[key] if key in raw_values else json.dumps(value)
        lines.append(f"  {json.dumps(key)}: {text}" + ("," if i < len(items) - 1 else ""))
    lines.append("}")
    path = tmp_path / "config.json"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(needle)


def args_toml(tmp_path, body: str) -> Path:
    make_images(tmp_path / "img" / "10_tok", [[512, 512, 4]])
    path = tmp_path / "args.toml"
    path.write_text(f'pretrained_model_name_or_path = "x"\ntrain_data_dir = "{tmp_path / "img"}"\n'
                    f'resolution = "512,512"\n{body}\n', encoding="utf-8")
    return path


def lint_json(path) -> list:
    result = run_in_process("lint", "--output-format", "json", str(path))
    no_crash(result)
    return json.loads(result.stdout)


# ------------------------------------------------------------------------------------------
# 1. numbers

@pytest.mark.parametrize("key,literal,stops", [
    ("epoch", "Infinity", True), ("epoch", "1e309", True), ("epoch", "-Infinity", True),
    ("train_batch_size", "0", True), ("gradient_accumulation_steps", "Infinity", True),
    ("max_train_steps", "1e309", True), ("epoch", "9" * 400, True), ("train_batch_size", "9" * 400, True),
    # GUI v24+ loads a NaN in an int widget as its fallback (int() raises ValueError, caught)
    ("epoch", "NaN", False),
])
def test_gui_numbers_are_findings_and_refusals(tmp_path, key, literal, stops):
    path = gui_config(tmp_path, {key: literal})
    line = line_of(path, f'"{key}": {literal[:20]}')
    diags = lint_json(path)
    found = [d for d in diags if d["code"] == "KT109" and d["line"] == line]
    assert found, diags
    assert "GUI" in found[0]["message"]
    before = path.read_bytes()
    if not stops:
        assert found[0]["severity"] == "warning" and "replaces it" in found[0]["message"]
        result = run_in_process("steps", str(path))
        assert result.exit_code == 0, result.output
        return
    assert found[0]["severity"] == "error"
    for args in (["steps"], ["steps", "--format", "json"], ["solve", "--target-epochs", "3"],
                 ["solve", "--target-steps", "7", "--diff"]):
        result = run_in_process(*args, str(path))
        no_crash(result)
        assert result.exit_code in (1, 2), (args, result.output)
        assert "the GUI" in result.output or "ZeroDivisionError" in result.output, result.output
    assert path.read_bytes() == before


@pytest.mark.parametrize("body,code,needle", [
    ("max_train_epochs = inf", "KT109", "OverflowError"),
    ("max_train_epochs = nan", "KT109", "ValueError"),
    ("max_train_steps = 1e309", "KT109", "OverflowError"),
    ("gradient_accumulation_steps = -inf", "KT109", "OverflowError"),
    ("max_train_steps = " + "7" * 400, "KT109", "too large"),
])
def test_args_numbers_are_findings_and_refusals(tmp_path, body, code, needle):
    path = args_toml(tmp_path, body)
    diags = lint_json(path)
    assert any(d["code"] == code and d["line"] == 4 and needle in d["message"] for d in diags), diags
    for args in (["steps"], ["solve", "--target-epochs", "3", "--diff"]):
        result = run_in_process(*args, str(path))
        no_crash(result)
        assert result.exit_code == 1, result.output
        assert needle in result.output and "args.toml:4:" in result.output, result.output


def test_integer_too_long_for_python_is_a_parse_error(tmp_path):
    for name, text in (("a.toml", "max_train_steps = " + "9" * 5000 + "\n"),
                       ("b.json", '{\n  "epoch": ' + "9" * 5000 + "\n}\n")):
        path = tmp_path / name
        path.write_text(text)
        for args in (["lint"], ["steps"], ["solve", "--target-epochs", "2"]):
            result = run_in_process(*args, str(path))
            no_crash(result)
            assert result.exit_code == 2
            assert f"{name}:" in result.output and "4300 digits" in result.output, result.output


def test_booleans_and_negative_zero_count_as_python_does(tmp_path):
    path = args_toml(tmp_path, "max_train_steps = true")
    diags = lint_json(path)
    assert any(d["code"] == "KT104" and "counts true as 1" in d["message"] for d in diags), diags
    out = run_in_process("steps", "--format", "json", str(path))
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["trainer"]["max_train_steps"] == 1
    assert any("boolean" in note for note in data["notes"])
    path = args_toml(tmp_path, "max_train_epochs = -0.0")
    result = run_in_process("steps", str(path))
    no_crash(result)
    assert any(d["line"] == 4 and d["severity"] == "error" for d in lint_json(path))


def test_batch_size_zero_and_negative(tmp_path):
    make_images(tmp_path / "img", [[512, 512, 4]])
    for size, needle in (("0", "ZeroDivisionError"), ("-2", "negative")):
        path = tmp_path / "dataset.toml"
        path.write_text(f'[general]\nresolution = 512\n[[datasets]]\nbatch_size = {size}\n'
                        f'[[datasets.subsets]]\nimage_dir = "{tmp_path / "img"}"\n')
        result = run_in_process("steps", str(path))
        no_crash(result)
        assert result.exit_code == 1 and needle in result.output, result.output
        assert "dataset.toml:" in result.output
    path.write_text(f'[general]\nresolution = 512\n[[datasets]]\nbatch_size = 0\n'
                    f'[[datasets.subsets]]\nimage_dir = "{tmp_path / "img"}"\n')
    assert any(d["code"] == "KT109" and d["line"] == 4 for d in lint_json(path))
    path = args_toml(tmp_path, "train_batch_size = 0")
    result = run_in_process("steps", str(path))
    assert result.exit_code == 1 and "ZeroDivisionError" in result.output and "args.toml:4" in result.output


# ------------------------------------------------------------------------------------------
# 2. structure

@pytest.mark.parametrize("name,text,line", [
    ("deep.json", "[" * 5000 + "]" * 5000, 1),
    ("deep.toml", "a = 1\nb = " + "[" * 5000 + "]" * 5000 + "\n", 2),
    ("deep2.toml", "a = " + "{b = " * 3000 + "1" + "}" * 3000 + "\n", 1),
    ("trunc.toml", "s=", 1),
    ("trunc2.toml", "x = 1\na = [", 2),
    ("trunc.json", '{"a": [1, 2', 1),
])
def test_broken_structure_is_a_parse_error_with_a_position(tmp_path, name, text, line):
    path = tmp_path / name
    path.write_text(text)
    for args in (["lint"], ["steps"], ["solve", "--target-steps", "3"], ["lint", "--diff"]):
        result = run_in_process(*args, str(path))
        no_crash(result)
        assert result.exit_code == 2, (args, result.output)
        assert f"{name}:{line}:" in result.output, (args, result.output)


@pytest.mark.parametrize("value", ["[[1],[2]]", "true", "[8]", "1", "{a = 1}", "[]", "-0.0", "inf"])
def test_wrong_types_everywhere_are_refusals(tmp_path, value):
    for key in ("resolution", "caption_extension", "in_json", "train_data_dir", "dataset_config",
                "train_batch_size", "max_bucket_reso", "enable_bucket"):
        path = args_toml(tmp_path, "")
        text = path.read_text().replace(f"\n{key} = ", "\n#")
        path.write_text(text + f"{key} = {value}\n")
        for args in (["lint"], ["steps"], ["solve", "--target-epochs", "2", "--diff"]):
            result = run_in_process(*args, str(path))
            no_crash(result)


def test_wrong_types_in_a_dataset_config(tmp_path):
    make_images(tmp_path / "img", [[512, 512, 4]])
    for value in ("[[1],[2]]", "true", "1", "[8]", "nan", "{x = 1}"):
        for key in ("resolution", "caption_extension", "num_repeats", "image_dir", "batch_size",
                    "metadata_file", "validation_split", "subsets"):
            path = tmp_path / "dataset.toml"
            path.write_text(f'[general]\nresolution = 512\n[[datasets]]\n{key} = {value}\n'
                            f'[[datasets.subsets]]\nimage_dir = "{tmp_path / "img"}"\n{key} = {value}\n')
            for args in (["lint"], ["steps"]):
                no_crash(run_in_process(*args, str(path)))


def test_duplicate_json_keys_warn_and_solve_edits_the_one_that_wins(tmp_path):
    path = gui_config(tmp_path, {})
    text = path.read_text().replace('  "epoch": ', '  "epoch": 2,\n  "epoch": ', 1)
    path.write_text(text)
    later = line_of(path, '"epoch": 2,') + 1
    diags = lint_json(path)
    dup = [d for d in diags if d["code"] == "KT108"]
    assert dup and dup[0]["line"] == later and dup[0]["severity"] == "warning", diags
    result = run_in_process("solve", "--target-epochs", "3", "--by", "epoch", str(path))
    assert result.exit_code == 0, result.output
    new = path.read_text().splitlines()
    assert new[later - 2] == '  "epoch": 2,'  # the first occurrence is left alone
    out = json.loads(run_in_process("steps", "--format", "json", str(path)).stdout)
    assert out["trainer"]["num_train_epochs"] == 3


# ------------------------------------------------------------------------------------------
# 3. positions of parse errors

TOML_ERRORS = [
    ("a = 01", 1, 5), ("a = 1 2", 1, 7), ("a = 1979-13-45", 1, 5), ("a = {b = 1,}", 1, 10),
    ("a.b = 1\na.b = 2", 2, 1), ("a.b = 1\n[a]", 2, 1), ("[t]\nx = 1\n[t]", 3, 1),
    ("a = 1\na.b = 2", 2, 1), ("s =", 1, 4), ("a = [1,\n2,,]", 2, 3), ("x = \"abc", 1, 5),
]


@pytest.mark.parametrize("text,line,col", TOML_ERRORS)
def test_toml_errors_at_the_same_line_col_in_every_command(tmp_path, text, line, col):
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        tomllib.loads(text)
        pytest.skip("this Python's TOML parser accepts it (tomli >= 2.3 reads TOML 1.1)")
    except tomllib.TOMLDecodeError:
        pass
    path = tmp_path / "bad.toml"
    path.write_text('pretrained_model_name_or_path = "x"\n' + text + "\n")
    line += 1
    places = set()
    for args in (["lint"], ["steps"], ["solve", "--target-epochs", "2"], ["lint", "--diff"]):
        result = run_in_process(*args, str(path))
        no_crash(result)
        assert result.exit_code == 2, (args, result.output)
        found = [w for w in result.output.replace(":", " ").split() if w.isdigit()]
        assert f"bad.toml:{line}:" in result.output, (args, result.output)
        places.add(result.output.split("bad.toml:", 1)[1].split(":")[0:2].__str__())
    assert len(places) == 1, places
    # the column points into the offending statement's line
    result = run_in_process("lint", str(path))
    reported = int(result.output.split("bad.toml:", 1)[1].split(":")[1])
    assert abs(reported - col) <= 4, result.output


def test_toml_positions_from_every_form_of_the_parser_error():
    """tomllib 3.11-3.13 puts the position in the message only; tomli >= 2.1 and Python 3.14
    add msg/pos attributes; some errors say "(at end of document)". Each form gives an offset."""
    from kohya_tune.load.positions import toml_decode_position

    body = "a = 1\nb = 01\n"

    class Attrs(ValueError):
        def __init__(self, msg, pos):
            super().__init__(f"{msg} (at line 2, column 6)")
            self.msg, self.pos = msg, pos

    assert toml_decode_position(body, Attrs("Expected newline", 11)) == ("Expected newline", 11)
    assert toml_decode_position(body, ValueError("Expected newline (at line 2, column 6)")) == ("Expected newline", 11)
    assert toml_decode_position(body, ValueError("Invalid value (at end of document)")) == ("Invalid value", len(body))
    assert toml_decode_position(body, ValueError("Odd message")) == ("Odd message", len(body))


def test_lint_diff_on_a_broken_file_prints_the_error(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"epoch": 1,,}')
    proc = run_cli("lint", "--diff", str(path), cwd=tmp_path)
    assert proc.returncode == 2
    assert "c.json:1:13: KT001" in proc.stderr


# ------------------------------------------------------------------------------------------
# 4. file system

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_fifo_and_devices_are_never_opened(tmp_path):
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    for target, what in ((fifo, "named pipe"), ("/dev/zero", "character device"), ("/dev/null", "character device"),
                         (tmp_path, "directory")):
        for args in (["lint"], ["steps"], ["solve", "--target-epochs", "2"]):
            if args == ["lint"] and target == tmp_path:
                continue  # lint takes a folder for the configs in it
            proc = run_cli(*args, str(target), cwd=tmp_path, timeout=20)
            assert proc.returncode == 2, (args, target, proc.stderr)
            assert what in proc.stdout + proc.stderr and str(target) in proc.stdout + proc.stderr


def test_names_longer_than_the_system_allows(tmp_path):
    long = "x" * 5000 + ".json"
    for args in (["lint"], ["steps"], ["solve", "--target-epochs", "2"]):
        proc = run_cli(*args, long, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert "longer than this system allows" in proc.stdout + proc.stderr
    deep = str(tmp_path / ("d" * 300) / "c.json")
    proc = run_cli("steps", deep, cwd=tmp_path)
    assert proc.returncode == 2 and "longer than this system allows" in proc.stderr
    path = args_toml(tmp_path, "")
    path.write_text(path.read_text().replace(str(tmp_path / "img"), "y" * 5000))
    proc = run_cli("steps", str(path), cwd=tmp_path)
    assert proc.returncode == 2 and "longer than this system allows" in proc.stderr, proc.stderr


def _nobody():
    """Run as user 65534 (nobody) when we are root and setpriv exists; else None."""
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("setpriv"):
        return None
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _as_nobody(*args, cwd):
    env = dict(os.environ)
    env.pop("GITHUB_ACTIONS", None)
    return subprocess.run(_nobody() + [sys.executable, "-m", "kohya_tune", *args], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def open_dir():
    """A folder every user may enter (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="kohya-harden-"))
    os.chmod(folder, 0o777)
    yield folder
    for root, dirs, files_ in os.walk(folder):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o777)
    shutil.rmtree(folder, ignore_errors=True)


def test_unreadable_files_and_folders_as_another_user(open_dir):
    if _nobody() is None:
        pytest.skip("needs root and setpriv to run as another user")
    probe = subprocess.run(_nobody() + [sys.executable, "-c", "import kohya_tune"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("this interpreter cannot be run as another user")
    make_images(open_dir / "img" / "10_tok", [[512, 512, 2]])
    for p in (open_dir / "img", open_dir / "img" / "10_tok"):
        os.chmod(p, 0o755)
    for f in (open_dir / "img" / "10_tok").iterdir():
        os.chmod(f, 0o644)
    secret = open_dir / "secret.json"
    secret.write_text("{}")
    os.chmod(secret, 0o000)
    proc = _as_nobody("lint", str(secret), cwd=open_dir)
    assert proc.returncode == 2 and "permission denied" in proc.stderr.lower() + proc.stdout, proc.stderr
    proc = _as_nobody("steps", str(secret), cwd=open_dir)
    assert proc.returncode == 2 and "permission denied" in proc.stderr.lower() and str(secret) in proc.stderr
    # a folder on the config's path we may not search
    locked = open_dir / "locked"
    locked.mkdir()
    (locked / "c.json").write_text("{}")
    os.chmod(locked, 0o700)
    proc = _as_nobody("steps", str(locked / "c.json"), cwd=open_dir)
    assert proc.returncode == 2 and "permission denied" in proc.stderr.lower(), proc.stderr
    proc = _as_nobody("lint", str(open_dir), cwd=open_dir)  # a folder holding the locked one
    assert proc.returncode in (0, 1, 2) and "Traceback" not in proc.stderr, proc.stderr
    # a dataset folder we may not list
    config = open_dir / "args.toml"
    config.write_text(f'train_data_dir = "{locked}"\nresolution = "512,512"\n')
    os.chmod(config, 0o644)
    proc = _as_nobody("steps", str(config), cwd=open_dir)
    # exit 1: the trainer's own Path.iterdir fails there too
    assert proc.returncode in (1, 2) and "permission denied" in proc.stderr.lower() and "locked" in proc.stderr, proc.stderr
    # a config we may read in a folder we may not write: solve says it cannot write
    ro_folder = open_dir / "ro"
    ro_folder.mkdir()
    cfg = ro_folder / "args.toml"
    cfg.write_text(f'train_data_dir = "{open_dir / "img"}"\nresolution = "512,512"\nmax_train_steps = 10\n')
    os.chmod(cfg, 0o666)
    os.chmod(ro_folder, 0o555)
    before = cfg.read_bytes()
    proc = _as_nobody("solve", "--target-steps", "4", str(cfg), cwd=open_dir)
    assert proc.returncode == 2 and "cannot write" in proc.stderr, proc.stderr
    assert cfg.read_bytes() == before and sorted(os.listdir(ro_folder)) == ["args.toml"]


# ------------------------------------------------------------------------------------------
# 5. writes

def test_read_only_config_is_refused_unless_forced(tmp_path):
    path = args_toml(tmp_path, "max_train_steps = 10")
    os.chmod(path, 0o444)
    before = path.read_bytes()
    proc = run_cli("solve", "--target-steps", "4", str(path), cwd=tmp_path)
    assert proc.returncode == 2 and "read-only" in proc.stderr and "--force" in proc.stderr
    assert path.read_bytes() == before
    proc = run_cli("solve", "--target-steps", "4", "--force", str(path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "max_train_steps = 4" in path.read_text()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o444  # still read-only
    # lint --fix: the same rule (KT601 has a safe fix for a quoted number)
    path2 = args_toml(tmp_path, 'max_train_steps = "10"')
    os.chmod(path2, 0o444)
    proc = run_cli("lint", "--fix", str(path2), cwd=tmp_path)
    assert proc.returncode == 2 and "read-only" in proc.stderr
    assert 'max_train_steps = "10"' in path2.read_text()
    proc = run_cli("lint", "--fix", "--force", str(path2), cwd=tmp_path)
    assert "max_train_steps = 10\n" in path2.read_text(), proc.stderr


def test_stale_temp_files_of_a_killed_write_are_removed(tmp_path):
    path = args_toml(tmp_path, "max_train_steps = 10")
    stale = tmp_path / f".{path.name}.kohya-tune-abc123.tmp"
    stale.write_text("half a file")
    other = tmp_path / f".{path.name}.someone-else.tmp"
    other.write_text("not ours")
    proc = run_cli("solve", "--target-steps", "4", str(path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not stale.exists() and other.exists()
    assert not [p for p in tmp_path.iterdir() if ".kohya-tune-" in p.name]


def test_a_temp_file_being_written_is_left_alone(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    from kohya_tune.edit import rewrite

    path = tmp_path / "c.toml"
    path.write_text("a = 1\n")
    live = tmp_path / ".c.toml.kohya-tune-live.tmp"
    live.write_text("in progress")
    with open(live, "rb") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        rewrite.write_atomic(str(path), "a = 2\n")
        assert live.exists()
    assert path.read_text() == "a = 2\n"


def test_a_write_killed_midway_leaves_the_config_intact_and_the_next_run_cleans_up(tmp_path):
    """A real kill (SIGKILL) of a process inside write_atomic, after its temp file exists."""
    if os.name != "posix":
        pytest.skip("POSIX signals")
    path = args_toml(tmp_path, "max_train_steps = 10")
    before = path.read_bytes()
    script = (
        "import os, sys, time\n"
        "from kohya_tune.edit import rewrite\n"
        "real = os.replace\n"
        "def stall(*a):\n"
        "    print('ready', flush=True); time.sleep(60)\n"
        "os.replace = stall\n"
        f"rewrite.write_atomic({str(path)!r}, 'x = 1\\n')\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.kill()
    proc.wait()
    assert path.read_bytes() == before
    assert [p for p in tmp_path.iterdir() if ".kohya-tune-" in p.name]  # left behind by the kill
    assert run_cli("solve", "--target-steps", "4", str(path), cwd=tmp_path).returncode == 0
    assert not [p for p in tmp_path.iterdir() if ".kohya-tune-" in p.name]


def test_a_config_changed_since_it_was_read_is_not_overwritten(tmp_path):
    from kohya_tune.edit import rewrite

    path = tmp_path / "c.toml"
    path.write_text("a = 1\n")
    read = path.read_text()
    path.write_text("a = 1\nb = 2\n")  # another program saved in between
    with pytest.raises(rewrite.WriteError, match="changed since it was read"):
        rewrite.write_atomic(str(path), "a = 5\n", expected=read)
    assert path.read_text() == "a = 1\nb = 2\n"
    assert not [p for p in tmp_path.iterdir() if ".kohya-tune-" in p.name]


def test_two_writers_at_once_lose_no_update(tmp_path):
    """Writer B waits for the lock writer A holds, then finds the file changed and refuses."""
    fcntl = pytest.importorskip("fcntl")
    from kohya_tune.edit import rewrite

    path = tmp_path / "c.toml"
    path.write_text("a = 1\n")
    original = path.read_text()
    outcome = {}
    fh = open(path, "rb")
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # writer A is between its check and its rename

    def writer_b():
        try:
            rewrite.write_atomic(str(path), "a = 1\nb = 'B'\n", expected=original)
            outcome["b"] = "wrote"
        except rewrite.WriteError as exc:
            outcome["b"] = str(exc)

    thread = threading.Thread(target=writer_b)
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive()  # B waits for the lock
    # A replaces the file and releases its lock
    tmp = tmp_path / ".a.tmp"
    tmp.write_text("a = 1\nc = 'A'\n")
    os.replace(tmp, path)
    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    fh.close()
    thread.join(10)
    assert "changed since it was read" in outcome["b"]
    assert path.read_text() == "a = 1\nc = 'A'\n"


def test_lint_fix_validates_the_fixed_text_before_writing(tmp_path, monkeypatch):
    """A fix whose result would not load is not written (the text is checked completely)."""
    from kohya_tune.edit import rewrite

    path = args_toml(tmp_path, 'max_train_steps = "10"')
    before = path.read_bytes()
    real = rewrite.apply_edits
    monkeypatch.setattr(rewrite, "apply_edits", lambda doc, edits: real(doc, edits) + "[[broken\n")
    result = run_in_process("lint", "--fix", str(path))
    no_crash(result)
    assert "fixes not applied" in result.output and "would not load" in result.output
    assert path.read_bytes() == before


def test_bytes_that_are_not_utf8_are_placed_at_line_col(tmp_path):
    path = tmp_path / "c.json"
    path.write_bytes(b'{\n  "a": "caf\xe9"\n}\n')
    for args in (["lint"], ["steps"], ["solve", "--target-epochs", "2"]):
        result = run_in_process(*args, str(path))
        no_crash(result)
        assert result.exit_code == 2 and "c.json:2:12:" in result.output and "UTF-8" in result.output


# inputs the fuzz harness found (tools/fuzz.py), kept as they were, each once an exit 3
FUZZ_FOUND = [
    # KT205's "it would compute ... from epoch" ran the GUI formula on a batch size of 1e309
    ("gui.json", '{"train_batch_size": 1e309, "lr_scheduler": 1e309, "conditioning_data_dir": [[0.0]],'
                 ' "max_bucket_reso": [], "LoRA_type": "LoCon", "train_data_dir": "IMG", "epoch": 10}'),
    # the GUI's formula on an infinite epoch (gui.py _gui_steps), a min_bucket_reso of -10**30
    # (the bucket list loop), a list where the GUI wants an int
    ("gui2.json", '{"LoRA_type": "Standard", "train_data_dir": "IMG", "epoch": Infinity}'),
    ("gui3.json", '{"LoRA_type": "Standard", "train_data_dir": "IMG", "epoch": 1, "enable_bucket": true,'
                  ' "min_bucket_reso": -1000000000000000000000000000000}'),
    ("gui4.json", '{"LoRA_type": "Standard", "train_data_dir": "IMG", "epoch": 1, "min_bucket_reso": [[1], [2]]}'),
    # validation_split / caption_extension of the wrong type reaching the scan
    ("args.toml", 'train_data_dir = "IMG"\nresolution = "512,512"\nvalidation_split = "x"\ncaption_extension = [1]\n'),
    ("args2.toml", 'train_data_dir = "IMG"\nresolution = "512,512"\nvalidation_seed = 1979-05-27\n'),
    # a boolean resolution (voluptuous' int takes it) reached the bucket manager; an infinite
    # validation_split reached split_train_val
    ("ds.toml", '[general]\nresolution = true\n[[datasets]]\n[[datasets.subsets]]\nimage_dir = "IMG/10_tok"\n'),
    ("ds2.toml", '[general]\nresolution = 512\n[[datasets]]\nvalidation_split = inf\n'
                 '[[datasets.subsets]]\nimage_dir = "IMG/10_tok"\n'),
]


@pytest.mark.parametrize("name,text", FUZZ_FOUND, ids=[n for n, _ in FUZZ_FOUND])
def test_inputs_the_fuzzer_found(tmp_path, name, text):
    make_images(tmp_path / "img" / "10_tok", [[512, 512, 3], [768, 512, 1]])
    path = tmp_path / name
    path.write_text(text.replace("IMG", str(tmp_path / "img")), encoding="utf-8")
    for args in (["lint"], ["steps"], ["solve", "--diff", "--target-epochs", "7"],
                 ["solve", "--diff", "--target-steps", "1000000"]):
        no_crash(run_in_process(*args, str(path)))
