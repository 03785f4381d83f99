"""The scheduler: partition a jaxpr into kernels (the fusion policy of DESIGN rule 5).

Every jaxpr value is either a *buffer* (materialized) or a *lazy* value: a function from an
output index to a scalar expression. Elementwise operations compose lazy values; broadcasts,
transposes, slices, reversals and reshapes only rewrite the index; reductions absorb their lazy
producers; tuned routines (dot_general) read buffers. A lazy value is materialized when it is a
program output, feeds a routine, is used several times and is not cheap to recompute, or grows
too large. Primitives without a lowering raise ``LoweringError`` naming them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fborn.core import dtypes
from fborn.core.errors import FbornError
from fborn.core.jaxpr import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var
from fborn.lowering.kernel_ir import (
    INDEX,
    Binary,
    BufferInfo,
    Cast,
    Const,
    Expr,
    Load,
    LoopIndex,
    LoopKernel,
    Program,
    ReduceKernel,
    Routine,
    Select,
    Unary,
    index_add,
    index_const,
    index_mul,
    linear_address,
)

Index = tuple[Expr, ...]
MAX_FUSED_NODES = 64
MAX_RECOMPUTED_NODES = 24


class LoweringError(FbornError, NotImplementedError):
    """A primitive (or a dtype, or a parameter) has no lowering to kernels yet."""


@dataclass
class Lazy:
    """A value computed on demand: ``build(index)`` gives its element at ``index``."""

    shape: tuple[int, ...]
    dtype: np.dtype
    build: Callable[[Index], Expr]
    size_hint: int = 1
    cheap: bool = False


def _count_nodes(e: Expr, limit: int) -> int:
    seen: set[int] = set()
    stack = [e]
    while stack and len(seen) <= limit:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for child in ("x", "a", "b", "pred", "on_true", "on_false", "address"):
            sub = getattr(node, child, None)
            if isinstance(sub, Expr):
                stack.append(sub)
    return len(seen)


class Scheduler:
    """Builds a ``Program`` from a closed jaxpr. A scheduler made with a ``parent`` (see
    ``nested``) shares its buffers, constants and buffer names but has its own statements."""

    def __init__(self, parent: Scheduler | None = None) -> None:
        self.buffers: dict[str, BufferInfo] = parent.buffers if parent else {}
        self.statements: list[Any] = []
        self.constants: dict[str, np.ndarray] = parent.constants if parent else {}
        self.values: dict[int, Lazy | str] = {}
        self.uses: dict[int, int] = {}
        self._names: Iterator[int] = parent._names if parent else itertools.count()

    # --- buffers ---------------------------------------------------------------------------
    def new_buffer(self, shape: tuple[int, ...], dtype: np.dtype, prefix: str = "t") -> str:
        name = f"{prefix}{next(self._names)}"
        self.buffers[name] = BufferInfo(tuple(shape), np.dtype(dtype))
        return name

    def buffer_lazy(self, name: str) -> Lazy:
        info = self.buffers[name]
        shape = info.shape

        def build(index: Index) -> Expr:
            return Load(name, linear_address(index, shape), info.dtype)

        return Lazy(shape, info.dtype, build)

    def materialize(self, value: Lazy | str) -> str:
        if isinstance(value, str):
            return value
        name = self.new_buffer(value.shape, value.dtype)
        loop = tuple(LoopIndex(i) for i in range(len(value.shape)))
        self.statements.append(LoopKernel(name, value.shape, value.build(loop)))
        return name

    # --- reading values --------------------------------------------------------------------
    def lazy(self, atom: Any) -> Lazy:
        if isinstance(atom, Literal):
            value = np.asarray(atom.value)
            const = Const(value.item(), value.dtype)
            return Lazy((), value.dtype, lambda index: const, cheap=True)
        value = self.values[id(atom)]
        return self.buffer_lazy(value) if isinstance(value, str) else value

    def buffer(self, atom: Any) -> str:
        if isinstance(atom, Literal):
            name = self.new_buffer((), atom.aval.dtype, "c")
            self.constants[name] = np.asarray(atom.value).reshape(1)
            return name
        value = self.values[id(atom)]
        if isinstance(value, str):
            return value
        name = self.materialize(value)
        self.values[id(atom)] = name
        return name

    def define(self, var: Var, value: Lazy | str) -> None:
        """Bind ``var``; lazy values used several times are materialized unless cheap."""
        if isinstance(value, Lazy):
            loop = tuple(LoopIndex(i) for i in range(len(value.shape)))
            nodes = _count_nodes(value.build(loop), MAX_FUSED_NODES)
            if nodes >= MAX_FUSED_NODES or (self.uses.get(id(var), 0) > 1 and not value.cheap
                                            and nodes > MAX_RECOMPUTED_NODES):
                value = self.materialize(value)
        self.values[id(var)] = value

    # --- the jaxpr walk --------------------------------------------------------------------
    def run(self, closed: ClosedJaxpr) -> Program:
        jaxpr = closed.jaxpr
        self._count_uses(jaxpr)
        inputs = []
        for v in jaxpr.invars:
            name = self.new_buffer(v.aval.shape, v.aval.dtype, "in")
            inputs.append(name)
            self.values[id(v)] = name
        self._lower(closed)
        outputs = []
        for atom in jaxpr.outvars:
            name = self.buffer(atom)
            if name in inputs or name in self.constants or name in outputs:
                copy = self.new_buffer(self.buffers[name].shape, self.buffers[name].dtype)
                loop = tuple(LoopIndex(i) for i in range(len(self.buffers[name].shape)))
                self.statements.append(LoopKernel(copy, self.buffers[name].shape,
                                                  self.buffer_lazy(name).build(loop)))
                name = copy
            outputs.append(name)
        return Program(inputs, outputs, self.buffers, self.statements, self.constants)

    def nested(self, closed: ClosedJaxpr, inputs: Sequence[str]) -> Scheduler:
        """Schedule ``closed`` (the body of a control-flow primitive) into a new scheduler's
        own ``statements``, its invars reading the buffers ``inputs``; read its results with
        ``.lazy`` / ``.buffer`` on ``closed.jaxpr.outvars`` (which appends to its statements)."""
        child = Scheduler(self)
        child._count_uses(closed.jaxpr)
        for v, name in zip(closed.jaxpr.invars, inputs, strict=True):
            child.values[id(v)] = name
        child._lower(closed)
        return child

    def _lower(self, closed: ClosedJaxpr) -> None:
        """Bind the constvars of ``closed`` to constant buffers and lower its equations."""
        jaxpr = closed.jaxpr
        for v, c in zip(jaxpr.constvars, closed.consts, strict=True):
            name = self.new_buffer(v.aval.shape, v.aval.dtype, "c")
            self.constants[name] = np.ascontiguousarray(np.asarray(c)).reshape(-1)
            self.values[id(v)] = name
        for eqn in jaxpr.eqns:
            rule = LOWERINGS.get(eqn.primitive.name)
            if rule is None:
                raise LoweringError(
                    f"primitive '{eqn.primitive.name}' has no lowering to the kernel IR yet "
                    f"(equation: {eqn})"
                )
            rule(self, eqn)

    def _count_uses(self, jaxpr: Jaxpr) -> None:
        for eqn in jaxpr.eqns:
            for a in eqn.invars:
                if isinstance(a, Var):
                    self.uses[id(a)] = self.uses.get(id(a), 0) + 1
        for a in jaxpr.outvars:
            if isinstance(a, Var):
                self.uses[id(a)] = self.uses.get(id(a), 0) + 2


def schedule(closed: ClosedJaxpr) -> Program:
    """Partition ``closed`` into kernels (raises LoweringError for unsupported primitives)."""
    return Scheduler().run(closed)


# --- lowering rules ----------------------------------------------------------------------------

LOWERINGS: dict[str, Callable[[Scheduler, JaxprEqn], None]] = {}


def _elementwise(op: str) -> Callable[[Scheduler, JaxprEqn], None]:
    def rule(s: Scheduler, eqn: JaxprEqn) -> None:
        ins = [s.lazy(a) for a in eqn.invars]
        out = eqn.outvars[0].aval

        def build(index: Index) -> Expr:
            operands = [x.build(index if x.shape else ()) for x in ins]
            if len(operands) == 1:
                return Unary(op, operands[0], out.dtype)
            return Binary(op, operands[0], operands[1], out.dtype)

        s.define(eqn.outvars[0], Lazy(out.shape, out.dtype, build,
                                      cheap=all(x.cheap for x in ins)))

    return rule


UNARY_OPS = ["neg", "sign", "floor", "ceil", "is_finite", "exp", "exp2", "log", "expm1",
             "log1p", "tanh", "logistic", "sin", "cos", "tan", "asin", "acos", "atan", "sinh",
             "cosh", "asinh", "acosh", "atanh", "sqrt", "rsqrt", "cbrt", "abs", "square", "not",
             "erf", "erfc", "erf_inv", "lgamma", "digamma", "stop_gradient"]
BINARY_OPS = ["add", "sub", "mul", "div", "rem", "pow", "max", "min", "atan2", "nextafter",
              "and", "or", "xor", "shift_left", "shift_right_logical", "shift_right_arithmetic",
              "eq", "ne", "lt", "le", "gt", "ge"]
for _name in UNARY_OPS + BINARY_OPS:
    LOWERINGS[_name] = _elementwise(_name)


def _round(s: Scheduler, eqn: JaxprEqn) -> None:
    (x,) = [s.lazy(a) for a in eqn.invars]
    op = "round_away" if eqn.params["rounding_method"] == 0 else "round_even"
    out = eqn.outvars[0].aval
    s.define(eqn.outvars[0], Lazy(out.shape, out.dtype,
                                  lambda i: Unary(op, x.build(i), out.dtype), cheap=x.cheap))


def _integer_pow(s: Scheduler, eqn: JaxprEqn) -> None:
    (x,) = [s.lazy(a) for a in eqn.invars]
    y = eqn.params["y"]
    out = eqn.outvars[0].aval

    def build(index: Index) -> Expr:
        base = x.build(index)
        if y == 0:
            return Const(1, out.dtype)
        acc: Expr | None = None
        power, n = base, abs(y)
        while n:
            if n & 1:
                acc = power if acc is None else Binary("mul", acc, power, out.dtype)
            n >>= 1
            if n:
                power = Binary("mul", power, power, out.dtype)
        assert acc is not None
        return Binary("div", Const(1, out.dtype), acc, out.dtype) if y < 0 else acc

    s.define(eqn.outvars[0], Lazy(out.shape, out.dtype, build, cheap=x.cheap))


def _convert(s: Scheduler, eqn: JaxprEqn) -> None:
    (x,) = [s.lazy(a) for a in eqn.invars]
    out = eqn.outvars[0].aval
    s.define(eqn.outvars[0], Lazy(out.shape, out.dtype, lambda i: Cast(x.build(i), out.dtype),
                                  cheap=x.cheap))


def _select_n(s: Scheduler, eqn: JaxprEqn) -> None:
    which, *cases = [s.lazy(a) for a in eqn.invars]
    out = eqn.outvars[0].aval

    def build(index: Index) -> Expr:
        w = which.build(index if which.shape else ())
        values = [c.build(index) for c in cases]
        if len(values) == 1:
            return values[0]
        if which.dtype == dtypes.bool_:
            return Select(w, values[1], values[0], out.dtype)
        result = values[-1]
        for k in range(len(values) - 2, -1, -1):
            result = Select(Binary("le", w, Const(k, which.dtype), dtypes.bool_), values[k],
                            result, out.dtype)
        return result

    s.define(eqn.outvars[0], Lazy(out.shape, out.dtype, build,
                                  cheap=which.cheap and all(c.cheap for c in cases)))


def _clamp(s: Scheduler, eqn: JaxprEqn) -> None:
    lo, x, hi = [s.lazy(a) for a in eqn.invars]
    out = eqn.outvars[0].aval

    def build(index: Index) -> Expr:
        v = x.build(index)
        low = lo.build(index if lo.shape else ())
        high = hi.build(index if hi.shape else ())
        return Binary("min", Binary("max", v, low, out.dtype), high, out.dtype)

    s.define(eqn.outvars[0], Lazy(out.shape, out.dtype, build))


LOWERINGS["round"] = _round
LOWERINGS["integer_pow"] = _integer_pow
LOWERINGS["convert_element_type"] = _convert
LOWERINGS["select_n"] = _select_n
LOWERINGS["clamp"] = _clamp


# --- views: index rewriting only ---------------------------------------------------------------

def _view(s: Scheduler, eqn: JaxprEqn, remap: Callable[[Index], Index]) -> None:
    x = s.lazy(eqn.invars[0])
    out = eqn.outvars[0].aval
    s.define(eqn.outvars[0], Lazy(out.shape, out.dtype, lambda i: x.build(remap(i)),
                                  cheap=x.cheap))


def _broadcast_in_dim(s: Scheduler, eqn: JaxprEqn) -> None:
    in_shape = eqn.invars[0].aval.shape
    dims = eqn.params["broadcast_dimensions"]
    _view(s, eqn, lambda i: tuple(index_const(0) if in_shape[k] == 1 else i[d]
                                  for k, d in enumerate(dims)))


def _transpose(s: Scheduler, eqn: JaxprEqn) -> None:
    perm = eqn.params["permutation"]
    inverse = [0] * len(perm)
    for out_axis, in_axis in enumerate(perm):
        inverse[in_axis] = out_axis
    _view(s, eqn, lambda i: tuple(i[inverse[k]] for k in range(len(perm))))


def _slice(s: Scheduler, eqn: JaxprEqn) -> None:
    starts = eqn.params["start_indices"]
    steps = eqn.params["strides"] or (1,) * len(starts)
    _view(s, eqn, lambda i: tuple(index_add(index_mul(i[k], steps[k]), index_const(starts[k]))
                                  for k in range(len(starts))))


def _rev(s: Scheduler, eqn: JaxprEqn) -> None:
    shape = eqn.invars[0].aval.shape
    dims = set(eqn.params["dimensions"])
    _view(s, eqn, lambda i: tuple(
        Binary("sub", index_const(shape[k] - 1), i[k], INDEX) if k in dims else i[k]
        for k in range(len(shape))))


def _squeeze(s: Scheduler, eqn: JaxprEqn) -> None:
    shape = eqn.invars[0].aval.shape
    dims = set(eqn.params["dimensions"])

    def remap(i: Index) -> Index:
        it = iter(i)
        return tuple(index_const(0) if k in dims else next(it) for k in range(len(shape)))

    _view(s, eqn, remap)


def _reshape(s: Scheduler, eqn: JaxprEqn) -> None:
    in_shape = eqn.invars[0].aval.shape
    out_shape = eqn.outvars[0].aval.shape
    kept_in = [d for d in in_shape if d != 1]
    kept_out = [d for d in out_shape if d != 1]
    if kept_in == kept_out:  # only unit axes added or removed: a pure view

        def remap(i: Index) -> Index:
            it = iter([e for e, d in zip(i, out_shape, strict=True) if d != 1])
            return tuple(index_const(0) if d == 1 else next(it) for d in in_shape)

        _view(s, eqn, remap)
        return
    source = s.buffer(eqn.invars[0])
    info = s.buffers[source]
    out = eqn.outvars[0].aval

    def build(index: Index) -> Expr:
        return Load(source, linear_address(index, out_shape), info.dtype)

    s.define(eqn.outvars[0], Lazy(out.shape, out.dtype, build))


def _iota(s: Scheduler, eqn: JaxprEqn) -> None:
    out = eqn.outvars[0].aval
    dim = eqn.params["dimension"]
    s.define(eqn.outvars[0], Lazy(out.shape, out.dtype, lambda i: Cast(i[dim], out.dtype),
                                  cheap=True))


LOWERINGS["broadcast_in_dim"] = _broadcast_in_dim
LOWERINGS["transpose"] = _transpose
LOWERINGS["slice"] = _slice
LOWERINGS["rev"] = _rev
LOWERINGS["squeeze"] = _squeeze
LOWERINGS["reshape"] = _reshape
LOWERINGS["iota"] = _iota


def _concatenate(s: Scheduler, eqn: JaxprEqn) -> None:
    parts = [s.lazy(a) for a in eqn.invars]
    dim = eqn.params["dimension"]
    out = eqn.outvars[0].aval

    def build(index: Index) -> Expr:
        placed, start = [], 0  # (part, offset) of the parts that hold elements
        for p in parts:
            if p.shape[dim]:
                placed.append((p, start))
            start += p.shape[dim]
        if not placed:  # the output is empty: no element is ever computed
            return Const(0, out.dtype)
        last, last_offset = placed[-1]
        result = last.build(_shift(index, dim, last_offset, last.shape[dim]))
        for p, off in reversed(placed[:-1]):
            inside = Binary("lt", index[dim], index_const(off + p.shape[dim]), dtypes.bool_)
            result = Select(inside, p.build(_shift(index, dim, off, p.shape[dim])), result,
                            out.dtype)
        return result

    s.define(eqn.outvars[0], Lazy(out.shape, out.dtype, build))


def _shift(index: Index, dim: int, offset: int, size: int) -> Index:
    """``index`` moved back by ``offset`` along ``dim`` and clamped into ``[0, size)``: both
    sides of a Select are computed, so a part's loads must stay inside it even where another
    part's value is taken."""
    shifted = index_add(index[dim], index_const(-offset))
    clamped = Binary("min", Binary("max", shifted, index_const(0), INDEX),
                     index_const(max(size - 1, 0)), INDEX)
    return tuple(clamped if k == dim else e for k, e in enumerate(index))


