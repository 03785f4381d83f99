"""Shape primitives: broadcast_in_dim, reshape, transpose, squeeze, slice, concatenate, pad, rev,
iota. All are pure data movement; the kernel IR turns most into index arithmetic."""

from __future__ import annotations

import math

import numpy as np

from fborn.core import dtypes
from fborn.core.aval import ShapedArray
from fborn.core.errors import FbornShapeError
from fborn.core.primitive import Primitive
from fborn.primitives._checks import check_axes, check_same_dtypes, shapes_str

broadcast_in_dim_p = Primitive("broadcast_in_dim")


@broadcast_in_dim_p.def_abstract_eval
def _broadcast_in_dim_abstract(x: ShapedArray, *, shape: tuple[int, ...],
                               broadcast_dimensions: tuple[int, ...]) -> ShapedArray:
    if len(broadcast_dimensions) != x.ndim:
        raise FbornShapeError(
            f"broadcast_dimensions {broadcast_dimensions} must name one output axis per operand "
            f"axis of {x.str_short()}"
        )
    if any(b <= a for a, b in zip(broadcast_dimensions, broadcast_dimensions[1:], strict=False)):
        raise FbornShapeError(f"broadcast_dimensions {broadcast_dimensions} must be increasing")
    for axis, out_axis in enumerate(broadcast_dimensions):
        if not 0 <= out_axis < len(shape) or x.shape[axis] not in (1, shape[out_axis]):
            raise FbornShapeError(
                f"cannot broadcast {x.str_short()} to shape {shape} with "
                f"broadcast_dimensions={broadcast_dimensions}"
            )
    return ShapedArray(tuple(shape), x.dtype, x.weak_type)


@broadcast_in_dim_p.def_impl
def _broadcast_in_dim_impl(x: np.ndarray, *, shape: tuple[int, ...],
                           broadcast_dimensions: tuple[int, ...]) -> np.ndarray:
    expanded = [1] * len(shape)
    for axis, out_axis in enumerate(broadcast_dimensions):
        expanded[out_axis] = x.shape[axis]
    return np.broadcast_to(x.reshape(expanded), shape)


reshape_p = Primitive("reshape")


@reshape_p.def_abstract_eval
def _reshape_abstract(x: ShapedArray, *, new_sizes: tuple[int, ...]) -> ShapedArray:
    if any(d < 0 for d in new_sizes) or math.prod(new_sizes) != x.size:
        raise FbornShapeError(f"cannot reshape {x.str_short()} to {new_sizes}")
    return ShapedArray(tuple(new_sizes), x.dtype, x.weak_type)


reshape_p.def_impl(lambda x, *, new_sizes: x.reshape(new_sizes))

transpose_p = Primitive("transpose")


@transpose_p.def_abstract_eval
def _transpose_abstract(x: ShapedArray, *, permutation: tuple[int, ...]) -> ShapedArray:
    if sorted(permutation) != list(range(x.ndim)):
        raise FbornShapeError(f"permutation {permutation} is not a permutation of the axes of "
                              f"{x.str_short()}")
    return ShapedArray(tuple(x.shape[p] for p in permutation), x.dtype, x.weak_type)


transpose_p.def_impl(lambda x, *, permutation: np.transpose(x, permutation))

squeeze_p = Primitive("squeeze")


@squeeze_p.def_abstract_eval
def _squeeze_abstract(x: ShapedArray, *, dimensions: tuple[int, ...]) -> ShapedArray:
    check_axes(dimensions, x.ndim, "squeeze dimensions")
    if any(x.shape[d] != 1 for d in dimensions):
        raise FbornShapeError(f"cannot squeeze axes {dimensions} of {x.str_short()}: not size 1")
    shape = tuple(s for i, s in enumerate(x.shape) if i not in dimensions)
    return ShapedArray(shape, x.dtype, x.weak_type)


squeeze_p.def_impl(lambda x, *, dimensions: np.squeeze(x, axis=dimensions))

slice_p = Primitive("slice")


