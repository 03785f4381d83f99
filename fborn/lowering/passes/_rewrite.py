"""Shared machinery of the jaxpr passes.

A pass walks a jaxpr's equations in order and feeds a ``Builder``: it keeps an equation (with
its operands renamed), emits new ones, or replaces an equation's outputs by other atoms. The
builder returns the input jaxpr itself when nothing changed, so ``optimize`` detects its fixed
point by identity. ``SubjaxprMap`` applies a pass to the jaxprs held in equation params (cond
branches, loop bodies, call bodies), once per distinct jaxpr object.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from fborn.core.array import ArrayImpl
from fborn.core.aval import ShapedArray
from fborn.core.jaxpr import Atom, ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var
from fborn.core.primitive import Primitive
from fborn.lax._control_flow import scan_p, while_p
from fborn.primitives.shape import broadcast_in_dim_p

JaxprFn = Callable[[ClosedJaxpr], ClosedJaxpr]


# --- jaxprs inside params ----------------------------------------------------------------------

def _map_param(value: Any, fn: JaxprFn) -> Any:
    if isinstance(value, ClosedJaxpr):
        return fn(value)
    if isinstance(value, tuple) and any(isinstance(v, ClosedJaxpr) for v in value):
        mapped = tuple(fn(v) if isinstance(v, ClosedJaxpr) else v for v in value)
        return value if all(a is b for a, b in zip(mapped, value, strict=True)) else mapped
    return value


def subjaxprs(params: dict) -> Iterator[ClosedJaxpr]:
    """The ClosedJaxprs held in ``params``."""
    for value in params.values():
        if isinstance(value, ClosedJaxpr):
            yield value
        elif isinstance(value, tuple):
            yield from (v for v in value if isinstance(v, ClosedJaxpr))


class SubjaxprMap:
    """Applies a pass ``fn(closed, loose)`` to nested jaxprs, memoized by object identity (so
    equations sharing a jaxpr still share the optimized one, which keeps identity-based CSE
    working). ``loose`` lists the outputs whose weak type the enclosing equation ignores."""

    def __init__(self, fn: Callable[[ClosedJaxpr, frozenset[int]], ClosedJaxpr]):
        self.fn = fn
        self._cache: dict[tuple[int, frozenset[int]], tuple[ClosedJaxpr, ClosedJaxpr]] = {}

    def __call__(self, closed: ClosedJaxpr, loose: frozenset[int] = frozenset()) -> ClosedJaxpr:
        key = (id(closed), loose)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = (closed, self.fn(closed, loose))
        return hit[1]

    def params(self, params: dict, prim: Primitive | None = None) -> dict:
        """``params`` with the pass applied to their jaxprs (the same dict if unchanged)."""
        loose = _loose_outputs(prim, params)
        out: dict | None = None
        for key, value in params.items():
            fn = functools.partial(self, loose=loose.get(key, frozenset()))
            mapped = _map_param(value, fn)
            if mapped is not value:
                out = dict(params) if out is None else out
                out[key] = mapped
        return params if out is None else out


def _loose_outputs(prim: Primitive | None, params: dict) -> dict[str, frozenset[int]]:
    """Outputs of nested jaxprs whose weak type never reaches the equation's results: loop
    carries (``scan`` and ``while`` give their carries the operands' types) and the loop
    predicate."""
    if prim is scan_p:
        return {"jaxpr": frozenset(range(params["num_carry"]))}
    if prim is while_p:
        return {name: frozenset(range(len(params[name].jaxpr.outvars)))
                for name in ("cond_jaxpr", "body_jaxpr")}
    return {}


def has_effects(eqn: JaxprEqn) -> bool:
    """Whether ``eqn`` (or an equation of a jaxpr in its params) is a side effect."""
    if getattr(eqn.primitive, "effectful", False):
        return True
    return any(has_effects(e) for c in subjaxprs(eqn.params) for e in c.jaxpr.eqns)


# --- literals ----------------------------------------------------------------------------------

def literal(value: Any, aval: ShapedArray) -> Literal:
    """A 0-d literal holding ``value`` with ``aval``'s dtype and weak type."""
    array = np.array(value).astype(aval.dtype).reshape(())
    return Literal(ArrayImpl(array, aval.weak_type))


def literal_key(lit: Literal) -> tuple:
    """A hashable key equal for literals of equal bits, dtype and weak type."""
    value = np.asarray(lit.value)
    return ("lit", value.dtype.str, lit.aval.weak_type, value.tobytes())


def same_type(a: ShapedArray, b: ShapedArray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype


# --- the builder -------------------------------------------------------------------------------

class Builder:
    """Accumulates the equations of the rewritten form of ``source``.

    ``top_level`` says whether new constvars may be added (nested jaxprs keep their consts:
    the higher-order primitives expect their bodies' consts to be passed as operands);
    ``loose`` lists outputs whose weak type may change.
    """

    def __init__(self, source: ClosedJaxpr, top_level: bool,
                 loose: frozenset[int] = frozenset()):
        self.source = source
        self.top_level = top_level
        self.env: dict[int, Atom] = {}
        self.eqns: list[JaxprEqn] = []
        self.producers: dict[int, JaxprEqn] = {}
        self.constvars = list(source.jaxpr.constvars)
        self.consts = list(source.consts)
        self._outputs = {id(v) for i, v in enumerate(source.jaxpr.outvars)
                         if isinstance(v, Var) and i not in loose}
        self.changed = False

    def read(self, atom: Atom) -> Atom:
        """The atom now standing for ``atom``."""
        if isinstance(atom, Literal):
            return atom
        return self.env.get(id(atom), atom)

    def read_all(self, atoms: Sequence[Atom]) -> list[Atom]:
        return [self.read(a) for a in atoms]

    def can_replace(self, var: Var, aval: ShapedArray) -> bool:
        """Whether a value of type ``aval`` may stand for ``var``: same shape and dtype, and
        the same weak type if ``var`` is an output (the jaxpr's signature must not change)."""
        if not same_type(var.aval, aval):
            return False
        return id(var) not in self._outputs or var.aval.weak_type == aval.weak_type

    def replace(self, var: Var, atom: Atom) -> bool:
        """Use ``atom`` wherever ``var`` was used; False (and nothing done) if the types
        forbid it. A literal takes ``var``'s weak type."""
        if isinstance(atom, Literal) and atom.aval.weak_type != var.aval.weak_type:
            atom = Literal(ArrayImpl(np.asarray(atom.value), var.aval.weak_type))
        if not self.can_replace(var, atom.aval):
            return False
        self.env[id(var)] = atom
        self.changed = True
        return True

    def keep(self, eqn: JaxprEqn, invars: list[Atom], params: dict) -> JaxprEqn:
        """Keep ``eqn`` with renamed operands and params (the same object if unchanged)."""
        if params is not eqn.params or any(a is not b for a, b in zip(invars, eqn.invars,
                                                                       strict=True)):
            eqn = JaxprEqn(eqn.primitive, invars, eqn.outvars, params)
            self.changed = True
        self._append(eqn)
        return eqn

    def emit(self, prim: Primitive, invars: list[Atom], params: dict,
             outvars: list[Var] | None = None) -> list[Var]:
        """Add a new equation; its outputs are ``outvars`` or fresh variables."""
        if outvars is None:
            avals = prim.abstract_eval(*[a.aval for a in invars], **params)
            outvars = [Var(a) for a in (avals if prim.multiple_results else [avals])]
        self._append(JaxprEqn(prim, invars, outvars, params))
        self.changed = True
        return outvars

    def emit_uniform(self, value: Any, out: Var) -> bool:
        """Make ``out`` the constant ``value`` everywhere: a literal if 0-d, else a broadcast
        literal bound to ``out``."""
        if out.aval.shape == ():
            return self.replace(out, literal(value, out.aval))
        scalar = literal(value, out.aval.update(shape=()))
        self.emit(broadcast_in_dim_p, [scalar],
                  {"shape": out.aval.shape, "broadcast_dimensions": ()}, [out])
        return True

    def add_const(self, value: ArrayImpl) -> Var | None:
        """A new constvar holding ``value`` (None in nested jaxprs, which take no new consts)."""
        if not self.top_level:
            return None
        var = Var(value.aval)
        self.constvars.append(var)
        self.consts.append(value)
        self.changed = True
        return var

    def inline(self, closed: ClosedJaxpr, in_atoms: Sequence[Atom]) -> list[Atom] | None:
        """Emit the equations of ``closed`` applied to ``in_atoms`` with fresh variables;
        returns its outputs (None, emitting nothing, if its consts cannot be added here)."""
        jaxpr = closed.jaxpr
        if closed.consts and not self.top_level:
            return None
        env: dict[int, Atom] = {}
        for v, c in zip(jaxpr.constvars, closed.consts, strict=True):
            env[id(v)] = self.add_const(c if isinstance(c, ArrayImpl)
                                        else ArrayImpl(np.array(c)))  # type: ignore[assignment]
        for v, a in zip(jaxpr.invars, in_atoms, strict=True):
            env[id(v)] = a

        def read(a: Atom) -> Atom:
            return a if isinstance(a, Literal) else env[id(a)]

        for eqn in jaxpr.eqns:
            outs = [Var(v.aval) for v in eqn.outvars]
            self.emit(eqn.primitive, [read(a) for a in eqn.invars], eqn.params, outs)
            env.update((id(v), o) for v, o in zip(eqn.outvars, outs, strict=True))
        return [read(a) for a in jaxpr.outvars]

    def _append(self, eqn: JaxprEqn) -> None:
        self.eqns.append(eqn)
        for v in eqn.outvars:
            self.producers[id(v)] = eqn

    def uses(self, var: Var) -> int:
        """How many operands and outputs of the source jaxpr now read ``var``."""
        jaxpr = self.source.jaxpr
        atoms = [a for eqn in jaxpr.eqns for a in eqn.invars] + list(jaxpr.outvars)
        return sum(1 for a in atoms if isinstance(a, Var) and self.read(a) is var)

    def producer(self, atom: Atom) -> JaxprEqn | None:
        """The equation (of the new jaxpr) binding ``atom``, if any."""
        return None if isinstance(atom, Literal) else self.producers.get(id(atom))

    def finish(self) -> ClosedJaxpr:
        """The rewritten jaxpr (``source`` itself if nothing changed)."""
        jaxpr = self.source.jaxpr
        outvars = self.read_all(jaxpr.outvars)
        if not self.changed and all(a is b for a, b in zip(outvars, jaxpr.outvars, strict=True)):
            return self.source
        return ClosedJaxpr(Jaxpr(self.constvars, jaxpr.invars, outvars, self.eqns), self.consts)


def uniform_value(b: Builder, atom: Atom) -> np.ndarray | None:
    """The 0-d value of ``atom`` if it is a literal or a broadcast of one (a constant with all
    elements equal), else None."""
    if isinstance(atom, Literal):
        return np.asarray(atom.value)
    eqn = b.producer(atom)
    if eqn is not None and eqn.primitive is broadcast_in_dim_p:
        return uniform_value(b, eqn.invars[0])
    return None


def run_pass(closed: ClosedJaxpr, top_level: bool, nested: SubjaxprMap,
             rule: Callable[[Builder, JaxprEqn, list[Atom], dict], None],
             loose: frozenset[int] = frozenset()) -> ClosedJaxpr:
    """Rewrite ``closed`` equation by equation: ``rule(builder, eqn, renamed_operands,
    params_with_nested_jaxprs_rewritten)`` keeps, emits or replaces."""
    b = Builder(closed, top_level, loose)
    for eqn in closed.jaxpr.eqns:
        rule(b, eqn, b.read_all(eqn.invars), nested.params(eqn.params, eqn.primitive))
    return b.finish()
