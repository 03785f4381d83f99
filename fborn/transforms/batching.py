"""Vectorization (``vmap``): the batching interpreter and helpers for batching rules.

A ``BatchTracer`` holds a value with one extra axis (``batch_dim``) or ``None`` when the value
is the same for every batch member. A primitive's ``batch`` rule,
``rule(axis, values, dims, **params) -> (out, out_dim)``, receives the ``AxisData`` (size,
name), the operand values and their batch dims, and binds batched operations on the parent
interpreter (so vmap composes with every other transform).
"""

from __future__ import annotations

import contextlib
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
    extend_axis_env,
    get_aval,
    leaked_tracer_error,
    set_interpreter,
    to_array,
)
from fborn.primitives.rules import move_axis


class AxisData:
    """The mapped axis of a vmap: its ``size`` and optional ``name`` (for collectives)."""

    __slots__ = ("size", "name")

    def __init__(self, size: int, name: Any):
        self.size = size
        self.name = name


class BatchTracer(Tracer):
    """A batched value: ``value`` carries the batch at axis ``batch_dim`` (or None)."""

    __slots__ = ("value", "batch_dim")

    def __init__(self, interpreter: BatchInterpreter, value: Any, batch_dim: int | None):
        self._interpreter = interpreter
        self.value = value
        self.batch_dim = batch_dim

    @property
    def aval(self) -> ShapedArray:  # type: ignore[override]
        aval = get_aval(self.value)
        if self.batch_dim is None:
            return aval
        shape = aval.shape[:self.batch_dim] + aval.shape[self.batch_dim + 1:]
        return ShapedArray(shape, aval.dtype, aval.weak_type)

    def _concrete(self) -> Any:
        if self.batch_dim is None:
            return self.value._concrete() if isinstance(self.value, Tracer) else self.value
        return super()._concrete()


def _names(axis_name: Any) -> tuple[Any, ...]:
    return axis_name if isinstance(axis_name, tuple) else (axis_name,)


class BatchInterpreter(Interpreter):
    """Applies batching rules to its tracers; binds everything on ``parent``."""

    name = "vmap"

    def __init__(self, parent: Interpreter, axis: AxisData):
        self.parent = parent
        self.axis = axis
        self.alive = True

    def unpack(self, x: Any) -> tuple[Any, int | None]:
        if isinstance(x, BatchTracer) and x._interpreter is self:
            return x.value, x.batch_dim
        if isinstance(x, Tracer) and not x._interpreter.alive:
            raise leaked_tracer_error(x)
        return to_array(x), None

    def wrap(self, value: Any, batch_dim: int | None) -> Any:
        if batch_dim is None:
            return value
        return BatchTracer(self, to_array(value), batch_dim)

    def _names_me(self, params: dict) -> bool:
        return self.axis.name is not None and "axis_name" in params and \
            self.axis.name in _names(params["axis_name"])

    def process_primitive(self, prim: Primitive, args: Sequence[Any], params: dict) -> Any:
        values, dims = [], []
        for a in args:
            v, d = self.unpack(a)
            values.append(v)
            dims.append(d)
        with set_interpreter(self.parent):
            if all(d is None for d in dims) and not self._names_me(params):
                return prim.bind(*values, **params)
            if prim.batch is None:
                raise NotImplementedError(f"batching rule for '{prim.name}' not implemented")
            out, out_dims = prim.batch(self.axis, values, dims, **params)
        if prim.multiple_results:
            return [self.wrap(o, d) for o, d in zip(out, out_dims, strict=True)]
        return self.wrap(out, out_dims)


def batch_flat(fun: Callable[..., Sequence[Any]], axis: AxisData, args: Sequence[Any],
               in_dims: Sequence[int | None]) -> list[tuple[Any, int | None]]:
    """Run ``fun`` (flat in, flat out) with ``args`` batched at ``in_dims``; returns each
    output's value and batch dim (None: the same for every batch member)."""
    interp = BatchInterpreter(current_interpreter(), axis)
    env = extend_axis_env(axis.name, axis.size) if axis.name is not None \
        else contextlib.nullcontext()
    try:
        with env, set_interpreter(interp):
            outs = fun(*[interp.wrap(a, d) for a, d in zip(args, in_dims, strict=True)])
        return [interp.unpack(o) for o in outs]
    finally:
        interp.alive = False



def batch_jaxpr(closed: ClosedJaxpr, axis: AxisData, in_batched: Sequence[bool],
                instantiate: bool | Sequence[bool]) -> tuple[ClosedJaxpr, list[bool]]:
    """The batched version of a jaxpr: inputs flagged ``in_batched`` carry the batch at axis
    0; outputs are batched at axis 0 where the returned flags say so (always for those flagged
    by ``instantiate``)."""
    n_out = len(closed.jaxpr.outvars)
    force = [instantiate] * n_out if isinstance(instantiate, bool) else list(instantiate)
    out_batched: list[bool] = []

    def fun(*args: Any) -> list[Any]:
        dims = [0 if b else None for b in in_batched]
        pairs = batch_flat(lambda *xs: eval_jaxpr(closed.jaxpr, closed.consts, *xs), axis,
                           args, dims)
        outs = []
        for (value, dim), f in zip(pairs, force, strict=True):
            batched = f or dim is not None
            out_batched.append(batched)
            outs.append(move_axis(value, dim, 0, axis.size) if batched else value)
        return outs

    avals = [ShapedArray((axis.size, *a.shape), a.dtype, a.weak_type) if b else a
             for a, b in zip(closed.in_avals, in_batched, strict=True)]
    return trace_to_jaxpr(fun, avals), out_batched
