"""Elementwise primitives: unary math, binary arithmetic, comparisons, bitwise ops, select,
clamp and dtype conversion. Binary operands must have equal shapes and dtypes (``fborn.numpy``
broadcasts and promotes before binding); the result is weakly typed only if all operands are."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fborn.core import dtypes
from fborn.core.array import ArrayImpl
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
        # Saturate as JAX does, comparing in float64 (exact for every float dtype here):
        # float32(2**31 - 1) is 2**31, so clipping in the source dtype would overflow.
        info = np.iinfo(new_dtype)
        wide = np.nan_to_num(np.asarray(x, np.float64), nan=0.0, posinf=np.inf, neginf=-np.inf)
        high = wide >= 2.0 ** (info.bits - (1 if info.min < 0 else 0))
        low = wide < float(info.min)
        inside = np.where(high | low, 0.0, wide).astype(new_dtype)
        return np.where(high, info.max, np.where(low, info.min, inside)).astype(new_dtype)
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


# --- transform rules (written with fborn.lax so they are themselves transformable) -----------
from fborn.lax import _ops as lax  # noqa: E402
from fborn.primitives import rules  # noqa: E402
from fborn.primitives.rules import (  # noqa: E402
    Zero,
    defjvp,
    defjvp_with_output,
    instantiate,
    is_undefined,
    tangent_aval,
    zero_jvp,
)


def _like(x: object, value: float) -> object:
    """A constant ``value`` with ``x``'s dtype and shape (a cheap broadcast scalar)."""
    aval = x.aval
    return lax.broadcast_in_dim(ArrayImpl(np.array(value, dtype=aval.dtype)), aval.shape, ())


for _prim in (sign_p, floor_p, ceil_p, round_p, is_finite_p, nextafter_p, and_p, or_p, xor_p,
              not_p, shift_left_p, shift_right_logical_p, shift_right_arithmetic_p, eq_p, ne_p,
              lt_p, le_p, gt_p, ge_p, stop_gradient_p):
    zero_jvp(_prim)

for _prim in (neg_p, sign_p, floor_p, ceil_p, round_p, is_finite_p, exp_p, exp2_p, log_p,
              expm1_p, log1p_p, tanh_p, logistic_p, sin_p, cos_p, tan_p, asin_p, acos_p, atan_p,
              sinh_p, cosh_p, asinh_p, acosh_p, atanh_p, sqrt_p, rsqrt_p, cbrt_p, abs_p,
              square_p, not_p, erf_p, erfc_p, erf_inv_p, lgamma_p, digamma_p, add_p, sub_p,
              mul_p, div_p, rem_p, pow_p, max_p, min_p, atan2_p, nextafter_p, and_p, or_p, xor_p,
              shift_left_p, shift_right_logical_p, shift_right_arithmetic_p, eq_p, ne_p, lt_p,
              le_p, gt_p, ge_p, integer_pow_p, convert_element_type_p, stop_gradient_p):
    rules.batch_elementwise(_prim)

defjvp(neg_p, lambda t, x: lax.neg(t))
neg_p.transpose = lambda ct, x: [lax.neg(ct)]
defjvp_with_output(exp_p, lambda t, out, x: lax.mul(t, out))
defjvp_with_output(exp2_p, lambda t, out, x: lax.mul(t, lax.mul(out, _like(out, np.log(2)))))
defjvp(log_p, lambda t, x: lax.div(t, x))
defjvp_with_output(expm1_p, lambda t, out, x: lax.mul(t, lax.add(out, _like(out, 1))))
defjvp(log1p_p, lambda t, x: lax.div(t, lax.add(x, _like(x, 1))))
defjvp_with_output(tanh_p, lambda t, out, x: lax.mul(t, lax.sub(_like(out, 1), lax.mul(out, out))))
defjvp_with_output(logistic_p, lambda t, out, x: lax.mul(t, lax.mul(out, lax.sub(_like(out, 1),
                                                                                   out))))
