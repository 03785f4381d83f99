"""Inlining: replace call-like equations (``jit``, ``checkpoint``, ``custom_jvp_call``,
``custom_vjp_call``) by the equations of the jaxpr they call, so the compiler sees one flat
program. When compiling, these primitives only mean "call this jaxpr": their transform rules
(custom derivatives, rematerialization policy) have already been applied."""

from __future__ import annotations

from collections.abc import Iterable

from fborn.core.jaxpr import Atom, ClosedJaxpr, JaxprEqn
from fborn.core.primitive import Primitive
from fborn.lowering.passes._rewrite import Builder, SubjaxprMap, run_pass
from fborn.transforms.checkpoint import checkpoint_p
from fborn.transforms.custom_derivatives import custom_jvp_call_p, custom_vjp_call_p
from fborn.transforms.jit import jit_p

#: The call-like primitives and the param holding the jaxpr each calls on its operands.
CALL_JAXPR_PARAM: dict[Primitive, str] = {
    jit_p: "jaxpr",
    checkpoint_p: "jaxpr",
    custom_jvp_call_p: "call_jaxpr",
    custom_vjp_call_p: "call_jaxpr",
}


def inline_calls(closed: ClosedJaxpr, primitives: Iterable[Primitive] | None = None
                 ) -> ClosedJaxpr:
    """Inline every equation of a call-like primitive in ``primitives`` (default: all of
    ``CALL_JAXPR_PARAM``), at any depth, also inside cond branches and loop bodies.

    Variables of an inlined jaxpr are renamed, so a jaxpr called twice is inlined twice.
    Returns ``closed`` itself if there was nothing to inline.
    """
    chosen = set(CALL_JAXPR_PARAM if primitives is None else primitives)
    unknown = chosen - set(CALL_JAXPR_PARAM)
    if unknown:
        raise ValueError(f"inline_calls: {sorted(p.name for p in unknown)} are not call-like "
                         f"primitives; expected some of {[p.name for p in CALL_JAXPR_PARAM]}")
    return _Inliner(chosen).run(closed, top_level=True)


class _Inliner:
    def __init__(self, chosen: set[Primitive]):
        self.chosen = chosen
        self.nested = SubjaxprMap(lambda c, loose: self.run(c, False, loose))

    def run(self, closed: ClosedJaxpr, top_level: bool,
            loose: frozenset[int] = frozenset()) -> ClosedJaxpr:
        return run_pass(closed, top_level, self.nested, self.rule, loose)

    def rule(self, b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict) -> None:
        if eqn.primitive in self.chosen:
            body: ClosedJaxpr = params[CALL_JAXPR_PARAM[eqn.primitive]]
            fits = all(b.can_replace(v, o.aval)
                       for v, o in zip(eqn.outvars, body.jaxpr.outvars, strict=True))
            outs = b.inline(body, invars) if fits else None
            if outs is not None:
                for v, o in zip(eqn.outvars, outs, strict=True):
                    b.replace(v, o)
                return
        b.keep(eqn, invars, params)
