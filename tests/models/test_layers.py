"""Layers against numpy references: Linear, Conv1d/Conv2d, MaxPool2d/AvgPool2d, Dropout,
Embedding, Sequential, MLP; their gradients, transforms and shape errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import fborn
import fborn.numpy as fnp
from fborn import nn, random
from fborn.models import (
    MLP,
    AvgPool2d,
    Conv,
    Conv1d,
    Conv2d,
    Dropout,
    Embedding,
    Lambda,
    Linear,
    MaxPool2d,
    Sequential,
)
from fborn.test_util import check_grads
from fborn.tree_util import keystr, tree_leaves_with_path
from fborn.typing import TypeCheckError

RNG = np.random.default_rng(0)


def relu(x):
    return fnp.maximum(x, 0)


def rand(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def arr(x):
    return np.asarray(x)


# --- Linear ------------------------------------------------------------------------------------


def test_linear_matches_numpy_on_batched_and_single_inputs():
    lin = Linear(5, 3, key=random.key(0))
    w, b = arr(lin.weight), arr(lin.bias)
    assert w.shape == (3, 5) and b.shape == (3,) and w.dtype == np.float32
    x = rand(2, 4, 5)
    np.testing.assert_allclose(arr(lin(fnp.asarray(x))), x @ w.T + b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arr(lin(fnp.asarray(x[0, 0]))), x[0, 0] @ w.T + b, rtol=1e-5,
                               atol=1e-6)
    no_bias = Linear(5, 3, use_bias=False, key=random.key(0))
    assert no_bias.bias is None
    np.testing.assert_allclose(arr(no_bias(fnp.asarray(x))), x @ arr(no_bias.weight).T,
                               rtol=1e-5, atol=1e-6)


def test_linear_init_is_pytorch_uniform():
    lin = Linear(400, 300, key=random.key(1))
    w, b = arr(lin.weight), arr(lin.bias)
    bound = 1 / math.sqrt(400)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    np.testing.assert_allclose(w.var(), bound**2 / 3, rtol=0.03)
    assert abs(w.mean()) < 0.01 * bound
    assert not np.array_equal(arr(Linear(400, 300, key=random.key(2)).weight), w)
    np.testing.assert_array_equal(arr(Linear(400, 300, key=random.key(1)).weight), w)
    assert Linear(2, 2, key=random.key(0), dtype="bfloat16").weight.dtype == np.dtype("bfloat16")


def test_linear_shape_error_names_layer_dimension_and_sizes():
    lin = Linear(4, 3, key=random.key(0))
    with pytest.raises(TypeCheckError) as info:
        lin(fnp.ones((2, 5)))
    message = str(info.value)
    assert message.startswith("Linear: the input has in_features=5 (axis 1 of shape (2, 5)), "
                              "but the layer was built with in_features=4")
    assert "test_layers.py" in message  # the user's line
    with pytest.raises(TypeCheckError, match=r"Linear.__call__: argument x has dtype int32"):
        lin(fnp.ones((2, 4), "int32"))
    with pytest.raises(TypeCheckError, match=r"Linear.__call__: argument x has shape \(\) "):
        lin(fnp.ones(()))


def test_linear_construction_errors():
    with pytest.raises(TypeError, match="Linear: in_features must be an int"):
        Linear(2.5, 3, key=random.key(0))
    with pytest.raises(ValueError, match="Linear: out_features must be >= 0"):
        Linear(2, -1, key=random.key(0))
    with pytest.raises(TypeError, match="key"):
        Linear(2, 3)


def test_linear_gradients():
    lin = Linear(3, 2, key=random.key(0))
    x = fnp.asarray(rand(4, 3))
    check_grads(lambda m, v: m(v), (lin, x), order=2, modes=("rev",), eps=1e-2, rtol=1e-2,
                atol=1e-2)


# --- convolution --------------------------------------------------------------------------------


def conv_reference(x, w, b, stride, pads, dilation, groups):
    """Cross-correlation of (N, C, *S) ``x`` with (O, C/groups, *K) ``w``, in float64."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    nsp = x.ndim - 2
    x = np.pad(x, [(0, 0), (0, 0), *pads])
    kernel = w.shape[2:]
    out_sp = [(x.shape[2 + i] - (kernel[i] - 1) * dilation[i] - 1) // stride[i] + 1
              for i in range(nsp)]
    n, o = x.shape[0], w.shape[0]
    cg, og = w.shape[1], o // groups
    out = np.zeros((n, o, *out_sp))
    for pos in np.ndindex(*out_sp):
        for offs in np.ndindex(*kernel):
            idx = tuple(p * s + k * d for p, s, k, d in zip(pos, stride, offs, dilation,
                                                                   strict=True))
            patch = x[(slice(None), slice(None), *idx)]  # (N, C)
            for g in range(groups):
                out[(slice(None), slice(g * og, (g + 1) * og), *pos)] += (
                    patch[:, g * cg:(g + 1) * cg] @ w[(slice(g * og, (g + 1) * og), slice(None),
                                                       *offs)].T)
    if b is not None:
        out += b.reshape((1, o) + (1,) * nsp)
    return out


