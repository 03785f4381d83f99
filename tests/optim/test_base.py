"""fborn.optim core: chain, identity, apply_updates, global_norm, states as pytrees."""

from __future__ import annotations

import dataclasses

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fborn
import fborn.numpy as fnp
from fborn import optim
from fborn.tree_util import register_dataclass, tree_flatten, tree_leaves, tree_unflatten


@register_dataclass
@dataclasses.dataclass(frozen=True)
class Pair:
    """A custom pytree node holding two arrays."""

    first: object
    second: object


def _params() -> dict:
    """A pytree with a dict, a tuple, a None leaf and a registered dataclass node."""
    return {"w": fnp.asarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
            "nothing": None,
            "pair": Pair(fnp.asarray([1.0, -2.0]), fnp.asarray(0.5)),
            "tup": (fnp.asarray([3.0]),)}


def _grads(scale: float = 1.0) -> dict:
    return fborn.tree_util.tree_map(lambda p: fnp.full_like(p, scale), _params())


def test_identity_returns_updates_and_empty_state():
    t = optim.identity()
    state = t.init(_params())
    assert state == optim.EmptyState() and tree_leaves(state) == []
    g = _grads(0.25)
    u, new_state = t.update(g, state)
    assert u is g and new_state == state


def test_chain_applies_in_order_and_keeps_a_tuple_of_states():
    t = optim.chain(optim.scale(2.0), optim.clip(3.0), optim.scale(-1.0))
    state = t.init(_params())
    assert state == (optim.EmptyState(),) * 3
    u, _ = t.update({"a": fnp.asarray([1.0, 2.0])}, t.init({"a": fnp.zeros(2)}))
    np.testing.assert_array_equal(np.asarray(u["a"]), np.array([-2.0, -3.0], np.float32))


def test_chain_state_mismatch_and_bad_argument():
    t = optim.chain(optim.scale(2.0), optim.identity())
    with pytest.raises(ValueError, match="expects a tuple of 2 states.*tuple of 1"):
        t.update(_grads(), (optim.EmptyState(),))
    with pytest.raises(ValueError, match="got EmptyState"):
        t.update(_grads(), optim.EmptyState())
    with pytest.raises(TypeError, match="argument 1 is function"):
        optim.chain(optim.scale(1.0), optim.sgd)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, ml_dtypes.bfloat16, np.int32])
def test_apply_updates_keeps_each_param_dtype(dtype):
    p = fnp.asarray(np.array([1, 2, 3], dtype))
    u = fnp.asarray(np.array([0.5, -1.25, 2.0], np.float32))
    out = optim.apply_updates({"p": p, "n": None}, {"p": u, "n": None})
    assert out["n"] is None
    assert out["p"].dtype == np.dtype(dtype)
    expected = (np.array([1, 2, 3], np.float32) + np.array([0.5, -1.25, 2.0], np.float32))
    np.testing.assert_array_equal(np.asarray(out["p"]), expected.astype(dtype))


def test_apply_updates_on_custom_pytree_and_structure_mismatch():
    out = optim.apply_updates(_params(), _grads(1.0))
    assert isinstance(out["pair"], Pair)
    np.testing.assert_array_equal(np.asarray(out["pair"].first), [2.0, -1.0])
    np.testing.assert_array_equal(np.asarray(out["w"]), np.arange(1, 7).reshape(2, 3))
    with pytest.raises(ValueError):
        optim.apply_updates({"a": fnp.zeros(2)}, {"b": fnp.zeros(2)})


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 4)), min_size=0, max_size=4),
       st.integers(0, 2**31 - 1))
def test_global_norm_matches_numpy(shapes, seed):
    rng = np.random.default_rng(seed)
    leaves = [rng.normal(size=s).astype(np.float32) for s in shapes]
    tree = {str(i): fnp.asarray(x) for i, x in enumerate(leaves)}
    norm = optim.global_norm(tree)
    expected = np.sqrt(sum(float(np.sum(x.astype(np.float64) ** 2)) for x in leaves))
    assert norm.shape == () and norm.dtype == np.float32
    np.testing.assert_allclose(float(norm), expected, rtol=1e-6, atol=1e-7)


OPTIMIZERS = {
    "sgd": lambda: optim.sgd(0.1),
    "sgd_momentum": lambda: optim.sgd(0.1, momentum=0.9, nesterov=True),
    "adam": lambda: optim.adam(1e-3),
    "adamw": lambda: optim.adamw(optim.cosine_decay_schedule(1e-3, 10)),
    "adamw_masked": lambda: optim.adamw(1e-3, mask=lambda p: fborn.tree_util.tree_map(
        lambda x: x.ndim > 1, p)),
    "rmsprop": lambda: optim.rmsprop(1e-3, centered=True, momentum=0.5, bias_correction=True),
    "adagrad": lambda: optim.adagrad(0.1),
    "clipped": lambda: optim.chain(optim.clip_by_global_norm(1.0), optim.adam(1e-3)),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_states_are_pytrees_that_round_trip(name):
    opt = OPTIMIZERS[name]()
    params = _params()
    state = opt.init(params)
    leaves, treedef = tree_flatten(state)
    assert all(isinstance(x, fborn.Array) for x in leaves)
    assert tree_unflatten(treedef, leaves) == state
    _, new_state = opt.update(_grads(0.5), state, params)
    new_leaves, new_treedef = tree_flatten(new_state)
    assert new_treedef == treedef
    assert [(x.shape, x.dtype) for x in new_leaves] == [(x.shape, x.dtype) for x in leaves]
    counts = [x for x in new_leaves if x.dtype == np.int32]
    assert all(int(c) == 1 for c in counts)


def test_state_holds_none_where_params_do():
    state = optim.adam(1e-3).init(_params())
    assert state[0].mu["nothing"] is None and state[0].nu["nothing"] is None
    assert isinstance(state[0].mu["pair"], Pair)
