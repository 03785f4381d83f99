"""Collectives over named mapped axes (``vmap(..., axis_name=)`` and ``pmap``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fborn.core.trace import axis_size, to_array
from fborn.core.tree import tree_flatten, tree_unflatten
from fborn.lax import _ops as lax
from fborn.primitives import collectives as _c

__all__ = ["all_gather", "axis_index", "pmax", "pmean", "pmin", "ppermute", "psum",
           "psum_scatter"]


def _check_bound(axis_name: Any) -> None:
    for name in (axis_name if isinstance(axis_name, tuple) else (axis_name,)):
        axis_size(name)


def _tree_apply(x: Any, fn: Any) -> Any:
    leaves, tree = tree_flatten(x)
    return tree_unflatten(tree, [fn(to_array(leaf)) for leaf in leaves])


def psum(x: Any, axis_name: Any) -> Any:
    """Sum of ``x`` (a pytree) over the members of the mapped axis ``axis_name``."""
    _check_bound(axis_name)
    return _tree_apply(x, lambda v: _c.psum_p.bind(v, axis_name=axis_name))


def pmean(x: Any, axis_name: Any) -> Any:
    """Mean of ``x`` over the mapped axis ``axis_name``."""
    names = axis_name if isinstance(axis_name, tuple) else (axis_name,)
    _check_bound(axis_name)
    count = 1
    for name in names:
        count *= axis_size(name)
    return _tree_apply(psum(x, axis_name), lambda v: lax.div(v, lax.broadcast_in_dim(
        lax.convert_element_type(count, v.dtype), v.shape, ())))


def pmax(x: Any, axis_name: Any) -> Any:
    """Maximum of ``x`` over the mapped axis ``axis_name``."""
    _check_bound(axis_name)
    return _tree_apply(x, lambda v: _c.pmax_p.bind(v, axis_name=axis_name))


def pmin(x: Any, axis_name: Any) -> Any:
    """Minimum of ``x`` over the mapped axis ``axis_name``."""
    _check_bound(axis_name)
    return _tree_apply(x, lambda v: _c.pmin_p.bind(v, axis_name=axis_name))


def all_gather(x: Any, axis_name: Any, *, axis: int = 0, tiled: bool = False) -> Any:
    """Every member's ``x`` stacked along a new axis ``axis`` (concatenated if ``tiled``)."""
    size = axis_size(axis_name)

    def gather(v: Any) -> Any:
        pos = axis % (v.ndim + (0 if tiled else 1)) if v.ndim or not tiled else 0
        return _c.all_gather_p.bind(v, axis_name=axis_name, axis=pos, tiled=tiled,
                                    axis_size=size)

    return _tree_apply(x, gather)


def axis_index(axis_name: Any) -> Any:
    """This member's position (int32) along the mapped axis ``axis_name``."""
    axis_size(axis_name)
    return _c.axis_index_p.bind(axis_name=axis_name)


def ppermute(x: Any, axis_name: Any, perm: Sequence[tuple[int, int]]) -> Any:
    """Send each member's ``x`` to another: ``perm`` lists (source, destination) pairs;
    members that receive nothing get zeros."""
    size = axis_size(axis_name)
    pairs = tuple((int(s), int(d)) for s, d in perm)
    dsts = [d for _, d in pairs]
    if len(set(dsts)) != len(dsts) or len({s for s, _ in pairs}) != len(pairs) or any(
            not 0 <= i < size for pair in pairs for i in pair):
        raise ValueError(f"ppermute perm {perm} must be pairs of distinct sources and distinct "
                         f"destinations in range({size})")
    return _tree_apply(x, lambda v: _c.ppermute_p.bind(v, axis_name=axis_name, perm=pairs))


def psum_scatter(x: Any, axis_name: Any, *, scatter_dimension: int = 0,
                 tiled: bool = False) -> Any:
    """The sum over the axis, split along ``scatter_dimension``: member i keeps block i."""
    size = axis_size(axis_name)
    return _tree_apply(x, lambda v: _c.psum_scatter_p.bind(
        v, axis_name=axis_name, scatter_dimension=scatter_dimension % v.ndim, tiled=tiled,
        axis_size=size))
