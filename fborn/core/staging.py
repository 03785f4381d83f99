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
        self.producers: dict[int, JaxprEqn] = {}
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
        return self.add_eqn(prim, [self.to_atom(a) for a in args], params)

    def add_eqn(self, prim: Primitive, in_atoms: list[Atom], params: dict) -> Any:
        """Record ``prim`` applied to ``in_atoms``; returns its output tracer(s)."""
        out_avals = prim.abstract_eval(*[a.aval for a in in_atoms], **params)
        out_vars = [Var(a) for a in out_avals] if prim.multiple_results else [Var(out_avals)]
        eqn = JaxprEqn(prim, in_atoms, out_vars, params)
        self.eqns.append(eqn)
        for v in out_vars:
            self.producers[id(v)] = eqn
        if not prim.multiple_results:
            return StagingTracer(self, out_vars[0])
        return [StagingTracer(self, v) for v in out_vars]

    def finish(self, in_tracers: Sequence[StagingTracer], outs: Sequence[Any]) -> ClosedJaxpr:
        """The closed jaxpr from ``in_tracers`` to ``outs``; marks this interpreter finished."""
        try:
            out_atoms = [self.to_atom(o) for o in outs]
        finally:
            self.alive = False
        jaxpr = Jaxpr(list(self.constvars.values()), [t.var for t in in_tracers], out_atoms,
                      self.eqns)
        return ClosedJaxpr(jaxpr, self.const_values)


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
    except BaseException:
        interp.alive = False
        raise
    return interp.finish(args, outs)
