"""Ready-made optimizers (optax names, signatures and defaults), each a :func:`chain` of
transformations ending in the learning-rate scaling.

``learning_rate`` is a float (or scalar Array) or a schedule ``count -> value`` called with the
number of earlier updates.
"""

from __future__ import annotations

from typing import Any

from fborn.optim._base import GradientTransformation, ScalarOrSchedule, chain, identity
from fborn.optim._transforms import (
    MaskOrFn,
    add_decayed_weights,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_rms,
    scale_by_rss,
    scale_by_stddev,
    trace,
)

__all__ = ["adagrad", "adam", "adamw", "rmsprop", "sgd"]


def sgd(learning_rate: ScalarOrSchedule, momentum: float | None = None, nesterov: bool = False,
        accumulator_dtype: Any = None) -> GradientTransformation:
    """Stochastic gradient descent: ``p -= lr * g``, with heavy-ball momentum
    (``t = g + momentum * t``, step along ``t``; see :func:`trace`) when ``momentum`` is given,
    Nesterov's variant when ``nesterov=True``."""
    momentum_stage = (trace(decay=momentum, nesterov=nesterov,
                            accumulator_dtype=accumulator_dtype)
                      if momentum is not None else identity())
    return chain(momentum_stage, scale_by_learning_rate(learning_rate))


def adam(learning_rate: ScalarOrSchedule, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
         eps_root: float = 0.0, mu_dtype: Any = None, *,
         nesterov: bool = False) -> GradientTransformation:
    """Adam: ``p -= lr * m_hat / (sqrt(v_hat + eps_root) + eps)`` (see :func:`scale_by_adam`)."""
    return chain(scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype,
                               nesterov=nesterov),
                 scale_by_learning_rate(learning_rate))


def adamw(learning_rate: ScalarOrSchedule, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          eps_root: float = 0.0, mu_dtype: Any = None, weight_decay: float = 1e-4,
          mask: MaskOrFn | None = None, *, nesterov: bool = False) -> GradientTransformation:
    """Adam with decoupled weight decay (Loshchilov & Hutter):
    ``p -= lr * (m_hat / (sqrt(v_hat + eps_root) + eps) + weight_decay * p)``.

    ``update`` needs ``params`` (ValueError without them). ``mask`` limits the decay to some
    leaves (a pytree of bools or a function of the params; see :func:`masked`)."""
    return chain(scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype,
                               nesterov=nesterov),
                 add_decayed_weights(weight_decay, mask),
                 scale_by_learning_rate(learning_rate))


def rmsprop(learning_rate: ScalarOrSchedule, decay: float = 0.9, eps: float = 1e-8,
            initial_scale: float = 0.0, eps_in_sqrt: bool = True, centered: bool = False,
            momentum: float | None = None, nesterov: bool = False,
            bias_correction: bool = False) -> GradientTransformation:
    """RMSProp: ``p -= lr * g / sqrt(v + eps)`` (see :func:`scale_by_rms`); ``centered=True``
    divides by the running standard deviation instead (:func:`scale_by_stddev`); ``momentum``
    adds a :func:`trace` after the learning-rate scaling."""
    scaler = scale_by_stddev if centered else scale_by_rms
    return chain(scaler(decay=decay, eps=eps, initial_scale=initial_scale,
                        eps_in_sqrt=eps_in_sqrt, bias_correction=bias_correction),
                 scale_by_learning_rate(learning_rate),
                 trace(decay=momentum, nesterov=nesterov) if momentum is not None else identity())


def adagrad(learning_rate: ScalarOrSchedule, initial_accumulator_value: float = 0.1,
            eps: float = 1e-7) -> GradientTransformation:
    """Adagrad: ``p -= lr * g / sqrt(s + eps)`` with ``s`` the sum of all squared gradients so
    far, started at ``initial_accumulator_value`` (see :func:`scale_by_rss`)."""
    return chain(scale_by_rss(initial_accumulator_value=initial_accumulator_value, eps=eps),
                 scale_by_learning_rate(learning_rate))
