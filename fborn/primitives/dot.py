"""``dot_general``: batched tensor contraction (matmul, dot, einsum pairs all lower to it).

``dimension_numbers = ((lhs_contracting, rhs_contracting), (lhs_batch, rhs_batch))``. The result
axes are: batch axes, then lhs free axes, then rhs free axes (as in XLA and JAX).
"""

from __future__ import annotations

import math

import numpy as np

from fborn.core import dtypes
from fborn.core.aval import ShapedArray
from fborn.core.errors import FbornDtypeError, FbornShapeError
from fborn.core.primitive import Primitive
from fborn.primitives._checks import check_axes, shapes_str

DimensionNumbers = tuple[tuple[tuple[int, ...], tuple[int, ...]],
                         tuple[tuple[int, ...], tuple[int, ...]]]

dot_general_p = Primitive("dot_general")


def free_axes(ndim: int, contracting: tuple[int, ...], batch: tuple[int, ...]) -> list[int]:
    """The axes of an operand that are neither contracted nor batched, in order."""
    return [i for i in range(ndim) if i not in contracting and i not in batch]


@dot_general_p.def_abstract_eval
def _dot_general_abstract(lhs: ShapedArray, rhs: ShapedArray, *,
                          dimension_numbers: DimensionNumbers,
                          preferred_element_type: np.dtype | None) -> ShapedArray:
    (lc, rc), (lb, rb) = dimension_numbers
    check_axes(tuple(lc) + tuple(lb), lhs.ndim, "lhs contracting+batch axes")
    check_axes(tuple(rc) + tuple(rb), rhs.ndim, "rhs contracting+batch axes")
    if len(lc) != len(rc) or len(lb) != len(rb):
        raise FbornShapeError(f"dimension_numbers {dimension_numbers} pair unequal axis counts")
    for a, b in (*zip(lc, rc, strict=True), *zip(lb, rb, strict=True)):
        if lhs.shape[a] != rhs.shape[b]:
            raise FbornShapeError(
                f"contracting/batch axes {a} and {b} of {shapes_str((lhs, rhs))} differ in size "
                f"({lhs.shape[a]} vs {rhs.shape[b]}); dimension_numbers={dimension_numbers}"
            )
    if lhs.dtype != rhs.dtype:
        raise FbornDtypeError(f"operands must have equal dtypes, got {shapes_str((lhs, rhs))}")
    shape = (tuple(lhs.shape[i] for i in lb)
             + tuple(lhs.shape[i] for i in free_axes(lhs.ndim, lc, lb))
             + tuple(rhs.shape[i] for i in free_axes(rhs.ndim, rc, rb)))
    out_dtype = preferred_element_type or lhs.dtype
    if lhs.dtype == dtypes.bool_ and preferred_element_type is None:
        raise FbornDtypeError("dot_general of bool operands needs a preferred_element_type")
    return ShapedArray(shape, out_dtype, lhs.weak_type and rhs.weak_type
                       and preferred_element_type is None)


@dot_general_p.def_impl
def _dot_general_impl(lhs: np.ndarray, rhs: np.ndarray, *, dimension_numbers: DimensionNumbers,
                      preferred_element_type: np.dtype | None) -> np.ndarray:
    (lc, rc), (lb, rb) = dimension_numbers
    out_dtype = preferred_element_type or lhs.dtype
    if (not lb and rhs.ndim == 2 and lc == (lhs.ndim - 1,) and rc == (0,)
            and lhs.dtype == out_dtype and out_dtype in (dtypes.float32, dtypes.float64)):
        return np.matmul(lhs, rhs)  # the common matrix product: straight to BLAS
    lf = free_axes(lhs.ndim, lc, lb)
    rf = free_axes(rhs.ndim, rc, rb)
    # Accumulate low-precision floats in float32 (as XLA does on CPU).
    work = np.float32 if out_dtype in (dtypes.float16, dtypes.bfloat16) else out_dtype
    batch = [lhs.shape[i] for i in lb]
    k = math.prod(lhs.shape[i] for i in lc)
    m = math.prod(lhs.shape[i] for i in lf)
    n = math.prod(rhs.shape[i] for i in rf)
    a = np.transpose(lhs, (*lb, *lf, *lc)).astype(work, copy=False).reshape(*batch, m, k)
    b = np.transpose(rhs, (*rb, *rc, *rf)).astype(work, copy=False).reshape(*batch, k, n)
    out = np.matmul(a, b)
    shape = (*batch, *(lhs.shape[i] for i in lf), *(rhs.shape[i] for i in rf))
    return out.reshape(shape).astype(out_dtype, copy=False)