def same_pads(size, k, s, d):
    eff = (k - 1) * d + 1
    total = max((math.ceil(size / s) - 1) * s + eff - size, 0)
    return (total // 2, total - total // 2)


@st.composite
def conv_cases(draw, nsp):
    groups = draw(st.sampled_from([1, 2]))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nsp))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(nsp))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nsp))
    spatial = tuple(draw(st.integers(3, 7)) for _ in range(nsp))
    padding = draw(st.one_of(st.sampled_from(["SAME", "VALID"]), st.integers(0, 2)))
    return dict(groups=groups, cin=cin, cout=cout, kernel=kernel, stride=stride,
                dilation=dilation, spatial=spatial, padding=padding,
                batch=draw(st.sampled_from([None, 1, 2])), bias=draw(st.booleans()))


def check_conv(layer_cls, case, seed):
    nsp = len(case["kernel"])
    if case["padding"] == "SAME":
        pads = [same_pads(n, k, s, d) for n, k, s, d in zip(case["spatial"], case["kernel"],
                                                             case["stride"], case["dilation"],
                                                             strict=True)]
    elif case["padding"] == "VALID":
        pads = [(0, 0)] * nsp
    else:
        pads = [(case["padding"],) * 2] * nsp
    for n, k, d, (lo, hi) in zip(case["spatial"], case["kernel"], case["dilation"], pads,
                                 strict=True):
        assume(n + lo + hi >= (k - 1) * d + 1)
    layer = layer_cls(case["cin"], case["cout"], case["kernel"], case["stride"], case["padding"],
                      case["dilation"], case["groups"], case["bias"], key=random.key(seed))
    shape = (case["cin"], *case["spatial"])
    x = RNG.normal(size=shape if case["batch"] is None else (case["batch"], *shape))
    x = x.astype(np.float32)
    got = arr(layer(fnp.asarray(x)))
    bias = arr(layer.bias) if case["bias"] else None
    want = conv_reference(x if case["batch"] else x[None], arr(layer.weight), bias,
                          case["stride"], pads, case["dilation"], case["groups"])
    np.testing.assert_allclose(got, want if case["batch"] else want[0], rtol=1e-4, atol=1e-5)


@given(conv_cases(2), st.integers(0, 100))
def test_conv2d_matches_a_numpy_loop(case, seed):
    check_conv(Conv2d, case, seed)


@given(conv_cases(1), st.integers(0, 100))
def test_conv1d_matches_a_numpy_loop(case, seed):
    check_conv(Conv1d, case, seed)


