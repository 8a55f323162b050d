"""NumPy LSTM and GRU forward + backward against torch.nn.LSTM / torch.nn.GRU forward +
backward, CPU, float64.

One row per implementation: the median of a few repetitions, and its ratio to the torch
module of the same cell measured in the same run.
"""


import numpy as np
import torch

from bench import ratio_rows, torch_step
from course_lib.gru import gru_backward, gru_forward
from course_lib.lstm import lstm_backward, lstm_forward
from course_lib.training import torch_to_numpy

N, T, D, H = 64, 100, 128, 128
REPS = 5


def run():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((N, H))
    dh = rng.standard_normal((N, T, H))

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(D, H, batch_first=True).double()
    gru = torch.nn.GRU(D, H, batch_first=True).double()
    # The NumPy references get the torch parameters: (Wx, Wh, b) and (Wx, Wh, bx, bh).
    lstm_params = tuple(torch_to_numpy(lstm)[0][0].values())
    gru_params = tuple(torch_to_numpy(gru)[0][0].values())

    def numpy_lstm():
        h, cache = lstm_forward(x, h0, *lstm_params)
        lstm_backward(dh, cache)

    def numpy_gru():
        h, cache = gru_forward(x, h0, *gru_params, reset_after=True)
        gru_backward(dh, cache)

    shape = f"N={N} T={T} D={D} H={H}"
    lstm_rows = ratio_rows([("numpy lstm_forward+lstm_backward", numpy_lstm),
                            ("torch.nn.LSTM forward+backward", torch_step(lstm, x, h0, dh))],
                           REPS, cell="LSTM", shape=shape, dtype="float64")
    gru_rows = ratio_rows([("numpy gru_forward+gru_backward", numpy_gru),
                           ("torch.nn.GRU forward+backward", torch_step(gru, x, h0, dh))],
                          REPS, cell="GRU", shape=shape, dtype="float64")
    return lstm_rows + gru_rows