@slice_p.def_abstract_eval
def _slice_abstract(x: ShapedArray, *, start_indices: tuple[int, ...],
                    limit_indices: tuple[int, ...], strides: tuple[int, ...] | None
                    ) -> ShapedArray:
    steps = strides or (1,) * x.ndim
    if not len(start_indices) == len(limit_indices) == len(steps) == x.ndim:
        raise FbornShapeError(f"slice needs one start/limit/stride per axis of {x.str_short()}")
    shape = []
    for size, lo, hi, step in zip(x.shape, start_indices, limit_indices, steps, strict=True):
        if not 0 <= lo <= hi <= size or step < 1:
            raise FbornShapeError(
                f"slice start {start_indices}, limit {limit_indices}, strides {strides} out of "
                f"bounds for {x.str_short()}"
            )
        shape.append(max(0, -(-(hi - lo) // step)))
    return ShapedArray(tuple(shape), x.dtype, x.weak_type)


@slice_p.def_impl
def _slice_impl(x: np.ndarray, *, start_indices: tuple[int, ...],
                limit_indices: tuple[int, ...], strides: tuple[int, ...] | None) -> np.ndarray:
    steps = strides or (1,) * x.ndim
    return x[tuple(slice(a, b, s) for a, b, s in zip(start_indices, limit_indices, steps,
                                                      strict=True))]


concatenate_p = Primitive("concatenate")


@concatenate_p.def_abstract_eval
def _concatenate_abstract(*xs: ShapedArray, dimension: int) -> ShapedArray:
    if not xs:
        raise FbornShapeError("concatenate needs at least one operand")
    dtype = check_same_dtypes(xs)
    first = xs[0]
    if not 0 <= dimension < first.ndim:
        raise FbornShapeError(f"dimension {dimension} is out of range for {first.str_short()}")
    for x in xs:
        if x.ndim != first.ndim or any(
            a != b for i, (a, b) in enumerate(zip(x.shape, first.shape, strict=True))
            if i != dimension
        ):
            raise FbornShapeError(f"cannot concatenate {shapes_str(xs)} along axis {dimension}")
    shape = list(first.shape)
    shape[dimension] = sum(x.shape[dimension] for x in xs)
    return ShapedArray(tuple(shape), dtype, all(x.weak_type for x in xs))


concatenate_p.def_impl(lambda *xs, dimension: np.concatenate(xs, axis=dimension))

pad_p = Primitive("pad")


@pad_p.def_abstract_eval
def _pad_abstract(x: ShapedArray, value: ShapedArray, *,
                  padding_config: tuple[tuple[int, int, int], ...]) -> ShapedArray:
    check_same_dtypes((x, value))
    if value.shape != ():
        raise FbornShapeError(f"the padding value must be a scalar, got {value.str_short()}")
    if len(padding_config) != x.ndim:
        raise FbornShapeError(f"padding_config needs one (low, high, interior) per axis of "
                              f"{x.str_short()}, got {padding_config}")
    shape = []
    for size, (lo, hi, interior) in zip(x.shape, padding_config, strict=True):
        if interior < 0:
            raise FbornShapeError(f"interior padding must be >= 0, got {padding_config}")
        out = lo + hi + size + max(size - 1, 0) * interior
        if out < 0:
            raise FbornShapeError(f"padding {padding_config} gives a negative size for "
                                  f"{x.str_short()}")
        shape.append(out)
    return ShapedArray(tuple(shape), x.dtype, x.weak_type)


@pad_p.def_impl
def _pad_impl(x: np.ndarray, value: np.ndarray, *,
              padding_config: tuple[tuple[int, int, int], ...]) -> np.ndarray:
    # Interior padding by strided placement, then low/high by slicing (negative = crop).
    inner = [s + max(s - 1, 0) * i for s, (_, _, i) in zip(x.shape, padding_config, strict=True)]
    grown = np.full(inner, value, dtype=x.dtype)
    grown[tuple(slice(None, None, i + 1) for _, _, i in padding_config)] = x
    widths = [(max(lo, 0), max(hi, 0)) for lo, hi, _ in padding_config]
    out = np.pad(grown, widths, constant_values=value)
    crop = tuple(slice(max(-lo, 0), out.shape[d] - max(-hi, 0))
                 for d, (lo, hi, _) in enumerate(padding_config))
    return out[crop]


rev_p = Primitive("rev")


@rev_p.def_abstract_eval
def _rev_abstract(x: ShapedArray, *, dimensions: tuple[int, ...]) -> ShapedArray:
    check_axes(dimensions, x.ndim, "rev dimensions")
    return x


rev_p.def_impl(lambda x, *, dimensions: np.flip(x, dimensions) if dimensions else x)

iota_p = Primitive("iota")


@iota_p.def_abstract_eval
def _iota_abstract(*, dtype: np.dtype, shape: tuple[int, ...], dimension: int) -> ShapedArray:
    if not 0 <= dimension < len(shape):
        raise FbornShapeError(f"iota dimension {dimension} out of range for shape {shape}")
    if dtype == dtypes.bool_:
        raise FbornShapeError("iota needs a numeric dtype")
    return ShapedArray(tuple(shape), dtype)


@iota_p.def_impl
def _iota_impl(*, dtype: np.dtype, shape: tuple[int, ...], dimension: int) -> np.ndarray:
    line = np.arange(shape[dimension], dtype=dtype)
    view = [1] * len(shape)
    view[dimension] = shape[dimension]
    return np.broadcast_to(line.reshape(view), shape)
