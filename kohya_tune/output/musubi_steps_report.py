"""musubi-tuner's `steps`: the worked example (dataset by dataset: media, frames, windows, cache
files, buckets, batches; then sharding, accumulation, steps, epochs) and the JSON contract.

The JSON follows sd-scripts' `steps` contract where a number means the same thing
(`trainer.num_batches`, `num_batches_per_epoch`, `num_update_steps_per_epoch`, `max_train_steps`,
`num_train_epochs`, `buckets`, `datasets[].num_batches`, `datasets[].buckets`), uses musubi's own
name for what it counts (`num_train_items`: cache items with repeats) and adds each dataset's
media, frames, windows and cache files. The same numbers are repeated at the top level, the way
the musubi oracle prints them.
"""
from __future__ import annotations

from kohya_tune.engine.musubi_buckets import key_text
from kohya_tune.versions import musubi as mv

NUMBER_KEYS = ("num_train_items", "num_batches", "num_batches_per_epoch", "num_update_steps_per_epoch",
               "max_train_steps", "num_train_epochs", "gradient_accumulation_steps", "num_processes")


def _buckets(buckets: dict) -> dict:
    return {key_text(k): n for k, n in sorted(buckets.items(), key=lambda kv: tuple(str(p) for p in kv[0]))}


def _video_dict(vf) -> dict:
    return {"file": vf.name, "frames_in_file": vf.frames_in_file,
            "size": list(vf.size) if vf.size else None, "frames_used": vf.frames_used,
            "bucket": list(vf.bucket) if vf.bucket else None,
            "windows": [[int(p), f] for p, f in vf.windows],
            "targets_skipped": list(vf.skipped_targets),
            "num_cache_files": len(vf.cache_files), "problem": vf.problem}


def dataset_dict(dr) -> dict:
    p = dr.params
    v = p.values
    c = dr.counted
    out = {
        "kind": p.kind, "batch_size": v["batch_size"], "num_repeats": v["num_repeats"],
        "resolution": list(v["resolution"]) if isinstance(v["resolution"], (list, tuple)) else v["resolution"],
        "enable_bucket": v["enable_bucket"], "bucket_no_upscale": v["bucket_no_upscale"],
        "cache_directory": dr.cache_directory, "counted_from": dr.counted_from,
        "num_cache_files": len(c.items) + len(c.without_te) if c else None,
        "num_train_items": c.num_train_items if c else None,
        "num_batches": c.num_batches if c else None,
        "buckets": _buckets(c.buckets) if c else None,
        "cache_files": [n for n, _ in c.items] if c else None,
        "latents_without_te": list(c.without_te) if c else None,
        "stale_cache_files": dr.stale, "missing_cache_files": dr.missing,
        "other_architecture_files": dr.other_arch,
        "sources": dict(p.sources),
        "notes": list(dr.notes),
    }
    if not p.is_image:
        out["frame_extraction"] = v["frame_extraction"]
        out["target_frames"] = list(v["target_frames"])
        out["target_frames_given"] = list(v["target_frames_given"])
        for key in ("frame_stride", "frame_sample", "max_frames", "source_fps", "fp_latent_window_size"):
            out[key] = v[key]
    m = dr.media
    if m is not None:
        out["media"] = {"source": m.source, "found": m.found, "unknown": m.unknown,
                        "images": len(m.images), "images_without_caption": list(m.without_caption),
                        "videos": [_video_dict(vf) for vf in m.videos],
                        "num_cache_files": len(m.cache_files),
                        "caching_error": m.refusal.message if m.refusal else None}
    return out


def to_json(report) -> dict:
    numbers = report.numbers or {}
    trainer = {k: numbers.get(k) for k in NUMBER_KEYS if k != "num_train_items"}
    trainer["num_train_items"] = report.num_train_items
    trainer["steps_source"] = numbers.get("steps_source")
    trainer["buckets"] = _buckets(report.buckets) if report.numbers else None
    trainer["datasets"] = [dataset_dict(dr) for dr in report.datasets]
    out = {
        "config": report.config.path, "kind": report.config.kind,
        "dataset_config": report.dataset_doc.path if report.dataset_doc is not None and report.dataset_doc is not report.config else None,
        "trainer_family": "musubi-tuner", "musubi_tuner": mv.label(),
        "script": report.script, "architecture": report.architecture.short if report.architecture else None,
        "architecture_reason": report.architecture_reason,
        "trainer": trainer,
        "unknown": list(report.unknown),
        "notes": list(report.notes),
    }
    for k in NUMBER_KEYS:
        out[k] = trainer.get(k)
    out["buckets"] = trainer["buckets"]
    out["datasets"] = trainer["datasets"]
    if report.refusal is not None:
        out["error"] = report.refusal.message
        out["note"] = report.refusal.note
        out["where"] = report.refusal.origin.where() if report.refusal.origin else None
        out["stage"] = report.refusal_stage
    return out