defjvp(sin_p, lambda t, x: lax.mul(t, lax.cos(x)))
defjvp(cos_p, lambda t, x: lax.neg(lax.mul(t, lax.sin(x))))
defjvp_with_output(tan_p, lambda t, out, x: lax.mul(t, lax.add(_like(out, 1), lax.mul(out, out))))
defjvp(asin_p, lambda t, x: lax.mul(t, lax.rsqrt(lax.sub(_like(x, 1), lax.mul(x, x)))))
defjvp(acos_p, lambda t, x: lax.neg(lax.mul(t, lax.rsqrt(lax.sub(_like(x, 1), lax.mul(x, x))))))
defjvp(atan_p, lambda t, x: lax.div(t, lax.add(_like(x, 1), lax.mul(x, x))))
defjvp(sinh_p, lambda t, x: lax.mul(t, lax.cosh(x)))
defjvp(cosh_p, lambda t, x: lax.mul(t, lax.sinh(x)))
defjvp(asinh_p, lambda t, x: lax.mul(t, lax.rsqrt(lax.add(lax.mul(x, x), _like(x, 1)))))
defjvp(acosh_p, lambda t, x: lax.mul(t, lax.rsqrt(lax.mul(lax.sub(x, _like(x, 1)),
                                                          lax.add(x, _like(x, 1))))))
defjvp(atanh_p, lambda t, x: lax.div(t, lax.sub(_like(x, 1), lax.mul(x, x))))
defjvp_with_output(sqrt_p, lambda t, out, x: lax.div(t, lax.mul(_like(out, 2), out)))
defjvp_with_output(rsqrt_p, lambda t, out, x: lax.mul(t, lax.mul(_like(out, -0.5),
                                                                  lax.div(out, x))))
defjvp_with_output(cbrt_p, lambda t, out, x: lax.mul(t, lax.mul(_like(out, 1 / 3),
                                                                 lax.integer_pow(out, -2))))
defjvp(abs_p, lambda t, x: lax.mul(t, lax.sign(x)))
defjvp(square_p, lambda t, x: lax.mul(t, lax.mul(_like(x, 2), x)))
defjvp(erf_p, lambda t, x: lax.mul(t, lax.mul(_like(x, 2 / np.sqrt(np.pi)),
                                              lax.exp(lax.neg(lax.mul(x, x))))))
defjvp(erfc_p, lambda t, x: lax.mul(t, lax.mul(_like(x, -2 / np.sqrt(np.pi)),
                                               lax.exp(lax.neg(lax.mul(x, x))))))
defjvp_with_output(erf_inv_p, lambda t, out, x: lax.mul(t, lax.mul(
    _like(out, np.sqrt(np.pi) / 2), lax.exp(lax.mul(out, out)))))
defjvp(lgamma_p, lambda t, x: lax.mul(t, lax.digamma(x)))


def _trigamma(x: object) -> object:
    """psi'(x) from fborn ops: reflection below 0.5, recurrence to x >= 10, then the
    asymptotic series (so it is itself differentiable)."""
    reflect = lax.lt(x, _like(x, 0.5))
    y = lax.select(reflect, lax.sub(_like(x, 1), x), x)
    acc = _like(x, 0)
    for _ in range(10):
        small = lax.lt(y, _like(x, 10))
        acc = lax.add(acc, lax.select(small, lax.div(_like(x, 1), lax.mul(y, y)), _like(x, 0)))
        y = lax.select(small, lax.add(y, _like(x, 1)), y)
    inv = lax.div(_like(x, 1), y)
    inv2 = lax.mul(inv, inv)
    series = lax.mul(inv, lax.add(_like(x, 1), lax.mul(inv, lax.add(_like(x, 0.5), lax.mul(
        inv, lax.add(_like(x, 1 / 6), lax.mul(inv2, lax.add(_like(x, -1 / 30), lax.mul(
            inv2, lax.add(_like(x, 1 / 42), lax.mul(inv2, _like(x, -1 / 30))))))))))))
    value = lax.add(acc, series)
    sin_pi_x = lax.sin(lax.mul(_like(x, np.pi), x))
    reflected = lax.sub(lax.div(_like(x, np.pi**2), lax.mul(sin_pi_x, sin_pi_x)), value)
    return lax.select(reflect, reflected, value)


defjvp(digamma_p, lambda t, x: lax.mul(t, _trigamma(x)))


def _integer_pow_partial(t: object, x: object, *, y: int) -> object:
    if y == 0:
        return lax.mul(t, _like(x, 0))
    scale = _like(x, y)
    return lax.mul(t, scale if y == 1 else lax.mul(scale, lax.integer_pow(x, y - 1)))


