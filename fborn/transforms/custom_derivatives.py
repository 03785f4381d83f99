"""``custom_jvp`` and ``custom_vjp``: user-defined derivatives for a function.

``custom_jvp_call_p`` carries the traced function and the user's jvp; the JVP interpreter runs
the user's rule instead of differentiating the body. ``custom_vjp_call_p`` carries the function
and the user's fwd/bwd: under differentiation the fwd runs and the tangent is a
``custom_lin_p`` application whose transpose calls bwd (so forward mode through a custom_vjp
function is an error, as in JAX). Values a custom function closes over are constants: their
derivatives are not propagated through the custom rule.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fborn.core.aval import ShapedArray
from fborn.core.jaxpr import ClosedJaxpr
from fborn.core.primitive import Primitive
from fborn.core.staging import trace_to_jaxpr
from fborn.core.trace import get_aval
from fborn.core.tree import PyTreeDef, tree_flatten, tree_unflatten
from fborn.primitives.reductions import reduce_sum_p
from fborn.primitives.rules import Zero, instantiate, tangent_aval, zeros_from_aval
from fborn.transforms.batching import batch_jaxpr, move_axis
from fborn.transforms.jit import _evaluate, close_over_consts
from fborn.transforms.make_jaxpr import abstractify
from fborn.transforms.vmap import vmap


class _Rule:
    """A user rule stored in a primitive's params (hashable by identity)."""

    __slots__ = ("fn", "in_tree", "nondiff", "num_consts", "out_tree", "res_tree")

    def __init__(self, fn: Callable[..., Any], in_tree: PyTreeDef, nondiff: dict[int, Any],
                 num_consts: int, out_tree: PyTreeDef | None = None):
        self.fn = fn
        self.in_tree = in_tree
        self.nondiff = nondiff
        self.num_consts = num_consts
        self.out_tree = out_tree
        self.res_tree: list[PyTreeDef] = []

    def full_args(self, leaves: Sequence[Any]) -> list[Any]:
        """The user-facing positional args (diff args from ``leaves``, nondiff ones static)."""
        dyn = list(tree_unflatten(self.in_tree, leaves))
        n = len(dyn) + len(self.nondiff)
        it = iter(dyn)
        return [self.nondiff[i] if i in self.nondiff else next(it) for i in range(n)]

    def __repr__(self) -> str:
        return getattr(self.fn, "__name__", "rule")


def _trace_call(fun: Callable[..., Any], args: Sequence[Any], nondiff_argnums: Sequence[int]
                ) -> tuple[ClosedJaxpr, list[Any], list[Any], PyTreeDef, PyTreeDef, dict]:
    nondiff = {i % len(args): args[i] for i in nondiff_argnums}
    dyn = tuple(a for i, a in enumerate(args) if i not in nondiff)
    leaves, in_tree = tree_flatten(dyn)
    out_box: list[PyTreeDef] = []

    def flat(*xs: Any) -> list[Any]:
        d = list(tree_unflatten(in_tree, xs))
        it = iter(d)
        full = [nondiff[i] if i in nondiff else next(it) for i in range(len(args))]
        out_leaves, out_tree = tree_flatten(fun(*full))
        out_box.append(out_tree)
        return out_leaves

    closed = trace_to_jaxpr(flat, [abstractify(x) for x in leaves])
    opened, consts = close_over_consts(closed)
    return opened, consts, leaves, in_tree, out_box[0], nondiff


# --- custom_jvp --------------------------------------------------------------------------------

custom_jvp_call_p = Primitive("custom_jvp_call", multiple_results=True)
custom_jvp_call_p.def_abstract_eval(lambda *avals, call_jaxpr, jvp: call_jaxpr.out_avals)
custom_jvp_call_p.def_impl(lambda *values, call_jaxpr, jvp: _evaluate(call_jaxpr, *values))


