"""``optimize``: the pass pipeline the jit compiler runs before scheduling kernels."""

from __future__ import annotations

from collections.abc import Iterable

from fborn.core.jaxpr import ClosedJaxpr
from fborn.core.primitive import Primitive
from fborn.lowering.passes.cse import cse
from fborn.lowering.passes.dce import dce
from fborn.lowering.passes.fold import DEFAULT_MAX_SIZE, fold_constants
from fborn.lowering.passes.inline import inline_calls
from fborn.lowering.passes.simplify import simplify

DEFAULT_MAX_ITERATIONS = 8


def optimize(closed: ClosedJaxpr, *, max_iterations: int = DEFAULT_MAX_ITERATIONS,
             inline: Iterable[Primitive] | None = None,
             fold_max_size: int = DEFAULT_MAX_SIZE) -> ClosedJaxpr:
    """Inline calls (``inline``: which call-like primitives, default all), then repeat
    constant folding, CSE, simplification (after CSE, so it sees how often each value is
    read) and DCE until nothing changes (at most
    ``max_iterations`` rounds). The result has the same input and output types; it is
    ``closed`` itself if no pass changed anything."""
    chosen = None if inline is None else tuple(inline)
    for _ in range(max_iterations):
        new = inline_calls(closed, chosen)
        new = dce(simplify(cse(fold_constants(new, fold_max_size))))
        if new is closed:
            break
        closed = new
    return closed
