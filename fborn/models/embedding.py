"""``Embedding``: a lookup table of vectors indexed by integer ids."""
# ruff: noqa: F722 - jaxtyping shape strings

from __future__ import annotations

from typing import Any

from fborn import numpy as fnp
from fborn import random
from fborn.core.array import Array
from fborn.core.dtypes import default_float
from fborn.models import _checks
from fborn.models.module import Module, field
from fborn.typing import Float, Integer, typecheck

__all__ = ["Embedding"]


class Embedding(Module):
    """Rows of ``weight`` (``(num_embeddings, embedding_dim)``, standard normal at
    initialization as in PyTorch) looked up by integer ids of any shape. Ids outside
    ``[0, num_embeddings)`` give NaN rows (``fnp.take``'s fill mode), as JAX does."""

    weight: Array
    num_embeddings: int = field(static=True)
    embedding_dim: int = field(static=True)

    def __init__(self, num_embeddings: int, embedding_dim: int, *, key: Array,
                 dtype: Any = None):
        self.num_embeddings = _checks.size(num_embeddings, "num_embeddings", "Embedding", 1)
        self.embedding_dim = _checks.size(embedding_dim, "embedding_dim", "Embedding")
        self.weight = random.normal(key, (self.num_embeddings, self.embedding_dim),
                                    dtype or default_float())

    @typecheck
    def __call__(self, x: Integer[Array, "*batch"], *, key: Any = None
                 ) -> Float[Array, "*batch embedding_dim"]:
        """The embeddings of the ids ``x``: shape ``(*x.shape, embedding_dim)``; ``key`` is
        ignored."""
        del key
        return fnp.take(self.weight, x, axis=0)
