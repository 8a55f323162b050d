"""Bidirectional and stacked (deep) recurrent layers, built from the sequence functions of
course_lib.rnn, course_lib.lstm and course_lib.gru: forward and backward, in NumPy float64.

Shape legend:
    N  batch            x   (N, T, D)        inputs of the first layer
    T  time steps       h0  (S, N, H)        initial states, S = L * num_directions, row
    D  input size                            l * num_directions + d for layer l, direction d
    H  hidden size      h   (N, T, H)        outputs of a unidirectional layer
    L  layers           h   (N, T, 2H)       outputs of a bidirectional layer, [forward | backward]
    G  gate blocks      Wx  (D_l, G H)       D_0 = D, D_l = num_directions * H for l > 0
                        Wh  (H, G H)         G = 1 (rnn), 4 (lstm, [i|f|g|o]), 3 (gru, [r|z|n])
                        b   (G H,)           rnn and lstm;  gru has bx (3H,) and bh (3H,)

Parameters are nested as params[layer][direction], direction 0 running left to right and
direction 1 (bidirectional layers only) right to left; each entry is a dict with the keys

    "rnn", "lstm":  {"Wx", "Wh", "b"}          "gru":  {"Wx", "Wh", "bx", "bh"}

the format of course_lib.training.torch_to_numpy, which copies a torch.nn.RNN / LSTM / GRU
(any num_layers, bidirectional or not) into it. The gradients come back in the same nesting
and with the same keys: dparams[l][d]["Wx"] is the gradient of params[l][d]["Wx"].

As in torch: every layer has the same hidden size H; the GRU is the reset-after form; the LSTM
starts every direction from a zero cell state (c0 = 0). torch's dropout between layers is not
modelled (it is random; the reference is deterministic).
"""

from collections.abc import Mapping

import numpy as np

from course_lib.gru import gru_backward, gru_forward
from course_lib.lstm import lstm_backward, lstm_forward
from course_lib.rnn import rnn_backward, rnn_forward
from course_lib.validation import check_shape

__all__ = [
    "CELLS",
    "bidirectional_forward",
    "bidirectional_backward",
    "stacked_forward",
    "stacked_backward",
]

# cell -> (gate blocks G, parameter names in the argument order of its sequence functions)
CELLS = {
    "rnn": (1, ("Wx", "Wh", "b")),
    "lstm": (4, ("Wx", "Wh", "b")),
    "gru": (3, ("Wx", "Wh", "bx", "bh")),
}
_SEQUENCE = {
    "rnn": (rnn_forward, rnn_backward),
    "lstm": (lstm_forward, lstm_backward),
    "gru": (gru_forward, gru_backward),
}


# ----------------------------------------------------------------------------- validation

def _check_cell(cell):
    if not isinstance(cell, str) or cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(map(repr, CELLS))}, got {cell!r}")
    return cell


def _param_specs(cell):
    """The symbolic shape of every parameter of one direction, e.g. Wx -> ("D", "4H")."""
    G = CELLS[cell][0]
    gh = f"{G}H" if G > 1 else "H"
    return {"Wx": ("D", gh), "Wh": ("H", gh), "b": (gh,), "bx": (gh,), "bh": (gh,)}


def _check_params(params, cell, D, layer_names=None):
    """Validate params[layer][direction] and return it as lists of float64 arrays.

    D is the input size of the first layer. Every layer's input size follows from the one
    below it (num_directions * H); every layer and direction must share one H. layer_names
    names the layers in messages (default "params[l]").
    Returns (params as [[{name: array}]], H).
    """
    keys = CELLS[cell][1]
    specs = _param_specs(cell)
    if isinstance(params, Mapping) or not isinstance(params, (list, tuple)) or not params:
        raise ValueError("params must be a non-empty list of layers, params[layer][direction] "
                         f"-> dict, got {type(params).__name__}"
                         + (" (a single direction's dict? wrap it as [[params]])"
                            if isinstance(params, Mapping) else ""))
    checked, H, D_l = [], None, D
    for l, layer in enumerate(params):
        layer_name = layer_names[l] if layer_names else f"params[{l}]"
        if isinstance(layer, Mapping) or not isinstance(layer, (list, tuple)) or len(layer) not in (1, 2):
            got = f"{len(layer)} entries" if isinstance(layer, (list, tuple)) else type(layer).__name__
            raise ValueError(f"{layer_name} must be a list of 1 (unidirectional) or 2 "
                             f"(bidirectional) direction dicts, got {got}")
        out_layer = []
        for d, p in enumerate(layer):
            name = f"{layer_name}[{d}]"
            if not isinstance(p, Mapping):
                raise ValueError(f"{name} must be a dict with the keys {list(keys)} "
                                 f"(cell {cell!r}), got {type(p).__name__}")
            missing = [k for k in keys if k not in p]
            extra = [k for k in p if k not in keys]
            if missing or extra:
                raise ValueError(f"{name} must have exactly the keys {list(keys)} for cell "
                                 f"{cell!r}; missing {missing}, unexpected {extra}")
            dims = {"D": D_l} if H is None else {"D": D_l, "H": H}
            arrays = {}
            for k in keys:
                try:
                    arrays[k] = check_shape(f"{name}[{k!r}]", p[k], specs[k], dims)
                except ValueError as err:
                    context = []
                    if k == "Wx" and l > 0:
                        context.append(f"layer {l} reads the {len(params[l - 1])} * H = {D_l} "
                                       f"outputs of layer {l - 1}")
                    elif k == "Wx":
                        context.append(f"layer 0 reads x, D = {D_l}")
                    if H is not None:
                        context.append(f"every layer and direction has the hidden size "
                                       f"H = {H} of the first one")
                    raise ValueError(f"{err} ({'; '.join(context)})" if context else str(err)) from None
            H = dims["H"]
            out_layer.append(arrays)
        checked.append(out_layer)
        D_l = len(layer) * H
    return checked, H


