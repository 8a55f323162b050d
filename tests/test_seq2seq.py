"""course_lib.seq2seq against oracles: brute-force loops and torch's cross_entropy for the loss,
each sentence run alone for padding, the NumPy GRU with copied weights, attention written out
in NumPy, exhaustive enumeration for beam search, step-by-step decoding for score(), and the
probabilities of the whole output space summing to one."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import log_softmax, logsumexp, softmax

from course_lib.data import Vocab
from course_lib.gru import gru_forward
from course_lib.seq2seq import (
    AttentionDecoder,
    Batch,
    Decoder,
    Encoder,
    Seq2Seq,
    attention,
    beam_search,
    build_seq2seq,
    exhaustive_decode,
    greedy_decode,
    length_penalty,
    make_batch,
    random_batch,
    score,
    seq2seq_loss,
    sequence_loss,
    source_batch,
    translate,
)
from course_lib.training import torch_to_numpy, train

V_SRC, V, E, H = 9, 7, 4, 5          # distinct sizes: a transposed weight cannot broadcast silently
BOS, EOS = 1, 2
KINDS = [(None, "gru"), (None, "lstm"), ("dot", "gru"), ("additive", "lstm")]


def tiny_model(attention=None, cell="gru", seed=0, V_src=V_SRC, V=V):
    """A float64 model with weights drawn afresh: N(0, 0.5^2), embeddings N(0, 3^2) and the
    output layer N(0, 1.5^2). Outputs then depend on the source and end at various lengths, so
    greedy, beam and exhaustive search disagree often enough to be tested."""
    torch.manual_seed(seed)
    model = build_seq2seq(V_src, V, embedding_size=E, hidden_size=H, cell=cell, attention=attention).double()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.normal_(0, 3.0 if "embed" in name else 1.5 if name.startswith("decoder.out") else 0.5)
    return model.eval()


def random_sources(rng, N, V_src=V_SRC, S=6):
    lengths = rng.integers(1, S + 1, N)
    lengths[0] = S                                        # one full row: S is the longest length
    return [rng.integers(0, V_src, n) for n in lengths]


# ----------------------------------------------------------------------------- loss

def test_sequence_loss_against_a_loop_and_torch(rng):
    N, T, pad = 3, 6, 0
    logits = rng.standard_normal((N, T, V))
    targets = rng.integers(1, V, (N, T))
    targets[0, 4:] = pad
    targets[2, 1:] = pad
    terms = [-log_softmax(logits[n, t])[targets[n, t]] for n in range(N) for t in range(T)
             if targets[n, t] != pad]
    assert len(terms) == N * T - 7
    loss = sequence_loss(torch.from_numpy(logits), torch.from_numpy(targets), pad)
    np.testing.assert_allclose(loss.item(), np.mean(terms), rtol=1e-12)       # per token, not per sequence
    torch_loss = F.cross_entropy(torch.from_numpy(logits).reshape(-1, V), torch.from_numpy(targets).reshape(-1),
                                 ignore_index=pad)
    np.testing.assert_allclose(loss.item(), torch_loss.item(), rtol=1e-12)


def test_sequence_loss_bad_input():
    logits, targets = torch.zeros(2, 3, V), torch.ones(2, 3, dtype=torch.int64)
    with pytest.raises(ValueError, match=r"logits must be \(N, T, V\) and targets \(N, T\).*\(2, 3, 7\) and \(3, 2\)"):
        sequence_loss(logits, targets.T, 0)
    with pytest.raises(ValueError, match="no scored position"):
        sequence_loss(logits, torch.zeros_like(targets), 0)
    with pytest.raises(ValueError, match=r"ids in \[0, V\) = \[0, 7\) or pad_id, got 7 at index \(0, 0\)"):
        sequence_loss(logits, torch.full_like(targets, V), 0)
    with pytest.raises(ValueError, match="int64"):
        sequence_loss(logits, targets.int(), 0)


def test_seq2seq_loss_is_the_loss_of_the_teacher_forced_batch(rng):
    model = tiny_model("dot")
    sources = random_sources(rng, 3)
    targets = [rng.integers(3, V, n) for n in (2, 0, 4)]
    batch = make_batch(sources, targets, BOS, EOS)
    loss = seq2seq_loss(model, batch)
    with torch.no_grad():
        terms = []
        for x, y in zip(sources, targets):                  # one pair at a time, no padding at all
            logits, _ = model(torch.tensor([list(x)]), torch.tensor([len(x)]), torch.tensor([[BOS, *y]]))
            terms += list(-log_softmax(logits[0].numpy(), axis=-1)[np.arange(len(y) + 1), [*y, EOS]])
    assert len(terms) == 2 + 0 + 4 + 3                      # every target and its eos
    np.testing.assert_allclose(loss.item(), np.mean(terms), rtol=1e-10)


# ----------------------------------------------------------------------------- batches

def test_make_batch_shifts_targets_and_reverses_sources():
    batch = make_batch([[3, 4, 5], [6]], [[7, 8], []], bos=1, eos=2, pad=0, reverse_source=True)
    assert isinstance(batch, Batch) and batch.pad == 0
    assert batch.src.tolist() == [[5, 4, 3], [6, 0, 0]] and batch.src_lengths.tolist() == [3, 1]
    assert batch.tgt_in.tolist() == [[1, 7, 8], [1, 0, 0]]
    assert batch.tgt_out.tolist() == [[7, 8, 2], [2, 0, 0]]
    assert make_batch([[3, 4, 5]], [[7]], 1, 2).src.tolist() == [[3, 4, 5]]
    src, lengths = source_batch([np.array([3, 4]), [5, 6, 7]], reverse_source=True)
    assert src.tolist() == [[4, 3, 0], [7, 6, 5]] and lengths.tolist() == [2, 3]
    with pytest.raises(ValueError, match=r"targets\[0\] holds the padding id 0 at position 1"):
        make_batch([[3]], [[7, 0]], 1, 2)
    with pytest.raises(ValueError, match=r"sources\[1\] is empty"):
        make_batch([[3], []], [[7], [7]], 1, 2)
    with pytest.raises(ValueError, match=r"one target per source \(2\), got 1"):
        make_batch([[3], [4]], [[7]], 1, 2)


def test_random_batch_draws_pairs_without_replacement(rng):
    sources = [[i + 3] for i in range(20)]
    targets = [[i + 3, i + 4] for i in range(20)]
    batch = random_batch(sources, targets, 20, rng, 1, 2)
    assert sorted(batch.src[:, 0].tolist()) == list(range(3, 23))             # each pair once
    np.testing.assert_array_equal(batch.tgt_out[:, 0], batch.src[:, 0])       # pairs stay together
    again = random_batch(sources, targets, 20, np.random.default_rng(0), 1, 2)
    assert torch.equal(again.src, batch.src)


# ----------------------------------------------------------------------------- the model

@pytest.mark.parametrize("attention_kind, cell", KINDS)
def test_padding_changes_nothing(rng, attention_kind, cell):
    """Memory, final state and decoder logits of a padded batch equal those of each pair alone;
    the memory is 0 at padded positions."""
    model = tiny_model(attention_kind, cell)
    sources = random_sources(rng, 4)
    targets = [rng.integers(3, V, n) for n in (3, 1, 0, 2)]
    batch = make_batch(sources, targets, BOS, EOS)
    with torch.no_grad():
        memory, state, mask = model.encode(batch.src, batch.src_lengths)
        logits, attn = model(batch.src, batch.src_lengths, batch.tgt_in)
        h_n = state[0] if cell == "lstm" else state
        for n, (x, y) in enumerate(zip(sources, targets)):
            S_n, T_n = len(x), len(y) + 1
            mem1, state1, _ = model.encode(torch.from_numpy(x)[None], torch.tensor([S_n]))
            logits1, attn1 = model(torch.from_numpy(x)[None], torch.tensor([S_n]), torch.tensor([[BOS, *y]]))
            h1 = state1[0] if cell == "lstm" else state1
            np.testing.assert_allclose(memory[n, :S_n].numpy(), mem1[0].numpy(), rtol=1e-12, atol=1e-14)
            assert torch.all(memory[n, S_n:] == 0) and mask[n].sum() == S_n
            np.testing.assert_allclose(h_n[:, n].numpy(), h1[:, 0].numpy(), rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(logits[n, :T_n].numpy(), logits1[0].numpy(), rtol=1e-12, atol=1e-14)
            if attention_kind is not None:
                np.testing.assert_allclose(attn[n, :T_n, :S_n].numpy(), attn1[0].numpy(), rtol=1e-12, atol=1e-14)


def test_encoder_and_decoder_match_the_numpy_gru(rng):
    """Encoder: embedding rows through course_lib.gru.gru_forward, the state read at each
    sentence's own last step; Decoder: from that state, then the affine output layer."""
    model = tiny_model(None, "gru")
    sources = random_sources(rng, 3)
    batch = make_batch(sources, [[3, 4], [5], [6, 3, 4]], BOS, EOS)
    with torch.no_grad():
        memory, state, _ = model.encode(batch.src, batch.src_lengths)
        logits, _ = model(batch.src, batch.src_lengths, batch.tgt_in)
    enc, dec = torch_to_numpy(model.encoder.rnn)[0][0], torch_to_numpy(model.decoder.rnn)[0][0]
    for n, x in enumerate(sources):
        h, _ = gru_forward(model.encoder.embed.weight.detach().numpy()[x][None], np.zeros((1, H)),
                           enc["Wx"], enc["Wh"], enc["bx"], enc["bh"])                   # (1, S_n, H)
        np.testing.assert_allclose(memory[n, :len(x)].numpy(), h[0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(state[0, n].numpy(), h[0, -1], rtol=1e-12, atol=1e-14)
        y_in = batch.tgt_in[n].numpy()
        g, _ = gru_forward(model.decoder.embed.weight.detach().numpy()[y_in][None], h[:, -1],
                           dec["Wx"], dec["Wh"], dec["bx"], dec["bh"])
        expected = g[0] @ model.decoder.out.weight.detach().numpy().T + model.decoder.out.bias.detach().numpy()
        np.testing.assert_allclose(logits[n].numpy(), expected, rtol=1e-12, atol=1e-13)


def numpy_attention(query, memory, lengths, score_fn):
    """The definition, one (n, t) at a time: scores over the real positions only, softmax, sum."""
    N, T, _ = query.shape
    S = memory.shape[1]
    weights, context = np.zeros((N, T, S)), np.zeros(query.shape)
    for n in range(N):
        for t in range(T):
            e = np.array([score_fn(query[n, t], memory[n, s]) for s in range(lengths[n])])
            weights[n, t, :lengths[n]] = softmax(e)
            context[n, t] = weights[n, t] @ memory[n]
    return context, weights


def test_attention_against_the_formulas(rng):
    N, T, S, A = 3, 2, 6, 4
    query, memory = rng.standard_normal((N, T, H)), rng.standard_normal((N, S, H))
    lengths = np.array([6, 1, 4])
    mask = torch.from_numpy(np.arange(S)[None] < lengths[:, None])
    W_q, W_k, v = rng.standard_normal((H, A)), rng.standard_normal((H, A)), rng.standard_normal(A)
    for kind, score_fn, params in [
        ("dot", lambda q, m: q @ m, {}),
        ("additive", lambda q, m: v @ np.tanh(q @ W_q + m @ W_k),
         dict(W_q=torch.from_numpy(W_q), W_k=torch.from_numpy(W_k), v=torch.from_numpy(v))),
    ]:
        c, a = attention(torch.from_numpy(query), torch.from_numpy(memory), mask, kind, **params)
        c_ref, a_ref = numpy_attention(query, memory, lengths, score_fn)
        np.testing.assert_allclose(a.numpy(), a_ref, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(c.numpy(), c_ref, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(a.sum(-1).numpy(), 1.0, rtol=1e-14)
        assert torch.all(a[~mask[:, None, :].expand(-1, T, -1)] == 0.0)       # exactly zero on padding
        assert torch.all(a[1, :, 0] == 1.0)                                    # one real position: all weight


@pytest.mark.parametrize("kind, cell", [("dot", "gru"), ("additive", "lstm")])
def test_attention_decoder_against_numpy(rng, kind, cell):
    """Logits = (tanh([c ; h] W_c)) W_out + b with c, a the attention written out in NumPy,
    h the decoder's recurrent states; the weights it returns sum to 1 and are 0 on padding."""
    model = tiny_model(kind, cell)
    sources = random_sources(rng, 3)
    batch = make_batch(sources, [[3, 4], [5], [6, 3, 4]], BOS, EOS)
    with torch.no_grad():
        memory, state, _ = model.encode(batch.src, batch.src_lengths)
        h, _ = model.decoder.rnn(model.decoder.embed(batch.tgt_in), state)
        logits, attn = model(batch.src, batch.src_lengths, batch.tgt_in)
    if kind == "additive":
        W_q, W_k = model.decoder.W_q.weight.detach().numpy().T, model.decoder.W_k.weight.detach().numpy().T
        v = model.decoder.v.weight.detach().numpy()[0]

    def score_fn(q, m):
        return q @ m if kind == "dot" else v @ np.tanh(q @ W_q + m @ W_k)

    c, a = numpy_attention(h.numpy(), memory.numpy(), batch.src_lengths.numpy(), score_fn)
    o = np.tanh(np.concatenate([c, h.numpy()], axis=-1) @ model.decoder.combine.weight.detach().numpy().T)
    expected = o @ model.decoder.out.weight.detach().numpy().T + model.decoder.out.bias.detach().numpy()
    np.testing.assert_allclose(attn.numpy(), a, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-12, atol=1e-13)
    mask = torch.arange(batch.src.shape[1])[None] < batch.src_lengths[:, None]
    assert torch.all(attn.masked_select(~mask[:, None, :]) == 0.0)
    np.testing.assert_allclose(attn.sum(-1).numpy(), 1.0, rtol=1e-14)


def test_model_building_mismatches():
    with pytest.raises(ValueError, match=r"same \(cell, layers, hidden size\): encoder \('gru', 1, 5\), "
                                         r"decoder \('lstm', 1, 5\)"):
        Seq2Seq(Encoder(V_SRC, E, H, "gru"), Decoder(V, E, H, "lstm"))
    with pytest.raises(ValueError, match=r"encoder \('gru', 1, 5\), decoder \('gru', 1, 6\)"):
        Seq2Seq(Encoder(V_SRC, E, H), AttentionDecoder(V, E, H + 1))
    with pytest.raises(ValueError, match="vocab_size must be a positive int, got 0"):
        Encoder(0, E, H)
    with pytest.raises(ValueError, match='cell must be "gru" or "lstm", got \'rnn\''):
        Decoder(V, E, H, "rnn")
    with pytest.raises(ValueError, match='attention must be None, "dot" or "additive", got \'general\''):
        build_seq2seq(V_SRC, V, attention="general")


# ----------------------------------------------------------------------------- decoding

def brute_force_log_prob(model, x, y):
    """log p(y | x), one decoding step at a time, the state carried by hand."""
    with torch.no_grad():
        memory, state, mask = model.encode(torch.tensor([x]), torch.tensor([len(x)]))
        total, prev = 0.0, BOS
        for tok in y:
            logits, state, _ = model.decode(torch.tensor([[prev]]), state, memory, mask)
            total += log_softmax(logits[0, 0].numpy())[tok]
            prev = tok
    return total


def next_log_probs(model, x, prefixes):
    """log p(. | prefix, x) for each prefix (all of one length), teacher-forced: (P, V)."""
    with torch.no_grad():
        P = len(prefixes)
        logits, _ = model(torch.tensor([x] * P), torch.tensor([len(x)] * P),
                          torch.tensor([[BOS, *y] for y in prefixes]))
    return log_softmax(logits[:, -1].numpy(), axis=-1)


def reference_greedy(model, x, max_len):
    y, total = [], 0.0
    while len(y) < max_len and (not y or y[-1] != EOS):
        log_p = next_log_probs(model, x, [y])[0]
        y.append(int(log_p.argmax()))
        total += log_p[y[-1]]
    return y, total


def reference_beam(model, x, K, max_len, alpha):
    """Beam search as its docstring states it, one source, plain lists, no early stop:
    extend every live hypothesis by every token, sort; eos-ended ones among the K best finish;
    the K best others live on; at max_len the live ones join the finished; rank by
    score / lp(|y|). Returns every (tokens, score) it ends with, best first."""
    live, finished = [([], 0.0)], []
    for _ in range(max_len):
        log_p = next_log_probs(model, x, [y for y, _ in live])                 # (P, V)
        cands = sorted(((y + [v], s + log_p[i, v]) for i, (y, s) in enumerate(live)
                        for v in range(log_p.shape[1])), key=lambda c: -c[1])
        finished += [c for c in cands[:K] if c[0][-1] == EOS]
        live = [c for c in cands if c[0][-1] != EOS][:K]
    return sorted(finished + live, key=lambda c: -c[1] / length_penalty(len(c[0]), alpha))


def test_greedy_is_beam_of_one_and_the_step_by_step_argmax(rng):
    """Greedy against the argmax written as a loop, against beam_size 1, and its scores against
    score() and a step-by-step sum; nothing follows an eos."""
    ends = set()
    for attention_kind, cell in KINDS:
        model = tiny_model(attention_kind, cell)
        src, lengths = source_batch(random_sources(rng, 6))
        greedy = greedy_decode(model, src, lengths, 6, BOS, EOS)
        beam = beam_search(model, src, lengths, 1, 6, BOS, EOS)
        assert [h.tokens for h in greedy] == [b[0].tokens for b in beam]
        np.testing.assert_allclose([h.score for h in greedy], [b[0].score for b in beam], rtol=1e-12)
        scored = score(model, src, lengths, [h.tokens for h in greedy], BOS)
        np.testing.assert_allclose(scored, [h.score for h in greedy], rtol=1e-10)
        for n, h in enumerate(greedy):
            x = src[n, :lengths[n]].tolist()
            tokens, total = reference_greedy(model, x, 6)
            assert h.tokens == tokens
            np.testing.assert_allclose(h.score, total, rtol=1e-10)
            np.testing.assert_allclose(h.score, brute_force_log_prob(model, x, h.tokens), rtol=1e-10)
            assert EOS not in h.tokens[:-1]                                   # nothing after eos
            assert h.finished == (h.tokens[-1] == EOS) and (h.finished or len(h.tokens) == 6)
            ends.add("at once" if h.tokens == [EOS] else "later" if h.finished else "cut off")
    assert ends == {"at once", "later", "cut off"}                            # every case occurred


@pytest.mark.parametrize("attention_kind, cell", [(None, "lstm"), ("dot", "gru"), ("additive", "lstm")])
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beam_search_matches_a_plain_reference(rng, attention_kind, cell, alpha):
    """The batched search against reference_beam, whole n-best lists (K = 2, 3) and the best
    alone (n_best = 1, where the early stop cuts the search short and must change nothing)."""
    model = tiny_model(attention_kind, cell, V=5, seed=3)
    src, lengths = source_batch(random_sources(rng, 5))
    for K in (2, 3):
        full = beam_search(model, src, lengths, K, 5, BOS, EOS, n_best=K, length_norm=alpha)
        best = beam_search(model, src, lengths, K, 5, BOS, EOS, n_best=1, length_norm=alpha)
        for n in range(len(full)):
            ref = reference_beam(model, src[n, :lengths[n]].tolist(), K, 5, alpha)
            assert [h.tokens for h in full[n]] == [y for y, _ in ref[:K]]
            np.testing.assert_allclose([h.score for h in full[n]], [s for _, s in ref[:K]], rtol=1e-10)
            assert best[n][0].tokens == ref[0][0]


@pytest.mark.parametrize("attention_kind, cell", [(None, "gru"), ("dot", "lstm")])
@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_big_beam_is_exhaustive_search(rng, attention_kind, cell, alpha):
    """V = 4, max_len = 4: 1 + 3 + 9 + 27 finished outputs and 81 cut off, 121 in all. A beam
    of 121 never prunes; its complete ranking must be the exhaustive one, and so must its best
    1 and 3 (where the early stop acts). The probabilities of all 121 outputs sum to 1."""
    V4, max_len, size = 4, 4, 121
    model = tiny_model(attention_kind, cell, V=V4, seed=1)
    src, lengths = source_batch(random_sources(rng, 3))
    ex = exhaustive_decode(model, src, lengths, max_len, BOS, EOS, n_best=size, length_norm=alpha)
    for n_best in (size, 3, 1):
        bm = beam_search(model, src, lengths, size, max_len, BOS, EOS, n_best=n_best, length_norm=alpha)
        for e, b in zip(ex, bm):
            assert len(b) == n_best
            assert [h.tokens for h in e[:n_best]] == [h.tokens for h in b]
            np.testing.assert_allclose([h.score for h in e[:n_best]], [h.score for h in b], rtol=1e-12)
    for e in ex:
        assert len(e) == size and sum(h.finished for h in e) == 40
        np.testing.assert_allclose([h.normalised for h in e],
                                   [h.score / length_penalty(len(h.tokens), alpha) for h in e], rtol=1e-14)
        assert np.all(np.diff([h.normalised for h in e]) <= 0)               # sorted, best first
        np.testing.assert_allclose(logsumexp([h.score for h in e]), 0.0, atol=1e-12)
    scored = score(model, src, lengths, [e[0].tokens for e in ex], BOS)
    np.testing.assert_allclose(scored, [e[0].score for e in ex], rtol=1e-10)


def test_beam_between_greedy_and_exhaustive(rng):
    """exhaustive >= every beam and greedy (by definition of the maximum); beam 5 >= greedy on
    these seeded models (typical, not guaranteed: a pruned beam can lose the greedy path),
    strictly better somewhere; n_best lists sorted; returned scores equal score()."""
    V4, max_len = 4, 4
    better = 0
    for seed in range(4):
        model = tiny_model(None, "lstm", V=V4, seed=seed)
        src, lengths = source_batch(random_sources(rng, 8))
        best = [e[0].score for e in exhaustive_decode(model, src, lengths, max_len, BOS, EOS)]
        greedy = [h.score for h in greedy_decode(model, src, lengths, max_len, BOS, EOS)]
        for K in (1, 2, 3, 5):
            beams = beam_search(model, src, lengths, K, max_len, BOS, EOS, n_best=K)
            top = [b[0].score for b in beams]
            assert np.all(np.array(best) >= np.array(top) - 1e-12)
            for n, b in enumerate(beams):
                assert np.all(np.diff([h.normalised for h in b]) <= 0) and len(b) <= K
                assert all(EOS not in h.tokens[:-1] for h in b)
                np.testing.assert_allclose(score(model, src[[n] * len(b)], lengths[[n] * len(b)],
                                                 [h.tokens for h in b], BOS), [h.score for h in b], rtol=1e-10)
            if K == 5:
                assert np.all(np.array(top) >= np.array(greedy) - 1e-12)
                better += int(np.sum(np.array(top) > np.array(greedy) + 1e-9))
        assert np.all(np.array(best) >= np.array(greedy) - 1e-12)
    assert better > 0                                                          # the test can tell them apart


def test_score_of_given_outputs(rng):
    """score() against the step-by-step sum, for outputs of different lengths in one batch (the
    empty one scores 0), and the tokens taken as given: no eos is added."""
    model = tiny_model("additive", "lstm")
    sources = random_sources(rng, 4)
    src, lengths = source_batch(sources)
    outputs = [[3, 4, EOS], [], [5, 5, 6, 0, 3], [EOS]]
    expected = [brute_force_log_prob(model, list(x), y) for x, y in zip(sources, outputs)]
    assert expected[1] == 0.0
    np.testing.assert_allclose(score(model, src, lengths, outputs, BOS), expected, rtol=1e-10)
    np.testing.assert_array_equal(score(model, src[:1], lengths[:1], [[]], BOS), [0.0])


def test_length_penalty_values():
    assert length_penalty(7, 0.0) == 1.0
    np.testing.assert_allclose(length_penalty(1, 1.0), 1.0)                   # (5 + 1) / 6
    np.testing.assert_allclose(length_penalty(7, 0.5), np.sqrt(2.0))          # (5 + 7) / 6 = 2


def test_length_normalisation_prefers_longer_outputs(rng):
    """The same beam, ranked by normalised score: a larger alpha never picks a shorter best output
    than alpha = 0 (the raw log-probability favours short outputs)."""
    model = tiny_model(None, "gru", V=4, seed=2)
    src, lengths = source_batch(random_sources(rng, 6))
    raw = beam_search(model, src, lengths, 4, 5, BOS, EOS)
    long = beam_search(model, src, lengths, 4, 5, BOS, EOS, length_norm=2.0)
    assert all(len(b[0].tokens) >= len(a[0].tokens) for a, b in zip(raw, long))


def test_decoding_bad_input(rng):
    model = tiny_model()
    src, lengths = source_batch(random_sources(rng, 2))
    with pytest.raises(ValueError, match="beam_size must be an int >= 1, got 0"):
        beam_search(model, src, lengths, 0, 5, BOS, EOS)
    with pytest.raises(ValueError, match="max_len must be an int >= 1, got 0"):
        greedy_decode(model, src, lengths, 0, BOS, EOS)
    with pytest.raises(ValueError, match=r"n_best must be an int in \[1, beam_size\] = \[1, 2\], got 3"):
        beam_search(model, src, lengths, 2, 5, BOS, EOS, n_best=3)
    with pytest.raises(ValueError, match="length_norm .* must be a finite number >= 0, got -1"):
        beam_search(model, src, lengths, 2, 5, BOS, EOS, length_norm=-1)
    with pytest.raises(ValueError, match=r"eos must be a target id in \[0, V\) = \[0, 7\), got 7"):
        greedy_decode(model, src, lengths, 5, BOS, V)
    empty = lengths.clone()
    empty[1] = 0
    with pytest.raises(ValueError, match=r"src_lengths must be in \[1, S\] = \[1, 6\] \(an empty source "
                                         r"cannot be encoded\), got 0 at index 1"):
        greedy_decode(model, src, empty, 5, BOS, EOS)
    with pytest.raises(ValueError, match=rf"src holds the id {V_SRC}, but the model's source vocabulary has "
                                         rf"{V_SRC} symbols"):
        greedy_decode(model, torch.full_like(src, V_SRC), lengths, 5, BOS, EOS)
    with pytest.raises(ValueError, match=r"targets holds the id 7, but the model's target vocabulary has 7"):
        score(model, src, lengths, [[3], [V]], BOS)
    with pytest.raises(ValueError, match="search space holds"):
        exhaustive_decode(model, src, lengths, 12, BOS, EOS)
    with pytest.raises(TypeError, match="model must be a course_lib.seq2seq.Seq2Seq"):
        greedy_decode(torch.nn.Linear(2, 2), src, lengths, 5, BOS, EOS)


def test_translate_checks_the_vocabularies():
    src_vocab, tgt_vocab = Vocab(list("abcde")), Vocab(list("xyz"))
    model = build_seq2seq(len(src_vocab), len(tgt_vocab) + 1, embedding_size=E, hidden_size=H)
    with pytest.raises(ValueError, match="the target vocabulary has 7 tokens but the model's decoder has 8"):
        translate(model, [["a", "b"]], src_vocab, tgt_vocab, 5)
    with pytest.raises(ValueError, match=r"batch.src holds the id 9, but the model's source vocabulary has 9"):
        seq2seq_loss(model, make_batch([[9]], [[4]], 1, 2))


# ----------------------------------------------------------------------------- training

def test_training_learns_to_reverse():
    """Reversal of 2-5 symbols over 6 letters, one train() run of 100 steps of 64 pairs: at
    least 90 % of 400 fresh sequences reversed exactly (greedy; 97-99 % for seeds 0-2). The
    untrained model gets almost none right."""
    vocab = Vocab(list("abcdef"))

    def pairs(rng, n):
        lengths, letters = rng.integers(2, 6, n), rng.integers(4, len(vocab), (n, 5))
        src = [row[:k] for row, k in zip(letters, lengths)]
        return src, [s[::-1] for s in src]

    torch.manual_seed(0)
    model = build_seq2seq(len(vocab), len(vocab), embedding_size=16, hidden_size=32, attention="dot")
    test_src, test_tgt = pairs(np.random.default_rng(1), 400)

    def accuracy(m):
        out = translate(m, [vocab.decode(s) for s in test_src], vocab, vocab, max_len=7)
        return float(np.mean([o == vocab.decode(t) for o, t in zip(out, test_tgt)]))

    assert accuracy(model) < 0.05
    history = train(model, seq2seq_loss, lambda r: make_batch(*pairs(r, 64), vocab.bos, vocab.eos), 100,
                    lr=1e-2, seed=0, progress=False)
    assert history.loss[-10:].mean() < history.loss[:10].mean() / 5
    assert accuracy(model) >= 0.9
