"""``Linear``: an affine map of the last axis."""
# ruff: noqa: F722 - jaxtyping shape strings

from __future__ import annotations

import math
from typing import Any

from fborn import lax, random
from fborn.core.array import Array
from fborn.core.dtypes import default_float
from fborn.models import _checks
from fborn.models.module import Module, field
from fborn.typing import Float, typecheck

__all__ = ["Linear", "uniform_fan_in"]


def uniform_fan_in(key: Array, shape: tuple[int, ...], fan_in: int, dtype: Any) -> Array:
    """PyTorch's default layer initialization: uniform in ``(-1/sqrt(fan_in), 1/sqrt(fan_in))``
    (a fan_in of 0 is taken as 1)."""
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    return random.uniform(key, shape, dtype or default_float(), -bound, bound)


class Linear(Module):
    """``y = x @ weight.T + bias`` on inputs of shape ``(*batch, in_features)``.

    ``weight`` has PyTorch's layout ``(out_features, in_features)`` and, like ``bias``
    (``(out_features,)``, None when ``use_bias=False``), PyTorch's initialization: uniform in
    ``(-1/sqrt(in_features), 1/sqrt(in_features))``. For other schemes replace the arrays with
    ``tree_at`` and an initializer from ``fborn.nn.initializers``.
    """

    weight: Array
    bias: Array | None
    in_features: int = field(static=True)
    out_features: int = field(static=True)
    use_bias: bool = field(static=True)

    def __init__(self, in_features: int, out_features: int, use_bias: bool = True, *,
                 key: Array, dtype: Any = None):
        self.in_features = _checks.size(in_features, "in_features", "Linear")
        self.out_features = _checks.size(out_features, "out_features", "Linear")
        self.use_bias = bool(use_bias)
        wkey, bkey = random.split(key)
        self.weight = uniform_fan_in(wkey, (self.out_features, self.in_features),
                                     self.in_features, dtype)
        self.bias = (uniform_fan_in(bkey, (self.out_features,), self.in_features, dtype)
                     if self.use_bias else None)

    @typecheck
    def __call__(self, x: Float[Array, "*batch in_features"], *, key: Any = None
                 ) -> Float[Array, "*batch out_features"]:
        """Apply the layer; ``key`` is accepted (and ignored) for use in ``Sequential``.
        Raises TypeCheckError when the last axis is not ``in_features`` long."""
        del key
        _checks.input_size(self, x, x.ndim - 1, "in_features", self.in_features)
        y = lax.dot_general(x, self.weight, (((x.ndim - 1,), (1,)), ((), ())))
        return y if self.bias is None else y + self.bias
