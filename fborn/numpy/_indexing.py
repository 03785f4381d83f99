"""NumPy indexing with JAX semantics (``x[idx]``, ``x.at[idx].set(v)``...) and the index
functions of ``fborn.numpy`` (take, take_along_axis, nonzero, unravel_index...).

``x[idx]`` uses the cheapest primitive that fits: static ints and slices lower to ``slice`` (+
``rev`` for negative steps) and ``reshape``; traced integer scalars to ``dynamic_slice``;
integer-array (advanced) indices to one ``gather``. Updates through ``x.at[idx]`` always lower to
one scatter. Out-of-bounds indices are clamped by gathers and dropped by scatters, as in JAX.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from fborn.core import dtypes
from fborn.core.array import Array, ArrayImpl
from fborn.core.errors import ConcretizationError, FbornDtypeError, FbornShapeError
from fborn.core.trace import concrete_value, is_concrete
from fborn.lax import _indexing as lix
from fborn.lax import _ops as lax
from fborn.numpy._util import (
    asarray,
    broadcast_shapes,
    broadcast_to,
    canonicalize_axis,
    convert,
    promote_dtypes,
    result_typed,
)
from fborn.primitives import indexing as _ix
from fborn.primitives.indexing import (
    GatherDimensionNumbers,
    GatherScatterMode,
    ScatterDimensionNumbers,
)

__all__ = [
    "argwhere", "compress", "diag_indices", "diag_indices_from", "extract", "flatnonzero",
    "nonzero", "ravel_multi_index", "take", "take_along_axis", "tril_indices",
    "tril_indices_from", "triu_indices", "triu_indices_from", "unravel_index",
]

ArrayLike = Array | np.ndarray | np.generic | bool | int | float


class NonConcreteBooleanIndexError(ConcretizationError, IndexError):
    """A boolean mask used as an index is traced: its number of True entries (hence the shape
    of the result) is unknown while tracing."""


# --- parsing an index expression ---------------------------------------------------------------
# After parsing, every entry but NEW consumes exactly one axis of the operand. A 0-d boolean
# index inserts a size-1 operand axis indexed by arange(0 or 1); a k-d mask becomes k arrays.
_NEW, _SLICE, _INT, _DYN, _ARRAY = range(5)


class _Parsed(NamedTuple):
    items: list[tuple[int, Any]]  # (kind, value); SLICE values are (start, length, step)
    shape: tuple[int, ...]  # the operand's shape, with axes inserted for 0-d boolean indices
    has_array: bool
    insert_at: int  # the item where the advanced axes land (-1 without advanced indices)


def _index_dtype() -> np.dtype:
    return dtypes.default_int()


def _holds_array(seq: Any) -> bool:
    if isinstance(seq, Array):
        return True
    return isinstance(seq, (list, tuple)) and any(_holds_array(e) for e in seq)


def _sequence_index(seq: list | tuple) -> Array | np.ndarray:
    """A list/tuple entry of an index tuple as an array ([] is an empty integer array)."""
    if _holds_array(seq):
        return asarray(seq)
    try:
        arr = np.asarray(seq)
    except ValueError as e:
        raise TypeError(f"cannot use the sequence {seq!r} as an index: {e}") from None
    if arr.size == 0:
        return arr.astype(np.int64)
    return arr


def _classify(entry: Any) -> tuple[str, Any]:
    """One raw index entry as (kind, value): new, ellipsis, slice, mask, int, dyn or array."""
    if entry is None:
        return "new", None
    if entry is Ellipsis:
        return "ellipsis", None
    if isinstance(entry, slice):
        return "slice", entry
    if isinstance(entry, (bool, np.bool_)):
        return "mask", entry
    if isinstance(entry, (int, np.integer)):
        return "int", int(entry)
    if isinstance(entry, (list, tuple)):
        entry = _sequence_index(entry)
    if isinstance(entry, (Array, np.ndarray, np.generic)):
        dt = entry.dtype
        if dt == dtypes.bool_:
            return "mask", entry
        if dt.kind in "iu":
            if np.ndim(entry) > 0:
                return "array", entry
            return ("dyn", entry) if isinstance(entry, Array) else ("int", int(entry))
        raise TypeError(f"Indexer must have integer or boolean type, got indexer with type {dt}")
    if isinstance(entry, (float, complex)):
        raise TypeError(f"Indexer must have integer or boolean type, got indexer with type "
                        f"{type(entry).__name__} ({entry!r})")
    raise IndexError(f"only integers, slices (`:`), ellipsis (`...`), None (newaxis) and "
                     f"integer or boolean arrays are valid indices; got {entry!r}")


def _as_tuple(idx: Any) -> tuple:
    if isinstance(idx, tuple):
        return idx
    if isinstance(idx, Sequence) and not isinstance(idx, (str, bytes)):
        raise TypeError(
            "Using a non-tuple sequence for multidimensional indexing is not allowed (as in "
            "JAX); use `x[tuple(seq)]` for a multidimensional index or `x[fnp.array(seq)]` "
            "for an integer-array index."
        )
    return (idx,)


def _consumed(kind: str, value: Any) -> int:
    if kind in ("new", "ellipsis"):
        return 0
    if kind == "mask":
        return np.ndim(value)
    return 1


def _static_slice_part(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, Array) and not is_concrete(v):
        raise IndexError(f"Slice entries must be static integers, got a traced "
                         f"{v.aval.str_short()}; use fborn.lax.dynamic_slice for traced starts.")
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"slice indices must be integers or None, got {v!r}") from None


def _slice_triple(s: slice, size: int) -> tuple[int, int, int]:
    """``(start, length, step)`` of a static slice on an axis of ``size``."""
    start, stop, step = (_static_slice_part(v) for v in (s.start, s.stop, s.step))
    if step == 0:
        raise ValueError("slice step cannot be zero")
    start, stop, step = slice(start, stop, step).indices(size)
    return start, len(range(start, stop, step)), step


def _mask_value(mask: Any) -> np.ndarray:
    if not is_concrete(mask):
        raise NonConcreteBooleanIndexError(
            f"Array boolean indices must be concrete; got a traced {mask.aval.str_short()}. The "
            f"number of True entries decides the result's shape, which must be static under "
            f"tracing. Use fnp.where(mask, x, other) to select elementwise, or "
            f"fnp.nonzero(mask, size=...) / fnp.argwhere(mask, size=...) for a static-size "
            f"result."
        )
    return concrete_value(mask, "a boolean index").astype(bool)


def _expand(kind: str, value: Any, shape: tuple[int, ...], axis: int, n_fill: int
            ) -> list[tuple[int, Any, int | None]]:
    """The items ``(kind, value, operand axis size or None)`` of one raw entry starting at
    operand ``axis`` (``n_fill`` axes for an ellipsis)."""
    if kind == "new":
        return [(_NEW, None, None)]
    if kind == "ellipsis":
        return [(_SLICE, _slice_triple(slice(None), shape[a]), shape[a])
                for a in range(axis, axis + n_fill)]
    if kind == "mask":
        mask = _mask_value(value)
        if mask.ndim == 0:
            return [(_ARRAY, np.arange(int(mask), dtype=np.int64), 1)]
        expected = shape[axis:axis + mask.ndim]
        if any(m not in (0, e) for m, e in zip(mask.shape, expected, strict=True)):
            raise IndexError(f"boolean index did not match shape of indexed array: got "
                             f"{mask.shape}, expected {expected}")
        return [(_ARRAY, positions, shape[axis + k])
                for k, positions in enumerate(np.nonzero(mask))]
    if kind == "slice":
        value = _slice_triple(value, shape[axis])
    kinds = {"slice": _SLICE, "int": _INT, "dyn": _DYN, "array": _ARRAY}
    return [(kinds[kind], value, shape[axis])]


def _parse(shape: tuple[int, ...], idx: Any) -> _Parsed:
    """Normalize an index expression against an array of ``shape``; raise IndexError or
    TypeError for malformed indices."""
    entries = [_classify(e) for e in _as_tuple(idx)]
    n_ellipsis = sum(kind == "ellipsis" for kind, _ in entries)
    if n_ellipsis > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    n_used = sum(_consumed(kind, value) for kind, value in entries)
    if n_used > len(shape):
        raise IndexError(f"Too many indices: array is {len(shape)}-dimensional, but {n_used} "
                         f"were indexed")
    if not n_ellipsis:
        entries.append(("ellipsis", None))
    items: list[tuple[int, Any]] = []
    op_shape: list[int] = []
    origins: list[int] = []  # the raw entry each item comes from
    axis = 0
    for pos, (kind, value) in enumerate(entries):
        inserted = kind == "mask" and np.ndim(value) == 0  # a new operand axis, not one of x's
        for item_kind, item_value, size in _expand(kind, value, shape, axis, len(shape) - n_used):
            items.append((item_kind, item_value))
            origins.append(pos)
            if size is not None:
                op_shape.append(size)
                axis += not inserted
    has_array = any(kind == _ARRAY for kind, _ in items)
    advanced = [p for p, (kind, _) in enumerate(items)
                if kind == _ARRAY or (has_array and kind in (_INT, _DYN))]
    insert_at = -1
    if advanced:
        raw = sorted({origins[p] for p in advanced})
        insert_at = advanced[0] if raw == list(range(raw[0], raw[-1] + 1)) else 0
    return _Parsed(items, tuple(op_shape), has_array, insert_at)


def _axes_of(parsed: _Parsed) -> list[tuple[int, int, Any]]:
    """``(operand axis, kind, value)`` of every entry that consumes an axis."""
    out = []
    axis = 0
    for kind, value in parsed.items:
        if kind != _NEW:
            out.append((axis, kind, value))
            axis += 1
    return out


def _check_static_ints(parsed: _Parsed) -> None:
    for axis, kind, value in _axes_of(parsed):
        size = parsed.shape[axis]
        if kind == _INT and not -size <= value < size:
            raise IndexError(f"index {value} is out of bounds for axis {axis} with size {size}")


def _check_empty_axes(parsed: _Parsed) -> None:
    for axis, kind, _ in _axes_of(parsed):
        if kind in (_INT, _DYN) and parsed.shape[axis] == 0:
            raise IndexError(f"index is out of bounds for axis {axis} with size 0")


# --- lowering ----------------------------------------------------------------------------------

def _full(shape: Sequence[int], value: Any, dtype: np.dtype, weak: bool = False) -> Array:
    scalar = ArrayImpl(np.array(value, dtype=dtype), weak_type=weak)
    return lax.broadcast_in_dim(scalar, tuple(shape), ()) if len(shape) else scalar


def _wrap_static(value: int | np.ndarray, size: int) -> int | np.ndarray:
    if isinstance(value, np.ndarray):
        return np.where(value < 0, value + size, value) if value.dtype.kind == "i" else value
    return value + size if value < 0 else value


def _normalized(value: Any, size: int) -> Any:
    """A static index (int / numpy array) or a traced one, negative entries wrapped, in the
    index dtype."""
    if isinstance(value, Array):
        return lix.wrap_negative(_as_index(value), size)
    return np.asarray(_wrap_static(value, size), dtype=_index_dtype())


def _as_index(x: Array) -> Array:
    """Integer indices in the default index dtype (so axis sizes fit)."""
    return convert(x, _index_dtype(), False)


def _slice_bounds(start: int, length: int, step: int) -> tuple[int, int, int]:
    """``(lo, hi, stride)`` of a positive-stride lax.slice covering the slice's elements."""
    if length == 0:
        return 0, 0, 1
    if step > 0:
        return start, start + (length - 1) * step + 1, step
    return start + (length - 1) * step, start + 1, -step


