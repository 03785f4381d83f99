"""Structured control flow: ``cond``, ``switch``, ``while_loop``, ``fori_loop``, ``scan``,
``map``. Each is a higher-order primitive carrying jaxprs, with jvp, batching, partial
evaluation and (for cond and scan) transposition rules, so loops stay loops under every
transform (scan and static-trip-count fori_loop support reverse mode; while_loop forward only).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fborn.core import dtypes
from fborn.core.array import ArrayImpl
from fborn.core.aval import ShapedArray
from fborn.core.errors import FbornShapeError
from fborn.core.jaxpr import ClosedJaxpr, Jaxpr, Var, eval_jaxpr
from fborn.core.primitive import Primitive
from fborn.core.staging import trace_to_jaxpr
from fborn.core.trace import concrete_value, get_aval, is_concrete, set_interpreter, to_array
from fborn.core.tree import PyTreeDef, tree_flatten, tree_unflatten
from fborn.lax import _ops as lax
from fborn.primitives.rules import (
    UndefinedPrimal,
    Zero,
    instantiate,
    is_undefined,
    move_axis,
    tangent_aval,
    zeros_from_aval,
)
from fborn.transforms.ad import jvp_jaxpr
from fborn.transforms.batching import batch_jaxpr
from fborn.transforms.jit import _evaluate, close_over_consts
from fborn.transforms.partial_eval import partial_eval_jaxpr
from fborn.transforms.transpose import backward_pass

__all__ = ["cond", "fori_loop", "map", "scan", "switch", "while_loop"]


# --- jaxpr plumbing ----------------------------------------------------------------------------

def _trace(fun: Callable[..., Any], in_tree: PyTreeDef, avals: Sequence[ShapedArray]
           ) -> tuple[ClosedJaxpr, list[Any], PyTreeDef]:
    """Trace ``fun`` on a pytree of abstract args; returns (jaxpr with consts as leading
    inputs, consts, output treedef)."""
    box: list[PyTreeDef] = []

    def flat(*xs: Any) -> list[Any]:
        leaves, tree = tree_flatten(fun(*tree_unflatten(in_tree, xs)))
        box.append(tree)
        return leaves

    opened, consts = close_over_consts(trace_to_jaxpr(flat, list(avals)))
    return opened, consts, box[0]


def _reorder(closed: ClosedJaxpr, in_order: Sequence[int] | None = None,
             out_order: Sequence[int] | None = None) -> ClosedJaxpr:
    """The same jaxpr with its inputs/outputs permuted (no retracing)."""
    j = closed.jaxpr
    invars = j.invars if in_order is None else [j.invars[i] for i in in_order]
    outvars = j.outvars if out_order is None else [j.outvars[i] for i in out_order]
    return ClosedJaxpr(Jaxpr(j.constvars, invars, outvars, j.eqns), closed.consts)


def _with_unused_inputs(closed: ClosedJaxpr, avals: Sequence[ShapedArray], at: int
                        ) -> ClosedJaxpr:
    j = closed.jaxpr
    extra = [Var(a) for a in avals]
    return ClosedJaxpr(Jaxpr(j.constvars, [*j.invars[:at], *extra, *j.invars[at:]], j.outvars,
                             j.eqns), closed.consts)


def _groups(flags: Sequence[bool], sizes: Sequence[int]) -> list[list[bool]]:
    out, start = [], 0
    for n in sizes:
        out.append(list(flags[start:start + n]))
        start += n
    return out


def _check_same_types(what: str, expected: Sequence[ShapedArray],
                      got: Sequence[ShapedArray], tree_a: PyTreeDef, tree_b: PyTreeDef) -> None:
    if tree_a != tree_b:
        raise TypeError(f"{what} must have identical pytree structures, got {tree_a} and "
                        f"{tree_b}")
    for i, (a, b) in enumerate(zip(expected, got, strict=True)):
        if a.shape != b.shape or a.dtype != b.dtype:
            raise TypeError(f"{what} must have identical types; leaf {i} differs: "
                            f"{a.str_short()} vs {b.str_short()}")


# --- cond / switch -----------------------------------------------------------------------------

cond_p = Primitive("cond", multiple_results=True)


@cond_p.def_abstract_eval
def _cond_abstract(index: ShapedArray, *avals: ShapedArray,
                   branches: tuple[ClosedJaxpr, ...]) -> list[ShapedArray]:
    if index.shape != () or index.dtype != dtypes.int32:
        raise FbornShapeError(f"cond index must be an int32 scalar, got {index.str_short()}")
    outs = branches[0].out_avals
    return [ShapedArray(a.shape, a.dtype, all(b.out_avals[i].weak_type for b in branches))
            for i, a in enumerate(outs)]


@cond_p.def_impl
def _cond_impl(index: np.ndarray, *values: np.ndarray, branches: tuple[ClosedJaxpr, ...]
               ) -> list[np.ndarray]:
    which = builtins.min(builtins.max(int(index), 0), len(branches) - 1)
    return _evaluate(branches[which], *values)


def _join_consts(opened: Sequence[ClosedJaxpr], consts: Sequence[list[Any]]
                 ) -> tuple[list[ClosedJaxpr], list[Any]]:
    """Branch jaxprs that all take every branch's consts (then the operands)."""
    const_avals = [[get_aval(c) for c in cs] for cs in consts]
    joined = []
    for i, closed in enumerate(opened):
        j = closed.jaxpr
        n = len(consts[i])
        invars: list[Var] = []
        for k, avals in enumerate(const_avals):
            invars.extend(j.invars[:n] if k == i else [Var(a) for a in avals])
        joined.append(ClosedJaxpr(Jaxpr([], [*invars, *j.invars[n:]], j.outvars, j.eqns), []))
    return joined, [c for cs in consts for c in cs]


