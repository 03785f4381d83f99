"""WGSL routines: tuned shaders for kernel-IR ``Routine`` statements.

``dot_general``: a tiled matrix product per batch element. Each workgroup of 16 x 16
invocations computes a BM x BN tile of the output (128 x 128 with 8 x 8 outputs per invocation
when both sides are at least 128, else 64 x 64 with 4 x 4), stepping through K by BK (8 or 16):
each invocation loads one 4-element group of each operand's tile into workgroup memory (one
vec4 load when the operand's contiguous axis is a multiple of 4, else four bounds-checked
scalar loads), then accumulates its outputs from vec4 reads of the tiles.
Edge tiles are zero-filled, so any M, N, K (K = 0 included) works. Operands are read in place
when each of their batch, free and contracting axis groups is one stride (row-major or
transposed matrices, batched or not); other layouts are first copied by a transposing kernel.
"""

from __future__ import annotations

import math

import numpy as np

from fborn.core import dtypes
from fborn.lowering.kernel_ir import (
    BufferInfo,
    Load,
    LoopIndex,
    LoopKernel,
    Program,
    Routine,
    linear_address,
)
from fborn.lowering.schedule import LoweringError
from fborn.lowering.wgsl.render import (
    Kernel,
    Limits,
    RenderedProgram,
    buffer_var,
    check_buffer_dtype,
    loop_kernel,
    routine,
    shader,
    storage_type,
    value_type,
)

_XYZW = "xyzw"


def group_stride(shape: tuple[int, ...], dims: tuple[int, ...]) -> int | None:
    """The single element stride of the flattened axis group ``dims`` of a row-major array of
    ``shape`` (0 for an empty or all-unit group), or None when the group is not one stride."""
    strides = [math.prod(shape[d + 1:]) for d in range(len(shape))]
    kept = [d for d in dims if shape[d] != 1]
    if not kept:
        return 0
    for d, e in zip(kept, kept[1:], strict=False):
        if strides[d] != strides[e] * shape[e]:
            return None
    return strides[kept[-1]]


class _Operand:
    """How a kernel reads one matrix operand: element (b, row, col) of the logical
    (nb, rows, cols) matrix is at ``b * sb + row * sr + col * sc`` of buffer ``name``."""

    def __init__(self, name: str, dtype: np.dtype, strides: tuple[int, int, int],
                 rows: int, cols: int, acc: str):
        self.name = name
        self.dtype = dtype
        self.sb, self.sr, self.sc = strides
        self.rows, self.cols = rows, cols
        self.acc = acc

    def contiguous(self) -> str:
        """'cols', 'rows' or '' (neither axis has stride 1)."""
        if self.sc == 1:
            return "cols"
        return "rows" if self.sr == 1 else ""

    def vectorized(self) -> bool:
        """Whether 4-element groups along the contiguous axis can be read as one vec4."""
        axis = self.contiguous()
        if not axis or storage_type(self.dtype) != "f32" or self.acc != "f32":
            return False
        size, other = (self.cols, self.sr) if axis == "cols" else (self.rows, self.sc)
        return size % 4 == 0 and other % 4 == 0 and self.sb % 4 == 0

    def read(self, index: str) -> str:
        ref = f"{buffer_var(self.name)}[{index}]"
        if self.dtype == dtypes.bool_:
            return f"select({self.acc}(0), {self.acc}(1), {ref} != 0u)"
        return ref if storage_type(self.dtype) == self.acc else f"{self.acc}({ref})"


def _prepare(rendered: RenderedProgram, program: Program, limits: Limits, name: str,
             shape: tuple[int, ...], groups: tuple[tuple[int, ...], ...], kernels: list[Kernel]
             ) -> tuple[str, tuple[int, int, int]]:
    """The buffer to read an operand from and its (batch, row, col) strides; copies it into a
    (batch, rows, cols) row-major scratch buffer when a group is not one stride."""
    strides = [group_stride(shape, g) for g in groups]
    if all(s is not None for s in strides):
        return name, (strides[0], strides[1], strides[2])  # type: ignore[return-value]
    order = [d for g in groups for d in g]
    new_shape = tuple(shape[d] for d in order)
    copy = f"{name}_mat{len(rendered.scratch)}"
    info = program.buffers[name]
    rendered.scratch[copy] = BufferInfo(new_shape, info.dtype)
    index = [LoopIndex(0)] * len(shape)
    for pos, d in enumerate(order):
        index[d] = LoopIndex(pos)
    value = Load(name, linear_address(tuple(index), shape), info.dtype)
    kernel = loop_kernel(LoopKernel(copy, new_shape, value),
                         {**program.buffers, **rendered.scratch}, limits)
    if kernel is not None:
        kernels.append(kernel)
    rows = math.prod(shape[d] for d in groups[1])
    cols = math.prod(shape[d] for d in groups[2])
    return copy, (rows * cols, cols, 1)


