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
    lf = free_axes(lhs.ndim, lc, lb)
    rf = free_axes(rhs.ndim, rc, rb)
    out_dtype = preferred_element_type or lhs.dtype
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
