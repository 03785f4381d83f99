"""Reference implementations (numpy) of special functions numpy lacks: erf, erfc, erf_inv,
lgamma, digamma. Computed in float64 and rounded to the operand's dtype."""

from __future__ import annotations

import math

import numpy as np

_erf = np.frompyfunc(math.erf, 1, 1)
_erfc = np.frompyfunc(math.erfc, 1, 1)


def _lgamma_value(v: float) -> float:
    """log|gamma(v)| of a Python float: NaN stays NaN, +-inf and the poles give inf."""
    if math.isnan(v):
        return v
    if math.isinf(v) or (v <= 0 and v == math.floor(v)):
        return math.inf
    return math.lgamma(v)


_lgamma_scalar = np.frompyfunc(_lgamma_value, 1, 1)


def _f64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def erf(x: np.ndarray) -> np.ndarray:
    return np.asarray(_erf(_f64(x)), dtype=np.float64)


def erfc(x: np.ndarray) -> np.ndarray:
    return np.asarray(_erfc(_f64(x)), dtype=np.float64)


def lgamma(x: np.ndarray) -> np.ndarray:
    """log|Gamma(x)|; +inf at the poles (non-positive integers)."""
    x = _f64(x)
    out = np.full(x.shape, np.nan)
    ok = ~np.isnan(x)
    if ok.any():
        out[ok] = np.asarray(_lgamma_scalar(x[ok]), dtype=np.float64)
    return out


def digamma(x: np.ndarray) -> np.ndarray:
    """psi(x) = d/dx lgamma(x): reflection for x < 0.5, recurrence up to x >= 10, then the
    asymptotic series; NaN at the poles."""
    x = _f64(x)
    with np.errstate(all="ignore"):
        reflect = x < 0.5
        y = np.where(reflect, 1.0 - x, x)
        acc = np.zeros_like(y)
        for _ in range(10):
            small = y < 10.0
            acc = acc - np.where(small, 1.0 / y, 0.0)
            y = np.where(small, y + 1.0, y)
        inv2 = 1.0 / (y * y)
        series = (np.log(y) - 0.5 / y
                  - inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (
                      1 / 240 - inv2 * (1 / 132))))))
        result = acc + series
        result = np.where(reflect, result - np.pi / np.tan(np.pi * x), result)
        return np.where((x <= 0) & (x == np.floor(x)), np.nan, result)


def erf_inv(x: np.ndarray) -> np.ndarray:
    """Inverse error function on (-1, 1); +-inf at +-1 and NaN outside. A rational initial
    guess (Giles, 2010) refined by Newton steps on erf."""
    x = _f64(x)
    with np.errstate(all="ignore"):
        w = -np.log((1.0 - x) * (1.0 + x))
        small = w < 5.0
        ws = w - 2.5
        p_small = 2.81022636e-08
        for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                  -0.00125372503, -0.00417768164, 0.246640727, 1.50140941):
            p_small = c + p_small * ws
        wl = np.sqrt(np.where(small, 5.0, w)) - 3.0
        p_large = -0.000200214257
        for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                  -0.0076224613, 0.00943887047, 1.00167406, 2.83297682):
            p_large = c + p_large * wl
        y = np.where(small, p_small, p_large) * x
        finite = np.isfinite(y)
        for _ in range(3):
            err = erf(np.where(finite, y, 0.0)) - x
            y = np.where(finite, y - err / (2.0 / math.sqrt(math.pi) * np.exp(-y * y)), y)
        y = np.where(x == 1.0, np.inf, np.where(x == -1.0, -np.inf, y))
        return np.where(np.abs(x) > 1.0, np.nan, y)
