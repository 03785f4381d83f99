"""Constant folding: evaluate at compile time the equations whose operands are all known.

Known values are literals, broadcast literals (constants with all elements equal, of any
size) and small constvars. An elementwise or data-movement equation on broadcast constants
is evaluated on one element and becomes a broadcast literal, whatever its size; any other
equation is evaluated with its reference implementation only when every operand and result
has at most ``max_size`` elements. Results become literals (0-d), broadcast literals (all
elements equal) or new constvars (small arrays, top-level jaxpr only). Random bits,
collectives, higher-order and effectful equations, and equations without operands (``iota``)
are never folded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fborn.core.array import ArrayImpl
from fborn.core.aval import ShapedArray
from fborn.core.jaxpr import Atom, ClosedJaxpr, JaxprEqn, Literal, Var
from fborn.core.numpy_errors import call_quietly
from fborn.core.primitive import Primitive
from fborn.lowering.passes._rewrite import Builder, SubjaxprMap, has_effects, run_pass, subjaxprs
from fborn.primitives import collectives
from fborn.primitives import elementwise as ew
from fborn.primitives import shape as sh
from fborn.primitives.random_bits import threefry2x32_p
from fborn.transforms.custom_derivatives import custom_lin_p

DEFAULT_MAX_SIZE = 64

#: Primitives computed element by element (so on one element of broadcast constants).
ELEMENTWISE: frozenset[Primitive] = frozenset(
    v for v in vars(ew).values() if isinstance(v, Primitive))

#: One-operand data movement: a constant with all elements equal stays one.
MOVEMENT: frozenset[Primitive] = frozenset({
    sh.broadcast_in_dim_p, sh.reshape_p, sh.transpose_p, sh.squeeze_p, sh.rev_p, sh.slice_p,
})

#: Never folded: random bits, collectives (axis-dependent), custom_lin (no impl).
NEVER_FOLD: frozenset[Primitive] = frozenset(
    {threefry2x32_p, custom_lin_p}
    | {v for v in vars(collectives).values() if isinstance(v, Primitive)})


class _Known:
    """A value known at compile time: ``value`` (full array, possibly a zero-stride view) and
    ``scalar`` (its 0-d element if all elements are equal, else None)."""

    __slots__ = ("value", "scalar")

    def __init__(self, value: np.ndarray, scalar: np.ndarray | None):
        self.value = value
        self.scalar = scalar

    @classmethod
    def uniform(cls, scalar: np.ndarray, shape: tuple[int, ...]) -> _Known:
        return cls(np.broadcast_to(scalar, shape), scalar)

    @classmethod
    def small(cls, value: np.ndarray) -> _Known:
        return cls(value, _uniform_scalar(value))


def _uniform_scalar(value: np.ndarray) -> np.ndarray | None:
    """The element of ``value`` if it has at least one and all are bitwise equal."""
    if value.size == 0:
        return None
    first = value.reshape(-1)[:1].reshape(())
    if np.broadcast_to(first, value.shape).tobytes() != np.ascontiguousarray(value).tobytes():
        return None
    return first.copy()


def _evaluate(prim: Primitive, values: Sequence[np.ndarray], params: dict,
              avals: Sequence[ShapedArray]) -> list[np.ndarray] | None:
    """The reference implementation's results cast to ``avals`` as eager evaluation does, or
    None if it fails or gives other shapes."""
    try:
        outs = call_quietly(prim.impl, *values, **params)
    except Exception:  # a primitive that cannot run here stays in the program
        return None
    outs = list(outs) if prim.multiple_results else [outs]
    results = []
    for out, aval in zip(outs, avals, strict=True):
        out = np.asarray(out)
        if out.shape != aval.shape:
            return None
        results.append(np.asarray(out, dtype=aval.dtype))
    return results


def fold_constants(closed: ClosedJaxpr, max_size: int = DEFAULT_MAX_SIZE) -> ClosedJaxpr:
    """``closed`` with known computations evaluated (see the module docstring); nested
    jaxprs too (there results that need a new constvar are not folded). Returns ``closed``
    itself if nothing could be folded."""
    return _Folder(max_size).run(closed, top_level=True)


class _Folder:
    def __init__(self, max_size: int):
        self.max_size = max_size
        self.nested = SubjaxprMap(lambda c, loose: self.run(c, False, loose))

    def run(self, closed: ClosedJaxpr, top_level: bool,
            loose: frozenset[int] = frozenset()) -> ClosedJaxpr:
        known: dict[int, _Known] = {}
        for v, c in zip(closed.jaxpr.constvars, closed.consts, strict=True):
            if isinstance(c, (ArrayImpl, np.ndarray)) and c.size <= self.max_size:
                known[id(v)] = _Known.small(np.asarray(c))
        return run_pass(closed, top_level, self.nested,
                        lambda b, eqn, invars, params: self.rule(b, eqn, invars, params, known),
                        loose)

    def rule(self, b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict,
             known: dict[int, _Known]) -> None:
        values = [_Known(np.asarray(a.value), np.asarray(a.value)) if isinstance(a, Literal)
                  else known.get(id(a)) for a in invars]
        if (invars and all(v is not None for v in values) and _foldable(eqn, params)
                and self.fold(b, eqn, invars, params, values, known)):  # type: ignore[arg-type]
            return
        b.keep(eqn, invars, params)

    def fold(self, b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict,
             values: list[_Known], known: dict[int, _Known]) -> bool:
        prim, outvars = eqn.primitive, eqn.outvars
        if not prim.multiple_results and all(v.scalar is not None for v in values):
            scalar = self._uniform_result(prim, params, values, outvars[0].aval)
            if scalar is not None:
                _place_uniform(b, eqn, invars, params, scalar)
                known[id(outvars[0])] = _Known.uniform(scalar, outvars[0].aval.shape)
                return True
        sizes = [v.value.size for v in values] + [v.aval.size for v in outvars]
        if max(sizes) > self.max_size:
            return False
        results = _evaluate(prim, [v.value for v in values], params, [v.aval for v in outvars])
        if results is None:
            return False
        found = [_Known.small(r) for r in results]
        if not b.top_level and any(k.value.ndim and k.scalar is None for k in found):
            return False
        for out, k in zip(outvars, found, strict=True):
            if k.scalar is not None:
                b.emit_uniform(k.scalar, out)
            else:
                b.replace(out, b.add_const(ArrayImpl(k.value.copy(), out.aval.weak_type)))
            known[id(out)] = k
        return True

    def _uniform_result(self, prim: Primitive, params: dict, values: list[_Known],
                        aval: ShapedArray) -> np.ndarray | None:
        if prim in MOVEMENT:
            return values[0].scalar
        if prim in ELEMENTWISE:
            results = _evaluate(prim, [v.scalar for v in values], params,
                                [aval.update(shape=())])
            return None if results is None else results[0]
        return None


def _foldable(eqn: JaxprEqn, params: dict) -> bool:
    return (eqn.primitive not in NEVER_FOLD and not has_effects(eqn)
            and next(subjaxprs(params), None) is None)


def _place_uniform(b: Builder, eqn: JaxprEqn, invars: list[Atom], params: dict,
                   scalar: Any) -> None:
    """Bind ``eqn``'s output to the constant ``scalar``, keeping ``eqn`` if it already is a
    broadcast literal."""
    out: Var = eqn.outvars[0]
    canonical = (eqn.primitive is sh.broadcast_in_dim_p and isinstance(invars[0], Literal)
                 and params["broadcast_dimensions"] == () and out.aval.shape != ())
    if canonical:
        b.keep(eqn, invars, params)
    else:
        b.emit_uniform(scalar, out)
