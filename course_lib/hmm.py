"""Discrete hidden Markov models, computed in log space.

Shape legend:
    K  hidden states          pi (K,)      pi[k]   = P(z_0 = k)
    V  observation symbols    A  (K, K)    A[i, j] = P(z_t = j | z_{t-1} = i)
    T  time steps             B  (K, V)    B[k, v] = P(x_t = v | z_t = k)
                              obs (T,)     integers in [0, V)

Time is indexed from 0, as in the code. The recursions are derived in log space, combining
terms with log-sum-exp, so a sequence of ten thousand symbols neither underflows nor loses
precision; probabilities that are exactly zero become -inf and are handled like any other
value. Those derivations are the functions `_forward_log`, `_backward_log` and
`_viterbi_log` below, step by step as lecture 02 writes them.

The public functions return the same numbers by faster routes, each tested against the log-space
one:
- forward and backward run in probability space with one matrix product per step,
  alpha_t = alpha_{t-1} M[x_t] with M[v] = A diag(B[:, v]), rescaled every few steps and
  whenever the values get small (the scaling of Rabiner 1989); the logarithms of the
  scale factors add up to log p(x);
- Viterbi stays in log space but replaces the sequence of steps by max-plus products of
  step matrices (max over k of a sum, where the forward has a sum over k of a product):
  products of L steps are looked up in a table made for every L-tuple of symbols, then
  paired into products of 2L, 4L, ... steps, all blocks in one array operation per round, so
  Python loops only over the few longest blocks; the path is traced back down the rounds.
Python's cost per step, not arithmetic, is what limits a recursion written in NumPy, so
fewer array operations per step is what makes these faster (Viterbi does K times the
arithmetic of the step-by-step recursion, in a few hundred array operations instead of
hundreds of thousands). A sequence whose probability
is exactly zero takes the log-space route.
"""

import numpy as np

__all__ = [
    "sample",
    "forward_algorithm",
    "backward_algorithm",
    "posteriors",
    "viterbi",
    "baum_welch",
    "joint_log_prob",
    "dishonest_casino",
]

_ROW_ATOL = 1e-6


# ----------------------------------------------------------------------------- validation

def _as_prob_array(name, value, ndim):
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got {arr.ndim}-D with shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; it contains NaN or inf")
    if np.any(arr < 0):
        idx = tuple(int(i) for i in np.argwhere(arr < 0)[0])
        raise ValueError(f"{name} must be non-negative probabilities; {name}{list(idx)} = {arr[idx]:.4g}")
    return arr


def _check_rows_sum_to_one(name, arr):
    sums = arr.sum(axis=-1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > _ROW_ATOL)
    if bad.size:
        if arr.ndim == 1:
            raise ValueError(f"{name} must sum to 1, got {sums:.6g}")
        r = int(bad[0])
        raise ValueError(f"every row of {name} must sum to 1; row {r} sums to {sums[r]:.6g}")


def _check_A_B(A, B):
    A = _as_prob_array("A", A, 2)
    B = _as_prob_array("B", B, 2)
    K = A.shape[0]
    if A.shape != (K, K):
        raise ValueError(f"A must have shape (K, K) = ({K}, {K}), got {A.shape}")
    if B.shape[0] != K:
        raise ValueError(f"B must have shape (K, V) with K = {K} rows (one per state of A), got {B.shape}")
    if B.shape[1] == 0:
        raise ValueError(f"B must have at least one symbol column, got shape {B.shape}")
    _check_rows_sum_to_one("A", A)
    _check_rows_sum_to_one("B", B)
    return A, B


def _check_params(pi, A, B):
    A, B = _check_A_B(A, B)
    pi = _as_prob_array("pi", pi, 1)
    K = A.shape[0]
    if pi.shape != (K,):
        raise ValueError(f"pi must have shape (K,) = ({K},), got {pi.shape}")
    _check_rows_sum_to_one("pi", pi)
    return pi, A, B


def _check_obs(obs, V, name="obs"):
    arr = np.asarray(obs)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of symbols (T,), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: an HMM needs at least one observation (T >= 1)")
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integer symbols, got dtype {arr.dtype}")
    bad = np.flatnonzero((arr < 0) | (arr >= V))
    if bad.size:
        t = int(bad[0])
        raise ValueError(
            f"{name} must hold symbols in [0, V) = [0, {V}); found {arr[t]} at t = {t}"
        )
    return arr.astype(np.int64, copy=False)


