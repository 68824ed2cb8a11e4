"""Frame counts of musubi video datasets are kept in the persistent size cache
(engine/size_cache.py, through video_frames.probe): a second `steps` on unchanged videos opens no
video file, a changed video is counted again, --no-cache reads every one; the numbers are the
same (those of the real musubi-tuner, tests/data/musubi/golden)."""
from __future__ import annotations

import json
import os
import time

import pytest

from helpers import run_in_process
from musubi_helpers import musubi_cases, write_files, write_media

av = pytest.importorskip("av")


@pytest.fixture
def video_case(tmp_path, monkeypatch):
    from kohya_tune.engine import size_cache

    case = next(c for c in musubi_cases() if c["id"] == "wan-slide-stride-4p")   # 3 videos
    write_files(case, tmp_path)
    write_media(case, tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KOHYA_TUNE_CACHE_DIR", str(tmp_path / "kt-cache"))
    # the cache keeps no file changed in the last RACY_NS (the clips were just written)
    monkeypatch.setattr(size_cache, "RACY_NS", 0)
    size_cache.forget()
    opened: list = []
    real_open = av.open

    def counting_open(file, *args, **kwargs):
        opened.append(os.path.basename(str(file)))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting_open)
    yield case, tmp_path, opened
    size_cache.forget()


def steps(case, *extra):
    result = run_in_process("steps", "args.toml", "--script", case["script"], "--num-processes",
                            str(case["num_processes"]), "--format", "json", *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["trainer"]


def test_a_rerun_on_unchanged_videos_opens_none(video_case):
    case, root, opened = video_case
    first = steps(case)
    assert sorted(opened) == ["0000.mp4", "0001.mp4", "0002.mp4"]
    assert first["num_batches"] == case["expected"]["num_batches"]
    opened.clear()
    second = steps(case)
    assert opened == []
    assert second == first
    # a changed clip is counted again (its stat no longer matches), the others are not
    clip = root / "vid" / "0001.mp4"
    clip.write_bytes(clip.read_bytes())
    later = time.time_ns() + 5_000_000_000
    os.utime(clip, ns=(later, later))
    opened.clear()
    assert steps(case) == first
    assert opened == ["0001.mp4"]
    opened.clear()
    assert steps(case, "--no-cache") == first
    assert sorted(opened) == ["0000.mp4", "0001.mp4", "0002.mp4"]