defjvp(integer_pow_p, _integer_pow_partial)

defjvp(add_p, lambda t, x, y: t, lambda t, x, y: t)
defjvp(sub_p, lambda t, x, y: t, lambda t, x, y: lax.neg(t))
defjvp(mul_p, lambda t, x, y: lax.mul(t, y), lambda t, x, y: lax.mul(x, t))
defjvp_with_output(div_p, lambda t, out, x, y: lax.div(t, y),
                   lambda t, out, x, y: lax.neg(lax.mul(t, lax.div(out, y))))
defjvp(rem_p, lambda t, x, y: t,
       lambda t, x, y: lax.mul(lax.neg(t), lax.mul(lax.sign(lax.div(x, y)),
                                                   lax.floor(lax.abs(lax.div(x, y))))))


def _pow_dx(t: object, x: object, y: object) -> object:
    safe = lax.mul(y, lax.pow(x, lax.sub(y, _like(y, 1))))
    return lax.mul(t, lax.select(lax.eq(y, _like(y, 0)), _like(y, 0), safe))


def _pow_dy(t: object, out: object, x: object, y: object) -> object:
    is_zero = lax.eq(x, _like(x, 0))
    safe_log = lax.log(lax.select(is_zero, _like(x, 1), x))
    return lax.mul(t, lax.select(is_zero, _like(x, 0), lax.mul(safe_log, out)))


def _pow_jvp(primals: list, tangents: list) -> tuple[object, object]:
    x, y = primals
    tx, ty = tangents
    out = pow_p.bind(x, y)
    total = Zero(tangent_aval(out.aval))
    if type(tx) is not Zero:
        total = rules.add_tangents(total, _pow_dx(tx, x, y))
    if type(ty) is not Zero:
        total = rules.add_tangents(total, _pow_dy(ty, out, x, y))
    return out, total


pow_p.jvp = _pow_jvp


def _tie_weight(x: object, y: object) -> object:
    """1 where x wins, 0.5 at ties (each side gets half, as JAX), 0 where y wins."""
    half = lax.select(lax.eq(x, y), _like(x, 0.5), _like(x, 0))
    return lax.select(lax.gt(x, y), _like(x, 1), half)


defjvp(max_p, lambda t, x, y: lax.mul(t, _tie_weight(x, y)),
       lambda t, x, y: lax.mul(t, _tie_weight(y, x)))
defjvp(min_p, lambda t, x, y: lax.mul(t, _tie_weight(y, x)),
       lambda t, x, y: lax.mul(t, _tie_weight(x, y)))


def _atan2_denominator(x: object, y: object) -> object:
    return lax.add(lax.mul(x, x), lax.mul(y, y))


defjvp(atan2_p, lambda t, x, y: lax.mul(t, lax.div(y, _atan2_denominator(x, y))),
       lambda t, x, y: lax.mul(t, lax.neg(lax.div(x, _atan2_denominator(x, y)))))


def _linear_binary_transpose(sign_y: float):
    def transpose(ct: object, x: object, y: object) -> list:
        cy = lax.neg(ct) if sign_y < 0 else ct
        return [ct if is_undefined(x) else None, cy if is_undefined(y) else None]

    return transpose


add_p.transpose = _linear_binary_transpose(1.0)
sub_p.transpose = _linear_binary_transpose(-1.0)


def _mul_transpose(ct: object, x: object, y: object) -> list:
    if is_undefined(x) and is_undefined(y):
        raise ValueError("mul is not linear in both operands at once")
    if is_undefined(x):
        return [lax.mul(ct, y), None]
    return [None, lax.mul(x, ct)]


def _div_transpose(ct: object, x: object, y: object) -> list:
    if is_undefined(y):
        raise ValueError("div is not linear in its denominator")
    return [lax.div(ct, y), None]


mul_p.transpose = _mul_transpose
div_p.transpose = _div_transpose


def _convert_jvp(primals: list, tangents: list, *, new_dtype: np.dtype, weak_type: bool
                 ) -> tuple[object, object]:
    (x,), (t,) = primals, tangents
    out = convert_element_type_p.bind(x, new_dtype=new_dtype, weak_type=weak_type)
    if type(t) is Zero or not dtypes.is_float(new_dtype):
        return out, Zero(tangent_aval(out.aval))
    return out, convert_element_type_p.bind(t, new_dtype=new_dtype, weak_type=False)


