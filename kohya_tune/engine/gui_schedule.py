"""The schedule-related arguments a kohya_ss GUI release sends that `engine/gui.py` does not carry: output name and folder, save format, learning rates per part and the network_train_*_only
flags the LoRA tab derives from them, optimizer and its arguments, scheduler power / arguments /
type, the save_last_n_* and state options, and the sample prompt file it writes. Where releases
differ is data (`send.schedule` in versions/data/gui_behaviour.json, each change cited); this
module interprets it.

`schedule.schedule_args` adds these only where `plan.args` (built by engine/gui.py) has no value,
so they give way as soon as gui.py sends a key itself. Citations (kohya_ss, file:line at the tag):

  * CLI (v21.5 - v23.1): v21.5.11 lora_gui.py L503-506 (empty LR -> 0), L614-615 save_model_as
    unless 'same as source model', L700-709 (text_encoder_lr / unet_lr and network_train_*_only),
    L728-735 output_name, lr_scheduler_power; library/common_gui.py L857-918 run_cmd_training
    (optimizer_type always, optimizer_args when not empty), L1176-1194 (save_last_n_steps(_state)
    when > 0, save_state); library/sampler_gui.py L70-94 (the prompt file output_dir/prompt.txt,
    sent when sample_every_n_steps or sample_every_n_epochs is non-zero; v21.7.16 to v23.1.5:
    output_dir/sample/prompt.txt, class_sample_images.py L29-40 at v22.6.2); v23.1.5
    kohya_gui/lora_gui.py L904-919 (the same LR split).
  * TOML (v24+): v24.1.7 kohya_gui/lora_gui.py L1075-1089 (LR split), L1130-1224 (the values),
    L1228-1233 (entries equal to "", False or None dropped: 0 and 0.0 too); class_sample_images.py
    create_prompt_file (v24.1.7: output_dir/prompt.txt; v25.2.2+: output_dir/sample/prompt.txt);
    master kohya_gui/lora_gui.py L2075-2082 (text_encoder_lr as a list [te, te] or [te, t5xxl]),
    L2231-2347 (save_last_n_epochs(_state), save_state_on_train_end, lr_scheduler_type).
  * network_module from LoRA_type: v22.6.2 lora_gui.py L748-860 (LyCORIS/* and "LoCon" ->
    lycoris.kohya, "Kohya LoCon" / "Standard" -> networks.lora, LoRA-FA -> networks.lora_fa,
    Kohya DyLoRA -> networks.dylora; the same mapping in later releases).
  * DreamBooth tab, stop_text_encoder_training (its slider is a percent of the steps):
    v21.5.11 dreambooth_gui.py L487-496 and L522-524: -1 stays -1, else ceil(max_train_steps /
    100 * pct), sent when non-zero; v23.1.5 kohya_gui/dreambooth_gui.py L545-555: the test
    `not max_train_steps == "" or not max_train_steps == "0"` is always true, so only -1 is ever
    sent; v24.1.7 kohya_gui/dreambooth_gui.py L837-839: the slider value itself, when non-zero.
    learning_rate_te (SD) / learning_rate_te1, learning_rate_te2 (SDXL): v23.1.5 L677-680,
    v24.1.7 L753-761 (when non-zero). The SDXL DreamBooth tab does not send train_text_encoder,
    so sdxl_train.py trains the U-Net alone whatever the text-encoder LRs.
"""
from __future__ import annotations

import math
import os

from kohya_tune.versions import gui_releases


def _number(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value) if value.strip() else 0.0
        except ValueError:
            return None
    return 0.0 if value is None else None


def _split(text) -> list[str] | None:
    if isinstance(text, list):
        return [str(x) for x in text] or None
    if not isinstance(text, str) or not text.strip():
        return None
    return text.replace('"', "").split()