def switch(index: Any, branches: Sequence[Callable[..., Any]], *operands: Any) -> Any:
    """Apply ``branches[index](*operands)`` (index clamped into range). Only the chosen branch
    runs; under vmap with a batched index every branch runs and results are selected."""
    if not branches:
        raise ValueError("switch needs at least one branch")
    idx = lax.convert_element_type(index, dtypes.int32)
    if idx.shape != ():
        raise TypeError(f"switch index must be a scalar, got shape {idx.shape}")
    leaves, in_tree = tree_flatten(operands)
    avals = [get_aval(x) for x in leaves]
    traced = [_trace(b, in_tree, avals) for b in branches]
    out_tree = traced[0][2]
    for opened, _, tree in traced[1:]:
        _check_same_types("branches of cond/switch", traced[0][0].out_avals, opened.out_avals,
                          out_tree, tree)
    joined, consts = _join_consts([t[0] for t in traced], [t[1] for t in traced])
    outs = cond_p.bind(idx, *consts, *leaves, branches=tuple(joined))
    return tree_unflatten(out_tree, outs)


def cond(pred: Any, true_fun: Callable[..., Any], false_fun: Callable[..., Any],
         *operands: Any) -> Any:
    """``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)``; ``pred`` is a scalar
    (under vmap, a batched predicate evaluates both branches and selects)."""
    p = to_array(pred)
    if p.shape != ():
        raise TypeError(f"cond predicate must be a scalar, got shape {p.shape}")
    index = lax.convert_element_type(lax.ne(p, lax.convert_element_type(0, p.dtype)),
                                     dtypes.int32)
    return switch(index, (false_fun, true_fun), *operands)


def _cond_jvp(primals: list, tangents: list, *, branches: tuple[ClosedJaxpr, ...]
              ) -> tuple[list, list]:
    nonzeros = [type(t) is not Zero for t in tangents[1:]]
    out_nz = [False] * len(branches[0].out_avals)
    for b in branches:
        out_nz = [a or c for a, c in zip(out_nz, jvp_jaxpr(b, nonzeros, False)[1], strict=True)]
    jvps = tuple(jvp_jaxpr(b, nonzeros, out_nz)[0] for b in branches)
    outs = cond_p.bind(primals[0], *primals[1:], *[t for t in tangents[1:] if type(t) is not Zero],
                       branches=jvps)
    n = len(branches[0].out_avals)
    it = iter(outs[n:])
    return outs[:n], [next(it) if nz else Zero(tangent_aval(a))
                      for a, nz in zip(branches[0].out_avals, out_nz, strict=True)]


def _cond_batch(axis: Any, values: list, dims: list, *, branches: tuple[ClosedJaxpr, ...]
                ) -> tuple[list, list]:
    index, *args = values
    idim, *adims = dims
    in_batched = [d is not None for d in adims]
    moved = [move_axis(v, d, 0, axis.size) if d is not None else v
             for v, d in zip(args, adims, strict=True)]
    if idim is not None:
        outs_per_branch = []
        for b in branches:
            batched, _ = batch_jaxpr(b, axis, in_batched, instantiate=True)
            outs_per_branch.append(eval_jaxpr(batched.jaxpr, batched.consts, *moved))
        which = lax.clamp(0, move_axis(index, idim, 0, axis.size), len(branches) - 1)
        results = []
        for outs in zip(*outs_per_branch, strict=True):
            shape = get_aval(outs[0]).shape
            full = lax.broadcast_in_dim(which, shape, (0,))
            results.append(lax.select_n(full, *outs))
        return results, [0] * len(results)
    out_b = [False] * len(branches[0].out_avals)
    for b in branches:
        out_b = [x or y for x, y in zip(out_b, batch_jaxpr(b, axis, in_batched, False)[1],
                                        strict=True)]
    batched = tuple(batch_jaxpr(b, axis, in_batched, out_b)[0] for b in branches)
    outs = cond_p.bind(index, *moved, branches=batched)
    return outs, [0 if b else None for b in out_b]


