"""``fborn.vmap``: map a function over an axis of its inputs (JAX semantics)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from fborn.core.trace import get_aval
from fborn.core.tree import PyTreeDef, tree_flatten, tree_structure, tree_unflatten
from fborn.primitives.rules import move_axis
from fborn.transforms.batching import AxisData, batch_flat


def broadcast_prefix(prefix: Any, tree: Any, what: str) -> list[Any]:
    """One entry of ``prefix`` per leaf of ``tree`` (``prefix`` is a tree prefix of ``tree``
    whose leaves, None included, apply to whole subtrees)."""
    is_none = lambda x: x is None  # noqa: E731
    prefix_leaves, prefix_def = tree_flatten(prefix, is_leaf=is_none)
    try:
        subtrees = prefix_def.flatten_up_to(tree)
    except ValueError as e:
        raise ValueError(
            f"{what} specification must be a tree prefix of the corresponding value, got "
            f"specification {prefix!r} for value tree {tree_structure(tree)}: {e}"
        ) from None
    out: list[Any] = []
    for spec, sub in zip(prefix_leaves, subtrees, strict=True):
        out.extend([spec] * tree_structure(sub).num_leaves)
    return out


def normalize_axis(axis: Any, ndim: int, what: str) -> int | None:
    """A non-negative axis for a value of rank ``ndim`` (None stays None)."""
    if axis is None:
        return None
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise TypeError(f"vmap {what} entries must be ints or None, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"vmap {what} {axis} is out of bounds for a value of rank "
                         f"{ndim if what == 'in_axes' else ndim - 1}")
    return axis % ndim


def mapped_axis_size(leaves: list[Any], dims: list[int | None], axis_size: int | None) -> int:
    """The common size of the mapped axes; raises ValueError naming them if they disagree."""
    sizes = {get_aval(x).shape[d] for x, d in zip(leaves, dims, strict=True) if d is not None}
    if axis_size is not None:
        sizes.add(int(axis_size))
    if not sizes:
        raise ValueError("vmap must have at least one non-None value in in_axes "
                         "(or be given axis_size)")
    if len(sizes) > 1:
        detail = ", ".join(f"axis {d} of an argument of shape {get_aval(x).shape}"
                           for x, d in zip(leaves, dims, strict=True) if d is not None)
        raise ValueError(f"vmap got inconsistent sizes for array axes to be mapped: {detail}"
                         + (f" and axis_size={axis_size}" if axis_size is not None else ""))
    return sizes.pop()


def vmap(fun: Callable[..., Any], in_axes: Any = 0, out_axes: Any = 0,
         axis_name: Any = None, axis_size: int | None = None,
         spmd_axis_name: Any = None) -> Callable[..., Any]:
    """Vectorize ``fun`` over axis ``in_axes`` of its inputs and put the mapped axis of its
    outputs at ``out_axes``.

    ``in_axes`` is an int, None (broadcast), or a tuple with one pytree prefix per positional
    argument; ``out_axes`` a pytree prefix of the output. ``axis_name`` names the axis for
    collectives (``fborn.lax.psum``...). Raises ValueError for inconsistent axis sizes, or when
    no input is mapped and ``axis_size`` is not given.
    """
    del spmd_axis_name
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)

    @functools.wraps(fun)
    def batched(*args: Any, **kwargs: Any) -> Any:
        if kwargs:
            raise TypeError("vmap: keyword arguments are not mapped; pass them positionally "
                            "or close over them")
        if isinstance(in_axes, tuple) and len(in_axes) != len(args):
            raise ValueError(
                f"vmap in_axes must be an int, None, or a tuple of entries corresponding to the "
                f"positional arguments passed to the function, but got len(in_axes)="
                f"{len(in_axes)}, len(args)={len(args)}"
            )
        prefix = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
        leaves, in_tree = tree_flatten(args)
        specs = broadcast_prefix(prefix, args, "vmap in_axes")
        dims = [normalize_axis(s, get_aval(x).ndim, "in_axes")
                for s, x in zip(specs, leaves, strict=True)]
        axis = AxisData(mapped_axis_size(leaves, dims, axis_size), axis_name)
        out_tree_box: list[PyTreeDef] = []

        def flat_fun(*flat: Any) -> list[Any]:
            out_leaves, out_tree = tree_flatten(fun(*tree_unflatten(in_tree, flat)))
            out_tree_box.append(out_tree)
            return out_leaves

        pairs = batch_flat(flat_fun, axis, leaves, dims)
        out_tree = out_tree_box[0]
        skeleton = tree_unflatten(out_tree, [0] * out_tree.num_leaves)
        out_specs = broadcast_prefix(out_axes, skeleton, "vmap out_axes")
        results = []
        for (value, dim), spec in zip(pairs, out_specs, strict=True):
            rank = get_aval(value).ndim + (dim is None)
            want = normalize_axis(spec, rank, "out_axes")
            if want is None:
                if dim is not None:
                    raise ValueError("vmap has mapped output but out_axes is None")
                results.append(value)
            else:
                results.append(move_axis(value, dim, want, axis.size))
        return tree_unflatten(out_tree, results)

    return batched
