"""``fborn.numpy.linalg``: norms, and the array-API products of ``jax.numpy.linalg``.

Decompositions (svd, qr, eigh, cholesky, solve, inv, det...) are not provided yet, so the norms
that need singular values (matrix ``ord=2``, ``-2`` and ``'nuc'``) raise NotImplementedError.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fborn import lax
from fborn.core.array import Array
from fborn.numpy import _linalg, _util
from fborn.numpy._util import ArrayLike

__all__ = [
    "cross", "matmul", "matrix_norm", "matrix_transpose", "norm", "outer", "tensordot",
    "vecdot", "vector_norm",
]

Ord = int | float | str | None


def _inexact(x: ArrayLike) -> Array:
    (x,) = _util.promote_dtypes_inexact(x)
    return x


def _keepdims(out: Array, shape: tuple[int, ...], axes: Sequence[int]) -> Array:
    """``out`` (``shape`` reduced over ``axes``) with the reduced axes kept as size 1."""
    return lax.reshape(out, tuple(1 if i in axes else s for i, s in enumerate(shape)))


def _sum_of_squares_root(x: Array, axes: tuple[int, ...]) -> Array:
    return lax.sqrt(lax.reduce_sum(lax.mul(x, x), axes))


def _vector_norm(x: Array, ord: Ord, axes: tuple[int, ...]) -> Array:  # noqa: A002
    """The vector ``ord``-norm over ``axes`` (treated as one flattened axis)."""
    if isinstance(ord, str):
        raise ValueError(f"Invalid order {ord!r} for vector norm (use None, an int, a float, "
                         f"inf or -inf)")
    if ord is None or ord == 2:
        return _sum_of_squares_root(x, axes)
    magnitude = lax.abs(x)
    if ord == np.inf:
        return lax.reduce_max(magnitude, axes)
    if ord == -np.inf:
        return lax.reduce_min(magnitude, axes)
    if ord == 0:
        return lax.reduce_sum(lax.convert_element_type(lax.ne(x, 0), x.dtype), axes)
    if ord == 1:
        return lax.reduce_sum(magnitude, axes)
    p = float(ord)
    return lax.pow(lax.reduce_sum(lax.pow(magnitude, p), axes), 1.0 / p)


def _matrix_norm(x: Array, ord: Ord, axes: tuple[int, int]) -> Array:  # noqa: A002
    """The matrix ``ord``-norm over ``axes = (row_axis, col_axis)``."""
    row, col = axes
    if ord is None or ord == "fro":
        return _sum_of_squares_root(x, axes)
    if ord == "nuc" or (not isinstance(ord, str) and ord in (2, -2)):
        raise NotImplementedError(f"matrix norm ord={ord!r} needs singular values (an SVD), "
                                  f"which fborn does not provide yet")
    if ord in (1, -1):
        summed, other = row, col - (col > row)
    elif ord in (np.inf, -np.inf):
        summed, other = col, row - (row > col)
    else:
        raise ValueError(f"Invalid order {ord!r} for matrix norm (use None, 'fro', 1, -1, inf "
                         f"or -inf; 2, -2 and 'nuc' need an SVD)")
    sums = lax.reduce_sum(lax.abs(x), (summed,))
    return lax.reduce_max(sums, (other,)) if ord > 0 else lax.reduce_min(sums, (other,))


def _norm_axes(axis: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    given = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = tuple(_util.canonicalize_axis(a, ndim) for a in given)
    if len(set(axes)) != len(axes):
        raise ValueError(f"duplicate value in 'axis': {axis}")
    return axes


def norm(x: ArrayLike, ord: Ord = None, axis: int | Sequence[int] | None = None,  # noqa: A002
         keepdims: bool = False) -> Array:
    """numpy's ``linalg.norm``: a vector norm over one axis, a matrix norm over two.

    ``axis=None``: with ``ord=None`` the 2-norm of all elements; otherwise ``x`` must be 1-D
    (vector norm) or 2-D (matrix norm). Vector ords: None/2, 1, inf, -inf, 0 (count of
    nonzeros), any other p (``sum(|x|**p)**(1/p)``). Matrix ords: None/'fro', 1, -1, inf, -inf.
    Integer input gives the default float dtype. Raises ValueError for bad ords or axes and
    NotImplementedError for the SVD-based ords (2, -2, 'nuc') of matrices.
    """
    x = _inexact(x)
    if axis is None:
        if ord is None:
            axes = tuple(range(x.ndim))
            out = _sum_of_squares_root(x, axes)
            return _keepdims(out, x.shape, axes) if keepdims else out
        if x.ndim not in (1, 2):
            raise ValueError(f"Improper number of dimensions to norm: ord={ord!r} with "
                             f"axis=None needs a 1-D or 2-D array, got shape {x.shape}")
        axes = tuple(range(x.ndim))
    else:
        axes = _norm_axes(axis, x.ndim)
    if len(axes) == 1:
        out = _vector_norm(x, ord, axes)
    elif len(axes) == 2:
        out = _matrix_norm(x, ord, (axes[0], axes[1]))
    else:
        raise ValueError(f"Improper number of axes for norm: axis={axis}. Pass one axis for a "
                         f"vector norm or two axes for a matrix norm")
    return _keepdims(out, x.shape, axes) if keepdims else out


def vector_norm(x: ArrayLike, /, *, axis: int | Sequence[int] | None = None,
                keepdims: bool = False, ord: int | float = 2) -> Array:  # noqa: A002
    """The vector ``ord``-norm over ``axis`` (None: all elements, flattened; a tuple: those
    axes, flattened). Ords as in ``norm`` for vectors."""
    x = _inexact(x)
    axes = tuple(range(x.ndim)) if axis is None else _norm_axes(axis, x.ndim)
    out = _vector_norm(x, ord, axes)
    return _keepdims(out, x.shape, axes) if keepdims else out


def matrix_norm(x: ArrayLike, /, *, keepdims: bool = False, ord: Ord = "fro") -> Array:  # noqa: A002
    """The matrix ``ord``-norm over the last two axes (a stack of matrices). Ords as in
    ``norm`` for matrices. Raises ValueError for arrays of rank < 2."""
    x = _inexact(x)
    if x.ndim < 2:
        raise ValueError(f"matrix_norm: x must have at least 2 dimensions, got shape {x.shape}")
    axes = (x.ndim - 2, x.ndim - 1)
    out = _matrix_norm(x, ord, axes)
    return _keepdims(out, x.shape, axes) if keepdims else out


def matmul(x1: ArrayLike, x2: ArrayLike, /, *, precision: Any = None,
           preferred_element_type: Any = None) -> Array:
    """Array-API ``matmul`` (as ``fborn.numpy.matmul``)."""
    return _linalg.matmul(x1, x2, precision=precision,
                          preferred_element_type=preferred_element_type)


def matrix_transpose(x: ArrayLike, /) -> Array:
    """Swap the last two axes (as ``fborn.numpy.matrix_transpose``)."""
    return _linalg.matrix_transpose(x)


def outer(x1: ArrayLike, x2: ArrayLike, /) -> Array:
    """Outer product of two 1-D arrays. Raises ValueError for other ranks."""
    a, b = _util.asarray(x1), _util.asarray(x2)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"linalg.outer: inputs must be 1-D, got shapes {a.shape} and {b.shape}")
    return _linalg.outer(a, b)


def tensordot(x1: ArrayLike, x2: ArrayLike, /, *, axes: int | Sequence[Any] = 2,
              precision: Any = None, preferred_element_type: Any = None) -> Array:
    """Array-API ``tensordot`` (as ``fborn.numpy.tensordot``)."""
    return _linalg.tensordot(x1, x2, axes, precision=precision,
                             preferred_element_type=preferred_element_type)


def vecdot(x1: ArrayLike, x2: ArrayLike, /, *, axis: int = -1, precision: Any = None,
           preferred_element_type: Any = None) -> Array:
    """Array-API ``vecdot`` (as ``fborn.numpy.vecdot``)."""
    return _linalg.vecdot(x1, x2, axis=axis, precision=precision,
                          preferred_element_type=preferred_element_type)


def cross(x1: ArrayLike, x2: ArrayLike, /, *, axis: int = -1) -> Array:
    """Array-API ``cross`` of 3-vectors along ``axis``. Raises ValueError for other sizes."""
    a, b = _util.asarray(x1), _util.asarray(x2)
    for name, v in (("x1", a), ("x2", b)):
        if v.ndim == 0 or v.shape[_util.canonicalize_axis(axis, v.ndim)] != 3:
            raise ValueError(f"linalg.cross: {name} (shape {v.shape}) must have size 3 along "
                             f"axis {axis}")
    return _linalg.cross(a, b, axis=axis)