def _check_h0(h0, S, N, H):
    """h0 as torch lays it out, (S, N, H) with S = L * num_directions; None means zeros."""
    if h0 is None:
        return np.zeros((S, N, H))
    arr = np.asarray(h0)
    if arr.shape != (S, N, H):
        raise ValueError(f"h0 must have shape (L * num_directions, N, H) = ({S}, {N}, {H}) or be "
                         f"None for zeros, got {arr.shape}")
    return check_shape("h0", arr, ("S", "N", "H"), {"S": S, "N": N, "H": H})


# ----------------------------------------------------------------------------- one layer

def _layer_forward(x, h0, layer, cell):
    """One layer of 1 or 2 directions on validated inputs; h0: (num_directions, N, H)."""
    forward = _SEQUENCE[cell][0]
    keys = CELLS[cell][1]
    outs, caches = [], []
    for d, p in enumerate(layer):
        x_d = x[:, ::-1] if d == 1 else x                       # direction 1 reads time reversed
        h_d, cache_d = forward(x_d, h0[d], *(p[k] for k in keys))   # (N, T, H)
        outs.append(h_d[:, ::-1] if d == 1 else h_d)            # ... and is put back in order
        caches.append(cache_d)
    h = np.concatenate(outs, axis=2) if len(outs) == 2 else outs[0]   # (N, T, num_directions H)
    return h, (cell, caches, (x.shape[0], x.shape[1], h0.shape[2]))


def _layer_backward(dh, cache):
    """Gradients of _layer_forward: dx (N, T, D_l), dh0 (num_directions, N, H), [dict]."""
    cell, caches, (_, _, H) = cache
    backward = _SEQUENCE[cell][1]
    keys = CELLS[cell][1]
    dx, dh0, dparams = None, [], []
    for d, cache_d in enumerate(caches):
        dh_d = dh[:, :, d * H:(d + 1) * H]                      # (N, T, H) this direction's half
        if d == 1:
            dh_d = dh_d[:, ::-1]                                # into the reversed time of the run
        dx_d, dh0_d, *grads = backward(dh_d, cache_d)
        dx_d = dx_d[:, ::-1] if d == 1 else dx_d                # (N, T, D_l)
        dx = dx_d if dx is None else dx + dx_d                  # both directions read x
        dh0.append(dh0_d)
        dparams.append(dict(zip(keys, grads)))
    return dx, np.stack(dh0), dparams


# ----------------------------------------------------------------------------- public

def bidirectional_forward(x, h0, params, cell):
    """One bidirectional recurrent layer (Schuster and Paliwal 1997).

        hf_{-1} = h0[0],   hf_t = cell(x_t, hf_{t-1}; params[0])     t = 0, ..., T-1
        hb_T    = h0[1],   hb_t = cell(x_t, hb_{t+1}; params[1])     t = T-1, ..., 0
        h_t     = [hf_t | hb_t]                                      (N, 2H)

    The backward direction is the cell's ordinary sequence function run on the time-reversed
    input, x[:, ::-1], with its outputs reversed back, so h_t combines a summary of x_0..x_t
    (forward) with one of x_t..x_{T-1} (backward). cell(.) is one step of rnn_step_forward,
    lstm_step_forward (c starts at 0) or gru_step_forward (reset-after), as torch.

    Args:
        x: (N, T, D) input sequences.
        h0: (2, N, H) initial states of the two directions (torch's layout), or None for 0.
        params: [forward dict, backward dict], the params[layer] of one layer; each dict
            {"Wx" (D, GH), "Wh" (H, GH), "b" (GH,)}, or for "gru" with "bx", "bh" for "b".
        cell: "rnn", "lstm" or "gru".
    Returns:
        h: (N, T, 2H) the outputs [forward | backward], and the cache for
        bidirectional_backward.
    Raises:
        ValueError naming what is wrong, e.g. "params[1]['Wx'] must have shape (D, 4H) =
        (3, 20), got (3, 16)", a cell name that is not known, or an h0 of the wrong shape.
    """
    cell = _check_cell(cell)
    x = check_shape("x", x, ("N", "T", "D"), {})
    if not isinstance(params, (list, tuple)) or len(params) != 2:
        got = f"{len(params)} entries" if isinstance(params, (list, tuple)) else type(params).__name__
        raise ValueError("params must be [forward dict, backward dict] for a bidirectional "
                         f"layer, got {got}")
    (layer,), H = _check_params([params], cell, x.shape[2], layer_names=["params"])
    h0 = _check_h0(h0, 2, x.shape[0], H)
    return _layer_forward(x, h0, layer, cell)