def _is_basic(parsed: _Parsed, mode: GatherScatterMode) -> bool:
    """True when no gather is needed: no arrays, and ints need no fill on out-of-bounds."""
    if parsed.has_array:
        return False
    ints = any(kind in (_INT, _DYN) for kind, _ in parsed.items)
    return not (ints and mode == GatherScatterMode.FILL_OR_DROP)


def _basic_take(x: Array, parsed: _Parsed) -> Array:
    """``x[idx]`` for ints, traced scalars, slices, None: slice, rev, dynamic_slice, reshape."""
    starts, limits, strides, reverse = [], [], [], []
    dyn_starts: list[Any] = [0] * x.ndim
    out_shape: list[int] = []
    axis = 0
    for kind, value in parsed.items:
        if kind == _NEW:
            out_shape.append(1)
            continue
        size = x.shape[axis]
        if kind == _SLICE:
            lo, hi, stride = _slice_bounds(*value)
            if value[2] < 0 and value[1] > 1:
                reverse.append(axis)
            out_shape.append(value[1])
        elif kind == _INT:
            i = min(max(_wrap_static(value, size), 0), size - 1)
            lo, hi, stride = i, i + 1, 1
        else:
            lo, hi, stride = 0, size, 1
            dyn_starts[axis] = value
        starts.append(lo)
        limits.append(hi)
        strides.append(stride)
        axis += 1
    y = x
    if starts != [0] * x.ndim or limits != list(x.shape) or any(s != 1 for s in strides):
        y = lax.slice(y, starts, limits, None if all(s == 1 for s in strides) else strides)
    if reverse:
        y = lax.rev(y, reverse)
    if any(isinstance(s, Array) for s in dyn_starts):
        sizes = [1 if isinstance(s, Array) else d for s, d in zip(dyn_starts, y.shape, strict=True)]
        y = lix.dynamic_slice(y, dyn_starts, sizes)
    return lax.reshape(y, out_shape)