@routine("dot_general")
def dot_general(r: Routine, program: Program, limits: Limits, rendered: RenderedProgram
                ) -> list[Kernel]:
    """Kernels for ``out[b, m, n] = sum_k lhs[b, m, k] * rhs[b, k, n]`` (flattened groups)."""
    p = r.params
    ls, rs = tuple(p["lhs_shape"]), tuple(p["rhs_shape"])
    lc, rc, lb, rb = tuple(p["lc"]), tuple(p["rc"]), tuple(p["lb"]), tuple(p["rb"])
    lf = tuple(i for i in range(len(ls)) if i not in lc and i not in lb)
    rf = tuple(i for i in range(len(rs)) if i not in rc and i not in rb)
    nb = math.prod(ls[i] for i in lb)
    m, k, n = (math.prod(ls[i] for i in lf), math.prod(ls[i] for i in lc),
               math.prod(rs[i] for i in rf))
    out_dtype = np.dtype(p["out_dtype"])
    (out,) = r.outputs
    check_buffer_dtype(out_dtype, limits)
    acc = {"f32": "f32", "f16": "f32", "i32": "i32", "u32": "u32"}.get(value_type(out_dtype))
    if acc is None:
        raise LoweringError(f"dot_general with {out_dtype.name} results has no WGSL lowering")
    if nb * m * n == 0:
        return []
    kernels: list[Kernel] = []
    lhs, l_strides = _prepare(rendered, program, limits, r.inputs[0], ls, (lb, lf, lc), kernels)
    rhs, r_strides = _prepare(rendered, program, limits, r.inputs[1], rs, (rb, rc, rf), kernels)
    buffers = {**program.buffers, **rendered.scratch}
    a = _Operand(lhs, buffers[lhs].dtype, l_strides, m, k, acc)
    b = _Operand(rhs, buffers[rhs].dtype, r_strides, k, n, acc)
    kernels.append(matmul_kernel(a, b, out, out_dtype, nb, m, n, k, limits))
    return kernels


