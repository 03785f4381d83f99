"""Tests of ``fborn.nn`` activations: values and gradients recorded from jax.nn (jax 0.10.2,
float32, pasted below), numpy float64 references over hypothesis-drawn shapes and dtypes, JAX's
derivatives at the kinks, closed-form derivatives in float64, finite differences
(``check_grads``), errors, tracing (make_jaxpr), jit, vmap, and one run under the numba
compiler."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
import pytest
import scipy.special as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fborn
import fborn.nn as nn
import fborn.scipy.special
from fborn.errors import ConcretizationError, FbornDtypeError, FbornShapeError
from fborn.test_util import check_grads, eval_traced

SETTINGS = settings(max_examples=25, deadline=None)
BF16 = np.dtype(ml_dtypes.bfloat16)
FLOATS = [np.dtype(np.float32), np.dtype(np.float16), BF16]
TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float16): 4e-3, BF16: 3e-2}


def gelu_exact(x: Any) -> Any:
    return nn.gelu(x, approximate=False)


def ref_gelu(x: np.ndarray) -> np.ndarray:
    inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
    return 0.5 * x * (1 + np.tanh(inner))


def ref_softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(x, 0.0)


# Elementwise activations: (fborn function, numpy float64 reference).
ELEMENTWISE: dict[str, tuple[Callable[..., Any], Callable[[np.ndarray], np.ndarray]]] = {
    "celu": (nn.celu, lambda x: np.maximum(x, 0) + np.expm1(np.minimum(x, 0))),
    "elu": (nn.elu, lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0)))),
    "gelu": (nn.gelu, ref_gelu),
    "gelu_exact": (gelu_exact, lambda x: 0.5 * x * sp.erfc(-x / math.sqrt(2))),
    "hard_sigmoid": (nn.hard_sigmoid, lambda x: np.clip(x + 3, 0, 6) / 6),
    "hard_silu": (nn.hard_silu, lambda x: x * np.clip(x + 3, 0, 6) / 6),
    "hard_tanh": (nn.hard_tanh, lambda x: np.clip(x, -1, 1)),
    "leaky_relu": (nn.leaky_relu, lambda x: np.where(x >= 0, x, 0.01 * x)),
    "log_sigmoid": (nn.log_sigmoid, lambda x: -ref_softplus(-x)),
    "mish": (nn.mish, lambda x: x * np.tanh(ref_softplus(x))),
    "relu": (nn.relu, lambda x: np.maximum(x, 0)),
    "relu6": (nn.relu6, lambda x: np.clip(x, 0, 6)),
    "selu": (nn.selu, lambda x: 1.0507009873554805
             * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0)))),
    "sigmoid": (nn.sigmoid, sp.expit),
    "silu": (nn.silu, lambda x: x * sp.expit(x)),
    "soft_sign": (nn.soft_sign, lambda x: x / (np.abs(x) + 1)),
    "softplus": (nn.softplus, ref_softplus),
    "tanh": (nn.tanh, np.tanh),
}

# --------------------------------------------------------------------------------------------
# Recorded jax.nn values and gradients (vmap(grad)) at X_RECORDED, float32
# --------------------------------------------------------------------------------------------

X_RECORDED = np.array([-1e4, -30., -6., -2., -0.5, 0., 0.5, 2., 6., 30., 1e4], np.float32)

JAX_RECORDED: dict[str, tuple[list[float], list[float]]] = {
    "celu": (
        [-1.0, -1.0, -0.9975212216377258, -0.8646647334098816, -0.39346933364868164, 0.0, 0.5, 2.0,
         6.0, 30.0, 10000.0],
        [0.0, 0.0, 0.00247877836227417, 0.1353352665901184, 0.6065306663513184, 1.0, 1.0, 1.0, 1.0,
         1.0, 1.0]),
    "elu": (
        [-1.0, -1.0, -0.9975212216377258, -0.8646647334098816, -0.39346933364868164, 0.0, 0.5, 2.0,
         6.0, 30.0, 10000.0],
        [0.0, 0.0, 0.00247877836227417, 0.1353352665901184, 0.6065306663513184, 1.0, 1.0, 1.0, 1.0,
         1.0, 1.0]),
    "gelu": (
        [-0.0, -0.0, -0.0, -0.045402348041534424, -0.1542859971523285, 0.0, 0.3457140028476715,
         1.9545977115631104, 6.0, 30.0, 10000.0],
        [0.0, 0.0, 0.0, -0.08609934151172638, 0.1326301097869873, 0.5, 0.8673699498176575,
         1.08609938621521, 1.0, 1.0, 1.0]),
    "gelu_exact": (
        [-0.0, -0.0, -5.9195377488663325e-09, -0.045500267297029495, -0.1542687714099884, 0.0,
         0.3457312285900116, 1.9544997215270996, 6.0, 30.0, 10000.0],
        [0.0, 0.0, -3.546877991311703e-08, -0.08523181825876236, 0.1325048804283142, 0.5,
         0.8674951195716858, 1.0852317810058594, 1.0, 1.0, 1.0]),
    "hard_sigmoid": (
        [0.0, 0.0, 0.0, 0.1666666716337204, 0.4166666865348816, 0.5, 0.5833333730697632,
         0.8333333730697632, 1.0, 1.0, 1.0],
        [0.0, 0.0, 0.0, 0.1666666716337204, 0.1666666716337204, 0.1666666716337204,
         0.1666666716337204, 0.1666666716337204, 0.0, 0.0, 0.0]),
    "hard_silu": (
        [-0.0, -0.0, -0.0, -0.3333333432674408, -0.2083333432674408, 0.0, 0.2916666865348816,
         1.6666667461395264, 6.0, 30.0, 10000.0],
        [0.0, 0.0, 0.0, -0.1666666716337204, 0.3333333432674408, 0.5, 0.6666666865348816,
         1.1666667461395264, 1.0, 1.0, 1.0]),
    "hard_tanh": (
        [-1.0, -1.0, -1.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.0, 1.0, 1.0],
        [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
    "leaky_relu": (
        [-100.0, -0.29999998211860657, -0.05999999865889549, -0.019999999552965164,
         -0.004999999888241291, 0.0, 0.5, 2.0, 6.0, 30.0, 10000.0],
        [0.009999999776482582, 0.009999999776482582, 0.009999999776482582, 0.009999999776482582,
         0.009999999776482582, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
    "log_sigmoid": (
        [-10000.0, -30.0, -6.002475738525391, -2.1269280910491943, -0.9740769863128662,
         -0.6931471824645996, -0.4740769863128662, -0.12692800164222717, -0.0024756852071732283,
         -9.357622912219837e-14, -0.0],
        [1.0, 1.0, 0.9975273013114929, 0.8807970285415649, 0.622459352016449, 0.5,
         0.3775406777858734, 0.11920291185379028, 0.0024726230185478926, 9.357622912219837e-14,
         0.0]),
    "mish": (
        [-0.0, -2.807286954981114e-12, -0.014854079112410545, -0.2525014579296112,
         -0.22074377536773682, 0.0, 0.37524524331092834, 1.9439589977264404, 5.999927043914795,
         30.0, 10000.0],
        [0.0, -2.7137107665164972e-12, -0.012359967455267906, -0.1083550900220871,
         0.28951066732406616, 0.6000000238418579, 0.8864244222640991, 1.0693178176879883,
         1.0001333951950073, 1.0, 1.0]),
    "relu": (
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 2.0, 6.0, 30.0, 10000.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
    "relu6": (
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 2.0, 6.0, 6.0, 6.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0]),
    "selu": (
        [-1.7580993175506592, -1.7580993175506592, -1.7537413835525513, -1.5201665163040161,
         -0.6917582154273987, 0.0, 0.5253505110740662, 2.1014020442962646, 6.304205894470215,
         31.52103042602539, 10507.009765625],
        [0.0, 0.0, 0.004357938654720783, 0.23793284595012665, 1.0663411617279053,
         1.7580993175506592, 1.0507010221481323, 1.0507010221481323, 1.0507010221481323,
         1.0507010221481323, 1.0507010221481323]),
    "sigmoid": (
        [0.0, 9.357623589846195e-14, 0.0024726230185478926, 0.11920291930437088,
         0.3775406777858734, 0.5, 0.622459352016449, 0.8807970285415649, 0.9975274205207825, 1.0,
         1.0],
        [0.0, 9.357623589846195e-14, 0.0024665091186761856, 0.10499358177185059,
         0.23500370979309082, 0.25, 0.23500370979309082, 0.10499362647533417, 0.002466465812176466,
         0.0, 0.0]),
    "silu": (
        [-0.0, -2.8072871718215486e-12, -0.014835737645626068, -0.23840583860874176,
         -0.1887703388929367, 0.0, 0.3112296760082245, 1.7615940570831299, 5.985164642333984, 30.0,
         10000.0],
        [0.0, -2.7137109833569317e-12, -0.012326431460678577, -0.09078424423933029,
         0.260038822889328, 0.5, 0.7399612069129944, 1.0907843112945557, 1.0123262405395508, 1.0,
         1.0]),
    "soft_sign": (
        [-0.9998999834060669, -0.9677419066429138, -0.8571428656578064, -0.6666666865348816,
         -0.3333333432674408, 0.0, 0.3333333432674408, 0.6666666865348816, 0.8571428656578064,
         0.9677419066429138, 0.9998999834060669],
        [9.997165761888027e-09, 0.0010405797511339188, 0.02040816843509674, 0.111111119389534,
         0.444444477558136, 1.0, 0.444444477558136, 0.111111119389534, 0.02040816843509674,
         0.0010405797511339188, 9.997165761888027e-09]),
    "softplus": (
        [0.0, 9.357622912219837e-14, 0.0024756852071732283, 0.12692800164222717,
         0.4740769863128662, 0.6931471824645996, 0.9740769863128662, 2.1269280910491943,
         6.002475738525391, 30.0, 10000.0],
        [0.0, 9.357622912219837e-14, 0.0024726230185478926, 0.11920291185379028,
         0.3775406777858734, 0.5, 0.622459352016449, 0.8807970285415649, 0.9975273013114929, 1.0,
         1.0]),
    "tanh": (
        [-1.0, -1.0, -0.9999876022338867, -0.9640275835990906, -0.46211716532707214, 0.0,
         0.46211716532707214, 0.9640275835990906, 0.9999876022338867, 1.0, 1.0],
        [0.0, 0.0, 2.47955322265625e-05, 0.07065081596374512, 0.7864477634429932, 1.0,
         0.7864477038383484, 0.07065081596374512, 2.4795379431452602e-05, 0.0, 0.0]),
}

# Gradients whose float32 rounding differs between XLA and numpy beyond a few ulp: the
# derivative of expm1 is exp(x) = expm1(x) + 1 (cancellation for x << 0), and tanh' = 1 - tanh^2
# (checked against float64 instead).
GRAD_RTOL = {"celu": 3e-5, "elu": 3e-5, "selu": 3e-5, "soft_sign": 5e-6}


@pytest.mark.parametrize("name", sorted(JAX_RECORDED))
def test_matches_recorded_jax(name: str) -> None:
    f = ELEMENTWISE[name][0]
    values, grads = (np.array(v, np.float32) for v in JAX_RECORDED[name])
    out = np.asarray(f(X_RECORDED))
    assert out.dtype == np.float32 and out.shape == X_RECORDED.shape
    np.testing.assert_allclose(out, values, rtol=1e-6, atol=0)
    got = np.asarray(fborn.vmap(fborn.grad(f))(X_RECORDED))
    assert np.isfinite(got).all()
    if name == "tanh":
        exact = 1 - np.tanh(X_RECORDED.astype(np.float64)) ** 2
        np.testing.assert_allclose(got, exact, rtol=1e-3, atol=0)
    else:
        np.testing.assert_allclose(got, grads, rtol=GRAD_RTOL.get(name, 1e-6), atol=0)


# --------------------------------------------------------------------------------------------
# numpy references over shapes and dtypes
# --------------------------------------------------------------------------------------------


@st.composite
def float_arrays(draw: st.DrawFn, dtypes: list[np.dtype] = FLOATS, bound: float = 8.0,
                 min_dims: int = 0) -> np.ndarray:
    """Arrays of rank ``min_dims``..3 (zero-size included) of one of ``dtypes``."""
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=0, max_side=5))
    x = draw(hnp.arrays(np.float32, shape, elements=st.floats(-bound, bound, width=32)))
    return x.astype(dtype)


@SETTINGS
@given(x=float_arrays())
def test_elementwise_matches_numpy(x: np.ndarray) -> None:
    tol = TOL[x.dtype]
    for name, (f, ref) in ELEMENTWISE.items():
        out = np.asarray(f(x))
        assert out.dtype == x.dtype and out.shape == x.shape, name
        np.testing.assert_allclose(out.astype(np.float64), ref(x.astype(np.float64)),
                                   rtol=tol, atol=tol, err_msg=name)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_traced_jit_vmap(name: str) -> None:
    f = ELEMENTWISE[name][0]
    x = np.linspace(-7, 7, 24, dtype=np.float32).reshape(4, 6)
    eager = np.asarray(f(x))
    (out,) = eval_traced(f, x)
    np.testing.assert_array_equal(np.asarray(out), eager)
    # Compiled code may round a few ulp differently (vectorized exp/tanh, fused multiply-adds);
    # gelu's 1 + tanh(..) cancels near x = -5, so compare absolutely there.
    np.testing.assert_allclose(np.asarray(fborn.jit(f)(x)), eager, rtol=4e-6, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(fborn.vmap(f)(x)), eager)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_large_inputs_are_finite(name: str) -> None:
    f = ELEMENTWISE[name][0]
    x = np.array([-1e4, -1e3, 1e3, 1e4], np.float32)
    for dtype in FLOATS:
        assert np.isfinite(np.asarray(f(x.astype(dtype)), np.float64)).all(), (name, dtype)
    assert np.isfinite(np.asarray(fborn.vmap(fborn.grad(f))(x))).all(), name


def test_integer_and_bad_inputs() -> None:
    i = np.array([-2, 0, 3, 9], np.int32)
    assert np.asarray(nn.relu(i)).dtype == np.int32
    np.testing.assert_array_equal(nn.relu(i), [0, 0, 3, 9])
    assert np.asarray(nn.hard_tanh(i)).dtype == np.int32
    for f in (nn.relu6, nn.elu, nn.leaky_relu, nn.soft_sign, nn.hard_sigmoid, nn.celu, nn.selu,
              nn.softplus, nn.gelu, nn.tanh, nn.softmax, nn.log_softmax, nn.standardize):
        assert np.asarray(f(i)).dtype == np.float32, f
    np.testing.assert_array_equal(nn.relu6(i), np.array([0, 0, 3, 6], np.float32))
    for f in (nn.sigmoid, nn.silu, nn.glu):
        with pytest.raises(FbornDtypeError, match="floating"):
            f(i)
    with pytest.raises(TypeError, match="relu"):
        nn.relu([1.0, 2.0])
    assert np.asarray(nn.relu(np.float32(-0.0))) == 0 and not np.signbit(nn.relu(-0.0))
    assert np.isnan(np.asarray(nn.relu(np.float32("nan"))))
    assert np.isnan(np.asarray(nn.relu6(np.float32("nan"))))


# --------------------------------------------------------------------------------------------
# Derivatives: JAX's choices at kinks, closed forms, finite differences
# --------------------------------------------------------------------------------------------

# (function, x, JAX's derivative there), recorded from jax 0.10.2.
KINKS = [
    (nn.relu, 0.0, 0.0), (nn.relu6, 0.0, 0.0), (nn.relu6, 6.0, 0.0), (nn.leaky_relu, 0.0, 1.0),
    (nn.hard_tanh, -1.0, 1.0), (nn.hard_tanh, 1.0, 1.0), (nn.elu, 0.0, 1.0), (nn.celu, 0.0, 1.0),
    (nn.selu, 0.0, 1.7580993175506592), (nn.hard_sigmoid, -3.0, 0.0),
    (nn.hard_sigmoid, 3.0, 0.0), (nn.hard_silu, -3.0, 0.0), (nn.hard_silu, 3.0, 1.0),
    (nn.softplus, 0.0, 0.5), (nn.log_sigmoid, 0.0, 0.5),
]


@pytest.mark.parametrize(("f", "x", "expected"), KINKS)
def test_derivative_at_kinks(f: Callable[..., Any], x: float, expected: float) -> None:
    assert float(fborn.grad(f)(np.float32(x))) == np.float32(expected)
    assert float(fborn.jit(fborn.grad(f))(np.float32(x))) == np.float32(expected)


def _phi(x: np.ndarray) -> np.ndarray:
    return np.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _gelu_tanh_grad(x: np.ndarray) -> np.ndarray:
    c = math.sqrt(2 / math.pi)
    t = np.tanh(c * (x + 0.044715 * x**3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)


# Closed-form derivatives, compared in float64 to rounding error.
EXACT_GRADS: dict[str, tuple[Callable[..., Any], Callable[[np.ndarray], np.ndarray]]] = {
    "softplus": (nn.softplus, sp.expit),
    "log_sigmoid": (nn.log_sigmoid, lambda x: sp.expit(-x)),
    "silu": (nn.silu, lambda x: sp.expit(x) * (1 + x * sp.expit(-x))),
    "gelu_exact": (gelu_exact, lambda x: 0.5 * sp.erfc(-x / math.sqrt(2)) + x * _phi(x)),
    "gelu": (nn.gelu, _gelu_tanh_grad),
}


@pytest.mark.parametrize("name", sorted(EXACT_GRADS))
def test_exact_derivatives_float64(name: str) -> None:
    f, df = EXACT_GRADS[name]
    x = np.concatenate([np.linspace(-40, 40, 161), [-1e4, -700.0, 700.0, 1e4]])
    with fborn.config.override(enable_x64=True):
        got = np.asarray(fborn.vmap(fborn.grad(f))(x))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, df(x), rtol=1e-12, atol=1e-300)


SMOOTH = ["celu", "gelu", "gelu_exact", "log_sigmoid", "mish", "selu", "sigmoid", "silu",
          "soft_sign", "softplus", "tanh", "elu", "relu", "relu6", "leaky_relu", "hard_tanh"]


@pytest.mark.parametrize("name", SMOOTH)
def test_finite_differences(name: str) -> None:
    f = ELEMENTWISE[name][0]
    rng = np.random.default_rng(0)
    x = rng.uniform(-5, 5, (3, 4))
    x = x[np.abs(x - np.round(x)) > 0.05]  # away from the kinks at integers
    with fborn.config.override(enable_x64=True):
        check_grads(f, [x], order=2 if name not in ("relu", "relu6", "hard_tanh") else 1,
                    rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------------------------
# softmax, log_softmax, logsumexp
# --------------------------------------------------------------------------------------------


def ref_log_softmax(x: np.ndarray, axis: Any) -> np.ndarray:
    return x - sp.logsumexp(x, axis=axis, keepdims=True)


AXES = st.sampled_from([-1, 0, (0, -1), None])


@SETTINGS
@given(x=float_arrays(min_dims=2), axis=AXES, offset=st.sampled_from([0.0, 1e4]))
def test_softmax_and_log_softmax_match_numpy(x: np.ndarray, axis: Any, offset: float) -> None:
    shifted = (x.astype(np.float32) + np.float32(offset)).astype(x.dtype)
    ref = ref_log_softmax(shifted.astype(np.float64), axis) if x.size else shifted
    # The shifted logits themselves carry a rounding error of up to half an ulp of the offset.
    tol = TOL[x.dtype] + offset * float(ml_dtypes.finfo(x.dtype).eps)
    for f, want in ((nn.softmax, np.exp(ref)), (nn.log_softmax, ref)):
        out = np.asarray(f(shifted, axis=axis))
        assert out.dtype == x.dtype and out.shape == x.shape
        assert np.isfinite(out.astype(np.float64)).all()
        np.testing.assert_allclose(out.astype(np.float64), want, rtol=tol, atol=tol)


def test_softmax_extremes_and_sizes() -> None:
    big = np.array([[1e4, 0.0, -1e4], [3.0, 3.0, 3.0]], np.float32)
    np.testing.assert_array_equal(nn.log_softmax(big)[0], np.array([0, -1e4, -2e4], np.float32))
    np.testing.assert_array_equal(nn.softmax(big)[0], np.array([1, 0, 0], np.float32))
    np.testing.assert_allclose(nn.softmax(big)[1], np.full(3, 1 / 3, np.float32), rtol=1e-7)
    grads = fborn.grad(lambda v: nn.log_softmax(v)[:, 0].sum())(big)
    assert np.isfinite(np.asarray(grads)).all()
    np.testing.assert_allclose(grads[0], [0, 0, 0], atol=0)
    for shape in [(0, 3), (3, 0), (0,)]:
        z = np.zeros(shape, np.float32)
        assert nn.softmax(z).shape == shape and nn.log_softmax(z).shape == shape


def test_softmax_where() -> None:
    x = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]], np.float32)
    mask = np.array([[True, False, True], [True, True, True]])
    sm, lsm = np.asarray(nn.softmax(x, where=mask)), np.asarray(nn.log_softmax(x, where=mask))
    np.testing.assert_allclose(sm[0], [0.11920291, 0.0, 0.880797], rtol=1e-6)  # jax.nn values
    np.testing.assert_allclose(lsm[0], [-2.126928, -np.inf, -0.12692805], rtol=1e-6)
    np.testing.assert_allclose(sm[1], np.asarray(nn.softmax(x[1])), rtol=1e-7)
    grad = fborn.grad(lambda v: (nn.softmax(v, where=mask) * np.arange(3)).sum())(x)
    assert np.isfinite(np.asarray(grad)).all() and np.asarray(grad)[0, 1] == 0


def test_softmax_gradients() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5))
    t = rng.standard_normal((3, 5))
    with fborn.config.override(enable_x64=True):
        for axis in (-1, 0, None):
            check_grads(lambda v, a=axis: nn.softmax(v, axis=a), [x], order=2)
            check_grads(lambda v, a=axis: nn.log_softmax(v, axis=a), [x], order=2)
        y, y_t = fborn.jvp(nn.softmax, (x,), (t,))
        y = np.asarray(y)
        expected = y * (t - (y * t).sum(-1, keepdims=True))
        np.testing.assert_allclose(np.asarray(y_t), expected, rtol=1e-12, atol=1e-15)


def test_softmax_traced_jit_vmap() -> None:
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    for f in (nn.softmax, nn.log_softmax, lambda v: nn.logsumexp(v, axis=-1)):
        eager = np.asarray(f(x))
        np.testing.assert_array_equal(np.asarray(eval_traced(f, x)[0]), eager)
        np.testing.assert_allclose(np.asarray(fborn.jit(f)(x)), eager, rtol=4e-6, atol=1e-7)
        rows = np.stack([np.asarray(f(r)) for r in x])
        np.testing.assert_allclose(np.asarray(fborn.vmap(f)(x)), rows, rtol=1e-7)


def test_logsumexp_is_the_scipy_one() -> None:
    assert nn.logsumexp is fborn.scipy.special.logsumexp
    x = np.array([1e4, 1e4], np.float32)
    assert float(nn.logsumexp(x)) == np.float32(1e4 + math.log(2))


# --------------------------------------------------------------------------------------------
# one_hot
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(labels=hnp.arrays(np.int64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                                    max_side=4), elements=st.integers(-3, 12)),
       dtype=st.sampled_from([np.int32, np.uint8, np.int8, np.int64]),
       num_classes=st.integers(0, 10), axis=st.integers(-1, 0))
def test_one_hot_matches_numpy(labels: np.ndarray, dtype: type, num_classes: int,
                               axis: int) -> None:
    labels = labels.astype(dtype)  # -3 wraps around to 253 as uint8: out of range too
    out = np.asarray(nn.one_hot(labels, num_classes, axis=axis))
    expected = (labels.astype(np.int64)[..., None] == np.arange(num_classes)).astype(np.float32)
    expected = np.moveaxis(expected, -1, axis % (labels.ndim + 1))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)


def test_one_hot_details() -> None:
    np.testing.assert_array_equal(nn.one_hot(np.array([-1, 3, 1]), 3),
                                  [[0, 0, 0], [0, 0, 0], [0, 1, 0]])
    out = nn.one_hot(np.array([[0, 2], [1, 5]]), 3, axis=0)
    assert out.shape == (3, 2, 2)
    np.testing.assert_array_equal(out[:, 1, 0], [0, 1, 0])
    assert np.asarray(nn.one_hot(np.array([0, 2]), 3, dtype=np.int8)).dtype == np.int8
    assert np.asarray(nn.one_hot(np.array([0]), 3, dtype=BF16)).dtype == BF16
    wide = np.asarray(nn.one_hot(np.array([0, 255], np.uint8), 300))  # no uint8 wrap-around
    assert wide.shape == (2, 300) and wide.sum() == 2 and wide[0, 0] == wide[1, 255] == 1
    np.testing.assert_array_equal(nn.one_hot(np.array([True, False]), 2), [[0, 1], [1, 0]])
    with fborn.config.override(enable_x64=True):
        assert np.asarray(nn.one_hot(np.array([1]), 2)).dtype == np.float64
    with pytest.warns(DeprecationWarning, match="integers"):
        np.testing.assert_array_equal(nn.one_hot(np.array([1.0]), 2), [[0, 1]])
    with pytest.raises(ValueError, match="non-negative"):
        nn.one_hot(np.array([1]), -1)
    with pytest.raises(TypeError, match="integer"):
        nn.one_hot(np.array([1]), 2.5)
    with pytest.raises(FbornShapeError, match="out of bounds"):
        nn.one_hot(np.array([1]), 2, axis=2)
    with pytest.raises(ConcretizationError, match="num_classes"):
        fborn.jit(lambda n: nn.one_hot(np.array([1]), n))(np.int32(3))


def test_one_hot_traced_jit_vmap() -> None:
    labels = np.array([[0, 3], [2, 9]], np.int32)
    eager = np.asarray(nn.one_hot(labels, 4))
    f = lambda v: nn.one_hot(v, 4)
    np.testing.assert_array_equal(np.asarray(eval_traced(f, labels)[0]), eager)
    np.testing.assert_array_equal(np.asarray(fborn.jit(f)(labels)), eager)
    np.testing.assert_array_equal(np.asarray(fborn.vmap(f)(labels)), eager)
    np.testing.assert_array_equal(
        np.asarray(fborn.vmap(f, in_axes=1, out_axes=1)(labels)), eager)


# --------------------------------------------------------------------------------------------
# glu, standardize
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(x=float_arrays(min_dims=1), axis=st.integers(-1, 0))
def test_glu_matches_numpy(x: np.ndarray, axis: int) -> None:
    if x.shape[axis] % 2:
        with pytest.raises(FbornShapeError, match="even"):
            nn.glu(x, axis=axis)
        return
    a, b = np.split(x.astype(np.float64), 2, axis=axis)
    out = np.asarray(nn.glu(x, axis=axis))
    assert out.dtype == x.dtype and out.shape == a.shape
    tol = TOL[x.dtype]
    np.testing.assert_allclose(out.astype(np.float64), a * sp.expit(b), rtol=tol, atol=tol)


def test_glu_gradients_and_traced() -> None:
    x = np.random.default_rng(2).standard_normal((3, 4))
    with fborn.config.override(enable_x64=True):
        check_grads(lambda v: nn.glu(v, axis=0 if v.shape[0] % 2 == 0 else -1), [x], order=2)
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(np.asarray(eval_traced(nn.glu, x32)[0]), np.asarray(nn.glu(x32)))


def ref_standardize(x: np.ndarray, axis: Any, where: np.ndarray | None) -> np.ndarray:
    mean = np.mean(x, axis, keepdims=True, where=True if where is None else where)
    var = np.mean((x - mean) ** 2, axis, keepdims=True, where=True if where is None else where)
    return (x - mean) / np.sqrt(var + 1e-5)


@SETTINGS
@given(x=float_arrays(dtypes=[np.dtype(np.float32)], min_dims=1), axis=AXES,
       algorithm=st.sampled_from(["fast", "stable"]))
def test_standardize_matches_numpy(x: np.ndarray, axis: Any, algorithm: str) -> None:
    if x.ndim == 1 and axis == (0, -1):
        axis = 0
    out = np.asarray(nn.standardize(x, axis, algorithm=algorithm))
    assert out.dtype == np.float32 and out.shape == x.shape
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's "mean of empty slice"
        ref = ref_standardize(x.astype(np.float64), axis, None)
    np.testing.assert_allclose(out, ref, rtol=2e-3, atol=2e-3)


def test_standardize_options() -> None:
    x = np.array([[1.0, 2.0, 4.0], [0.0, 0.0, 0.0]], np.float32)
    np.testing.assert_allclose(nn.standardize(x), [[-1.0690418, -0.26726055, 1.336302],
                                                   [0, 0, 0]], rtol=1e-5)  # jax.nn values
    mask = np.array([[True, True, False], [True, True, True]])
    np.testing.assert_allclose(nn.standardize(x, where=mask),
                               ref_standardize(x.astype(np.float64), -1, mask), rtol=1e-5)
    np.testing.assert_allclose(nn.standardize(x, mean=1.0, variance=4.0),
                               (x - 1) / np.sqrt(4 + 1e-5), rtol=1e-6)
    with pytest.raises(ValueError, match="algorithm"):
        nn.standardize(x, algorithm="exact")
    with fborn.config.override(enable_x64=True):
        check_grads(nn.standardize, [np.random.default_rng(3).standard_normal((2, 5))], order=1)
    np.testing.assert_array_equal(np.asarray(eval_traced(nn.standardize, x)[0]),
                                  np.asarray(nn.standardize(x)))


def test_namespace() -> None:
    assert nn.swish is nn.silu and nn.hard_swish is nn.hard_silu
    for name in nn.activations.__all__:
        assert getattr(nn, name) is getattr(nn.activations, name)
        assert name in nn.__all__


# --------------------------------------------------------------------------------------------
# The numba compiler
# --------------------------------------------------------------------------------------------


def test_numba_compiler(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("FBORN_CACHE_DIR", str(tmp_path))
    fborn.config.update("jit_compiler", "numba")

    def f(x: Any) -> Any:
        return (nn.gelu(x, approximate=False) + nn.softplus(x) * nn.relu(x) + nn.silu(x)).sum()

    x = np.random.default_rng(4).uniform(-4, 4, (4, 5)).astype(np.float32)
    x[0, 0] = 0.0
    value, grad = fborn.jit(fborn.value_and_grad(f))(x)
    with fborn.disable_jit():
        want_value, want_grad = fborn.value_and_grad(f)(x)
    np.testing.assert_allclose(np.asarray(value), np.asarray(want_value), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(grad), np.asarray(want_grad), rtol=1e-5, atol=1e-6)
