"""``make_jaxpr`` and ``eval_shape``: trace a Python function on abstract values."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from fborn.core.aval import ShapedArray, ShapeDtypeStruct
from fborn.core.jaxpr import ClosedJaxpr
from fborn.core.staging import trace_to_jaxpr
from fborn.core.trace import get_aval
from fborn.core.tree import PyTreeDef, tree_flatten, tree_unflatten


def abstractify(x: Any) -> ShapedArray:
    """The aval of an argument: Arrays, numpy values, Python scalars or ShapeDtypeStructs."""
    if isinstance(x, ShapeDtypeStruct):
        return ShapedArray(x.shape, x.dtype, x.weak_type)
    return get_aval(x)


def _normalize_static(static_argnums: int | Sequence[int], nargs: int) -> tuple[int, ...]:
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    return tuple(sorted(n % nargs if nargs else n for n in nums))


def trace_flat(fun: Callable[..., Any], args: Sequence[Any], kwargs: dict,
               static_argnums: int | Sequence[int] = ()
               ) -> tuple[ClosedJaxpr, PyTreeDef, PyTreeDef]:
    """Trace ``fun(*args, **kwargs)`` with the non-static arguments abstract.

    Returns the closed jaxpr (flat inputs in pytree order), the input treedef and the output
    treedef.
    """
    static = _normalize_static(static_argnums, len(args))
    dynamic = [a for i, a in enumerate(args) if i not in static]
    leaves, in_tree = tree_flatten((dynamic, kwargs))
    out_tree_box: list[PyTreeDef] = []

    def flat_fun(*flat_args: Any) -> list[Any]:
        dyn_args, kw = tree_unflatten(in_tree, flat_args)
        it = iter(dyn_args)
        full = [args[i] if i in static else next(it) for i in range(len(args))]
        out = fun(*full, **kw)
        out_leaves, out_tree = tree_flatten(out)
        out_tree_box.append(out_tree)
        return out_leaves

    jaxpr = trace_to_jaxpr(flat_fun, [abstractify(x) for x in leaves])
    return jaxpr, in_tree, out_tree_box[0]


def make_jaxpr(fun: Callable[..., Any], static_argnums: int | Sequence[int] = (),
               return_shape: bool = False) -> Callable[..., Any]:
    """``make_jaxpr(f)(*args)`` returns the ClosedJaxpr of ``f`` traced on the args' avals
    (and the output's ShapeDtypeStructs with ``return_shape=True``)."""

    @functools.wraps(fun)
    def make(*args: Any, **kwargs: Any) -> Any:
        jaxpr, _, out_tree = trace_flat(fun, args, kwargs, static_argnums)
        if return_shape:
            shapes = [ShapeDtypeStruct(a.shape, a.dtype, a.weak_type) for a in jaxpr.out_avals]
            return jaxpr, tree_unflatten(out_tree, shapes)
        return jaxpr

    return make


def eval_shape(fun: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The output of ``fun(*args, **kwargs)`` as a pytree of ShapeDtypeStructs, computed
    without doing any work."""
    jaxpr, _, out_tree = trace_flat(fun, args, kwargs)
    shapes = [ShapeDtypeStruct(a.shape, a.dtype, a.weak_type) for a in jaxpr.out_avals]
    return tree_unflatten(out_tree, shapes)
