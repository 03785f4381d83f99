"""The primitive-level API (``fborn.lax``): thin wrappers that bind primitives.

Operands must already agree in shape and dtype (as in ``jax.lax``); Python scalars take the dtype
of the array operand they meet, weakly typed.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from fborn.core import dtypes
from fborn.core.array import Array, ArrayImpl
from fborn.core.trace import to_array
from fborn.primitives import dot as _dot
from fborn.primitives import elementwise as _ew
from fborn.primitives import reductions as _red
from fborn.primitives import shape as _shape

__all__ = [
    "abs", "acos", "acosh", "add", "argmax", "argmin", "asin", "asinh", "atan", "atan2", "atanh",
    "bitcast_convert_type",
    "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "broadcast", "broadcast_in_dim",
    "broadcasted_iota", "cbrt", "ceil", "clamp", "concatenate", "convert_element_type", "cos",
    "cosh", "cummax", "cummin", "cumprod", "cumsum", "digamma", "div", "dot", "dot_general", "eq",
    "erf", "erf_inv", "erfc", "exp", "exp2", "expand_dims", "expm1", "floor", "ge", "gt",
    "integer_pow", "iota", "is_finite", "le", "lgamma", "log", "log1p", "logistic", "lt", "max",
    "min", "mul", "ne", "neg", "nextafter", "pad", "pow", "reduce_and", "reduce_max", "reduce_min",
    "reduce_or", "reduce_prod", "reduce_sum", "rem", "reshape", "rev", "round", "rsqrt", "select",
    "select_n", "shift_left", "shift_right_arithmetic", "shift_right_logical", "sign", "sin",
    "sinh", "slice", "slice_in_dim", "sqrt", "square", "squeeze", "stop_gradient", "sub", "tan",
    "tanh", "transpose",
]

Scalar = bool | int | float


def _operands(*args: Any, broadcast: bool = True) -> list[Array]:
    """Arrays for ``args``: Python scalars take the dtype of the first array operand (weakly
    typed) and, if ``broadcast``, its shape (with ``broadcast_in_dim``)."""
    if all(isinstance(a, Array) for a in args):
        return list(args)
    like = next((a for a in args if isinstance(a, (Array, np.ndarray, np.generic))), None)
    out = []
    for a in args:
        if isinstance(a, (bool, int, float)) and like is not None:
            dt = like.dtype if isinstance(like, Array) else dtypes.canonicalize(like.dtype)
            scalar = ArrayImpl(np.array(a, dtype=dt), weak_type=True)
            shape = tuple(like.shape)
            out.append(_shape.broadcast_in_dim_p.bind(scalar, shape=shape, broadcast_dimensions=())
                       if shape and broadcast else scalar)
        else:
            out.append(to_array(a))
    return out


def _unary(prim):
    def op(x: Array | Scalar) -> Array:
        return prim.bind(*_operands(x))

    op.__name__ = prim.name
    op.__doc__ = f"Elementwise ``{prim.name}`` (same shape and dtype as the operand)."
    return op


def _binary(prim):
    def op(x: Array | Scalar, y: Array | Scalar) -> Array:
        return prim.bind(*_operands(x, y))

    op.__name__ = prim.name
    op.__doc__ = f"Elementwise ``{prim.name}`` of two operands of equal shape and dtype."
    return op


neg = _unary(_ew.neg_p)
sign = _unary(_ew.sign_p)
floor = _unary(_ew.floor_p)
ceil = _unary(_ew.ceil_p)
is_finite = _unary(_ew.is_finite_p)
exp = _unary(_ew.exp_p)
exp2 = _unary(_ew.exp2_p)
log = _unary(_ew.log_p)
expm1 = _unary(_ew.expm1_p)
log1p = _unary(_ew.log1p_p)
tanh = _unary(_ew.tanh_p)
logistic = _unary(_ew.logistic_p)
sin = _unary(_ew.sin_p)
cos = _unary(_ew.cos_p)
tan = _unary(_ew.tan_p)
asin = _unary(_ew.asin_p)
acos = _unary(_ew.acos_p)
atan = _unary(_ew.atan_p)
sinh = _unary(_ew.sinh_p)
cosh = _unary(_ew.cosh_p)
asinh = _unary(_ew.asinh_p)
acosh = _unary(_ew.acosh_p)
atanh = _unary(_ew.atanh_p)
sqrt = _unary(_ew.sqrt_p)
rsqrt = _unary(_ew.rsqrt_p)
cbrt = _unary(_ew.cbrt_p)
abs = _unary(_ew.abs_p)  # noqa: A001 - lax name
square = _unary(_ew.square_p)
bitwise_not = _unary(_ew.not_p)
erf = _unary(_ew.erf_p)
erfc = _unary(_ew.erfc_p)
erf_inv = _unary(_ew.erf_inv_p)
lgamma = _unary(_ew.lgamma_p)
digamma = _unary(_ew.digamma_p)
stop_gradient = _unary(_ew.stop_gradient_p)

add = _binary(_ew.add_p)
sub = _binary(_ew.sub_p)
mul = _binary(_ew.mul_p)
div = _binary(_ew.div_p)
rem = _binary(_ew.rem_p)
pow = _binary(_ew.pow_p)  # noqa: A001 - lax name
max = _binary(_ew.max_p)  # noqa: A001 - lax name
min = _binary(_ew.min_p)  # noqa: A001 - lax name
atan2 = _binary(_ew.atan2_p)
nextafter = _binary(_ew.nextafter_p)
bitwise_and = _binary(_ew.and_p)
bitwise_or = _binary(_ew.or_p)
bitwise_xor = _binary(_ew.xor_p)
shift_left = _binary(_ew.shift_left_p)
shift_right_logical = _binary(_ew.shift_right_logical_p)
shift_right_arithmetic = _binary(_ew.shift_right_arithmetic_p)
eq = _binary(_ew.eq_p)
ne = _binary(_ew.ne_p)
lt = _binary(_ew.lt_p)
le = _binary(_ew.le_p)
gt = _binary(_ew.gt_p)
ge = _binary(_ew.ge_p)


def round(x: Array | Scalar, rounding_method: int = 0) -> Array:  # noqa: A001 - lax name
    """Round to integral values: method 0 rounds halves away from zero, 1 to even."""
    return _ew.round_p.bind(*_operands(x), rounding_method=int(rounding_method))


def integer_pow(x: Array | Scalar, y: int) -> Array:
    """``x ** y`` for a static Python int ``y`` (repeated multiplication)."""
    return _ew.integer_pow_p.bind(*_operands(x), y=int(y))


def convert_element_type(x: Array | Scalar, new_dtype: Any) -> Array:
    """Convert ``x`` to ``new_dtype`` (canonicalized; the result is strongly typed)."""
    (x,) = _operands(x)
    dt = dtypes.canonicalize(new_dtype)
    if dt == x.dtype and not x.weak_type:
        return x
    return _ew.convert_element_type_p.bind(x, new_dtype=dt, weak_type=False)


def bitcast_convert_type(x: Array, new_dtype: Any) -> Array:
    """Reinterpret the bits of ``x`` as ``new_dtype`` (same bit width)."""
    from fborn.primitives.random_bits import bitcast_convert_type_p

    (x,) = _operands(x)
    return bitcast_convert_type_p.bind(x, new_dtype=dtypes.to_dtype(new_dtype))


def select_n(which: Array | Scalar, *cases: Array | Scalar) -> Array:
    """Pick elementwise from ``cases`` by ``which`` (bool: False->cases[0]; int32: index)."""
    ops = _operands(*cases)
    return _ew.select_n_p.bind(to_array(which), *ops)


def select(pred: Array | bool, on_true: Array | Scalar, on_false: Array | Scalar) -> Array:
    """``on_true`` where ``pred`` else ``on_false`` (operands of equal shape and dtype)."""
    return select_n(pred, on_false, on_true)


def clamp(min: Array | Scalar, x: Array | Scalar, max: Array | Scalar) -> Array:  # noqa: A002
    """``x`` clipped to ``[min, max]`` (bounds scalars or the operand's shape)."""
    x_arr, lo, hi = _operands(x, min, max, broadcast=False)
    return _ew.clamp_p.bind(lo, x_arr, hi)


def broadcast_in_dim(x: Array | Scalar, shape: Sequence[int],
                     broadcast_dimensions: Sequence[int]) -> Array:
    """Broadcast ``x`` to ``shape``; operand axis i becomes output axis broadcast_dimensions[i]."""
    (x,) = _operands(x)
    shape = tuple(int(d) for d in shape)
    dims = tuple(int(d) for d in broadcast_dimensions)
    if x.shape == shape and dims == tuple(range(len(shape))):
        return x
    return _shape.broadcast_in_dim_p.bind(x, shape=shape, broadcast_dimensions=dims)


def broadcast(x: Array | Scalar, sizes: Sequence[int]) -> Array:
    """Add leading axes of ``sizes`` to ``x``."""
    (x,) = _operands(x)
    sizes = tuple(int(s) for s in sizes)
    return broadcast_in_dim(x, sizes + x.shape, tuple(range(len(sizes), len(sizes) + x.ndim)))


def reshape(x: Array | Scalar, new_sizes: Sequence[int],
            dimensions: Sequence[int] | None = None) -> Array:
    """Reshape (row-major) after optionally transposing by ``dimensions``."""
    (x,) = _operands(x)
    if dimensions is not None:
        x = transpose(x, dimensions)
    new_sizes = tuple(int(d) for d in new_sizes)
    if new_sizes == x.shape:
        return x
    return _shape.reshape_p.bind(x, new_sizes=new_sizes)


def transpose(x: Array | Scalar, permutation: Sequence[int]) -> Array:
    """Permute the axes of ``x``."""
    (x,) = _operands(x)
    perm = tuple(int(p) for p in permutation)
    if perm == tuple(range(x.ndim)):
        return x
    return _shape.transpose_p.bind(x, permutation=perm)


def squeeze(x: Array | Scalar, dimensions: Sequence[int]) -> Array:
    """Remove the size-1 axes ``dimensions``."""
    (x,) = _operands(x)
    dims = tuple(sorted(int(d) % x.ndim if x.ndim else int(d) for d in dimensions))
    if not dims:
        return x
    return _shape.squeeze_p.bind(x, dimensions=dims)


def expand_dims(x: Array | Scalar, dimensions: Sequence[int]) -> Array:
    """Insert size-1 axes at ``dimensions`` (positions in the result)."""
    (x,) = _operands(x)
    out_ndim = x.ndim + len(dimensions)
    dims = sorted(int(d) % out_ndim for d in dimensions)
    shape = list(x.shape)
    for d in dims:
        shape.insert(d, 1)
    return reshape(x, shape)


def slice(x: Array, start_indices: Sequence[int], limit_indices: Sequence[int],  # noqa: A001
          strides: Sequence[int] | None = None) -> Array:
    """The static slice ``x[start:limit:strides]`` (non-negative, in-bounds indices)."""
    (x,) = _operands(x)
    return _shape.slice_p.bind(
        x, start_indices=tuple(int(i) for i in start_indices),
        limit_indices=tuple(int(i) for i in limit_indices),
        strides=None if strides is None else tuple(int(s) for s in strides),
    )


def slice_in_dim(x: Array, start_index: int | None, limit_index: int | None, stride: int = 1,
                 axis: int = 0) -> Array:
    """Slice one axis (negative and None indices as in Python)."""
    (x,) = _operands(x)
    start, limit, step = builtins.slice(start_index, limit_index, stride).indices(x.shape[axis])
    starts = [0] * x.ndim
    limits = list(x.shape)
    strides = [1] * x.ndim
    starts[axis], limits[axis], strides[axis] = start, builtins.max(limit, start), step
    return slice(x, starts, limits, strides)


def concatenate(operands: Sequence[Array], dimension: int) -> Array:
    """Join arrays of equal dtype along ``dimension``."""
    ops = _operands(*operands)
    if len(ops) == 1:
        return ops[0]
    return _shape.concatenate_p.bind(*ops, dimension=int(dimension))


def pad(x: Array, padding_value: Array | Scalar,
        padding_config: Sequence[tuple[int, int, int]]) -> Array:
    """Pad with ``(low, high, interior)`` per axis; negative low/high crop."""
    x_arr, value = _operands(x, padding_value, broadcast=False)
    config = tuple((int(lo), int(hi), int(i)) for lo, hi, i in padding_config)
    return _shape.pad_p.bind(x_arr, value, padding_config=config)


def rev(x: Array, dimensions: Sequence[int]) -> Array:
    """Reverse ``x`` along ``dimensions``."""
    (x,) = _operands(x)
    return _shape.rev_p.bind(x, dimensions=tuple(int(d) for d in dimensions))


def iota(dtype: Any, size: int) -> Array:
    """``[0, 1, ..., size-1]`` of ``dtype``."""
    return broadcasted_iota(dtype, (size,), 0)


def broadcasted_iota(dtype: Any, shape: Sequence[int], dimension: int) -> Array:
    """An array of ``shape`` whose values count along axis ``dimension``."""
    return _shape.iota_p.bind(dtype=dtypes.canonicalize(dtype),
                              shape=tuple(int(s) for s in shape), dimension=int(dimension))


def _axes(axes: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(a) for a in axes)


def reduce_sum(x: Array, axes: Sequence[int]) -> Array:
    """Sum over ``axes``."""
    return _red.reduce_sum_p.bind(*_operands(x), axes=_axes(axes))


def reduce_prod(x: Array, axes: Sequence[int]) -> Array:
    """Product over ``axes``."""
    return _red.reduce_prod_p.bind(*_operands(x), axes=_axes(axes))


def reduce_max(x: Array, axes: Sequence[int]) -> Array:
    """Maximum over ``axes`` (-inf / the dtype's minimum for empty axes)."""
    return _red.reduce_max_p.bind(*_operands(x), axes=_axes(axes))


def reduce_min(x: Array, axes: Sequence[int]) -> Array:
    """Minimum over ``axes`` (+inf / the dtype's maximum for empty axes)."""
    return _red.reduce_min_p.bind(*_operands(x), axes=_axes(axes))


def reduce_and(x: Array, axes: Sequence[int]) -> Array:
    """Logical and over ``axes`` of a bool array."""
    return _red.reduce_and_p.bind(*_operands(x), axes=_axes(axes))


def reduce_or(x: Array, axes: Sequence[int]) -> Array:
    """Logical or over ``axes`` of a bool array."""
    return _red.reduce_or_p.bind(*_operands(x), axes=_axes(axes))


def argmax(x: Array, axis: int, index_dtype: Any) -> Array:
    """Index of the first maximum along ``axis`` (NaN counts as the maximum)."""
    return _red.argmax_p.bind(*_operands(x), axes=(int(axis),),
                              index_dtype=dtypes.canonicalize(index_dtype))


def argmin(x: Array, axis: int, index_dtype: Any) -> Array:
    """Index of the first minimum along ``axis`` (NaN counts as the minimum)."""
    return _red.argmin_p.bind(*_operands(x), axes=(int(axis),),
                              index_dtype=dtypes.canonicalize(index_dtype))


def _cumulative(prim):
    def op(operand: Array, axis: int = 0, reverse: bool = False) -> Array:
        (x,) = _operands(operand)
        return prim.bind(x, axis=int(axis) % builtins.max(x.ndim, 1), reverse=bool(reverse))

    op.__name__ = prim.name
    op.__doc__ = f"Cumulative ``{prim.name[3:]}`` along ``axis`` (from the end if ``reverse``)."
    return op


cumsum = _cumulative(_red.cumsum_p)
cumprod = _cumulative(_red.cumprod_p)
cummax = _cumulative(_red.cummax_p)
cummin = _cumulative(_red.cummin_p)


def dot_general(lhs: Array, rhs: Array, dimension_numbers: Any,
                precision: Any = None, preferred_element_type: Any = None) -> Array:
    """Contract ``lhs`` and ``rhs``: ``dimension_numbers = ((lc, rc), (lb, rb))``; the result
    holds batch axes, then lhs free axes, then rhs free axes. ``precision`` is accepted and
    ignored (fborn computes float32 in float32)."""
    del precision
    (lc, rc), (lb, rb) = dimension_numbers
    dn = ((_axes(lc), _axes(rc)), (_axes(lb), _axes(rb)))
    x, y = _operands(lhs, rhs)
    pet = None if preferred_element_type is None else dtypes.canonicalize(preferred_element_type)
    return _dot.dot_general_p.bind(x, y, dimension_numbers=dn, preferred_element_type=pet)


def dot(lhs: Array, rhs: Array, precision: Any = None,
        preferred_element_type: Any = None) -> Array:
    """Vector/matrix product of 1-D or 2-D operands (contracts lhs's last axis with rhs's
    first)."""
    x, y = _operands(lhs, rhs)
    return dot_general(x, y, (((x.ndim - 1,), (0,)), ((), ())), precision,
                       preferred_element_type)
