"""Scheduler rules for the indexing primitives (registered into ``LOWERINGS`` at import).

Reads are lazy values, so they fuse with their producers and consumers: ``dynamic_slice``
adds runtime-clamped start offsets to its operand's index, and ``gather`` computes every output
element's source coordinates from the index array (loads inside loads), clamping the window
starts and, in FILL_OR_DROP mode, selecting the fill value for windows that do not fit.
Writes (``dynamic_update_slice`` and the scatter family) are ``scatter`` routines: a writable
copy of the operand (the operand itself when it is a lazy value only this statement reads, so
materializing it is the copy), then one sequential pass over the updates in index order, so
repeated indices combine exactly as the reference implementation does. The routine carries
the start-index and update values as expressions, evaluated once per window and per element.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from fborn.core import dtypes
from fborn.core.jaxpr import JaxprEqn, Literal, Var
from fborn.lowering.kernel_ir import (
    INDEX,
    Binary,
    Cast,
    Const,
    Expr,
    Load,
    LoopIndex,
    Routine,
    Select,
    index_add,
    index_const,
    loads,
)
from fborn.lowering.schedule import LOWERINGS, Index, Lazy, Scheduler
from fborn.primitives.indexing import GatherScatterMode, default_fill_value

SCATTER_COMBINERS = {"scatter": "set", "scatter_add": "add", "scatter_mul": "mul",
                     "scatter_min": "min", "scatter_max": "max"}


# --- index expressions -------------------------------------------------------------------------

def as_index(e: Expr) -> Expr:
    """``e`` (any integer dtype) as an int64 index expression."""
    if isinstance(e, Const):
        return index_const(int(e.value))
    return e if e.dtype == INDEX else Cast(e, INDEX)


def clamp_index(e: Expr, high: int) -> Expr:
    """``min(max(e, 0), high)`` for an integer expression ``e``, as an int64 index (folded for
    constants and ``high=0``; computed in ``e``'s own dtype, so unsigned and narrow indices
    need no sign handling and out-of-range 64-bit values clamp before any cast)."""
    if high <= 0:
        return index_const(0)
    if isinstance(e, Const):
        return index_const(min(max(int(e.value), 0), high))
    info = np.iinfo(e.dtype)
    if info.min < 0:
        e = Binary("max", e, Const(0, e.dtype), e.dtype)
    if high < info.max:
        e = Binary("min", e, Const(high, e.dtype), e.dtype)
    return as_index(e)


def fits(e: Expr, high: int) -> Expr | None:
    """Whether ``0 <= e <= high`` for an integer expression ``e`` (one unsigned comparison;
    None when statically true)."""
    if isinstance(e, Const):
        return None if 0 <= int(e.value) <= high else Const(False, dtypes.bool_)
    unsigned = np.dtype(np.uint64)
    return Binary("le", Cast(e, unsigned), Const(high, unsigned), dtypes.bool_)


def all_of(conditions: list[Expr]) -> Expr:
    """The conjunction of boolean expressions, branch-free (``min`` of booleans)."""
    result = conditions[0]
    for c in conditions[1:]:
        result = Binary("min", result, c, dtypes.bool_)
    return result


def _is_plain_read(e: Expr) -> bool:
    """A constant, a loop index, or one load (possibly cast): nothing worth caching."""
    while isinstance(e, Cast):
        e = e.x
    return isinstance(e, (Const, LoopIndex, Load))


def reused_lazy(s: Scheduler, atom: Var | Literal, reuse: bool) -> Lazy:
    """``atom`` as a lazy value, materialized first when ``reuse`` (each element is read many
    times) and it computes more than a plain read."""
    value = s.lazy(atom)
    if not reuse or isinstance(atom, Literal):
        return value
    loop = tuple(LoopIndex(i) for i in range(len(value.shape)))
    if _is_plain_read(value.build(loop)):
        return value
    return s.buffer_lazy(s.buffer(atom))


def _source_lazy(s: Scheduler, atom: Var | Literal, out_size: int) -> Lazy:
    """The operand of a read; a non-trivial lazy operand read more often than it has elements
    (a gather with repeats) is materialized instead of recomputed per read."""
    value = s.lazy(atom)
    if isinstance(atom, Literal) or value.cheap:
        return value
    if out_size > math.prod(value.shape):
        return reused_lazy(s, atom, reuse=True)
    return value


# --- reads: lazy -------------------------------------------------------------------------------

def _dynamic_slice(s: Scheduler, eqn: JaxprEqn) -> None:
    out = eqn.outvars[0].aval
    x = _source_lazy(s, eqn.invars[0], math.prod(out.shape))
    sizes = eqn.params["slice_sizes"]
    starts = [clamp_index(reused_lazy(s, a, reuse=True).build(()), d - z)
              for a, d, z in zip(eqn.invars[1:], x.shape, sizes, strict=True)]

    def build(index: Index) -> Expr:
        return x.build(tuple(index_add(st, i) for st, i in zip(starts, index, strict=True)))

    s.define(eqn.outvars[0], Lazy(out.shape, out.dtype, build))


def _fill_const(fill_value: object, dtype: np.dtype) -> Const:
    fill = default_fill_value(dtype) if fill_value is None else fill_value
    return Const(np.asarray(fill).astype(dtype).item(), dtype)


def _gather(s: Scheduler, eqn: JaxprEqn) -> None:
    p = eqn.params
    dn = p["dimension_numbers"]
    sizes = p["slice_sizes"]
    out = eqn.outvars[0].aval
    op_aval = eqn.invars[0].aval
    x = _source_lazy(s, eqn.invars[0], math.prod(out.shape))
    indices = reused_lazy(s, eqn.invars[1], reuse=math.prod(sizes) > 1)
    ndim = len(op_aval.shape)
    dropped = set(dn.collapsed_slice_dims) | set(dn.operand_batching_dims)
    window_axes = [d for d in range(ndim) if d not in dropped]
    batch_axes = [i for i in range(len(out.shape)) if i not in dn.offset_dims]
    upper = [n - z for n, z in zip(op_aval.shape, sizes, strict=True)]
    fill = _fill_const(p["fill_value"], out.dtype) if p["mode"] == GatherScatterMode.FILL_OR_DROP \
        else None

    def build(index: Index) -> Expr:
        batch = tuple(index[i] for i in batch_axes)
        offsets = dict(zip(window_axes, (index[i] for i in dn.offset_dims), strict=True))
        starts: list[Expr] = [index_const(0)] * ndim
        checks: list[Expr] = []
        for k, d in enumerate(dn.start_index_map):
            raw = indices.build((*batch, index_const(k)))
            check = fits(raw, upper[d]) if fill is not None else None
            if check is not None:
                checks.append(check)
            starts[d] = clamp_index(raw, upper[d])
        for od, idim in zip(dn.operand_batching_dims, dn.start_indices_batching_dims,
                            strict=True):
            starts[od] = batch[idim]
        coords = tuple(index_add(starts[d], offsets.get(d, index_const(0)))
                       for d in range(ndim))
        value = x.build(coords)
        if fill is None or not checks:
            return value
        return Select(all_of(checks), value, fill, out.dtype)

    s.define(eqn.outvars[0], Lazy(out.shape, out.dtype, build))


# --- writes: scatter routines ------------------------------------------------------------------

def writable_operand(s: Scheduler, atom: Var | Literal) -> tuple[str, bool]:
    """``(buffer, copy)``: a buffer holding ``atom``'s value, and whether a statement that
    writes into it must copy it first. A lazy value that this statement alone reads (or that
    is cheap to recompute) is materialized into a fresh buffer nothing else reads: no copy."""
    value = s.lazy(atom) if isinstance(atom, Literal) else s.values[id(atom)]
    if isinstance(value, Lazy) and (isinstance(atom, Literal) or value.cheap
                                    or s.uses.get(id(atom), 0) <= 1):
        return s.materialize(value), False
    return s.buffer(atom), True


def emit_scatter(s: Scheduler, eqn: JaxprEqn, combine: str, batch_shape: tuple[int, ...],
                 window: tuple[int, ...], starts: list[Expr | None], value: Expr,
                 bounds: str) -> None:
    """Append a ``scatter`` routine: for each batch position (loop axes ``0..nb-1``, in
    row-major order) a window of sizes ``window`` at ``starts`` (int64 expressions of the batch
    loop indices; None = 0) is combined with ``value`` (an expression of the batch indices and
    the window offsets, loop axes ``nb + d`` for operand axis ``d``). ``bounds``: ``"clip"``
    clamps the starts, ``"drop"`` skips windows that do not fit, ``"none"``: the starts are
    already in bounds."""
    out = eqn.outvars[0].aval
    base, copy = writable_operand(s, eqn.invars[0])
    name = s.new_buffer(out.shape, out.dtype)
    exprs = [e for e in starts if e is not None] + [value]
    s.statements.append(Routine("scatter", [base, *loads(exprs)], [name], {
        "combine": combine, "shape": tuple(out.shape), "dtype": out.dtype,
        "batch_shape": tuple(batch_shape), "window": tuple(window), "starts": tuple(starts),
        "value": value, "bounds": bounds, "copy": copy,
    }))
    s.define(eqn.outvars[0], name)


def _dynamic_update_slice(s: Scheduler, eqn: JaxprEqn) -> None:
    x_aval, u_aval = eqn.invars[0].aval, eqn.invars[1].aval
    if u_aval.shape == x_aval.shape:  # the update covers the operand: starts clamp to 0
        s.define(eqn.outvars[0], s.lazy(eqn.invars[1]))
        return
    update = s.lazy(eqn.invars[1])
    window = tuple(u_aval.shape)
    starts: list[Expr | None] = [clamp_index(s.lazy(a).build(()), d - z) for a, d, z in
                                 zip(eqn.invars[2:], x_aval.shape, window, strict=True)]
    value = update.build(tuple(LoopIndex(d) if z != 1 else index_const(0)
                               for d, z in enumerate(window)))
    emit_scatter(s, eqn, "set", (), window, starts, value, bounds="none")


def _scatter(combine: str) -> Callable[[Scheduler, JaxprEqn], None]:
    def rule(s: Scheduler, eqn: JaxprEqn) -> None:
        p = eqn.params
        dn = p["dimension_numbers"]
        x_aval, idx_aval, u_aval = (a.aval for a in eqn.invars)
        ndim = len(x_aval.shape)
        nb = len(idx_aval.shape) - 1
        batch_shape = tuple(idx_aval.shape[:-1])
        dropped = set(dn.inserted_window_dims) | set(dn.operand_batching_dims)
        window_axes = [d for d in range(ndim) if d not in dropped]
        window = [1] * ndim
        for u, d in zip(dn.update_window_dims, window_axes, strict=True):
            window[d] = u_aval.shape[u]
        batch = tuple(LoopIndex(j) for j in range(nb))
        indices = s.lazy(eqn.invars[1])
        starts: list[Expr | None] = [None] * ndim
        for k, d in enumerate(dn.scatter_dims_to_operand_dims):
            starts[d] = as_index(indices.build((*batch, index_const(k))))
        for od, idim in zip(dn.operand_batching_dims, dn.scatter_indices_batching_dims,
                            strict=True):
            starts[od] = batch[idim]
        scatter_axes = [u for u in range(len(u_aval.shape)) if u not in dn.update_window_dims]
        u_index: list[Expr] = [index_const(0)] * len(u_aval.shape)
        for j, u in enumerate(scatter_axes):
            u_index[u] = batch[j]
        for u, d in zip(dn.update_window_dims, window_axes, strict=True):
            u_index[u] = LoopIndex(nb + d) if window[d] != 1 else index_const(0)
        value = s.lazy(eqn.invars[2]).build(tuple(u_index))
        bounds = "clip" if p["mode"] == GatherScatterMode.CLIP else "drop"
        emit_scatter(s, eqn, combine, batch_shape, tuple(window), starts, value, bounds)

    return rule


LOWERINGS["dynamic_slice"] = _dynamic_slice
LOWERINGS["gather"] = _gather
LOWERINGS["dynamic_update_slice"] = _dynamic_update_slice
for _name, _combine in SCATTER_COMBINERS.items():
    LOWERINGS[_name] = _scatter(_combine)
