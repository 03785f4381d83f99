"""The differentiation API: ``jvp``, ``linearize``, ``vjp``, ``grad``, ``value_and_grad``,
``jacfwd``, ``jacrev``, ``hessian`` (names and semantics of JAX).

Reverse mode is linearize + transpose: ``jvp`` runs on top of a partial evaluator with known
primals and unknown tangents, which records the linear tangent program; the backward pass
transposes it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fborn.core import dtypes
from fborn.core.array import ArrayImpl
from fborn.core.jaxpr import ClosedJaxpr, eval_jaxpr
from fborn.core.trace import current_interpreter, get_aval, set_interpreter
from fborn.core.tree import PyTreeDef, tree_flatten, tree_structure, tree_unflatten
from fborn.primitives.rules import (
    UndefinedPrimal,
    Zero,
    instantiate,
    is_differentiable,
    tangent_aval,
)
from fborn.transforms.ad import JVPInterpreter, jvp_flat
from fborn.transforms.partial_eval import PartialEvalInterpreter
from fborn.transforms.transpose import backward_pass
from fborn.transforms.vmap import vmap

float0 = np.dtype([("float0", np.void, 0)])


def _float0_zeros(aval: Any) -> np.ndarray:
    """The cotangent of an integer input: a float0 array, as JAX returns."""
    return np.zeros(aval.shape, dtype=float0)


def _flatten_fun(fun: Callable[..., Any], in_tree: PyTreeDef, has_aux: bool = False
                 ) -> tuple[Callable[..., list[Any]], list[Any]]:
    """A flat version of ``fun`` and a box receiving (out_tree, aux)."""
    box: list[Any] = []

    def flat(*leaves: Any) -> list[Any]:
        out = fun(*tree_unflatten(in_tree, leaves))
        aux = None
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError("a function with has_aux=True must return a pair (output, aux)")
            out, aux = out
        out_leaves, out_tree = tree_flatten(out)
        box.append((out_tree, aux))
        return out_leaves

    return flat, box


def _check_tangents(primals: list[Any], tangents: list[Any]) -> list[Any]:
    out = []
    for p, t in zip(primals, tangents, strict=True):
        pa = get_aval(p)
        if not is_differentiable(pa):
            out.append(Zero(tangent_aval(pa)))
            continue
        ta = get_aval(t)
        if ta.shape != pa.shape:
            raise ValueError(
                f"jvp called with different primal and tangent shapes; got primal shape "
                f"{pa.shape} and tangent shape {ta.shape}"
            )
        if ta.dtype != pa.dtype:
            raise TypeError(
                f"primal and tangent arguments to fborn.jvp do not match; dtypes must be "
                f"equal, got primal dtype {pa.dtype} and tangent dtype {ta.dtype}"
            )
        out.append(t)
    return out


def jvp(fun: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any],
        has_aux: bool = False) -> Any:
    """``(fun(*primals), J(primals) @ tangents)``. ``primals`` and ``tangents`` are tuples of
    pytrees of the same structure, shapes and dtypes (ValueError/TypeError otherwise)."""
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("primal and tangent arguments to fborn.jvp must be tuples or lists; "
                        f"found {type(primals).__name__} and {type(tangents).__name__}")
    p_leaves, p_tree = tree_flatten(tuple(primals))
    t_leaves, t_tree = tree_flatten(tuple(tangents))
    if p_tree != t_tree:
        raise ValueError(f"primal and tangent arguments to fborn.jvp must have the same tree "
                         f"structure; primals have {p_tree} and tangents have {t_tree}")
    flat, box = _flatten_fun(fun, p_tree, has_aux)
    outs, out_tangents = jvp_flat(lambda *a: flat(*a), p_leaves,
                                  _check_tangents(p_leaves, t_leaves))
    out_tree, aux = box[0]
    result = (tree_unflatten(out_tree, outs),
              tree_unflatten(out_tree, [instantiate(t) for t in out_tangents]))
    return (*result, aux) if has_aux else result


class LinearizedFlat:
    """The result of linearizing a flat function: primal outputs and the linear jaxpr from
    the differentiable inputs' tangents to the output tangents (constvars = residuals)."""

    def __init__(self, primals_out: list[Any], linear: ClosedJaxpr, diff_mask: list[bool],
                 in_avals: list[Any], out_zero: list[bool]):
        self.primals_out = primals_out
        self.linear = linear
        self.diff_mask = diff_mask
        self.in_avals = in_avals
        self.out_zero = out_zero

    def jvp(self, tangents: Sequence[Any]) -> list[Any]:
        ins = [t for t, d in zip(tangents, self.diff_mask, strict=True) if d]
        return eval_jaxpr(self.linear.jaxpr, self.linear.consts, *ins)

    def vjp(self, cts: Sequence[Any]) -> list[Any]:
        undefined = [UndefinedPrimal(v.aval) for v in self.linear.jaxpr.invars]
        cts_in = backward_pass(self.linear.jaxpr, self.linear.consts, undefined, list(cts))
        it = iter(cts_in)
        return [instantiate(next(it)) if d else _float0_zeros(a)
                for d, a in zip(self.diff_mask, self.in_avals, strict=True)]


