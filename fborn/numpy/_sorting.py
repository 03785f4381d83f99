"""Sorting, searching and order statistics of ``fborn.numpy`` (jax.numpy names and semantics).

Everything is built from ``fborn.lax`` (``sort`` with payload operands, ``iota``, compares,
selects and reductions), so it traces under ``make_jaxpr``/``jit``. Gathers along a sorted axis
are one-hot selects; permutations are applied by sorting on a permutation key. Floats sort with
-0.0 == 0.0 and NaNs last, as in JAX.
"""

from __future__ import annotations

import builtins
import math
import operator
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from fborn import lax
from fborn.core import dtypes
from fborn.core.array import Array, ArrayImpl
from fborn.core.errors import FbornDtypeError
from fborn.core.trace import concrete_value
from fborn.numpy._util import (
    asarray,
    broadcast_to,
    canonicalize_axes,
    canonicalize_axis,
    convert,
    promote_dtypes,
    promote_dtypes_inexact,
)

__all__ = [
    "argpartition", "argsort", "bincount", "digitize", "lexsort", "median", "nanmedian",
    "nanpercentile", "nanquantile", "partition", "percentile", "quantile", "searchsorted", "sort",
    "unique", "unique_all", "unique_counts", "unique_inverse", "unique_values",
]

_QUANTILE_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")
_SEARCH_METHODS = ("scan", "scan_unrolled", "sort", "compare_all")


# --- small helpers -------------------------------------------------------------------------------

def _full(shape: Sequence[int], value: Any, dtype: np.dtype) -> Array:
    """An array of ``shape`` filled with ``value`` (a Python scalar or a 0-d Array)."""
    scalar = value if isinstance(value, Array) else ArrayImpl(np.array(value, dtype=dtype))
    scalar = convert(scalar, dtype, False)
    return lax.broadcast_in_dim(scalar, tuple(shape), ())


def _ravel(x: Array) -> Array:
    return lax.reshape(x, (x.size,))


def _isnan(x: Array) -> Array:
    if dtypes.is_float(x.dtype):
        return lax.ne(x, x)
    return _full(x.shape, False, dtypes.bool_)


def _flat_or_axis(arr: Array, axis: int | None) -> tuple[Array, int]:
    """``arr`` flattened with axis 0 when ``axis`` is None, else ``arr`` and the axis."""
    if axis is None:
        return _ravel(arr), 0
    return arr, canonicalize_axis(axis, arr.ndim)


def _index_dtype(dtype: Any = None) -> np.dtype:
    if dtype is None:
        return dtypes.default_int()
    dt = dtypes.canonicalize(dtype)
    if not dtypes.is_int(dt):
        raise FbornDtypeError(f"index dtype must be an integer type, got {dt}")
    return dt


def _check_kind_order(name: str, kind: Any, order: Any) -> None:
    if kind is not None:
        raise TypeError(f"'kind' argument to {name} is not supported. Use stable=True or "
                        f"stable=False to specify sort stability.")
    if order is not None:
        raise TypeError(f"'order' argument to {name} is not supported.")


def _take_last(x: Array, idx: Array) -> Array:
    """``out[q..., l...] = x[l..., idx[q..., l...]]``: a one-hot gather along the last axis of
    ``x`` (shape ``lanes + (n,)``) at int indices of shape ``qshape + lanes``."""
    n = x.shape[-1]
    shape = (*idx.shape, n)
    lead = idx.ndim - (x.ndim - 1)
    xb = lax.broadcast_in_dim(x, shape, tuple(range(lead, lead + x.ndim)))
    ib = lax.broadcast_in_dim(idx, shape, tuple(range(idx.ndim)))
    mask = lax.eq(ib, lax.broadcasted_iota(idx.dtype, shape, len(shape) - 1))
    last = (len(shape) - 1,)
    if x.dtype == dtypes.bool_:
        return lax.reduce_or(lax.select(mask, xb, False), last)
    if dtypes.is_float(x.dtype):
        # min(v, +inf) is v for every float (-0.0 and NaN included): an exact pick.
        return lax.reduce_min(lax.select(mask, xb, np.inf), last)
    return lax.reduce_sum(lax.select(mask, xb, 0), last)


