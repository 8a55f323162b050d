"""Typical wrong submissions of a3_lstm_gru, and the test cells each one must fail.

MUTANTS[name] = ({notebook: {answer cell grade_id: [(old, new), ...]}}, {failing test ids})

Every other autograded test cell must keep its full marks: a mistake costs only its part.
Part 3 (lstm_forward) and part 5 (cifg_step_forward) run with the reference
lstm_step_forward in place of the student's. Part 2 (lstm_step_backward) passes when the
backward is right on a reference cache in the layout of part 1, or when its gradients match
central differences of the student's own forward; so a forward mistake never costs part 2,
and neither does a cache layout of the student's own with a correct forward.
"""

A3 = "a3_lstm_gru.ipynb"
PART = {
    "step": {"test_lstm_step_forward_visible", "test_lstm_step_forward_hidden"},
    "backward": {"test_lstm_step_backward_visible", "test_lstm_step_backward_hidden"},
    "sequence": {"test_lstm_forward_visible", "test_lstm_forward_hidden"},
    "gru": {"test_gru_step_visible", "test_gru_step_hidden"},
    "cifg": {"test_cifg_visible", "test_cifg_hidden"},
}

# The forward read as [i | f | o | g] instead of [i | f | g | o].
GATE_ORDER_IFOG = [
    ("g = np.tanh(a[:, 2 * H:3 * H])", "g = np.tanh(a[:, 3 * H:])"),
    ("o = sigmoid(a[:, 3 * H:])", "o = sigmoid(a[:, 2 * H:3 * H])"),
]

