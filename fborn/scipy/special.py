"""``fborn.scipy.special``: special functions with the names and semantics of
``jax.scipy.special``. Integer and bool inputs are promoted to the default float dtype."""

from __future__ import annotations

from collections.abc import Sequence

from fborn import lax
from fborn.core.array import Array
from fborn.numpy import _util
from fborn.numpy._util import ArrayLike
from fborn.transforms.custom_derivatives import custom_jvp

__all__ = [
    "digamma", "entr", "erf", "erfc", "erfinv", "expit", "gammaln", "log_softmax", "logit",
    "logsumexp", "softmax", "xlog1py", "xlogy",
]

Axis = int | Sequence[int] | None


def _inexact(x: ArrayLike) -> Array:
    (x,) = _util.promote_args_inexact(x)
    return x


def _restore_axes(x: Array, shape: tuple[int, ...], axes: tuple[int, ...]) -> Array:
    """Broadcast ``x`` (``shape`` reduced over ``axes``) back to ``shape``."""
    kept = tuple(i for i in range(len(shape)) if i not in axes)
    return lax.broadcast_in_dim(x, shape, kept)


def _keepdims(x: Array, shape: tuple[int, ...], axes: tuple[int, ...]) -> Array:
    return lax.reshape(x, tuple(1 if i in axes else s for i, s in enumerate(shape)))


def erf(x: ArrayLike) -> Array:
    """The error function ``2/sqrt(pi) * integral_0^x exp(-t**2) dt``."""
    return lax.erf(_inexact(x))


def erfc(x: ArrayLike) -> Array:
    """The complementary error function ``1 - erf(x)`` (accurate for large x)."""
    return lax.erfc(_inexact(x))


def erfinv(x: ArrayLike) -> Array:
    """The inverse error function on [-1, 1] (+-inf at +-1, NaN outside)."""
    return lax.erf_inv(_inexact(x))


def expit(x: ArrayLike) -> Array:
    """The logistic sigmoid ``1 / (1 + exp(-x))``."""
    return lax.logistic(_inexact(x))


def logit(x: ArrayLike) -> Array:
    """The inverse of ``expit``: ``log(x / (1 - x))`` (+-inf at 1 and 0, NaN outside [0, 1])."""
    x = _inexact(x)
    return lax.log(lax.div(x, lax.sub(1, x)))


def gammaln(x: ArrayLike) -> Array:
    """``log|Gamma(x)|`` (+inf at the poles 0, -1, -2, ...)."""
    return lax.lgamma(_inexact(x))


def digamma(x: ArrayLike) -> Array:
    """The digamma function ``d/dx log Gamma(x)`` (NaN at the poles)."""
    return lax.digamma(_inexact(x))


def xlogy(x: ArrayLike, y: ArrayLike) -> Array:
    """``x * log(y)``, defined as 0 where ``x == 0`` (even for y = 0). Operands broadcast."""
    x, y = _util.promote_args_inexact(x, y)
    nonzero = lax.ne(x, 0)
    safe_y = lax.select(nonzero, y, 1)
    return lax.select(nonzero, lax.mul(x, lax.log(safe_y)), 0)


def xlog1py(x: ArrayLike, y: ArrayLike) -> Array:
    """``x * log1p(y)``, defined as 0 where ``x == 0`` (even for y = -1). Operands broadcast."""
    x, y = _util.promote_args_inexact(x, y)
    nonzero = lax.ne(x, 0)
    safe_y = lax.select(nonzero, y, 0)
    return lax.select(nonzero, lax.mul(x, lax.log1p(safe_y)), 0)


def entr(x: ArrayLike) -> Array:
    """The elementwise entropy ``-x * log(x)``: 0 at 0, -inf for x < 0."""
    x = _inexact(x)
    return lax.select(lax.lt(x, 0), -float("inf"), lax.neg(xlogy(x, x)))


