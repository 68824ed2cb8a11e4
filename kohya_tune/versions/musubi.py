"""musubi-tuner as data: its training scripts, architectures, dataset-config schema and defaults
(``data/musubi.json``, every value with its source line at the pinned commit). The code here only
looks values up; the engine's ``musubi_*`` modules interpret them.
"""
from __future__ import annotations

from dataclasses import dataclass

from kohya_tune.versions.profiles import load_data


def data() -> dict:
    return load_data("musubi.json")


def commit() -> str:
    return data()["commit"]


def label() -> str:
    return f"musubi-tuner v{data()['version']} ({data()['commit'][:8]})"


def scripts() -> list[str]:
    return sorted(data()["scripts"])


def is_script(name: str | None) -> bool:
    if not name:
        return False
    name = name[:-3] if name.endswith(".py") else name
    return name in data()["scripts"]


@dataclass(frozen=True)
class Architecture:
    short: str            # the cache-file suffix: `_{short}.safetensors`, `_{short}_te.safetensors`
    full: str
    reso_steps: int       # BucketSelector's step
    target_fps: float | None   # None: VideoDataset refuses this architecture
    image_key_window: bool     # image buckets get fp_latent_window_size (Wan, FramePack)
    video_sections: bool       # FramePack: one cache file per section of each window


def architecture(short: str) -> Architecture:
    a = data()["architectures"][short]
    return Architecture(short=short, full=a["full"], reso_steps=a["reso_steps"],
                        target_fps=a["target_fps"], image_key_window=a["image_key_window"],
                        video_sections=bool(a.get("video_sections")))


def script_architecture(script: str, args: dict) -> tuple[Architecture, str]:
    """The architecture a script trains for these args, and why (for the report)."""
    entry = data()["scripts"][script]
    if "architecture" in entry:
        return architecture(entry["architecture"]), f"{script} ({entry['source']})"
    rule = entry["architecture_by_arg"]
    value = args.get(rule["arg"])
    if value is None:
        value = rule["default"]
    if rule.get("lower") and isinstance(value, str):
        value = value.lower()
    short = rule["map"].get(value) if isinstance(value, str) else None
    if short is None:
        raise ValueError(f"{rule['arg']} = {value!r} is not one of {', '.join(sorted(rule['map']))}")
    return architecture(short), f"{script} with {rule['arg']} = {value!r} ({entry['source']})"


def script_kind(script: str) -> str:
    return data()["scripts"][script]["kind"]


def schema() -> dict:
    return data()["dataset_schema"]


def defaults(kind: str) -> dict:
    d = data()["dataset_defaults"]
    out = dict(d["base"])
    out.update(d[kind])
    return out


def extensions(kind: str) -> list[str]:
    return list(data()["extensions"][kind])


def number(name: str):
    return data()[name]["value"]


def schedule() -> dict:
    """What the training loop does with the LR, checkpoints, states and samples (data "schedule")."""
    return data()["schedule"]


def schedule_script(script: str) -> dict:
    """The loop facts of a script: a network script runs trainer_base's loop; the full fine-tune
    scripts have their own entries."""
    table = schedule()["scripts"]
    if script_kind(script) == "network":
        return dict(table["network"])
    return dict(table[script])


def control_count_per_image(short: str, fp_1f_clean_indices) -> int | None:
    """The control images each image needs (None: any number), as ImageDataset gives it to its
    datasource (data "control_count_per_image")."""
    rule = data()["control_count_per_image"]
    if short in rule["none"]:
        return None
    if short in rule["from_fp_1f_clean_indices"] and fp_1f_clean_indices is not None:
        return len(fp_1f_clean_indices)
    return rule["default"]