def _pad(s: Scheduler, eqn: JaxprEqn) -> None:
    x, value = [s.lazy(a) for a in eqn.invars]
    config = eqn.params["padding_config"]
    out = eqn.outvars[0].aval
    in_shape = eqn.invars[0].aval.shape

    def build(index: Index) -> Expr:
        conditions: list[Expr] = []
        source = []
        for k, (lo, _, interior) in enumerate(config):
            shifted = index_add(index[k], index_const(-lo))
            step = interior + 1
            if step > 1:
                conditions.append(Binary("eq", Binary("mod", shifted, index_const(step), INDEX),
                                         index_const(0), dtypes.bool_))
                shifted = Binary("floordiv", shifted, index_const(step), INDEX)
            conditions.append(Binary("ge", shifted, index_const(0), dtypes.bool_))
            conditions.append(Binary("lt", shifted, index_const(in_shape[k]), dtypes.bool_))
            source.append(shifted)
        inside: Expr = conditions[0] if conditions else Const(True, dtypes.bool_)
        for c in conditions[1:]:
            inside = Binary("and", inside, c, dtypes.bool_)
        clamped = tuple(Binary("min", Binary("max", e, index_const(0), INDEX),
                               index_const(max(n - 1, 0)), INDEX)
                        for e, n in zip(source, in_shape, strict=True))
        return Select(inside, x.build(clamped), value.build(()), out.dtype)

    s.define(eqn.outvars[0], Lazy(out.shape, out.dtype, build))


