"""The kernel IR: loop nests over flat buffers, independent of any backend.

A ``Program`` is a list of statements over named flat (1-D, row-major) buffers. Statements are
``LoopKernel`` (one output element per point of a loop nest), ``ReduceKernel`` (a loop nest with
an accumulator over reduced axes) and ``Routine`` (a call to tuned code: matrix products,
convolutions, sorts...). Kernel bodies are scalar expression DAGs (``Expr``) whose leaves are
loads at integer address expressions, constants and loop indices; broadcasts, transposes and
slices therefore cost index arithmetic, not copies. Renderers (numba, WGSL) print these.
"""

from __future__ import annotations

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


def linear_address(index: tuple[Expr, ...], shape: tuple[int, ...]) -> Expr:
    """The row-major flat address of ``index`` in an array of ``shape``."""
    address: Expr = index_const(0)
    stride = 1
    for i, size in reversed(list(enumerate(shape))):
        address = index_add(index_mul(index[i], stride), address)
        stride *= size
    return address


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


Statement = LoopKernel | ReduceKernel | Routine


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
