"""Derivatives of fborn.numpy functions: forward mode against finite differences and reverse
mode against forward mode, to second order, in float64 (smooth points of each function)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fborn.numpy as fnp
import fborn.scipy.special as special
from fborn.test_util import check_grads

# name -> (function of one (3, 4) array, low, high) with the domain kept smooth.
UNARY = {
    "negative": (fnp.negative, -2, 2), "abs": (fnp.abs, 0.3, 2), "sqrt": (fnp.sqrt, 0.3, 2),
    "cbrt": (fnp.cbrt, 0.3, 2), "square": (fnp.square, -2, 2),
    "reciprocal": (fnp.reciprocal, 0.5, 2), "exp": (fnp.exp, -2, 2), "exp2": (fnp.exp2, -2, 2),
    "expm1": (fnp.expm1, -2, 2), "log": (fnp.log, 0.3, 2), "log2": (fnp.log2, 0.3, 2),
    "log10": (fnp.log10, 0.3, 2), "log1p": (fnp.log1p, -0.5, 2), "sin": (fnp.sin, -2, 2),
    "cos": (fnp.cos, -2, 2), "tan": (fnp.tan, -1, 1), "arcsin": (fnp.arcsin, -0.8, 0.8),
    "arccos": (fnp.arccos, -0.8, 0.8), "arctan": (fnp.arctan, -2, 2),
    "sinh": (fnp.sinh, -2, 2), "cosh": (fnp.cosh, -2, 2), "tanh": (fnp.tanh, -2, 2),
    "arcsinh": (fnp.arcsinh, -2, 2), "arccosh": (fnp.arccosh, 1.2, 3),
    "arctanh": (fnp.arctanh, -0.8, 0.8), "deg2rad": (fnp.deg2rad, -2, 2),
    "rad2deg": (fnp.rad2deg, -2, 2), "sinc": (fnp.sinc, 0.1, 0.9),
    "clip": (lambda x: fnp.clip(x, -0.5, 0.5), -2, 2),
    "power_int": (lambda x: fnp.power(x, 3), -2, 2),
    "power_float": (lambda x: fnp.power(x, 1.5), 0.3, 2),
    "float_power": (lambda x: fnp.float_power(x, 2.5), 0.3, 2),
    "nan_to_num": (fnp.nan_to_num, -2, 2),
    "sum": (lambda x: fnp.sum(x, axis=1), -2, 2), "prod": (lambda x: fnp.prod(x, axis=0), -2, 2),
    "mean": (lambda x: fnp.mean(x, axis=(0, 1)), -2, 2), "var": (fnp.var, -2, 2),
    "std": (lambda x: fnp.std(x, axis=1, ddof=1), -2, 2),
    "max": (lambda x: fnp.max(x, axis=1), -2, 2), "min": (lambda x: fnp.min(x, axis=0), -2, 2),
    "cumsum": (lambda x: fnp.cumsum(x, axis=1), -2, 2),
    "cumprod": (lambda x: fnp.cumprod(x, axis=0), -2, 2),
    "average": (lambda x: fnp.average(x, axis=1, weights=np.arange(1.0, 5.0)), -2, 2),
    "nansum": (lambda x: fnp.nansum(x, axis=0), -2, 2),
    "nanmean": (lambda x: fnp.nanmean(x, axis=1), -2, 2),
    "median": (lambda x: fnp.median(x, axis=1), -2, 2),
    "sort": (lambda x: fnp.sort(x, axis=1), -2, 2),
    "norm": (fnp.linalg.norm, -2, 2),
    "norm_axis": (lambda x: fnp.linalg.norm(x, ord=3, axis=1), 0.3, 2),
    "logsumexp": (lambda x: special.logsumexp(x, axis=1), -2, 2),
    "softmax": (lambda x: special.softmax(x, axis=1), -2, 2),
    "log_softmax": (lambda x: special.log_softmax(x, axis=0), -2, 2),
    "expit": (special.expit, -2, 2), "logit": (special.logit, 0.2, 0.8),
    "erf": (special.erf, -2, 2), "erfinv": (special.erfinv, -0.8, 0.8),
    "gammaln": (special.gammaln, 0.5, 3),
    "reshape": (lambda x: fnp.reshape(x, (2, 6)), -2, 2),
    "transpose": (fnp.transpose, -2, 2), "ravel": (fnp.ravel, -2, 2),
    "swapaxes": (lambda x: fnp.swapaxes(x, 0, 1), -2, 2),
    "moveaxis": (lambda x: fnp.moveaxis(x, 0, -1), -2, 2),
    "expand_squeeze": (lambda x: fnp.squeeze(fnp.expand_dims(x, 1)), -2, 2),
    "broadcast_to": (lambda x: fnp.broadcast_to(x, (2, 3, 4)), -2, 2),
    "tile": (lambda x: fnp.tile(x, (2, 1)), -2, 2),
    "repeat": (lambda x: fnp.repeat(x, 2, axis=1), -2, 2),
    "flip": (lambda x: fnp.flip(x, axis=0), -2, 2), "fliplr": (fnp.fliplr, -2, 2),
    "roll": (lambda x: fnp.roll(x, 2, axis=1), -2, 2),
    "pad_constant": (lambda x: fnp.pad(x, ((1, 0), (2, 1))), -2, 2),
    "pad_reflect": (lambda x: fnp.pad(x, 2, mode="reflect"), -2, 2),
    "pad_edge": (lambda x: fnp.pad(x, 1, mode="edge"), -2, 2),
    "split": (lambda x: fnp.split(x, 2, axis=1)[1], -2, 2),
    "stack": (lambda x: fnp.stack([x, 2 * x], axis=1), -2, 2),
    "hstack": (lambda x: fnp.hstack([x, x]), -2, 2),
    "take": (lambda x: fnp.take(x, np.array([2, 0, 2]), axis=1), -2, 2),
    "take_along_axis": (lambda x: fnp.take_along_axis(x, np.array([[1], [0], [3]]), axis=1),
                        -2, 2),
    "getitem": (lambda x: x[1:, ::-2][np.array([0, 1, 0])], -2, 2),
    "at_set": (lambda x: fnp.asarray(x).at[0, 1:3].set(fnp.sum(x)), -2, 2),
    "at_add": (lambda x: fnp.asarray(x).at[np.array([0, 0, 2])].add(x[1]), -2, 2),
    "diagonal": (fnp.diagonal, -2, 2), "trace": (fnp.trace, -2, 2),
    "tril": (fnp.tril, -2, 2), "triu": (lambda x: fnp.triu(x, 1), -2, 2),
    "where": (lambda x: fnp.where(x > 0, x * x, fnp.sin(x)), -2, 2),
    "matmul": (lambda x: x @ x.T, -2, 2), "dot": (lambda x: fnp.dot(x[0], x[1]), -2, 2),
    "vdot": (lambda x: fnp.vdot(x, x), -2, 2), "inner": (lambda x: fnp.inner(x, x), -2, 2),
    "outer": (lambda x: fnp.outer(x[0], x[1]), -2, 2),
    "tensordot": (lambda x: fnp.tensordot(x, x, axes=([1], [1])), -2, 2),
    "einsum": (lambda x: fnp.einsum("ij,kj->ik", x, fnp.sin(x)), -2, 2),
    "einsum_trace": (lambda x: fnp.einsum("ii->i", x[:3, :3]), -2, 2),
    "kron": (lambda x: fnp.kron(x[:2, :2], x[1:, 2:]), -2, 2),
}

BINARY = {
    "add": fnp.add, "subtract": fnp.subtract, "multiply": fnp.multiply, "divide": fnp.divide,
    "maximum": fnp.maximum, "minimum": fnp.minimum, "arctan2": fnp.arctan2,
    "hypot": fnp.hypot, "logaddexp": fnp.logaddexp, "power": fnp.power,
    "fmax": fnp.fmax, "fmin": fnp.fmin, "xlogy": special.xlogy,
    "copysign": fnp.copysign, "mod": fnp.mod,
}


@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=5)
@given(seed=st.integers(0, 2**16))
def test_numpy_unary_derivatives(x64, name, seed):
    fn, lo, hi = UNARY[name]
    x = np.random.default_rng(seed).uniform(lo, hi, (3, 4))
    if name in ("max", "min", "sort", "median", "clip"):
        x = x + np.arange(12).reshape(3, 4) * 1e-2  # distinct values: away from ties
    check_grads(fn, [x], order=2, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=5)
@given(seed=st.integers(0, 2**16))
def test_numpy_binary_derivatives_with_broadcasting(x64, name, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0.5, 2, (3, 4)), rng.uniform(0.5, 2, (4,))
    if name in ("maximum", "minimum", "fmax", "fmin"):
        y = y + 0.05 * np.sign(y - x.mean(0) + 1e-3)
    if name == "mod":
        x, y = x + 2.1, np.full((4,), 1.7)
    check_grads(BINARY[name], [x, y], order=2, rtol=1e-5, atol=1e-6)
