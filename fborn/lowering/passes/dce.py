"""Dead-code elimination: drop equations whose outputs are unused (side-effecting ones stay:
a primitive with a true ``effectful`` attribute, or a higher-order one whose jaxprs hold one),
and constvars nothing reads. Rules prune higher-order equations further: unused outputs and
operands of ``cond``, ``jit`` and ``checkpoint``; unused outputs (carries included, to a fixed
point), consts and xs of ``scan``; unused carries and consts of ``while``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fborn.core.jaxpr import ClosedJaxpr, Jaxpr, JaxprEqn, Var
from fborn.core.primitive import Primitive
from fborn.lax._control_flow import cond_p, scan_p, while_p
from fborn.lowering.passes._rewrite import SubjaxprMap, has_effects
from fborn.transforms.checkpoint import checkpoint_p
from fborn.transforms.jit import jit_p


def dce(closed: ClosedJaxpr) -> ClosedJaxpr:
    """``closed`` without dead equations and unused constvars, nested jaxprs included; the
    inputs and outputs are unchanged. Returns ``closed`` itself if nothing was dead."""
    return _Dce().full(closed)


def dce_jaxpr(jaxpr: Jaxpr) -> Jaxpr:
    """Drop dead equations of an open jaxpr, keeping its constvars and invars as they are
    (the contract of ``fborn.transforms.partial_eval.dce_jaxpr``)."""
    closed = _Dce().prune(ClosedJaxpr(jaxpr, [None] * len(jaxpr.constvars)),
                          [True] * len(jaxpr.outvars), keep_constvars=True)[0]
    return closed.jaxpr


EqnRule = Callable[["_Dce", JaxprEqn, list[bool]], JaxprEqn]


class _Dce:
    def __init__(self) -> None:
        self.nested = SubjaxprMap(self.full)

    def full(self, closed: ClosedJaxpr, loose: frozenset[int] = frozenset()) -> ClosedJaxpr:
        return self.prune(closed, [True] * len(closed.jaxpr.outvars))[0]

    def prune(self, closed: ClosedJaxpr, used_outputs: Sequence[bool],
              keep_constvars: bool = False) -> tuple[ClosedJaxpr, list[bool]]:
        """``closed`` reduced to its ``used_outputs``, and which of its invars it still
        reads. Returns ``closed`` itself when nothing could be dropped."""
        jaxpr = closed.jaxpr
        outvars = [v for v, u in zip(jaxpr.outvars, used_outputs, strict=True) if u]
        live = {id(v) for v in outvars if isinstance(v, Var)}
        kept: list[JaxprEqn] = []
        for eqn in reversed(jaxpr.eqns):
            used = [id(v) in live for v in eqn.outvars]
            if not any(used) and not has_effects(eqn):
                continue
            rule = DCE_RULES.get(eqn.primitive)
            new = rule(self, eqn, used) if rule else self._nested_only(eqn)
            live.update(id(a) for a in new.invars if isinstance(a, Var))
            kept.append(new)
        kept.reverse()
        pairs = [(v, c) for v, c in zip(jaxpr.constvars, closed.consts, strict=True)
                 if keep_constvars or id(v) in live]
        used_inputs = [id(v) in live for v in jaxpr.invars]
        unchanged = (len(kept) == len(jaxpr.eqns) and len(pairs) == len(jaxpr.constvars)
                     and len(outvars) == len(jaxpr.outvars)
                     and all(a is b for a, b in zip(kept, jaxpr.eqns, strict=True)))
        if unchanged:
            return closed, used_inputs
        new_jaxpr = Jaxpr([v for v, _ in pairs], jaxpr.invars, outvars, kept)
        return ClosedJaxpr(new_jaxpr, [c for _, c in pairs]), used_inputs

    def _nested_only(self, eqn: JaxprEqn) -> JaxprEqn:
        params = self.nested.params(eqn.params)
        return eqn if params is eqn.params else JaxprEqn(eqn.primitive, eqn.invars,
                                                         eqn.outvars, params)


def _select(items: Sequence, keep: Sequence[bool]) -> list:
    return [x for x, k in zip(items, keep, strict=True) if k]


def _drop_invars(closed: ClosedJaxpr, keep: Sequence[bool]) -> ClosedJaxpr:
    if all(keep):
        return closed
    j = closed.jaxpr
    return ClosedJaxpr(Jaxpr(j.constvars, _select(j.invars, keep), j.outvars, j.eqns),
                       closed.consts)


def _rebuilt(eqn: JaxprEqn, invars: list, outvars: list[Var], params: dict) -> JaxprEqn:
    same = (len(invars) == len(eqn.invars) and len(outvars) == len(eqn.outvars)
            and all(a is b for a, b in zip(params.values(), eqn.params.values(), strict=True)))
    return eqn if same else JaxprEqn(eqn.primitive, invars, outvars, params)


def _call_rule(param: str) -> EqnRule:
    """Calls (``jit``, ``checkpoint``): the body keeps the used outputs, operands it ignores go."""

    def rule(d: _Dce, eqn: JaxprEqn, used: list[bool]) -> JaxprEqn:
        body, used_in = d.prune(d.nested(eqn.params[param]), used)
        body = _drop_invars(body, used_in)
        return _rebuilt(eqn, _select(eqn.invars, used_in), _select(eqn.outvars, used),
                        {**eqn.params, param: body})

    return rule


def _cond_rule(d: _Dce, eqn: JaxprEqn, used: list[bool]) -> JaxprEqn:
    pruned = [d.prune(d.nested(br), used) for br in eqn.params["branches"]]
    used_in = [any(flags) for flags in zip(*(u for _, u in pruned), strict=True)]
    branches = tuple(_drop_invars(br, used_in) for br, _ in pruned)
    if all(a is b for a, b in zip(branches, eqn.params["branches"], strict=True)):
        branches = eqn.params["branches"]
    invars = [eqn.invars[0], *_select(eqn.invars[1:], used_in)]
    return _rebuilt(eqn, invars, _select(eqn.outvars, used), {**eqn.params,
                                                               "branches": branches})


def _scan_rule(d: _Dce, eqn: JaxprEqn, used: list[bool]) -> JaxprEqn:
    params = eqn.params
    nc, ncar = params["num_consts"], params["num_carry"]
    body = d.nested(params["jaxpr"])
    live_carry, used_ys = list(used[:ncar]), used[ncar:]
    while True:
        pruned, used_in = d.prune(body, live_carry + used_ys)
        grown = [a or b for a, b in zip(live_carry, used_in[nc:nc + ncar], strict=True)]
        if grown == live_carry:
            break
        live_carry = grown
    keep_in = [*used_in[:nc], *live_carry, *used_in[nc + ncar:]]
    new_params = {**params, "jaxpr": _drop_invars(pruned, keep_in),
                  "num_consts": sum(used_in[:nc]), "num_carry": sum(live_carry)}
    return _rebuilt(eqn, _select(eqn.invars, keep_in), _select(eqn.outvars, live_carry + used_ys),
                    new_params)


def _while_rule(d: _Dce, eqn: JaxprEqn, used: list[bool]) -> JaxprEqn:
    params = eqn.params
    cn, bn = params["cond_nconsts"], params["body_nconsts"]
    cond, cond_in = d.prune(d.nested(params["cond_jaxpr"]), [True])
    body = d.nested(params["body_jaxpr"])
    live = [a or b for a, b in zip(used, cond_in[cn:], strict=True)]
    while True:
        pruned, body_in = d.prune(body, live)
        grown = [a or b for a, b in zip(live, body_in[bn:], strict=True)]
        if grown == live:
            break
        live = grown
    cond_keep, body_keep = [*cond_in[:cn], *live], [*body_in[:bn], *live]
    new_params = {**params, "cond_jaxpr": _drop_invars(cond, cond_keep),
                  "body_jaxpr": _drop_invars(pruned, body_keep),
                  "cond_nconsts": sum(cond_in[:cn]), "body_nconsts": sum(body_in[:bn])}
    invars = [*_select(eqn.invars[:cn], cond_in[:cn]),
              *_select(eqn.invars[cn:cn + bn], body_in[:bn]),
              *_select(eqn.invars[cn + bn:], live)]
    return _rebuilt(eqn, invars, _select(eqn.outvars, live), new_params)


DCE_RULES: dict[Primitive, EqnRule] = {
    jit_p: _call_rule("jaxpr"),
    checkpoint_p: _call_rule("jaxpr"),
    cond_p: _cond_rule,
    scan_p: _scan_rule,
    while_p: _while_rule,
}
