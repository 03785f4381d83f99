"""Transposition of linear jaxprs: the backward pass of reverse-mode AD.

A primitive that is linear in some operands has a ``transpose`` rule
``rule(ct, *operands, **params) -> list of cotangents`` where linear operands arrive as
``UndefinedPrimal(aval)`` and the result has one entry per operand (None for non-linear ones).
For multiple-result primitives ``ct`` is a list whose entries may be ``Zero``; otherwise it is a
materialized array.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fborn.core.jaxpr import ClosedJaxpr, Jaxpr, Literal, Var
from fborn.core.staging import trace_to_jaxpr
from fborn.core.trace import to_array
from fborn.primitives.rules import (
    UndefinedPrimal,
    Zero,
    add_tangents,
    instantiate,
    is_undefined,
    tangent_aval,
)


def backward_pass(jaxpr: Jaxpr, consts: Sequence[Any], primals_in: Sequence[Any],
                  cts_out: Sequence[Any]) -> list[Any]:
    """Cotangents of the jaxpr's inputs given output cotangents.

    ``primals_in`` holds known input values, or ``UndefinedPrimal`` for linear inputs.
    Equations that touch no linear value are evaluated forward first (they recompute values
    a checkpointed computation did not store). Returns one cotangent (or ``Zero``) per input.
    """
    primal_env: dict[int, Any] = {}
    linear: set[int] = set()
    for v, x in zip(jaxpr.constvars, consts, strict=True):
        primal_env[id(v)] = x
    for v, x in zip(jaxpr.invars, primals_in, strict=True):
        if is_undefined(x):
            linear.add(id(v))
        else:
            primal_env[id(v)] = x

    def read_primal(a: Any) -> Any:
        if isinstance(a, Literal):
            return a.value
        if id(a) in linear:
            return UndefinedPrimal(a.aval)
        return primal_env[id(a)]

    linear_eqns = []
    for eqn in jaxpr.eqns:
        if any(isinstance(a, Var) and id(a) in linear for a in eqn.invars):
            linear_eqns.append(eqn)
            linear.update(id(v) for v in eqn.outvars)
        else:
            outs = eqn.primitive.bind(*[read_primal(a) for a in eqn.invars], **eqn.params)
            outs = outs if eqn.primitive.multiple_results else [outs]
            for v, x in zip(eqn.outvars, outs, strict=True):
                primal_env[id(v)] = x

    ct_env: dict[int, Any] = {}

    def write_ct(v: Any, ct: Any) -> None:
        if isinstance(v, Var) and id(v) in linear and ct is not None and type(ct) is not Zero:
            ct_env[id(v)] = add_tangents(ct_env[id(v)], ct) if id(v) in ct_env else ct

    for v, ct in zip(jaxpr.outvars, cts_out, strict=True):
        write_ct(v, ct if ct is None or type(ct) is Zero else to_array(ct))
    for eqn in reversed(linear_eqns):
        cts = [ct_env.pop(id(v), Zero(tangent_aval(v.aval))) for v in eqn.outvars]
        if all(type(c) is Zero for c in cts):
            continue
        rule = eqn.primitive.transpose
        if rule is None:
            raise NotImplementedError(
                f"transpose rule for '{eqn.primitive.name}' not implemented (reverse-mode "
                f"differentiation needs it)"
            )
        ct_arg = cts if eqn.primitive.multiple_results else instantiate(cts[0])
        cts_in = rule(ct_arg, *[read_primal(a) for a in eqn.invars], **eqn.params)
        for a, ct in zip(eqn.invars, cts_in, strict=True):
            write_ct(a, ct)
    return [ct_env.get(id(v), Zero(tangent_aval(v.aval))) if id(v) in linear
            else None for v in jaxpr.invars]


def transpose_jaxpr(closed: ClosedJaxpr, linear_flags: Sequence[bool]) -> ClosedJaxpr:
    """A jaxpr taking (non-linear inputs..., output cotangents...) to the cotangents of the
    linear inputs (zeros materialized), for call-like primitives' transpose rules."""
    in_avals = closed.in_avals
    nonlin_avals = [a for a, lin in zip(in_avals, linear_flags, strict=True) if not lin]
    ct_avals = [tangent_aval(a) for a in closed.out_avals]

    def transposed(*args: Any) -> list[Any]:
        nonlin, cts = args[:len(nonlin_avals)], args[len(nonlin_avals):]
        it = iter(nonlin)
        primals = [UndefinedPrimal(a) if lin else next(it)
                   for a, lin in zip(in_avals, linear_flags, strict=True)]
        cts_in = backward_pass(closed.jaxpr, closed.consts, primals, list(cts))
        return [instantiate(c) for c, lin in zip(cts_in, linear_flags, strict=True) if lin]

    return trace_to_jaxpr(transposed, [*nonlin_avals, *ct_avals])
