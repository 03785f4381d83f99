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
    if not padding_config:  # a 0-d operand: nothing to pad
        return np.array(x, copy=True)
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


# --- transform rules ---------------------------------------------------------------------------
from fborn.lax import _ops as lax  # noqa: E402
from fborn.primitives import rules  # noqa: E402
from fborn.primitives.rules import deflinear  # noqa: E402

for _prim in (broadcast_in_dim_p, reshape_p, transpose_p, squeeze_p, slice_p, concatenate_p,
              rev_p):
    deflinear(_prim)


def _broadcast_in_dim_transpose(ct: object, x: object, *, shape: tuple[int, ...],
                                broadcast_dimensions: tuple[int, ...]) -> list:
    in_shape = x.aval.shape
    new_axes = tuple(i for i in range(len(shape)) if i not in broadcast_dimensions)
    grown = tuple(out for size, out in zip(in_shape, broadcast_dimensions, strict=True)
                  if size == 1 and shape[out] != 1)
    summed = lax.reduce_sum(ct, tuple(sorted(new_axes + grown))) if new_axes or grown else ct
    return [lax.reshape(summed, in_shape)]


def _broadcast_in_dim_batch(axis: object, values: list, dims: list, *, shape: tuple[int, ...],
                            broadcast_dimensions: tuple[int, ...]) -> tuple[object, int]:
    (x,) = rules.batch_at_front(values, dims, axis.size)
    out = broadcast_in_dim_p.bind(x, shape=(axis.size, *shape),
                                  broadcast_dimensions=(0, *(d + 1 for d in broadcast_dimensions)))
    return out, 0


broadcast_in_dim_p.transpose = _broadcast_in_dim_transpose
broadcast_in_dim_p.batch = _broadcast_in_dim_batch

reshape_p.transpose = lambda ct, x, *, new_sizes: [lax.reshape(ct, x.aval.shape)]


def _reshape_batch(axis: object, values: list, dims: list, *, new_sizes: tuple[int, ...]
                   ) -> tuple[object, int]:
    (x,) = rules.batch_at_front(values, dims, axis.size)
    return reshape_p.bind(x, new_sizes=(axis.size, *new_sizes)), 0


reshape_p.batch = _reshape_batch


def _transpose_transpose(ct: object, x: object, *, permutation: tuple[int, ...]) -> list:
    inverse = tuple(int(i) for i in np.argsort(permutation))
    return [lax.transpose(ct, inverse)]


def _transpose_batch(axis: object, values: list, dims: list, *, permutation: tuple[int, ...]
                     ) -> tuple[object, int]:
    (x,) = rules.batch_at_front(values, dims, axis.size)
    return transpose_p.bind(x, permutation=(0, *(p + 1 for p in permutation))), 0


transpose_p.transpose = _transpose_transpose
transpose_p.batch = _transpose_batch
squeeze_p.transpose = lambda ct, x, *, dimensions: [lax.reshape(ct, x.aval.shape)]
rules.batch_axes_param(squeeze_p, "dimensions")
rules.batch_axes_param(rev_p, "dimensions")
rev_p.transpose = lambda ct, x, *, dimensions: [lax.rev(ct, dimensions)]


def _slice_transpose(ct: object, x: object, *, start_indices: tuple[int, ...],
                     limit_indices: tuple[int, ...], strides: tuple[int, ...] | None) -> list:
    steps = strides or (1,) * x.aval.ndim
    config = []
    for size, lo, out, step in zip(x.aval.shape, start_indices, ct.aval.shape, steps,
                                   strict=True):
        used = lo + (out - 1) * step + 1 if out else lo
        config.append((lo, size - used, step - 1 if out else 0))
    zero = lax.convert_element_type(0, ct.aval.dtype)
    return [lax.pad(ct, zero, config)]


def _slice_batch(axis: object, values: list, dims: list, *, start_indices: tuple[int, ...],
                 limit_indices: tuple[int, ...], strides: tuple[int, ...] | None
                 ) -> tuple[object, int]:
    (x,) = rules.batch_at_front(values, dims, axis.size)
    return slice_p.bind(x, start_indices=(0, *start_indices),
                        limit_indices=(axis.size, *limit_indices),
                        strides=None if strides is None else (1, *strides)), 0


slice_p.transpose = _slice_transpose
slice_p.batch = _slice_batch


def _concatenate_transpose(ct: object, *xs: object, dimension: int) -> list:
    outs, start = [], 0
    for x in xs:
        size = x.aval.shape[dimension]
        if rules.is_undefined(x):
            starts = [0] * ct.aval.ndim
            limits = list(ct.aval.shape)
            starts[dimension], limits[dimension] = start, start + size
            outs.append(lax.slice(ct, starts, limits))
        else:
            outs.append(None)
        start += size
    return outs


def _concatenate_batch(axis: object, values: list, dims: list, *, dimension: int
                       ) -> tuple[object, int]:
    xs = rules.batch_at_front(values, dims, axis.size)
    return concatenate_p.bind(*xs, dimension=dimension + 1), 0


concatenate_p.transpose = _concatenate_transpose
concatenate_p.batch = _concatenate_batch


def _pad_jvp(primals: list, tangents: list, *, padding_config: tuple) -> tuple[object, object]:
    x, value = primals
    tx, tv = (rules.instantiate(t) for t in tangents)
    out = pad_p.bind(x, value, padding_config=padding_config)
    if all(type(t) is rules.Zero for t in tangents):
        return out, rules.Zero(rules.tangent_aval(out.aval))
    return out, pad_p.bind(tx, tv, padding_config=padding_config)


def _pad_transpose(ct: object, x: object, value: object, *, padding_config: tuple) -> list:
    unpad = tuple((-lo, -hi, 0) for lo, hi, _ in padding_config)
    zero = lax.convert_element_type(0, ct.aval.dtype)
    unpadded = lax.pad(ct, zero, unpad)
    t_x = lax.slice(unpadded, (0,) * ct.aval.ndim, unpadded.aval.shape,
                    tuple(i + 1 for _, _, i in padding_config))
    axes = tuple(range(ct.aval.ndim))
    t_value = None
    if rules.is_undefined(value):
        t_value = lax.sub(lax.reduce_sum(ct, axes), lax.reduce_sum(t_x, axes))
    return [t_x if rules.is_undefined(x) else None, t_value]


def _pad_batch(axis: object, values: list, dims: list, *, padding_config: tuple
               ) -> tuple[object, int]:
    x, value = values
    dx, dv = dims
    x = rules.move_axis(x, dx, 0, axis.size)
    config = ((0, 0, 0), *padding_config)
    if dv is None:
        return pad_p.bind(x, value, padding_config=config), 0
    zero = lax.convert_element_type(0, x.aval.dtype)
    padded = pad_p.bind(x, zero, padding_config=config)
    inside = pad_p.bind(lax.broadcast_in_dim(True, x.aval.shape, ()), False,
                        padding_config=config)
    fill = lax.broadcast_in_dim(value, padded.aval.shape, (0,))
    return lax.select(inside, padded, fill), 0


pad_p.jvp = _pad_jvp
pad_p.transpose = _pad_transpose
pad_p.batch = _pad_batch
