"""NumPy rnn_forward + rnn_backward against torch.nn.RNN forward + backward, CPU, float64.

One row per implementation: the median of a few repetitions, and its ratio to torch
measured in the same run.
"""

import numpy as np
import torch

from bench import median_ms
from course_lib.rnn import rnn_backward, rnn_forward

N, T, D, H = 64, 100, 128, 128
REPS = 5

def _median_ms(fn, reps=REPS):
    return median_ms(fn, reps)

def run():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((N, H))
    Wx = rng.standard_normal((D, H)) / np.sqrt(D)
    Wh = rng.standard_normal((H, H)) / np.sqrt(H)
    b = np.zeros(H)
    dh = rng.standard_normal((N, T, H))

    def numpy_step():
        h, cache = rnn_forward(x, h0, Wx, Wh, b)
        rnn_backward(dh, cache)

    torch.manual_seed(0)
    rnn = torch.nn.RNN(D, H, nonlinearity="tanh", batch_first=True).double()
    x_t = torch.from_numpy(x).requires_grad_()
    h0_t = torch.from_numpy(h0[None]).requires_grad_()
    dh_t = torch.from_numpy(dh)

    def torch_step():
        rnn.zero_grad(set_to_none=True)
        x_t.grad = h0_t.grad = None
        out, _ = rnn(x_t, h0_t)
        out.backward(dh_t)

    shape = f"N={N} T={T} D={D} H={H}"
    rows = []
    for impl, fn in [("numpy rnn_forward+rnn_backward", numpy_step),
                     ("torch.nn.RNN forward+backward", torch_step)]:
        median, best = _median_ms(fn)
        rows.append({"impl": impl, "shape": shape, "dtype": "float64", "reps": REPS,
                     "median_ms": median, "min_ms": best})
    torch_ms = rows[-1]["median_ms"]
    for row in rows:
        row["ratio_vs_torch"] = row["median_ms"] / torch_ms
        row["torch_threads"] = torch.get_num_threads()
    return rows
