"""Forward-mode differentiation: the JVP interpreter, symbolic zero tangents, rule helpers.

A ``JVPTracer`` carries a primal and a tangent. When the JVP interpreter meets its tracers it
calls the primitive's ``jvp`` rule, ``rule(primals, tangents, **params) -> (primal_out,
tangent_out)``, with its parent interpreter current, so the rule's own operations are
transformed by every enclosing transform (higher-order AD for free). Tangents that are known to
be zero are ``Zero(aval)`` objects and cost nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fborn.core.aval import ShapedArray
from fborn.core.jaxpr import ClosedJaxpr, eval_jaxpr
from fborn.core.primitive import Primitive
from fborn.core.staging import trace_to_jaxpr
from fborn.core.trace import (
    Interpreter,
    Tracer,
    current_interpreter,
    get_aval,
    leaked_tracer_error,
    set_interpreter,
    to_array,
)
from fborn.primitives.rules import Zero, tangent_aval
from fborn.primitives.rules import instantiate as instantiate_zeros


class JVPTracer(Tracer):
    """A value under ``jvp``: its primal and its tangent (an array or a ``Zero``)."""

    __slots__ = ("primal", "tangent")

    def __init__(self, interpreter: JVPInterpreter, primal: Any, tangent: Any):
        self._interpreter = interpreter
        self.primal = primal
        self.tangent = tangent

    @property
    def aval(self) -> ShapedArray:  # type: ignore[override]
        return get_aval(self.primal)

    def _concrete(self) -> Any:
        if isinstance(self.primal, Tracer):
            return self.primal._concrete()
        return self.primal


class JVPInterpreter(Interpreter):
    """Runs primitives' jvp rules on its tracers; binds everything on ``parent``."""

    name = "jvp"

    def __init__(self, parent: Interpreter):
        self.parent = parent
        self.alive = True

    def unpack(self, x: Any) -> tuple[Any, Any]:
        """``(primal, tangent)`` of a value: foreign values have a zero tangent."""
        if isinstance(x, JVPTracer) and x._interpreter is self:
            return x.primal, x.tangent
        if isinstance(x, Tracer) and not x._interpreter.alive:
            raise leaked_tracer_error(x)
        x = to_array(x)
        return x, Zero(tangent_aval(x.aval))

    def wrap(self, primal: Any, tangent: Any) -> Any:
        if type(tangent) is Zero:
            return primal
        return JVPTracer(self, to_array(primal), to_array(tangent))

    def process_primitive(self, prim: Primitive, args: Sequence[Any], params: dict) -> Any:
        primals, tangents = [], []
        nonzero = False
        for a in args:
            p, t = self.unpack(a)
            primals.append(p)
            tangents.append(t)
            nonzero = nonzero or type(t) is not Zero
        with set_interpreter(self.parent):
            if not nonzero:
                return prim.bind(*primals, **params)
            if prim.jvp is None:
                raise NotImplementedError(f"differentiation rule for '{prim.name}' not implemented")
            primal_out, tangent_out = prim.jvp(primals, tangents, **params)
        if prim.multiple_results:
            return [self.wrap(p, t) for p, t in zip(primal_out, tangent_out, strict=True)]
        return self.wrap(primal_out, tangent_out)


def jvp_flat(fun: Callable[..., Sequence[Any]], primals: Sequence[Any], tangents: Sequence[Any]
             ) -> tuple[list[Any], list[Any]]:
    """Push ``tangents`` forward through ``fun`` (flat lists in and out). Output tangents may
    be ``Zero``."""
    interp = JVPInterpreter(current_interpreter())
    try:
        with set_interpreter(interp):
            ins = [interp.wrap(p, t) for p, t in zip(primals, tangents, strict=True)]
            outs = fun(*ins)
        pairs = [interp.unpack(o) for o in outs]
    finally:
        interp.alive = False
    return [p for p, _ in pairs], [t for _, t in pairs]



def jvp_jaxpr(closed: ClosedJaxpr, nonzeros: Sequence[bool], instantiate: bool | Sequence[bool]
              ) -> tuple[ClosedJaxpr, list[bool]]:
    """The jvp of a jaxpr as a jaxpr: inputs are the primals then the tangents of the inputs
    flagged ``nonzeros``; outputs are the primal outputs then the nonzero output tangents (all
    those flagged by ``instantiate`` are materialized). Returns it and the out-nonzero flags."""
    n_out = len(closed.jaxpr.outvars)
    force = [instantiate] * n_out if isinstance(instantiate, bool) else list(instantiate)
    out_nonzeros: list[bool] = []
    n_in = len(closed.in_avals)

    def fun(*args: Any) -> list[Any]:
        primals, tangent_args = args[:n_in], iter(args[n_in:])
        tangents = [next(tangent_args) if nz else Zero(tangent_aval(a))
                    for a, nz in zip(closed.in_avals, nonzeros, strict=True)]
        outs, out_tangents = jvp_flat(
            lambda *xs: eval_jaxpr(closed.jaxpr, closed.consts, *xs), primals, tangents)
        kept = []
        for t, f in zip(out_tangents, force, strict=True):
            keep = f or type(t) is not Zero
            out_nonzeros.append(keep)
            if keep:
                kept.append(instantiate_zeros(t))
        return [*outs, *kept]

    tangent_avals = [tangent_aval(a) for a, nz in zip(closed.in_avals, nonzeros, strict=True)
                     if nz]
    jaxpr = trace_to_jaxpr(fun, [*closed.in_avals, *tangent_avals])
    return jaxpr, out_nonzeros
