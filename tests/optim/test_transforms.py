"""fborn.optim transformations: three steps of each against its update rule written in numpy."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fborn.numpy as fnp
from fborn import optim
from fborn.tree_util import tree_leaves, tree_map

SHAPES = {"a": (2, 3), "b": (4,)}
seeds = st.integers(0, 2**32 - 1)


def _grad_steps(seed: int, n: int = 3, scale: float = 1.0) -> list[dict[str, np.ndarray]]:
    """``n`` gradient pytrees of float32 normals (the dict of :data:`SHAPES`)."""
    rng = np.random.default_rng(seed)
    return [{k: (scale * rng.normal(size=s)).astype(np.float32) for k, s in SHAPES.items()}
            for _ in range(n)]


def _params(seed: int) -> dict[str, np.ndarray]:
    return _grad_steps(seed + 1, 1)[0]


def _run(transform: optim.GradientTransformation, grads: list[dict], params: dict | None = None
         ) -> tuple[list[dict[str, np.ndarray]], object]:
    """The updates of consecutive ``transform.update`` calls (params held fixed), and the
    final state."""
    fparams = None if params is None else tree_map(fnp.asarray, params)
    state = transform.init(tree_map(fnp.asarray, params if params is not None else grads[0]))
    out = []
    for g in grads:
        u, state = transform.update(tree_map(fnp.asarray, g), state, fparams)
        out.append({k: np.asarray(v) for k, v in u.items()})
    return out, state


def _check(got: list[dict], expected: list[dict], rtol: float = 1e-5, atol: float = 1e-6
           ) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        for k in SHAPES:
            assert g[k].dtype == np.float32 and g[k].shape == SHAPES[k]
            np.testing.assert_allclose(g[k], e[k], rtol=rtol, atol=atol)


def _per_leaf(rule, grads: list[dict], *extra: dict) -> list[dict]:
    """Applies a per-leaf numpy ``rule(list of that leaf's grads, *extra leaf) -> list`` leaf by
    leaf, in float64."""
    out: list[dict] = [{} for _ in grads]
    for k in SHAPES:
        seq = rule([g[k].astype(np.float64) for g in grads], *(x[k] for x in extra))
        for i, u in enumerate(seq):
            out[i][k] = u
    return out


# ----------------------------------------------------------------------------- numpy rules


def ref_adam(gs, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, nesterov=False):
    m = v = 0.0
    out = []
    for t, g in enumerate(gs, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        if nesterov:
            m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
        else:
            m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        out.append(m_hat / (np.sqrt(v_hat + eps_root) + eps))
    return out


def ref_rms(gs, decay, eps, initial_scale, eps_in_sqrt, bias_correction, centered):
    mu, nu = 0.0, initial_scale
    out = []
    for t, g in enumerate(gs, start=1):
        mu = decay * mu + (1 - decay) * g
        nu = decay * nu + (1 - decay) * g * g
        c = (1 - decay**t) if bias_correction else 1.0
        var = nu / c - (mu / c) ** 2 if centered else nu / c
        out.append(g / np.sqrt(var + eps) if eps_in_sqrt else g / (np.sqrt(var) + eps))
    return out


def ref_rss(gs, initial, eps):
    s = initial
    out = []
    for g in gs:
        s = s + g * g
        out.append(np.where(s > 0, g / np.sqrt(s + eps), 0.0))
    return out


def ref_trace(gs, decay, nesterov):
    t = 0.0
    out = []
    for g in gs:
        t = g + decay * t
        out.append(g + decay * t if nesterov else t)
    return out


# ----------------------------------------------------------------------------- tests


@given(seeds, st.sampled_from([(0.9, 0.999), (0.5, 0.9), (0.0, 0.99)]),
       st.sampled_from([1e-8, 1e-3]), st.sampled_from([0.0, 1e-6]), st.booleans())
def test_scale_by_adam(seed, betas, eps, eps_root, nesterov):
    b1, b2 = betas
    grads = _grad_steps(seed)
    got, state = _run(optim.scale_by_adam(b1, b2, eps, eps_root, nesterov=nesterov), grads)
    _check(got, _per_leaf(lambda gs: ref_adam(gs, b1, b2, eps, eps_root, nesterov), grads))
    assert isinstance(state, optim.ScaleByAdamState)
    assert state.count.dtype == np.int32 and int(state.count) == 3


def test_scale_by_adam_mu_dtype_and_count_saturates():
    t = optim.scale_by_adam(mu_dtype=ml_dtypes.bfloat16)
    params = {"a": fnp.ones(3)}
    state = t.init(params)
    assert state.mu["a"].dtype == ml_dtypes.bfloat16 and state.nu["a"].dtype == np.float32
    u, state = t.update({"a": fnp.asarray([0.3, -1.0, 2.0])}, state)
    assert state.mu["a"].dtype == ml_dtypes.bfloat16
    np.testing.assert_allclose(np.asarray(u["a"]), [1.0, -1.0, 1.0], rtol=1e-6)
    full = state._replace(count=fnp.asarray(2**31 - 1, fnp.int32))
    _, state = t.update({"a": fnp.ones(3)}, full)
    assert int(state.count) == 2**31 - 1 and state.count.dtype == np.int32


@given(seeds, st.sampled_from([0.9, 0.5]), st.sampled_from([1e-8, 1e-2]),
       st.sampled_from([0.0, 0.1]), st.booleans(), st.booleans())
def test_scale_by_rms(seed, decay, eps, initial_scale, eps_in_sqrt, bias_correction):
    grads = _grad_steps(seed)
    t = optim.scale_by_rms(decay, eps, initial_scale, eps_in_sqrt, bias_correction)
    got, state = _run(t, grads)
    expected = _per_leaf(lambda gs: ref_rms(gs, decay, eps, initial_scale, eps_in_sqrt,
                                            bias_correction, centered=False), grads)
    _check(got, expected, rtol=2e-5)
    kind = optim.ScaleByRmsWithCountState if bias_correction else optim.ScaleByRmsState
    assert type(state) is kind


@given(seeds, st.sampled_from([0.9, 0.5]), st.sampled_from([1e-8, 1e-2]), st.booleans(),
       st.booleans())
def test_scale_by_stddev(seed, decay, eps, eps_in_sqrt, bias_correction):
    grads = _grad_steps(seed)
    t = optim.scale_by_stddev(decay, eps, 1.0, eps_in_sqrt, bias_correction)
    got, state = _run(t, grads)
    expected = _per_leaf(lambda gs: ref_rms(gs, decay, eps, 1.0, eps_in_sqrt, bias_correction,
                                            centered=True), grads)
    _check(got, expected, rtol=1e-4)
    kind = optim.ScaleByRStdDevWithCountState if bias_correction else optim.ScaleByRStdDevState
    assert type(state) is kind


@given(seeds, st.sampled_from([0.1, 1.0]), st.sampled_from([1e-7, 1e-2]))
def test_scale_by_rss(seed, initial, eps):
    grads = _grad_steps(seed)
    got, state = _run(optim.scale_by_rss(initial, eps), grads)
    _check(got, _per_leaf(lambda gs: ref_rss(gs, initial, eps), grads))
    expected_sos = initial + sum(g["b"].astype(np.float64) ** 2 for g in grads)
    np.testing.assert_allclose(np.asarray(state.sum_of_squares["b"]), expected_sos, rtol=1e-6)


def test_scale_by_rss_is_zero_where_nothing_accumulated():
    t = optim.scale_by_rss(initial_accumulator_value=0.0)
    u, _ = t.update({"a": fnp.asarray([0.0, 2.0])}, t.init({"a": fnp.zeros(2)}))
    np.testing.assert_allclose(np.asarray(u["a"]), [0.0, 2.0 / np.sqrt(4.0 + 1e-7)], rtol=1e-7)


@given(seeds, st.sampled_from([0.9, 0.5]), st.booleans())
def test_trace(seed, decay, nesterov):
    grads = _grad_steps(seed)
    got, state = _run(optim.trace(decay, nesterov), grads)
    _check(got, _per_leaf(lambda gs: ref_trace(gs, decay, nesterov), grads))
    assert isinstance(state, optim.TraceState)


def test_trace_accumulator_dtype():
    t = optim.trace(0.5, accumulator_dtype=ml_dtypes.bfloat16)
    state = t.init({"a": fnp.zeros(2)})
    assert state.trace["a"].dtype == ml_dtypes.bfloat16
    u, state = t.update({"a": fnp.asarray([1.0, 3.0])}, state)
    u, state = t.update({"a": fnp.asarray([1.0, 3.0])}, state)
    assert u["a"].dtype == np.float32 and state.trace["a"].dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(np.asarray(u["a"]), [1.5, 4.5])


@given(seeds, st.sampled_from([0.5, -2.0]))
def test_scale_and_learning_rate(seed, factor):
    grads = _grad_steps(seed)
    for t, f in [(optim.scale(factor), factor),
                 (optim.scale_by_learning_rate(factor), -factor),
                 (optim.scale_by_learning_rate(factor, flip_sign=False), factor)]:
        got, state = _run(t, grads)
        assert state == optim.EmptyState()
        _check(got, [{k: f * g[k].astype(np.float64) for k in SHAPES} for g in grads], 1e-7, 0)


def test_scale_by_schedule_gets_the_count_and_casts_to_the_update_dtype():
    seen = []

    def schedule(count):
        seen.append(count)
        return 0.5 + count

    t = optim.scale_by_schedule(schedule)
    state = t.init({"h": fnp.zeros(2, fnp.float16)})
    for step in range(3):
        u, state = t.update({"h": fnp.asarray(np.array([1.0, -2.0], np.float16))}, state)
        assert u["h"].dtype == np.float16
        np.testing.assert_array_equal(np.asarray(u["h"]), [0.5 + step, -2 * (0.5 + step)])
    assert [int(c) for c in seen] == [0, 1, 2] and seen[0].dtype == np.int32
    assert isinstance(state, optim.ScaleByScheduleState) and int(state.count) == 3
    lr = optim.scale_by_learning_rate(lambda c: 0.1 * (c + 1))
    u, _ = lr.update({"a": fnp.ones(1)}, lr.init({"a": fnp.ones(1)}))
    np.testing.assert_allclose(np.asarray(u["a"]), [-0.1], rtol=1e-7)


def test_clip():
    t = optim.clip(1.5)
    u, _ = t.update({"a": fnp.asarray([-3.0, 0.25, 2.0])}, t.init(None))
    np.testing.assert_array_equal(np.asarray(u["a"]), [-1.5, 0.25, 1.5])


@given(seeds, st.sampled_from([0.5, 3.0, 100.0]))
def test_clip_by_global_norm(seed, max_norm):
    g = _grad_steps(seed, 1)[0]
    norm = np.sqrt(sum(np.sum(x.astype(np.float64) ** 2) for x in g.values()))
    got, state = _run(optim.clip_by_global_norm(max_norm), [g])
    assert state == optim.EmptyState()
    factor = 1.0 if norm < max_norm else max_norm / norm
    _check(got, [{k: g[k] * factor for k in SHAPES}], rtol=1e-6, atol=0)
    clipped = np.sqrt(sum(np.sum(x.astype(np.float64) ** 2) for x in got[0].values()))
    assert clipped <= max_norm * (1 + 1e-6)


@given(seeds, st.sampled_from([1e-4, 0.5]))
def test_add_decayed_weights(seed, wd):
    grads, params = _grad_steps(seed), _params(seed)
    got, _ = _run(optim.add_decayed_weights(wd), grads, params)
    _check(got, [{k: g[k] + wd * params[k].astype(np.float64) for k in SHAPES} for g in grads],
           rtol=1e-6)


def test_add_decayed_weights_needs_params():
    t = optim.add_decayed_weights(0.1)
    with pytest.raises(ValueError, match="add_decayed_weights needs the parameters"):
        t.update({"a": fnp.ones(2)}, t.init({"a": fnp.ones(2)}))
    adamw = optim.adamw(1e-3)
    with pytest.raises(ValueError, match="add_decayed_weights needs the parameters"):
        adamw.update({"a": fnp.ones(2)}, adamw.init({"a": fnp.ones(2)}))


@pytest.mark.parametrize("mask", [
    {"a": True, "b": False},
    lambda tree: {"a": True, "b": False},
    {"a": True, "b": {"c": False, "d": None}},
])
def test_masked_applies_inner_only_where_true(mask):
    params = {"a": fnp.ones(2), "b": {"c": fnp.ones(3), "d": None}}
    t = optim.masked(optim.trace(0.5), mask)
    state = t.init(params)
    assert isinstance(state, optim.MaskedState)
    assert len(tree_leaves(state)) == 1
    g = {"a": fnp.asarray([1.0, 2.0]), "b": {"c": fnp.asarray([3.0, 4.0, 5.0]), "d": None}}
    for _ in range(2):
        u, state = t.update(g, state)
    np.testing.assert_array_equal(np.asarray(u["a"]), [1.5, 3.0])
    np.testing.assert_array_equal(np.asarray(u["b"]["c"]), [3.0, 4.0, 5.0])
    assert u["b"]["d"] is None


def test_add_decayed_weights_mask():
    params = {"w": fnp.full((2, 2), 2.0), "b": fnp.full((2,), 2.0)}
    for mask in ({"w": True, "b": False}, lambda p: {"w": True, "b": False}):
        t = optim.add_decayed_weights(0.25, mask)
        g = tree_map(fnp.ones_like, params)
        u, _ = t.update(g, t.init(params), params)
        np.testing.assert_array_equal(np.asarray(u["w"]), np.full((2, 2), 1.5))
        np.testing.assert_array_equal(np.asarray(u["b"]), np.ones(2))