def _permute_by(x: Array, sorter: Array) -> Array:
    """``x[sorter]`` for a 1-D permutation ``sorter``: sorting on the inverse permutation."""
    iota = lax.iota(sorter.dtype, sorter.shape[0])
    _, inverse = lax.sort((sorter, iota))
    _, out = lax.sort((inverse, x))
    return out


# --- sort, argsort, lexsort, partition -----------------------------------------------------------

def sort(a: Any, axis: int | None = -1, *, kind: None = None, order: None = None,
         stable: bool = True, descending: bool = False) -> Array:
    """Sorted copy of ``a`` along ``axis`` (None sorts the flattened array); NaNs go last
    (first with ``descending``). ``kind`` and ``order`` are not supported (TypeError)."""
    _check_kind_order("sort", kind, order)
    arr, axis = _flat_or_axis(asarray(a), axis)
    out = lax.sort(arr, dimension=axis, is_stable=stable)
    return lax.rev(out, (axis,)) if descending else out


def argsort(a: Any, axis: int | None = -1, *, kind: None = None, order: None = None,
            stable: bool = True, descending: bool = False, dtype: Any = None) -> Array:
    """Indices that sort ``a`` along ``axis`` (None: of the flattened array). Ties keep their
    original order, also with ``descending``. ``dtype`` picks the index dtype (default int)."""
    _check_kind_order("argsort", kind, order)
    arr, axis = _flat_or_axis(asarray(a), axis)
    iota = lax.broadcasted_iota(_index_dtype(dtype), arr.shape, axis)
    if descending:
        arr, iota = lax.rev(arr, (axis,)), lax.rev(iota, (axis,))
    _, indices = lax.sort((arr, iota), dimension=axis, is_stable=stable)
    return lax.rev(indices, (axis,)) if descending else indices


def _rows(x: Array) -> list[Array]:
    return [lax.reshape(lax.slice_in_dim(x, i, i + 1, axis=0), x.shape[1:])
            for i in range(x.shape[0])]


def lexsort(keys: Any, axis: int = -1) -> Array:
    """Indices sorting by several keys of equal shape; the **last** key is the primary one.
    ``keys`` is a sequence of arrays or an array whose rows are the keys."""
    if isinstance(keys, (Array, np.ndarray)):
        key_arrays = _rows(asarray(keys)) if np.ndim(keys) else []
    else:
        key_arrays = [asarray(k) for k in keys]
    if not key_arrays:
        raise TypeError("need sequence of keys with len > 0 in lexsort")
    if len({k.shape for k in key_arrays}) > 1:
        raise ValueError(f"all keys need to be the same shape, got "
                         f"{[k.shape for k in key_arrays]}")
    shape = key_arrays[0].shape
    if not shape:
        return _full((), 0, dtypes.default_int())
    axis = canonicalize_axis(axis, len(shape))
    iota = lax.broadcasted_iota(dtypes.default_int(), shape, axis)
    out = lax.sort((*key_arrays[::-1], iota), dimension=axis, num_keys=len(key_arrays))
    return out[-1]


def _kth(kth: int, n: int) -> int:
    kth = operator.index(kth)
    if not -n <= kth < n:
        raise ValueError(f"kth={kth} is out of bounds for an axis of size {n}")
    return kth % n


def partition(a: Any, kth: int, axis: int = -1) -> Array:
    """Partially sorted ``a``: the ``kth+1`` smallest values along ``axis`` come first in
    ascending order, the rest follow in descending order (JAX's layout)."""
    arr = asarray(a)
    axis = canonicalize_axis(axis, arr.ndim)
    n = arr.shape[axis]
    kth = _kth(kth, n)
    ordered = lax.sort(arr, dimension=axis)
    bottom = lax.slice_in_dim(ordered, 0, kth + 1, axis=axis)
    top = lax.rev(lax.slice_in_dim(ordered, kth + 1, n, axis=axis), (axis,))
    return lax.concatenate([bottom, top], axis)


def argpartition(a: Any, kth: int, axis: int = -1) -> Array:
    """Indices partitioning ``a`` at ``kth`` along ``axis``: the indices of the ``kth+1``
    smallest values (ascending, ties by index), then the other indices in increasing order
    (JAX's layout)."""
    arr = asarray(a)
    axis = canonicalize_axis(axis, arr.ndim)
    n = arr.shape[axis]
    kth = _kth(kth, n)
    iota = lax.broadcasted_iota(dtypes.default_int(), arr.shape, axis)
    _, perm = lax.sort((arr, iota), dimension=axis)
    _, rank = lax.sort((perm, iota), dimension=axis)
    in_bottom = lax.le(rank, kth)
    _, rest = lax.sort((in_bottom, iota), dimension=axis)
    bottom = lax.slice_in_dim(perm, 0, kth + 1, axis=axis)
    top = lax.slice_in_dim(rest, 0, n - kth - 1, axis=axis)
    return lax.concatenate([bottom, top], axis)