LOWERINGS["concatenate"] = _concatenate
LOWERINGS["pad"] = _pad


# --- reductions --------------------------------------------------------------------------------

def _reduction(op: str) -> Callable[[Scheduler, JaxprEqn], None]:
    def rule(s: Scheduler, eqn: JaxprEqn) -> None:
        x = s.lazy(eqn.invars[0])
        axes = tuple(eqn.params["axes"])
        out = eqn.outvars[0].aval
        kept = [k for k in range(len(x.shape)) if k not in axes]
        red_shape = tuple(x.shape[k] for k in axes)
        loop: list[Expr] = [index_const(0)] * len(x.shape)
        for pos, k in enumerate(kept):
            loop[k] = LoopIndex(pos)
        for pos, k in enumerate(axes):
            loop[k] = LoopIndex(len(kept) + pos)
        name = s.new_buffer(out.shape, out.dtype)
        index_dtype = eqn.params.get("index_dtype")
        s.statements.append(ReduceKernel(name, out.shape, red_shape, op, x.build(tuple(loop)),
                                         x.dtype, index_dtype))
        s.define(eqn.outvars[0], name)

    return rule


for _op in ("sum", "max", "min", "prod", "and", "or"):
    LOWERINGS[f"reduce_{_op}"] = _reduction(_op)
