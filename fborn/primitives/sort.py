"""Sorting primitives: ``sort`` (lexicographic, several operands) and ``top_k``.

``sort`` orders operands of equal shape along ``dimension`` by their first ``num_keys`` operands
(lexicographically); the remaining operands are carried along, so ``argsort`` is
``sort((keys, iota), num_keys=1)[1]``. Float keys follow JAX's order: -0.0 and 0.0 compare equal
and every NaN (whatever its sign) sorts after +inf. ``top_k`` uses the IEEE total order instead
(-NaN < -inf < ... < -0.0 < 0.0 < ... < inf < NaN), as XLA's TopK does.
"""

from __future__ import annotations

import numpy as np

from fborn.core import dtypes
from fborn.core.aval import ShapedArray
from fborn.core.errors import FbornShapeError
from fborn.core.primitive import Primitive
from fborn.primitives._checks import check_dtype_kind, check_same_shapes, shapes_str

sort_p = Primitive("sort", multiple_results=True)
top_k_p = Primitive("top_k", multiple_results=True)

_SIGNED_OF_WIDTH = {2: np.int16, 4: np.int32, 8: np.int64}


def total_order_key(x: np.ndarray) -> np.ndarray:
    """Integers ordered as the IEEE total order of float ``x`` (ints and bools pass through)."""
    if not dtypes.is_float(x.dtype):
        return x.astype(np.uint8) if x.dtype == np.bool_ else x
    signed = _SIGNED_OF_WIDTH[x.dtype.itemsize]
    bits = np.ascontiguousarray(x).view(signed)
    magnitude = np.array(np.iinfo(signed).max, dtype=signed)
    return np.where(bits < 0, bits ^ magnitude, bits)


def sort_key(x: np.ndarray) -> np.ndarray:
    """Integers ordered as JAX's sort comparator orders ``x``: -0.0 equals 0.0, NaNs last."""
    if not dtypes.is_float(x.dtype):
        return total_order_key(x)
    canonical = np.where(x == 0, np.zeros((), x.dtype), x)
    canonical = np.where(np.isnan(x), np.array(np.nan, x.dtype), canonical).astype(x.dtype)
    return total_order_key(canonical)


@sort_p.def_abstract_eval
def _sort_abstract(*operands: ShapedArray, dimension: int, is_stable: bool,
                   num_keys: int) -> list[ShapedArray]:
    if not operands:
        raise FbornShapeError("sort needs at least one operand")
    shape = check_same_shapes(operands)
    if not 1 <= num_keys <= len(operands):
        raise FbornShapeError(
            f"num_keys={num_keys} must be between 1 and the number of operands ({len(operands)})"
        )
    if not 0 <= dimension < len(shape):
        raise FbornShapeError(
            f"dimension {dimension} is out of range for operands {shapes_str(operands)}"
        )
    for op in operands[:num_keys]:
        check_dtype_kind(op, "fiub", "sort key")
    return list(operands)


@sort_p.def_impl
def _sort_impl(*operands: np.ndarray, dimension: int, is_stable: bool,
               num_keys: int) -> list[np.ndarray]:
    keys = [np.moveaxis(sort_key(k), dimension, -1) for k in operands[:num_keys]]
    # np.lexsort is stable and takes its primary key last.
    order = np.lexsort(keys[::-1], axis=-1) if keys[0].size else np.zeros(keys[0].shape, int)
    order = np.moveaxis(order, -1, dimension)
    return [np.take_along_axis(op, order, axis=dimension) for op in operands]


@top_k_p.def_abstract_eval
def _top_k_abstract(operand: ShapedArray, *, k: int) -> list[ShapedArray]:
    check_dtype_kind(operand, "fiub")
    if operand.ndim == 0:
        raise FbornShapeError(f"top_k needs an operand of rank >= 1, got {operand.str_short()}")
    if not 0 <= k <= operand.shape[-1]:
        raise FbornShapeError(
            f"k={k} must be between 0 and the size of the last axis of {operand.str_short()}"
        )
    shape = (*operand.shape[:-1], k)
    return [ShapedArray(shape, operand.dtype, operand.weak_type),
            ShapedArray(shape, dtypes.int32)]


@top_k_p.def_impl
def _top_k_impl(operand: np.ndarray, *, k: int) -> list[np.ndarray]:
    # Bitwise not reverses the order of signed and unsigned integers without overflow, so a
    # stable ascending sort of it is a descending sort that keeps ties in index order.
    descending = np.invert(total_order_key(operand))
    order = np.argsort(descending, axis=-1, kind="stable")[..., :k]
    return [np.take_along_axis(operand, order, axis=-1), order.astype(np.int32)]