# --- searchsorted, digitize ----------------------------------------------------------------------

def _lt_total(x: Array, y: Array) -> Array:
    """``x < y`` with NaN above every number (numpy's searchsorted order)."""
    less = lax.lt(x, y)
    if not dtypes.is_float(x.dtype):
        return less
    return lax.bitwise_or(less, lax.bitwise_and(_isnan(y), lax.bitwise_not(_isnan(x))))


def _searchsorted_compare_all(a: Array, v: Array, side: str) -> Array:
    n, m = a.shape[0], v.shape[0]
    ab = lax.broadcast_in_dim(a, (m, n), (1,))
    vb = lax.broadcast_in_dim(v, (m, n), (0,))
    below = _lt_total(ab, vb) if side == "left" else lax.bitwise_not(_lt_total(vb, ab))
    return lax.reduce_sum(lax.convert_element_type(below, dtypes.int32), (1,))


def _searchsorted_sort(a: Array, v: Array, side: str) -> Array:
    """Sort ``a`` and ``v`` together (ties: queries before equal ``a`` entries for 'left',
    after them for 'right'), count the ``a`` entries before each query, and sort back."""
    n, m = a.shape[0], v.shape[0]
    values = lax.concatenate([a, v], 0)
    tie = lax.concatenate([_full((n,), side == "left", dtypes.bool_),
                           _full((m,), side != "left", dtypes.bool_)], 0)
    position = lax.iota(dtypes.int32, n + m)
    _, _, position = lax.sort((values, tie, position), num_keys=2)
    is_a = lax.convert_element_type(lax.lt(position, n), dtypes.int32)
    before = lax.sub(lax.cumsum(is_a), is_a)
    _, before = lax.sort((position, before))
    return lax.slice_in_dim(before, n, n + m)


def searchsorted(a: Any, v: Any, side: str = "left", sorter: Any = None, *,
                 method: str = "scan") -> Array:
    """Insertion indices (int32, shape of ``v``) of ``v`` into the sorted 1-D ``a``: 'left'
    gives the first position keeping order, 'right' the last. NaN sorts above every number.

    ``sorter`` (a permutation sorting ``a``) is applied first. ``method`` 'scan',
    'scan_unrolled' and 'sort' all run the sort-based search (O((n+m) log(n+m))),
    'compare_all' compares every pair (O(n*m)). Raises ValueError for a non-1-D ``a``, a bad
    ``side`` or ``method``.
    """
    a_arr, v_arr = asarray(a), asarray(v)
    if a_arr.ndim != 1:
        raise ValueError(f"a should be 1-dimensional, got shape {a_arr.shape}")
    if side not in ("left", "right"):
        raise ValueError(f"{side!r} is an invalid value for keyword 'side'. Expected one of "
                         f"['left', 'right']")
    if method not in _SEARCH_METHODS:
        raise ValueError(f"invalid searchsorted method {method!r}; expected one of "
                         f"{list(_SEARCH_METHODS)}")
    a_arr, v_arr = promote_dtypes(a_arr, v_arr)
    if sorter is not None:
        perm = asarray(sorter)
        if perm.shape != a_arr.shape or not dtypes.is_int(perm.dtype):
            raise ValueError(f"sorter must be an integer array of the shape of a {a_arr.shape}, "
                             f"got {perm.dtype}{list(perm.shape)}")
        a_arr = _permute_by(a_arr, perm)
    flat = _ravel(v_arr)
    if method == "compare_all":
        out = _searchsorted_compare_all(a_arr, flat, side)
    else:
        out = _searchsorted_sort(a_arr, flat, side)
    return lax.reshape(out, v_arr.shape)


