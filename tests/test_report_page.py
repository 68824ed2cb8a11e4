"""`kohya-tune report CONFIG -o run.html`: one self-contained page with the same numbers as
`steps`, `schedule` and `lint`, rendered in headless Chromium when one is installed."""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import run_cli

ROOT = Path(__file__).parents[1]
SAMPLE = ROOT / "sample_configs"
SECTIONS = ("answer", "believes", "findings", "dataset", "schedule", "files")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The bundled sample, its report, and what steps / schedule / lint say about it."""
    folder = tmp_path_factory.mktemp("report")
    for item in SAMPLE.iterdir():
        (shutil.copytree if item.is_dir() else shutil.copy)(item, folder / item.name)
    proc = run_cli("report", "lora_gui.json", "-o", "run.html", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "wrote run.html"
    return {
        "folder": folder,
        "html": (folder / "run.html").read_text(encoding="utf-8"),
        "steps": run_cli("steps", "lora_gui.json", cwd=folder).stdout,
        "steps_json": json.loads(run_cli("steps", "lora_gui.json", "--format", "json", cwd=folder).stdout),
        "schedule": json.loads(run_cli("schedule", "lora_gui.json", "--format", "json", cwd=folder).stdout),
        "lint": json.loads(run_cli("lint", "lora_gui.json", "--output-format", "json", cwd=folder).stdout),
    }


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_page_is_self_contained(sample):
    page = sample["html"]
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page.lower()
    # nothing is loaded from anywhere: no src/href attribute, no CSS import or url()
    assert not re.search(r"\s(src|href)\s*=", page, re.I)
    assert "@import" not in page and "url(" not in page
    # the only URL is the SVG namespace, which is a name, never fetched
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) == {"http://www.w3.org/2000/svg"}


def test_page_says_what_steps_schedule_and_lint_say(sample):
    page, words = sample["html"], text_of(sample["html"])
    # the answer first, word for word as steps prints it
    answer = next(line for line in sample["steps"].splitlines() if "the trainer runs" in line)
    assert html.escape(answer) in page
    assert page.index('id="answer"') < page.index('id="believes"') < page.index('id="findings"')
    trainer = sample["steps_json"]["trainer"]
    gui = sample["steps_json"]["gui"]
    assert f"the GUI ({gui['version']}) believes" in words
    for bucket, count in trainer["buckets"].items():
        assert bucket in words and str(count) in words
    for cp in sample["schedule"]["checkpoints"]:
        assert cp["file"] in words
    assert f"{len(sample['schedule']['samples'])} sample runs at steps" in words
    # the LR curve is plot.svg's drawing of the same schedule
    assert '<div class="figure" id="lr-curve"><svg' in page
    for d in sample["lint"]:
        assert d["code"] in words
        assert f"lora_gui.json:{d['line']}:{d['column']}" in words


def test_stdout_refusal_and_missing_dataset(tmp_path):
    for item in SAMPLE.iterdir():
        (shutil.copytree if item.is_dir() else shutil.copy)(item, tmp_path / item.name)
    out = run_cli("report", "train_args.toml", "-o", "-", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("<!DOCTYPE html>")
    # the trainer refuses: the page says why (exit 1), in the trainer's own words
    dataset = tmp_path / "dataset.toml"
    dataset.write_text(dataset.read_text(encoding="utf-8").replace("batch_size = 2", 'batch_size = "2"'),
                       encoding="utf-8")
    refused = run_cli("report", "train_args.toml", "-o", "r.html", cwd=tmp_path)
    assert refused.returncode == 1
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "The trainer would not start" in page
    assert html.escape("MultipleInvalid: expected int for dictionary value @ data['datasets'][0]['batch_size']") in page
    # the dataset is not here: nothing is written (exit 2, the --path-map hint)
    gui = tmp_path / "lora_gui.json"
    gui.write_text(gui.read_text(encoding="utf-8").replace("dataset/img", "elsewhere/img"), encoding="utf-8")
    missing = run_cli("report", "lora_gui.json", "-o", "m.html", cwd=tmp_path)
    assert missing.returncode == 2 and "--path-map" in missing.stderr
    assert not (tmp_path / "m.html").exists()
    assert run_cli("report", "lora_gui.json", "-o", "no/such/folder/x.html", cwd=tmp_path).returncode == 2


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


# appended to a copy of the page: records, for each part, whether it is laid out with a size
PROBE = """<script>
(function () {
  var out = {};
  ["%s"].forEach(function (id) {
    var el = document.getElementById(id);
    var r = el ? el.getBoundingClientRect() : null;
    out[id] = !!(r && r.width > 100 && r.height > 20 && getComputedStyle(el).visibility === "visible");
  });
  var svg = document.querySelector("#lr-curve svg");
  var box = svg ? svg.getBoundingClientRect() : null;
  out.chart = !!(box && box.width > 300 && box.height > 150 && svg.querySelectorAll("polyline").length > 0);
  out.bars = Array.prototype.filter.call(document.querySelectorAll(".bar span"),
      function (s) { return s.getBoundingClientRect().width > 0; }).length;
  document.body.setAttribute("data-probe", JSON.stringify(out));
})();
</script>""" % '", "'.join(SECTIONS)


def test_page_renders_in_headless_chromium(sample, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium installed (apt-get install chromium)")
    probed = tmp_path / "probed.html"
    probed.write_text(sample["html"].replace("</body>", PROBE + "\n</body>"), encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
             "--window-size=1100,2000"]
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    # the page as shipped: no console message at all (it has no script; a failed load or a CSS
    # error would be logged)
    plain = subprocess.run([browser, *flags, "--dump-dom", (sample["folder"] / "run.html").as_uri()],
                           capture_output=True, text=True, timeout=120, env=env)
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert "CONSOLE" not in plain.stderr, [l for l in plain.stderr.splitlines() if "CONSOLE" in l]
    assert 'id="answer"' in plain.stdout
    # every part is laid out with a real size, the chart has its curves, the bars are drawn
    proc = subprocess.run([browser, *flags, "--dump-dom", probed.as_uri()],
                          capture_output=True, text=True, timeout=120, env=env)
    assert "CONSOLE" not in proc.stderr, [l for l in proc.stderr.splitlines() if "CONSOLE" in l]
    m = re.search(r'data-probe="([^"]*)"', proc.stdout)
    assert m, proc.stdout[-2000:]
    probe = json.loads(html.unescape(m.group(1)))
    assert all(probe[part] for part in SECTIONS), probe
    assert probe["chart"] and probe["bars"] >= 4, probe
