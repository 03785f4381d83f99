"""Array creation in ``fborn.numpy``: conversion (array, asarray), filled arrays, ranges, grids,
eye/tri masks and diagonals (jax.numpy semantics and default dtypes).

Everything is built from primitives: filled arrays broadcast a scalar (``broadcast_in_dim``),
ranges and masks come from ``iota`` and comparisons, diagonals from static slices. Results are
concrete when the inputs are, and trace otherwise. Sizes, counts and offsets are static.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fborn import lax
from fborn.core import dtypes
from fborn.core.array import Array, ArrayImpl
from fborn.core.errors import FbornDtypeError
from fborn.core.trace import concrete_value
from fborn.numpy import _util
from fborn.numpy._manipulation import (
    expand_dims,
    norm_axis,
    ravel,
    static_int,
    static_shape,
    transpose,
)
from fborn.numpy._util import ArrayLike

__all__ = [
    "arange", "array", "asarray", "diag", "diagflat", "diagonal", "empty", "empty_like", "eye",
    "full", "full_like", "geomspace", "identity", "indices", "linspace", "logspace", "meshgrid",
    "ones", "ones_like", "trace", "tri", "tril", "triu", "zeros", "zeros_like",
]

Shape = int | Sequence[int]


# --- helpers ---------------------------------------------------------------------------------


def _scalar(value: Any, dtype: np.dtype, weak: bool = False) -> ArrayImpl:
    """A concrete 0-d array of a static Python/numpy number (a literal when traced)."""
    with np.errstate(all="ignore"):
        return ArrayImpl(np.asarray(value).astype(dtype), weak_type=weak)


def _filled(value: Any, dtype: np.dtype, shape: tuple[int, ...], weak: bool = False) -> Array:
    """``shape`` filled with a static number."""
    return lax.broadcast_in_dim(_scalar(value, dtype, weak), shape, ())


def _is_number(x: Any) -> bool:
    return isinstance(x, (bool, int, float, np.generic)) or (
        isinstance(x, np.ndarray) and x.ndim == 0)


def _dtype(dtype: Any) -> np.dtype:
    return dtypes.canonicalize(dtype)


def _mask(n: int, m: int, k: int, compare: Any) -> Array:
    """The bool (n, m) array ``compare(row + k, col)`` (``k`` clamped to [-n, m], which keeps
    the result and avoids int32 overflow)."""
    k = max(-n, min(k, m))
    rows = lax.broadcasted_iota(dtypes.int32, (n, m), 0)
    cols = lax.broadcasted_iota(dtypes.int32, (n, m), 1)
    return compare(lax.add(rows, k) if k else rows, cols)


def _check_order(order: str | None, fname: str) -> None:
    if order not in (None, "K"):
        raise NotImplementedError(f"{fname}: only order='K' (or None) is implemented, got "
                                  f"{order!r}")


# --- conversion ------------------------------------------------------------------------------


def array(object: Any, dtype: Any = None, copy: bool = True, order: str | None = "K",
          ndmin: int = 0, *, device: Any = None) -> Array:
    """An Array from array-like data: Arrays (traced too), numpy arrays, Python scalars, or
    nested lists/tuples of them. Python scalars stay weakly typed; lists do not.

    ``dtype`` converts; ``ndmin`` prepends size-1 axes. Arrays are immutable and live on one
    device, so ``copy`` and ``device`` have no effect. Raises FbornDtypeError for unsupported
    data, NotImplementedError for an ``order`` other than 'K'.
    """
    del copy, device
    _check_order(order, "array")
    out = _util.asarray(object, dtype)
    if isinstance(object, (list, tuple)) and out.weak_type:
        out = _util.convert(out, out.dtype, weak=False)
    ndmin = static_int(ndmin, "ndmin")
    if out.ndim < ndmin:
        out = lax.reshape(out, (1,) * (ndmin - out.ndim) + out.shape)
    return out


def asarray(a: Any, dtype: Any = None, order: str | None = None, *, copy: bool | None = None,
            device: Any = None) -> Array:
    """``a`` as an Array (no work if it already is one of ``dtype``). ``copy`` and ``device``
    are accepted for JAX compatibility: arrays are immutable and live on one device."""
    del copy, device
    return array(a, dtype=dtype, order=order)


# --- filled arrays ---------------------------------------------------------------------------


def full(shape: Shape, fill_value: ArrayLike, dtype: Any = None, *,
         device: Any = None) -> Array:
    """An array of ``shape`` filled with ``fill_value`` (a scalar, or an array broadcast to
    ``shape``). Without ``dtype`` the fill value's dtype is used (weak for Python scalars).

    Raises ValueError for negative sizes, TypeError for non-integer sizes.
    """
    del device
    dims = static_shape(shape)
    if _is_number(fill_value):
        if dtype is None:
            dt, weak = _util.typed_of(fill_value)
            return _filled(fill_value, dt, dims, weak)
        return _filled(fill_value, _dtype(dtype), dims)
    return _util.broadcast_to(_util.asarray(fill_value, dtype), dims)


def zeros(shape: Shape, dtype: Any = None, *, device: Any = None) -> Array:
    """An array of zeros (float32 by default, float64 under enable_x64)."""
    del device
    return _filled(0, _dtype(float if dtype is None else dtype), static_shape(shape))


def ones(shape: Shape, dtype: Any = None, *, device: Any = None) -> Array:
    """An array of ones (float32 by default)."""
    del device
    return _filled(1, _dtype(float if dtype is None else dtype), static_shape(shape))


def empty(shape: Shape, dtype: Any = None, *, device: Any = None) -> Array:
    """An uninitialized array: fborn fills it with zeros."""
    return zeros(shape, dtype, device=device)


def _like(a: Any, dtype: Any, shape: Shape | None) -> tuple[np.dtype, bool, tuple[int, ...]]:
    """The (dtype, weak, shape) of a ``*_like`` result: ``a``'s unless overridden."""
    dt, weak = _util.typed_of(a)
    if dtype is not None:
        dt, weak = _dtype(dtype), False
    if shape is None:
        dims = a.shape if isinstance(a, (Array, np.ndarray)) else _util.asarray(a).shape
    else:
        dims = static_shape(shape)
    return dt, weak, tuple(dims)


