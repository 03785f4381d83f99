"""Compile a jaxpr once into GPU pipelines and replay it per call in one compute pass.

``GpuExecutable(closed_jaxpr)`` optimizes and schedules the jaxpr (the same kernel IR as the
numba backend), renders one WGSL shader per kernel, builds their pipelines (cached by shader
text) and uploads the constants. A call takes each intermediate buffer from the pool just
before its first use and gives it back after its last (so one call's intermediates reuse each
other's memory, and the next call gets the same buffers again: their bind groups are cached),
records every dispatch into one compute pass, and submits once. Nothing waits for the GPU until
results are read: ``run`` returns device buffers, ``__call__`` numpy arrays (one read for all
outputs). ``FBORN_DUMP_KERNELS=1`` prints the shaders.

Programs with host-side steps (aliases from in-place scatters, cond/while_loop/scan) run through
a small interpreter instead: buffers a block writes get new pooled buffers at their first write
in each run of the block (so loop carries are never overwritten), dispatches are recorded into
one pass until a cond index or while predicate must be read back, which submits and waits.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

import fborn.lowering.rules_control_flow  # noqa: F401 - registers lowering rules
import fborn.lowering.rules_indexing  # noqa: F401
import fborn.lowering.rules_misc  # noqa: F401
import fborn.lowering.wgsl.routines  # noqa: F401 - registers WGSL routines
import fborn.lowering.wgsl.routines_conv  # noqa: F401
import fborn.lowering.wgsl.routines_misc  # noqa: F401
from fborn.core import dtypes
from fborn.core.array import Device, scalar_array
from fborn.core.aval import ShapedArray, ShapeDtypeStruct
from fborn.core.devices import devices, gpu_device
from fborn.core.gpu_array import GpuArray
from fborn.core.jaxpr import ClosedJaxpr, PerJaxpr
from fborn.core.primitive import Primitive
from fborn.lowering.kernel_ir import BufferInfo, Program
from fborn.lowering.passes import optimize
from fborn.lowering.schedule import schedule
from fborn.lowering.wgsl.device import DeviceBuffer, Gpu, GpuError, gpu, storage_bytes
from fborn.lowering.wgsl.native import native_pass
from fborn.lowering.wgsl.render import (
    Alias,
    Branch,
    Kernel,
    Limits,
    Loop,
    ScanLoop,
    Step,
    render,
)

BIND_GROUP_CACHE = 64
"""Bind groups kept per kernel, least recently used dropped first. The buffer pool hands the
same buffers back in an order that cycles over several calls, and creating a bind group costs
more host time than recording the dispatch: with 8, the fused optimizer kernel of a jitted
MLP training step (thirty bindings) missed on every call; with 64, never after warm-up. (The
optimizer segment of a pmap step still misses about once per call: its buffers come back in
no short cycle.)"""


def limits_of(device: Gpu) -> Limits:
    """The shader limits of an opened GPU."""
    return Limits(f16=device.has_f16, max_bindings=device.max_bindings,
                  max_groups=device.max_groups,
                  workgroup_bytes=int(device.limits["max-compute-workgroup-storage-size"]),
                  max_binding_bytes=device.max_binding)


def gpu_devices() -> list[Device]:
    """One ``Device("gpu", i, name)`` per entry of ``adapters()`` (no device is opened);
    raises GpuError when there is none."""
    return devices("gpu")


def fborn_device(device: Gpu) -> Device:
    """The ``fborn`` Device object of an opened GPU (the same object ``gpu_devices`` lists)."""
    return gpu_device(device.index, device.name)


def gpu_of(args: Sequence[Any]) -> Gpu:
    """The GPU of the first GpuArray in ``args`` (the default GPU when there is none)."""
    for a in args:
        if type(a) is GpuArray:
            return a.device_buffer.gpu
    return gpu()


def _written(kernel: Kernel) -> tuple[str, ...]:
    """The buffers ``kernel`` writes (its ``read_write`` bindings)."""
    lines = [line for line in kernel.source.splitlines() if line.startswith("@group(0)")]
    return tuple(name for name, line in zip(kernel.buffers, lines, strict=True)
                 if "read_write>" in line and name not in kernel.updates)


def _all_kernels(steps: Sequence[Step]) -> list[Kernel]:
    """Every kernel of ``steps``, nested control flow included."""
    out: list[Kernel] = []
    for step in steps:
        if isinstance(step, Kernel):
            out.append(step)
        elif isinstance(step, Branch):
            out.append(step.index)
            for branch in step.branches:
                out += _all_kernels(branch)
        elif isinstance(step, Loop):
            out += _all_kernels(step.cond) + _all_kernels(step.body)
        elif isinstance(step, ScanLoop):
            out += [*step.loads, *_all_kernels(step.body), *step.stores]
    return out


class _Recorder:
    """Records dispatches into one compute pass; ``read_int`` submits what is recorded and
    reads a scalar back (the only place host-side control flow waits for the GPU)."""

    def __init__(self, device: Gpu):
        self.gpu = device
        self.encoder: Any = None
        self.compute: Any = None

    def dispatch(self, pipeline: Any, group: Any, groups: tuple[int, int, int]) -> None:
        if self.compute is None:
            self.encoder = self.gpu.device.create_command_encoder()
            self.compute = self.encoder.begin_compute_pass()
        self.compute.set_pipeline(pipeline)
        self.compute.set_bind_group(0, group)
        self.compute.dispatch_workgroups(*groups)

    def flush(self) -> None:
        if self.compute is not None:
            self.compute.end()
            self.gpu.queue.submit([self.encoder.finish()])
            self.encoder = self.compute = None

    def read_int(self, buf: DeviceBuffer) -> int:
        self.flush()
        (value,) = self.gpu.read([buf], [1], [np.dtype(np.int32)])
        return int(value[0])


class GpuExecutable:
    """A jaxpr compiled for one GPU."""

    def __init__(self, closed: ClosedJaxpr, device: Gpu | None = None):
        self.gpu = device or gpu()
        self.jaxpr = optimize(closed)
        self.program: Program = schedule(self.jaxpr)
        rendered = render(self.program, limits_of(self.gpu))
        self.steps: list[Step] = rendered.kernels
        self.buffers: dict[str, BufferInfo] = {**self.program.buffers, **rendered.scratch}
        for name, info in self.buffers.items():
            self.gpu.check_size(storage_bytes(info.size, info.dtype), f"buffer {name}")
        self.constants = {name: self.gpu.upload(value, self.program.buffers[name].dtype)
                          for name, value in self.program.constants.items()}
        self.flat = all(isinstance(k, Kernel) for k in self.steps)
        self.kernels: list[Kernel] = _all_kernels(self.steps)
        self.pipelines = [self.gpu.pipeline(k.source) for k in self.kernels]
        self.layouts = [p.get_bind_group_layout(0) for p in self.pipelines]
        self._bind_groups: list[OrderedDict[tuple[Any, ...], Any]] = [
            OrderedDict() for _ in self.kernels]
        self._slot = {id(k): i for i, k in enumerate(self.kernels)}
        self._writes = {id(k): _written(k) for k in self.kernels}
        self._step_values: dict[int, DeviceBuffer] = {}
        if self.flat:
            self._plan()
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
        self._arena: dict[str, DeviceBuffer] | None = None
        self._slots: list[DeviceBuffer] = []
        self._native = native_pass()
        self._replayed = False  # the first call records through the checked API
        # Kernels binding no program input or output keep one bind group for good.
        per_call = set(self.program.inputs) | set(self.program.outputs)
        self._fixed_groups: list[Any] = [None] * len(self.kernels)
        self._fixable = [not per_call.intersection(k.buffers) for k in self.kernels]
        self._output_bytes = {name: storage_bytes(self.buffers[name].size,
                                                  self.buffers[name].dtype)
                              for name in self.program.outputs}

    def _intermediates(self) -> dict[str, DeviceBuffer]:
        """Device buffers for the intermediates, the same on every call so that their bind
        groups stay cached (in-order queue execution makes sharing them between calls safe).
        Intermediates whose lifetimes do not overlap share memory: each takes the smallest free
        slot that fits, else a new one."""
        if self._arena is not None:
            return self._arena
        outputs = set(self.program.outputs)
        slots: list[DeviceBuffer] = []
        free: list[DeviceBuffer] = []
        taken: dict[str, DeviceBuffer] = {}
        arena: dict[str, DeviceBuffer] = {}
        for allocate, release in zip(self.allocate, self.release, strict=True):
            for name in allocate:
                if name in outputs:
                    continue
                info = self.buffers[name]
                nbytes = max(storage_bytes(info.size, info.dtype), 4)
                fitting = [slot for slot in free if slot.nbytes >= nbytes]
                if fitting:
                    slot = min(fitting, key=lambda b: b.nbytes)
                    free.remove(slot)
                else:
                    slot = self.gpu.empty(info.size, info.dtype)
                    slots.append(slot)
                taken[name] = slot
                arena[name] = DeviceBuffer.alias(slot, nbytes)
            free += [taken.pop(name) for name in release if name in taken]
        self._slots = slots  # the aliases do not keep the memory alive: this does
        self._arena = arena
        return arena

    def _bind_flat(self, env: dict[str, DeviceBuffer]) -> None:
        """Add a flat program's intermediates and fresh output buffers to ``env`` (which holds
        its inputs and constants)."""
        env.update(self._intermediates())
        for name, nbytes in self._output_bytes.items():
            if name not in env:  # sizes and dtypes were checked when the program compiled
                env[name] = DeviceBuffer(self.gpu, nbytes)

    def as_text(self) -> str:
        """Every kernel's WGSL source, with its bindings and workgroup counts (control-flow
        kernels included, in the order they are nested)."""
        parts = []
        for k in self.kernels:
            parts.append(f"// {k.label}: bindings {list(k.buffers)}, workgroups {k.groups}")
            parts.append(k.source)
        return "\n".join(parts)

    def _bind_group(self, i: int, bufs: tuple[DeviceBuffer, ...]) -> Any:
        key = tuple((b.buffer, b.nbytes) for b in bufs)
        cache = self._bind_groups[i]
        group = cache.get(key)
        if group is not None:
            cache.move_to_end(key)
        else:
            if len(cache) >= BIND_GROUP_CACHE:
                cache.popitem(last=False)
            entries = [{"binding": j, "resource": b.binding()} for j, b in enumerate(bufs)]
            group = cache[key] = self.gpu.device.create_bind_group(layout=self.layouts[i],
                                                                   entries=entries)
        return group

    def run(self, inputs: Sequence[DeviceBuffer]) -> list[DeviceBuffer]:
        """Dispatch the program on device buffers (one per program input, in storage format);
        returns the output buffers without waiting for the GPU (except where host-side
        control flow reads a predicate or branch index back)."""
        env: dict[str, DeviceBuffer] = dict(zip(self.program.inputs, inputs, strict=True))
        env.update(self.constants)
        if not self.flat:
            recorder = _Recorder(self.gpu)
            self._run_steps(self.steps, env, recorder)
            recorder.flush()
            return [self._get(env, name) for name in self.program.outputs]
        self._bind_flat(env)
        dispatches = []
        for i, kernel in enumerate(self.kernels):
            group = self._fixed_groups[i]
            if group is None:
                group = self._bind_group(i, tuple(env[name] for name in kernel.buffers))
                if self._fixable[i]:
                    self._fixed_groups[i] = group
            dispatches.append((self.pipelines[i], group, kernel.groups))
        if self._replayed and self._native is not None:
            self._native.submit(self.gpu.device, self.gpu.queue, dispatches)
        else:
            recorder = _Recorder(self.gpu)
            for dispatch in dispatches:
                recorder.dispatch(*dispatch)
            recorder.flush()
            self._replayed = True
        return [env[name] for name in self.program.outputs]

    def profile(self, inputs: Sequence[DeviceBuffer], repeat: int = 5, count: int = 10
                ) -> list[tuple[str, float]]:
        """Seconds each kernel of a flat program takes on the GPU: the median over ``repeat``
        submits of ``count`` back-to-back dispatches of that kernel alone, less an empty
        submit's time, divided by ``count``. For finding the slow kernels."""
        if not self.flat:
            raise GpuError("profile needs a program without host-side control flow")
        env: dict[str, DeviceBuffer] = dict(zip(self.program.inputs, inputs, strict=True))
        env.update(self.constants)
        self._bind_flat(env)

        def timed(kernel: int | None) -> float:
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                encoder = self.gpu.device.create_command_encoder()
                compute = encoder.begin_compute_pass()
                if kernel is not None:
                    bufs = tuple(env[name] for name in self.kernels[kernel].buffers)
                    compute.set_pipeline(self.pipelines[kernel])
                    compute.set_bind_group(0, self._bind_group(kernel, bufs))
                    for _ in range(count):
                        compute.dispatch_workgroups(*self.kernels[kernel].groups)
                compute.end()
                self.gpu.queue.submit([encoder.finish()])
                self.gpu.sync()
                times.append(time.perf_counter() - start)
            return statistics.median(times)

        timed(None)
        empty = timed(None)
        return [(k.label, max(timed(i) - empty, 0.0) / count)
                for i, k in enumerate(self.kernels)]

    # --- programs with host-side steps --------------------------------------------------------
    def _get(self, env: dict[str, DeviceBuffer], name: str) -> DeviceBuffer:
        """``env[name]``; a buffer that nothing wrote (an empty array) is allocated."""
        buf = env.get(name)
        if buf is None:
            info = self.buffers[name]
            buf = env[name] = self.gpu.empty(info.size, info.dtype)
        return buf

    def _dispatch(self, kernel: Kernel, env: dict[str, DeviceBuffer], recorder: _Recorder,
                  fresh: set[str]) -> None:
        """Record ``kernel``; a buffer it writes gets a new device buffer at its first write in
        the current block run (``fresh``), so values bound elsewhere (carries) stay intact."""
        for name in self._writes[id(kernel)]:
            if name not in fresh:
                fresh.add(name)
                info = self.buffers[name]
                env[name] = self.gpu.empty(info.size, info.dtype)
        slot = self._slot[id(kernel)]
        bufs = tuple(self._get(env, name) for name in kernel.buffers)
        if kernel.groups[0]:
            recorder.dispatch(self.pipelines[slot], self._bind_group(slot, bufs), kernel.groups)

    def _step_value(self, i: int) -> DeviceBuffer:
        """A device buffer holding the scan step ``i``. It is a new buffer, not a pooled one:
        ``queue.write_buffer`` runs before the dispatches still being recorded, which may
        use a pooled buffer's previous owner."""
        hit = self._step_values.get(i)
        if hit is None:
            raw = self.gpu.device.create_buffer(size=16, usage=self.gpu.pool.usage)
            hit = self._step_values[i] = DeviceBuffer(self.gpu, 16, raw)
            self.gpu.write(hit, np.array([i], np.int32))
        return hit

    def _run_steps(self, steps: Sequence[Step], env: dict[str, DeviceBuffer],
                   recorder: _Recorder) -> None:
        fresh: set[str] = set()
        for step in steps:
            if isinstance(step, Kernel):
                self._dispatch(step, env, recorder, fresh)
            elif isinstance(step, Alias):
                env[step.dst] = self._get(env, step.src)
            elif isinstance(step, Branch):
                self._dispatch(step.index, env, recorder, set())
                index = recorder.read_int(env[step.index_buffer])
                k = min(max(index, 0), len(step.branches) - 1)
                self._run_steps(step.branches[k], env, recorder)
                for out, src in zip(step.outputs, step.branch_outputs[k], strict=True):
                    env[out] = self._get(env, src)
            elif isinstance(step, Loop):
                self._run_loop(step, env, recorder)
            elif isinstance(step, ScanLoop):
                self._run_scan(step, env, recorder)

    def _run_loop(self, step: Loop, env: dict[str, DeviceBuffer], recorder: _Recorder) -> None:
        values = [self._get(env, name) for name in step.init]
        while True:
            env.update(zip(step.carry, values, strict=True))
            self._run_steps(step.cond, env, recorder)
            if not recorder.read_int(env[step.pred_buffer]):
                return
            self._run_steps(step.body, env, recorder)
            values = [self._get(env, name) for name in step.body_outputs]

    def _run_scan(self, step: ScanLoop, env: dict[str, DeviceBuffer], recorder: _Recorder
                  ) -> None:
        values = [self._get(env, name) for name in step.init]
        for name in step.ys:
            info = self.buffers[name]
            env[name] = self.gpu.empty(info.size, info.dtype)
        order = range(step.length - 1, -1, -1) if step.reverse else range(step.length)
        ncarry = len(step.carry)
        for i in order:
            env.update(zip(step.carry, values, strict=True))
            env[step.step_buffer] = self._step_value(i)
            fresh = set(step.ys)
            for kernel in step.loads:
                self._dispatch(kernel, env, recorder, fresh)
            self._run_steps(step.body, env, recorder)
            for kernel in step.stores:
                self._dispatch(kernel, env, recorder, fresh)
            values = [self._get(env, name) for name in step.body_outputs[:ncarry]]
        env.update(zip(step.carry, values, strict=True))

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