def _cond_partial_eval(pe: Any, args: Sequence[Any], params: dict) -> list[Any]:
    branches: tuple[ClosedJaxpr, ...] = params["branches"]
    index, *ops = args
    if pe.is_unknown(index):
        return pe.add_eqn(cond_p, [pe.to_atom(a) for a in args], params)
    unknowns = [pe.is_unknown(a) for a in ops]
    out_unknowns = [False] * len(branches[0].out_avals)
    for b in branches:
        split = partial_eval_jaxpr(b, unknowns)
        out_unknowns = [x or y for x, y in zip(out_unknowns, split.out_unknowns, strict=True)]
    splits = [partial_eval_jaxpr(b, unknowns, instantiate=out_unknowns) for b in branches]
    res_avals = [s.known.out_avals[len(s.known.out_avals) - s.num_res:] for s in splits]
    n_known_out = out_unknowns.count(False)
    known_args = [a for a, u in zip(ops, unknowns, strict=True) if not u]
    known_branches = tuple(_known_branch(s.known, i, res_avals, n_known_out)
                           for i, s in enumerate(splits))
    with set_interpreter(pe.parent):
        known_outs = cond_p.bind(index, *known_args, branches=known_branches)
    residuals = known_outs[n_known_out:]
    unknown_branches = tuple(_unknown_branch(s.unknown, i, res_avals)
                             for i, s in enumerate(splits))
    unknown_args = [a for a, u in zip(ops, unknowns, strict=True) if u]
    in_atoms = [pe.to_atom(a) for a in (index, *residuals, *unknown_args)]
    unknown_outs = pe.add_eqn(cond_p, in_atoms, {"branches": unknown_branches})
    k_it, u_it = iter(known_outs[:n_known_out]), iter(unknown_outs)
    return [next(u_it) if u else next(k_it) for u in out_unknowns]


def _known_branch(known: ClosedJaxpr, i: int, res_avals: list[list[ShapedArray]],
                  n_out: int) -> ClosedJaxpr:
    """Branch i's known part, emitting every branch's residual slots (zeros for others')."""

    def fun(*args: Any) -> list[Any]:
        outs = eval_jaxpr(known.jaxpr, known.consts, *args)
        slots = []
        for k, avals in enumerate(res_avals):
            slots.extend(outs[n_out:] if k == i else [zeros_from_aval(a) for a in avals])
        return [*outs[:n_out], *slots]

    return trace_to_jaxpr(fun, known.in_avals)


def _unknown_branch(unknown: ClosedJaxpr, i: int, res_avals: list[list[ShapedArray]]
                    ) -> ClosedJaxpr:
    all_res = [a for avals in res_avals for a in avals]
    start = sum(len(a) for a in res_avals[:i])
    mine = len(res_avals[i])
    n_res = len(all_res)

    def fun(*args: Any) -> list[Any]:
        res, rest = args[:n_res], args[n_res:]
        return eval_jaxpr(unknown.jaxpr, unknown.consts, *res[start:start + mine], *rest)

    return trace_to_jaxpr(fun, [*all_res, *unknown.in_avals[mine:]])


def _cond_transpose(cts: list, index: Any, *args: Any, branches: tuple[ClosedJaxpr, ...]
                    ) -> list:
    linear = [is_undefined(a) for a in args]
    nonlinear = [a for a in args if not is_undefined(a)]
    cts = [instantiate(c) for c in cts]

    def transposed(b: ClosedJaxpr) -> ClosedJaxpr:
        def fun(*xs: Any) -> list[Any]:
            it = iter(xs[:len(nonlinear)])
            primals = [a if lin else next(it) for a, lin in zip(args, linear, strict=True)]
            ct_in = backward_pass(b.jaxpr, b.consts, primals, list(xs[len(nonlinear):]))
            return [instantiate(c) for c, lin in zip(ct_in, linear, strict=True) if lin]

        return trace_to_jaxpr(fun, [*[get_aval(x) for x in nonlinear],
                                    *[get_aval(c) for c in cts]])

    outs = cond_p.bind(index, *nonlinear, *cts, branches=tuple(transposed(b) for b in branches))
    it = iter(outs)
    return [None, *[next(it) if lin else None for lin in linear]]


cond_p.jvp = _cond_jvp
cond_p.batch = _cond_batch
cond_p.partial_eval = _cond_partial_eval
cond_p.transpose = _cond_transpose


# --- while_loop --------------------------------------------------------------------------------

while_p = Primitive("while", multiple_results=True)


@while_p.def_abstract_eval
def _while_abstract(*avals: ShapedArray, cond_jaxpr: ClosedJaxpr, body_jaxpr: ClosedJaxpr,
                    cond_nconsts: int, body_nconsts: int) -> list[ShapedArray]:
    return list(avals[cond_nconsts + body_nconsts:])


@while_p.def_impl
def _while_impl(*values: np.ndarray, cond_jaxpr: ClosedJaxpr, body_jaxpr: ClosedJaxpr,
                cond_nconsts: int, body_nconsts: int) -> list[np.ndarray]:
    cconsts = values[:cond_nconsts]
    bconsts = values[cond_nconsts:cond_nconsts + body_nconsts]
    carry = list(values[cond_nconsts + body_nconsts:])
    while bool(_evaluate(cond_jaxpr, *cconsts, *carry)[0]):
        carry = _evaluate(body_jaxpr, *bconsts, *carry)
    return carry


