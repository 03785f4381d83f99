"""Helpers for writing primitives' transform rules (jvp, transpose, batch).

Lives beside the primitives (not in ``fborn.transforms``) so that a primitive's rules can be
defined next to it; the transforms import these types too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fborn.core import dtypes
from fborn.core.array import ArrayImpl
from fborn.core.aval import ShapedArray
from fborn.core.primitive import Primitive
from fborn.core.trace import get_aval


class Zero:
    """A tangent (or cotangent) known to be zero, of abstract value ``aval``."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"Zero({self.aval.str_short()})"


def tangent_aval(aval: ShapedArray) -> ShapedArray:
    """Tangents of float values have the value's shape and dtype (never weak)."""
    return ShapedArray(aval.shape, aval.dtype, False)


def is_differentiable(aval: ShapedArray) -> bool:
    return dtypes.is_float(aval.dtype)


def zeros_from_aval(aval: ShapedArray) -> Any:
    """A materialized zero array of ``aval`` (a broadcast scalar, cheap under every transform)."""
    from fborn.primitives import shape as sh

    zero = ArrayImpl(np.zeros((), aval.dtype), weak_type=False)
    if not aval.shape:
        return zero
    return sh.broadcast_in_dim_p.bind(zero, shape=aval.shape, broadcast_dimensions=())


def instantiate(t: Any) -> Any:
    """Materialize a symbolic zero; other tangents pass through."""
    return zeros_from_aval(t.aval) if type(t) is Zero else t


def add_tangents(a: Any, b: Any) -> Any:
    """Sum of two tangents, skipping symbolic zeros."""
    if type(a) is Zero:
        return b
    if type(b) is Zero:
        return a
    from fborn.primitives import elementwise as ew

    return ew.add_p.bind(a, b)


class UndefinedPrimal:
    """A linear operand whose value is not known during transposition."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"UndefinedPrimal({self.aval.str_short()})"


def is_undefined(x: Any) -> bool:
    return type(x) is UndefinedPrimal



# --- jvp rules -------------------------------------------------------------

def defjvp(prim: Primitive, *partials: Callable[..., Any] | None) -> None:
    """Define ``prim``'s jvp from one function per operand, ``partial(t, *primals, **params)``
    giving that operand's contribution to the output tangent (None: not differentiable)."""

    def rule(primals: Sequence[Any], tangents: Sequence[Any], **params: Any) -> tuple[Any, Any]:
        out = prim.bind(*primals, **params)
        total: Any = Zero(tangent_aval(get_aval(out)))
        for fn, t in zip(partials, tangents, strict=True):
            if fn is not None and type(t) is not Zero:
                total = add_tangents(total, fn(t, *primals, **params))
        return out, total

    prim.jvp = rule


def defjvp_with_output(prim: Primitive,
                       *partials: Callable[..., Any] | None) -> None:
    """Like ``defjvp`` but each partial also receives the primal output first:
    ``partial(t, out, *primals, **params)`` (e.g. exp's derivative is its output)."""

    def rule(primals: Sequence[Any], tangents: Sequence[Any], **params: Any) -> tuple[Any, Any]:
        out = prim.bind(*primals, **params)
        total: Any = Zero(tangent_aval(get_aval(out)))
        for fn, t in zip(partials, tangents, strict=True):
            if fn is not None and type(t) is not Zero:
                total = add_tangents(total, fn(t, out, *primals, **params))
        return out, total

    prim.jvp = rule


def deflinear(prim: Primitive) -> None:
    """``prim`` is linear in all its operands jointly: its jvp applies it to the tangents."""

    def rule(primals: Sequence[Any], tangents: Sequence[Any], **params: Any) -> tuple[Any, Any]:
        out = prim.bind(*primals, **params)
        return out, prim.bind(*[instantiate(t) for t in tangents], **params)

    prim.jvp = rule


def zero_jvp(prim: Primitive) -> None:
    """``prim``'s output is piecewise constant (or integer): its tangent is zero."""

    def rule(primals: Sequence[Any], tangents: Sequence[Any], **params: Any) -> tuple[Any, Any]:
        out = prim.bind(*primals, **params)
        if prim.multiple_results:
            return out, [Zero(tangent_aval(get_aval(o))) for o in out]
        return out, Zero(tangent_aval(get_aval(out)))

    prim.jvp = rule


# --- batching rules ----------------------------------------------------------------

def move_axis(x: Any, src: int | None, dst: int, size: int) -> Any:
    """Move batch axis ``src`` of ``x`` to ``dst``; an unbatched value (src None) is broadcast
    to carry a batch axis of ``size`` at ``dst``."""
    from fborn.primitives import shape as sh

    aval = get_aval(x)
    if src is None:
        shape = aval.shape[:dst] + (size,) + aval.shape[dst:]
        dims = tuple(i if i < dst else i + 1 for i in range(aval.ndim))
        return sh.broadcast_in_dim_p.bind(x, shape=shape, broadcast_dimensions=dims)
    if src == dst:
        return x
    perm = [i for i in range(aval.ndim) if i != src]
    perm.insert(dst, src)
    return sh.transpose_p.bind(x, permutation=tuple(perm))


def batch_at_front(values: Sequence[Any], dims: Sequence[int | None], size: int) -> list[Any]:
    """Every operand with its batch axis first (unbatched ones broadcast)."""
    return [move_axis(v, d, 0, size) for v, d in zip(values, dims, strict=True)]


def batched_front_only(values: Sequence[Any], dims: Sequence[int | None]) -> list[Any]:
    """Batched operands with their batch axis first; unbatched ones unchanged."""
    return [v if d is None else move_axis(v, d, 0, 0) for v, d in zip(values, dims, strict=True)]


def batch_elementwise(prim: Primitive) -> None:
    """Batching for operands of equal shape: align every batch axis at the front (operands
    already batched at the same axis are used as they are)."""

    def rule(axis_data: Any, values: Sequence[Any], dims: Sequence[int | None],
             **params: Any) -> tuple[Any, Any]:
        if dims[0] is not None and all(d == dims[0] for d in dims):
            out_dim = dims[0]
        else:
            values, out_dim = batch_at_front(values, dims, axis_data.size), 0
        out = prim.bind(*values, **params)
        return out, [out_dim] * len(out) if prim.multiple_results else out_dim

    prim.batch = rule


def batch_axes_param(prim: Primitive, key: str = "axes") -> None:
    """Batching for one-operand primitives whose ``key`` param lists operand axes: the batch
    axis goes first and the axes shift by one."""

    def rule(axis_data: Any, values: Sequence[Any], dims: Sequence[int | None],
             **params: Any) -> tuple[Any, Any]:
        (x,) = batch_at_front(values, dims, axis_data.size)
        value = params[key]
        shifted = tuple(a + 1 for a in value) if isinstance(value, tuple) else value + 1
        return prim.bind(x, **{**params, key: shifted}), 0

    prim.batch = rule
