"""Checks shared by the tests of the recurrent layers (rnn, gru, lstm)."""

import numpy as np


def assert_float64_and_inputs_untouched(forward, backward, inputs, dh_shape, **forward_kwargs):
    """Given float32 inputs, the sequence forward and its backward compute in float64, and
    neither writes into the inputs."""
    inputs = [np.asarray(a).astype(np.float32) for a in inputs]
    before = [a.copy() for a in inputs]
    h, cache = forward(*inputs, **forward_kwargs)
    assert h.dtype == np.float64
    assert all(g.dtype == np.float64 for g in backward(np.ones(dh_shape), cache))
    for a, a0 in zip(inputs, before, strict=True):
        np.testing.assert_array_equal(a, a0)


def assert_one_step_sequence_is_the_step(forward, step_forward, backward, step_backward, inputs, dh,
                                         **kwargs):
    """A sequence of length 1 is exactly one step, forward and backward (bit for bit): the
    sequence backward adds the step gradients over time and adds nothing else."""
    x, h0, *params = inputs
    assert x.shape[1] == 1 and dh.shape[1] == 1
    h, cache = forward(x, h0, *params, **kwargs)
    h1, step_cache = step_forward(x[:, 0], h0, *params, **kwargs)
    np.testing.assert_array_equal(h[:, 0], h1)
    dx, *rest = backward(dh, cache)
    dx1, *rest1 = step_backward(dh[:, 0], step_cache)
    np.testing.assert_array_equal(dx[:, 0], dx1)
    for a, a1 in zip(rest, rest1, strict=True):
        np.testing.assert_array_equal(a, a1)


def torch_grads(module):
    """The gradients of a torch RNN/LSTM/GRU (or Cell) in the NumPy layout of
    course_lib.training.torch_to_numpy: params[layer][direction] -> {"dWx", "dWh", "db"} or
    {"dWx", "dWh", "dbx", "dbh"}.

    A copy of the module gets the gradients as its parameters and torch_to_numpy maps them. In
    an RNN or LSTM the two biases enter only through b = bias_ih + bias_hh, so both receive
    dL/db: this is checked, and the copy keeps it once (bias_hh set to 0) so that the mapped
    sum is dL/db itself."""
    import copy

    import torch

    from course_lib.training import torch_to_numpy

    twin = copy.deepcopy(module)
    with torch.no_grad():
        for (name, p), (_, p_grad) in zip(twin.named_parameters(), module.named_parameters(), strict=True):
            p.copy_(p_grad.grad)
            if not isinstance(module, (torch.nn.GRU, torch.nn.GRUCell)) and name.startswith("bias_hh"):
                np.testing.assert_allclose(p.numpy(), getattr(module, name.replace("_hh", "_ih")).grad.numpy(),
                                           rtol=1e-10, atol=1e-12)
                p.zero_()
    return [[{"d" + k: v for k, v in p.items()} for p in layer] for layer in torch_to_numpy(twin)]
