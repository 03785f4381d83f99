"""WGSL routines besides the matrix product and convolution: scatter, cumulative scans, sort,
top_k and Threefry random bits.

- ``scatter`` (``dynamic_update_slice`` and the scatter family): the operand is copied into the
  output (or, when the scheduler hands over a private buffer, the output aliases it), then a
  second kernel combines the windows in place. With one batch position the window elements run
  in parallel; with several, one workgroup walks the batch positions in order, its invocations
  striding over the window, with a storage barrier between positions: repeated and overlapping
  indices combine in index order exactly like the reference (``np.<ufunc>.at``), at the price
  of running on one workgroup.
- ``cumulative``: one invocation per row along the scanned axis, sequential along it (the
  reference's summation order).
- ``sort`` and ``top_k``: a rank sort. Each invocation owns one element, counts the elements of
  its row that order before it (earlier keys first, ties by position: stable) and writes itself
  to that rank. O(n^2) comparisons per row of n, all in parallel: fine for rows up to a few
  thousand elements; long rows want a bitonic or merge sort (not written yet).
- ``threefry2x32``: one invocation per element writing both output words.
"""

from __future__ import annotations

import math

import numpy as np

from fborn.lowering.kernel_ir import (
    BufferInfo,
    Const,
    Expr,
    Load,
    LoopIndex,
    LoopKernel,
    Program,
    Routine,
    linear_address,
    row_major_strides,
    terms_code,
)
from fborn.lowering.wgsl.render import (
    WORKGROUP,
    Alias,
    ExprWriter,
    Kernel,
    Limits,
    RenderedProgram,
    Step,
    buffer_var,
    combine_code,
    declarations,
    decompose,
    grid,
    loop_kernel,
    routine,
    shader,
    store_value,
    uses_f16,
    value_type,
)


def terms(pairs: list[tuple[str, int]]) -> str:
    """``i32`` code for ``sum(var * k)``, parenthesized (zero terms dropped)."""
    code = terms_code(pairs)
    return code if code == "0" else f"({code})"


def program_buffers(program: Program, rendered: RenderedProgram) -> dict[str, BufferInfo]:
    """The program's buffers and the scratch buffers rendered so far, by name."""
    return {**program.buffers, **rendered.scratch}


def flat_main(groups: tuple[int, int, int], count: int) -> list[str]:
    """The entry point's first lines: ``flat`` (u32), one invocation per element."""
    return [f"@compute @workgroup_size({WORKGROUP})",
            "fn main(@builtin(global_invocation_id) gid: vec3<u32>) {",
            f"  let flat = gid.x + gid.y * {groups[0] * WORKGROUP}u;",
            f"  if (flat >= {count}u) {{ return; }}"]


def routine_kernel(label: str, buffers: dict[str, BufferInfo], writer: ExprWriter,
                   reads: list[str], writes: list[str], body: list[str],
                   groups: tuple[int, int, int], limits: Limits, exprs: tuple[Expr, ...] = (),
                   extra: tuple[str, ...] = (), updates: tuple[str, ...] = ()) -> Kernel:
    """One routine shader: declarations for ``reads``/``writes`` (and the buffers ``writer``
    loads), helpers, and ``body`` (the entry point's lines)."""
    decls, order = declarations(buffers, [*reads, *writer.buffers], writes, limits)
    f16 = uses_f16(buffers, order, *exprs)
    source = shader([*decls, *extra], writer.helpers, body, f16)
    return Kernel(source, order, groups, label, updates)


# --- scatter -----------------------------------------------------------------------------------

def _start(w: ExprWriter, e: Expr | None, high: int, bounds: str, checks: list[str]) -> str:
    """Code for a window start that must lie in ``[0, high]``: clamped (``"clip"``), checked
    (``"drop"``: a condition goes to ``checks``) or taken as it is (``"none"``)."""
    if e is None:
        return "0"
    if isinstance(e, Const):
        value = int(e.value)
        if bounds == "clip":
            return str(min(max(value, 0), max(high, 0)))
        if bounds == "drop" and not 0 <= value <= high:
            checks.append("false")
        return str(value)
    code = w.emit(e)
    if bounds == "none" or isinstance(e, LoopIndex):
        return code
    if bounds == "clip":
        return f"clamp({code}, 0, {max(high, 0)})"
    checks.append(f"({code} >= 0 && {code} <= {high})")
    return code


