"""Scalar helpers that generated numba code calls (semantics of fborn's primitives)."""

from __future__ import annotations

import math
import sys

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic

_OPTS = {"cache": True, "error_model": "numpy"}


@njit(**_OPTS)
def trunc_div(a, b):  # noqa: ANN001, ANN201 - numba-typed
    """Integer division rounding toward zero; 0 when dividing by zero (lax.div); the minimum
    integer over -1 wraps to itself (numba's ``//`` gives 0 for int64)."""
    if b == 0:
        return a - a
    if b == -1:
        return a - a - a
    q = a // b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q += b // b  # 1 in q's type (a literal 1 would make uint64 arithmetic float64)
    return q


@njit(**_OPTS)
def trunc_rem(a, b):  # noqa: ANN001, ANN201
    """Remainder with the sign of the dividend; 0 when dividing by zero or by -1 (lax.rem)."""
    if b == 0 or b == -1:
        return a - a
    return a - b * trunc_div(a, b)


@njit(**_OPTS)
def round_away(x):  # noqa: ANN001, ANN201
    """Round half away from zero (np.floor: math.floor returns an int64 in numba, which
    breaks inf, NaN and values beyond 2**63)."""
    return math.copysign(np.floor(abs(x) + 0.5), x)


@intrinsic
def rsqrt(typingctx, x):  # noqa: ANN001, ANN202
    """``1 / sqrt(x)`` correctly rounded. Its division carries a flag of its own ('nsz'), so
    numba's fast-math pass leaves it alone and LLVM cannot turn it into the reciprocal-sqrt
    estimate (NaN at 0 and inf, off by an ulp elsewhere)."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        (value,) = args
        sqrt = builder.module.declare_intrinsic("llvm.sqrt", [value.type])
        quotient = builder.fdiv(ir.Constant(value.type, 1.0), builder.call(sqrt, [value]))
        quotient.flags.append("nsz")
        return quotient

    return x(x), codegen


@intrinsic
def writable(typingctx, arr):  # noqa: ANN001, ANN202
    """``arr`` typed as a writable array (the same data): a BLAS call on it compiles once for
    read-only and writable operands alike. Generated code never writes through it."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        return impl_ret_borrowed(context, builder, signature.return_type, args[0])

    return arr.copy(readonly=False)(arr), codegen


def _float_pair_intrinsic(name: str, doc: str):  # noqa: ANN202 - returns a numba intrinsic
    """A numba intrinsic calling LLVM's ``name`` on two floats of one type."""

    def typer(typingctx, a, b):  # noqa: ANN001, ANN202
        if not isinstance(a, types.Float) or a != b:
            return None

        def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
            ty = args[0].type
            fn = builder.module.declare_intrinsic(name, [ty], ir.FunctionType(ty, [ty, ty]))
            return builder.call(fn, args)

        return a(a, b), codegen

    typer.__doc__ = doc
    return intrinsic(typer)


maximum = _float_pair_intrinsic(
    "llvm.maximum", "IEEE maximum (lax.max on floats): NaN if either is NaN, and +0 > -0. "
    "Unlike a compare-and-branch, a reduction over it vectorizes.")
minimum = _float_pair_intrinsic(
    "llvm.minimum", "IEEE minimum (lax.min on floats): NaN if either is NaN, and -0 < +0.")


@njit(**_OPTS)
def saturate(x, low, high):  # noqa: ANN001, ANN201
    """Float ``x`` clamped to ``[low, high]``, NaN as 0: a value that converts exactly to an
    integer type of that range (convert_element_type's semantics)."""
    if x != x:
        return 0.0
    return min(max(x, low), high)


@njit(**_OPTS)
def sign(x):  # noqa: ANN001, ANN201
    if x > 0:
        return 1
    if x < 0:
        return -1
    return 0 if x == 0 else x


@njit(**_OPTS)
def fmax(a, b):  # noqa: ANN001, ANN201
    """Maximum that propagates NaN (lax.max)."""
    if a != a or a > b:
        return a
    return b


@njit(**_OPTS)
def fmin(a, b):  # noqa: ANN001, ANN201
    """Minimum that propagates NaN (lax.min)."""
    if a != a or a < b:
        return a
    return b


@njit(**_OPTS)
def erf_inv(x):  # noqa: ANN001, ANN201
    """Inverse error function (rational initial guess refined by Newton steps)."""
    if x <= -1.0:
        return -math.inf if x == -1.0 else math.nan
    if x >= 1.0:
        return math.inf if x == 1.0 else math.nan
    w = -math.log((1.0 - x) * (1.0 + x))
    if w < 5.0:
        w = w - 2.5
        p = 2.81022636e-08
        p = 3.43273939e-07 + p * w
        p = -3.5233877e-06 + p * w
        p = -4.39150654e-06 + p * w
        p = 0.00021858087 + p * w
        p = -0.00125372503 + p * w
        p = -0.00417768164 + p * w
        p = 0.246640727 + p * w
        p = 1.50140941 + p * w
    else:
        w = math.sqrt(w) - 3.0
        p = -0.000200214257
        p = 0.000100950558 + p * w
        p = 0.00134934322 + p * w
        p = -0.00367342844 + p * w
        p = 0.00573950773 + p * w
        p = -0.0076224613 + p * w
        p = 0.00943887047 + p * w
        p = 1.00167406 + p * w
        p = 2.83297682 + p * w
    y = p * x
    for _ in range(3):
        y = y - (math.erf(y) - x) / (2.0 / math.sqrt(math.pi) * math.exp(-y * y))
    return y


