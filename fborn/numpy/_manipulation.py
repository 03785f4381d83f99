"""Shape manipulation in ``fborn.numpy``: reshaping, transposing, joining, splitting, tiling,
flipping, rolling and padding (jax.numpy semantics).

Everything is built from the shape primitives (reshape, transpose, broadcast_in_dim, slice,
concatenate, pad, rev), so it traces. Shapes, axes, split points, repeat counts, shifts and pad
widths are static: they must be Python values or concrete arrays.
"""

from __future__ import annotations

import builtins
import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from fborn import lax
from fborn.core import dtypes
from fborn.core.array import Array, ArrayImpl
from fborn.core.errors import FbornShapeError
from fborn.core.trace import concrete_value
from fborn.numpy import _util
from fborn.numpy._util import ArrayLike, asarray

__all__ = [
    "array_split", "astype", "atleast_1d", "atleast_2d", "atleast_3d", "broadcast_arrays",
    "broadcast_shapes", "broadcast_to", "column_stack", "concat", "concatenate", "copy",
    "dsplit", "dstack", "expand_dims", "flip", "fliplr", "flipud", "hsplit", "hstack",
    "moveaxis", "ndim", "pad", "permute_dims", "ravel", "repeat", "reshape", "resize", "roll",
    "rot90", "shape", "size", "split", "squeeze", "stack", "swapaxes", "tile", "transpose",
    "unstack", "vsplit", "vstack",
]

Axes = int | Sequence[int]


# --- static arguments ------------------------------------------------------------------------


def static_int(x: Any, what: str) -> int:
    """``x`` as a Python int: an int, a numpy integer or a concrete integer 0-d array.

    Raises ConcretizationError naming ``what`` for traced values and TypeError for non-integers.
    """
    if isinstance(x, Array):
        value = concrete_value(x, what)
        if value.ndim != 0 or not (dtypes.is_int(value.dtype) or value.dtype == dtypes.bool_):
            raise TypeError(f"{what} must be an integer, got an array {x.aval.str_short()}")
        return int(value)
    try:
        return operator.index(x)
    except TypeError:
        raise TypeError(f"{what} must be an integer, got {x!r}") from None


def static_ints(x: Any, what: str) -> tuple[int, ...]:
    """A static int or a sequence (list, tuple, numpy array, concrete 1-d array) of them."""
    if isinstance(x, Array):
        value = concrete_value(x, what)
        if value.ndim == 0:
            return (static_int(x, what),)
        return tuple(static_int(v, what) for v in value)
    if isinstance(x, np.ndarray):
        return tuple(static_int(v, what) for v in x.reshape(-1).tolist())
    if isinstance(x, Sequence) and not isinstance(x, str):
        return tuple(static_int(v, what) for v in x)
    return (static_int(x, what),)


def static_shape(shape: Any, what: str = "shape") -> tuple[int, ...]:
    """A shape (int or sequence of ints, all non-negative); raises ValueError on negative sizes."""
    dims = static_ints(shape, what)
    if any(d < 0 for d in dims):
        raise ValueError(f"negative dimensions are not allowed in {what}, got {dims}")
    return dims


def norm_axis(axis: Any, ndim: int) -> int:
    """A non-negative axis of an array of rank ``ndim``; FbornShapeError if out of range."""
    axis = static_int(axis, "axis")
    if ndim == 0:
        raise FbornShapeError(f"axis {axis} is out of bounds for an array of rank 0")
    return _util.canonicalize_axis(axis, ndim)


def norm_axes(axis: Axes | None, ndim: int) -> tuple[int, ...]:
    """All axes for None, else the normalized axes (duplicates raise FbornShapeError)."""
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(norm_axis(a, ndim) for a in static_ints(axis, "axis"))
    if len(set(axes)) != len(axes):
        raise FbornShapeError(f"repeated axis in {axis}")
    return axes


def _check_order(order: str | None, fname: str) -> None:
    if order in (None, "C", "A", "K"):
        return
    if order == "F":
        raise NotImplementedError(f"{fname}: order='F' is not supported; fborn arrays are "
                                  f"row-major (use order='C')")
    raise ValueError(f"{fname}: unexpected value for order: {order!r}")


