"""Order-k Markov chains over a finite alphabet.

Shape legend:
    V  symbols (the alphabet is 0..V-1)
    T  length of a sequence, seq (T,) integers in [0, V)
    k  order: how many previous symbols the next one depends on

The chain rule factorises any sequence distribution exactly,

    p(x_1..x_T) = prod_t p(x_t | x_1..x_{t-1}),

and an order-k Markov chain keeps only the last k symbols of each history:

    p(x_t | x_1..x_{t-1}) ~= p(x_t | x_{t-k}..x_{t-1}).

Positions before the start of a sequence hold a boundary marker (written -1), so the first
k symbols are predicted from padded contexts and every symbol of a sequence is scored: the
log-likelihoods of chains of different orders are comparable.
"""

import numpy as np

__all__ = ["MarkovChain", "estimate_transition_matrix"]

BOUNDARY = -1


def _check_sequences(sequences, V):
    if isinstance(sequences, np.ndarray) and sequences.ndim == 1:
        sequences = [sequences]
    sequences = [np.asarray(s) for s in sequences]
    if not sequences:
        raise ValueError("sequences is empty: need at least one sequence of symbols")
    for i, arr in enumerate(sequences):
        if arr.ndim != 1:
            raise ValueError(f"sequences[{i}] must be 1-D (T,), got shape {arr.shape}")
        if arr.size and arr.dtype.kind not in "iu":
            raise ValueError(f"sequences[{i}] must hold integer symbols, got dtype {arr.dtype}")
    lengths = np.array([arr.size for arr in sequences])
    stream = np.concatenate(sequences)                     # every symbol checked at once
    bad = np.flatnonzero((stream < 0) | (stream >= V))
    if bad.size:
        i = int(np.searchsorted(np.cumsum(lengths), bad[0], side="right"))
        t = int(bad[0] - (np.cumsum(lengths)[i] - lengths[i]))
        raise ValueError(f"sequences[{i}] must hold symbols in [0, V) = [0, {V}); found {stream[bad[0]]} at t = {t}")
    return [arr.astype(np.int64, copy=False) for arr in sequences]


def estimate_transition_matrix(sequences, n_symbols, alpha=1.0):
    """First-order transition matrix with additive (Lidstone) smoothing.

        N[i, j] = number of times symbol j follows symbol i, over all sequences
        A[i, j] = (N[i, j] + alpha) / (sum_j' N[i, j'] + alpha V)

    alpha = 1 is Laplace's add-one rule; alpha = 0 is the maximum-likelihood estimate
    (a symbol never followed by anything then has a row of NaN, so alpha = 0 is refused
    when such a row exists).

    Args:
        sequences: a list of (T_s,) symbol arrays, or one (T,) array.
        n_symbols: V, the size of the alphabet.
        alpha: pseudo-count added to every transition, >= 0.
    Returns:
        A: (V, V), each row sums to 1.
    """
    V = _check_V(n_symbols)
    alpha = _check_alpha(alpha)
    N = np.zeros((V, V))
    for s in _check_sequences(sequences, V):
        np.add.at(N, (s[:-1], s[1:]), 1.0)
    totals = N.sum(axis=1, keepdims=True)
    if alpha == 0 and np.any(totals == 0):
        i = int(np.flatnonzero(totals[:, 0] == 0)[0])
        raise ValueError(f"with alpha = 0, symbol {i} is never followed by anything, so its row is 0/0; use alpha > 0")
    return (N + alpha) / (totals + alpha * V)


def _check_V(n_symbols):
    if int(n_symbols) != n_symbols or n_symbols < 1:
        raise ValueError(f"n_symbols must be a positive integer, got {n_symbols!r}")
    return int(n_symbols)


def _check_alpha(alpha):
    alpha = float(alpha)
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a finite pseudo-count >= 0, got {alpha!r}")
    return alpha


