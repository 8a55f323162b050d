"""Typical wrong submissions of a1_markov_hmm, and the test cells each one must fail.

MUTANTS[name] = ({notebook: {answer cell grade_id: [(old, new), ...]}}, {failing test ids})

Every other autograded test cell must keep its full marks: a mistake costs only its part.
"""

A1 = "a1_markov_hmm.ipynb"
PART = {
    "markov": {"test_markov_visible", "test_markov_hidden"},
    "forward": {"test_forward_visible", "test_forward_hidden"},
    "posteriors": {"test_posteriors_visible", "test_posteriors_hidden"},
    "viterbi": {"test_viterbi_visible", "test_viterbi_hidden"},
    "baum_welch": {"test_baum_welch_visible", "test_baum_welch_hidden"},
}

MUTANTS = {
    # probabilities instead of logs
    "forward-returns-probabilities": (
        {A1: {"forward_log": [("return log_alpha, logsumexp(log_alpha[-1])",
                               "return np.exp(log_alpha), np.exp(logsumexp(log_alpha[-1]))")]}},
        PART["forward"],
    ),
    "forward-in-probability-space": (
        {A1: {"forward_log": [
            ("log_A, log_B = np.log(A), np.log(B)", "log_A, log_B = A, B"),
            ("log_alpha[0] = np.log(pi) + log_B[:, obs[0]]", "log_alpha[0] = pi * log_B[:, obs[0]]"),
            ("log_alpha[t] = logsumexp(log_alpha[t - 1][:, None] + log_A, axis=0) + log_B[:, obs[t]]",
             "log_alpha[t] = (log_alpha[t - 1] @ log_A) * log_B[:, obs[t]]"),
            ("return log_alpha, logsumexp(log_alpha[-1])", "return np.log(log_alpha), np.log(log_alpha[-1].sum())"),
        ]}},
        # right on the short visible cases; the hidden T = 1000 case underflows (at t = 698)
        {"test_forward_hidden"},
    ),
    # forgotten normalisation
    "markov-not-normalised": (
        {A1: {"markov_estimate": [("return (N + alpha) / (row_totals + alpha * V)", "return N + alpha")]}},
        PART["markov"],
    ),
    "markov-smoothing-denominator-without-V": (
        {A1: {"markov_estimate": [("(row_totals + alpha * V)", "(row_totals + alpha)")]}},
        PART["markov"],
    ),
    "posteriors-not-normalised": (
        {A1: {"posteriors": [("return np.exp(log_alpha + log_beta - log_likelihood)",
                              "return np.exp(log_alpha + log_beta)")]}},
        PART["posteriors"],
    ),
    # off-by-one in time
    "forward-emission-off-by-one": (
        {A1: {"forward_log": [("+ log_A, axis=0) + log_B[:, obs[t]]", "+ log_A, axis=0) + log_B[:, obs[t - 1]]")]}},
        PART["forward"],
    ),
    "backward-emission-off-by-one": (
        {A1: {"posteriors": [("(log_B[:, obs[t + 1]] + log_beta[t + 1])", "(log_B[:, obs[t]] + log_beta[t + 1])")]}},
        PART["posteriors"],
    ),
    "viterbi-backtrack-off-by-one": (
        {A1: {"viterbi": [("path[t - 1] = psi[t, path[t]]", "path[t - 1] = psi[t - 1, path[t]]")]}},
        PART["viterbi"],
    ),
    # transposed A
    "forward-transposed-A": (
        {A1: {"forward_log": [("log_alpha[t - 1][:, None] + log_A, axis=0)", "log_alpha[t - 1][:, None] + log_A.T, axis=0)")]}},
        PART["forward"],
    ),
    "baum-welch-transposed-A": (
        {A1: {"baum_welch": [("+ log_A + (log_B", "+ log_A.T + (log_B")]}},
        PART["baum_welch"],
    ),
    # calling the reference earns nothing
    "forward-calls-reference": (
        {A1: {"forward_log": [("    T, K = len(obs), len(pi)\n    log_A, log_B = np.log(A), np.log(B)\n    log_alpha = np.zeros((T, K))",
                               "    from course_lib.hmm import forward_algorithm\n    return forward_algorithm(obs, pi, A, B)\n    log_alpha = np.zeros((T, K))")]}},
        PART["forward"],
    ),
}
