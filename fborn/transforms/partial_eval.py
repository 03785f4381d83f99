"""Partial evaluation: split a computation into what is known now and what must wait.

The ``PartialEvalInterpreter`` forwards operations whose operands are all known to its parent
(they run now, or are staged by an enclosing trace) and records the others in a jaxpr whose
constvars are the *residuals*: known values the delayed part needs. Running ``jvp`` on top of it
with known primals and unknown tangents yields ``linearize``: the tangent jaxpr is linear and
its residuals are what reverse mode stores.

A *policy* (from ``checkpoint``) decides which known intermediates may be stored: the others
are recomputed inside the delayed jaxpr from stored values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fborn.core.jaxpr import Atom, ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var, eval_jaxpr
from fborn.core.primitive import Primitive
from fborn.core.staging import StagingInterpreter, StagingTracer
from fborn.core.trace import Interpreter, Tracer, leaked_tracer_error, set_interpreter

Policy = Callable[..., bool]


class PartialEvalInterpreter(StagingInterpreter):
    """Stages operations that touch its own (unknown) tracers; forwards the rest to ``parent``.

    ``known`` is the staging interpreter of the known side when partially evaluating a jaxpr
    (so the producers of known values can be looked up for recomputation under ``policy``).
    """

    name = "partial_eval"

    def __init__(self, parent: Interpreter, policy: Policy | None = None,
                 known: StagingInterpreter | None = None):
        super().__init__()
        self.parent = parent
        self.policy = policy
        self.known = known
        self._recomputed: dict[int, Atom] = {}

    def is_unknown(self, x: Any) -> bool:
        return isinstance(x, StagingTracer) and x._interpreter is self

    def process_primitive(self, prim: Primitive, args: Sequence[Any], params: dict) -> Any:
        if not any(self.is_unknown(a) for a in args):
            with set_interpreter(self.parent):
                return prim.bind(*args, **params)
        rule = getattr(prim, "partial_eval", None)
        if rule is not None:
            return rule(self, args, params)
        return self.add_eqn(prim, [self.to_atom(a) for a in args], params)

    def to_atom(self, x: Any) -> Atom:
        if self.is_unknown(x):
            return x.var
        if (self.known is not None and self.policy is not None
                and isinstance(x, StagingTracer) and x._interpreter is self.known):
            return self._known_var_atom(x.var)
        if isinstance(x, Tracer) and not x._interpreter.alive:
            raise leaked_tracer_error(x)
        return super().to_atom(x)

    def _known_var_atom(self, var: Var) -> Atom:
        """An atom for a known-side variable: a residual if the policy lets it be stored,
        else a recomputation of its producing equation inside the staged jaxpr."""
        memo = self._recomputed.get(id(var))
        if memo is not None:
            return memo
        assert self.known is not None and self.policy is not None
        eqn = self.known.producers.get(id(var))
        if eqn is None or self.policy(eqn.primitive, *[a.aval for a in eqn.invars],
                                      **eqn.params):
            atom = super().to_atom(StagingTracer(self.known, var))
        else:
            in_atoms = [a if isinstance(a, Literal) else self._known_var_atom(a)
                        for a in eqn.invars]
            outs = self.add_eqn(eqn.primitive, in_atoms, eqn.params)
            outs = outs if eqn.primitive.multiple_results else [outs]
            for v, o in zip(eqn.outvars, outs, strict=True):
                self._recomputed[id(v)] = o.var
            atom = self._recomputed[id(var)]
        self._recomputed[id(var)] = atom
        return atom


class PartialJaxpr:
    """The result of partially evaluating a jaxpr.

    ``known``: known inputs -> known outputs + residuals. ``unknown``: residuals + unknown
    inputs -> unknown outputs. ``out_unknowns`` flags which outputs are unknown.
    """

    __slots__ = ("known", "unknown", "out_unknowns", "num_res")

    def __init__(self, known: ClosedJaxpr, unknown: ClosedJaxpr, out_unknowns: list[bool],
                 num_res: int):
        self.known = known
        self.unknown = unknown
        self.out_unknowns = out_unknowns
        self.num_res = num_res


def partial_eval_jaxpr(closed: ClosedJaxpr, in_unknowns: Sequence[bool],
                       instantiate: bool | Sequence[bool] = False,
                       policy: Policy | None = None) -> PartialJaxpr:
    """Split ``closed`` given which inputs are unknown. Outputs flagged by ``instantiate`` are
    made unknown even if computable now (their known value is passed through as a residual)."""
    n_out = len(closed.jaxpr.outvars)
    force = [instantiate] * n_out if isinstance(instantiate, bool) else list(instantiate)
    known_side = StagingInterpreter()
    pe = PartialEvalInterpreter(known_side, policy, known_side)
    known_args, unknown_args, args = [], [], []
    for aval, unknown in zip(closed.in_avals, in_unknowns, strict=True):
        if unknown:
            t = pe.new_arg(aval)
            unknown_args.append(t)
        else:
            t = known_side.new_arg(aval)
            known_args.append(t)
        args.append(t)
    try:
        with set_interpreter(pe):
            outs = eval_jaxpr(closed.jaxpr, closed.consts, *args)
        out_unknowns = [pe.is_unknown(o) or f for o, f in zip(outs, force, strict=True)]
        unknown_outs = [pe.to_atom(o) for o, u in zip(outs, out_unknowns, strict=True) if u]
    finally:
        pe.alive = False
    residuals = list(pe.const_values)
    known_outs = [o for o, u in zip(outs, out_unknowns, strict=True) if not u]
    known = known_side.finish(known_args, known_outs + residuals)
    unknown = ClosedJaxpr(
        Jaxpr([], [*pe.constvars.values(), *[t.var for t in unknown_args]], unknown_outs,
              pe.eqns),
        [],
    )
    return PartialJaxpr(dce_closed_jaxpr(known), unknown, out_unknowns, len(residuals))


def dce_jaxpr(jaxpr: Jaxpr) -> Jaxpr:
    """Drop equations whose outputs are unused (inputs are kept so the signature is stable)."""
    live = {id(v) for v in jaxpr.outvars if isinstance(v, Var)}
    kept: list[JaxprEqn] = []
    for eqn in reversed(jaxpr.eqns):
        if any(id(v) in live for v in eqn.outvars) or getattr(eqn.primitive, "effectful", False):
            kept.append(eqn)
            live.update(id(a) for a in eqn.invars if isinstance(a, Var))
    kept.reverse()
    return Jaxpr(jaxpr.constvars, jaxpr.invars, jaxpr.outvars, kept)


def dce_closed_jaxpr(closed: ClosedJaxpr) -> ClosedJaxpr:
    return ClosedJaxpr(dce_jaxpr(closed.jaxpr), closed.consts)


def partial_eval_call(pe: PartialEvalInterpreter, prim: Primitive, args: Sequence[Any],
                      params: dict, jaxpr_param: str = "jaxpr",
                      policy: Policy | None = None) -> list[Any]:
    """Partial-eval rule for call-like primitives whose operands feed ``params[jaxpr_param]``:
    bind the known part now and stage the unknown part (its residuals as extra operands)."""
    closed: ClosedJaxpr = params[jaxpr_param]
    unknowns = [pe.is_unknown(a) for a in args]
    split = partial_eval_jaxpr(closed, unknowns, policy=policy)
    known_args = [a for a, u in zip(args, unknowns, strict=True) if not u]
    with set_interpreter(pe.parent):
        known_outs = prim.bind(*known_args, **{**params, jaxpr_param: split.known})
    n_known = len(known_outs) - split.num_res
    residuals = _forward_inputs(split.known.jaxpr, known_args, known_outs, n_known)
    unknown_args = [a for a, u in zip(args, unknowns, strict=True) if u]
    in_atoms = [pe.to_atom(a) for a in (*residuals, *unknown_args)]
    unknown_outs = pe.add_eqn(prim, in_atoms, {**params, jaxpr_param: split.unknown})
    known_iter, unknown_iter = iter(known_outs[:n_known]), iter(unknown_outs)
    return [next(unknown_iter) if u else next(known_iter) for u in split.out_unknowns]


def _forward_inputs(known: Jaxpr, known_args: Sequence[Any], known_outs: Sequence[Any],
                    n_known: int) -> list[Any]:
    """The residuals, taking those that merely pass a known input through from that input
    (so they are recognizably the input, and not an output of the call)."""
    position = {id(v): i for i, v in enumerate(known.invars)}
    return [known_args[position[id(v)]] if isinstance(v, Var) and id(v) in position else out
            for v, out in zip(known.outvars[n_known:], known_outs[n_known:], strict=True)]
