"""The jaxpr IR: typed variables, literals, equations, printer, typechecker and evaluator.

A ``Jaxpr`` is a function in A-normal form: ``constvars`` and ``invars`` are its inputs, ``eqns``
apply primitives to atoms (variables or literals) and bind new variables, ``outvars`` are the
results. A ``ClosedJaxpr`` pairs a jaxpr with the values of its constvars.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from fborn.core.array import ArrayImpl
from fborn.core.aval import ShapedArray
from fborn.core.errors import FbornError
from fborn.core.primitive import Primitive


class Var:
    """A variable of a jaxpr, with its abstract value. Identity is object identity."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"Var({self.aval.str_short()})"


class Literal:
    """A constant scalar written inline in a jaxpr (``1.0:f32[]``)."""

    __slots__ = ("value", "aval")

    def __init__(self, value: ArrayImpl):
        self.value = value
        self.aval = value.aval

    def __repr__(self) -> str:
        return f"Literal({self.value.item()!r})"


Atom = Var | Literal


class JaxprEqn:
    """``outvars = primitive[params] invars``."""

    __slots__ = ("primitive", "invars", "outvars", "params")

    def __init__(self, primitive: Primitive, invars: list[Atom], outvars: list[Var], params: dict):
        self.primitive = primitive
        self.invars = invars
        self.outvars = outvars
        self.params = params

    def __repr__(self) -> str:
        return pp_eqn(self, _Names())


class Jaxpr:
    """A typed first-order program: ``{ lambda constvars ; invars . let eqns in outvars }``."""

    __slots__ = ("constvars", "invars", "outvars", "eqns")

    def __init__(self, constvars: list[Var], invars: list[Var], outvars: list[Atom],
                 eqns: list[JaxprEqn]):
        self.constvars = constvars
        self.invars = invars
        self.outvars = outvars
        self.eqns = eqns

    @property
    def in_avals(self) -> list[ShapedArray]:
        return [v.aval for v in self.invars]

    @property
    def out_avals(self) -> list[ShapedArray]:
        return [v.aval for v in self.outvars]

    def __str__(self) -> str:
        return pp_jaxpr(self)

    __repr__ = __str__


class ClosedJaxpr:
    """A jaxpr with the values of its constvars (``consts``)."""

    __slots__ = ("jaxpr", "consts")

    def __init__(self, jaxpr: Jaxpr, consts: Sequence[Any]):
        if len(consts) != len(jaxpr.constvars):
            raise ValueError("ClosedJaxpr: one const value is needed per constvar")
        self.jaxpr = jaxpr
        self.consts = list(consts)

    @property
    def in_avals(self) -> list[ShapedArray]:
        return self.jaxpr.in_avals

    @property
    def out_avals(self) -> list[ShapedArray]:
        return self.jaxpr.out_avals

    @property
    def eqns(self) -> list[JaxprEqn]:
        return self.jaxpr.eqns

    def __str__(self) -> str:
        return pp_jaxpr(self.jaxpr)

    __repr__ = __str__


# --- printing ----------------------------------------------------------------------------------

