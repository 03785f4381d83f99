"""``checkpoint`` (``remat``): trade compute for memory in reverse mode.

``checkpoint(f)`` stages ``f`` as the higher-order primitive ``checkpoint_p``. Its partial
evaluation rule consults a *policy* to decide which intermediates the forward pass may store;
the others are recomputed during the backward pass from the stored ones (by default only the
inputs are stored). ``checkpoint_name(x, name)`` tags a value for
``save_only_these_names``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fborn.core.aval import ShapedArray
from fborn.core.jaxpr import ClosedJaxpr
from fborn.core.primitive import Primitive
from fborn.core.staging import StagingInterpreter, StagingTracer, trace_to_jaxpr
from fborn.core.trace import set_interpreter
from fborn.core.tree import keystr, tree_flatten, tree_flatten_with_path, tree_unflatten
from fborn.primitives import dot as _dot
from fborn.primitives import rules
from fborn.primitives.rules import Zero, instantiate, is_undefined
from fborn.transforms.ad import jvp_jaxpr
from fborn.transforms.batching import batch_jaxpr, move_axis
from fborn.transforms.jit import _evaluate, close_over_consts
from fborn.transforms.make_jaxpr import abstractify
from fborn.transforms.partial_eval import partial_eval_call
from fborn.transforms.transpose import transpose_jaxpr

Policy = Callable[..., bool]

checkpoint_p = Primitive("checkpoint", multiple_results=True)
name_p = Primitive("name")


# --- policies (which values the forward pass may store) ----------------------------------------

def everything_saveable(prim: Primitive, *avals: ShapedArray, **params: Any) -> bool:
    """Store every intermediate (no recomputation)."""
    return True


def nothing_saveable(prim: Primitive, *avals: ShapedArray, **params: Any) -> bool:
    """Store only the checkpointed function's inputs; recompute everything else."""
    return False


def dots_saveable(prim: Primitive, *avals: ShapedArray, **params: Any) -> bool:
    """Store the results of matrix products (``dot_general``); recompute the rest."""
    return prim is _dot.dot_general_p


checkpoint_dots = dots_saveable


def save_only_these_names(*names: str) -> Policy:
    """Store only values tagged with ``checkpoint_name(x, name)`` for one of ``names``."""
    wanted = frozenset(names)

    def policy(prim: Primitive, *avals: ShapedArray, **params: Any) -> bool:
        return prim is name_p and params.get("name") in wanted

    return policy


def save_any_names_but_these(*names: str) -> Policy:
    """Store every tagged value except those tagged with one of ``names``."""
    excluded = frozenset(names)

    def policy(prim: Primitive, *avals: ShapedArray, **params: Any) -> bool:
        return prim is name_p and params.get("name") not in excluded

    return policy


# --- checkpoint_name ---------------------------------------------------------------------------

name_p.def_abstract_eval(lambda x, *, name: x)
name_p.def_impl(lambda x, *, name: x)
rules.deflinear(name_p)
name_p.transpose = lambda ct, x, *, name: [ct]
rules.batch_elementwise(name_p)


def checkpoint_name(x: Any, name: str) -> Any:
    """Tag ``x`` (a pytree of arrays) with ``name`` for checkpoint policies; returns it."""
    leaves, tree = tree_flatten(x)
    return tree_unflatten(tree, [name_p.bind(leaf, name=name) for leaf in leaves])


# --- the checkpoint primitive ------------------------------------------------------------------

@checkpoint_p.def_abstract_eval
def _checkpoint_abstract(*avals: ShapedArray, jaxpr: ClosedJaxpr, policy: Policy | None,
                         prevent_cse: bool) -> list[ShapedArray]:
    return jaxpr.out_avals


@checkpoint_p.def_impl
def _checkpoint_impl(*values: np.ndarray, jaxpr: ClosedJaxpr, policy: Policy | None,
                     prevent_cse: bool) -> list[np.ndarray]:
    return _evaluate(jaxpr, *values)


def _checkpoint_jvp(primals: list, tangents: list, *, jaxpr: ClosedJaxpr,
                    policy: Policy | None, prevent_cse: bool) -> tuple[list, list]:
    nonzeros = [type(t) is not Zero for t in tangents]
    jvp_closed, out_nonzeros = jvp_jaxpr(jaxpr, nonzeros, instantiate=False)
    outs = checkpoint_p.bind(*primals, *[t for t in tangents if type(t) is not Zero],
                             jaxpr=jvp_closed, policy=policy, prevent_cse=prevent_cse)
    n = len(jaxpr.out_avals)
    it = iter(outs[n:])
    return outs[:n], [next(it) if nz else Zero(a.strip_weak_type())
                      for a, nz in zip(jaxpr.out_avals, out_nonzeros, strict=True)]


def _checkpoint_partial_eval(pe: Any, args: Sequence[Any], params: dict) -> list[Any]:
    return partial_eval_call(pe, checkpoint_p, args, params,
                             policy=params["policy"] or nothing_saveable)