def matmul_kernel(a: _Operand, b: _Operand, out: str, out_dtype: np.dtype, nb: int, m: int,
                  n: int, k: int, limits: Limits, big: bool | None = None) -> Kernel:
    """The tiled matmul shader for (nb, m, k) x (nb, k, n) -> row-major (nb, m, n)."""
    if big is None:
        big = m >= 128 and n >= 128
    bm = bn = 128 if big else 64
    tm = tn = 8 if big else 4
    bk = 8 if big else 16
    groups = (-(-n // bn), -(-m // bm), nb)
    if max(groups) > limits.max_groups:
        raise LoweringError(f"dot_general of shape ({nb}, {m}, {n}) needs more workgroups "
                            f"than this GPU's grid allows")
    acc = a.acc
    vec = f"vec4<{acc}>"
    out_t = storage_type(out_dtype)
    out_vec = out_t == "f32" and acc == "f32" and n % 4 == 0
    names = [a.name] if a.name == b.name else [a.name, b.name]
    decls = []
    for i, name in enumerate(names):
        op = a if name == a.name else b
        elem = "vec4<f32>" if op.vectorized() else storage_type(op.dtype)
        decls.append(f"@group(0) @binding({i}) var<storage, read> {buffer_var(name)}: "
                     f"array<{elem}>;")
    if a.name == b.name and a.vectorized() != b.vectorized():
        raise LoweringError("dot_general of a buffer with itself in two layouts")
    decls.append(f"@group(0) @binding({len(names)}) var<storage, read_write> {buffer_var(out)}: "
                 f"array<{'vec4<f32>' if out_vec else out_t}>;")
    decls.append(f"var<workgroup> tile_a: array<{vec}, {bk * bm // 4}>;")
    decls.append(f"var<workgroup> tile_b: array<{vec}, {bk * bn // 4}>;")
    lines = [
        "@compute @workgroup_size(256)",
        "fn main(@builtin(workgroup_id) wid: vec3<u32>, "
        "@builtin(local_invocation_index) lidu: u32) {",
        "  let lid = i32(lidu);",
        "  let tx = lid % 16;",
        "  let ty = lid / 16;",
        f"  let n0 = i32(wid.x) * {bn};",
        f"  let m0 = i32(wid.y) * {bm};",
        "  let bz = i32(wid.z);",
    ]
    count = tm * tn // 4
    lines += [f"  var c{i}: {vec} = {vec}();" for i in range(count)]
    lines.append(f"  for (var k0 = 0; k0 < {k}; k0 = k0 + {bk}) {{")
    lines += _load_tile(a, "tile_a", "m0", bm, bk, transpose=False)
    lines += _load_tile(b, "tile_b", "n0", bn, bk, transpose=True)
    lines.append("    workgroupBarrier();")
    lines.append(f"    for (var kk = 0; kk < {bk}; kk = kk + 1) {{")
    lines += [f"      let a{j} = tile_a[kk * {bm // 4} + {j * 16} + ty];" for j in range(tm // 4)]
    lines += [f"      let b{j} = tile_b[kk * {bn // 4} + {j * 16} + tx];" for j in range(tn // 4)]
    for i in range(tm):
        for jb in range(tn // 4):
            c = f"c{i * (tn // 4) + jb}"
            lines.append(f"      {c} = {c} + a{i // 4}.{_XYZW[i % 4]} * b{jb};")
    lines.append("    }")
    lines += ["    workgroupBarrier();", "  }"]
    lines.append(f"  let c_base = bz * {m * n};")
    for i in range(tm):
        row = f"m0 + {(i // 4) * 16 * 4 + i % 4} + ty * 4"
        lines.append(f"  {{ let m = {row};")
        lines.append(f"    if (m < {m}) {{")
        for jb in range(tn // 4):
            c = f"c{i * (tn // 4) + jb}"
            col = f"n0 + {jb * 64} + tx * 4"
            if out_vec:
                lines.append(f"      {{ let n = {col}; if (n < {n}) {{ "
                             f"{buffer_var(out)}[(c_base + m * {n} + n) / 4] = {c}; }} }}")
                continue
            lines.append(f"      {{ let n = {col};")
            for j in range(4):
                value = f"{c}.{_XYZW[j]}" if out_t == acc else f"{out_t}({c}.{_XYZW[j]})"
                lines.append(f"        if (n + {j} < {n}) {{ "
                             f"{buffer_var(out)}[c_base + m * {n} + n + {j}] = {value}; }}")
            lines.append("      }")
        lines += ["    }", "  }"]
    lines.append("}")
    f16 = out_dtype == dtypes.float16 or dtypes.float16 in (a.dtype, b.dtype)
    source = shader(decls, set(), lines, f16)
    return Kernel(source, (*names, out), groups, f"matmul {out} ({nb}x{m}x{n}x{k})")


def _load_tile(op: _Operand, tile: str, start: str, size: int, bk: int, transpose: bool
               ) -> list[str]:
    """Lines storing one BK x size tile of ``op`` (as tile[kk][i], i along rows for lhs and
    along cols for rhs) with one 4-element group per invocation."""
    wide = size // 4
    # Along which logical axis of the tile the operand is contiguous: "k" or "mn".
    axis = op.contiguous()
    k_axis = "rows" if transpose else "cols"
    along_k = axis == k_axis or axis == ""
    vec = op.vectorized()
    sb = f"bz * {op.sb}"
    s_mn, s_k = (op.sc, op.sr) if transpose else (op.sr, op.sc)
    n_mn, n_k = (op.cols, op.rows) if transpose else (op.rows, op.cols)
    lines = ["    {"]
    if along_k:
        per_row = bk // 4
        lines += [f"      let i = lid / {per_row};",
                  f"      let kk = (lid % {per_row}) * 4;",
                  f"      let mn = {start} + i;",
                  "      let kg = k0 + kk;",
                  f"      var v = vec4<{op.acc}>();",
                  f"      if (mn < {n_mn}) {{"]
        if vec:
            lines.append(f"        if (kg < {n_k}) {{ v = {buffer_var(op.name)}"
                         f"[({sb} + mn * {s_mn} + kg) / 4]; }}")
        else:
            for j in range(4):
                index = f"{sb} + mn * {s_mn} + (kg + {j}) * {s_k}"
                lines.append(f"        if (kg + {j} < {n_k}) {{ v.{_XYZW[j]} = "
                             f"{op.read(index)}; }}")
        lines.append("      }")
        for j in range(4):
            lines.append(f"      {tile}[(kk + {j}) * {wide} + i / 4][i % 4] = v.{_XYZW[j]};")
    else:
        lines += [f"      let kr = lid / {wide};",
                  f"      let mn = {start} + (lid % {wide}) * 4;",
                  "      let kg = k0 + kr;",
                  f"      var v = vec4<{op.acc}>();",
                  f"      if (kg < {n_k}) {{"]
        if vec:
            lines.append(f"        if (mn < {n_mn}) {{ v = {buffer_var(op.name)}"
                         f"[({sb} + kg * {s_k} + mn) / 4]; }}")
        else:
            for j in range(4):
                index = f"{sb} + kg * {s_k} + (mn + {j}) * {s_mn}"
                lines.append(f"        if (mn + {j} < {n_mn}) {{ v.{_XYZW[j]} = "
                             f"{op.read(index)}; }}")
        lines.append("      }")
        lines.append(f"      {tile}[kr * {wide} + (lid % {wide})] = v;")
    lines.append("    }")
    return lines
