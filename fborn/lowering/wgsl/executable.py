"""Compile a jaxpr once into GPU pipelines and replay it per call in one compute pass.

``GpuExecutable(closed_jaxpr)`` optimizes and schedules the jaxpr (the same kernel IR as the
numba backend), renders one WGSL shader per kernel, builds their pipelines (cached by shader
text) and uploads the constants. A call takes each intermediate buffer from the pool just
before its first use and gives it back after its last (so one call's intermediates reuse each
other's memory, and the next call gets the same buffers again: their bind groups are cached),
records every dispatch into one compute pass, and submits once. Nothing waits for the GPU until
results are read: ``run`` returns device buffers, ``__call__`` numpy arrays (one read for all
outputs). ``FBORN_DUMP_KERNELS=1`` prints the shaders.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

import fborn.lowering.rules_control_flow  # noqa: F401 - registers lowering rules
import fborn.lowering.rules_indexing  # noqa: F401
import fborn.lowering.rules_misc  # noqa: F401
import fborn.lowering.wgsl.routines  # noqa: F401 - registers WGSL routines
from fborn.core import dtypes
from fborn.core.array import Device
from fborn.core.aval import ShapedArray, ShapeDtypeStruct
from fborn.core.gpu_array import GpuArray
from fborn.core.jaxpr import ClosedJaxpr
from fborn.core.primitive import Primitive
from fborn.lowering.kernel_ir import BufferInfo, Program
from fborn.lowering.passes import optimize
from fborn.lowering.schedule import schedule
from fborn.lowering.wgsl.device import DeviceBuffer, Gpu, adapter_infos, gpu, storage_bytes
from fborn.lowering.wgsl.render import Kernel, Limits, render

BIND_GROUP_CACHE = 8


def limits_of(device: Gpu) -> Limits:
    """The shader limits of an opened GPU."""
    return Limits(f16=device.has_f16, max_bindings=device.max_bindings,
                  max_groups=device.max_groups,
                  workgroup_bytes=int(device.limits["max-compute-workgroup-storage-size"]),
                  max_binding_bytes=device.max_binding)


_devices: dict[int, Device] = {}


def gpu_devices() -> list[Device]:
    """One ``Device("gpu", i, name)`` per entry of ``adapters()`` (no device is opened);
    raises GpuError when there is none."""
    infos = adapter_infos()
    if not infos:
        gpu(0)  # raises the GpuError that says what to install
    return [_devices.setdefault(i.index, Device("gpu", i.index, i.name)) for i in infos]


def fborn_device(device: Gpu) -> Device:
    """The ``fborn`` Device object of an opened GPU (the same object ``gpu_devices`` lists)."""
    return _devices.setdefault(device.index, Device("gpu", device.index, device.name))


class GpuExecutable:
    """A jaxpr compiled for one GPU."""

    def __init__(self, closed: ClosedJaxpr, device: Gpu | None = None):
        self.gpu = device or gpu()
        self.jaxpr = optimize(closed)
        self.program: Program = schedule(self.jaxpr)
        rendered = render(self.program, limits_of(self.gpu))
        self.kernels: list[Kernel] = rendered.kernels
        self.buffers: dict[str, BufferInfo] = {**self.program.buffers, **rendered.scratch}
        for name, info in self.buffers.items():
            self.gpu.check_size(storage_bytes(info.size, info.dtype), f"buffer {name}")
        self.pipelines = [self.gpu.pipeline(k.source) for k in self.kernels]
        self.layouts = [p.get_bind_group_layout(0) for p in self.pipelines]
        self.constants = {name: self.gpu.upload(value, self.program.buffers[name].dtype)
                          for name, value in self.program.constants.items()}
        self._plan()
        self._bind_groups: list[dict[tuple[Any, ...], Any]] = [{} for _ in self.kernels]
        if os.environ.get("FBORN_DUMP_KERNELS") == "1":
            print(self.as_text(), file=sys.stderr)

    def _plan(self) -> None:
        """Where each intermediate buffer is taken from the pool and given back."""
        fixed = set(self.program.inputs) | set(self.constants)
        first: dict[str, int] = {}
        last: dict[str, int] = {}
        for i, kernel in enumerate(self.kernels):
            for name in kernel.buffers:
                if name not in fixed:
                    first.setdefault(name, i)
                    last[name] = i
        self.allocate: list[list[str]] = [[] for _ in self.kernels]
        self.release: list[list[str]] = [[] for _ in self.kernels]
        outputs = set(self.program.outputs)
        for name, i in first.items():
            self.allocate[i].append(name)
        for name, i in last.items():
            if name not in outputs:
                self.release[i].append(name)
        self.unwritten_outputs = [o for o in self.program.outputs if o not in first]

    def as_text(self) -> str:
        """Every kernel's WGSL source, with its bindings and workgroup counts."""
        parts = []
        for k in self.kernels:
            parts.append(f"// {k.label}: bindings {list(k.buffers)}, workgroups {k.groups}")
            parts.append(k.source)
        return "\n".join(parts)

    def _bind_group(self, i: int, bufs: tuple[DeviceBuffer, ...]) -> Any:
        key = tuple((b.buffer, b.nbytes) for b in bufs)
        cache = self._bind_groups[i]
        group = cache.get(key)
        if group is None:
            if len(cache) >= BIND_GROUP_CACHE:
                cache.clear()
            entries = [{"binding": j, "resource": b.binding()} for j, b in enumerate(bufs)]
            group = cache[key] = self.gpu.device.create_bind_group(layout=self.layouts[i],
                                                                   entries=entries)
        return group

    def run(self, inputs: Sequence[DeviceBuffer]) -> list[DeviceBuffer]:
        """Dispatch the program on device buffers (one per program input, in storage format);
        returns the output buffers without waiting for the GPU."""
        env: dict[str, DeviceBuffer] = dict(zip(self.program.inputs, inputs, strict=True))
        env.update(self.constants)
        encoder = self.gpu.device.create_command_encoder()
        compute = encoder.begin_compute_pass()
        for i, kernel in enumerate(self.kernels):
            for name in self.allocate[i]:
                info = self.buffers[name]
                env[name] = self.gpu.empty(info.size, info.dtype)
            bufs = tuple(env[name] for name in kernel.buffers)
            compute.set_pipeline(self.pipelines[i])
            compute.set_bind_group(0, self._bind_group(i, bufs))
            compute.dispatch_workgroups(*kernel.groups)
            for name in self.release[i]:
                del env[name]
        compute.end()
        self.gpu.queue.submit([encoder.finish()])
        for name in self.unwritten_outputs:
            info = self.buffers[name]
            env[name] = self.gpu.empty(info.size, info.dtype)
        return [env[name] for name in self.program.outputs]

    def upload_inputs(self, args: Sequence[Any]) -> list[DeviceBuffer]:
        """Device buffers for ``args`` (GpuArrays on this GPU are used in place)."""
        bufs = []
        for name, arg in zip(self.program.inputs, args, strict=True):
            info = self.program.buffers[name]
            if isinstance(arg, GpuArray) and arg.device_buffer.gpu is self.gpu \
                    and arg.dtype == info.dtype:
                bufs.append(arg.device_buffer)
            else:
                bufs.append(self.gpu.upload(np.asarray(arg, dtype=info.dtype), info.dtype))
        return bufs

    def __call__(self, *args: Any) -> list[np.ndarray]:
        """Run on host (or GPU) arrays and return numpy arrays in the jaxpr's output shapes."""
        outs = self.run(self.upload_inputs(args))
        infos = [self.buffers[o] for o in self.program.outputs]
        flat = self.gpu.read(outs, [i.size for i in infos], [i.dtype for i in infos])
        return [f.reshape(i.shape) for f, i in zip(flat, infos, strict=True)]

    def call_on_device(self, *args: Any, weak_types: Sequence[bool] | None = None
                       ) -> list[GpuArray]:
        """Run and return GPU-resident arrays (nothing is read back)."""
        outs = self.run(self.upload_inputs(args))
        weak = weak_types or [False] * len(outs)
        device = fborn_device(self.gpu)
        return [GpuArray(buf, ShapedArray(self.buffers[o].shape, self.buffers[o].dtype, w),
                         device)
                for buf, o, w in zip(outs, self.program.outputs, weak, strict=True)]


