"""musubi-tuner's bucket selector (dataset/bucket.py:40-121 at the pinned commit).

With buckets on, the candidate sizes are every width from `divisible_by(sqrt(area)//2, step)` to
`sqrt(area)` in steps of `step` with the height `divisible_by(area // w, step)`, both ways round,
sorted; an item goes to the candidate whose aspect ratio is nearest its own (the first of equals,
as numpy's argmin), or, with `bucket_no_upscale` and an item no larger than the area, to its own
size rounded down to the step. With buckets off there is one bucket: `resolution` itself.

The arithmetic is the same float64 arithmetic numpy does, in Python floats.
"""
from __future__ import annotations

import math


def divisible_by(num: int, divisor: int) -> int:
    return num - num % divisor


class BucketSelector:
    def __init__(self, resolution, enable_bucket: bool, no_upscale: bool, reso_steps: int):
        self.resolution = tuple(resolution)
        self.bucket_area = resolution[0] * resolution[1]
        self.reso_steps = reso_steps
        if not enable_bucket:
            self.resolutions = [self.resolution]
            self.no_upscale = False
        else:
            self.no_upscale = no_upscale
            sqrt_size = int(math.sqrt(self.bucket_area))
            min_size = divisible_by(sqrt_size // 2, reso_steps)
            found = set()
            for w in range(min_size, sqrt_size + reso_steps, reso_steps):
                h = divisible_by(self.bucket_area // w, reso_steps)
                found.add((w, h))
                found.add((h, w))
            self.resolutions = sorted(found)
        self.ratios = [w / h for w, h in self.resolutions]

    def select(self, size: tuple[int, int]) -> tuple[int, int]:
        width, height = size
        if self.no_upscale and width * height <= self.bucket_area:
            return divisible_by(width, self.reso_steps), divisible_by(height, self.reso_steps)
        ratio = width / height
        best, best_error = 0, None
        for i, r in enumerate(self.ratios):
            error = abs(r - ratio)
            if best_error is None or error < best_error:
                best, best_error = i, error
        return self.resolutions[best]


def key_text(key: tuple) -> str:
    """A bucket key as the reports write it: its parts joined by x (`288x224x13`)."""
    return "x".join(str(p) for p in key)
