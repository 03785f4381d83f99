"""Common-subexpression elimination: an equation with the same primitive, equal params and
the same operands as an earlier one reuses its outputs. Operands compare by variable identity
and literals by bits, dtype and weak type (operand order is ignored for commutative
primitives); params compare by value, jaxprs in them by identity."""

from __future__ import annotations

from typing import Any

from fborn.core.jaxpr import Atom, ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var
from fborn.core.primitive import Primitive
from fborn.lowering.passes._rewrite import Builder, SubjaxprMap, has_effects, literal_key, run_pass
from fborn.primitives import elementwise as ew

COMMUTATIVE: frozenset[Primitive] = frozenset({
    ew.add_p, ew.mul_p, ew.max_p, ew.min_p, ew.and_p, ew.or_p, ew.xor_p, ew.eq_p, ew.ne_p,
})


def cse(closed: ClosedJaxpr) -> ClosedJaxpr:
    """``closed`` with repeated computations done once (in every nested jaxpr too).
    Equations with side effects are never merged. Returns ``closed`` itself if nothing
    repeats."""
    return _Cse().run(closed, top_level=True)


def _param_key(value: Any) -> Any:
    if isinstance(value, (ClosedJaxpr, Jaxpr)):
        return ("jaxpr", id(value))
    if isinstance(value, tuple):
        return ("tuple", tuple(_param_key(v) for v in value))
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return (type(value), value)


def _atom_key(atom: Atom) -> tuple:
    return literal_key(atom) if isinstance(atom, Literal) else ("var", id(atom))


def eqn_key(prim: Primitive, invars: list[Atom], params: dict) -> tuple:
    """The key under which equal computations meet (jaxprs in params by identity)."""
    operands = [_atom_key(a) for a in invars]
    if prim in COMMUTATIVE:
        operands.sort()
    return (prim, tuple(operands), tuple((k, _param_key(params[k])) for k in sorted(params)))


class _Cse:
    def __init__(self) -> None:
        self.nested = SubjaxprMap(lambda c, loose: self.run(c, False, loose))

    def run(self, closed: ClosedJaxpr, top_level: bool,
            loose: frozenset[int] = frozenset()) -> ClosedJaxpr:
        seen: dict[tuple, list[Var]] = {}

        def rule(b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict) -> None:
            if has_effects(eqn):
                b.keep(eqn, invars, params)
                return
            key = eqn_key(eqn.primitive, invars, params)
            earlier = seen.get(key)
            if earlier is not None and all(b.can_replace(v, e.aval) for v, e
                                           in zip(eqn.outvars, earlier, strict=True)):
                for v, e in zip(eqn.outvars, earlier, strict=True):
                    b.replace(v, e)
                return
            seen.setdefault(key, b.keep(eqn, invars, params).outvars)

        return run_pass(closed, top_level, self.nested, rule, loose)