class MarkovChain:
    """An order-k Markov chain with additive smoothing.

        c_t          = (x_{t-k}, ..., x_{t-1})        (positions before the start are -1)
        N(c, v)      = number of times symbol v follows context c in the training data
        p(v | c)     = (N(c, v) + alpha) / (N(c) + alpha V),    N(c) = sum_v N(c, v)
        log p(x)     = sum_t log p(x_t | c_t)
        perplexity   = exp(-sum_s log p(x_s) / sum_s T_s)

    An unseen context gets the uniform distribution 1/V (when alpha > 0).

    Counts are stored sparsely: each context is coded as one integer in base V + 1,
    so orders up to about 8 fit in memory for a character alphabet.
    """

    def __init__(self, order, n_symbols, alpha=1.0):
        if int(order) != order or order < 0:
            raise ValueError(f"order must be an integer >= 0, got {order!r}")
        self.order = int(order)
        self.V = _check_V(n_symbols)
        self.alpha = _check_alpha(alpha)
        if (self.V + 1) ** self.order * self.V >= 2**62:
            raise ValueError(f"order {order} with V = {self.V} symbols has too many contexts to index")
        self._ctx_keys = np.zeros(0, dtype=np.int64)     # sorted context codes
        self._ctx_totals = np.zeros(0)                    # N(c)
        self._pair_keys = np.zeros(0, dtype=np.int64)    # sorted codes c * V + v
        self._pair_counts = np.zeros(0)                   # N(c, v)
        self._pair_ctx_totals = np.zeros(0)               # N(c) of each pair's context
        self.fitted = False

    # -- context codes -------------------------------------------------------------
    def _context_codes(self, seq):
        """(T,) codes of c_t: sum_j (x_{t-j} + 1) (V + 1)^(j-1), with x_{t-j} = -1 before the start."""
        return self._stream_codes([seq])[1]

    def _stream_codes(self, seqs):
        """The sequences end to end (n,), and the context code of every position (n,), all at once.

        Position t of the stream is position t - start[s] of its sequence s; the symbol j back
        belongs to the same sequence when that position is >= j, else it is the boundary.
        """
        stream = np.concatenate(seqs) if seqs else np.zeros(0, dtype=np.int64)
        lengths = np.array([s.size for s in seqs], dtype=np.int64)
        pos = np.arange(stream.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        base = self.V + 1
        codes = np.zeros(stream.size, dtype=np.int64)
        for j in range(1, self.order + 1):
            back = np.full(stream.size, BOUNDARY, dtype=np.int64)
            back[j:] = stream[:-j] if j < stream.size else back[j:]
            codes += (np.where(pos >= j, back, BOUNDARY) + 1) * base ** (j - 1)
        return stream, codes

    def _encode_context(self, context):
        context = [int(c) for c in context][-self.order:] if self.order else []
        context = [BOUNDARY] * (self.order - len(context)) + context
        for c in context:
            if not BOUNDARY <= c < self.V:
                raise ValueError(f"context symbols must be in [0, V) = [0, {self.V}) (or -1 for the boundary), got {c}")
        base = self.V + 1
        return sum((c + 1) * base ** (j - 1) for j, c in enumerate(reversed(context), start=1))

    # -- fitting and scoring -------------------------------------------------------
    def fit(self, sequences):
        """Count N(c, v) over the training sequences; returns self."""
        sym, ctx = self._stream_codes(_check_sequences(sequences, self.V))
        self._pair_keys, counts = np.unique(ctx * self.V + sym, return_counts=True)
        self._pair_counts = counts.astype(np.float64)
        # the pair keys are sorted by context first: N(c) sums each run of equal c
        pair_ctx = self._pair_keys // self.V
        first = np.flatnonzero(np.r_[True, pair_ctx[1:] != pair_ctx[:-1]]) if pair_ctx.size else pair_ctx
        self._ctx_keys = pair_ctx[first]
        self._ctx_totals = np.add.reduceat(self._pair_counts, first) if first.size else np.zeros(0)
        self._pair_ctx_totals = np.repeat(self._ctx_totals, np.diff(np.r_[first, pair_ctx.size]))  # N(c) per pair
        self.fitted = True
        return self

    def smoothed(self, alpha):
        """The same counts with another pseudo-count alpha: a new chain, no refitting."""
        self._require_fit()
        other = MarkovChain(self.order, self.V, alpha)
        other._ctx_keys, other._ctx_totals = self._ctx_keys, self._ctx_totals
        other._pair_keys, other._pair_counts = self._pair_keys, self._pair_counts
        other._pair_ctx_totals = self._pair_ctx_totals
        other.fitted = True
        return other

    def context_counts(self, sequences):
        """N(c_t) for every position of the sequences, end to end (n,): how often each
        position's context occurred in training (0: never seen)."""
        self._require_fit()
        _, ctx = self._stream_codes(_check_sequences(sequences, self.V))
        return self._lookup(self._ctx_keys, self._ctx_totals, ctx)

    def _require_fit(self):
        if not self.fitted:
            raise RuntimeError("this MarkovChain has not been fitted: call .fit(sequences) first")

    @staticmethod
    def _lookup(keys, values, query):
        """values[i] where keys[i] == query, 0 where the key is absent (keys sorted)."""
        if keys.size == 0:
            return np.zeros(query.shape)
        idx = np.minimum(np.searchsorted(keys, query), keys.size - 1)
        return np.where(keys[idx] == query, values[idx], 0.0)

    def _log_probs(self, seq, ctx=None):
        ctx = self._context_codes(seq) if ctx is None else ctx
        n_pair, n_ctx = np.zeros(seq.size), np.zeros(seq.size)
        if self._pair_keys.size:                 # one search finds N(c, v) and, for seen pairs, N(c)
            query = ctx * self.V + seq
            idx = np.minimum(np.searchsorted(self._pair_keys, query), self._pair_keys.size - 1)
            hit = self._pair_keys[idx] == query
            n_pair[hit], n_ctx[hit] = self._pair_counts[idx[hit]], self._pair_ctx_totals[idx[hit]]
            n_ctx[~hit] = self._lookup(self._ctx_keys, self._ctx_totals, ctx[~hit])
        if self.alpha == 0 and np.any(n_ctx == 0):
            t = int(np.flatnonzero(n_ctx == 0)[0])
            raise ValueError(f"with alpha = 0, the context of position t = {t} was never seen in training, "
                             "so p(x_t | context) is 0/0; use alpha > 0")
        return self._log_p(n_pair, n_ctx)

    def _log_p(self, n_pair, n_ctx):
        """log p(v | c) = log(N(c, v) + alpha) - log(N(c) + alpha V), elementwise."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(n_pair + self.alpha) - np.log(n_ctx + self.alpha * self.V)

    def log_likelihood(self, seq):
        """log p(seq) in nats: sum over every position of log p(x_t | c_t)."""
        self._require_fit()
        (seq,) = _check_sequences([seq], self.V)
        return float(self._log_probs(seq).sum())

    def perplexity(self, sequences):
        """exp of the average negative log-likelihood per symbol over all sequences."""
        self._require_fit()
        seqs = _check_sequences(sequences, self.V)
        stream, ctx = self._stream_codes(seqs)
        if stream.size == 0:
            raise ValueError("sequences hold no symbols: perplexity is undefined")
        nll = -float(self._log_probs(stream, ctx).sum())
        return float(np.exp(nll / stream.size))

    def training_perplexity(self):
        """The perplexity of the training sequences themselves, from the counts alone: a pair
        (c, v) seen N(c, v) times adds N(c, v) log p(v | c), so

            perplexity = exp(-sum_(c, v) N(c, v) log p(v | c) / sum_(c, v) N(c, v)),

        the same number as perplexity(training sequences), without a pass over them."""
        self._require_fit()
        total = self._pair_counts.sum()
        if total == 0:
            raise ValueError("the training sequences held no symbols: perplexity is undefined")
        log_p = self._log_p(self._pair_counts, self._pair_ctx_totals)
        return float(np.exp(-(self._pair_counts * log_p).sum() / total))

    def next_distribution(self, context=()):
        """(V,) p(v | context) for the last `order` symbols of `context` (padded with -1)."""
        self._require_fit()
        code = self._encode_context(context)
        lo, hi = np.searchsorted(self._pair_keys, [code * self.V, code * self.V + self.V])
        counts = np.zeros(self.V)
        counts[self._pair_keys[lo:hi] - code * self.V] = self._pair_counts[lo:hi]
        total = counts.sum() + self.alpha * self.V
        if total == 0:
            raise ValueError(f"context {tuple(context)} was never seen and alpha = 0: p(. | context) is undefined")
        return (counts + self.alpha) / total

    def sample(self, T, rng, context=()):
        """Draw T symbols, x_t ~ p(. | c_t), continuing from `context` (default: the start)."""
        self._require_fit()
        if int(T) != T or T < 0:
            raise ValueError(f"T must be an integer >= 0, got {T!r}")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        history = [int(c) for c in context]
        out = np.empty(int(T), dtype=np.int64)
        for t in range(int(T)):
            p = self.next_distribution(history[-self.order:] if self.order else ())
            out[t] = rng.choice(self.V, p=p)
            history.append(int(out[t]))
        return out

    def __repr__(self):
        state = f"{self._ctx_keys.size} contexts" if self.fitted else "not fitted"
        return f"MarkovChain(order={self.order}, n_symbols={self.V}, alpha={self.alpha}; {state})"
