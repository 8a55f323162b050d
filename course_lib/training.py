"""The course's one torch training loop, and the map between torch's recurrent layers and the
NumPy references of course_lib.rnn, course_lib.lstm and course_lib.gru.

Shape legend:
    N  batch            x  (N, T, D)   inputs of the first layer
    T  time steps       Wx (D_l, kH)   input-to-blocks of layer l
    D  input size       Wh (H, kH)     hidden-to-blocks
    H  hidden size      b  (kH,)       one bias (RNN, LSTM)
    L  layers           bx, bh (kH,)   two biases (GRU: bh sits inside the reset)
    k  blocks: 1 (RNN), 4 (LSTM, [i | f | g | o]), 3 (GRU, [r | z | n])
    D_l  input size of layer l: D for l = 0, then H (one direction) or 2H (bidirectional)

Training:

    history = train(model, loss_fn, batches, n_steps, lr=1e-3, optimizer="adam", clip=1.0)

runs, for i = 1, ..., n_steps,

    batch_i = batches(rng)              (or the fixed batches, cycled in order)
    loss_i  = loss_fn(model, batch_i)
    g_i     = d loss_i / d theta                        (loss.backward())
    g_i     = g_i * min(1, clip / ||g_i||)              (torch.nn.utils.clip_grad_norm_)
    theta   = optimizer step with g_i                   (Adam or SGD)

and records loss_i and ||g_i|| (before clipping) in a History.

Parameters: torch stores the weights transposed (column vectors) and keeps two bias vectors.
For layer l and direction d (0 forward, 1 backward: names end in `_l{l}` and `_l{l}_reverse`),

    Wx = weight_ih.T     Wh = weight_hh.T
    b  = bias_ih + bias_hh              (RNN, LSTM: only the sum enters)
    bx = bias_ih,  bh = bias_hh         (GRU: reset-after, b_hn is multiplied by r)

A bidirectional layer runs direction 1 on the time-reversed sequence and concatenates
[forward | backward] at every step, (N, T, 2H), which is the next layer's input.
"""

import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from course_lib.optim import TrainingDiverged
from course_lib.validation import check_shape, is_int, is_real

__all__ = ["History", "train", "evaluating", "torch_to_numpy", "numpy_to_torch", "smooth", "count_parameters"]


# ----------------------------------------------------------------------------- training

@dataclass
class History:
    """What train() recorded.

    Attributes:
        loss: (steps,) training loss of each step, before its update.
        grad_norm: (steps,) global gradient norm of each step, before clipping.
        eval_steps: the steps (number of updates done, 1-based) at which `evaluate` ran.
        eval_values: the metric returned at those steps.
        stopped_early: True when `target` was reached before n_steps.
        seconds: wall time of the run.
    """

    loss: np.ndarray
    grad_norm: np.ndarray
    eval_steps: list
    eval_values: list
    stopped_early: bool
    seconds: float


def _make_optimizer(model, optimizer, lr):
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"model has no trainable parameters: {type(model).__name__}")
    if isinstance(optimizer, torch.optim.Optimizer):
        own = {id(p) for p in model.parameters()}
        foreign = sum(id(p) not in own for group in optimizer.param_groups for p in group["params"])
        if foreign:
            raise ValueError(f"the optimizer must be built on model.parameters(); it holds {foreign} "
                             "tensors that are not parameters of the model")
        return optimizer
    if not (is_real(lr) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr)
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr)
    raise ValueError(f'optimizer must be "adam", "sgd" or a torch.optim.Optimizer, got {optimizer!r}')


def _check_train_args(model, loss_fn, batches, n_steps, clip, seed, evaluate, eval_every, target,
                      mode):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a callable loss_fn(model, batch) -> scalar tensor, "
                        f"got {type(loss_fn).__name__}")
    if not callable(batches):
        if not isinstance(batches, Sequence) or isinstance(batches, (str, bytes)):
            raise TypeError("batches must be a callable batches(rng) -> batch or a list of fixed "
                            f"batches, got {type(batches).__name__}")
        if len(batches) == 0:
            raise ValueError("batches must hold at least one batch, got an empty sequence")
    if not is_int(n_steps) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive int, got {n_steps!r}")
    if clip is not None and not (is_real(clip) and math.isfinite(clip) and clip > 0):
        raise ValueError(f"clip must be None or a positive finite number, got {clip!r}")
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if evaluate is not None and not callable(evaluate):
        raise TypeError(f"evaluate must be None or a callable evaluate(model) -> float, "
                        f"got {type(evaluate).__name__}")
    if eval_every is not None:
        if evaluate is None:
            raise ValueError("eval_every needs an evaluate function")
        if not is_int(eval_every) or eval_every < 1:
            raise ValueError(f"eval_every must be None or a positive int, got {eval_every!r}")
    if target is not None:
        if evaluate is None:
            raise ValueError("target needs an evaluate function (the metric compared with it)")
        if not (is_real(target) and math.isfinite(target)):
            raise ValueError(f"target must be None or a finite number, got {target!r}")
    if mode not in ("max", "min"):
        raise ValueError(f'mode must be "max" (stop once metric >= target) or "min" '
                         f'(metric <= target), got {mode!r}')