def linearize_flat(fun: Callable[..., Sequence[Any]], primals: Sequence[Any]) -> LinearizedFlat:
    """Linearize ``fun`` (flat in, flat out) at ``primals``."""
    in_avals = [get_aval(p) for p in primals]
    diff_mask = [is_differentiable(a) for a in in_avals]
    pe = PartialEvalInterpreter(current_interpreter())
    jvp_interp = JVPInterpreter(pe)
    tangent_args = [pe.new_arg(tangent_aval(a)) for a, d in zip(in_avals, diff_mask, strict=True)
                    if d]
    it = iter(tangent_args)
    tangents = [next(it) if d else Zero(tangent_aval(a))
                for a, d in zip(in_avals, diff_mask, strict=True)]
    try:
        with set_interpreter(jvp_interp):
            ins = [jvp_interp.wrap(p, t) for p, t in zip(primals, tangents, strict=True)]
            outs = fun(*ins)
        pairs = [jvp_interp.unpack(o) for o in outs]
    finally:
        jvp_interp.alive = False
    out_zero = [type(t) is Zero for _, t in pairs]
    with set_interpreter(pe.parent):
        out_tangents = [instantiate(t) for _, t in pairs]
    linear = pe.finish(tangent_args, out_tangents)
    return LinearizedFlat([p for p, _ in pairs], linear, diff_mask, in_avals, out_zero)


def linearize(fun: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[..., Any]]:
    """``(fun(*primals), f_jvp)`` where ``f_jvp(*tangents)`` applies the linear map
    (evaluating the stored linear program, not re-running ``fun``)."""
    leaves, in_tree = tree_flatten(primals)
    flat, box = _flatten_fun(fun, in_tree)
    lin = linearize_flat(flat, leaves)
    out_tree, _ = box[0]

    def f_jvp(*tangents: Any) -> Any:
        t_leaves, t_tree = tree_flatten(tangents)
        if t_tree != in_tree:
            raise ValueError(f"linearized function called on tangents with structure {t_tree}, "
                             f"expected {in_tree}")
        return tree_unflatten(out_tree, lin.jvp(_check_tangents(leaves, t_leaves)))

    return tree_unflatten(out_tree, lin.primals_out), f_jvp


def vjp(fun: Callable[..., Any], *primals: Any, has_aux: bool = False) -> Any:
    """``(fun(*primals), vjp_fun[, aux])``; ``vjp_fun(ct)`` returns a tuple with the cotangent
    of each primal (same pytree types; float0 zeros for integer inputs)."""
    leaves, in_tree = tree_flatten(primals)
    flat, box = _flatten_fun(fun, in_tree, has_aux)
    lin = linearize_flat(flat, leaves)
    out_tree, aux = box[0]
    out_avals = [get_aval(p) for p in lin.primals_out]

    def vjp_fun(ct: Any) -> tuple[Any, ...]:
        ct_leaves, ct_tree = tree_flatten(ct)
        if ct_tree != out_tree:
            raise ValueError(f"vjp function called with a cotangent of structure {ct_tree}, but "
                             f"the primal output has structure {out_tree}")
        for c, a in zip(ct_leaves, out_avals, strict=True):
            ca = get_aval(c)
            if ca.shape != a.shape:
                raise ValueError(f"vjp cotangent shape {ca.shape} does not match the primal "
                                 f"output shape {a.shape}")
        return tree_unflatten(in_tree, lin.vjp(ct_leaves))

    primals_out = tree_unflatten(out_tree, lin.primals_out)
    return (primals_out, vjp_fun, aux) if has_aux else (primals_out, vjp_fun)


