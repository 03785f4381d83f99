"""Normalization layers: ``LayerNorm``, ``RMSNorm`` and ``BatchNorm`` (running statistics kept
in an explicit state)."""
# ruff: noqa: F722 - jaxtyping shape strings

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from fborn import lax
from fborn import numpy as fnp
from fborn.core import dtypes
from fborn.core.array import Array
from fborn.models import _checks
from fborn.models.module import Module, field
from fborn.typing import Float, typecheck

__all__ = ["BatchNorm", "BatchNormState", "LayerNorm", "RMSNorm"]


def _shape(shape: int | Sequence[int], layer: str) -> tuple[int, ...]:
    items = (shape,) if not isinstance(shape, Sequence) else tuple(shape)
    return tuple(_checks.size(d, "shape", layer) for d in items)


def _compute_dtype(dtype: Any) -> Any:
    """Statistics are computed in at least float32 (half-precision inputs are upcast)."""
    return dtypes.promote_types(dtype, dtypes.float32)


def _check_trailing(layer: Module, x: Array, shape: tuple[int, ...]) -> None:
    if x.ndim < len(shape) or tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise _checks.shape_error(
            f"{type(layer).__name__}: the input's trailing axes have shape "
            f"{tuple(x.shape[max(x.ndim - len(shape), 0):])} (input shape {tuple(x.shape)}), "
            f"but the layer normalizes shape={shape}")


def _affine(y: Array, weight: Array | None, bias: Array | None) -> Array:
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


class LayerNorm(Module):
    """Normalize over the trailing axes of shape ``shape``: ``(x - mean) / sqrt(var + eps)``
    (biased variance), then ``* weight + bias`` (ones and zeros of ``shape`` at
    initialization; both None when ``elementwise_affine=False``)."""

    weight: Array | None
    bias: Array | None
    shape: tuple[int, ...] = field(static=True)
    eps: float = field(static=True)
    elementwise_affine: bool = field(static=True)

    def __init__(self, shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, *, dtype: Any = None):
        self.shape = _shape(shape, "LayerNorm")
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        dt = dtype or dtypes.default_float()
        self.weight = fnp.ones(self.shape, dt) if self.elementwise_affine else None
        self.bias = fnp.zeros(self.shape, dt) if self.elementwise_affine else None

    @typecheck
    def __call__(self, x: Float[Array, "*dims"], *, key: Any = None) -> Float[Array, "*dims"]:
        """Normalize ``x`` (shape ``(*batch, *shape)``); ``key`` is ignored. Raises
        TypeCheckError when the trailing axes are not ``shape``."""
        del key
        _check_trailing(self, x, self.shape)
        axes = tuple(range(x.ndim - len(self.shape), x.ndim))
        xf = x.astype(_compute_dtype(x.dtype))
        mean = fnp.mean(xf, axis=axes, keepdims=True)
        centered = xf - mean
        var = fnp.mean(centered * centered, axis=axes, keepdims=True)
        y = (centered * lax.rsqrt(var + self.eps)).astype(x.dtype)
        return _affine(y, self.weight, self.bias)


class RMSNorm(Module):
    """Root-mean-square normalization over the trailing axes of shape ``shape``:
    ``x / sqrt(mean(x**2) + eps) * weight`` (``weight`` ones at initialization, None when
    ``elementwise_affine=False``)."""

    weight: Array | None
    shape: tuple[int, ...] = field(static=True)
    eps: float = field(static=True)
    elementwise_affine: bool = field(static=True)

    def __init__(self, shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, *, dtype: Any = None):
        self.shape = _shape(shape, "RMSNorm")
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.weight = (fnp.ones(self.shape, dtype or dtypes.default_float())
                       if self.elementwise_affine else None)

    @typecheck
    def __call__(self, x: Float[Array, "*dims"], *, key: Any = None) -> Float[Array, "*dims"]:
        """Normalize ``x`` (shape ``(*batch, *shape)``); ``key`` is ignored. Raises
        TypeCheckError when the trailing axes are not ``shape``."""
        del key
        _check_trailing(self, x, self.shape)
        axes = tuple(range(x.ndim - len(self.shape), x.ndim))
        xf = x.astype(_compute_dtype(x.dtype))
        ms = fnp.mean(xf * xf, axis=axes, keepdims=True)
        y = (xf * lax.rsqrt(ms + self.eps)).astype(x.dtype)
        return _affine(y, self.weight, None)


