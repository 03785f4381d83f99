"""The batching iterator: order from fborn.random.permutation, drop-last and padded batches."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fborn
import fborn.numpy as fnp
from fborn.io.batches import batches


@given(st.integers(1, 40), st.integers(1, 12), st.booleans(), st.integers(0, 2**31 - 1))
def test_batches_follow_the_permutation(n, batch_size, drop_last, seed):
    key = fborn.random.key(seed)
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    y = fnp.arange(n, dtype=fnp.int32)
    order = np.asarray(fborn.random.permutation(key, n))
    got = list(batches(key, (x, y), batch_size, drop_last=drop_last))
    full, rest = divmod(n, batch_size)
    expected_len = full + (1 if rest and not drop_last else 0)
    assert len(got) == len(batches(key, (x, y), batch_size, drop_last=drop_last)) == expected_len
    for i, batch in enumerate(got):
        idx = order[i * batch_size:(i + 1) * batch_size]
        xb, yb = batch[:2]
        assert xb.dtype == np.float32 and yb.dtype == np.int32
        assert xb.shape == (batch_size, 2) and yb.shape == (batch_size,)
        np.testing.assert_array_equal(yb[:len(idx)], idx)
        np.testing.assert_array_equal(xb[:len(idx)], x[idx])
        if drop_last:
            assert len(batch) == 2
        else:
            mask = batch[2]
            assert mask.dtype == np.bool_ and mask.tolist() == [j < len(idx)
                                                                for j in range(batch_size)]
            assert not xb[len(idx):].any() and not yb[len(idx):].any()


def test_order_without_shuffle_and_repeatable_iteration():
    x = np.arange(7)
    assert [b[0].tolist() for b in batches(None, (x,), 3, shuffle=False)] == [[0, 1, 2],
                                                                              [3, 4, 5]]
    it = batches(fborn.random.key(3), [x], 2, drop_last=False)
    first, second = [b[0].tolist() for b in it], [b[0].tolist() for b in it]
    assert first == second and sorted(sum(first, []))[1:] == list(range(7))
    other = [b[0].tolist() for b in batches(fborn.random.key(4), [x], 2, drop_last=False)]
    assert other != first


def test_bad_arguments():
    with pytest.raises(TypeError, match=r"pass \(x,\)"):
        batches(fborn.random.key(0), np.zeros(3), 2)
    with pytest.raises(ValueError, match="share a leading dimension.*\\(3,\\), \\(4,\\)"):
        batches(fborn.random.key(0), (np.zeros(3), np.zeros(4)), 2)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        batches(fborn.random.key(0), (np.zeros(3),), 0)
    with pytest.raises(ValueError, match="needs a PRNG key"):
        batches(None, (np.zeros(3),), 2)


def test_batches_feed_a_step_under_the_numba_compiler(tmp_path, monkeypatch):
    monkeypatch.setenv("FBORN_CACHE_DIR", str(tmp_path / "kernels"))
    fborn.config.update("jit_compiler", "numba")
    x = np.arange(10, dtype=np.float32)
    step = fborn.jit(lambda total, xb, mask: total + fnp.sum(fnp.where(mask, xb, 0.0)))
    total = fnp.zeros(())
    for xb, mask in batches(fborn.random.key(0), (x,), 4, drop_last=False):
        total = step(total, xb, mask)
    assert float(total) == 45.0
