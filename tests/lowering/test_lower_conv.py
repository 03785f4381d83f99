"""Convolutions and matrix products compiled by the numba backend equal their eager results:
every convolution strategy (column matrix + BLAS, long dot products, transposed scatter, and
the direct loops) on strided, dilated, cropped, grouped, batch-grouped, channel-last, 1-D, 3-D
and 0-D convolutions, in float32/float64/float16/bfloat16, under grad; the strategy chosen for
each convolution of a LeNet-5 training step; dot_general on float16/bfloat16 (float32
accumulation, one rounding); the native loop nest for moderately sized matrix products.

Shapes are fixed so that the compiled programs are few; hypothesis varies the values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from compiled_checks import jitted, source
from hypothesis import given, settings
from hypothesis import strategies as st

import fborn
import fborn.lax as lax
import fborn.numpy as fnp
from fborn.lowering.numba import render
from fborn.lowering.numba import routines_misc as rm
from fborn.tree_util import tree_leaves

BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
SPATIAL = (1, 0, 2, 3)  # the layout fborn.grad gives weight-gradient convolutions





def assert_compiled_close(f: Callable, *args: Any, rtol: float = 0.0, atol: float = 0.0
                          ) -> None:
    """``fborn.jit(f)`` (numba) gives the eager result: same dtypes and shapes, values equal
    (or within ``rtol``/``atol``, compared as float32 for 16-bit floats)."""
    eager = tree_leaves(f(*args))
    compiled = tree_leaves(jitted(f)(*args))
    assert len(eager) == len(compiled)
    for e, c in zip(eager, compiled, strict=True):
        e, c = np.asarray(e), np.asarray(c)
        assert c.dtype == e.dtype and c.shape == e.shape
        if e.dtype in (F16, BF16):
            e, c = e.astype(np.float32), c.astype(np.float32)
        np.testing.assert_allclose(c, e, rtol=rtol, atol=atol)



def values(shape: tuple[int, ...], dtype: Any = np.float32, small_ints: bool = False
           ) -> st.SearchStrategy:
    """Arrays of ``shape``: small integers (exact in every float dtype and in float32 sums) or
    floats in [-4, 4]; large arrays are drawn from a seeded generator."""
    size = int(np.prod(shape))
    if size > 1000:
        return st.integers(0, 2 ** 32 - 1).map(lambda seed: np.random.default_rng(seed).uniform(
            -4, 4, shape).astype(np.float32).astype(dtype))
    elements = (st.integers(-3, 3).map(float) if small_ints
                else st.floats(-4, 4, width=32, allow_subnormal=False))
    return st.lists(elements, min_size=size, max_size=size).map(
        lambda v: np.array(v, np.float32).astype(dtype).reshape(shape))


# --- convolution strategies ---------------------------------------------------------------------

CONVS = {
    "strided-dilated": ((2, 3, 7, 6), (4, 3, 3, 2),
                        dict(window_strides=(2, 1), padding=((1, 2), (0, 1)),
                             lhs_dilation=(1, 2), rhs_dilation=(2, 1))),
    "transposed-cropped": ((2, 3, 5, 6), (4, 3, 3, 2),
                           dict(window_strides=(1, 1), padding=((2, 3), (-1, 2)),
                                lhs_dilation=(2, 1), rhs_dilation=(1, 2))),
    "feature-groups": ((2, 4, 6, 5), (6, 2, 3, 3),
                       dict(window_strides=(1, 1), padding="SAME", feature_group_count=2)),
    "batch-groups": ((4, 3, 7, 6), (6, 3, 3, 3),
                     dict(window_strides=(1, 2), padding=((-1, 1), (2, -1)),
                          batch_group_count=2)),
    "batch-groups-full": ((4, 3, 4, 5), (8, 3, 2, 3),
                          dict(window_strides=(1, 1), padding=((1, 1), (2, 2)),
                               batch_group_count=2)),
    "nhwc-hwio": ((2, 7, 6, 3), (3, 2, 3, 5),
                  dict(window_strides=(1, 1), padding="SAME",
                       dimension_numbers=("NHWC", "HWIO", "NHWC"))),
    "1d-nhc": ((3, 2, 9), (4, 2, 3), dict(window_strides=(2,), padding=((1, 1),),
                                          dimension_numbers=("NCH", "OIH", "NHC"))),
    "3d": ((2, 2, 4, 5, 3), (4, 2, 2, 3, 2),
           dict(window_strides=(1, 1, 1), padding=((1, 0), (0, 1), (1, 1)))),
    "wide-window": ((2, 3, 20, 20), (5, 3, 16, 16), dict(window_strides=(1, 1), padding="VALID")),
    "0d": ((5, 3), (4, 3), dict(window_strides=(), padding=())),
}


def _convs(*operands: Any) -> Any:
    """Every case of CONVS on its (x, w) pair of ``operands``."""
    return tuple(lax.conv_general_dilated(operands[2 * k], operands[2 * k + 1], **case[2])
                 for k, case in enumerate(CONVS.values()))


def _conv_operands(dtype: Any, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype)
            for xs, ws, _ in CONVS.values() for shape in (xs, ws)]


MARKERS = {"gemm": "cols_", "dot": "kp_", "scatter": "ym_", "plane": "plane_"}


@pytest.mark.parametrize("strategy", ["gemm", "dot", "scatter"])
def test_conv_strategies(strategy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rm, "FORCE_CONV_STRATEGY", strategy)
    operands = _conv_operands(np.float32, 1)

    def f(*args: Any) -> Any:  # a fresh function: its own program per strategy
        return _convs(*args)

    text = source(f, *operands)
    # scatter needs unit strides: the strided cases fall back to the direct loops.
    assert text.count(MARKERS[strategy]) > 0 and ("acc_" in text) == (strategy == "scatter")
    assert_compiled_close(f, *operands, rtol=1e-5, atol=2e-4)


def test_conv_automatic_choice() -> None:
    operands = _conv_operands(np.float32, 2)
    text = source(_convs, *operands)
    assert all(marker in text for marker in ("cols_", "kp_", "ym_", "plane_"))
    assert_compiled_close(_convs, *operands, rtol=1e-5, atol=2e-4)


def _half_convs(xh: Any, wh: Any, xb: Any, wb: Any) -> Any:
    """16-bit float convolutions (one with a float32 result), one of them transposed."""
    return (lax.conv_general_dilated(xh, wh, (1, 1), "SAME"),
            lax.conv_general_dilated(xh, wh, (1, 1), "SAME", preferred_element_type=np.float32),
            lax.conv_general_dilated(xb, wb, (1, 1), "VALID"),
            lax.conv_general_dilated(xb, wb[:, :, :2, :2], **CONVS["transposed-cropped"][2]))


# One function per strategy: each compiles its own program.
_HALF_CONVS = {s: (lambda *args: _half_convs(*args)) for s in ("gemm", "dot", "scatter")}


@pytest.mark.parametrize("strategy", list(_HALF_CONVS))
@settings(max_examples=5)
@given(data=st.data())
def test_half_convs(strategy: str, data: st.DataObject, monkeypatch: pytest.MonkeyPatch
                    ) -> None:
    """float16/bfloat16 operands convolve in float32 and round once: small-integer values
    make every sum exact, so results match eager bit for bit."""
    monkeypatch.setattr(rm, "FORCE_CONV_STRATEGY", strategy)
    ops = [data.draw(values(shape, dtype, small_ints=True))
           for dtype in (F16, BF16) for shape in ((2, 3, 8, 8), (4, 3, 3, 3))]
    assert MARKERS[strategy] in source(_HALF_CONVS[strategy], *ops)
    assert_compiled_close(_HALF_CONVS[strategy], *ops)


def test_conv_float64() -> None:
    fborn.config.update("enable_x64", True)
    cases = [CONVS[name] for name in ("strided-dilated", "transposed-cropped", "wide-window")]
    rng = np.random.default_rng(3)
    operands = [rng.standard_normal(shape) for xs, ws, _ in cases for shape in (xs, ws)]

    def f(*args: Any) -> Any:
        return tuple(lax.conv_general_dilated(args[2 * k], args[2 * k + 1], **case[2])
                     for k, case in enumerate(cases))

    assert_compiled_close(f, *operands, rtol=1e-12, atol=1e-12)


# --- a LeNet-5 step's convolutions ----------------------------------------------------------------

def _lenet_grads(x: Any, w1: Any, w2: Any) -> Any:
    """LeNet-5's convolutions (subsampling instead of pooling) and their gradients."""

    def loss(a: Any, b: Any) -> Any:
        h = lax.conv_general_dilated(x, a, (1, 1), ((2, 2), (2, 2)))
        h = lax.conv_general_dilated(fnp.maximum(h, 0.0)[:, :, ::2, ::2], b, (1, 1), "VALID")
        return fnp.sum(h * h)

    return fborn.value_and_grad(loss, argnums=(0, 1))(w1, w2)


