"""Benchmarks for `make bench`. Each `bench/bench_*.py` defines `run() -> list[dict]`;
every dict is one row of the printed table (keys become columns)."""

import statistics
import time


def median_ms(fn, reps=5):
    """Median and minimum wall time of fn() in milliseconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times), min(times)
