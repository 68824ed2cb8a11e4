"""The pictures show what they claim (issue 17.7): identical curves are one line said to be
identical, legend entries never overlap and sit outside the data, epoch numbers label the step
axis, the warm-up band is in the legend, and files are written with the user's umask (a
replaced file keeps its mode, a read-only one is refused)."""
from __future__ import annotations

import json
import os
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from helpers import run_in_process
from kohya_tune import api
from kohya_tune.output import plot

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_configs"
SVG = "{http://www.w3.org/2000/svg}"


def sample(tmp_path: Path, **changes) -> Path:
    """The bundled sample GUI JSON (its dataset copied along), with some keys changed."""
    import shutil

    shutil.copytree(SAMPLE / "dataset", tmp_path / "dataset")
    data = json.loads((SAMPLE / "lora_gui.json").read_text(encoding="utf-8"))
    data.update(changes)
    path = tmp_path / "lora_gui.json"
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


WARM_TWO_LRS = dict(text_encoder_lr=5e-5, unet_lr=1e-4, lr_warmup=10, lr_scheduler="cosine_with_restarts",
                    lr_scheduler_num_cycles=3, epoch=60, max_train_epochs=0, max_train_steps=0,
                    save_every_n_epochs=5, save_last_n_epochs=3)


def legend_of(root) -> list:
    """(x, y, text) of the legend texts: those below the x axis label."""
    axis_label = next(t for t in root.iter(f"{SVG}text") if t.text == "optimizer step")
    below = float(axis_label.get("y"))
    return [(float(t.get("x")), float(t.get("y")), t.text) for t in root.iter(f"{SVG}text")
            if float(t.get("y")) > below]


def test_svg_two_curves_warmup_and_epochs(tmp_path):
    path = sample(tmp_path, **WARM_TWO_LRS)
    out = tmp_path / "lr.svg"
    result = run_in_process("schedule", str(path), "--plot", str(out))
    assert result.exit_code == 0, result.stderr
    root = ET.fromstring(out.read_text(encoding="utf-8"))
    titles = [line.find(f"{SVG}title").text for line in root.iter(f"{SVG}polyline")]
    assert titles == ["text_encoder (base 5.0e-05)", "unet (base 1.0e-04)"]
    legend = legend_of(root)
    texts = [t for _, _, t in legend]
    assert texts[:2] == titles
    assert any(t.startswith("warm-up (75 scheduler steps") for t in texts)
    assert "epoch end" in texts and "checkpoint kept at the end" in texts
    assert "checkpoint removed later (save_last_n_*)" in texts and "sample images" in texts
    # no two legend entries overlap: on one row, each starts after the previous one's text
    width = float(root.get("width"))
    rows: dict = {}
    for x, y, text in legend:
        rows.setdefault(y, []).append((x, text))
    for entries in rows.values():
        entries.sort()
        for (x1, t1), (x2, _) in zip(entries, entries[1:]):
            assert x1 + len(t1) * plot.CHAR_WIDTH <= x2 - 28
        x_last, t_last = entries[-1]
        assert x_last + len(t_last) * plot.CHAR_WIDTH <= width
    # the legend is below the plotting area (outside the data)
    plot_bottom = max(float(line.get("y1")) for line in root.iter(f"{SVG}line")
                      if line.get("stroke") == "black" and line.get("y1") == line.get("y2"))
    assert min(y for _, y, _ in legend) > plot_bottom
    # epoch numbers above the plot: thinned so none touches the next, the last one shown
    numbers = [(float(t.get("x")), t.text) for t in root.iter(f"{SVG}text")
               if t.get("font-size") == "11" and t.text.isdigit()]
    assert numbers[-1][1] == "54" and numbers[0][1] == "1" and len(numbers) < 54
    xs = [x for x, _ in numbers]
    assert all(b - a >= 2 * plot.CHAR_WIDTH for a, b in zip(xs, xs[1:]))


def test_png_legend_outside_the_data_and_not_overlapping(tmp_path):
    pytest.importorskip("matplotlib")
    path = sample(tmp_path, **WARM_TWO_LRS)
    from kohya_tune.engine import schedule as schedule_mod, steps as steps_mod

    result = schedule_mod.compute(steps_mod.compute(api.plan(str(path))))
    fig, ax, legend = plot.png_figure(result)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes_box = ax.get_window_extent(renderer)
    legend_box = legend.get_window_extent(renderer)
    assert legend_box.y1 < axes_box.y0                       # below the axes, outside the data
    assert legend_box.x0 >= 0 and legend_box.x1 <= fig.bbox.width
    boxes = [t.get_window_extent(renderer) for t in legend.get_texts()]
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[0] == "text_encoder (base 5.0e-05)" and any(l.startswith("warm-up") for l in labels)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (labels, a, b)
    # epoch numbers on the step axis: the secondary axis at the top, thinned, the last shown
    secondary = [c for c in ax.get_children() if type(c).__name__ == "SecondaryAxis"]
    assert len(secondary) == 1
    numbers = [t.get_text() for t in secondary[0].get_xticklabels()]
    assert numbers[0] == "1" and numbers[-1] == "54" and len(numbers) < 54
    assert secondary[0].get_xlabel() == "epoch"


def test_identical_curves_are_one_line_in_the_png_legend(tmp_path):
    pytest.importorskip("matplotlib")
    from kohya_tune.engine import schedule as schedule_mod, steps as steps_mod

    result = schedule_mod.compute(steps_mod.compute(api.plan(str(SAMPLE / "lora_gui.json"))))
    fig, ax, legend = plot.png_figure(result)
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[0] == "text_encoder = unet (identical curves, base 1.0e-04)"
    assert not any(l.startswith("unet") for l in labels)
    assert len(ax.get_lines()) >= 1


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
@pytest.mark.parametrize("suffix", [".svg", ".html", ".png"])
def test_files_get_the_umask_and_replaced_files_keep_their_mode(tmp_path, suffix):
    if suffix == ".png":
        pytest.importorskip("matplotlib")
    out = tmp_path / f"lr{suffix}"
    old = os.umask(0o027)
    try:
        assert run_in_process("schedule", str(SAMPLE / "lora_gui.json"), "--plot", str(out)).exit_code == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o640
        os.chmod(out, 0o604)
        assert run_in_process("schedule", str(SAMPLE / "lora_gui.json"), "--plot", str(out)).exit_code == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o604
        before = out.read_bytes()
        os.chmod(out, 0o444)
        result = run_in_process("schedule", str(SAMPLE / "lora_gui.json"), "--plot", str(out))
        assert result.exit_code == 2 and "read-only" in result.stderr
        assert out.read_bytes() == before
        assert [p.name for p in tmp_path.iterdir()] == [out.name]      # no temp file left
    finally:
        os.umask(old)
