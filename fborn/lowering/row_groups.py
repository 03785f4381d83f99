"""Kernels that can share one outer loop: a row of each is computed before the next row.

A softmax is three kernels over the rows of its input (a max, a sum of exponentials, the
quotients); each reads only the row of the previous ones' results that it computes. Run as
one loop over the rows, the row is read from cache instead of memory by the later kernels, and
a parallel loop synchronizes its threads once instead of three times. Within a group, a loop
kernel may also read back an expensive value that an earlier reduce kernel computed for the
same element, stored in the loop kernel's own output (``row_reuses``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from fborn.lowering.kernel_ir import (
    INDEX,
    Binary,
    Const,
    Expr,
    Load,
    LoopIndex,
    LoopKernel,
    Program,
    ReduceKernel,
    Statement,
    Unary,
    linear_address,
)

Kernel = LoopKernel | ReduceKernel


def loop_shape(k: Kernel) -> tuple[int, ...]:
    """The extents of a kernel's loop axes (output axes, then reduced axes)."""
    return k.shape if isinstance(k, LoopKernel) else (*k.out_shape, *k.red_shape)


def out_shape(k: Kernel) -> tuple[int, ...]:
    return k.shape if isinstance(k, LoopKernel) else k.out_shape


def row_groups(statements: list[Statement], program: Program) -> list[list[Statement]]:
    """``statements`` split into runs; a run of several statements holds kernels with the same
    outer extent (above 1) where each reads the buffers that earlier ones write only within
    the row its own outer index names."""
    groups: list[list[Statement]] = []
    for stmt in statements:
        last = groups[-1] if groups else None
        if last is not None and _joins(last, stmt, program):
            last.append(stmt)
        else:
            groups.append([stmt])
    return groups


def _joins(group: list[Statement], stmt: Statement, program: Program) -> bool:
    if not isinstance(stmt, (LoopKernel, ReduceKernel)) or not _fusable(stmt):
        return False
    if not all(isinstance(k, (LoopKernel, ReduceKernel)) and _fusable(k) for k in group):
        return False
    outer = out_shape(stmt)[0]
    if any(out_shape(k)[0] != outer for k in group):
        return False
    rows = {k.out: program.buffers[k.out].size // outer for k in group}
    extents = loop_shape(stmt)
    return all(_row_local(load.address, rows[load.buffer], extents)
               for load in _loads(stmt.value) if load.buffer in rows)


def _fusable(k: Kernel) -> bool:
    shape = out_shape(k)
    return bool(shape) and shape[0] > 1 and math.prod(shape) > 0


def _loads(e: Expr) -> list[Load]:
    """Every load in expression DAG ``e`` (addresses included)."""
    found: list[Load] = []
    seen: set[int] = set()
    stack = [e]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, Load):
            found.append(node)
        stack += [c for c in (getattr(node, f, None) for f in
                              ("x", "a", "b", "pred", "on_true", "on_false", "address"))
                  if isinstance(c, Expr)]
    return found


def _row_local(address: Expr, row: int, extents: tuple[int, ...]) -> bool:
    """Whether ``address`` = ``row * i0 + rest`` with ``0 <= rest < row`` for every value of
    the other loop indices (``i0``: loop axis 0, ``extents``: the loop's extents)."""
    linear = _linear(address)
    if linear is None:
        return False
    coefficients, constant = linear
    if coefficients.pop(0, 0) != row:
        return False
    spans = [k * (extents[axis] - 1) for axis, k in coefficients.items()]
    low = constant + sum(min(0, s) for s in spans)
    high = constant + sum(max(0, s) for s in spans)
    return 0 <= low and high < row