LOWERINGS["argmax"] = _reduction("argmax")
LOWERINGS["argmin"] = _reduction("argmin")


# --- routines ----------------------------------------------------------------------------------

def _dot_general(s: Scheduler, eqn: JaxprEqn) -> None:
    # Float results go to the BLAS routine (16-bit floats widened to float32 there: 60x faster
    # than the reduction at 64x400x120); integer and bool results to a reduction kernel.
    if eqn.outvars[0].aval.dtype not in (*_BLAS_DTYPES, *_HALF_DTYPES):
        _dot_general_reduction(s, eqn)
        return
    lhs, rhs = (s.buffer(a) for a in eqn.invars)
    out = eqn.outvars[0].aval
    name = s.new_buffer(out.shape, out.dtype)
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    s.statements.append(Routine("dot_general", [lhs, rhs], [name], {
        "lhs_shape": eqn.invars[0].aval.shape, "rhs_shape": eqn.invars[1].aval.shape,
        "lc": tuple(lc), "rc": tuple(rc), "lb": tuple(lb), "rb": tuple(rb),
        "out_dtype": out.dtype,
    }))
    s.define(eqn.outvars[0], name)


_BLAS_DTYPES = (dtypes.float32, dtypes.float64)
_HALF_DTYPES = (dtypes.float16, dtypes.bfloat16)