def _run_evaluate(model, evaluate):
    """evaluate(model) under torch.no_grad() and model.eval(), then back to train mode."""
    model.eval()
    try:
        with torch.no_grad():
            value = evaluate(model)
    finally:
        model.train()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if not is_real(value):
        raise TypeError(f"evaluate must return a number, got {type(value).__name__}")
    return float(value)


def _check_loss(loss):
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        kind = f"a tensor of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) \
            else type(loss).__name__
        raise TypeError(f"loss_fn must return a scalar tensor, got {kind}")
    if not loss.requires_grad:
        raise ValueError("the loss does not depend on any trainable parameter of the model "
                         "(it does not require grad)")


def _close_bar_as_done(bar):
    """An early stop is a success: the bar's total becomes the steps done, so that it closes full
    (in Jupyter, green) instead of looking interrupted (red)."""
    bar.total = bar.n
    container = getattr(bar, "container", None)          # tqdm.notebook: (text, IntProgress, text)
    if container is not None:
        container.children[1].max = bar.n
    bar.refresh()
    bar.close()


def train(model, loss_fn, batches, n_steps, *, lr=1e-3, optimizer="adam", clip=1.0, seed=0,
          evaluate=None, eval_every=None, target=None, mode="max", progress=True,
          desc="training"):
    """Train a torch model: a batch, the loss, its gradient, clipping, an update; n_steps times.

        batch_i = batches(rng)                 or batches[(i - 1) % len(batches)]
        loss_i  = loss_fn(model, batch_i)
        g_i     = grad of loss_i               (loss.backward())
        g_i     = g_i * min(1, clip / ||g_i||) (clip_grad_norm_, if clip is not None)
        update theta with g_i                  (optimizer.step())
        metric  = evaluate(model)              every eval_every steps and after the last one

    Args:
        model: torch.nn.Module; trained in place (left in train mode).
        loss_fn: callable loss_fn(model, batch) -> scalar tensor.
        batches: callable batches(rng) -> batch, with rng the np.random.Generator seeded from
            `seed` (fresh data every step); or a list of fixed batches, cycled in order
            (full-batch training: a list of one batch, [(x, y)]).
        n_steps: number of updates (>= 1).
        lr: learning rate of "adam" and "sgd" (ignored for a ready-made optimizer).
        optimizer: "adam" (torch.optim.Adam), "sgd" (plain torch.optim.SGD), or a
            torch.optim.Optimizer already built on model.parameters().
        clip: max_norm of global gradient-norm clipping, or None for none.
        seed: torch.manual_seed(seed) at the start (this reseeds torch's global generator), and
            the seed of the batches' rng: a run is repeatable on the CPU.
        evaluate: None, or a callable evaluate(model) -> float, run under torch.no_grad() and
            model.eval() (then model.train() again).
        eval_every: run evaluate every eval_every steps (and after the last step); None: only
            after the last step.
        target: stop early once the metric is >= target (mode "max") or <= target ("min").
        mode: "max" or "min", see target.
        progress: show a tqdm.auto progress bar (a widget in Jupyter; stderr elsewhere) with the
            running mean loss and the last metric.
        desc: label of the progress bar.
    Returns:
        History: loss (steps,), grad_norm (steps,), eval_steps, eval_values, stopped_early,
        seconds; steps = n_steps, or fewer after an early stop.
    Raises:
        course_lib.optim.TrainingDiverged (a FloatingPointError) when the loss or the gradient
        norm is not finite; its `history` holds the run up to and including that step, and no
        update was made with that gradient. ValueError or TypeError on bad arguments.
    """
    from tqdm.auto import tqdm

    _check_train_args(model, loss_fn, batches, n_steps, clip, seed, evaluate, eval_every, target,
                      mode)
    opt = _make_optimizer(model, optimizer, lr)
    params = [p for group in opt.param_groups for p in group["params"]]
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    fixed = None if callable(batches) else list(batches)

    t0 = time.perf_counter()
    losses, norms = np.empty(n_steps), np.empty(n_steps)
    eval_steps, eval_values = [], []
    stopped_early = False
    postfix_every = max(1, n_steps // 100)

    def history(steps):
        return History(losses[:steps].copy(), norms[:steps].copy(), list(eval_steps),
                       list(eval_values), stopped_early, time.perf_counter() - t0)

    model.train()
    bar = tqdm(total=n_steps, desc=desc, disable=not progress)
    steps = 0
    try:
        for i in range(n_steps):
            batch = batches(rng) if fixed is None else fixed[i % len(fixed)]
            loss = loss_fn(model, batch)
            _check_loss(loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip is None:
                norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
            else:
                norm = torch.nn.utils.clip_grad_norm_(params, clip)     # returns the norm before
            losses[i], norms[i] = loss.item(), norm.item()
            steps = i + 1
            if not (math.isfinite(losses[i]) and math.isfinite(norms[i])):
                raise TrainingDiverged(
                    f"step {i}: loss = {losses[i]}, gradient norm = {norms[i]}; the training "
                    "diverged (try a smaller lr, or clip=...); the exception's .history holds the run",
                    step=i, history=history(steps))
            opt.step()

            if evaluate is not None and ((eval_every and steps % eval_every == 0) or steps == n_steps):
                eval_steps.append(steps)
                eval_values.append(_run_evaluate(model, evaluate))
                if target is not None and (eval_values[-1] >= target if mode == "max"
                                           else eval_values[-1] <= target):
                    stopped_early = steps < n_steps
            bar.update(1)
            if progress and (steps % postfix_every == 0 or steps == n_steps or stopped_early):
                postfix = {"loss": f"{losses[max(0, steps - postfix_every):steps].mean():.4g}"}
                if eval_values:
                    postfix["metric"] = f"{eval_values[-1]:.4g}"
                bar.set_postfix(postfix, refresh=False)
            if stopped_early:
                break
    except BaseException:
        bar.close()                                   # left unfinished: red in Jupyter
        raise
    if stopped_early:
        _close_bar_as_done(bar)
    else:
        bar.close()
    return history(steps)


# ----------------------------------------------------------------------------- parameters

_BLOCKS = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


@contextlib.contextmanager
def evaluating(model):
    """model.eval() for the length of a block (dropout off, no training-mode behaviour), then
    the mode the model had before: `with evaluating(model): ...`."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _layout(module):
    """(kind, k, L, directions, D, H, names) with names[l][d] the torch names of
    (weight_ih, weight_hh, bias_ih, bias_hh) of layer l, direction d."""
    if isinstance(module, nn.RNNBase):
        kind = module.mode
        if kind not in _BLOCKS:
            raise ValueError(f"unknown recurrent module mode {kind!r}")
        if getattr(module, "proj_size", 0):
            raise ValueError(f"an LSTM with projections (proj_size = {module.proj_size}) has no "
                             "counterpart in course_lib.lstm")
        L, dirs = module.num_layers, 2 if module.bidirectional else 1
        names = [[tuple(f"{w}_l{l}{'_reverse' if d else ''}"
                        for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
                  for d in range(dirs)] for l in range(L)]
    elif isinstance(module, (nn.RNNCell, nn.LSTMCell, nn.GRUCell)):
        kind = {nn.LSTMCell: "LSTM", nn.GRUCell: "GRU"}.get(type(module), "RNN_TANH")
        L, dirs = 1, 1
        names = [[("weight_ih", "weight_hh", "bias_ih", "bias_hh")]]
    else:
        raise TypeError("module must be a torch.nn.RNN, LSTM or GRU, or an RNNCell, LSTMCell or "
                        f"GRUCell, got {type(module).__name__}")
    if not module.bias:
        raise ValueError(f"{type(module).__name__} was built with bias=False; the NumPy "
                         "references always have biases")
    return kind, _BLOCKS[kind], L, dirs, module.input_size, module.hidden_size, names


def torch_to_numpy(module):
    """The parameters of a torch recurrent layer in the course's NumPy layout, as float64 copies.

        Wx = weight_ih.T   (D_l, kH)        Wh = weight_hh.T   (H, kH)
        b  = bias_ih + bias_hh   (kH,)      RNN (tanh or relu) and LSTM
        bx = bias_ih, bh = bias_hh   (kH,)  GRU

    Args:
        module: torch.nn.RNN, nn.LSTM or nn.GRU (any number of layers, uni- or bidirectional,
            with biases, no LSTM projection), or nn.RNNCell, nn.LSTMCell, nn.GRUCell (one layer,
            one direction).
    Returns:
        params: params[l][d] is a dict for layer l and direction d (0 forward, 1 backward):
            {"Wx", "Wh", "b"} (RNN, LSTM) or {"Wx", "Wh", "bx", "bh"} (GRU) of float64 arrays.
    Raises:
        TypeError for another kind of module; ValueError for one without biases or with proj_size.
    """
    kind, _, _, _, _, _, names = _layout(module)

    def array(name):
        return getattr(module, name).detach().to("cpu", torch.float64).numpy().copy()

    params = []
    for layer in names:
        params.append([])
        for w_ih, w_hh, b_ih, b_hh in layer:
            p = {"Wx": array(w_ih).T, "Wh": array(w_hh).T}                     # (D_l, kH), (H, kH)
            if kind == "GRU":
                p["bx"], p["bh"] = array(b_ih), array(b_hh)
            else:
                p["b"] = array(b_ih) + array(b_hh)                              # (kH,)
            params[-1].append(p)
    return params


def numpy_to_torch(params, module):
    """Copy NumPy parameters into a torch recurrent layer (in place): the inverse of
    torch_to_numpy.

        weight_ih = Wx.T,   weight_hh = Wh.T
        bias_ih = b,   bias_hh = 0          RNN, LSTM (only the sum enters, so this is exact)
        bias_ih = bx,  bias_hh = bh         GRU

    Args:
        params: params[l][d] a dict per layer l and direction d, as torch_to_numpy returns:
            Wx (D_l, kH), Wh (H, kH) and b (kH,), or bx (kH,), bh (kH,) for a GRU.
        module: the torch module (see torch_to_numpy), whose sizes the arrays must fit.
    Raises:
        TypeError/ValueError: a wrong module, a wrong nesting (number of layers or directions),
        wrong keys, or an array of the wrong shape, e.g.
        "params[1][0]['Wx'] must have shape (D, 4H) = (8, 16), got (16, 8)".
    """
    kind, k, L, dirs, D, H, names = _layout(module)
    keys = ["Wx", "Wh", "bx", "bh"] if kind == "GRU" else ["Wx", "Wh", "b"]
    if not isinstance(params, (list, tuple)) or len(params) != L:
        got = f"{len(params)} entries" if isinstance(params, (list, tuple)) else type(params).__name__
        raise ValueError(f"params must be a list of {L} layers (params[layer][direction]) for this "
                         f"{type(module).__name__}, got {got}")
    kH = f"{k}H" if k > 1 else "H"
    checked = []
    for l, layer in enumerate(params):
        if not isinstance(layer, (list, tuple)) or len(layer) != dirs:
            got = f"{len(layer)} entries" if isinstance(layer, (list, tuple)) else type(layer).__name__
            raise ValueError(f"params[{l}] must be a list of {dirs} direction(s), got {got}")
        for d, p in enumerate(layer):
            if not isinstance(p, dict) or sorted(p) != sorted(keys):
                got = sorted(p) if isinstance(p, dict) else type(p).__name__
                raise ValueError(f"params[{l}][{d}] must be a dict with keys {keys}, got {got}")
            dims = {"D": D if l == 0 else H * dirs, "H": H}
            spec = {"Wx": ("D", kH), "Wh": ("H", kH)}
            checked.append({name: check_shape(f"params[{l}][{d}][{name!r}]", p[name],
                                              spec.get(name, (kH,)), dims) for name in keys})
    for p, (w_ih, w_hh, b_ih, b_hh) in zip(checked, (n for layer in names for n in layer)):
        _put(module, w_ih, p["Wx"].T)                                           # (kH, D_l)
        _put(module, w_hh, p["Wh"].T)                                           # (kH, H)
        _put(module, b_ih, p["bx"] if kind == "GRU" else p["b"])
        _put(module, b_hh, p["bh"] if kind == "GRU" else np.zeros_like(p["b"]))


@torch.no_grad()
def _put(module, name, value):
    """Copy a NumPy array into the parameter `name` of module, in the parameter's dtype."""
    target = getattr(module, name)
    target.copy_(torch.as_tensor(np.ascontiguousarray(value), dtype=target.dtype))


# ----------------------------------------------------------------------------- small helpers

def smooth(curve, window):
    """Moving average of a loss curve over `window` consecutive steps ("valid" part only).

        s_k = (curve_k + ... + curve_{k + window - 1}) / window,   k = 0, ..., len - window

    Args:
        curve: (n,) values, e.g. History.loss.
        window: positive int <= n.
    Returns:
        (n - window + 1,) float64; entry k belongs to step k + window - 1, the window's last.
    """
    curve = np.asarray(curve, dtype=np.float64)
    if curve.ndim != 1:
        raise ValueError(f"curve must be one-dimensional, (n,), got shape {curve.shape}")
    if not is_int(window) or not 1 <= window <= len(curve):
        raise ValueError(f"window must be an int in [1, len(curve)] = [1, {len(curve)}], got {window!r}")
    return np.convolve(curve, np.ones(window) / window, mode="valid")


def count_parameters(module):
    """The number of trainable parameters (entries of tensors with requires_grad) of a module."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
