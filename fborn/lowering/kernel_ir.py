"""The kernel IR: loop nests over flat buffers, independent of any backend.

A ``Program`` is a list of statements over named flat (1-D, row-major) buffers. Statements are
``LoopKernel`` (one output element per point of a loop nest), ``ReduceKernel`` (a loop nest with
an accumulator over reduced axes) and ``Routine`` (a call to tuned code: matrix products,
convolutions, sorts...); control flow stays structured as ``If``, ``While`` and ``Scan``
statements holding ``Block``s of statements (host-level loops and branches). Kernel bodies are
scalar expression DAGs (``Expr``) whose leaves are loads at integer address expressions,
constants and loop indices; broadcasts, transposes and slices therefore cost index arithmetic,
not copies. Renderers (numba, WGSL) print these.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class Expr:
    """A scalar expression. Subclasses are immutable and hashable (structural equality), so
    renderers can share repeated subexpressions."""

    __slots__ = ()
    dtype: np.dtype


@dataclass(frozen=True)
class Const(Expr):
    value: Any
    dtype: np.dtype


@dataclass(frozen=True)
class LoopIndex(Expr):
    """The value of loop variable ``axis`` of the enclosing kernel (int64)."""

    axis: int
    dtype: np.dtype = np.dtype(np.int64)


@dataclass(frozen=True)
class Load(Expr):
    buffer: str
    address: Expr
    dtype: np.dtype


@dataclass(frozen=True)
class Unary(Expr):
    op: str
    x: Expr
    dtype: np.dtype


@dataclass(frozen=True)
class Binary(Expr):
    op: str
    a: Expr
    b: Expr
    dtype: np.dtype


@dataclass(frozen=True)
class Select(Expr):
    """``on_true if pred else on_false``."""

    pred: Expr
    on_true: Expr
    on_false: Expr
    dtype: np.dtype


@dataclass(frozen=True)
class Cast(Expr):
    x: Expr
    dtype: np.dtype


INDEX = np.dtype(np.int64)


def index_const(value: int) -> Const:
    return Const(int(value), INDEX)


def index_add(a: Expr, b: Expr) -> Expr:
    """``a + b`` on index expressions, folding constants and zeros."""
    if isinstance(a, Const) and isinstance(b, Const):
        return index_const(a.value + b.value)
    if isinstance(a, Const) and a.value == 0:
        return b
    if isinstance(b, Const) and b.value == 0:
        return a
    return Binary("add", a, b, INDEX)


def index_mul(a: Expr, k: int) -> Expr:
    """``a * k`` for a constant ``k``, folding 0 and 1."""
    if k == 0:
        return index_const(0)
    if k == 1:
        return a
    if isinstance(a, Const):
        return index_const(a.value * k)
    return Binary("mul", a, index_const(k), INDEX)


def is_small_nonnegative(e: Expr) -> bool:
    """Whether integer expression ``e`` provably lies in ``[0, 2**63)`` (index arithmetic never
    overflows int64): such an address may be used as an unsigned index, which needs no
    negative-index wraparound (a wraparound turns a vectorized load into a gather)."""
    if isinstance(e, Const):
        return 0 <= int(e.value) < 1 << 63
    if isinstance(e, LoopIndex) or e.dtype == np.bool_ or (e.dtype.kind == "u"
                                                           and e.dtype.itemsize < 8):
        return True
    if isinstance(e, Cast):
        return e.dtype.kind in "iu" and e.x.dtype.kind in "iub" and is_small_nonnegative(e.x)
    if isinstance(e, Select):
        return is_small_nonnegative(e.on_true) and is_small_nonnegative(e.on_false)
    if isinstance(e, Binary):
        return _binary_small_nonnegative(e)
    return False


def _binary_small_nonnegative(e: Binary) -> bool:
    a, b = is_small_nonnegative(e.a), is_small_nonnegative(e.b)
    if e.op in ("add", "mul", "floordiv", "mod"):
        return a and b
    if e.op == "max":
        return a or b
    if e.op == "min":  # unsigned operands are >= 0; one operand below 2**63 bounds the result
        return (a or b) and all(x.dtype.kind in "ub" or ok for x, ok in ((e.a, a), (e.b, b)))
    return False


def linear_address(index: tuple[Expr, ...], shape: tuple[int, ...]) -> Expr:
    """The row-major flat address of ``index`` in an array of ``shape``."""
    address: Expr = index_const(0)
    stride = 1
    for i, size in reversed(list(enumerate(shape))):
        address = index_add(index_mul(index[i], stride), address)
        stride *= size
    return address


def row_major_strides(shape: tuple[int, ...] | list[int]) -> list[int]:
    """The element strides of a row-major array of ``shape``."""
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return strides[::-1]


def nodes(exprs: list[Expr]) -> Iterator[Expr]:
    """Every distinct node of the expression DAGs ``exprs``, each once, parents before their
    children (depth first, in the order the children are named)."""
    stack = list(reversed(exprs))
    visited: set[int] = set()
    while stack:
        e = stack.pop()
        if id(e) in visited:
            continue
        visited.add(id(e))
        yield e
        children = [getattr(e, c, None) for c in ("x", "a", "b", "pred", "on_true",
                                                  "on_false", "address")]
        stack += reversed([c for c in children if isinstance(c, Expr)])


def loads(exprs: list[Expr]) -> list[str]:
    """The buffers that ``exprs`` load from, in first-seen order."""
    return list(dict.fromkeys(e.buffer for e in nodes(exprs) if isinstance(e, Load)))


def terms_code(pairs: list[tuple[str, int]]) -> str:
    """Code for ``sum(var * k)`` (unit coefficients and zero terms folded; ``"0"`` when
    empty): the same text in numba and WGSL."""
    parts = [v if k == 1 else f"{v} * {k}" for v, k in pairs if v != "0" and k != 0]
    return " + ".join(parts) or "0"


@dataclass
class LoopKernel:
    """``out[flat(i)] = value(i)`` for every ``i`` in ``shape``."""

    out: str
    shape: tuple[int, ...]
    value: Expr


@dataclass
class ReduceKernel:
    """``out[flat(o)] = reduce_op over r of value(o, r)``: loop axes are the output axes then
    the reduced axes (``value`` uses LoopIndex 0..len(out_shape)+len(red_shape)-1)."""

    out: str
    out_shape: tuple[int, ...]
    red_shape: tuple[int, ...]
    op: str
    value: Expr
    dtype: np.dtype
    index_dtype: np.dtype | None = None


@dataclass
class Routine:
    """A call to tuned code, ``kind`` with ``params``, from input to output buffers."""

    kind: str
    inputs: list[str]
    outputs: list[str]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Block:
    """The body of a control-flow statement: ``statements`` read the buffers ``inputs`` (bound
    by the enclosing statement before the block runs) and leave its results in ``outputs``
    (which may name inputs, constants or outer buffers: blocks never write to those)."""

    inputs: list[str]
    statements: list[Statement]
    outputs: list[str]


@dataclass
class If:
    """Run ``branches[clamp(index, 0, len(branches) - 1)]`` (``index``: a scalar integer
    expression) and bind its outputs to the buffers ``outputs``."""

    index: Expr
    branches: list[Block]
    outputs: list[str]


@dataclass
class While:
    """``carry = init``; then, while ``pred`` (a boolean scalar expression evaluated after
    ``cond``'s statements) holds, run ``body`` and set ``carry = body.outputs``. Both blocks'
    inputs end with the ``carry`` buffers, which hold the results after the loop."""

    init: list[str]
    carry: list[str]
    cond: Block
    pred: Expr
    body: Block


@dataclass
class Scan:
    """``carry = init``; for each step ``i`` of ``range(length)`` (reversed if ``reverse``):
    bind ``x_rows[k]`` to row ``i`` of ``xs[k]``, run ``body`` (inputs: consts, ``carry``,
    ``x_rows``; outputs: new carry then y rows), store the y rows as row ``i`` of ``ys`` and
    set ``carry`` to the new carry. The ``carry`` and ``ys`` buffers hold the results."""

    length: int
    reverse: bool
    init: list[str]
    carry: list[str]
    xs: list[str]
    x_rows: list[str]
    ys: list[str]
    body: Block


Statement = LoopKernel | ReduceKernel | Routine | If | While | Scan


@dataclass
class BufferInfo:
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass
class Program:
    """Inputs (parameters), constant buffers, statements and outputs over named buffers."""

    inputs: list[str]
    outputs: list[str]
    buffers: dict[str, BufferInfo]
    statements: list[Statement]
    constants: dict[str, np.ndarray] = field(default_factory=dict)

    def kernel_count(self) -> int:
        """How many loop nests and routine calls the program runs."""
        return len(self.statements)