def test_lenet_convolutions_and_gradients() -> None:
    """Forward convolutions as column matrix + BLAS, the input gradient as a scatter, the
    weight gradients as long dot products (first layer) and column matrix (second)."""
    rng = np.random.default_rng(5)
    x = rng.random((4, 1, 28, 28), dtype=np.float32)
    w1 = rng.standard_normal((6, 1, 5, 5)).astype(np.float32) / 5
    w2 = rng.standard_normal((16, 6, 5, 5)).astype(np.float32) / 10
    text = source(_lenet_grads, x, w1, w2)
    assert text.count("cols_") and text.count("ym_") and text.count("kp_")
    assert "prange(" not in text  # BLAS keeps the cores
    assert_compiled_close(_lenet_grads, x, w1, w2, rtol=2e-5, atol=1e-4)


def test_strategy_rule_on_lenet_shapes() -> None:
    """The rule picks per shape (measurements in routines_misc's docstring)."""
    from fborn.lowering.kernel_ir import BufferInfo, Program, Routine

    def choose(lhs: tuple, rhs: tuple, out: tuple, padding: tuple, spec: tuple) -> str:
        program = Program(["x", "w"], ["y"], {"x": BufferInfo(lhs, np.dtype(np.float32)),
                                              "w": BufferInfo(rhs, np.dtype(np.float32)),
                                              "y": BufferInfo(out, np.dtype(np.float32))}, [])
        r = Routine("conv", ["x", "w"], ["y"], {
            "lhs_shape": lhs, "rhs_shape": rhs, "out_shape": out, "window_strides": (1, 1),
            "padding": padding, "lhs_dilation": (1, 1), "rhs_dilation": (1, 1),
            "dimension_numbers": (spec, spec, spec), "feature_group_count": 1,
            "batch_group_count": 1})
        return rm.conv_strategy(rm._Conv(r, program))

    plain, pad2, pad4, valid = (0, 1, 2, 3), ((2, 2), (2, 2)), ((4, 4), (4, 4)), ((0, 0),) * 2
    assert choose((64, 1, 28, 28), (6, 1, 5, 5), (64, 6, 28, 28), pad2, plain) == "gemm"
    assert choose((64, 6, 14, 14), (16, 6, 5, 5), (64, 16, 10, 10), valid, plain) == "gemm"
    assert choose((64, 16, 10, 10), (6, 16, 5, 5), (64, 6, 14, 14), pad4, plain) == "scatter"
    assert choose((64, 6, 14, 14), (64, 16, 10, 10), (16, 6, 5, 5), valid, SPATIAL) == "gemm"
    assert choose((64, 1, 28, 28), (64, 6, 28, 28), (6, 1, 5, 5), pad2, SPATIAL) == "dot"


