"""Gradient clipping, two optimisers and a small training loop, in NumPy.

Parameters and gradients are dicts of arrays with the same keys, e.g.
`params = {"Wx": (D, H), "Wh": (H, H), "b": (H,)}` and `grads = {"Wx": dWx, ...}`.
Clipping and updates happen here, never inside a backward function.

Shape legend: every gradient has the shape of its parameter.
"""

import math

import numpy as np

__all__ = ["global_norm", "clip_grad_norm", "SGD", "Adam", "train"]


def _arrays(grads):
    if isinstance(grads, dict):
        return list(grads.values())
    if isinstance(grads, (list, tuple)):
        return list(grads)
    raise TypeError(f"grads must be a dict or a list of arrays, got {type(grads).__name__}")


def global_norm(grads):
    """The norm of all gradients taken together, as one long vector.

        ||g|| = sqrt(sum_k sum_i g_k[i]^2)

    Args:
        grads: dict or list of arrays.
    Returns:
        a float.
    """
    return math.sqrt(sum(float(np.sum(np.square(np.asarray(g, dtype=np.float64))))
                         for g in _arrays(grads)))


def clip_grad_norm(grads, max_norm):
    """Rescale all gradients together so that their global norm is at most max_norm.

        ||g|| = sqrt(sum_k sum_i g_k[i]^2)
        g_k  <- g_k * max_norm / ||g||     if ||g|| > max_norm, else g_k unchanged

    (Pascanu, Mikolov and Bengio 2013.) The direction of the joint gradient is kept; after
    clipping its norm is max_norm (up to rounding). A non-finite norm is returned as it is
    and the gradients are left unscaled, so the caller can see and handle it.

    Args:
        grads: dict name -> array, or a list/tuple of arrays. Never modified.
        max_norm: positive threshold.
    Returns:
        clipped: new float64 arrays in a container of the same kind (dict, list or tuple),
            equal to grads when ||g|| <= max_norm.
        total_norm: ||g|| before clipping, a float.
    """
    if isinstance(max_norm, bool) or not isinstance(max_norm, (int, float, np.integer, np.floating)) \
            or not (np.isfinite(max_norm) and max_norm > 0):
        raise ValueError(f"max_norm must be a positive finite number, got {max_norm!r}")
    arrays = _arrays(grads)
    total_norm = global_norm(arrays)
    scale = max_norm / total_norm if np.isfinite(total_norm) and total_norm > max_norm else 1.0
    clipped = [np.asarray(g, dtype=np.float64) * scale for g in arrays]   # new arrays
    if isinstance(grads, dict):
        return dict(zip(grads.keys(), clipped)), total_norm
    return type(grads)(clipped), total_norm


def _check_grads(params, grads):
    if not isinstance(params, dict) or not isinstance(grads, dict):
        raise TypeError("params and grads must be dicts of arrays with the same keys, got "
                        f"{type(params).__name__} and {type(grads).__name__}")
    for k, g in grads.items():
        if k not in params:
            raise KeyError(f"grads has key {k!r} that params does not have; params: {list(params)}")
        if np.shape(g) != np.shape(params[k]):
            raise ValueError(f"grads[{k!r}] must have the shape of params[{k!r}], "
                             f"{np.shape(params[k])}, got {np.shape(g)}")


class SGD:
    """Stochastic gradient descent with (heavy-ball) momentum, as torch.optim.SGD.

        v <- momentum v + g            (v = 0 before the first step)
        p <- p - lr v

    momentum=0 is plain gradient descent, p <- p - lr g.

    Usage: `opt = SGD(lr=0.1, momentum=0.9); opt.step(params, grads)` updates the arrays of
    params in place; the velocities are kept per key in `opt.state`.
    """

    def __init__(self, lr, momentum=0.0):
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr!r}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        self.lr, self.momentum = float(lr), float(momentum)
        self.state = {}
        self.t = 0

    def step(self, params, grads):
        """One update of every params[k] that has a grads[k] (in place)."""
        _check_grads(params, grads)
        self.t += 1
        for k, g in grads.items():
            v = self.state.get(k, 0.0)
            v = self.momentum * v + g
            self.state[k] = v
            params[k] -= self.lr * v


