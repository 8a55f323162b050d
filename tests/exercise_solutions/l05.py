"""Reference solutions and typical wrong answers for the exercises of lecture 05."""

import numpy as np

# ----------------------------------------------------------------------------- exercise 1

def irnn_init(D, H, rng, input_std=1e-3):
    return input_std * rng.standard_normal((D, H)), np.eye(H), np.zeros(H)


def irnn_init_unscaled_inputs(D, H, rng, input_std=1e-3):
    return rng.standard_normal((D, H)), np.eye(H), np.zeros(H)        # Wx ~ N(0, 1)


def irnn_init_orthogonal(D, H, rng, input_std=1e-3):
    Q, _ = np.linalg.qr(rng.standard_normal((H, H)))                   # orthogonal, but not I
    return input_std * rng.standard_normal((D, H)), Q, np.zeros(H)


def irnn_init_global_seed(D, H, rng, input_std=1e-3):
    return input_std * np.random.standard_normal((D, H)), np.eye(H), np.zeros(H)   # noqa: NPY002 (the mistake)


# ----------------------------------------------------------------------------- exercise 2

def _global_norm(grads, norm_type):
    if norm_type == float("inf"):
        return max(float(np.max(np.abs(g))) for g in grads)
    return float(sum(np.sum(np.abs(g) ** norm_type) for g in grads) ** (1 / norm_type))


def clip_grad_norm(grads, max_norm, norm_type=2.0):
    total = _global_norm(grads, norm_type)
    scale = max_norm / total if total > max_norm else 1.0
    return [g * scale for g in grads], total


def clip_grad_norm_per_array(grads, max_norm, norm_type=2.0):
    clipped = [clip_grad_norm([g], max_norm, norm_type)[0][0] for g in grads]
    return clipped, _global_norm(grads, norm_type)


def clip_grad_norm_by_value(grads, max_norm, norm_type=2.0):
    return [np.clip(g, -max_norm, max_norm) for g in grads], _global_norm(grads, norm_type)


def clip_grad_norm_always_rescaled(grads, max_norm, norm_type=2.0):
    total = _global_norm(grads, norm_type)
    return [g * max_norm / total for g in grads], total


EXERCISES = {
    1: {"solution": irnn_init,
        "wrong": [irnn_init_unscaled_inputs, irnn_init_orthogonal, irnn_init_global_seed]},
    2: {"solution": clip_grad_norm,
        "wrong": [clip_grad_norm_per_array, clip_grad_norm_by_value, clip_grad_norm_always_rescaled]},
}