# --- transform rules ---------------------------------------------------------------------------
from fborn.lax import _ops as lax  # noqa: E402
from fborn.primitives import rules  # noqa: E402


def _dot_general_jvp(primals: list, tangents: list, *, dimension_numbers: DimensionNumbers,
                     preferred_element_type: np.dtype | None) -> tuple[object, object]:
    x, y = primals
    tx, ty = tangents
    params = {"dimension_numbers": dimension_numbers,
              "preferred_element_type": preferred_element_type}
    out = dot_general_p.bind(x, y, **params)
    total: object = rules.Zero(rules.tangent_aval(out.aval))
    if type(tx) is not rules.Zero:
        total = rules.add_tangents(total, dot_general_p.bind(tx, y, **params))
    if type(ty) is not rules.Zero:
        total = rules.add_tangents(total, dot_general_p.bind(x, ty, **params))
    return out, total


def _transpose_one_side(ct: object, other: object, ndim: int, contract: tuple[int, ...],
                        batch: tuple[int, ...], other_contract: tuple[int, ...],
                        other_batch: tuple[int, ...], ct_free: list[int],
                        dtype: np.dtype) -> object:
    """Cotangent of one dot_general operand: contract ``ct`` with ``other`` over the other's
    free axes, then permute back to the operand's axis order."""
    other_free = free_axes(other.aval.ndim, other_contract, other_batch)
    nb = len(batch)
    dn = ((tuple(ct_free), tuple(other_free)), (tuple(range(nb)), tuple(other_batch)))
    out = lax.dot_general(ct, other, dn)
    mine_free = free_axes(ndim, contract, batch)
    order = sorted(range(len(other_contract)), key=lambda i: other_contract[i])
    placed = [*batch, *mine_free, *[contract[i] for i in order]]
    out = lax.transpose(out, tuple(int(i) for i in np.argsort(placed)))
    return lax.convert_element_type(out, dtype)


def _dot_general_transpose(ct: object, x: object, y: object, *,
                           dimension_numbers: DimensionNumbers,
                           preferred_element_type: np.dtype | None) -> list:
    (lc, rc), (lb, rb) = dimension_numbers
    nb = len(lb)
    n_lfree = x.aval.ndim - len(lc) - nb
    n_rfree = y.aval.ndim - len(rc) - nb
    ct_lfree = list(range(nb, nb + n_lfree))
    ct_rfree = list(range(nb + n_lfree, nb + n_lfree + n_rfree))
    ct_x = ct_y = None
    if rules.is_undefined(x):
        ct_x = _transpose_one_side(ct, y, x.aval.ndim, lc, lb, rc, rb, ct_rfree, x.aval.dtype)
    if rules.is_undefined(y):
        ct_y = _transpose_one_side(ct, x, y.aval.ndim, rc, rb, lc, lb, ct_lfree, y.aval.dtype)
    return [ct_x, ct_y]


def _dot_general_batch(axis: object, values: list, dims: list, *,
                       dimension_numbers: DimensionNumbers,
                       preferred_element_type: np.dtype | None) -> tuple[object, int]:
    x, y = values
    dx, dy = dims
    (lc, rc), (lb, rb) = dimension_numbers
    shift = lambda axes: tuple(a + 1 for a in axes)  # noqa: E731
    if dx is not None and dy is not None:
        x, y = rules.move_axis(x, dx, 0, 0), rules.move_axis(y, dy, 0, 0)
        dn = ((shift(lc), shift(rc)), ((0, *shift(lb)), (0, *shift(rb))))
        out_dim = 0
    elif dx is not None:
        x = rules.move_axis(x, dx, 0, 0)
        dn = ((shift(lc), rc), (shift(lb), rb))
        out_dim = len(lb)
    else:
        y = rules.move_axis(y, dy, 0, 0)
        dn = ((lc, shift(rc)), (lb, shift(rb)))
        out_dim = len(lb) + x.aval.ndim - len(lc) - len(lb)
    out = dot_general_p.bind(x, y, dimension_numbers=dn,
                             preferred_element_type=preferred_element_type)
    return out, out_dim


dot_general_p.jvp = _dot_general_jvp
dot_general_p.transpose = _dot_general_transpose
dot_general_p.batch = _dot_general_batch
