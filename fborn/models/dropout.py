"""``Dropout``: randomly zero activations while training (explicit PRNG key)."""
# ruff: noqa: F722 - jaxtyping shape strings

from __future__ import annotations

from typing import Any

from fborn import lax, random
from fborn import numpy as fnp
from fborn.core.array import Array
from fborn.models.module import Module, field
from fborn.typing import Float, typecheck

__all__ = ["Dropout"]


class Dropout(Module):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``, so the
    expected value is unchanged; the identity in inference mode (``inference=True`` here or in
    the call) and when ``p == 0``. Raises ValueError for ``p`` outside [0, 1]."""

    p: float = field(static=True)
    inference: bool = field(static=True)

    def __init__(self, p: float = 0.5, inference: bool = False):
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p
        self.inference = bool(inference)

    @typecheck
    def __call__(self, x: Float[Array, "*shape"], *, key: Any = None,
                 inference: bool | None = None) -> Float[Array, "*shape"]:
        """Apply dropout with the PRNG ``key`` (required when training); ``inference``
        overrides the layer's mode for this call. Raises ValueError when a key is needed and
        missing."""
        if (self.inference if inference is None else inference) or self.p == 0.0:
            return x
        if key is None:
            raise ValueError(
                "Dropout: a PRNG key is needed in training mode: call it with key=... (e.g. "
                "from fborn.random.split), or pass inference=True to disable dropout"
            )
        if self.p == 1.0:
            return fnp.zeros_like(x)
        keep = random.bernoulli(key, 1.0 - self.p, x.shape)
        return lax.select(keep, x / (1.0 - self.p), fnp.zeros_like(x))