def _checkpoint_transpose(cts: list, *args: Any, jaxpr: ClosedJaxpr, policy: Policy | None,
                          prevent_cse: bool) -> list:
    linear = [is_undefined(a) for a in args]
    transposed = transpose_jaxpr(jaxpr, linear)
    nonlinear = [a for a in args if not is_undefined(a)]
    outs = checkpoint_p.bind(*nonlinear, *[instantiate(c) for c in cts], jaxpr=transposed,
                             policy=policy, prevent_cse=prevent_cse)
    it = iter(outs)
    return [next(it) if lin else None for lin in linear]


def _checkpoint_batch(axis: Any, values: list, dims: list, *, jaxpr: ClosedJaxpr,
                      policy: Policy | None, prevent_cse: bool) -> tuple[list, list]:
    batched, out_batched = batch_jaxpr(jaxpr, axis, [d is not None for d in dims], False)
    moved = [move_axis(v, d, 0, axis.size) if d is not None else v
             for v, d in zip(values, dims, strict=True)]
    outs = checkpoint_p.bind(*moved, jaxpr=batched, policy=policy, prevent_cse=prevent_cse)
    return outs, [0 if b else None for b in out_batched]


checkpoint_p.jvp = _checkpoint_jvp
checkpoint_p.partial_eval = _checkpoint_partial_eval
checkpoint_p.transpose = _checkpoint_transpose
checkpoint_p.batch = _checkpoint_batch


def checkpoint(fun: Callable[..., Any], *, prevent_cse: bool = True,
               policy: Policy | None = None, static_argnums: int | Sequence[int] = ()
               ) -> Callable[..., Any]:
    """Make ``fun`` recompute its intermediates in the backward pass instead of storing them
    (``policy`` chooses values that may be stored, e.g. ``dots_saveable``)."""
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(fun)
    def remat_fun(*args: Any, **kwargs: Any) -> Any:
        static = {i % len(args) for i in nums}
        dyn = [a for i, a in enumerate(args) if i not in static]
        leaves, in_tree = tree_flatten((dyn, kwargs))
        box: list[Any] = []

        def flat(*xs: Any) -> list[Any]:
            d, kw = tree_unflatten(in_tree, xs)
            it = iter(d)
            full = [args[i] if i in static else next(it) for i in range(len(args))]
            out_leaves, out_tree = tree_flatten(fun(*full, **kw))
            box.append(out_tree)
            return out_leaves

        closed = trace_to_jaxpr(flat, [abstractify(x) for x in leaves])
        opened, consts = close_over_consts(closed)
        outs = checkpoint_p.bind(*consts, *leaves, jaxpr=opened, policy=policy,
                                 prevent_cse=prevent_cse)
        return tree_unflatten(box[0], outs)

    return remat_fun


remat = checkpoint


def saved_residuals(fun: Callable[..., Any], *args: Any, **kwargs: Any
                    ) -> list[tuple[ShapedArray, str]]:
    """What reverse mode stores for ``fun(*args)``: (aval, where it comes from) pairs."""
    from fborn.transforms.autodiff import linearize_flat

    paths_leaves, in_tree = tree_flatten_with_path(args)
    leaves = [leaf for _, leaf in paths_leaves]
    staging = StagingInterpreter()
    tracers = [staging.new_arg(abstractify(x)) for x in leaves]

    def flat(*xs: Any) -> list[Any]:
        return tree_flatten(fun(*tree_unflatten(in_tree, xs), **kwargs))[0]

    try:
        with set_interpreter(staging):
            lin = linearize_flat(flat, tracers)
    finally:
        staging.alive = False
    arg_index = {id(t.var): i for i, t in enumerate(tracers)}
    out = []
    for value in lin.linear.consts:
        aval = value.aval.strip_weak_type()
        if isinstance(value, StagingTracer) and value._interpreter is staging:
            var = value.var
            if id(var) in arg_index:
                path = paths_leaves[arg_index[id(var)]][0]
                out.append((aval, f"from the argument {_arg_name(fun, path)}"))
                continue
            eqn = staging.producers.get(id(var))
            out.append((aval, f"output of {eqn.primitive.name}" if eqn else "a constant"))
        else:
            out.append((aval, "a constant"))
    return out


def _arg_name(fun: Callable[..., Any], path: tuple) -> str:
    """``x`` or ``params['w']``: the parameter name of ``fun`` plus the path inside it."""
    index = path[0].idx
    try:
        params = [p.name for p in inspect.signature(fun).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        name = params[index]
    except (TypeError, ValueError, IndexError):
        name = f"args[{index}]"
    return name + keystr(path[1:])


def print_saved_residuals(fun: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Print what reverse mode stores for ``fun(*args)``, one line per residual."""
    for aval, where in saved_residuals(fun, *args, **kwargs):
        print(f"{aval.str_short()} {where}")