def _as_list(arrays: Any, fname: str) -> list[Array]:
    """The operands of a joining function: a sequence of array-likes, or an array (its rows)."""
    if isinstance(arrays, (Array, np.ndarray)):
        rows = asarray(arrays)
        xs = unstack(rows) if rows.ndim else []
    else:
        xs = [asarray(a) for a in arrays]
    if not xs:
        raise ValueError(f"{fname}: need at least one array")
    return xs


# --- shape and size ------------------------------------------------------------------------


def shape(a: Any) -> tuple[int, ...]:
    """The shape of an array-like (no conversion for arrays)."""
    return a.shape if isinstance(a, (Array, np.ndarray)) else asarray(a).shape


def ndim(a: Any) -> int:
    """The rank of an array-like."""
    return len(shape(a))


def size(a: Any, axis: Axes | None = None) -> int:
    """The number of elements of an array-like, or the product of the sizes of ``axis``."""
    dims = shape(a)
    return math.prod(dims[i] for i in norm_axes(axis, len(dims)))


# --- reshaping -------------------------------------------------------------------------------


def _resolve_shape(x: Array, new_shape: Any) -> tuple[int, ...]:
    dims = list(static_ints(new_shape, "reshape's shape"))
    unknown = [i for i, d in enumerate(dims) if d == -1]
    known = math.prod(d for d in dims if d != -1)
    bad = f"cannot reshape an array of shape {x.shape} (size {x.size}) into shape {tuple(dims)}"
    if len(unknown) > 1:
        raise FbornShapeError(f"can only specify one unknown axis size with -1; {bad}")
    if any(d < -1 for d in dims):
        raise FbornShapeError(bad)
    if unknown:
        if known == 0 or x.size % known:
            raise FbornShapeError(bad)
        dims[unknown[0]] = x.size // known
    if math.prod(dims) != x.size:
        raise FbornShapeError(bad)
    return tuple(dims)


def reshape(a: ArrayLike, shape: Any, order: str = "C", *, copy: bool | None = None) -> Array:
    """``a`` with a new shape of the same size (one entry may be -1); row-major order only.

    Raises FbornShapeError if the sizes differ, NotImplementedError for order='F'.
    """
    del copy  # arrays are immutable: a reshape never aliases mutable memory
    _check_order(order, "reshape")
    x = asarray(a)
    return lax.reshape(x, _resolve_shape(x, shape))


def ravel(a: ArrayLike, order: str = "C") -> Array:
    """``a`` flattened to 1-D in row-major order."""
    _check_order(order, "ravel")
    x = asarray(a)
    return lax.reshape(x, (x.size,))


