"""Lowering rules for structured control flow: ``cond`` -> ``If``, ``while`` -> ``While``,
``scan`` -> ``Scan``.

Each body jaxpr is scheduled by a nested scheduler into its own ``Block`` whose inputs are
buffers of the enclosing program (operands, loop constants) or the statement's own carry and
row buffers; renderers turn these into native branches and loops (no unrolling). Importing
this module registers the rules in ``LOWERINGS``.
"""

from __future__ import annotations

from collections.abc import Sequence

from fborn.core.jaxpr import ClosedJaxpr, JaxprEqn, Var
from fborn.lowering.kernel_ir import Block, Const, If, Scan, While
from fborn.lowering.schedule import LOWERINGS, Scheduler


def _block(s: Scheduler, closed: ClosedJaxpr, inputs: Sequence[str]) -> Block:
    """``closed`` scheduled as a block reading ``inputs``, its outputs materialized."""
    child = s.nested(closed, inputs)
    outputs = [child.buffer(a) for a in closed.jaxpr.outvars]
    return Block(list(inputs), child.statements, outputs)


def _new_buffers(s: Scheduler, outvars: Sequence[Var], prefix: str = "t") -> list[str]:
    return [s.new_buffer(v.aval.shape, v.aval.dtype, prefix) for v in outvars]


def _cond(s: Scheduler, eqn: JaxprEqn) -> None:
    index_atom, *operands = eqn.invars
    branches: tuple[ClosedJaxpr, ...] = eqn.params["branches"]
    index = s.lazy(index_atom).build(())
    if isinstance(index, Const):  # a known branch: schedule only that one
        branches = (branches[min(max(int(index.value), 0), len(branches) - 1)],)
    inputs = [s.buffer(a) for a in operands]
    blocks = [_block(s, b, inputs) for b in branches]
    outputs = _new_buffers(s, eqn.outvars)
    s.statements.append(If(index, blocks, outputs))
    for v, name in zip(eqn.outvars, outputs, strict=True):
        s.define(v, name)


def _while(s: Scheduler, eqn: JaxprEqn) -> None:
    p = eqn.params
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    names = [s.buffer(a) for a in eqn.invars]
    cond_consts, body_consts, init = names[:nc], names[nc:nc + nb], names[nc + nb:]
    carry = _new_buffers(s, eqn.outvars, "carry")
    cond_jaxpr: ClosedJaxpr = p["cond_jaxpr"]
    cond = s.nested(cond_jaxpr, [*cond_consts, *carry])
    pred = cond.lazy(cond_jaxpr.jaxpr.outvars[0]).build(())
    body = _block(s, p["body_jaxpr"], [*body_consts, *carry])
    s.statements.append(While(init, carry, Block([*cond_consts, *carry], cond.statements, []),
                              pred, body))
    for v, name in zip(eqn.outvars, carry, strict=True):
        s.define(v, name)


def _scan(s: Scheduler, eqn: JaxprEqn) -> None:
    p = eqn.params
    nc, ncar = p["num_consts"], p["num_carry"]
    names = [s.buffer(a) for a in eqn.invars]
    consts, init, xs = names[:nc], names[nc:nc + ncar], names[nc + ncar:]
    carry = _new_buffers(s, eqn.outvars[:ncar], "carry")
    x_rows = [s.new_buffer(a.aval.shape[1:], a.aval.dtype, "row") for a in eqn.invars[nc + ncar:]]
    body = _block(s, p["jaxpr"], [*consts, *carry, *x_rows])
    ys = _new_buffers(s, eqn.outvars[ncar:])
    s.statements.append(Scan(p["length"], p["reverse"], init, carry, xs, x_rows, ys, body))
    for v, name in zip(eqn.outvars, [*carry, *ys], strict=True):
        s.define(v, name)


LOWERINGS["cond"] = _cond
LOWERINGS["while"] = _while
LOWERINGS["scan"] = _scan
