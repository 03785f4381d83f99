"""The core: arrays, dtypes, avals, pytrees, primitives, tracing and the jaxpr IR.

It knows nothing of any transform or backend (DESIGN.md).
"""
