"""course_lib.language_model against oracles: the NumPy LSTM/GRU with copied weights, hand
loops that read one symbol at a time, brute force over the next-symbol distribution, a
chi-square bound on sample frequencies, and the definitions of the batches."""

import numpy as np
import pytest
import torch
from scipy.special import log_softmax, softmax
from scipy.stats import chi2

from course_lib.gru import gru_forward
from course_lib.language_model import (
    IGNORE,
    CharLM,
    next_distribution,
    next_symbol_loss,
    random_windows,
    sample,
    sequence_batch,
    stream_batch,
    stream_log_probs,
)
from course_lib.lstm import lstm_forward
from course_lib.training import torch_to_numpy

V, H, E = 7, 5, 3                    # distinct sizes: a transposed weight cannot broadcast silently


def tiny_model(cell="lstm", seed=0, V=V):
    torch.manual_seed(seed)
    return CharLM(V, H, E, cell=cell).double()


def hand_log_probs(model, ids, start):
    """log p(x_t | start, x_<t), reading one symbol at a time and carrying the state by hand."""
    out, state, prev = [], None, start
    with torch.no_grad():
        for x in ids:
            logits, state = model(torch.tensor([[prev]]), state)                    # (1, 1, V)
            out.append(log_softmax(logits[0, 0].numpy())[x])
            prev = int(x)
    return np.array(out)


# ----------------------------------------------------------------------------- the model