# --- transform rules ---------------------------------------------------------------------------
# Tangents and cotangents are moved with sorts on permutation keys, so only ``sort`` itself (with
# its keys known) appears in linear jaxprs: a payload operand is linear, its transpose sorts the
# cotangent back by the permutation.
from fborn.lax import _ops as lax  # noqa: E402
from fborn.primitives import rules  # noqa: E402


def _permutation(keys: list, dimension: int, num_keys: int) -> object:
    """``perm`` with ``sorted_keys[i] = keys[perm[i]]`` along ``dimension`` (int32)."""
    iota = lax.broadcasted_iota(dtypes.int32, keys[0].aval.shape, dimension)
    return sort_p.bind(*keys, iota, dimension=dimension, is_stable=True, num_keys=num_keys)[-1]


def _move_by_key(key: object, values: list, dimension: int) -> list:
    """``values`` reordered so that element j lands at position ``key[j]``."""
    return sort_p.bind(key, *values, dimension=dimension, is_stable=True, num_keys=1)[1:]


def _sort_jvp(primals: list, tangents: list, *, dimension: int, is_stable: bool,
              num_keys: int) -> tuple[list, list]:
    iota = lax.broadcasted_iota(dtypes.int32, primals[0].aval.shape, dimension)
    *outs, perm = sort_p.bind(*primals, iota, dimension=dimension, is_stable=is_stable,
                              num_keys=num_keys)
    moving = [i for i, t in enumerate(tangents) if type(t) is not rules.Zero]
    tangent_outs = [rules.Zero(rules.tangent_aval(o.aval)) for o in outs]
    if moving:
        inverse = _permutation([perm], dimension, 1)
        moved = _move_by_key(inverse, [tangents[i] for i in moving], dimension)
        for i, t in zip(moving, moved, strict=True):
            tangent_outs[i] = t
    return outs, tangent_outs


def _sort_transpose(cts: list, *operands: object, dimension: int, is_stable: bool,
                    num_keys: int) -> list:
    keys = list(operands[:num_keys])
    if any(rules.is_undefined(k) for k in keys):
        raise NotImplementedError("sort is not linear in its keys; only payload operands "
                                  "can be transposed")
    linear = [i for i in range(num_keys, len(operands)) if rules.is_undefined(operands[i])]
    out: list = [None] * len(operands)
    if linear:
        perm = _permutation(keys, dimension, num_keys)
        moved = _move_by_key(perm, [rules.instantiate(cts[i]) for i in linear], dimension)
        for i, ct in zip(linear, moved, strict=True):
            out[i] = ct
    return out


def _sort_batch(axis: object, values: list, dims: list, *, dimension: int, is_stable: bool,
                num_keys: int) -> tuple[list, list]:
    moved = rules.batch_at_front(values, dims, axis.size)
    out = sort_p.bind(*moved, dimension=dimension + 1, is_stable=is_stable, num_keys=num_keys)
    return out, [0] * len(out)


def _top_k_jvp(primals: list, tangents: list, *, k: int) -> tuple[list, list]:
    (x,), (t,) = primals, tangents
    values, indices = top_k_p.bind(x, k=k)
    index_tangent = rules.Zero(rules.tangent_aval(indices.aval))
    if type(t) is rules.Zero:
        return [values, indices], [rules.Zero(rules.tangent_aval(values.aval)), index_tangent]
    # A one-hot pick along the last axis: linear in t, O(k * n) per row.
    lead = x.aval.ndim - 1
    shape = (*values.aval.shape, x.aval.shape[-1])
    picked = lax.eq(lax.broadcast_in_dim(indices, shape, tuple(range(lead + 1))),
                    lax.broadcasted_iota(dtypes.int32, shape, lead + 1))
    spread = lax.broadcast_in_dim(t, shape, (*range(lead), lead + 1))
    zeros = rules.zeros_from_aval(rules.tangent_aval(spread.aval))
    tangent = lax.reduce_sum(lax.select(picked, spread, zeros), (lead + 1,))
    return [values, indices], [tangent, index_tangent]


def _top_k_batch(axis: object, values: list, dims: list, *, k: int) -> tuple[list, list]:
    (x,), (d,) = values, dims
    if d == x.aval.ndim - 1:
        x, d = rules.move_axis(x, d, 0, axis.size), 0
    return top_k_p.bind(x, k=k), [d, d]


sort_p.jvp = _sort_jvp
sort_p.transpose = _sort_transpose
sort_p.batch = _sort_batch
top_k_p.jvp = _top_k_jvp
top_k_p.batch = _top_k_batch
