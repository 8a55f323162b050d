"""Captioning throughput of course_lib.captioning on the digit images of lecture 11 (8 x 32
pixels, V = 14), for a model of lecture size (CNN encoder F = 64, LSTM decoder E = 16, H = 64,
conditioning "both"), one torch thread; and the decoder's loss and gradients with the NumPy
layers (numpy_caption_loss) against torch's forward and autograd on the same float64 weights.

The weights are untrained: greedy search then runs nearly every caption to max_len, the most
work it can do; beam search finds a few short finished captions and stops as soon as no live
hypothesis can beat them (mean_len: the mean length of the captions returned, <eos> included).
Throughput = images captioned per second (median of a few repetitions over the same batch).
"""

import torch
import torch.nn.functional as F

from bench import median_ms
from course_lib.captioning import (
    beam_caption,
    build_captioner,
    caption_batch,
    decoder_to_numpy,
    greedy_caption,
    numpy_caption_loss,
)
from course_lib.data import DIGIT_WORDS, Vocab, digit_captions

N_IMAGES, MAX_LEN, N_LOSS = 500, 6, 64
Fs, E, H = 64, 16, 64
REPS = 3


def run():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        vocab = Vocab(DIGIT_WORDS)
        images, captions, _ = digit_captions(N_IMAGES, "test", seed=0)
        torch.manual_seed(0)
        model = build_captioner(len(vocab), conditioning="both", feature_size=Fs, embedding_size=E,
                                hidden_size=H).eval()
        model_name = f"CNN F={Fs}, LSTM E={E} H={H}"
        rows = []
        searches = [
            ("greedy", lambda: greedy_caption(model, images, MAX_LEN, vocab.bos, vocab.eos)),
            ("beam 5", lambda: beam_caption(model, images, 5, MAX_LEN, vocab.bos, vocab.eos)),
        ]
        for name, fn in searches:
            median, best = median_ms(fn, REPS)
            hyps = [h if name == "greedy" else h[0] for h in fn()]
            rows.append({"task": f"caption ({name})", "items": N_IMAGES, "model": model_name,
                         "mean_len": sum(len(h.tokens) for h in hyps) / N_IMAGES,
                         "median_ms": median, "min_ms": best, "items_per_s": 1e3 * N_IMAGES / median,
                         "torch_threads": torch.get_num_threads()})

        batch = caption_batch(images[:N_LOSS], captions[:N_LOSS], vocab)
        decoder = build_captioner(len(vocab), conditioning="both", feature_size=Fs, embedding_size=E,
                                  hidden_size=H).double().decoder
        with torch.no_grad():
            features = model.encode(batch.images).double()
        params = decoder_to_numpy(decoder)
        f = features.clone().requires_grad_(True)

        def torch_loss_backward():
            decoder.zero_grad(set_to_none=True)
            f.grad = None
            logits, _ = decoder(batch.tgt_in, decoder.initial_state(f), f)
            loss = F.cross_entropy(logits.reshape(-1, len(vocab)), batch.tgt_out.reshape(-1),
                                   ignore_index=vocab.pad, reduction="sum") / N_LOSS
            loss.backward()

        def numpy_loss_backward():
            numpy_caption_loss(params, features.numpy(), batch.tgt_in.numpy(), batch.tgt_out.numpy(),
                               vocab.pad, "both")

        for name, fn in [("loss + gradients (torch autograd, float64)", torch_loss_backward),
                         ("loss + gradients (NumPy layers, float64)", numpy_loss_backward)]:
            median, best = median_ms(fn, 5)
            rows.append({"task": name, "items": N_LOSS, "model": f"decoder E={E} H={H}", "median_ms": median,
                         "min_ms": best, "items_per_s": 1e3 * N_LOSS / median,
                         "torch_threads": torch.get_num_threads()})
        return rows
    finally:
        torch.set_num_threads(threads)
