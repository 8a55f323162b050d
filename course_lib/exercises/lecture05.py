"""Checks for the exercises of lecture 05 (vanishing and exploding gradients).

Shape legend:
    N  batch            x  (N, T, D)   inputs              Wx (D, H)   input-to-hidden
    T  time steps       h0 (N, H)      given initial state Wh (H, H)   hidden-to-hidden
    D  input size       grads          list of arrays      b  (H,)     bias
    H  hidden size

1. `irnn_init`: the identity initialisation of a ReLU RNN (Le, Jaitly and Hinton 2015),
       Wh = I,   b = 0,   Wx ~ N(0, input_std^2),
   checked by its invariants: the shapes and values, the use of the given generator, and the
   behaviour it exists for. With every unit active, each step's Jacobian
   dh_t/dh_(t-1) = diag(1[a_t > 0]) Wh^T is exactly I, so a gradient reaches h_0 from h_T with
   its norm unchanged, for any T; a tanh RNN with an orthogonal Wh (course_lib.rnn) loses a
   part of it as soon as its units leave the linear range.
2. `clip_grad_norm`: clipping a list of gradients by their global p-norm, against
   torch.nn.utils.clip_grad_norm_.
"""

import numpy as np
import torch

from course_lib.exercises import attempt, exercise
from course_lib.grading import GradingError, check_array, check_output, check_scalar, returns, same
from course_lib.rnn import rnn_backward, rnn_forward

__all__ = ["check_irnn_init", "check_clip_grad_norm"]


# ----------------------------------------------------------------------------- exercise 1

def _relu_gradient_ratio(x, h0, Wx, Wh, b):
    """||dL/dh_0|| / ||dL/dh_T|| for a unit-norm gradient on h_T of the ReLU RNN
    h_t = max(0, x_t Wx + h_(t-1) Wh + b), and the fraction of unit-steps that were active."""
    masks, h = [], h0
    for t in range(x.shape[1]):
        a = x[:, t] @ Wx + h @ Wh + b
        masks.append(a > 0)
        h = np.maximum(0.0, a)
    g = np.ones_like(h0) / np.sqrt(h0.size)                  # dL/dh_T, norm 1
    for mask in reversed(masks):
        g = (g * mask) @ Wh.T                                # dL/dh_(t-1) = (dL/dh_t * 1[a_t > 0]) Wh^T
    return float(np.linalg.norm(g)), float(np.mean(masks))


def _tanh_gradient_ratio(x, h0, Wx, Wh, b):
    """The same ratio for the tanh RNN of course_lib.rnn."""
    h, cache = rnn_forward(x, h0, Wx, Wh, b)
    dh = np.zeros_like(h)
    dh[:, -1] = 1 / np.sqrt(h0.size)
    return float(np.linalg.norm(rnn_backward(dh, cache)[1]))


@exercise(1, "identity initialisation of a ReLU RNN")
def check_irnn_init(irnn_init):
    D, H = 6, 40
    for input_std in [1e-3, 0.05]:
        case = f"D, H = {D}, {H}, input_std = {input_std}"
        out = attempt(irnn_init, D, H, np.random.default_rng(50), input_std, case=case)
        Wx, Wh, b = returns(out, "irnn_init", ["Wx", "Wh", "b"], case)
        check_output("Wh", Wh, np.eye(H), hint="Wh must be the identity matrix, np.eye(H).", case=case)
        check_array("b", b, np.zeros(H), hint="The bias starts at 0.", case=case)
        check_array("Wx.shape", np.shape(Wx), (D, H), hint="Wx maps D inputs to H units: shape (D, H).", case=case)
        std = float(np.std(Wx))
        if not (0.8 * input_std < std < 1.2 * input_std and abs(float(np.mean(Wx))) < 0.3 * input_std):
            hint = " (scale your standard normal draws by input_std)" if same(std, 1.0, tol=0.2) else ""
            raise GradingError(f"the entries of Wx should be drawn from N(0, input_std^2) (case: {case}): their "
                               f"mean is {np.mean(Wx):.3g} and standard deviation {std:.3g}, expected about 0 "
                               f"and {input_std}{hint}")
    runs = [(seed, attempt(irnn_init, D, H, np.random.default_rng(seed), 1e-3, case=f"seed {seed}"))
            for seed in (50, 50, 51)]
    Wx_runs = [np.asarray(returns(out, "irnn_init", ["Wx", "Wh", "b"], f"seed {seed}")[0]) for seed, out in runs]
    if not np.array_equal(Wx_runs[0], Wx_runs[1]):
        raise GradingError("irnn_init gave two different Wx for two generators with the same seed: draw Wx "
                           "from the rng argument (rng.normal or rng.standard_normal), not from np.random")
    if np.array_equal(Wx_runs[0], Wx_runs[2]):
        raise GradingError("irnn_init gave the same Wx for generators with different seeds: draw Wx from "
                           "the rng argument")

    # the behaviour: a gradient crosses T steps of the ReLU RNN with its norm unchanged
    Wx, Wh, b = (np.asarray(a, dtype=np.float64) for a in runs[0][1])
    rng = np.random.default_rng(52)
    Q, _ = np.linalg.qr(rng.standard_normal((H, H)))         # orthogonal, for the tanh comparison
    h0 = np.full((1, H), 0.5)
    ratios = {}
    for T in [10, 100, 1000]:
        x = rng.standard_normal((1, T, D))
        relu, active = _relu_gradient_ratio(x, h0, Wx, Wh, b)
        if active < 1 or abs(relu - 1) > 1e-9:
            raise GradingError(f"with your initialisation a unit-norm gradient on h_T reaches h_0 with norm "
                               f"{relu:.6g} after T = {T} steps ({100 * active:.1f}% of the units active); "
                               "with Wh = I, b = 0 and a small Wx every unit stays active and the norm stays 1")
        ratios[T] = _tanh_gradient_ratio(x, h0, Wx, Q, b)
    tanh = ", ".join(f"{r:.2f}" for r in ratios.values())
    return (f"the gradient norm stays exactly 1 over T = 10, 100, 1000 steps; a tanh RNN with an orthogonal "
            f"Wh, the same Wx and h_0 keeps {tanh} of it")


