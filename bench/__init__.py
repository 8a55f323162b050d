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


def torch_step(module, x, h0, dh):
    """A function running one forward + backward of a batch-first torch.nn.RNN, LSTM or GRU on
    NumPy data (x: (N, T, D), h0: (N, H), upstream gradient dh: (N, T, H)); the LSTM starts
    from a zero cell."""
    import torch

    x_t = torch.from_numpy(x).requires_grad_()
    h0_t = torch.from_numpy(h0[None]).requires_grad_()
    dh_t = torch.from_numpy(dh)
    state = (h0_t, torch.zeros_like(h0_t)) if isinstance(module, torch.nn.LSTM) else h0_t

    def step():
        module.zero_grad(set_to_none=True)
        x_t.grad = h0_t.grad = None
        out, _ = module(x_t, state)
        out.backward(dh_t)

    return step


def ratio_rows(pairs, reps, **fields):
    """Time each (impl, fn) pair; one row each with `fields`, the median and minimum in ms,
    and the ratio of its median to the last pair's (the reference, measured in the same run)."""
    import torch

    rows = []
    for impl, fn in pairs:
        median, best = median_ms(fn, reps)
        rows.append({"impl": impl, **fields, "reps": reps, "median_ms": median, "min_ms": best})
    for row in rows:
        row["ratio_vs_torch"] = row["median_ms"] / rows[-1]["median_ms"]
        row["torch_threads"] = torch.get_num_threads()
    return rows