def _linear(e: Expr) -> tuple[dict[int, int], int] | None:
    """``e`` as ``sum(k[axis] * LoopIndex(axis)) + constant``, or None if it is not affine."""
    if isinstance(e, Const) and e.dtype == INDEX:
        return {}, int(e.value)
    if isinstance(e, LoopIndex):
        return {e.axis: 1}, 0
    if not isinstance(e, Binary) or e.op not in ("add", "mul") or e.dtype != INDEX:
        return None
    a, b = _linear(e.a), _linear(e.b)
    if a is None or b is None:
        return None
    if e.op == "add":
        terms = dict(a[0])
        for axis, k in b[0].items():
            terms[axis] = terms.get(axis, 0) + k
        return terms, a[1] + b[1]
    if a[0] and b[0]:
        return None
    (terms, scale), factor = (a, b[1]) if not b[0] else (b, a[1])
    return {axis: k * factor for axis, k in terms.items()}, scale * factor


# Elementwise operations cheap enough to recompute rather than store and reload.
_CHEAP = {"neg", "abs", "not", "stop_gradient", "bitcast", "floor", "ceil", "sign", "square"}


@dataclass(frozen=True)
class RowReuse:
    """In a row group, the reduce kernel ``reduce`` stores the values of ``expr`` into the
    output of the loop kernel ``loop`` (same loop shape), which then computes ``value``:
    its own value reading ``expr`` back from its output instead of recomputing it."""

    reduce: int
    loop: int
    expr: Expr
    value: Expr


def row_reuses(group: list[Kernel], program: Program) -> list[RowReuse]:
    """A softmax computes ``exp(x - max)`` for its sum and again for its quotients: the second
    kernel can store each exponential into the row of the output, and the third divide it in
    place. At most one reuse per loop kernel, of its largest expensive subexpression that an
    earlier reduce kernel over the same loop shape computes inside its reduced loops."""
    reuses: list[RowReuse] = []
    for j, k in enumerate(group):
        if not isinstance(k, LoopKernel) or program.buffers[k.out].dtype != k.value.dtype:
            continue
        for i, r in enumerate(group[:j]):
            expr = _shared(k, r) if isinstance(r, ReduceKernel) else None
            if expr is not None:
                here = Load(k.out, linear_address(tuple(LoopIndex(a) for a in
                                                        range(len(k.shape))), k.shape),
                            expr.dtype)
                reuses.append(RowReuse(i, j, expr, _substitute(k.value, expr, here)))
                break
    return reuses


def _shared(k: LoopKernel, r: ReduceKernel) -> Expr | None:
    """The largest expensive subexpression of ``k.value`` that ``r.value`` also computes and
    that varies along ``r``'s reduced axes, when both loop over the same shape."""
    if loop_shape(r) != k.shape:
        return None
    theirs = set(_nodes(r.value))
    first_reduced = len(r.out_shape)
    for node in _nodes(k.value):  # parents before children
        if node in theirs and node.dtype == k.value.dtype and _expensive(node) and any(
                a >= first_reduced for a in _axes(node)):
            return node
    return None


def _children(e: Expr) -> list[Expr]:
    return [c for c in (getattr(e, f, None) for f in
                        ("x", "a", "b", "pred", "on_true", "on_false", "address"))
            if isinstance(c, Expr)]


def _nodes(e: Expr) -> list[Expr]:
    """The nodes of DAG ``e`` (each object once), breadth first: a node before its
    children."""
    order, seen, queue = [], {id(e)}, [e]
    while queue:
        node = queue.pop(0)
        order.append(node)
        for c in _children(node):
            if id(c) not in seen:
                seen.add(id(c))
                queue.append(c)
    return order


def _expensive(e: Expr) -> bool:
    return any(isinstance(n, Unary) and n.op not in _CHEAP for n in _nodes(e))


def _axes(e: Expr) -> set[int]:
    return {n.axis for n in _nodes(e) if isinstance(n, LoopIndex)}


def _substitute(e: Expr, old: Expr, new: Expr) -> Expr:
    """``e`` with every occurrence of ``old`` replaced by ``new``."""
    memo: dict[Expr, Expr] = {}

    def walk(node: Expr) -> Expr:
        if node == old:
            return new
        hit = memo.get(node)
        if hit is None:
            changes = {f: walk(c) for f in ("x", "a", "b", "pred", "on_true", "on_false",
                                             "address")
                       if isinstance(c := getattr(node, f, None), Expr)}
            hit = memo[node] = dataclasses.replace(node, **changes) if changes else node
        return hit

    return walk(e)