class _Plan(NamedTuple):
    """A gather (or, transposed, a scatter) implementing an index expression."""

    operand_shape: tuple[int, ...]
    components: list[tuple[Any, tuple[int, ...]]]  # (index values, their batch axes)
    batch_shape: tuple[int, ...]
    dnums: GatherDimensionNumbers
    slice_sizes: tuple[int, ...]
    gather_shape: tuple[int, ...]  # the gather's output shape
    out_shape: tuple[int, ...]  # with the None axes
    has_advanced: bool
    sorted: bool

    def indices(self) -> Array:
        """The gather indices: ``batch_shape + (len(start_index_map),)``."""
        nb = len(self.batch_shape)
        if all(not isinstance(v, Array) for v, _ in self.components):
            cols = [np.broadcast_to(_placed(v, axes, nb), self.batch_shape)
                    for v, axes in self.components]
            stacked = np.stack(cols, axis=-1) if cols else np.zeros(self.batch_shape + (0,))
            return ArrayImpl(stacked.astype(_index_dtype()))
        cols = []
        for v, axes in self.components:
            arr = v if isinstance(v, Array) else ArrayImpl(v)
            col = lax.broadcast_in_dim(arr, self.batch_shape, axes)
            cols.append(lax.reshape(col, self.batch_shape + (1,)))
        return lax.concatenate(cols, nb)


def _placed(value: np.ndarray, axes: tuple[int, ...], nb: int) -> np.ndarray:
    """``value`` reshaped so its axes sit at batch positions ``axes`` (size 1 elsewhere)."""
    shape = [1] * nb
    for size, axis in zip(np.shape(value), axes, strict=True):
        shape[axis] = size
    return np.reshape(value, shape)


def _plan(parsed: _Parsed) -> _Plan:
    """The gather for an index expression with arrays (or ints that must go through gather).

    Advanced indices (arrays, and ints when arrays are present) broadcast together; their axes
    land where the first one stood if they are adjacent, else first (numpy's rule). Unit-step
    slices become windows, other slices index arrays of their own.
    """
    shape = parsed.shape
    entries = list(enumerate(parsed.items))
    advanced = [p for p, (kind, _) in entries
                if kind == _ARRAY or (parsed.has_array and kind in (_INT, _DYN))]
    adv_shape = _broadcast_index_shapes([parsed.items[p][1] for p in advanced])
    adv_axes: tuple[int, ...] = ()
    slots: list[tuple[str, int]] = []
    components: list[tuple[Any, tuple[int, ...]]] = []
    index_map, collapsed, sizes = [], [], []
    n_batch = 0
    is_sorted = not advanced
    axis = 0
    for p, (kind, value) in entries:
        if p == parsed.insert_at:
            adv_axes = tuple(range(n_batch, n_batch + len(adv_shape)))
            slots += [("batch", s) for s in adv_shape]
            n_batch += len(adv_shape)
        if kind == _NEW:
            slots.append(("new", 1))
            continue
        size = shape[axis]
        if kind == _SLICE and value[2] == 1:
            slots.append(("window", value[1]))
            sizes.append(value[1])
            if value[1] != size:
                components.append((np.asarray(value[0], _index_dtype()), ()))
                index_map.append(axis)
        else:
            if kind == _SLICE:
                start, length, step = value
                positions = start + step * np.arange(length)
                components.append((positions.astype(_index_dtype()), (n_batch,)))
                slots.append(("batch", length))
                n_batch += 1
                is_sorted = is_sorted and step > 0
            else:
                v = _normalized(value, size)
                nd = np.ndim(v) if not isinstance(v, Array) else v.ndim
                axes = adv_axes[len(adv_axes) - nd:] if p in advanced else ()
                components.append((v, axes))
            index_map.append(axis)
            collapsed.append(axis)
            sizes.append(1)
        axis += 1
    gather_slots = [s for s in slots if s[0] != "new"]
    dnums = GatherDimensionNumbers(
        offset_dims=tuple(i for i, s in enumerate(gather_slots) if s[0] == "window"),
        collapsed_slice_dims=tuple(sorted(collapsed)),
        start_index_map=tuple(index_map),
    )
    return _Plan(
        operand_shape=shape, components=components,
        batch_shape=tuple(s for kind, s in slots if kind == "batch"), dnums=dnums,
        slice_sizes=tuple(sizes), gather_shape=tuple(s for _, s in gather_slots),
        out_shape=tuple(s for _, s in slots), has_advanced=bool(advanced), sorted=is_sorted,
    )


