"""Algebraic simplification: local rewrites that are exact (same values, NaNs and infinities
included; the one exception is ``x + 0``, which keeps ``-0.0`` where IEEE gives ``+0.0``, as
XLA's simplifier does). Constants are literals or broadcast literals.

- identities: ``x*1``, ``1*x``, ``x+0``, ``0+x``, ``x-0``, ``x/1``, ``integer_pow(x, 1)``,
  ``x|0``, ``x^0``, and for booleans ``x&True``, ``x==True``, ``x!=False`` (either side),
  converting to the same dtype, broadcasting/reshaping to the same shape, identity transposes,
  empty reductions, reversals and full slices; ``x*0`` is kept (``inf*0`` is NaN).
- ``integer_pow(x, 0)`` -> ones; ``neg(neg(x))`` and ``not(not(x))`` -> ``x``.
- ``transpose(dot_general(a, b))`` swapping the free-axis groups (and the product's only
  reader) -> ``dot_general(b, a)``.
- chains collapse: ``transpose(transpose(x))``, ``broadcast_in_dim(broadcast_in_dim(x))``,
  reshape-like chains (``reshape``, ``squeeze``, size-preserving ``broadcast_in_dim``, so
  ``squeeze(expand_dims(x))``) -> one op or ``x``; ``rev(rev(x))`` -> ``x``.
- ``reduce_sum(broadcast_in_dim(x))`` over broadcast (new) axes only -> ``x * size``
  (re-broadcast over the axes left).
- ``select_n`` with a constant selector or identical cases -> the chosen case; ``cond`` with a
  constant index -> the chosen branch, inlined.
- constant operands of ``cond`` (operands), ``scan`` (consts and xs) and ``while`` (consts) are
  moved into the jaxprs that read them, so folding and simplification continue inside.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from fborn.core.aval import ShapedArray
from fborn.core.jaxpr import Atom, ClosedJaxpr, JaxprEqn, Literal, Var
from fborn.core.primitive import Primitive
from fborn.lax._control_flow import cond_p, scan_p, while_p
from fborn.lowering.passes._rewrite import Builder, SubjaxprMap, literal, run_pass, uniform_value
from fborn.primitives import elementwise as ew
from fborn.primitives import reductions as red
from fborn.primitives import shape as sh
from fborn.primitives.dot import dot_general_p

Rule = Callable[[Builder, JaxprEqn, list[Atom], dict], bool]


def simplify(closed: ClosedJaxpr) -> ClosedJaxpr:
    """``closed`` with the rewrites of the module docstring applied in one forward sweep (in
    nested jaxprs too). Returns ``closed`` itself if no rule applied."""
    return _Simplifier().run(closed, top_level=True)


class _Simplifier:
    def __init__(self) -> None:
        self.nested = SubjaxprMap(lambda c, loose: self.run(c, False, loose))

    def run(self, closed: ClosedJaxpr, top_level: bool,
            loose: frozenset[int] = frozenset()) -> ClosedJaxpr:
        return run_pass(closed, top_level, self.nested, _rule, loose)


def _rule(b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict) -> None:
    rule = SIMPLIFY_RULES.get(eqn.primitive)
    if rule is None or not rule(b, eqn, invars, params):
        b.keep(eqn, invars, params)


# --- helpers -----------------------------------------------------------------------------------

def _is_const(b: Builder, atom: Atom, value: float) -> bool:
    u = uniform_value(b, atom)
    return u is not None and bool(u == value)


def _producer(b: Builder, atom: Atom, *prims: Primitive) -> JaxprEqn | None:
    eqn = b.producer(atom)
    return eqn if eqn is not None and eqn.primitive in prims else None


def _constant_like(b: Builder, aval: ShapedArray, value: Any) -> Atom:
    """``value`` with ``aval``'s shape and dtype (strong type): a (broadcast) literal."""
    scalar = literal(value, ShapedArray((), aval.dtype))
    if aval.shape == ():
        return scalar
    return b.emit(sh.broadcast_in_dim_p, [scalar],
                  {"shape": aval.shape, "broadcast_dimensions": ()})[0]


