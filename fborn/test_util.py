"""Test helpers: ``check_grads`` (numerical checks of forward and reverse mode, recursively to
any order) and ``eval_traced`` (a function run through its jaxpr).

Forward mode is compared with central finite differences along random tangents; reverse mode
with forward mode through the inner-product identity <v, J t> = <J^T v, t>.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import fborn
from fborn.tree_util import tree_leaves, tree_map


def _rand_like(rng: np.random.Generator, x: Any) -> np.ndarray:
    x = np.asarray(x)
    return rng.standard_normal(x.shape).astype(x.dtype)


def _vdot(a: Any, b: Any) -> float:
    return float(sum(np.vdot(np.asarray(x, np.float64), np.asarray(y, np.float64))
                     for x, y in zip(tree_leaves(a), tree_leaves(b), strict=True)))


def _add_scaled(xs: Sequence[Any], ts: Sequence[Any], eps: float) -> list[Any]:
    return [tree_map(lambda x, t: np.asarray(x) + eps * np.asarray(t), x, t)
            for x, t in zip(xs, ts, strict=True)]


def check_jvp(f: Callable[..., Any], args: Sequence[Any], eps: float, rtol: float, atol: float,
              rng: np.random.Generator) -> None:
    tangents = [tree_map(lambda x: _rand_like(rng, x), a) for a in args]
    _, out_t = fborn.jvp(f, tuple(args), tuple(tangents))
    plus = f(*_add_scaled(args, tangents, eps))
    minus = f(*_add_scaled(args, tangents, -eps))
    numeric = tree_map(lambda p, m: (np.asarray(p, np.float64) - np.asarray(m, np.float64))
                       / (2 * eps), plus, minus)
    for got, want in zip(tree_leaves(out_t), tree_leaves(numeric), strict=True):
        np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=atol,
                                   err_msg="jvp does not match finite differences")


def check_vjp(f: Callable[..., Any], args: Sequence[Any], rtol: float, atol: float,
              rng: np.random.Generator) -> None:
    out, vjp_fun = fborn.vjp(f, *args)
    tangents = [tree_map(lambda x: _rand_like(rng, x), a) for a in args]
    _, out_t = fborn.jvp(f, tuple(args), tuple(tangents))
    cotangent = tree_map(lambda o: _rand_like(rng, o), out)
    cts_in = vjp_fun(cotangent)
    lhs = _vdot(cotangent, out_t)
    rhs = _vdot(cts_in, tangents)
    np.testing.assert_allclose(lhs, rhs, rtol=rtol, atol=atol,
                               err_msg="vjp is not the transpose of jvp")


def check_grads(f: Callable[..., Any], args: Sequence[Any], order: int,
                modes: Sequence[str] = ("fwd", "rev"), eps: float = 1e-4,
                rtol: float = 1e-4, atol: float = 1e-4, seed: int = 0) -> None:
    """Check ``f``'s derivatives at ``args`` up to ``order`` in the given ``modes``."""
    rng = np.random.default_rng(seed)
    if "fwd" in modes:
        check_jvp(f, args, eps, rtol, atol, rng)
        if order > 1:
            def f_jvp(*primals_and_tangents: Any) -> Any:
                n = len(primals_and_tangents) // 2
                return fborn.jvp(f, primals_and_tangents[:n], primals_and_tangents[n:])[1]

            tangents = [tree_map(lambda x: _rand_like(rng, x), a) for a in args]
            check_grads(f_jvp, [*args, *tangents], order - 1, ("fwd",), eps, rtol, atol, seed)
    if "rev" in modes:
        check_vjp(f, args, rtol, atol, rng)
        if order > 1:
            out = f(*args)
            cotangent = tree_map(lambda o: _rand_like(rng, o), out)

            def f_vjp(*primals: Any) -> Any:
                return fborn.vjp(f, *primals)[1](cotangent)

            check_grads(f_vjp, list(args), order - 1, ("rev",), eps, rtol, atol, seed)


def eval_traced(f: Callable[..., Any], *args: Any) -> list[Any]:
    """The outputs of ``f(*args)`` computed the long way: traced by ``make_jaxpr``, checked by
    ``typecheck_jaxpr``, then run op by op by ``eval_jaxpr``."""
    closed = fborn.make_jaxpr(f)(*args)
    fborn.typecheck_jaxpr(closed.jaxpr)
    return fborn.eval_jaxpr(closed.jaxpr, closed.consts, *args)
