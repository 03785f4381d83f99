"""Per-op overhead of eager (un-jitted) calls on small arrays: fborn vs numpy vs JAX.

Run: python benchmarks/eager_overhead.py   (JAX is optional: pip install jax)
Prints the median time per call over repeated runs and the ratio fborn/peer.
"""

from __future__ import annotations

import statistics
import timeit

import numpy as np

import fborn.numpy as fnp


def median_us(fn, number: int = 2000, repeat: int = 15) -> float:
    fn()
    times = timeit.repeat(fn, number=number, repeat=repeat)
    return statistics.median(times) / number * 1e6


def main() -> None:
    a = np.ones((4, 4), np.float32)
    b = np.ones((4, 4), np.float32)
    x, y = fnp.asarray(a), fnp.asarray(b)
    rows = [
        ("x + y (4x4 f32)", lambda: x + y, lambda: a + b, "add"),
        ("sin(x)", lambda: fnp.sin(x), lambda: np.sin(a), "sin"),
        ("x @ y", lambda: x @ y, lambda: a @ b, "matmul"),
        ("sum(x)", lambda: fnp.sum(x), lambda: np.sum(a), "sum"),
    ]
    try:
        import jax
        import jax.numpy as jnp

        jx, jy = jnp.asarray(a), jnp.asarray(b)
        jax_ops = {"add": lambda: jx + jy, "sin": lambda: jnp.sin(jx),
                   "matmul": lambda: jx @ jy, "sum": lambda: jnp.sum(jx)}
        jax_version = jax.__version__
    except ImportError:
        jax_ops, jax_version = {}, None
    print(f"{'op':<18}{'fborn us':>10}{'numpy us':>10}{'jax us':>10}{'fb/np':>8}{'fb/jax':>8}")
    for label, fb, npf, key in rows:
        t_fb, t_np = median_us(fb), median_us(npf)
        t_jax = median_us(lambda f=jax_ops[key]: f().block_until_ready()) if jax_ops else None
        jax_cols = f"{t_jax:>10.2f}{t_fb / t_jax:>8.2f}" if t_jax else f"{'-':>10}{'-':>8}"
        print(f"{label:<18}{t_fb:>10.2f}{t_np:>10.2f}{jax_cols[:10]}{t_fb / t_np:>8.2f}"
              f"{jax_cols[10:]}")
    if jax_version:
        print(f"(jax {jax_version}, CPU)")


if __name__ == "__main__":
    main()