def _broadcast_index_shapes(indices: list[Any]) -> tuple[int, ...]:
    shapes = [v.shape if isinstance(v, Array) else np.shape(v) for v in indices]
    try:
        return broadcast_shapes(*shapes)
    except FbornShapeError:
        raise IndexError(f"shape mismatch: indexing arrays could not be broadcast together "
                         f"with shapes {', '.join(map(str, shapes))}") from None


def _check_gather_axes(plan: _Plan) -> None:
    for axis in plan.dnums.collapsed_slice_dims:
        if plan.operand_shape[axis] == 0:
            raise IndexError(f"index is out of bounds for axis {axis} with size 0")


def _fill_scalar(fill_value: Any) -> Any:
    if fill_value is None:
        return None
    value = concrete_value(fill_value, "fill_value of an indexed get()")
    if value.ndim != 0:
        raise ValueError(f"fill_value of an indexed get() must be a scalar, got shape "
                         f"{value.shape}")
    return value.item()


def _rewriting_take(x: ArrayLike, idx: Any, *, mode: str | GatherScatterMode | None = None,
                    fill_value: Any = None, indices_are_sorted: bool = False,
                    unique_indices: bool = False, check_static: bool = False) -> Array:
    arr = asarray(x)
    parsed = _parse(arr.shape, idx)
    gmode = GatherScatterMode.CLIP if mode is None else GatherScatterMode.from_any(mode)
    if check_static and mode is None:
        _check_static_ints(parsed)
    _check_empty_axes(parsed)
    if _is_basic(parsed, gmode):
        return _basic_take(arr, parsed)
    plan = _plan(parsed)
    if math.prod(plan.gather_shape) == 0:
        return _full(plan.out_shape, 0, arr.dtype, arr.weak_type)
    _check_gather_axes(plan)
    out = lix.gather(
        lax.reshape(arr, plan.operand_shape), plan.indices(), plan.dnums, plan.slice_sizes,
        unique_indices=unique_indices or not plan.has_advanced,
        indices_are_sorted=indices_are_sorted or plan.sorted, mode=gmode,
        fill_value=_fill_scalar(fill_value),
    )
    return lax.reshape(out, plan.out_shape)


def getitem(x: ArrayLike, idx: Any) -> Array:
    """``x[idx]`` with NumPy's basic and advanced indexing and JAX's semantics.

    ``idx`` may hold ints, slices (static, any step), None, Ellipsis, integer arrays (fborn,
    numpy, or lists inside a tuple; negative entries wrap; advanced indices broadcast and are
    placed by NumPy's rule), traced integer scalars, and concrete boolean masks. Out-of-bounds
    array or traced indices are clamped. Deviation from JAX (which clamps them too): a static
    int out of range raises IndexError, as in NumPy; ``x.at[i].get()`` clamps.

    Raises IndexError (too many indices, several ellipses, bad mask shape, traced slice
    bounds), TypeError (float indices, a non-tuple list as the whole index) and
    NonConcreteBooleanIndexError for a traced boolean mask.
    """
    return _rewriting_take(x, idx, check_static=True)


def _scatter_update(x: ArrayLike, idx: Any, values: ArrayLike, prim: Any, *,
                    mode: str | GatherScatterMode | None, indices_are_sorted: bool,
                    unique_indices: bool, negate: bool = False) -> Array:
    """``x`` with ``x[idx] (op)= values`` applied by the scatter primitive ``prim``."""
    arr = asarray(x)
    if (isinstance(values, int) and not isinstance(values, bool) and dtypes.is_int(arr.dtype)
            and np.iinfo(arr.dtype).min <= values <= np.iinfo(arr.dtype).max):
        values = asarray(values, arr.dtype)
    values = asarray(values)
    parsed = _parse(arr.shape, idx)
    _check_empty_axes(parsed)
    plan = _plan(parsed)
    if math.prod(plan.out_shape) == 0:
        return arr
    _check_gather_axes(plan)
    operand, upd = promote_dtypes(arr, values)
    upd = lax.reshape(broadcast_to(upd, plan.out_shape), plan.gather_shape)
    if negate:
        upd = lax.neg(upd)
    dn = ScatterDimensionNumbers(
        update_window_dims=plan.dnums.offset_dims,
        inserted_window_dims=plan.dnums.collapsed_slice_dims,
        scatter_dims_to_operand_dims=plan.dnums.start_index_map,
    )
    out = prim.bind(
        lax.reshape(operand, plan.operand_shape), plan.indices(), upd, dimension_numbers=dn,
        mode=GatherScatterMode.from_any(mode),
        indices_are_sorted=bool(indices_are_sorted or plan.sorted),
        unique_indices=bool(unique_indices or not plan.has_advanced),
    )
    return convert(lax.reshape(out, arr.shape), arr.dtype, arr.weak_type)


class IndexUpdateHelper:
    """``x.at``: ``x.at[idx]`` gives an ``IndexUpdateRef`` whose methods return updated copies.

    Attach as ``Array.at = property(IndexUpdateHelper)``.
    """

    __slots__ = ("array",)

    def __init__(self, array: ArrayLike):
        self.array = array

    def __getitem__(self, index: Any) -> IndexUpdateRef:
        return IndexUpdateRef(self.array, index)

    def __repr__(self) -> str:
        return f"IndexUpdateHelper({self.array!r})"


