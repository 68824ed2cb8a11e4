"""KT5xx: LR warmup rules, driven through the CLI on small real-looking configs."""
from __future__ import annotations

from test_rules_steps import GUI_V23, args_toml, codes, dataset, gui_json, line_of, lint

COSINE = 'lr_scheduler = "cosine"'


def with_warmup(tmp_path, warmup, scheduler="constant", steps="max_train_epochs = 4"):
    path = args_toml(tmp_path, steps)
    text = path.read_text(encoding="utf-8").replace(COSINE, f'lr_scheduler = "{scheduler}"')
    text = text.replace("lr_warmup_steps = 0", f"lr_warmup_steps = {warmup}")
    path.write_text(text, encoding="utf-8")
    return path


# -- KT501

def test_kt501_constant_with_warmup_args(tmp_path):
    dataset(tmp_path)
    path = with_warmup(tmp_path, 10)
    found = codes(lint(tmp_path, path, select="KT5"), "KT501")
    assert [d["line"] for d in found] == [line_of(path, "lr_warmup_steps")]
    assert found[0]["severity"] == "error"  # get_scheduler_fix raises ValueError
    assert "constant_with_warmup" in found[0]["message"]

    path = with_warmup(tmp_path, 10, scheduler="constant_with_warmup")
    assert not codes(lint(tmp_path, path, select="KT5"), "KT501")


def test_kt501_v23_gui_drops_warmup(tmp_path):
    dataset(tmp_path)
    path = gui_json(tmp_path, base=GUI_V23, lr_warmup=10)
    found = codes(lint(tmp_path, path, "--gui-version", "v23.1.5", select="KT5"), "KT501")
    assert [d["line"] for d in found] == [line_of(path, "lr_warmup")]
    assert found[0]["severity"] == "warning" and "drops" in found[0]["message"]

    path = gui_json(tmp_path, base=GUI_V23, lr_warmup=0)
    assert not codes(lint(tmp_path, path, "--gui-version", "v23.1.5", select="KT5"), "KT501")


def test_kt501_v24_load_event_zeroes_warmup(tmp_path):
    # v24.0.0 kohya_gui/class_basic_training.py lr_scheduler_changed: loading "constant" fires the
    # change event, which sets the warmup slider to 0: nothing is sent
    dataset(tmp_path)
    path = gui_json(tmp_path, lr_scheduler="constant", lr_warmup=10, max_train_steps=0)
    found = codes(lint(tmp_path, path, "--gui-version", "v24.1.7", select="KT5"), "KT501")
    assert found and found[0]["severity"] == "warning"
    assert "change event sets the warmup to 0" in found[0]["message"]


# -- KT502

def test_kt502_bankers_rounding(tmp_path):
    # epoch 2, batch 4: max_train_steps ceil(50 / 4 * 2) = 25; 10 % of 25 = 2.5 -> round() = 2
    dataset(tmp_path)
    path = gui_json(tmp_path, epoch=2, lr_scheduler="cosine", lr_warmup=10)
    found = codes(lint(tmp_path, path, "--gui-version", "v24.1.7", select="KT5"), "KT502")
    assert [d["line"] for d in found] == [line_of(path, "lr_warmup")]
    assert "2.5" in found[0]["message"] and "2 warmup steps, not 3" in found[0]["message"]
    assert found[0]["severity"] == "info"

    path = gui_json(tmp_path, epoch=2, lr_scheduler="cosine", lr_warmup=20)  # 5 exactly
    assert not codes(lint(tmp_path, path, "--gui-version", "v24.1.7", select="KT5"), "KT502")


def test_kt502_ratio_floored(tmp_path):
    dataset(tmp_path)
    path = with_warmup(tmp_path, 0.1, scheduler="cosine")  # 0.1 x 52 = 5.2 -> 5
    found = codes(lint(tmp_path, path, select="KT5"), "KT502")
    assert [d["line"] for d in found] == [line_of(path, "lr_warmup_steps")]
    assert "= 5 warmup steps" in found[0]["message"]

    path = with_warmup(tmp_path, 0.25, scheduler="cosine")  # 13 exactly
    assert not codes(lint(tmp_path, path, select="KT5"), "KT502")


# -- KT503

def test_kt503_ratio_on_old_sd_scripts(tmp_path):
    dataset(tmp_path)
    path = with_warmup(tmp_path, 0.1, scheduler="cosine")
    found = codes(lint(tmp_path, path, "--sd-scripts", "v0.8.7", select="KT5"), "KT503")
    assert [d["line"] for d in found] == [line_of(path, "lr_warmup_steps")]
    assert "v0.9.0" in found[0]["message"] and found[0]["severity"] == "error"

    assert not codes(lint(tmp_path, path, "--sd-scripts", "v0.9.0", select="KT5"), "KT503")


def test_kt503_percent_string(tmp_path):
    dataset(tmp_path)
    path = with_warmup(tmp_path, '"10%"', scheduler="cosine")
    found = codes(lint(tmp_path, path, select="KT5"), "KT503")
    assert [d["line"] for d in found] == [line_of(path, "lr_warmup_steps")]
    assert "TypeError" in found[0]["message"]


# -- KT504

def test_kt504_warmup_longer_than_run(tmp_path):
    dataset(tmp_path)
    path = with_warmup(tmp_path, 60, scheduler="cosine")  # the run has 4 x 13 = 52 steps
    found = codes(lint(tmp_path, path, select="KT5"), "KT504")
    assert [d["line"] for d in found] == [line_of(path, "lr_warmup_steps")]
    assert "60" in found[0]["message"] and "52" in found[0]["message"]

    path = with_warmup(tmp_path, 10, scheduler="cosine")
    assert not codes(lint(tmp_path, path, select="KT5"), "KT504")