# --- dot_general on 16-bit floats -----------------------------------------------------------------

def _dots(a: Any, b: Any, c: Any) -> Any:
    """Matrix products, a batched one, contractions over leading axes (transposed operands)
    and float32 results of 16-bit operands."""
    return (fnp.matmul(a, b), fnp.einsum("bij,bjk->bik", c, c.transpose(0, 2, 1)),
            lax.dot_general(a, a, (((0,), (0,)), ((), ()))),
            lax.dot_general(a, b, (((1,), (0,)), ((), ())), preferred_element_type=np.float32),
            fnp.tensordot(c, c, axes=([0, 1], [0, 1])))


@pytest.mark.parametrize("dtype", [F16, BF16], ids=["f16", "bf16"])
@given(data=st.data())
def test_half_dot_general_exact(dtype: np.dtype, data: st.DataObject) -> None:
    """Small-integer operands: every product and float32 sum is exact, so the one rounding
    to the 16-bit result matches eager bit for bit."""
    a = data.draw(values((5, 7), dtype, small_ints=True))
    b = data.draw(values((7, 3), dtype, small_ints=True))
    c = data.draw(values((2, 4, 6), dtype, small_ints=True))
    assert_compiled_close(_dots, a, b, c)


@pytest.mark.parametrize("dtype", [F16, BF16], ids=["f16", "bf16"])
@given(data=st.data())
def test_half_dot_general_rounds_once(dtype: np.dtype, data: st.DataObject) -> None:
    """General values: float32 accumulation orders may differ, so results agree to one unit
    in the last place of the 16-bit format."""
    a, b = data.draw(values((5, 7), dtype)), data.draw(values((7, 3), dtype))
    c = data.draw(values((2, 4, 6), dtype))
    ulp = 2.0 ** -10 if dtype == F16 else 2.0 ** -7
    assert_compiled_close(_dots, a, b, c, rtol=ulp, atol=ulp * 8)


