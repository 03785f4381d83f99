"""Building one array from nested sequences that hold traced arrays (``fnp.array([t, 1.])``)."""

from __future__ import annotations

from typing import Any

from fborn.core.array import Array
from fborn.primitives import shape as _shape


def stack_nested(x: Any) -> Array:
    """Stack a nested list/tuple of array-likes (any of them traced) along new leading axes."""
    from fborn.numpy._util import asarray, promote_dtypes

    if not isinstance(x, (list, tuple)):
        return asarray(x)
    parts = promote_dtypes(*[stack_nested(e) for e in x])
    if not parts:
        return asarray([])
    shape = parts[0].shape
    if any(p.shape != shape for p in parts):
        from fborn.core.errors import FbornShapeError

        raise FbornShapeError(
            "cannot build an array from sequences of unequal shapes: "
            + ", ".join(str(p.shape) for p in parts)
        )
    rows = [_shape.reshape_p.bind(p, new_sizes=(1, *shape)) for p in parts]
    if len(rows) == 1:
        return rows[0]
    return _shape.concatenate_p.bind(*rows, dimension=0)