def _convert_transpose(ct: object, x: object, *, new_dtype: np.dtype, weak_type: bool) -> list:
    return [convert_element_type_p.bind(ct, new_dtype=x.aval.dtype, weak_type=False)]


convert_element_type_p.jvp = _convert_jvp
convert_element_type_p.transpose = _convert_transpose


def _select_n_jvp(primals: list, tangents: list) -> tuple[object, object]:
    which, *cases = primals
    out = select_n_p.bind(which, *cases)
    if all(type(t) is Zero for t in tangents[1:]):
        return out, Zero(tangent_aval(out.aval))
    return out, select_n_p.bind(which, *[instantiate(t) for t in tangents[1:]])


def _select_n_transpose(ct: object, which: object, *cases: object) -> list:
    if is_undefined(which):
        raise ValueError("select_n is not linear in its selector")
    zeros = _like(ct, 0)
    outs: list = [None]
    for i, case in enumerate(cases):
        if not is_undefined(case):
            outs.append(None)
            continue
        picks = [zeros] * len(cases)
        picks[i] = ct
        outs.append(select_n_p.bind(which, *picks))
    return outs


def _select_n_batch(axis: object, values: list, dims: list) -> tuple[object, int]:
    which, *cases = values
    wdim, *cdims = dims
    case_shape = next(v.aval.shape for v, d in zip(cases, cdims, strict=True) if d is None) \
        if all(d is None for d in cdims) else None
    if wdim is not None and which.aval.ndim == 1 and (case_shape is None or case_shape):
        cases = rules.batch_at_front(cases, cdims, axis.size)
        which = lax.broadcast_in_dim(which, cases[0].aval.shape, (wdim,))
        return select_n_p.bind(which, *cases), 0
    if wdim is None and which.aval.shape == ():
        cases = rules.batch_at_front(cases, cdims, axis.size)
        return select_n_p.bind(which, *cases), 0
    which, *cases = rules.batch_at_front([which, *cases], [wdim, *cdims], axis.size)
    return select_n_p.bind(which, *cases), 0


select_n_p.jvp = _select_n_jvp
select_n_p.transpose = _select_n_transpose
select_n_p.batch = _select_n_batch


def _clamp_jvp(primals: list, tangents: list) -> tuple[object, object]:
    lo, x, hi = primals
    out = clamp_p.bind(lo, x, hi)
    total = Zero(tangent_aval(out.aval))
    t_lo, t_x, t_hi = tangents
    zeros = _like(out, 0)
    if type(t_x) is not Zero:
        inside = lax.bitwise_and(lax.ge(x, lax.broadcast_in_dim(lo, x.aval.shape, ())
                                        if lo.aval.shape == () else lo),
                                 lax.le(x, lax.broadcast_in_dim(hi, x.aval.shape, ())
                                        if hi.aval.shape == () else hi))
        total = rules.add_tangents(total, lax.select(inside, t_x, zeros))
    for bound, t, below in ((lo, t_lo, True), (hi, t_hi, False)):
        if type(t) is Zero:
            continue
        full_bound = lax.broadcast_in_dim(bound, x.aval.shape, ()) if bound.aval.shape == () \
            else bound
        full_t = lax.broadcast_in_dim(t, x.aval.shape, ()) if bound.aval.shape == () else t
        hit = lax.lt(x, full_bound) if below else lax.gt(x, full_bound)
        total = rules.add_tangents(total, lax.select(hit, full_t, zeros))
    return out, total


def _clamp_batch(axis: object, values: list, dims: list) -> tuple[object, int]:
    lo, x, hi = values
    dlo, dx, dhi = dims
    x = rules.move_axis(x, dx, 0, axis.size)
    full = x.aval.shape
    bounds = []
    for b, d in ((lo, dlo), (hi, dhi)):
        if d is None and b.aval.shape == ():
            bounds.append(b)
        elif b.aval.ndim == (d is not None):
            bounds.append(lax.broadcast_in_dim(b, full, () if d is None else (0,)))
        else:
            bounds.append(rules.move_axis(b, d, 0, axis.size))
    return clamp_p.bind(bounds[0], x, bounds[1]), 0


clamp_p.jvp = _clamp_jvp
clamp_p.batch = _clamp_batch
