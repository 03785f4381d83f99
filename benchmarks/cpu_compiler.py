"""fborn.jit on the CPU (numba backend) against jax.jit, PyTorch eager and numpy.

Run: python benchmarks/cpu_compiler.py [--quick]
Peers are optional (pip install jax torch==2.13.0); missing ones print '-'. Every figure is
the median over repeated runs after warm-up, in one process; compile times run in fresh
processes (cold: empty FBORN_CACHE_DIR; warm: the same directory again).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import types

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import (  # noqa: E402
    Table,
    lenet_loss,
    lenet_params,
    median_seconds,
    mlp_params,
    torch_sgd_step,
)

import fborn  # noqa: E402
import fborn.lax as flax  # noqa: E402
import fborn.numpy as fnp  # noqa: E402
import fborn.scipy.special as fsp  # noqa: E402

fborn.config.update("jit_compiler", "numba")

# A child process timing one system (--one SYSTEM) imports no other peer: their thread pools
# would compete for the cores even while idle.
_ONLY = sys.argv[sys.argv.index("--one") + 1] if "--one" in sys.argv else None
jax = jnp = torch = None
if _ONLY in (None, "jax"):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        pass
if _ONLY in (None, "torch"):
    try:
        import torch
    except ImportError:
        pass

SYSTEMS = ["fborn", "jax", "torch", "numpy"]


# --- MLP training step -------------------------------------------------------------------------

def mlp_batch(batch: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((batch, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    return x, y


def fborn_mlp_step():
    def loss(params, x, y):
        h = x
        for w, b in params[:-1]:
            h = fnp.maximum(h @ w + b, 0.0)
        w, b = params[-1]
        logits = h @ w + b
        return -fnp.mean(fnp.sum((logits - fsp.logsumexp(logits, axis=1, keepdims=True)) * y,
                                 axis=1))

    @fborn.jit
    def step(params, x, y):
        grads = fborn.grad(loss)(params, x, y)
        return fborn.tree_util.tree_map(lambda p, g: p - 0.01 * g, params, grads)

    return step


def jax_mlp_step():
    def loss(params, x, y):
        h = x
        for w, b in params[:-1]:
            h = jnp.maximum(h @ w + b, 0.0)
        w, b = params[-1]
        logits = h @ w + b
        return -jnp.mean(jnp.sum((logits - jax.scipy.special.logsumexp(
            logits, axis=1, keepdims=True)) * y, axis=1))

    @jax.jit
    def step(params, x, y):
        grads = jax.grad(loss)(params, x, y)
        return jax.tree_util.tree_map(lambda p, g: p - 0.01 * g, params, grads)

    return step


def numpy_mlp_step(params, x, y):
    """Forward and backward written by hand (the floor a fused compiler should beat)."""
    acts, pre = [x], []
    h = x
    for w, b in params[:-1]:
        z = h @ w + b
        pre.append(z)
        h = np.maximum(z, 0)
        acts.append(h)
    w, b = params[-1]
    logits = h @ w + b
    m = logits.max(1, keepdims=True)
    e = np.exp(logits - m)
    p = e / e.sum(1, keepdims=True)
    g = (p - y) / x.shape[0]
    out = []
    for i in range(len(params) - 1, -1, -1):
        w, b = params[i]
        gw, gb = acts[i].T @ g, g.sum(0)
        if i:
            g = (g @ w.T) * (pre[i - 1] > 0)
        out.append((w - 0.01 * gw, b - 0.01 * gb))
    return out[::-1]


def time_mlp(system: str, sizes: list[int], batch: int = 128) -> float:
    """Median seconds of one training step of ``system``."""
    params = mlp_params(sizes)
    x, y = mlp_batch(batch)
    if system == "fborn":
        step = fborn_mlp_step()
        return median_seconds(lambda: step(params, x, y)[0][0].block_until_ready())
    if system == "jax":
        jstep = jax_mlp_step()
        jp, jx, jy = jax.tree_util.tree_map(jnp.asarray, (params, x, y))
        return median_seconds(lambda: jax.block_until_ready(jstep(jp, jx, jy)))
    if system == "torch":
        tstep, tx, ty = torch_sgd_step(torch, params, lenet=False), torch.tensor(x), torch.tensor(y)
        return median_seconds(lambda: tstep(tx, ty))
    return median_seconds(lambda: numpy_mlp_step(params, x, y))


def bench_mlp(table: Table, sizes: list[int], batch: int = 128) -> None:
    """Each system runs in its own process: BLAS and OpenMP thread pools of several libraries
    in one process spin against each other on few cores and distort every figure."""
    t: dict[str, float | None] = {}
    available = {"fborn": True, "jax": jax is not None, "torch": torch is not None,
                 "numpy": True}
    for system in SYSTEMS:
        if not available[system]:
            continue
        done = subprocess.run(  # noqa: S603 - our own script
            [sys.executable, os.path.abspath(__file__), "--one", system,
             ",".join(map(str, sizes)), str(batch)],
            check=True, capture_output=True, text=True)
        t[system] = float(done.stdout.split()[-1])
    table.add(f"MLP {'-'.join(map(str, sizes))} b{batch}", t)


# --- LeNet-5 training step ---------------------------------------------------------------------
# conv 6@5x5 (padding 2: 28x28), ReLU, 2x2 max pool, conv 16@5x5 (valid: 10x10), ReLU, pool,
# 400-120-84-10 with ReLU, softmax cross-entropy, SGD; NCHW, float32. fborn and JAX share one
# definition; max pooling is the maximum of four strided slices in both (neither has
# reduce_window here), and F.max_pool2d in PyTorch.

def lenet_batch(batch: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    return x, y


def fborn_lenet_step():
    lib = types.SimpleNamespace(np=fnp, lax=flax, logsumexp=fsp.logsumexp)

    @fborn.jit
    def step(params, x, y):
        grads = fborn.grad(lambda p: lenet_loss(lib, p, x, y))(params)
        return fborn.tree_util.tree_map(lambda p, g: p - 0.01 * g, params, grads)

    return step


def jax_lenet_step():
    lib = types.SimpleNamespace(np=jnp, lax=jax.lax, logsumexp=jax.scipy.special.logsumexp)

    @jax.jit
    def step(params, x, y):
        grads = jax.grad(lambda p: lenet_loss(lib, p, x, y))(params)
        return jax.tree_util.tree_map(lambda p, g: p - 0.01 * g, params, grads)

    return step


def time_lenet(system: str, batch: int = 64) -> float:
    """Median seconds of one LeNet-5 training step of ``system``."""
    params = lenet_params()
    x, y = lenet_batch(batch)
    if system == "fborn":
        step = fborn_lenet_step()
        return median_seconds(lambda: step(params, x, y)[0][0].block_until_ready())
    if system == "jax":
        jstep = jax_lenet_step()
        jp, jx, jy = jax.tree_util.tree_map(jnp.asarray, (params, x, y))
        return median_seconds(lambda: jax.block_until_ready(jstep(jp, jx, jy)))
    tstep, tx, ty = torch_sgd_step(torch, params, lenet=True), torch.tensor(x), torch.tensor(y)
    return median_seconds(lambda: tstep(tx, ty))


def bench_lenet(table: Table, batch: int = 64) -> None:
    """Each system in its own process, as for the MLP (no hand-written numpy here)."""
    t: dict[str, float | None] = {}
    available = {"fborn": True, "jax": jax is not None, "torch": torch is not None}
    for system, present in available.items():
        if not present:
            continue
        done = subprocess.run(  # noqa: S603 - our own script
            [sys.executable, os.path.abspath(__file__), "--one", system, "lenet", str(batch)],
            check=True, capture_output=True, text=True)
        t[system] = float(done.stdout.split()[-1])
    table.add(f"LeNet-5 b{batch}", t)


# --- elementwise chains, softmax, layernorm ---------------------------------------------------

def bench_elementwise(table: Table, n: int) -> None:
    x = np.random.default_rng(0).random(n, dtype=np.float32)
    arith = fborn.jit(lambda v: (v * 2 + 1) * v - 0.5)
    trans = fborn.jit(lambda v: fnp.tanh(v * 2 + 1) * v - 0.5)
    out = np.empty_like(x)
    copy_t = median_seconds(lambda: np.copyto(out, x), repeat=10)
    for label, fn, jfn in (
        ("(x*2+1)*x-0.5 16M f32", arith, lambda v: (v * 2 + 1) * v - 0.5),
        ("tanh(x*2+1)*x-0.5 16M f32", trans, lambda v: jnp.tanh(v * 2 + 1) * v - 0.5),
    ):
        t: dict[str, float | None] = {"fborn": median_seconds(lambda f=fn: f(x), repeat=10)}
        if jax:
            jf, jx = jax.jit(jfn), jnp.asarray(x)
            t["jax"] = median_seconds(lambda f=jf, a=jx: jax.block_until_ready(f(a)), repeat=10)
        if torch:
            tx = torch.tensor(x)
            tf = ((lambda a=tx: (a * 2 + 1) * a - 0.5) if "tanh" not in label
                  else (lambda a=tx: torch.tanh(a * 2 + 1) * a - 0.5))
            t["torch"] = median_seconds(tf, repeat=10)
        t["numpy"] = copy_t if "tanh" not in label else median_seconds(
            lambda: np.tanh(x * 2 + 1) * x - 0.5, repeat=10)
        table.add(label + (" (numpy=copy)" if "tanh" not in label else ""), t)
    gbps = 2 * x.nbytes / table.rows[-2][1]["fborn"] / 1e9
    print(f"fborn arithmetic chain: {gbps:.2f} GB/s (read+write); numpy copy: "
          f"{2 * x.nbytes / copy_t / 1e9:.2f} GB/s")


def bench_normalizations(table: Table) -> None:
    x = np.random.default_rng(0).standard_normal((4096, 1024)).astype(np.float32)
    gamma = np.ones(1024, np.float32)

    def f_softmax(v):
        e = fnp.exp(v - fnp.max(v, axis=-1, keepdims=True))
        return e / fnp.sum(e, axis=-1, keepdims=True)

    def f_layernorm(v, g):
        mu = fnp.mean(v, axis=-1, keepdims=True)
        var = fnp.mean((v - mu) ** 2, axis=-1, keepdims=True)
        return (v - mu) / fnp.sqrt(var + 1e-5) * g

    cases = [("softmax 4096x1024", f_softmax, (x,)),
             ("layernorm 4096x1024", f_layernorm, (x, gamma))]
    for label, fn, args in cases:
        jf = fborn.jit(fn)
        t: dict[str, float | None] = {"fborn": median_seconds(lambda f=jf, a=args: f(*a))}
        if jax:
            jjf = jax.jit(fn.__wrapped__ if hasattr(fn, "__wrapped__") else _to_jax(fn))
            ja = [jnp.asarray(a) for a in args]
            t["jax"] = median_seconds(lambda f=jjf, a=ja: jax.block_until_ready(f(*a)))
        table.add(label, t)


def _to_jax(fn):
    """Run an fborn.numpy function body with jax.numpy (the bodies use only shared names)."""
    import types

    g = dict(fn.__globals__)
    g["fnp"] = jnp
    return types.FunctionType(fn.__code__, g)


def bench_dispatch(table: Table) -> None:
    f = fborn.jit(lambda a, b: a * b + 1.0)
    a, b = np.float32(2.0), np.float32(3.0)
    t: dict[str, float | None] = {"fborn": median_seconds(lambda: f(a, b), repeat=2000)}
    if jax:
        jf = jax.jit(lambda a, b: a * b + 1.0)
        t["jax"] = median_seconds(lambda: jax.block_until_ready(jf(a, b)), repeat=2000)
    table.add("jitted scalar a*b+1", t)


COMPILE_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {here!r})
    import numpy as np
    import cpu_compiler as bench
    params = bench.mlp_params([784, 512, 512, 10]); x, y = bench.mlp_batch(128)
    step = bench.fborn_mlp_step()
    t = time.perf_counter(); step(params, x, y)[0][0].block_until_ready()
    print(time.perf_counter() - t)
""")