def while_loop(cond_fun: Callable[[Any], Any], body_fun: Callable[[Any], Any],
               init_val: Any) -> Any:
    """Repeat ``val = body_fun(val)`` while ``cond_fun(val)``; the carry keeps its pytree
    structure and types. Differentiable in forward mode only (use scan or a static-bound
    fori_loop for reverse mode)."""
    leaves, tree = tree_flatten(init_val)
    leaves = [to_array(x) for x in leaves]
    avals = [get_aval(x) for x in leaves]
    cond_j, cond_consts, cond_tree = _trace(lambda v: cond_fun(v), _single_tree(tree), avals)
    pred = cond_j.out_avals
    if len(pred) != 1 or pred[0].shape != () or pred[0].dtype != dtypes.bool_:
        raise TypeError(f"while_loop cond_fun must return a boolean scalar, got "
                        f"{[a.str_short() for a in pred]}")
    body_j, body_consts, body_tree = _trace(lambda v: body_fun(v), _single_tree(tree), avals)
    _check_same_types("while_loop body_fun output and input", avals, body_j.out_avals, tree,
                      body_tree)
    outs = while_p.bind(*cond_consts, *body_consts, *leaves, cond_jaxpr=cond_j,
                        body_jaxpr=body_j, cond_nconsts=len(cond_consts),
                        body_nconsts=len(body_consts))
    return tree_unflatten(tree, outs)


def _single_tree(tree: PyTreeDef) -> PyTreeDef:
    """The treedef of a 1-tuple holding a value of structure ``tree``."""
    return tree_flatten((tree_unflatten(tree, [0] * tree.num_leaves),))[1]


def _while_jvp(primals: list, tangents: list, *, cond_jaxpr: ClosedJaxpr,
               body_jaxpr: ClosedJaxpr, cond_nconsts: int, body_nconsts: int
               ) -> tuple[list, list]:
    nc, nb = cond_nconsts, body_nconsts
    carry_avals = body_jaxpr.out_avals
    bconst_nz = [type(t) is not Zero for t in tangents[nc:nc + nb]]
    carry_nz = [type(t) is not Zero for t in tangents[nc + nb:]]
    while True:
        body_jvp, out_nz = jvp_jaxpr(body_jaxpr, bconst_nz + carry_nz, instantiate=carry_nz)
        if out_nz == carry_nz:
            break
        carry_nz = [a or b for a, b in zip(carry_nz, out_nz, strict=True)]
    n_bt, n_ct = sum(bconst_nz), sum(carry_nz)
    ncarry = len(carry_avals)
    order = [*range(nb), *range(nb + ncarry, nb + ncarry + n_bt), *range(nb, nb + ncarry),
             *range(nb + ncarry + n_bt, nb + ncarry + n_bt + n_ct)]
    body_jvp = _reorder(body_jvp, order)
    ct_avals = [tangent_aval(a) for a, nz in zip(carry_avals, carry_nz, strict=True) if nz]
    cond_jvp = _with_unused_inputs(cond_jaxpr, ct_avals, len(cond_jaxpr.jaxpr.invars))
    bconst_t = [t for t in tangents[nc:nc + nb] if type(t) is not Zero]
    carry_t = [instantiate(t) for t, nz in zip(tangents[nc + nb:], carry_nz, strict=True) if nz]
    outs = while_p.bind(*primals[:nc], *primals[nc:nc + nb], *bconst_t, *primals[nc + nb:],
                        *carry_t, cond_jaxpr=cond_jvp, body_jaxpr=body_jvp, cond_nconsts=nc,
                        body_nconsts=nb + n_bt)
    it = iter(outs[ncarry:])
    return outs[:ncarry], [next(it) if nz else Zero(tangent_aval(a))
                           for a, nz in zip(carry_avals, carry_nz, strict=True)]


def _while_partial_eval(pe: Any, args: Sequence[Any], params: dict) -> list[Any]:
    raise ValueError(
        "Reverse-mode differentiation does not work for lax.while_loop or lax.fori_loop with "
        "dynamic start/stop values. Try using lax.scan, or lax.fori_loop with static start/stop."
    )


def _while_batch(axis: Any, values: list, dims: list, *, cond_jaxpr: ClosedJaxpr,
                 body_jaxpr: ClosedJaxpr, cond_nconsts: int, body_nconsts: int
                 ) -> tuple[list, list]:
    nc, nb = cond_nconsts, body_nconsts
    cconst_b = [d is not None for d in dims[:nc]]
    bconst_b = [d is not None for d in dims[nc:nc + nb]]
    carry_b = [d is not None for d in dims[nc + nb:]]
    while True:
        _, out_b = batch_jaxpr(body_jaxpr, axis, bconst_b + carry_b, instantiate=carry_b)
        new = [a or b for a, b in zip(carry_b, out_b, strict=True)]
        _, pred_b = batch_jaxpr(cond_jaxpr, axis, cconst_b + new, instantiate=False)
        if pred_b[0]:
            new = [True] * len(new)
        if new == carry_b:
            break
        carry_b = new
    moved = [move_axis(v, d, 0, axis.size) if b else v
             for v, d, b in zip(values, dims, cconst_b + bconst_b + carry_b, strict=True)]
    body_b, _ = batch_jaxpr(body_jaxpr, axis, bconst_b + carry_b, instantiate=carry_b)
    cond_b, pred_b = batch_jaxpr(cond_jaxpr, axis, cconst_b + carry_b, instantiate=False)
    if pred_b[0]:
        cond_b, body_b, nc, nb = _predicated_loop(cond_b, body_b, nc, nb)
        moved = [*moved[:cond_nconsts], *moved[:cond_nconsts],
                 *moved[cond_nconsts:]]
    outs = while_p.bind(*moved, cond_jaxpr=cond_b, body_jaxpr=body_b, cond_nconsts=nc,
                        body_nconsts=nb)
    return outs, [0 if b else None for b in carry_b]


