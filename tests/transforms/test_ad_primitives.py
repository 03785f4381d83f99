"""Derivatives of every differentiable primitive: forward mode against finite differences,
reverse mode against forward mode, to second order, in float64."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fborn import lax
from fborn.test_util import check_grads

shapes = st.sampled_from([(), (3,), (2, 3)])

# name -> (function, low, high) with the sampling domain kept valid for the function.
UNARY = {
    "neg": (lax.neg, -2, 2), "exp": (lax.exp, -2, 2), "exp2": (lax.exp2, -2, 2),
    "log": (lax.log, 0.2, 3), "expm1": (lax.expm1, -2, 2), "log1p": (lax.log1p, -0.5, 2),
    "tanh": (lax.tanh, -2, 2), "logistic": (lax.logistic, -3, 3), "sin": (lax.sin, -3, 3),
    "cos": (lax.cos, -3, 3), "tan": (lax.tan, -1, 1), "asin": (lax.asin, -0.8, 0.8),
    "acos": (lax.acos, -0.8, 0.8), "atan": (lax.atan, -2, 2), "sinh": (lax.sinh, -2, 2),
    "cosh": (lax.cosh, -2, 2), "asinh": (lax.asinh, -2, 2), "acosh": (lax.acosh, 1.2, 3),
    "atanh": (lax.atanh, -0.8, 0.8), "sqrt": (lax.sqrt, 0.2, 3), "rsqrt": (lax.rsqrt, 0.2, 3),
    "cbrt": (lax.cbrt, 0.2, 3), "abs": (lax.abs, 0.2, 3), "square": (lax.square, -2, 2),
    "erf": (lax.erf, -2, 2), "erfc": (lax.erfc, -2, 2), "erf_inv": (lax.erf_inv, -0.8, 0.8),
    "integer_pow3": (lambda x: lax.integer_pow(x, 3), -2, 2),
    "integer_pow-2": (lambda x: lax.integer_pow(x, -2), 0.5, 2),
    "reduce_sum": (lambda x: lax.reduce_sum(x, tuple(range(np.ndim(x)))), -2, 2),
    "reduce_max": (lambda x: lax.reduce_max(x, tuple(range(np.ndim(x)))), -2, 2),
    "reduce_prod": (lambda x: lax.reduce_prod(x, tuple(range(np.ndim(x)))), -2, 2),
}

BINARY = {
    "add": (lax.add, -2, 2), "sub": (lax.sub, -2, 2), "mul": (lax.mul, -2, 2),
    "div": (lax.div, 0.5, 2), "pow": (lax.pow, 0.5, 2), "max": (lax.max, -2, 2),
    "min": (lax.min, -2, 2), "atan2": (lax.atan2, 0.5, 2), "rem": (lax.rem, 1.1, 3.9),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_unary_derivatives(x64, name, shape, seed):
    fn, lo, hi = UNARY[name]
    x = np.random.default_rng(seed).uniform(lo, hi, shape)
    check_grads(fn, [x], order=2, rtol=1e-5, atol=1e-6)


def test_lgamma_and_digamma_derivatives(x64):
    x = np.array([0.7, 2.5, 4.0, 12.0])
    check_grads(lax.lgamma, [x], order=2, rtol=1e-5, atol=1e-6)
    check_grads(lax.digamma, [x], order=1, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_binary_derivatives(x64, name, shape, seed):
    fn, lo, hi = BINARY[name]
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(lo, hi, shape), rng.uniform(lo, hi, shape)
    if name in ("max", "min"):
        y = y + 0.01 * np.sign(y - x + 1e-3)  # keep away from ties, where max is not smooth
    check_grads(fn, [x, y], order=2, rtol=1e-5, atol=1e-6)


@given(seed=st.integers(0, 2**16))
def test_shape_primitive_derivatives(x64, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    cases = [
        lambda a: lax.transpose(a, (1, 0)),
        lambda a: lax.reshape(a, (4, 3)),
        lambda a: lax.broadcast_in_dim(a, (2, 3, 4), (1, 2)),
        lambda a: lax.slice(a, (0, 1), (3, 4), (2, 2)),
        lambda a: lax.rev(a, (0, 1)),
        lambda a: lax.squeeze(lax.reshape(a, (1, 3, 4)), (0,)),
        lambda a: lax.cumsum(a, 1),
        lambda a: lax.cumprod(a, 0, reverse=True),
        lambda a: lax.cummax(a, 1),
        lambda a: lax.cummin(a, 0),
        lambda a: lax.convert_element_type(a, np.float64),
        lambda a: lax.clamp(-0.5, a, 0.5),
    ]
    for fn in cases:
        check_grads(fn, [x], order=2)
    check_grads(lambda a, b: lax.concatenate([a, b], 1), [x, y], order=2)
    check_grads(lambda a, b: lax.pad(a, lax.reduce_sum(b, (0, 1)), ((1, 2, 1), (0, -1, 0))),
                [x, y], order=2)
    check_grads(lambda a, b: lax.select(lax.gt(a, b), a, b), [x, y], order=2)
    check_grads(lambda a, b: lax.dot_general(a, b, (((1,), (1,)), ((), ()))), [x, y], order=2)
    check_grads(lambda a, b: lax.dot_general(lax.reshape(a, (3, 4, 1)), b,
                                             (((1,), (1,)), ((0,), (0,)))), [x, y], order=2)


def test_reduce_prod_gradient_with_zeros(x64):
    x = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 1.5]])
    check_grads(lambda a: lax.reduce_prod(a, (1,)), [x], order=2)
