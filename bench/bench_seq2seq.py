"""Decoding throughput of course_lib.seq2seq on the number task (English -> German words for
0..9999): greedy search and beam search with 5 hypotheses, for a model of lecture size (GRU,
E = 32, H = 64), without and with dot-product attention, one torch thread.

The weights are untrained: an untrained model rarely says <eos>, so every output runs to
max_len, the most work a search can do. Throughput = sentences decoded per second (median of
a few repetitions over the same batch).
"""

import numpy as np
import torch

from bench import median_ms
from course_lib.data import Vocab, number_pairs
from course_lib.seq2seq import beam_search, build_seq2seq, greedy_decode, source_batch

N_SENTENCES, MAX_LEN, E, H = 500, 12, 32, 64
REPS = 3


def run():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pairs = number_pairs(0, 10_000, "en", "de")
        src_vocab = Vocab.from_sequences(p[0] for p in pairs)
        tgt_vocab = Vocab.from_sequences(p[1] for p in pairs)
        chosen = np.random.default_rng(0).choice(len(pairs), N_SENTENCES, replace=False)
        src, lengths = source_batch([src_vocab.encode(pairs[i][0]) for i in chosen])
        bos, eos = tgt_vocab.bos, tgt_vocab.eos
        rows = []
        for attention in (None, "dot"):
            torch.manual_seed(0)
            model = build_seq2seq(len(src_vocab), len(tgt_vocab), embedding_size=E, hidden_size=H,
                                  attention=attention).eval()
            searches = [
                ("greedy", lambda m=model: greedy_decode(m, src, lengths, MAX_LEN, bos, eos)),
                ("beam 5", lambda m=model: beam_search(m, src, lengths, 5, MAX_LEN, bos, eos)),
            ]
            for name, fn in searches:
                median, best = median_ms(fn, REPS)
                rows.append({"search": name, "attention": attention or "none", "sentences": N_SENTENCES,
                             "max_len": MAX_LEN, "model": f"GRU E={E} H={H}", "median_ms": median,
                             "min_ms": best, "sentences_per_s": 1e3 * N_SENTENCES / median,
                             "torch_threads": torch.get_num_threads()})
        return rows
    finally:
        torch.set_num_threads(threads)