def _predicated_loop(cond_b: ClosedJaxpr, body_b: ClosedJaxpr, nc: int, nb: int
                     ) -> tuple[ClosedJaxpr, ClosedJaxpr, int, int]:
    """With a batched predicate, loop while any member continues; members that stopped keep
    their carry (select). The body also receives the cond consts (prepended)."""
    cond_avals = cond_b.in_avals

    def any_cond(*args: Any) -> list[Any]:
        pred = eval_jaxpr(cond_b.jaxpr, cond_b.consts, *args)[0]
        return [lax.reduce_or(pred, (0,))]

    def guarded_body(*args: Any) -> list[Any]:
        cconsts, bconsts, carry = args[:nc], args[nc:nc + nb], args[nc + nb:]
        pred = eval_jaxpr(cond_b.jaxpr, cond_b.consts, *cconsts, *carry)[0]
        new = eval_jaxpr(body_b.jaxpr, body_b.consts, *bconsts, *carry)
        out = []
        for n, c in zip(new, carry, strict=True):
            full = lax.broadcast_in_dim(pred, get_aval(c).shape, (0,))
            out.append(lax.select(full, n, c))
        return out

    new_cond = trace_to_jaxpr(any_cond, cond_avals)
    new_body = trace_to_jaxpr(guarded_body, [*cond_avals[:nc], *body_b.in_avals])
    return new_cond, new_body, nc, nc + nb


while_p.jvp = _while_jvp
while_p.partial_eval = _while_partial_eval
while_p.batch = _while_batch


# --- scan --------------------------------------------------------------------------------------

scan_p = Primitive("scan", multiple_results=True)


@scan_p.def_abstract_eval
def _scan_abstract(*avals: ShapedArray, jaxpr: ClosedJaxpr, num_consts: int, num_carry: int,
                   length: int, reverse: bool, unroll: int) -> list[ShapedArray]:
    outs = jaxpr.out_avals
    carry = outs[:num_carry]
    ys = [ShapedArray((length, *a.shape), a.dtype, a.weak_type) for a in outs[num_carry:]]
    for a, b in zip(avals[num_consts:num_consts + num_carry], carry, strict=True):
        if a.shape != b.shape or a.dtype != b.dtype:
            raise FbornShapeError(f"scan carry input {a.str_short()} and output "
                                  f"{b.str_short()} differ")
    return [*avals[num_consts:num_consts + num_carry], *ys]


@scan_p.def_impl
def _scan_impl(*values: np.ndarray, jaxpr: ClosedJaxpr, num_consts: int, num_carry: int,
               length: int, reverse: bool, unroll: int) -> list[np.ndarray]:
    consts = values[:num_consts]
    carry = list(values[num_consts:num_consts + num_carry])
    xs = values[num_consts + num_carry:]
    y_avals = jaxpr.out_avals[num_carry:]
    ys = [np.empty((length, *a.shape), a.dtype) for a in y_avals]
    for step in range(length):
        i = length - 1 - step if reverse else step
        outs = _evaluate(jaxpr, *consts, *carry, *[x[i] for x in xs])
        carry = outs[:num_carry]
        for y, o in zip(ys, outs[num_carry:], strict=True):
            y[i] = o
    return [*carry, *ys]


