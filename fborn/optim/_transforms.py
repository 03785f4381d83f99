"""Gradient transformations (optax names and update rules).

Each function returns a :class:`GradientTransformation` whose state is a NamedTuple pytree; step
counts are int32 scalars that stop at the int32 maximum instead of wrapping.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import fborn.numpy as fnp
from fborn import lax
from fborn.core.array import Array
from fborn.optim._base import (
    EmptyState,
    GradientTransformation,
    OptState,
    Params,
    ScalarOrSchedule,
    Schedule,
    Updates,
    global_norm,
)
from fborn.tree_util import tree_map

__all__ = [
    "MaskedNode", "MaskedState", "ScaleByAdamState", "ScaleByRStdDevState",
    "ScaleByRStdDevWithCountState", "ScaleByRmsState", "ScaleByRmsWithCountState",
    "ScaleByRssState", "ScaleByScheduleState", "TraceState", "add_decayed_weights", "clip",
    "clip_by_global_norm", "masked", "scale", "scale_by_adam", "scale_by_learning_rate",
    "scale_by_rms", "scale_by_rss", "scale_by_schedule", "scale_by_stddev", "trace",
]

_INT32_MAX = 2**31 - 1


class ScaleByScheduleState(NamedTuple):
    """State of :func:`scale_by_schedule`: the number of updates so far."""

    count: Array


class ScaleByAdamState(NamedTuple):
    """State of :func:`scale_by_adam`: step count, first moment ``mu``, second moment ``nu``."""

    count: Array
    mu: Updates
    nu: Updates


class ScaleByRmsState(NamedTuple):
    """State of :func:`scale_by_rms`: the running mean of squared gradients."""

    nu: Updates


class ScaleByRmsWithCountState(NamedTuple):
    """State of :func:`scale_by_rms` with ``bias_correction=True``."""

    count: Array
    nu: Updates


class ScaleByRStdDevState(NamedTuple):
    """State of :func:`scale_by_stddev`: running means of gradients and squared gradients."""

    mu: Updates
    nu: Updates


class ScaleByRStdDevWithCountState(NamedTuple):
    """State of :func:`scale_by_stddev` with ``bias_correction=True``."""

    count: Array
    mu: Updates
    nu: Updates


class ScaleByRssState(NamedTuple):
    """State of :func:`scale_by_rss`: the running sum of squared gradients."""

    sum_of_squares: Updates


class TraceState(NamedTuple):
    """State of :func:`trace`: the momentum buffer."""

    trace: Params


class MaskedState(NamedTuple):
    """State of :func:`masked`: the inner transformation's state over the masked leaves."""

    inner_state: OptState


class MaskedNode(NamedTuple):
    """Stands in for a leaf that a mask leaves out: a pytree node with no leaves."""


# ----------------------------------------------------------------------------- helpers


def _zero_count() -> Array:
    return fnp.zeros((), fnp.int32)


def _safe_increment(count: Array) -> Array:
    """``count + 1``, saturating at the int32 maximum instead of wrapping around."""
    return fnp.where(count < _INT32_MAX, count + 1, _INT32_MAX).astype(fnp.int32)


def _full_like(tree: Params, value: float, dtype: Any = None) -> Updates:
    return tree_map(lambda p: fnp.full_like(p, value, dtype=dtype), tree)


def _cast(tree: Updates, dtype: Any) -> Updates:
    if dtype is None:
        return tree
    return tree_map(lambda t: fnp.asarray(t).astype(dtype), tree)


def _moment(updates: Updates, moments: Updates, decay: float) -> Updates:
    """Exponential moving average ``(1 - decay) * g + decay * m``."""
    return tree_map(lambda g, m: (1 - decay) * g + decay * m, updates, moments)


def _moment_sq(updates: Updates, moments: Updates, decay: float) -> Updates:
    """Exponential moving average of squares ``(1 - decay) * g**2 + decay * m``."""
    return tree_map(lambda g, m: (1 - decay) * fnp.square(g) + decay * m, updates, moments)


def _bias_correction(moments: Updates, decay: float | Array, count: Array) -> Updates:
    """``m / (1 - decay**count)``: undoes the pull towards the zero initial value.

    ``1 - decay**count`` is computed as ``-expm1(count * log(decay))``: in float32 this is
    accurate to a few ulp where ``1 - decay**count`` cancels (up to 1e-4 relative error for
    ``decay=0.9999``), and it keeps ``pow`` of an int-to-float conversion out of compiled code
    (LLVM rewrites that to a ``powi`` call that numba cannot resolve)."""
    log_decay = fnp.log(decay) if isinstance(decay, Array) else _log(decay)
    correction = -fnp.expm1(count * log_decay)
    return tree_map(lambda m: m / correction.astype(m.dtype), moments)


