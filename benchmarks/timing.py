"""The one timing rule of the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable


def seconds_per_call(fn: Callable[[], object], min_seconds: float = 1.0, min_reps: int = 2) -> float:
    """Mean seconds per call of ``fn`` after one warm-up call (compilation excluded); ``fn`` must
    block until its result is ready."""
    fn()
    reps, start = 0, time.perf_counter()
    while reps < min_reps or time.perf_counter() - start < min_seconds:
        fn()
        reps += 1
    return (time.perf_counter() - start) / reps
