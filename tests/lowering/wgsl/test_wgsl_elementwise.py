"""WGSL rendering of elementwise ops and casts, against the eager reference.

Shader compilation dominates on lavapipe, so each test stacks many ops into one kernel: row i
of a stacked result is op i applied to row i of a stacked input."""

from __future__ import annotations

import numpy as np
import pytest

import fborn
import fborn.lax as lax
import fborn.numpy as fnp
from fborn.lowering.wgsl.executable import GpuExecutable


def on_gpu(fn, *args):
    return GpuExecutable(fborn.make_jaxpr(fn)(*args))(*args)


def check(fn, *args, rtol=2e-6, atol=0.0):
    got = on_gpu(lambda *a: [fn(*a)], *args)[0]
    want = np.asarray(fn(*args))
    assert got.dtype == want.dtype and got.shape == want.shape
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    else:
        np.testing.assert_array_equal(got, want)


_rng = np.random.default_rng(0)
SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, np.inf, -np.inf, np.nan,
                    1e-30, -1e-30, 3e38, -3e38, 88.0, -87.0, 100.0, -100.0], np.float32)
WIDE = np.concatenate([SPECIAL, (_rng.standard_normal(300) * 4).astype(np.float32),
                       np.exp(_rng.uniform(-60, 60, 200)).astype(np.float32)])
TRIG = np.concatenate([SPECIAL[np.abs(np.nan_to_num(SPECIAL)) < 1e5],
                       (_rng.standard_normal(200) * 4).astype(np.float32),
                       _rng.uniform(-5e4, 5e4, 200).astype(np.float32)])
UNIT = np.concatenate([_rng.uniform(-1, 1, 300), [1, -1, 0, 1e-8, 0.9999]]).astype(np.float32)

# op, input, rtol, atol (float32 results vs numpy; the accuracy mathlib.py states)
UNARY = [
    (lax.neg, WIDE, 0, 0), (lax.sign, WIDE, 0, 0), (lax.floor, WIDE, 0, 0),
    (lax.ceil, WIDE, 0, 0), (lax.round, WIDE, 0, 0), (lax.is_finite, WIDE, 0, 0),
    (lax.exp, WIDE, 4e-7, 0), (lax.exp2, WIDE, 3e-7, 0), (lax.log, WIDE, 3e-7, 0),
    (lax.expm1, WIDE, 3e-7, 0), (lax.log1p, WIDE, 3e-7, 0), (lax.tanh, WIDE, 2e-7, 0),
    (lax.logistic, WIDE, 4e-7, 0), (lax.sin, TRIG, 4e-7, 1e-7),
    (lax.cos, TRIG, 4e-7, 1e-7), (lax.tan, TRIG, 6e-7, 1e-7),
    (lax.asin, UNIT, 4e-7, 0), (lax.acos, UNIT, 4e-7, 0), (lax.atan, WIDE, 4e-7, 0),
    (lax.sinh, WIDE, 4e-7, 0), (lax.cosh, WIDE, 4e-7, 0), (lax.asinh, WIDE, 4e-7, 0),
    (lax.acosh, np.abs(WIDE) + 1, 4e-7, 0), (lax.atanh, UNIT, 4e-7, 0),
    (lax.sqrt, WIDE, 2e-7, 0), (lax.rsqrt, WIDE, 2e-7, 0), (lax.cbrt, WIDE, 3e-7, 0),
    (lax.abs, WIDE, 0, 0), (lax.square, WIDE, 2e-7, 0), (lax.erf, WIDE, 4e-7, 1e-7),
    (lax.erfc, WIDE, 1e-6, 1e-7), (lax.erf_inv, UNIT, 1e-6, 1e-7),
    (lax.lgamma, TRIG, 1e-5, 1e-6), (lax.digamma, TRIG, 1e-5, 1e-6),
    (lambda x: lax.round(x, 1), WIDE, 0, 0),
    (lambda x: lax.integer_pow(x, 3), WIDE[:320], 4e-7, 0),
    (lambda x: lax.integer_pow(x, -2), WIDE[:320], 4e-7, 0),
]


def check_rows(cases, width=None):
    """Run ``op(x)`` for every (op, x, rtol, atol) of ``cases`` in one stacked kernel."""
    width = width or max(len(c[1]) for c in cases)
    inputs = [np.stack([np.resize(np.asarray(x), width) for x in xs])
              for xs in zip(*[c[1] if isinstance(c[1], tuple) else (c[1],) for c in cases],
                            strict=True)]

    def stacked(*arrays):
        return [fnp.stack([c[0](*[a[i] for a in arrays]) for i, c in enumerate(cases)])]

    got = on_gpu(stacked, *inputs)[0]
    want = np.asarray(stacked(*inputs)[0])
    assert got.dtype == want.dtype and got.shape == want.shape
    for i, case in enumerate(cases):
        rtol, atol = case[2], case[3]
        name = getattr(case[0], "__name__", str(i))
        if want.dtype.kind == "f":
            np.testing.assert_allclose(got[i], want[i], rtol=rtol, atol=atol, err_msg=name)
        else:
            np.testing.assert_array_equal(got[i], want[i], err_msg=name)


