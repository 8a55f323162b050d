"""course_lib.hmm against hmmlearn's compiled code at T = 100,000 steps, K = 8 states.

Both are timed in this one process, alternately, on the same model and sequence (M = 10
symbols); each figure is the best of REPEATS runs. hmmlearn is called through its model
(score, predict_proba, decode), as a user would call it; the ratio is course_lib / hmmlearn.
"""

import time
import warnings

import numpy as np

from course_lib import hmm

T, K, M = 100_000, 8, 10
REPEATS = 3


def _best(fn):
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from hmmlearn.hmm import CategoricalHMM
    rng = np.random.default_rng(0)
    pi, A, B = rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), size=K), rng.dirichlet(np.ones(M), size=K)
    _, obs = hmm.sample(pi, A, B, T, rng)
    model = CategoricalHMM(n_components=K, init_params="", params="")
    model.n_features = M
    model.startprob_, model.transmat_, model.emissionprob_ = pi, A, B
    X = obs.reshape(-1, 1)
    pairs = [("forward (log-likelihood)", lambda: hmm.forward_algorithm(obs, pi, A, B), lambda: model.score(X)),
             ("posteriors", lambda: hmm.posteriors(obs, pi, A, B), lambda: model.predict_proba(X)),
             ("viterbi", lambda: hmm.viterbi(obs, pi, A, B), lambda: model.decode(X, algorithm="viterbi"))]
    rows = []
    for name, ours, theirs in pairs:
        t_ours, t_theirs = _best(ours), _best(theirs)
        rows.append({"algorithm": name, "T": T, "K": K, "course_lib_ms": round(1e3 * t_ours, 1),
                     "hmmlearn_ms": round(1e3 * t_theirs, 1), "ratio": round(t_ours / t_theirs, 2)})
    return rows
