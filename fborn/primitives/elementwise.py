"""Elementwise primitives: unary math, binary arithmetic, comparisons, bitwise ops, select,
clamp and dtype conversion. Binary operands must have equal shapes and dtypes (``fborn.numpy``
broadcasts and promotes before binding); the result is weakly typed only if all operands are."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fborn.core import dtypes
from fborn.core.aval import ShapedArray
from fborn.core.errors import FbornDtypeError, FbornShapeError
from fborn.core.primitive import Primitive
from fborn.primitives import special_math
from fborn.primitives._checks import (
    all_weak,
    check_dtype_kind,
    check_same_dtypes,
    check_same_shapes,
    shapes_str,
)

FLOAT = "f"
INT = "iu"
NUMERIC = "fiu"
INTEGRAL = "iub"
ANY = "fiub"


def _in_float64(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """Compute a special function in float64 and round back to the operand's dtype."""
    return lambda x: fn(x).astype(x.dtype)


def unary(name: str, impl: Callable[..., np.ndarray], kinds: str = FLOAT) -> Primitive:
    """A same-shape, same-dtype unary primitive accepting dtype kinds ``kinds``."""
    prim = Primitive(name)

    @prim.def_abstract_eval
    def _abstract(x: ShapedArray, **params: object) -> ShapedArray:
        check_dtype_kind(x, kinds)
        return x

    prim.def_impl(impl)
    return prim


def binary(name: str, impl: Callable[..., np.ndarray], kinds: str = NUMERIC,
           out_dtype: np.dtype | None = None) -> Primitive:
    """An equal-shape, equal-dtype binary primitive (``out_dtype`` fixed, e.g. bool, or same)."""
    prim = Primitive(name)

    @prim.def_abstract_eval
    def _abstract(x: ShapedArray, y: ShapedArray) -> ShapedArray:
        shape = check_same_shapes((x, y))
        dtype = check_same_dtypes((x, y))
        check_dtype_kind(x, kinds)
        if out_dtype is not None:
            return ShapedArray(shape, out_dtype, False)
        return ShapedArray(shape, dtype, x.weak_type and y.weak_type)

    prim.def_impl(impl)
    return prim


def _round_impl(x: np.ndarray, rounding_method: int) -> np.ndarray:
    if rounding_method == 0:  # half away from zero
        return (np.sign(x) * np.floor(np.abs(x) + np.asarray(0.5, x.dtype))).astype(x.dtype)
    return np.round(x)


def _rsqrt(x: np.ndarray) -> np.ndarray:
    return (np.asarray(1, x.dtype) / np.sqrt(x)).astype(x.dtype)


def _logistic(x: np.ndarray) -> np.ndarray:
    one = np.asarray(1, x.dtype)
    return (one / (one + np.exp(-x))).astype(x.dtype)


def _not(x: np.ndarray) -> np.ndarray:
    return np.logical_not(x) if x.dtype == np.bool_ else np.invert(x)


neg_p = unary("neg", np.negative, NUMERIC)
sign_p = unary("sign", np.sign, NUMERIC)
floor_p = unary("floor", np.floor)
ceil_p = unary("ceil", np.ceil)
round_p = unary("round", _round_impl)
exp_p = unary("exp", np.exp)
exp2_p = unary("exp2", np.exp2)
log_p = unary("log", np.log)
expm1_p = unary("expm1", np.expm1)
log1p_p = unary("log1p", np.log1p)
tanh_p = unary("tanh", np.tanh)
logistic_p = unary("logistic", _logistic)
sin_p = unary("sin", np.sin)
cos_p = unary("cos", np.cos)
tan_p = unary("tan", np.tan)
asin_p = unary("asin", np.arcsin)
acos_p = unary("acos", np.arccos)
atan_p = unary("atan", np.arctan)
sinh_p = unary("sinh", np.sinh)
cosh_p = unary("cosh", np.cosh)
asinh_p = unary("asinh", np.arcsinh)
acosh_p = unary("acosh", np.arccosh)
atanh_p = unary("atanh", np.arctanh)
sqrt_p = unary("sqrt", np.sqrt)
rsqrt_p = unary("rsqrt", _rsqrt)
cbrt_p = unary("cbrt", np.cbrt)
abs_p = unary("abs", np.abs, NUMERIC)
square_p = unary("square", np.square, NUMERIC)
not_p = unary("not", _not, INTEGRAL)
erf_p = unary("erf", _in_float64(special_math.erf))
erfc_p = unary("erfc", _in_float64(special_math.erfc))
erf_inv_p = unary("erf_inv", _in_float64(special_math.erf_inv))
lgamma_p = unary("lgamma", _in_float64(special_math.lgamma))
digamma_p = unary("digamma", _in_float64(special_math.digamma))


