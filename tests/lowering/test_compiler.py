"""The numba compiler: fusion structure, equality with eager execution, caches, errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fborn
import fborn.numpy as fnp
from fborn.core.aval import ShapedArray
from fborn.core.primitive import Primitive
from fborn.lowering.numba.compile import Executable, cache_dir
from fborn.lowering.schedule import LoweringError


def kernels(fn, *args):
    """How many loop nests and routine calls ``fn`` compiles to."""
    return Executable(fborn.make_jaxpr(fn)(*args)).program.kernel_count()


def test_fusion_kernel_counts():
    a = np.ones((64, 32), np.float32)
    v = np.ones(32, np.float32)
    assert kernels(lambda x, y, z: x + y + z, a, a, a) == 1
    assert kernels(lambda x, y: fnp.sum(x * y), a, a) == 1

    def softmax(x):
        e = fnp.exp(x - fnp.max(x, axis=-1, keepdims=True))
        return e / fnp.sum(e, axis=-1, keepdims=True)

    def layernorm(x):
        mu = fnp.mean(x, axis=-1, keepdims=True)
        var = fnp.mean((x - mu) ** 2, axis=-1, keepdims=True)
        return (x - mu) / fnp.sqrt(var + 1e-5)

    assert kernels(softmax, a) == 3
    assert kernels(layernorm, a) == 3
    w = np.ones((32, 16), np.float32)
    b = np.ones(16, np.float32)
    assert kernels(lambda x, w, b: fnp.maximum(x @ w + b, 0.0), a, w, b) == 2
    assert kernels(lambda x, y: (x + y).T * 2.0, a, v) == 1


@pytest.mark.parametrize("fn", [
    lambda x, y: fnp.tanh(x * 2 + 1) * y - 0.5,
    lambda x, y: fnp.where(x > y, fnp.exp(x), fnp.log1p(fnp.abs(y))),
    lambda x, y: fnp.sum(x * y, axis=0) + fnp.max(x, axis=0),
    lambda x, y: fnp.argmax(x + y, axis=1),
    lambda x, y: (x @ y.T)[::2, 1:] + fnp.mean(y),
    lambda x, y: fnp.concatenate([x, y[:, ::-1]], axis=1) ** 2,
    lambda x, y: fnp.pad(x, ((1, 2), (0, 3)), constant_values=-1.0) * 3,
    lambda x, y: fnp.clip(x, -0.5, 0.5) + fnp.floor(y * 4) / 4,
    lambda x, y: fnp.reshape(x, (4, -1)).sum(axis=1) + fnp.min(y),
])
def test_compiled_equals_eager(fn):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 10)).astype(np.float32)
    y = rng.standard_normal((6, 10)).astype(np.float32)
    np.testing.assert_allclose(fborn.jit(fn)(x, y), fn(x, y), rtol=2e-6, atol=1e-6)


def test_strided_views_and_numpy_scalars_as_inputs():
    """Inputs in any layout (1-D steps, transposes, 0-d values) give one compiled program and
    the eager results; the caller's arrays stay writable."""
    f = fborn.jit(lambda v, s: v * s + 1)
    x = np.arange(30, dtype=np.float32)
    for view in (x[::2], x[::-3], x):
        np.testing.assert_array_equal(f(view[:10], np.float32(2)), view[:10] * 2 + 1)
    m = x.reshape(5, 6)
    np.testing.assert_array_equal(fborn.jit(lambda a: a * 2)(m.T), m.T * 2)
    assert x.flags.writeable and m.flags.writeable


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "int32", "bool"])
def test_rank0_inputs_of_every_kind_match_eager(dtype):
    """Rank-0 inputs reach the program as numpy scalars: numpy scalars, 0-d arrays, Arrays
    and Python scalars all give the eager result, NaN and inf included."""
    f = fborn.jit(lambda a, b: a * b + (a > b))
    values = [1.5, -2.0] if dtype != "bool" else [True, False]
    if dtype.startswith("float") or dtype == "bfloat16":
        values += [np.nan, np.inf]
    for v in values:
        a = fnp.asarray(v, dtype=dtype)
        want = np.asarray(a * a + (a > a))  # eager
        for arg in (a, np.asarray(a), np.asarray(a)[()]):
            got = np.asarray(f(arg, a))
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got.astype(np.float32), want.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(fborn.jit(lambda x, s: x * s)(np.ones(2), 3)),
                                  [3.0, 3.0])