class IndexUpdateRef:
    """An array and an index; ``get``/``set``/``add``... are pure ``x[idx] op= v``.

    Values are promoted with ``x``, broadcast to the shape of ``x[idx]`` and the result is cast
    back to ``x``'s dtype. Repeated indices accumulate for add/multiply/min/max; for ``set``
    one of the values wins. ``mode``: None/'drop'/'fill' drop out-of-bounds updates, 'clip'
    clamps them, 'promise_in_bounds' drops them. Negative indices wrap.
    """

    __slots__ = ("array", "index")

    def __init__(self, array: ArrayLike, index: Any):
        self.array = array
        self.index = index

    def __repr__(self) -> str:
        return f"IndexUpdateRef({self.array!r}, {self.index!r})"

    def get(self, *, indices_are_sorted: bool = False, unique_indices: bool = False,
            mode: str | GatherScatterMode | None = None, fill_value: Any = None) -> Array:
        """``x[idx]``; out-of-bounds indices clamp (mode None/'clip') or give ``fill_value``
        (mode 'fill'; default NaN for floats, the dtype's min/max for signed/unsigned ints)."""
        return _rewriting_take(self.array, self.index, mode=mode, fill_value=fill_value,
                               indices_are_sorted=indices_are_sorted,
                               unique_indices=unique_indices)

    def _update(self, values: ArrayLike, prim: Any, mode: str | GatherScatterMode | None,
                indices_are_sorted: bool, unique_indices: bool, negate: bool = False) -> Array:
        return _scatter_update(self.array, self.index, values, prim, mode=mode, negate=negate,
                               indices_are_sorted=indices_are_sorted,
                               unique_indices=unique_indices)

    def set(self, values: ArrayLike, *, indices_are_sorted: bool = False,
            unique_indices: bool = False, mode: str | GatherScatterMode | None = None) -> Array:
        """Pure ``x[idx] = values``."""
        return self._update(values, _ix.scatter_p, mode, indices_are_sorted, unique_indices)

    def add(self, values: ArrayLike, *, indices_are_sorted: bool = False,
            unique_indices: bool = False, mode: str | GatherScatterMode | None = None) -> Array:
        """Pure ``x[idx] += values`` (repeated indices accumulate)."""
        return self._update(values, _ix.scatter_add_p, mode, indices_are_sorted, unique_indices)

    def subtract(self, values: ArrayLike, *, indices_are_sorted: bool = False,
                 unique_indices: bool = False, mode: str | GatherScatterMode | None = None
                 ) -> Array:
        """Pure ``x[idx] -= values`` (repeated indices accumulate)."""
        return self._update(values, _ix.scatter_add_p, mode, indices_are_sorted,
                            unique_indices, negate=True)

    def multiply(self, values: ArrayLike, *, indices_are_sorted: bool = False,
                 unique_indices: bool = False, mode: str | GatherScatterMode | None = None
                 ) -> Array:
        """Pure ``x[idx] *= values`` (repeated indices accumulate)."""
        return self._update(values, _ix.scatter_mul_p, mode, indices_are_sorted, unique_indices)

    mul = multiply

    def _ones_scattered(self, values: ArrayLike, mode: str | GatherScatterMode | None,
                        indices_are_sorted: bool, unique_indices: bool) -> tuple[Array, Array]:
        """``x`` and a ones array multiplied by ``values`` at ``idx``."""
        arr = asarray(self.array)
        ones = IndexUpdateRef(_full(arr.shape, 1, arr.dtype, arr.weak_type), self.index)
        return arr, ones._update(values, _ix.scatter_mul_p, mode, indices_are_sorted,
                                 unique_indices)

    def divide(self, values: ArrayLike, *, indices_are_sorted: bool = False,
               unique_indices: bool = False, mode: str | GatherScatterMode | None = None
               ) -> Array:
        """Pure ``x[idx] /= values`` (true division: integer ``x`` gives a float result)."""
        from fborn.numpy import _ufuncs

        x, factors = self._ones_scattered(values, mode, indices_are_sorted, unique_indices)
        return _ufuncs.divide(x, factors)

    def power(self, values: ArrayLike, *, indices_are_sorted: bool = False,
              unique_indices: bool = False, mode: str | GatherScatterMode | None = None
              ) -> Array:
        """Pure ``x[idx] **= values``."""
        from fborn.numpy import _ufuncs

        x, exponents = self._ones_scattered(values, mode, indices_are_sorted, unique_indices)
        return _ufuncs.power(x, exponents)

    def min(self, values: ArrayLike, *, indices_are_sorted: bool = False,  # noqa: A003
            unique_indices: bool = False, mode: str | GatherScatterMode | None = None) -> Array:
        """Pure ``x[idx] = minimum(x[idx], values)``."""
        return self._update(values, _ix.scatter_min_p, mode, indices_are_sorted, unique_indices)

    def max(self, values: ArrayLike, *, indices_are_sorted: bool = False,  # noqa: A003
            unique_indices: bool = False, mode: str | GatherScatterMode | None = None) -> Array:
        """Pure ``x[idx] = maximum(x[idx], values)``."""
        return self._update(values, _ix.scatter_max_p, mode, indices_are_sorted, unique_indices)


# --- index functions ---------------------------------------------------------------------------

def _int_array(x: ArrayLike, what: str) -> Array:
    arr = asarray(x)
    if not dtypes.is_int(arr.dtype):
        raise FbornDtypeError(f"{what} must have an integer dtype, got {arr.aval.str_short()}")
    return arr


def _ravel(x: Array) -> Array:
    return lax.reshape(x, (x.size,))


def _floor_divmod(x: Array, divisor: int) -> tuple[Array, Array]:
    """Floor division and modulo of an integer array by a static positive int."""
    q, r = lax.div(x, divisor), lax.rem(x, divisor)
    if x.dtype.kind != "i":
        return q, r
    negative = lax.lt(r, 0)
    return lax.select(negative, lax.sub(q, 1), q), lax.select(negative, lax.add(r, divisor), r)