class Adam:
    """Adam (Kingma and Ba 2015), as torch.optim.Adam.

        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        m_hat = m / (1 - beta1^t),   v_hat = v / (1 - beta2^t)        (t = 1, 2, ...)
        p <- p - lr m_hat / (sqrt(v_hat) + eps)

    Usage: `opt = Adam(lr=1e-3); opt.step(params, grads)` updates the arrays of params in
    place; the moments are kept per key in `opt.state`.
    """

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr!r}")
        if not all(0 <= beta < 1 for beta in betas):
            raise ValueError(f"betas must be in [0, 1), got {betas!r}")
        self.lr, self.betas, self.eps = float(lr), tuple(map(float, betas)), float(eps)
        self.state = {}
        self.t = 0

    def step(self, params, grads):
        """One update of every params[k] that has a grads[k] (in place)."""
        _check_grads(params, grads)
        self.t += 1
        beta1, beta2 = self.betas
        for k, g in grads.items():
            m, v = self.state.get(k, (0.0, 0.0))
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            self.state[k] = (m, v)
            m_hat = m / (1 - beta1**self.t)
            v_hat = v / (1 - beta2**self.t)
            params[k] -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class TrainingDiverged(FloatingPointError):
    """The loss or the gradient norm stopped being finite. `history` holds what was recorded
    up to and including the step that diverged (same keys as train's result), so that the
    run can still be plotted; `step` is that step's index."""

    def __init__(self, message, step, history):
        super().__init__(message)
        self.step = step
        self.history = history


def train(params, loss_and_grads, n_steps, optimizer, *, clip=None, rng=0, progress=True,
          desc="training"):
    """A minimal training loop: gradient, optional clipping, update; n_steps times.

        loss_i, g_i = loss_and_grads(params, rng)
        g_i         = clip_grad_norm(g_i, clip)          (if clip is not None)
        params      = optimizer.step(params, g_i)

    Args:
        params: dict name -> float64 array; updated in place.
        loss_and_grads: callable (params, rng) -> (loss, grads dict); rng is the
            np.random.Generator to draw minibatches from.
        n_steps: number of updates.
        optimizer: an object with step(params, grads), e.g. SGD or Adam.
        clip: None, or max_norm for clip_grad_norm.
        rng: np.random.Generator or int seed, passed to loss_and_grads.
        progress: show a tqdm progress bar (tqdm.auto: a widget in Jupyter). It writes to
            stderr outside Jupyter; nbgrader test cells must use progress=False.
        desc: label of the progress bar.
    Returns:
        history: dict with "loss" (n_steps,), the loss before each update, and "grad_norm"
        (n_steps,), the global gradient norm before clipping.
    Raises:
        TrainingDiverged (a FloatingPointError) when the loss or the gradient norm stops being
        finite; its `history` holds the run up to that step.
    """
    from tqdm.auto import tqdm

    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 0:
        raise ValueError(f"n_steps must be a non-negative int, got {n_steps!r}")
    rng = np.random.default_rng(rng)
    losses = np.empty(n_steps)
    norms = np.empty(n_steps)
    bar = tqdm(range(n_steps), desc=desc, disable=not progress)
    for i in bar:
        loss, grads = loss_and_grads(params, rng)
        norm = global_norm(grads)
        losses[i], norms[i] = loss, norm
        if not (np.isfinite(loss) and np.isfinite(norm)):
            bar.close()
            raise TrainingDiverged(
                f"step {i}: loss = {loss}, gradient norm = {norm}; the training diverged "
                "(try a smaller learning rate, or clip=...); the exception's .history holds the run",
                step=i, history={"loss": losses[:i + 1].copy(), "grad_norm": norms[:i + 1].copy()})
        if clip is not None:
            grads, _ = clip_grad_norm(grads, clip)
        optimizer.step(params, grads)
        if progress and (i % 10 == 0 or i == n_steps - 1):
            bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
    return {"loss": losses, "grad_norm": norms}
