"""How many frames a video file has, and its frame size, as musubi-tuner's decoder sees them.

musubi-tuner decodes every video with PyAV (`av.open(path)`, `container.decode(video=0)`,
dataset/media_utils.py:152-172) and counts what comes out; the frame size is the first decoded
frame's (`frame.to_image().size`, the coded width and height). kohya-tune reads the same file
with the same library but does not decode pixels: it demuxes the first video stream and counts
its packets, which is the decoder's frame count for the streams musubi's datasets hold (one
frame per packet; empty and discarded packets are not frames). `decode_count` decodes, for the
benchmark and for checking.

PyAV is an optional extra: `pip install 'kohya-tune[video]'`. Without it, `probe` raises
`VideoExtraMissing` and everything that needs no frame count still works.

Everything is behind `probe(path)`, and the persistent size cache (`size_cache`, keyed by the
file's size, times, inode and device, and by the PyAV version) sits in front of it: a second
run over unchanged videos demuxes none of them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

EXTRA_HINT = "install the video extra: pip install 'kohya-tune[video]' (PyAV, the library musubi-tuner decodes with)"


class VideoExtraMissing(Exception):
    """PyAV is not installed."""

    def __init__(self):
        super().__init__(f"counting video frames needs PyAV: {EXTRA_HINT}")


class VideoUnreadable(Exception):
    """A file PyAV cannot open or that has no video stream, with PyAV's reason."""


@dataclass(frozen=True)
class VideoInfo:
    frames: int        # frames the decoder yields
    width: int         # first frame's size
    height: int


def _av():
    try:
        import av  # noqa: F401
    except ImportError:
        raise VideoExtraMissing() from None
    import av

    return av


def available() -> bool:
    try:
        _av()
        return True
    except VideoExtraMissing:
        return False


def probe(path: str | os.PathLike) -> VideoInfo:
    """Frames and size of a video file, without decoding pixels (from the size cache while the
    file is unchanged)."""
    from kohya_tune.engine import size_cache

    av = _av()
    kind = f"video-frames/demux/pyav-{getattr(av, '__version__', '?')}"
    found = size_cache.cached(str(path), kind, lambda: _probe(av, path))
    if type(found) is tuple and len(found) == 3 and all(type(v) is int for v in found):
        return VideoInfo(*found)
    return VideoInfo(*_probe(av, path))  # a damaged entry: counted again


def _probe(av, path) -> tuple[int, int, int]:
    """(frames, width, height), demuxed; raises VideoUnreadable."""
    try:
        container = av.open(str(path))
    except Exception as exc:  # noqa: BLE001 - PyAV raises its own error family
        raise VideoUnreadable(f"PyAV cannot open it: {exc}") from None
    try:
        streams = container.streams.video
        if not streams:
            raise VideoUnreadable("it holds no video stream")
        stream = streams[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        frames = 0
        for packet in container.demux(stream):
            if packet.size and not getattr(packet, "is_discard", False):
                frames += 1
        return frames, width, height
    except VideoUnreadable:
        raise
    except Exception as exc:  # noqa: BLE001
        raise VideoUnreadable(f"PyAV cannot read it: {exc}") from None
    finally:
        container.close()


def decode_count(path: str | os.PathLike) -> VideoInfo:
    """The count musubi's caching gets: decode every frame (slow; benchmarks and checks)."""
    av = _av()
    with av.open(str(path)) as container:
        frames = 0
        size = (0, 0)
        for frame in container.decode(video=0):
            if frames == 0:
                size = (frame.width, frame.height)
            frames += 1
    return VideoInfo(frames=frames, width=size[0], height=size[1])