def _dot_general_reduction(s: Scheduler, eqn: JaxprEqn) -> None:
    """A product with no BLAS type (integers, bools, 16-bit floats) as one reduction kernel over
    the contracting axes of the converted operands: a sum of products (bools: an or of ands;
    16-bit floats accumulate in float32), the operands read lazily."""
    lhs, rhs = (s.lazy(a) for a in eqn.invars)
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    out = eqn.outvars[0].aval
    work = dtypes.float32 if out.dtype in _HALF_DTYPES else out.dtype
    lf = [i for i in range(len(lhs.shape)) if i not in lc and i not in lb]
    rf = [i for i in range(len(rhs.shape)) if i not in rc and i not in rb]

    def index(ndim: int, batch: Sequence[int], free: Sequence[int], first_free: int,
              contracting: Sequence[int]) -> Index:
        loop: list[Expr] = [index_const(0)] * ndim
        starts = (0, first_free, len(out.shape))
        for axes, start in zip((batch, free, contracting), starts, strict=True):
            for position, axis in enumerate(axes, start):
                loop[axis] = LoopIndex(position)
        return tuple(loop)

    a = Cast(lhs.build(index(len(lhs.shape), lb, lf, len(lb), lc)), work)
    b = Cast(rhs.build(index(len(rhs.shape), rb, rf, len(lb) + len(lf), rc)), work)
    op = "or" if work == dtypes.bool_ else "sum"
    value = Binary("and" if op == "or" else "mul", a, b, work)
    name = s.new_buffer(out.shape, out.dtype)
    s.statements.append(ReduceKernel(name, out.shape, tuple(lhs.shape[i] for i in lc), op,
                                     value, work))
    s.define(eqn.outvars[0], name)


