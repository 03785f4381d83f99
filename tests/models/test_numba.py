"""A small CNN (Conv2d, MaxPool2d, Linear) runs forward and backward under the numba jit compiler
and matches the reference compiler. (Compiles take seconds: keep this file to one program.)"""

from __future__ import annotations

import numpy as np

import fborn
import fborn.numpy as fnp
from fborn import random
from fborn.models import Conv2d, Linear, MaxPool2d, Sequential
from fborn.tree_util import tree_leaves


def relu(x):
    return fnp.maximum(x, 0)


def flatten(x):
    return fnp.reshape(x, (x.shape[0], -1))


def test_small_cnn_forward_and_grad_under_numba(monkeypatch, tmp_path):
    monkeypatch.setenv("FBORN_CACHE_DIR", str(tmp_path))
    keys = random.split(random.key(0), 2)
    model = Sequential([Conv2d(1, 3, 3, padding=1, key=keys[0]), relu, MaxPool2d(2), flatten,
                        Linear(48, 4, key=keys[1])])
    x = fnp.asarray(np.random.default_rng(0).normal(size=(2, 1, 8, 8)).astype(np.float32))
    labels = fnp.asarray(np.array([[1, 0, 0, 0], [0, 0, 1, 0]], np.float32))

    def loss(m):
        return fnp.mean((m(x) - labels) ** 2)

    step = fborn.value_and_grad(loss)
    fborn.config.update("jit_compiler", "reference")
    want_loss, want_grads = fborn.jit(step)(model)
    fborn.config.update("jit_compiler", "numba")
    got_loss, got_grads = fborn.jit(step)(model)
    np.testing.assert_allclose(float(got_loss), float(want_loss), rtol=1e-5)
    for got, want in zip(tree_leaves(got_grads), tree_leaves(want_grads), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-6)