MUTANTS = {
    # --- part 1: the forward step
    "step-gate-order-ifog": (
        {A3: {"lstm_step_forward": GATE_ORDER_IFOG}},
        PART["step"],
    ),
    "step-candidate-sigmoid": (             # sigma where tanh belongs
        {A3: {"lstm_step_forward": [("g = np.tanh(a[:, 2 * H:3 * H])", "g = sigmoid(a[:, 2 * H:3 * H])")]}},
        PART["step"],
    ),
    "step-h-without-tanh": (
        {A3: {"lstm_step_forward": [("h = o * tanh_c", "h = o * c")]}},
        PART["step"],
    ),
    "step-no-input-gate": (
        {A3: {"lstm_step_forward": [("c = f * c_prev + i * g", "c = f * c_prev + g")]}},
        PART["step"],
    ),
    "step-transposed-Wh": (                 # (H, 4H).T: a shape error
        {A3: {"lstm_step_forward": [("a = x @ Wx + h_prev @ Wh + b", "a = x @ Wx + h_prev @ Wh.T + b")]}},
        PART["step"],
    ),
    "step-calls-reference": (
        {A3: {"lstm_step_forward": [("    H = h_prev.shape[1]\n    a = x @ Wx",
                                     "    from course_lib.lstm import lstm_step_forward as reference\n"
                                     "    return reference(x, h_prev, c_prev, Wx, Wh, b)\n"
                                     "    H = h_prev.shape[1]\n    a = x @ Wx")]}},
        PART["step"],
    ),
    # a forward mistake with a backward consistent with it: (a) fails, (b) passes
    "step-gate-order-ifog-backward-consistent": (
        {A3: {"lstm_step_forward": GATE_ORDER_IFOG,
              "lstm_step_backward": [("[da_i, da_f, da_g, da_o]", "[da_i, da_f, da_o, da_g]")]}},
        PART["step"],
    ),
    # CIFG written with the student's own lstm_step_forward, which is wrong: only part 1 pays
    "cifg-reuses-a-wrong-lstm-step": (
        {A3: {"lstm_step_forward": GATE_ORDER_IFOG,
              "cifg_step_forward": [("    H = h_prev.shape[1]\n    a = x @ Wx + h_prev @ Wh + b                # (N, 3H)",
                                     "    H = h_prev.shape[1]\n"
                                     "    def four(W):\n"
                                     "        return np.concatenate((W[..., :H], -W[..., :H], W[..., H:]), axis=1 if W.ndim == 2 else 0)\n"
                                     "    return lstm_step_forward(x, h_prev, c_prev, four(Wx), four(Wh), four(b))\n"
                                     "    a = x @ Wx + h_prev @ Wh + b")]}},
        PART["step"],
    ),
    # --- part 2: the backward step
    "backward-ignores-incoming-dc": (      # the cell-state gradient of the next step not carried
        {A3: {"lstm_step_backward": [("dc_total = dc + dh * o * (1 - tanh_c**2)",
                                      "dc_total = dh * o * (1 - tanh_c**2)")]}},
        PART["backward"],
    ),
    "backward-dc_prev-without-f-dc": (     # dc_prev misses the f * dc term
        {A3: {"lstm_step_backward": [("dc_prev = dc_total * f", "dc_prev = dh * o * (1 - tanh_c**2) * f")]}},
        PART["backward"],
    ),
    "backward-drops-tanh-c-path": (        # dh does not reach c through h = o * tanh(c)
        {A3: {"lstm_step_backward": [("dc_total = dc + dh * o * (1 - tanh_c**2)", "dc_total = dc")]}},
        PART["backward"],
    ),
    "backward-sigmoid-derivative-for-g": (
        {A3: {"lstm_step_backward": [("da_g = dg * (1 - g**2)", "da_g = dg * g * (1 - g)")]}},
        PART["backward"],
    ),
    "backward-transposed-dWh": (           # (4H, H): a shape error
        {A3: {"lstm_step_backward": [("dWh = h_prev.T @ da", "dWh = da.T @ h_prev")]}},
        PART["backward"],
    ),
    "backward-calls-reference": (
        {A3: {"lstm_step_backward": [("    x, h_prev, c_prev, Wx, Wh, i, f, g, o, tanh_c = cache\n",
                                      "    from course_lib import lstm\n"
                                      "    return lstm.lstm_step_backward(dh, dc, cache)\n"
                                      "    x, h_prev, c_prev, Wx, Wh, i, f, g, o, tanh_c = cache\n")]}},
        PART["backward"],
    ),
    # A cache layout of the student's own, with a correct forward and backward, is graded by
    # (b); a GRU mistake next to it shows that only the GRU part is lost.
    "own-cache-layout-and-gru-z-swapped": (
        {A3: {"lstm_step_forward": [("cache = (x, h_prev, c_prev, Wx, Wh, i, f, g, o, tanh_c)",
                                     "cache = {'gates': (i, f, g, o), 'inputs': (x, h_prev, c_prev), "
                                     "'weights': (Wx, Wh), 'tanh_c': tanh_c}")],
              "lstm_step_backward": [("    x, h_prev, c_prev, Wx, Wh, i, f, g, o, tanh_c = cache\n",
                                      "    (x, h_prev, c_prev), (Wx, Wh) = cache['inputs'], cache['weights']\n"
                                      "    (i, f, g, o), tanh_c = cache['gates'], cache['tanh_c']\n")],
              "gru_step_forward": [("h = (1 - z) * n + z * h_prev", "h = z * n + (1 - z) * h_prev")]}},
        PART["gru"],
    ),
    # --- part 3: the sequence
    "sequence-cell-state-not-carried": (
        {A3: {"lstm_forward": [("h_prev, c_prev, step_cache = lstm_step_forward(",
                                "h_prev, _, step_cache = lstm_step_forward(")]}},
        PART["sequence"],
    ),
    "sequence-starts-c-at-h0": (
        {A3: {"lstm_forward": [("h_prev, c_prev = h0, np.zeros((N, H))", "h_prev, c_prev = h0, h0")]}},
        PART["sequence"],
    ),
    "sequence-calls-reference": (
        {A3: {"lstm_forward": [("    N, T, D = x.shape\n",
                                "    from course_lib.lstm import lstm_forward as reference\n"
                                "    return reference(x, h0, Wx, Wh, b)\n"
                                "    N, T, D = x.shape\n")]}},
        PART["sequence"],
    ),
    # --- part 4: the GRU
    "gru-z-swapped": (                      # h = z * n + (1 - z) * h_prev
        {A3: {"gru_step_forward": [("h = (1 - z) * n + z * h_prev", "h = z * n + (1 - z) * h_prev")]}},
        PART["gru"],
    ),
    "gru-reset-before": (                   # Cho et al.'s candidate instead of PyTorch's
        {A3: {"gru_step_forward": [("n = np.tanh(ax[:, 2 * H:] + r * ah[:, 2 * H:])",
                                    "n = np.tanh(ax[:, 2 * H:] + (r * h_prev) @ Wh[:, 2 * H:] + bh[2 * H:])")]}},
        PART["gru"],
    ),
    "gru-bhn-outside-reset": (
        {A3: {"gru_step_forward": [("n = np.tanh(ax[:, 2 * H:] + r * ah[:, 2 * H:])",
                                    "n = np.tanh(ax[:, 2 * H:] + r * (h_prev @ Wh[:, 2 * H:]) + bh[2 * H:])")]}},
        PART["gru"],
    ),
    "gru-calls-reference": (
        {A3: {"gru_step_forward": [("    ax = x @ Wx + bx",
                                    "    from course_lib.gru import gru_step_forward as reference\n"
                                    "    return reference(x, h_prev, Wx, Wh, bx, bh)\n"
                                    "    ax = x @ Wx + bx")]}},
        PART["gru"],
    ),
    # --- part 5: CIFG
    "cifg-f-equals-i": (
        {A3: {"cifg_step_forward": [("f = 1 - i ", "f = i ")]}},
        PART["cifg"],
    ),
    "cifg-blocks-read-as-iog": (
        {A3: {"cifg_step_forward": [("g = np.tanh(a[:, H:2 * H])", "g = np.tanh(a[:, 2 * H:])"),
                                    ("o = sigmoid(a[:, 2 * H:])", "o = sigmoid(a[:, H:2 * H])")]}},
        PART["cifg"],
    ),
    "cifg-calls-lstm-reference": (         # the LSTM reference with the forget block = -(input block)
        {A3: {"cifg_step_forward": [("    H = h_prev.shape[1]\n    a = x @ Wx + h_prev @ Wh + b                # (N, 3H)",
                                     "    from course_lib import lstm\n"
                                     "    H = h_prev.shape[1]\n"
                                     "    def four(W):\n"
                                     "        return np.concatenate((W[..., :H], -W[..., :H], W[..., H:]), axis=1 if W.ndim == 2 else 0)\n"
                                     "    return lstm.lstm_step_forward(x, h_prev, c_prev, four(Wx), four(Wh), four(b))\n"
                                     "    a = x @ Wx + h_prev @ Wh + b")]}},
        PART["cifg"],
    ),
}