def full_like(a: Any, fill_value: ArrayLike, dtype: Any = None, shape: Shape | None = None, *,
              device: Any = None) -> Array:
    """An array with ``a``'s shape and dtype (weak type kept), or the given ``dtype`` and
    ``shape``, filled with ``fill_value`` (a scalar, or an array broadcast to the shape)."""
    del device
    dt, weak, dims = _like(a, dtype, shape)
    if _is_number(fill_value):
        return _filled(fill_value, dt, dims, weak)
    fill = _util.asarray(fill_value)
    return _util.broadcast_to(_util.convert(fill, dt, weak and fill.ndim == 0), dims)


def zeros_like(a: Any, dtype: Any = None, shape: Shape | None = None, *,
               device: Any = None) -> Array:
    """Zeros with ``a``'s shape and dtype (or the given ones)."""
    return full_like(a, 0, dtype, shape, device=device)


def ones_like(a: Any, dtype: Any = None, shape: Shape | None = None, *,
              device: Any = None) -> Array:
    """Ones with ``a``'s shape and dtype (or the given ones)."""
    return full_like(a, 1, dtype, shape, device=device)


def empty_like(prototype: Any, dtype: Any = None, shape: Shape | None = None, *,
               device: Any = None) -> Array:
    """An uninitialized array like ``prototype``: fborn fills it with zeros."""
    return zeros_like(prototype, dtype, shape, device=device)


# --- ranges ----------------------------------------------------------------------------------


def _static_number(x: Any, what: str) -> int | float:
    value = concrete_value(x, what) if isinstance(x, Array) else np.asarray(x)
    if value.ndim != 0 or value.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be a real scalar, got {x!r}")
    return value.item()