def test_conv_layout_init_and_padding_forms():
    conv = Conv2d(4, 6, (3, 2), groups=2, key=random.key(0))
    assert conv.weight.shape == (6, 2, 3, 2) and conv.bias.shape == (6,)
    bound = 1 / math.sqrt(2 * 3 * 2)
    assert np.abs(arr(conv.weight)).max() <= bound and np.abs(arr(conv.bias)).max() <= bound
    assert Conv2d(1, 1, 3, padding=1, key=random.key(0)).padding == ((1, 1), (1, 1))
    assert Conv2d(1, 1, 3, padding=(1, 2), key=random.key(0)).padding == ((1, 1), (2, 2))
    assert Conv2d(1, 1, 3, padding=((0, 1), (2, 0)), key=random.key(0)).padding == ((0, 1),
                                                                                     (2, 0))
    assert Conv2d(1, 1, 3, padding="same", key=random.key(0)).padding == "SAME"
    conv3 = Conv(3, 2, 3, 2, key=random.key(0))
    assert conv3(fnp.ones((2, 4, 4, 4))).shape == (3, 3, 3, 3)


def test_conv_errors_name_the_layer():
    conv = Conv2d(3, 4, 3, key=random.key(0))
    with pytest.raises(TypeCheckError, match=r"^Conv2d: the input has in_channels=2 \(axis 1 of "
                                             r"shape \(1, 2, 5, 5\)\), but the layer was built "
                                             r"with in_channels=3"):
        conv(fnp.ones((1, 2, 5, 5)))
    with pytest.raises(TypeCheckError, match=r"Conv2d.__call__: argument x has shape \(5, 5\) "
                                             r"\(rank 2\)"):
        conv(fnp.ones((5, 5)))
    with pytest.raises(TypeCheckError, match=r"Conv2d: expected an input of shape \(C, H, W\) "
                                             r"or \(N, C, H, W\), got shape \(1, 1, 3, 5, 5\)"):
        conv(fnp.ones((1, 1, 3, 5, 5)))
    with pytest.raises(TypeCheckError, match=r"Conv1d: expected an input of shape \(C, L\)"):
        Conv1d(3, 4, 3, key=random.key(0))(fnp.ones((1, 1, 3, 5)))
    with pytest.raises(ValueError, match="Conv2d: groups=2 must divide in_channels=3"):
        Conv2d(3, 4, 3, groups=2, key=random.key(0))
    with pytest.raises(ValueError, match="Conv2d: padding must be 'SAME'"):
        Conv2d(3, 4, 3, padding="full", key=random.key(0))
    with pytest.raises(ValueError, match="Conv2d: kernel_size must be an int or 2 ints"):
        Conv2d(3, 4, (3, 3, 3), key=random.key(0))


def test_conv_gradients_and_vmap():
    conv = Conv2d(2, 3, 2, stride=(2, 1), padding=1, key=random.key(0))
    x = fnp.asarray(rand(1, 2, 4, 3))
    check_grads(lambda m, v: m(v), (conv, x), order=1, modes=("rev",), eps=1e-2, rtol=1e-2,
                atol=1e-2)
    xs = fnp.asarray(rand(3, 2, 4, 3))
    np.testing.assert_allclose(arr(fborn.vmap(conv)(xs)), arr(conv(xs)), rtol=1e-5, atol=1e-6)


# --- pooling ----------------------------------------------------------------------------------


def pool_reference(x, kernel, stride, pads, op):
    fill = -np.inf if op == "max" else 0.0
    x = np.pad(x, [(0, 0)] * (x.ndim - 2) + list(pads), constant_values=fill)
    h = (x.shape[-2] - kernel[0]) // stride[0] + 1
    w = (x.shape[-1] - kernel[1]) // stride[1] + 1
    out = np.empty(x.shape[:-2] + (h, w), x.dtype)
    for i in range(h):
        for j in range(w):
            win = x[..., i * stride[0]:i * stride[0] + kernel[0],
                    j * stride[1]:j * stride[1] + kernel[1]]
            out[..., i, j] = win.max(axis=(-2, -1)) if op == "max" else win.mean(axis=(-2, -1))
    return out


@given(st.tuples(st.integers(1, 3), st.integers(1, 3)),
       st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))),
       st.integers(0, 1), st.sampled_from([(3, 5, 6), (2, 1, 4, 7)]),
       st.sampled_from(["max", "avg"]))
