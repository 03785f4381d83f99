"""fborn.optim.schedules against their closed forms (numpy, float64) and hand-worked values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fborn
import fborn.numpy as fnp
from fborn import optim
from fborn.optim import schedules

COUNTS = np.arange(0, 40)


def _values(schedule, counts=COUNTS) -> np.ndarray:
    """The schedule at each count, called on int32 scalar Arrays as the optimizers do."""
    out = []
    for c in counts:
        v = schedule(fnp.asarray(int(c), fnp.int32))
        assert v.shape == () and v.dtype == np.float32
        out.append(float(v))
    return np.array(out)


def _close(got: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_reexported_from_fborn_optim():
    for name in schedules.__all__:
        assert getattr(optim, name) is getattr(schedules, name)


def test_constant_schedule():
    s = optim.constant_schedule(0.25)
    assert s(0) == 0.25 and s(fnp.asarray(7, fnp.int32)) == 0.25


@given(st.floats(-2, 2), st.floats(-2, 2), st.integers(1, 20), st.integers(-3, 10),
       st.sampled_from([1, 2, 0.5]))
def test_polynomial_and_linear(init, end, steps, begin, power):
    t = np.clip(COUNTS - max(begin, 0), 0, steps)
    expected = end + (init - end) * (1 - t / steps) ** power
    _close(_values(optim.polynomial_schedule(init, end, power, steps, begin)), expected)
    if power == 1:
        linear = init + (end - init) * t / steps
        _close(_values(optim.linear_schedule(init, end, steps, begin)), linear)


def test_linear_schedule_values_and_degenerate_steps():
    _close(_values(optim.linear_schedule(1.0, 0.0, 4), range(6)), [1.0, 0.75, 0.5, 0.25, 0, 0])
    _close(_values(optim.linear_schedule(0.0, 2.0, 2, transition_begin=3), range(7)),
           [0, 0, 0, 0, 1, 2, 2])
    assert optim.linear_schedule(0.3, 1.0, 0)(5) == 0.3


@given(st.floats(0.01, 3), st.integers(1, 30), st.sampled_from([0.0, 0.1]),
       st.sampled_from([1.0, 2.0]))
def test_cosine_decay_schedule(init, decay_steps, alpha, exponent):
    t = np.minimum(COUNTS, decay_steps)
    cosine = (1 + np.cos(np.pi * t / decay_steps)) / 2
    expected = init * ((1 - alpha) * cosine**exponent + alpha)
    _close(_values(optim.cosine_decay_schedule(init, decay_steps, alpha, exponent)), expected)


def test_cosine_decay_values_and_errors():
    _close(_values(optim.cosine_decay_schedule(2.0, 4), range(6)),
           [2.0, 1 + math.sqrt(0.5), 1.0, 1 - math.sqrt(0.5), 0, 0])
    with pytest.raises(ValueError, match="decay_steps > 0, got 0"):
        optim.cosine_decay_schedule(1.0, 0)


@given(st.floats(0, 1), st.floats(0.1, 2), st.integers(0, 10), st.integers(1, 20),
       st.sampled_from([0.0, 0.05]))
def test_warmup_cosine_decay_schedule(init, peak, warmup, extra, end):
    decay_steps = warmup + extra
    s = optim.warmup_cosine_decay_schedule(init, peak, warmup, decay_steps, end)
    expected = []
    for c in COUNTS:
        if c < warmup:
            expected.append(init + (peak - init) * c / warmup)
        else:
            t = min(c - warmup, extra)
            expected.append(end + (peak - end) * (1 + math.cos(math.pi * t / extra)) / 2)
    _close(_values(s), np.array(expected))


def test_warmup_cosine_decay_values_and_errors():
    s = optim.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=2, decay_steps=6, end_value=0.2)
    _close(_values(s, range(8)), [0.0, 0.5, 1.0, 0.2 + 0.8 * (1 + math.sqrt(0.5)) / 2, 0.6,
                                  0.2 + 0.8 * (1 - math.sqrt(0.5)) / 2, 0.2, 0.2])
    with pytest.raises(ValueError, match="decay_steps > 0"):
        optim.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=5, decay_steps=5)


@given(st.floats(0.1, 2), st.integers(1, 10), st.sampled_from([0.5, 0.96, 1.5]),
       st.integers(0, 5), st.booleans(), st.sampled_from([None, 0.3, 3.0]))
def test_exponential_decay(init, steps, rate, begin, staircase, end):
    t = COUNTS - begin
    p = np.floor(t / steps) if staircase else t / steps
    expected = np.where(t <= 0, init, init * rate**p)
    if end is not None:
        expected = np.maximum(expected, end) if rate < 1 else np.minimum(expected, end)
    s = optim.exponential_decay(init, steps, rate, begin, staircase, end)
    np.testing.assert_allclose(_values(s), expected, rtol=2e-6)


def test_exponential_decay_values_and_degenerate_settings():
    s = optim.exponential_decay(1.0, transition_steps=2, decay_rate=0.5, staircase=True)
    _close(_values(s, range(6)), [1, 1, 0.5, 0.5, 0.25, 0.25])
    s = optim.exponential_decay(1.0, 2, 0.25, transition_begin=1, end_value=0.2)
    _close(_values(s, range(6)), [1, 1, 0.5, 0.25, 0.2, 0.2])
    assert optim.exponential_decay(0.7, 0, 0.5)(9) == 0.7
    assert optim.exponential_decay(0.7, 10, 0.0)(9) == 0.7


def test_piecewise_constant_schedule():
    s = optim.piecewise_constant_schedule(2.0, {6: 0.1, 3: 0.5})
    _close(_values(s, range(9)), [2, 2, 2, 1, 1, 1, 0.1, 0.1, 0.1])
    _close(_values(optim.piecewise_constant_schedule(0.5), range(3)), [0.5] * 3)
    with pytest.raises(ValueError, match=r"non-negative scales, got \[-1.0\]"):
        optim.piecewise_constant_schedule(1.0, {2: 0.5, 4: -1.0})


def test_join_schedules_and_warmup_exponential():
    s = optim.join_schedules([optim.constant_schedule(1.0), lambda c: c * 10.0,
                              optim.constant_schedule(-1.0)], [2, 5])
    _close(_values(s, range(7)), [1, 1, 0, 10, 20, -1, -1])
    with pytest.raises(ValueError, match="2 schedules and 2 boundaries"):
        optim.join_schedules([optim.constant_schedule(1.0)] * 2, [1, 2])
    s = optim.warmup_exponential_decay_schedule(0.0, 1.0, 2, transition_steps=1, decay_rate=0.5)
    _close(_values(s, range(6)), [0, 0.5, 1, 0.5, 0.25, 0.125])


ALL = {
    "linear": optim.linear_schedule(1.0, 0.1, 10, 2),
    "cosine": optim.cosine_decay_schedule(1.0, 10, 0.1),
    "warmup_cosine": optim.warmup_cosine_decay_schedule(0.0, 1.0, 3, 20),
    "exponential": optim.exponential_decay(1.0, 3, 0.5, 1, True, 0.1),
    "piecewise": optim.piecewise_constant_schedule(1.0, {3: 0.5, 8: 0.5}),
}


@pytest.mark.parametrize("name", ALL)
def test_schedules_trace_and_jit(name):
    s = ALL[name]
    jaxpr = fborn.make_jaxpr(s)(fnp.asarray(0, fnp.int32))
    assert "i32[]" in str(jaxpr)
    jitted = fborn.jit(s)
    for c in (0, 4, 9, 30):
        count = fnp.asarray(c, fnp.int32)
        assert float(jitted(count)) == pytest.approx(float(s(count)), rel=1e-6)
    assert float(s(4)) == pytest.approx(float(s(fnp.asarray(4, fnp.int32))), rel=1e-7)