def digitize(x: Any, bins: Any, right: bool = False, *, method: str | None = None) -> Array:
    """Index of the bin of each ``x`` for monotonic 1-D ``bins`` (increasing or decreasing);
    ``right`` makes intervals include their right edge. int32, shape of ``x``."""
    x_arr, bins_arr = asarray(x), asarray(bins)
    if bins_arr.ndim != 1:
        raise ValueError(f"digitize: bins must be a 1-dimensional array; got shape "
                         f"{bins_arr.shape}")
    n = bins_arr.shape[0]
    if n == 0:
        return _full(x_arr.shape, 0, dtypes.int32)
    side = "left" if right else "right"
    kwargs = {} if method is None else {"method": method}
    forward = searchsorted(bins_arr, x_arr, side=side, **kwargs)
    backward = lax.sub(n, searchsorted(lax.rev(bins_arr, (0,)), x_arr, side=side, **kwargs))
    first = lax.reshape(lax.slice(bins_arr, (0,), (1,)), ())
    last = lax.reshape(lax.slice(bins_arr, (n - 1,), (n,)), ())
    increasing = lax.ge(last, first)
    return lax.select(lax.broadcast_in_dim(increasing, x_arr.shape, ()), forward, backward)


# --- unique -------------------------------------------------------------------------------------

class UniqueAllResult(NamedTuple):
    values: Array
    indices: Array
    inverse_indices: Array
    counts: Array


class UniqueCountsResult(NamedTuple):
    values: Array
    counts: Array


class UniqueInverseResult(NamedTuple):
    values: Array
    inverse_indices: Array


_UNIQUE_SIZE_HINT = (
    "the number of unique values decides the output shape, so jnp.unique needs a concrete "
    "input; under jit/make_jaxpr pass a static size= (and optionally fill_value=)"
)


def _fit(x: Array, size: int, pad_value: Any) -> Array:
    """The first ``size`` entries of 1-D ``x``, padded with ``pad_value`` when ``x`` is short."""
    if size <= x.shape[0]:
        return lax.slice_in_dim(x, 0, size)
    return lax.pad(x, lax.convert_element_type(pad_value, x.dtype),
                   ((0, size - x.shape[0], 0),))


def _distinct_from_previous(s: Array, equal_nan: bool) -> Array:
    """Mask of the sorted 1-D ``s`` marking each first element of a run of equal values."""
    n = s.shape[0]
    head, tail = lax.slice_in_dim(s, 1, n), lax.slice_in_dim(s, 0, n - 1)
    differ = lax.ne(head, tail)
    if equal_nan and dtypes.is_float(s.dtype):
        differ = lax.bitwise_and(differ, lax.bitwise_not(
            lax.bitwise_and(_isnan(head), _isnan(tail))))
    return lax.concatenate([_full((1,), True, dtypes.bool_), differ], 0)


def _unique_empty(arr: Array, size: int | None, fill_value: Any, flags: tuple[bool, ...]
                  ) -> list[Array]:
    idx = dtypes.default_int()
    if size is None:
        values = _ravel(arr)
        size = 0
    else:
        if size and fill_value is None:
            raise ValueError("jnp.unique: for zero-sized input with nonzero size argument, "
                             "fill_value must be specified")
        values = _full((size,), 0 if fill_value is None else asarray(fill_value), arr.dtype)
    want_index, want_inverse, want_counts = flags
    out = [values]
    if want_index:
        out.append(_full((size,), 0, idx))
    if want_inverse:
        out.append(_full(arr.shape, 0, idx))
    if want_counts:
        out.append(_full((size,), 0, idx))
    return out


def unique(ar: Any, return_index: bool = False, return_inverse: bool = False,
           return_counts: bool = False, axis: int | None = None, *, equal_nan: bool = True,
           size: int | None = None, fill_value: Any = None, sorted: bool = True) -> Any:
    """Sorted unique values of the flattened ``ar``, optionally with the index of each first
    occurrence, the inverse (shape of ``ar``) and the counts (default int dtype).

    Without ``size`` the input must be concrete (ConcretizationError under tracing). With
    ``size`` the outputs have that length: missing values are ``fill_value`` (default: the
    smallest value), missing indices the smallest value's index, missing counts 0. NaNs count
    as one value when ``equal_nan``. Only ``axis=None`` is supported (NotImplementedError).
    """
    del sorted  # the result is always sorted
    if axis is not None:
        raise NotImplementedError("fborn.numpy.unique supports axis=None only")
    arr = asarray(ar)
    flags = (bool(return_index), bool(return_inverse), bool(return_counts))
    if size is not None:
        size = operator.index(size)
        if size < 0:
            raise ValueError(f"size must be non-negative, got {size}")
    if arr.size == 0:
        out = _unique_empty(arr, size, fill_value, flags)
    else:
        out = _unique_nonempty(arr, equal_nan, size, fill_value, flags)
    return out[0] if len(out) == 1 else tuple(out)


