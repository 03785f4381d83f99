"""Collectives over a named mapped axis: psum, pmax, pmin, all_gather, axis_index, ppermute,
psum_scatter.

They only have meaning under a transform that names an axis (``vmap(axis_name=...)`` here,
``pmap`` across devices): their batching rules implement them over the batch axis. Evaluated
outside any such transform they raise ``NameError: unbound axis name``, as in JAX.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fborn.core.aval import ShapedArray
from fborn.core.errors import FbornShapeError
from fborn.core.primitive import Primitive


def _names(axis_name: Any) -> tuple[Any, ...]:
    return axis_name if isinstance(axis_name, tuple) else (axis_name,)


def _unbound(*values: Any, axis_name: Any, **params: Any) -> Any:
    raise NameError(f"unbound axis name: {_names(axis_name)[0]}. Collectives such as psum "
                    f"must run inside vmap or pmap with a matching axis_name.")


def _same_aval(x: ShapedArray, **params: Any) -> ShapedArray:
    return x


psum_p = Primitive("psum")
pmax_p = Primitive("pmax")
pmin_p = Primitive("pmin")
ppermute_p = Primitive("ppermute")
for _prim in (psum_p, pmax_p, pmin_p, ppermute_p):
    _prim.def_abstract_eval(_same_aval)
    _prim.def_impl(_unbound)

all_gather_p = Primitive("all_gather")
psum_scatter_p = Primitive("psum_scatter")
axis_index_p = Primitive("axis_index")


@all_gather_p.def_abstract_eval
def _all_gather_abstract(x: ShapedArray, *, axis_name: Any, axis: int, tiled: bool,
                         axis_size: int) -> ShapedArray:
    if tiled:
        shape = list(x.shape)
        shape[axis] *= axis_size
        return ShapedArray(tuple(shape), x.dtype, x.weak_type)
    return ShapedArray((*x.shape[:axis], axis_size, *x.shape[axis:]), x.dtype, x.weak_type)


@psum_scatter_p.def_abstract_eval
def _psum_scatter_abstract(x: ShapedArray, *, axis_name: Any, scatter_dimension: int,
                           tiled: bool, axis_size: int) -> ShapedArray:
    size = x.shape[scatter_dimension]
    if size % axis_size:
        raise FbornShapeError(f"psum_scatter: dimension {scatter_dimension} of {x.str_short()} "
                              f"is not divisible by the axis size {axis_size}")
    shape = list(x.shape)
    if tiled:
        shape[scatter_dimension] = size // axis_size
    else:
        if size != axis_size:
            raise FbornShapeError(f"psum_scatter with tiled=False needs dimension "
                                  f"{scatter_dimension} of {x.str_short()} to equal the axis "
                                  f"size {axis_size}")
        del shape[scatter_dimension]
    return ShapedArray(tuple(shape), x.dtype, x.weak_type)


axis_index_p.def_abstract_eval(
    lambda *, axis_name: ShapedArray((), np.dtype(np.int32)))
for _prim in (all_gather_p, psum_scatter_p, axis_index_p):
    _prim.def_impl(_unbound)


# --- rules -------------------------------------------------------------------------------------
from fborn.lax import _ops as lax  # noqa: E402
from fborn.primitives import rules  # noqa: E402


def _other_names(axis_name: Any, mine: Any) -> tuple[Any, ...]:
    return tuple(n for n in _names(axis_name) if n != mine)


def _reduce_batch(prim: Primitive, reduce: Any, unbatched: Any):
    """Batch rule for an all-reduce: reduce over the batch axis when it is ours; the result is
    the same for every member (unbatched). Other axis names pass through to the parent."""

    def rule(axis: Any, values: list, dims: list, *, axis_name: Any) -> tuple[Any, Any]:
        (x,), (d,) = values, dims
        if axis.name not in _names(axis_name):
            return prim.bind(x, axis_name=axis_name), d
        out = unbatched(x, axis.size) if d is None else reduce(x, (d,))
        rest = _other_names(axis_name, axis.name)
        if rest:
            out = prim.bind(out, axis_name=rest if len(rest) > 1 else rest[0])
        return out, None

    prim.batch = rule


def _scale(x: Any, size: int) -> Any:
    scale = lax.convert_element_type(size, x.aval.dtype)
    return lax.mul(x, lax.broadcast_in_dim(scale, x.aval.shape, ()))


_reduce_batch(psum_p, lax.reduce_sum, _scale)
_reduce_batch(pmax_p, lax.reduce_max, lambda x, size: x)
_reduce_batch(pmin_p, lax.reduce_min, lambda x, size: x)
rules.deflinear(psum_p)
# The cotangent of a sum over the axis is itself summed over the axis (as in JAX).
psum_p.transpose = lambda ct, x, *, axis_name: [psum_p.bind(ct, axis_name=axis_name)]


def _gather_batch(axis_data: Any, values: list, dims: list, *, axis_name: Any, axis: int,
                  tiled: bool, axis_size: int) -> tuple[Any, Any]:
    (x,), (d,) = values, dims
    if axis_data.name not in _names(axis_name):
        x = rules.move_axis(x, d, 0, axis_data.size)
        return all_gather_p.bind(x, axis_name=axis_name, axis=axis + 1, tiled=tiled,
                                 axis_size=axis_size), 0
    stacked = rules.move_axis(x, d, axis, axis_data.size)
    if tiled:
        shape = list(stacked.aval.shape)
        merged = shape[:axis] + [shape[axis] * shape[axis + 1]] + shape[axis + 2:]
        stacked = lax.reshape(stacked, merged)
    return stacked, None


all_gather_p.batch = _gather_batch
rules.deflinear(all_gather_p)


def _axis_index_batch(axis: Any, values: list, dims: list, *, axis_name: Any
                      ) -> tuple[Any, Any]:
    if axis.name != axis_name:
        return axis_index_p.bind(axis_name=axis_name), None
    return lax.iota(np.int32, axis.size), 0


axis_index_p.batch = _axis_index_batch


def _ppermute_batch(axis: Any, values: list, dims: list, *, axis_name: Any,
                    perm: tuple[tuple[int, int], ...]) -> tuple[Any, Any]:
    (x,), (d,) = values, dims
    if axis.name not in _names(axis_name):
        return ppermute_p.bind(x, axis_name=axis_name, perm=perm), d
    x = rules.move_axis(x, d, 0, axis.size)
    zeros = rules.zeros_from_aval(x.aval)
    rows = []
    sources = {dst: src for src, dst in perm}
    for member in range(axis.size):
        src = sources.get(member)
        base = zeros if src is None else x
        row = src if src is not None else member
        starts = [row] + [0] * (x.aval.ndim - 1)
        limits = [row + 1, *x.aval.shape[1:]]
        rows.append(lax.slice(base, starts, limits))
    return lax.concatenate(rows, 0), 0


ppermute_p.batch = _ppermute_batch
rules.deflinear(ppermute_p)
ppermute_p.transpose = lambda ct, x, *, axis_name, perm: [
    ppermute_p.bind(ct, axis_name=axis_name, perm=tuple((d, s) for s, d in perm))]


def _psum_scatter_batch(axis: Any, values: list, dims: list, *, axis_name: Any,
                        scatter_dimension: int, tiled: bool, axis_size: int
                        ) -> tuple[Any, Any]:
    (x,), (d,) = values, dims
    if axis.name not in _names(axis_name):
        x = rules.move_axis(x, d, 0, axis.size)
        return psum_scatter_p.bind(x, axis_name=axis_name, scatter_dimension=scatter_dimension
                                   + 1, tiled=tiled, axis_size=axis_size), 0
    total = lax.reduce_sum(rules.move_axis(x, d, 0, axis.size), (0,))
    shape = total.aval.shape
    size = shape[scatter_dimension]
    chunk = size // axis.size
    split = (*shape[:scatter_dimension], axis.size, chunk, *shape[scatter_dimension + 1:])
    parts = lax.reshape(total, split)
    perm = (scatter_dimension, *[i for i in range(len(split)) if i != scatter_dimension])
    out = lax.transpose(parts, perm)
    if not tiled:
        out = lax.reshape(out, (axis.size, *shape[:scatter_dimension],
                                *shape[scatter_dimension + 1:]))
    return out, 0


psum_scatter_p.batch = _psum_scatter_batch
rules.deflinear(psum_scatter_p)
