"""Products of ``fborn.numpy``: dot, vdot, inner, outer, matmul, tensordot, einsum, kron, cross,
matrix_transpose and vecdot (jax.numpy semantics).

Every product lowers to one ``dot_general`` (plus reshapes, squeezes and transposes around it);
operands are promoted to their common dtype first (without broadcasting), and the result has the
promoted dtype, or ``preferred_element_type`` when given. ``precision`` is accepted and ignored.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from fborn import lax
from fborn.core import dtypes
from fborn.core.array import Array
from fborn.core.errors import FbornShapeError
from fborn.numpy import _util
from fborn.numpy._util import ArrayLike

__all__ = [
    "cross", "dot", "einsum", "inner", "kron", "matmul", "matrix_transpose", "outer",
    "tensordot", "vdot", "vecdot",
]

Axes = tuple[int, ...]


# --- shared helpers ------------------------------------------------------------------------------

def _promote(*args: ArrayLike) -> tuple[list[Array], np.dtype, bool]:
    """Arrays of the common dtype of ``args`` (shapes unchanged), that dtype and its weak flag."""
    dtype, weak = _util.result_typed(*args)
    return _util.promote_dtypes(*args), dtype, weak


def _contract(a: Array, b: Array, contracting: tuple[Axes, Axes], batch: tuple[Axes, Axes],
              precision: Any, preferred_element_type: Any, dtype: np.dtype,
              weak: bool) -> Array:
    """One ``dot_general`` whose result has ``preferred_element_type`` (else ``dtype``,
    weakly typed when ``weak``)."""
    if preferred_element_type is None:
        out_dtype, out_weak = dtype, weak
    else:
        out_dtype, out_weak = dtypes.canonicalize(preferred_element_type), False
    out = lax.dot_general(a, b, (contracting, batch), precision, out_dtype)
    return _util.convert(out, out_dtype, out_weak)


def _check_sizes(name: str, a: Array, b: Array, a_axes: Sequence[int],
                 b_axes: Sequence[int]) -> None:
    """Raise FbornShapeError unless ``a.shape[a_axes] == b.shape[b_axes]``."""
    a_sizes = tuple(a.shape[i] for i in a_axes)
    b_sizes = tuple(b.shape[i] for i in b_axes)
    if a_sizes != b_sizes:
        raise FbornShapeError(
            f"{name}: contracting dimensions differ in size: axes {tuple(a_axes)} of a "
            f"(shape {a.shape}) have sizes {a_sizes}, axes {tuple(b_axes)} of b "
            f"(shape {b.shape}) have sizes {b_sizes}"
        )


def _ravel(x: Array) -> Array:
    return lax.reshape(x, (x.size,))


def _sum(x: Array, axes: Sequence[int]) -> Array:
    """Sum over ``axes`` (logical or for bool, as numpy's einsum)."""
    if not axes:
        return x
    if x.dtype == dtypes.bool_:
        return lax.reduce_or(x, tuple(axes))
    return lax.reduce_sum(x, tuple(axes))


# --- dot, vdot, inner, outer ---------------------------------------------------------------------

def dot(a: ArrayLike, b: ArrayLike, *, precision: Any = None,
        preferred_element_type: Any = None) -> Array:
    """numpy's ``dot``: a product with a 0-d operand scales; otherwise contracts the last axis
    of ``a`` with the second-to-last axis of ``b`` (its only axis if ``b`` is 1-D). The result
    shape is ``a.shape[:-1] + b.shape[:-2] + b.shape[-1:]``. Raises FbornShapeError if the
    contracted sizes differ."""
    (a, b), dtype, weak = _promote(a, b)
    if a.ndim == 0 or b.ndim == 0:
        contracting: tuple[Axes, Axes] = ((), ())
    else:
        contracting = ((a.ndim - 1,), (b.ndim - 2 if b.ndim >= 2 else 0,))
    _check_sizes("dot", a, b, *contracting)
    return _contract(a, b, contracting, ((), ()), precision, preferred_element_type, dtype, weak)


def vdot(a: ArrayLike, b: ArrayLike, *, precision: Any = None,
         preferred_element_type: Any = None) -> Array:
    """The dot product of the flattened operands (a 0-d array). Raises FbornShapeError if their
    sizes differ."""
    (a, b), dtype, weak = _promote(a, b)
    if a.size != b.size:
        raise FbornShapeError(f"vdot: a (shape {a.shape}) and b (shape {b.shape}) have "
                              f"different sizes {a.size} and {b.size}")
    a, b = _ravel(a), _ravel(b)
    return _contract(a, b, ((0,), (0,)), ((), ()), precision, preferred_element_type, dtype,
                     weak)


def inner(a: ArrayLike, b: ArrayLike, *, precision: Any = None,
          preferred_element_type: Any = None) -> Array:
    """Contract the last axes of ``a`` and ``b`` (result ``a.shape[:-1] + b.shape[:-1]``); a 0-d
    operand scales the other. Raises FbornShapeError if the last sizes differ."""
    (a, b), dtype, weak = _promote(a, b)
    if a.ndim == 0 or b.ndim == 0:
        contracting: tuple[Axes, Axes] = ((), ())
    else:
        contracting = ((a.ndim - 1,), (b.ndim - 1,))
    _check_sizes("inner", a, b, *contracting)
    return _contract(a, b, contracting, ((), ()), precision, preferred_element_type, dtype, weak)


def outer(a: ArrayLike, b: ArrayLike, out: None = None) -> Array:
    """``ravel(a)[:, None] * ravel(b)[None, :]``: shape ``(a.size, b.size)``."""
    if out is not None:
        raise NotImplementedError("the 'out' argument to outer is not supported (arrays are "
                                  "immutable)")
    (a, b), dtype, weak = _promote(a, b)
    return _contract(_ravel(a), _ravel(b), ((), ()), ((), ()), None, None, dtype, weak)


# --- matmul --------------------------------------------------------------------------------------

def _shift_after_squeeze(axis: int, squeezed: Sequence[int]) -> int:
    return axis - sum(1 for s in squeezed if s < axis)


def _matmul_batch_plan(a_batch: tuple[int, ...], b_batch: tuple[int, ...], nb: int
                       ) -> tuple[list[int], list[int], list[int], list[int], list[int]]:
    """Sort the broadcast batch positions into shared (dot_general batch dims), a-only and
    b-only (free dims of one operand); size-1 dims that broadcast are squeezed.

    Returns (shared, a_free, b_free, a_squeeze, b_squeeze); positions index the broadcast batch
    shape, squeezes index the operands."""
    shared: list[int] = []
    a_free: list[int] = []
    b_free: list[int] = []
    a_squeeze: list[int] = []
    b_squeeze: list[int] = []
    for pos in range(nb):
        ia, ib = pos - (nb - len(a_batch)), pos - (nb - len(b_batch))
        da = a_batch[ia] if ia >= 0 else None
        db = b_batch[ib] if ib >= 0 else None
        if da is not None and da == db:
            shared.append(pos)
        elif da is not None and db in (None, 1):
            a_free.append(pos)
            if db is not None:
                b_squeeze.append(ib)
        else:
            b_free.append(pos)
            if da is not None:
                a_squeeze.append(ia)
    return shared, a_free, b_free, a_squeeze, b_squeeze


def matmul(a: ArrayLike, b: ArrayLike, *, precision: Any = None,
           preferred_element_type: Any = None) -> Array:
    """numpy's ``matmul`` (``a @ b``): stacks of matrices with broadcast leading (batch) axes;
    a 1-D ``a`` is a row vector and a 1-D ``b`` a column vector, whose axis is dropped from the
    result. Shared batch axes become dot_general batch dimensions, batch axes of one operand
    (the other broadcasting) become its free dimensions, so no operand is materialized
    broadcast. Raises ValueError for 0-d operands and FbornShapeError for mismatched
    contracting sizes or batch shapes that do not broadcast."""
    (a, b), dtype, weak = _promote(a, b)
    for i, x in enumerate((a, b)):
        if x.ndim == 0:
            raise ValueError(f"matmul: input operand {i} must have ndim at least 1, but it has "
                             f"shape {x.shape}")
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    a_k, b_k = a.ndim - 1, 0 if b_vec else b.ndim - 2
    _check_sizes("matmul", a, b, (a_k,), (b_k,))
    if b.ndim == 2:  # the common case: a's leading axes are free axes of one product
        return _contract(a, b, ((a_k,), (0,)), ((), ()), precision, preferred_element_type,
                         dtype, weak)
    a_batch, b_batch = a.shape[:-2], b.shape[:-2]
    try:
        out_batch = _util.broadcast_shapes(a_batch, b_batch)
    except FbornShapeError:
        raise FbornShapeError(f"matmul: batch dimensions of a (shape {a.shape}) and b (shape "
                              f"{b.shape}) cannot be broadcast together") from None
    nb = len(out_batch)
    shared, a_free, b_free, a_sq, b_sq = _matmul_batch_plan(a_batch, b_batch, nb)
    a, b = lax.squeeze(a, a_sq), lax.squeeze(b, b_sq)

    def axis_of(x_batch: tuple[int, ...], squeezed: list[int], pos: int) -> int:
        return _shift_after_squeeze(pos - (nb - len(x_batch)), squeezed)

    a_bdims = tuple(axis_of(a_batch, a_sq, p) for p in shared)
    b_bdims = tuple(axis_of(b_batch, b_sq, p) for p in shared)
    contracting = ((a.ndim - 1,), (0 if b_vec else b.ndim - 2,))
    out = _contract(a, b, contracting, (a_bdims, b_bdims), precision, preferred_element_type,
                    dtype, weak)
    labels = ([("batch", p) for p in shared] + [("batch", p) for p in a_free]
              + ([] if a_vec else [("m", 0)]) + [("batch", p) for p in b_free]
              + ([] if b_vec else [("n", 0)]))
    wanted = ([("batch", p) for p in range(nb)] + ([] if a_vec else [("m", 0)])
              + ([] if b_vec else [("n", 0)]))
    return lax.transpose(out, [labels.index(w) for w in wanted])


# --- tensordot -----------------------------------------------------------------------------------

def _tensordot_axes(axes: Any, a: Array, b: Array) -> tuple[Axes, Axes]:
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0:
            raise ValueError(f"tensordot: the number of axes must be non-negative, got {n}")
        if n > min(a.ndim, b.ndim):
            raise FbornShapeError(f"tensordot: number of axes ({n}) exceeds the input ranks "
                                  f"(shapes {a.shape} and {b.shape})")
        return tuple(range(a.ndim - n, a.ndim)), tuple(range(n))
    if isinstance(axes, (list, tuple)) and len(axes) == 2:
        a_axes = _util.canonicalize_axes(axes[0], a.ndim)
        b_axes = _util.canonicalize_axes(axes[1], b.ndim)
        if len(a_axes) != len(b_axes):
            raise FbornShapeError(f"tensordot: axes lists must have equal length, got "
                                  f"{axes[0]} and {axes[1]}")
        return a_axes, b_axes
    raise TypeError(f"tensordot: axes must be an int or a pair of axis sequences, got {axes!r}")


def tensordot(a: ArrayLike, b: ArrayLike, axes: int | Sequence[Any] = 2, *,
              precision: Any = None, preferred_element_type: Any = None) -> Array:
    """Contract ``a`` and ``b`` over ``axes``: an int n pairs the last n axes of ``a`` with the
    first n of ``b``; a pair ``(a_axes, b_axes)`` names them. The result holds the free axes of
    ``a`` then those of ``b``. Raises FbornShapeError for mismatched sizes or bad axes."""
    (a, b), dtype, weak = _promote(a, b)
    contracting = _tensordot_axes(axes, a, b)
    _check_sizes("tensordot", a, b, *contracting)
    return _contract(a, b, contracting, ((), ()), precision, preferred_element_type, dtype, weak)


# --- einsum --------------------------------------------------------------------------------------

_LETTERS = frozenset(string.ascii_letters)
_GREEDY_NAMES = frozenset({"auto", "greedy", "optimal", "dp", "branch-all", "branch-2",
                           "branch-1", "auto-hq", "random-greedy"})


def _sublist_to_subscripts(sublist: Sequence[Any]) -> str:
    out = []
    for s in sublist:
        if s is Ellipsis:
            out.append("...")
        elif isinstance(s, (int, np.integer)) and 0 <= int(s) < 52:
            out.append(string.ascii_letters[int(s)])
        else:
            raise ValueError(f"einsum: sublist entries must be ints in [0, 52) or Ellipsis, "
                             f"got {s!r}")
    return "".join(out)


def _interleaved_to_subscripts(args: Sequence[Any]) -> tuple[str, list[Any]]:
    """``einsum(op0, sub0, op1, sub1, ..., [sub_out])`` as a subscripts string and operands."""
    operands = list(args[0::2][: len(args) // 2])
    inputs = [_sublist_to_subscripts(s) for s in args[1::2][: len(args) // 2]]
    subscripts = ",".join(inputs)
    if len(args) % 2:
        subscripts += "->" + _sublist_to_subscripts(args[-1])
    return subscripts, operands


def _check_term(term: str, where: str) -> None:
    """Raise ValueError unless ``term`` holds only letters and at most one '...'."""
    if term.count("...") > 1:
        raise ValueError(f"einsum: {where} {term!r} has more than one ellipsis '...'")
    letters = term.replace("...", "")
    bad = sorted({c for c in letters if c not in _LETTERS})
    if bad:
        raise ValueError(f"einsum: invalid subscript character(s) {bad} in {where} {term!r}; "
                         f"use letters a-z, A-Z and '...'")


def _expand_term(term: str, ell_labels: list[str]) -> list[str]:
    """The labels of a term, with '...' replaced by ``ell_labels``."""
    before, _, after = term.partition("...")
    if "..." not in term:
        return list(term)
    return list(before) + ell_labels + list(after)


def _ell_labels(n: int) -> list[str]:
    return [f"...{i}" for i in range(n)]


def _parse_subscripts(subscripts: str, shapes: list[tuple[int, ...]]
                      ) -> tuple[list[list[str]], list[str]]:
    """Labels per operand axis and of the output (ellipsis axes get labels '...0', '...1'...,
    right-aligned across operands). Raises ValueError for malformed subscripts."""
    spec = subscripts.replace(" ", "")
    if spec.count("->") > 1:
        raise ValueError(f"einsum: subscripts {subscripts!r} can contain only one '->'")
    ins, arrow, out_term = spec.partition("->")
    in_terms = ins.split(",")
    if len(in_terms) != len(shapes):
        raise ValueError(f"einsum: subscripts {subscripts!r} name {len(in_terms)} operand(s) "
                         f"but {len(shapes)} were given")
    n_ell = []
    for i, (term, shape) in enumerate(zip(in_terms, shapes, strict=True)):
        _check_term(term, f"operand {i} subscript")
        n = len(shape) - len(term.replace("...", ""))
        if n < 0 or (n > 0 and "..." not in term):
            raise ValueError(f"einsum: subscript {term!r} does not match the rank of operand "
                             f"{i} (shape {shape})")
        n_ell.append(n)
    max_ell = max(n_ell, default=0)
    all_ell = _ell_labels(max_ell)
    in_labels = [_expand_term(t, all_ell[max_ell - n:]) for t, n in zip(in_terms, n_ell,
                                                                        strict=True)]
    letters = [c for t in in_terms for c in t.replace("...", "")]
    if not arrow:
        once = sorted(c for c in set(letters) if letters.count(c) == 1)
        return in_labels, all_ell + once
    _check_term(out_term, "output subscript")
    out_letters = out_term.replace("...", "")
    for c in out_letters:
        if out_letters.count(c) > 1:
            raise ValueError(f"einsum: output subscript {out_term!r} repeats {c!r}")
        if c not in letters:
            raise ValueError(f"einsum: output subscript {c!r} does not appear in the inputs "
                             f"{ins!r}")
    return in_labels, _expand_term(out_term, all_ell)


def _take_diagonals(x: Array, labels: list[str]) -> tuple[Array, list[str]]:
    """Resolve labels repeated within one operand ('ii->i', 'ii->'): keep the diagonal."""
    labels = list(labels)
    while len(set(labels)) != len(labels):
        p = next(i for i, l in enumerate(labels) if labels.count(l) > 1)
        q = labels.index(labels[p], p + 1)
        if x.shape[p] != x.shape[q]:
            raise ValueError(f"einsum: repeated subscript {labels[p]!r} labels axes of sizes "
                             f"{x.shape[p]} and {x.shape[q]} in one operand (shape {x.shape})")
        on_diag = lax.eq(lax.broadcasted_iota(np.int32, x.shape, p),
                         lax.broadcasted_iota(np.int32, x.shape, q))
        x = _sum(lax.select(on_diag, x, 0), (q,))
        del labels[q]
    return x, labels


def _label_sizes(operands: list[tuple[Array, list[str]]]) -> dict[str, int]:
    """The size of each label; size-1 axes broadcast, other mismatches raise ValueError."""
    sizes: dict[str, int] = {}
    for i, (x, labels) in enumerate(operands):
        for label, size in zip(labels, x.shape, strict=True):
            known = sizes.get(label, 1)
            if size != 1 and known != 1 and size != known:
                name = "ellipsis axis" if label.startswith("...") else f"subscript {label!r}"
                raise ValueError(f"einsum: size of {name} for operand {i} ({size}) does not "
                                 f"match previous operands ({known})")
            sizes[label] = size if size != 1 else known
    return sizes


def _drop_broadcast_axes(x: Array, labels: list[str], sizes: dict[str, int]
                         ) -> tuple[Array, list[str]]:
    """Squeeze size-1 axes whose label is larger elsewhere (they broadcast)."""
    drop = [i for i, l in enumerate(labels) if x.shape[i] == 1 and sizes[l] != 1]
    return lax.squeeze(x, drop), [l for i, l in enumerate(labels) if i not in drop]


def _reduce_unneeded(x: Array, labels: list[str], keep: set[str]) -> tuple[Array, list[str]]:
    """Sum out the labels not in ``keep``."""
    axes = [i for i, l in enumerate(labels) if l not in keep]
    return _sum(x, axes), [l for l in labels if l in keep]


def _pair_keep(ops: list[tuple[Array, list[str]]], i: int, j: int, out: list[str]) -> set[str]:
    """Labels still needed after contracting operands i and j: the output's and the others'."""
    keep = set(out)
    for k, (_, labels) in enumerate(ops):
        if k not in (i, j):
            keep.update(labels)
    return keep


def _greedy_pair(ops: list[tuple[Array, list[str]]], out: list[str],
                 sizes: dict[str, int]) -> tuple[int, int]:
    """The pair whose contraction result is smallest (first pair on ties)."""
    best: tuple[int, tuple[int, int]] | None = None
    for i in range(len(ops)):
        for j in range(i + 1, len(ops)):
            keep = _pair_keep(ops, i, j, out)
            result = (set(ops[i][1]) | set(ops[j][1])) & keep
            cost = math.prod(sizes[l] for l in result)
            if best is None or cost < best[0]:
                best = (cost, (i, j))
    assert best is not None
    return best[1]


def _einsum_path(optimize: Any) -> list[tuple[int, int]] | str:
    """'greedy', 'left' (left to right) or an explicit opt_einsum-style path of pairs."""
    if optimize is False or optimize is None or optimize == "none":
        return "left"
    if optimize is True or (isinstance(optimize, str) and optimize in _GREEDY_NAMES):
        return "greedy"
    if isinstance(optimize, (list, tuple)):
        steps = [s for s in optimize if s != "einsum_path"]
        if all(isinstance(s, (list, tuple)) and len(s) == 2 for s in steps):
            return [(int(s[0]), int(s[1])) for s in steps]
    raise ValueError(f"einsum: optimize must be a bool, one of {sorted(_GREEDY_NAMES)}, or a "
                     f"contraction path (a list of index pairs), got {optimize!r}")


def _pair_result_labels(la: list[str], lb: list[str], keep: set[str]) -> list[str]:
    """The labels of dot_general's result for operands labelled ``la`` and ``lb``."""
    la, lb = [l for l in la if l in keep or l in lb], [l for l in lb if l in keep or l in la]
    batch = [l for l in la if l in lb and l in keep]
    return batch + [l for l in la if l not in lb] + [l for l in lb if l not in la]


def _in_output_order(labels: list[str], out: list[str]) -> bool:
    positions = [out.index(l) if l in out else len(out) for l in labels]
    return positions == sorted(positions)


def _contract_pair(lhs: tuple[Array, list[str]], rhs: tuple[Array, list[str]], keep: set[str],
                   out_labels: list[str], precision: Any, preferred_element_type: Any
                   ) -> tuple[Array, list[str]]:
    """One dot_general: shared labels kept later are batch dims, other shared labels are
    contracted; labels of one operand needed nowhere else are summed out first. The operands
    are swapped when that leaves the result's axes in output order (saving a transpose)."""
    if (not _in_output_order(_pair_result_labels(lhs[1], rhs[1], keep), out_labels)
            and _in_output_order(_pair_result_labels(rhs[1], lhs[1], keep), out_labels)):
        lhs, rhs = rhs, lhs
    (a, la), (b, lb) = lhs, rhs
    a, la = _reduce_unneeded(a, la, keep | set(lb))
    b, lb = _reduce_unneeded(b, lb, keep | set(la))
    if a.dtype != b.dtype:
        common = dtypes.promote_types(a.dtype, b.dtype)
        a, b = lax.convert_element_type(a, common), lax.convert_element_type(b, common)
    shared = [l for l in la if l in lb]
    batch = [l for l in shared if l in keep]
    summed = [l for l in shared if l not in keep]
    dims = ((tuple(la.index(l) for l in summed), tuple(lb.index(l) for l in summed)),
            (tuple(la.index(l) for l in batch), tuple(lb.index(l) for l in batch)))
    pet = a.dtype if preferred_element_type is None else preferred_element_type
    return lax.dot_general(a, b, dims, precision, pet), _pair_result_labels(la, lb, keep)


def einsum(subscripts: Any, /, *operands: Any, out: None = None, optimize: Any = "auto",
           precision: Any = None, preferred_element_type: Any = None) -> Array:
    """Einstein summation (numpy's ``einsum``): ``'bij,bjk->bik'``, implicit output (the
    ellipsis axes, then the letters used once, sorted), ``...`` ellipsis (broadcast), repeated
    subscripts within one operand (diagonals/traces), and the interleaved form
    ``einsum(x, [0, 1], y, [1, 2], [0, 2])``.

    Operands are contracted pairwise, each pair with one dot_general (shared labels that are
    still needed become batch dims, the others are contracted; labels of one operand needed
    nowhere else are summed first). ``optimize``: False contracts left to right; True or a
    name ('auto', 'greedy', 'optimal', ...) picks greedily the pair with the smallest result;
    a list of index pairs (opt_einsum's convention: the result goes last) is followed as given.
    Raises ValueError for malformed subscripts and mismatched label sizes.
    """
    if out is not None:
        raise NotImplementedError("the 'out' argument to einsum is not supported (arrays are "
                                  "immutable)")
    if not isinstance(subscripts, str):
        subscripts, operands = _interleaved_to_subscripts((subscripts, *operands))
    if not operands:
        raise ValueError("einsum: at least one operand is required")
    arrays, dtype, weak = _promote(*operands)
    in_labels, out_labels = _parse_subscripts(subscripts, [x.shape for x in arrays])
    ops = [_take_diagonals(x, labels) for x, labels in zip(arrays, in_labels, strict=True)]
    sizes = _label_sizes(ops)
    ops = [_drop_broadcast_axes(x, labels, sizes) for x, labels in ops]
    path = _einsum_path(optimize)
    steps = iter(path) if isinstance(path, list) else None
    while len(ops) > 1:
        if steps is not None:
            i, j = _path_step(next(steps, None), len(ops))
        elif path == "greedy":
            i, j = _greedy_pair(ops, out_labels, sizes)
        else:
            i, j = 0, 1
        keep = _pair_keep(ops, i, j, out_labels)
        result = _contract_pair(ops[i], ops[j], keep, out_labels, precision,
                                preferred_element_type)
        rest = [op for k, op in enumerate(ops) if k not in (i, j)]
        ops = [result, *rest] if path == "left" else [*rest, result]
    x, labels = _reduce_unneeded(*ops[0], set(out_labels))
    x = lax.transpose(x, [labels.index(l) for l in out_labels])
    if preferred_element_type is None:
        return _util.convert(x, dtype, weak)
    return _util.convert(x, dtypes.canonicalize(preferred_element_type), False)


def _path_step(step: tuple[int, int] | None, n: int) -> tuple[int, int]:
    if step is None:
        raise ValueError(f"einsum: the contraction path ends with {n} operands left; it must "
                         f"reduce them to one")
    i, j = sorted(step)
    if i == j or i < 0 or j >= n:
        raise ValueError(f"einsum: path step {step} is invalid for {n} operands")
    return i, j


# --- kron, cross, matrix_transpose, vecdot -------------------------------------------------------

def kron(a: ArrayLike, b: ArrayLike) -> Array:
    """The Kronecker product: the operands are padded with leading 1s to equal rank; the
    result has shape ``a.shape * b.shape`` (elementwise)."""
    (a, b), dtype, weak = _promote(a, b)
    nd = max(a.ndim, b.ndim)
    a = lax.reshape(a, (1,) * (nd - a.ndim) + a.shape)
    b = lax.reshape(b, (1,) * (nd - b.ndim) + b.shape)
    prod = _contract(a, b, ((), ()), ((), ()), None, None, dtype, weak)
    interleaved = [axis for i in range(nd) for axis in (i, nd + i)]
    return lax.reshape(prod, [a.shape[i] * b.shape[i] for i in range(nd)], interleaved)


def _moveaxis(x: Array, source: int, destination: int) -> Array:
    perm = [i for i in range(x.ndim) if i != source]
    perm.insert(destination, source)
    return lax.transpose(x, perm)


def _components(x: Array, shape: tuple[int, ...]) -> list[Array]:
    """The vector components (last axis) of ``x``, each broadcast to ``shape``."""
    out = []
    for k in range(x.shape[-1]):
        c = lax.slice_in_dim(x, k, k + 1, axis=x.ndim - 1)
        out.append(_util.broadcast_to(lax.reshape(c, x.shape[:-1]), shape))
    return out


def cross(a: ArrayLike, b: ArrayLike, axisa: int = -1, axisb: int = -1, axisc: int = -1,
          axis: int | None = None) -> Array:
    """The cross product of 2- or 3-vectors along ``axisa``/``axisb`` (other axes broadcast),
    stored along ``axisc`` (``axis`` sets all three). Two 2-vectors give the scalar z
    component. Raises ValueError if a vector axis has a size other than 2 or 3."""
    if axis is not None:
        axisa = axisb = axisc = axis
    (a, b), _, _ = _promote(a, b)
    a = _moveaxis(a, _util.canonicalize_axis(axisa, a.ndim), a.ndim - 1)
    b = _moveaxis(b, _util.canonicalize_axis(axisb, b.ndim), b.ndim - 1)
    if a.shape[-1] not in (2, 3) or b.shape[-1] not in (2, 3):
        raise ValueError(f"cross: incompatible vector sizes {a.shape[-1]} and {b.shape[-1]} "
                         f"(each must be 2 or 3)")
    shape = _util.broadcast_shapes(a.shape[:-1], b.shape[:-1])
    ac, bc = _components(a, shape), _components(b, shape)
    z = lax.sub(lax.mul(ac[0], bc[1]), lax.mul(ac[1], bc[0]))
    if len(ac) == len(bc) == 2:
        return z
    zero = lax.broadcast_in_dim(lax.convert_element_type(0, ac[0].dtype), shape, ())
    a2 = ac[2] if len(ac) == 3 else zero
    b2 = bc[2] if len(bc) == 3 else zero
    x = lax.sub(lax.mul(ac[1], b2), lax.mul(a2, bc[1]))
    y = lax.sub(lax.mul(a2, bc[0]), lax.mul(ac[0], b2))
    stacked = lax.concatenate([lax.expand_dims(c, (len(shape),)) for c in (x, y, z)],
                              len(shape))
    return _moveaxis(stacked, len(shape), _util.canonicalize_axis(axisc, len(shape) + 1))


def matrix_transpose(x: ArrayLike, /) -> Array:
    """Swap the last two axes. Raises ValueError for arrays of rank < 2."""
    x = _util.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"matrix_transpose: x must have at least 2 dimensions, got shape "
                         f"{x.shape}")
    return _moveaxis(x, x.ndim - 1, x.ndim - 2)


def vecdot(x1: ArrayLike, x2: ArrayLike, /, *, axis: int = -1, precision: Any = None,
           preferred_element_type: Any = None) -> Array:
    """The dot product along ``axis`` of the broadcast operands (the other axes are batch
    axes). Raises FbornShapeError if the shapes do not broadcast."""
    dtype, weak = _util.result_typed(x1, x2)
    x1, x2 = _util.promote_args(x1, x2)
    k = _util.canonicalize_axis(axis, x1.ndim)
    batch = tuple(i for i in range(x1.ndim) if i != k)
    return _contract(x1, x2, ((k,), (k,)), (batch, batch), precision, preferred_element_type,
                     dtype, weak)