def scan(f: Callable[[Any, Any], tuple[Any, Any]], init: Any, xs: Any = None,
         length: int | None = None, reverse: bool = False, unroll: int | bool = 1) -> Any:
    """Loop ``carry, y = f(carry, x)`` over the leading axis of ``xs``; returns
    ``(final_carry, stacked_ys)``. ``length`` is needed when ``xs`` is None. The carry keeps
    its structure and types (TypeError otherwise); leading sizes must agree (ValueError)."""
    carry_leaves, carry_tree = tree_flatten(init)
    carry_leaves = [to_array(x) for x in carry_leaves]
    x_leaves, x_tree = tree_flatten(xs)
    x_leaves = [to_array(x) for x in x_leaves]
    sizes = {get_aval(x).shape[0] for x in x_leaves if get_aval(x).ndim}
    if any(get_aval(x).ndim == 0 for x in x_leaves):
        raise ValueError("scan got a scalar in xs; every xs leaf needs a leading axis")
    if length is not None:
        sizes.add(int(length))
    if len(sizes) != 1:
        raise ValueError(f"scan got values with different leading axis sizes: {sorted(sizes)}"
                         if sizes else "scan got no xs and no length")
    n = sizes.pop()
    carry_avals = [get_aval(x) for x in carry_leaves]
    x_avals = [ShapedArray(get_aval(x).shape[1:], get_aval(x).dtype, get_aval(x).weak_type)
               for x in x_leaves]
    in_tree = tree_flatten((init, xs))[1]
    body, consts, out_tree = _trace(lambda c, x: f(c, x), in_tree, [*carry_avals, *x_avals])
    out_skeleton = tree_unflatten(out_tree, [0] * out_tree.num_leaves)
    if not (isinstance(out_skeleton, tuple) and len(out_skeleton) == 2):
        raise TypeError("scan body function must return a pair (carry, y)")
    new_carry_tree = tree_flatten(out_skeleton[0])[1]
    y_tree = tree_flatten(out_skeleton[1])[1]
    n_carry = len(carry_leaves)
    _check_same_types("scan body function carry input and carry output", carry_avals,
                      body.out_avals[:n_carry], carry_tree, new_carry_tree)
    outs = scan_p.bind(*consts, *carry_leaves, *x_leaves, jaxpr=body, num_consts=len(consts),
                       num_carry=n_carry, length=n, reverse=bool(reverse),
                       unroll=int(unroll) if not isinstance(unroll, bool) else (n if unroll
                                                                                 else 1))
    return tree_unflatten(carry_tree, outs[:n_carry]), tree_unflatten(y_tree, outs[n_carry:])


def _scan_params(params: dict, **updates: Any) -> dict:
    return {**params, **updates}


def _scan_jvp(primals: list, tangents: list, **params: Any) -> tuple[list, list]:
    jaxpr: ClosedJaxpr = params["jaxpr"]
    nc, ncar = params["num_consts"], params["num_carry"]
    nx = len(primals) - nc - ncar
    nz = [type(t) is not Zero for t in tangents]
    const_nz, carry_nz, x_nz = _groups(nz, (nc, ncar, nx))
    ny = len(jaxpr.out_avals) - ncar
    while True:
        jvp_j, out_nz = jvp_jaxpr(jaxpr, const_nz + carry_nz + x_nz,
                                  instantiate=carry_nz + [False] * ny)
        new = [a or b for a, b in zip(carry_nz, out_nz[:ncar], strict=True)]
        if new == carry_nz:
            break
        carry_nz = new
    n_ct, n_cart, n_xt = sum(const_nz), sum(carry_nz), sum(x_nz)
    n_in = nc + ncar + nx
    t0 = n_in
    order = [*range(nc), *range(t0, t0 + n_ct), *range(nc, nc + ncar),
             *range(t0 + n_ct, t0 + n_ct + n_cart), *range(nc + ncar, n_in),
             *range(t0 + n_ct + n_cart, t0 + n_ct + n_cart + n_xt)]
    y_nz = out_nz[ncar:]
    n_out = ncar + ny
    out_order = [*range(ncar), *range(n_out, n_out + n_cart), *range(ncar, n_out),
                 *range(n_out + n_cart, n_out + n_cart + sum(y_nz))]
    jvp_j = _reorder(jvp_j, order, out_order)
    c_p, car_p, x_p = primals[:nc], primals[nc:nc + ncar], primals[nc + ncar:]
    c_t = [t for t, z in zip(tangents[:nc], const_nz, strict=True) if z]
    car_t = [instantiate(t) for t, z in zip(tangents[nc:nc + ncar], carry_nz, strict=True) if z]
    x_t = [t for t, z in zip(tangents[nc + ncar:], x_nz, strict=True) if z]
    outs = scan_p.bind(*c_p, *c_t, *car_p, *car_t, *x_p, *x_t,
                       **_scan_params(params, jaxpr=jvp_j, num_consts=nc + n_ct,
                                      num_carry=ncar + n_cart))
    carry_out, carry_t_out = outs[:ncar], outs[ncar:ncar + n_cart]
    ys, ys_t = outs[ncar + n_cart:ncar + n_cart + ny], outs[ncar + n_cart + ny:]
    ct_it, yt_it = iter(carry_t_out), iter(ys_t)
    out_avals = _scan_abstract(*[get_aval(p) for p in primals], **params)
    tangents_out = [next(ct_it) if z else Zero(tangent_aval(a))
                    for z, a in zip(carry_nz, out_avals[:ncar], strict=True)]
    tangents_out += [next(yt_it) if z else Zero(tangent_aval(a))
                     for z, a in zip(y_nz, out_avals[ncar:], strict=True)]
    return [*carry_out, *ys], tangents_out