def _argnums_tuple(argnums: int | Sequence[int], nargs: int, fname: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for n in nums:
        if not -nargs <= n < nargs:
            raise TypeError(f"{fname}: argnums {argnums} out of range for a function called "
                            f"with {nargs} positional arguments")
    return tuple(n % nargs for n in nums)


def _check_input_dtypes(fname: str, args: Sequence[Any], allow_int: bool) -> None:
    for leaf in tree_flatten(args)[0]:
        aval = get_aval(leaf)
        if not allow_int and not dtypes.is_float(aval.dtype):
            raise TypeError(
                f"{fname} requires real-valued inputs (input dtype that is a sub-dtype of "
                f"np.floating), but got {aval.dtype.name}. If you want to use Boolean- or "
                f"integer-valued inputs, use vjp or set allow_int to True."
            )


def value_and_grad(fun: Callable[..., Any], argnums: int | Sequence[int] = 0,
                   has_aux: bool = False, allow_int: bool = False) -> Callable[..., Any]:
    """A function returning ``(fun(*args), gradient)`` with respect to ``args[argnums]`` (a
    tuple of gradients for tuple ``argnums``); ``fun`` must return a real scalar."""

    @functools.wraps(fun)
    def value_and_grad_fun(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums_tuple(argnums, len(args), "grad")
        diff_args = tuple(args[i] for i in nums)
        _check_input_dtypes("grad", diff_args, allow_int)

        def partial_fun(*dyn: Any) -> Any:
            full = list(args)
            for i, d in zip(nums, dyn, strict=True):
                full[i] = d
            return fun(*full, **kwargs)

        out = vjp(partial_fun, *diff_args, has_aux=has_aux)
        value, vjp_fun = out[0], out[1]
        aval = get_aval(value) if not isinstance(value, (list, tuple, dict)) else None
        if aval is None or aval.shape != ():
            shape = aval.shape if aval is not None else type(value).__name__
            raise TypeError(f"Gradient only defined for scalar-output functions. Output had "
                            f"shape: {shape}.")
        if not dtypes.is_float(aval.dtype):
            raise TypeError(f"grad requires real-valued outputs (output dtype that is a sub-dtype "
                            f"of np.floating), but got {aval.dtype.name}.")
        one = ArrayImpl(np.ones((), aval.dtype))
        grads = vjp_fun(one)
        g = grads[0] if isinstance(argnums, int) else grads
        return ((value, out[2]), g) if has_aux else (value, g)

    return value_and_grad_fun


def grad(fun: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False,
         allow_int: bool = False) -> Callable[..., Any]:
    """The gradient of a scalar-valued ``fun`` with respect to ``args[argnums]``."""
    vg = value_and_grad(fun, argnums, has_aux, allow_int)

    @functools.wraps(fun)
    def grad_fun(*args: Any, **kwargs: Any) -> Any:
        (value, g) = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return grad_fun


def _std_basis(avals: Sequence[Any]) -> list[Any]:
    """Rows of the identity over the concatenated flat inputs, split per input: each is
    (n_total, *shape)."""
    from fborn.lax import _ops as lax

    sizes = [a.size for a in avals]
    total = sum(sizes)
    dtype = dtypes.promote_types_weak(*[(a.dtype, False) for a in avals])[0] if avals else \
        dtypes.default_float()
    eye = lax.convert_element_type(
        lax.eq(lax.broadcasted_iota(dtypes.int32, (total, total), 0),
               lax.broadcasted_iota(dtypes.int32, (total, total), 1)), dtype)
    out, start = [], 0
    for a, n in zip(avals, sizes, strict=True):
        block = lax.slice(eye, (0, start), (total, start + n))
        out.append(lax.convert_element_type(lax.reshape(block, (total, *a.shape)), a.dtype))
        start += n
    return out


def _jacobian_setup(fun: Callable[..., Any], argnums: int | Sequence[int], args: tuple,
                    kwargs: dict, has_aux: bool, fname: str, allow_int: bool
                    ) -> tuple[list[Any], PyTreeDef, Callable[..., list[Any]], list[Any]]:
    """The differentiated arguments' leaves and treedef, and ``fun`` as a flat function of
    them (with the box that receives its output treedef and aux)."""
    nums = _argnums_tuple(argnums, len(args), fname)
    dyn = tuple(args[i] for i in nums) if not isinstance(argnums, int) else args[nums[0]]
    leaves, in_tree = tree_flatten(dyn)
    _check_input_dtypes(fname, leaves, allow_int)

    def f_of_dyn(d: Any) -> Any:
        full = list(args)
        for i, v in zip(nums, d if not isinstance(argnums, int) else (d,), strict=True):
            full[i] = v
        return fun(*full, **kwargs)

    flat, box = _flatten_fun(f_of_dyn, tree_structure((dyn,)), has_aux)
    return leaves, in_tree, flat, box


def jacfwd(fun: Callable[..., Any], argnums: int | Sequence[int] = 0,
           has_aux: bool = False) -> Callable[..., Any]:
    """The Jacobian of ``fun`` by forward mode (one jvp per input element, vmapped). Each output
    leaf gets a tree of blocks shaped ``out.shape + in.shape``."""

    def jac_fun(*args: Any, **kwargs: Any) -> Any:
        leaves, in_tree, flat, box = _jacobian_setup(fun, argnums, args, kwargs, has_aux,
                                                     "jacfwd", False)
        in_avals = [get_aval(x) for x in leaves]

        def pushforward(*basis: Any) -> list[Any]:
            outs, tans = jvp_flat(lambda *a: flat(*a), leaves, list(basis))
            pushforward.primals = outs  # type: ignore[attr-defined]
            return [instantiate(t) for t in tans]

        stacked = vmap(pushforward)(*_std_basis(in_avals))
        primals = pushforward.primals  # type: ignore[attr-defined]
        out_tree, aux = box[0]
        per_out = []
        for s, p in zip(stacked, primals, strict=True):
            moved = _move_first_to_last(s)
            blocks = _split_last(moved, in_avals, get_aval(p).shape)
            per_out.append(tree_unflatten(in_tree, blocks))
        jac = tree_unflatten(out_tree, per_out)
        return (jac, aux) if has_aux else jac

    return jac_fun


def _move_first_to_last(x: Any) -> Any:
    from fborn.lax import _ops as lax

    nd = get_aval(x).ndim
    return lax.transpose(x, (*range(1, nd), 0))


def _split_last(x: Any, in_avals: Sequence[Any], out_shape: tuple[int, ...]) -> list[Any]:
    """Split the last (basis) axis of ``x`` per input leaf, shaped ``out_shape + in.shape``."""
    from fborn.lax import _ops as lax

    blocks, start = [], 0
    nd = get_aval(x).ndim
    for a in in_avals:
        starts = [0] * nd
        limits = list(get_aval(x).shape)
        starts[-1], limits[-1] = start, start + a.size
        blocks.append(lax.reshape(lax.slice(x, starts, limits), (*out_shape, *a.shape)))
        start += a.size
    return blocks


def jacrev(fun: Callable[..., Any], argnums: int | Sequence[int] = 0,
           has_aux: bool = False, allow_int: bool = False) -> Callable[..., Any]:
    """The Jacobian of ``fun`` by reverse mode (one vjp per output element, vmapped)."""

    def jac_fun(*args: Any, **kwargs: Any) -> Any:
        leaves, in_tree, flat, box = _jacobian_setup(fun, argnums, args, kwargs, has_aux,
                                                     "jacrev", allow_int)
        lin = linearize_flat(flat, leaves)
        out_avals = [get_aval(p) for p in lin.primals_out]
        in_avals = [get_aval(x) for x in leaves]
        stacked = vmap(lambda *cts: lin.vjp(list(cts)))(*_std_basis(out_avals))
        out_tree, aux = box[0]
        per_out_rows = []
        for j, a_in in enumerate(in_avals):
            rows = _split_first(stacked[j], out_avals, a_in.shape)
            per_out_rows.append(rows)
        per_out = [tree_unflatten(in_tree, [per_out_rows[j][i] for j in range(len(in_avals))])
                   for i in range(len(out_avals))]
        jac = tree_unflatten(out_tree, per_out)
        return (jac, aux) if has_aux else jac

    return jac_fun


def _split_first(x: Any, out_avals: Sequence[Any], in_shape: tuple[int, ...]) -> list[Any]:
    """Split the first (basis) axis of ``x`` per output leaf, shaped ``out.shape + in_shape``."""
    from fborn.lax import _ops as lax

    blocks, start = [], 0
    nd = get_aval(x).ndim
    for a in out_avals:
        starts = [0] * nd
        limits = list(get_aval(x).shape)
        starts[0], limits[0] = start, start + a.size
        blocks.append(lax.reshape(lax.slice(x, starts, limits), (*a.shape, *in_shape)))
        start += a.size
    return blocks


def hessian(fun: Callable[..., Any], argnums: int | Sequence[int] = 0,
            has_aux: bool = False) -> Callable[..., Any]:
    """``jacfwd(jacrev(fun))``: the Hessian of a scalar function."""
    return jacfwd(jacrev(fun, argnums, has_aux), argnums, has_aux)

