"""WGSL routines: tuned shaders for kernel-IR ``Routine`` statements.

``dot_general``: a tiled matrix product per batch element. Each workgroup computes a BM x BN
output tile with TM x TN outputs per invocation (``MatmulConfig``; 128 x 128 with 8 x 8 for
large products, smaller tiles when that would give too few workgroups), stepping through K by
BK: the next step's 4-element groups of each operand are read into registers (one vec4 load
when the operand's contiguous axis allows, else four scalar loads) while the current step's
workgroup-memory tiles are multiplied (fully unrolled, vec4 reads, fma), then stored
(optionally into a second stage, so one barrier per step). Bounds checks are emitted only
along axes whose size is not a multiple of the tile.
Edge tiles are zero-filled, so any M, N, K (K = 0 included) works. Products with few output
tiles and a long K (weight gradients) are split along K over more workgroups, and a reduction
kernel sums the parts. Operands are read in place
when each of their batch, free and contracting axis groups is one stride (row-major or
transposed matrices, batched or not); other layouts are first copied by a transposing kernel.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from fborn.core import dtypes
from fborn.lowering.kernel_ir import (
    BufferInfo,
    Load,
    LoopIndex,
    LoopKernel,
    Program,
    ReduceKernel,
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
    reduce_kernel,
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


class Operand:
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


class GatheredOperand(Operand, abc.ABC):
    """An rhs operand (rows along K) whose elements are computed reads rather than strided
    ones: the tile loader asks it for the code. Used to read a convolution's patch matrix
    straight from its input (implicit GEMM) instead of materializing it."""

    def __init__(self, name: str, dtype: np.dtype, rows: int, cols: int, acc: str):
        super().__init__(name, dtype, (0, 0, 0), rows, cols, acc)

    def contiguous(self) -> str:
        return ""

    def vectorized(self) -> bool:
        return False

    @abc.abstractmethod
    def column_lines(self, col: str, tag: str) -> list[str]:
        """Lines binding what element reads of column ``col`` (an i32 expression) share, to
        names starting with ``tag``."""

    @abc.abstractmethod
    def consecutive_lines(self, row: str, tag: str, targets: list[str],
                          extras: list[str | None]) -> list[str]:
        """Lines setting ``targets[j]`` to element (``bz``, ``row + j``, the column bound
        under ``tag``), leaving it unchanged where the element is a structural zero or where
        the condition ``extras[j]`` (code, or None) fails."""


def prepare_operand(rendered: RenderedProgram, program: Program, limits: Limits, name: str,
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
    return copy, (rows * cols if groups[0] else 0, cols, 1)


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
    lhs, l_strides = prepare_operand(rendered, program, limits, r.inputs[0], ls, (lb, lf, lc),
                                     kernels)
    rhs, r_strides = prepare_operand(rendered, program, limits, r.inputs[1], rs, (rb, rc, rf),
                                     kernels)
    buffers = {**program.buffers, **rendered.scratch}
    a = Operand(lhs, buffers[lhs].dtype, l_strides, m, k, acc)
    b = Operand(rhs, buffers[rhs].dtype, r_strides, k, n, acc)
    kernels += matmul_steps(a, b, out, out_dtype, nb, m, n, k, limits, rendered)
    return kernels


@dataclass(frozen=True)
class MatmulConfig:
    """The tiling of the matmul shader: each workgroup computes a ``bm`` x ``bn`` output tile,
    stepping through K by ``bk``; each invocation computes ``tm`` x ``tn`` outputs (multiples
    of 4, as 4 x 4 blocks strided across the tile). ``double``: two workgroup-memory tiles, so
    the next K step is stored while the current one is read (one barrier per step)."""

    bm: int
    bn: int
    bk: int
    tm: int
    tn: int
    double: bool = True

    @property
    def threads(self) -> int:
        return (self.bm // self.tm) * (self.bn // self.tn)

    def workgroup_bytes(self) -> int:
        return (2 if self.double else 1) * (self.bm + self.bn) * self.bk * 4


# Best first for large products; smaller tiles keep small products spread over the GPU.
# Measured on an H200 through Vulkan (GFLOP/s at 4096^3 / 2048^3 / 1024^3): 128x128x8 with
# one stage 32400 / 29000 / 11700 (two stages: 31200 / 25700 / 11300); 64x64x16 27500 /
# 25100 / 20000; 128x64, 64x128, 256x128 and 128x256 tiles were slower at every size.
# The flat ones (8 or 16 rows) serve products with few rows, such as convolutions with few
# output channels.
MATMUL_CONFIGS = (
    MatmulConfig(128, 128, 8, 8, 8, double=False),
    MatmulConfig(64, 64, 16, 4, 4),
    MatmulConfig(32, 64, 8, 4, 4),
    MatmulConfig(32, 32, 8, 4, 4),
    MatmulConfig(16, 64, 8, 4, 4),
    MatmulConfig(8, 128, 8, 4, 4),
)
# Fewer workgroups than this leave much of a large GPU idle: take a smaller tile.
MIN_WORKGROUPS = 256
# A larger tile is kept while it computes at most this much more padding than the least.
PADDING_SLACK = 1.1


def choose_config(nb: int, m: int, n: int, limits: Limits) -> MatmulConfig:
    """Among the tilings that fit the workgroup memory and give MIN_WORKGROUPS workgroups (else
    those giving the most), the largest whose padded tile area is within PADDING_SLACK of
    the smallest padded area."""
    fitting = []
    for cfg in MATMUL_CONFIGS:
        if cfg.workgroup_bytes() > limits.workgroup_bytes:
            cfg = MatmulConfig(cfg.bm, cfg.bn, cfg.bk, cfg.tm, cfg.tn, double=False)
        if cfg.workgroup_bytes() <= limits.workgroup_bytes:
            fitting.append(cfg)
    if not fitting:
        raise LoweringError("the GPU's workgroup memory is too small for the matmul shader")

    def workgroups(cfg: MatmulConfig) -> int:
        return nb * -(-m // cfg.bm) * -(-n // cfg.bn)

    def padded(cfg: MatmulConfig) -> int:
        return -(-m // cfg.bm) * cfg.bm * -(-n // cfg.bn) * cfg.bn

    busy = [cfg for cfg in fitting if workgroups(cfg) >= MIN_WORKGROUPS]
    if not busy:
        most = max(workgroups(cfg) for cfg in fitting)
        busy = [cfg for cfg in fitting if workgroups(cfg) == most]
    least = min(padded(cfg) for cfg in busy)
    return next(cfg for cfg in busy if padded(cfg) <= PADDING_SLACK * least)


# Split K when a product's output tiles keep fewer than SPLIT_MIN_THREADS invocations busy
# (weight gradients: few outputs, long sums; products of small batches with flat tiles) into
# parts of k/8 clamped to [SPLIT_MIN_CHUNK, SPLIT_MAX_CHUNK], at most SPLIT_MAX_WORKGROUPS
# workgroups in all; the partial products are then summed. Measured on an H200, interleaved in
# one process (us per call, host floor ~44): 128x10 (K 1024) 66 with chunks of 512, 45 of 128;
# 784x128 (K 1024) 59 / 48; 6 x 16x25 (K 102400) 359 with chunks of 512, 635 of 128; 6x25
# (K 802816) 123 / 135.
SPLIT_MIN_THREADS = MIN_WORKGROUPS * 256
SPLIT_MIN_CHUNK = 128
SPLIT_MAX_CHUNK = 512
SPLIT_MAX_WORKGROUPS = 4096


def split_k(cfg: MatmulConfig, nb: int, m: int, n: int, k: int) -> int:
    """The K chunk length (a multiple of ``cfg.bk``) each workgroup sums, or 0 for no split."""
    tiles = nb * -(-m // cfg.bm) * -(-n // cfg.bn)
    chunk = min(max(k // 8, SPLIT_MIN_CHUNK), SPLIT_MAX_CHUNK)
    parts = min(k // chunk, max(SPLIT_MAX_WORKGROUPS // tiles, 1))
    if tiles * cfg.threads >= SPLIT_MIN_THREADS or parts < 2:
        return 0
    chunk = -(-k // parts)
    return -(-chunk // cfg.bk) * cfg.bk


def matmul_steps(a: Operand, b: Operand, out: str, out_dtype: np.dtype, nb: int, m: int,
                 n: int, k: int, limits: Limits, rendered: RenderedProgram) -> list[Kernel]:
    """Kernels computing (nb, m, k) x (nb, k, n) -> row-major (nb, m, n) into ``out``: one
    matmul, or (few output tiles, long K) a split-K matmul into a scratch buffer of partial
    products plus the kernel summing them."""
    cfg = choose_config(nb, m, n, limits)
    chunk = split_k(cfg, nb, m, n, k)
    if not chunk:
        return [matmul_kernel(a, b, out, out_dtype, nb, m, n, k, limits, cfg)]
    parts = -(-k // chunk)
    partial_dtype = np.dtype(np.float32) if a.acc == "f32" else out_dtype
    partial = rendered.new_scratch(f"{out}_splitk", (nb, parts, m * n), partial_dtype)
    kernels = [matmul_kernel(a, b, partial, partial_dtype, nb, m, n, k, limits, cfg, chunk)]
    address = linear_address((LoopIndex(0), LoopIndex(2), LoopIndex(1)), (nb, parts, m * n))
    total = ReduceKernel(out, (nb, m * n), (parts,), "sum", Load(partial, address, partial_dtype),
                         out_dtype)
    kernel = reduce_kernel(total, {**rendered.scratch, out: BufferInfo((nb, m, n), out_dtype)},
                           limits)
    if kernel is not None:
        kernels.append(kernel)
    return kernels


def matmul_kernel(a: Operand, b: Operand, out: str, out_dtype: np.dtype, nb: int, m: int,
                  n: int, k: int, limits: Limits, config: MatmulConfig | None = None,
                  chunk: int = 0) -> Kernel:
    """The tiled matmul shader for (nb, m, k) x (nb, k, n) -> row-major (nb, m, n); with
    ``chunk`` (a multiple of the tile's K step), workgroup z = b * parts + part sums only
    K range [part * chunk, (part + 1) * chunk) and writes row-major (nb, parts, m, n)."""
    cfg = config or choose_config(nb, m, n, limits)
    parts = -(-k // chunk) if chunk else 1
    groups = (-(-n // cfg.bn), -(-m // cfg.bm), nb * parts)
    if max(groups) > limits.max_groups:
        raise LoweringError(f"dot_general of shape ({nb}, {m}, {n}) needs more workgroups "
                            f"than this GPU's grid allows")
    if a.name == b.name and a.vectorized() != b.vectorized():
        raise LoweringError("dot_general of a buffer with itself in two layouts")
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
    decls.append(f"@group(0) @binding({len(names)}) var<storage, read_write> {buffer_var(out)}: "
                 f"array<{'vec4<f32>' if out_vec else out_t}>;")
    stages = 2 if cfg.double else 1
    decls.append(f"var<workgroup> tile_a: array<{vec}, {stages * cfg.bk * cfg.bm // 4}>;")
    decls.append(f"var<workgroup> tile_b: array<{vec}, {stages * cfg.bk * cfg.bn // 4}>;")
    tiles = -(-(chunk or k) // cfg.bk)
    ragged = bool(chunk) and k % chunk != 0  # the last part's K steps may pass the end
    loads = [_TileLoader(a, "a", cfg.bm, cfg, transpose=False, ragged=ragged),
             _TileLoader(b, "b", cfg.bn, cfg, transpose=True, ragged=ragged)]
    lines = [
        f"@compute @workgroup_size({cfg.threads})",
        "fn main(@builtin(workgroup_id) wid: vec3<u32>, "
        "@builtin(local_invocation_index) lidu: u32) {",
        "  let lid = i32(lidu);",
        f"  let tx = lid % {cfg.bn // cfg.tn};",
        f"  let ty = lid / {cfg.bn // cfg.tn};",
        f"  let n0 = i32(wid.x) * {cfg.bn};",
        f"  let m0 = i32(wid.y) * {cfg.bm};",
        f"  let bz = i32(wid.z) / {parts};" if chunk else "  let bz = i32(wid.z);",
    ]
    if chunk:
        lines.append(f"  let kbase = (i32(wid.z) % {parts}) * {chunk};")
    lines += [f"  var c{i}: {vec} = {vec}();" for i in range(cfg.tm * cfg.tn // 4)]
    for ld in loads:
        lines += ld.setup()
    # With no K step the loop still names both operands (the layout keeps their bindings).
    loop_cfg = cfg if tiles else dataclasses.replace(cfg, double=False)
    lines += _k_loop(loop_cfg, loads, tiles, acc, "kbase + " if chunk else "")
    lines += _store_outputs(cfg, out, out_t, acc, out_vec, m, n,
                            "i32(wid.z)" if chunk else "bz")
    lines.append("}")
    f16 = out_dtype == dtypes.float16 or dtypes.float16 in (a.dtype, b.dtype)
    source = shader(decls, set(), lines, f16)
    return Kernel(source, (*names, out), groups, f"matmul {out} ({nb}x{m}x{n}x{k})")


def _k_loop(cfg: MatmulConfig, loads: list[_TileLoader], tiles: int, acc: str, k_base: str
            ) -> list[str]:
    """The loop over K steps (starting at ``k_base``, code ending in ``+ `` or empty): global
    loads of the next step go to registers before the current step's products, and into
    workgroup memory after them."""
    a_stage, b_stage = cfg.bk * cfg.bm // 4, cfg.bk * cfg.bn // 4
    lines = []
    if cfg.double:
        for ld in loads:
            lines += ld.fetch(f"{k_base}0")
        for ld in loads:
            lines += ld.store("0")
        lines.append("  workgroupBarrier();")
    lines.append(f"  for (var t = 0; t < {tiles}; t = t + 1) {{")
    if cfg.double:
        lines.append("    let cur = t % 2;")
        lines.append(f"    if (t + 1 < {tiles}) {{")
        for ld in loads:
            lines += ld.fetch(f"{k_base}(t + 1) * {cfg.bk}", "  ")
        lines.append("    }")
        lines.append(f"    let ra = cur * {a_stage} + ty;")
        lines.append(f"    let rb = cur * {b_stage} + tx;")
    else:
        for ld in loads:
            lines += ld.fetch(f"{k_base}t * {cfg.bk}")
        for ld in loads:
            lines += ld.store("0")
        lines.append("    workgroupBarrier();")
        lines.append("    let ra = ty;")
        lines.append("    let rb = tx;")
    lines += _products(cfg, acc)
    if cfg.double:
        lines.append(f"    if (t + 1 < {tiles}) {{")
        for ld in loads:
            lines += ld.store("1 - cur", "  ")
        lines.append("    }")
    lines += ["    workgroupBarrier();", "  }"]
    return lines


def _products(cfg: MatmulConfig, acc: str) -> list[str]:
    """The unrolled products of one K step: per k, tm/4 vec4 reads of tile_a, tn/4 of tile_b
    and tm * tn / 4 vec4 multiply-adds."""
    ty_n, tx_n = cfg.bm // cfg.tm, cfg.bn // cfg.tn
    lines = []
    for kk in range(cfg.bk):
        lines.append("    {")
        lines += [f"      let a{j} = tile_a[ra + {kk * cfg.bm // 4 + j * ty_n}];"
                  for j in range(cfg.tm // 4)]
        lines += [f"      let b{j} = tile_b[rb + {kk * cfg.bn // 4 + j * tx_n}];"
                  for j in range(cfg.tn // 4)]
        for i in range(cfg.tm):
            splat = f"vec4<{acc}>(a{i // 4}.{_XYZW[i % 4]})"
            for jb in range(cfg.tn // 4):
                c = f"c{i * (cfg.tn // 4) + jb}"
                code = f"fma({splat}, b{jb}, {c})" if acc == "f32" else f"{c} + {splat} * b{jb}"
                lines.append(f"      {c} = {code};")
        lines.append("    }")
    return lines


def _store_outputs(cfg: MatmulConfig, out: str, out_t: str, acc: str, out_vec: bool, m: int,
                   n: int, matrix: str) -> list[str]:
    """Write each invocation's tm x tn outputs into output matrix ``matrix`` (code) (bounds
    checks only where a tile can stick out)."""
    ty_n, tx_n = cfg.bm // cfg.tm, cfg.bn // cfg.tn
    full_m, full_n = m % cfg.bm == 0, n % cfg.bn == 0
    lines = [f"  let c_base = {matrix} * {m * n};"]
    for i in range(cfg.tm):
        lines.append(f"  {{ let m = m0 + {(i // 4) * 4 * ty_n + i % 4} + ty * 4;")
        if not full_m:
            lines.append(f"    if (m < {m}) {{")
        for jb in range(cfg.tn // 4):
            c = f"c{i * (cfg.tn // 4) + jb}"
            lines.append(f"      {{ let n = n0 + {jb * 4 * tx_n} + tx * 4;")
            if out_vec:
                store = f"{buffer_var(out)}[(c_base + m * {n} + n) / 4] = {c};"
                lines.append(f"        {store}" if full_n else
                             f"        if (n < {n}) {{ {store} }}")
            else:
                for j in range(4):
                    value = f"{c}.{_XYZW[j]}" if out_t == acc else f"{out_t}({c}.{_XYZW[j]})"
                    store = f"{buffer_var(out)}[c_base + m * {n} + n + {j}] = {value};"
                    lines.append(f"        {store}" if full_n else
                                 f"        if (n + {j} < {n}) {{ {store} }}")
            lines.append("      }")
        if not full_m:
            lines.append("    }")
        lines.append("  }")
    return lines


class _TileLoader:
    """Loads one operand's BK x size tile per K step (stored as tile[k][i], i along rows for
    lhs and along cols for rhs), 4-element groups spread over the invocations: ``setup`` binds
    the per-invocation offsets once, ``fetch`` reads a step's groups into registers (one vec4
    load each when the operand's contiguous axis allows, else four scalar loads), ``store``
    writes them into a workgroup-memory stage. Edge groups read as zeros."""

    def __init__(self, op: Operand, tag: str, size: int, cfg: MatmulConfig, transpose: bool,
                 ragged: bool = False):
        self.op, self.tag, self.size, self.cfg = op, tag, size, cfg
        self.tile = f"tile_{tag}"
        self.wide = size // 4
        self.count = size * cfg.bk // 4
        self.slots = -(-self.count // cfg.threads)
        k_axis = "rows" if transpose else "cols"
        axis = op.contiguous()
        self.along_k = axis == k_axis or axis == ""
        self.vec = op.vectorized()
        self.gathered = op if isinstance(op, GatheredOperand) else None
        if self.gathered is not None and not transpose:
            raise LoweringError("a gathered matmul operand must be the right-hand one")
        self.s_mn, self.s_k = (op.sc, op.sr) if transpose else (op.sr, op.sc)
        self.n_mn, self.n_k = (op.cols, op.rows) if transpose else (op.rows, op.cols)
        self.start = "n0" if transpose else "m0"
        self.full_mn = self.n_mn % size == 0
        self.full_k = self.n_k % cfg.bk == 0 and not ragged

    def _v(self, name: str, s: int) -> str:
        return f"{self.tag}{name}{s}"

    def _guarded(self, s: int) -> bool:
        """Whether slot ``s`` has invocations past the last group."""
        return s == self.slots - 1 and self.count % self.cfg.threads != 0

    def setup(self) -> list[str]:
        op, lines = self.op, []
        for s in range(self.slots):
            g, v = f"(lid + {s * self.cfg.threads})", self._v
            lines.append(f"  var {v('p', s)} = vec4<{op.acc}>();")
            if self.along_k:
                per_row = self.cfg.bk // 4
                lines += [f"  let {v('i', s)} = {g} / {per_row};",
                          f"  let {v('kk', s)} = ({g} % {per_row}) * 4;",
                          f"  let {v('mn', s)} = {self.start} + {v('i', s)};",
                          f"  let {v('st', s)} = {v('kk', s)} * {self.wide} + {v('i', s)} / 4;",
                          f"  let {v('lane', s)} = {v('i', s)} % 4;"]
                if self.gathered is not None:
                    lines += self.gathered.column_lines(v("mn", s), v("g", s))
                    continue
                base = f"bz * {op.sb} + {v('mn', s)} * {self.s_mn}"
            else:
                lines += [f"  let {v('kk', s)} = {g} / {self.wide};",
                          f"  let {v('mn', s)} = {self.start} + ({g} % {self.wide}) * 4;",
                          f"  let {v('st', s)} = {g};"]
                base = f"bz * {op.sb} + {v('kk', s)} * {self.s_k} + {v('mn', s)} * {self.s_mn}"
            if self.vec:
                extra = f" + {v('kk', s)}" if self.along_k else ""
                lines.append(f"  let {v('ad', s)} = ({base}{extra}) / 4;")
            else:
                lines.append(f"  let {v('ad', s)} = {base};")
        return lines

    def fetch(self, k0: str, indent: str = "") -> list[str]:
        """Lines reading the groups of the K step starting at ``k0`` into registers."""
        op, v, lines = self.op, self._v, []
        ind = "    " + indent
        buf = buffer_var(op.name)
        for s in range(self.slots):
            p, kg = v("p", s), f"({k0} + {v('kk', s)})"
            conds = [f"lid + {s * self.cfg.threads} < {self.count}"] if self._guarded(s) else []
            if self.along_k:
                if not self.full_mn:
                    conds.append(f"{v('mn', s)} < {self.n_mn}")
                if self.gathered is not None:
                    reads = self.gathered.consecutive_lines(
                        kg, v("g", s), [f"{p}.{_XYZW[j]}" for j in range(4)],
                        [None if self.full_k else f"{kg} + {j} < {self.n_k}" for j in range(4)])
                elif self.vec:
                    if not self.full_k:
                        conds.append(f"{kg} < {self.n_k}")
                    reads = [f"{p} = {buf}[{v('ad', s)} + ({k0}) / 4];"]
                else:
                    reads = self._scalar_reads(p, lambda j, kg=kg, s=s: (
                        f"{v('ad', s)} + ({kg} + {j}) * {self.s_k}",
                        None if self.full_k else f"{kg} + {j} < {self.n_k}"))
            else:
                if not self.full_k:
                    conds.append(f"{kg} < {self.n_k}")
                if self.vec:
                    if not self.full_mn:
                        conds.append(f"{v('mn', s)} < {self.n_mn}")
                    reads = [f"{p} = {buf}[{v('ad', s)} + ({k0}) * {self.s_k // 4}];"]
                else:
                    reads = self._scalar_reads(p, lambda j, s=s: (
                        f"{v('ad', s)} + ({k0}) * {self.s_k} + {j * self.s_mn}",
                        None if self.full_mn else f"{v('mn', s)} + {j} < {self.n_mn}"))
            needs_zero = bool(conds) or not self.vec
            if needs_zero:
                lines.append(f"{ind}{p} = vec4<{op.acc}>();")
            if conds:
                lines.append(f"{ind}if ({' && '.join(conds)}) {{")
                lines += [f"{ind}  {r}" for r in reads]
                lines.append(f"{ind}}}")
            else:
                lines += [f"{ind}{r}" for r in reads]
        return lines

    def _scalar_reads(self, p: str, element: Any) -> list[str]:
        reads = []
        for j in range(4):
            index, cond = element(j)
            read = f"{p}.{_XYZW[j]} = {self.op.read(index)};"
            reads.append(read if cond is None else f"if ({cond}) {{ {read} }}")
        return reads

    def store(self, stage: str, indent: str = "") -> list[str]:
        """Lines writing the fetched groups into workgroup-memory stage ``stage``."""
        v, lines = self._v, []
        ind = "    " + indent
        off = f"({stage}) * {self.count}"
        for s in range(self.slots):
            body = []
            if self.along_k:
                for j in range(4):
                    body.append(f"{self.tile}[{off} + {v('st', s)} + {j * self.wide}]"
                                f"[{v('lane', s)}] = {v('p', s)}.{_XYZW[j]};")
            else:
                body.append(f"{self.tile}[{off} + {v('st', s)}] = {v('p', s)};")
            if self._guarded(s):
                lines.append(f"{ind}if (lid + {s * self.cfg.threads} < {self.count}) {{")
                lines += [f"{ind}  {x}" for x in body]
                lines.append(f"{ind}}}")
            else:
                lines += [f"{ind}{x}" for x in body]
        return lines