def test_half_dot_general_source() -> None:
    a = np.ones((5, 7), BF16)
    text = source(lambda x, y: fnp.matmul(x, y), a, a.T)
    assert "rm.bf16_to_f32" in text and "rm.f32_to_bf16" in text


# --- matrix products of moderate size -------------------------------------------------------------

def _products(a: Any, b: Any, c: Any, d: Any) -> Any:
    """Products in the native range (one with a transposed operand, a batched one), and one
    below it."""
    return (a @ b, a.T.T @ c.T, fnp.einsum("bij,bjk->bik", d, d.transpose(0, 2, 1)),
            a[:8, :16] @ b[:16, :8])


@settings(max_examples=5)
@given(data=st.data())
def test_native_products(data: st.DataObject) -> None:
    a, b = data.draw(values((64, 256))), data.draw(values((256, 128)))
    c, d = data.draw(values((128, 256))), data.draw(values((2, 64, 320)))
    text = source(_products, a, b, c, d)
    assert text.count("rm.gemm(") == 3 and text.count("np.dot(") == 1
    expected = (a @ b, a @ c.T, d @ d.transpose(0, 2, 1), a[:8, :16] @ b[:16, :8])
    for got, want in zip(jitted(_products)(a, b, c, d), expected, strict=True):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-3)


def test_native_range() -> None:
    low, high = render.NATIVE_GEMM
    assert render.matmul_code("a", "b", "c", 1, low, 1).startswith("np.dot")
    assert render.matmul_code("a", "b", "c", 1, low // 16 + 1, 16).startswith("rm.gemm")
    assert render.matmul_code("a", "b", "c", 1, low // 8, 15).startswith("np.dot")
    assert render.matmul_code("a", "b", "c", 1, high // 16, 16).startswith("rm.gemm")
    assert render.matmul_code("a", "b", "c", 1, high // 16 + 1, 16).startswith("np.dot")


def test_native_gemm_kernel() -> None:
    rng = np.random.default_rng(0)
    for m, k, n in ((1, 1, 1), (5, 7, 3), (8, 4, 9), (6, 0, 2), (0, 3, 4)):
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        c = np.full((m, n), np.nan, np.float32)
        rm.gemm(a, b, c)
        np.testing.assert_allclose(c, a @ b, rtol=1e-6, atol=1e-6)
        rm.gemm(np.asfortranarray(a), b, c)
        np.testing.assert_allclose(c, a @ b, rtol=1e-6, atol=1e-6)