def bench_compile(table: Table) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    script = COMPILE_SCRIPT.format(here=here)
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "FBORN_CACHE_DIR": cache}
        runs = [float(subprocess.run([sys.executable, "-c", script], env=env, check=True,
                                     capture_output=True, text=True).stdout.split()[-1])
                for _ in range(3)]
    t: dict[str, float | None] = {"fborn": runs[0]}
    if jax:
        params = jax.tree_util.tree_map(jnp.asarray, mlp_params([784, 512, 512, 10]))
        jx, jy = (jnp.asarray(v) for v in mlp_batch(128))
        lowered = jax.jit(jax_mlp_step().__wrapped__).lower(params, jx, jy)
        import time

        start = time.perf_counter()
        lowered.compile()
        t["jax"] = time.perf_counter() - start
    table.add("compile 784-512-512-10 step, cold", t)
    table.add("  same, warm (new process, disk)", {"fborn": min(runs[1:])})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small elementwise size")
    parser.add_argument("--one", nargs=3, metavar=("SYSTEM", "SIZES", "BATCH"),
                        help="time one training step (SIZES: MLP layer sizes like 784,128,10, "
                             "or 'lenet') in this process and print seconds")
    args = parser.parse_args()
    if args.one:
        system, sizes, batch = args.one
        if sizes == "lenet":
            print(time_lenet(system, int(batch)))
        else:
            print(time_mlp(system, [int(v) for v in sizes.split(",")], int(batch)))
        return
    versions = [f"numpy {np.__version__}"]
    if jax:
        versions.append(f"jax {jax.__version__}")
    if torch:
        versions.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    print(f"CPU benchmarks ({os.cpu_count()} cores): " + ", ".join(versions))
    train = Table("training steps (float32)", SYSTEMS)
    bench_mlp(train, [784, 128, 10])
    bench_mlp(train, [784, 512, 512, 10])
    bench_lenet(train)
    print(train.render())
    fused = Table("fused kernels", SYSTEMS)
    bench_elementwise(fused, 1 << 18 if args.quick else 1 << 24)
    bench_normalizations(fused)
    print(fused.render())
    overhead = Table("dispatch and compile", ["fborn", "jax"], unit="ms")
    bench_dispatch(overhead)
    bench_compile(overhead)
    print(overhead.render())


if __name__ == "__main__":
    main()
