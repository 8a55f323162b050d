"""Typical wrong submissions of a2_rnn_bptt, and the test cells each one must fail.

MUTANTS[name] = ({notebook: {answer cell grade_id: [(old, new), ...]}}, {failing test ids})

Every other autograded test cell must keep its full marks: a mistake costs only its part.
The tests of part 2 run the sequence functions with the reference step functions, so a
mistake in a step function (part 1) never costs part 2.
"""

A2 = "a2_rnn_bptt.ipynb"
PART = {
    "step": {"test_step_visible", "test_step_hidden"},
    "sequence": {"test_sequence_visible", "test_sequence_hidden"},
    "loss": {"test_loss_visible", "test_loss_hidden"},
    "clip": {"test_clip_visible", "test_clip_hidden"},
}

MUTANTS = {
    # transposed weights
    "step-forward-transposed-Wh": (
        {A2: {"rnn_step": [("h_prev @ Wh + b", "h_prev @ Wh.T + b")]}},
        PART["step"],
    ),
    "step-forward-transposed-Wx": (          # x @ Wx.T: a shape error, since D != H
        {A2: {"rnn_step": [("a = x @ Wx + h_prev", "a = x @ Wx.T + h_prev")]}},
        PART["step"],
    ),
    "step-backward-transposed-dWx": (
        {A2: {"rnn_step": [("dWx = x.T @ da", "dWx = da.T @ x")]}},
        PART["step"],
    ),
    "step-backward-transposed-dWh": (        # (H, H): the right shape, the wrong values
        {A2: {"rnn_step": [("dWh = h_prev.T @ da", "dWh = da.T @ h_prev")]}},
        PART["step"],
    ),
    # missing bias
    "step-forward-without-bias": (
        {A2: {"rnn_step": [("h_prev @ Wh + b", "h_prev @ Wh")]}},
        PART["step"],
    ),
    "step-backward-db-missing": (
        {A2: {"rnn_step": [("db = da.sum(axis=0)", "db = np.zeros(da.shape[1])")]}},
        PART["step"],
    ),
    # tanh'(a) = 1 - tanh(a)^2 evaluated at the pre-activation a instead of at h
    "step-backward-tanh-derivative-from-preactivation": (
        {A2: {"rnn_step": [
            ("cache = (x, h_prev, Wx, Wh, h)", "cache = (x, h_prev, Wx, Wh, a, h)"),
            ("x, h_prev, Wx, Wh, h = cache", "x, h_prev, Wx, Wh, a, h = cache"),
            ("da = dh * (1 - h**2)", "da = dh * (1 - a**2)"),
        ]}},
        PART["step"],
    ),
    # BPTT
    "bptt-parameter-gradient-not-accumulated": (
        {A2: {"rnn_sequence": [("dWx += dWx_t", "dWx = dWx_t")]}},
        PART["sequence"],
    ),
    "bptt-no-gradient-from-later-steps": (
        {A2: {"rnn_sequence": [("rnn_step_backward(dh[:, t] + dh_next, step_caches[t])",
                                "rnn_step_backward(dh[:, t], step_caches[t])")]}},
        PART["sequence"],
    ),
    "sequence-forward-state-not-carried": (
        {A2: {"rnn_sequence": [("rnn_step_forward(x[:, t], h_prev, Wx, Wh, b)",
                                "rnn_step_forward(x[:, t], h0, Wx, Wh, b)")]}},
        PART["sequence"],
    ),
    # the loss
    "loss-ignores-mask": (
        {A2: {"softmax_loss": [("loss = -np.sum(mask * log_p[n, t, y]) / N", "loss = -np.sum(log_p[n, t, y]) / N"),
                               ("dscores *= mask[:, :, None] / N", "dscores /= N")]}},
        PART["loss"],
    ),
    "loss-divides-by-unmasked-steps": (
        {A2: {"softmax_loss": [("loss = -np.sum(mask * log_p[n, t, y]) / N",
                                "loss = -np.sum(mask * log_p[n, t, y]) / np.sum(mask)"),
                               ("dscores *= mask[:, :, None] / N", "dscores *= mask[:, :, None] / np.sum(mask)")]}},
        PART["loss"],
    ),
    "loss-softmax-without-max-shift": (     # right on moderate scores; the hidden scores near 800 overflow
        {A2: {"softmax_loss": [("shifted = scores - scores.max(axis=2, keepdims=True)", "shifted = scores")]}},
        {"test_loss_hidden"},
    ),
    # clipping
    "clip-modifies-its-input": (
        {A2: {"clip_grad": [("clipped = {name: g * scale for name, g in grads.items()}",
                             "for g in grads.values():\n        g *= scale\n    clipped = grads")]}},
        PART["clip"],
    ),
    "clip-each-array-by-its-own-norm": (
        {A2: {"clip_grad": [("clipped = {name: g * scale for name, g in grads.items()}",
                             "clipped = {name: g * min(1.0, max_norm / np.sqrt(np.sum(g**2))) for name, g in grads.items()}")]}},
        PART["clip"],
    ),
    "clip-returns-norm-after-clipping": (
        {A2: {"clip_grad": [("return clipped, float(total_norm)", "return clipped, float(min(total_norm, max_norm))")]}},
        PART["clip"],
    ),
    "clip-divides-by-a-zero-norm": (        # only the hidden all-zero case raises ZeroDivisionError
        {A2: {"clip_grad": [("scale = max_norm / total_norm if total_norm > max_norm else 1.0",
                             "scale = min(1.0, max_norm / float(total_norm))")]}},
        {"test_clip_hidden"},
    ),
    # calling the reference earns nothing
    "step-forward-calls-reference": (
        {A2: {"rnn_step": [("a = x @ Wx + h_prev @ Wh + b ",
                            "from course_lib.rnn import rnn_step_forward as reference\n"
                            "    return reference(x, h_prev, Wx, Wh, b)\n"
                            "    a = x @ Wx + h_prev @ Wh + b ")]}},
        PART["step"],
    ),
    "loss-calls-reference": (
        {A2: {"softmax_loss": [("N, T, V = scores.shape",
                                "from course_lib import layers\n"
                                "    return layers.temporal_softmax_loss(scores, y, mask)\n"
                                "    N, T, V = scores.shape")]}},
        PART["loss"],
    ),
    "clip-calls-reference": (
        {A2: {"clip_grad": [("total_norm = np.sqrt(",
                             "from course_lib.optim import clip_grad_norm as reference\n"
                             "    return reference(grads, max_norm)\n"
                             "    total_norm = np.sqrt(")]}},
        PART["clip"],
    ),
}
