"""Parameter initializers (``fborn.nn.initializers``), with the names and semantics of
``jax.nn.initializers``.

An initializer is a function ``init(key, shape, dtype=None) -> Array``; ``dtype=None`` means the
default float dtype (float32, float64 with x64). ``zeros`` and ``ones`` are initializers; the
other names are factories returning one (``glorot_uniform()(key, (784, 128))``). Fans follow
JAX: for a kernel of shape ``shape``, ``fan_in = shape[in_axis] * receptive`` and
``fan_out = shape[out_axis] * receptive`` where ``receptive`` is the product of the remaining
(non-batch) axes. The defaults (``in_axis=-2, out_axis=-1``) fit ``(in, out)`` matrices and
HWIO kernels; fborn's ``Linear`` stores ``(out, in)`` and ``Conv`` OIHW, so pass
``in_axis=-1, out_axis=-2`` (Linear) or ``in_axis=1, out_axis=0`` (Conv) for those.

Every initializer is built from ``fborn.random`` and fborn ops, so it traces under ``jit``.
Deviation: ``orthogonal`` orthonormalizes with (re-orthogonalized) Gram-Schmidt instead of a QR
routine fborn lacks; the distribution (Haar on the orthogonal matrices) is the same, the values
differ from JAX's.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from fborn import lax, random
from fborn import numpy as fnp
from fborn.core import dtypes
from fborn.core.array import Array

__all__ = [
    "Initializer", "constant", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform",
    "kaiming_normal", "kaiming_uniform", "lecun_normal", "lecun_uniform", "normal", "ones",
    "orthogonal", "truncated_normal", "uniform", "variance_scaling", "xavier_normal",
    "xavier_uniform", "zeros",
]

DTypeLike = Any
Shape = Sequence[int]


class Initializer(Protocol):
    """``init(key, shape, dtype=None) -> Array``."""

    def __call__(self, key: Array, shape: Shape, dtype: DTypeLike = None) -> Array: ...


def _shape(shape: Shape | int, name: str) -> tuple[int, ...]:
    try:
        dims = (operator.index(shape),) if not isinstance(shape, Sequence) else tuple(
            operator.index(d) for d in shape)
    except TypeError as e:
        raise TypeError(f"{name}: shape must be a sequence of ints, got {shape!r}") from e
    if any(d < 0 for d in dims):
        raise ValueError(f"{name}: shape {dims} has a negative dimension")
    return dims


def _float_dtype(dtype: DTypeLike, default: DTypeLike, name: str) -> np.dtype:
    chosen = default if dtype is None else dtype
    dt = dtypes.default_float() if chosen is None else dtypes.canonicalize(chosen)
    if not dtypes.is_float(dt):
        raise ValueError(f"{name}: the dtype must be a float dtype, got {dt}")
    return dt


def zeros(key: Array, shape: Shape, dtype: DTypeLike = None) -> Array:
    """An array of zeros (``key`` is unused)."""
    del key
    return fnp.zeros(_shape(shape, "zeros"), _float_dtype(dtype, None, "zeros"))


def ones(key: Array, shape: Shape, dtype: DTypeLike = None) -> Array:
    """An array of ones (``key`` is unused)."""
    del key
    return fnp.ones(_shape(shape, "ones"), _float_dtype(dtype, None, "ones"))


def constant(value: Any, dtype: DTypeLike = None) -> Initializer:
    """An initializer filling arrays with ``value`` (a scalar, or an array broadcast to the
    shape)."""

    def init(key: Array, shape: Shape, dtype: DTypeLike = dtype) -> Array:
        del key
        dt = _float_dtype(dtype, None, "constant")
        return fnp.broadcast_to(fnp.asarray(value, dt), _shape(shape, "constant"))

    return init


def normal(stddev: float = 1e-2, dtype: DTypeLike = None) -> Initializer:
    """Normal samples with mean 0 and standard deviation ``stddev``."""

    def init(key: Array, shape: Shape, dtype: DTypeLike = dtype) -> Array:
        dt = _float_dtype(dtype, None, "normal")
        return random.normal(key, _shape(shape, "normal"), dt) * fnp.asarray(stddev, dt)

    return init


def uniform(scale: float = 1e-2, dtype: DTypeLike = None) -> Initializer:
    """Uniform samples in ``[0, scale)`` (as JAX: not centred)."""

    def init(key: Array, shape: Shape, dtype: DTypeLike = dtype) -> Array:
        dt = _float_dtype(dtype, None, "uniform")
        return random.uniform(key, _shape(shape, "uniform"), dt) * fnp.asarray(scale, dt)

    return init


def truncated_normal(stddev: float = 1e-2, dtype: DTypeLike = None, lower: float = -2.0,
                     upper: float = 2.0) -> Initializer:
    """Normal samples truncated to ``[lower, upper]``, then scaled by ``stddev`` (the standard
    deviation of the result is smaller than ``stddev``, as in JAX)."""

    def init(key: Array, shape: Shape, dtype: DTypeLike = dtype) -> Array:
        dt = _float_dtype(dtype, None, "truncated_normal")
        samples = random.truncated_normal(key, lower, upper, _shape(shape, "truncated_normal"),
                                          dt)
        return samples * fnp.asarray(stddev, dt)

    return init


def _axes(axes: int | Sequence[int], ndim: int, what: str) -> tuple[int, ...]:
    items = (axes,) if isinstance(axes, int) else tuple(axes)
    out = []
    for a in items:
        if not -ndim <= a < ndim:
            raise ValueError(f"variance_scaling: {what} {a} is out of range for a shape of "
                             f"rank {ndim} (fans need a kernel of rank >= 2)")
        out.append(a % ndim)
    return tuple(out)


def _compute_fans(shape: tuple[int, ...], in_axis: int | Sequence[int] = -2,
                 out_axis: int | Sequence[int] = -1,
                 batch_axis: int | Sequence[int] = ()) -> tuple[float, float]:
    """``(fan_in, fan_out)`` of a kernel ``shape`` (see the module docstring)."""
    ndim = len(shape)
    ins = _axes(in_axis, ndim, "in_axis")
    outs = _axes(out_axis, ndim, "out_axis")
    batch = _axes(batch_axis, ndim, "batch_axis")
    in_size = math.prod(shape[a] for a in ins)
    out_size = math.prod(shape[a] for a in outs)
    receptive = math.prod(shape) / max(in_size * out_size * math.prod(shape[a] for a in batch),
                                       1)
    return in_size * receptive, out_size * receptive


_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
_DISTRIBUTIONS = ("truncated_normal", "normal", "uniform")
# The standard deviation of a standard normal truncated to (-2, 2).
_TRUNCATED_STD = 0.87962566103423978


def variance_scaling(scale: float, mode: str, distribution: str,
                     in_axis: int | Sequence[int] = -2, out_axis: int | Sequence[int] = -1,
                     batch_axis: int | Sequence[int] = (), dtype: DTypeLike = None
                     ) -> Initializer:
    """Samples with variance ``scale / n`` where ``n`` is ``fan_in``, ``fan_out``, their mean
    (``fan_avg``) or geometric mean (``fan_geo_avg``) per ``mode``; ``distribution`` is
    ``'truncated_normal'`` (within 2 standard deviations, rescaled to the target variance),
    ``'normal'`` or ``'uniform'``. Raises ValueError for an unknown mode or distribution."""
    if mode not in _MODES:
        raise ValueError(f"variance_scaling: invalid mode {mode!r}; expected one of {_MODES}")
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"variance_scaling: invalid distribution {distribution!r}; expected "
                         f"one of {_DISTRIBUTIONS}")

    def init(key: Array, shape: Shape, dtype: DTypeLike = dtype) -> Array:
        dims = _shape(shape, "variance_scaling")
        dt = _float_dtype(dtype, None, "variance_scaling")
        fan_in, fan_out = _compute_fans(dims, in_axis, out_axis, batch_axis)
        denominator = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2,
                       "fan_geo_avg": math.sqrt(fan_in * fan_out)}[mode]
        variance = scale / max(denominator, 1.0)
        if distribution == "truncated_normal":
            samples = random.truncated_normal(key, -2.0, 2.0, dims, dt)
            std = math.sqrt(variance) / _TRUNCATED_STD
        elif distribution == "normal":
            samples = random.normal(key, dims, dt)
            std = math.sqrt(variance)
        else:
            samples = random.uniform(key, dims, dt, -1.0, 1.0)
            std = math.sqrt(3.0 * variance)
        return samples * fnp.asarray(std, dt)

    return init


def _scaled(scale: float, mode: str, distribution: str, doc: str) -> Callable[..., Initializer]:
    def factory(in_axis: int | Sequence[int] = -2, out_axis: int | Sequence[int] = -1,
                batch_axis: int | Sequence[int] = (), dtype: DTypeLike = None) -> Initializer:
        return variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis, dtype)

    factory.__doc__ = doc
    return factory


glorot_uniform = _scaled(1.0, "fan_avg", "uniform",
                         "Glorot/Xavier uniform: variance 2 / (fan_in + fan_out).")
glorot_normal = _scaled(1.0, "fan_avg", "truncated_normal",
                        "Glorot/Xavier truncated normal: variance 2 / (fan_in + fan_out).")
lecun_uniform = _scaled(1.0, "fan_in", "uniform", "LeCun uniform: variance 1 / fan_in.")
lecun_normal = _scaled(1.0, "fan_in", "truncated_normal",
                       "LeCun truncated normal: variance 1 / fan_in.")
he_uniform = _scaled(2.0, "fan_in", "uniform", "He/Kaiming uniform: variance 2 / fan_in.")
he_normal = _scaled(2.0, "fan_in", "truncated_normal",
                    "He/Kaiming truncated normal: variance 2 / fan_in.")
for _f, _name in ((glorot_uniform, "glorot_uniform"), (glorot_normal, "glorot_normal"),
                  (lecun_uniform, "lecun_uniform"), (lecun_normal, "lecun_normal"),
                  (he_uniform, "he_uniform"), (he_normal, "he_normal")):
    _f.__name__ = _f.__qualname__ = _name
xavier_uniform = glorot_uniform
xavier_normal = glorot_normal
kaiming_uniform = he_uniform
kaiming_normal = he_normal


def orthogonal(scale: float = 1.0, column_axis: int = -1, dtype: DTypeLike = None
               ) -> Initializer:
    """Uniformly random orthogonal matrices times ``scale``: reshaped to (rows, columns) with
    ``columns = shape[column_axis]``, the columns are orthonormal when rows >= columns, else the
    rows are. Raises ValueError for shapes of rank < 2."""

    def init(key: Array, shape: Shape, dtype: DTypeLike = dtype) -> Array:
        dims = _shape(shape, "orthogonal")
        dt = _float_dtype(dtype, None, "orthogonal")
        if len(dims) < 2:
            raise ValueError(f"orthogonal: the shape must have rank >= 2, got {dims}")
        axis = column_axis % len(dims)
        n_cols = dims[axis]
        n_rows = math.prod(dims) // n_cols if n_cols else 0
        tall = (max(n_rows, n_cols), min(n_rows, n_cols))
        work = dtypes.float64 if dt == dtypes.float64 else dtypes.float32
        q = _orthonormal_columns(random.normal(key, tall, work))
        if n_rows < n_cols:
            q = q.T
        rest = dims[:axis] + dims[axis + 1:]
        q = fnp.moveaxis(fnp.reshape(q, (*rest, n_cols)), -1, axis)
        return (q * fnp.asarray(scale, work)).astype(dt)

    return init


def _orthonormal_columns(a: Array) -> Array:
    """Gram-Schmidt with one re-orthogonalization of the columns of a tall matrix ``a``: the Q
    of ``a = QR`` with R's diagonal positive."""
    n, m = a.shape

    def step(j: Array, q: Array) -> Array:
        v = lax.dynamic_slice_in_dim(a, j, 1, axis=1)
        for _ in range(2):
            v = v - q @ (q.T @ v)
        v = v / fnp.sqrt(fnp.sum(v * v))
        return lax.dynamic_update_slice_in_dim(q, v, j, axis=1)

    return lax.fori_loop(0, m, step, fnp.zeros((n, m), a.dtype))
