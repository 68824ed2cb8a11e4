"""KT110 (network module options as top-level keys) and KT111 (dataset_config naming an argument
file or a GUI JSON), through the CLI."""
from __future__ import annotations

import json

from helpers import run_cli

BASE = 'pretrained_model_name_or_path = "x"\nmax_train_epochs = 3\n'


def lint(tmp_path, name="a.toml", *extra):
    proc = run_cli("lint", "--output-format", "json", *extra, name, cwd=tmp_path)
    return proc, json.loads(proc.stdout)


def test_network_options_at_the_top_level_are_ignored(tmp_path):
    # networks.lora create_network reads conv_dim, module_dropout and LoRA+ from **kwargs,
    # i.e. from --network_args (HEAD networks/lora.py L435-498); as TOML keys nothing reads them
    (tmp_path / "a.toml").write_text(BASE + 'network_module = "networks.lora"\nconv_dim = 8\n'
                                     'loraplus_lr_ratio = 4\nnetwork_args = ["conv_alpha=4"]\n')
    proc, diags = lint(tmp_path)
    found = [d for d in diags if d["code"] == "KT110"]
    assert [d["line"] for d in found] == [4, 5]
    assert 'network_args = ["conv_alpha=4", "conv_dim=8", "loraplus_lr_ratio=4"]' in found[0]["message"]
    assert not [d for d in diags if d["code"] == "KT101"]  # one finding per problem
    # LoRA+ keys arrived in networks.lora with v0.9.0: v0.8.7 does not read them anywhere
    proc, diags = lint(tmp_path, "a.toml", "--sd-scripts", "v0.8.7")
    keys = {d["key_path"] for d in diags if d["code"] == "KT110"}
    assert keys == {"conv_dim"}
    assert any(d["code"] == "KT101" and d["key_path"] == "loraplus_lr_ratio" for d in diags)


def test_the_module_decides_which_keys_belong_in_network_args(tmp_path):
    # networks.oft reads only enable_all_linear and enable_conv (v0.10.1 networks/oft.py L178-179)
    (tmp_path / "a.toml").write_text(BASE + 'network_module = "networks.oft"\nconv_dim = 8\n'
                                     'enable_conv = true\n')
    _, diags = lint(tmp_path)
    assert {d["key_path"] for d in diags if d["code"] == "KT110"} == {"enable_conv"}
    assert any(d["code"] == "KT101" and d["key_path"] == "conv_dim" for d in diags)


def test_dataset_config_pointing_at_an_argument_file(tmp_path):
    (tmp_path / "other.toml").write_text(BASE + 'train_data_dir = "img"\n')
    (tmp_path / "a.toml").write_text(BASE + 'dataset_config = "other.toml"\n')
    proc, diags = lint(tmp_path)
    assert proc.returncode == 1
    kt111 = [d for d in diags if d["code"] == "KT111"]
    assert len(kt111) == 1 and kt111[0]["line"] == 3 and "argument file" in kt111[0]["message"]
    assert any(d["code"] == "KT300" and "extra keys not allowed" in d["message"] for d in diags)
    (tmp_path / "gui.json").write_text(json.dumps({"LoRA_type": "Standard", "epoch": 1}))
    (tmp_path / "a.toml").write_text(BASE + 'dataset_config = "gui.json"\n')
    _, diags = lint(tmp_path)
    assert any(d["code"] == "KT111" and "GUI config" in d["message"] for d in diags)