def _bind(b: Builder, eqn: JaxprEqn, prim: Primitive, invars: list[Atom], params: dict) -> bool:
    """Compute ``eqn``'s output with ``prim`` instead."""
    b.emit(prim, invars, params, [eqn.outvars[0]])
    return True


# --- arithmetic identities ---------------------------------------------------------------------

def _either_identity(value: float, bool_only: bool = False) -> Rule:
    """``op(x, c) -> x`` and ``op(c, x) -> x`` for the constant ``c == value`` (the result
    must have ``x``'s type, which rules out e.g. ``eq(i, 1)`` on integers)."""

    def rule(b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict) -> bool:
        x, y = invars
        out = eqn.outvars[0]
        if bool_only and x.aval.dtype != np.bool_:
            return False
        return ((_is_const(b, y, value) and b.replace(out, x))
                or (_is_const(b, x, value) and b.replace(out, y)))

    return rule


def _right_identity(value: float) -> Rule:
    def rule(b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict) -> bool:
        return _is_const(b, invars[1], value) and b.replace(eqn.outvars[0], invars[0])

    return rule


def _integer_pow(b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict) -> bool:
    if params["y"] == 1:
        return b.replace(eqn.outvars[0], invars[0])
    if params["y"] == 0:
        return b.emit_uniform(1, eqn.outvars[0])
    return False


def _involution(b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict) -> bool:
    inner = _producer(b, invars[0], eqn.primitive)
    return inner is not None and b.replace(eqn.outvars[0], inner.invars[0])


def _convert(b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict) -> bool:
    return params["new_dtype"] == invars[0].aval.dtype and b.replace(eqn.outvars[0], invars[0])


# --- shape operations --------------------------------------------------------------------------

def _transpose(b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict) -> bool:
    x, perm, out = invars[0], params["permutation"], eqn.outvars[0]
    inner = _producer(b, x, sh.transpose_p)
    if inner is not None:
        x = inner.invars[0]
        perm = tuple(inner.params["permutation"][p] for p in perm)
    if perm == tuple(range(len(perm))):
        return b.replace(out, x)
    if inner is None and _swapped_product(b, eqn, x, perm):
        return True
    return inner is not None and _bind(b, eqn, sh.transpose_p, [x], {"permutation": perm})


def _swapped_product(b: Builder, eqn: JaxprEqn, x: Atom, perm: tuple[int, ...]) -> bool:
    """``transpose(dot_general(a, b))`` that swaps the two free-axis groups, when nothing else
    reads the product -> ``dot_general(b, a)``: the product is computed in the layout its
    reader wants (weight gradients ``x.T @ g`` read transposed by the update)."""
    dot = _producer(b, x, dot_general_p)
    if dot is None or not isinstance(x, Var) or b.uses(x) != 1:
        return False
    lhs, rhs = dot.invars
    (lc, rc), (lb, rb) = dot.params["dimension_numbers"]
    batch = len(lb)
    n_lhs = lhs.aval.ndim - len(lc) - batch
    n_rhs = rhs.aval.ndim - len(rc) - batch
    swapped = (*range(batch), *range(batch + n_lhs, batch + n_lhs + n_rhs),
               *range(batch, batch + n_lhs))
    if n_lhs == 0 or n_rhs == 0 or perm != swapped:
        return False
    params = {**dot.params, "dimension_numbers": ((rc, lc), (rb, lb))}
    return _bind(b, eqn, dot_general_p, [rhs, lhs], params)


RESHAPE_LIKE = (sh.reshape_p, sh.squeeze_p, sh.broadcast_in_dim_p)


def _reshape_source(b: Builder, atom: Atom) -> Atom | None:
    """The operand of the reshape-like equation producing ``atom`` (reshape, squeeze, or a
    broadcast_in_dim that only inserts size-1 axes), if any."""
    inner = _producer(b, atom, *RESHAPE_LIKE)
    if inner is None:
        return None
    src = inner.invars[0]
    return src if src.aval.size == atom.aval.size else None


def _reshape(b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict) -> bool:
    x, out = invars[0], eqn.outvars[0]
    if x.aval.shape == out.aval.shape:
        return b.replace(out, x)
    src = _reshape_source(b, x)
    if src is None:
        return False
    if src.aval.shape == out.aval.shape:
        return b.replace(out, src)
    return _bind(b, eqn, sh.reshape_p, [src], {"new_sizes": out.aval.shape})