def _scan_batch(axis: Any, values: list, dims: list, **params: Any) -> tuple[list, list]:
    jaxpr: ClosedJaxpr = params["jaxpr"]
    nc, ncar = params["num_consts"], params["num_carry"]
    nx = len(values) - nc - ncar
    b = [d is not None for d in dims]
    const_b, carry_b, x_b = _groups(b, (nc, ncar, nx))
    ny = len(jaxpr.out_avals) - ncar
    while True:
        _, out_b = batch_jaxpr(jaxpr, axis, const_b + carry_b + x_b,
                               instantiate=carry_b + [False] * ny)
        new = [p or q for p, q in zip(carry_b, out_b[:ncar], strict=True)]
        if new == carry_b:
            break
        carry_b = new
    batched, out_b = batch_jaxpr(jaxpr, axis, const_b + carry_b + x_b,
                                 instantiate=carry_b + [False] * ny)
    consts = [move_axis(v, d, 0, axis.size) if d is not None else v
              for v, d in zip(values[:nc], dims[:nc], strict=True)]
    carry = [move_axis(v, d, 0, axis.size) if f else v
             for v, d, f in zip(values[nc:nc + ncar], dims[nc:nc + ncar], carry_b, strict=True)]
    xs = [move_axis(v, d, 1, axis.size) if d is not None else v
          for v, d in zip(values[nc + ncar:], dims[nc + ncar:], strict=True)]
    outs = scan_p.bind(*consts, *carry, *xs, **_scan_params(params, jaxpr=batched))
    return outs, [0 if f else None for f in carry_b] + [1 if f else None for f in out_b[ncar:]]


def _scan_partial_eval(pe: Any, args: Sequence[Any], params: dict) -> list[Any]:
    jaxpr: ClosedJaxpr = params["jaxpr"]
    nc, ncar = params["num_consts"], params["num_carry"]
    nx = len(args) - nc - ncar
    ny = len(jaxpr.out_avals) - ncar
    unknown = [pe.is_unknown(a) for a in args]
    const_u, carry_u, x_u = _groups(unknown, (nc, ncar, nx))
    while True:
        split = partial_eval_jaxpr(jaxpr, const_u + carry_u + x_u,
                                   instantiate=carry_u + [False] * ny)
        new = [p or q for p, q in zip(carry_u, split.out_unknowns[:ncar], strict=True)]
        if new == carry_u:
            break
        carry_u = new
    flags = const_u + carry_u + x_u
    known_j = split.known.jaxpr
    n_known_out = split.out_unknowns.count(False)
    known_const_count = const_u.count(False)
    # Residuals that are known consts pass straight to the unknown loop; others are stacked.
    res_vars = known_j.outvars[n_known_out:]
    const_pos = {id(v): i for i, v in enumerate(known_j.invars[:known_const_count])}
    forwarded = [const_pos.get(id(v)) if isinstance(v, Var) else None for v in res_vars]
    stacked_idx = [k for k, f in enumerate(forwarded) if f is None]
    known_body = _reorder(split.known, None,
                          [*range(n_known_out), *[n_known_out + k for k in stacked_idx]])
    known_args = [a for a, u in zip(args, flags, strict=True) if not u]
    n_known_carry = carry_u.count(False)
    with set_interpreter(pe.parent):
        known_outs = scan_p.bind(
            *known_args, **_scan_params(params, jaxpr=known_body, num_consts=known_const_count,
                                        num_carry=n_known_carry))
    stacked_res = known_outs[n_known_out:]
    const_res = [known_args[f] for f in forwarded if f is not None]
    # The unknown loop: consts = (forwarded residuals, unknown consts), carry = unknown carry,
    # xs = (stacked residuals, unknown xs).
    n_res = split.num_res
    n_uc, n_ucar = sum(const_u), sum(carry_u)
    fwd_idx = [k for k, f in enumerate(forwarded) if f is not None]
    order = [*fwd_idx, *range(n_res, n_res + n_uc), *range(n_res + n_uc, n_res + n_uc + n_ucar),
             *stacked_idx, *range(n_res + n_uc + n_ucar, len(split.unknown.in_avals))]
    unknown_body = _reorder(split.unknown, order)
    carry_vals = [a for a, u in zip(args[nc:nc + ncar], carry_u, strict=True) if u]
    u_consts = [a for a, u in zip(args[:nc], const_u, strict=True) if u]
    u_xs = [a for a, u in zip(args[nc + ncar:], x_u, strict=True) if u]
    in_atoms = [pe.to_atom(a) for a in (*const_res, *u_consts, *carry_vals, *stacked_res, *u_xs)]
    unknown_outs = pe.add_eqn(scan_p, in_atoms, _scan_params(
        params, jaxpr=unknown_body, num_consts=len(fwd_idx) + n_uc, num_carry=n_ucar))
    k_it, u_it = iter(known_outs[:n_known_out]), iter(unknown_outs)
    return [next(u_it) if u else next(k_it) for u in split.out_unknowns]


