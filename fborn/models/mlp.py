"""``MLP``: a stack of Linear layers with an activation between them."""
# ruff: noqa: F722 - jaxtyping shape strings

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fborn import random
from fborn.core.array import Array
from fborn.models import _checks
from fborn.models.linear import Linear
from fborn.models.module import Module, field
from fborn.nn import relu
from fborn.typing import Float, typecheck

__all__ = ["MLP"]


def _identity(x: Array) -> Array:
    return x


class MLP(Module):
    """``depth`` hidden Linear layers of ``width_size`` units, each followed by
    ``activation`` (default ``fborn.nn.relu``), then a Linear layer to ``out_size`` followed
    by ``final_activation`` (default: none). ``depth=0`` is a single Linear layer. Names as in
    equinox; the layers are ``layers[0] .. layers[depth]``.
    """

    layers: tuple[Linear, ...]
    in_size: int = field(static=True)
    out_size: int = field(static=True)
    width_size: int = field(static=True)
    depth: int = field(static=True)
    activation: Callable[[Array], Array] = field(static=True)
    final_activation: Callable[[Array], Array] = field(static=True)

    def __init__(self, in_size: int, out_size: int, width_size: int, depth: int,
                 activation: Callable[[Array], Array] = relu,
                 final_activation: Callable[[Array], Array] | None = None,
                 use_bias: bool = True, use_final_bias: bool = True, *, key: Array,
                 dtype: Any = None):
        self.in_size = _checks.size(in_size, "in_size", "MLP")
        self.out_size = _checks.size(out_size, "out_size", "MLP")
        self.width_size = _checks.size(width_size, "width_size", "MLP")
        self.depth = _checks.size(depth, "depth", "MLP")
        self.activation = activation
        self.final_activation = _identity if final_activation is None else final_activation
        sizes = [self.in_size] + [self.width_size] * self.depth + [self.out_size]
        keys = random.split(key, self.depth + 1)
        self.layers = tuple(
            Linear(n_in, n_out, use_bias if i < self.depth else use_final_bias, key=keys[i],
                   dtype=dtype)
            for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)))

    @typecheck
    def __call__(self, x: Float[Array, "*batch in_size"], *, key: Any = None
                 ) -> Float[Array, "*batch out_size"]:
        """Apply the MLP to ``(*batch, in_size)`` inputs; ``key`` is ignored. Raises
        TypeCheckError when the last axis is not ``in_size`` long."""
        del key
        _checks.input_size(self, x, x.ndim - 1, "in_size", self.in_size)
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.final_activation(self.layers[-1](x))