# ----------------------------------------------------------------------------- exercise 2

def _torch_clip(grads, max_norm, norm_type):
    params = []
    for g in grads:
        p = torch.zeros(g.shape, dtype=torch.float64, requires_grad=True)
        p.grad = torch.tensor(g)
        params.append(p)
    total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    return [p.grad.numpy() for p in params], float(total)


def _per_array(grads, max_norm, norm_type):
    return [_torch_clip([g], max_norm, norm_type)[0][0] for g in grads]


@exercise(2, "clipping by the global norm")
def check_clip_grad_norm(clip_grad_norm):
    rng = np.random.default_rng(53)
    shapes = [(3, 4), (4,), (4, 5)]                          # e.g. dWx (D, H), db (H,), dWy (H, V)
    cases = [(2.0, 1.0, 1.0), (2.0, 1.0, 1e-3), (float("inf"), 0.5, 1.0), (1.0, 3.0, 1.0)]
    for norm_type, max_norm, scale in cases:
        grads = [scale * rng.standard_normal(s) for s in shapes]
        grads[2] *= 3
        case = f"norm_type = {norm_type}, max_norm = {max_norm}, gradient norms {scale:g} x N(0, 1)"
        originals = [g.copy() for g in grads]
        out = attempt(clip_grad_norm, grads, max_norm, norm_type, case=case)
        clipped, total = returns(out, "clip_grad_norm", ["clipped", "total_norm"], case)
        if not all(np.array_equal(g, o) for g, o in zip(grads, originals)):
            raise GradingError(f"clip_grad_norm changed the arrays it was given (case: {case}); return new "
                               "arrays (g * scale, not g *= scale)")
        expected, expected_total = _torch_clip(originals, max_norm, norm_type)
        check_scalar("total_norm", total, expected_total, rtol=1e-9, case=case,
                     hint="The global norm is the p-norm of all entries of all arrays together, before "
                          "clipping; for p = inf, the largest |entry|.")
        if not isinstance(clipped, (list, tuple)) or len(clipped) != len(shapes):
            raise GradingError(f"clipped must be a list of {len(shapes)} arrays, one per gradient (case: {case})")
        value = [np.clip(g, -max_norm, max_norm) for g in originals]
        per_array = _per_array(originals, max_norm, norm_type)
        rescaled = [g * max_norm / expected_total for g in originals]
        for i, (got, exp) in enumerate(zip(clipped, expected)):
            # torch divides by (total + 1e-6); check_output's tolerance (1e-6) covers that here
            check_output(f"clipped[{i}]", got, exp,
                         [("each array clipped to max_norm on its own", per_array[i]),
                          ("clipping by value, np.clip(g, -max_norm, max_norm)", value[i]),
                          ("rescaling to max_norm even when the norm is below it", rescaled[i])], case=case)
    return "the clipped gradients and the norms match torch.nn.utils.clip_grad_norm_"