def _scan_transpose(cts: list, *args: Any, **params: Any) -> list:
    jaxpr: ClosedJaxpr = params["jaxpr"]
    nc, ncar = params["num_consts"], params["num_carry"]
    consts, carry, xs = args[:nc], args[nc:nc + ncar], args[nc + ncar:]
    # A known carry init (e.g. a zero accumulator) of a linear loop is linear in effect:
    # transpose as if it were, and report no cotangent for it.
    carry_lin = [is_undefined(c) for c in carry]
    carry = [c if is_undefined(c) else UndefinedPrimal(tangent_aval(get_aval(c))) for c in carry]
    const_lin = [is_undefined(c) for c in consts]
    x_lin = [is_undefined(x) for x in xs]
    res_consts = [c for c in consts if not is_undefined(c)]
    res_xs = [x for x in xs if not is_undefined(x)]
    ct_carry = [instantiate(c) for c in cts[:ncar]]
    ct_ys = [instantiate(c) for c in cts[ncar:]]
    lin_const_avals = [c.aval for c in consts if is_undefined(c)]
    acc_init = [zeros_from_aval(a) for a in lin_const_avals]
    n_rc, n_acc, n_rx = len(res_consts), len(acc_init), len(res_xs)

    def body_t(*vals: Any) -> list[Any]:
        rc = iter(vals[:n_rc])
        acc = vals[n_rc:n_rc + n_acc]
        ctc = vals[n_rc + n_acc:n_rc + n_acc + ncar]
        rx = iter(vals[n_rc + n_acc + ncar:n_rc + n_acc + ncar + n_rx])
        cty = vals[n_rc + n_acc + ncar + n_rx:]
        primals = ([c if is_undefined(c) else next(rc) for c in consts]
                   + list(carry) + [x if is_undefined(x) else next(rx) for x in xs])
        ct_in = backward_pass(jaxpr.jaxpr, jaxpr.consts, primals, [*ctc, *cty])
        ct_consts = [instantiate(c) for c, lin in zip(ct_in[:nc], const_lin, strict=True)
                     if lin]
        ct_carry_in = [instantiate(c) for c in ct_in[nc:nc + ncar]]
        ct_xs = [instantiate(c) for c, lin in zip(ct_in[nc + ncar:], x_lin, strict=True) if lin]
        return [*[lax.add(a, c) for a, c in zip(acc, ct_consts, strict=True)], *ct_carry_in,
                *ct_xs]

    avals = [*[get_aval(c) for c in res_consts], *[get_aval(a) for a in acc_init],
             *[tangent_aval(c.aval) for c in carry],
             *[ShapedArray(get_aval(x).shape[1:], get_aval(x).dtype) for x in res_xs],
             *[ShapedArray(get_aval(c).shape[1:], get_aval(c).dtype) for c in ct_ys]]
    body = trace_to_jaxpr(body_t, avals)
    outs = scan_p.bind(*res_consts, *acc_init, *ct_carry, *res_xs, *ct_ys,
                       **_scan_params(params, jaxpr=body, num_consts=n_rc,
                                      num_carry=n_acc + ncar, reverse=not params["reverse"]))
    acc_out = iter(outs[:n_acc])
    carry_out = outs[n_acc:n_acc + ncar]
    xs_out = iter(outs[n_acc + ncar:])
    return ([next(acc_out) if lin else None for lin in const_lin]
            + [c if lin else None for c, lin in zip(carry_out, carry_lin, strict=True)]
            + [next(xs_out) if lin else None for lin in x_lin])


scan_p.jvp = _scan_jvp
scan_p.batch = _scan_batch
scan_p.partial_eval = _scan_partial_eval
scan_p.transpose = _scan_transpose


# --- derived loops -----------------------------------------------------------------------------

def fori_loop(lower: Any, upper: Any, body_fun: Callable[[Any, Any], Any], init_val: Any,
              unroll: int | bool | None = None) -> Any:
    """``for i in range(lower, upper): val = body_fun(i, val)``. With concrete bounds it is a
    scan (reverse-mode differentiable); with traced bounds a while_loop (forward mode only)."""
    if is_concrete(lower) and is_concrete(upper):
        lo = int(concrete_value(lower, "fori_loop lower"))
        hi = int(concrete_value(upper, "fori_loop upper"))
        idx_dtype = dtypes.int32

        def step(carry: Any, _: Any) -> tuple[Any, None]:
            i, val = carry
            return (lax.add(i, ArrayImpl(np.array(1, idx_dtype))), body_fun(i, val)), None

        start = ArrayImpl(np.array(lo, idx_dtype))
        (_, out), _ = scan(step, (start, init_val), None, length=builtins.max(hi - lo, 0),
                           unroll=unroll or 1)
        return out
    lo_arr = lax.convert_element_type(lower, dtypes.int32)
    hi_arr = lax.convert_element_type(upper, dtypes.int32)

    def keep_going(carry: Any) -> Any:
        return lax.lt(carry[0], carry[1])

    def body(carry: Any) -> Any:
        i, hi, val = carry
        return lax.add(i, 1), hi, body_fun(i, val)

    return while_loop(keep_going, body, (lo_arr, hi_arr, init_val))[2]


def map(f: Callable[[Any], Any], xs: Any) -> Any:  # noqa: A001 - lax name
    """``stack([f(x) for x in xs])`` over the leading axis, as a scan."""
    return scan(lambda _, x: ((), f(x)), (), xs)[1]