def _run_lengths(first_pos: Array, count: Array) -> Array:
    """Lengths of the runs starting at sorted positions ``first_pos[:count]`` (0 beyond)."""
    n = first_pos.shape[0]
    iota = lax.iota(first_pos.dtype, n)
    counts = lax.broadcast_in_dim(count, (n,), ())
    next_pos = lax.concatenate([lax.slice_in_dim(first_pos, 1, n),
                                _full((1,), n, first_pos.dtype)], 0)
    next_pos = lax.select(lax.lt(lax.add(iota, 1), counts), next_pos, n)
    return lax.select(lax.lt(iota, counts), lax.sub(next_pos, first_pos), 0)


def _unique_nonempty(arr: Array, equal_nan: bool, size: int | None, fill_value: Any,
                     flags: tuple[bool, ...]) -> list[Array]:
    want_index, want_inverse, want_counts = flags
    x = _ravel(arr)
    n = x.shape[0]
    idx = dtypes.default_int()
    iota = lax.iota(idx, n)
    s, perm = lax.sort((x, iota))
    mask = _distinct_from_previous(s, equal_nan)
    ones = lax.convert_element_type(mask, idx)
    rank = lax.sub(lax.cumsum(ones), 1)
    count = lax.reduce_sum(ones, (0,))
    out_size = size if size is not None else int(concrete_value(count, _UNIQUE_SIZE_HINT))
    # Compact: the first element of each run moves to the front, in rank order.
    _, first_values, first_index, first_pos = lax.sort(
        (lax.select(mask, rank, n), s, perm, iota), num_keys=1)
    values = _fit(first_values, out_size, 0)
    index = _fit(first_index, out_size, 0)
    if size is not None:
        valid = lax.lt(lax.iota(idx, out_size), lax.broadcast_in_dim(count, (out_size,), ()))
        smallest = lax.slice_in_dim(first_values, 0, 1)
        fill = smallest if fill_value is None else convert(asarray(fill_value), x.dtype, False)
        values = lax.select(valid, values, broadcast_to(fill, (out_size,)))
        first = broadcast_to(lax.slice_in_dim(perm, 0, 1), (out_size,))
        index = lax.select(valid, index, first)
    out = [values]
    if want_index:
        out.append(index)
    if want_inverse:
        _, inverse = lax.sort((perm, rank))
        out.append(lax.reshape(inverse, arr.shape))
    if want_counts:
        out.append(_fit(_run_lengths(first_pos, count), out_size, 0))
    return out


def unique_values(x: Any, /, *, size: int | None = None, fill_value: Any = None) -> Array:
    """Sorted unique values of ``x`` (array API); ``size``/``fill_value`` as in ``unique``."""
    return unique(x, size=size, fill_value=fill_value)


def unique_counts(x: Any, /, *, size: int | None = None,
                  fill_value: Any = None) -> UniqueCountsResult:
    """``(values, counts)`` of ``x`` (array API)."""
    values, counts = unique(x, return_counts=True, size=size, fill_value=fill_value)
    return UniqueCountsResult(values, counts)


def unique_inverse(x: Any, /, *, size: int | None = None,
                   fill_value: Any = None) -> UniqueInverseResult:
    """``(values, inverse_indices)`` of ``x`` (array API; the inverse has ``x``'s shape)."""
    values, inverse = unique(x, return_inverse=True, size=size, fill_value=fill_value)
    return UniqueInverseResult(values, inverse)


def unique_all(x: Any, /, *, size: int | None = None,
               fill_value: Any = None) -> UniqueAllResult:
    """``(values, indices, inverse_indices, counts)`` of ``x`` (array API)."""
    out = unique(x, return_index=True, return_inverse=True, return_counts=True, size=size,
                 fill_value=fill_value)
    return UniqueAllResult(*out)


# --- bincount -----------------------------------------------------------------------------------