class _Names:
    """Gives variables the short names ``a b ... z ba bb ...`` in order of first appearance."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}

    def __call__(self, var: Var) -> str:
        key = id(var)
        if key not in self.names:
            n = len(self.names)
            letters = ""
            while True:
                letters = chr(ord("a") + n % 26) + letters
                n //= 26
                if n == 0:
                    break
            self.names[key] = letters
        return self.names[key]


def _pp_atom(atom: Atom, names: _Names) -> str:
    if isinstance(atom, Literal):
        value = atom.value.item()
        return f"{value!r}:{atom.aval.str_short()}"
    return names(atom)


def _pp_binder(var: Var, names: _Names) -> str:
    return f"{names(var)}:{var.aval.str_short()}"


def _pp_param(value: Any, names: _Names, indent: int) -> str:
    if isinstance(value, ClosedJaxpr):
        value = value.jaxpr
    if isinstance(value, Jaxpr):
        return _pp_jaxpr(value, names, indent + 4)
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, tuple) and any(isinstance(v, (Jaxpr, ClosedJaxpr)) for v in value):
        return "(" + " ".join(_pp_param(v, names, indent) for v in value) + ")"
    return repr(value)


def pp_eqn(eqn: JaxprEqn, names: _Names, indent: int = 0) -> str:
    params = " ".join(
        f"{k}={_pp_param(v, names, indent)}" for k, v in sorted(eqn.params.items())
    )
    lhs = " ".join(_pp_binder(v, names) for v in eqn.outvars) or "_"
    rhs = " ".join(_pp_atom(a, names) for a in eqn.invars)
    head = f"{eqn.primitive.name}[{params}]" if params else eqn.primitive.name
    return f"{lhs} = {head} {rhs}".rstrip()


def _pp_jaxpr(jaxpr: Jaxpr, names: _Names, indent: int = 0) -> str:
    consts = " ".join(_pp_binder(v, names) for v in jaxpr.constvars)
    args = " ".join(_pp_binder(v, names) for v in jaxpr.invars)
    pad = " " * indent
    lines = [f"{{ lambda {consts}; {args}. let"]
    lines += [f"{pad}    {pp_eqn(e, names, indent)}" for e in jaxpr.eqns]
    outs = ", ".join(_pp_atom(a, names) for a in jaxpr.outvars)
    lines.append(f"{pad}  in ({outs},) }}" if len(jaxpr.outvars) == 1 else f"{pad}  in ({outs}) }}")
    return "\n".join(lines)


def pp_jaxpr(jaxpr: Jaxpr) -> str:
    """The jaxpr as text, e.g. ``{ lambda ; a:f32[3]. let b:f32[3] = sin a in (b,) }``."""
    return _pp_jaxpr(jaxpr, _Names())


# --- typechecking ------------------------------------------------------------------------------

class JaxprTypeError(FbornError, TypeError):
    """A jaxpr is ill-typed (a pass or transform produced a wrong program)."""


def _same_type(a: ShapedArray, b: ShapedArray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype


def typecheck_jaxpr(jaxpr: Jaxpr) -> None:
    """Check that every variable is bound once before use and every equation's output avals
    equal its primitive's abstract evaluation; raises JaxprTypeError naming the equation."""
    bound: set[int] = set()

    def bind_var(v: Var) -> None:
        if id(v) in bound:
            raise JaxprTypeError(f"variable {v} is bound twice")
        bound.add(id(v))

    def read(a: Atom, where: str) -> ShapedArray:
        if isinstance(a, Var) and id(a) not in bound:
            raise JaxprTypeError(f"{where} uses a variable before it is bound: {a}")
        return a.aval

    for v in (*jaxpr.constvars, *jaxpr.invars):
        bind_var(v)
    for eqn in jaxpr.eqns:
        in_avals = [read(a, eqn.primitive.name) for a in eqn.invars]
        for value in eqn.params.values():
            if isinstance(value, ClosedJaxpr):
                typecheck_jaxpr(value.jaxpr)
            elif isinstance(value, Jaxpr):
                typecheck_jaxpr(value)
        try:
            expected = eqn.primitive.abstract_eval(*in_avals, **eqn.params)
        except FbornError as e:
            raise JaxprTypeError(f"equation `{eqn}` does not typecheck: {e}") from None
        if not eqn.primitive.multiple_results:
            expected = [expected]
        if len(expected) != len(eqn.outvars) or not all(
            _same_type(e, v.aval) for e, v in zip(expected, eqn.outvars, strict=False)
        ):
            raise JaxprTypeError(
                f"equation `{eqn}` binds {[v.aval for v in eqn.outvars]} but its primitive "
                f"gives {list(expected)}"
            )
        for v in eqn.outvars:
            bind_var(v)
    for a in jaxpr.outvars:
        read(a, "the output")


# --- evaluation --------------------------------------------------------------------------------

def eval_jaxpr(jaxpr: Jaxpr, consts: Sequence[Any], *args: Any) -> list[Any]:
    """Evaluate ``jaxpr`` on ``args`` by binding each equation under the current interpreter
    (so evaluating a jaxpr inside a transform transforms it). Returns the list of outputs."""
    if len(args) != len(jaxpr.invars):
        raise TypeError(f"eval_jaxpr: the jaxpr takes {len(jaxpr.invars)} inputs, got {len(args)}")
    env: dict[int, Any] = {}
    for v, x in zip(jaxpr.constvars, consts, strict=True):
        env[id(v)] = x
    for v, x in zip(jaxpr.invars, args, strict=True):
        env[id(v)] = x

    def read(a: Atom) -> Any:
        return a.value if isinstance(a, Literal) else env[id(a)]

    for eqn in jaxpr.eqns:
        outs = eqn.primitive.bind(*[read(a) for a in eqn.invars], **eqn.params)
        if not eqn.primitive.multiple_results:
            outs = [outs]
        for v, x in zip(eqn.outvars, outs, strict=True):
            env[id(v)] = x
    return [read(a) for a in jaxpr.outvars]


_Built = TypeVar("_Built")


class PerJaxpr(Generic[_Built]):
    """Values built once per ClosedJaxpr object (and ``extra`` key), such as its compiled
    executable. Keyed by identity: jaxprs are immutable, and each entry holds its jaxpr, so
    the id cannot be reused while the entry lives."""

    def __init__(self) -> None:
        self._entries: dict[tuple[int, Hashable], tuple[ClosedJaxpr, _Built]] = {}

    def get(self, closed: ClosedJaxpr, build: Callable[[], _Built],
            extra: Hashable = None) -> _Built:
        """The value for ``closed`` (and ``extra``), built by ``build()`` the first time."""
        key = (id(closed), extra)
        hit = self._entries.get(key)
        if hit is not None and hit[0] is closed:
            return hit[1]
        value = build()
        self._entries[key] = (closed, value)
        return value