@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_charlm_matches_numpy_reference(rng, cell):
    """Embedding rows -> course_lib.lstm/gru with the copied weights -> affine layer."""
    N, T = 2, 6
    model = tiny_model(cell)
    x = rng.integers(0, V, (N, T))
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(x))
        h_torch, _ = model.hidden(torch.from_numpy(x))
    W_emb = model.embed.weight.detach().numpy()                                     # (V, E)
    p = torch_to_numpy(model.rnn)[0][0]
    h0 = np.zeros((N, H))
    if cell == "lstm":
        h, _ = lstm_forward(W_emb[x], h0, p["Wx"], p["Wh"], p["b"])
    else:
        h, _ = gru_forward(W_emb[x], h0, p["Wx"], p["Wh"], p["bx"], p["bh"])
    expected = h @ model.out.weight.detach().numpy().T + model.out.bias.detach().numpy()
    assert logits.shape == (N, T, V) and h_torch.shape == (N, T, H)
    np.testing.assert_allclose(h_torch.numpy(), h, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_charlm_state_carries_across_calls(rng, cell):
    model = tiny_model(cell)
    x = torch.from_numpy(rng.integers(0, V, (3, 9)))
    with torch.no_grad():
        whole, _ = model(x)
        first, state = model(x[:, :4])
        second, _ = model(x[:, 4:], state)
    np.testing.assert_allclose(torch.cat([first, second], 1).numpy(), whole.numpy(), rtol=1e-12, atol=1e-14)


def test_charlm_bad_arguments():
    with pytest.raises(ValueError, match="vocab_size must be a positive int, got 0"):
        CharLM(0, 4)
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        CharLM(5, 2.5)
    with pytest.raises(ValueError, match='cell must be "lstm" or "gru", got \'rnn\''):
        CharLM(5, 4, cell="rnn")


# ----------------------------------------------------------------------------- loss and batches

def test_next_symbol_loss_is_mean_cross_entropy_over_scored_positions(rng):
    N, T = 3, 4
    model = tiny_model()
    x = rng.integers(0, V, (N, T))
    y = rng.integers(0, V, (N, T))
    y[0, 2:] = IGNORE
    y[2, 0] = IGNORE
    loss = next_symbol_loss(model, (torch.from_numpy(x), torch.from_numpy(y)))
    with torch.no_grad():
        logits = model(torch.from_numpy(x))[0].numpy()
    terms = [-log_softmax(logits[n, t])[y[n, t]] for n in range(N) for t in range(T) if y[n, t] != IGNORE]
    assert len(terms) == N * T - 3
    assert loss.requires_grad
    np.testing.assert_allclose(loss.item(), np.mean(terms), rtol=1e-12)


def test_next_symbol_loss_bad_batches():
    model = tiny_model()
    x = torch.zeros((2, 3), dtype=torch.int64)
    with pytest.raises(TypeError, match="batch must be a pair"):
        next_symbol_loss(model, x)
    with pytest.raises(ValueError, match=r"two \(N, T\) tensors of the same shape, got \[\(2, 3\), \(2, 4\)\]"):
        next_symbol_loss(model, (x, torch.zeros((2, 4), dtype=torch.int64)))
    with pytest.raises(ValueError, match="must be int64 tensors"):
        next_symbol_loss(model, (x, x.float()))
    y = x.clone()
    y[1, 2] = V
    with pytest.raises(ValueError, match=rf"\[0, V\) = \[0, {V}\) or IGNORE = -1, got {V} at index \(1, 2\)"):
        next_symbol_loss(model, (x, y))
    with pytest.raises(ValueError, match="no scored position"):
        next_symbol_loss(model, (x, torch.full((2, 3), IGNORE)))
    with pytest.raises(TypeError, match="vocab_size"):
        next_symbol_loss(torch.nn.Linear(2, 2), (x, x))


def test_random_windows_are_slices_of_the_text(rng):
    ids = rng.integers(0, V, 40)
    n, T = 300, 6
    x, y = random_windows(ids, n, T, rng)
    assert x.shape == y.shape == (n, T) and x.dtype == y.dtype == torch.int64
    for row_x, row_y in zip(x.numpy(), y.numpy()):
        window = np.r_[row_x, row_y[-1]]
        assert any(np.array_equal(ids[s:s + T + 1], window) for s in range(ids.size - T)), \
            "every window must be T + 1 consecutive symbols of the text"
        np.testing.assert_array_equal(row_y[:-1], row_x[1:])
    # with 300 draws over 34 possible starts, both ends of the range must occur
    x2, _ = random_windows(np.arange(ids.size), n, T, np.random.default_rng(1))
    first = x2[:, 0].numpy()
    assert first.min() == 0 and first.max() == ids.size - T - 1
    again = random_windows(ids, n, T, np.random.default_rng(0))
    np.testing.assert_array_equal(again[0], random_windows(ids, n, T, np.random.default_rng(0))[0])


def test_random_windows_bad_arguments(rng):
    with pytest.raises(ValueError, match="ids must hold at least 6 symbols, got 5"):
        random_windows(np.arange(5), 2, 5, rng)
    with pytest.raises(ValueError, match="n and T must be positive ints"):
        random_windows(np.arange(9), 0, 3, rng)
    with pytest.raises(ValueError, match="ids must hold integers"):
        random_windows(np.linspace(0, 1, 9), 2, 3, rng)
    with pytest.raises(ValueError, match="ids must hold symbols >= 0, got -2 at index 4"):
        random_windows(np.array([0, 1, 2, 3, -2, 1, 0]), 2, 3, rng)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        random_windows(np.arange(9), 2, 3, 0)


@pytest.mark.parametrize("L, rows", [(11, 1), (11, 3), (12, 4), (5, 5)])
def test_stream_batch_layout(rng, L, rows):
    ids = rng.integers(0, V, L)
    start = 6
    x, y = stream_batch(ids, start, rows)
    R = -(-L // rows)
    assert x.shape == y.shape == (rows, R)
    flat_x, flat_y = x.numpy().ravel(), y.numpy().ravel()
    np.testing.assert_array_equal(flat_y[:L], ids)                       # every symbol once, in order
    assert np.all(flat_y[L:] == IGNORE)
    np.testing.assert_array_equal(flat_x[:L], np.r_[start, ids[:-1]])   # the symbol before each target


def test_stream_batch_rows_restart_from_zero_state(rng):
    """Loss over n rows = mean of per-symbol losses of each row read alone from the zero state."""
    model = tiny_model()
    ids = rng.integers(0, V, 23)
    x, y = stream_batch(ids, 2, 4)
    loss = next_symbol_loss(model, (x, y)).item()
    terms = []
    for row_x, row_y in zip(x.numpy(), y.numpy()):
        keep = row_y != IGNORE
        terms.extend(-hand_log_probs(model, row_y[keep], row_x[0]))
    assert len(terms) == ids.size
    np.testing.assert_allclose(loss, np.mean(terms), rtol=1e-12)


def test_stream_batch_bad_arguments():
    with pytest.raises(ValueError, match=r"n_rows must be an int in \[1, L\] = \[1, 4\], got 5"):
        stream_batch(np.arange(4), 0, 5)
    with pytest.raises(ValueError, match="start must be a symbol, an int >= 0, got -1"):
        stream_batch(np.arange(4), -1)
    with pytest.raises(ValueError, match=r"ids must have shape \(L,\), got \(2, 2\)"):
        stream_batch(np.zeros((2, 2), dtype=int), 0)


def test_sequence_batch_layout():
    end = 0
    seqs = [np.array([3, 1, 4]), np.array([], dtype=int), np.array([5])]
    x, y = sequence_batch(seqs, end)
    np.testing.assert_array_equal(x.numpy(), [[0, 3, 1, 4], [0, 0, 0, 0], [0, 5, 0, 0]])
    np.testing.assert_array_equal(y.numpy(), [[3, 1, 4, 0], [0, -1, -1, -1], [5, 0, -1, -1]])


def test_sequence_batch_matches_its_definition_row_by_row(rng):
    end = 4
    seqs = [rng.choice([0, 1, 2, 3, 5], size=n) for n in rng.integers(0, 9, 13)]
    x, y = sequence_batch(seqs, end)
    T = max(s.size for s in seqs) + 1
    assert x.shape == y.shape == (13, T)
    for s, row_x, row_y in zip(seqs, x.numpy(), y.numpy()):
        pad = T - s.size - 1
        np.testing.assert_array_equal(row_x, np.r_[end, s, [end] * pad])
        np.testing.assert_array_equal(row_y, np.r_[s, end, [IGNORE] * pad])


def test_sequence_batch_loss_equals_sequences_scored_one_by_one(rng):
    """Padding must not leak: the summed loss of the batch is -sum_n log p(s_n, end) with each
    sequence read alone (end symbol first, end symbol last)."""
    model = tiny_model()
    end = 3
    seqs = [rng.choice([s for s in range(V) if s != end], size=n) for n in (5, 0, 2, 8)]
    x, y = sequence_batch(seqs, end)
    total = next_symbol_loss(model, (x, y)).item() * int((y != IGNORE).sum())
    expected = -sum(hand_log_probs(model, np.r_[s, end], end).sum() for s in seqs)
    np.testing.assert_allclose(total, expected, rtol=1e-12)


def test_sequence_batch_bad_arguments():
    with pytest.raises(ValueError, match="sequences\\[1\\] contains the end symbol 2 at position 1"):
        sequence_batch([np.array([1]), np.array([0, 2])], 2)
    with pytest.raises(ValueError, match=r"sequences\[1\] must be a 1-D array of integer symbols, got shape \(1,\) and dtype float64"):
        sequence_batch([np.array([1]), np.array([0.5])], 0)
    with pytest.raises(ValueError, match="non-empty list .* got an empty list"):
        sequence_batch([], 0)
    with pytest.raises(ValueError, match="sequences\\[0\\] contains the negative symbol -3 at position 1"):
        sequence_batch([np.array([1, -3])], 0)


# ----------------------------------------------------------------------------- perplexity

@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_stream_log_probs_equals_one_symbol_at_a_time(rng, cell):
    model = tiny_model(cell)
    ids = rng.integers(0, V, 37)
    expected = hand_log_probs(model, ids, 4)
    for chunk in (1, 5, 37, 1000):                                       # pieces must not matter
        got = stream_log_probs(model, ids, 4, chunk=chunk)
        assert got.shape == (37,) and got.dtype == np.float64
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_stream_log_probs_agrees_with_the_batched_loss_of_one_row(rng):
    model = tiny_model()
    ids = rng.integers(0, V, 50)
    log_p = stream_log_probs(model, ids, 1, chunk=16)
    loss = next_symbol_loss(model, stream_batch(ids, 1, 1)).item()
    np.testing.assert_allclose(-log_p.mean(), loss, rtol=1e-12)
    # a float32 model, the course's training dtype, agrees to float32 rounding
    model32 = tiny_model().float()
    np.testing.assert_allclose(np.exp(-stream_log_probs(model32, ids, 1, chunk=16).mean()),
                               np.exp(next_symbol_loss(model32, stream_batch(ids, 1, 1)).item()), rtol=1e-5)


def test_stream_log_probs_bad_arguments():
    model = tiny_model()
    with pytest.raises(ValueError, match=rf"ids must hold values in \[0, V\) = \[0, {V}\), got {V} at index \(2,\)"):
        stream_log_probs(model, np.array([0, 1, V]), 0)
    with pytest.raises(ValueError, match=rf"start must be a symbol in \[0, V\) = \[0, {V}\), got {V}"):
        stream_log_probs(model, np.array([0, 1]), V)
    with pytest.raises(ValueError, match="chunk must be a positive int"):
        stream_log_probs(model, np.array([0, 1]), 0, chunk=0)
    with pytest.raises(ValueError, match="ids must hold at least 1 symbols, got 0"):
        stream_log_probs(model, np.array([], dtype=int), 0)


# ----------------------------------------------------------------------------- the next-symbol distribution

def test_next_distribution_temperature(rng):
    logits = rng.standard_normal((4, V)) * 3
    np.testing.assert_allclose(next_distribution(logits), softmax(logits, axis=-1), rtol=1e-12)
    for T in (0.3, 2.5):
        np.testing.assert_allclose(next_distribution(logits, T), softmax(logits / T, axis=-1), rtol=1e-12)
    greedy = np.eye(V)[logits.argmax(axis=-1)]
    np.testing.assert_array_equal(next_distribution(logits, 0), greedy)
    np.testing.assert_allclose(next_distribution(logits, 1e-4), greedy, atol=1e-12)   # the limit T -> 0
    np.testing.assert_allclose(next_distribution(torch.from_numpy(logits)), softmax(logits, axis=-1), rtol=1e-12)
    big = np.array([1000.0, 999.0, -1000.0])                             # no overflow
    np.testing.assert_allclose(next_distribution(big, 0.5), softmax(big / 0.5), rtol=1e-12)


@pytest.mark.parametrize("k", [1, 2, 4, V])
def test_next_distribution_top_k_brute_force(rng, k):
    logits = rng.standard_normal((6, V))
    logits[0, :3] = 0.5                                                  # a tie: exactly k are kept
    T = 0.7
    p = next_distribution(logits, T, top_k=k)
    for row, prob in zip(logits, p):
        top = sorted(range(V), key=lambda v: (-row[v], v))[:k]           # k largest, ties: lower index
        assert set(np.flatnonzero(prob > 0)) == set(top)
        np.testing.assert_allclose(prob[top], softmax(row[top] / T), rtol=1e-12)
    np.testing.assert_allclose(p.sum(axis=-1), 1, rtol=1e-12)


def test_next_distribution_bad_arguments():
    z = np.zeros(V)
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0, got -0.5"):
        next_distribution(z, -0.5)
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0, got nan"):
        next_distribution(z, float("nan"))
    with pytest.raises(ValueError, match=rf"top_k must be None or an int in \[1, V\] = \[1, {V}\], got 0"):
        next_distribution(z, top_k=0)
    with pytest.raises(ValueError, match=rf"got {V + 1}"):
        next_distribution(z, top_k=V + 1)
    with pytest.raises(ValueError, match="logits must be finite"):
        next_distribution(np.array([0.0, np.inf]))
    with pytest.raises(ValueError, match=r"logits must have shape \(\.\.\., V\) with V >= 1"):
        next_distribution(np.float64(1.0))


# ----------------------------------------------------------------------------- sampling

def greedy_by_hand(model, prompt, n):
    out, state = [], None
    with torch.no_grad():
        logits, state = model(torch.tensor([prompt]))
        for _ in range(n):
            x = int(logits[0, -1].argmax())
            out.append(x)
            logits, state = model(torch.tensor([[x]]), state)
    return np.array(out)


def test_sample_temperature_to_zero_is_greedy(rng):
    model = tiny_model(seed=3)
    prompt = [1, 2, 0]
    expected = greedy_by_hand(model, prompt, 30)
    for T in (0, 1e-6):
        s = sample(model, prompt, 30, np.random.default_rng(5), temperature=T)
        assert s.ids.shape == (1, 30)
        np.testing.assert_array_equal(s.ids[0], expected)
    assert np.all(sample(model, prompt, 30, rng, temperature=0).entropy == 0)


@pytest.mark.parametrize("T, k", [(1.0, None), (0.5, None), (2.0, None), (1.0, 3)])
def test_sample_frequencies_match_the_distribution(T, k):
    """20,000 first draws from the same prompt against p = softmax(logits / T) (top-k):
    Pearson's chi-square statistic stays below its 0.999 quantile."""
    model = tiny_model(seed=1)
    with torch.no_grad():
        model.out.bias += torch.linspace(-1, 1, V, dtype=torch.float64)  # a clearly non-uniform p
        logits = model(torch.tensor([[2, 5]]))[0][0, -1].numpy()
    p = next_distribution(logits, T, k)
    n = 20_000
    s = sample(model, np.tile([2, 5], (n, 1)), 1, np.random.default_rng(7), temperature=T, top_k=k)
    counts = np.bincount(s.ids[:, 0], minlength=V)
    support = p > 0
    assert counts[~support].sum() == 0                                   # nothing outside the support
    expected = n * p[support]
    stat = ((counts[support] - expected) ** 2 / expected).sum()
    assert stat < chi2.ppf(0.999, support.sum() - 1)
    np.testing.assert_allclose(s.entropy[:, 0], -(p[support] * np.log(p[support])).sum(), rtol=1e-12)


def test_sample_top_k_never_leaves_the_top_k(rng):
    """Replay the samples: each symbol is among the k largest logits of its step."""
    model = tiny_model(seed=2)
    k, n, N = 2, 25, 6
    prompt = rng.integers(0, V, (N, 2))
    s = sample(model, prompt, n, rng, temperature=1.5, top_k=k)
    with torch.no_grad():
        logits = model(torch.from_numpy(np.concatenate([prompt, s.ids], axis=1)))[0].numpy()
    for i in range(N):
        for t in range(n):
            row = logits[i, prompt.shape[1] - 1 + t]                     # logits that produced step t
            x = s.ids[i, t]
            rank = sum(row[v] > row[x] or (row[v] == row[x] and v < x) for v in range(V))
            assert rank < k
            p = next_distribution(row, 1.5, k)
            np.testing.assert_allclose(s.entropy[i, t], -(p[p > 0] * np.log(p[p > 0])).sum(), rtol=1e-12)


def test_sample_stops_at_the_end_symbol():
    """With an end symbol, each sample is the free-running sample (same rng) cut after its
    first end symbol; lengths count that symbol."""
    model = tiny_model(seed=4, V=3)
    end, N, n = 0, 40, 12
    with torch.no_grad():
        model.out.bias[end] -= 2.5                                       # some samples end, some do not
    free = sample(model, np.full((N, 1), end), n, np.random.default_rng(9))
    cut = sample(model, np.full((N, 1), end), n, np.random.default_rng(9), end=end)
    assert cut.ids.shape == (N, n)
    ended = 0
    for i in range(N):
        hits = np.flatnonzero(free.ids[i] == end)
        length = hits[0] + 1 if hits.size else n
        ended += bool(hits.size)
        assert cut.lengths[i] == length
        np.testing.assert_array_equal(cut.ids[i, :length], free.ids[i, :length])
        assert np.all(cut.ids[i, length:] == end) and np.all(np.isnan(cut.entropy[i, length:]))
        np.testing.assert_allclose(cut.entropy[i, :length], free.entropy[i, :length], rtol=1e-12)
    assert 0 < ended < N                                                 # both cases were exercised


def test_sample_bad_arguments(rng):
    model = tiny_model()
    with pytest.raises(ValueError, match=rf"prompt must hold values in \[0, V\) = \[0, {V}\), got {V}"):
        sample(model, [0, V], 3, rng)
    with pytest.raises(ValueError, match="prompt must hold at least one symbol"):
        sample(model, np.zeros((2, 0), dtype=int), 3, rng)
    with pytest.raises(ValueError, match="n_steps must be a positive int, got 0"):
        sample(model, [0], 0, rng)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        sample(model, [0], 3, 42)
    with pytest.raises(ValueError, match=rf"end must be a symbol in \[0, V\) = \[0, {V}\), got -1"):
        sample(model, [0], 3, rng, end=-1)
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
        sample(model, [0], 3, rng, temperature=-1)
    with pytest.raises(ValueError, match="top_k must be None or an int"):
        sample(model, [0], 3, rng, top_k=V + 1)