def logsumexp(a, axis=None):
    """log(sum(exp(a))) along an axis, stable for large magnitudes and for -inf entries.

        m = max(a);   logsumexp(a) = m + log(sum(exp(a - m)))

    A plain-NumPy version of scipy.special.logsumexp without its argument handling: the
    recursions call it once per time step, where that overhead dominates.
    """
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)                   # all -inf: the sum is 0, its log -inf
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return np.squeeze(out, axis=axis) if axis is not None else out.reshape(())[()]


def _log(p):
    with np.errstate(divide="ignore"):
        return np.log(p)


# ----------------------------------------------------------------------------- the model

def sample(pi, A, B, T, rng):
    """Draw one sequence from the generative story.

        z_0 ~ Categorical(pi),   z_t ~ Categorical(A[z_{t-1}]),   x_t ~ Categorical(B[z_t])

    Args:
        pi: (K,), A: (K, K), B: (K, V) model parameters.
        T: number of time steps (>= 1).
        rng: a numpy.random.Generator.
    Returns:
        states: (T,) hidden states, obs: (T,) observed symbols, both int64.
    """
    pi, A, B = _check_params(pi, A, B)
    if int(T) != T or T < 1:
        raise ValueError(f"T must be a positive integer, got {T!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    T = int(T)
    K, V = B.shape
    cum_A, cum_B = np.cumsum(A, axis=1), np.cumsum(B, axis=1)
    u_z, u_x = rng.random(T), rng.random(T)
    states = np.empty(T, dtype=np.int64)
    states[0] = min(np.searchsorted(np.cumsum(pi), u_z[0], side="right"), K - 1)
    for t in range(1, T):
        states[t] = min(np.searchsorted(cum_A[states[t - 1]], u_z[t], side="right"), K - 1)
    obs = np.minimum((cum_B[states] <= u_x[:, None]).sum(axis=1), V - 1)   # inverse CDF per row
    return states, obs.astype(np.int64)


def joint_log_prob(states, obs, pi, A, B):
    """Log of the joint probability of one state path and the observations.

        log p(z, x) = log pi[z_0] + sum_{t>=1} log A[z_{t-1}, z_t] + sum_t log B[z_t, x_t]
    """
    pi, A, B = _check_params(pi, A, B)
    obs = _check_obs(obs, B.shape[1])
    states = _check_obs(states, A.shape[0], name="states")
    if states.shape != obs.shape:
        raise ValueError(f"states must have the same shape as obs {obs.shape}, got {states.shape}")
    with np.errstate(divide="ignore"):
        return float(
            _log(pi[states[0]])
            + _log(A[states[:-1], states[1:]]).sum()
            + _log(B[states, obs]).sum()
        )


def forward_algorithm(obs, pi, A, B):
    """The forward recursion; log space in its results.

        log_alpha[0, k] = log pi[k] + log B[k, x_0]
        log_alpha[t, j] = logsumexp_i(log_alpha[t-1, i] + log A[i, j]) + log B[j, x_t]
        log p(x)        = logsumexp_k(log_alpha[T-1, k])

    Computed by the scaled recursion (_scaled_forward); the log-space recursion above is
    _forward_log, which this equals to rounding error.

    Args:
        obs: (T,) symbols; pi: (K,), A: (K, K), B: (K, V).
    Returns:
        log_alpha: (T, K) with log_alpha[t, k] = log p(x_0..x_t, z_t = k),
        log_likelihood: float, log p(x_0..x_{T-1}).
    """
    pi, A, B = _check_params(pi, A, B)
    obs = _check_obs(obs, B.shape[1])
    fast = _scaled_forward(obs, pi, A, B)
    if fast is None:                                   # p(x) = 0: the log-space route
        return _forward_log(obs, _log(pi), _log(A), _log(B))
    rows, log_scale = fast
    with np.errstate(divide="ignore"):
        log_alpha = np.log(rows) + log_scale[:, None]
    return log_alpha, float(np.log(rows[-1].sum()) + log_scale[-1])


def backward_algorithm(obs, A, B):
    """The backward recursion; log space in its results.

        log_beta[T-1, k] = 0
        log_beta[t, i]   = logsumexp_j(log A[i, j] + log B[j, x_{t+1}] + log_beta[t+1, j])

    Computed by the scaled recursion (_scaled_backward); the log-space recursion above is
    _backward_log.

    Args:
        obs: (T,) symbols; A: (K, K), B: (K, V).
    Returns:
        log_beta: (T, K) with log_beta[t, k] = log p(x_{t+1}..x_{T-1} | z_t = k).
    """
    A, B = _check_A_B(A, B)
    obs = _check_obs(obs, B.shape[1])
    fast = _scaled_backward(obs, A, B)
    if fast is None:
        return _backward_log(obs, _log(A), _log(B))
    rows, log_scale = fast
    with np.errstate(divide="ignore"):
        return np.log(rows) + log_scale[:, None]


def posteriors(obs, pi, A, B):
    """Smoothed state posteriors.

        gamma[t, k] = p(z_t = k | x) = exp(log_alpha[t, k] + log_beta[t, k] - log p(x))

    With scaled alpha and beta the factors exp(...) of each row cancel: gamma[t] is
    alpha_hat[t] * beta_hat[t], normalised to sum to 1.

    Returns:
        gamma: (T, K), each row sums to 1.
    """
    pi, A, B = _check_params(pi, A, B)
    obs = _check_obs(obs, B.shape[1])
    fast = _scaled_posteriors(obs, pi, A, B)
    if fast is not None:
        return fast[0]
    log_A, log_B = _log(A), _log(B)
    log_alpha, ll = _forward_log(obs, _log(pi), log_A, log_B)
    log_beta = _backward_log(obs, log_A, log_B)
    return np.exp(log_alpha + log_beta - ll)


def viterbi(obs, pi, A, B):
    """The most probable state path, by dynamic programming in log space.

        log_delta[0, k] = log pi[k] + log B[k, x_0]
        log_delta[t, j] = max_i(log_delta[t-1, i] + log A[i, j]) + log B[j, x_t]
        psi[t, j]       = argmax_i(log_delta[t-1, i] + log A[i, j])
        z*_{T-1} = argmax_k log_delta[T-1, k],   z*_{t-1} = psi[t, z*_t]

    Computed L steps at a time (_viterbi_blocked); the recursion above is _viterbi_log.

    Returns:
        path: (T,) int64, the most probable states; log_prob: float, log p(path, x).
    """
    pi, A, B = _check_params(pi, A, B)
    obs = _check_obs(obs, B.shape[1])
    return _viterbi_blocked(obs, _log(pi), _log(A), _log(B))


# ----------------------------------------------------------------------------- the derivations

def _forward_log(obs, log_pi, log_A, log_B):
    """The forward recursion in log space, one log-sum-exp per step (see forward_algorithm)."""
    T, K = obs.size, log_A.shape[0]
    log_alpha = np.empty((T, K))
    log_alpha[0] = log_pi + log_B[:, obs[0]]
    for t in range(1, T):
        log_alpha[t] = logsumexp(log_alpha[t - 1][:, None] + log_A, axis=0) + log_B[:, obs[t]]
    return log_alpha, float(logsumexp(log_alpha[-1]))


def _backward_log(obs, log_A, log_B):
    """The backward recursion in log space (see backward_algorithm)."""
    T, K = obs.size, log_A.shape[0]
    log_beta = np.zeros((T, K))
    for t in range(T - 2, -1, -1):
        log_beta[t] = logsumexp(log_A + (log_B[:, obs[t + 1]] + log_beta[t + 1])[None, :], axis=1)
    return log_beta


def _viterbi_log(obs, log_pi, log_A, log_B):
    """Viterbi in log space, one step at a time (see viterbi)."""
    T, K = obs.size, log_A.shape[0]
    log_delta = log_pi + log_B[:, obs[0]]
    psi = np.zeros((T, K), dtype=np.int64)
    for t in range(1, T):
        scores = log_delta[:, None] + log_A                     # (K, K): from i (rows) to j
        psi[t] = np.argmax(scores, axis=0)
        log_delta = scores[psi[t], np.arange(K)] + log_B[:, obs[t]]
    path = np.empty(T, dtype=np.int64)
    path[-1] = int(np.argmax(log_delta))
    for t in range(T - 1, 0, -1):
        path[t - 1] = psi[t, path[t]]
    return path, float(log_delta[path[-1]])


# ----------------------------------------------------------------------------- the fast routes

_RESCALE_EVERY = 32       # steps between two rescalings of the scaled recursions
_SMALL = 1e-150           # rescale at every step once values fall below this (far from underflow)
_TABLE_ENTRIES = 1 << 20  # largest Viterbi table (V^L matrices of K x K) worth precomputing


def _step_matrices(A, B):
    """M[v] = A diag(B[:, v]), (V, K, K): alpha_t = alpha_{t-1} M[x_t] in probability space."""
    return np.ascontiguousarray(A[None, :, :] * B.T[:, None, :])


def _scaled_chain(first, mats, steps, size):
    """Rows r_0 = first, r_u = r_{u-1} mats[steps[u-1]], kept in range by rescaling.

    Every _RESCALE_EVERY steps, r_u is divided by size(r_u) and log_scale grows by its log;
    the rows in between keep the scale of the row before them. size must not grow along
    the chain (true for the sum of alpha and the max of beta: A's rows sum to 1 and B <= 1),
    so one look at the last row of a stretch shows whether any row in it got small; if so,
    the stretch is computed again with a rescaling at every step.

    Returns:
        rows: (n, K) and log_scale: (n,), with the true vector r_u = rows[u] exp(log_scale[u]);
        or None when a row is all zero (the sequence has probability zero).
    """
    n, K = len(steps) + 1, first.size
    rows, log_scale = np.empty((n, K)), np.empty(n)
    c = size(first)
    if not c > 0:
        return None
    rows[0], log_scale[0] = first / c, np.log(c)
    views, mats, steps = list(rows), list(mats), list(steps)
    matmul, log = np.matmul, np.log
    u = 1
    while u < n:
        end = min(u + _RESCALE_EVERY, n)
        for v in range(u, end):
            matmul(views[v - 1], mats[steps[v - 1]], out=views[v])
        log_scale[u:end] = log_scale[u - 1]
        c = size(views[end - 1])
        if c >= _SMALL:
            views[end - 1] /= c
            log_scale[end - 1] += log(c)
        else:                                      # small or zero: rescale at every step
            for v in range(u, end):
                matmul(views[v - 1], mats[steps[v - 1]], out=views[v])
                c = size(views[v])
                if not c > 0:
                    return None
                views[v] /= c
                log_scale[v] = log_scale[v - 1] + log(c)
        u = end
    return rows, log_scale


def _scaled_forward(obs, pi, A, B):
    """alpha_hat[0] = pi * B[:, x_0],  alpha_hat[t] = alpha_hat[t-1] M[x_t], rescaled (sums)."""
    return _scaled_chain(pi * B[:, obs[0]], _step_matrices(A, B), obs[1:], np.sum)


def _scaled_backward(obs, A, B):
    """beta_hat[T-1] = 1,  beta_hat[t] = M[x_{t+1}] beta_hat[t+1], rescaled (maxima); run as a
    chain of row vectors backwards in time, with the transposed step matrices."""
    mats_T = np.ascontiguousarray(_step_matrices(A, B).transpose(0, 2, 1))
    out = _scaled_chain(np.ones(A.shape[0]), mats_T, obs[:0:-1], np.max)
    if out is None:
        return None
    rows, log_scale = out
    return rows[::-1], log_scale[::-1]


def _scaled_posteriors(obs, pi, A, B):
    """gamma from the scaled recursions, with what the E-step of Baum-Welch needs besides.

    Returns:
        gamma (T, K), alpha_hat (T, K), beta_hat (T, K), log p(x); or None when p(x) = 0.
    """
    fwd = _scaled_forward(obs, pi, A, B)
    bwd = _scaled_backward(obs, A, B) if fwd is not None else None
    if bwd is None:
        return None
    (alpha, a_scale), (beta, _) = fwd, bwd
    gamma = alpha * beta
    gamma /= gamma.sum(axis=1, keepdims=True)
    return gamma, alpha, beta, float(np.log(alpha[-1].sum()) + a_scale[-1])


_PAIR_MAX_K = 16          # pair blocks up to this many states (a pair costs K^3 sums per block)
_TOP_BLOCKS = 32          # stop pairing when so few blocks would be left


def _maxplus(second, first):
    """The max-plus product of stacks of matrices, stacked along the LAST axis:

        out[j, i, ...] = max_k (second[j, k, ...] + first[k, i, ...])

    first's steps, then second's (matrices map from i to j). The stack axes come last so
    that every array operation runs along them; first and second broadcast against each other.
    """
    K = first.shape[0]
    shape = np.broadcast_shapes(second[:, 0, None].shape, first[None, 0].shape)
    out, tmp = np.empty(shape), np.empty(shape)
    np.add(second[:, 0, None], first[None, 0], out=out)
    for k in range(1, K):
        np.add(second[:, k, None], first[None, k], out=tmp)
        np.maximum(out, tmp, out=out)
    return out


def _pairing_order(ntop, H, inverse=False):
    """Where H rounds of pairing find their blocks: block b = q 2^H + r (q < ntop, r < 2^H) is
    stored at place rev(r) ntop + q, rev reversing the H bits of r. Then the blocks of every
    round pair up as the first and the second half of the array, and the products come out in
    the same order one round up. Returns the block at each place, or (inverse) each block's place.
    """
    r = np.arange(1 << H)
    rev = np.zeros_like(r)
    for bit in range(H):
        rev |= ((r >> bit) & 1) << (H - 1 - bit)
    place = (rev[None, :] * ntop + np.arange(ntop)[:, None]).ravel()              # [q, r] -> place
    if inverse:
        return place
    order = np.empty_like(place)
    order[place] = np.arange(place.size)
    return order


def _viterbi_blocked(obs, log_pi, log_A, log_B):
    """Viterbi by max-plus products of step matrices (see the module docstring).

        S[t][j, i] = log A[i, j] + log B[j, x_t]                      one step, from i to j
        (S' o S)[j, i] = max_k (S'[j, k] + S[k, i])                     two spans, one after the other
        log_delta[t + n, :] = max_i (log_delta[t, i] + (S[t+n] o ... o S[t+1])[:, i])

    1. A table of the products of L steps for every L-tuple of symbols (L <= 4, the largest whose
       table has at most _TABLE_ENTRIES entries and no more matrices than the sequence has blocks
       of L steps), so each block of L steps is one look-up.
    2. H rounds of pairing: blocks of 2L, 4L, ... 2^H L steps, every round one array operation
       over all blocks; the last round is padded with identity blocks (0 on the diagonal,
       -inf elsewhere), which change nothing.
    3. The only loop in Python: log_delta at the ends of the top blocks, then the last < L steps.
    4. Back-tracking, top down: the state at the middle of a span is the k that attains the
       max in its product, given the states at its ends; one array operation per round.
    """
    T, K, V = obs.size, log_A.shape[0], log_B.shape[1]
    S1 = np.ascontiguousarray(log_A.T[:, :, None] + log_B[:, None, :])           # (K, K, V): [j, i, v]
    L = max([1] + [n for n in range(2, 5) if V**n * K * K <= _TABLE_ENTRIES and V**n <= T // n])
    tables = [S1]                          # tables[n-1][:, :, code]: n steps, code = sum_r x_(t+1+r) V^r (K, K, V^n)
    for _ in range(1, L):
        tables.append(_maxplus(S1[:, :, :, None], tables[-1][:, :, None, :]).reshape(K, K, -1))
    nb = (T - 1) // L                                        # whole blocks of L steps, after step 0
    H = 0
    while K <= _PAIR_MAX_K and nb >> (H + 1) >= _TOP_BLOCKS:
        H += 1
    starts = np.arange(nb) * L                               # block b spans steps starts[b]+1 .. starts[b]+L
    sym = [obs[starts + r] for r in range(1, L + 1)]
    codes = [sym[0]]
    for r in range(1, L):
        codes.append(codes[-1] + sym[r] * V**r)
    ntop, G = -(-nb // (1 << H)), 1 << H
    order = _pairing_order(ntop, H)                          # natural block index at each stored place
    padded = np.append(codes[-1], np.full(ntop * G - nb, V**L))                # V^L: the identity
    identity = np.where(np.eye(K, dtype=bool), 0.0, -np.inf)[:, :, None]
    levels = [np.take(np.concatenate([tables[-1], identity], axis=2), padded[order], axis=2)]
    for _ in range(H):                                       # the pairs are the two halves
        half = levels[-1].shape[2] // 2
        levels.append(_maxplus(levels[-1][:, :, half:], levels[-1][:, :, :half]))
    top = np.ascontiguousarray(levels[-1].transpose(2, 0, 1))                 # (ntop, K, K): [b, j, i]
    D = np.empty((ntop + 1, K))
    D[0] = log_pi + log_B[:, obs[0]]
    rows, mats, buf = list(D), list(top), np.empty((K, K))
    add, reduce_max = np.add, np.maximum.reduce
    for b in range(ntop):                                                       # the only long loop in Python
        add(rows[b], mats[b], out=buf)
        reduce_max(buf, axis=1, out=rows[b + 1])
    t0, delta, psi = nb * L, D[-1], []
    for t in range(t0 + 1, T):                                                  # the last < L steps
        scores = delta[:, None] + log_A                                         # (K, K): [i, j]
        psi.append(np.argmax(scores, axis=0))
        delta = scores[psi[-1], np.arange(K)] + log_B[:, obs[t]]
    path = np.empty(T, dtype=np.int64)
    path[-1] = state = int(np.argmax(delta))
    log_prob = float(delta[state])
    if log_prob == -np.inf:
        return _viterbi_log(obs, log_pi, log_A, log_B)
    for t in range(T - 1, t0, -1):
        path[t - 1] = state = int(psi[t - t0 - 1][state])
    ends = np.empty(ntop + 1, dtype=np.int64)                                    # states at the block ends
    ends[-1] = state
    for b in range(ntop - 1, -1, -1):
        ends[b] = state = int(np.argmax(rows[b] + mats[b][state]))
    for h in range(H, 0, -1):                                                   # halve the spans
        m, n = levels[h - 1], ends.size - 1
        place = _pairing_order(ntop, H - h, inverse=True)                        # of the spans, in m's halves
        first, second = m[:, :, :n], m[:, :, n:]
        mid = np.argmax(first[:, ends[:-1], place] + second[ends[1:], :, place].T, axis=0)
        halves = np.empty(2 * n + 1, dtype=np.int64)
        halves[0::2], halves[1::2] = ends, mid
        ends = halves
    ends = ends[:nb + 1]
    path[starts] = ends[:-1]
    i, j = ends[:-1], ends[1:]
    S1_rows = S1.transpose(2, 0, 1)                                              # [v, j, k]
    for n in range(L, 1, -1):                                # the state before j, inside each block
        rows_in = np.ascontiguousarray(tables[n - 2].transpose(2, 1, 0))          # [code, i, k]
        j = np.argmax(S1_rows[sym[n - 1], j] + rows_in[codes[n - 2], i], axis=1)
        path[starts + n - 1] = j
    return path, log_prob


def _expected_counts(obs, pi, A, B):
    """E-step for one sequence: sum of gamma[0], sum_t xi_t, emission counts, log p(x).

        xi[t, i, j] = alpha_t(i) A[i, j] B[j, x_{t+1}] beta_{t+1}(j) / p(x)

    From the scaled recursions each xi_t is alpha_hat[t, i] M[x_{t+1}][i, j] beta_hat[t+1, j],
    normalised to sum to 1 (the scale factors cancel, as for gamma).
    """
    K, V = B.shape
    fast = _scaled_posteriors(obs, pi, A, B)
    emit = np.zeros((K, V))
    if fast is None:                                             # p(x) = 0: the log-space route
        log_A, log_B = _log(A), _log(B)
        log_alpha, ll = _forward_log(obs, _log(pi), log_A, log_B)
        log_beta = _backward_log(obs, log_A, log_B)
        gamma = np.exp(log_alpha + log_beta - ll)                # (T, K)
        xi_sum = np.zeros((K, K))
        if obs.size > 1:
            log_xi = (log_alpha[:-1, :, None] + log_A[None]
                      + (log_B[:, obs[1:]].T + log_beta[1:])[:, None, :] - ll)   # (T-1, K, K)
            xi_sum = np.exp(logsumexp(log_xi, axis=0))
        np.add.at(emit.T, obs, gamma)
        return gamma[0], xi_sum, emit, ll
    gamma, alpha, beta, ll = fast
    mats = _step_matrices(A, B)
    xi_sum = np.zeros((K, K))
    chunk = max(1, (1 << 20) // (K * K))
    for a in range(0, obs.size - 1, chunk):
        b = min(a + chunk, obs.size - 1)
        xi = alpha[a:b, :, None] * mats[obs[a + 1:b + 1]] * beta[a + 1:b + 1, None, :]   # (n, K, K)
        xi_sum += np.einsum("tij,t->ij", xi, 1.0 / xi.sum(axis=(1, 2)))
    np.add.at(emit.T, obs, gamma)                                # emit[k, v] = sum_{t: x_t = v} gamma[t, k]
    return gamma[0], xi_sum, emit, ll


def _normalise_rows(counts, fallback):
    """Divide each row by its sum; a row with no expected count keeps its old value."""
    sums = counts.sum(axis=-1, keepdims=True)
    out = np.where(sums > 0, counts / np.where(sums > 0, sums, 1.0), fallback)
    return out


def baum_welch(sequences, pi, A, B, n_iter=100, tol=1e-6):
    """Maximum-likelihood fit by expectation-maximisation (Baum-Welch).

    E-step, per sequence, with gamma and xi from the forward and backward recursions:
        gamma[t, k]  = p(z_t = k | x)
        xi[t, i, j]  = p(z_t = i, z_{t+1} = j | x)
    M-step, summing expected counts over sequences s:
        pi[k]    = sum_s gamma_s[0, k] / S
        A[i, j]  = sum_s sum_t xi_s[t, i, j] / sum_s sum_t sum_j xi_s[t, i, j]
        B[k, v]  = sum_s sum_{t: x_t = v} gamma_s[t, k] / sum_s sum_t gamma_s[t, k]

    Each iteration computes the total log-likelihood of the current parameters, then
    updates them; it stops after n_iter updates, or after the update whose log-likelihood
    improved on the previous one by less than tol.

    Args:
        sequences: a list of (T_s,) symbol arrays (or one (T,) array).
        pi: (K,), A: (K, K), B: (K, V) initial parameters.
    Returns:
        pi, A, B: the fitted parameters, and history: list of floats where history[i]
        is the total log-likelihood of the parameters before update i (non-decreasing).
    """
    pi, A, B = _check_params(pi, A, B)
    if isinstance(sequences, np.ndarray) and sequences.ndim == 1 and np.issubdtype(sequences.dtype, np.number):
        sequences = [sequences]
    sequences = list(sequences)
    if not sequences:
        raise ValueError("sequences is empty: Baum-Welch needs at least one observation sequence")
    V = B.shape[1]
    sequences = [_check_obs(s, V, name=f"sequences[{i}]") for i, s in enumerate(sequences)]
    if int(n_iter) != n_iter or n_iter < 1:
        raise ValueError(f"n_iter must be a positive integer, got {n_iter!r}")
    history = []
    for _ in range(int(n_iter)):
        start, trans, emit, total = np.zeros_like(pi), np.zeros_like(A), np.zeros_like(B), 0.0
        for obs in sequences:
            g0, xi_sum, e, ll = _expected_counts(obs, pi, A, B)
            start += g0
            trans += xi_sum
            emit += e
            total += ll
        history.append(total)
        pi = start / len(sequences)
        A = _normalise_rows(trans, A)
        B = _normalise_rows(emit, B)
        if len(history) >= 2 and history[-1] - history[-2] < tol:
            break
    return pi, A, B, history


def dishonest_casino():
    """The occasionally dishonest casino of Durbin, Eddy, Krogh & Mitchison (1998), ch. 3.

    State 0 is a fair die, state 1 a loaded die that shows a six half of the time. The casino
    switches from fair to loaded with probability 0.05 and back with probability 0.1.
    Symbols 0..5 stand for faces 1..6.

    Returns:
        pi (2,), A (2, 2), B (2, 6).
    """
    pi = np.array([0.5, 0.5])
    A = np.array([[0.95, 0.05],
                  [0.10, 0.90]])
    B = np.array([[1 / 6] * 6,
                  [1 / 10] * 5 + [1 / 2]])
    return pi, A, B
