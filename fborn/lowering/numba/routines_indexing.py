"""numba code for the ``scatter`` routine (dynamic_update_slice and the scatter family).

Its expressions are printed with loop-invariant code motion: each temporary is computed at the
shallowest loop level where its loop indices are defined (the loads read index and update
buffers, never the buffer being written, so hoisting them is safe). Index loads and clamps thus
run once per window and the innermost loop is a plain strided update.

The routine copies the operand (unless the scheduler handed it a private buffer, which it then
updates in place: the output aliases ``inputs[0]``; large copies run on all threads), then walks
the batch positions in row-major order; per position it evaluates the window starts once,
clamps them or skips a window that does not fit, and combines the window element by element.
The pass is sequential, so repeated indices combine in index order exactly as the reference
implementation (``np.<ufunc>.at``) does. 16-bit floats are combined in float32 and rounded
back once per update, as numpy does.
"""

from __future__ import annotations

import math

import numpy as np

from fborn.core import dtypes
from fborn.lowering.kernel_ir import (
    Const,
    Expr,
    LoopIndex,
    Program,
    Routine,
    row_major_strides,
    terms_code,
)
from fborn.lowering.numba import render

render.HALF_ROUTINES.add("scatter")


_Body = render.HoistingBody


def _copy(out: str, base: str, program: Program) -> list[str]:
    """``out = base.copy()``, split over threads when large (the renderer's policy: not
    beside BLAS, whose own threads take the cores)."""
    info = program.buffers[base]
    calls_blas = any(isinstance(s, Routine) and s.kind in render.BLAS_ROUTINES
                     for s in program.statements)
    if info.size < render.PARALLEL_THRESHOLD or calls_blas:
        return [f"    {out} = {base}.copy()"]
    return [f"    {out} = np.empty({info.size}, {render.np_type(info.dtype)})",
            f"    for {out}_c in prange({info.size}):",
            f"        {out}[{out}_c] = {base}[{out}_c]"]


def _combine(combine: str, dtype: np.dtype, target: str, value: str) -> str:
    """The statement that merges ``value`` into ``target`` (np.<ufunc>.at semantics)."""
    if combine == "set":
        return f"{target} = {render.half_store(dtype, value)}"
    if dtype == dtypes.bool_:
        op = "or" if combine in ("add", "max") else "and"
        return f"{target} = {target} {op} {value}"
    old = render.half_load(dtype, target)
    if combine in ("add", "mul"):
        code = f"{old} {'+' if combine == 'add' else '*'} {value}"
    else:
        fn = f"rt.f{combine}" if dtypes.is_float(dtype) else combine
        code = f"{fn}({old}, {value})"
    return f"{target} = {render.half_store(dtype, code)}"


@render.routine("scatter")
def _scatter_code(r: Routine, program: Program) -> list[str]:
    """Copy (or alias) the operand, then combine every window in index order."""
    p = r.params
    base = r.inputs[0]
    (out,) = r.outputs
    shape, window, batch_shape = p["shape"], p["window"], p["batch_shape"]
    lines = _copy(out, base, program) if p["copy"] else [f"    {out} = {base}"]
    if math.prod(batch_shape) * math.prod(window) == 0:
        return lines
    nb = len(batch_shape)
    batch_vars = [f"{out}_b{j}" for j in range(nb)]
    window_vars = [f"{out}_w{d}" if z != 1 else "0" for d, z in enumerate(window)]
    indent = "    " * (nb + 1)
    for j, (var, n) in enumerate(zip(batch_vars, batch_shape, strict=True)):
        lines.append(f"{'    ' * (j + 1)}for {var} in range({n}):")
    head = _Body([indent], batch_vars + window_vars, [0] * (nb + len(window)), f"{out}_s{{}}")
    strides = row_major_strides(shape)
    start_terms, checks = [], []
    for d, e in enumerate(p["starts"]):
        if e is not None:
            start = _start(head, e, shape[d] - window[d], p["bounds"], checks, f"{out}_st{d}")
            start_terms.append((start, strides[d]))
    lines += head.buckets[0]
    if checks:
        lines.append(f"{indent}if {' and '.join(checks)}:")
        indent += "    "
    lines.append(f"{indent}{out}_base = {terms_code(start_terms)}")
    loops = [d for d, var in enumerate(window_vars) if var != "0"]
    indents = [indent + "    " * k for k in range(len(loops) + 1)]
    levels = [0] * nb + [loops.index(d) + 1 if d in loops else 0 for d in range(len(window))]
    body = _Body(indents, batch_vars + window_vars, levels, f"{out}_u{{}}")
    value = body.emit(p["value"])
    lines += body.buckets[0]
    for k, d in enumerate(loops):
        lines.append(f"{indents[k]}for {window_vars[d]} in range({window[d]}):")
        lines += body.buckets[k + 1]
    offset = terms_code([(v, k) for v, k in zip(window_vars, strides, strict=True)])
    target = f"{out}[{out}_base + {offset}]"
    lines.append(f"{indents[-1]}{_combine(p['combine'], np.dtype(p['dtype']), target, value)}")
    return lines


def _start(head: _Body, e: Expr, high: int, bounds: str, checks: list[str], var: str) -> str:
    """Code for the start ``e`` of a window that must lie in ``[0, high]``: clamped
    (``bounds="clip"``), checked (``"drop"``: the condition is appended to ``checks``) or taken
    as it is (``"none"``)."""
    if isinstance(e, Const):
        value = int(e.value)
        if bounds == "clip":
            return str(min(max(value, 0), max(high, 0)))
        if bounds == "drop" and not 0 <= value <= high:
            checks.append("False")
        return str(value)
    code = head.emit(e)
    if bounds == "none" or isinstance(e, LoopIndex):  # batching axes are always in bounds
        return code
    if bounds == "clip":
        head.buckets[0].append(f"{head.indent}{var} = min(max({code}, 0), {max(high, 0)})")
        return var
    checks.append(f"np.uint64({code}) <= np.uint64({high})")
    return code
