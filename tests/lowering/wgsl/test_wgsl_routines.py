"""The WGSL routines besides matmul (scatter, cumulative scans, sort, top_k, convolution,
Threefry) and host-side control flow (cond, while_loop, scan), run through ``fborn.jit`` on
GPU arrays and compared with eager fborn on the host. Several ops share one jit (one program)
to keep shader compiles few."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fborn
import fborn.lax as lax
import fborn.numpy as fnp
from fborn.core.gpu_array import GpuArray

_rng = np.random.default_rng(0)


@pytest.fixture(scope="module")
def gpu():
    return fborn.devices("gpu")[0]


def on_gpu(fn, device, *args, exact=True, rtol=2e-6, atol=1e-6):
    """``jit(fn)`` on GPU copies of ``args``: GpuArray outputs equal to eager ``fn(*args)``."""
    want = fborn.tree_util.tree_leaves(fn(*args))
    got = fborn.tree_util.tree_leaves(fborn.jit(fn)(*fborn.device_put(args, device)))
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert isinstance(g, GpuArray) and g.device is device
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape
        if exact:
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


# --- scatter -----------------------------------------------------------------------------------

def test_dynamic_update_slice_clamps_and_scatter_family_combines_in_order(gpu):
    x = _rng.standard_normal((5, 7)).astype(np.float32)
    idx = np.array([4, 1, 4, 0, 9, -1, 1], np.int32)  # repeats, and out of bounds (dropped)

    def fn(a, i):
        a = fnp.asarray(a)
        rows = fnp.arange(7.0)[:, None] * fnp.ones(7)
        return (lax.dynamic_update_slice(a, fnp.full((2, 3), 5.0), (i[0], i[4])),
                a.at[i].set(rows), a.at[i].add(rows), a.at[i, 2].max(fnp.arange(7.0)),
                a.at[i, 3].min(-fnp.arange(7.0)), a.at[i].multiply(2.0),
                (a > 0).at[i].set(False), fnp.zeros(6, np.int32).at[i].add(1))

    on_gpu(fn, gpu, x, idx, exact=False)


def test_scatter_with_overlapping_windows_keeps_index_order(gpu):
    x = np.zeros(10, np.float32)
    starts = np.array([[0], [2], [1], [2]], np.int32)
    upd = np.arange(12, dtype=np.float32).reshape(4, 3)
    dn = lax.ScatterDimensionNumbers(update_window_dims=(1,), inserted_window_dims=(),
                                     scatter_dims_to_operand_dims=(0,))
    on_gpu(lambda a, s, u: (lax.scatter(a, s, u, dn), lax.scatter_add(a, s, u, dn)), gpu,
           x, starts, upd)


# --- scans, sorts, convolution, random bits ----------------------------------------------------

@settings(max_examples=4, deadline=None)
@given(st.integers(1, 6), st.integers(1, 40))
def test_cumulative_sort_and_top_k(rows, cols):
    device = fborn.devices("gpu")[0]
    x = _rng.integers(-20, 20, (rows, cols)).astype(np.float32) / 4  # exact sums, ties
    k = min(cols, 3)
    on_gpu(lambda a: (fnp.cumsum(a, 0), lax.cummax(a, 1, reverse=True), lax.cummin(a, 0),
                      fnp.sort(a, 0), fnp.argsort(a, 1), lax.top_k(a, k)), device, x)


def test_sort_orders_nans_signed_zeros_and_multiple_keys(gpu):
    x = np.array([[np.nan, 1, -0.0, 0.0, np.inf, -np.inf, 1, -np.nan, -2]], np.float32)
    on_gpu(lambda a: (fnp.sort(a), fnp.argsort(a), lax.top_k(a, 9), fnp.cumprod(a[:, 1:5])),
           gpu, x)
    keys = _rng.integers(0, 3, (4, 12)).astype(np.int32)
    second = _rng.integers(0, 3, (4, 12)).astype(np.uint32)
    payload = _rng.standard_normal((4, 12)).astype(np.float32)
    on_gpu(lambda a, b, c: (lax.sort((a, b, c), num_keys=2), lax.sort((b, c), dimension=0),
                            lax.top_k(a, 5), lax.top_k(b, 4)), gpu, keys, second, payload)


def test_convolutions_with_padding_dilation_strides_and_groups(gpu):
    img = _rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    ker = _rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    nhwc = _rng.standard_normal((2, 7, 6, 4)).astype(np.float32)
    hwio = _rng.standard_normal((3, 3, 2, 6)).astype(np.float32)
    on_gpu(lambda a, b, c, d: (
        lax.conv_general_dilated(a, b, (1, 1), "SAME"),
        lax.conv_general_dilated(a, b, (2, 1), ((1, 2), (0, 1)), lhs_dilation=(1, 2),
                                 rhs_dilation=(2, 1)),
        lax.conv_general_dilated(c, d, (1, 2), "VALID", feature_group_count=2,
                                 dimension_numbers=("NHWC", "HWIO", "NHWC")),
    ), gpu, img, ker, nhwc, hwio, exact=False, rtol=1e-5, atol=1e-5)


@settings(max_examples=8, deadline=None)
@given(st.integers(1, 3), st.integers(1, 5), st.integers(1, 9), st.integers(1, 3),
       st.integers(1, 2), st.integers(1, 2), st.integers(1, 2), st.integers(0, 2),
       st.integers(0, 1))
def test_implicit_gemm_convolutions_match_the_host(batch, cin, cout, size, stride, lhs_dil,
                                                   rhs_dil, pad, ndim):
    """Patches read by the matmul's loader: padding, strides and both dilations, in 1-D and
    2-D, with sizes off the tile sizes."""
    spatial = (size + 4, size + 3)[: ndim + 1]
    img = _rng.standard_normal((batch, cin, *spatial)).astype(np.float32)
    ker = _rng.standard_normal((cout, cin, *(3, 2)[: ndim + 1])).astype(np.float32)
    nd = len(spatial)
    on_gpu(lambda a, b: [lax.conv_general_dilated(
        a, b, (stride,) * nd, ((pad, pad + 1),) * nd, lhs_dilation=(lhs_dil,) * nd,
        rhs_dilation=(rhs_dil,) * nd)], fborn.devices("gpu")[0], img, ker, exact=False,
        rtol=1e-5, atol=1e-5)


def _kernel_labels(fn, *args):
    from fborn.lowering.wgsl.executable import GpuExecutable

    return [getattr(k, "label", "") for k in GpuExecutable(fborn.make_jaxpr(fn)(*args)).kernels]


def test_convolution_paths_implicit_gemm_or_direct(gpu):
    """Float convolutions without groups run as one matmul reading the patches from the input
    (NHWC outputs through a transposing copy), grouped ones directly; both agree with the
    host."""
    img = _rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    ker = _rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    labels = _kernel_labels(lambda a, b: [lax.conv_general_dilated(a, b, (1, 1), "SAME")],
                            img, ker)
    assert [label.split()[0] for label in labels] == ["matmul"]
    nhwc = _rng.standard_normal((2, 7, 6, 4)).astype(np.float32)
    hwio = _rng.standard_normal((3, 3, 4, 6)).astype(np.float32)
    nhwc_conv = (lambda c, d: [lax.conv_general_dilated(
        c, d, (2, 1), ((2, 0), (1, 1)), rhs_dilation=(1, 2),
        dimension_numbers=("NHWC", "HWIO", "NHWC"))])
    assert [label.split()[0] for label in _kernel_labels(nhwc_conv, nhwc, hwio)] == [
        "loop", "matmul", "loop"]  # weights and output relaid out
    on_gpu(nhwc_conv, gpu, nhwc, hwio, exact=False, rtol=1e-5, atol=1e-5)
    grouped = _kernel_labels(lambda a, b: [lax.conv_general_dilated(
        a, b, (1, 1), "SAME", feature_group_count=2)], nhwc.transpose(0, 3, 1, 2),
        hwio.transpose(3, 2, 0, 1)[:, :2])
    assert [label.split()[0] for label in grouped] == ["conv"]


def test_conv_weight_gradient_splits_the_long_sum(gpu):
    """A LeNet-like weight gradient (6 x 25 outputs, a sum over batch x 24 x 24): the matmul is
    split along K and the partial products summed."""
    img = _rng.standard_normal((16, 1, 28, 28)).astype(np.float32)
    ker = _rng.standard_normal((6, 1, 5, 5)).astype(np.float32)

    def loss(w, x):
        return fnp.sum(fnp.tanh(lax.conv_general_dilated(x, w, (1, 1), "VALID")))

    grad = fborn.grad(loss)
    assert any("splitk" in label for label in _kernel_labels(grad, ker, img))
    on_gpu(grad, gpu, ker, img, exact=False, rtol=1e-4, atol=1e-3)


def test_conv_gradient_uses_batch_groups(gpu):
    img = _rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    ker = _rng.standard_normal((4, 3, 3, 3)).astype(np.float32)

    def loss(a, b):
        return fnp.sum(lax.conv_general_dilated(a, b, (1, 1), "SAME") ** 2)

    on_gpu(fborn.grad(loss, argnums=(0, 1)), gpu, img, ker, exact=False, rtol=1e-4, atol=1e-3)


def test_threefry_random_bits_match_bit_for_bit(gpu):
    key = fborn.random.key(42)
    on_gpu(lambda k: (fborn.random.bits(k, (7, 5)), fborn.random.split(k, 3),
                      fborn.random.uniform(k, (9,))), gpu, key)


# --- control flow ------------------------------------------------------------------------------

def test_cond_while_and_scan_run_host_side(gpu):
    x = _rng.standard_normal((4, 3)).astype(np.float32)

    def fn(a):
        c = lax.cond(a.sum() > 0, lambda b: b * 2, lambda b: b - 1, a)
        s = lax.switch(fnp.int32(5), [lambda b: b, lambda b: -b], a)  # index clamps
        n, w = lax.while_loop(lambda t: t[0] < 5, lambda t: (t[0] + 1, fnp.tanh(t[1]) + 0.5),
                              (0, a))
        carry, ys = lax.scan(lambda cr, row: (cr + row, cr * row), fnp.zeros(3), a)
        _, rev = lax.scan(lambda cr, row: (cr, row[::-1] + cr), 1.0, a, reverse=True)
        return c, s, n, w, carry, ys, rev

    on_gpu(fn, gpu, x, exact=False)


def test_nested_loops_and_empty_scans(gpu):
    x = _rng.standard_normal((3, 2)).astype(np.float32)

    def fn(a):
        def outer(i, acc):
            inner = lax.fori_loop(0, i, lambda j, v: v + j, acc)
            return lax.cond(i % 2 == 0, lambda v: v * 0.5, lambda v: v, inner)

        carry, ys = lax.scan(lambda c, r: (c, r), 0.0, fnp.zeros((0, 2)))
        return lax.fori_loop(0, 4, outer, a), carry, ys

    on_gpu(fn, gpu, x, exact=False)