_executables: dict[tuple[int, int], tuple[ClosedJaxpr, GpuExecutable]] = {}


def executable_for(closed: ClosedJaxpr, device: Gpu | None = None) -> GpuExecutable:
    """The (cached) GPU executable of a jaxpr object."""
    device = device or gpu()
    key = (id(closed), device.index)
    hit = _executables.get(key)
    if hit is not None and hit[0] is closed:
        return hit[1]
    exe = GpuExecutable(closed, device)
    _executables[key] = (closed, exe)
    return exe


def device_put(value: Any, device: Gpu | None = None) -> GpuArray:
    """``value`` (numpy data, an Array or a GpuArray) as a GpuArray on ``device``."""
    device = device or gpu()
    if isinstance(value, GpuArray) and value.device_buffer.gpu is device:
        return value
    host = np.asarray(value)
    host = host.astype(dtypes.canonicalize(host.dtype), copy=False)
    weak = bool(getattr(value, "weak_type", False))
    return GpuArray(device.upload(host), ShapedArray(host.shape, host.dtype, weak),
                    fborn_device(device))


_eager: dict[tuple[Any, ...], tuple[GpuExecutable, list[bool]]] = {}


def apply_primitive(prim: Primitive, args: Sequence[Any], params: dict[str, Any],
                    device: Gpu | None = None) -> Any:
    """Run one primitive eagerly on the GPU (GpuArray results, numpy/Array/GpuArray operands);
    the one-equation executable is cached by primitive, operand avals and params."""
    from fborn.core.trace import get_aval
    from fborn.transforms.make_jaxpr import make_jaxpr

    device = device or gpu()
    avals = [get_aval(a) for a in args]
    key = (prim, device.index, *((a.shape, a.dtype, a.weak_type) for a in avals),
           *sorted(params.items()))
    hit = _eager.get(key)
    if hit is None:
        specs = [ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type) for a in avals]
        closed = make_jaxpr(lambda *xs: prim.bind(*xs, **params))(*specs)
        hit = _eager[key] = (GpuExecutable(closed, device),
                             [a.weak_type for a in closed.out_avals])
    exe, weak = hit
    outs = exe.call_on_device(*args, weak_types=weak)
    return outs if prim.multiple_results else outs[0]
