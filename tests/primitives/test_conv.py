"""conv_general_dilated (through fborn.lax) against a direct loop over output and kernel
positions, plus layouts, padding helpers, conv_transpose and errors."""

from __future__ import annotations

import itertools

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import assume, given, settings

import fborn
from fborn import lax
from fborn.core.errors import FbornDtypeError, FbornShapeError
from fborn.test_util import check_grads


def naive_conv(x: np.ndarray, w: np.ndarray, strides, pads, lhs_dil, rhs_dil,
               groups: int = 1, batch_groups: int = 1) -> np.ndarray:
    """NC<spatial> input, OI<spatial> kernel -> NC<spatial> output, one output element at a
    time: out[n, o, p] = sum over c, k of x[n', c', i] * w[o, c, k] where the lhs-dilated,
    padded coordinate p*stride + k*rhs_dil - low must land on an input element i."""
    n_in, c_in = x.shape[:2]
    o_out, c_grp = w.shape[:2]
    spatial_in, kernel = x.shape[2:], w.shape[2:]
    out_sp = []
    for size, k, s, (lo, hi), ld, rd in zip(spatial_in, kernel, strides, pads, lhs_dil, rhs_dil,
                                            strict=True):
        padded = (size - 1) * ld + 1 + lo + hi if size else lo + hi
        window = (k - 1) * rd + 1 if k else 0
        out_sp.append(max(0, (padded - window) // s + 1))
    n_out = n_in // batch_groups
    out = np.zeros((n_out, o_out, *out_sp), np.float64)
    per_group = o_out // max(groups, batch_groups)
    for n, o in itertools.product(range(n_out), range(o_out)):
        g = o // per_group
        batch = n + g * n_out if batch_groups > 1 else n
        chans = slice(g * c_grp, (g + 1) * c_grp) if groups > 1 else slice(0, c_grp)
        for pos in itertools.product(*(range(m) for m in out_sp)):
            total = 0.0
            for kpos in itertools.product(*(range(k) for k in kernel)):
                index = []
                for p, k, s, (lo, _), ld, rd, size in zip(pos, kpos, strides, pads, lhs_dil,
                                                         rhs_dil, spatial_in, strict=True):
                    coord = p * s + k * rd - lo
                    if coord % ld or not 0 <= coord // ld < size:
                        break
                    index.append(coord // ld)
                else:
                    total += np.dot(x[(batch, chans, *index)].astype(np.float64),
                                    w[(o, slice(None), *kpos)].astype(np.float64))
            out[(n, o, *pos)] = total
    return out


LAYOUTS = {1: [("NCH", "OIH", "NCH"), ("NHC", "HIO", "NHC")],
           2: [("NCHW", "OIHW", "NCHW"), ("NHWC", "HWIO", "NHWC"), ("NHWC", "OIHW", "NCHW")]}


@st.composite
def conv_cases(draw: st.DrawFn, nspatial: int) -> dict:
    groups = draw(st.sampled_from([1, 1, 2]))
    batch_groups = 1 if groups > 1 else draw(st.sampled_from([1, 1, 2]))
    case = {
        "n": batch_groups * draw(st.integers(1, 2)),
        "c": groups * draw(st.integers(1, 2)),
        "o": groups * batch_groups * draw(st.integers(1, 2)),
        "spatial": [draw(st.integers(1, 6)) for _ in range(nspatial)],
        "kernel": [draw(st.integers(1, 3)) for _ in range(nspatial)],
        "strides": [draw(st.integers(1, 3)) for _ in range(nspatial)],
        "rhs_dil": [draw(st.integers(1, 2)) for _ in range(nspatial)],
        "groups": groups, "batch_groups": batch_groups,
        "layout": draw(st.sampled_from(LAYOUTS[nspatial])),
    }
    if draw(st.booleans()):
        case["padding"] = draw(st.sampled_from(["SAME", "VALID", "SAME_LOWER"]))
        case["lhs_dil"] = [1] * nspatial
    else:
        case["padding"] = [(draw(st.integers(0, 2)), draw(st.integers(-1, 2)))
                           for _ in range(nspatial)]
        case["lhs_dil"] = [draw(st.integers(1, 2)) for _ in range(nspatial)]
    return case


def _to_layout(canonical: np.ndarray, spec: str, canonical_spec: str) -> np.ndarray:
    return np.transpose(canonical, [canonical_spec.index(ch) for ch in spec])


def _check_case(case: dict, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, (case["n"], case["c"], *case["spatial"])).astype(np.float32)
    w = rng.integers(-3, 4, (case["o"], case["c"] // case["groups"],
                             *case["kernel"])).astype(np.float32)
    lhs_spec, rhs_spec, out_spec = case["layout"]
    nsp = len(case["spatial"])
    sp = "".join(ch for ch in rhs_spec if ch not in "OI")
    lhs = _to_layout(x, lhs_spec, "NC" + sp)
    rhs = _to_layout(w, rhs_spec, "OI" + sp)
    got = lax.conv_general_dilated(
        lhs, rhs, case["strides"], case["padding"], case["lhs_dil"], case["rhs_dil"],
        case["layout"], feature_group_count=case["groups"],
        batch_group_count=case["batch_groups"])
    pads = case["padding"]
    if isinstance(pads, str):
        window = [(k - 1) * d + 1 for k, d in zip(case["kernel"], case["rhs_dil"], strict=True)]
        pads = lax.padtype_to_pads(case["spatial"], window, case["strides"], pads)
    want = naive_conv(x, w, case["strides"], pads, case["lhs_dil"], case["rhs_dil"],
                      case["groups"], case["batch_groups"])
    want = _to_layout(want, out_spec, "NC" + sp).astype(np.float32)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert len(got.shape) == nsp + 2
    np.testing.assert_array_equal(np.asarray(got), want)


@settings(max_examples=40, deadline=None)
@given(conv_cases(1), st.integers(0, 2**16))
def test_conv_1d_matches_loop(case: dict, seed: int) -> None:
    _check_case(case, seed)


@settings(max_examples=40, deadline=None)
@given(conv_cases(2), st.integers(0, 2**16))
def test_conv_2d_matches_loop(case: dict, seed: int) -> None:
    _check_case(case, seed)


def test_conv_3d_matches_loop() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(-3, 4, (1, 2, 4, 3, 5)).astype(np.float32)
    w = rng.integers(-3, 4, (2, 2, 2, 1, 3)).astype(np.float32)
    pads = [(1, 0), (0, 1), (2, -1)]
    got = lax.conv_general_dilated(x, w, (2, 1, 1), pads, (1, 2, 1), (2, 1, 1))
    want = naive_conv(x, w, (2, 1, 1), pads, (1, 2, 1), (2, 1, 1))
    np.testing.assert_array_equal(np.asarray(got), want.astype(np.float32))


def test_batch_group_constants() -> None:
    # Recorded from jax.lax.conv_general_dilated(..., batch_group_count=2).
    x = np.arange(40, dtype=np.float32).reshape(4, 2, 5) - 10
    w = (np.arange(24, dtype=np.float32).reshape(6, 2, 2) % 5) - 2
    got = lax.conv_general_dilated(x, w, (1,), [(1, 0)], batch_group_count=2)
    want = [[[5, 25, 23, 21, 19], [20, 3, 2, 1, 0], [-15, -14, -14, -14, -14],
             [-20, 9, 10, 11, 12], [30, 37, 39, 41, 43], [5, -15, -17, -19, -21]],
            [[5, 5, 3, 1, -1], [0, -7, -8, -9, -10], [-5, -14, -14, -14, -14],
             [-30, 19, 20, 21, 22], [50, 57, 59, 61, 63], [5, -35, -37, -39, -41]]]
    np.testing.assert_array_equal(np.asarray(got), np.array(want, np.float32))


def test_conv_transpose_constants() -> None:
    # Recorded from jax.lax.conv_transpose.
    x = np.arange(12, dtype=np.float32).reshape(1, 3, 4) - 5
    w = (np.arange(12, dtype=np.float32).reshape(2, 3, 2) % 4) - 1
    got = lax.conv_transpose(x, w, (2,), "SAME", dimension_numbers=("NCH", "OIH", "NCH"))
    np.testing.assert_array_equal(np.asarray(got), np.array(
        [[[-2, 1, 0, 0, 2, -1, 4, -2], [-4, -1, 0, 0, 4, 1, 8, 2]]], np.float32))
    got = lax.conv_transpose(x, w, (2,), "VALID", dimension_numbers=("NCH", "IOH", "NCH"),
                             transpose_kernel=True)
    np.testing.assert_array_equal(np.asarray(got), np.array(
        [[[1, -2, 0, 0, -1, 2, -2, 4], [-1, -4, 0, 0, 1, 4, 2, 8]]], np.float32))


def test_dtypes() -> None:
    x = np.array([[[0, 40, 80, 120, -100, -60]]], np.int8)
    w = np.ones((1, 1, 2), np.int8)
    out = lax.conv(x, w, (1,), "VALID")
    assert out.dtype == np.int8  # wraps like XLA
    np.testing.assert_array_equal(np.asarray(out), np.array([[[40, 120, -56, 20, 96]]], np.int8))
    out = lax.conv(x, w, (1,), "VALID", preferred_element_type=np.float32)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(out), [[[40, 120, 200, 20, -160]]])
    out = lax.conv(np.array([[[True, False, False]]]), np.array([[[True, True]]]), (1,),
                   "VALID")
    assert out.dtype == np.bool_
    np.testing.assert_array_equal(np.asarray(out), [[[True, False]]])
    out = lax.conv(x.astype(np.float16), w.astype(np.float16), (1,), "SAME")
    assert out.dtype == np.float16 and out.shape == (1, 1, 6)


def test_padding_helpers_and_dimension_numbers() -> None:
    # Recorded from jax.lax.padtype_to_pads / conv_dimension_numbers.
    assert lax.padtype_to_pads((5, 6), (2, 3), (2, 1), "SAME") == [(0, 1), (1, 1)]
    assert lax.padtype_to_pads((5, 6), (2, 3), (2, 1), "SAME_LOWER") == [(1, 0), (1, 1)]
    assert lax.padtype_to_pads((5, 6), (2, 3), (2, 1), "valid") == [(0, 0), (0, 0)]
    shape = (1, 2, 3, 4)
    dn = lax.conv_dimension_numbers(shape, shape, ("NHWC", "HWIO", "NHWC"))
    assert dn == lax.ConvDimensionNumbers((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
    dn = lax.conv_dimension_numbers(shape, shape, ("NWHC", "HWIO", "NHCW"))
    assert dn == lax.ConvDimensionNumbers((0, 3, 2, 1), (3, 2, 0, 1), (0, 2, 1, 3))
    assert lax.conv_dimension_numbers(shape, shape, None) == lax.ConvDimensionNumbers(
        (0, 1, 2, 3), (0, 1, 2, 3), (0, 1, 2, 3))
    assert hash(dn) == hash(lax.ConvDimensionNumbers(*dn))


def test_window_larger_than_input_gives_empty_output() -> None:
    out = lax.conv_general_dilated(np.ones((1, 1, 3)), np.ones((1, 1, 5)), (1,), "VALID")
    assert out.shape == (1, 1, 0)
    out = lax.conv_general_dilated(np.ones((2, 0, 3)), np.ones((4, 0, 2)), (1,), "VALID")
    np.testing.assert_array_equal(np.asarray(out), np.zeros((2, 4, 2), np.float32))


def test_errors() -> None:
    x, w = np.ones((1, 4, 5, 5), np.float32), np.ones((6, 2, 3, 3), np.float32)
    with pytest.raises(FbornShapeError, match="feature size 4 must equal rhs input feature"):
        lax.conv(x, w, (1, 1), "VALID")
    with pytest.raises(FbornShapeError, match="not divisible by feature_group_count=4"):
        lax.conv_general_dilated(x, np.ones((6, 1, 3, 3), np.float32), (1, 1), "VALID",
                                 feature_group_count=4)
    with pytest.raises(FbornShapeError, match="batch size 1 is not divisible"):
        lax.conv_general_dilated(x, np.ones((6, 4, 3, 3), np.float32), (1, 1), "VALID",
                                 batch_group_count=2)
    with pytest.raises(FbornShapeError, match="cannot both exceed 1"):
        lax.conv_general_dilated(np.ones((2, 4, 5, 5)), np.ones((4, 2, 3, 3)), (1, 1),
                                 "VALID", feature_group_count=2, batch_group_count=2)
    with pytest.raises(FbornShapeError, match="must be positive"):
        lax.conv_general_dilated(x, w, (1, 1), "VALID", feature_group_count=0)
    with pytest.raises(FbornDtypeError, match="equal dtypes"):
        lax.conv(x, np.ones((6, 4, 3, 3), np.float16), (1, 1), "VALID")
    with pytest.raises(FbornShapeError, match="equal ranks"):
        lax.conv(x, np.ones((6, 4, 3)), (1, 1), "VALID")
    with pytest.raises(FbornShapeError, match="window_strides"):
        lax.conv(x, np.ones((6, 4, 3, 3), np.float32), (1,), "VALID")
    with pytest.raises(FbornShapeError, match="must be positive"):
        lax.conv(x, np.ones((6, 4, 3, 3), np.float32), (0, 1), "VALID")
    with pytest.raises(FbornShapeError, match="negative padding"):
        lax.conv_general_dilated(x, np.ones((6, 4, 1, 1), np.float32), (1, 1),
                                 [(-3, -3), (0, 0)])
    with pytest.raises(FbornShapeError, match="spec"):
        lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWI", "NHWC"))
    with pytest.raises(FbornShapeError, match="spatial axes"):
        lax.conv_general_dilated(x, w, (1, 1), "VALID",
                                 dimension_numbers=("NHWC", "HDIO", "NHWC"))
    with pytest.raises(ValueError, match="lhs_dilation"):
        lax.conv_general_dilated(x, w, (1, 1), "SAME", lhs_dilation=(2, 1))
    with pytest.raises(ValueError, match="pairs"):
        lax.conv_general_dilated(x, w, (1, 1), [1, 2])
    with pytest.raises(RuntimeError, match="Unrecognized padding"):
        lax.conv(x, np.ones((6, 4, 3, 3), np.float32), (1, 1), "FULL")


def test_traced() -> None:
    x = fborn.ShapeDtypeStruct((2, 7, 7, 3), np.float32)
    w = fborn.ShapeDtypeStruct((3, 3, 3, 8), np.float32)
    jaxpr = fborn.make_jaxpr(lambda a, b: lax.conv_general_dilated(
        a, b, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")))(x, w)
    assert "conv_general_dilated" in str(jaxpr)
    assert [a.str_short() for a in jaxpr.out_avals] == ["f32[2,4,4,8]"]


def _call(case: dict, lhs: object, rhs: object) -> object:
    return lax.conv_general_dilated(
        lhs, rhs, case["strides"], case["padding"], case["lhs_dil"], case["rhs_dil"],
        case["layout"], feature_group_count=case["groups"],
        batch_group_count=case["batch_groups"])


def _operands(case: dict, rng: np.random.Generator, lead: tuple[int, ...] = ()
              ) -> tuple[np.ndarray, np.ndarray]:
    lhs_spec, rhs_spec, _ = case["layout"]
    sp = "".join(ch for ch in rhs_spec if ch not in "OI")
    x = rng.standard_normal((*lead, case["n"], case["c"], *case["spatial"]))
    w = rng.standard_normal((*lead, case["o"], case["c"] // case["groups"], *case["kernel"]))
    move = lambda a, spec, canon: np.transpose(  # noqa: E731
        a, [*range(len(lead)), *(len(lead) + canon.index(ch) for ch in spec)])
    return move(x, lhs_spec, "NC" + sp), move(w, rhs_spec, "OI" + sp)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 2).flatmap(conv_cases), st.integers(0, 2**16))
def test_conv_derivatives(case: dict, seed: int) -> None:
    fborn.config.update("enable_x64", True)
    x, w = _operands(case, np.random.default_rng(seed))
    out = _call(case, x, w)
    assume(out.size > 0)
    check_grads(lambda a, b: _call(case, a, b), [x, w], order=2, modes=("rev",))
    check_grads(lambda a, b: _call(case, a, b), [x, w], order=1, modes=("fwd",))


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 2).flatmap(conv_cases), st.integers(0, 2**16),
       st.sampled_from([(0, 0), (0, None), (None, 0), (1, 0)]))
def test_conv_vmap(case: dict, seed: int, in_axes: tuple) -> None:
    x, w = _operands(case, np.random.default_rng(seed), lead=(3,))
    x, w = x.astype(np.float32), w.astype(np.float32)
    if in_axes[0] == 1:
        x = np.moveaxis(x, 0, 1)
    args = [x if in_axes[0] is not None else x[0], w if in_axes[1] is not None else w[0]]
    got = fborn.vmap(lambda a, b: _call(case, a, b), in_axes=in_axes)(*args)
    pick = lambda a, ax, i: a if ax is None else np.take(a, i, axis=ax)  # noqa: E731
    want = np.stack([np.asarray(_call(case, pick(args[0], in_axes[0], i),
                                      pick(args[1], in_axes[1], i))) for i in range(3)])
    assert got.shape == want.shape
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
