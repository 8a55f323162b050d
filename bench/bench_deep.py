"""NumPy bidirectional_forward + bidirectional_backward (GRU) against a bidirectional
torch.nn.GRU forward + backward, CPU, float64.

One row per implementation: the median of a few repetitions, and its ratio to torch measured
in the same run.
"""

import numpy as np
import torch

from bench import ratio_rows, torch_step
from course_lib.deep_rnn import bidirectional_backward, bidirectional_forward
from course_lib.training import torch_to_numpy

N, T, D, H = 64, 100, 128, 128
REPS = 5


class _SharedStateBiGRU(torch.nn.GRU):
    """A bidirectional GRU whose two directions start from one h0 of shape (1, N, H), the state
    torch_step passes in."""

    def forward(self, x, h0):
        return super().forward(x, h0.expand(2, -1, -1).contiguous())


def run():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((N, H))
    dh = rng.standard_normal((N, T, 2 * H))

    torch.manual_seed(0)
    gru = _SharedStateBiGRU(D, H, batch_first=True, bidirectional=True).double()
    (params,) = torch_to_numpy(gru)
    h0_both = np.stack([h0, h0])                                 # (2, N, H)

    def numpy_step():
        h, cache = bidirectional_forward(x, h0_both, params, "gru")
        bidirectional_backward(dh, cache)

    return ratio_rows([("numpy bidirectional_forward+backward", numpy_step),
                       ("torch.nn.GRU(bidirectional) forward+backward", torch_step(gru, x, h0, dh))],
                      REPS, cell="GRU", shape=f"N={N} T={T} D={D} H={H}", dtype="float64")
