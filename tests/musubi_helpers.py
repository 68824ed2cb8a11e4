"""Build musubi-tuner golden cases on disk: media (PNG images, mpeg4 videos written with PyAV,
exactly N frames each), captions and files, or only the cache folder the caching wrote."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

from helpers import DATA, png_bytes

MUSUBI_GOLDEN = DATA / "musubi" / "golden"
SAFETENSORS_EMPTY = b"\x02\x00\x00\x00\x00\x00\x00\x00{}"


def musubi_cases() -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(MUSUBI_GOLDEN.glob("*.json"))]


def write_video(path: Path, width: int, height: int, frames: int, fps) -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = 1
        for i in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([(i * 7) % 256]) * plane.buffer_size)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_media(case: dict, root: Path) -> None:
    counters: dict = {}
    for folder, entries in case.get("images", {}).items():
        for entry in entries:
            w, h, n = entry[:3]
            ext = entry[3] if len(entry) > 3 else ".png"
            for _ in range(n):
                i = counters.get(folder, 0)
                counters[folder] = i + 1
                stem = root / folder / f"{i:04d}"
                stem.parent.mkdir(parents=True, exist_ok=True)
                stem.with_suffix(ext).write_bytes(png_bytes(w, h))
                stem.with_suffix(".txt").write_text("a photo", encoding="utf-8")
    for folder, entries in case.get("videos", {}).items():
        for entry in entries:
            w, h, frames, fps, n = entry[:5]
            ext = entry[5] if len(entry) > 5 else ".mp4"
            for _ in range(n):
                i = counters.get(folder, 0)
                counters[folder] = i + 1
                stem = root / folder / f"{i:04d}"
                write_video(stem.with_suffix(ext), w, h, frames, fps)
                stem.with_suffix(".txt").write_text("a video", encoding="utf-8")
    for rel, text in case.get("captions", {}).items():
        path = root / rel
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(text, encoding="utf-8")


def write_files(case: dict, root: Path) -> None:
    for rel, text in case["files"].items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def write_cache(case: dict, root: Path) -> None:
    for rel in case["cache_files"]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(SAFETENSORS_EMPTY)
