"""fborn.training: the jitted step, an epoch over batches, accuracy."""

from __future__ import annotations

import numpy as np
import pytest

import fborn
import fborn.numpy as fnp
from fborn import io, optim, training


def _regression() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 3)).astype(np.float32)
    y = (x @ np.array([1.5, -2.0, 0.5], np.float32) + 0.25).astype(np.float32)
    return x, y


def _loss(params: dict, x: fborn.Array, y: fborn.Array) -> fborn.Array:
    return fnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def test_make_step_is_one_sgd_update() -> None:
    x, y = _regression()
    params = {"w": np.zeros(3, np.float32), "b": np.float32(0)}
    step = training.make_step(_loss, optim.sgd(0.1))
    new, _, loss = step(params, optim.sgd(0.1).init(params), x, y)
    residual = -y
    np.testing.assert_allclose(float(loss), np.mean(residual ** 2), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(new["w"]), -0.1 * 2 * x.T @ residual / len(x),
                               rtol=1e-5)
    np.testing.assert_allclose(float(new["b"]), -0.1 * 2 * residual.mean(), rtol=1e-5)


def test_epochs_reduce_the_loss_and_report_its_mean() -> None:
    x, y = _regression()
    params = {"w": np.zeros(3, np.float32), "b": np.float32(0)}
    optimizer = optim.adam(0.1)
    state = optimizer.init(params)
    step = training.make_step(_loss, optimizer)
    losses = []
    for epoch in range(20):
        batches = io.batches(fborn.random.key(epoch), (x, y), 32)
        params, state, loss = training.train_epoch(step, params, state, batches,
                                                   progress=False)
        losses.append(loss)
    assert losses[-1] < 0.1 * losses[0]
    assert step.trace_count == 1
    np.testing.assert_allclose(np.asarray(params["w"]), [1.5, -2.0, 0.5], atol=0.1)


def test_accuracy_counts_argmax_hits_in_batches() -> None:
    logits = np.eye(10, dtype=np.float32)[np.arange(25) % 10]
    labels = np.arange(25) % 10
    labels[:5] = (labels[:5] + 1) % 10
    got = training.accuracy(lambda p, x: x * p, 1.0, logits, labels, batch_size=7)
    assert got == pytest.approx(20 / 25)


def test_accuracy_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="3 inputs but 2 labels"):
        training.accuracy(lambda p, x: x, None, np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="no inputs"):
        training.accuracy(lambda p, x: x, None, np.zeros((0, 2)), np.zeros(0))