def _custom_jvp_rule(primals: list, tangents: list, *, call_jaxpr: ClosedJaxpr, jvp: _Rule
                     ) -> tuple[list, list]:
    args = primals[jvp.num_consts:]
    arg_tangents = [instantiate(t) for t in tangents[jvp.num_consts:]]
    full = jvp.full_args(args)
    diff_primals = tuple(a for i, a in enumerate(full) if i not in jvp.nondiff)
    diff_tangents = tuple(tree_unflatten(jvp.in_tree, arg_tangents))
    nondiff_vals = [jvp.nondiff[i] for i in sorted(jvp.nondiff)]
    out, out_t = jvp.fn(*nondiff_vals, diff_primals, diff_tangents)
    out_leaves, out_tree = tree_flatten(out)
    t_leaves, t_tree = tree_flatten(out_t, is_leaf=lambda x: type(x) is Zero)
    if out_tree != jvp.out_tree or t_tree != jvp.out_tree:
        raise TypeError(
            f"custom_jvp rule {jvp!r} must produce primal and tangent outputs with the "
            f"function's output structure {jvp.out_tree}; got {out_tree} and {t_tree}"
        )
    for o, t, a in zip(out_leaves, t_leaves, call_jaxpr.out_avals, strict=True):
        if type(t) is not Zero and get_aval(t).shape != a.shape:
            raise TypeError(f"custom_jvp rule {jvp!r} produced a tangent of shape "
                            f"{get_aval(t).shape} for an output of shape {a.shape}")
        del o
    return out_leaves, list(t_leaves)


def _custom_jvp_batch(axis: Any, values: list, dims: list, *, call_jaxpr: ClosedJaxpr,
                      jvp: _Rule) -> tuple[list, list]:
    in_batched = [d is not None for d in dims]
    batched, _ = batch_jaxpr(call_jaxpr, axis, in_batched, instantiate=True)
    moved = [move_axis(v, d, 0, axis.size) if d is not None else v
             for v, d in zip(values, dims, strict=True)]
    axes_tree = tree_unflatten(jvp.in_tree, [0 if b else None
                                             for b in in_batched[jvp.num_consts:]])

    def batched_rule(*args: Any) -> Any:
        *nondiff_vals, primals, tangents = args

        def one(p: Any, t: Any) -> Any:
            out, out_t = jvp.fn(*nondiff_vals, p, t)
            t_leaves = tree_flatten(out_t, is_leaf=lambda z: type(z) is Zero)[0]
            return out, tree_unflatten(tree_flatten(out)[1], [instantiate(x) for x in t_leaves])

        return vmap(one, in_axes=(axes_tree, axes_tree), axis_size=axis.size)(primals, tangents)

    rule = _Rule(batched_rule, jvp.in_tree, jvp.nondiff, jvp.num_consts, jvp.out_tree)
    outs = custom_jvp_call_p.bind(*moved, call_jaxpr=batched, jvp=rule)
    return outs, [0] * len(outs)


custom_jvp_call_p.jvp = _custom_jvp_rule
custom_jvp_call_p.batch = _custom_jvp_batch


