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