def _broadcast_in_dim(b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict) -> bool:
    x, out = invars[0], eqn.outvars[0]
    dims = params["broadcast_dimensions"]
    if x.aval.shape == out.aval.shape and dims == tuple(range(x.aval.ndim)):
        return b.replace(out, x)
    inner = _producer(b, x, sh.broadcast_in_dim_p)
    if inner is not None:
        composed = tuple(dims[d] for d in inner.params["broadcast_dimensions"])
        return _bind(b, eqn, sh.broadcast_in_dim_p, [inner.invars[0]],
                     {"shape": out.aval.shape, "broadcast_dimensions": composed})
    if x.aval.size == out.aval.size:
        return _reshape(b, eqn, invars, params)
    return False


def _rev(b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict) -> bool:
    dims, out = params["dimensions"], eqn.outvars[0]
    if not dims:
        return b.replace(out, invars[0])
    inner = _producer(b, invars[0], sh.rev_p)
    return (inner is not None and sorted(inner.params["dimensions"]) == sorted(dims)
            and b.replace(out, inner.invars[0]))


def _slice(b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict) -> bool:
    x = invars[0]
    full = (all(s == 0 for s in params["start_indices"])
            and tuple(params["limit_indices"]) == x.aval.shape
            and all(s == 1 for s in (params["strides"] or ())))
    return full and b.replace(eqn.outvars[0], x)


# --- reductions --------------------------------------------------------------------------------

def _empty_reduction(b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict) -> bool:
    return not params["axes"] and b.replace(eqn.outvars[0], invars[0])


def _reduce_sum(b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict) -> bool:
    """``reduce_sum(broadcast_in_dim(x))`` over new axes only -> ``x * size`` (re-broadcast)."""
    if _empty_reduction(b, eqn, invars, params):
        return True
    inner = _producer(b, invars[0], sh.broadcast_in_dim_p)
    if inner is None:
        return False
    x, bdims, axes = inner.invars[0], inner.params["broadcast_dimensions"], params["axes"]
    size = math.prod(inner.params["shape"][a] for a in axes)
    if set(axes) & set(bdims) or size == 0:
        return False
    out = eqn.outvars[0]
    dims = tuple(d - sum(a < d for a in axes) for d in bdims)
    direct = out.aval.shape == x.aval.shape and dims == tuple(range(x.aval.ndim))
    if size == 1 and direct:
        return b.replace(out, x)
    scaled = x
    if size != 1:
        factor = _constant_like(b, x.aval, size)
        scaled = b.emit(ew.mul_p, [x, factor], {}, [out] if direct else None)[0]
    if not direct:
        b.emit(sh.broadcast_in_dim_p, [scaled], {"shape": out.aval.shape,
                                                 "broadcast_dimensions": dims}, [out])
    return True


# --- selection ---------------------------------------------------------------------------------

def _select_n(b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict) -> bool:
    which, *cases = invars
    out = eqn.outvars[0]
    if all(c is cases[0] for c in cases):
        return b.replace(out, cases[0])
    chosen = uniform_value(b, which)
    if chosen is None:
        return False
    return b.replace(out, cases[min(max(int(chosen), 0), len(cases) - 1)])


def _cond(b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict) -> bool:
    index = invars[0]
    if not isinstance(index, Literal):
        return _propagate(b, eqn, invars, params, {
            "branches": [dict(enumerate(invars[1:])) for _ in params["branches"]]})
    branches: tuple[ClosedJaxpr, ...] = params["branches"]
    branch = branches[min(max(int(index.value), 0), len(branches) - 1)]
    if not all(b.can_replace(v, o.aval)
               for v, o in zip(eqn.outvars, branch.jaxpr.outvars, strict=True)):
        return False
    outs = b.inline(branch, invars[1:])
    if outs is None:
        return False
    for v, o in zip(eqn.outvars, outs, strict=True):
        b.replace(v, o)
    return True


# --- constant operands of loops and branches ---------------------------------------------------