@njit(**_OPTS)
def digamma(x):  # noqa: ANN001, ANN201
    """psi(x): reflection, recurrence to x >= 10, then the asymptotic series."""
    if x <= 0 and x == np.floor(x):
        return math.nan
    acc = 0.0
    reflect = x < 0.5
    y = 1.0 - x if reflect else x
    while y < 10.0:
        acc -= 1.0 / y
        y += 1.0
    inv2 = 1.0 / (y * y)
    series = math.log(y) - 0.5 / y - inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (
        1 / 252 - inv2 * (1 / 240 - inv2 * (1 / 132)))))
    result = acc + series
    if reflect:
        result -= math.pi / math.tan(math.pi * x)
    return result


@njit(**_OPTS)
def lgamma(x):  # noqa: ANN001, ANN201
    if x <= 0 and x == np.floor(x):
        return math.inf
    return math.lgamma(x)


@njit(**_OPTS)
def shift_left(a, b, bits):  # noqa: ANN001, ANN201
    if b < 0 or b >= bits:
        return a - a
    return a << b


@njit(**_OPTS)
def shift_right_arithmetic(a, b, bits):  # noqa: ANN001, ANN201
    """``a >> b`` shifting in copies of the top bit of ``a``'s ``bits``-bit representation,
    for unsigned ``a`` too (as XLA); amounts outside ``[0, bits)`` shift by ``bits - 1``."""
    if b < 0 or b >= bits:
        b = bits - 1
    v = np.int64(a)
    if bits < 64 and v >= (1 << (bits - 1)):  # an unsigned value with its top bit set
        v -= 1 << bits
    return v >> np.int64(b)


@njit(**_OPTS)
def shift_right_logical(a, b, bits):  # noqa: ANN001, ANN201
    if b < 0 or b >= bits:
        return a - a
    if b == 0:
        return a
    return (a >> b) & ((1 << (bits - b)) - 1)


# --- vectorizable float32 math -----------------------------------------------------------------
# numba calls scalar libm for np.exp/np.tanh, which keeps loops from vectorizing. These versions
# use only arithmetic and float<->int bit casts (LLVM bitcasts, so loops vectorize). Accuracy,
# measured against float64 over the float32 range: exp <= 3 ulp (flushes results below the
# smallest normal float32 to 0), tanh <= 2e-7 absolute. Polynomials: our own least-squares fits.

@intrinsic
def _i32_as_f32(typingctx, x):  # noqa: ANN001, ANN202
    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@njit(**_OPTS)
def _pow2(k):  # noqa: ANN001, ANN201
    """2.0**k as float32 for an int32 k in [-126, 127]."""
    return _i32_as_f32(np.int32((k + 127) << 23))


@njit(**_OPTS)
def exp_f32(x):  # noqa: ANN001, ANN201
    if x != x:
        return x
    if x > np.float32(88.72284):
        return np.float32(np.inf)
    if x < np.float32(-87.33654):
        return np.float32(0.0)
    k = np.float32(np.floor(x * np.float32(1.4426950408889634) + np.float32(0.5)))
    r = x - k * np.float32(0.693145751953125)
    r = r - k * np.float32(1.428606765330187e-06)
    p = np.float32(1.99075407e-04)
    p = p * r + np.float32(1.39330621e-03)
    p = p * r + np.float32(8.33328618e-03)
    p = p * r + np.float32(4.16664737e-02)
    p = p * r + np.float32(1.66666668e-01)
    p = p * r + np.float32(5.00000001e-01)
    p = p * r * r + r + np.float32(1.0)
    ki = np.int32(k)
    if ki > 127:  # 2**128 is no float32: double p instead. One product by the power of two:
        p = p * np.float32(2.0)  # with 'reassoc', p * 2**64 * 2**64 may become p * inf
        ki = ki - 1
    return p * _pow2(ki)


@njit(**_OPTS)
def tanh_f32(x):  # noqa: ANN001, ANN201
    if x != x:
        return x
    a = abs(x)
    if a < np.float32(0.625):
        z = x * x
        p = np.float32(-0.00572098)
        p = p * z + np.float32(0.02065637)
        p = p * z + np.float32(-0.05374618)
        p = p * z + np.float32(0.13331537)
        p = p * z + np.float32(-0.33333286)
        return x + x * z * p
    if a > np.float32(9.0):
        t = np.float32(1.0)
    else:
        t = np.float32(1.0) - np.float32(2.0) / (exp_f32(a + a) + np.float32(1.0))
    return t if x > 0 else -t


_MADV_HUGEPAGE = 14


@intrinsic
def _madvise(typingctx, address, length, advice):  # noqa: ANN001, ANN202
    """libc ``madvise(address, length, advice)``, linked by symbol name (so it caches)."""
    sig = types.int32(types.uint64, types.uint64, types.int32)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.IntType(32), [i8p, ir.IntType(64), ir.IntType(32)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "madvise")
        return builder.call(fn, [builder.inttoptr(args[0], i8p), args[1], args[2]])

    return sig, codegen


if sys.platform.startswith("linux"):
    @njit(**_OPTS)
    def advise_huge_pages(buffer):  # noqa: ANN001, ANN201
        """Ask Linux to back a fresh buffer with transparent huge pages, as numpy does for
        large arrays: first-touch page faults then cost 512 times less (a 16M-float output
        is written at copy speed instead of half of it)."""
        base = np.uint64(buffer.ctypes.data)
        page = np.uint64(4096)
        start = base + (page - base % page) % page
        end = base + np.uint64(buffer.nbytes)
        end -= end % page
        if end > start:
            _madvise(start, end - start, np.int32(_MADV_HUGEPAGE))
else:
    @njit(**_OPTS)
    def advise_huge_pages(buffer):  # noqa: ANN001, ANN201
        """No-op: transparent huge pages are a Linux feature."""