def test_integer_and_bool_kernels_are_exact():
    x = np.arange(-12, 12, dtype=np.int32).reshape(4, 6)
    y = np.array([3, -2, 5, 7, -1, 4], np.int32)
    cases = [lambda a, b: a // b, lambda a, b: a % b, lambda a, b: (a << 2) ^ b,
             lambda a, b: fnp.sum((a > b) & (a < 5), axis=1), lambda a, b: fnp.maximum(a, b) * 3]
    for fn in cases:
        np.testing.assert_array_equal(fborn.jit(fn)(x, y), fn(x, y))


def test_training_step_matches_reference():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((20, 8)).astype(np.float32) * 0.2
    x = rng.standard_normal((16, 20)).astype(np.float32)
    y = np.eye(8, dtype=np.float32)[rng.integers(0, 8, 16)]

    def loss(w, x, y):
        logits = x @ w
        return -fnp.mean(fnp.sum(fborn.scipy.special.log_softmax(logits, axis=1) * y, axis=1))

    step = fborn.jit(lambda w, x, y: w - 0.1 * fborn.grad(loss)(w, x, y))
    fborn.config.update("jit_compiler", "reference")
    want = step(w, x, y)
    fborn.config.update("jit_compiler", "numba")
    np.testing.assert_allclose(step(w, x, y), want, rtol=1e-5, atol=1e-6)


def test_lower_shows_source_and_unlowered_primitive_is_named():
    f = fborn.jit(lambda x: fnp.sin(x) * 2)
    text = f.lower(np.ones(3, np.float32)).as_text()
    assert "@njit" in text and "np.sin" in text
    mystery = Primitive("mystery_op")
    mystery.def_abstract_eval(lambda x: ShapedArray(x.shape, x.dtype))
    mystery.def_impl(lambda x: x)
    g = fborn.jit(lambda x: mystery.bind(x))
    with pytest.raises(LoweringError, match="mystery_op"):
        g(np.ones(3, np.float32))


SECOND_PROCESS = textwrap.dedent("""
    import numpy as np, fborn, fborn.numpy as fnp
    fborn.config.update("jit_compiler", "numba")
    f = fborn.jit(lambda x: fnp.tanh(x) * 3.0 + 1.0)
    out = f(np.ones(5, np.float32))
    exe = f.lower(np.ones(5, np.float32)).compile()
    stats = exe.fn.stats
    print(float(out[0]), stats.cache_hits.get(exe.fn.signatures[0], 0),
          sum(stats.cache_misses.values()))
""")


def run_second_process(cache: str) -> list[str]:
    env = {**os.environ, "FBORN_CACHE_DIR": cache}
    done = subprocess.run([sys.executable, "-c", SECOND_PROCESS], env=env, check=True,
                          capture_output=True, text=True)
    return done.stdout.split()


def test_disk_cache_is_hit_by_a_new_process_and_survives_corruption(tmp_path):
    cache = str(tmp_path / "kernels")
    value, _, misses = run_second_process(cache)
    assert float(value) == pytest.approx(np.tanh(1.0) * 3 + 1)
    assert int(misses) == 1
    value, hits, misses = run_second_process(cache)
    assert int(hits) == 1 and int(misses) == 0  # no numba compilation in the new process
    for path in (tmp_path / "kernels").rglob("*"):
        if path.is_file():
            path.write_bytes(b"\x00garbage\xff" * 3)
    value, _, _ = run_second_process(cache)
    assert float(value) == pytest.approx(np.tanh(1.0) * 3 + 1)


LOAD_THEN_COMPILE = textwrap.dedent("""
    import sys
    import numpy as np, fborn, fborn.numpy as fnp
    fborn.config.update("jit_compiler", "numba")
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    cached = fborn.jit(lambda a: fnp.tanh(a @ a.T) + 1.0)(x)
    fresh = fborn.jit(lambda a: fnp.sum(fnp.exp(a) * float(sys.argv[1]), axis=1))(x)
    print(float(cached[0, 0]), float(fresh[0]))
""")


