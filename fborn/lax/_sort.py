"""``fborn.lax`` sorting: ``sort``, ``sort_key_val`` and ``top_k`` (jax.lax names)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fborn.core.array import Array
from fborn.core.errors import FbornShapeError
from fborn.core.trace import to_array
from fborn.primitives import shape as _shape
from fborn.primitives import sort as _sort

__all__ = ["sort", "sort_key_val", "top_k"]


def _dimension(dimension: int, ndim: int) -> int:
    dimension = int(dimension)
    if not -ndim <= dimension < ndim:
        raise FbornShapeError(f"dimension {dimension} is out of range for an array of rank {ndim}")
    return dimension % ndim


def sort(operand: Array | Sequence[Array], dimension: int = -1, is_stable: bool = True,
         num_keys: int = 1) -> Array | tuple[Array, ...]:
    """Sort ``operand`` (an array, or a sequence of arrays of equal shape) along ``dimension``.

    With several operands the first ``num_keys`` are compared lexicographically and the others
    are permuted alongside; a sequence in gives a tuple out. Floats sort with -0.0 == 0.0 and
    NaNs last. The sort is always stable (``is_stable=False`` is accepted). Raises
    FbornShapeError for unequal shapes, a bad ``dimension`` or ``num_keys``.
    """
    single = isinstance(operand, Array) or not isinstance(operand, (list, tuple))
    ops = [to_array(operand)] if single else [to_array(o) for o in operand]
    if not ops:
        raise FbornShapeError("sort needs at least one operand")
    dim = _dimension(dimension, ops[0].ndim)
    out = _sort.sort_p.bind(*ops, dimension=dim, is_stable=bool(is_stable),
                            num_keys=int(num_keys))
    return out[0] if single else tuple(out)


def sort_key_val(keys: Array, values: Any, dimension: int = -1,
                 is_stable: bool = True) -> tuple[Array, Array]:
    """Sort ``keys`` along ``dimension`` and permute ``values`` (same shape) the same way."""
    k, v = sort((keys, values), dimension=dimension, is_stable=is_stable, num_keys=1)
    return k, v


def top_k(operand: Any, k: int, *, axis: int = -1) -> tuple[Array, Array]:
    """The ``k`` largest entries along ``axis`` and their int32 indices, largest first; ties go
    to the lower index and floats follow the total order (NaN > inf, -0.0 < 0.0, -NaN lowest).
    Raises FbornShapeError if ``k`` is negative or exceeds the axis size."""
    x = to_array(operand)
    if x.ndim == 0:
        raise FbornShapeError(f"top_k needs an operand of rank >= 1, got {x.aval.str_short()}")
    ax = _dimension(axis, x.ndim)
    if ax == x.ndim - 1:
        values, indices = _sort.top_k_p.bind(x, k=int(k))
        return values, indices
    perm = (*(i for i in range(x.ndim) if i != ax), ax)
    inverse = tuple(perm.index(i) for i in range(x.ndim))
    moved = _shape.transpose_p.bind(x, permutation=perm)
    values, indices = _sort.top_k_p.bind(moved, k=int(k))
    return (_shape.transpose_p.bind(values, permutation=inverse),
            _shape.transpose_p.bind(indices, permutation=inverse))