def _trunc_div(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if dtypes.is_float(x.dtype):
        return np.true_divide(x, y).astype(x.dtype)
    safe = np.where(y == 0, 1, y).astype(x.dtype)
    q = np.floor_divide(x, safe)
    fix = (np.remainder(x, safe) != 0) & ((x < 0) != (safe < 0))
    return np.where(y == 0, 0, q + fix.astype(x.dtype)).astype(x.dtype)


def _trunc_rem(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if dtypes.is_float(x.dtype):
        return np.fmod(x, y)
    safe = np.where(y == 0, 1, y).astype(x.dtype)
    return np.where(y == 0, 0, np.fmod(x, safe)).astype(x.dtype)


def _shift_right_logical(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    bits = x.dtype.itemsize * 8
    unsigned = x.view(np.dtype(f"u{x.dtype.itemsize}"))
    shifted = np.right_shift(unsigned, np.clip(y, 0, bits - 1).astype(unsigned.dtype))
    return np.where((y < 0) | (y >= bits), 0, shifted).astype(unsigned.dtype).view(x.dtype)


def _shift_left(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    bits = x.dtype.itemsize * 8
    shifted = np.left_shift(x, np.clip(y, 0, bits - 1).astype(x.dtype))
    return np.where((y < 0) | (y >= bits), 0, shifted).astype(x.dtype)


def _shift_right_arithmetic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    bits = x.dtype.itemsize * 8
    return np.right_shift(x, np.clip(y, 0, bits - 1).astype(x.dtype))


add_p = binary("add", np.add)
sub_p = binary("sub", np.subtract)
mul_p = binary("mul", np.multiply)
div_p = binary("div", _trunc_div)
rem_p = binary("rem", _trunc_rem)
pow_p = binary("pow", np.power, FLOAT)
max_p = binary("max", np.maximum, ANY)
min_p = binary("min", np.minimum, ANY)
atan2_p = binary("atan2", np.arctan2, FLOAT)
nextafter_p = binary("nextafter", np.nextafter, FLOAT)
and_p = binary("and", np.bitwise_and, INTEGRAL)
or_p = binary("or", np.bitwise_or, INTEGRAL)
xor_p = binary("xor", np.bitwise_xor, INTEGRAL)
shift_left_p = binary("shift_left", _shift_left, INT)
shift_right_logical_p = binary("shift_right_logical", _shift_right_logical, INT)
shift_right_arithmetic_p = binary("shift_right_arithmetic", _shift_right_arithmetic, INT)
eq_p = binary("eq", np.equal, ANY, dtypes.bool_)
ne_p = binary("ne", np.not_equal, ANY, dtypes.bool_)
lt_p = binary("lt", np.less, ANY, dtypes.bool_)
le_p = binary("le", np.less_equal, ANY, dtypes.bool_)
gt_p = binary("gt", np.greater, ANY, dtypes.bool_)
ge_p = binary("ge", np.greater_equal, ANY, dtypes.bool_)

is_finite_p = Primitive("is_finite")


@is_finite_p.def_abstract_eval
def _is_finite_abstract(x: ShapedArray) -> ShapedArray:
    check_dtype_kind(x, FLOAT)
    return ShapedArray(x.shape, dtypes.bool_)


is_finite_p.def_impl(np.isfinite)

integer_pow_p = Primitive("integer_pow")


@integer_pow_p.def_abstract_eval
def _integer_pow_abstract(x: ShapedArray, *, y: int) -> ShapedArray:
    check_dtype_kind(x, NUMERIC)
    if dtypes.is_int(x.dtype) and y < 0:
        raise FbornDtypeError(f"integers cannot be raised to the negative power {y}")
    return x


@integer_pow_p.def_impl
def _integer_pow_impl(x: np.ndarray, *, y: int) -> np.ndarray:
    if y == 0:
        return np.ones_like(x)
    result = np.power(x, abs(y)) if y > 0 or not dtypes.is_float(x.dtype) else np.power(x, -y)
    return (np.asarray(1, x.dtype) / result).astype(x.dtype) if y < 0 else result


convert_element_type_p = Primitive("convert_element_type")


@convert_element_type_p.def_abstract_eval
def _convert_abstract(x: ShapedArray, *, new_dtype: np.dtype, weak_type: bool) -> ShapedArray:
    return ShapedArray(x.shape, new_dtype, weak_type)


@convert_element_type_p.def_impl
def _convert_impl(x: np.ndarray, *, new_dtype: np.dtype, weak_type: bool) -> np.ndarray:
    if dtypes.is_float(x.dtype) and dtypes.is_int(new_dtype):
        info = np.iinfo(new_dtype)
        x = np.clip(np.nan_to_num(x, nan=0.0), info.min, info.max)
    return x.astype(new_dtype)


select_n_p = Primitive("select_n")


@select_n_p.def_abstract_eval
def _select_n_abstract(which: ShapedArray, *cases: ShapedArray) -> ShapedArray:
    if not cases:
        raise FbornShapeError("select_n needs at least one case")
    shape = check_same_shapes(cases)
    dtype = check_same_dtypes(cases)
    if which.shape not in ((), shape):
        raise FbornShapeError(
            f"the selector must be a scalar or have the cases' shape, got {shapes_str((which,))} "
            f"for cases {shapes_str(cases)}"
        )
    if which.dtype != dtypes.bool_ and which.dtype != dtypes.int32:
        raise FbornDtypeError(f"the selector must be bool or int32, got {which.str_short()}")
    if which.dtype == dtypes.bool_ and len(cases) > 2:
        raise FbornDtypeError("a bool selector chooses between at most 2 cases")
    return ShapedArray(shape, dtype, all_weak(cases))


@select_n_p.def_impl
def _select_n_impl(which: np.ndarray, *cases: np.ndarray) -> np.ndarray:
    if len(cases) == 1:
        return cases[0]
    if which.dtype == np.bool_:
        return np.where(which, cases[1], cases[0])
    return np.choose(np.broadcast_to(which, cases[0].shape), cases, mode="clip")


clamp_p = Primitive("clamp")


@clamp_p.def_abstract_eval
def _clamp_abstract(lo: ShapedArray, x: ShapedArray, hi: ShapedArray) -> ShapedArray:
    check_same_dtypes((lo, x, hi))
    for bound in (lo, hi):
        if bound.shape not in ((), x.shape):
            raise FbornShapeError(
                f"the bounds must be scalars or have the operand's shape, got "
                f"{shapes_str((lo, x, hi))}"
            )
    return x


@clamp_p.def_impl
def _clamp_impl(lo: np.ndarray, x: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.minimum(np.maximum(x, lo), hi)

stop_gradient_p = unary("stop_gradient", lambda x: x, ANY)