def resize(a: ArrayLike, new_shape: Any) -> Array:
    """An array of ``new_shape`` filled with ``a``'s elements repeated cyclically (zeros if
    ``a`` is empty)."""
    x = ravel(a)
    dims = static_shape(new_shape, "resize's new_shape")
    total = math.prod(dims)
    if x.size == 0:
        zero = ArrayImpl(np.zeros((), x.dtype), weak_type=x.weak_type)
        return lax.broadcast_in_dim(zero, dims, ())
    if total == 0:
        return lax.reshape(lax.slice_in_dim(x, 0, 0), dims)
    filled = tile(x, -(-total // x.size))
    return lax.reshape(lax.slice_in_dim(filled, 0, total), dims)


def transpose(a: ArrayLike, axes: Sequence[int] | None = None) -> Array:
    """Permute the axes of ``a`` (reverse them when ``axes`` is None)."""
    x = asarray(a)
    if axes is None:
        return lax.transpose(x, tuple(reversed(range(x.ndim))))
    perm = norm_axes(axes, x.ndim)
    if len(perm) != x.ndim:
        raise FbornShapeError(f"axes {tuple(axes)} are not a permutation of the axes of an "
                              f"array of shape {x.shape}")
    return lax.transpose(x, perm)


def permute_dims(a: ArrayLike, /, axes: Sequence[int]) -> Array:
    """Array-API name of ``transpose`` (``axes`` required)."""
    return transpose(a, axes)


def swapaxes(a: ArrayLike, axis1: int, axis2: int) -> Array:
    """Exchange two axes of ``a``."""
    x = asarray(a)
    i, j = norm_axis(axis1, x.ndim), norm_axis(axis2, x.ndim)
    perm = list(range(x.ndim))
    perm[i], perm[j] = j, i
    return lax.transpose(x, perm)


def moveaxis(a: ArrayLike, source: Axes, destination: Axes) -> Array:
    """Move axes ``source`` to positions ``destination`` (others keep their order)."""
    x = asarray(a)
    src, dst = norm_axes(source, x.ndim), norm_axes(destination, x.ndim)
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: source {source} and destination {destination} must have "
                         f"the same number of elements")
    perm = [i for i in range(x.ndim) if i not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        perm.insert(d, s)
    return lax.transpose(x, perm)


def expand_dims(a: ArrayLike, axis: Axes) -> Array:
    """Insert size-1 axes at positions ``axis`` (positions in the result)."""
    x = asarray(a)
    count = len(static_ints(axis, "axis"))
    axes = norm_axes(axis, x.ndim + count)
    dims = list(x.shape)
    for d in sorted(axes):
        dims.insert(d, 1)
    return lax.reshape(x, dims)


def squeeze(a: ArrayLike, axis: Axes | None = None) -> Array:
    """Remove size-1 axes (all of them when ``axis`` is None).

    Raises ValueError if a named axis does not have size 1.
    """
    x = asarray(a)
    if axis is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes = norm_axes(axis, x.ndim)
        if any(x.shape[i] != 1 for i in axes):
            raise ValueError(f"cannot squeeze axes {axes} of an array of shape {x.shape}: only "
                             f"axes of size 1 can be squeezed")
    return lax.reshape(x, [d for i, d in enumerate(x.shape) if i not in axes])


def astype(x: ArrayLike, dtype: Any, /, *, copy: bool = False, device: Any = None) -> Array:
    """``x`` converted to ``dtype`` (strongly typed). ``copy``/``device`` are accepted for JAX
    compatibility (fborn arrays are immutable and live on one device)."""
    del copy, device
    return lax.convert_element_type(asarray(x), dtypes.canonicalize(dtype))


def copy(a: ArrayLike, order: str | None = None) -> Array:
    """A copy of ``a``: arrays are immutable, so this is ``a`` as an array."""
    _check_order(order, "copy")
    return asarray(a)


# --- broadcasting ----------------------------------------------------------------------------


def broadcast_shapes(*shapes: Any) -> tuple[int, ...]:
    """The broadcast of ``shapes`` (ints count as 1-D shapes); FbornShapeError if
    incompatible."""
    return _util.broadcast_shapes(*[static_ints(s, "shape") for s in shapes])


def broadcast_to(array: ArrayLike, shape: Any) -> Array:
    """``array`` broadcast to ``shape`` (numpy rules); FbornShapeError if incompatible."""
    return _util.broadcast_to(asarray(array), static_shape(shape))


def broadcast_arrays(*args: ArrayLike) -> list[Array]:
    """The arguments broadcast to their common shape (dtypes unchanged)."""
    xs = [asarray(a) for a in args]
    common = _util.broadcast_shapes(*[x.shape for x in xs])
    return [_util.broadcast_to(x, common) for x in xs]


def atleast_1d(*arys: ArrayLike) -> Array | list[Array]:
    """Each argument with at least one axis (one array for one argument, else a list)."""
    return _atleast(arys, lambda s: s or (1,))


def atleast_2d(*arys: ArrayLike) -> Array | list[Array]:
    """Each argument with at least two axes: () -> (1, 1), (n,) -> (1, n)."""
    return _atleast(arys, lambda s: (1,) * (2 - len(s)) + s if len(s) < 2 else s)


def atleast_3d(*arys: ArrayLike) -> Array | list[Array]:
    """Each argument with at least three axes: () -> (1, 1, 1), (n,) -> (1, n, 1),
    (m, n) -> (m, n, 1)."""
    grow = {0: lambda s: (1, 1, 1), 1: lambda s: (1, *s, 1), 2: lambda s: (*s, 1)}
    return _atleast(arys, lambda s: grow[len(s)](s) if len(s) < 3 else s)


def _atleast(arys: Sequence[ArrayLike], new_shape: Any) -> Array | list[Array]:
    out = [lax.reshape(x, new_shape(x.shape)) for x in map(asarray, arys)]
    return out[0] if len(out) == 1 else out


# --- joining ---------------------------------------------------------------------------------


def _join(xs: list[Array], axis: int, dtype: Any) -> Array:
    """Concatenate non-empty ``xs`` of equal rank along a normalized ``axis``, converted to
    ``dtype`` or else to their promoted dtype."""
    if dtype is None:
        xs = _util.promote_dtypes(*xs)
    else:
        xs = [lax.convert_element_type(x, dtypes.canonicalize(dtype)) for x in xs]
    return lax.concatenate(xs, axis)


def concatenate(arrays: Any, axis: int | None = 0, dtype: Any = None) -> Array:
    """Join arrays along an existing ``axis`` (flattened first when ``axis`` is None), promoting
    their dtypes (or converting to ``dtype``). ``arrays`` may be an array: its rows are joined.

    Raises ValueError for no operands or 0-d operands, FbornShapeError for mismatched shapes.
    """
    if isinstance(arrays, (Array, np.ndarray)):
        x = asarray(arrays)
        if axis is None:
            return _join([ravel(x)], 0, dtype)
        if x.ndim < 2 or x.shape[0] == 0:
            raise ValueError(f"concatenate: cannot join the rows of an array of shape {x.shape}")
        ax = norm_axis(axis, x.ndim - 1)
        merged = moveaxis(x, 0, ax)
        dims = (*merged.shape[:ax], merged.shape[ax] * merged.shape[ax + 1],
                *merged.shape[ax + 2:])
        return _join([lax.reshape(merged, dims)], ax, dtype)
    xs = [asarray(a) for a in arrays]
    if not xs:
        raise ValueError("concatenate: need at least one array to concatenate")
    if axis is None:
        return _join([ravel(x) for x in xs], 0, dtype)
    if any(x.ndim == 0 for x in xs):
        raise ValueError("concatenate: zero-dimensional arrays cannot be concatenated")
    if any(x.ndim != xs[0].ndim for x in xs):
        raise FbornShapeError("concatenate: arrays must have the same number of dimensions, got "
                              + ", ".join(str(x.shape) for x in xs))
    return _join(xs, norm_axis(axis, xs[0].ndim), dtype)


def concat(arrays: Sequence[ArrayLike], /, *, axis: int | None = 0) -> Array:
    """Array-API name of ``concatenate``."""
    return concatenate(arrays, axis)


def stack(arrays: Any, axis: int = 0, out: None = None, dtype: Any = None) -> Array:
    """Join arrays of equal shape along a new ``axis``.

    Raises ValueError for no operands or unequal shapes; ``out`` is not supported.
    """
    if out is not None:
        raise NotImplementedError("stack: the 'out' argument is not supported")
    if isinstance(arrays, (Array, np.ndarray)):
        x = asarray(arrays)
        if x.ndim == 0:
            raise ValueError("stack: cannot stack the rows of a 0-d array")
        return _join([moveaxis(x, 0, norm_axis(axis, x.ndim))], 0, dtype)
    xs = [asarray(a) for a in arrays]
    if not xs:
        raise ValueError("stack: need at least one array to stack")
    if any(x.shape != xs[0].shape for x in xs):
        raise ValueError("stack: all input arrays must have the same shape, got "
                         + ", ".join(str(x.shape) for x in xs))
    ax = norm_axis(axis, xs[0].ndim + 1)
    return _join([expand_dims(x, ax) for x in xs], ax, dtype)


def vstack(tup: Any, dtype: Any = None) -> Array:
    """Join arrays along axis 0 after making them at least 2-D."""
    return _join([atleast_2d(x) for x in _as_list(tup, "vstack")], 0, dtype)


def hstack(tup: Any, dtype: Any = None) -> Array:
    """Join arrays along axis 1 (axis 0 for 1-D inputs) after making them at least 1-D."""
    xs = [atleast_1d(x) for x in _as_list(tup, "hstack")]
    return concatenate(xs, 0 if xs[0].ndim == 1 else 1, dtype)


def dstack(tup: Any, dtype: Any = None) -> Array:
    """Join arrays along axis 2 after making them at least 3-D."""
    return _join([atleast_3d(x) for x in _as_list(tup, "dstack")], 2, dtype)


def column_stack(tup: Any) -> Array:
    """Join 1-D arrays as columns (0-d and 1-D inputs become (n, 1)) and 2-D arrays along
    axis 1."""
    xs = [x if x.ndim >= 2 else lax.reshape(x, (x.size, 1))
          for x in _as_list(tup, "column_stack")]
    return concatenate(xs, 1)


# --- splitting -------------------------------------------------------------------------------


def _split_bounds(indices_or_sections: Any, n: int, even: bool, fname: str
                  ) -> list[tuple[int, int]]:
    if isinstance(indices_or_sections, (Array, np.ndarray)):
        one_number = indices_or_sections.ndim == 0
    else:
        one_number = not isinstance(indices_or_sections, Sequence)
    if one_number:
        sections = static_int(indices_or_sections, f"{fname}'s number of sections")
        if sections <= 0:
            raise ValueError(f"{fname}: the number of sections must be > 0, got {sections}")
        if even and n % sections:
            raise ValueError(f"{fname}: array split does not result in an equal division: an "
                             f"axis of size {n} into {sections} sections")
        q, r = divmod(n, sections)
        sizes = [q + 1] * r + [q] * (sections - r)
        points = [0, *np.cumsum(sizes).tolist()]
    else:
        points = [0, *static_ints(indices_or_sections, f"{fname}'s indices"), n]
        if any(b < a for a, b in zip(points, points[1:], strict=False)):
            raise ValueError(f"{fname}: split indices {points[1:-1]} must be non-decreasing and "
                             f"within [0, {n}]")
    return list(zip(points, points[1:], strict=False))


def _split(ary: ArrayLike, indices_or_sections: Any, axis: int, even: bool,
           fname: str) -> list[Array]:
    x = asarray(ary)
    ax = norm_axis(axis, x.ndim)
    bounds = _split_bounds(indices_or_sections, x.shape[ax], even, fname)
    return [lax.slice_in_dim(x, lo, hi, axis=ax) for lo, hi in bounds]


def split(ary: ArrayLike, indices_or_sections: Any, axis: int = 0) -> list[Array]:
    """Split into equal sections (an int) or at sorted static indices along ``axis``.

    Raises ValueError if the sections do not divide the axis or the indices decrease.
    """
    return _split(ary, indices_or_sections, axis, True, "split")


def array_split(ary: ArrayLike, indices_or_sections: Any, axis: int = 0) -> list[Array]:
    """``split`` that allows unequal sections (the first ``n % sections`` get one more)."""
    return _split(ary, indices_or_sections, axis, False, "array_split")


def _split_min_rank(ary: ArrayLike, rank: int, fname: str) -> Array:
    x = asarray(ary)
    if x.ndim < rank:
        raise ValueError(f"{fname} needs an array of rank >= {rank}, got shape {x.shape}")
    return x


def hsplit(ary: ArrayLike, indices_or_sections: Any) -> list[Array]:
    """``split`` along axis 1 (axis 0 for 1-D arrays)."""
    x = _split_min_rank(ary, 1, "hsplit")
    return split(x, indices_or_sections, 1 if x.ndim > 1 else 0)


def vsplit(ary: ArrayLike, indices_or_sections: Any) -> list[Array]:
    """``split`` along axis 0."""
    return split(_split_min_rank(ary, 1, "vsplit"), indices_or_sections, 0)


def dsplit(ary: ArrayLike, indices_or_sections: Any) -> list[Array]:
    """``split`` along axis 2 (arrays of rank >= 3)."""
    return split(_split_min_rank(ary, 3, "dsplit"), indices_or_sections, 2)


def unstack(x: ArrayLike, /, *, axis: int = 0) -> list[Array]:
    """The slices of ``x`` along ``axis``, each without that axis."""
    arr = asarray(x)
    ax = norm_axis(axis, arr.ndim)
    dims = arr.shape[:ax] + arr.shape[ax + 1:]
    return [lax.reshape(lax.slice_in_dim(arr, i, i + 1, axis=ax), dims)
            for i in range(arr.shape[ax])]


# --- tiling and repeating --------------------------------------------------------------------


def tile(A: ArrayLike, reps: Any) -> Array:  # noqa: N803 - numpy name
    """``A`` repeated ``reps`` times along each axis (leading axes added as needed).

    Raises ValueError for negative repetitions.
    """
    x = asarray(A)
    counts = static_ints(reps, "tile's reps")
    if any(r < 0 for r in counts):
        raise ValueError(f"tile: repetitions must be non-negative, got {counts}")
    rank = builtins.max(len(counts), x.ndim)
    counts = (1,) * (rank - len(counts)) + counts
    dims = (1,) * (rank - x.ndim) + x.shape
    x = lax.reshape(x, dims)
    if all(r == 1 for r in counts):
        return x
    interleaved = tuple(v for pair in zip(counts, dims, strict=True) for v in pair)
    grown = lax.broadcast_in_dim(x, interleaved, tuple(range(1, 2 * rank, 2)))
    return lax.reshape(grown, [r * d for r, d in zip(counts, dims, strict=True)])


def _repeat_each(x: Array, count: int, axis: int) -> Array:
    """Each element of ``x`` along ``axis`` repeated ``count`` times in place."""
    if count == 1:
        return x
    grown_shape = (*x.shape[:axis + 1], count, *x.shape[axis + 1:])
    dims = (*range(axis + 1), *range(axis + 2, x.ndim + 1))
    grown = lax.broadcast_in_dim(x, grown_shape, dims)
    return lax.reshape(grown, (*x.shape[:axis], x.shape[axis] * count, *x.shape[axis + 1:]))


def _repeat_counts(repeats: Any, n: int, total: int | None) -> np.ndarray | int:
    """Static per-element counts (or one uniform count), adjusted to ``total`` as JAX does:
    trailing repeats are dropped, or the last element repeats to fill."""
    if isinstance(repeats, Array):
        value = concrete_value(repeats, "repeat's repeats (fborn needs static repeat counts)")
    else:
        value = np.asarray(repeats)
    if value.size and value.dtype.kind not in "iub":
        raise TypeError(f"repeat: repeats must be integers, got {repeats!r}")
    value = value.astype(np.int64)
    if (value < 0).any():
        raise ValueError(f"repeat: repeats must be non-negative, got {repeats!r}")
    if value.size == 1:
        if total is None or total == n * int(value.reshape(())):
            return int(value.reshape(()))
        value = value.reshape(())
    try:
        counts = np.broadcast_to(value, (n,)).copy()
    except ValueError:
        raise ValueError(f"repeat: repeats of shape {value.shape} do not match an axis of "
                         f"size {n}") from None
    if total is not None:
        if total <= counts.sum():
            before = np.cumsum(counts) - counts
            counts = np.clip(total - before, 0, counts)
        elif n:
            counts[-1] += total - counts.sum()
        else:
            raise ValueError(f"repeat: cannot fill total_repeat_length={total} from an empty "
                             f"axis")
    return counts


def repeat(a: ArrayLike, repeats: Any, axis: int | None = None, *,
           total_repeat_length: int | None = None) -> Array:
    """Repeat each element of ``a`` along ``axis`` (flattened when None) ``repeats`` times.

    ``repeats`` is a static int or one static count per element. With ``total_repeat_length``
    the result is cut to that length, or its last element is repeated to reach it (as in JAX).
    Deviation: traced ``repeats`` are not supported (ConcretizationError).
    """
    x = asarray(a)
    if axis is None:
        x, ax = ravel(x), 0
    else:
        ax = norm_axis(axis, x.ndim)
    total = None if total_repeat_length is None else static_int(
        total_repeat_length, "total_repeat_length")
    counts = _repeat_counts(repeats, x.shape[ax], total)
    if isinstance(counts, int):
        return _repeat_each(x, counts, ax)
    bounds = [0, *(np.flatnonzero(np.diff(counts)) + 1).tolist(), len(counts)]
    pieces = [_repeat_each(lax.slice_in_dim(x, lo, hi, axis=ax), int(counts[lo]), ax)
              for lo, hi in zip(bounds, bounds[1:], strict=False) if hi > lo and counts[lo]]
    if not pieces:
        return lax.slice_in_dim(x, 0, 0, axis=ax)
    return lax.concatenate(pieces, ax)


# --- flipping and rolling --------------------------------------------------------------------


def flip(m: ArrayLike, axis: Axes | None = None) -> Array:
    """Reverse ``m`` along ``axis`` (all axes when None)."""
    x = asarray(m)
    axes = norm_axes(axis, x.ndim)
    return lax.rev(x, axes) if axes else x


def fliplr(m: ArrayLike) -> Array:
    """Reverse along axis 1."""
    return flip(m, 1)


def flipud(m: ArrayLike) -> Array:
    """Reverse along axis 0."""
    return flip(m, 0)


def rot90(m: ArrayLike, k: int = 1, axes: tuple[int, int] = (0, 1)) -> Array:
    """Rotate by 90 degrees ``k`` times in the plane of ``axes`` (from the first axis towards
    the second). Raises ValueError for rank < 2 or equal axes."""
    x = asarray(m)
    if x.ndim < 2:
        raise ValueError(f"rot90 needs an array of rank >= 2, got shape {x.shape}")
    pair = static_ints(axes, "rot90's axes")
    if len(pair) != 2:
        raise ValueError(f"rot90: axes must name two axes, got {axes}")
    a0, a1 = norm_axis(pair[0], x.ndim), norm_axis(pair[1], x.ndim)
    if a0 == a1:
        raise ValueError(f"rot90: axes must be different, got {axes}")
    turns = static_int(k, "rot90's k") % 4
    if turns == 0:
        return x
    if turns == 2:
        return flip(x, (a0, a1))
    if turns == 1:
        return swapaxes(flip(x, a1), a0, a1)
    return flip(swapaxes(x, a0, a1), a1)


def _roll_axis(x: Array, shift: int, axis: int) -> Array:
    n = x.shape[axis]
    s = shift % n if n else 0
    if s == 0:
        return x
    tail = lax.slice_in_dim(x, n - s, n, axis=axis)
    head = lax.slice_in_dim(x, 0, n - s, axis=axis)
    return lax.concatenate([tail, head], axis)


def roll(a: ArrayLike, shift: Any, axis: Axes | None = None) -> Array:
    """Shift elements cyclically by static ``shift`` along ``axis`` (of the flattened array
    when None). ``shift`` and ``axis`` broadcast against each other; shifts on one axis add up.
    """
    x = asarray(a)
    shifts = static_ints(shift, "roll's shift")
    if axis is None:
        return lax.reshape(_roll_axis(ravel(x), sum(shifts), 0), x.shape)
    axes = tuple(norm_axis(ax, x.ndim) for ax in static_ints(axis, "axis"))
    if len(shifts) != len(axes) and 1 not in (len(shifts), len(axes)):
        raise ValueError(f"roll: shift {shift} and axis {axis} cannot be broadcast together")
    pairs = zip(shifts * len(axes) if len(shifts) == 1 else shifts,
                axes * len(shifts) if len(axes) == 1 else axes, strict=True)
    totals: dict[int, int] = {}
    for s, ax in pairs:
        totals[ax] = totals.get(ax, 0) + s
    for ax, s in totals.items():
        x = _roll_axis(x, s, ax)
    return x


# --- padding ---------------------------------------------------------------------------------

_PAD_KWARGS = {"constant": {"constant_values"}, "edge": set(), "wrap": set(), "empty": set(),
               "reflect": {"reflect_type"}, "symmetric": {"reflect_type"}}


def _pad_widths(pad_width: Any, rank: int) -> list[tuple[int, int]]:
    if isinstance(pad_width, Array):
        widths = concrete_value(pad_width, "pad's pad_width")
    else:
        widths = np.asarray(pad_width)
    if widths.size and widths.dtype.kind not in "iu":
        raise TypeError(f"pad: pad_width must be integers, got {pad_width!r}")
    if rank == 0:
        return []
    try:
        pairs = np.broadcast_to(widths, (rank, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width of shape {widths.shape} does not fit an array of rank "
                         f"{rank}: use an int, (before, after) or one pair per axis") from None
    if (pairs < 0).any():
        raise ValueError(f"pad: pad_width must be non-negative, got {pad_width!r}")
    return [(int(lo), int(hi)) for lo, hi in pairs]


def _holds_array(x: Any) -> bool:
    if isinstance(x, (list, tuple)):
        return builtins.any(_holds_array(e) for e in x)
    return isinstance(x, Array)


def _values_table(values: np.ndarray, rank: int) -> np.ndarray:
    try:
        return np.broadcast_to(values, (rank, 2))
    except ValueError:
        raise ValueError(f"pad: constant_values of shape {values.shape} do not fit an array of "
                         f"rank {rank}: use a scalar, (before, after) or one pair per axis"
                         ) from None


def _pad_values(constant_values: Any, x: Array) -> list[tuple[Array, Array]]:
    """One (before, after) scalar of ``x``'s dtype per axis."""
    def scalar(v: Any) -> Array:
        return _util.convert(asarray(v), x.dtype, x.weak_type)

    if not _holds_array(constant_values):
        table = np.asarray(constant_values)
        if (table == table.reshape(-1)[0]).all():
            constant_values = table.reshape(-1)[0].item()
        else:
            table = _values_table(table, x.ndim)
            return [(scalar(lo.item()), scalar(hi.item())) for lo, hi in table]
    cv = asarray(constant_values)
    if cv.ndim == 0:
        value = scalar(cv)
        return [(value, value)] * x.ndim
    _values_table(np.zeros(cv.shape), x.ndim)
    table = _util.broadcast_to(cv, (x.ndim, 2))
    return [tuple(scalar(lax.reshape(lax.slice(table, (i, j), (i + 1, j + 1)), ()))
                  for j in (0, 1)) for i in range(x.ndim)]


def _pad_constant(x: Array, widths: list[tuple[int, int]], constant_values: Any) -> Array:
    values = _pad_values(constant_values, x)
    if all(v is values[0][0] for pair in values for v in pair):
        return lax.pad(x, values[0][0], [(lo, hi, 0) for lo, hi in widths])
    for axis, ((lo, hi), (vlo, vhi)) in enumerate(zip(widths, values, strict=True)):
        for config, value in (((lo, 0, 0), vlo), ((0, hi, 0), vhi)):
            if config != (0, 0, 0):
                full = [(0, 0, 0)] * x.ndim
                full[axis] = config
                x = lax.pad(x, value, full)
    return x


def _pad_edge(x: Array, axis: int, lo: int, hi: int) -> Array:
    n = x.shape[axis]
    first = _repeat_each(lax.slice_in_dim(x, 0, 1, axis=axis), lo, axis)
    last = _repeat_each(lax.slice_in_dim(x, n - 1, n, axis=axis), hi, axis)
    return lax.concatenate([p for p in (first, x, last) if p.shape[axis]], axis)


def _pad_periodic(x: Array, axis: int, lo: int, hi: int, mode: str) -> Array:
    """Pad one axis by reading a periodic extension of ``x`` (wrap: period n; symmetric: x then
    reversed x; reflect: x then reversed x without its end points)."""
    n = x.shape[axis]
    if mode == "reflect" and n == 1:
        return _pad_edge(x, axis, lo, hi)
    block = x
    if mode == "symmetric":
        block = lax.concatenate([x, lax.rev(x, (axis,))], axis)
    elif mode == "reflect":
        inner = lax.slice_in_dim(x, 1, n - 1, axis=axis)
        block = lax.concatenate([x, lax.rev(inner, (axis,))], axis) if n > 2 else x
    period = block.shape[axis]
    start = -lo % period
    total = lo + n + hi
    reps = [1] * x.ndim
    reps[axis] = -(-(start + total) // period)
    return lax.slice_in_dim(tile(block, reps), start, start + total, axis=axis)


def pad(array: ArrayLike, pad_width: Any, mode: str = "constant", **kwargs: Any) -> Array:
    """Pad ``array`` by static ``pad_width`` (int, (before, after), or one pair per axis).

    Modes: 'constant' (``constant_values``: a scalar, a pair or one pair per axis; later axes
    fill the corners, as in numpy), 'edge', 'reflect', 'symmetric', 'wrap' and 'empty' (zeros).
    Raises ValueError for negative widths, bad keyword arguments or non-constant padding of an
    empty axis; NotImplementedError for other modes and reflect_type='odd'.
    """
    x = asarray(array)
    widths = _pad_widths(pad_width, x.ndim)
    if not isinstance(mode, str) or mode not in _PAD_KWARGS:
        raise NotImplementedError(f"pad: mode {mode!r} is not implemented; fborn supports "
                                  + ", ".join(repr(m) for m in _PAD_KWARGS))
    unsupported = set(kwargs) - _PAD_KWARGS[mode]
    if unsupported:
        raise ValueError(f"pad: unsupported keyword arguments for mode {mode!r}: "
                         f"{sorted(unsupported)}")
    if x.ndim == 0:
        return x
    if mode in ("constant", "empty"):
        return _pad_constant(x, widths, kwargs.get("constant_values", 0))
    reflect_type = kwargs.get("reflect_type", "even")
    if reflect_type != "even":
        raise NotImplementedError(f"pad: reflect_type={reflect_type!r} is not supported "
                                  f"(only 'even')")
    for axis, (lo, hi) in enumerate(widths):
        if lo == hi == 0:
            continue
        if x.shape[axis] == 0:
            raise ValueError(f"pad: cannot apply {mode!r} padding to the empty axis {axis}")
        x = _pad_edge(x, axis, lo, hi) if mode == "edge" else _pad_periodic(x, axis, lo, hi, mode)
    return x
