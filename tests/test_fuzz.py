"""The fuzz harness, bounded for CI (about a minute and a half on two cores): hypothesis-generated
and byte-mutated configs through lint, steps, solve --diff, schedule (text, JSON, every --plot
format) and balance (plan, --diff, --check, JSON, --apply then --undo on a copy that must come back
byte for byte) in-process; any exit 3, escaping exception or command over 10 s fails. The generators live in tests/fuzzing.py; the long run is
`python tools/fuzz.py --budget SECONDS` (README, development section).

The runs are derandomized (the same inputs every time, no example database), so CI is
reproducible; tools/fuzz.py draws new inputs with every seed.
"""
from __future__ import annotations

import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzzing

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CI_COMMANDS = [("lint",), ("steps", "--format", "json"), ("solve", "--diff", "--target-epochs", "7"),
               ("solve", "--diff", "--target-steps", "1000000"), ("schedule", "--format", "json")]
BOUNDED = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    workspace = fuzzing.make_workspace(root / "ws")
    run = root / "run"
    run.mkdir()
    return run, workspace


def _check(run, example):
    name, content, origin = example
    with fuzzing.in_workdir(run):
        failures = fuzzing.run_one(run, name, content, origin, CI_COMMANDS)
    assert not failures, "\n\n".join(f.describe() for f in failures)


def test_structured_values(work):
    run, workspace = work

    @BOUNDED
    @given(fuzzing.structured(workspace))
    def check(example):
        _check(run, example)

    check()


def test_generated_configs(work):
    run, workspace = work

    @BOUNDED
    @given(fuzzing.generated(workspace))
    def check(example):
        _check(run, example)

    check()


PLOT_COMMANDS = [("schedule", "--plot", "fuzz-plot.svg"), ("schedule", "--plot", "fuzz-plot.html"),
                 ("schedule", "--plot", "fuzz-plot.png")]


def test_schedule_plots_on_structured_values(work):
    run, workspace = work

    @settings(max_examples=15, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(fuzzing.structured(workspace))
    def check(example):
        name, content, origin = example
        with fuzzing.in_workdir(run):
            failures = fuzzing.run_one(run, name, content, origin, PLOT_COMMANDS)
        assert not failures, "\n\n".join(f.describe() for f in failures)

    check()


def test_balance_hostile_options_and_apply_undo(work):
    run, workspace = work
    root = run.parent / "ws"

    @settings(max_examples=25, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(fuzzing.balance_inputs(workspace))
    def check(example):
        with fuzzing.in_workdir(run):
            failures = fuzzing.run_balance(run, root, example)
        assert not failures, "\n\n".join(f.describe() for f in failures)

    check()


def test_mutated_bytes(work):
    run, _ = work

    @BOUNDED
    @given(fuzzing.mutated())
    def check(example):
        _check(run, example)

    check()


toml_texts = st.one_of(
    st.builds(lambda seed, cut: seed.text[:cut], st.sampled_from([s for s in fuzzing.all_seeds() if s.format == "toml"]),
              st.integers(0, 4000)),
    st.builds(fuzzing.to_toml, st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), fuzzing.values, max_size=6)),
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(toml_texts)
def test_position_scanner_accepts_what_tomllib_accepts(text):
    """Every TOML text tomllib reads gets key positions (no fallback to file-level ones), and
    every text it refuses gets a line:col inside the text."""
    from kohya_tune.load import documents
    from kohya_tune.load.positions import toml_scan

    try:
        tomllib.loads(text)
        accepted = True
    except (tomllib.TOMLDecodeError, ValueError, RecursionError):
        accepted = False
    if accepted and text.count("[") < 60:
        scan, problem = toml_scan(text)
        assert problem is None, (problem.message, problem.offset)
    if not accepted:
        with pytest.raises(documents.LoadError) as err:
            documents.parse_toml("x.toml", text)
        assert err.value.line is not None and err.value.line >= 1
        lines = text.splitlines() or [""]
        assert err.value.line <= len(lines) + 1


# ------------------------------------------------------------------------------------------
# musubi-tuner configs (dataset and training args) through lint, steps, solve and schedule with a
# musubi script: a dataset with images, videos, JSONL files and cache folders to point at

MUSUBI_BOUNDED = settings(max_examples=15, deadline=None, derandomize=True, database=None,
                          suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def musubi_work(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz_musubi")
    workspace = fuzzing.make_musubi_workspace(root / "ws")
    run = root / "run"
    run.mkdir()
    return run, workspace


def _check_musubi(run, example):
    name, content, origin, script, processes = example
    with fuzzing.in_workdir(run):
        failures = fuzzing.run_one(run, name, content, origin, fuzzing.musubi_commands(script, processes, full=False))
    assert not failures, "\n\n".join(f.describe() for f in failures)


@pytest.mark.parametrize("generator", ["musubi_structured", "musubi_generated", "musubi_mutated"])
def test_musubi_configs(musubi_work, generator):
    run, workspace = musubi_work

    @MUSUBI_BOUNDED
    @given(getattr(fuzzing, generator)(workspace))
    def check(example):
        _check_musubi(run, example)

    check()