LOWERINGS["dot_general"] = _dot_general


def _inline_call(param: str) -> Callable[[Scheduler, JaxprEqn], None]:
    """Call-like primitives (jit, checkpoint, custom derivatives): compile their body inline."""

    def rule(s: Scheduler, eqn: JaxprEqn) -> None:
        closed: ClosedJaxpr = eqn.params[param]
        inner = closed.jaxpr
        for v, c in zip(inner.constvars, closed.consts, strict=True):
            name = s.new_buffer(v.aval.shape, v.aval.dtype, "c")
            s.constants[name] = np.ascontiguousarray(np.asarray(c)).reshape(-1)
            s.values[id(v)] = name
        s._count_uses(inner)
        for v, a in zip(inner.invars, eqn.invars, strict=True):
            s.define(v, s.lazy(a) if isinstance(a, Literal) else s.values[id(a)])
        for inner_eqn in inner.eqns:
            rule_ = LOWERINGS.get(inner_eqn.primitive.name)
            if rule_ is None:
                raise LoweringError(f"primitive '{inner_eqn.primitive.name}' has no lowering "
                                    f"to the kernel IR yet (equation: {inner_eqn})")
            rule_(s, inner_eqn)
        for v, a in zip(eqn.outvars, inner.outvars, strict=True):
            s.values[id(v)] = s.lazy(a) if isinstance(a, Literal) else s.values[id(a)]

    return rule


LOWERINGS["jit"] = _inline_call("jaxpr")
LOWERINGS["checkpoint"] = _inline_call("jaxpr")
LOWERINGS["custom_jvp_call"] = _inline_call("call_jaxpr")
LOWERINGS["custom_vjp_call"] = _inline_call("call_jaxpr")
LOWERINGS["name"] = lambda s, eqn: s.define(eqn.outvars[0], s.lazy(eqn.invars[0]))