def test_a_process_compiles_after_loading_from_the_disk_cache(tmp_path):
    """Programs load from the disk cache without numba's compiler registries; a program
    compiled later in the same process still finds them."""
    env = {**os.environ, "FBORN_CACHE_DIR": str(tmp_path)}
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    for scale in ("2.0", "3.0"):  # the second process loads the first program, compiles anew
        done = subprocess.run([sys.executable, "-c", LOAD_THEN_COMPILE, scale], env=env,
                              check=True, capture_output=True, text=True)
        cached, fresh = map(float, done.stdout.split())
        assert cached == pytest.approx(np.tanh(x @ x.T)[0, 0] + 1.0)
        assert fresh == pytest.approx(np.exp(x[0]).sum() * float(scale), rel=1e-6)


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FBORN_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path


def test_vectorized_float32_math_accuracy():
    x = np.concatenate([np.linspace(-87, 88, 200001), np.linspace(-3, 3, 100001),
                        [0.0, -0.0, 1e-30, 88.8, -90.0, np.inf, -np.inf, np.nan]]
                       ).astype(np.float32)
    exp = np.asarray(fborn.jit(fnp.exp)(x), np.float64)
    ref = np.exp(x.astype(np.float64))
    normal = (ref > 1.2e-38) & (ref < 3.4e38)
    assert np.max(np.abs(exp[normal] - ref[normal]) / ref[normal]) < 4e-7
    np.testing.assert_array_equal(exp[-5:-1], [np.inf, 0.0, np.inf, 0.0])
    assert np.isnan(exp[-1])
    tanh = np.asarray(fborn.jit(fnp.tanh)(x), np.float64)
    finite = np.isfinite(x)
    assert np.max(np.abs(tanh[finite] - np.tanh(x[finite].astype(np.float64)))) < 2.5e-7
    assert np.isnan(tanh[-1]) and tanh[-3] == 1.0 and tanh[-2] == -1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_float_max_min_reductions_propagate_nan_and_order_zeros_like_jax(dtype):
    """Vectorized max/min reductions: a NaN anywhere in a row gives NaN, all -inf rows give
    -inf, -0 < +0 (as XLA), zero-size reductions give the identity; any input layout."""
    with fborn.config.override(enable_x64=True):
        x = np.random.default_rng(0).standard_normal((300, 520)).astype(dtype)
        x[3, 0] = x[4, 519] = x[5, 17] = np.nan
        x[6] = -np.inf
        x[7] = np.inf
        x[8] = 0.0
        x[8, 100] = -0.0
        x[9] = -0.0
        x[10, :5] = np.nan
        for view in (x, x[:, ::3], x.T[::2].T, x[::-1]):
            for op, ref in ((fnp.max, np.max), (fnp.min, np.min)):
                got = np.asarray(fborn.jit(lambda v, op=op: op(v, axis=1))(view))
                np.testing.assert_array_equal(got, ref(view, axis=1))
                assert got.dtype == view.dtype
        assert not np.signbit(np.asarray(fborn.jit(lambda v: fnp.max(v, axis=1))(x))[8])
        assert np.signbit(np.asarray(fborn.jit(lambda v: fnp.min(v, axis=1))(x))[8])
        empty = np.ones((4, 0), dtype)
        np.testing.assert_array_equal(fborn.jit(lambda v: fborn.lax.reduce_max(v, (1,)))(empty),
                                      np.full(4, -np.inf, dtype))
        np.testing.assert_array_equal(fborn.jit(lambda v: fborn.lax.reduce_min(v, (1,)))(empty),
                                      np.full(4, np.inf, dtype))


def _softmax(x):
    e = fnp.exp(x - fnp.max(x, axis=-1, keepdims=True, initial=-np.inf))
    return e / fnp.sum(e, axis=-1, keepdims=True)


def _softmax_ref(x):
    with np.errstate(invalid="ignore"):
        e = np.exp(x - np.max(x, axis=-1, keepdims=True, initial=-np.inf))
        return e / np.sum(e, axis=-1, keepdims=True)


