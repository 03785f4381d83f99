"""``fborn.lax`` indexing: dynamic slices, gather and scatter (names and signatures of
``jax.lax``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fborn.core import dtypes
from fborn.core.array import Array, ArrayImpl
from fborn.core.trace import to_array
from fborn.primitives import elementwise as _ew
from fborn.primitives import indexing as _ix
from fborn.primitives import shape as _shape
from fborn.primitives.indexing import (
    GatherDimensionNumbers,
    GatherScatterMode,
    ScatterDimensionNumbers,
)

__all__ = [
    "GatherDimensionNumbers", "GatherScatterMode", "ScatterDimensionNumbers",
    "dynamic_index_in_dim", "dynamic_slice", "dynamic_slice_in_dim", "dynamic_update_index_in_dim",
    "dynamic_update_slice", "dynamic_update_slice_in_dim", "gather", "index_in_dim", "scatter",
    "scatter_add", "scatter_max", "scatter_min", "scatter_mul",
]

Index = Array | np.ndarray | np.generic | int


def _scalar_index(i: Index) -> Array | int:
    """A Python int, or a 0-d integer Array for an array-like start index."""
    if isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)):
        return int(i)
    arr = to_array(i)
    if arr.shape != () or not dtypes.is_int(arr.dtype):
        raise TypeError(f"start indices must be integer scalars, got {arr.aval.str_short()}")
    return arr


def _split_starts(start_indices: Sequence[Index] | Array | np.ndarray) -> list[Array | int]:
    """Start indices given as a sequence of scalars or as one 1-D integer array."""
    if isinstance(start_indices, (Array, np.ndarray)):
        arr = to_array(start_indices)
        if arr.ndim != 1:
            raise TypeError(f"start_indices must be a sequence of scalars or a 1-D array, got "
                            f"{arr.aval.str_short()}")
        return [_shape.reshape_p.bind(
            _shape.slice_p.bind(arr, start_indices=(k,), limit_indices=(k + 1,), strides=None),
            new_sizes=()) for k in range(arr.shape[0])]
    return [_scalar_index(i) for i in start_indices]


def _start_operands(shape: tuple[int, ...], start_indices: Sequence[Index] | Array | np.ndarray,
                    allow_negative_indices: bool | Sequence[bool]) -> list[Array]:
    """0-d start-index Arrays of one integer dtype, negative ones counted from the end."""
    starts = _split_starts(start_indices)
    if len(starts) != len(shape):
        raise TypeError(f"got {len(starts)} start indices for an array of rank {len(shape)}")
    wrap = ([allow_negative_indices] * len(shape) if isinstance(allow_negative_indices, bool)
            else list(allow_negative_indices))
    traced = {s.dtype for s in starts if isinstance(s, Array)}
    dtype = traced.pop() if len(traced) == 1 else dtypes.default_int()
    out = []
    for s, size, w in zip(starts, shape, wrap, strict=True):
        if isinstance(s, int):
            out.append(ArrayImpl(np.array(s + size if w and s < 0 else s, dtype=dtype)))
            continue
        if s.dtype != dtype:
            s = _ew.convert_element_type_p.bind(s, new_dtype=dtype, weak_type=False)
        out.append(wrap_negative(s, size) if w else s)
    return out


def wrap_negative(index: Array, size: int) -> Array:
    """``index + size`` where ``index < 0`` (unsigned indices pass through)."""
    if index.dtype.kind == "u":
        return index
    zero = _full_like(index, 0)
    shifted = _ew.add_p.bind(index, _full_like(index, size))
    return _ew.select_n_p.bind(_ew.lt_p.bind(index, zero), index, shifted)


def _full_like(x: Array, value: int | float) -> Array:
    scalar = ArrayImpl(np.array(value, dtype=x.dtype))
    if not x.shape:
        return scalar
    return _shape.broadcast_in_dim_p.bind(scalar, shape=x.shape, broadcast_dimensions=())


def dynamic_slice(operand: Array, start_indices: Sequence[Index] | Array,
                  slice_sizes: Sequence[int], *,
                  allow_negative_indices: bool | Sequence[bool] = True) -> Array:
    """The window of ``slice_sizes`` starting at ``start_indices`` (traced scalars allowed).

    Negative starts count from the end; starts are then clamped so the window fits (as XLA).
    Raises FbornShapeError if a size exceeds its axis.
    """
    x = to_array(operand)
    starts = _start_operands(x.shape, start_indices, allow_negative_indices)
    return _ix.dynamic_slice_p.bind(x, *starts, slice_sizes=tuple(int(s) for s in slice_sizes))


def dynamic_update_slice(operand: Array, update: Array, start_indices: Sequence[Index] | Array,
                         *, allow_negative_indices: bool | Sequence[bool] = True) -> Array:
    """``operand`` with the window at ``start_indices`` replaced by ``update`` (same dtype).

    Starts wrap when negative and are clamped so ``update`` fits.
    """
    x = to_array(operand)
    starts = _start_operands(x.shape, start_indices, allow_negative_indices)
    return _ix.dynamic_update_slice_p.bind(x, to_array(update), *starts)


def _in_dim_starts(ndim: int, index: Index, axis: int) -> list[Index]:
    starts: list[Index] = [0] * ndim
    starts[axis] = index
    return starts


def dynamic_slice_in_dim(operand: Array, start_index: Index, slice_size: int, axis: int = 0,
                         *, allow_negative_indices: bool = True) -> Array:
    """``dynamic_slice`` along one axis (full extent elsewhere)."""
    x = to_array(operand)
    axis = int(axis) % max(x.ndim, 1)
    sizes = list(x.shape)
    sizes[axis] = int(slice_size)
    return dynamic_slice(x, _in_dim_starts(x.ndim, start_index, axis), sizes,
                         allow_negative_indices=allow_negative_indices)


def dynamic_update_slice_in_dim(operand: Array, update: Array, start_index: Index, axis: int,
                                *, allow_negative_indices: bool = True) -> Array:
    """``dynamic_update_slice`` at ``start_index`` along ``axis`` (0 elsewhere)."""
    x = to_array(operand)
    axis = int(axis) % max(x.ndim, 1)
    return dynamic_update_slice(x, update, _in_dim_starts(x.ndim, start_index, axis),
                                allow_negative_indices=allow_negative_indices)


def dynamic_index_in_dim(operand: Array, index: Index, axis: int = 0,
                         keepdims: bool = True) -> Array:
    """The slice at (traced) ``index`` along ``axis``, kept as size 1 or removed."""
    x = to_array(operand)
    axis = int(axis) % max(x.ndim, 1)
    out = dynamic_slice_in_dim(x, index, 1, axis)
    return out if keepdims else _shape.squeeze_p.bind(out, dimensions=(axis,))


def dynamic_update_index_in_dim(operand: Array, update: Array, index: Index, axis: int) -> Array:
    """Replace the slice at ``index`` along ``axis`` by ``update`` (with or without that axis)."""
    x = to_array(operand)
    axis = int(axis) % max(x.ndim, 1)
    upd = to_array(update)
    if upd.ndim == x.ndim - 1:
        shape = upd.shape[:axis] + (1,) + upd.shape[axis:]
        upd = _shape.reshape_p.bind(upd, new_sizes=shape)
    return dynamic_update_slice_in_dim(x, upd, index, axis)


def index_in_dim(operand: Array, index: int, axis: int = 0, keepdims: bool = True) -> Array:
    """The slice at static ``index`` along ``axis`` (negative counts from the end).

    Raises IndexError if ``index`` is out of bounds.
    """
    x = to_array(operand)
    axis = int(axis) % max(x.ndim, 1)
    size = x.shape[axis]
    i = int(index)
    wrapped = i + size if i < 0 else i
    if not 0 <= wrapped < size:
        raise IndexError(f"index {i} is out of bounds for axis {axis} with size {size}")
    starts = [0] * x.ndim
    limits = list(x.shape)
    starts[axis], limits[axis] = wrapped, wrapped + 1
    out = _shape.slice_p.bind(x, start_indices=tuple(starts), limit_indices=tuple(limits),
                              strides=None)
    return out if keepdims else _shape.squeeze_p.bind(out, dimensions=(axis,))


def _dims(dn: Any, cls: type) -> Any:
    if not isinstance(dn, cls):
        raise TypeError(f"dimension_numbers must be a {cls.__name__}, got {type(dn).__name__}")
    return cls(*(tuple(int(d) for d in field) for field in dn))


def gather(operand: Array, start_indices: Array, dimension_numbers: GatherDimensionNumbers,
           slice_sizes: Sequence[int], *, unique_indices: bool = False,
           indices_are_sorted: bool = False, mode: str | GatherScatterMode | None = None,
           fill_value: Any = None) -> Array:
    """XLA gather: windows of ``slice_sizes`` at the index vectors in the last axis of
    ``start_indices`` (see ``fborn.primitives.indexing``).

    ``mode`` defaults to PROMISE_IN_BOUNDS (out-of-bounds starts are clamped); with
    ``'fill'`` a window that does not fit is ``fill_value`` (default NaN for floats, the
    minimum for signed, the maximum for unsigned integers, True for bool).
    """
    x = to_array(operand)
    parsed = (GatherScatterMode.PROMISE_IN_BOUNDS if mode is None
              else GatherScatterMode.from_any(mode))
    if parsed == GatherScatterMode.FILL_OR_DROP:
        fill = _ix.default_fill_value(x.dtype) if fill_value is None else fill_value
        fill = np.asarray(fill).item()
    else:
        fill = None
    return _ix.gather_p.bind(
        x, to_array(start_indices), dimension_numbers=_dims(dimension_numbers,
                                                            GatherDimensionNumbers),
        slice_sizes=tuple(int(s) for s in slice_sizes), mode=parsed, fill_value=fill,
        indices_are_sorted=bool(indices_are_sorted), unique_indices=bool(unique_indices),
    )


def _scatter(prim: Any, name: str, doc: str) -> Any:
    def op(operand: Array, scatter_indices: Array, updates: Array,
           dimension_numbers: ScatterDimensionNumbers, *, indices_are_sorted: bool = False,
           unique_indices: bool = False, mode: str | GatherScatterMode | None = None) -> Array:
        return prim.bind(
            to_array(operand), to_array(scatter_indices), to_array(updates),
            dimension_numbers=_dims(dimension_numbers, ScatterDimensionNumbers),
            mode=GatherScatterMode.from_any(mode), indices_are_sorted=bool(indices_are_sorted),
            unique_indices=bool(unique_indices),
        )

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (f"XLA scatter that {doc} the windows of ``updates`` at the index vectors in the "
                  f"last axis of ``scatter_indices``. ``mode`` defaults to FILL_OR_DROP: a "
                  f"window that does not fit is dropped; 'clip' clamps it into bounds.")
    return op


scatter = _scatter(_ix.scatter_p, "scatter", "overwrites the operand with")
scatter_add = _scatter(_ix.scatter_add_p, "scatter_add", "adds")
scatter_mul = _scatter(_ix.scatter_mul_p, "scatter_mul", "multiplies the operand by")
scatter_min = _scatter(_ix.scatter_min_p, "scatter_min", "takes the minimum with")
scatter_max = _scatter(_ix.scatter_max_p, "scatter_max", "takes the maximum with")
