"""Activation functions with the names, signatures and semantics of ``jax.nn``.

Every function is built from ``fborn.lax``/``fborn.numpy`` operations, so it traces, jits,
vmaps and differentiates. Piecewise functions take the derivative JAX takes at their kinks
(``relu'(0) = 0``, ``relu6'(6) = 0``, ``leaky_relu'(0) = 1``); the exponential ones are
written so that large ``|x|`` (1e4 and beyond) gives finite values and finite gradients.
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

import fborn.numpy as fnp
from fborn import lax
from fborn.core import dtypes
from fborn.core.array import Array
from fborn.core.errors import FbornShapeError
from fborn.core.trace import concrete_value
from fborn.numpy import _util
from fborn.numpy._ufuncs import check_arraylike
from fborn.numpy._util import ArrayLike
from fborn.scipy.special import logsumexp

__all__ = [
    "celu", "elu", "gelu", "glu", "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh",
    "leaky_relu", "log_sigmoid", "log_softmax", "logsumexp", "mish", "one_hot", "relu", "relu6",
    "selu", "sigmoid", "silu", "soft_sign", "softmax", "softplus", "standardize", "swish", "tanh",
]

Axis = int | Sequence[int] | None


def _array(name: str, x: ArrayLike) -> Array:
    """``x`` as an Array; lists and other non-array arguments raise TypeError (as jax.nn)."""
    check_arraylike(name, x)
    return _util.asarray(x)


def _inexact(name: str, x: ArrayLike) -> Array:
    """``x`` as a float Array: bools and integers become the default float dtype."""
    check_arraylike(name, x)
    (x,) = _util.promote_dtypes_inexact(x)
    return x


# --- piecewise linear ----------------------------------------------------------------------------


def relu(x: ArrayLike) -> Array:
    """``max(x, 0)`` elementwise, with derivative 0 at ``x = 0`` (as JAX). Integer inputs stay
    integers; NaN propagates."""
    x = _array("relu", x)
    return fnp.where(x <= 0, 0, x)


def relu6(x: ArrayLike) -> Array:
    """``min(max(x, 0), 6)`` elementwise, with derivative 0 at 0 and at 6 (as JAX). Integer
    inputs give the default float dtype (the bound 6.0 is a float, as in JAX)."""
    x = _array("relu6", x)
    return fnp.where(x <= 0, 0, fnp.where(x >= 6, 6.0, x))


def leaky_relu(x: ArrayLike, negative_slope: ArrayLike = 0.01) -> Array:
    """``x`` for ``x >= 0``, ``negative_slope * x`` below (derivative 1 at 0)."""
    x = _array("leaky_relu", x)
    return fnp.where(x >= 0, x, negative_slope * x)


def hard_tanh(x: ArrayLike) -> Array:
    """``x`` clipped to ``[-1, 1]`` (integer inputs stay integers)."""
    x = _array("hard_tanh", x)
    return fnp.where(x > 1, 1, fnp.where(x < -1, -1, x))


def hard_sigmoid(x: ArrayLike) -> Array:
    """``relu6(x + 3) / 6``: a piecewise linear sigmoid."""
    return relu6(_array("hard_sigmoid", x) + 3.0) / 6.0


def hard_silu(x: ArrayLike) -> Array:
    """``x * hard_sigmoid(x)`` (``hard_swish`` is the same function)."""
    x = _array("hard_silu", x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


# --- exponential family --------------------------------------------------------------------------


def sigmoid(x: ArrayLike) -> Array:
    """The logistic function ``1 / (1 + exp(-x))``; integer inputs raise FbornDtypeError (as
    JAX's ``lax.logistic``)."""
    return lax.logistic(_array("sigmoid", x))


def tanh(x: ArrayLike) -> Array:
    """The hyperbolic tangent (integers give the default float dtype)."""
    return fnp.tanh(_array("tanh", x))


def softplus(x: ArrayLike) -> Array:
    """``log(1 + exp(x))``, computed as ``max(x, 0) + log1p(exp(-|x|))`` so it neither
    overflows nor loses small values; the derivative is ``sigmoid(x)`` (0.5 at 0)."""
    x = _inexact("softplus", x)
    return lax.add(lax.max(x, 0.0), lax.log1p(lax.exp(lax.neg(lax.abs(x)))))


def log_sigmoid(x: ArrayLike) -> Array:
    """``log(sigmoid(x)) = -softplus(-x)``, finite for any finite ``x``."""
    return lax.neg(softplus(lax.neg(_inexact("log_sigmoid", x))))


def silu(x: ArrayLike) -> Array:
    """``x * sigmoid(x)`` (``swish`` is the same function); integer inputs raise
    FbornDtypeError (as JAX)."""
    x = _array("silu", x)
    return x * sigmoid(x)


swish = silu


def mish(x: ArrayLike) -> Array:
    """``x * tanh(softplus(x))``."""
    x = _inexact("mish", x)
    return x * fnp.tanh(softplus(x))


def soft_sign(x: ArrayLike) -> Array:
    """``x / (|x| + 1)``."""
    x = _array("soft_sign", x)
    return x / (fnp.abs(x) + 1)


def elu(x: ArrayLike, alpha: ArrayLike = 1.0) -> Array:
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise (the exponential only sees
    non-positive values, so large ``x`` cannot overflow it)."""
    x = _array("elu", x)
    positive = x > 0
    return fnp.where(positive, x, alpha * fnp.expm1(fnp.where(positive, 0.0, x)))


def celu(x: ArrayLike, alpha: ArrayLike = 1.0) -> Array:
    """``max(x, 0) + alpha * expm1(min(x, 0) / alpha)``: a continuously differentiable ELU."""
    x = _array("celu", x)
    return fnp.maximum(x, 0.0) + alpha * fnp.expm1(fnp.minimum(x, 0.0) / alpha)


_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def selu(x: ArrayLike) -> Array:
    """The scaled ELU ``scale * elu(x, alpha)`` with the self-normalizing constants."""
    return _SELU_SCALE * elu(_array("selu", x), _SELU_ALPHA)


def gelu(x: ArrayLike, approximate: bool = True) -> Array:
    """The Gaussian error linear unit ``x * Phi(x)``.

    ``approximate=True`` uses ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``;
    ``approximate=False`` is exact, ``0.5 x erfc(-x / sqrt(2))`` (erfc keeps the tail accurate
    for negative ``x``). Integer inputs give the default float dtype.
    """
    x = _inexact("gelu", x)
    if approximate:
        inner = math.sqrt(2 / math.pi) * (x + 0.044715 * lax.integer_pow(x, 3))
        return x * (0.5 * (1.0 + lax.tanh(inner)))
    return 0.5 * x * lax.erfc(x * -math.sqrt(0.5))


def glu(x: ArrayLike, axis: int = -1) -> Array:
    """The gated linear unit: ``x`` split in two halves ``a, b`` along ``axis`` gives
    ``a * sigmoid(b)``. An odd size along ``axis`` raises FbornShapeError."""
    x = _array("glu", x)
    axis = _util.canonicalize_axis(axis, x.ndim)
    size = x.shape[axis]
    if size % 2:
        raise FbornShapeError(f"glu: the size of axis {axis} must be even to split it in two "
                              f"halves, got {size} (shape {x.shape})")
    half = size // 2
    a = lax.slice_in_dim(x, 0, half, axis=axis)
    b = lax.slice_in_dim(x, half, size, axis=axis)
    return a * sigmoid(b)


# --- normalizers ---------------------------------------------------------------------------------


def _masked(x: Array, where: ArrayLike | None, fill: float) -> Array:
    return x if where is None else fnp.where(where, x, fill)


def _max(x: Array, axes: tuple[int, ...], where: ArrayLike | None) -> Array:
    """The maximum over ``axes`` (of the ``where`` elements; -inf if none), kept as size-1
    axes. Taken of ``stop_gradient(x)``: the shift cancels in every result, so differentiating
    it would only add work."""
    x = lax.stop_gradient(x)
    empty = any(x.shape[a] == 0 for a in axes)
    initial = -np.inf if where is not None or empty else None
    return fnp.max(x, axes, where=where, initial=initial, keepdims=True)


def softmax(x: ArrayLike, axis: Axis = -1, where: ArrayLike | None = None) -> Array:
    """``exp(x) / sum(exp(x), axis)``, the (stop_gradient'd) maximum subtracted first so large
    inputs do not overflow. ``axis`` may be a tuple or None (all axes). ``where`` (a bool mask
    broadcasting against ``x``) leaves elements out: their output is 0."""
    x = _inexact("softmax", x)
    axes = _util.canonicalize_axes(axis, x.ndim)
    unnormalized = fnp.exp(_masked(x, where, -np.inf) - _max(x, axes, where))
    result = unnormalized / fnp.sum(unnormalized, axes, where=where, keepdims=True)
    return _masked(result, where, 0.0)


def log_softmax(x: ArrayLike, axis: Axis = -1, where: ArrayLike | None = None) -> Array:
    """``x - logsumexp(x, axis, keepdims=True)`` with the maximum subtracted first (finite for
    logits of 1e4). ``where`` leaves elements out: their output is ``-inf``."""
    x = _inexact("log_softmax", x)
    axes = _util.canonicalize_axes(axis, x.ndim)
    shifted = _masked(x, where, -np.inf) - _max(x, axes, where)
    log_total = fnp.log(fnp.sum(fnp.exp(shifted), axes, where=where, keepdims=True))
    return _masked(shifted - log_total, where, -np.inf)


def standardize(x: ArrayLike, axis: Axis = -1, mean: ArrayLike | None = None,
                variance: ArrayLike | None = None, epsilon: ArrayLike = 1e-5,
                where: ArrayLike | None = None, *, algorithm: str = "fast") -> Array:
    """``(x - mean) / sqrt(variance + epsilon)`` over ``axis``.

    ``mean`` and ``variance`` default to the (``where``-masked) statistics of ``x`` with the
    reduced axes kept. ``algorithm="fast"`` takes ``mean(x^2) - mean(x)^2`` (clipped at 0),
    ``"stable"`` the two-pass ``mean((x - mean)^2)``; anything else raises ValueError.
    """
    x = _array("standardize", x)
    if algorithm not in ("fast", "stable"):
        raise ValueError(f"standardize: unknown algorithm {algorithm!r}; expected 'fast' or "
                         f"'stable'")
    axes = _util.canonicalize_axes(axis, x.ndim)
    if mean is None:
        mean = fnp.mean(x, axes, keepdims=True, where=where)
    if variance is None:
        if algorithm == "stable":
            variance = fnp.mean(fnp.square(x - mean), axes, keepdims=True, where=where)
        else:
            mean_sq = fnp.mean(fnp.square(x), axes, keepdims=True, where=where)
            variance = fnp.maximum(mean_sq - fnp.square(mean), 0)
    return (x - mean) * lax.rsqrt(_util.asarray(variance + epsilon))


# --- one_hot -------------------------------------------------------------------------------------


def _num_classes(num_classes: Any) -> int:
    value = concrete_value(num_classes, "one_hot's num_classes") \
        if isinstance(num_classes, Array) else num_classes
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"one_hot: num_classes must be an integer, got {num_classes!r}") from None
    if n < 0:
        raise ValueError(f"one_hot: num_classes must be non-negative, got {n}")
    return n


def _label_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype labels are compared in: bools and integers narrower than 32 bits widen to
    int32, so that a uint8 label is never compared with a wrapped-around class index."""
    if dtype == dtypes.bool_ or (dtypes.is_int(dtype) and dtype.itemsize < 4):
        return dtypes.canonicalize(np.int32)
    return dtype


def one_hot(x: ArrayLike, num_classes: int, *, dtype: Any = None, axis: int = -1) -> Array:
    """The one-hot encoding of the integer labels ``x``: a new axis of size ``num_classes``
    at ``axis`` holds 1 at the label's position and 0 elsewhere. Labels outside
    ``[0, num_classes)`` (negative ones included) encode as all zeros.

    ``dtype`` defaults to the default float dtype. ``num_classes`` must be a concrete
    non-negative integer (ConcretizationError / TypeError / ValueError otherwise). Float labels
    are compared exactly and raise a DeprecationWarning, as in JAX.
    """
    n = _num_classes(num_classes)
    labels = _array("one_hot", x)
    if dtypes.is_float(labels.dtype):
        warnings.warn(f"one_hot: labels should be integers; got dtype {labels.dtype}",
                      DeprecationWarning, stacklevel=2)
    out_dtype = dtypes.default_float() if dtype is None else dtypes.canonicalize(dtype)
    position = _util.canonicalize_axis(axis, labels.ndim + 1)
    count_dtype = _label_dtype(labels.dtype)
    labels = _util.convert(labels, count_dtype, weak=False)
    shape = [*labels.shape]
    shape.insert(position, n)
    lhs = lax.broadcast_in_dim(labels, tuple(shape),
                               tuple(i for i in range(len(shape)) if i != position))
    classes = lax.broadcasted_iota(count_dtype, shape, position)
    return lax.convert_element_type(lax.eq(lhs, classes), out_dtype)