class custom_jvp:  # noqa: N801 - JAX's name
    """A function with a user-defined jvp: decorate, then ``@f.defjvp`` a rule
    ``jvp(primals, tangents) -> (primal_out, tangent_out)`` (nondiff args come first)."""

    def __init__(self, fun: Callable[..., Any], nondiff_argnums: Sequence[int] = ()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.jvp: Callable[..., Any] | None = None

    def defjvp(self, jvp: Callable[..., Any]) -> Callable[..., Any]:
        self.jvp = jvp
        return jvp

    def defjvps(self, *jvps: Callable[..., Any] | None) -> None:
        """One rule per argument: ``jvp_i(tangent_i, primal_out, *primals)``."""

        def jvp(primals: tuple, tangents: tuple) -> tuple[Any, Any]:
            out = self.fun(*primals)
            total: Any = None
            for rule, t in zip(jvps, tangents, strict=True):
                if rule is None:
                    continue
                contribution = rule(t, out, *primals)
                total = contribution if total is None else total + contribution
            return out, total if total is not None else tree_unflatten(
                tree_flatten(out)[1], [zeros_from_aval(tangent_aval(get_aval(o)))
                                       for o in tree_flatten(out)[0]])

        self.jvp = jvp

    def __call__(self, *args: Any) -> Any:
        if self.jvp is None:
            raise AttributeError(f"no jvp rule defined for custom_jvp function "
                                 f"{getattr(self.fun, '__name__', self.fun)}; use defjvp")
        opened, consts, leaves, in_tree, out_tree, nondiff = _trace_call(
            self.fun, args, self.nondiff_argnums)
        rule = _Rule(self.jvp, in_tree, nondiff, len(consts), out_tree)
        outs = custom_jvp_call_p.bind(*consts, *leaves, call_jaxpr=opened, jvp=rule)
        return tree_unflatten(out_tree, outs)


# --- custom_vjp --------------------------------------------------------------------------------

custom_vjp_call_p = Primitive("custom_vjp_call", multiple_results=True)
custom_vjp_call_p.def_abstract_eval(lambda *avals, call_jaxpr, fwd, bwd: call_jaxpr.out_avals)
custom_vjp_call_p.def_impl(lambda *values, call_jaxpr, fwd, bwd: _evaluate(call_jaxpr, *values))

custom_lin_p = Primitive("custom_lin", multiple_results=True)


@custom_lin_p.def_abstract_eval
def _custom_lin_abstract(*avals: ShapedArray, num_res: int, bwd: _Rule,
                         out_avals: tuple[ShapedArray, ...]) -> list[ShapedArray]:
    return list(out_avals)


@custom_lin_p.def_impl
def _custom_lin_impl(*values: np.ndarray, num_res: int, bwd: _Rule,
                     out_avals: tuple[ShapedArray, ...]) -> list[np.ndarray]:
    raise TypeError(f"can't apply forward-mode autodiff (jvp) to a custom_vjp function "
                    f"({bwd!r}); use reverse mode (grad, vjp) or define a custom_jvp")


def _custom_lin_transpose(cts: list, *args: Any, num_res: int, bwd: _Rule,
                          out_avals: tuple[ShapedArray, ...]) -> list:
    residuals = tree_unflatten(bwd.res_tree[0], args[:num_res])
    ct_out = tree_unflatten(bwd.out_tree, [instantiate(c) for c in cts])
    nondiff_vals = [bwd.nondiff[i] for i in sorted(bwd.nondiff)]
    cts_in = bwd.fn(*nondiff_vals, residuals, ct_out)
    if not isinstance(cts_in, tuple):
        raise TypeError(f"custom_vjp bwd rule {bwd!r} must return a tuple with one cotangent "
                        f"per differentiable argument, got {type(cts_in).__name__}")
    leaves, tree = tree_flatten(cts_in, is_leaf=lambda x: x is None)
    if tree != bwd.in_tree and tree_flatten(cts_in)[1] != bwd.in_tree:
        raise TypeError(f"custom_vjp bwd rule {bwd!r} returned cotangents of structure {tree}, "
                        f"expected {bwd.in_tree}")
    lin_avals = [a.aval for a in args[num_res:]]
    out = [zeros_from_aval(a) if c is None else c for c, a in zip(leaves, lin_avals, strict=True)]
    return [None] * num_res + out


custom_lin_p.transpose = _custom_lin_transpose


def _custom_vjp_jvp(primals: list, tangents: list, *, call_jaxpr: ClosedJaxpr, fwd: _Rule,
                    bwd: _Rule) -> tuple[list, list]:
    args = primals[fwd.num_consts:]
    full = fwd.full_args(args)
    out, residuals = fwd.fn(*full)
    out_leaves, out_tree = tree_flatten(out)
    if out_tree != fwd.out_tree:
        raise TypeError(f"custom_vjp fwd rule {fwd!r} must return (output, residuals) with the "
                        f"function's output structure {fwd.out_tree}; got {out_tree}")
    res_leaves, res_tree = tree_flatten(residuals)
    bwd.res_tree[:] = [res_tree]
    arg_tangents = [instantiate(t) for t in tangents[fwd.num_consts:]]
    out_avals = tuple(tangent_aval(get_aval(o)) for o in out_leaves)
    t_out = custom_lin_p.bind(*res_leaves, *arg_tangents, num_res=len(res_leaves), bwd=bwd,
                              out_avals=out_avals)
    return out_leaves, t_out


def _custom_vjp_batch(axis: Any, values: list, dims: list, *, call_jaxpr: ClosedJaxpr,
                      fwd: _Rule, bwd: _Rule) -> tuple[list, list]:
    in_batched = [d is not None for d in dims]
    batched, _ = batch_jaxpr(call_jaxpr, axis, in_batched, instantiate=True)
    moved = [move_axis(v, d, 0, axis.size) if d is not None else v
             for v, d in zip(values, dims, strict=True)]
    arg_axes = tuple(0 if b else None for b in in_batched[fwd.num_consts:])
    nondiff_vals = [fwd.nondiff[i] for i in sorted(fwd.nondiff)]

    def batched_fwd(*full: Any) -> Any:
        diff = [a for i, a in enumerate(full) if i not in fwd.nondiff]
        leaves = tree_flatten(tuple(diff))[0]
        return vmap(lambda *xs: fwd.fn(*fwd.full_args(xs)), in_axes=arg_axes,
                    axis_size=axis.size)(*leaves)

    def batched_bwd(*args: Any) -> Any:
        residuals, ct = args[-2], args[-1]
        cts = vmap(lambda r, c: bwd.fn(*nondiff_vals, r, c), axis_size=axis.size)(
            residuals, ct)
        leaves, tree = tree_flatten(cts, is_leaf=lambda x: x is None)
        summed = [c if c is None or ax == 0 else reduce_sum_p.bind(c, axes=(0,))
                  for c, ax in zip(leaves, arg_axes, strict=True)]
        return tree_unflatten(tree, summed)

    new_fwd = _Rule(batched_fwd, fwd.in_tree, fwd.nondiff, fwd.num_consts, fwd.out_tree)
    new_bwd = _Rule(batched_bwd, bwd.in_tree, bwd.nondiff, bwd.num_consts, bwd.out_tree)
    outs = custom_vjp_call_p.bind(*moved, call_jaxpr=batched, fwd=new_fwd, bwd=new_bwd)
    return outs, [0] * len(outs)


custom_vjp_call_p.jvp = _custom_vjp_jvp
custom_vjp_call_p.batch = _custom_vjp_batch


class custom_vjp:  # noqa: N801 - JAX's name
    """A function with a user-defined vjp: ``f.defvjp(fwd, bwd)`` where
    ``fwd(*args) -> (out, residuals)`` and ``bwd(*nondiff_args, residuals, ct) -> tuple of
    cotangents`` (one per differentiable argument; None means zero)."""

    def __init__(self, fun: Callable[..., Any], nondiff_argnums: Sequence[int] = ()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.fwd: Callable[..., Any] | None = None
        self.bwd: Callable[..., Any] | None = None

    def defvjp(self, fwd: Callable[..., Any], bwd: Callable[..., Any],
               symbolic_zeros: bool = False) -> None:
        del symbolic_zeros
        self.fwd = fwd
        self.bwd = bwd

    def __call__(self, *args: Any) -> Any:
        if self.fwd is None or self.bwd is None:
            raise AttributeError(f"no vjp rules defined for custom_vjp function "
                                 f"{getattr(self.fun, '__name__', self.fun)}; use defvjp")
        opened, consts, leaves, in_tree, out_tree, nondiff = _trace_call(
            self.fun, args, self.nondiff_argnums)
        fwd = _Rule(self.fwd, in_tree, nondiff, len(consts), out_tree)
        bwd = _Rule(self.bwd, in_tree, nondiff, len(consts), out_tree)
        outs = custom_vjp_call_p.bind(*consts, *leaves, call_jaxpr=opened, fwd=fwd, bwd=bwd)
        return tree_unflatten(out_tree, outs)