def _windows_text(vf, limit: int = 6) -> str:
    shown = ", ".join(f"{int(p)}+{f}" for p, f in vf.windows[:limit])
    more = f", ... ({len(vf.windows)} windows)" if len(vf.windows) > limit else ""
    return shown + more


def to_text(report, glyphs=None) -> str:
    lines = []
    arch = report.architecture
    lines.append(f"{report.config.path}: {mv.label()}, script {report.script}"
                 f" (architecture {arch.short}: {arch.full})")
    if report.dataset_doc is not None and report.dataset_doc is not report.config:
        lines.append(f"dataset config: {report.dataset_doc.path}")
    for dr in report.datasets:
        p = dr.params
        v = p.values
        c = dr.counted
        lines.append("")
        lines.append(f"dataset {p.index} ({p.kind}): resolution {v['resolution']}, batch_size {v['batch_size']}, "
                     f"num_repeats {v['num_repeats']}, buckets {'on' if v['enable_bucket'] else 'off'}")
        m = dr.media
        if m is not None and m.found:
            if p.is_image:
                lines.append(f"  media: {len(m.images)} images in {m.source}"
                             + (f"; {len(m.without_caption)} without a caption file, dropped" if m.without_caption else ""))
            else:
                lines.append(f"  media: {len(m.videos)} videos in {m.source}; frame_extraction "
                             f"{v['frame_extraction']}, target_frames {list(v['target_frames'])}"
                             + (f" (given {list(v['target_frames_given'])})"
                                if list(v['target_frames_given']) != list(v['target_frames']) else ""))
                for vf in m.videos[:20]:
                    if vf.problem:
                        lines.append(f"    {vf.name}: {vf.problem}")
                        continue
                    skipped = f"; too short for {vf.skipped_targets}" if vf.skipped_targets else ""
                    lines.append(f"    {vf.name}: {vf.frames_in_file} frames, {vf.frames_used} used, "
                                 f"{vf.size[0]}x{vf.size[1]} -> {vf.bucket[0]}x{vf.bucket[1]}; windows "
                                 f"{_windows_text(vf)}{skipped} = {len(vf.cache_files)} cache files")
                if len(m.videos) > 20:
                    lines.append(f"    ... {len(m.videos) - 20} more videos")
        elif m is not None and m.unknown:
            lines.append(f"  media: {m.unknown}")
        where = {"cache": f"the cache folder {dr.cache_directory}", "media": "the media (not cached yet)"}.get(dr.counted_from, "unknown")
        lines.append(f"  counted from {where}")
        if c is not None:
            for key, n in _buckets(c.buckets).items():
                lines.append(f"    bucket {key}: {n} items -> {-(-n // v['batch_size']) if v['batch_size'] else '?'} batches")
            if c.without_te:
                lines.append(f"  {len(c.without_te)} latents have no text-encoder cache: skipped by train()")
            lines.append(f"  = {c.num_train_items} items, {c.num_batches} batches")
        if dr.stale:
            lines.append(f"  {len(dr.stale)} cache files the current config would not write (stale), e.g. {dr.stale[0]}")
        if dr.missing:
            lines.append(f"  {len(dr.missing)} cache files the current config would write are missing, e.g. {dr.missing[0]}")
        if dr.other_arch:
            lines.append(f"  {len(dr.other_arch)} latents of another architecture in the folder (not read), e.g. {dr.other_arch[0]}")
        for note in dr.notes:
            lines.append(f"  note: {note}")
    lines.append("")
    if report.refusal is not None:
        return "\n".join(lines) + "\n"
    if report.numbers is None:
        lines.append("numbers unknown here:")
        lines.extend(f"  {u}" for u in report.unknown)
        return "\n".join(lines) + "\n"
    n = report.numbers
    lines.append(f"num_train_items            {report.num_train_items}")
    lines.append(f"num_batches (N)            {n['num_batches']}   (sum of the datasets' batches)")
    lines.append(f"num_batches_per_epoch      {n['num_batches_per_epoch']}   ceil({n['num_batches']} / {n['num_processes']} processes)")
    lines.append(f"num_update_steps_per_epoch {n['num_update_steps_per_epoch']}   ceil({n['num_batches_per_epoch']} / {n['gradient_accumulation_steps']} accumulation)")
    if n["steps_source"] == "max_train_epochs":
        why = f"max_train_epochs {report.args.get('max_train_epochs')} x ceil({n['num_batches']} / {n['num_processes']} / {n['gradient_accumulation_steps']})"
    elif n["steps_source"] == "max_train_steps":
        why = "max_train_steps as given"
    else:
        why = "neither max_train_steps nor max_train_epochs: the default 1600"
    lines.append(f"max_train_steps            {n['max_train_steps']}   {why}")
    lines.append(f"num_train_epochs           {n['num_train_epochs']}   ceil({n['max_train_steps']} / {n['num_update_steps_per_epoch']})")
    for note in report.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines) + "\n"
