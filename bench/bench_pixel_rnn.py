"""Throughput of course_lib.pixel_rnn on 8 x 8 images, for the lecture's model size (PixelLSTM,
H = 64), one torch thread: sampling pixel by pixel (64 sequential steps of the cell, the state
carried), the same model sampled by recomputing the whole forward pass for every pixel (what a
model without a step function costs), and NLL evaluation in one teacher-forced pass against the
pixel-by-pixel computation. The weights are untrained: the work does not depend on them.
Throughput = images per second (median of a few repetitions on the same batch).
"""

import numpy as np
import torch

from bench import median_ms
from course_lib.pixel_rnn import PixelLSTM, nll, sample, sequential_log_probs

H, N_SAMPLE, N_EVAL = 64, 200, 500
REPS = 3


class _Recomputed(torch.nn.Module):
    """The same PixelLSTM seen as a plain model without a step: sampled by P full passes."""

    def __init__(self, model):
        super().__init__()
        self.inner, self.image_shape = model, model.image_shape

    def forward(self, x):
        return self.inner(x)


def run():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model = PixelLSTM(H).eval()
        images = (np.random.default_rng(0).random((N_EVAL, 8, 8)) < 0.3).astype(np.uint8)
        jobs = [
            ("sample, P steps of the cell", N_SAMPLE, lambda: sample(model, N_SAMPLE, 0)),
            ("sample, P full passes", N_SAMPLE, lambda: sample(_Recomputed(model), N_SAMPLE, 0)),
            ("nll, one teacher-forced pass", N_EVAL, lambda: nll(model, images)),
            ("nll, pixel by pixel (P steps)", N_EVAL, lambda: sequential_log_probs(model, images)),
        ]
        rows = []
        for what, n, fn in jobs:
            median, best = median_ms(fn, REPS)
            rows.append({"what": what, "model": f"PixelLSTM H={H}, 8x8", "images": n, "median_ms": median,
                         "min_ms": best, "images_per_s": 1e3 * n / median,
                         "torch_threads": torch.get_num_threads()})
        return rows
    finally:
        torch.set_num_threads(threads)
