"""Jaxpr optimization passes, the first stage of the jit compiler (DESIGN.md, "The compiler
in one paragraph"). Each pass maps a ClosedJaxpr to a new one with the same input and output
types, never mutating its input, and returns its input itself when it changes nothing:

- ``inline_calls``: flatten ``jit``/``checkpoint``/``custom_jvp_call``/``custom_vjp_call``.
- ``dce``: drop unused equations, constvars and loop/branch outputs.
- ``cse``: compute repeated expressions once.
- ``fold_constants``: evaluate computations on known values at compile time.
- ``simplify``: algebraic identities and shape-op chains.
- ``optimize``: all of them to a fixed point.
"""

from fborn.lowering.passes.cse import cse
from fborn.lowering.passes.dce import dce, dce_jaxpr
from fborn.lowering.passes.fold import fold_constants
from fborn.lowering.passes.inline import inline_calls
from fborn.lowering.passes.pipeline import optimize
from fborn.lowering.passes.simplify import simplify

__all__ = ["cse", "dce", "dce_jaxpr", "fold_constants", "inline_calls", "optimize", "simplify"]