_executables: PerJaxpr[GpuExecutable] = PerJaxpr()


def executable_for(closed: ClosedJaxpr, device: Gpu | None = None) -> GpuExecutable:
    """The (cached) GPU executable of a jaxpr object on ``device`` (default: the first GPU)."""
    device = device or gpu()
    return _executables.get(closed, lambda: GpuExecutable(closed, device), device.index)


def device_put(value: Any, device: Gpu | None = None) -> GpuArray:
    """``value`` (numpy data, an Array, a GpuArray or a Python scalar, which stays weakly
    typed) as a GpuArray on ``device``."""
    device = device or gpu()
    if isinstance(value, GpuArray) and value.device_buffer.gpu is device:
        return value
    if type(value) in (bool, int, float):
        value = scalar_array(value)
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
    try:
        hit = _eager.get(key)
    except TypeError:  # unhashable params: compile without caching
        key, hit = None, None
    if hit is None:
        specs = [ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type) for a in avals]
        closed = make_jaxpr(lambda *xs: prim.bind(*xs, **params))(*specs)
        hit = (GpuExecutable(closed, device), [a.weak_type for a in closed.out_avals])
        if key is not None:
            _eager[key] = hit
    exe, weak = hit
    outs = exe.call_on_device(*args, weak_types=weak)
    return outs if prim.multiple_results else outs[0]