def _log(x: float) -> float:
    return -math.inf if x == 0 else math.log(x)


def _inv_sqrt(nu: Updates, eps: float, eps_in_sqrt: bool) -> Updates:
    if eps_in_sqrt:
        return tree_map(lambda n: lax.rsqrt(n + eps), nu)
    return tree_map(lambda n: 1 / (fnp.sqrt(n) + eps), nu)


def _no_params_error(name: str) -> ValueError:
    return ValueError(f"{name} needs the parameters: call update(updates, state, params) "
                      "with the current params (got params=None)")


# ----------------------------------------------------------------------------- scaling


def scale(step_size: float | Array) -> GradientTransformation:
    """Multiplies every update by the constant ``step_size``. State: ``EmptyState()``."""

    def init_fn(params: Params) -> EmptyState:
        del params
        return EmptyState()

    def update_fn(updates: Updates, state: OptState,
                  params: Params | None = None) -> tuple[Updates, OptState]:
        del params
        return tree_map(lambda g: step_size * g, updates), state

    return GradientTransformation(init_fn, update_fn)


def scale_by_schedule(step_size_fn: Schedule) -> GradientTransformation:
    """Multiplies the updates by ``step_size_fn(count)``, ``count`` the number of earlier
    updates (0 on the first). The step size is cast to each update's dtype."""

    def init_fn(params: Params) -> ScaleByScheduleState:
        del params
        return ScaleByScheduleState(count=_zero_count())

    def update_fn(updates: Updates, state: ScaleByScheduleState,
                  params: Params | None = None) -> tuple[Updates, ScaleByScheduleState]:
        del params
        step_size = step_size_fn(state.count)
        updates = tree_map(lambda g: fnp.asarray(step_size, dtype=g.dtype) * g, updates)
        return updates, ScaleByScheduleState(count=_safe_increment(state.count))

    return GradientTransformation(init_fn, update_fn)