def test_pools_match_numpy(kernel, stride, pad, shape, op):
    assume(pad <= min(kernel) // 2 + 1)
    layer = (MaxPool2d if op == "max" else AvgPool2d)(kernel, stride, pad)
    x = RNG.normal(size=shape).astype(np.float32)
    assume(all(n + 2 * pad >= k for n, k in zip(shape[-2:], kernel, strict=True)))
    want = pool_reference(x, kernel, stride or kernel, [(pad, pad)] * 2, op)
    np.testing.assert_allclose(arr(layer(fnp.asarray(x))), want, rtol=1e-5, atol=1e-6)


def test_pool_defaults_gradients_and_jit():
    pool = MaxPool2d(2)
    assert pool.stride == (2, 2) and pool.padding == ((0, 0), (0, 0))
    x = fnp.asarray(np.arange(32, dtype=np.float32).reshape(2, 4, 4) ** 1.5)
    g = arr(fborn.grad(lambda v: fnp.sum(pool(v)))(x))
    expected = np.zeros((2, 4, 4), np.float32)
    expected[:, 1::2, 1::2] = 1.0  # the maximum of each window is its bottom-right element
    np.testing.assert_array_equal(g, expected)
    avg = AvgPool2d((2, 3), stride=1, padding=(1, 0))
    # check_grads perturbs with numpy arrays; the annotations accept fborn arrays only
    check_grads(lambda v: avg(fnp.asarray(v)), (fnp.asarray(rand(1, 3, 4)),), order=2,
                eps=1e-2, rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(arr(fborn.jit(avg)(x)), arr(avg(x)), rtol=1e-6)


def test_pool_errors():
    with pytest.raises(TypeCheckError, match=r"MaxPool2d: the padded input's spatial shape "
                                             r"\(1, 4\) is smaller than the kernel \(2, 2\)"):
        MaxPool2d(2)(fnp.ones((1, 1, 4)))
    with pytest.raises(TypeCheckError, match=r"AvgPool2d.__call__: argument x has shape \(4,\)"):
        AvgPool2d(2)(fnp.ones(4))
    with pytest.raises(ValueError, match="MaxPool2d: padding must be an int, 2 ints"):
        MaxPool2d(2, padding="SAME")


# --- dropout ----------------------------------------------------------------------------------


def test_dropout_masks_and_scales():
    drop = Dropout(0.25)
    x = fnp.ones((200, 100))
    y = arr(drop(x, key=random.key(0)))
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_array_equal(arr(drop(x, key=random.key(0))), y)
    assert not np.array_equal(arr(drop(x, key=random.key(1))), y)
    g = arr(fborn.grad(lambda v: fnp.sum(drop(v, key=random.key(0))))(x))
    np.testing.assert_allclose(g, np.where(kept, 1 / 0.75, 0.0), rtol=1e-6)


def test_dropout_inference_and_edge_probabilities():
    x = fnp.asarray(rand(3, 4))
    assert Dropout(0.5, inference=True)(x) is x
    assert Dropout(0.5)(x, inference=True) is x
    assert Dropout(0.0)(x) is x
    np.testing.assert_array_equal(arr(Dropout(1.0)(x, key=random.key(0))), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="Dropout: a PRNG key is needed in training mode"):
        Dropout(0.5)(x)
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0, 1\], got 1.5"):
        Dropout(1.5)
    jitted = fborn.jit(lambda d, v, k: d(v, key=k))
    np.testing.assert_array_equal(arr(jitted(Dropout(0.5), x, random.key(3))),
                                  arr(Dropout(0.5)(x, key=random.key(3))))


# --- embedding --------------------------------------------------------------------------------


def test_embedding_lookup_and_gradient():
    emb = Embedding(6, 3, key=random.key(0))
    table = arr(emb.weight)
    assert table.shape == (6, 3) and abs(table.std() - 1) < 0.5
    ids = np.array([[0, 5], [2, 2]], np.int32)
    np.testing.assert_array_equal(arr(emb(fnp.asarray(ids))), table[ids])
    g = fborn.grad(lambda m: fnp.sum(m(fnp.asarray(ids))))(emb)
    counts = np.bincount(ids.ravel(), minlength=6).astype(np.float32)
    np.testing.assert_array_equal(arr(g.weight), np.repeat(counts[:, None], 3, axis=1))
    with pytest.raises(TypeCheckError, match="Embedding.__call__: argument x has dtype float32"):
        emb(fnp.ones(2))


# --- Sequential and MLP -------------------------------------------------------------------------


def test_sequential_applies_layers_in_order_and_threads_keys():
    k1, k2 = random.split(random.key(0))
    l1, l2 = Linear(4, 8, key=k1), Linear(8, 2, key=k2)
    seq = Sequential([l1, relu, Dropout(0.5), l2])
    assert isinstance(seq.layers[1], Lambda) and len(seq) == 4 and seq[0] is l1
    x = fnp.asarray(rand(5, 4))
    manual = l2(relu(l1(x)))
    dropout_key = random.split(random.key(1), 4)[2]
    threaded = l2(Dropout(0.5)(relu(l1(x)), key=dropout_key))
    np.testing.assert_allclose(arr(seq(x, key=random.key(1))), arr(threaded), rtol=1e-6)
    inference = Sequential([l1, relu, Dropout(0.5, inference=True), l2])
    np.testing.assert_allclose(arr(inference(x)), arr(manual), rtol=1e-5, atol=1e-6)
    a, b = arr(seq(x, key=random.key(1))), arr(seq(x, key=random.key(2)))
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(arr(seq(x, key=random.key(1))), a)
    with pytest.raises(ValueError, match="Dropout: a PRNG key is needed"):
        seq(x)
    assert isinstance(seq[1:3], Sequential) and len(seq[1:3]) == 2
    with pytest.raises(TypeError, match="Sequential: every layer must be callable"):
        Sequential([l1, 3])
    assert Sequential([])(x) is x


def test_mlp_structure_and_forward():
    mlp = MLP(4, 3, 8, 2, activation=fnp.tanh, final_activation=relu, key=random.key(0))
    assert [lin.weight.shape for lin in mlp.layers] == [(8, 4), (8, 8), (3, 8)]
    names = [keystr(p, simple=True, separator=".") for p, _ in tree_leaves_with_path(mlp)]
    assert names == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
                     "layers.2.weight", "layers.2.bias"]
    x = fnp.asarray(rand(6, 4))
    h = x
    for lin in mlp.layers[:-1]:
        h = fnp.tanh(lin(h))
    np.testing.assert_allclose(arr(mlp(x)), arr(relu(mlp.layers[-1](h))), rtol=1e-6)
    single = MLP(4, 3, 8, 0, activation=relu, use_final_bias=False, key=random.key(0))
    assert len(single.layers) == 1 and single.layers[0].bias is None
    with pytest.raises(TypeCheckError, match="MLP: the input has in_size=5"):
        mlp(fnp.ones((2, 5)))


def test_mlp_default_activation_is_fborn_nn_relu():
    mlp = MLP(2, 1, 3, 1, key=random.key(0))
    assert mlp.activation is nn.relu


def test_mlp_trains_under_jit_with_grad():
    mlp = MLP(2, 1, 16, 1, activation=fnp.tanh, key=random.key(0))
    x = fnp.asarray(RNG.uniform(-1, 1, size=(64, 2)).astype(np.float32))
    y = fnp.sum(x * x, axis=1, keepdims=True)

    @fborn.jit
    def step(m):
        loss, g = fborn.value_and_grad(lambda mm: fnp.mean((mm(x) - y) ** 2))(m)
        return loss, fborn.tree_util.tree_map(lambda p, d: p - 0.2 * d, m, g)

    first, mlp = step(mlp)
    for _ in range(60):
        loss, mlp = step(mlp)
    assert step.trace_count == 1
    assert float(loss) < 0.5 * float(first)