class BatchNormState(NamedTuple):
    """The running statistics of a BatchNorm (a pytree: checkpoint it with the model)."""

    running_mean: Array
    running_var: Array


class BatchNorm(Module):
    """Batch normalization of ``(N, C, *spatial)`` inputs over every axis but the channel
    axis 1, with PyTorch's semantics: in training the batch statistics normalize (biased
    variance) and the running statistics move by ``momentum`` towards them (unbiased
    variance); in inference the running statistics normalize. The statistics are explicit
    state::

        state = bn.init_state()
        y, state = bn(x, state, training=True)

    ``weight``/``bias`` (ones/zeros of ``(C,)``) are None when ``affine=False``.
    """

    weight: Array | None
    bias: Array | None
    num_features: int = field(static=True)
    momentum: float = field(static=True)
    eps: float = field(static=True)
    affine: bool = field(static=True)

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5,
                 affine: bool = True, *, dtype: Any = None):
        self.num_features = _checks.size(num_features, "num_features", "BatchNorm", 1)
        self.momentum = float(momentum)
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"BatchNorm: momentum must be in [0, 1], got {momentum}")
        self.eps = float(eps)
        self.affine = bool(affine)
        dt = dtype or dtypes.default_float()
        self.weight = fnp.ones((self.num_features,), dt) if self.affine else None
        self.bias = fnp.zeros((self.num_features,), dt) if self.affine else None

    def init_state(self) -> BatchNormState:
        """Running mean zeros and running variance ones (float32), as PyTorch starts."""
        return BatchNormState(fnp.zeros((self.num_features,), dtypes.float32),
                              fnp.ones((self.num_features,), dtypes.float32))

    @typecheck
    def __call__(self, x: Float[Array, "batch channels *spatial"], state: BatchNormState, *,
                 training: bool = True
                 ) -> tuple[Float[Array, "batch channels *spatial"], BatchNormState]:
        """Normalize ``x``; returns ``(y, new_state)`` (``state`` itself in inference). Raises
        TypeCheckError for a wrong channel count, ValueError when training on a single value
        per channel."""
        _checks.input_size(self, x, 1, "num_features", self.num_features)
        axes = (0, *range(2, x.ndim))
        xf = x.astype(_compute_dtype(x.dtype))
        if training:
            count = math.prod(x.shape[a] for a in axes)
            if count < 2:
                raise ValueError(f"BatchNorm: training needs more than one value per channel, "
                                 f"got input shape {tuple(x.shape)}")
            mean = fnp.mean(xf, axis=axes)
            var = fnp.mean(fnp.square(xf - _channels(mean, x.ndim)), axis=axes)
            state = self._update(state, mean, var, count)
        else:
            mean, var = state.running_mean.astype(xf.dtype), state.running_var.astype(xf.dtype)
        scale = lax.rsqrt(var + self.eps)
        y = ((xf - _channels(mean, x.ndim)) * _channels(scale, x.ndim)).astype(x.dtype)
        if self.affine:
            y = y * _channels(self.weight, x.ndim) + _channels(self.bias, x.ndim)
        return y, state

    def _update(self, state: BatchNormState, mean: Array, var: Array, count: int
                ) -> BatchNormState:
        m = self.momentum
        mean, var = lax.stop_gradient(mean), lax.stop_gradient(var)
        unbiased = var * (count / (count - 1))
        dt = state.running_mean.dtype
        return BatchNormState(
            ((1 - m) * state.running_mean + m * mean).astype(dt),
            ((1 - m) * state.running_var + m * unbiased).astype(state.running_var.dtype),
        )


def _channels(v: Array, ndim: int) -> Array:
    """A per-channel vector shaped to broadcast against ``(N, C, *spatial)``."""
    return fnp.reshape(v, (v.shape[0],) + (1,) * (ndim - 2))
