"""Frame counting vs decoding (issue 18.4): kohya-tune counts a video's frames by demuxing its
packets (`engine.video_frames.probe`); musubi-tuner's caching decodes every frame
(`container.decode(video=0)`). Same library (PyAV), same files, same process, interleaved.

    python benchmarks/bench_frames.py [--clips 1000] [--seconds 5] [--fps 30] [--size 320x240]
                                      [--codec libx264] [--rounds 3]

Writes the clips once into a temporary folder (H.264 with B-frames by default: the common case
of a camera or a downloaded clip), checks that every count equals the decoder's, then times
`probe` over all clips and decoding all clips, alternately, `--rounds` times; the medians and
their ratio go into the "frames" section of RESULTS.md. Needs the video extra (PyAV).

A rerun on unchanged files (issue 18.4, 21.3): `probe` keeps each count in the persistent size
cache (engine/size_cache.py, here a scratch folder); the "rerun" row times `probe` over the same
clips after the cache was written and the process forgot what it held in memory (as a new run
starts), and counts the video files PyAV opens then: none.
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


def cold_count(path):
    """`probe` without the cache: demux every packet of the file."""
    import av

    return video_frames._probe(av, path)


def rerun(paths) -> tuple[float, int]:
    """A new run over unchanged clips: the size cache read from its files, `probe` per clip;
    (seconds, video files opened)."""
    import av

    from kohya_tune.engine import size_cache

    size_cache.forget()   # save, drop the in-memory copy: the next lookup reads the cache file
    opened = []
    real_open = av.open
    av.open = lambda file, *args, **kwargs: (opened.append(file), real_open(file, *args, **kwargs))[1]
    try:
        seconds = timed(video_frames.probe, paths)
    finally:
        av.open = real_open
    return seconds, len(opened)


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
        os.environ["KOHYA_TUNE_CACHE_DIR"] = str(folder / "size-cache")
        os.environ.pop("KOHYA_TUNE_NO_CACHE", None)
        t0 = time.perf_counter()
        paths = []
        for i in range(a.clips):
            p = folder / f"clip{i:05d}.mp4"
            write_clip(p, width, height, frames, a.fps, a.codec)
            paths.append(p)
        made = time.perf_counter() - t0
        mismatches = 0
        for p in paths[: min(len(paths), 50)]:
            if video_frames.VideoInfo(*cold_count(p)) != video_frames.decode_count(p):
                mismatches += 1
        from kohya_tune.engine import size_cache

        # the cache keeps no file changed in the last RACY_NS: wait until the newest clip is older
        time.sleep(max(0.0, (os.stat(paths[-1]).st_ctime_ns + size_cache.RACY_NS - time.time_ns()) / 1e9 + 0.1))
        for p in paths:            # a first run writes every count into the cache
            video_frames.probe(p)
        size_cache.forget()
        count_t, decode_t, rerun_t, opened = [], [], [], 0
        for _ in range(a.rounds):
            count_t.append(timed(cold_count, paths))
            decode_t.append(timed(musubi_decode, paths))
            seconds, n = rerun(paths)
            rerun_t.append(seconds)
            opened += n
        count_m, decode_m = statistics.median(count_t), statistics.median(decode_t)
        rerun_m = statistics.median(rerun_t)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"{a.clips} clips of {a.seconds:g} s at {a.fps} fps ({frames} frames), {width}x{height}, {a.codec} "
        f"(written in {made:.0f} s); load average {load:.1f}; PyAV {__import__('av').__version__}",
        "",
        "| what | median of %d rounds | per clip |" % a.rounds,
        "| --- | --- | --- |",
        f"| count frames (`video_frames.probe` without the cache: demux, no decoding) | {count_m:.2f} s | {1000 * count_m / a.clips:.2f} ms |",
        f"| decode every frame to a PIL image (what musubi's caching does, without its resize) | {decode_m:.2f} s | {1000 * decode_m / a.clips:.2f} ms |",
        f"| ratio count / decode | {count_m / decode_m:.3f} (goal <= 0.1) | |",
        f"| rerun on unchanged clips (`probe` from the size cache, a new run's first lookups) | {rerun_m:.3f} s | {1000 * rerun_m / a.clips:.3f} ms |",
        f"| ratio rerun / count | {rerun_m / count_m:.3f}; video files opened by the reruns: {opened} (goal 0) | |",
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
