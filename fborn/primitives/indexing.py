"""Indexing primitives: dynamic_slice, dynamic_update_slice, gather and the scatter family
(scatter, scatter_add, scatter_mul, scatter_min, scatter_max).

Gather and scatter take XLA/JAX dimension numbers (``GatherDimensionNumbers``,
``ScatterDimensionNumbers``, batching dimensions included) with one restriction: the index
vector dimension of ``indices`` is always its **last** axis, so ``indices`` has shape
``batch_shape + (len(start_index_map),)``. Start indices are never wrapped here (negative
indices are normalized by ``fborn.numpy``/``fborn.lax``).

Out-of-bounds starts follow ``GatherScatterMode``: ``CLIP`` clamps each start so the whole window
fits; ``FILL_OR_DROP`` fills a gathered window that does not fit entirely with ``fill_value``
and drops a scattered window that does not fit entirely; ``PROMISE_IN_BOUNDS`` behaves as XLA
does (gathers clamp, scatters drop), so a backend must still keep every access in bounds.

Transform rules (jvp, transpose, batch) sit at the end. Batching uses the batching dimensions
(per-example gathers/scatters), never a loop. ``scatter`` (overwrite) lets the last of
duplicate updates win, and its derivatives follow that winner; ``scatter_mul`` is
differentiable only with ``unique_indices=True`` (as in JAX); ``scatter_min``/``scatter_max``
average the tangent over ties.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from fborn.core import dtypes
from fborn.core.array import ArrayImpl
from fborn.core.aval import ShapedArray
from fborn.core.errors import FbornDtypeError, FbornShapeError
from fborn.core.primitive import Primitive
from fborn.core.trace import get_aval
from fborn.primitives import elementwise as ew
from fborn.primitives import rules
from fborn.primitives import shape as sh
from fborn.primitives._checks import shapes_str


class GatherScatterMode(enum.Enum):
    """How gather/scatter treat start indices whose window does not fit in the operand."""

    CLIP = 0
    FILL_OR_DROP = 1
    PROMISE_IN_BOUNDS = 2

    @staticmethod
    def from_any(mode: str | GatherScatterMode | None) -> GatherScatterMode:
        """Parse ``'clip'``, ``'fill'``/``'drop'``/None (FILL_OR_DROP), ``'promise_in_bounds'``;
        anything else raises ValueError."""
        if isinstance(mode, GatherScatterMode):
            return mode
        if mode is None or mode in ("fill", "drop"):
            return GatherScatterMode.FILL_OR_DROP
        if mode == "clip":
            return GatherScatterMode.CLIP
        if mode == "promise_in_bounds":
            return GatherScatterMode.PROMISE_IN_BOUNDS
        raise ValueError(f"unknown gather/scatter mode {mode!r}; expected 'clip', 'fill', "
                         f"'drop' or 'promise_in_bounds'")

    def __repr__(self) -> str:
        return f"GatherScatterMode.{self.name}"


class GatherDimensionNumbers(NamedTuple):
    """Dimension numbers of ``gather`` (as ``jax.lax.GatherDimensionNumbers``).

    ``offset_dims``: output axes holding the window axes (sorted); ``collapsed_slice_dims``:
    operand axes of window size 1 dropped from the output (sorted); ``start_index_map``: the
    operand axis each index-vector entry starts; ``operand_batching_dims`` (sorted) pair with
    ``start_indices_batching_dims`` (axes of ``indices``): the start along such an operand axis
    is the position along the paired indices axis, and the axis is dropped from the window.
    """

    offset_dims: tuple[int, ...]
    collapsed_slice_dims: tuple[int, ...]
    start_index_map: tuple[int, ...]
    operand_batching_dims: tuple[int, ...] = ()
    start_indices_batching_dims: tuple[int, ...] = ()


class ScatterDimensionNumbers(NamedTuple):
    """Dimension numbers of the scatter family (as ``jax.lax.ScatterDimensionNumbers``).

    ``update_window_dims``: axes of ``updates`` holding window axes (sorted);
    ``inserted_window_dims``: operand axes of implicit window size 1 (sorted);
    ``scatter_dims_to_operand_dims``: the operand axis each index-vector entry starts;
    ``operand_batching_dims`` (sorted) pair with ``scatter_indices_batching_dims`` as in gather.
    """

    update_window_dims: tuple[int, ...]
    inserted_window_dims: tuple[int, ...]
    scatter_dims_to_operand_dims: tuple[int, ...]
    operand_batching_dims: tuple[int, ...] = ()
    scatter_indices_batching_dims: tuple[int, ...] = ()


# --- shared checks -----------------------------------------------------------------------------

def _check_int(aval: ShapedArray, what: str) -> None:
    if not dtypes.is_int(aval.dtype):
        raise FbornDtypeError(f"{what} must have an integer dtype, got {aval.str_short()}")


def _check_dims(dims: tuple[int, ...], bound: int, what: str, sort: bool = True) -> None:
    """``dims`` must be unique, in ``[0, bound)`` and (if ``sort``) increasing."""
    if len(set(dims)) != len(dims) or any(not 0 <= d < bound for d in dims):
        raise FbornShapeError(f"{what} {dims} must be distinct axes in [0, {bound})")
    if sort and list(dims) != sorted(dims):
        raise FbornShapeError(f"{what} {dims} must be sorted")


def _check_disjoint(a: tuple[int, ...], b: tuple[int, ...], what_a: str, what_b: str) -> None:
    if set(a) & set(b):
        raise FbornShapeError(f"{what_a} {a} and {what_b} {b} must not share axes")


def _check_index_vectors(indices: ShapedArray, n: int, what: str) -> None:
    _check_int(indices, "indices")
    if indices.ndim < 1 or indices.shape[-1] != n:
        raise FbornShapeError(
            f"indices {indices.str_short()} must end in an index-vector axis of size {n} "
            f"(len({what}))"
        )


def _check_batching(operand: ShapedArray, indices: ShapedArray, operand_dims: tuple[int, ...],
                    index_dims: tuple[int, ...], names: tuple[str, str]) -> None:
    _check_dims(operand_dims, operand.ndim, names[0])
    _check_dims(index_dims, indices.ndim - 1, names[1], sort=False)
    if len(operand_dims) != len(index_dims):
        raise FbornShapeError(f"{names[0]} {operand_dims} and {names[1]} {index_dims} must "
                              f"have equal lengths")
    for od, idim in zip(operand_dims, index_dims, strict=True):
        if operand.shape[od] != indices.shape[idim]:
            raise FbornShapeError(
                f"batching axis {od} of the operand {operand.str_short()} and axis {idim} of "
                f"indices {indices.str_short()} must have equal sizes"
            )


def _check_mode(mode: Any) -> None:
    if not isinstance(mode, GatherScatterMode):
        raise FbornShapeError(f"mode must be a GatherScatterMode, got {mode!r}")


# --- dynamic_slice / dynamic_update_slice ------------------------------------------------------

def _check_starts(operand: ShapedArray, starts: Sequence[ShapedArray]) -> None:
    if len(starts) != operand.ndim:
        raise FbornShapeError(f"needs one start index per axis of {operand.str_short()}, got "
                              f"{len(starts)}")
    for s in starts:
        _check_int(s, "start indices")
        if s.shape != ():
            raise FbornShapeError(f"start indices must be scalars, got {shapes_str(starts)}")
    if len({s.dtype for s in starts}) > 1:
        raise FbornDtypeError(f"start indices must share one dtype, got {shapes_str(starts)}")


def _clamped_starts(shape: Sequence[int], sizes: Sequence[int],
                    starts: Sequence[np.ndarray]) -> list[int]:
    return [int(min(max(int(s), 0), d - z)) for s, d, z in zip(starts, shape, sizes, strict=True)]


dynamic_slice_p = Primitive("dynamic_slice")


@dynamic_slice_p.def_abstract_eval
def _dynamic_slice_abstract(operand: ShapedArray, *starts: ShapedArray,
                            slice_sizes: tuple[int, ...]) -> ShapedArray:
    _check_starts(operand, starts)
    if len(slice_sizes) != operand.ndim or any(
        not 0 <= z <= d for z, d in zip(slice_sizes, operand.shape, strict=True)
    ):
        raise FbornShapeError(f"slice_sizes {slice_sizes} must give one size in [0, dim] per "
                              f"axis of {operand.str_short()}")
    return ShapedArray(tuple(slice_sizes), operand.dtype, operand.weak_type)


@dynamic_slice_p.def_impl
def _dynamic_slice_impl(operand: np.ndarray, *starts: np.ndarray,
                        slice_sizes: tuple[int, ...]) -> np.ndarray:
    lo = _clamped_starts(operand.shape, slice_sizes, starts)
    return operand[tuple(slice(s, s + z) for s, z in zip(lo, slice_sizes, strict=True))]


dynamic_update_slice_p = Primitive("dynamic_update_slice")


@dynamic_update_slice_p.def_abstract_eval
def _dynamic_update_slice_abstract(operand: ShapedArray, update: ShapedArray,
                                   *starts: ShapedArray) -> ShapedArray:
    _check_starts(operand, starts)
    if operand.dtype != update.dtype:
        raise FbornDtypeError(f"operand and update must have equal dtypes, got "
                              f"{shapes_str((operand, update))}")
    if update.ndim != operand.ndim or any(
        u > d for u, d in zip(update.shape, operand.shape, strict=True)
    ):
        raise FbornShapeError(f"the update {update.str_short()} must have the operand's rank "
                              f"and fit inside the operand {operand.str_short()}")
    return operand


@dynamic_update_slice_p.def_impl
def _dynamic_update_slice_impl(operand: np.ndarray, update: np.ndarray,
                               *starts: np.ndarray) -> np.ndarray:
    lo = _clamped_starts(operand.shape, update.shape, starts)
    out = operand.copy()
    out[tuple(slice(s, s + z) for s, z in zip(lo, update.shape, strict=True))] = update
    return out


# --- gather ------------------------------------------------------------------------------------

def default_fill_value(dtype: np.dtype) -> bool | int | float:
    """JAX's fill for out-of-bounds gathers: NaN (floats), the minimum (signed ints), the
    maximum (unsigned ints), True (bool)."""
    if dtypes.is_float(dtype):
        return float("nan")
    if dtype.kind == "i":
        return int(np.iinfo(dtype).min)
    if dtype.kind == "u":
        return int(np.iinfo(dtype).max)
    return True


gather_p = Primitive("gather")


@gather_p.def_abstract_eval
def _gather_abstract(operand: ShapedArray, indices: ShapedArray, *,
                     dimension_numbers: GatherDimensionNumbers, slice_sizes: tuple[int, ...],
                     mode: GatherScatterMode, fill_value: Any, indices_are_sorted: bool,
                     unique_indices: bool) -> ShapedArray:
    dn = dimension_numbers
    _check_mode(mode)
    _check_index_vectors(indices, len(dn.start_index_map), "start_index_map")
    if len(slice_sizes) != operand.ndim or any(
        not 0 <= z <= d for z, d in zip(slice_sizes, operand.shape, strict=True)
    ):
        raise FbornShapeError(f"slice_sizes {slice_sizes} must give one size in [0, dim] per "
                              f"axis of the operand {operand.str_short()}")
    _check_dims(dn.collapsed_slice_dims, operand.ndim, "collapsed_slice_dims")
    _check_dims(dn.start_index_map, operand.ndim, "start_index_map", sort=False)
    _check_batching(operand, indices, dn.operand_batching_dims, dn.start_indices_batching_dims,
                    ("operand_batching_dims", "start_indices_batching_dims"))
    _check_disjoint(dn.collapsed_slice_dims, dn.operand_batching_dims, "collapsed_slice_dims",
                    "operand_batching_dims")
    _check_disjoint(dn.start_index_map, dn.operand_batching_dims, "start_index_map",
                    "operand_batching_dims")
    for d in (*dn.collapsed_slice_dims, *dn.operand_batching_dims):
        if slice_sizes[d] != 1:
            raise FbornShapeError(f"collapsed and batching axes need slice size 1, but axis {d} "
                                  f"has slice size {slice_sizes[d]}")
    dropped = set(dn.collapsed_slice_dims) | set(dn.operand_batching_dims)
    window = [slice_sizes[d] for d in range(operand.ndim) if d not in dropped]
    if len(dn.offset_dims) != len(window):
        raise FbornShapeError(f"offset_dims {dn.offset_dims} must name one output axis per "
                              f"window axis ({len(window)})")
    out_rank = indices.ndim - 1 + len(window)
    _check_dims(dn.offset_dims, out_rank, "offset_dims")
    batch = iter(indices.shape[:-1])
    win = iter(window)
    shape = tuple(next(win) if i in dn.offset_dims else next(batch) for i in range(out_rank))
    return ShapedArray(shape, operand.dtype, operand.weak_type)


def _full_starts(shape: Sequence[int], indices: np.ndarray, index_map: Sequence[int],
                 operand_batching: Sequence[int], indices_batching: Sequence[int]) -> np.ndarray:
    """Per batch position, the start of the window along every operand axis
    (``batch_shape + (ndim,)``, int64): index vectors for ``index_map`` axes, batch positions for
    batching axes, zero elsewhere."""
    batch_shape = indices.shape[:-1]
    starts = np.zeros(batch_shape + (len(shape),), dtype=np.int64)
    for k, d in enumerate(index_map):
        starts[..., d] = indices[..., k]
    for od, idim in zip(operand_batching, indices_batching, strict=True):
        view = [1] * len(batch_shape)
        view[idim] = batch_shape[idim]
        starts[..., od] = np.arange(batch_shape[idim]).reshape(view)
    return starts


def _window_index(starts: np.ndarray, sizes: Sequence[int]) -> tuple[np.ndarray, ...]:
    """Operand coordinates of every window element: arrays of ``batch_shape + sizes``."""
    nb = starts.ndim - 1
    ndim = len(sizes)
    coords = []
    for d, size in enumerate(sizes):
        lo = starts[..., d].reshape(starts.shape[:-1] + (1,) * ndim)
        offsets = np.arange(size).reshape((1,) * nb + tuple(size if k == d else 1
                                                             for k in range(ndim)))
        coords.append(lo + offsets)
    full = starts.shape[:-1] + tuple(sizes)
    return tuple(np.broadcast_to(c, full) for c in coords)


@gather_p.def_impl
def _gather_impl(operand: np.ndarray, indices: np.ndarray, *,
                 dimension_numbers: GatherDimensionNumbers, slice_sizes: tuple[int, ...],
                 mode: GatherScatterMode, fill_value: Any, indices_are_sorted: bool,
                 unique_indices: bool) -> np.ndarray:
    dn = dimension_numbers
    ndim = operand.ndim
    batch_shape = indices.shape[:-1]
    starts = _full_starts(operand.shape, indices, dn.start_index_map, dn.operand_batching_dims,
                          dn.start_indices_batching_dims)
    upper = np.asarray(operand.shape, np.int64) - np.asarray(slice_sizes, np.int64)
    fits = np.all((starts >= 0) & (starts <= upper), axis=-1)
    starts = np.clip(starts, 0, np.maximum(upper, 0))
    full = batch_shape + tuple(slice_sizes)
    out = np.broadcast_to(operand[_window_index(starts, slice_sizes)], full)
    if mode == GatherScatterMode.FILL_OR_DROP:
        fill = default_fill_value(operand.dtype) if fill_value is None else fill_value
        keep = fits.reshape(batch_shape + (1,) * ndim)
        out = np.where(keep, out, np.asarray(fill).astype(operand.dtype))
    nb = len(batch_shape)
    dropped = sorted({*dn.collapsed_slice_dims, *dn.operand_batching_dims})
    out = out.reshape(batch_shape + tuple(z for d, z in enumerate(slice_sizes)
                                          if d not in dropped))
    out_rank = out.ndim
    batch_axes = iter(range(nb))
    window_axes = iter(range(nb, out_rank))
    perm = [next(window_axes) if i in dn.offset_dims else next(batch_axes)
            for i in range(out_rank)]
    return np.array(np.transpose(out, perm), order="C")


# --- scatter family ----------------------------------------------------------------------------

def _scatter_abstract(operand: ShapedArray, indices: ShapedArray, updates: ShapedArray, *,
                      dimension_numbers: ScatterDimensionNumbers, mode: GatherScatterMode,
                      indices_are_sorted: bool, unique_indices: bool) -> ShapedArray:
    dn = dimension_numbers
    _check_mode(mode)
    if operand.dtype != updates.dtype:
        raise FbornDtypeError(f"operand and updates must have equal dtypes, got "
                              f"{shapes_str((operand, updates))}")
    _check_index_vectors(indices, len(dn.scatter_dims_to_operand_dims),
                         "scatter_dims_to_operand_dims")
    _check_dims(dn.update_window_dims, updates.ndim, "update_window_dims")
    _check_dims(dn.inserted_window_dims, operand.ndim, "inserted_window_dims")
    _check_dims(dn.scatter_dims_to_operand_dims, operand.ndim, "scatter_dims_to_operand_dims",
                sort=False)
    _check_batching(operand, indices, dn.operand_batching_dims, dn.scatter_indices_batching_dims,
                    ("operand_batching_dims", "scatter_indices_batching_dims"))
    _check_disjoint(dn.inserted_window_dims, dn.operand_batching_dims, "inserted_window_dims",
                    "operand_batching_dims")
    _check_disjoint(dn.scatter_dims_to_operand_dims, dn.operand_batching_dims,
                    "scatter_dims_to_operand_dims", "operand_batching_dims")
    dropped = set(dn.inserted_window_dims) | set(dn.operand_batching_dims)
    window_axes = [d for d in range(operand.ndim) if d not in dropped]
    if len(window_axes) != len(dn.update_window_dims):
        raise FbornShapeError(
            f"update_window_dims {dn.update_window_dims} must name one updates axis per operand "
            f"axis that is neither inserted nor batching ({len(window_axes)})"
        )
    scatter_sizes = tuple(s for i, s in enumerate(updates.shape)
                          if i not in dn.update_window_dims)
    if scatter_sizes != indices.shape[:-1]:
        raise FbornShapeError(
            f"the scatter axes of updates {updates.str_short()} (all but update_window_dims "
            f"{dn.update_window_dims}) must match the batch axes of indices {indices.str_short()}"
        )
    for u, d in zip(dn.update_window_dims, window_axes, strict=True):
        if updates.shape[u] > operand.shape[d]:
            raise FbornShapeError(
                f"window axis {u} of updates {updates.str_short()} is larger than axis {d} of "
                f"the operand {operand.str_short()}"
            )
    return operand


def _scatter_impl(combine: Callable[[np.ndarray, np.ndarray, np.ndarray], None]
                  ) -> Callable[..., np.ndarray]:
    """A reference scatter that applies ``combine(flat_out, flat_positions, values)``."""

    def impl(operand: np.ndarray, indices: np.ndarray, updates: np.ndarray, *,
             dimension_numbers: ScatterDimensionNumbers, mode: GatherScatterMode,
             indices_are_sorted: bool, unique_indices: bool) -> np.ndarray:
        dn = dimension_numbers
        ndim = operand.ndim
        dropped = set(dn.inserted_window_dims) | set(dn.operand_batching_dims)
        sizes = [1] * ndim
        for u, d in zip(dn.update_window_dims, (d for d in range(ndim) if d not in dropped),
                        strict=False):
            sizes[d] = updates.shape[u]
        starts = _full_starts(operand.shape, indices, dn.scatter_dims_to_operand_dims,
                              dn.operand_batching_dims, dn.scatter_indices_batching_dims)
        upper = np.asarray(operand.shape, np.int64) - np.asarray(sizes, np.int64)
        if mode == GatherScatterMode.CLIP:
            starts = np.clip(starts, 0, np.maximum(upper, 0))
        fits = np.all((starts >= 0) & (starts <= upper), axis=-1)
        scatter_axes = [a for a in range(updates.ndim) if a not in dn.update_window_dims]
        batch_shape = indices.shape[:-1]
        values = np.transpose(updates, scatter_axes + list(dn.update_window_dims))
        values = values.reshape(batch_shape + tuple(sizes))
        coords = _window_index(starts, sizes)
        keep = np.broadcast_to(fits.reshape(batch_shape + (1,) * ndim), values.shape)
        strides = np.cumprod((1,) + operand.shape[::-1])[-2::-1] if ndim else ()
        flat_pos = np.zeros(values.shape, np.int64)
        for c, s in zip(coords, strides, strict=True):
            flat_pos = flat_pos + c * int(s)
        out = operand.copy().reshape(-1)
        combine(out, flat_pos[keep], values[keep])
        return out.reshape(operand.shape)

    return impl


def _set(out: np.ndarray, pos: np.ndarray, values: np.ndarray) -> None:
    out[pos] = values


def _scatter_primitive(name: str, combine: Callable[[np.ndarray, np.ndarray, np.ndarray], None]
                       ) -> Primitive:
    prim = Primitive(name)
    prim.def_abstract_eval(_scatter_abstract)
    prim.def_impl(_scatter_impl(combine))
    return prim


scatter_p = _scatter_primitive("scatter", _set)
scatter_add_p = _scatter_primitive("scatter_add", np.add.at)
scatter_mul_p = _scatter_primitive("scatter_mul", np.multiply.at)
scatter_min_p = _scatter_primitive("scatter_min", np.minimum.at)
scatter_max_p = _scatter_primitive("scatter_max", np.maximum.at)


# --- transform rules ---------------------------------------------------------------------------
# Gather and the scatters are linear in their array operands for fixed indices: gather and
# scatter_add transpose into each other; the overwrite scatter's winner per slot is decided by
# the same scatter of update ids, so duplicates get exactly the cotangent they produced.

def _zero_like(out: Any) -> rules.Zero:
    return rules.Zero(rules.tangent_aval(get_aval(out)))


def _aval(x: Any) -> ShapedArray:
    return x.aval if rules.is_undefined(x) else get_aval(x)


def _shift(dims: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(d + 1 for d in dims)


def _scalar(value: Any, dtype: np.dtype) -> ArrayImpl:
    return ArrayImpl(np.array(value, dtype=dtype))


def _full(shape: tuple[int, ...], value: Any, dtype: np.dtype) -> Any:
    scalar = _scalar(value, dtype)
    if not shape:
        return scalar
    return sh.broadcast_in_dim_p.bind(scalar, shape=shape, broadcast_dimensions=())


def _stack_starts(starts: Sequence[Any], dims: Sequence[int | None], size: int) -> Any:
    """Scalar start indices (some batched) as one ``(size, len(starts))`` index array."""
    cols = [sh.reshape_p.bind(rules.move_axis(s, d, 0, size), new_sizes=(size, 1))
            for s, d in zip(starts, dims, strict=True)]
    return cols[0] if len(cols) == 1 else sh.concatenate_p.bind(*cols, dimension=1)


def _dynamic_slice_jvp(primals: Sequence[Any], tangents: Sequence[Any], *,
                       slice_sizes: tuple[int, ...]) -> tuple[Any, Any]:
    x, *starts = primals
    out = dynamic_slice_p.bind(x, *starts, slice_sizes=slice_sizes)
    if type(tangents[0]) is rules.Zero:
        return out, _zero_like(out)
    return out, dynamic_slice_p.bind(tangents[0], *starts, slice_sizes=slice_sizes)


def _dynamic_slice_transpose(ct: Any, x: Any, *starts: Any, slice_sizes: tuple[int, ...]
                             ) -> list[Any]:
    zeros = rules.zeros_from_aval(rules.tangent_aval(x.aval))
    return [dynamic_update_slice_p.bind(zeros, ct, *starts), *([None] * len(starts))]


def _dynamic_slice_batch(axis: Any, values: Sequence[Any], dims: Sequence[int | None], *,
                         slice_sizes: tuple[int, ...]) -> tuple[Any, int]:
    x, *starts = values
    x = rules.move_axis(x, dims[0], 0, axis.size)
    if all(d is None for d in dims[1:]):
        zero = _scalar(0, get_aval(starts[0]).dtype if starts else dtypes.default_int())
        return dynamic_slice_p.bind(x, zero, *starts, slice_sizes=(axis.size, *slice_sizes)), 0
    n = len(slice_sizes)
    dn = GatherDimensionNumbers(tuple(range(1, n + 1)), (), tuple(range(1, n + 1)), (0,), (0,))
    index = _stack_starts(starts, dims[1:], axis.size)
    return gather_p.bind(x, index, dimension_numbers=dn, slice_sizes=(1, *slice_sizes),
                         mode=GatherScatterMode.CLIP, fill_value=None,
                         indices_are_sorted=False, unique_indices=False), 0


dynamic_slice_p.jvp = _dynamic_slice_jvp
dynamic_slice_p.transpose = _dynamic_slice_transpose
dynamic_slice_p.batch = _dynamic_slice_batch


def _dynamic_update_slice_jvp(primals: Sequence[Any], tangents: Sequence[Any]
                              ) -> tuple[Any, Any]:
    x, update, *starts = primals
    out = dynamic_update_slice_p.bind(x, update, *starts)
    tx, tu = tangents[:2]
    if type(tx) is rules.Zero and type(tu) is rules.Zero:
        return out, _zero_like(out)
    return out, dynamic_update_slice_p.bind(rules.instantiate(tx), rules.instantiate(tu),
                                            *starts)


def _dynamic_update_slice_transpose(ct: Any, x: Any, update: Any, *starts: Any) -> list[Any]:
    shape = _aval(update).shape
    ct_x = ct_u = None
    if rules.is_undefined(x):
        zeros = rules.zeros_from_aval(rules.tangent_aval(_aval(update)))
        ct_x = dynamic_update_slice_p.bind(ct, zeros, *starts)
    if rules.is_undefined(update):
        ct_u = dynamic_slice_p.bind(ct, *starts, slice_sizes=shape)
    return [ct_x, ct_u, *([None] * len(starts))]


def _dynamic_update_slice_batch(axis: Any, values: Sequence[Any], dims: Sequence[int | None]
                                ) -> tuple[Any, int]:
    x, update, *starts = values
    x = rules.move_axis(x, dims[0], 0, axis.size)
    update = rules.move_axis(update, dims[1], 0, axis.size)
    if all(d is None for d in dims[2:]):
        zero = _scalar(0, get_aval(starts[0]).dtype if starts else dtypes.default_int())
        return dynamic_update_slice_p.bind(x, update, zero, *starts), 0
    n = len(starts)
    dn = ScatterDimensionNumbers(tuple(range(1, n + 1)), (), tuple(range(1, n + 1)), (0,), (0,))
    index = _stack_starts(starts, dims[2:], axis.size)
    return scatter_p.bind(x, index, update, dimension_numbers=dn, mode=GatherScatterMode.CLIP,
                          indices_are_sorted=True, unique_indices=True), 0


dynamic_update_slice_p.jvp = _dynamic_update_slice_jvp
dynamic_update_slice_p.transpose = _dynamic_update_slice_transpose
dynamic_update_slice_p.batch = _dynamic_update_slice_batch


def _gather_jvp(primals: Sequence[Any], tangents: Sequence[Any], **params: Any
                ) -> tuple[Any, Any]:
    x, indices = primals
    out = gather_p.bind(x, indices, **params)
    if type(tangents[0]) is rules.Zero:
        return out, _zero_like(out)
    fill = 0 if params["mode"] == GatherScatterMode.FILL_OR_DROP else None
    return out, gather_p.bind(tangents[0], indices, **{**params, "fill_value": fill})


def _gather_transpose(ct: Any, x: Any, indices: Any, *,
                      dimension_numbers: GatherDimensionNumbers, slice_sizes: tuple[int, ...],
                      mode: GatherScatterMode, fill_value: Any, indices_are_sorted: bool,
                      unique_indices: bool) -> list[Any]:
    dn = dimension_numbers
    sdn = ScatterDimensionNumbers(dn.offset_dims, dn.collapsed_slice_dims, dn.start_index_map,
                                  dn.operand_batching_dims, dn.start_indices_batching_dims)
    zeros = rules.zeros_from_aval(rules.tangent_aval(x.aval))
    return [scatter_add_p.bind(zeros, indices, ct, dimension_numbers=sdn, mode=mode,
                               indices_are_sorted=indices_are_sorted,
                               unique_indices=unique_indices), None]


def _gather_batch(axis: Any, values: Sequence[Any], dims: Sequence[int | None], *,
                  dimension_numbers: GatherDimensionNumbers, slice_sizes: tuple[int, ...],
                  **params: Any) -> tuple[Any, int]:
    """Batched operand only: a new window axis; batched indices: a new batch axis of the
    indices, paired with a batching axis of the operand if that is batched too."""
    x, indices = values
    x_dim, i_dim = dims
    dn = dimension_numbers
    if i_dim is None:
        x = rules.move_axis(x, x_dim, 0, axis.size)
        new = GatherDimensionNumbers((0, *_shift(dn.offset_dims)), _shift(dn.collapsed_slice_dims),
                                     _shift(dn.start_index_map), _shift(dn.operand_batching_dims),
                                     dn.start_indices_batching_dims)
        sizes = (axis.size, *slice_sizes)
    elif x_dim is None:
        indices = rules.move_axis(indices, i_dim, 0, axis.size)
        new = dn._replace(offset_dims=_shift(dn.offset_dims),
                          start_indices_batching_dims=_shift(dn.start_indices_batching_dims))
        sizes = slice_sizes
    else:
        x = rules.move_axis(x, x_dim, 0, axis.size)
        indices = rules.move_axis(indices, i_dim, 0, axis.size)
        new = GatherDimensionNumbers(_shift(dn.offset_dims), _shift(dn.collapsed_slice_dims),
                                     _shift(dn.start_index_map),
                                     (0, *_shift(dn.operand_batching_dims)),
                                     (0, *_shift(dn.start_indices_batching_dims)))
        sizes = (1, *slice_sizes)
    return gather_p.bind(x, indices, dimension_numbers=new, slice_sizes=sizes, **params), 0


gather_p.jvp = _gather_jvp
gather_p.transpose = _gather_transpose
gather_p.batch = _gather_batch


def _gather_updates(x: Any, indices: Any, updates_shape: tuple[int, ...],
                    dn: ScatterDimensionNumbers, mode: GatherScatterMode, fill: Any) -> Any:
    """What a scatter with ``dn`` would overwrite, read back from ``x`` in the layout of the
    updates (out-of-bounds windows give ``fill`` unless ``mode`` clips)."""
    dropped = set(dn.inserted_window_dims) | set(dn.operand_batching_dims)
    window = iter(updates_shape[u] for u in dn.update_window_dims)
    sizes = tuple(1 if d in dropped else next(window) for d in range(get_aval(x).ndim))
    gdn = GatherDimensionNumbers(dn.update_window_dims, dn.inserted_window_dims,
                                 dn.scatter_dims_to_operand_dims, dn.operand_batching_dims,
                                 dn.scatter_indices_batching_dims)
    clip = mode == GatherScatterMode.CLIP
    return gather_p.bind(x, indices, dimension_numbers=gdn, slice_sizes=sizes,
                         mode=GatherScatterMode.CLIP if clip else GatherScatterMode.FILL_OR_DROP,
                         fill_value=None if clip else fill, indices_are_sorted=False,
                         unique_indices=False)


def _update_ids(x_aval: ShapedArray, indices: Any, updates_shape: tuple[int, ...],
                params: dict) -> tuple[Any, Any]:
    """``(ids, winners)``: ids numbering the update elements from 1, and the id that a scatter
    of those ids leaves in each slot, read back in the layout of the updates."""
    size = math.prod(updates_shape)
    flat = sh.iota_p.bind(dtype=dtypes.int32, shape=(size,), dimension=0)
    ids = ew.add_p.bind(sh.reshape_p.bind(flat, new_sizes=updates_shape),
                        _full(updates_shape, 1, dtypes.int32))
    slots = scatter_p.bind(_full(x_aval.shape, 0, dtypes.int32), indices, ids, **params)
    winners = _gather_updates(slots, indices, updates_shape, params["dimension_numbers"],
                              params["mode"], 0)
    return ids, winners


def _linear_scatter_jvp(prim: Primitive) -> Callable[..., tuple[Any, Any]]:
    def rule(primals: Sequence[Any], tangents: Sequence[Any], **params: Any) -> tuple[Any, Any]:
        x, indices, updates = primals
        out = prim.bind(x, indices, updates, **params)
        tx, _, tu = tangents
        if type(tx) is rules.Zero and type(tu) is rules.Zero:
            return out, _zero_like(out)
        return out, prim.bind(rules.instantiate(tx), indices, rules.instantiate(tu), **params)

    return rule


def _scatter_add_transpose(ct: Any, x: Any, indices: Any, updates: Any, **params: Any
                           ) -> list[Any]:
    ct_u = None
    if rules.is_undefined(updates):
        ct_u = _gather_updates(ct, indices, _aval(updates).shape, params["dimension_numbers"],
                               params["mode"], 0)
    return [ct if rules.is_undefined(x) else None, None, ct_u]


def _scatter_transpose(ct: Any, x: Any, indices: Any, updates: Any, **params: Any
                       ) -> list[Any]:
    u_aval = _aval(updates)
    ct_x = ct_u = None
    if rules.is_undefined(x):
        zeros = rules.zeros_from_aval(rules.tangent_aval(u_aval))
        ct_x = scatter_p.bind(ct, indices, zeros, **params)
    if rules.is_undefined(updates):
        ct_u = _gather_updates(ct, indices, u_aval.shape, params["dimension_numbers"],
                               params["mode"], 0)
        if not params["unique_indices"]:
            ids, winners = _update_ids(_aval(x), indices, u_aval.shape, params)
            zeros = rules.zeros_from_aval(get_aval(ct_u))
            ct_u = ew.select_n_p.bind(ew.eq_p.bind(ids, winners), zeros, ct_u)
    return [ct_x, None, ct_u]


def _scatter_mul_jvp(primals: Sequence[Any], tangents: Sequence[Any], **params: Any
                     ) -> tuple[Any, Any]:
    x, indices, updates = primals
    out = scatter_mul_p.bind(x, indices, updates, **params)
    tx, _, tu = tangents
    if type(tx) is rules.Zero and type(tu) is rules.Zero:
        return out, _zero_like(out)
    if not params["unique_indices"]:
        raise NotImplementedError("scatter_mul gradients are only implemented with "
                                  "unique_indices=True (as in JAX)")
    t_out = scatter_mul_p.bind(rules.instantiate(tx), indices, updates, **params)
    if type(tu) is not rules.Zero:
        zeros = rules.zeros_from_aval(rules.tangent_aval(get_aval(x)))
        scattered = scatter_p.bind(zeros, indices, tu, **params)
        t_out = ew.add_p.bind(t_out, ew.mul_p.bind(_strong(x), scattered))
    return out, t_out


def _strong(x: Any) -> Any:
    aval = get_aval(x)
    if not aval.weak_type:
        return x
    return ew.convert_element_type_p.bind(x, new_dtype=aval.dtype, weak_type=False)


def _scatter_mul_transpose(ct: Any, x: Any, indices: Any, updates: Any, **params: Any
                           ) -> list[Any]:
    if rules.is_undefined(updates):
        raise NotImplementedError("scatter_mul is not linear in its updates")
    return [scatter_mul_p.bind(ct, indices, updates, **params), None, None]


def _scatter_extremal_jvp(prim: Primitive) -> Callable[..., tuple[Any, Any]]:
    """Tangent of scatter_min/max: the tangent of whoever attains the extreme in each slot,
    averaged over ties (the operand and every update equal to the result)."""

    def rule(primals: Sequence[Any], tangents: Sequence[Any], **params: Any) -> tuple[Any, Any]:
        x, indices, updates = primals
        out = prim.bind(x, indices, updates, **params)
        tx, _, tu = tangents
        if type(tx) is rules.Zero and type(tu) is rules.Zero:
            return out, _zero_like(out)
        tx, tu = rules.instantiate(tx), rules.instantiate(tu)
        aval = rules.tangent_aval(get_aval(out))
        u_shape = get_aval(updates).shape
        at_updates = _gather_updates(out, indices, u_shape, params["dimension_numbers"],
                                     params["mode"], float("nan"))
        x_wins = ew.eq_p.bind(out, x)
        u_wins = ew.eq_p.bind(at_updates, updates)
        zeros_x, zeros_u = rules.zeros_from_aval(aval), rules.zeros_from_aval(get_aval(tu))
        count = ew.add_p.bind(
            _as(x_wins, aval.dtype),
            scatter_add_p.bind(zeros_x, indices, _as(u_wins, aval.dtype), **params))
        total = ew.add_p.bind(
            ew.select_n_p.bind(x_wins, zeros_x, tx),
            scatter_add_p.bind(zeros_x, indices, ew.select_n_p.bind(u_wins, zeros_u, tu),
                               **params))
        return out, ew.div_p.bind(total, count)

    return rule


def _as(x: Any, dtype: np.dtype) -> Any:
    return ew.convert_element_type_p.bind(x, new_dtype=dtype, weak_type=False)


def _scatter_batch(prim: Primitive) -> Callable[..., tuple[Any, int]]:
    """Only the operand batched: the batch becomes a window axis of broadcast updates;
    otherwise it becomes a batching axis of operand and indices."""

    def rule(axis: Any, values: Sequence[Any], dims: Sequence[int | None], *,
             dimension_numbers: ScatterDimensionNumbers, **params: Any) -> tuple[Any, int]:
        x, indices, updates = values
        x_dim, i_dim, u_dim = dims
        dn = dimension_numbers
        x = rules.move_axis(x, x_dim, 0, axis.size)
        updates = rules.move_axis(updates, u_dim, 0, axis.size)
        if i_dim is None and u_dim is None:
            new = ScatterDimensionNumbers(
                (0, *_shift(dn.update_window_dims)), _shift(dn.inserted_window_dims),
                _shift(dn.scatter_dims_to_operand_dims), _shift(dn.operand_batching_dims),
                dn.scatter_indices_batching_dims)
        else:
            indices = rules.move_axis(indices, i_dim, 0, axis.size)
            new = ScatterDimensionNumbers(
                _shift(dn.update_window_dims), _shift(dn.inserted_window_dims),
                _shift(dn.scatter_dims_to_operand_dims), (0, *_shift(dn.operand_batching_dims)),
                (0, *_shift(dn.scatter_indices_batching_dims)))
        return prim.bind(x, indices, updates, dimension_numbers=new, **params), 0

    return rule


scatter_p.jvp = _linear_scatter_jvp(scatter_p)
scatter_p.transpose = _scatter_transpose
scatter_add_p.jvp = _linear_scatter_jvp(scatter_add_p)
scatter_add_p.transpose = _scatter_add_transpose
scatter_mul_p.jvp = _scatter_mul_jvp
scatter_mul_p.transpose = _scatter_mul_transpose
scatter_min_p.jvp = _scatter_extremal_jvp(scatter_min_p)
scatter_max_p.jvp = _scatter_extremal_jvp(scatter_max_p)
for _prim in (scatter_p, scatter_add_p, scatter_mul_p, scatter_min_p, scatter_max_p):
    _prim.batch = _scatter_batch(_prim)
