"""fborn.optim optimizers: the parameters after each of three steps against the update rule
written out in numpy (float64)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import fborn.numpy as fnp
from fborn import optim
from fborn.tree_util import tree_map

SHAPES = {"w": (3, 2), "b": (2,)}
seeds = st.integers(0, 2**32 - 1)
learning_rates = st.sampled_from([1e-3, 0.1])


def _data(seed: int) -> tuple[dict, list[dict]]:
    """Initial float32 params and three float32 gradient pytrees."""
    rng = np.random.default_rng(seed)
    make = lambda: {k: rng.normal(size=s).astype(np.float32) for k, s in SHAPES.items()}
    return make(), [make() for _ in range(3)]


def _steps(opt: optim.GradientTransformation, params: dict, grads: list[dict]) -> list[dict]:
    """The params after each ``update`` + ``apply_updates`` (gradients fixed in advance)."""
    p = tree_map(fnp.asarray, params)
    state = opt.init(p)
    out = []
    for g in grads:
        u, state = opt.update(tree_map(fnp.asarray, g), state, p)
        p = optim.apply_updates(p, u)
        out.append({k: np.asarray(v) for k, v in p.items()})
    return out


def _reference(rule, params: dict, grads: list[dict]) -> list[dict]:
    """``rule(p, g, state, t) -> (p, state)`` leaf by leaf in float64, ``t`` counting from 1."""
    out: list[dict] = [{} for _ in grads]
    for k in SHAPES:
        p, state = params[k].astype(np.float64), {}
        for t, g in enumerate(grads, start=1):
            p, state = rule(p, g[k].astype(np.float64), state, t)
            out[t - 1][k] = p
    return out


def _check(got: list[dict], expected: list[dict], rtol: float = 1e-6, atol: float = 1e-6):
    for g, e in zip(got, expected, strict=True):
        for k, shape in SHAPES.items():
            assert g[k].dtype == np.float32 and g[k].shape == shape
            np.testing.assert_allclose(g[k], e[k], rtol=rtol, atol=atol)


@given(seeds, learning_rates, st.sampled_from([None, 0.9, 0.5]), st.booleans())
def test_sgd(seed, lr, momentum, nesterov):
    params, grads = _data(seed)

    def rule(p, g, s, t):
        if momentum is None:
            return p - lr * g, s
        trace = g + momentum * s.get("trace", 0.0)
        step = g + momentum * trace if nesterov else trace
        return p - lr * step, {"trace": trace}

    got = _steps(optim.sgd(lr, momentum, nesterov), params, grads)
    _check(got, _reference(rule, params, grads))


def _adam_rule(lr, b1, b2, eps, weight_decay=0.0):
    def rule(p, g, s, t):
        m = b1 * s.get("m", 0.0) + (1 - b1) * g
        v = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        step = m_hat / (np.sqrt(v_hat) + eps) + weight_decay * p
        return p - lr(t - 1) * step, {"m": m, "v": v}

    return rule


@given(seeds, learning_rates, st.sampled_from([(0.9, 0.999), (0.8, 0.99)]),
       st.sampled_from([1e-8, 1e-2]))
def test_adam(seed, lr, betas, eps):
    params, grads = _data(seed)
    got = _steps(optim.adam(lr, *betas, eps), params, grads)
    _check(got, _reference(_adam_rule(lambda t: lr, *betas, eps), params, grads), rtol=2e-6)


@given(seeds, learning_rates, st.sampled_from([1e-4, 0.1]))
def test_adamw(seed, lr, weight_decay):
    params, grads = _data(seed)
    got = _steps(optim.adamw(lr, weight_decay=weight_decay), params, grads)
    expected = _reference(_adam_rule(lambda t: lr, 0.9, 0.999, 1e-8, weight_decay), params, grads)
    _check(got, expected, rtol=2e-6)


def test_adamw_mask_decays_only_the_masked_leaves():
    params, grads = _data(0)
    got = _steps(optim.adamw(0.1, weight_decay=0.5, mask={"w": True, "b": False}), params, grads)
    decayed = _reference(_adam_rule(lambda t: 0.1, 0.9, 0.999, 1e-8, 0.5), params, grads)
    plain = _reference(_adam_rule(lambda t: 0.1, 0.9, 0.999, 1e-8), params, grads)
    _check(got, [{"w": d["w"], "b": p["b"]} for d, p in zip(decayed, plain, strict=True)],
           rtol=2e-6)


def test_adam_with_a_schedule_uses_the_count_before_the_step():
    params, grads = _data(1)
    schedule = optim.linear_schedule(0.1, 0.0, transition_steps=4)
    got = _steps(optim.adam(schedule), params, grads)
    lr = lambda count: 0.1 * (1 - count / 4)
    _check(got, _reference(_adam_rule(lr, 0.9, 0.999, 1e-8), params, grads), rtol=2e-6)


@given(seeds, learning_rates, st.booleans(), st.sampled_from([None, 0.9]), st.booleans())
def test_rmsprop(seed, lr, centered, momentum, bias_correction):
    params, grads = _data(seed)
    decay, eps, initial_scale = 0.9, 1e-8, 1.0

    def rule(p, g, s, t):
        mu = decay * s.get("mu", 0.0) + (1 - decay) * g
        nu = decay * s.get("nu", initial_scale) + (1 - decay) * g * g
        c = 1 - decay**t if bias_correction else 1.0
        var = nu / c - (mu / c) ** 2 if centered else nu / c
        step = -lr * g / np.sqrt(var + eps)
        trace = step + (momentum or 0.0) * s.get("trace", 0.0)
        return p + trace, {"mu": mu, "nu": nu, "trace": trace}

    opt = optim.rmsprop(lr, decay, eps, initial_scale, centered=centered, momentum=momentum,
                        bias_correction=bias_correction)
    got = _steps(opt, params, grads)
    _check(got, _reference(rule, params, grads), rtol=2e-6)


def test_rmsprop_eps_outside_the_sqrt():
    params, grads = _data(2)

    def rule(p, g, s, t):
        nu = 0.9 * s.get("nu", 0.0) + 0.1 * g * g
        return p - 0.01 * g / (np.sqrt(nu) + 0.1), {"nu": nu}

    got = _steps(optim.rmsprop(0.01, eps=0.1, eps_in_sqrt=False), params, grads)
    _check(got, _reference(rule, params, grads))


@given(seeds, learning_rates, st.sampled_from([0.1, 0.0]))
def test_adagrad(seed, lr, initial):
    params, grads = _data(seed)

    def rule(p, g, s, t):
        acc = s.get("acc", initial) + g * g
        return p - lr * g / np.sqrt(acc + 1e-7), {"acc": acc}

    got = _steps(optim.adagrad(lr, initial_accumulator_value=initial), params, grads)
    _check(got, _reference(rule, params, grads))
