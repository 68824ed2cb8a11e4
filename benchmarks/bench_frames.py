"""Frame counting vs decoding (issue 18.4): kohya-tune counts a video's frames by demuxing its
packets (`engine.video_frames.probe`); musubi-tuner's caching decodes every frame
(`container.decode(video=0)`). Same library (PyAV), same files, same process, interleaved.

    python benchmarks/bench_frames.py [--clips 1000] [--seconds 5] [--fps 30] [--size 320x240]
                                      [--codec libx264] [--rounds 3]

Writes the clips once into a temporary folder (H.264 with B-frames by default: the common case
of a camera or a downloaded clip), checks that every count equals the decoder's, then times
`probe` over all clips and decoding all clips, alternately, `--rounds` times; the medians and
their ratio go into the "frames" section of RESULTS.md. Needs the video extra (PyAV).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from kohya_tune.engine import video_frames  # noqa: E402


def write_clip(path: Path, width: int, height: int, frames: int, fps: int, codec: str) -> None:
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "bf": "2"}
        for i in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            for n, plane in enumerate(frame.planes):
                plane.update(bytes([(i * 5 + n * 40) % 256]) * plane.buffer_size)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def musubi_decode(path) -> int:
    """What musubi's caching does to read a video (media_utils.py:152-172): decode every frame
    and convert it to a PIL image (its resize to the bucket comes on top and is left out)."""
    import av

    with av.open(str(path)) as container:
        return sum(1 for frame in container.decode(video=0) if frame.to_image() is not None)


def timed(fn, paths) -> float:
    start = time.perf_counter()
    for p in paths:
        fn(p)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--codec", default="libx264")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    a = ap.parse_args()
    width, height = map(int, a.size.split("x"))
    frames = int(a.seconds * a.fps)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        paths = []
        for i in range(a.clips):
            p = folder / f"clip{i:05d}.mp4"
            write_clip(p, width, height, frames, a.fps, a.codec)
            paths.append(p)
        made = time.perf_counter() - t0
        mismatches = 0
        for p in paths[: min(len(paths), 50)]:
            if video_frames.probe(p) != video_frames.decode_count(p):
                mismatches += 1
        count_t, decode_t = [], []
        for _ in range(a.rounds):
            count_t.append(timed(video_frames.probe, paths))
            decode_t.append(timed(musubi_decode, paths))
        count_m, decode_m = statistics.median(count_t), statistics.median(decode_t)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"{a.clips} clips of {a.seconds:g} s at {a.fps} fps ({frames} frames), {width}x{height}, {a.codec} "
        f"(written in {made:.0f} s); load average {load:.1f}; PyAV {__import__('av').__version__}",
        "",
        "| what | median of %d rounds | per clip |" % a.rounds,
        "| --- | --- | --- |",
        f"| count frames (`video_frames.probe`: demux, no decoding) | {count_m:.2f} s | {1000 * count_m / a.clips:.2f} ms |",
        f"| decode every frame to a PIL image (what musubi's caching does, without its resize) | {decode_m:.2f} s | {1000 * decode_m / a.clips:.2f} ms |",
        f"| ratio count / decode | {count_m / decode_m:.3f} (goal <= 0.1) | |",
        "",
        f"Counts checked against the decoder on {min(len(paths), 50)} clips: {mismatches} differ.",
    ]
    text = "\n".join(lines)
    print(text)
    if not a.no_write:
        from _results import write_section

        write_section("frames", ["## Issue 18.4: video frame counts vs decoding", ""] + lines)


if __name__ == "__main__":
    main()