def sent_args(plan) -> dict:
    gui = plan.gui
    data = plan.config.data if isinstance(plan.config.data, dict) else {}
    rel = gui_releases.resolve(gui.version)
    toml = rel.get("send.transport") == "toml"
    sends = rel.get("send.schedule")  # gui_behaviour.json: what this release sends, cited
    out: dict = {}

    def keep(name, value):
        if toml and value in ["", False, None]:
            return
        if value is None or value == "":
            return
        out[name] = value

    output_dir = data.get("output_dir")
    keep("output_dir", output_dir)
    keep("output_name", data.get("output_name"))
    fmt = data.get("save_model_as")
    if fmt and fmt != "same as source model":
        keep("save_model_as", fmt)
    keep("pretrained_model_name_or_path", data.get("pretrained_model_name_or_path"))
    keep("optimizer_type", data.get("optimizer") or "AdamW")
    keep("optimizer_args", _split(data.get("optimizer_args")))
    if sends["lr_scheduler_args"]:
        keep("lr_scheduler_args", _split(data.get("lr_scheduler_args")))
    power = data.get("lr_scheduler_power")
    if power not in (None, ""):
        value = _number(power)
        if value is not None:
            keep("lr_scheduler_power", value)
    if sends["lr_scheduler_type"]:
        keep("lr_scheduler_type", data.get("lr_scheduler_type") or None)
    for name in ("save_last_n_steps", "save_last_n_steps_state") + (
            ("save_last_n_epochs", "save_last_n_epochs_state") if sends["save_last_n_epochs"] else ()):
        value = data.get(name)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if toml:
            # v24.1.7 lora_gui.py L1203: the value itself when it is not 0
            if value != 0:
                out[name] = value
            continue
        # v21.5.11 common_gui.py L1180-1190: int() of the widget value, sent when > 0; int()
        # of NaN or an infinity raises in the GUI before training starts
        if isinstance(value, float) and not math.isfinite(value):
            from kohya_tune.engine.plan import TrainerRefusal

            kind = "ValueError: cannot convert float NaN to integer" if math.isnan(value) else \
                "OverflowError: cannot convert float infinity to integer"
            raise TrainerRefusal(kind, None, note=f"the GUI converts {name} = {value} with int() "
                                                  f"while building the command (common_gui.py "
                                                  f"run_cmd_training): it stops before training")
        if value > 0:
            out[name] = int(value)
    if data.get("save_state"):
        out["save_state"] = True
    if sends["save_state_on_train_end"] and data.get("save_state_on_train_end"):
        out["save_state_on_train_end"] = True
    se, ss = data.get("sample_every_n_epochs") or 0, data.get("sample_every_n_steps") or 0
    if (se or ss) and isinstance(output_dir, str):
        # v21.5.11 sampler_gui.py L88: output_dir/prompt.txt; v21.7-v23 (sampler_gui.py /
        # class_sample_images.py L29-40): output_dir/sample/prompt.txt; v24.x create_prompt_file:
        # output_dir/prompt.txt; v25+: output_dir/sample/prompt.txt
        sub = sends["prompt_dir"] == "sample"
        out["sample_prompts"] = os.path.join(os.path.join(output_dir, "sample") if sub else output_dir,
                                             "prompt.txt")
    if gui.tab == "dreambooth":
        pct = data.get("stop_text_encoder_training")
        if isinstance(pct, (int, float)) and not isinstance(pct, bool):
            if sends["stop_text_encoder"] == "slider":
                value = pct
            elif int(pct) == -1:
                value = -1
            elif sends["stop_text_encoder"] == "minus_one_only":
                value = 0
            elif isinstance(gui.max_train_steps, int):
                value = math.ceil(float(gui.max_train_steps) / 100 * int(pct))
            else:
                value = 0
            if value != 0:
                out["stop_text_encoder_training"] = value
        if sends["dreambooth_te_lrs"]:
            names = ("learning_rate_te1", "learning_rate_te2") if data.get("sdxl") else ("learning_rate_te",)
            for name in names:
                value = _number(data.get(name, 0))
                if value:
                    out[name] = value
    if gui.tab == "lora":
        kind = str(data.get("LoRA_type") or "Standard")
        if kind.startswith("LyCORIS/") or kind == "LoCon":
            out["network_module"] = "lycoris.kohya"
        elif kind in ("Kohya LoCon", "Standard"):
            out["network_module"] = "networks.lora"
        elif kind.startswith("LoRA-FA"):
            out["network_module"] = "networks.lora_fa"
        elif kind.startswith("Kohya DyLoRA"):
            out["network_module"] = "networks.dylora"
        te = _number(data.get("text_encoder_lr", 0))
        unet = _number(data.get("unet_lr", 0))
        if te is not None and unet is not None:
            if te != 0:
                if sends["text_encoder_lr"] == "list":
                    t5 = _number(data.get("t5xxl_lr", 0)) or 0.0
                    out["text_encoder_lr"] = [te, t5] if te > 0 and t5 > 0 else [te, te]
                else:
                    out["text_encoder_lr"] = te
            if unet != 0:
                out["unet_lr"] = unet
            if te != 0 and unet == 0:
                out["network_train_text_encoder_only"] = True
            if te == 0 and unet != 0:
                out["network_train_unet_only"] = True
    return out
