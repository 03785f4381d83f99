"""Elementwise functions of ``fborn.numpy`` (jax.numpy's ufuncs): arithmetic, powers, exponentials
and logarithms, trigonometry, rounding, comparisons, logical and bitwise ops, closeness tests,
``where`` and ``select``.

Every function promotes its operands with JAX's lattice (Python scalars are weak), broadcasts them
with numpy's rules and binds primitives, so it traces under ``make_jaxpr``. Functions that only
make sense on floats (``sin``, ``divide``, ``hypot``...) promote integers and bools to the default
float. Lists and tuples are refused (TypeError), as in JAX.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ml_dtypes
import numpy as np

from fborn import lax
from fborn.core import dtypes
from fborn.core.array import Array, ArrayImpl
from fborn.core.errors import FbornShapeError
from fborn.numpy._util import (
    ArrayLike,
    asarray,
    broadcast_shapes,
    broadcast_to,
    convert,
    promote_args,
    promote_args_inexact,
    promote_dtypes,
)

__all__ = [
    "abs", "absolute", "acos", "acosh", "add", "allclose", "arccos", "arccosh", "arcsin",
    "arcsinh", "arctan", "arctan2", "arctanh", "around", "array_equal", "array_equiv", "asin",
    "asinh", "atan", "atan2", "atanh", "bitwise_and", "bitwise_invert", "bitwise_left_shift",
    "bitwise_not", "bitwise_or", "bitwise_right_shift", "bitwise_xor", "cbrt", "ceil", "clip",
    "conj", "conjugate", "copysign", "cos", "cosh", "deg2rad", "degrees", "divide", "divmod",
    "equal", "exp", "exp2", "expm1", "fix", "float_power", "floor", "floor_divide", "fmax", "fmin",
    "fmod", "greater", "greater_equal", "heaviside", "hypot", "imag", "invert", "isclose",
    "isfinite", "isinf", "isnan", "isneginf", "isposinf", "ldexp", "left_shift", "less",
    "less_equal", "log", "log10", "log1p", "log2", "logaddexp", "logaddexp2", "logical_and",
    "logical_not", "logical_or", "logical_xor", "maximum", "minimum", "mod", "multiply",
    "nan_to_num", "negative", "nextafter", "not_equal", "positive", "pow", "power", "rad2deg",
    "radians", "real", "reciprocal", "remainder", "right_shift", "rint", "round", "select", "sign",
    "signbit", "sin", "sinc", "sinh", "sqrt", "square", "subtract", "tan", "tanh", "true_divide",
    "trunc", "where",
]

_ARRAYLIKE = (Array, np.ndarray, np.generic, bool, int, float)


# --- helpers shared with _reductions ---------------------------------------------------------


def check_arraylike(name: str, *args: Any) -> None:
    """Raise TypeError unless every argument is an array or a scalar (as jax.numpy does)."""
    for i, a in enumerate(args):
        if not isinstance(a, _ARRAYLIKE):
            raise TypeError(f"{name} requires ndarray or scalar arguments, got "
                            f"{type(a).__name__} at position {i}")


def full_like(x: Array, value: Any, dtype: np.dtype | None = None) -> Array:
    """An array of ``x``'s shape filled with the static ``value`` (``x``'s dtype and weak type,
    or strongly typed ``dtype``)."""
    dt = x.dtype if dtype is None else dtype
    scalar = ArrayImpl(np.array(value, dtype=dt), weak_type=x.weak_type and dtype is None)
    return lax.broadcast_in_dim(scalar, x.shape, ())


def is_float(x: Array) -> bool:
    return dtypes.is_float(x.dtype)


def as_bool(x: Array) -> Array:
    """``x != 0`` (bool arrays pass through)."""
    return x if x.dtype == dtypes.bool_ else lax.ne(x, full_like(x, 0))


def isnan_array(x: Array) -> Array:
    """``isnan`` of an Array (all False for integers and bools)."""
    return lax.ne(x, x) if is_float(x) else full_like(x, False, dtypes.bool_)


def _named(name: str, doc: str, fn: Callable[..., Array]) -> Callable[..., Array]:
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


def _promote_numeric(*args: Any) -> list[Array]:
    """``promote_args``, then bool results become int32 (as jnp's arithmetic, x64 or not)."""
    arrays = promote_args(*args)
    if arrays[0].dtype == dtypes.bool_:
        return [convert(a, dtypes.int32, weak=False) for a in arrays]
    return arrays


def _broadcast_all(*arrays: Array) -> list[Array]:
    shape = broadcast_shapes(*[a.shape for a in arrays])
    return [broadcast_to(a, shape) for a in arrays]


# --- function families ---------------------------------------------------------------------------


def _inexact_unary(name: str, fn: Callable[[Array], Array], doc: str) -> Callable[..., Array]:
    def op(x: ArrayLike, /) -> Array:
        check_arraylike(name, x)
        (x,) = promote_args_inexact(x)
        return fn(x)

    return _named(name, f"{doc} Integers and bools promote to the default float.", op)


def _inexact_binary(name: str, fn: Callable[[Array, Array], Array],
                    doc: str) -> Callable[..., Array]:
    def op(x1: ArrayLike, x2: ArrayLike, /) -> Array:
        check_arraylike(name, x1, x2)
        return fn(*promote_args_inexact(x1, x2))

    return _named(name, f"{doc} Broadcasts; integers and bools promote to the default float.",
                  op)


def _promoting_binary(name: str, fn: Callable[[Array, Array], Array], doc: str,
                      numeric: bool = False) -> Callable[..., Array]:
    promote = _promote_numeric if numeric else promote_args

    def op(x1: ArrayLike, x2: ArrayLike, /) -> Array:
        check_arraylike(name, x1, x2)
        return fn(*promote(x1, x2))

    return _named(name, f"{doc} Broadcasts and promotes (JAX's lattice).", op)


# --- arithmetic ----------------------------------------------------------------------------------


def _add(x: Array, y: Array) -> Array:
    return lax.bitwise_or(x, y) if x.dtype == dtypes.bool_ else lax.add(x, y)


def _multiply(x: Array, y: Array) -> Array:
    return lax.bitwise_and(x, y) if x.dtype == dtypes.bool_ else lax.mul(x, y)


add = _promoting_binary("add", _add, "Elementwise ``x1 + x2`` (logical or for bools).")
subtract = _promoting_binary("subtract", lax.sub,
                             "Elementwise ``x1 - x2``; bools raise FbornDtypeError.")
multiply = _promoting_binary("multiply", _multiply,
                             "Elementwise ``x1 * x2`` (logical and for bools).")
divide = _inexact_binary("divide", lax.div, "Elementwise true division ``x1 / x2``.")
true_divide = divide
maximum = _promoting_binary("maximum", lax.max, "Elementwise maximum; NaN propagates.")
minimum = _promoting_binary("minimum", lax.min, "Elementwise minimum; NaN propagates.")
nextafter = _inexact_binary("nextafter", lax.nextafter,
                            "The next float after ``x1`` towards ``x2``.")
float_power = _inexact_binary("float_power", lax.pow,
                              "Elementwise ``x1 ** x2`` computed in a float dtype.")


def _identity(name: str, doc: str) -> Callable[..., Array]:
    def op(x: ArrayLike, /) -> Array:
        check_arraylike(name, x)
        return asarray(x)

    return _named(name, doc, op)


positive = _identity("positive", "Elementwise ``+x``: the input as an array.")
conjugate = _identity("conjugate", "Complex conjugate: the input itself (fborn has no complex "
                      "dtypes).")
conj = conjugate
real = _identity("real", "Real part: the input itself (fborn has no complex dtypes).")


def imag(val: ArrayLike, /) -> Array:
    """Imaginary part: zeros of the input's shape and dtype (fborn has no complex dtypes)."""
    check_arraylike("imag", val)
    x = asarray(val)
    return full_like(x, 0)


def negative(x: ArrayLike, /) -> Array:
    """Elementwise ``-x``; bools raise FbornDtypeError, unsigned integers wrap."""
    check_arraylike("negative", x)
    (x,) = promote_args(x)
    return lax.neg(x)


def absolute(x: ArrayLike, /) -> Array:
    """Elementwise absolute value (bools and unsigned integers are returned unchanged)."""
    check_arraylike("absolute", x)
    (x,) = promote_args(x)
    if x.dtype == dtypes.bool_ or x.dtype.kind == "u":
        return x
    return lax.abs(x)


abs = absolute  # noqa: A001 - numpy name


def sign(x: ArrayLike, /) -> Array:
    """Elementwise sign: -1, 0 or 1 (NaN stays NaN); bools raise FbornDtypeError."""
    check_arraylike("sign", x)
    (x,) = promote_args(x)
    return lax.sign(x)


def square(x: ArrayLike, /) -> Array:
    """Elementwise ``x * x`` (bools promote to the default int)."""
    check_arraylike("square", x)
    (x,) = _promote_numeric(x)
    return lax.square(x)


def reciprocal(x: ArrayLike, /) -> Array:
    """Elementwise ``1 / x``; integers and bools promote to the default float."""
    check_arraylike("reciprocal", x)
    (x,) = promote_args_inexact(x)
    return lax.integer_pow(x, -1)


# --- integer-aware division ----------------------------------------------------------------------


def _signs_differ(x: Array, y: Array) -> Array:
    zero = full_like(x, 0)
    return lax.ne(lax.lt(x, zero), lax.lt(y, zero))


def _int_floor_divide(x: Array, y: Array) -> Array:
    q = lax.div(x, y)
    if x.dtype.kind == "u":
        return q
    r = lax.rem(x, y)
    fix = lax.bitwise_and(lax.ne(r, full_like(r, 0)), _signs_differ(r, y))
    return lax.select(fix, lax.sub(q, full_like(q, 1)), q)


def _int_mod(x: Array, y: Array) -> Array:
    r = lax.rem(x, y)
    if x.dtype.kind == "u":
        return r
    fix = lax.bitwise_and(lax.ne(r, full_like(r, 0)), _signs_differ(r, y))
    return lax.select(fix, lax.add(r, y), r)


def _float_mod_parts(x: Array, y: Array) -> tuple[Array, Array]:
    """``(fmod(x, y), fix)``: fix marks where the truncated remainder's sign differs from y's."""
    r = lax.rem(x, y)
    fix = lax.bitwise_and(lax.ne(r, full_like(r, 0)), _signs_differ(y, r))
    return r, fix


def _float_mod(x: Array, y: Array) -> Array:
    r, fix = _float_mod_parts(x, y)
    return lax.select(fix, lax.add(r, y), r)


def _float_floor_divide(x: Array, y: Array) -> Array:
    """Floor division of floats through the exact remainder (as numpy, so 1 // 0.1 == 9)."""
    r, fix = _float_mod_parts(x, y)
    q = lax.div(lax.sub(x, r), y)
    q = lax.select(fix, lax.sub(q, full_like(q, 1)), q)
    floored = lax.floor(q)
    half_up = lax.gt(lax.sub(q, floored), full_like(q, 0.5))
    floored = lax.select(half_up, lax.add(floored, full_like(q, 1)), floored)
    return lax.select(lax.eq(y, full_like(y, 0)), lax.div(x, y), floored)


def floor_divide(x1: ArrayLike, x2: ArrayLike, /) -> Array:
    """Elementwise ``x1 // x2`` rounding towards -inf (integer division by zero gives 0)."""
    check_arraylike("floor_divide", x1, x2)
    x, y = _promote_numeric(x1, x2)
    return _float_floor_divide(x, y) if is_float(x) else _int_floor_divide(x, y)


def remainder(x1: ArrayLike, x2: ArrayLike, /) -> Array:
    """Elementwise ``x1 % x2`` with the sign of ``x2`` (integer ``x % 0`` gives 0, float NaN)."""
    check_arraylike("remainder", x1, x2)
    x, y = _promote_numeric(x1, x2)
    return _float_mod(x, y) if is_float(x) else _int_mod(x, y)


mod = remainder


def fmod(x1: ArrayLike, x2: ArrayLike, /) -> Array:
    """Elementwise remainder of truncated division (the sign of ``x1``)."""
    check_arraylike("fmod", x1, x2)
    return lax.rem(*_promote_numeric(x1, x2))


def divmod(x1: ArrayLike, x2: ArrayLike, /) -> tuple[Array, Array]:  # noqa: A001 - numpy name
    """``(floor_divide(x1, x2), remainder(x1, x2))``."""
    check_arraylike("divmod", x1, x2)
    x, y = _promote_numeric(x1, x2)
    if is_float(x):
        return _float_floor_divide(x, y), _float_mod(x, y)
    return _int_floor_divide(x, y), _int_mod(x, y)


# --- powers --------------------------------------------------------------------------------------


def _int_power(x: Array, y: Array) -> Array:
    """``x ** y`` for integer arrays by binary exponentiation over every bit of ``y`` (wrapping
    like numpy). A negative exponent gives the truncated real result: 1, -1 or 0."""
    one, zero = full_like(x, 1), full_like(x, 0)
    acc, base, e = one, x, y
    nbits = x.dtype.itemsize * 8
    for i in range(nbits):
        bit_set = lax.ne(lax.bitwise_and(e, one), zero)
        acc = lax.select(bit_set, lax.mul(acc, base), acc)
        if i + 1 < nbits:
            base = lax.mul(base, base)
            e = lax.shift_right_logical(e, one)
    if x.dtype.kind == "u":
        return acc
    minus_one = full_like(x, -1)
    odd = lax.ne(lax.bitwise_and(y, one), zero)
    of_minus_one = lax.select(odd, minus_one, one)
    negative_power = lax.select(lax.eq(x, one), one,
                                lax.select(lax.eq(x, minus_one), of_minus_one, zero))
    return lax.select(lax.lt(y, zero), negative_power, acc)


def power(x1: ArrayLike, x2: ArrayLike, /) -> Array:
    """Elementwise ``x1 ** x2``.

    A Python int exponent binds ``integer_pow`` (exact, and integers raised to a negative Python
    int raise FbornDtypeError). Integer arrays use binary exponentiation with numpy's wrapping;
    negative integer exponents give the truncated real result (numpy raises instead).
    """
    check_arraylike("power", x1, x2)
    if isinstance(x2, int):
        (x,) = _promote_numeric(x1)
        return lax.integer_pow(x, int(x2))
    x, y = _promote_numeric(x1, x2)
    return lax.pow(x, y) if is_float(x) else _int_power(x, y)


pow = power  # noqa: A001 - jax.numpy name


# --- exponentials, logarithms, trigonometry ------------------------------------------------------


def _log_base(base: float) -> Callable[[Array], Array]:
    return lambda x: lax.div(lax.log(x), full_like(x, np.log(base)))


sqrt = _inexact_unary("sqrt", lax.sqrt, "Elementwise square root.")
cbrt = _inexact_unary("cbrt", lax.cbrt, "Elementwise cube root.")
exp = _inexact_unary("exp", lax.exp, "Elementwise ``e ** x``.")
exp2 = _inexact_unary("exp2", lax.exp2, "Elementwise ``2 ** x``.")
expm1 = _inexact_unary("expm1", lax.expm1, "Elementwise ``exp(x) - 1``, accurate near 0.")
log = _inexact_unary("log", lax.log, "Elementwise natural logarithm.")
log2 = _inexact_unary("log2", _log_base(2.0), "Elementwise base-2 logarithm.")
log10 = _inexact_unary("log10", _log_base(10.0), "Elementwise base-10 logarithm.")
log1p = _inexact_unary("log1p", lax.log1p, "Elementwise ``log(1 + x)``, accurate near 0.")
sin = _inexact_unary("sin", lax.sin, "Elementwise sine.")
cos = _inexact_unary("cos", lax.cos, "Elementwise cosine.")
tan = _inexact_unary("tan", lax.tan, "Elementwise tangent.")
arcsin = _inexact_unary("arcsin", lax.asin, "Elementwise inverse sine.")
arccos = _inexact_unary("arccos", lax.acos, "Elementwise inverse cosine.")
arctan = _inexact_unary("arctan", lax.atan, "Elementwise inverse tangent.")
sinh = _inexact_unary("sinh", lax.sinh, "Elementwise hyperbolic sine.")
cosh = _inexact_unary("cosh", lax.cosh, "Elementwise hyperbolic cosine.")
tanh = _inexact_unary("tanh", lax.tanh, "Elementwise hyperbolic tangent.")
arcsinh = _inexact_unary("arcsinh", lax.asinh, "Elementwise inverse hyperbolic sine.")
arccosh = _inexact_unary("arccosh", lax.acosh, "Elementwise inverse hyperbolic cosine.")
arctanh = _inexact_unary("arctanh", lax.atanh, "Elementwise inverse hyperbolic tangent.")
arctan2 = _inexact_binary("arctan2", lax.atan2,
                          "Elementwise angle of the point ``(x2, x1)`` in radians.")
asin, acos, atan, atan2 = arcsin, arccos, arctan, arctan2
asinh, acosh, atanh = arcsinh, arccosh, arctanh

deg2rad = _inexact_unary("deg2rad", lambda x: lax.mul(x, full_like(x, np.pi / 180)),
                         "Degrees to radians.")
rad2deg = _inexact_unary("rad2deg", lambda x: lax.mul(x, full_like(x, 180 / np.pi)),
                         "Radians to degrees.")
radians, degrees = deg2rad, rad2deg


def _sinc(x: Array) -> Array:
    is_zero = lax.eq(x, full_like(x, 0))
    pi_x = lax.select(is_zero, full_like(x, 1), lax.mul(x, full_like(x, np.pi)))
    return lax.select(is_zero, full_like(x, 1), lax.div(lax.sin(pi_x), pi_x))


sinc = _inexact_unary("sinc", _sinc, "Normalized sinc ``sin(pi x) / (pi x)`` (1 at 0).")


def _hypot(x: Array, y: Array) -> Array:
    a, b = lax.abs(x), lax.abs(y)
    hi, lo = lax.max(a, b), lax.min(a, b)
    zero = lax.eq(hi, full_like(hi, 0))
    ratio = lax.div(lo, lax.select(zero, full_like(hi, 1), hi))
    r = lax.mul(hi, lax.sqrt(lax.add(full_like(hi, 1), lax.mul(ratio, ratio))))
    inf = full_like(hi, np.inf)
    return lax.select(lax.bitwise_or(lax.eq(a, inf), lax.eq(b, inf)), inf, r)


hypot = _inexact_binary("hypot", _hypot,
                        "Elementwise ``sqrt(x1**2 + x2**2)`` without overflow (inf wins over NaN).")


def _logaddexp_with(exp_fn: Callable[[Array], Array],
                    scale: float) -> Callable[[Array, Array], Array]:
    def fn(x: Array, y: Array) -> Array:
        delta = lax.sub(x, y)
        tail = lax.log1p(exp_fn(lax.neg(lax.abs(delta))))
        if scale != 1.0:
            tail = lax.mul(tail, full_like(tail, scale))
        out = lax.add(lax.max(x, y), tail)
        return lax.select(lax.ne(delta, delta), lax.add(x, y), out)

    return fn


logaddexp = _inexact_binary("logaddexp", _logaddexp_with(lax.exp, 1.0),
                            "Elementwise ``log(exp(x1) + exp(x2))`` without overflow.")
logaddexp2 = _inexact_binary("logaddexp2", _logaddexp_with(lax.exp2, 1 / np.log(2)),
                             "Elementwise ``log2(2**x1 + 2**x2)`` without overflow.")


def _heaviside(x: Array, h0: Array) -> Array:
    zero = full_like(x, 0)
    at_zero = lax.select(lax.eq(x, zero), h0, x)  # NaN stays NaN
    pos = lax.select(lax.gt(x, zero), full_like(x, 1), at_zero)
    return lax.select(lax.lt(x, zero), zero, pos)


heaviside = _inexact_binary("heaviside", _heaviside,
                            "Step function: 0 for ``x1 < 0``, ``x2`` at 0, 1 for ``x1 > 0``.")


# --- rounding ------------------------------------------------------------------------------------


def _float_only(name: str, fn: Callable[[Array], Array], doc: str) -> Callable[..., Array]:
    def op(x: ArrayLike, /) -> Array:
        check_arraylike(name, x)
        (x,) = promote_args(x)
        return fn(x) if is_float(x) else x

    return _named(name, f"{doc} Integers and bools are returned unchanged.", op)


def _trunc(x: Array) -> Array:
    return lax.select(lax.lt(x, full_like(x, 0)), lax.ceil(x), lax.floor(x))


floor = _float_only("floor", lax.floor, "Elementwise floor.")
ceil = _float_only("ceil", lax.ceil, "Elementwise ceiling.")
trunc = _float_only("trunc", _trunc, "Elementwise rounding towards zero.")
fix = _float_only("fix", _trunc, "Elementwise rounding towards zero (numpy's name; removed from "
                  "jax.numpy in JAX 0.10, kept here as ``trunc``).")
rint = _inexact_unary("rint", lambda x: lax.round(x, 1),
                      "Elementwise rounding to the nearest integer, halves to even.")


def round(a: ArrayLike, decimals: int = 0, out: None = None) -> Array:  # noqa: A001 - numpy name
    """Round to ``decimals`` decimal places, halves to even (as numpy).

    Integers are returned unchanged for ``decimals >= 0`` (NotImplementedError below 0, as in
    JAX); bools raise ValueError. float16/bfloat16 are scaled in float32.
    """
    check_arraylike("round", a)
    if out is not None:
        raise NotImplementedError("The 'out' argument to round is not supported.")
    (x,) = promote_args(a)
    decimals = int(decimals)
    if x.dtype == dtypes.bool_:
        raise ValueError("round is not defined for bool arrays")
    if not is_float(x):
        if decimals < 0:
            raise NotImplementedError("integer round is not implemented for decimals < 0")
        return x
    if decimals == 0:
        return lax.round(x, 1)
    work = convert(x, dtypes.float32, x.weak_type) if x.dtype.itemsize < 4 else x
    if decimals > 0:
        factor = full_like(work, 10.0**decimals)
        rounded = lax.div(lax.round(lax.mul(work, factor), 1), factor)
    else:
        factor = full_like(work, 10.0**-decimals)
        rounded = lax.mul(lax.round(lax.div(work, factor), 1), factor)
    return convert(rounded, x.dtype, x.weak_type)


around = round


def clip(arr: ArrayLike, /, min: ArrayLike | None = None,  # noqa: A002 - jax.numpy names
         max: ArrayLike | None = None, *, a_min: ArrayLike | None = None,  # noqa: A002
         a_max: ArrayLike | None = None) -> Array:
    """Clip ``arr`` to ``[min, max]`` (either bound may be None); bounds broadcast and promote
    like ``maximum``/``minimum``, so NaN propagates. ``a_min``/``a_max`` are numpy's older names
    (removed from jax.numpy in JAX 0.10; giving both spellings raises ValueError)."""
    if a_min is not None:
        if min is not None:
            raise ValueError("clip: give either min or a_min, not both")
        min = a_min  # noqa: A001
    if a_max is not None:
        if max is not None:
            raise ValueError("clip: give either max or a_max, not both")
        max = a_max  # noqa: A001
    check_arraylike("clip", arr)
    out = asarray(arr)
    if min is not None:
        out = maximum(min, out)
    if max is not None:
        out = minimum(max, out)
    return out


def _nan_aware(pick: Callable[[Array, Array], Array]) -> Callable[[Array, Array], Array]:
    def fn(x: Array, y: Array) -> Array:
        if not is_float(x):
            return pick(x, y)
        out = lax.select(lax.ne(x, x), y, pick(x, y))
        return lax.select(lax.ne(y, y), x, out)

    return fn


fmax = _promoting_binary("fmax", _nan_aware(lax.max),
                         "Elementwise maximum ignoring NaN (NaN only where both are NaN).")
fmin = _promoting_binary("fmin", _nan_aware(lax.min),
                         "Elementwise minimum ignoring NaN (NaN only where both are NaN).")


# --- float classification ------------------------------------------------------------------------


def _classifier(name: str, fn: Callable[[Array], Array], non_float: bool,
                doc: str) -> Callable[..., Array]:
    def op(x: ArrayLike, /) -> Array:
        check_arraylike(name, x)
        x = asarray(x)
        return fn(x) if is_float(x) else full_like(x, non_float, dtypes.bool_)

    return _named(name, f"{doc} Integers and bools give {non_float}.", op)


isnan = _classifier("isnan", lambda x: lax.ne(x, x), False, "Elementwise test for NaN.")
isinf = _classifier("isinf", lambda x: lax.eq(lax.abs(x), full_like(x, np.inf)), False,
                    "Elementwise test for +inf or -inf.")
isposinf = _classifier("isposinf", lambda x: lax.eq(x, full_like(x, np.inf)), False,
                       "Elementwise test for +inf.")
isneginf = _classifier("isneginf", lambda x: lax.eq(x, full_like(x, -np.inf)), False,
                       "Elementwise test for -inf.")
isfinite = _classifier("isfinite", lax.is_finite, True,
                       "Elementwise test for finite values (not inf, not NaN).")


def nan_to_num(x: ArrayLike, copy: bool = True, nan: ArrayLike = 0.0,
               posinf: ArrayLike | None = None, neginf: ArrayLike | None = None) -> Array:
    """Replace NaN by ``nan``, +inf by ``posinf`` (default: the dtype's largest value) and -inf
    by ``neginf`` (default: the most negative). Integers and bools are returned unchanged."""
    del copy
    check_arraylike("nan_to_num", x)
    x = asarray(x)
    if not is_float(x):
        return x
    info = ml_dtypes.finfo(x.dtype)
    out = lax.select(lax.ne(x, x), _fill_value(x, nan), x)
    out = lax.select(lax.eq(x, full_like(x, np.inf)),
                     _fill_value(x, info.max if posinf is None else posinf), out)
    return lax.select(lax.eq(x, full_like(x, -np.inf)),
                      _fill_value(x, info.min if neginf is None else neginf), out)


def _fill_value(x: Array, value: ArrayLike) -> Array:
    """``value`` (a static scalar or an array) as ``x``'s dtype, broadcast to ``x``'s shape."""
    if isinstance(value, (Array, np.ndarray)):
        return broadcast_to(convert(asarray(value), x.dtype, x.weak_type), x.shape)
    return full_like(x, value)


def _float_signbit(x: Array) -> Array:
    zero = full_like(x, 0)
    negative_zero = lax.bitwise_and(lax.eq(x, zero), lax.lt(lax.div(full_like(x, 1), x), zero))
    return lax.bitwise_or(lax.lt(x, zero), negative_zero)


def signbit(x: ArrayLike, /) -> Array:
    """Elementwise test of the sign bit (True for negatives and -0.0).

    Deviation: fborn has no bitcast primitive, so the sign bit of NaN reads as False.
    """
    check_arraylike("signbit", x)
    x = asarray(x)
    if is_float(x):
        return _float_signbit(x)
    if x.dtype.kind == "i":
        return lax.lt(x, full_like(x, 0))
    return full_like(x, False, dtypes.bool_)


def _copysign(x: Array, y: Array) -> Array:
    magnitude = lax.abs(x)
    return lax.select(_float_signbit(y), lax.neg(magnitude), magnitude)


copysign = _inexact_binary("copysign", _copysign,
                           "``|x1|`` with the sign of ``x2`` (NaN in ``x2`` counts as positive).")


def ldexp(x1: ArrayLike, x2: ArrayLike, /) -> Array:
    """Elementwise ``x1 * 2**x2`` for an integer (or bool) ``x2``; ``x1`` promotes to a float.

    Raises ValueError if ``x2`` is not integral.
    """
    check_arraylike("ldexp", x1, x2)
    e = asarray(x2)
    if dtypes.is_float(e.dtype):
        raise ValueError(f"ldexp needs an integer exponent, got dtype {e.dtype}")
    (x,) = promote_args_inexact(x1)
    x, e = _broadcast_all(x, e)
    info = ml_dtypes.finfo(x.dtype)
    limit = info.maxexp - info.minexp + info.nmant + 1  # beyond it, the result is 0 or inf
    e = _clamped_int32(e, limit)
    # Scale by three factors 2**k with |k| <= limit / 3, each representable in x's dtype.
    third = _int_floor_divide(e, full_like(e, 3))
    half = _int_floor_divide(lax.sub(e, third), full_like(e, 2))
    for k in (third, half, lax.sub(lax.sub(e, third), half)):
        x = lax.mul(x, lax.exp2(convert(k, x.dtype, x.weak_type)))
    return x


def _clamped_int32(e: Array, limit: int) -> Array:
    if e.dtype.itemsize >= 4 and e.dtype != dtypes.int32:
        lo = 0 if e.dtype.kind == "u" else -limit
        e = lax.clamp(full_like(e, lo), e, full_like(e, limit))
    e = convert(e, dtypes.int32, weak=False)
    return lax.clamp(full_like(e, -limit), e, full_like(e, limit))


# --- comparisons, logical and bitwise ops --------------------------------------------------------

equal = _promoting_binary("equal", lax.eq, "Elementwise ``x1 == x2`` (bool result).")
not_equal = _promoting_binary("not_equal", lax.ne, "Elementwise ``x1 != x2`` (bool result).")
less = _promoting_binary("less", lax.lt, "Elementwise ``x1 < x2`` (bool result).")
less_equal = _promoting_binary("less_equal", lax.le, "Elementwise ``x1 <= x2`` (bool result).")
greater = _promoting_binary("greater", lax.gt, "Elementwise ``x1 > x2`` (bool result).")
greater_equal = _promoting_binary("greater_equal", lax.ge,
                                  "Elementwise ``x1 >= x2`` (bool result).")


def _logical(name: str, fn: Callable[[Array, Array], Array], doc: str) -> Callable[..., Array]:
    def op(x1: ArrayLike, x2: ArrayLike, /) -> Array:
        check_arraylike(name, x1, x2)
        return fn(*_broadcast_all(as_bool(asarray(x1)), as_bool(asarray(x2))))

    return _named(name, f"{doc} Non-bool inputs count as ``x != 0``; broadcasts.", op)


logical_and = _logical("logical_and", lax.bitwise_and, "Elementwise logical and.")
logical_or = _logical("logical_or", lax.bitwise_or, "Elementwise logical or.")
logical_xor = _logical("logical_xor", lax.ne, "Elementwise logical exclusive or.")


def logical_not(x: ArrayLike, /) -> Array:
    """Elementwise logical not (non-bool inputs count as ``x != 0``)."""
    check_arraylike("logical_not", x)
    return lax.bitwise_not(as_bool(asarray(x)))


bitwise_and = _promoting_binary("bitwise_and", lax.bitwise_and,
                                "Elementwise bitwise and of integers or bools.")
bitwise_or = _promoting_binary("bitwise_or", lax.bitwise_or,
                               "Elementwise bitwise or of integers or bools.")
bitwise_xor = _promoting_binary("bitwise_xor", lax.bitwise_xor,
                                "Elementwise bitwise xor of integers or bools.")


def invert(x: ArrayLike, /) -> Array:
    """Elementwise bitwise not of integers (logical not of bools); floats raise
    FbornDtypeError."""
    check_arraylike("invert", x)
    (x,) = promote_args(x)
    return lax.bitwise_not(x)


bitwise_not = invert
bitwise_invert = invert


def _right_shift(x: Array, y: Array) -> Array:
    if x.dtype.kind == "u":
        return lax.shift_right_logical(x, y)
    return lax.shift_right_arithmetic(x, y)


left_shift = _promoting_binary("left_shift", lax.shift_left,
                               "Elementwise ``x1 << x2`` of integers (0 once shifted out).",
                               numeric=True)
right_shift = _promoting_binary("right_shift", _right_shift,
                                "Elementwise ``x1 >> x2`` of integers (arithmetic for signed).",
                                numeric=True)
bitwise_left_shift = left_shift
bitwise_right_shift = right_shift


# --- closeness and equality of whole arrays ------------------------------------------------------


def isclose(a: ArrayLike, b: ArrayLike, rtol: ArrayLike = 1e-05, atol: ArrayLike = 1e-08,
            equal_nan: bool = False) -> Array:
    """Elementwise ``|a - b| <= atol + rtol * |b|`` (bool), in the promoted float dtype.

    Infinities are close only to themselves; NaN is close to nothing unless ``equal_nan``.
    """
    check_arraylike("isclose", a, b)
    x, y = promote_args_inexact(a, b)
    bound = lax.add(_fill_value(x, atol), lax.mul(_fill_value(x, rtol), lax.abs(y)))
    near = lax.bitwise_and(lax.is_finite(y), lax.le(lax.abs(lax.sub(x, y)), bound))
    out = lax.bitwise_or(lax.eq(x, y), near)
    if equal_nan:
        out = lax.bitwise_or(out, lax.bitwise_and(lax.ne(x, x), lax.ne(y, y)))
    return out


def _all(x: Array) -> Array:
    return lax.reduce_and(x, tuple(range(x.ndim)))


def allclose(a: ArrayLike, b: ArrayLike, rtol: ArrayLike = 1e-05, atol: ArrayLike = 1e-08,
             equal_nan: bool = False) -> Array:
    """Whether every element pair is ``isclose``: a 0-d bool Array."""
    return _all(isclose(a, b, rtol, atol, equal_nan))


def array_equal(a1: ArrayLike, a2: ArrayLike, equal_nan: bool = False) -> Array:
    """Whether both arrays have the same shape and equal elements: a 0-d bool Array."""
    check_arraylike("array_equal", a1, a2)
    x, y = asarray(a1), asarray(a2)
    if x.shape != y.shape:
        return asarray(np.bool_(False))
    x, y = promote_dtypes(x, y)
    eq = lax.eq(x, y)
    if equal_nan and is_float(x):
        eq = lax.bitwise_or(eq, lax.bitwise_and(lax.ne(x, x), lax.ne(y, y)))
    return _all(eq)


def array_equiv(a1: ArrayLike, a2: ArrayLike) -> Array:
    """Whether the arrays broadcast together with equal elements: a 0-d bool Array (False when
    the shapes do not broadcast; JAX raises there)."""
    check_arraylike("array_equiv", a1, a2)
    x, y = asarray(a1), asarray(a2)
    try:
        broadcast_shapes(x.shape, y.shape)
    except FbornShapeError:
        return asarray(np.bool_(False))
    return _all(lax.eq(*promote_args(x, y)))


# --- selection -----------------------------------------------------------------------------------


def where(condition: ArrayLike, x: ArrayLike | None = None, y: ArrayLike | None = None, /, *,
          size: int | None = None, fill_value: ArrayLike | None = None) -> Array:
    """``x`` where ``condition`` (``!= 0``) holds, else ``y``; the three broadcast and ``x``,
    ``y`` promote.

    The one-argument form is not supported here: use ``fborn.numpy.nonzero(condition, size=...)``
    (NotImplementedError).
    """
    if x is None and y is None:
        raise NotImplementedError(
            "where(condition) with one argument is not supported; use "
            "fborn.numpy.nonzero(condition, size=...) instead")
    if x is None or y is None:
        raise ValueError("where: give both x and y, or neither")
    if size is not None or fill_value is not None:
        raise ValueError("where: size and fill_value only apply to the one-argument form")
    check_arraylike("where", condition, x, y)
    cond = as_bool(asarray(condition))
    cond, on_true, on_false = _broadcast_all(cond, *promote_dtypes(x, y))
    return lax.select(cond, on_true, on_false)


def select(condlist: Sequence[ArrayLike], choicelist: Sequence[ArrayLike],
           default: ArrayLike = 0) -> Array:
    """Elementwise, the choice of the first condition that holds, else ``default``; conditions
    and choices broadcast together, choices promote with ``default``.

    Raises ValueError for empty or unequal-length lists.
    """
    if len(condlist) != len(choicelist):
        raise ValueError(f"select: condlist has {len(condlist)} entries but choicelist has "
                         f"{len(choicelist)}")
    if not condlist:
        raise ValueError("select: condlist must be non-empty")
    check_arraylike("select", *condlist, *choicelist, default)
    conds = [as_bool(asarray(c)) for c in condlist]
    choices = promote_dtypes(*choicelist, default)
    arrays = _broadcast_all(*conds, *choices)
    conds, choices = arrays[:len(conds)], arrays[len(conds):]
    out = choices[-1]
    for cond, choice in zip(reversed(conds), reversed(choices[:-1]), strict=True):
        out = lax.select(cond, choice, out)
    return out