def bincount(x: Any, weights: Any = None, minlength: int = 0, *,
             length: int | None = None) -> Array:
    """Count (or sum ``weights`` of) each non-negative int value in 1-D ``x``; negative values
    count in bin 0 and values >= ``length`` are dropped (JAX). Without ``length`` the input
    must be concrete (length = max(minlength, max(x) + 1))."""
    arr = asarray(x)
    if arr.dtype == dtypes.bool_:
        arr = lax.convert_element_type(arr, dtypes.int32)
    if not dtypes.is_int(arr.dtype):
        raise TypeError(f"x argument to bincount must have an integer type; got {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"only 1-dimensional input supported, got shape {arr.shape}")
    minlength = operator.index(minlength)
    if length is None:
        hint = "bincount's output length depends on max(x); pass length= under tracing"
        top = int(concrete_value(lax.reduce_max(arr, (0,)), hint)) if arr.size else -1
        length = builtins.max(minlength, top + 1 if arr.size else 0)
    length = operator.index(length)
    if weights is None:
        w = _full(arr.shape, 1, dtypes.default_int())
    else:
        w = asarray(weights)
        if w.shape != arr.shape:
            raise ValueError(f"weights must have the shape of x {arr.shape}, got {w.shape}")
        if w.dtype == dtypes.bool_:
            w = lax.convert_element_type(w, dtypes.default_int())
    n = arr.shape[0]
    # Bins above the dtype's maximum can never be hit; leave them out of the iota (no wrap).
    reachable = builtins.min(length, int(dtypes.iinfo(arr.dtype).max) + 1)
    bins = lax.broadcasted_iota(arr.dtype, (n, reachable), 1)
    hit = lax.eq(lax.broadcast_in_dim(lax.max(arr, 0), (n, reachable), (0,)), bins)
    picked = lax.select(hit, lax.broadcast_in_dim(w, (n, reachable), (0,)), 0)
    return _fit(lax.reduce_sum(picked, (0,)), length, 0)


# --- quantiles ----------------------------------------------------------------------------------

def _reduce_layout(a: Array, axis: int | Sequence[int] | None, keepdims: bool
                   ) -> tuple[Array, tuple[int, ...]]:
    """``a`` with the reduced axes flattened into a last axis, and the result's shape."""
    axes = canonicalize_axes(axis, a.ndim)
    kept = [i for i in range(a.ndim) if i not in axes]
    lanes = tuple(a.shape[i] for i in kept)
    x = lax.reshape(lax.transpose(a, (*kept, *axes)),
                    (*lanes, math.prod(a.shape[i] for i in axes)))
    out_shape = tuple(1 if i in axes else a.shape[i] for i in range(a.ndim)) if keepdims \
        else lanes
    return x, out_shape


def _interpolate(method: str, low: Array, high: Array, high_weight: Array,
                 qdtype: np.dtype) -> Array:
    if method == "lower":
        return low
    if method == "higher":
        return high
    if method == "nearest":
        return lax.select(lax.le(high_weight, 0.5), low, high)
    if method == "midpoint":
        return lax.mul(lax.add(low, high), 0.5)
    low_weight = lax.sub(1, high_weight)
    return lax.add(lax.mul(lax.convert_element_type(low, qdtype), low_weight),
                   lax.mul(lax.convert_element_type(high, qdtype), high_weight))


def _quantile(a: Any, q: Any, axis: int | Sequence[int] | None, method: str, keepdims: bool,
              skip_nans: bool, out: Any, overwrite_input: bool, weights: Any,
              name: str) -> Array:
    if out is not None or overwrite_input:
        raise ValueError(f"jnp.{name} does not support overwrite_input=True or out != None")
    if weights is not None:
        raise NotImplementedError(f"fborn.numpy.{name} does not support weights")
    if method not in _QUANTILE_METHODS:
        raise ValueError(f"method can only be one of {list(_QUANTILE_METHODS)}, got {method!r}")
    (arr,), (qs,) = promote_dtypes_inexact(asarray(a)), promote_dtypes_inexact(asarray(q))
    if qs.ndim > 1:
        raise ValueError(f"q must have rank <= 1, got shape {qs.shape}")
    x, out_shape = _reduce_layout(arr, axis, keepdims)
    if x.shape[-1] == 0:
        return _full((*qs.shape, *out_shape), np.nan, arr.dtype)
    x = lax.sort(x, dimension=x.ndim - 1)
    lanes, last = x.shape[:-1], x.ndim - 1
    shape = (*qs.shape, *lanes)
    qb = lax.broadcast_in_dim(qs, shape, tuple(range(qs.ndim)))
    nans = _isnan(x)
    if skip_nans:
        valid = lax.reduce_sum(lax.convert_element_type(lax.bitwise_not(nans), qs.dtype), (last,))
        count = lax.broadcast_in_dim(valid, shape, tuple(range(qs.ndim, len(shape))))
    else:
        count = _full(shape, x.shape[-1], qs.dtype)
    top = lax.sub(count, 1)
    pos = lax.mul(qb, top)
    low, high = lax.floor(pos), lax.ceil(pos)
    high_weight = lax.sub(pos, low)
    low = lax.convert_element_type(lax.max(lax.min(low, top), 0), dtypes.int32)
    high = lax.convert_element_type(lax.max(lax.min(high, top), 0), dtypes.int32)
    result = _interpolate(method, _take_last(x, low), _take_last(x, high), high_weight, qs.dtype)
    result = lax.convert_element_type(result, arr.dtype)
    if not skip_nans:
        lane_nan = lax.broadcast_in_dim(lax.reduce_or(nans, (last,)), shape,
                                        tuple(range(qs.ndim, len(shape))))
        result = lax.select(lane_nan, np.nan, result)
    return lax.reshape(result, (*qs.shape, *out_shape))


def quantile(a: Any, q: Any, axis: int | Sequence[int] | None = None, out: None = None,
             overwrite_input: bool = False, method: str = "linear", keepdims: bool = False,
             *, weights: Any = None) -> Array:
    """The ``q``-th quantiles (scalar or 1-D ``q`` in [0, 1]) of ``a`` over ``axis``; the result
    has shape ``q.shape + reduced shape``, ``a``'s float dtype (ints become the default float),
    and is NaN where a reduced lane holds a NaN. ``method``: 'linear', 'lower', 'higher',
    'midpoint' or 'nearest' (halves go to the lower value, as in JAX)."""
    return _quantile(a, q, axis, method, keepdims, False, out, overwrite_input, weights,
                     "quantile")


def nanquantile(a: Any, q: Any, axis: int | Sequence[int] | None = None, out: None = None,
                overwrite_input: bool = False, method: str = "linear", keepdims: bool = False,
                *, weights: Any = None) -> Array:
    """``quantile`` ignoring NaNs (an all-NaN lane gives NaN)."""
    return _quantile(a, q, axis, method, keepdims, True, out, overwrite_input, weights,
                     "nanquantile")


def _percent(q: Any) -> Array:
    (qs,) = promote_dtypes_inexact(asarray(q))
    return lax.div(qs, 100)


def percentile(a: Any, q: Any, axis: int | Sequence[int] | None = None, out: None = None,
               overwrite_input: bool = False, method: str = "linear", keepdims: bool = False,
               *, weights: Any = None) -> Array:
    """``quantile`` with ``q`` in percent (0..100)."""
    return _quantile(a, _percent(q), axis, method, keepdims, False, out, overwrite_input,
                     weights, "percentile")


def nanpercentile(a: Any, q: Any, axis: int | Sequence[int] | None = None, out: None = None,
                  overwrite_input: bool = False, method: str = "linear",
                  keepdims: bool = False, *, weights: Any = None) -> Array:
    """``nanquantile`` with ``q`` in percent (0..100)."""
    return _quantile(a, _percent(q), axis, method, keepdims, True, out, overwrite_input,
                     weights, "nanpercentile")


def median(a: Any, axis: int | Sequence[int] | None = None, out: None = None,
           overwrite_input: bool = False, keepdims: bool = False) -> Array:
    """Median of ``a`` over ``axis`` (the mean of the two middle values for even counts; NaN
    if a lane holds a NaN; NaN for an empty reduction)."""
    return _quantile(a, 0.5, axis, "midpoint", keepdims, False, out, overwrite_input, None,
                     "median")


def nanmedian(a: Any, axis: int | Sequence[int] | None = None, out: None = None,
              overwrite_input: bool = False, keepdims: bool = False) -> Array:
    """``median`` ignoring NaNs (an all-NaN lane gives NaN)."""
    return _quantile(a, 0.5, axis, "midpoint", keepdims, True, out, overwrite_input, None,
                     "nanmedian")
