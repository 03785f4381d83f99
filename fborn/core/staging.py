"""Tracing a Python function into a jaxpr: the staging interpreter and its tracers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fborn.core.array import ArrayImpl
from fborn.core.aval import ShapedArray
from fborn.core.jaxpr import Atom, ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var
from fborn.core.primitive import Primitive
from fborn.core.trace import Interpreter, Tracer, leaked_tracer_error, set_interpreter, to_array


class StagingTracer(Tracer):
    """A traced value under ``make_jaxpr``/``jit``: it only knows its abstract value."""

    __slots__ = ("var",)

    def __init__(self, interpreter: StagingInterpreter, var: Var):
        self._interpreter = interpreter
        self.var = var

    @property
    def aval(self) -> ShapedArray:  # type: ignore[override]
        return self.var.aval


class StagingInterpreter(Interpreter):
    """Records each primitive application as a jaxpr equation instead of computing it.

    Values it does not own (concrete arrays, tracers of enclosing transforms) become constvars;
    0-d concrete arrays become literals.
    """

    name = "make_jaxpr"

    def __init__(self) -> None:
        self.eqns: list[JaxprEqn] = []
        self.constvars: dict[int, Var] = {}
        self.const_values: list[Any] = []
        self.alive = True

    def new_arg(self, aval: ShapedArray) -> StagingTracer:
        return StagingTracer(self, Var(aval))

    def to_atom(self, x: Any) -> Atom:
        if isinstance(x, StagingTracer) and x._interpreter is self:
            return x.var
        if isinstance(x, Tracer):
            if not x._interpreter.alive:
                raise leaked_tracer_error(x)
        else:
            x = to_array(x)
            if type(x) is ArrayImpl and x.aval.shape == ():
                return Literal(x)
        key = id(x)
        var = self.constvars.get(key)
        if var is None:
            var = self.constvars[key] = Var(x.aval)
            self.const_values.append(x)
        return var

    def process_primitive(self, prim: Primitive, args: Sequence[Any], params: dict) -> Any:
        in_atoms = [self.to_atom(a) for a in args]
        out_avals = prim.abstract_eval(*[a.aval for a in in_atoms], **params)
        if not prim.multiple_results:
            var = Var(out_avals)
            self.eqns.append(JaxprEqn(prim, in_atoms, [var], params))
            return StagingTracer(self, var)
        out_vars = [Var(a) for a in out_avals]
        self.eqns.append(JaxprEqn(prim, in_atoms, out_vars, params))
        return [StagingTracer(self, v) for v in out_vars]


def trace_to_jaxpr(fun: Callable[..., Sequence[Any]], in_avals: Sequence[ShapedArray]
                   ) -> ClosedJaxpr:
    """Trace ``fun`` (flat list of arrays -> flat list of arrays) on abstract inputs.

    The result's consts may be tracers of enclosing transforms; callers that bind a
    higher-order primitive pass them as explicit operands.
    """
    interp = StagingInterpreter()
    args = [interp.new_arg(a) for a in in_avals]
    try:
        with set_interpreter(interp):
            outs = fun(*args)
        out_atoms = [interp.to_atom(o) for o in outs]
    finally:
        interp.alive = False
    jaxpr = Jaxpr(list(interp.constvars.values()), [t.var for t in args], out_atoms, interp.eqns)
    return ClosedJaxpr(jaxpr, interp.const_values)