def _scatter_update(p: dict, out: str, w: ExprWriter, target: str) -> list[str]:
    """The statement combining the update value into ``target`` (an element of ``out``)."""
    dtype = np.dtype(p["dtype"])
    value = w.emit(p["value"])
    if p["combine"] == "set":
        return [f"{target} = {store_value(value, dtype)};"]
    t = value_type(dtype)
    old = f"({target} != 0u)" if t == "bool" else target
    op = {"add": "sum", "mul": "prod"}.get(p["combine"], p["combine"])
    return [f"{target} = {store_value(combine_code(op, old, value, t, w), dtype)};"]


@routine("scatter")
def _scatter(r: Routine, program: Program, limits: Limits, rendered: RenderedProgram
             ) -> list[Step]:
    """Copy (or alias) the operand, then combine every window in index order."""
    p = r.params
    base, (out,) = r.inputs[0], r.outputs
    buffers = program_buffers(program, rendered)
    shape, window, batch_shape = p["shape"], p["window"], p["batch_shape"]
    steps: list[Step] = []
    if p["copy"]:
        flat = linear_address(tuple(LoopIndex(d) for d in range(len(shape))), shape)
        copy = loop_kernel(LoopKernel(out, shape, Load(base, flat, buffers[base].dtype)),
                           buffers, limits)
        steps += [copy] if copy else []
    else:
        steps.append(Alias(out, base))
    nbatch, nwindow = math.prod(batch_shape), math.prod(window)
    if nbatch * nwindow == 0:
        return steps
    nb = len(batch_shape)
    batch_vars = [f"b{j}" for j in range(nb)]
    window_vars = [f"w{d}" for d in range(len(window))]
    w = ExprWriter(batch_vars + window_vars, indent="    ")
    checks: list[str] = []
    starts = [_start(w, e, n - z, p["bounds"], checks)
              for e, n, z in zip(p["starts"], shape, window, strict=True)]
    head, w.lines = w.lines, []
    strides = row_major_strides(shape)
    target = (f"{buffer_var(out)}[{terms(list(zip(starts, strides, strict=True)))} + "
              f"{terms(list(zip(window_vars, strides, strict=True)))}]")
    update = _scatter_update(p, out, w, target)
    inner = [*decompose("wf", window, window_vars, "    "), *w.lines,
             *(f"    {line}" for line in update)]
    guard = " && ".join(checks) or "true"
    exprs = (p["value"], *(e for e in p["starts"] if e is not None))
    if nbatch == 1:
        groups = grid(-(-nwindow // WORKGROUP), limits)
        body = [*flat_main(groups, nwindow),
                *(f"  let {v} = 0;" for v in batch_vars), *head,
                f"  if (!({guard})) {{ return; }}", "  let wf = flat;", *inner, "}"]
    else:
        groups = (1, 1, 1)
        body = [f"@compute @workgroup_size({WORKGROUP})",
                "fn main(@builtin(local_invocation_index) lid: u32) {",
                f"  for (var bf: u32 = 0u; bf < {nbatch}u; bf = bf + 1u) {{",
                *decompose("bf", batch_shape, batch_vars, "    "), *head,
                f"    if ({guard}) {{",
                f"      for (var wf: u32 = lid; wf < {nwindow}u; wf = wf + {WORKGROUP}u) {{",
                *(f"    {line}" for line in inner),
                "      }", "    }", "    storageBarrier();", "  }", "}"]
    steps.append(routine_kernel(f"scatter {out}", buffers, w, [], [out], body, groups, limits,
                                exprs, updates=(out,)))
    return steps


# --- cumulative --------------------------------------------------------------------------------

@routine("cumulative")
def _cumulative(r: Routine, program: Program, limits: Limits, rendered: RenderedProgram
                ) -> list[Step]:
    """One invocation per row along ``axis``, scanning it in order (or reversed)."""
    p = r.params
    (out,) = r.outputs
    shape, axis = p["shape"], p["axis"]
    buffers = program_buffers(program, rendered)
    size = math.prod(shape)
    if size == 0:
        return []
    n = shape[axis]
    rows = size // n
    names = [f"i{d}" for d in range(len(shape))]
    w = ExprWriter(names, indent="    ")
    value = w.emit(p["value"])
    address = w.emit(linear_address(tuple(LoopIndex(d) for d in range(len(shape))), shape))
    dtype = buffers[out].dtype
    t = value_type(dtype)
    position = f"{n - 1} - i32(s)" if p["reverse"] else "i32(s)"
    other = [d for d in range(len(shape)) if d != axis]
    groups = grid(-(-rows // WORKGROUP), limits)
    body = [*flat_main(groups, rows),
            *decompose("flat", tuple(shape[d] for d in other), [names[d] for d in other], "  "),
            f"  var acc: {t};",
            f"  for (var s: u32 = 0u; s < {n}u; s = s + 1u) {{",
            f"    let {names[axis]} = {position};",
            *w.lines,
            f"    if (s == 0u) {{ acc = {value}; }} else {{ "
            f"acc = {combine_code(p['op'], 'acc', value, t, w)}; }}",
            f"    {buffer_var(out)}[{address}] = {store_value('acc', dtype)};",
            "  }", "}"]
    return [routine_kernel(f"cumulative {out}", buffers, w, [], [out], body, groups, limits,
                           (p["value"],), extra=())]


# --- sort and top_k ----------------------------------------------------------------------------

_KEY_HELPERS = """fn fb_sort_key(x: f32) -> i32 {
  let v = bitcast<i32>(x);
  let a = v & 0x7fffffff;
  if (a == 0) { return 0; }
  if (a > 0x7f800000) { return 0x7f800001; }
  return select(v, v ^ 0x7fffffff, v < 0);
}
fn fb_desc_key(x: f32) -> i32 {
  let v = bitcast<i32>(x);
  return ~select(v, v ^ 0x7fffffff, v < 0);
}"""


def _key(element: str, dtype: np.dtype, descending: bool) -> str:
    """Code for a comparable key of a stored element: ascending key order is ``sort``'s
    order of the values (``descending``: top_k's descending IEEE total order)."""
    t = value_type(dtype)
    if t in ("f32", "f16"):
        x = element if t == "f32" else f"f32({element})"
        return f"fb_desc_key({x})" if descending else f"fb_sort_key({x})"
    return f"(~{element})" if descending else element


def _less(keys: list[tuple[str, str]], m: str, j: str) -> str:
    """Whether element ``m`` orders before ``j``: lexicographic over ``keys`` (pairs of the
    key codes of m and j), ties broken by position."""
    code = f"({m} < {j})"
    for km, kj in reversed(keys):
        code = f"(({km} < {kj}) || ({km} == {kj} && {code}))"
    return code


def _rank_body(n: int, inner: int, keys: list[tuple[str, np.dtype]], descending: bool,
               groups: tuple[int, int, int], count: int) -> list[str]:
    """Entry-point lines computing ``rank`` of element ``flat`` within its row (``base``: the
    row's first element, ``j`` the position, ``inner`` the row's stride)."""
    pairs = []
    lines = [*flat_main(groups, count),
             f"  let row = flat / {n * inner}u;",
             f"  let col = flat % {inner}u;",
             f"  let j = (flat / {inner}u) % {n}u;",
             f"  let base = row * {n * inner}u + col;"]
    for k, (name, dtype) in enumerate(keys):
        lines.append(f"  let kj{k} = {_key(f'{buffer_var(name)}[flat]', dtype, descending)};")
        pairs.append((f"km{k}", f"kj{k}"))
    lines += ["  var rank: u32 = 0u;",
              f"  for (var m: u32 = 0u; m < {n}u; m = m + 1u) {{",
              f"    let at = base + m * {inner}u;"]
    for k, (name, dtype) in enumerate(keys):
        lines.append(f"    let km{k} = {_key(f'{buffer_var(name)}[at]', dtype, descending)};")
    lines += [f"    if {_less(pairs, 'm', 'j')} {{ rank = rank + 1u; }}", "  }"]
    return lines


@routine("sort")
def _sort(r: Routine, program: Program, limits: Limits, rendered: RenderedProgram
          ) -> list[Step]:
    """Rank sort along ``dimension`` by the first ``num_keys`` operands, stable."""
    p = r.params
    shape, dim = p["shape"], p["dimension"]
    buffers = program_buffers(program, rendered)
    size = math.prod(shape)
    if size == 0:
        return []
    n, inner = shape[dim], math.prod(shape[dim + 1:])
    keys = [(name, buffers[name].dtype) for name in r.inputs[:p["num_keys"]]]
    groups = grid(-(-size // WORKGROUP), limits)
    body = _rank_body(n, inner, keys, False, groups, size)
    body += [f"  {buffer_var(dst)}[base + rank * {inner}u] = {buffer_var(src)}[flat];"
             for src, dst in zip(r.inputs, r.outputs, strict=True)]
    body.append("}")
    w = ExprWriter([])
    return [routine_kernel(f"sort {r.outputs[0]}", buffers, w, list(r.inputs), list(r.outputs),
                           body, groups, limits, extra=(_KEY_HELPERS,))]


@routine("top_k")
def _top_k(r: Routine, program: Program, limits: Limits, rendered: RenderedProgram
           ) -> list[Step]:
    """Rank each element of its row in descending order (ties: lower index first); those of
    rank below k are written to the outputs."""
    shape, k = r.params["shape"], r.params["k"]
    (src,), (values, indices) = r.inputs, r.outputs
    buffers = program_buffers(program, rendered)
    size = math.prod(shape)
    if size == 0 or k == 0:
        return []
    n = shape[-1]
    groups = grid(-(-size // WORKGROUP), limits)
    body = _rank_body(n, 1, [(src, buffers[src].dtype)], True, groups, size)
    index = "bitcast<u32>(i32(j))" if value_type(buffers[indices].dtype) == "u32" else "i32(j)"
    body += [f"  if (rank < {k}u) {{",
             f"    {buffer_var(values)}[row * {k}u + rank] = {buffer_var(src)}[flat];",
             f"    {buffer_var(indices)}[row * {k}u + rank] = {index};",
             "  }", "}"]
    return [routine_kernel(f"top_k {values}", buffers, ExprWriter([]), [src],
                           [values, indices], body, groups, limits, extra=(_KEY_HELPERS,))]


# --- threefry ----------------------------------------------------------------------------------

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _threefry_lines() -> list[str]:
    """Threefry-2x32, 20 rounds, on ``k0 k1 x0 x1`` (u32) into ``a b``."""
    lines = ["  let k2 = k0 ^ k1 ^ 0x1BD11BDAu;",
             "  var a = x0 + k0;", "  var b = x1 + k1;"]
    keys = ("k0", "k1", "k2")
    for group in range(5):
        for rot in _ROTATIONS[group % 2]:
            lines += ["  a = a + b;", f"  b = ((b << {rot}u) | (b >> {32 - rot}u)) ^ a;"]
        ka, kb = keys[(group + 1) % 3], keys[(group + 2) % 3]
        lines += [f"  a = a + {ka};", f"  b = b + {kb} + {group + 1}u;"]
    return lines


@routine("threefry2x32")
def _threefry2x32(r: Routine, program: Program, limits: Limits, rendered: RenderedProgram
                  ) -> list[Step]:
    """One invocation per element writing both output words."""
    shape = r.params["shape"]
    out0, out1 = r.outputs
    buffers = program_buffers(program, rendered)
    size = math.prod(shape)
    if size == 0:
        return []
    names = [f"i{d}" for d in range(len(shape))]
    w = ExprWriter(names)
    words = [w.emit(e) for e in r.params["values"]]
    words = [v if value_type(e.dtype) == "u32" else f"bitcast<u32>({v})"
             for v, e in zip(words, r.params["values"], strict=True)]
    groups = grid(-(-size // WORKGROUP), limits)
    body = [*flat_main(groups, size), *decompose("flat", shape, names, "  "), *w.lines,
            *(f"  let {n} = {v};" for n, v in zip(("k0", "k1", "x0", "x1"), words, strict=True)),
            *_threefry_lines(),
            f"  {buffer_var(out0)}[flat] = a;", f"  {buffer_var(out1)}[flat] = b;", "}"]
    return [routine_kernel(f"threefry {out0}", buffers, w, [], [out0, out1], body, groups,
                           limits, tuple(r.params["values"]))]