def arange(start: ArrayLike, stop: ArrayLike | None = None, step: ArrayLike | None = None,
           dtype: Any = None, *, device: Any = None) -> Array:
    """Evenly spaced values in ``[start, stop)`` with spacing ``step`` (numpy's arange).

    Arguments must be concrete. The dtype is promoted from the arguments: Python ints give
    int32, any float gives float32 (64-bit under enable_x64). Values are computed as numpy
    does: ``first + i * delta`` in the result dtype (float32 for float16/bfloat16).
    Raises ConcretizationError for traced arguments, ZeroDivisionError for ``step == 0``,
    FbornDtypeError for dtype bool.
    """
    del device
    given = [a for a in (start, stop, step) if a is not None]
    names = ("start", "stop", "step")
    values = [_static_number(a, f"arange's argument {n!r}") if a is not None else None
              for a, n in zip((start, stop, step), names, strict=True)]
    dt = _util.result_typed(*given)[0] if dtype is None else _dtype(dtype)
    if dt == dtypes.bool_:
        raise FbornDtypeError("arange does not accept dtype bool")
    first, last, delta = values
    if last is None:
        first, last = 0, first
    delta = 1 if delta is None else delta
    if delta == 0:
        raise ZeroDivisionError("arange: step must not be zero")
    if all(isinstance(v, int) for v in (first, last, delta)):
        size = max(0, -((first - last) // delta))
    else:
        size = max(0, math.ceil((last - first) / delta))
    compute = dtypes.float32 if dt in (dtypes.float16, dtypes.bfloat16) else dt
    with np.errstate(all="ignore"):
        lo = np.asarray(first).astype(dt)
        step_value = np.asarray(first + delta).astype(dt).astype(compute) - lo.astype(compute)
    out = lax.iota(compute, size)
    if step_value != 1:
        out = lax.mul(out, _filled(step_value, compute, (size,)))
    if lo != 0:
        out = lax.add(out, _filled(lo, compute, (size,)))
    return lax.convert_element_type(out, dt)


def _bounds(start: ArrayLike, stop: ArrayLike, dtype: Any) -> tuple[Array, Array, np.dtype]:
    """``start`` and ``stop`` broadcast together in the inexact computation dtype."""
    dt, _ = _util.result_typed(start, stop)
    compute = dt if dtypes.is_float(dt) else dtypes.default_float()
    if dtype is not None and dtypes.is_float(_dtype(dtype)):
        compute = dtypes.promote_types(compute, _dtype(dtype))
    lo, hi = (_util.convert(_util.asarray(v), compute, False) for v in (start, stop))
    common = _util.broadcast_shapes(lo.shape, hi.shape)
    return _util.broadcast_to(lo, common), _util.broadcast_to(hi, common), compute


def _along(x: Array, shape: tuple[int, ...], axis: int) -> Array:
    """``x`` (without ``axis``) broadcast to ``shape`` along every axis but ``axis``."""
    dims = tuple(i for i in range(len(shape)) if i != axis)
    return lax.broadcast_in_dim(x, shape, dims)


def _replace_ends(out: Array, first: Array | None, last: Array | None, axis: int) -> Array:
    """``out`` with its first/last slice along ``axis`` replaced by ``first``/``last``."""
    n = out.shape[axis]
    pieces = [expand_dims(first, axis)] if first is not None else []
    pieces.append(lax.slice_in_dim(out, len(pieces), n - (last is not None), axis=axis))
    if last is not None:
        pieces.append(expand_dims(last, axis))
    return lax.concatenate([p for p in pieces if p.shape[axis]], axis)


def _to_result(out: Array, dtype: Any) -> Array:
    if dtype is None:
        return out
    dt = _dtype(dtype)
    if dtypes.is_int(dt):
        out = lax.floor(out)
    return lax.convert_element_type(out, dt)


def linspace(start: ArrayLike, stop: ArrayLike, num: int = 50, endpoint: bool = True,
             retstep: bool = False, dtype: Any = None, axis: int = 0, *,
             device: Any = None) -> Array | tuple[Array, Array]:
    """``num`` evenly spaced values from ``start`` to ``stop`` (included if ``endpoint``).

    ``start``/``stop`` may be arrays (traced too): the samples run along the new ``axis``.
    Integer ``dtype`` results are floored. With ``retstep`` also returns the spacing (NaN when
    undefined). Raises ValueError for ``num < 0``.
    """
    del device
    num = static_int(num, "linspace's num")
    if num < 0:
        raise ValueError(f"linspace: number of samples, {num}, must be non-negative")
    lo, hi, compute = _bounds(start, stop, dtype)
    out_shape = list(lo.shape)
    ax = norm_axis(axis, len(out_shape) + 1)
    out_shape.insert(ax, num)
    out_shape = tuple(out_shape)
    div = num - 1 if endpoint else num
    if div > 0:
        step = lax.div(lax.sub(hi, lo), _filled(div, compute, lo.shape))
        ramp = lax.broadcast_in_dim(lax.iota(compute, num), out_shape, (ax,))
        out = lax.add(_along(lo, out_shape, ax), lax.mul(ramp, _along(step, out_shape, ax)))
        if endpoint:
            out = _replace_ends(out, None, hi, ax)
    else:
        step = _filled(np.nan, compute, lo.shape)
        out = _along(lo, out_shape, ax)
    out = _to_result(out, dtype)
    return (out, step) if retstep else out


def logspace(start: ArrayLike, stop: ArrayLike, num: int = 50, endpoint: bool = True,
             base: ArrayLike = 10.0, dtype: Any = None, axis: int = 0) -> Array:
    """``base ** linspace(start, stop, num, endpoint)``: samples evenly spaced on a log scale."""
    exponents = linspace(start, stop, num, endpoint, dtype=None, axis=axis)
    base_arr = _util.convert(_util.asarray(base), exponents.dtype, False)
    if base_arr.ndim:
        base_arr = expand_dims(base_arr, norm_axis(axis, base_arr.ndim + 1))
    common = _util.broadcast_shapes(base_arr.shape, exponents.shape)
    out = lax.pow(_util.broadcast_to(base_arr, common), _util.broadcast_to(exponents, common))
    return out if dtype is None else lax.convert_element_type(out, _dtype(dtype))


def geomspace(start: ArrayLike, stop: ArrayLike, num: int = 50, endpoint: bool = True,
              dtype: Any = None, axis: int = 0) -> Array:
    """``num`` samples from ``start`` to ``stop`` evenly spaced on a log scale (a geometric
    progression), with exact end points. Both bounds must be non-zero with the same sign:
    otherwise the samples between the end points are NaN (JAX gives all NaN, numpy raises)."""
    lo, hi, compute = _bounds(start, stop, dtype)
    sign = lax.sign(lo)
    ln10 = _filled(np.log(10.0), compute, lo.shape)
    log_lo, log_hi = (lax.div(lax.log(lax.div(v, sign)), ln10) for v in (lo, hi))
    ax = norm_axis(axis, lo.ndim + 1)
    magnitudes = logspace(log_lo, log_hi, num, endpoint, base=10.0, axis=ax)
    out = lax.mul(_along(sign, magnitudes.shape, ax), magnitudes)
    if num > 0:
        out = _replace_ends(out, lo, hi if endpoint and num > 1 else None, ax)
    return out if dtype is None else lax.convert_element_type(out, _dtype(dtype))


# --- grids -----------------------------------------------------------------------------------


def meshgrid(*xi: ArrayLike, copy: bool = True, sparse: bool = False,
             indexing: str = "xy") -> list[Array]:
    """Coordinate arrays from 1-D arrays: with ``indexing='xy'`` the first two output axes are
    swapped (Cartesian), with 'ij' they follow the inputs (matrix). ``sparse`` returns
    broadcastable arrays with size-1 axes instead of full grids.

    Raises ValueError for inputs that are not 1-D or an unknown ``indexing``.
    """
    del copy
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    arrays = [_util.asarray(x) for x in xi]
    if any(a.ndim != 1 for a in arrays):
        raise ValueError("meshgrid: arguments must be 1-D, got shapes "
                         + ", ".join(str(a.shape) for a in arrays))
    positions = list(range(len(arrays)))
    if indexing == "xy" and len(arrays) >= 2:
        positions[0], positions[1] = 1, 0
    grid = [0] * len(arrays)
    for a, pos in zip(arrays, positions, strict=True):
        grid[pos] = a.shape[0]
    out = []
    for a, pos in zip(arrays, positions, strict=True):
        if sparse:
            dims = [1] * len(arrays)
            dims[pos] = a.shape[0]
            out.append(lax.reshape(a, dims))
        else:
            out.append(lax.broadcast_in_dim(a, grid, (pos,)))
    return out


def indices(dimensions: Sequence[int], dtype: Any = None,
            sparse: bool = False) -> Array | tuple[Array, ...]:
    """Index grids for an array of shape ``dimensions``: an array of shape
    ``(len(dimensions), *dimensions)`` whose i-th entry counts along axis i (int32 default),
    or with ``sparse`` a tuple of broadcastable arrays."""
    dims = static_shape(dimensions, "indices' dimensions")
    dt = _dtype(int if dtype is None else dtype)
    if sparse:
        return tuple(
            lax.broadcasted_iota(dt, tuple(d if j == i else 1 for j, d in enumerate(dims)), i)
            for i in range(len(dims)))
    if not dims:
        return _filled(0, dt, (0,))
    grids = [lax.reshape(lax.broadcasted_iota(dt, dims, i), (1, *dims))
             for i in range(len(dims))]
    return lax.concatenate(grids, 0)


# --- eye, tri and diagonals ------------------------------------------------------------------


def _matrix_size(n: Any, m: Any, fname: str) -> tuple[int, int]:
    rows = static_int(n, f"{fname}'s N")
    cols = rows if m is None else static_int(m, f"{fname}'s M")
    if rows < 0 or cols < 0:
        raise ValueError(f"{fname}: negative dimensions are not allowed, got N={rows}, M={cols}")
    return rows, cols


def eye(N: int, M: int | None = None, k: int = 0, dtype: Any = None, *,  # noqa: N803
        device: Any = None) -> Array:
    """An (N, M) array with ones on diagonal ``k`` (above the main one for k > 0) and zeros
    elsewhere (float32 by default)."""
    del device
    n, m = _matrix_size(N, M, "eye")
    mask = _mask(n, m, static_int(k, "eye's k"), lax.eq)
    return lax.convert_element_type(mask, _dtype(float if dtype is None else dtype))


def identity(n: int, dtype: Any = None) -> Array:
    """The (n, n) identity matrix."""
    return eye(n, dtype=dtype)


def tri(N: int, M: int | None = None, k: int = 0, dtype: Any = None) -> Array:  # noqa: N803
    """An (N, M) array with ones at and below diagonal ``k`` and zeros above."""
    n, m = _matrix_size(N, M, "tri")
    mask = _mask(n, m, static_int(k, "tri's k"), lax.ge)
    return lax.convert_element_type(mask, _dtype(float if dtype is None else dtype))


def _triangle(m: ArrayLike, k: int, lower: bool, fname: str) -> Array:
    x = _util.asarray(m)
    if x.ndim < 2:
        raise ValueError(f"{fname} needs an array of rank >= 2, got shape {x.shape}")
    k = static_int(k, f"{fname}'s k")
    n, cols = x.shape[-2:]
    keep = _mask(n, cols, k, lax.ge) if lower else _mask(n, cols, k - 1, lax.lt)
    keep = lax.broadcast_in_dim(keep, x.shape, (x.ndim - 2, x.ndim - 1))
    return lax.select(keep, x, _filled(0, x.dtype, x.shape, x.weak_type))


def tril(m: ArrayLike, k: int = 0) -> Array:
    """``m`` with the elements above diagonal ``k`` of its last two axes set to zero.

    Raises ValueError for arrays of rank < 2."""
    return _triangle(m, k, True, "tril")


def triu(m: ArrayLike, k: int = 0) -> Array:
    """``m`` with the elements below diagonal ``k`` of its last two axes set to zero.

    Raises ValueError for arrays of rank < 2."""
    return _triangle(m, k, False, "triu")


def diagonal(a: ArrayLike, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Array:
    """The diagonal ``offset`` of the (axis1, axis2) planes of ``a``, as a new last axis.

    Raises ValueError for rank < 2 or equal axes."""
    x = _util.asarray(a)
    if x.ndim < 2:
        raise ValueError(f"diagonal needs an array of rank >= 2, got shape {x.shape}")
    i, j = norm_axis(axis1, x.ndim), norm_axis(axis2, x.ndim)
    if i == j:
        raise ValueError(f"diagonal: axis1 and axis2 must differ, got {axis1} and {axis2}")
    offset = static_int(offset, "diagonal's offset")
    x = transpose(x, [d for d in range(x.ndim) if d not in (i, j)] + [i, j])
    *batch, n, m = x.shape
    length = max(0, min(n, m - offset) if offset >= 0 else min(n + offset, m))
    row, col = (0, offset) if offset >= 0 else (-offset, 0)
    if length == 0:
        row = col = 0
    zeros = [0] * len(batch)
    square = lax.slice(x, [*zeros, row, col], [*batch, row + length, col + length])
    flat = lax.reshape(square, (*batch, length * length))
    if length <= 1:
        return flat
    return lax.slice(flat, [*zeros, 0], [*batch, length * length], [1] * len(batch) + [length + 1])


def diag(v: ArrayLike, k: int = 0) -> Array:
    """For 1-D ``v``, a square array with ``v`` on diagonal ``k``; for 2-D ``v``, its diagonal
    ``k``. Raises ValueError for other ranks."""
    x = _util.asarray(v)
    k = static_int(k, "diag's k")
    if x.ndim == 2:
        return diagonal(x, k)
    if x.ndim != 1:
        raise ValueError(f"diag needs a 1-D or 2-D array, got shape {x.shape}")
    n = x.shape[0] + abs(k)
    zero = _scalar(0, x.dtype, x.weak_type)
    padded = lax.pad(x, zero, [(0, abs(k), 0)])
    spread = lax.broadcast_in_dim(padded, (n, n), (0,) if k >= 0 else (1,))
    return lax.select(_mask(n, n, k, lax.eq), spread, _filled(0, x.dtype, (n, n), x.weak_type))


def diagflat(v: ArrayLike, k: int = 0) -> Array:
    """A square array with the flattened ``v`` on diagonal ``k``."""
    return diag(ravel(v), k)


def _sum_dtype(dt: np.dtype) -> np.dtype:
    """The dtype a sum accumulates in: small ints and bool widen to the default int size."""
    width = dtypes.default_int().itemsize
    if dt == dtypes.bool_ or (dt.kind == "i" and dt.itemsize < width):
        return dtypes.default_int()
    if dt.kind == "u" and dt.itemsize < width:
        return dtypes.canonicalize(dtypes.uint64)
    return dt


def trace(a: ArrayLike, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None,
          out: None = None) -> Array:
    """The sum along diagonal ``offset`` of the (axis1, axis2) planes. Small integer and bool
    inputs sum in the default int (uint32 for unsigned); ``dtype`` overrides."""
    if out is not None:
        raise NotImplementedError("trace: the 'out' argument is not supported")
    d = diagonal(a, offset, axis1, axis2)
    dt = _sum_dtype(d.dtype) if dtype is None else _dtype(dtype)
    return lax.reduce_sum(lax.convert_element_type(d, dt), (d.ndim - 1,))