def take(a: ArrayLike, indices: ArrayLike, axis: int | None = None, out: None = None,
         mode: str | None = None, unique_indices: bool = False,
         indices_are_sorted: bool = False, fill_value: Any = None) -> Array:
    """Elements of ``a`` at ``indices`` along ``axis`` (of the flattened ``a`` if None).

    Result shape: ``a.shape[:axis] + indices.shape + a.shape[axis+1:]``. ``mode``: None/'fill'
    (negative indices wrap; out-of-bounds give ``fill_value``, NaN for floats), 'clip',
    'wrap'. 'raise' is not supported (NotImplementedError), as in JAX.
    """
    if out is not None:
        raise NotImplementedError("The 'out' argument to take is not supported.")
    arr = asarray(a)
    idx = _int_array(indices, "take indices")
    if axis is None:
        arr, ax = _ravel(arr), 0
    else:
        ax = canonicalize_axis(axis, arr.ndim)
    size = arr.shape[ax]
    out_shape = arr.shape[:ax] + idx.shape + arr.shape[ax + 1:]
    if mode is None or mode == "fill":
        gmode = GatherScatterMode.FILL_OR_DROP
    elif mode == "clip":
        gmode = GatherScatterMode.CLIP
    elif mode == "wrap":
        gmode = GatherScatterMode.PROMISE_IN_BOUNDS
    elif mode == "raise":
        raise NotImplementedError("The 'raise' mode of take is not supported (fborn cannot "
                                  "raise from inside a computation); use 'fill', 'clip' or "
                                  "'wrap'.")
    else:
        raise ValueError(f"Invalid mode {mode!r} for take; expected 'fill', 'clip' or 'wrap'")
    if size == 0 and idx.size:
        raise IndexError("Cannot do a non-empty take() from an empty axis.")
    if math.prod(out_shape) == 0:
        return _full(out_shape, 0, arr.dtype, arr.weak_type)
    idx = _as_index(idx)
    if gmode == GatherScatterMode.FILL_OR_DROP:
        idx = lix.wrap_negative(idx, size)
    elif mode == "wrap":
        idx = _floor_divmod(idx, size)[1]
    sizes = list(arr.shape)
    sizes[ax] = 1
    dnums = GatherDimensionNumbers(
        offset_dims=tuple(range(ax)) + tuple(range(ax + idx.ndim, arr.ndim + idx.ndim - 1)),
        collapsed_slice_dims=(ax,), start_index_map=(ax,),
    )
    return lix.gather(arr, lax.reshape(idx, idx.shape + (1,)), dnums, sizes, mode=gmode,
                      fill_value=fill_value, unique_indices=unique_indices,
                      indices_are_sorted=indices_are_sorted)


def take_along_axis(arr: ArrayLike, indices: ArrayLike, axis: int | None = -1,
                    mode: str | GatherScatterMode | None = None, fill_value: Any = None, *,
                    wrap_negative_indices: bool | None = None) -> Array:
    """``arr`` indexed along ``axis`` by ``indices`` of the same rank (other axes broadcast).

    Negative indices wrap (unless ``mode='promise_in_bounds'`` or
    ``wrap_negative_indices=False``); out-of-bounds give ``fill_value`` (mode None/'fill'; NaN
    for floats) or clamp ('clip'). ``axis=None`` takes from the flattened ``arr`` with 1-D
    ``indices``. Raises ValueError for rank mismatches, FbornShapeError for non-broadcastable
    shapes.
    """
    a = asarray(arr)
    idx = _int_array(indices, "take_along_axis indices")
    if axis is None:
        if idx.ndim != 1:
            raise ValueError(f"take_along_axis indices must be 1-D if axis=None, got shape "
                             f"{idx.shape}")
        a, axis = _ravel(a), 0
    if a.ndim != idx.ndim:
        raise ValueError(f"indices and arr must have the same number of dimensions; "
                         f"{idx.ndim} vs. {a.ndim}")
    ax = canonicalize_axis(axis, a.ndim)
    size = a.shape[ax]
    out_shape = broadcast_shapes(idx.shape, a.shape[:ax] + (1,) + a.shape[ax + 1:])
    if size == 0 or math.prod(out_shape) == 0:
        return _full(out_shape, 0, a.dtype, a.weak_type)
    if wrap_negative_indices is None:
        wrap_negative_indices = mode != "promise_in_bounds"
    idx = _as_index(idx)
    if wrap_negative_indices:
        idx = lix.wrap_negative(idx, size)
    gmode = GatherScatterMode.FILL_OR_DROP if mode is None else GatherScatterMode.from_any(mode)
    return _along_axis_gather(a, idx, ax, gmode, fill_value)


def _along_axis_gather(a: Array, idx: Array, ax: int, mode: GatherScatterMode,
                       fill_value: Any) -> Array:
    """Axes where ``idx`` has size 1 become full windows, axes where ``a`` has size 1 are
    dropped from ``a``, the others are batching axes."""
    kept_idx, kept_a = [], []
    offset, batch_a, batch_i, sizes = [], [], [], []
    for i in range(a.ndim):
        if i != ax and idx.shape[i] == 1:
            offset.append(i)
            kept_a.append(i)
            sizes.append(a.shape[i])
            continue
        if i == ax or a.shape[i] != 1:
            if i != ax:
                batch_a.append(len(kept_a))
                batch_i.append(len(kept_idx))
            kept_a.append(i)
            sizes.append(1)
        kept_idx.append(i)
    operand = lax.reshape(a, tuple(a.shape[i] for i in kept_a))
    index = lax.reshape(idx, tuple(idx.shape[i] for i in kept_idx) + (1,))
    dnums = GatherDimensionNumbers(
        offset_dims=tuple(offset), collapsed_slice_dims=(kept_a.index(ax),),
        start_index_map=(kept_a.index(ax),), operand_batching_dims=tuple(batch_a),
        start_indices_batching_dims=tuple(batch_i),
    )
    return lix.gather(operand, index, dnums, sizes, mode=mode, fill_value=fill_value)


def _static_size(size: Any, count: Array, what: str) -> int:
    if size is not None:
        return operator.index(size)
    try:
        return int(concrete_value(count, what))
    except ConcretizationError as e:
        raise ConcretizationError(
            f"The size argument of {what} must be statically specified to use it under "
            f"tracing (make_jaxpr, jit, vmap...): pass size=... ({e})"
        ) from None