def bidirectional_backward(dh, cache):
    """Backpropagation through bidirectional_forward.

        dhf = dh[:, :, :H],   dhb = dh[:, :, H:]
        dx, dh0[0], dparams[0] = cell backward of the forward run, from dhf
        the backward run sees time reversed, so its gradients run reversed too:
        dxb, dh0[1], dparams[1] = cell backward of the backward run, from dhb[:, ::-1]
        dx += dxb[:, ::-1]                                   both directions read every x_t

    Args:
        dh: (N, T, 2H) gradient of the loss with respect to the outputs h.
        cache: from bidirectional_forward.
    Returns:
        dx: (N, T, D), dh0: (2, N, H), dparams: [dict, dict] with the keys of params.
    """
    N, T, H = cache[2]
    dh = check_shape("dh", dh, ("N", "T", "2H"), {"N": N, "T": T, "H": H})
    return _layer_backward(dh, cache)


def stacked_forward(x, h0, params, cell):
    """L recurrent layers on top of each other, each unidirectional or bidirectional.

        h^(0) = x                                                    (N, T, D)
        h^(l+1) = layer_l(h^(l); h0 rows of layer l, params[l])      (N, T, num_dir_l H)
        h = h^(L)

    A unidirectional layer (params[l] holds one dict) is the cell's sequence function; a
    bidirectional one (two dicts) is bidirectional_forward. Layer l + 1 reads all outputs of
    layer l at the same step, so each step passes through L nonlinear transitions before it
    reaches the output, and a bidirectional layer below lets every later layer see the whole
    sequence. The rows of h0 are ordered as in torch, h0[l * num_directions + d].

    Args:
        x: (N, T, D) input sequences.
        h0: (S, N, H) initial states, S = sum of the layers' num_directions
            (L * num_directions for torch), or None for zeros.
        params: params[layer][direction] -> dict (course_lib.training.torch_to_numpy):
            {"Wx" (D_l, GH), "Wh" (H, GH), "b" (GH,)} or, for "gru", "bx" and "bh" for "b";
            D_0 = D and D_l = num_directions of layer l-1 times H.
        cell: "rnn", "lstm" or "gru", the same for every layer.
    Returns:
        h: (N, T, num_directions H) the outputs of the last layer, and the cache for
        stacked_backward.
    Raises:
        ValueError naming what is wrong, e.g. "params[1][0]['Wx'] must have shape (D, H) =
        (8, 4), got (4, 4) (layer 1 reads the 2 * H = 8 outputs of layer 0; ...)".
    """
    cell = _check_cell(cell)
    x = check_shape("x", x, ("N", "T", "D"), {})
    params, H = _check_params(params, cell, x.shape[2])
    S = sum(len(layer) for layer in params)
    h0 = _check_h0(h0, S, x.shape[0], H)
    caches, row, h = [], 0, x
    for layer in params:
        h, cache_l = _layer_forward(h, h0[row:row + len(layer)], layer, cell)  # (N, T, dirs H)
        caches.append(cache_l)
        row += len(layer)
    return h, caches


def stacked_backward(dh, cache):
    """Backpropagation through stacked_forward, from the top layer down.

        g = dh
        for l = L-1, ..., 0:
            g, dh0[rows of layer l], dparams[l] = layer backward of layer l, from g
        dx = g                                   the gradient reaching the input of layer 0

    Each layer's dx is the upstream gradient of the layer below: the outputs of layer l are
    read by layer l + 1 only.

    Args:
        dh: (N, T, num_directions H) gradient of the loss with respect to the outputs of the
            last layer.
        cache: from stacked_forward.
    Returns:
        dx: (N, T, D), dh0: (S, N, H), dparams: dparams[layer][direction] -> dict with the
        keys of params.
    """
    _, caches_top, (N, T, H) = cache[-1]
    dirs = len(caches_top)
    dh = check_shape("dh", dh, ("N", "T", f"{dirs}H" if dirs > 1 else "H"),
                     {"N": N, "T": T, "H": H})
    dh0, dparams = [], []
    for cache_l in reversed(cache):
        dh, dh0_l, dparams_l = _layer_backward(dh, cache_l)
        dh0.append(dh0_l)
        dparams.append(dparams_l)
    return dh, np.concatenate(dh0[::-1]), dparams[::-1]