def _substitute_invars(closed: ClosedJaxpr, values: dict[int, np.ndarray]) -> ClosedJaxpr:
    """``closed`` reading the constant ``values[i]`` (all elements equal) in place of its
    ``i``-th invar, which it then ignores; only invars it reads are substituted."""
    jaxpr = closed.jaxpr
    read = {id(a) for e in jaxpr.eqns for a in e.invars if isinstance(a, Var)}
    read |= {id(a) for a in jaxpr.outvars if isinstance(a, Var)}
    chosen = {i: v for i, v in values.items() if id(jaxpr.invars[i]) in read}
    if not chosen:
        return closed
    b = Builder(closed, top_level=False)
    for i, value in chosen.items():
        var = jaxpr.invars[i]
        scalar = literal(value, var.aval.update(shape=()))
        if var.aval.shape != ():
            scalar = b.emit(sh.broadcast_in_dim_p, [scalar],
                            {"shape": var.aval.shape, "broadcast_dimensions": ()})[0]
        b.replace(var, scalar)
    for eqn in jaxpr.eqns:
        b.keep(eqn, b.read_all(eqn.invars), eqn.params)
    return b.finish()


def _propagate(b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict,
               operands: dict[str, list[dict[int, Atom]]]) -> bool:
    """Move constant operands into the jaxprs that read them: ``operands[param][k]`` maps
    invar positions of the ``k``-th jaxpr of ``param`` (a tuple, or one jaxpr) to operands.
    The operands stay (DCE drops them once unread)."""
    new_params = dict(params)
    for name, per_jaxpr in operands.items():
        value = params[name]
        jaxprs = value if isinstance(value, tuple) else (value,)
        new = []
        for closed, positions in zip(jaxprs, per_jaxpr, strict=True):
            known = {i: uniform_value(b, a) for i, a in positions.items()}
            new.append(_substitute_invars(closed, {i: u for i, u in known.items()
                                                   if u is not None}))
        if any(a is not c for a, c in zip(new, jaxprs, strict=True)):
            new_params[name] = tuple(new) if isinstance(value, tuple) else new[0]
    if all(new_params[k] is params[k] for k in operands):
        return False
    b.keep(eqn, invars, new_params)
    return True


def _scan(b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict) -> bool:
    nc, ncar = params["num_consts"], params["num_carry"]
    positions = {i: a for i, a in enumerate(invars) if not nc <= i < nc + ncar}
    return _propagate(b, eqn, invars, params, {"jaxpr": [positions]})


def _while(b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict) -> bool:
    cn, bn = params["cond_nconsts"], params["body_nconsts"]
    return _propagate(b, eqn, invars, params, {
        "cond_jaxpr": [dict(enumerate(invars[:cn]))],
        "body_jaxpr": [dict(enumerate(invars[cn:cn + bn]))]})


SIMPLIFY_RULES: dict[Primitive, Rule] = {
    ew.mul_p: _either_identity(1),
    ew.add_p: _either_identity(0),
    ew.or_p: _either_identity(0),
    ew.xor_p: _either_identity(0),
    ew.and_p: _either_identity(1, bool_only=True),
    ew.eq_p: _either_identity(1, bool_only=True),
    ew.ne_p: _either_identity(0, bool_only=True),
    ew.sub_p: _right_identity(0),
    ew.div_p: _right_identity(1),
    ew.integer_pow_p: _integer_pow,
    ew.neg_p: _involution,
    ew.not_p: _involution,
    ew.convert_element_type_p: _convert,
    ew.select_n_p: _select_n,
    sh.transpose_p: _transpose,
    sh.reshape_p: _reshape,
    sh.squeeze_p: _reshape,
    sh.broadcast_in_dim_p: _broadcast_in_dim,
    sh.rev_p: _rev,
    sh.slice_p: _slice,
    red.reduce_sum_p: _reduce_sum,
    red.reduce_prod_p: _empty_reduction,
    red.reduce_max_p: _empty_reduction,
    red.reduce_min_p: _empty_reduction,
    red.reduce_and_p: _empty_reduction,
    red.reduce_or_p: _empty_reduction,
    cond_p: _cond,
    scan_p: _scan,
    while_p: _while,
}
