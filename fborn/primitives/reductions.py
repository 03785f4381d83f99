"""Reductions over axes (sum, max, min, prod, and, or), argmax/argmin and cumulative scans."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fborn.core import dtypes
from fborn.core.aval import ShapedArray
from fborn.core.errors import FbornShapeError
from fborn.core.primitive import Primitive
from fborn.primitives._checks import check_axes, check_dtype_kind


def _reduced(x: ShapedArray, axes: tuple[int, ...]) -> ShapedArray:
    check_axes(axes, x.ndim)
    shape = tuple(s for i, s in enumerate(x.shape) if i not in axes)
    return ShapedArray(shape, x.dtype, x.weak_type)


def reduction(name: str, impl: Callable[..., np.ndarray], kinds: str,
              needs_identity: bool = False) -> Primitive:
    """A primitive reducing ``axes`` of one operand; ``needs_identity`` refuses empty axes
    (max/min of nothing has no value for integers)."""
    prim = Primitive(name)

    @prim.def_abstract_eval
    def _abstract(x: ShapedArray, *, axes: tuple[int, ...]) -> ShapedArray:
        check_dtype_kind(x, kinds)
        return _reduced(x, axes)

    @prim.def_impl
    def _impl(x: np.ndarray, *, axes: tuple[int, ...]) -> np.ndarray:
        return np.asarray(impl(x, axes))

    return prim


def _extreme(fn: Callable[..., np.ndarray], empty_fill: Callable[[np.dtype], object]
             ) -> Callable[[np.ndarray, tuple[int, ...]], np.ndarray]:
    def run(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        if x.size == 0 or any(x.shape[a] == 0 for a in axes):
            shape = tuple(s for i, s in enumerate(x.shape) if i not in axes)
            return np.full(shape, empty_fill(x.dtype), dtype=x.dtype)
        return fn(x, axis=axes)

    return run


def _lowest(dtype: np.dtype) -> object:
    if dtype == np.bool_:
        return False
    return -np.inf if dtypes.is_float(dtype) else np.iinfo(dtype).min


def _highest(dtype: np.dtype) -> object:
    if dtype == np.bool_:
        return True
    return np.inf if dtypes.is_float(dtype) else np.iinfo(dtype).max


reduce_sum_p = reduction("reduce_sum", lambda x, axes: np.sum(x, axis=axes, dtype=x.dtype),
                         "fiu")
reduce_prod_p = reduction("reduce_prod", lambda x, axes: np.prod(x, axis=axes, dtype=x.dtype),
                          "fiu")
reduce_max_p = reduction("reduce_max", _extreme(np.max, _lowest), "fiub")
reduce_min_p = reduction("reduce_min", _extreme(np.min, _highest), "fiub")
reduce_and_p = reduction("reduce_and", lambda x, axes: np.all(x, axis=axes), "b")
reduce_or_p = reduction("reduce_or", lambda x, axes: np.any(x, axis=axes), "b")


def _arg_reduction(name: str, pick: Callable[..., np.ndarray]) -> Primitive:
    prim = Primitive(name)

    @prim.def_abstract_eval
    def _abstract(x: ShapedArray, *, axes: tuple[int], index_dtype: np.dtype) -> ShapedArray:
        check_axes(axes, x.ndim)
        if len(axes) != 1:
            raise FbornShapeError(f"{name} reduces exactly one axis, got {axes}")
        if x.shape[axes[0]] == 0:
            raise FbornShapeError(f"{name} of an empty axis {axes[0]} of {x.str_short()}")
        return ShapedArray(_reduced(x, axes).shape, index_dtype)

    @prim.def_impl
    def _impl(x: np.ndarray, *, axes: tuple[int], index_dtype: np.dtype) -> np.ndarray:
        # NaN wins (as in JAX): numpy's argmax/argmin already return the first NaN.
        return pick(x, axis=axes[0]).astype(index_dtype)

    return prim


argmax_p = _arg_reduction("argmax", np.argmax)
argmin_p = _arg_reduction("argmin", np.argmin)


def _cumulative(name: str, accumulate: Callable[..., np.ndarray], kinds: str) -> Primitive:
    prim = Primitive(name)

    @prim.def_abstract_eval
    def _abstract(x: ShapedArray, *, axis: int, reverse: bool) -> ShapedArray:
        check_dtype_kind(x, kinds)
        check_axes((axis,), x.ndim)
        return x

    @prim.def_impl
    def _impl(x: np.ndarray, *, axis: int, reverse: bool) -> np.ndarray:
        src = np.flip(x, axis) if reverse else x
        out = accumulate(src, axis=axis, dtype=x.dtype) if x.size else src.copy()
        return np.flip(out, axis) if reverse else out

    return prim


cumsum_p = _cumulative("cumsum", np.add.accumulate, "fiu")
cumprod_p = _cumulative("cumprod", np.multiply.accumulate, "fiu")
cummax_p = _cumulative("cummax", np.maximum.accumulate, "fiu")
cummin_p = _cumulative("cummin", np.minimum.accumulate, "fiu")


# --- transform rules ---------------------------------------------------------------------------
from fborn.lax import _ops as lax  # noqa: E402
from fborn.primitives import rules  # noqa: E402
from fborn.primitives.rules import Zero, deflinear, tangent_aval, zero_jvp  # noqa: E402

deflinear(reduce_sum_p)
deflinear(cumsum_p)
for _prim in (reduce_and_p, reduce_or_p, argmax_p, argmin_p):
    zero_jvp(_prim)
for _prim in (reduce_sum_p, reduce_prod_p, reduce_max_p, reduce_min_p, reduce_and_p,
              reduce_or_p, argmax_p, argmin_p):
    rules.batch_axes_param(_prim, "axes")
for _prim in (cumsum_p, cumprod_p, cummax_p, cummin_p):
    rules.batch_axes_param(_prim, "axis")


def _kept_dims(ndim: int, axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(i for i in range(ndim) if i not in axes)


def _reduce_sum_transpose(ct: object, x: object, *, axes: tuple[int, ...]) -> list:
    shape = x.aval.shape
    return [lax.broadcast_in_dim(ct, shape, _kept_dims(len(shape), axes))]


reduce_sum_p.transpose = _reduce_sum_transpose
cumsum_p.transpose = lambda ct, x, *, axis, reverse: [lax.cumsum(ct, axis, not reverse)]


def _chooser_jvp(prim: Primitive):
    """max/min: the tangent at the chosen location (averaged over ties, as JAX)."""

    def rule(primals: list, tangents: list, *, axes: tuple[int, ...]) -> tuple[object, object]:
        (x,), (t,) = primals, tangents
        out = prim.bind(x, axes=axes)
        kept = _kept_dims(x.aval.ndim, axes)
        chosen = lax.convert_element_type(lax.eq(x, lax.broadcast_in_dim(out, x.aval.shape,
                                                                         kept)), x.aval.dtype)
        count = lax.reduce_sum(chosen, axes)
        return out, lax.div(lax.reduce_sum(lax.mul(t, chosen), axes), count)

    prim.jvp = rule


_chooser_jvp(reduce_max_p)
_chooser_jvp(reduce_min_p)


def _reduce_prod_jvp(primals: list, tangents: list, *, axes: tuple[int, ...]
                     ) -> tuple[object, object]:
    """d prod = sum_i t_i * prod_{j != i} x_j, with the products of the others taken from
    exclusive prefix and suffix products (exact at zeros)."""
    (x,), (t,) = primals, tangents
    out = reduce_prod_p.bind(x, axes=axes)
    kept = _kept_dims(x.aval.ndim, axes)
    moved = lax.transpose(x, (*kept, *axes))
    t_moved = lax.transpose(t, (*kept, *axes))
    lead = tuple(x.aval.shape[i] for i in kept)
    n = int(np.prod([x.aval.shape[a] for a in axes], dtype=np.int64))
    flat = lax.reshape(moved, (*lead, n))
    t_flat = lax.reshape(t_moved, (*lead, n))
    last = len(lead)
    one = lax.convert_element_type(1, x.aval.dtype)
    pad_front = [(0, 0, 0)] * last + [(1, -1, 0)]
    pad_back = [(0, 0, 0)] * last + [(-1, 1, 0)]
    before = lax.pad(lax.cumprod(flat, last), one, pad_front)
    after = lax.pad(lax.cumprod(flat, last, reverse=True), one, pad_back)
    others = lax.mul(before, after)
    return out, lax.reduce_sum(lax.mul(t_flat, others), (last,))


reduce_prod_p.jvp = _reduce_prod_jvp


def _scan_pairs(combine, x: object, t: object, axis: int, reverse: bool, identity: float
                ) -> tuple[object, object]:
    """Inclusive prefix scan of (value, tangent) pairs with ``combine`` (Hillis-Steele: log2(n)
    shifted combines), so cumulative products/extrema get exact, transposable tangents."""
    n = x.aval.shape[axis]
    ndim = x.aval.ndim
    if reverse:
        x, t = lax.rev(x, (axis,)), lax.rev(t, (axis,))
    shift = 1
    fill_x = lax.convert_element_type(identity, x.aval.dtype)
    fill_t = lax.convert_element_type(0, t.aval.dtype)
    while shift < n:
        config = [(0, 0, 0)] * ndim
        config[axis] = (shift, -shift, 0)
        prev_x, prev_t = lax.pad(x, fill_x, config), lax.pad(t, fill_t, config)
        x, t = combine(prev_x, prev_t, x, t)
        shift *= 2
    if reverse:
        x, t = lax.rev(x, (axis,)), lax.rev(t, (axis,))
    return x, t


def _mul_pair(a: object, ta: object, b: object, tb: object) -> tuple[object, object]:
    return lax.mul(a, b), lax.add(lax.mul(ta, b), lax.mul(a, tb))


def _max_pair(a: object, ta: object, b: object, tb: object) -> tuple[object, object]:
    return lax.max(a, b), lax.select(lax.gt(a, b), ta, tb)


def _min_pair(a: object, ta: object, b: object, tb: object) -> tuple[object, object]:
    return lax.min(a, b), lax.select(lax.lt(a, b), ta, tb)


def _cumulative_jvp(prim: Primitive, combine, identity: float) -> None:
    def rule(primals: list, tangents: list, *, axis: int, reverse: bool
             ) -> tuple[object, object]:
        (x,), (t,) = primals, tangents
        out = prim.bind(x, axis=axis, reverse=reverse)
        if type(t) is Zero:
            return out, Zero(tangent_aval(out.aval))
        _, t_out = _scan_pairs(combine, x, t, axis, reverse, identity)
        return out, t_out

    prim.jvp = rule


_cumulative_jvp(cumprod_p, _mul_pair, 1.0)
_cumulative_jvp(cummax_p, _max_pair, -np.inf)
_cumulative_jvp(cummin_p, _min_pair, np.inf)