def logsumexp(a: ArrayLike, axis: Axis = None, b: ArrayLike | None = None,
              keepdims: bool = False, return_sign: bool = False,
              where: ArrayLike | None = None) -> Array | tuple[Array, Array]:
    """``log(sum(b * exp(a), axis))``, computed stably: the (stop_gradient'd) finite maximum
    is subtracted before exponentiating and added back after the log, so ``a = 1e4`` does not
    overflow and an all ``-inf`` slice gives ``-inf``.

    ``b`` (scale factors) and ``where`` (a bool mask of included elements) broadcast against
    ``a``. With ``return_sign`` the result is ``(log|sum|, sign(sum))``; otherwise a negative
    sum (possible with negative ``b``) gives NaN. ``axis=None`` reduces all axes.
    """
    if b is None:
        a_arr = _inexact(a)
    else:
        a_arr, b_arr = _util.promote_args_inexact(a, b)
        a_arr = lax.select(lax.ne(b_arr, 0), a_arr, -float("inf"))
    if where is not None:
        mask = _util.broadcast_to(_util.asarray(where, dtype=bool), a_arr.shape)
        a_arr = lax.select(mask, a_arr, -float("inf"))
    shape = a_arr.shape
    axes = _util.canonicalize_axes(axis, a_arr.ndim)
    if b is None and not return_sign:
        out = _logsumexp(axes, a_arr)
        return _keepdims(out, shape, axes) if keepdims else out
    amax = lax.reduce_max(a_arr, axes)
    amax = lax.stop_gradient(lax.select(lax.is_finite(amax), amax, 0))
    exp_a = lax.exp(lax.sub(a_arr, _restore_axes(amax, shape, axes)))
    if b is not None:
        exp_a = lax.mul(exp_a, b_arr)
    total = lax.reduce_sum(exp_a, axes)
    sign = lax.sign(total)
    out = lax.add(lax.log(lax.abs(total)), amax)
    if b is not None and not return_sign:
        out = lax.select(lax.lt(sign, 0), float("nan"), out)
    if keepdims:
        out, sign = _keepdims(out, shape, axes), _keepdims(sign, shape, axes)
    return (out, sign) if return_sign else out


def _finite_max(a: Array, axes: tuple[int, ...]) -> Array:
    """The (stop_gradient'd) maximum over ``axes``, 0 where it is infinite."""
    amax = lax.reduce_max(a, axes)
    zero = _util.broadcast_to(lax.convert_element_type(0, amax.dtype), amax.shape)
    return lax.stop_gradient(lax.select(lax.is_finite(amax), amax, zero))


def _logsumexp_value(axes: tuple[int, ...], a: Array) -> Array:
    amax = _finite_max(a, axes)
    total = lax.reduce_sum(lax.exp(lax.sub(a, _restore_axes(amax, a.shape, axes))), axes)
    return lax.add(lax.log(total), amax)


_logsumexp = custom_jvp(_logsumexp_value, nondiff_argnums=(0,))


@_logsumexp.defjvp
def _logsumexp_jvp(axes: tuple[int, ...], primals: tuple, tangents: tuple) -> tuple:
    """The tangent is ``sum(softmax(a) * t)``, the softmax taken relative to the maximum (exact
    at large values) and 0 on an all -inf slice, so the gradient there is 0 rather than NaN."""
    (a,), (t,) = primals, tangents
    out = _logsumexp(axes, a)
    e = lax.exp(lax.sub(a, _restore_axes(_finite_max(a, axes), a.shape, axes)))
    total = _restore_axes(lax.reduce_sum(e, axes), a.shape, axes)
    zero = _util.broadcast_to(lax.convert_element_type(0, a.dtype), a.shape)
    one = _util.broadcast_to(lax.convert_element_type(1, a.dtype), a.shape)
    safe_total = lax.select(lax.gt(total, zero), total, one)
    weights = lax.div(e, safe_total)
    return out, lax.reduce_sum(lax.mul(weights, t), axes)


def softmax(x: ArrayLike, /, *, axis: Axis = None) -> Array:
    """``exp(x) / sum(exp(x), axis)`` with the stop_gradient'd maximum subtracted first;
    ``axis=None`` normalizes over all axes (as ``jax.scipy.special.softmax``)."""
    x = _inexact(x)
    axes = _util.canonicalize_axes(axis, x.ndim)
    shift = lax.stop_gradient(_restore_axes(lax.reduce_max(x, axes), x.shape, axes))
    unnormalized = lax.exp(lax.sub(x, shift))
    total = _restore_axes(lax.reduce_sum(unnormalized, axes), x.shape, axes)
    return lax.div(unnormalized, total)


def log_softmax(x: ArrayLike, /, *, axis: Axis = None) -> Array:
    """``x - logsumexp(x, axis, keepdims=True)``, computed stably; ``axis=None`` normalizes
    over all axes."""
    x = _inexact(x)
    axes = _util.canonicalize_axes(axis, x.ndim)
    shift = lax.stop_gradient(_restore_axes(lax.reduce_max(x, axes), x.shape, axes))
    shifted = lax.sub(x, shift)
    log_total = lax.log(lax.reduce_sum(lax.exp(shifted), axes))
    return lax.sub(shifted, _restore_axes(log_total, x.shape, axes))
