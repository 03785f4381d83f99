"""Learning-rate schedules (optax names and formulas): functions ``count -> value``.

A schedule is called with the number of earlier updates (an int32 scalar, traced under ``jit``),
so it is written with ``fborn.numpy`` ops and works on tracers. Degenerate settings that optax
turns into a constant (``transition_steps <= 0``, ``decay_rate == 0``) do the same here, silently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import fborn.numpy as fnp
from fborn.numpy._util import ArrayLike
from fborn.optim._base import Schedule

__all__ = [
    "constant_schedule", "cosine_decay_schedule", "exponential_decay", "join_schedules",
    "linear_schedule", "piecewise_constant_schedule", "polynomial_schedule",
    "warmup_cosine_decay_schedule", "warmup_exponential_decay_schedule",
]


def constant_schedule(value: float) -> Schedule:
    """The schedule that always returns ``value``."""
    return lambda count: value


def polynomial_schedule(init_value: float, end_value: float, power: float,
                        transition_steps: int, transition_begin: int = 0) -> Schedule:
    """``(init - end) * (1 - t / transition_steps)**power + end`` with
    ``t = clip(count - transition_begin, 0, transition_steps)``: ``init_value`` until
    ``transition_begin``, ``end_value`` from ``transition_begin + transition_steps`` on.
    A negative ``transition_begin`` counts as 0; ``transition_steps <= 0`` gives the constant
    ``init_value``."""
    if transition_steps <= 0:
        return constant_schedule(init_value)
    transition_begin = max(transition_begin, 0)

    def schedule(count: ArrayLike) -> ArrayLike:
        t = fnp.clip(fnp.asarray(count) - transition_begin, 0, transition_steps)
        frac = 1 - t / transition_steps
        return (init_value - end_value) * frac**power + end_value

    return schedule


def linear_schedule(init_value: float, end_value: float, transition_steps: int,
                    transition_begin: int = 0) -> Schedule:
    """Linear interpolation from ``init_value`` to ``end_value`` over ``transition_steps``
    steps starting at ``transition_begin`` (:func:`polynomial_schedule` with ``power=1``)."""
    return polynomial_schedule(init_value, end_value, 1, transition_steps, transition_begin)


def cosine_decay_schedule(init_value: float, decay_steps: int, alpha: float = 0.0,
                          exponent: float = 1.0) -> Schedule:
    """``init * ((1 - alpha) * c**exponent + alpha)`` with
    ``c = (1 + cos(pi * min(count, decay_steps) / decay_steps)) / 2``: from ``init_value`` down to
    ``alpha * init_value`` at ``decay_steps``, then constant. ValueError if ``decay_steps <= 0``."""
    if not decay_steps > 0:
        raise ValueError(f"cosine_decay_schedule needs decay_steps > 0, got {decay_steps}")

    def schedule(count: ArrayLike) -> ArrayLike:
        t = fnp.minimum(fnp.asarray(count), decay_steps)
        cosine = 0.5 * (1 + fnp.cos(math.pi * t / decay_steps))
        return init_value * ((1 - alpha) * cosine**exponent + alpha)

    return schedule


def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """``schedules[0]`` before ``boundaries[0]``, then ``schedules[i + 1](count - boundaries[i])``
    from ``boundaries[i]`` on. ValueError unless there is one boundary fewer than schedules."""
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(f"join_schedules needs one boundary fewer than schedules, got "
                         f"{len(schedules)} schedules and {len(boundaries)} boundaries")

    def schedule(count: ArrayLike) -> ArrayLike:
        count = fnp.asarray(count)
        value = schedules[0](count)
        for boundary, later in zip(boundaries, schedules[1:], strict=True):
            value = fnp.where(count < boundary, value, later(count - boundary))
        return value

    return schedule


def warmup_cosine_decay_schedule(init_value: float, peak_value: float, warmup_steps: int,
                                 decay_steps: int, end_value: float = 0.0,
                                 exponent: float = 1.0) -> Schedule:
    """Linear warm-up from ``init_value`` to ``peak_value`` over ``warmup_steps``, then cosine
    decay to ``end_value`` at step ``decay_steps`` (which counts the warm-up steps too).
    ValueError if ``decay_steps <= warmup_steps``."""
    alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
    return join_schedules(
        [linear_schedule(init_value, peak_value, warmup_steps),
         cosine_decay_schedule(peak_value, decay_steps - warmup_steps, alpha, exponent)],
        [warmup_steps])


def exponential_decay(init_value: float, transition_steps: int, decay_rate: float,
                      transition_begin: int = 0, staircase: bool = False,
                      end_value: float | None = None) -> Schedule:
    """``init * decay_rate**((count - transition_begin) / transition_steps)`` (the exponent
    floored when ``staircase``), ``init_value`` before ``transition_begin``, and bounded by
    ``end_value`` when given (a floor when ``decay_rate < 1``, a ceiling otherwise).
    ``transition_steps <= 0`` or ``decay_rate == 0`` give the constant ``init_value``."""
    if transition_steps <= 0 or decay_rate == 0:
        return constant_schedule(init_value)
    transition_begin = max(transition_begin, 0)
    bound = fnp.maximum if decay_rate < 1.0 else fnp.minimum

    def schedule(count: ArrayLike) -> ArrayLike:
        t = fnp.asarray(count) - transition_begin
        p = t / transition_steps
        if staircase:
            p = fnp.floor(p)
        value = fnp.where(t <= 0, init_value, init_value * fnp.power(decay_rate, p))
        return value if end_value is None else bound(value, end_value)

    return schedule


def warmup_exponential_decay_schedule(init_value: float, peak_value: float, warmup_steps: int,
                                      transition_steps: int, decay_rate: float,
                                      transition_begin: int = 0, staircase: bool = False,
                                      end_value: float | None = None) -> Schedule:
    """Linear warm-up from ``init_value`` to ``peak_value`` over ``warmup_steps``, then
    :func:`exponential_decay` from ``peak_value`` (its count starting at 0 after the warm-up)."""
    return join_schedules(
        [linear_schedule(init_value, peak_value, warmup_steps),
         exponential_decay(peak_value, transition_steps, decay_rate, transition_begin,
                           staircase, end_value)],
        [warmup_steps])


def piecewise_constant_schedule(init_value: float,
                                boundaries_and_scales: dict[int, float] | None = None
                                ) -> Schedule:
    """``init_value`` times every ``scale`` whose boundary ``count`` has reached
    (``count >= boundary``). ValueError if a scale is negative."""
    items = sorted((boundaries_and_scales or {}).items())
    negative = [s for _, s in items if s < 0]
    if negative:
        raise ValueError(f"piecewise_constant_schedule needs non-negative scales, got {negative}")

    def schedule(count: ArrayLike) -> ArrayLike:
        count = fnp.asarray(count)
        value = fnp.asarray(init_value)
        for boundary, factor in items:
            value = fnp.where(count < boundary, value, value * factor)
        return value

    return schedule
