"""Whole training steps: ``jit(step)(params, opt_state, batch)`` converges on linear regression,
and optimizer states ride through ``lax.scan``."""

from __future__ import annotations

import numpy as np
import pytest

import fborn
import fborn.numpy as fnp
from fborn import optim
from fborn.tree_util import tree_leaves, tree_structure

W_TRUE = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
B_TRUE = 0.7


def _batch(seed: int = 0, n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return x, (x @ W_TRUE + B_TRUE).astype(np.float32)


def _init_params() -> dict:
    return {"w": fnp.zeros(4), "b": fnp.zeros(()), "frozen": None}


def _loss(params: dict, batch: tuple) -> fborn.Array:
    x, y = batch
    return fnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def _make_step(opt: optim.GradientTransformation):
    def step(params, opt_state, batch):
        loss, grads = fborn.value_and_grad(_loss)(params, batch)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optim.apply_updates(params, updates), opt_state, loss

    return step


OPTIMIZERS = {
    "sgd": (lambda: optim.sgd(0.1), 100),
    "sgd_nesterov": (lambda: optim.sgd(0.05, momentum=0.9, nesterov=True), 100),
    "adam": (lambda: optim.adam(optim.warmup_cosine_decay_schedule(0.0, 0.1, 10, 300)), 300),
    "adamw_clipped": (lambda: optim.chain(optim.clip_by_global_norm(10.0),
                                          optim.adamw(0.05, weight_decay=1e-4)), 300),
    "rmsprop": (lambda: optim.rmsprop(optim.exponential_decay(0.02, 100, 0.5), momentum=0.5),
                300),
    "adagrad": (lambda: optim.adagrad(0.5), 300),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_jitted_train_step_converges(name):
    make_opt, steps = OPTIMIZERS[name]
    opt = make_opt()
    step = fborn.jit(_make_step(opt))
    params = _init_params()
    opt_state = opt.init(params)
    structure = tree_structure(opt_state)
    batch = _batch()
    first = None
    for _ in range(steps):
        params, opt_state, loss = step(params, opt_state, batch)
        first = float(loss) if first is None else first
    assert step.trace_count == 1
    assert tree_structure(opt_state) == structure and params["frozen"] is None
    assert first > 5.0 and float(_loss(params, batch)) < 1e-3 * first
    np.testing.assert_allclose(np.asarray(params["w"]), W_TRUE, atol=0.05)
    np.testing.assert_allclose(float(params["b"]), B_TRUE, atol=0.05)


def test_opt_state_is_a_scan_carry():
    opt = optim.adam(0.05)
    step = _make_step(opt)
    x, y = _batch(1, n=24)
    batches = (x.reshape(3, 8, 4), y.reshape(3, 8))

    def body(carry, batch):
        params, opt_state = carry
        params, opt_state, loss = step(params, opt_state, batch)
        return (params, opt_state), loss

    params = _init_params()
    (scanned, scanned_state), losses = fborn.lax.scan(body, (params, opt.init(params)), batches)
    looped, state = params, opt.init(params)
    for i in range(3):
        looped, state, loss = step(looped, state, (batches[0][i], batches[1][i]))
        np.testing.assert_allclose(float(losses[i]), float(loss), rtol=1e-6)
    for a, b in zip(tree_leaves((scanned, scanned_state)), tree_leaves((looped, state)),
                    strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)

