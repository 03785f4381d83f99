"""Scheduler rules for cumulative scans, sorts, top_k, convolutions and the random-bit
primitives (registered into ``LOWERINGS`` at import).

- ``cumsum``/``cumprod``/``cummax``/``cummin``: a ``cumulative`` routine, one sequential pass
  along the axis; its operand stays lazy (evaluated once per element inside the scan).
- ``sort`` and ``top_k``: ``sort``/``top_k`` routines, a stable sort per row on integer keys
  that encode the primitives' orders (operands materialized: rows are read several times).
- ``conv_general_dilated``: a ``conv`` routine on the operands' buffers in their own layouts.
- ``threefry2x32``: a ``threefry2x32`` routine, one loop writing both output words, its four
  operands lazy (the counter iota and the key words are never materialized).
- ``bitcast_convert_type``: a lazy elementwise ``Unary("bitcast")``, free to fuse.
"""

from __future__ import annotations

from fborn.core.jaxpr import JaxprEqn
from fborn.lowering.kernel_ir import Expr, LoopIndex, Routine, Unary, loads
from fborn.lowering.schedule import LOWERINGS, Lazy, Scheduler


def full_index(lazy: Lazy, shape: tuple[int, ...]) -> Expr:
    """``lazy``'s element at the loop indices of ``shape`` (a scalar lazy at index ())."""
    if not lazy.shape:
        return lazy.build(())
    return lazy.build(tuple(LoopIndex(i) for i in range(len(shape))))


def _cumulative(op: str) -> None:
    def rule(s: Scheduler, eqn: JaxprEqn) -> None:
        x = s.lazy(eqn.invars[0])
        out = eqn.outvars[0].aval
        value = full_index(x, out.shape)
        name = s.new_buffer(out.shape, out.dtype)
        s.statements.append(Routine("cumulative", loads([value]), [name], {
            "op": op, "shape": out.shape, "axis": eqn.params["axis"],
            "reverse": eqn.params["reverse"], "value": value,
        }))
        s.define(eqn.outvars[0], name)

    LOWERINGS[f"cum{op}"] = rule


for _op in ("sum", "prod", "max", "min"):
    _cumulative(_op)


def _sort(s: Scheduler, eqn: JaxprEqn) -> None:
    operands = [s.buffer(a) for a in eqn.invars]
    outs = [s.new_buffer(v.aval.shape, v.aval.dtype) for v in eqn.outvars]
    s.statements.append(Routine("sort", operands, outs, {
        "shape": eqn.invars[0].aval.shape, "dimension": eqn.params["dimension"],
        "num_keys": eqn.params["num_keys"],
    }))
    for v, name in zip(eqn.outvars, outs, strict=True):
        s.define(v, name)


def _top_k(s: Scheduler, eqn: JaxprEqn) -> None:
    operand = s.buffer(eqn.invars[0])
    outs = [s.new_buffer(v.aval.shape, v.aval.dtype) for v in eqn.outvars]
    s.statements.append(Routine("top_k", [operand], outs, {
        "shape": eqn.invars[0].aval.shape, "k": eqn.params["k"],
    }))
    for v, name in zip(eqn.outvars, outs, strict=True):
        s.define(v, name)


def _conv(s: Scheduler, eqn: JaxprEqn) -> None:
    lhs, rhs = (s.buffer(a) for a in eqn.invars)
    out = eqn.outvars[0].aval
    name = s.new_buffer(out.shape, out.dtype)
    p = eqn.params
    s.statements.append(Routine("conv", [lhs, rhs], [name], {
        "lhs_shape": eqn.invars[0].aval.shape, "rhs_shape": eqn.invars[1].aval.shape,
        "out_shape": out.shape, "window_strides": tuple(p["window_strides"]),
        "padding": tuple(tuple(pad) for pad in p["padding"]),
        "lhs_dilation": tuple(p["lhs_dilation"]), "rhs_dilation": tuple(p["rhs_dilation"]),
        "dimension_numbers": tuple(tuple(spec) for spec in p["dimension_numbers"]),
        "feature_group_count": p["feature_group_count"],
        "batch_group_count": p["batch_group_count"],
    }))
    s.define(eqn.outvars[0], name)


def _threefry2x32(s: Scheduler, eqn: JaxprEqn) -> None:
    shape = eqn.outvars[0].aval.shape
    values = [full_index(s.lazy(a), shape) for a in eqn.invars]
    outs = [s.new_buffer(v.aval.shape, v.aval.dtype) for v in eqn.outvars]
    s.statements.append(Routine("threefry2x32", loads(values), outs,
                                {"shape": shape, "values": tuple(values)}))
    for v, name in zip(eqn.outvars, outs, strict=True):
        s.define(v, name)


def _bitcast_convert_type(s: Scheduler, eqn: JaxprEqn) -> None:
    x = s.lazy(eqn.invars[0])
    out = eqn.outvars[0].aval
    s.define(eqn.outvars[0], Lazy(out.shape, out.dtype,
                                  lambda i: Unary("bitcast", x.build(i), out.dtype),
                                  cheap=x.cheap))


LOWERINGS["sort"] = _sort
LOWERINGS["top_k"] = _top_k
LOWERINGS["conv_general_dilated"] = _conv
LOWERINGS["threefry2x32"] = _threefry2x32
LOWERINGS["bitcast_convert_type"] = _bitcast_convert_type
