"""One jitted Adam training step under the numba compiler equals the eager step."""

from __future__ import annotations

import numpy as np

import fborn
import fborn.numpy as fnp
from fborn import optim
from fborn.tree_util import tree_leaves, tree_structure

OPT = optim.adam(0.1)


def _step(params: dict, opt_state: tuple, batch: tuple) -> tuple:
    x, y = batch
    grads = fborn.grad(lambda p: fnp.mean((x @ p["w"] + p["b"] - y) ** 2))(params)
    updates, opt_state = OPT.update(grads, opt_state, params)
    return optim.apply_updates(params, updates), opt_state


def test_adam_step_compiles_with_numba(monkeypatch, tmp_path):
    monkeypatch.setenv("FBORN_CACHE_DIR", str(tmp_path))
    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    batch = (x, x @ np.array([1.0, -2.0, 0.5, 3.0], np.float32))
    params = {"w": fnp.full((4,), 0.5), "b": fnp.zeros(()), "frozen": None}
    opt_state = OPT.init(params)
    expected = _step(params, opt_state, batch)
    fborn.config.update("jit_compiler", "numba")
    got = fborn.jit(_step)(params, opt_state, batch)
    assert tree_structure(got) == tree_structure(expected)
    for a, b in zip(tree_leaves(got), tree_leaves(expected), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
    assert int(got[1][0].count) == 1
    assert not np.allclose(np.asarray(got[0]["w"]), 0.5)