def scale_by_learning_rate(learning_rate: ScalarOrSchedule, *,
                           flip_sign: bool = True) -> GradientTransformation:
    """Scales by ``-learning_rate`` (``+learning_rate`` when ``flip_sign=False``). A callable
    learning rate is a schedule, called with the step count (see :func:`scale_by_schedule`)."""
    sign = -1 if flip_sign else 1
    if callable(learning_rate):
        return scale_by_schedule(lambda count: sign * learning_rate(count))
    return scale(sign * learning_rate)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, eps_root: float = 0.0,
                  mu_dtype: Any = None, *, nesterov: bool = False) -> GradientTransformation:
    """Adam's rescaling (Kingma & Ba): ``m_hat / (sqrt(v_hat + eps_root) + eps)`` where
    ``m = b1*m + (1-b1)*g``, ``v = b2*v + (1-b2)*g**2`` and ``x_hat = x / (1 - b**t)``.
    ``nesterov=True`` gives NAdam's look-ahead first moment. ``mu_dtype`` stores ``m`` in
    that dtype (default: the parameters').

    Deviation from optax: ``1 - b**t`` is computed as ``-expm1(t * log(b))``, which is more
    accurate in float32 (optax's value differs by up to 1e-5 relative for ``b=0.999``)."""

    def init_fn(params: Params) -> ScaleByAdamState:
        return ScaleByAdamState(count=_zero_count(), mu=_full_like(params, 0, mu_dtype),
                                nu=_full_like(params, 0))

    def update_fn(updates: Updates, state: ScaleByAdamState,
                  params: Params | None = None) -> tuple[Updates, ScaleByAdamState]:
        del params
        mu = _moment(updates, state.mu, b1)
        nu = _moment_sq(updates, state.nu, b2)
        count = _safe_increment(state.count)
        if nesterov:
            mu_hat = tree_map(lambda m, g: b1 * m + (1 - b1) * g,
                              _bias_correction(mu, b1, _safe_increment(count)),
                              _bias_correction(updates, b1, count))
        else:
            mu_hat = _bias_correction(mu, b1, count)
        nu_hat = _bias_correction(nu, b2, count)
        updates = tree_map(lambda m, v: m / (fnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat)
        return updates, ScaleByAdamState(count=count, mu=_cast(mu, mu_dtype), nu=nu)

    return GradientTransformation(init_fn, update_fn)


def scale_by_rms(decay: float = 0.9, eps: float = 1e-8, initial_scale: float = 0.0,
                 eps_in_sqrt: bool = True,
                 bias_correction: bool = False) -> GradientTransformation:
    """RMSProp's rescaling: ``g / sqrt(v + eps)`` (``g / (sqrt(v) + eps)`` when
    ``eps_in_sqrt=False``) with ``v = decay*v + (1-decay)*g**2`` started at
    ``initial_scale``; ``bias_correction`` divides ``v`` by ``1 - decay**t``."""

    def init_fn(params: Params) -> ScaleByRmsState | ScaleByRmsWithCountState:
        nu = _full_like(params, initial_scale)
        if bias_correction:
            return ScaleByRmsWithCountState(count=_zero_count(), nu=nu)
        return ScaleByRmsState(nu=nu)

    def update_fn(updates: Updates, state: ScaleByRmsState | ScaleByRmsWithCountState,
                  params: Params | None = None) -> tuple[Updates, OptState]:
        del params
        nu = _moment_sq(updates, state.nu, decay)
        if bias_correction:
            count = _safe_increment(state.count)
            scaling = _inv_sqrt(_bias_correction(nu, decay, count), eps, eps_in_sqrt)
            new_state: OptState = ScaleByRmsWithCountState(count=count, nu=nu)
        else:
            scaling = _inv_sqrt(nu, eps, eps_in_sqrt)
            new_state = ScaleByRmsState(nu=nu)
        return tree_map(lambda s, g: s * g, scaling, updates), new_state

    return GradientTransformation(init_fn, update_fn)


def scale_by_stddev(decay: float = 0.9, eps: float = 1e-8, initial_scale: float = 0.0,
                    eps_in_sqrt: bool = True,
                    bias_correction: bool = False) -> GradientTransformation:
    """Centered RMSProp's rescaling: ``g / sqrt(v - m**2 + eps)`` with running means
    ``m`` of ``g`` (from 0) and ``v`` of ``g**2`` (from ``initial_scale``); the variants as
    in :func:`scale_by_rms`."""

    def init_fn(params: Params) -> ScaleByRStdDevState | ScaleByRStdDevWithCountState:
        mu, nu = _full_like(params, 0), _full_like(params, initial_scale)
        if bias_correction:
            return ScaleByRStdDevWithCountState(count=_zero_count(), mu=mu, nu=nu)
        return ScaleByRStdDevState(mu=mu, nu=nu)

    def update_fn(updates: Updates, state: OptState,
                  params: Params | None = None) -> tuple[Updates, OptState]:
        del params
        mu = _moment(updates, state.mu, decay)
        nu = _moment_sq(updates, state.nu, decay)
        if bias_correction:
            count = _safe_increment(state.count)
            mu_hat = _bias_correction(mu, decay, count)
            nu_hat = _bias_correction(nu, decay, count)
            new_state: OptState = ScaleByRStdDevWithCountState(count=count, mu=mu, nu=nu)
        else:
            mu_hat, nu_hat = mu, nu
            new_state = ScaleByRStdDevState(mu=mu, nu=nu)
        var = tree_map(lambda m, n: n - fnp.square(m), mu_hat, nu_hat)
        scaling = _inv_sqrt(var, eps, eps_in_sqrt)
        return tree_map(lambda s, g: s * g, scaling, updates), new_state

    return GradientTransformation(init_fn, update_fn)


def scale_by_rss(initial_accumulator_value: float = 0.1,
                 eps: float = 1e-7) -> GradientTransformation:
    """Adagrad's rescaling: ``g / sqrt(s + eps)`` where ``s`` (from
    ``initial_accumulator_value``) sums every squared gradient so far; 0 where ``s == 0``."""

    def init_fn(params: Params) -> ScaleByRssState:
        return ScaleByRssState(sum_of_squares=_full_like(params, initial_accumulator_value))

    def update_fn(updates: Updates, state: ScaleByRssState,
                  params: Params | None = None) -> tuple[Updates, ScaleByRssState]:
        del params
        sos = tree_map(lambda g, s: fnp.square(g) + s, updates, state.sum_of_squares)
        scaling = tree_map(lambda s: fnp.where(s > 0, lax.rsqrt(s + eps), 0), sos)
        updates = tree_map(lambda s, g: s * g, scaling, updates)
        return updates, ScaleByRssState(sum_of_squares=sos)

    return GradientTransformation(init_fn, update_fn)


def trace(decay: float, nesterov: bool = False,
          accumulator_dtype: Any = None) -> GradientTransformation:
    """Momentum: ``t = g + decay * t`` and the update is ``t`` (``g + decay * t`` with
    ``nesterov=True``). ``accumulator_dtype`` stores ``t`` in that dtype."""

    def init_fn(params: Params) -> TraceState:
        return TraceState(trace=_full_like(params, 0, accumulator_dtype))

    def update_fn(updates: Updates, state: TraceState,
                  params: Params | None = None) -> tuple[Updates, TraceState]:
        del params
        new_trace = tree_map(lambda g, t: g + decay * t, updates, state.trace)
        if nesterov:
            updates = tree_map(lambda g, t: g + decay * t, updates, new_trace)
        else:
            updates = new_trace
        return updates, TraceState(trace=_cast(new_trace, accumulator_dtype))

    return GradientTransformation(init_fn, update_fn)


# ----------------------------------------------------------------------------- clipping


def clip(max_delta: float | Array) -> GradientTransformation:
    """Clips every update element to ``[-max_delta, max_delta]``. State: ``EmptyState()``."""

    def init_fn(params: Params) -> EmptyState:
        del params
        return EmptyState()

    def update_fn(updates: Updates, state: OptState,
                  params: Params | None = None) -> tuple[Updates, OptState]:
        del params
        return tree_map(lambda g: fnp.clip(g, -max_delta, max_delta), updates), state

    return GradientTransformation(init_fn, update_fn)


def clip_by_global_norm(max_norm: float | Array) -> GradientTransformation:
    """Rescales all updates together so that their global norm (see
    :func:`~fborn.optim.global_norm`) is at most ``max_norm``: ``g * max_norm / norm`` when
    ``norm >= max_norm``, unchanged otherwise. State: ``EmptyState()``."""
    def init_fn(params: Params) -> EmptyState:
        del params
        return EmptyState()

    def update_fn(updates: Updates, state: OptState,
                  params: Params | None = None) -> tuple[Updates, OptState]:
        del params
        norm = global_norm(updates)
        keep = norm < max_norm
        updates = tree_map(lambda g: fnp.where(keep, g, (g / norm.astype(g.dtype)) * max_norm),
                           updates)
        return updates, state

    return GradientTransformation(init_fn, update_fn)


# ----------------------------------------------------------------------------- weight decay, masks


MaskOrFn = Any
"""A pytree of Python bools (a prefix of the parameters' structure), or a function from the
parameters (or updates) to one."""


def masked(inner: GradientTransformation, mask: MaskOrFn) -> GradientTransformation:
    """Applies ``inner`` only to the leaves where ``mask`` is True; the other updates pass
    through unchanged (and ``inner``'s state holds nothing for them).

    ``mask`` is a pytree of Python bools with the parameters' structure or a prefix of it, or a
    function called with the parameters in ``init`` and with the updates in ``update``."""

    def hide(tree: Any, mask_tree: Any) -> Any:
        return tree_map(lambda m, x: x if m else MaskedNode(), mask_tree, tree)

    def init_fn(params: Params) -> MaskedState:
        mask_tree = mask(params) if callable(mask) else mask
        return MaskedState(inner_state=inner.init(hide(params, mask_tree)))

    def update_fn(updates: Updates, state: MaskedState,
                  params: Params | None = None) -> tuple[Updates, MaskedState]:
        mask_tree = mask(updates) if callable(mask) else mask
        shown_params = None if params is None else hide(params, mask_tree)
        new_updates, inner_state = inner.update(hide(updates, mask_tree), state.inner_state,
                                                shown_params)
        updates = tree_map(lambda m, new, old: new if m else old, mask_tree, new_updates, updates)
        return updates, MaskedState(inner_state=inner_state)

    return GradientTransformation(init_fn, update_fn)


def add_decayed_weights(weight_decay: float | Array = 0.0,
                        mask: MaskOrFn | None = None) -> GradientTransformation:
    """Adds ``weight_decay * params`` to the updates (decoupled weight decay when placed
    before the learning-rate scaling). ``update`` must get ``params``: ValueError otherwise.
    ``mask`` restricts the decay to some leaves (see :func:`masked`)."""

    def init_fn(params: Params) -> EmptyState:
        del params
        return EmptyState()

    def update_fn(updates: Updates, state: OptState,
                  params: Params | None = None) -> tuple[Updates, OptState]:
        if params is None:
            raise _no_params_error("add_decayed_weights")
        return tree_map(lambda g, p: g + weight_decay * p, updates, params), state

    transform = GradientTransformation(init_fn, update_fn)
    return transform if mask is None else masked(transform, mask)