def test_row_kernels_share_one_loop_and_keep_nan_inf_semantics():
    """A softmax's three kernels run in one parallel loop over the rows; rows with NaN, all
    -inf or +inf give NaN as in JAX; empty and strided inputs work."""
    x = np.random.default_rng(1).standard_normal((256, 300)).astype(np.float32)
    x[1, 7] = np.nan
    x[2] = -np.inf
    x[3, 5] = np.inf
    x[4, :3] = -np.inf
    text = fborn.jit(_softmax).lower(x).as_text()
    assert text.count("prange(") == 1 and text.count("exp_f32(") == 1  # exp stored, reused
    for view in (x, x[::2, ::3], x.T[:, :200], np.ones((0, 5), np.float32),
                 np.ones((5, 0), np.float32)):
        np.testing.assert_allclose(fborn.jit(_softmax)(view), _softmax_ref(view), rtol=2e-6,
                                   atol=1e-7)
    half = x.astype(np.float16)
    np.testing.assert_allclose(np.asarray(fborn.jit(_softmax)(half), np.float32),
                               np.asarray(_softmax(half), np.float32), rtol=2e-3, atol=1e-6)


def test_kernels_reading_other_rows_are_not_fused():
    """A kernel that reads another row (or column) of an earlier result runs after it."""
    x = np.random.default_rng(2).standard_normal((300, 300)).astype(np.float32)
    cases = [(lambda v: v - fnp.max(v, axis=1)[::-1, None], lambda v: v - v.max(1)[::-1, None]),
             (lambda v: v - fnp.max(v, axis=0), lambda v: v - v.max(0)),
             (lambda v: v * fnp.sum(v, axis=1)[fnp.arange(300) // 2, None],
              lambda v: v * v.sum(1)[np.arange(300) // 2, None])]
    for f, ref in cases:
        np.testing.assert_allclose(fborn.jit(f)(x), ref(x), rtol=1e-5, atol=1e-5)


def _address(a) -> int:
    return np.asarray(a).__array_interface__["data"][0]


def test_large_outputs_are_recycled_only_once_dropped():
    """Large outputs come from a pool: a buffer returns to it when the caller drops every
    array and view of it, never while one is alive."""
    f = fborn.jit(lambda v: (v * 2 + 1) * v - 0.5)
    x = np.random.default_rng(3).random(1 << 21, dtype=np.float32)
    y1 = f(x)
    want = np.array(y1)
    first = _address(y1)
    view = np.asarray(y1)[::2]
    del y1
    y2 = f(x + 1)
    y3 = f(y2)
    addresses = {first, _address(y2), _address(y3)}
    assert len(addresses) == 3
    np.testing.assert_array_equal(view, want[::2])
    np.testing.assert_array_equal(y3, np.array(f(np.array(y2))))
    del view, y3
    assert _address(f(x)) == first  # the pool keeps the first two buffers it made
    y4 = f(x)
    y5 = f(x)
    assert _address(y4) == first and _address(y5) not in {first, _address(y2)}
    np.testing.assert_array_equal(y4, want)
    np.testing.assert_array_equal(y5, want)
    pair = fborn.jit(lambda v: (v + 1, v * 2))
    a, b = pair(x)
    np.testing.assert_array_equal(a, x + 1)
    np.testing.assert_array_equal(b, x * 2)


CONCATENATE_IN_BOUNDS = textwrap.dedent("""
    import numpy as np
    import fborn, fborn.numpy as fnp
    fborn.config.update("jit_compiler", "numba")
    a = np.arange(3, dtype=np.float32)
    b = np.arange(1000, dtype=np.float32) + 10
    empty = np.zeros(0, np.float32)
    flat = fborn.jit(lambda x, y, z: fnp.concatenate([x, z, y * 2, x + 1]))
    np.testing.assert_array_equal(np.asarray(flat(a, b, empty)),
                                  np.concatenate([a, empty, b * 2, a + 1]))
    rows = fborn.jit(lambda x, y: fnp.concatenate([fnp.outer(x, fnp.ones(4)),
                                                   y.reshape(250, 4)], axis=0))
    np.testing.assert_array_equal(np.asarray(rows(a, b)),
                                  np.concatenate([np.outer(a, np.ones(4)), b.reshape(250, 4)]))
""")


def test_concatenate_loads_stay_inside_each_part(tmp_path):
    """Both sides of the selects are computed: every part's loads are clamped into it (numba's
    bounds checking, on in a fresh process, raises IndexError otherwise)."""
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "FBORN_CACHE_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", CONCATENATE_IN_BOUNDS], env=env, check=True,
                   timeout=300)