def nonzero(a: ArrayLike, *, size: int | None = None,
            fill_value: ArrayLike | tuple[ArrayLike, ...] | None = None) -> tuple[Array, ...]:
    """Indices of the nonzero entries of ``a`` (one int array per axis, row-major order).

    With ``size`` the result has exactly ``size`` entries: extra ones are dropped, missing ones
    are ``fill_value`` (default 0; a scalar or one per axis). Without ``size``, ``a`` must be
    concrete (ConcretizationError under tracing). 0-d ``a`` raises ValueError.
    """
    arr = asarray(a)
    if arr.ndim == 0:
        raise ValueError("Calling nonzero on 0d arrays is not allowed. Use "
                         "fnp.atleast_1d(scalar).nonzero() instead.")
    mask = _ravel(arr if arr.dtype == dtypes.bool_ else lax.ne(arr, 0))
    counts = lax.convert_element_type(mask, _index_dtype())
    total = lax.reduce_sum(counts, (0,))
    n = _static_size(size, total, "nonzero")
    if arr.size == 0 or n == 0:
        coords = [_full((n,), 0, _index_dtype()) for _ in arr.shape]
    else:
        coords = _true_positions(mask, counts, n, arr.shape)
    if fill_value is None:
        return tuple(coords)
    fills = fill_value if isinstance(fill_value, tuple) else (fill_value,) * arr.ndim
    if len(fills) != arr.ndim or any(np.ndim(f) != 0 for f in fills):
        raise ValueError(f"fill_value must be a scalar or a tuple of length {arr.ndim}; got "
                         f"{fill_value}")
    padding = lax.ge(lax.iota(_index_dtype(), n), lax.broadcast_in_dim(total, (n,), ()))
    return tuple(lax.select(padding, broadcast_to(convert(asarray(f), c.dtype, False), (n,)), c)
                 for f, c in zip(fills, coords, strict=True))


def _true_positions(mask: Array, counts: Array, n: int, shape: tuple[int, ...]) -> list[Array]:
    """Coordinates (one array per axis of ``shape``) of the first ``n`` true entries of the
    flat ``mask``, zeros past the last one: a scatter of positions to their rank."""
    target = lax.select(mask, lax.sub(lax.cumsum(counts), 1), n)
    flat = lix.scatter(
        _full((n,), 0, _index_dtype()), lax.reshape(target, (mask.size, 1)),
        lax.iota(_index_dtype(), mask.size),
        ScatterDimensionNumbers(update_window_dims=(), inserted_window_dims=(0,),
                                scatter_dims_to_operand_dims=(0,)),
        mode=GatherScatterMode.FILL_OR_DROP, unique_indices=True, indices_are_sorted=True,
    )
    strides = np.cumprod((1,) + shape[::-1])[-2::-1]
    return [lax.rem(lax.div(flat, int(s)), d) for s, d in zip(strides, shape, strict=True)]


def flatnonzero(a: ArrayLike, *, size: int | None = None,
                fill_value: ArrayLike | None = None) -> Array:
    """Indices of the nonzero entries of the flattened ``a`` (``size``/``fill_value`` as in
    ``nonzero``)."""
    return nonzero(_ravel(asarray(a)), size=size, fill_value=fill_value)[0]


def argwhere(a: ArrayLike, *, size: int | None = None,
             fill_value: ArrayLike | None = None) -> Array:
    """Indices of the nonzero entries, one row per entry: shape ``(count or size, a.ndim)``."""
    arr = asarray(a)
    if arr.ndim == 0:
        (col,) = nonzero(lax.reshape(arr, (1,)), size=size, fill_value=fill_value)
        return _full((col.shape[0], 0), 0, col.dtype)
    cols = nonzero(arr, size=size, fill_value=fill_value)
    return lax.concatenate([lax.reshape(c, (c.shape[0], 1)) for c in cols], 1)


def diag_indices(n: int, ndim: int = 2) -> tuple[Array, ...]:
    """``ndim`` copies of ``arange(n)``: the indices of the main diagonal of an n^ndim array."""
    n, ndim = operator.index(n), operator.index(ndim)
    if n < 0 or ndim < 0:
        raise ValueError(f"n and ndim of diag_indices must be non-negative, got {n}, {ndim}")
    return (lax.iota(_index_dtype(), n),) * ndim


def diag_indices_from(arr: ArrayLike) -> tuple[Array, ...]:
    """``diag_indices`` for a square ``arr`` (all axes equal, rank >= 2; else ValueError)."""
    shape = np.shape(arr) if not isinstance(arr, Array) else arr.shape
    if len(shape) < 2 or len(set(shape)) != 1:
        raise ValueError(f"diag_indices_from needs an array of rank >= 2 with equal axes, got "
                         f"shape {shape}")
    return diag_indices(shape[0], len(shape))


def _static_indices(pair: tuple[np.ndarray, np.ndarray]) -> tuple[Array, Array]:
    return asarray(pair[0]), asarray(pair[1])


def tril_indices(n: int, k: int = 0, m: int | None = None) -> tuple[Array, Array]:
    """Row and column indices of the lower triangle (diagonal offset ``k``) of an n x m
    array."""
    return _static_indices(np.tril_indices(operator.index(n), operator.index(k),
                                           None if m is None else operator.index(m)))


def triu_indices(n: int, k: int = 0, m: int | None = None) -> tuple[Array, Array]:
    """Row and column indices of the upper triangle (diagonal offset ``k``) of an n x m
    array."""
    return _static_indices(np.triu_indices(operator.index(n), operator.index(k),
                                           None if m is None else operator.index(m)))


def _shape2(arr: Any, name: str) -> tuple[int, int]:
    shape = arr.shape if isinstance(arr, Array) else np.shape(arr)
    if len(shape) != 2:
        raise ValueError(f"{name} needs a 2-D array, got shape {tuple(shape)}")
    return shape[0], shape[1]


def tril_indices_from(arr: ArrayLike, k: int = 0) -> tuple[Array, Array]:
    """``tril_indices`` for the shape of the 2-D ``arr``."""
    n, m = _shape2(arr, "tril_indices_from")
    return tril_indices(n, k, m)


