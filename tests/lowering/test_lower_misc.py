"""Cumulative scans, sorts, top_k, convolutions, the random-bit primitives and 16-bit floats
compiled by the numba backend equal their eager results: exactly for integers, bits and data
movement (and for float16/bfloat16 elementwise math, rounded op by op like numpy/ml_dtypes),
to float32 rounding for accumulations. Also under vmap and grad.

Shapes and static parameters are fixed so that the compiled programs are few; hypothesis
varies the values, which hit the in-memory kernel cache.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
import pytest
from compiled_checks import assert_compiled_equal, source
from hypothesis import given
from hypothesis import strategies as st
from numba import njit

import fborn
import fborn.lax as lax
import fborn.numpy as fnp
import fborn.random as fr
from fborn.lowering.numba import routines_misc as rm
from fborn.primitives.conv import ConvDimensionNumbers
from fborn.primitives.random_bits import threefry2x32_p

BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)






def floats(shape: tuple[int, ...], dtype: Any = np.float32, specials: bool = False
           ) -> st.SearchStrategy:
    """Arrays of ``shape``: small-integer-valued floats (ties) or normal floats, optionally
    with NaN, +-0 and +-inf mixed in."""
    size = int(np.prod(shape))
    pool = [-2.0, -1.0, -0.0, 0.0, 1.0, 2.0]
    if specials:
        pool += [np.nan, -np.nan, np.inf, -np.inf]
    elements = st.one_of(st.sampled_from(pool),
                         st.floats(-100, 100, width=32, allow_subnormal=False))
    return st.lists(elements, min_size=size, max_size=size).map(
        lambda v: np.array(v, np.float32).astype(dtype).reshape(shape))


def ints(shape: tuple[int, ...], dtype: Any = np.int32, low: int = -4, high: int = 4
         ) -> st.SearchStrategy:
    size = int(np.prod(shape))
    return st.lists(st.integers(low, high), min_size=size, max_size=size).map(
        lambda v: np.array(v, dtype).reshape(shape))


# --- float16 / bfloat16 conversions ---------------------------------------------------------------

@njit(cache=False)
def _decode(bits, half):  # noqa: ANN001, ANN202
    out = np.empty(bits.size, np.float32)
    for i in range(bits.size):
        out[i] = rm.f16_to_f32(bits[i]) if half else rm.bf16_to_f32(bits[i])
    return out


@njit(cache=False)
def _encode(x, half):  # noqa: ANN001, ANN202
    out = np.empty(x.size, np.uint16)
    for i in range(x.size):
        out[i] = rm.f32_to_f16(x[i]) if half else rm.f32_to_bf16(rm.round_bf16(x[i]))
    return out


@njit(cache=False)
def _store(x, half):  # noqa: ANN001, ANN202
    out = np.empty(x.size, np.uint16)
    for i in range(x.size):
        out[i] = rm.f32_to_f16(x[i]) if half else rm.f32_to_bf16(x[i])
    return out


@njit(cache=False)
def _encode64(x):  # noqa: ANN001, ANN202
    out = np.empty(x.size, np.uint16)
    for i in range(x.size):
        out[i] = rm.f64_to_f16(x[i])
    return out


def test_half_conversions_are_bit_exact() -> None:
    every = np.arange(1 << 16, dtype=np.uint16)
    for half, dtype in ((True, F16), (False, BF16)):
        decoded = _decode(every, half)
        np.testing.assert_array_equal(decoded.view(np.uint32),
                                      every.view(dtype).astype(np.float32).view(np.uint32))
        np.testing.assert_array_equal(_store(decoded, half), every)  # NaN payloads too
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 1 << 32, 200_000, dtype=np.uint64).astype(np.uint32)
    near = (bits & 0x87FFFFFF) | 0x30000000  # exponents around float16's range
    edges = np.array([65504, 65519.99, 65520, 2 ** -25, 2 ** -24 * 1.5, 2 ** -24 * 2.5, 2 ** -14,
                      1 + 2 ** -11, 1 + 3 * 2 ** -11, -0.0, np.inf, -np.inf, np.nan])
    with np.errstate(over="ignore", invalid="ignore"):
        for x in (bits.view(np.float32), near.view(np.float32), edges.astype(np.float32)):
            np.testing.assert_array_equal(_encode(x, True), x.astype(F16).view(np.uint16))
            np.testing.assert_array_equal(_encode(x, False), x.astype(BF16).view(np.uint16))
        wide = rng.standard_normal(100_000) * np.exp2(rng.integers(-30, 20, 100_000))
        for x in (wide, edges):
            np.testing.assert_array_equal(_encode64(x), x.astype(F16).view(np.uint16))


# --- 16-bit float kernels -------------------------------------------------------------------------

def _half_kernels(a: Any, b: Any, c: Any) -> Any:
    """Elementwise math, casts (``c`` is finite) and reductions, then (last three, loose)
    sums: they accumulate in float32 and round once, eager bfloat16 rounds every add."""
    one = fnp.asarray(1.5, a.dtype)
    other = F16 if a.dtype == BF16 else BF16
    wide = lax.convert_element_type(b, np.float32) * np.float32(1e5)
    return (fnp.tanh(a * b + one) / (b * b + one) - fnp.exp(a / one), a < b,
            fnp.maximum(a, b), fnp.where(a > b, a, -b), fnp.sqrt(fnp.abs(a)) ** b,
            (c.astype(np.float32) * np.float32(3.3)).astype(a.dtype),
            c.astype(np.int32).astype(a.dtype) * b, a.astype(np.float32), c.astype(np.int16),
            c.astype(other), b.astype(bool), lax.convert_element_type(wide, a.dtype),
            fnp.max(a, axis=0), fnp.min(b, axis=1), fnp.argmax(a, axis=1),
            fnp.argmin(b, axis=0),
            fnp.sum(a * b, axis=1), fnp.mean(a, axis=0), fnp.prod(b[:, :3], axis=1))


@pytest.mark.parametrize("dtype", [F16, BF16], ids=["f16", "bf16"])
@given(data=st.data())
def test_half_elementwise_and_reductions(dtype: np.dtype, data: st.DataObject) -> None:
    a = data.draw(floats((4, 9), dtype, specials=True))
    b, c = data.draw(floats((4, 9), dtype)), data.draw(floats((4, 9), dtype))
    assert_compiled_equal(_half_kernels, a, b, c, rtol=2 ** -7, atol=0.05, loose=3)


def _half_transforms(x: Any) -> Any:
    return (fborn.grad(lambda r: fnp.sum(fnp.sin(r) * r))(x.astype(F16)),
            fborn.vmap(lambda r: fnp.sum(fnp.tanh(r) * r))(x))


def test_half_vmap_and_grad() -> None:
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4).astype(BF16)
    assert_compiled_equal(_half_transforms, x, rtol=2 ** -7, loose=1)


# --- cumulative scans -----------------------------------------------------------------------------

def _scans(x: Any) -> Any:
    y = x * 2
    return (lax.cumsum(y, 0, reverse=True), lax.cumprod(y, 2), lax.cummax(y, 1, reverse=True),
            lax.cummin(y, 2))


@given(x=floats((3, 4, 5), specials=True))
def test_cumulative_float32(x: np.ndarray) -> None:
    assert_compiled_equal(_scans, x, rtol=1e-6)


def _int_scans(x: Any, u: Any) -> Any:
    return (lax.cumsum(x, 0), lax.cumprod(x, 1, reverse=True), lax.cummax(x, 1),
            lax.cumsum(u, 1, reverse=True), lax.cummin(u, 0))


@given(x=ints((3, 4), np.int32, -(2 ** 31), 2 ** 31 - 1), u=ints((2, 50), np.uint8, 0, 255))
def test_cumulative_integers_wrap(x: np.ndarray, u: np.ndarray) -> None:
    assert_compiled_equal(_int_scans, x, u)


def _scan_grads(x: Any) -> Any:
    def loss(v: Any) -> Any:
        return fnp.sum(lax.cumsum(v, 1) * lax.cumprod(v, 0, reverse=True) + lax.cummax(v, 1))

    return fborn.grad(loss)(x), fborn.vmap(lambda r: lax.cummin(r, 0, reverse=True))(x)


def test_cumulative_grad_and_vmap() -> None:
    x = np.random.default_rng(1).standard_normal((4, 6)).astype(np.float32)
    assert_compiled_equal(_scan_grads, x, rtol=1e-5)


# --- sort and top_k -------------------------------------------------------------------------------

def _sorts(x: Any, k: Any) -> Any:
    return (fnp.sort(x, axis=1), fnp.argsort(x, axis=0), fnp.sort(k, axis=0),
            lax.sort((k, x, k.astype(np.float32)), dimension=1, num_keys=2),
            lax.sort((x > 0, k), dimension=1, num_keys=1))


@given(x=floats((5, 7), specials=True), k=ints((5, 7)))
def test_sort_orders_like_eager(x: np.ndarray, k: np.ndarray) -> None:
    assert_compiled_equal(_sorts, x, k)


def _half_sorts(h: Any) -> Any:
    return fnp.sort(h, axis=1), fnp.argsort(h.astype(BF16), axis=0)


@given(h=floats((5, 7), F16, specials=True))
def test_sort_half(h: np.ndarray) -> None:
    assert_compiled_equal(_half_sorts, h)


def _top_ks(x: Any, k: Any, h: Any) -> Any:
    return lax.top_k(x, 3), lax.top_k(k, 7), lax.top_k(x > 0, 2), lax.top_k(h, 4)


@given(x=floats((4, 7), specials=True), k=ints((4, 7), np.uint8, 0, 3),
       h=floats((4, 7), BF16, specials=True))
def test_top_k(x: np.ndarray, k: np.ndarray, h: np.ndarray) -> None:
    assert_compiled_equal(_top_ks, x, k, h)


def _sort_transforms(x: Any) -> Any:
    def loss(v: Any) -> Any:
        return fnp.sum(fnp.sort(v, axis=0) * fnp.arange(4.0)[:, None]) + fnp.sum(
            lax.top_k(v, 2)[0] ** 2)

    return (fborn.grad(loss)(x), fborn.vmap(lambda r: lax.top_k(r, 2))(x),
            fborn.vmap(fnp.argsort, in_axes=1)(x))


def test_sort_and_top_k_grad_and_vmap() -> None:
    x = np.random.default_rng(2).standard_normal((4, 5)).astype(np.float32)
    assert_compiled_equal(_sort_transforms, x, rtol=1e-6)


def _unique_median(x: Any) -> Any:
    return (fnp.unique(x, size=6, fill_value=-1), fnp.median(x.astype(np.float32)),
            fnp.median(x.reshape(3, 4).astype(np.float32), axis=0))


@given(x=ints((12,), np.int32, -3, 3))
def test_unique_and_median(x: np.ndarray) -> None:
    assert_compiled_equal(_unique_median, x)


# --- convolution ----------------------------------------------------------------------------------

CONVS = {
    "strided-dilated": ((2, 3, 7, 6), (4, 3, 3, 2),
                        dict(window_strides=(2, 1), padding=((1, 2), (0, 1)),
                             lhs_dilation=(1, 2), rhs_dilation=(2, 1))),
    "feature-groups": ((2, 4, 6, 5), (6, 2, 3, 3),
                       dict(window_strides=(1, 1), padding="SAME", feature_group_count=2)),
    "batch-groups-crop": ((4, 3, 7, 6), (6, 3, 3, 3),
                          dict(window_strides=(1, 2), padding=((-1, 1), (2, -1)),
                               batch_group_count=2)),
    "nhwc-hwio": ((2, 7, 6, 3), (3, 2, 3, 5),
                  dict(window_strides=(1, 1), padding="SAME",
                       dimension_numbers=("NHWC", "HWIO", "NHWC"))),
    "1d-nhc": ((3, 2, 9), (4, 2, 3), dict(window_strides=(2,), padding=((1, 1),),
                                          dimension_numbers=("NCH", "OIH", "NHC"))),
    "0d": ((5, 3), (4, 3), dict(window_strides=(), padding=())),
}


def _convs(*operands: Any) -> Any:
    """Every case of CONVS on its (x, w) pair of ``operands``."""
    return tuple(lax.conv_general_dilated(operands[2 * k], operands[2 * k + 1], **case[2])
                 for k, case in enumerate(CONVS.values()))


def _conv_operands(dtype: Any, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape) * 3).astype(dtype)
            for xs, ws, _ in CONVS.values() for shape in (xs, ws)]


@pytest.mark.parametrize("strategy", rm.CONV_STRATEGIES)
def test_conv_layouts(strategy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rm, "FORCE_CONV_STRATEGY", strategy)
    operands = _conv_operands(np.float32, 3)

    def f(*args: Any) -> Any:  # a fresh function: its own program per strategy
        return _convs(*args)

    assert ("plane_" in source(f, *operands)) == (strategy == "plane")
    assert_compiled_equal(f, *operands, rtol=1e-5, atol=1e-4)


def _conv_dtypes(*operands: Any) -> Any:
    params = CONVS["batch-groups-crop"][2]
    return tuple(lax.conv_general_dilated(operands[2 * k], operands[2 * k + 1], **params)
                 for k in range(len(operands) // 2))


def test_conv_dtypes() -> None:
    xs, ws, _ = CONVS["batch-groups-crop"]
    rng = np.random.default_rng(4)
    operands = [(rng.standard_normal(shape) * 3).astype(dtype)
                for dtype in (np.int32, np.bool_, F16)
                for shape in (xs, ws)]
    assert_compiled_equal(_conv_dtypes, *operands, rtol=2e-3, atol=0.05, loose=1)


def _lenet_grads(x: Any, w1: Any, w2: Any) -> Any:
    def loss(a: Any, b: Any) -> Any:
        h = fnp.tanh(lax.conv_general_dilated(x, a, (1, 1), "VALID"))[:, :, ::2, ::2]
        h = lax.conv_general_dilated(h, b, (1, 1), "VALID", dimension_numbers=ConvDimensionNumbers(
            (0, 1, 2, 3), (0, 1, 2, 3), (0, 1, 2, 3)))
        return fnp.sum(h * h)

    return fborn.value_and_grad(loss, argnums=(0, 1))(w1, w2)


def test_conv_grad_and_vmap() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 1, 14, 14)).astype(np.float32)
    w1 = rng.standard_normal((3, 1, 5, 5)).astype(np.float32)
    w2 = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    assert_compiled_equal(_lenet_grads, x, w1, w2, rtol=2e-5, atol=1e-4)
    f = fborn.vmap(lambda a, b: lax.conv_general_dilated(a, b, (1, 1), "SAME"))
    kernels = rng.standard_normal((4, 2, 1, 3, 3)).astype(np.float32)
    assert_compiled_equal(f, x[:, None, :, :6, :6], kernels, rtol=1e-5, atol=1e-5)


# --- random bits ----------------------------------------------------------------------------------

def _draws(key: Any) -> Any:
    k1, k2 = fr.split(key)
    return (fr.bits(key, (3, 5)), fr.uniform(k2, (4, 3)), fr.uniform(key, (6,), np.float16),
            fr.permutation(k1, 10), fr.fold_in(key, 7), fr.split(k2, 3),
            _uniform_of(fr.normal(key, (50,))))


def _uniform_of(normal: Any) -> Any:
    """erf(x / sqrt(2)): normals mapped back to the uniforms they came from, where a last-bit
    difference stays a last-bit difference (erf_inv amplifies it near +-1)."""
    return lax.erf(normal * np.float32(np.sqrt(0.5)))


@given(seed=st.integers(0, 2 ** 32 - 1))
def test_random_draws(seed: int) -> None:
    """Bits, uniforms, permutations and keys are bit-exact; normals (the last) to the last
    bits: the compiled uniform-to-(-1, 1) rescale may fuse into one FMA (as XLA's does)."""
    assert_compiled_equal(_draws, fr.key(seed), rtol=0, atol=3e-7, loose=1)


def _threefry(k0: Any, k1: Any, x0: Any, x1: Any) -> Any:
    return threefry2x32_p.bind(k0, k1, x0, x1)


@given(words=ints((4, 3, 2), np.uint32, 0, 2 ** 32 - 1))
def test_threefry_full_shaped_keys(words: np.ndarray) -> None:
    assert_compiled_equal(_threefry, *(words[i] for i in range(4)))


# --- bitcast --------------------------------------------------------------------------------------

def _bitcasts(x: Any, h: Any) -> Any:
    as_int = lax.bitcast_convert_type(x, np.int32)
    return (as_int, lax.bitcast_convert_type(x * 2, np.uint32),
            lax.bitcast_convert_type(as_int + 1, np.float32),
            lax.bitcast_convert_type(h, np.uint16),
            lax.bitcast_convert_type(lax.bitcast_convert_type(h, np.int16) + np.int16(1),
                                     h.dtype),
            lax.bitcast_convert_type(lax.bitcast_convert_type(h, np.uint16), BF16),
            lax.bitcast_convert_type(fnp.arange(-3, 3, dtype=np.int8) * 50, np.uint8))


@given(x=floats((3, 4), specials=True), payload=ints((4, 3), np.uint16, 0x7F81, 0x7FFF))
def test_bitcast_convert_type(x: np.ndarray, payload: np.ndarray) -> None:
    assert_compiled_equal(_bitcasts, x, x.astype(F16))
    # bfloat16 NaNs with any payload move through kernels bit for bit.
    assert_compiled_equal(_moved_bits, payload.view(BF16))


def _moved_bits(h: Any) -> Any:
    return lax.bitcast_convert_type(h.T[::-1], np.uint16)


def _wide(x: Any, i: Any) -> Any:
    return (lax.bitcast_convert_type(x, np.int64), lax.bitcast_convert_type(i, np.float64),
            fnp.sort(x, axis=0), lax.top_k(x, 33), lax.cumsum(i, 1), lax.cumprod(x, 0))


def test_64_bit_types(x64: None) -> None:
    rng = np.random.default_rng(6)
    x = np.round(rng.standard_normal((4, 40)), 1)  # ties
    x[1, 2], x[2, 3] = np.nan, -0.0
    i = rng.integers(-(2 ** 62), 2 ** 62, (4, 40))
    assert_compiled_equal(_wide, x, i)
