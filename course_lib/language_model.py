"""Neural language models over symbols (characters, or the letters of words), in torch: the
model, its batches and loss, perplexity measured on a whole text, and sampling with a
temperature and top-k.

Shape legend:
    N  batch (sequences side by side)     x (N, T) int     input symbols
    T  time steps                         y (N, T) int     targets: the next symbols, IGNORE = none
    V  vocabulary (symbols 0..V-1)        logits (N, T, V)
    E  embedding size                     h (N, T, H)      hidden states (the LSTM's outputs)
    H  hidden size                        ids (L,) int     a whole text, L symbols

A language model gives the next symbol a distribution given all the ones before it, and the
chain rule multiplies these into the probability of a sequence. A recurrent network keeps
the whole history in its state; the model reads the previous symbol and predicts the next:

    e_t = W_emb[x_{t-1}]                          (E,)  embedding of the symbol just read
    h_t = cell(e_t, h_{t-1})                      (H,)  an LSTM or a GRU
    p(x_t = v | x_<t) = softmax(h_t W_out + b)_v        W_out (H, V)
    log p(x_1..x_L) = sum_t log p(x_t | x_<t),    perplexity = exp(-log p(x_1..x_L) / L)

Text is fed as a stream: the symbol read before the first one is a `start` symbol (the
end-of-line that precedes a verse, or the end symbol that precedes a word).
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.validation import check_positive_ints, check_range, check_shape, is_int

__all__ = [
    "IGNORE",
    "CharLM",
    "next_symbol_loss",
    "random_windows",
    "stream_batch",
    "sequence_batch",
    "stream_log_probs",
    "next_distribution",
    "Samples",
    "sample",
]

IGNORE = -1          # a target that is not scored (padding after the end of a sequence)


# ----------------------------------------------------------------------------- the model

class CharLM(nn.Module):
    """Embedding -> LSTM or GRU -> linear layer: a symbol-level language model.

        e = W_emb[x]                     (N, T, E)
        h, state = rnn(e, state)         (N, T, H)   state carried in and out
        logits = h W_out + b             (N, T, V)   p(next symbol) = softmax(logits)

    In torch's storage: W_emb = embed.weight (V, E), W_out = out.weight.T (H, V), b = out.bias;
    the recurrent layer maps to the NumPy references with course_lib.training.torch_to_numpy.

    Args:
        vocab_size: V. hidden_size: H. embedding_size: E.
        cell: "lstm" (state = (h, c), each (1, N, H)) or "gru" (state = h, (1, N, H)).
    """

    def __init__(self, vocab_size, hidden_size, embedding_size=16, cell="lstm"):
        super().__init__()
        check_positive_ints(vocab_size=vocab_size, hidden_size=hidden_size, embedding_size=embedding_size)
        if cell not in ("lstm", "gru"):
            raise ValueError(f'cell must be "lstm" or "gru", got {cell!r}')
        self.vocab_size, self.hidden_size, self.cell = int(vocab_size), int(hidden_size), cell
        self.embed = nn.Embedding(vocab_size, embedding_size)
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(embedding_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, vocab_size)

    def hidden(self, x, state=None):
        """x: (N, T) int64 tensor -> (h (N, T, H), state after the last step)."""
        return self.rnn(self.embed(x), state)                    # (N, T, E) -> (N, T, H)

    def forward(self, x, state=None):
        """x: (N, T) int64 tensor -> (logits (N, T, V), state after the last step)."""
        h, state = self.hidden(x, state)
        return self.out(h), state                                # (N, T, V)


def _check_model(model):
    if not isinstance(model, nn.Module) or not is_int(getattr(model, "vocab_size", None)):
        raise TypeError("model must be a torch.nn.Module with an int vocab_size whose forward(x, state) "
                        f"returns (logits, state), such as CharLM; got {type(model).__name__}")
    return model.vocab_size


def _check_symbol(name, value, V=None):
    if V is None:
        if not is_int(value) or value < 0:
            raise ValueError(f"{name} must be a symbol, an int >= 0, got {value!r}")
    elif not is_int(value) or not 0 <= value < V:
        raise ValueError(f"{name} must be a symbol in [0, V) = [0, {V}), got {value!r}")
    return int(value)


def _check_ids(name, ids, V, min_length=1):
    arr = check_shape(name, ids, ("L",), {}, kind="int")
    if arr.size < min_length:
        raise ValueError(f"{name} must hold at least {min_length} symbols, got {arr.size}")
    if V is not None:
        check_range(name, arr, V)
    elif arr.size and arr.min() < 0:
        t = int(np.flatnonzero(arr < 0)[0])
        raise ValueError(f"{name} must hold symbols >= 0, got {arr[t]} at index {t}")
    return arr.astype(np.int64, copy=False)


# ----------------------------------------------------------------------------- loss and batches

def next_symbol_loss(model, batch):
    """Mean cross-entropy of the next symbol over every scored position (the training loss).

        loss = -(1 / #scored) sum_{n, t: y[n, t] != IGNORE} log softmax(logits[n, t])_{y[n, t]}

    Args:
        model: a CharLM (or a module with the same forward).
        batch: (x, y), two (N, T) int64 tensors; y == IGNORE marks positions without a target.
    Returns:
        a scalar tensor, in nats per symbol; exp(loss) is the perplexity of the batch.
    """
    V = _check_model(model)
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise TypeError(f"batch must be a pair (x, y) of (N, T) int tensors, got {type(batch).__name__}")
    x, y = batch
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)) or x.ndim != 2 or x.shape != y.shape:
        shapes = [tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__ for t in (x, y)]
        raise ValueError(f"batch must be (x, y), two (N, T) tensors of the same shape, got {shapes}")
    if x.dtype != torch.int64 or y.dtype != torch.int64:
        raise ValueError(f"x and y must be int64 tensors, got {x.dtype} and {y.dtype}")
    scored = y != IGNORE
    if not scored.any():
        raise ValueError("y has no scored position (every target is IGNORE)")
    bad = scored & ((y < 0) | (y >= V))
    if bad.any():
        n, t = (int(i) for i in bad.nonzero()[0])
        raise ValueError(f"y must hold symbols in [0, V) = [0, {V}) or IGNORE = {IGNORE}, "
                         f"got {int(y[n, t])} at index {(n, t)}")
    logits, _ = model(x)                                                  # (N, T, V)
    return F.cross_entropy(logits.reshape(-1, V), y.reshape(-1), ignore_index=IGNORE)


def random_windows(ids, n, T, rng):
    """n windows of T + 1 consecutive symbols at random places of a text: inputs and targets.

        s_j ~ uniform{0, ..., L - T - 1}      x[j] = ids[s_j : s_j + T],   y[j] = ids[s_j + 1 : s_j + T + 1]

    Args:
        ids: (L,) the text as symbols, L > T.
        n: number of windows (the batch size N). T: steps per window.
        rng: np.random.Generator.
    Returns:
        (x, y), two (n, T) int64 tensors; y is x shifted by one symbol.
    """
    if not is_int(n) or n < 1 or not is_int(T) or T < 1:
        raise ValueError(f"n and T must be positive ints, got n = {n!r}, T = {T!r}")
    ids = _check_ids("ids", ids, None, min_length=T + 1)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    starts = rng.integers(0, ids.size - T, size=n)
    w = torch.from_numpy(ids[starts[:, None] + np.arange(T + 1)])     # (n, T + 1)
    return w[:, :-1], w[:, 1:]


def stream_batch(ids, start, n_rows=1):
    """A whole text as one batch of n_rows consecutive pieces, every symbol a target once.

        inputs  = [start, ids[0], ..., ids[L-2]]         targets = ids
        both cut into n_rows rows of R = ceil(L / n_rows) steps; the last row is padded
        (input `start`, target IGNORE).

    With n_rows = 1 the model reads the whole text in one pass from the zero state, which
    is exactly what stream_log_probs computes. With more rows, every row starts again from
    the zero state: faster, and a little worse on the first symbols of each row.

    Args:
        ids: (L,) symbols. start: the symbol read before ids[0]. n_rows: rows, 1 <= n_rows <= L.
    Returns:
        (x, y), two (n_rows, R) int64 tensors.
    """
    ids = _check_ids("ids", ids, None)
    start = _check_symbol("start", start)
    if not is_int(n_rows) or not 1 <= n_rows <= ids.size:
        raise ValueError(f"n_rows must be an int in [1, L] = [1, {ids.size}], got {n_rows!r}")
    R = -(-ids.size // n_rows)
    x = np.full(n_rows * R, start, dtype=np.int64)
    y = np.full(n_rows * R, IGNORE, dtype=np.int64)
    x[0], x[1:ids.size], y[:ids.size] = start, ids[:-1], ids
    return torch.from_numpy(x.reshape(n_rows, R)), torch.from_numpy(y.reshape(n_rows, R))


def sequence_batch(sequences, end):
    """Variable-length sequences with an end symbol, padded into one batch.

        x[n] = [end, s_1, ..., s_Tn, end, end, ...]      (the end symbol also starts a sequence)
        y[n] = [s_1, ..., s_Tn, end, IGNORE, ...]        (the model must predict the end)

    The model learns p(s_1..s_Tn, end) = p(s_1 | end) ... p(end | s_1..s_Tn): a distribution
    over sequences of every length, whose samples stop by themselves.

    Args:
        sequences: a list of N (T_n,) symbol arrays (T_n >= 0), none containing `end`.
        end: the end symbol.
    Returns:
        (x, y), two (N, max_n T_n + 1) int64 tensors.
    """
    end = _check_symbol("end", end)
    if not isinstance(sequences, (list, tuple)) or not sequences:
        what = f"an empty {type(sequences).__name__}" if isinstance(sequences, (list, tuple)) \
            else type(sequences).__name__
        raise ValueError(f"sequences must be a non-empty list of (T_n,) symbol arrays, got {what}")
    arrs = [np.asarray(s) for s in sequences]
    for i, a in enumerate(arrs):
        if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
            raise ValueError(f"sequences[{i}] must be a 1-D array of integer symbols, got shape "
                             f"{a.shape} and dtype {a.dtype}")
    lengths = np.array([a.size for a in arrs])                         # (N,)
    flat = np.concatenate([a.astype(np.int64) for a in arrs])          # (sum T_n,)
    bad = np.flatnonzero((flat < 0) | (flat == end))
    if bad.size:
        i = int(np.searchsorted(np.cumsum(lengths), bad[0], side="right"))
        t = int(bad[0] - lengths[:i].sum())
        what = f"the end symbol {end}" if flat[bad[0]] == end else f"the negative symbol {flat[bad[0]]}"
        raise ValueError(f"sequences[{i}] contains {what} at position {t}; symbols must be >= 0, "
                         "and the end symbol is added by sequence_batch")
    N, T = len(arrs), int(lengths.max()) + 1
    inside = np.arange(T)[None, :] < lengths[:, None]                  # (N, T) t < T_n
    y = np.full((N, T), IGNORE, dtype=np.int64)
    y[inside] = flat
    y[np.arange(N), lengths] = end
    x = np.full((N, T), end, dtype=np.int64)
    x[:, 1:][inside[:, :-1]] = flat
    return torch.from_numpy(x), torch.from_numpy(y)


# ----------------------------------------------------------------------------- perplexity

@torch.no_grad()
def stream_log_probs(model, ids, start, chunk=8192):
    """log p(x_t | start, x_1..x_{t-1}) for every symbol of a text, the state carried throughout.

        state_0 = 0;   read start, then ids[0], ids[1], ...
        log_p[t] = log softmax(logits after reading ids[t-1])_{ids[t]}
        log p(text) = sum_t log_p[t],    perplexity = exp(-mean_t log_p[t])

    The text goes through the network in pieces of `chunk` steps, each starting from the
    state the previous piece ended in, so the result is that of a single pass over the
    whole text, symbol by symbol.

    Args:
        model: a CharLM (or a module with the same forward and vocab_size).
        ids: (L,) symbols in [0, V). start: the symbol read before ids[0].
        chunk: steps per piece (memory only; the numbers do not depend on it).
    Returns:
        log_p: (L,) float64, in nats.
    """
    V = _check_model(model)
    ids = _check_ids("ids", ids, V)
    start = _check_symbol("start", start, V)
    if not is_int(chunk) or chunk < 1:
        raise ValueError(f"chunk must be a positive int, got {chunk!r}")
    inputs = torch.from_numpy(np.concatenate([[start], ids[:-1]]))   # (L,)
    targets = torch.from_numpy(ids)
    state, out = None, []
    for a in range(0, ids.size, chunk):
        logits, state = model(inputs[None, a:a + chunk], state)         # (1, c, V)
        log_p = torch.log_softmax(logits[0].double(), dim=-1)           # (c, V)
        out.append(log_p.gather(1, targets[a:a + chunk, None])[:, 0])   # (c,)
    return torch.cat(out).numpy()


# ----------------------------------------------------------------------------- sampling

def next_distribution(logits, temperature=1.0, top_k=None):
    """The distribution a sampler draws the next symbol from.

        p = softmax(logits / temperature)                   temperature > 0
        p = one-hot(argmax logits)                          temperature = 0 (greedy; the limit
                                                            of the line above as temperature -> 0)
        top_k: keep the k largest logits (ties: the lower index), set the others to -inf first

    Args:
        logits: (..., V) scores (array or tensor).
        temperature: finite, >= 0. top_k: None, or an int in [1, V].
    Returns:
        p: (..., V) float64, each row sums to 1.
    """
    if isinstance(logits, torch.Tensor):
        logits = logits.detach().cpu().double().numpy()
    logits = np.asarray(logits)
    if logits.ndim < 1 or logits.shape[-1] < 1:
        raise ValueError(f"logits must have shape (..., V) with V >= 1, got {logits.shape}")
    logits = check_shape("logits", logits, tuple(f"A{i}" for i in range(logits.ndim)), {})
    V = logits.shape[-1]
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.integer, np.floating)) \
            or not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
    if top_k is not None and (not is_int(top_k) or not 1 <= top_k <= V):
        raise ValueError(f"top_k must be None or an int in [1, V] = [1, {V}], got {top_k!r}")
    if top_k is not None and top_k < V:
        order = np.argsort(-logits, axis=-1, kind="stable")              # largest first, ties: lower index
        masked = np.full_like(logits, -np.inf)
        keep = order[..., :top_k]
        np.put_along_axis(masked, keep, np.take_along_axis(logits, keep, axis=-1), axis=-1)
        logits = masked
    if temperature == 0:
        p = np.zeros_like(logits)
        np.put_along_axis(p, logits.argmax(axis=-1)[..., None], 1.0, axis=-1)
        return p
    a = logits / temperature
    a = a - a.max(axis=-1, keepdims=True)
    p = np.exp(a)
    return p / p.sum(axis=-1, keepdims=True)


@dataclass
class Samples:
    """What sample() returns.

    Attributes:
        ids: (N, n_steps) the drawn symbols; after a sequence's end symbol, `end` again.
        entropy: (N, n_steps) entropy in nats of the distribution each symbol was drawn
            from, -sum_v p_v log p_v; NaN after the end.
        lengths: (N,) symbols drawn up to and including the first end symbol
            (n_steps for a sequence that did not end).
    """

    ids: np.ndarray
    entropy: np.ndarray
    lengths: np.ndarray


@torch.no_grad()
def sample(model, prompt, n_steps, rng, *, temperature=1.0, top_k=None, end=None):
    """Draw symbols one at a time from the model, feeding each one back in.

        read the prompt;  then for t = 1..n_steps:
            p_t = next_distribution(logits_t, temperature, top_k)
            x_t ~ p_t            (u ~ U[0, 1): x_t = the first v with p_1 + ... + p_v > u)
            read x_t

    Args:
        model: a CharLM (or a module with the same forward and vocab_size).
        prompt: (P,) or (N, P) symbols, P >= 1: what each of the N samples starts from.
        n_steps: symbols to draw per sample.
        rng: np.random.Generator (one uniform number per sample and step).
        temperature, top_k: see next_distribution; temperature 0 is greedy decoding.
        end: None, or the end symbol: a sample stops at its first `end`.
    Returns:
        Samples with ids (N, n_steps), entropy (N, n_steps) and lengths (N,).
    """
    V = _check_model(model)
    prompt = np.asarray(prompt)
    if prompt.ndim == 1:
        prompt = prompt[None]
    prompt = check_shape("prompt", prompt, ("N", "P"), {}, kind="int")
    if prompt.shape[1] < 1 or prompt.shape[0] < 1:
        raise ValueError(f"prompt must hold at least one symbol for each sample, got shape {prompt.shape}")
    check_range("prompt", prompt, V)
    if not is_int(n_steps) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive int, got {n_steps!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if end is not None:
        end = _check_symbol("end", end, V)
    next_distribution(np.zeros(V), temperature, top_k)                  # validates both
    N = prompt.shape[0]
    ids = np.full((N, n_steps), -1 if end is None else end, dtype=np.int64)
    entropy = np.full((N, n_steps), np.nan)
    lengths = np.full(N, n_steps, dtype=np.int64)
    alive = np.ones(N, dtype=bool)
    logits, state = model(torch.from_numpy(prompt.astype(np.int64)))  # (N, P, V)
    for t in range(n_steps):
        p = next_distribution(logits[:, -1], temperature, top_k)        # (N, V)
        cdf = np.cumsum(p, axis=1)
        u = rng.random(N) * cdf[:, -1]                                  # in [0, total): some cdf > u
        x = (cdf <= u[:, None]).sum(axis=1)                             # first v with cdf_v > u
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
        ids[alive, t], entropy[alive, t] = x[alive], h[alive]
        if end is not None:
            stopped = alive & (x == end)
            lengths[stopped] = t + 1
            alive &= ~stopped
            if not alive.any():
                break
        logits, state = model(torch.from_numpy(x)[:, None], state)       # (N, 1, V)
    return Samples(ids, entropy, lengths)