def triu_indices_from(arr: ArrayLike, k: int = 0) -> tuple[Array, Array]:
    """``triu_indices`` for the shape of the 2-D ``arr``."""
    n, m = _shape2(arr, "triu_indices_from")
    return triu_indices(n, k, m)


def unravel_index(indices: ArrayLike, shape: Sequence[int]) -> tuple[Array, ...]:
    """Flat indices into a ``shape`` array -> one coordinate array per axis.

    As in JAX (unlike NumPy), negative indices count from the end and out-of-bounds indices
    are clipped.
    """
    rest = _int_array(indices, "unravel_index indices")
    dims = [operator.index(d) for d in np.atleast_1d(np.asarray(shape, dtype=object))]
    coords: list[Array] = [rest] * len(dims)
    for i in reversed(range(len(dims))):
        rest, coords[i] = _floor_divmod(rest, dims[i])
    if rest.dtype.kind == "i":
        coords = [lax.select(lax.lt(rest, -1), 0, c) for c in coords]
    too_high = lax.gt(rest, 0)
    return tuple(lax.select(too_high, d - 1, c) for d, c in zip(dims, coords, strict=True))


def ravel_multi_index(multi_index: Sequence[ArrayLike], dims: Sequence[int], mode: str = "raise",
                      order: str = "C", *, dtype: Any = None) -> Array:
    """Flat indices of the coordinates ``multi_index`` into an array of shape ``dims``.

    ``mode``: 'raise' (needs concrete indices; ValueError if out of bounds), 'clip', 'wrap'
    or 'ignore'. ``order``: 'C' (row-major) or 'F'.
    """
    if len(multi_index) != len(dims):
        raise ValueError(f"ravel_multi_index: got {len(multi_index)} index arrays for "
                         f"{len(dims)} dims")
    dims = tuple(operator.index(d) for d in dims)
    arrays = [_int_array(i, "ravel_multi_index indices") for i in multi_index]
    dt = result_typed(0, *arrays)[0] if dtype is None else dtypes.canonicalize(dtype)
    if not dtypes.is_int(dt):
        raise ValueError(f"dtype={dt} is not an integer type")
    if math.prod(dims) - 1 > np.iinfo(dt).max:
        raise ValueError(f"ravel_multi_index: dtype={dt} cannot hold flat indices for "
                         f"dims={dims}; pass a larger dtype")
    if mode == "raise":
        bad = [lax.reduce_or(_ravel(lax.bitwise_or(lax.lt(i, 0), lax.ge(i, d))), (0,))
               for i, d in zip(arrays, dims, strict=True)]
        what = "the indices of ravel_multi_index(mode='raise'); use mode='wrap' or 'clip'"
        if any(bool(concrete_value(b, what)) for b in bad):
            raise ValueError("invalid entry in coordinates array")
    elif mode == "clip":
        arrays = [lax.clamp(0, i, d - 1) for i, d in zip(arrays, dims, strict=True)]
    elif mode == "wrap":
        arrays = [_floor_divmod(i, d)[1] for i, d in zip(arrays, dims, strict=True)]
    elif mode != "ignore":
        raise ValueError(f"invalid mode={mode!r}; expected 'raise', 'wrap', 'clip' or 'ignore'")
    if order not in ("C", "F"):
        raise ValueError(f"invalid order={order!r}; expected 'C' or 'F'")
    steps = (np.cumprod((1,) + dims[::-1])[-2::-1] if order == "C"
             else np.cumprod((1,) + dims)[:-1])
    shape = broadcast_shapes(*(i.shape for i in arrays))
    result = _full(shape, 0, dt)
    for i, s in zip(arrays, steps, strict=True):
        result = lax.add(result, lax.mul(broadcast_to(convert(i, dt, False), shape), int(s)))
    return result


def compress(condition: ArrayLike, a: ArrayLike, axis: int | None = None, *,
             size: int | None = None, fill_value: ArrayLike = 0, out: None = None) -> Array:
    """The slices of ``a`` along ``axis`` (flattened ``a`` if None) where the 1-D
    ``condition`` is true; entries of ``condition`` past the axis must be false.

    With ``size`` the result has ``size`` slices, padded with ``fill_value``; without it the
    condition must be concrete.
    """
    if out is not None:
        raise NotImplementedError("The 'out' argument to compress is not supported.")
    cond = asarray(condition)
    cond = cond if cond.dtype == dtypes.bool_ else lax.ne(cond, 0)
    if cond.ndim != 1:
        raise ValueError(f"condition must be a 1-D array, got shape {cond.shape}")
    arr = asarray(a)
    if axis is None:
        arr, ax = _ravel(arr), 0
    else:
        ax = canonicalize_axis(axis, arr.ndim)
    n = min(cond.shape[0], arr.shape[ax])
    extra = lax.slice_in_dim(cond, n, cond.shape[0])
    cond = lax.slice_in_dim(cond, 0, n)
    arr = lax.slice_in_dim(arr, 0, n, axis=ax)
    if size is None:
        if extra.size and bool(concrete_value(lax.reduce_or(extra, (0,)), "condition")):
            raise ValueError("condition contains entries that are out of bounds")
        return take(arr, nonzero(cond)[0], axis=ax, mode="clip")
    size = operator.index(size)
    if not 0 <= size <= n:
        raise ValueError(f"size must be non-negative and not greater than the size of the array "
                         f"axis; got size={size} for a.shape[axis]={n}")
    (where,) = nonzero(cond, size=size, fill_value=n)
    taken = take(arr, where, axis=ax, mode="clip")
    keep = lax.broadcast_in_dim(lax.lt(where, n), taken.shape, (ax,))
    filler = broadcast_to(convert(asarray(fill_value), arr.dtype, False), taken.shape)
    return lax.select(keep, taken, filler)


def extract(condition: ArrayLike, arr: ArrayLike, *, size: int | None = None,
            fill_value: ArrayLike = 0) -> Array:
    """The elements of the flattened ``arr`` where the flattened ``condition`` is true."""
    return compress(_ravel(asarray(condition)), _ravel(asarray(arr)), size=size,
                    fill_value=fill_value)
