"""NumPy rnn_forward + rnn_backward against torch.nn.RNN forward + backward, CPU, float64.

One row per implementation: the median of a few repetitions, and its ratio to torch
measured in the same run.
"""

import numpy as np
import torch

from bench import ratio_rows, torch_step
from course_lib.rnn import rnn_backward, rnn_forward
from course_lib.training import numpy_to_torch

N, T, D, H = 64, 100, 128, 128
REPS = 5


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

    rnn = torch.nn.RNN(D, H, nonlinearity="tanh", batch_first=True).double()
    numpy_to_torch([[{"Wx": Wx, "Wh": Wh, "b": b}]], rnn)          # the same function as the NumPy one
    return ratio_rows([("numpy rnn_forward+rnn_backward", numpy_step),
                       ("torch.nn.RNN forward+backward", torch_step(rnn, x, h0, dh))],
                      REPS, shape=f"N={N} T={T} D={D} H={H}", dtype="float64")