@pytest.mark.parametrize("part", [0, 1, 2, 3])
def test_float_unary(part):
    cases = [c for c in UNARY if c[0] is not lax.is_finite]
    check_rows(cases[part * 10:(part + 1) * 10])


def test_is_finite():
    check_rows([(lax.is_finite, WIDE, 0, 0)])


X2 = np.concatenate([SPECIAL, (_rng.standard_normal(200) * 5).astype(np.float32)])
Y2 = np.concatenate([SPECIAL[::-1], (_rng.standard_normal(200) * 2).astype(np.float32)])


def test_float_binary():
    check_rows([(op, (X2, Y2), 4e-7, 0) for op in (lax.add, lax.sub, lax.mul, lax.div, lax.rem,
                                                   lax.max, lax.min, lax.atan2, lax.nextafter)])
    check_rows([(op, (X2, Y2), 0, 0) for op in (lax.eq, lax.ne, lax.lt, lax.le, lax.gt,
                                                lax.ge)])


def test_pow_special_cases_and_accuracy():
    base = np.array([2, -2, -2, 0, -0.0, 0, 1, -1, np.nan, np.inf, 0.5, -8, 3.7, 1e-3],
                    np.float32)
    expo = np.array([0.5, 3, 2.5, -1, -3, 0, np.nan, np.inf, 0, -2, 10, 1 / 3, -1.7, 2],
                    np.float32)
    check(lax.pow, base, expo, rtol=2e-6)
    x = np.abs(_rng.standard_normal(500)).astype(np.float32) * 10
    y = _rng.uniform(-3, 3, 500).astype(np.float32)
    check(lax.pow, x, y, rtol=3e-6)


INTS = np.array([0, 1, -1, 7, -7, 2**31 - 1, -(2**31), 100, -100, 3, -3, 31, 32, 33],
                np.int32)
INTS2 = np.array([3, -2, 0, 2, -2, 2, -1, 7, 7, 32, -1, 1, 5, 0], np.int32)


@pytest.mark.parametrize("dtype", [np.int32, np.uint32])
def test_integer_ops_are_exact(dtype):
    a, b = INTS.astype(dtype), INTS2.astype(dtype)
    check_rows([(op, (a, b), 0, 0) for op in (
        lax.add, lax.sub, lax.mul, lax.div, lax.rem, lax.max, lax.min, lax.bitwise_and,
        lax.bitwise_or, lax.bitwise_xor, lax.shift_left, lax.shift_right_logical,
        lax.shift_right_arithmetic)] + [(op, (a, b), 0, 0) for op in (
        lambda x, y: lax.neg(x), lambda x, y: lax.abs(x), lambda x, y: lax.bitwise_not(x),
        lambda x, y: lax.square(x), lambda x, y: lax.integer_pow(x, 3))]
        + ([(lambda x, y: lax.sign(x), (a, b), 0, 0)] if dtype == np.int32 else []))
    check_rows([(op, (a, b), 0, 0) for op in (lax.eq, lax.ne, lax.lt, lax.ge)])


def test_bool_ops_and_select():
    a = np.array([True, False, True, False])
    b = np.array([True, True, False, False])
    for op in (lax.bitwise_and, lax.bitwise_or, lax.bitwise_xor, lax.eq, lax.ne):
        check(op, a, b)
    check(lax.bitwise_not, a)
    check(lambda p, x, y: lax.select(p, x, y), a, X2[:4], Y2[:4])
    check(lambda i, x, y, z: lax.select_n(i, x, y, z), np.array([0, 1, 2, 1], np.int32),
          X2[:4], Y2[:4], X2[4:8])


CAST_VALUES = np.array([0.0, -0.0, 1, -1, 0.5, -0.5, 2.5, -2.5, np.nan, 3.7, -3.7, 6e4, -6e4,
                        100, 1e9, -1e9, 4e9, np.inf, -np.inf], np.float32)


@pytest.mark.parametrize("dst", [np.float32, np.int32, np.uint32, np.bool_, np.float16])
def test_casts(dst):
    with np.errstate(all="ignore"):
        sources = [CAST_VALUES.astype(src) for src in (np.float32, np.int32, np.uint32, np.bool_,
                                                       np.float16)]
    if np.dtype(dst).kind in "iu":  # numpy's out-of-range float -> int conversion is undefined
        sources[0] = sources[0][:14]
        sources[4] = sources[4][:14]
    got = on_gpu(lambda *xs: [lax.convert_element_type(x, dst) for x in xs], *sources)
    for x, g in zip(sources, got, strict=True):
        want = np.asarray(lax.convert_element_type(x, dst))
        assert g.dtype == want.dtype
        np.testing.assert_array_equal(g, want, err_msg=f"{x.dtype} -> {np.dtype(dst)}")


def test_float16_arithmetic_rounds_like_numpy():
    x = (_rng.standard_normal(200) * 3).astype(np.float16)
    y = (_rng.standard_normal(200) * 3).astype(np.float16)
    check(lambda a, b: a * b + a / b - fnp.exp(a), x, y, rtol=2e-3)


def test_bitcast():
    check(lambda x: lax.bitcast_convert_type(x, np.int32), WIDE)
    check(lambda x: lax.bitcast_convert_type(x, np.float32), INTS)


