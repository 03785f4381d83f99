"""Reductions of ``fborn.numpy``: sums, products, extrema, ``all``/``any``, means, variances,
arg-extrema, cumulative sums and products, ``average`` and the NaN-ignoring variants.

Dtype rules follow jax.numpy: ``sum``/``prod`` of bools and of integers narrower than the default
int give the default int (unsigned: uint32, or uint64 under x64); ``mean``/``var``/``std`` of
integers give the default float; float16/bfloat16 are accumulated in float32 and the result is
rounded back. Results are strongly typed. ``axis`` may be None, an int or a tuple (negative
allowed); ``where`` is a bool mask broadcast to the operand; ``out`` raises NotImplementedError.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fborn import lax
from fborn.core import dtypes
from fborn.core.array import Array, ArrayImpl
from fborn.core.errors import FbornShapeError
from fborn.numpy._ufuncs import (
    as_bool,
    check_arraylike,
    full_like,
    is_float,
    isnan_array,
)
from fborn.numpy._util import (
    ArrayLike,
    asarray,
    broadcast_to,
    canonicalize_axes,
    convert,
    inexact_dtype,
    promote_dtypes_inexact,
)

__all__ = [
    "all", "amax", "amin", "any", "argmax", "argmin", "average", "count_nonzero", "cumprod",
    "cumsum", "cumulative_prod", "cumulative_sum", "max", "mean", "min", "nancumprod",
    "nancumsum", "nanmax", "nanmean", "nanmin", "nanprod", "nanstd", "nansum", "nanvar", "prod",
    "ptp", "std", "sum", "var",
]

Axis = int | Sequence[int] | None

# kind -> (reduction over axes, binary combine for ``initial``, identity; None: has none)
_MONOIDS: dict[str, tuple[Callable[..., Array], Callable[[Array, Array], Array], Any]] = {
    "sum": (lax.reduce_sum, lax.add, 0),
    "prod": (lax.reduce_prod, lax.mul, 1),
    "max": (lax.reduce_max, lax.max, None),
    "min": (lax.reduce_min, lax.min, None),
    "all": (lax.reduce_and, lax.bitwise_and, True),
    "any": (lax.reduce_or, lax.bitwise_or, False),
}


# --- shared machinery ----------------------------------------------------------------------------


def _prepare(name: str, a: ArrayLike, out: None) -> Array:
    check_arraylike(name, a)
    if out is not None:
        raise NotImplementedError(f"The 'out' argument to {name} is not supported.")
    return asarray(a)


def _axes(axis: Axis, ndim: int) -> tuple[int, ...]:
    """Normalized reduction axes (all for None); FbornShapeError if out of range or repeated."""
    if axis is None:
        return tuple(range(ndim))
    if ndim == 0 and not (isinstance(axis, (tuple, list)) and len(axis) == 0):
        raise FbornShapeError(f"axis {axis} is out of bounds for an array of rank 0")
    return canonicalize_axes(axis, ndim)


def _dtype_arg(dtype: Any, default: np.dtype) -> np.dtype:
    """The canonical ``dtype`` argument, or ``default`` when it is None."""
    return default if dtype is None else dtypes.canonicalize(dtype)


def _upcast(dtype: np.dtype) -> np.dtype:
    """The accumulation dtype: float32 for float16/bfloat16, else ``dtype``."""
    return dtypes.float32 if dtype in (dtypes.float16, dtypes.bfloat16) else dtype


def _sum_dtype(dtype: np.dtype, promote_integers: bool) -> np.dtype:
    """jnp's sum/prod result dtype: bools and narrow integers widen to the default (u)int."""
    if dtype == dtypes.bool_:
        return dtypes.default_int()
    if promote_integers and dtypes.is_int(dtype):
        wide = dtypes.default_int()
        if dtype.kind == "u":
            wide = dtypes.canonicalize(dtypes.uint64)
        if dtype.itemsize < wide.itemsize:
            return wide
    return dtype


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def _keepdims(r: Array, shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> Array:
    return lax.reshape(r, _kept_shape(shape, axes)) if keepdims else r


def _mask(name: str, where: ArrayLike | None, shape: tuple[int, ...]) -> Array | None:
    """The ``where`` argument as a bool mask of ``shape``; ValueError if it is not bool."""
    if where is None:
        return None
    check_arraylike(name, where)
    mask = asarray(where)
    if mask.dtype != dtypes.bool_:
        raise ValueError(f"{name}: where must be None or a bool array, got dtype {mask.dtype}")
    return broadcast_to(mask, shape)


def _and_masks(mask: Array, other: Array | None) -> Array:
    return mask if other is None else lax.bitwise_and(mask, other)


def _extreme_identity(kind: str, dtype: np.dtype) -> Any:
    """The identity of max (the lowest value) or min (the highest) in ``dtype``."""
    lowest = kind == "max"
    if dtype == dtypes.bool_:
        return not lowest
    if dtypes.is_float(dtype):
        return -np.inf if lowest else np.inf
    info = np.iinfo(dtype)
    return info.min if lowest else info.max


def _like(r: Array, value: ArrayLike) -> Array:
    """``value`` (a static scalar or an array) as ``r``'s dtype, broadcast to ``r``'s shape."""
    if isinstance(value, (Array, np.ndarray)):
        return broadcast_to(convert(asarray(value), r.dtype, r.weak_type), r.shape)
    with np.errstate(all="ignore"):  # converts like convert_element_type (-1 -> uint max)
        return full_like(r, np.asarray(value).astype(r.dtype))


def _reduce(name: str, kind: str, x: Array, axes: tuple[int, ...], compute: np.dtype,
            out_dtype: np.dtype, keepdims: bool = False, initial: ArrayLike | None = None,
            mask: Array | None = None) -> Array:
    """Reduce ``x`` over ``axes`` with monoid ``kind`` in dtype ``compute``; masked-out elements
    become the identity, ``initial`` joins the result, which is converted to ``out_dtype``."""
    if compute == dtypes.bool_ and kind in ("sum", "prod"):
        kind = "any" if kind == "sum" else "all"
    reduce_fn, combine, identity = _MONOIDS[kind]
    shape = x.shape
    if identity is None:
        if initial is None and mask is not None:
            raise ValueError(f"reduction operation {name} has no identity, so a where mask "
                             f"needs an 'initial' value")
        if initial is None and builtins.any(shape[a] == 0 for a in axes):
            raise ValueError(f"zero-size array to reduction operation {name} which has no "
                             f"identity (shape {shape}, axes {axes}); pass initial=")
        identity = _extreme_identity(kind, compute)
    x = convert(x, compute, weak=False)
    if mask is not None:
        x = lax.select(mask, x, full_like(x, identity))
    r = reduce_fn(x, axes)
    if initial is not None:
        check_arraylike(name, initial)
        r = combine(r, _like(r, initial))
    return _keepdims(convert(r, out_dtype, weak=False), shape, axes, keepdims)


def _count(shape: tuple[int, ...], axes: tuple[int, ...], mask: Array | None,
           dtype: np.dtype) -> Array:
    """How many elements each reduction covers, as ``dtype`` of the reduced shape."""
    if mask is not None:
        return lax.reduce_sum(convert(mask, dtype, weak=False), axes)
    reduced = tuple(d for i, d in enumerate(shape) if i not in axes)
    n = np.array(math.prod(shape[a] for a in axes)).astype(dtype)
    return lax.broadcast_in_dim(ArrayImpl(n), reduced, ())


# --- sum, prod, max, min, all, any ---------------------------------------------------------------


def sum(a: ArrayLike, axis: Axis = None, dtype: Any = None,  # noqa: A001 - numpy name
        out: None = None, keepdims: bool = False, initial: ArrayLike | None = None,
        where: ArrayLike | None = None, promote_integers: bool = True) -> Array:
    """Sum over ``axis``; bools and narrow integers widen to the default (u)int unless
    ``promote_integers=False``; an empty sum is 0 (plus ``initial``)."""
    x = _prepare("sum", a, out)
    out_dtype = _dtype_arg(dtype, _sum_dtype(x.dtype, promote_integers))
    return _reduce("sum", "sum", x, _axes(axis, x.ndim), _upcast(out_dtype), out_dtype,
                   keepdims, initial, _mask("sum", where, x.shape))


def prod(a: ArrayLike, axis: Axis = None, dtype: Any = None, out: None = None,
         keepdims: bool = False, initial: ArrayLike | None = None,
         where: ArrayLike | None = None, promote_integers: bool = True) -> Array:
    """Product over ``axis`` (dtype rules as ``sum``); an empty product is 1."""
    x = _prepare("prod", a, out)
    out_dtype = _dtype_arg(dtype, _sum_dtype(x.dtype, promote_integers))
    return _reduce("prod", "prod", x, _axes(axis, x.ndim), _upcast(out_dtype), out_dtype,
                   keepdims, initial, _mask("prod", where, x.shape))


def _extreme(kind: str, doc: str) -> Callable[..., Array]:
    def op(a: ArrayLike, axis: Axis = None, out: None = None, keepdims: bool = False,
           initial: ArrayLike | None = None, where: ArrayLike | None = None) -> Array:
        x = _prepare(kind, a, out)
        return _reduce(kind, kind, x, _axes(axis, x.ndim), x.dtype, x.dtype, keepdims, initial,
                       _mask(kind, where, x.shape))

    op.__name__ = op.__qualname__ = kind
    op.__doc__ = (f"{doc} over ``axis`` (NaN propagates). Empty reductions and ``where`` masks "
                  f"need ``initial``, else ValueError.")
    return op


max = _extreme("max", "Maximum")  # noqa: A001 - numpy name
min = _extreme("min", "Minimum")  # noqa: A001 - numpy name
amax, amin = max, min


def _logical(kind: str, doc: str) -> Callable[..., Array]:
    def op(a: ArrayLike, axis: Axis = None, out: None = None, keepdims: bool = False, *,
           where: ArrayLike | None = None) -> Array:
        x = _prepare(kind, a, out)
        return _reduce(kind, kind, x, _axes(axis, x.ndim), dtypes.bool_, dtypes.bool_, keepdims,
                       None, _mask(kind, where, x.shape))

    op.__name__ = op.__qualname__ = kind
    op.__doc__ = f"{doc} over ``axis`` (elements count as ``x != 0``); a bool Array."
    return op


all = _logical("all", "Whether every element is true")  # noqa: A001 - numpy name
any = _logical("any", "Whether some element is true")  # noqa: A001 - numpy name


# --- mean, var, std ------------------------------------------------------------------------------


def _mean_core(x: Array, axes: tuple[int, ...], compute: np.dtype,
               mask: Array | None) -> Array:
    total = _reduce("mean", "sum", x, axes, compute, compute, mask=mask)
    return lax.div(total, _count(x.shape, axes, mask, compute))


def mean(a: ArrayLike, axis: Axis = None, dtype: Any = None, out: None = None,
         keepdims: bool = False, *, where: ArrayLike | None = None,
         upcast_f16_for_computation: bool = True) -> Array:
    """Arithmetic mean over ``axis``; integers and bools give the default float. The mean of
    nothing is NaN."""
    x = _prepare("mean", a, out)
    axes = _axes(axis, x.ndim)
    out_dtype = _dtype_arg(dtype, inexact_dtype(x.dtype))
    compute = _upcast(out_dtype) if upcast_f16_for_computation else out_dtype
    r = _mean_core(x, axes, compute, _mask("mean", where, x.shape))
    return _keepdims(convert(r, out_dtype, weak=False), x.shape, axes, keepdims)


def _correction(ddof: int | float, correction: int | float | None) -> int | float:
    if correction is None:
        return ddof
    if ddof != 0:
        raise ValueError("ddof and correction can't be provided simultaneously.")
    return correction


def _var_core(x: Array, axes: tuple[int, ...], compute: np.dtype, correction: int | float,
              mask: Array | None) -> Array:
    """The variance in dtype ``compute``; NaN where ``count - correction <= 0``."""
    xc = convert(x, compute, weak=False)
    kept = tuple(i for i in range(x.ndim) if i not in axes)
    center = lax.broadcast_in_dim(_mean_core(xc, axes, compute, mask), x.shape, kept)
    centered = lax.sub(xc, center)
    total = _reduce("var", "sum", lax.mul(centered, centered), axes, compute, compute,
                    mask=mask)
    if mask is None:
        norm = math.prod(x.shape[a] for a in axes) - correction
        return lax.div(total, full_like(total, norm if norm > 0 else np.nan))
    norm = lax.sub(_count(x.shape, axes, mask, compute), full_like(total, correction))
    return lax.select(lax.le(norm, full_like(norm, 0)), full_like(total, np.nan),
                      lax.div(total, norm))


def _variance(name: str, a: ArrayLike, axis: Axis, dtype: Any, out: None, correction: Any,
              keepdims: bool, where: ArrayLike | None, nan_aware: bool, root: bool) -> Array:
    x = _prepare(name, a, out)
    axes = _axes(axis, x.ndim)
    out_dtype = _dtype_arg(dtype, inexact_dtype(x.dtype))
    compute = _upcast(out_dtype) if dtypes.is_float(out_dtype) else inexact_dtype(out_dtype)
    mask = _mask(name, where, x.shape)
    if nan_aware and is_float(x):
        mask = _and_masks(lax.bitwise_not(isnan_array(x)), mask)
    r = _var_core(x, axes, compute, correction, mask)
    if root:
        r = lax.sqrt(r)
    return _keepdims(convert(r, out_dtype, weak=False), x.shape, axes, keepdims)


def var(a: ArrayLike, axis: Axis = None, dtype: Any = None, out: None = None,
        ddof: int | float = 0, keepdims: bool = False, *, where: ArrayLike | None = None,
        correction: int | float | None = None) -> Array:
    """Variance over ``axis``, dividing by ``count - ddof`` (``correction`` is the array-API
    name; giving both raises ValueError). NaN where ``count - ddof <= 0``."""
    return _variance("var", a, axis, dtype, out, _correction(ddof, correction), keepdims, where,
                     nan_aware=False, root=False)


def std(a: ArrayLike, axis: Axis = None, dtype: Any = None, out: None = None,
        ddof: int | float = 0, keepdims: bool = False, *, where: ArrayLike | None = None,
        correction: int | float | None = None) -> Array:
    """Standard deviation over ``axis``: the square root of ``var``."""
    return _variance("std", a, axis, dtype, out, _correction(ddof, correction), keepdims, where,
                     nan_aware=False, root=True)


# --- argmax, argmin ------------------------------------------------------------------------------


def _arg_extreme(name: str, fn: Callable[..., Array], a: ArrayLike, axis: int | None,
                 out: None, keepdims: bool | None) -> Array:
    x = _prepare(name, a, out)
    if axis is None:
        flat, ax = lax.reshape(x, (x.size,)), 0
    else:
        flat, ax = x, _axes(int(axis), x.ndim)[0]
    if flat.shape[ax] == 0:
        raise ValueError(f"attempt to get {name} of an empty sequence (shape {x.shape})")
    r = fn(flat, ax, dtypes.default_int())
    if not keepdims:
        return r
    return lax.reshape(r, _kept_shape(x.shape, tuple(range(x.ndim)) if axis is None else (ax,)))


def argmax(a: ArrayLike, axis: int | None = None, out: None = None,
           keepdims: bool | None = None) -> Array:
    """Index (default int) of the first maximum along ``axis`` (of the flattened array for
    None); NaN counts as the maximum. ValueError for an empty axis."""
    return _arg_extreme("argmax", lax.argmax, a, axis, out, keepdims)


def argmin(a: ArrayLike, axis: int | None = None, out: None = None,
           keepdims: bool | None = None) -> Array:
    """Index (default int) of the first minimum along ``axis`` (of the flattened array for
    None); NaN counts as the minimum. ValueError for an empty axis."""
    return _arg_extreme("argmin", lax.argmin, a, axis, out, keepdims)


# --- cumulative reductions -----------------------------------------------------------------------


def _cumulative(name: str, fn: Callable[..., Array], x: Array, axis: int | None, dtype: Any,
                promote_integers: bool) -> Array:
    if axis is None:
        x, ax = lax.reshape(x, (x.size,)), 0
    else:
        ax = _axes(int(axis), x.ndim)[0]
    out_dtype = _dtype_arg(dtype, _sum_dtype(x.dtype, promote_integers))
    if out_dtype == dtypes.bool_:  # running or / and: count (or multiply) the true elements
        counts = fn(convert(convert(x, dtypes.bool_, False), dtypes.int32, False), ax)
        return lax.ne(counts, full_like(counts, 0))
    r = fn(convert(x, _upcast(out_dtype), weak=False), ax)
    return convert(r, out_dtype, weak=False)


def cumsum(a: ArrayLike, axis: int | None = None, dtype: Any = None, out: None = None) -> Array:
    """Running sum along ``axis`` (of the flattened array for None); bools count as the
    default int, other dtypes are kept."""
    x = _prepare("cumsum", a, out)
    return _cumulative("cumsum", lax.cumsum, x, axis, dtype, promote_integers=False)


def cumprod(a: ArrayLike, axis: int | None = None, dtype: Any = None, out: None = None) -> Array:
    """Running product along ``axis`` (of the flattened array for None); bools count as the
    default int, other dtypes are kept."""
    x = _prepare("cumprod", a, out)
    return _cumulative("cumprod", lax.cumprod, x, axis, dtype, promote_integers=False)


def _nan_filled(x: Array, value: Any) -> Array:
    return lax.select(isnan_array(x), full_like(x, value), x) if is_float(x) else x


def nancumsum(a: ArrayLike, axis: int | None = None, dtype: Any = None,
              out: None = None) -> Array:
    """``cumsum`` treating NaN as 0."""
    x = _prepare("nancumsum", a, out)
    return _cumulative("nancumsum", lax.cumsum, _nan_filled(x, 0), axis, dtype, False)


def nancumprod(a: ArrayLike, axis: int | None = None, dtype: Any = None,
               out: None = None) -> Array:
    """``cumprod`` treating NaN as 1."""
    x = _prepare("nancumprod", a, out)
    return _cumulative("nancumprod", lax.cumprod, _nan_filled(x, 1), axis, dtype, False)


def _array_api_cumulative(name: str, fn: Callable[..., Array], identity: int, x: ArrayLike,
                          axis: int | None, dtype: Any, include_initial: bool,
                          promote_integers: bool) -> Array:
    arr = _prepare(name, x, None)
    if arr.ndim == 0:
        raise ValueError(f"{name} needs an array of rank >= 1, got a scalar")
    if axis is None:
        if arr.ndim > 1:
            raise ValueError(f"{name}: axis is required for an array of rank {arr.ndim}")
        axis = 0
    ax = _axes(int(axis), arr.ndim)[0]
    r = _cumulative(name, fn, arr, ax, dtype, promote_integers)
    if not include_initial:
        return r
    config = [(1, 0, 0) if i == ax else (0, 0, 0) for i in range(r.ndim)]
    return lax.pad(r, ArrayImpl(np.array(identity, dtype=r.dtype)), config)


def cumulative_sum(x: ArrayLike, /, *, axis: int | None = None, dtype: Any = None,
                   include_initial: bool = False) -> Array:
    """Array-API running sum: ``axis`` is needed above rank 1; integers widen as in ``sum``;
    ``include_initial`` prepends a 0."""
    return _array_api_cumulative("cumulative_sum", lax.cumsum, 0, x, axis, dtype,
                                 include_initial, promote_integers=True)


def cumulative_prod(x: ArrayLike, /, *, axis: int | None = None, dtype: Any = None,
                    include_initial: bool = False) -> Array:
    """Array-API running product: ``axis`` is needed above rank 1; ``include_initial``
    prepends a 1."""
    return _array_api_cumulative("cumulative_prod", lax.cumprod, 1, x, axis, dtype,
                                 include_initial, promote_integers=False)


# --- average, count_nonzero, ptp -----------------------------------------------------------------


def _weights_like(x: Array, w: Array, axis: Axis) -> tuple[Array, tuple[int, ...]]:
    """``w`` broadcast to ``x``'s shape along ``axis``, and the normalized axes."""
    if w.shape == x.shape:
        return w, _axes(axis, x.ndim)
    if axis is None:
        raise ValueError("Axis must be specified when shapes of a and weights differ.")
    axes = _axes(axis, x.ndim)
    if w.shape != tuple(x.shape[a] for a in axes):
        raise ValueError(f"average: weights of shape {w.shape} do not match the axes {axes} "
                         f"of an array of shape {x.shape}")
    order = sorted(range(len(axes)), key=lambda i: axes[i])
    w = lax.transpose(w, order)
    return lax.broadcast_in_dim(w, x.shape, sorted(axes)), axes


def average(a: ArrayLike, axis: Axis = None, weights: ArrayLike | None = None,
            returned: bool = False, keepdims: bool = False) -> Array | tuple[Array, Array]:
    """Weighted mean over ``axis``: ``sum(a * w) / sum(w)``; ``weights`` has ``a``'s shape or
    the shape of ``a`` along ``axis`` (ValueError otherwise). With ``returned``, also the sum of
    the weights, broadcast to the result's shape."""
    x = _prepare("average", a, None)
    if weights is None:
        avg = mean(x, axis, keepdims=keepdims)
        axes = _axes(axis, x.ndim)
        total = full_like(avg, math.prod(x.shape[i] for i in axes))
        return (avg, total) if returned else avg
    check_arraylike("average", weights)
    x, w = promote_dtypes_inexact(x, weights)
    w, axes = _weights_like(x, w, axis)
    compute = _upcast(x.dtype)
    total = _reduce("average", "sum", w, axes, compute, compute)
    avg = lax.div(_reduce("average", "sum", lax.mul(x, w), axes, compute, compute), total)
    avg = _keepdims(convert(avg, x.dtype, weak=False), x.shape, axes, keepdims)
    if not returned:
        return avg
    return avg, _keepdims(convert(total, x.dtype, weak=False), x.shape, axes, keepdims)


def count_nonzero(a: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Array:
    """How many elements are nonzero along ``axis`` (default int)."""
    x = _prepare("count_nonzero", a, None)
    count_dtype = dtypes.default_int()
    return _reduce("count_nonzero", "sum", as_bool(x), _axes(axis, x.ndim), count_dtype,
                   count_dtype, keepdims)


def ptp(a: ArrayLike, axis: Axis = None, out: None = None, keepdims: bool = False) -> Array:
    """Range ``max - min`` along ``axis``; bools raise FbornDtypeError."""
    x = _prepare("ptp", a, out)
    return lax.sub(max(x, axis, keepdims=keepdims), min(x, axis, keepdims=keepdims))


# --- NaN-ignoring reductions ---------------------------------------------------------------------


def nansum(a: ArrayLike, axis: Axis = None, dtype: Any = None, out: None = None,
           keepdims: bool = False, initial: ArrayLike | None = None,
           where: ArrayLike | None = None) -> Array:
    """``sum`` treating NaN as 0."""
    x = _prepare("nansum", a, out)
    return sum(_nan_filled(x, 0), axis, dtype, None, keepdims, initial, where)


def nanprod(a: ArrayLike, axis: Axis = None, dtype: Any = None, out: None = None,
            keepdims: bool = False, initial: ArrayLike | None = None,
            where: ArrayLike | None = None) -> Array:
    """``prod`` treating NaN as 1."""
    x = _prepare("nanprod", a, out)
    return prod(_nan_filled(x, 1), axis, dtype, None, keepdims, initial, where)


def _nan_extreme(kind: str, reduce: Callable[..., Array]) -> Callable[..., Array]:
    def op(a: ArrayLike, axis: Axis = None, out: None = None, keepdims: bool = False,
           initial: ArrayLike | None = None, where: ArrayLike | None = None) -> Array:
        x = _prepare(f"nan{kind}", a, out)
        if not is_float(x):
            return reduce(x, axis, None, keepdims, initial, where)
        filled = _nan_filled(x, _extreme_identity(kind, x.dtype))
        r = reduce(filled, axis, None, keepdims, initial, where)
        if initial is not None:
            return r
        all_nan = all(isnan_array(x), axis, keepdims=keepdims, where=where)
        return lax.select(all_nan, full_like(r, np.nan), r)

    op.__name__ = op.__qualname__ = f"nan{kind}"
    op.__doc__ = (f"``{kind}`` ignoring NaN; NaN where every element is NaN (unless "
                  f"``initial`` is given).")
    return op


nanmax = _nan_extreme("max", max)
nanmin = _nan_extreme("min", min)


def nanmean(a: ArrayLike, axis: Axis = None, dtype: Any = None, out: None = None,
            keepdims: bool = False, where: ArrayLike | None = None) -> Array:
    """``mean`` of the non-NaN elements (NaN where there are none)."""
    x = _prepare("nanmean", a, out)
    axes = _axes(axis, x.ndim)
    out_dtype = _dtype_arg(dtype, inexact_dtype(x.dtype))
    mask = _mask("nanmean", where, x.shape)
    if is_float(x):
        mask = _and_masks(lax.bitwise_not(isnan_array(x)), mask)
    r = _mean_core(x, axes, _upcast(out_dtype), mask)
    return _keepdims(convert(r, out_dtype, weak=False), x.shape, axes, keepdims)


def nanvar(a: ArrayLike, axis: Axis = None, dtype: Any = None, out: None = None,
           ddof: int | float = 0, keepdims: bool = False,
           where: ArrayLike | None = None) -> Array:
    """``var`` of the non-NaN elements."""
    return _variance("nanvar", a, axis, dtype, out, ddof, keepdims, where, nan_aware=True,
                     root=False)


def nanstd(a: ArrayLike, axis: Axis = None, dtype: Any = None, out: None = None,
           ddof: int | float = 0, keepdims: bool = False,
           where: ArrayLike | None = None) -> Array:
    """``std`` of the non-NaN elements."""
    return _variance("nanstd", a, axis, dtype, out, ddof, keepdims, where, nan_aware=True,
                     root=True)
