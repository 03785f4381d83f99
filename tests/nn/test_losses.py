"""Tests of ``fborn.nn`` losses: numpy float64 references (the optax formulas written out),
values recorded from jax 0.10.2 where noted, exact gradients (softmax - one_hot,
sigmoid - label, clipped errors), finite values and gradients at logits of 1e4, finite
differences (``check_grads``), errors, tracing (make_jaxpr), jit, vmap, and one run under the
numba compiler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
import pytest
import scipy.special as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fborn
import fborn.nn as nn
from fborn.errors import FbornDtypeError, FbornShapeError
from fborn.test_util import check_grads, eval_traced

SETTINGS = settings(max_examples=25, deadline=None)
BF16 = np.dtype(ml_dtypes.bfloat16)
FLOATS = [np.dtype(np.float32), np.dtype(np.float16), BF16]
TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float16): 4e-3, BF16: 3e-2}
CE_INT = nn.softmax_cross_entropy_with_integer_labels


def ref_log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return x - sp.logsumexp(x, axis=axis, keepdims=True)


def ref_one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return (labels[..., None] == np.arange(num_classes)).astype(np.float64)


@st.composite
def classification(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """``(logits, labels)``: logits ``(*batch, C)`` of a float dtype, possibly offset by 1e4,
    and in-range integer labels ``batch`` of an integer dtype."""
    batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4))
    num_classes = draw(st.integers(1, 6))
    logits = draw(hnp.arrays(np.float32, (*batch, num_classes),
                             elements=st.floats(-8, 8, width=32)))
    logits = logits + np.float32(draw(st.sampled_from([0.0, 1e4, -1e4])))
    labels = draw(hnp.arrays(np.int64, batch, elements=st.integers(0, num_classes - 1)))
    dtype = draw(st.sampled_from(FLOATS))
    label_dtype = draw(st.sampled_from([np.int32, np.uint8, np.int64]))
    return logits.astype(dtype), labels.astype(label_dtype)


# --------------------------------------------------------------------------------------------
# softmax cross-entropy
# --------------------------------------------------------------------------------------------


def test_recorded_optax_examples() -> None:
    logits = np.array([[1.2, -0.8, -0.5], [0.9, -1.2, 1.1]], np.float32)
    expected = np.array([0.27612972259521484, 2.951798915863037], np.float32)  # jax 0.10.2
    np.testing.assert_allclose(CE_INT(logits, np.array([0, 1])), expected, rtol=1e-6)
    one_hot = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32)
    np.testing.assert_allclose(nn.softmax_cross_entropy(logits, one_hot), expected, rtol=1e-6)
    # A tuple of class axes: the label is a flat index into them.
    grid = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    out = CE_INT(grid, np.array([[5, 11]]), axis=(2, 3))
    assert out.shape == (1, 2)
    # (jax's second value is 1.4e-6 off the exact log(sum(exp(-k), k < 12)) = 0.45866901)
    np.testing.assert_allclose(out, [[6.4586687088012695, 0.45866966247558594]], rtol=2e-6)


@SETTINGS
@given(data=classification())
def test_cross_entropies_match_numpy(data: tuple[np.ndarray, np.ndarray]) -> None:
    logits, labels = data
    wide = logits.astype(np.float64)
    num_classes = logits.shape[-1]
    log_probs = ref_log_softmax(wide)
    expected = -np.take_along_axis(log_probs, labels[..., None].astype(np.int64), -1)[..., 0]
    tol = TOL[logits.dtype]
    one_hot = nn.one_hot(labels, num_classes, dtype=logits.dtype)
    for out in (CE_INT(logits, labels), nn.softmax_cross_entropy(logits, one_hot)):
        out = np.asarray(out)
        assert out.dtype == logits.dtype and out.shape == labels.shape
        np.testing.assert_allclose(out.astype(np.float64), expected, rtol=tol, atol=tol)
    grad = np.asarray(fborn.grad(lambda v: CE_INT(v, labels).sum())(logits))
    assert grad.dtype == logits.dtype and np.isfinite(grad.astype(np.float64)).all()
    np.testing.assert_allclose(grad.astype(np.float64),
                               np.exp(log_probs) - ref_one_hot(labels, num_classes),
                               rtol=tol, atol=tol)


def test_large_logits_give_finite_losses_and_gradients() -> None:
    logits = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4], [1e30, -1e30, 0.0]], np.float32)
    labels = np.array([2, 0, 1])
    expected = np.array([2e4, 2e4 + np.log(2), 2e30], np.float32)
    for f in (lambda v: CE_INT(v, labels), lambda v: nn.softmax_cross_entropy(
            v, nn.one_hot(labels, 3))):
        loss, grad = fborn.value_and_grad(lambda v, f=f: f(v).sum())(logits)
        per_example = np.asarray(f(logits))
        assert np.isfinite(per_example).all() and np.isfinite(np.asarray(grad)).all()
        np.testing.assert_allclose(per_example, expected, rtol=1e-6)
        np.testing.assert_allclose(np.asarray(grad)[0], [1, 0, -1], atol=0)
        np.testing.assert_allclose(np.asarray(grad)[1], [-1, 0.5, 0.5], atol=0)


def test_integer_labels_out_of_range_and_negative() -> None:
    logits = np.array([[1.0, 2.0, 3.0]] * 4, np.float32)
    out = np.asarray(CE_INT(logits, np.array([-1, 3, -4, 1])))
    lse = sp.logsumexp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(out[[0, 3]], [lse - 3, lse - 2], rtol=1e-6)  # -1 is class 2
    assert np.isnan(out[1]) and np.isnan(out[2])  # as optax (take_along_axis fills NaN)
    wide = np.zeros((2, 300), np.float32)
    wide[1, 255] = 5.0
    out = np.asarray(CE_INT(wide, np.array([0, 255], np.uint8)))  # no uint8 wrap-around
    np.testing.assert_allclose(out, [sp.logsumexp(wide[0]), sp.logsumexp(wide[1]) - 5], rtol=1e-5)
    assert np.isnan(np.asarray(CE_INT(np.zeros((2, 0), np.float32), np.array([0, 0])))).all()


def test_softmax_cross_entropy_probabilities() -> None:
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 5)).astype(np.float32)
    probs = sp.softmax(rng.standard_normal((4, 5)), axis=-1).astype(np.float32)
    expected = -(probs * ref_log_softmax(logits.astype(np.float64))).sum(-1)
    np.testing.assert_allclose(nn.softmax_cross_entropy(logits, probs), expected, rtol=1e-5)
    grad = fborn.grad(lambda v: nn.softmax_cross_entropy(v, probs).sum())(logits)
    np.testing.assert_allclose(grad, sp.softmax(logits, -1) - probs, rtol=1e-5, atol=1e-6)
    shared = np.asarray(nn.softmax_cross_entropy(logits, probs[0]))  # (C,) labels broadcast
    np.testing.assert_allclose(shared, -(probs[0] * ref_log_softmax(logits)).sum(-1), rtol=1e-5)
    np.testing.assert_allclose(nn.softmax_cross_entropy(logits.T, probs.T, axis=0), expected,
                               rtol=1e-5)
    masked = np.array([[0.0, -np.inf, 1.0]], np.float32)  # label 0 where the logit is -inf
    loss, grad = fborn.value_and_grad(
        lambda v: nn.softmax_cross_entropy(v, np.array([[1.0, 0.0, 0.0]])).sum())(masked)
    assert np.isfinite(float(loss)) and np.isfinite(np.asarray(grad)).all()
    np.testing.assert_allclose(float(loss), -ref_log_softmax(np.array([0.0, 1.0]))[0], rtol=1e-6)


def test_where_masks() -> None:
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((3, 4)).astype(np.float32)
    labels = np.array([1, 0, 3])
    per_example = np.array([True, False, True])
    for f in (lambda v, w: CE_INT(v, labels, where=w),
              lambda v, w: nn.softmax_cross_entropy(v, nn.one_hot(labels, 4), where=w)):
        loss, grad = fborn.value_and_grad(lambda v, f=f: f(v, per_example).sum())(logits)
        full = np.asarray(f(logits, None))
        np.testing.assert_allclose(np.asarray(f(logits, per_example)), full * per_example,
                                   rtol=1e-6)
        assert np.isfinite(np.asarray(grad)).all()
        np.testing.assert_array_equal(np.asarray(grad)[1], 0)
    grid = rng.standard_normal((2, 3, 4)).astype(np.float32)
    flat_labels = np.array([7, 2])
    np.testing.assert_allclose(  # a per-example mask with a tuple of class axes
        CE_INT(grid, flat_labels, axis=(1, 2), where=np.array([False, True])),
        [0.0, float(CE_INT(grid.reshape(2, 12), flat_labels)[1])], rtol=1e-6)
    classes = np.array([[True, True, False, True]] * 3)
    out = np.asarray(CE_INT(logits, labels, where=classes))
    kept = np.where(classes, logits.astype(np.float64), -np.inf)
    expected = sp.logsumexp(kept, -1) - logits[np.arange(3), labels]
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_cross_entropy_finite_differences() -> None:
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((3, 4))
    probs = sp.softmax(rng.standard_normal((3, 4)), -1)
    with fborn.config.override(enable_x64=True):
        check_grads(lambda v: CE_INT(v, np.array([0, 3, 1])), [logits], order=2)
        check_grads(lambda v: CE_INT(v, np.array([0, 3, 1]), axis=0), [logits.T], order=2)
        check_grads(nn.softmax_cross_entropy, [logits, probs], order=2)


def test_cross_entropy_errors() -> None:
    logits = np.zeros((4, 3), np.float32)
    with pytest.raises(FbornDtypeError, match="logits must be floating"):
        CE_INT(np.zeros((4, 3), np.int32), np.zeros(4, np.int32))
    with pytest.raises(FbornDtypeError, match="labels must be integer"):
        CE_INT(logits, np.zeros(4, np.float32))
    with pytest.raises(FbornShapeError, match=r"\(4,\); got \(4, 3\)"):
        CE_INT(logits, np.zeros((4, 3), np.int32))
    with pytest.raises(FbornShapeError, match=r"\(3,\); got \(4,\)"):
        CE_INT(logits, np.zeros(4, np.int32), axis=0)
    with pytest.raises(TypeError, match="axis"):
        CE_INT(logits, np.zeros(4, np.int32), axis=None)
    with pytest.raises(FbornDtypeError, match="logits must be floating"):
        nn.softmax_cross_entropy(np.zeros((4, 3), np.int32), logits)
    with pytest.raises(FbornShapeError, match="integer_labels"):
        nn.softmax_cross_entropy(np.zeros((3, 3), np.float32), np.zeros(3, np.int32))
    with pytest.raises(FbornShapeError, match="do not broadcast"):
        nn.softmax_cross_entropy(logits, np.zeros((2, 3), np.float32))


# --------------------------------------------------------------------------------------------
# sigmoid binary cross-entropy
# --------------------------------------------------------------------------------------------


def test_sigmoid_binary_cross_entropy_recorded() -> None:
    x = np.array([-1e4, -3.0, 0.0, 2.0, 1e4], np.float32)
    y = np.array([1.0, 0.0, 1.0, 0.5, 0.0], np.float32)
    expected = [10000.0, 0.04858735203742981, 0.6931471824645996, 1.1269280910491943, 10000.0]
    expected_grad = [-1.0, 0.04742587357759476, -0.5, 0.38079705834388733, 1.0]  # jax 0.10.2
    loss, grad = fborn.value_and_grad(
        lambda v: nn.sigmoid_binary_cross_entropy(v, y).sum())(x)
    np.testing.assert_allclose(nn.sigmoid_binary_cross_entropy(x, y), expected, rtol=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-6)
    ints = nn.sigmoid_binary_cross_entropy(x, np.array([1, 0, 1, 0, 0]))  # labels cast
    assert np.asarray(ints).dtype == np.float32
    with pytest.raises(FbornDtypeError, match="logits must be floating"):
        nn.sigmoid_binary_cross_entropy(np.array([1, 2]), np.array([1, 0]))


@SETTINGS
@given(logits=hnp.arrays(st.sampled_from(FLOATS),
                         hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
                         elements=st.floats(-60, 60, width=16)),
       seed=st.integers(0, 2**16))
def test_sigmoid_binary_cross_entropy_matches_numpy(logits: np.ndarray, seed: int) -> None:
    labels = np.random.default_rng(seed).uniform(0, 1, logits.shape).astype(np.float32)
    wide = logits.astype(np.float64)
    wide_labels = labels.astype(logits.dtype).astype(np.float64)
    expected = wide_labels * np.logaddexp(0, -wide) + (1 - wide_labels) * np.logaddexp(0, wide)
    out, grad = fborn.vjp(lambda v: nn.sigmoid_binary_cross_entropy(v, labels), logits)
    out, grad = np.asarray(out), np.asarray(grad(fborn.numpy.ones_like(out))[0])
    assert out.dtype == logits.dtype and out.shape == logits.shape
    tol = TOL[logits.dtype]
    np.testing.assert_allclose(out.astype(np.float64), expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad.astype(np.float64), sp.expit(wide) - wide_labels,
                               rtol=tol, atol=tol)


# --------------------------------------------------------------------------------------------
# regression losses
# --------------------------------------------------------------------------------------------


def ref_huber(e: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(e)
    return np.where(a <= delta, 0.5 * e * e, delta * (a - 0.5 * delta))


@SETTINGS
@given(pred=hnp.arrays(st.sampled_from(FLOATS),
                       hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
                       elements=st.floats(-10, 10, width=16)),
       seed=st.integers(0, 2**16), delta=st.sampled_from([1.0, 0.5, 3.0]))
def test_regression_losses_match_numpy(pred: np.ndarray, seed: int, delta: float) -> None:
    target = np.random.default_rng(seed).uniform(-10, 10, pred.shape).astype(pred.dtype)
    e = pred.astype(np.float64) - target.astype(np.float64)
    tol = TOL[pred.dtype]
    cases = [
        (nn.squared_error(pred, target), e * e),
        (nn.squared_error(pred), pred.astype(np.float64) ** 2),
        (nn.l2_loss(pred, target), 0.5 * e * e),
        (nn.huber_loss(pred, target, delta=delta), ref_huber(e, delta)),
        (nn.huber_loss(pred, delta=delta), ref_huber(pred.astype(np.float64), delta)),
    ]
    for got, want in cases:
        got = np.asarray(got)
        assert got.dtype == pred.dtype and got.shape == pred.shape
        np.testing.assert_allclose(got.astype(np.float64), want, rtol=tol, atol=tol * 10)
    mse = np.asarray(nn.mse(pred, target))
    assert mse.dtype == pred.dtype and mse.shape == ()
    if pred.size:
        np.testing.assert_allclose(float(mse), np.mean(e * e), rtol=tol, atol=tol)
    else:
        assert np.isnan(mse)
    grad = fborn.grad(lambda p: nn.huber_loss(p, target, delta=delta).sum())(pred)
    np.testing.assert_allclose(np.asarray(grad).astype(np.float64), np.clip(e, -delta, delta),
                               rtol=tol, atol=tol * 10)


def test_regression_gradients_and_errors() -> None:
    rng = np.random.default_rng(3)
    pred, target = rng.standard_normal((2, 3, 4))
    with fborn.config.override(enable_x64=True):
        check_grads(nn.squared_error, [pred, target], order=2)
        check_grads(nn.mse, [pred, target], order=2)
        check_grads(lambda p: nn.huber_loss(p * 0.3, target * 0.3), [pred], order=1)
    np.testing.assert_allclose(
        fborn.grad(lambda p: nn.mse(p, target))(pred), 2 * (pred - target) / pred.size,
        rtol=1e-6)
    e = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0], np.float32)
    np.testing.assert_allclose(fborn.vmap(fborn.grad(nn.huber_loss))(e),
                               [-1.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.0])  # jax values
    for f in (nn.squared_error, nn.l2_loss, nn.mse, nn.huber_loss):
        with pytest.raises(FbornShapeError, match=r"\(3, 1\).*\(3,\)"):
            f(np.zeros((3, 1), np.float32), np.zeros(3, np.float32))
        with pytest.raises(FbornDtypeError, match="predictions must be floating"):
            f(np.zeros(3, np.int32), np.zeros(3, np.int32))
    with pytest.raises(TypeError):
        nn.huber_loss(pred, target, 2.0)  # delta is keyword-only, as in optax


# --------------------------------------------------------------------------------------------
# Tracing, jit, vmap, the numba compiler
# --------------------------------------------------------------------------------------------

LOGITS = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
LABELS = np.array([3, 0, 2], np.int32)
LOSSES: dict[str, tuple[Callable[..., Any], tuple[np.ndarray, ...]]] = {
    "ce_int": (CE_INT, (LOGITS, LABELS)),
    "ce": (nn.softmax_cross_entropy, (LOGITS, np.eye(4, dtype=np.float32)[LABELS])),
    "bce": (nn.sigmoid_binary_cross_entropy, (LOGITS, (LOGITS > 0).astype(np.float32))),
    "squared_error": (nn.squared_error, (LOGITS, LOGITS[::-1])),
    "l2_loss": (nn.l2_loss, (LOGITS, LOGITS[::-1])),
    "huber_loss": (nn.huber_loss, (LOGITS, LOGITS[::-1])),
    "mse": (nn.mse, (LOGITS, LOGITS[::-1])),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_traced_jit_vmap(name: str) -> None:
    f, args = LOSSES[name]
    eager = np.asarray(f(*args))
    np.testing.assert_array_equal(np.asarray(eval_traced(f, *args)[0]), eager)
    np.testing.assert_allclose(np.asarray(fborn.jit(f)(*args)), eager, rtol=4e-6)
    rows = np.stack([np.asarray(f(*(a[i] for a in args))) for i in range(3)])
    np.testing.assert_allclose(np.asarray(fborn.vmap(f)(*args)), rows, rtol=1e-6)
    if name != "mse":
        np.testing.assert_allclose(rows, eager, rtol=1e-6)


def test_namespace() -> None:
    for name in nn.losses.__all__:
        assert getattr(nn, name) is getattr(nn.losses, name)
        assert name in nn.__all__


def test_numba_compiler(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("FBORN_CACHE_DIR", str(tmp_path))
    fborn.config.update("jit_compiler", "numba")

    def loss(logits: Any, labels: Any) -> Any:
        return CE_INT(logits, labels).mean()

    rng = np.random.default_rng(5)
    logits = (rng.standard_normal((8, 4)) * 30).astype(np.float32)
    logits[0] += 1e4
    labels = rng.integers(0, 4, 8).astype(np.int32)
    value, grad = fborn.jit(fborn.value_and_grad(loss))(logits, labels)
    with fborn.disable_jit():
        want_value, want_grad = fborn.value_and_grad(loss)(logits, labels)
    np.testing.assert_allclose(np.asarray(value), np.asarray(want_value), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(grad), np.asarray(want_grad), rtol=1e-4, atol=1e-5)
