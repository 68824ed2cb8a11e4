"""The pre-commit hook (.pre-commit-hooks.yaml), run by the real pre-commit against this checkout.

pre-commit clones the given `rev` of the repository, so the hook definition must be committed
at HEAD. KOHYA_TUNE_PRECOMMIT_REPO may name another checkout (e.g. a scratch clone) to test.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(os.environ.get("KOHYA_TUNE_PRECOMMIT_REPO") or Path(__file__).parents[1])

ARGS = ('pretrained_model_name_or_path = "m"\noutput_dir = "out"\nresolution = "512,512"\n'
        'max_train_epochs = 1\ndataset_config = "dataset.toml"\n')
BAD_DATASET = '[[datasets]]\nresolution = 512\n\n  [[datasets.subsets]]\n  image_dir = "img"\n  batch_size = 4\n'
GOOD_DATASET = '[[datasets]]\nresolution = 512\nbatch_size = 4\n\n  [[datasets.subsets]]\n  image_dir = "img"\n'


def _pre_commit() -> list[str] | None:
    exe = shutil.which("pre-commit")
    if exe:
        return [exe]
    if importlib.util.find_spec("pre_commit") is not None:
        return [sys.executable, "-m", "pre_commit"]
    return None


def _head_sha() -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(CHECKOUT), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


@pytest.fixture(scope="module")
def hook_env(tmp_path_factory):
    pre_commit = _pre_commit()
    if pre_commit is None:
        pytest.skip("pre-commit is not installed")
    sha = _head_sha()
    if sha is None:
        pytest.skip(f"{CHECKOUT} is not a git repository: pre-commit needs a commit to clone")
    home = tmp_path_factory.mktemp("pre-commit-home")
    env = dict(os.environ)
    env.pop("GITHUB_ACTIONS", None)
    env.update(PRE_COMMIT_HOME=str(home), GIT_CONFIG_NOSYSTEM="1", PRE_COMMIT_COLOR="never")
    return pre_commit, sha, env


def git(repo: Path, *args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=env,
                          timeout=120, check=True)


def make_repo(path: Path, sha: str, env) -> Path:
    path.mkdir()
    git(path, "init", "-q", env=env)
    git(path, "config", "user.email", "test@example.invalid", env=env)
    git(path, "config", "user.name", "kohya-tune test", env=env)
    git(path, "config", "commit.gpgsign", "false", env=env)
    (path / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {CHECKOUT.resolve().as_posix()}\n"
        f"    rev: {sha}\n"
        "    hooks:\n"
        "      - id: kohya-tune\n", encoding="utf-8")
    return path


def commit_all(repo: Path, env, message: str) -> None:
    git(repo, "add", "-A", env=env)
    git(repo, "commit", "-q", "--no-verify", "-m", message, env=env)


def run_hooks(repo: Path, pre_commit, env) -> subprocess.CompletedProcess:
    return subprocess.run([*pre_commit, "run", "--all-files"], cwd=repo, capture_output=True,
                          text=True, env=env, timeout=900)


def test_hook_fails_on_bad_configs_and_passes_when_fixed(tmp_path, hook_env):
    pre_commit, sha, env = hook_env
    repo = make_repo(tmp_path / "project", sha, env)
    (repo / "train.toml").write_text(ARGS, encoding="utf-8")
    (repo / "dataset.toml").write_text(BAD_DATASET, encoding="utf-8")
    (repo / "broken.json").write_text('{"epoch": 1, "learning_rate": }\n', encoding="utf-8")
    (repo / "package.json").write_text('{"name": "x", "version": "1.0.0"}\n', encoding="utf-8")
    commit_all(repo, env, "bad configs")

    proc = run_hooks(repo, pre_commit, env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "kohya-tune" in out and "Failed" in out
    assert "dataset.toml:6:3: KT102" in out, out
    assert "broken.json:1:" in out and "KT001" in out, out
    assert "package.json" not in out  # not a kohya config: skipped silently

    (repo / "dataset.toml").write_text(GOOD_DATASET, encoding="utf-8")
    (repo / "broken.json").unlink()
    commit_all(repo, env, "fixed")
    proc = run_hooks(repo, pre_commit, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Passed" in proc.stdout


def test_non_kohya_json_passes(tmp_path, hook_env):
    pre_commit, sha, env = hook_env
    repo = make_repo(tmp_path / "web", sha, env)
    (repo / "package.json").write_text('{"name": "x", "version": "1.0.0", "scripts": {}}\n',
                                       encoding="utf-8")
    (repo / "tsconfig.json").write_text('{"compilerOptions": {"strict": true}}\n', encoding="utf-8")
    (repo / "Cargo.toml").write_text('[package]\nname = "x"\nversion = "0.1.0"\n', encoding="utf-8")
    commit_all(repo, env, "web project")
    proc = run_hooks(repo, pre_commit, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def readme_snippets() -> list[str]:
    """The two .pre-commit-config.yaml snippets of the README's pre-commit section."""
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### pre-commit", 1)[1].split("\n## ", 1)[0]
    import re

    return re.findall(r"```yaml\n(.*?)```", section, re.S)


def test_readme_snippets_as_written_fail_on_warnings(tmp_path, hook_env):
    """Both README snippets, pasted as they are (the checkout's folder put in, `rev: HEAD`
    pinned by `pre-commit autoupdate --bleeding-edge` as the README says): a config with only a
    warning fails the commit (--strict), and passes once fixed."""
    pre_commit, sha, env = hook_env
    local, remote = readme_snippets()
    assert "--strict" in local and "--strict" in remote and "rev: HEAD" in remote
    env = dict(env, PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]))
    for name, snippet in (("local", local), ("remote", remote.replace("C:/src/kohya-tune", CHECKOUT.resolve().as_posix()))):
        repo = tmp_path / name
        make_repo(repo, sha, env)
        (repo / ".pre-commit-config.yaml").write_text(snippet, encoding="utf-8")
        if name == "remote":
            up = subprocess.run([*pre_commit, "autoupdate", "--bleeding-edge"], cwd=repo, capture_output=True,
                                text=True, env=env, timeout=300)
            assert up.returncode == 0, up.stdout + up.stderr
            assert f"rev: {sha}" in (repo / ".pre-commit-config.yaml").read_text(encoding="utf-8")
        (repo / "train.toml").write_text(ARGS + "max_train_epoch = 3\n", encoding="utf-8")
        (repo / "dataset.toml").write_text(GOOD_DATASET, encoding="utf-8")
        commit_all(repo, env, "a typo")
        proc = run_hooks(repo, pre_commit, env)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1 and "train.toml:6:1: KT101 warning" in out, out
        (repo / "train.toml").write_text(ARGS, encoding="utf-8")
        commit_all(repo, env, "fixed")
        proc = run_hooks(repo, pre_commit, env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
